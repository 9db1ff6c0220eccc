//! `trailwatch ingest` and `trailwatch prune`: progress bar, problem lines and summary.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use trailwatch_cloudtrail::Limits;
use trailwatch_detect::signal::Outcome;
use trailwatch_ingest::{CommitStage, IngestOptions, Observer, Problem, Progress};
use trailwatch_store::{EmbeddedStore, EventStore, State, StoreOptions};

use crate::args::IngestArgs;
use crate::output::{human_bytes, human_count};
use crate::{now_ms, parse_duration, Fail};

/// How many problems are printed unless `--all-errors`.
const SHOWN_PROBLEMS: u64 = 20;

pub(crate) struct CliObserver {
    pub(crate) bar: Option<ProgressBar>,
    pub(crate) all_errors: bool,
    pub(crate) problems: AtomicU64,
    pub(crate) signals: AtomicU64,
    pub(crate) show_signals: bool,
    /// `--abort-at`: the stage and the commit number to abort at.
    pub(crate) abort_at: Option<(CommitStage, u64)>,
    pub(crate) commits: AtomicU64,
}

impl CliObserver {
    pub(crate) fn say(&self, line: String) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }
}

impl Observer for CliObserver {
    fn progress(&self, p: &Progress) {
        if let Some(bar) = &self.bar {
            bar.set_length(p.files_total);
            bar.set_position(p.files_done);
            let secs = p.elapsed.as_secs_f64().max(0.001);
            bar.set_message(format!(
                "events {} ({}/s) | errors {} | {}",
                human_count(p.events_added),
                human_count((p.events_read as f64 / secs) as u64),
                p.records_rejected + p.files_failed,
                human_bytes(p.bytes_read),
            ));
        }
    }

    fn signal(&self, o: &Outcome) {
        if self.show_signals && o.created {
            let n = self.signals.fetch_add(1, Ordering::Relaxed);
            if n < SHOWN_PROBLEMS {
                let s = &o.signal;
                self.say(format!(
                    "signal: [{}] {} | {} | {}",
                    s.severity.as_str().to_uppercase(),
                    s.rule_name,
                    s.group,
                    s.title
                ));
            }
        }
    }

    fn committing(&self, stage: CommitStage) {
        if let Some((at, n)) = &self.abort_at {
            if *at == stage && self.commits.fetch_add(1, Ordering::SeqCst) + 1 == *n {
                std::process::abort();
            }
        }
    }

    fn problem(&self, problem: &Problem) {
        let n = self.problems.fetch_add(1, Ordering::Relaxed);
        if self.all_errors || n < SHOWN_PROBLEMS {
            self.say(format!("rejected: {problem}"));
        }
    }
}

pub fn run(data_dir: &Path, config: Option<&Path>, args: IngestArgs, quiet: bool) -> Result<u8, Fail> {
    let config = crate::config::Config::load(config)?;
    let retention = args.retention.as_deref().map(parse_duration).transpose()?;
    std::fs::create_dir_all(data_dir)
        .map_err(|e| Fail::system(format!("cannot create {}: {e}", data_dir.display())))?;
    let store = EmbeddedStore::open(data_dir, StoreOptions::default())?;
    let mut state = State::open(&data_dir.join("state.sqlite"))?;
    let mut options = IngestOptions {
        limits: Limits {
            max_decompressed_bytes: args.max_file_mib << 20,
            max_record_bytes: args.max_record_kib << 10,
            max_depth: args.max_depth,
        },
        force: args.force,
        now_ms: now_ms(),
        ..IngestOptions::default()
    };
    if let Some(t) = args.threads {
        options.decoders = t.max(1);
    }
    if let Some(n) = args.commit_every_events {
        options.commit_every_events = n.max(1);
    }
    let bar = (!quiet && std::io::IsTerminal::is_terminal(&std::io::stderr())).then(|| {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] files {pos}/{len} {wide_bar} {msg}")
                .expect("valid template"),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    });
    let (rules, mut detection) =
        crate::detect::ingest_detection(args.no_detect, &args.rules, args.dry_run, &state, &config)?;
    let observer = CliObserver {
        bar,
        all_errors: args.all_errors,
        problems: AtomicU64::new(0),
        signals: AtomicU64::new(0),
        show_signals: !quiet,
        abort_at: args.abort_at.as_deref().map(abort_point).transpose()?,
        commits: AtomicU64::new(0),
    };
    let summary =
        trailwatch_ingest::ingest(&args.paths, &store, &mut state, &options, &observer, detection.as_mut())
            .map_err(|e| match e {
            trailwatch_ingest::Error::Walk { .. } => Fail::usage(e.to_string()),
            e => Fail::system(e),
        })?;
    if let Some(bar) = &observer.bar {
        bar.finish_and_clear();
    }
    let p = &summary.progress;
    let hidden = summary.problems.saturating_sub(SHOWN_PROBLEMS);
    if !args.all_errors && hidden > 0 {
        eprintln!("… and {hidden} more rejected (see them all with --all-errors)");
    }
    let sent = match &detection {
        Some(_) => Some(crate::notify::deliver(&mut state, &config, &rules)?),
        None => None,
    };
    let pruned = match retention {
        Some(age) => Some(store.delete_before(now_ms() - age)?),
        None => None,
    };
    if !quiet {
        let secs = p.elapsed.as_secs_f64().max(0.001);
        eprintln!(
            "ingested {} new events from {} files in {:.1} s ({} events/s)",
            human_count(p.events_added),
            human_count(p.files_done),
            secs,
            human_count((p.events_read as f64 / secs) as u64)
        );
        eprintln!(
            "  duplicates dropped: {} | unchanged files skipped: {} | ignored (digests, other names): {}",
            human_count(p.duplicates),
            human_count(p.files_unchanged),
            human_count(p.files_ignored)
        );
        if summary.problems > 0 {
            eprintln!(
                "  rejected: {} files could not be read to the end, {} records could not be read",
                p.files_failed, p.records_rejected
            );
        }
        if let Some(n) = pruned {
            eprintln!(
                "  retention: deleted {} events older than {}",
                human_count(n),
                args.retention.unwrap_or_default()
            );
        }
        let stats = store.stats()?;
        eprintln!("store: {} events, {} on disk", human_count(stats.events), human_bytes(stats.index_bytes));
        if let (Some(d), Some(sent)) = (&detection, &sent) {
            let how = if args.dry_run {
                " (dry run: none sent)".to_owned()
            } else if config.notifier.is_none() {
                " (no channels configured: none sent)".to_owned()
            } else {
                format!(", {} deliveries, {} dead letters", sent.deliveries, sent.dead_letters)
            };
            eprintln!(
                "detection: {} rules, {} new signals, {} notifications{how} (see `trailwatch signals`)",
                d.engine().rules().len(),
                human_count(d.created),
                human_count(sent.notifications),
            );
        }
    }
    Ok(if summary.problems > 0 { 1 } else { 0 })
}

fn abort_point(s: &str) -> Result<(CommitStage, u64), Fail> {
    let (stage, n) = s.split_once(':').unwrap_or((s, "1"));
    let stage = match stage {
        "detection-saved" => CommitStage::DetectionSaved,
        "store-committed" => CommitStage::StoreCommitted,
        "files-recorded" => CommitStage::FilesRecorded,
        _ => return Err(Fail::usage(format!("bad --abort-at {s:?}"))),
    };
    let n = n.parse().map_err(|_| Fail::usage(format!("bad --abort-at {s:?}")))?;
    Ok((stage, n))
}

pub fn prune(data_dir: &Path, older_than: &str, quiet: bool) -> Result<u8, Fail> {
    let age = parse_duration(older_than)?;
    let store = crate::open_store(data_dir)?;
    let n = store.delete_before(now_ms() - age)?;
    if !quiet {
        eprintln!("deleted {} events older than {older_than}", human_count(n));
    }
    Ok(0)
}
