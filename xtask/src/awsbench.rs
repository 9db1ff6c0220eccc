//! The live-AWS benchmark (`aws-bench`), against a moto server: what a poll costs in requests
//! (30 days of history over 6 accounts × 4 regions of an organization trail; the first poll,
//! steady-state polls, the hourly full listing and the poll after midnight UTC), counted by
//! the poller and by a counting proxy on the wire; then the ingest rate of S3 objects read from
//! moto against the same files read from a local folder.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use chrono::{Duration as ChronoDuration, Utc};
use clap::Args;
use trailwatch_synth::SynthConfig;

use crate::moto::{Moto, CREATE_TRAIL, DELETE_TRAIL, UPLOAD};
use crate::proxy::{CountingProxy, Counts, Kind};

#[derive(Args)]
pub struct AwsBenchArgs {
    /// Events of the dataset read from moto and from a local folder.
    #[arg(long, default_value_t = 200_000)]
    pub events: u64,
    /// Events of the 30 days of history of the polling-cost part (6 accounts × 4 regions).
    #[arg(long, default_value_t = 4_000)]
    pub history_events: u64,
    /// Runs of each side of the ingest comparison (alternating).
    #[arg(long, default_value_t = 2)]
    pub runs: usize,
    /// Scratch folder (emptied first).
    #[arg(long, default_value = "bench-data/aws")]
    pub dir: PathBuf,
}

/// moto's account, which owns the trails.
const ACCOUNT: &str = "123456789012";
/// The member accounts whose folders the organization trail writes.
const ACCOUNTS: [&str; 6] =
    ["111122223333", "444455556666", "777788889999", "222233334444", "555566667777", "888899990000"];
const HISTORY_DAYS: i64 = 30;
/// S3 request prices used by the poller's estimate (crates/aws/src/health.rs), USD per 1000.
const LIST_PRICE_PER_1000: f64 = 0.005;
const GET_PRICE_PER_1000: f64 = 0.0004;
/// The default poll interval, and how often a long-running poller discovers trails again.
const POLLS_PER_DAY: f64 = 288.0;
const DISCOVERIES_PER_DAY: f64 = 24.0;
const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

pub fn run(args: AwsBenchArgs) -> Result<()> {
    let root = std::env::current_dir()?;
    let binary = crate::bench::build_release(&root)?;
    let _ = std::fs::remove_dir_all(&args.dir);
    std::fs::create_dir_all(&args.dir)?;
    let dir = std::fs::canonicalize(&args.dir)?;
    let moto = Moto::start(&root)?;
    println!("moto server on {} (pid-owned by this run); trailwatch {}", moto.url(), binary.display());
    polling_cost(&binary, &moto, &dir, args.history_events)?;
    ingest_rate(&binary, &moto, &dir, args.events, args.runs)?;
    Ok(())
}

fn today_ms() -> i64 {
    let now = Utc::now().timestamp_millis();
    now - now.rem_euclid(86_400_000)
}

/// Generates a synthetic dataset and uploads it to moto; returns (files, events).
fn put_dataset(moto: &Moto, config: &SynthConfig, dir: &Path, bucket: &str) -> Result<(u64, u64)> {
    let s = trailwatch_synth::generate(config, dir)?;
    let out = moto.python(UPLOAD, &[bucket, dir.to_str().context("non-UTF-8 path")?])?;
    let objects: u64 = out.split_whitespace().next().and_then(|n| n.parse().ok()).context("upload output")?;
    if objects != s.files {
        bail!("uploaded {objects} objects of {} files", s.files);
    }
    Ok((s.files, s.events))
}

/// A few files delivered just now, in every stream that gets an event.
fn arrivals(moto: &Moto, dir: &Path, seed: u64) -> Result<(u64, u64)> {
    let now = Utc::now().timestamp_millis();
    let config = SynthConfig {
        seed,
        accounts: ACCOUNTS.map(String::from).to_vec(),
        start_ms: now - 6 * 60_000,
        duration_ms: 60_000,
        ..SynthConfig::benchmark(40)
    };
    put_dataset(moto, &config, &dir.join(format!("arrivals-{seed}")), "history")
}

fn write_config(path: &Path, endpoint: &str, regions: &[String], backfill: i64, relist: &str) -> Result<()> {
    let regions = regions.iter().map(|r| format!("{r:?}")).collect::<Vec<_>>().join(", ");
    std::fs::write(
        path,
        format!(
            "[aws]\nendpoint_url = \"{endpoint}\"\nbackfill_days = {backfill}\nrelist_every = \"{relist}\"\n\n\
             [[accounts]]\nid = \"{ACCOUNT}\"\nname = \"bench\"\nregions = [{regions}]\n"
        ),
    )?;
    Ok(())
}

/// One `trailwatch poll --once --no-detect` (or another command) and what it cost.
struct Run {
    seconds: f64,
    cpu_seconds: f64,
    max_rss_kib: i64,
    stderr: String,
}

/// Runs `trailwatch --data-dir DATA [--config CONFIG] ARGS…` with moto's static credentials;
/// `fake_time` runs it under libfaketime at that UTC time.
fn trailwatch(
    binary: &Path,
    data: &Path,
    config: Option<&Path>,
    args: &[&str],
    fake_time: Option<&str>,
) -> Result<Run> {
    let log = data.with_extension("stderr");
    let mut c = Command::new(binary);
    c.arg("--data-dir").arg(data);
    if let Some(config) = config {
        c.arg("--config").arg(config);
    }
    c.args(args)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("TRAILWATCH_DATA_DIR")
        .env_remove("TRAILWATCH_LOG")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log)?);
    if let Some(t) = fake_time {
        c.env("LD_PRELOAD", LIBFAKETIME)
            .env("FAKETIME", format!("@{t}"))
            .env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
    }
    let t = Instant::now();
    let child = c.spawn().with_context(|| format!("running trailwatch {}", args.join(" ")))?;
    let (status, max_rss_kib, cpu_seconds) = crate::bench::wait_with_rusage(child)?;
    let seconds = t.elapsed().as_secs_f64();
    let stderr = std::fs::read_to_string(&log)?;
    if status != 0 {
        bail!("trailwatch {} exited with status {status}:\n{stderr}", args.join(" "));
    }
    Ok(Run { seconds, cpu_seconds, max_rss_kib, stderr })
}

/// What `poll` printed per trail: new files, list requests, get requests (summed).
fn reported(stderr: &str) -> (u64, u64, u64) {
    let mut sum = (0, 0, 0);
    for line in stderr.lines().filter(|l| l.ends_with(" get requests")) {
        let words: Vec<&str> = line.rsplit_once(": ").map_or(line, |(_, r)| r).split_whitespace().collect();
        let before = |w: &str| {
            words
                .iter()
                .position(|x| *x == w)
                .and_then(|i| i.checked_sub(1))
                .and_then(|i| words[i].parse().ok())
        };
        sum.0 += words.first().and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
        sum.1 += before("list").unwrap_or(0);
        sum.2 += before("get").unwrap_or(0);
    }
    sum
}

fn polling_cost(binary: &Path, moto: &Moto, dir: &Path, events: u64) -> Result<()> {
    println!(
        "\n=== polling cost: organization trail, {} accounts × 4 regions, {HISTORY_DAYS} days ===",
        ACCOUNTS.len()
    );
    let now = Utc::now().timestamp_millis();
    let start = today_ms() - HISTORY_DAYS * 86_400_000;
    // Deliveries come up to 10 minutes after the last event: keep them all in the past.
    let config = SynthConfig {
        accounts: ACCOUNTS.map(String::from).to_vec(),
        start_ms: start,
        duration_ms: now - 11 * 60_000 - start,
        ..SynthConfig::benchmark(events)
    };
    let folders = (config.accounts.len() * config.regions.len()) as u64;
    moto.python(CREATE_TRAIL, &["history", "org", &config.prefix])?;
    let t = Instant::now();
    let (mut objects, history_events) = put_dataset(moto, &config, &dir.join("history"), "history")?;
    println!(
        "history: {objects} objects ({history_events} events) over {} days, uploaded in {:.1} s; {folders} account×region folders",
        HISTORY_DAYS + 1,
        t.elapsed().as_secs_f64()
    );
    let proxy = CountingProxy::start(moto.port)?;
    let data = dir.join("poll-data");
    let cfg = dir.join("poll.toml");
    let poll = |what: &str, relist: &str, fake_time: Option<&str>, objects: u64| -> Result<u64> {
        write_config(&cfg, &proxy.url(), &config.regions, HISTORY_DAYS, relist)?;
        let before = proxy.counts();
        let run = trailwatch(binary, &data, Some(&cfg), &["poll", "--once", "--no-detect"], fake_time)?;
        let c = proxy.counts().since(&before);
        let (new, lists, gets) = reported(&run.stderr);
        print_poll(what, &c, (new, lists, gets), objects, folders);
        println!("{}", status_line(binary, &data, &cfg)?);
        Ok(new)
    };
    poll("first poll (30 days of history)", "1h", None, objects)?;
    poll("steady state, nothing new", "1h", None, objects)?;
    let (files, _) = arrivals(moto, dir, 1)?;
    objects += files;
    let new = poll(&format!("steady state, {files} new files today"), "1h", None, objects)?;
    if new != files {
        bail!("the poll found {new} new files of the {files} uploaded");
    }
    poll("hourly full listing of today and yesterday (relist_every elapsed)", "1s", None, objects)?;
    if Path::new(LIBFAKETIME).exists() {
        // A file delivered late today is read after midnight from "yesterday's" folder.
        let (files, _) = arrivals(moto, dir, 2)?;
        objects += files;
        let tomorrow = (Utc::now() + ChronoDuration::days(1)).format("%Y-%m-%d 00:20:00");
        let new = poll(
            &format!("00:20 UTC the next day (libfaketime), {files} files came late into today's folder"),
            "2d",
            Some(&tomorrow.to_string()),
            objects,
        )?;
        if new != files {
            bail!("after midnight, the poll found {new} new files of the {files} delivered late");
        }
    } else {
        println!("after midnight: not simulated ({LIBFAKETIME} is missing: apt-get install faketime)");
    }
    Ok(())
}

fn print_poll(what: &str, c: &Counts, reported: (u64, u64, u64), objects: u64, folders: u64) {
    let (new, lists, gets) = reported;
    let poll_requests = c.get(Kind::List) + c.get(Kind::Get);
    println!("{what}:");
    println!(
        "  on the wire: {} list (day folders) + {} get = {poll_requests} poll requests, {:.2} per account×region; \
         discovery {} ({} CloudTrail, {} GetBucketLocation, {} folder lists); other {}; total {}",
        c.get(Kind::List),
        c.get(Kind::Get),
        poll_requests as f64 / folders as f64,
        c.discovery(),
        c.get(Kind::Api),
        c.get(Kind::Location),
        c.get(Kind::Folders),
        c.get(Kind::Other),
        c.total()
    );
    println!(
        "  poller says: {new} new files, {lists} list + {gets} get{}; objects in the bucket: {objects}",
        if (lists, gets) == (c.get(Kind::List), c.get(Kind::Get)) {
            " (agrees)"
        } else {
            " (DIFFERS from the wire)"
        }
    );
    let per_day =
        |lists: f64, gets: f64| lists / 1000.0 * LIST_PRICE_PER_1000 + gets / 1000.0 * GET_PRICE_PER_1000;
    println!(
        "  if every 5-minute poll were like this: ${:.4}/day (+ ${:.4}/day for hourly discovery)",
        per_day(c.get(Kind::List) as f64 * POLLS_PER_DAY, c.get(Kind::Get) as f64 * POLLS_PER_DAY),
        per_day((c.get(Kind::Folders) + c.get(Kind::Location)) as f64 * DISCOVERIES_PER_DAY, 0.0)
    );
}

/// The poller's own request totals and cost estimate (`trailwatch status`).
fn status_line(binary: &Path, data: &Path, cfg: &Path) -> Result<String> {
    let out = Command::new(binary)
        .arg("--data-dir")
        .arg(data)
        .arg("--config")
        .arg(cfg)
        .arg("status")
        .env_remove("TRAILWATCH_DATA_DIR")
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.trim_start().starts_with("requests:")).context("no requests line")?;
    Ok(format!("  trailwatch status: {}", line.trim()))
}

fn ingest_rate(binary: &Path, moto: &Moto, dir: &Path, events: u64, runs: usize) -> Result<()> {
    println!("\n=== S3 ingest rate: {events} events from moto vs the same files from a local folder ===");
    // The benchmark dataset, moved to the last three days so that a first poll reads it.
    let start = today_ms() - 3 * 86_400_000;
    let config = SynthConfig { start_ms: start, ..SynthConfig::benchmark(events) };
    // The history's trail goes, so that the poll reads this trail only.
    moto.python(DELETE_TRAIL, &["org"])?;
    moto.python(CREATE_TRAIL, &["bench", "bench", &config.prefix])?;
    let data = dir.join("synth");
    let t = Instant::now();
    let (files, events) = put_dataset(moto, &config, &data, "bench")?;
    let bytes: u64 =
        crate::bench::gz_files(&data).iter().map(|f| std::fs::metadata(f).map_or(0, |m| m.len())).sum();
    println!(
        "dataset: {files} files, {:.1} MiB gzipped, generated and uploaded in {:.1} s",
        bytes as f64 / 1048576.0,
        t.elapsed().as_secs_f64()
    );
    let cfg = dir.join("bench.toml");
    write_config(&cfg, &moto.url(), &config.regions, 3, "1h")?;
    let (mut local, mut s3) = (Vec::new(), Vec::new());
    for i in 0..runs {
        let store = dir.join(format!("local-{i}"));
        let data_arg = data.to_str().context("non-UTF-8 path")?;
        let r = trailwatch(binary, &store, None, &["--quiet", "ingest", "--no-detect", data_arg], None)?;
        print_side("local ingest --no-detect", i, &r, events, None);
        local.push(r);
        let _ = std::fs::remove_dir_all(&store);

        let store = dir.join(format!("s3-{i}"));
        let moto_before = moto.cpu_seconds()?;
        let r = trailwatch(binary, &store, Some(&cfg), &["poll", "--once", "--no-detect"], None)?;
        let moto_cpu = moto.cpu_seconds()? - moto_before;
        let (new, _, gets) = reported(&r.stderr);
        if new != files || gets < files {
            bail!("the poll read {new} new files ({gets} gets) of {files}");
        }
        print_side("S3 poll --once --no-detect", i, &r, events, Some(moto_cpu));
        s3.push(r);
        let _ = std::fs::remove_dir_all(&store);
    }
    let best = |runs: &[Run]| runs.iter().map(|r| r.seconds).fold(f64::INFINITY, f64::min);
    let cpu = |runs: &[Run]| runs.iter().map(|r| r.cpu_seconds).sum::<f64>() / runs.len().max(1) as f64;
    let (l, s) = (events as f64 / best(&local), events as f64 / best(&s3));
    println!(
        "best runs: local {l:.0} events/s, S3 {s:.0} events/s; ratio S3/local {:.2} (target >= 0.70); \
         trailwatch CPU per run: local {:.1} s, S3 {:.1} s",
        s / l,
        cpu(&local),
        cpu(&s3)
    );
    Ok(())
}

fn print_side(what: &str, i: usize, r: &Run, events: u64, moto_cpu: Option<f64>) {
    let moto = moto_cpu.map_or(String::new(), |m| {
        format!("; moto CPU {m:.1} s ({:.0}% of one core over the run)", m / r.seconds * 100.0)
    });
    println!(
        "{what} #{}: {:.2} s = {:.0} events/s; CPU {:.1} s (user+sys); peak RSS {:.0} MiB{moto}",
        i + 1,
        r.seconds,
        events as f64 / r.seconds,
        r.cpu_seconds,
        r.max_rss_kib as f64 / 1024.0
    );
}
