//! `trailwatch poll`, `trails`, `status` and `doctor`: the configured AWS accounts (docs/AWS.md).

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use trailwatch_aws::client::Connect;
use trailwatch_aws::health::TrailHealth;
use trailwatch_aws::poll::Poller;
use trailwatch_aws::report::DoctorRun;
use trailwatch_ingest::IngestOptions;
use trailwatch_store::{EmbeddedStore, State, StoreOptions};

use crate::args::PollArgs;
use crate::config::Config;
use crate::ingest::CliObserver;
use crate::output::human_count;
use crate::{now_ms, Fail};

/// Trails are looked for again this often while polling.
const REDISCOVER_EVERY: Duration = Duration::from_secs(3600);

fn load(config: Option<&Path>) -> Result<Config, Fail> {
    let c = Config::load(config)?;
    if c.aws.accounts.is_empty() {
        return Err(Fail::usage(
            "no AWS accounts configured: add [[accounts]] to the --config file (see docs/AWS.md)",
        ));
    }
    Ok(c)
}

fn poller(c: &Config) -> Result<Poller, Fail> {
    let connect = Connect { endpoint_url: c.aws.endpoint_url.clone(), credentials: None };
    Poller::new(c.aws.clone(), connect)
        .map_err(|e| Fail::system(format!("cannot start the AWS runtime: {e}")))
}

/// Prints discovery's errors; returns how many.
fn report_discovery(p: &Poller, quiet: bool) -> usize {
    let mut n = 0;
    for w in &p.watched {
        for e in &w.errors {
            eprintln!("{} ({}): {e}", w.account.name, w.account.id);
            n += 1;
        }
        if !quiet {
            let reading = w.trails.iter().filter(|t| t.skipped.is_none()).count();
            eprintln!("{} ({}): {} trails, {reading} read", w.account.name, w.account.id, w.trails.len());
            for t in w.trails.iter().filter(|t| t.skipped.is_some()) {
                eprintln!("  skipped {}: {}", t.name, t.skipped.as_deref().unwrap_or(""));
            }
        }
    }
    n
}

/// Set when Ctrl-C (SIGINT) or SIGTERM arrives: the poll in progress ends cleanly.
fn stop_flag() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
        rt.block_on(crate::serve::shutdown());
        flag.store(true, Ordering::SeqCst);
    });
    stop
}

/// How a poll loop runs; `poll` and `serve` differ only here.
pub struct LoopOptions<'a> {
    pub once: bool,
    pub quiet: bool,
    /// Set to end the loop: after the poll in progress (its commits done), or while waiting.
    pub stop: &'a AtomicBool,
    /// Go on after a failed poll (the store, the state or a delivery failed), as `serve` does;
    /// else the failure ends the loop (`poll`).
    pub keep_going: bool,
}

/// The polling loop of `poll` and `serve`: discovers the trails (again every
/// [`REDISCOVER_EVERY`], saving what it found for the UI), then every poll interval polls each
/// trail and queue, with detection, and sends the notifications queued. Returns whether
/// anything failed.
pub fn poll_loop(
    p: &mut Poller,
    store: &EmbeddedStore,
    state: &mut State,
    c: &Config,
    rules: &[trailwatch_detect::Rule],
    mut detection: Option<&mut trailwatch_ingest::Detection>,
    o: &LoopOptions,
) -> Result<bool, Fail> {
    let observer = CliObserver {
        bar: None,
        all_errors: false,
        problems: AtomicU64::new(0),
        signals: AtomicU64::new(0),
        show_signals: !o.quiet,
        abort_at: None,
        commits: AtomicU64::new(0),
    };
    let rediscover = |p: &mut Poller, state: &mut State, quiet: bool| {
        p.discover();
        let mut failed = report_discovery(p, quiet) > 0;
        match p.save_discovery(state) {
            Ok(removed) => {
                for id in removed {
                    eprintln!(
                        "account {id} is no longer configured: its trails are not read, and the Sources \
                         page shows it as removed"
                    );
                }
            }
            Err(e) => {
                eprintln!("cannot save what discovery found: {e}");
                failed = true;
            }
        }
        failed
    };
    let mut failed = rediscover(p, state, o.quiet);
    let mut discovered = Instant::now();
    let interval = c.aws.accounts.iter().map(|a| a.poll_interval).min().unwrap_or(Duration::from_secs(300));
    while !o.stop.load(Ordering::SeqCst) {
        let started = Instant::now();
        match poll_round(p, store, state, c, rules, detection.as_deref_mut(), &observer, o) {
            Ok(f) => failed |= f,
            Err(e) if o.keep_going => {
                failed = true;
                eprintln!("poll failed: {}", e.message);
            }
            Err(e) => return Err(e),
        }
        if o.once {
            break;
        }
        while started.elapsed() < interval && !o.stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(200));
        }
        if !o.stop.load(Ordering::SeqCst) && discovered.elapsed() >= REDISCOVER_EVERY {
            failed |= rediscover(p, state, true);
            discovered = Instant::now();
        }
    }
    Ok(failed)
}

/// One poll of every trail and queue, then the notifications. Returns whether anything failed.
#[allow(clippy::too_many_arguments)]
fn poll_round(
    p: &Poller,
    store: &EmbeddedStore,
    state: &mut State,
    c: &Config,
    rules: &[trailwatch_detect::Rule],
    mut detection: Option<&mut trailwatch_ingest::Detection>,
    observer: &CliObserver,
    o: &LoopOptions,
) -> Result<bool, Fail> {
    let mut failed = false;
    let options = IngestOptions { now_ms: now_ms(), ..IngestOptions::default() };
    let polls =
        p.poll_once(store, state, &options, observer, detection.as_deref_mut()).map_err(Fail::system)?;
    for t in &polls {
        if let Some(e) = &t.error {
            failed = true;
            eprintln!("{}: {e}", t.arn);
        } else if !o.quiet {
            eprintln!(
                "{}: {} new files, {} events added, {} excluded, {} list + {} get requests",
                t.arn,
                t.files_new,
                human_count(t.progress.events_added),
                human_count(t.progress.events_excluded),
                t.lists,
                t.gets
            );
        }
    }
    if !o.stop.load(Ordering::SeqCst) {
        let queues = p
            .poll_queues(store, state, &options, observer, detection.as_deref_mut())
            .map_err(Fail::system)?;
        for q in &queues {
            for b in &q.bad {
                failed = true;
                eprintln!("{}: {b}", q.queue);
            }
            if !o.quiet {
                eprintln!(
                    "{}: {} messages ({} ignored), {} new files, {} events added, {} excluded, {} deleted",
                    q.queue,
                    q.messages,
                    q.ignored,
                    q.files_new,
                    human_count(q.progress.events_added),
                    human_count(q.progress.events_excluded),
                    q.deleted
                );
            }
        }
    }
    if observer.problems.swap(0, Ordering::Relaxed) > 0 {
        failed = true;
    }
    if detection.is_some() {
        crate::notify::deliver(state, c, rules)?;
    }
    Ok(failed)
}

/// What `poll` (and `serve`'s poller) opens: the store as the writer, the state, detection.
pub struct Polling {
    pub store: EmbeddedStore,
    pub state: State,
    pub rules: Vec<trailwatch_detect::Rule>,
    pub detection: Option<trailwatch_ingest::Detection>,
    pub poller: Poller,
}

impl Polling {
    pub fn open(data_dir: &Path, c: &Config, args: &PollArgs) -> Result<Polling, Fail> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| Fail::system(format!("cannot create {}: {e}", data_dir.display())))?;
        let store = EmbeddedStore::open(data_dir, StoreOptions::default())?;
        let state = State::open(&data_dir.join("state.sqlite"))?;
        let (rules, detection) =
            crate::detect::ingest_detection(args.no_detect, &args.rules, args.dry_run, &state, c)?;
        Ok(Polling { store, state, rules, detection, poller: poller(c)? })
    }

    pub fn run(&mut self, c: &Config, o: &LoopOptions) -> Result<bool, Fail> {
        poll_loop(&mut self.poller, &self.store, &mut self.state, c, &self.rules, self.detection.as_mut(), o)
    }
}

pub fn poll(data_dir: &Path, config: Option<&Path>, args: PollArgs, quiet: bool) -> Result<u8, Fail> {
    let c = load(config)?;
    let stop = stop_flag();
    let mut polling = Polling::open(data_dir, &c, &args)?;
    let o = LoopOptions { once: args.once, quiet, stop: &stop, keep_going: false };
    let failed = polling.run(&c, &o)?;
    Ok(if failed { 1 } else { 0 })
}

pub fn trails(config: Option<&Path>) -> Result<u8, Fail> {
    let c = load(config)?;
    let mut p = poller(&c)?;
    p.discover();
    let mut failed = false;
    for w in &p.watched {
        println!("account {} ({})", w.account.name, w.account.id);
        for e in &w.errors {
            failed = true;
            println!("  error: {e}");
        }
        if w.trails.is_empty() && w.errors.is_empty() {
            println!("  no trails found in {}", w.account.regions.join(", "));
        }
        for t in &w.trails {
            let status = match &t.skipped {
                None => "reading".to_owned(),
                Some(why) => format!("skipped: {why}"),
            };
            let kind = t.kind();
            let prefix = if t.prefix.is_empty() { String::new() } else { format!("/{}", t.prefix) };
            println!("  {} [{kind}, home {}] {status}", t.name, t.home_region);
            println!("    arn {}", t.arn);
            println!(
                "    s3://{}{prefix} (bucket in {})",
                t.bucket,
                t.bucket_region.as_deref().unwrap_or("unknown region")
            );
            for r in &t.roots {
                println!("    {}: {}", r.path, r.regions.join(", "));
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}

fn ago(now: i64, t: i64) -> String {
    let s = ((now - t) / 1000).max(0);
    match s {
        0..=119 => format!("{s}s ago"),
        120..=7199 => format!("{}m ago", s / 60),
        _ => format!("{}h ago", s / 3600),
    }
}

fn dur(ms: Option<i64>) -> String {
    match ms {
        None => "-".into(),
        Some(ms) if ms < 120_000 => format!("{}s", ms / 1000),
        Some(ms) if ms < 7_200_000 => format!("{}m", ms / 60_000),
        Some(ms) => format!("{:.1}h", ms as f64 / 3.6e6),
    }
}

pub fn status(data_dir: &Path, config: Option<&Path>) -> Result<u8, Fail> {
    // The configuration is read to reject a bad one; the health comes from the state.
    let _ = Config::load(config)?;
    let path = data_dir.join("state.sqlite");
    if !path.exists() {
        return Err(Fail::usage(format!("no state in {}: run `trailwatch poll` first", data_dir.display())));
    }
    let state = State::open(&path)?;
    let all = TrailHealth::all(&state).map_err(Fail::system)?;
    if all.is_empty() {
        println!("no trails polled yet: run `trailwatch poll`");
        return Ok(0);
    }
    let now = now_ms();
    let removed: Vec<String> = trailwatch_aws::report::AccountDiscovery::all(&state)
        .map_err(Fail::system)?
        .into_iter()
        .filter(|a| a.removed_at.is_some())
        .map(|a| a.id)
        .collect();
    let mut silent = false;
    for h in &all {
        // The trails of an account removed from the configuration are not read: not silent.
        let gone = removed.contains(&h.account);
        let s = h.summary(now, !gone);
        silent |= s.silent;
        println!(
            "{} (account {}, s3://{}){}",
            h.name,
            h.account,
            h.bucket,
            if gone {
                "  (account removed from the configuration: not read)"
            } else if s.silent {
                "  SILENT"
            } else {
                ""
            }
        );
        println!("  arn {}", h.arn);
        match (&h.last_file, h.last_file_at) {
            (Some(f), Some(at)) => println!("  last file {} ({})", f, ago(now, at)),
            _ => println!("  no file read yet"),
        }
        println!(
            "  lag p50 {} p95 {} | {:.1} files/h, {:.0} events/h | {} excluded by selection",
            dur(s.lag_p50_ms),
            dur(s.lag_p95_ms),
            s.files_per_hour,
            s.events_per_hour,
            human_count(h.events_excluded_total)
        );
        println!(
            "  requests: {} list, {} get in all; {} list last poll; ~{:.0} list + {:.0} get a day ≈ ${:.4}/day",
            h.lists_total, h.gets_total, h.last_poll_lists, s.lists_per_day, s.gets_per_day, s.cost_per_day
        );
        if s.backfilled_files > 0 {
            println!(
                "  {} files of the last 24 h were delivered before polling began (backfill): left out of rates, lag and estimates",
                human_count(s.backfilled_files)
            );
        }
        if let (Some(e), Some(at)) = (&h.last_error, h.last_error_at) {
            println!("  last error ({}): {e}", ago(now, at));
        }
        if s.silent {
            println!("  silent: no new file for over {}", dur(Some(trailwatch_aws::health::SILENT_AFTER_MS)));
        }
    }
    Ok(if silent { 1 } else { 0 })
}

pub fn doctor(data_dir: &Path, config: Option<&Path>) -> Result<u8, Fail> {
    let c = load(config)?;
    let p = poller(&c)?;
    // The reports are kept for the web UI's Sources page.
    std::fs::create_dir_all(data_dir)
        .map_err(|e| Fail::system(format!("cannot create {}: {e}", data_dir.display())))?;
    let mut state = State::open(&data_dir.join("state.sqlite"))?;
    let mut failed = false;
    for w in &p.watched {
        println!("account {} ({})", w.account.name, w.account.id);
        let report = p.rt.block_on(trailwatch_aws::doctor::run(&w.clients, &w.account));
        for ch in &report.checks {
            match &ch.error {
                None => println!("  pass  {:<26} {}", ch.permission, ch.resource),
                Some(e) => {
                    failed = true;
                    println!("  FAIL  {:<26} {}: {e}", ch.permission, ch.resource);
                    if let Some(policy) = &ch.policy {
                        println!("        add this statement to trailwatch's IAM policy:");
                        println!("        {policy}");
                    }
                }
            }
            if let Some(n) = &ch.note {
                println!("        ({n})");
            }
        }
        for n in &report.notes {
            println!("  note: {n}");
        }
        if let Some(policy) = report.policy() {
            println!("  the policy to add, all in one:");
            for line in policy.lines() {
                println!("    {line}");
            }
        }
        if report.checks.iter().any(|c| c.permission == "cloudtrail:DescribeTrails" && c.ok())
            && report.notes.iter().any(|n| n.starts_with("no trails found"))
        {
            failed = true;
        }
        DoctorRun::of(&report, &w.account, now_ms()).save(&mut state).map_err(Fail::system)?;
    }
    Ok(if failed { 1 } else { 0 })
}
