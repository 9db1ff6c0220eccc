//! `trailwatch poll`, `trails`, `status` and `doctor`: the configured AWS accounts (docs/AWS.md).

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use trailwatch_aws::client::Connect;
use trailwatch_aws::health::TrailHealth;
use trailwatch_aws::poll::Poller;
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
        rt.block_on(async {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            let term = async {
                match term.as_mut() {
                    Some(t) => {
                        t.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term => {}
            }
        });
        flag.store(true, Ordering::SeqCst);
    });
    stop
}

pub fn poll(data_dir: &Path, config: Option<&Path>, args: PollArgs, quiet: bool) -> Result<u8, Fail> {
    let c = load(config)?;
    let stop = stop_flag();
    std::fs::create_dir_all(data_dir)
        .map_err(|e| Fail::system(format!("cannot create {}: {e}", data_dir.display())))?;
    let store = EmbeddedStore::open(data_dir, StoreOptions::default())?;
    let mut state = State::open(&data_dir.join("state.sqlite"))?;
    let (rules, mut detection) =
        crate::detect::ingest_detection(args.no_detect, &args.rules, args.dry_run, &state, &c)?;
    let observer = CliObserver {
        bar: None,
        all_errors: false,
        problems: AtomicU64::new(0),
        signals: AtomicU64::new(0),
        show_signals: !quiet,
        abort_at: None,
        commits: AtomicU64::new(0),
    };
    let mut p = poller(&c)?;
    p.discover();
    let mut discovered = Instant::now();
    let mut failed = report_discovery(&p, quiet) > 0;
    let interval = c.aws.accounts.iter().map(|a| a.poll_interval).min().unwrap_or(Duration::from_secs(300));
    loop {
        let started = Instant::now();
        let options = IngestOptions { now_ms: now_ms(), ..IngestOptions::default() };
        let polls =
            p.poll_once(&store, &mut state, &options, &observer, detection.as_mut()).map_err(Fail::system)?;
        for t in &polls {
            if let Some(e) = &t.error {
                failed = true;
                eprintln!("{}: {e}", t.arn);
            } else if !quiet {
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
        let queues = p
            .poll_queues(&store, &mut state, &options, &observer, detection.as_mut())
            .map_err(Fail::system)?;
        for q in &queues {
            for b in &q.bad {
                failed = true;
                eprintln!("{}: {b}", q.queue);
            }
            if !quiet {
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
        if observer.problems.load(Ordering::Relaxed) > 0 {
            failed = true;
        }
        if detection.is_some() {
            crate::notify::deliver(&mut state, &c, &rules)?;
        }
        if args.once || stop.load(Ordering::SeqCst) {
            break;
        }
        while started.elapsed() < interval && !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(200));
        }
        if stop.load(Ordering::SeqCst) {
            break;
        }
        if discovered.elapsed() >= REDISCOVER_EVERY {
            p.discover();
            discovered = Instant::now();
            report_discovery(&p, true);
        }
    }
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
            let kind = match (t.multi_region, t.organization) {
                (_, true) => "organization",
                (true, false) => "multi-region",
                _ => "single-region",
            };
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
    let mut silent = false;
    for h in &all {
        let s = h.summary(now, true);
        silent |= s.silent;
        println!(
            "{} (account {}, s3://{}){}",
            h.name,
            h.account,
            h.bucket,
            if s.silent { "  SILENT" } else { "" }
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
        if let (Some(e), Some(at)) = (&h.last_error, h.last_error_at) {
            println!("  last error ({}): {e}", ago(now, at));
        }
        if s.silent {
            println!("  silent: no new file for over {}", dur(Some(trailwatch_aws::health::SILENT_AFTER_MS)));
        }
    }
    Ok(if silent { 1 } else { 0 })
}

pub fn doctor(config: Option<&Path>) -> Result<u8, Fail> {
    let c = load(config)?;
    let p = poller(&c)?;
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
        }
        for n in &report.notes {
            println!("  note: {n}");
        }
        if report.checks.iter().any(|c| c.permission == "cloudtrail:DescribeTrails" && c.ok())
            && report.notes.iter().any(|n| n.starts_with("no trails found"))
        {
            failed = true;
        }
    }
    Ok(if failed { 1 } else { 0 })
}
