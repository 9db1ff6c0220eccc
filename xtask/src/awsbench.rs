//! The live-AWS benchmark (`aws-bench`), against a moto server: what a poll costs in requests
//! (30 days of history over 6 accounts × 4 regions of an organization trail; the first poll,
//! steady-state polls, the hourly full listing and the poll after midnight UTC), counted by
//! the poller and by a counting proxy on the wire; then the ingest rate of S3 objects read from
//! moto against the same files read from a local folder.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
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
    /// 200,000 makes ~78,600 objects: from ~256 files a day in the busiest account×region (one
    /// per five-minute delivery) to ~26 in the quietest, ~106 on average.
    #[arg(long, default_value_t = 200_000)]
    pub history_events: u64,
    /// Days before today the first poll reads (the configuration's `backfill_days`; its
    /// default is 1, today and yesterday).
    #[arg(long, default_value_t = 1)]
    pub backfill_days: i64,
    /// Runs of each side of the ingest comparison (alternating).
    #[arg(long, default_value_t = 2)]
    pub runs: usize,
    /// `[aws] concurrency` values (objects fetched at once) the S3 side is run with.
    #[arg(long, value_delimiter = ',', default_value = "8")]
    pub concurrency: Vec<usize>,
    /// Run moto on CPU 1 alone and every trailwatch process (local and S3 alike) on CPU 0, as
    /// when S3 is another machine: trailwatch's S3 path against its local path at equal CPU.
    #[arg(long)]
    pub pin: bool,
    /// Serve moto's application with waitress and this many threads (keep-alive) instead of
    /// `moto_server` (werkzeug, one connection per request).
    #[arg(long)]
    pub waitress: Option<usize>,
    /// GetObjects of the direct probe of moto (latency, moto CPU per request).
    #[arg(long, default_value_t = 2000)]
    pub probe_gets: usize,
    /// Skip the polling-cost part.
    #[arg(long)]
    pub skip_polling: bool,
    /// Skip the ingest-rate part.
    #[arg(long)]
    pub skip_ingest: bool,
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
    let moto = Moto::start(&root, args.pin.then_some(1), args.waitress)?;
    let tw = Trailwatch { binary: &binary, cpu: args.pin.then_some(0) };
    println!(
        "moto server on {} (pid-owned by this run; {}){}; trailwatch {}",
        moto.url(),
        args.waitress.map_or("moto_server, werkzeug".to_owned(), |t| format!("waitress, {t} threads")),
        if args.pin { ", on CPU 1; trailwatch on CPU 0" } else { "" },
        binary.display()
    );
    if !args.skip_polling {
        polling_cost(&tw, &moto, &dir, args.history_events, args.backfill_days)?;
    }
    if !args.skip_ingest {
        ingest_rate(&tw, &moto, &dir, &args)?;
    }
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

fn write_config(
    path: &Path,
    endpoint: &str,
    regions: &[String],
    backfill: i64,
    relist: &str,
    concurrency: usize,
) -> Result<()> {
    let regions = regions.iter().map(|r| format!("{r:?}")).collect::<Vec<_>>().join(", ");
    std::fs::write(
        path,
        format!(
            "[aws]\nendpoint_url = \"{endpoint}\"\nbackfill_days = {backfill}\nrelist_every = \"{relist}\"\n\
             concurrency = {concurrency}\n\n\
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

/// The release binary, run on one CPU when `cpu` is set.
struct Trailwatch<'a> {
    binary: &'a Path,
    cpu: Option<usize>,
}

impl Trailwatch<'_> {
    /// Runs `trailwatch --data-dir DATA [--config CONFIG] ARGS…` with moto's static
    /// credentials; `fake_time` runs it under libfaketime at that UTC time.
    fn run(&self, data: &Path, config: Option<&Path>, args: &[&str], fake_time: Option<&str>) -> Result<Run> {
        let log = data.with_extension("stderr");
        let mut c = match self.cpu {
            Some(cpu) => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(cpu.to_string()).arg(self.binary);
                c
            }
            None => Command::new(self.binary),
        };
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

fn polling_cost(tw: &Trailwatch, moto: &Moto, dir: &Path, events: u64, backfill: i64) -> Result<()> {
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
        write_config(&cfg, &proxy.url(), &config.regions, backfill, relist, 8)?;
        let (before, connections) = (proxy.counts(), proxy.connections());
        let run = tw.run(&data, Some(&cfg), &["poll", "--once", "--no-detect"], fake_time)?;
        let c = proxy.counts().since(&before);
        let connections = proxy.connections() - connections;
        let (new, lists, gets) = reported(&run.stderr);
        print_poll(what, &c, (new, lists, gets), objects, folders);
        println!(
            "  {:.1} s, {} connections for {} requests (keep-alive); trailwatch CPU {:.1} s",
            run.seconds,
            connections,
            c.total(),
            run.cpu_seconds
        );
        println!("{}", status_line(tw.binary, &data, &cfg)?);
        Ok(new)
    };
    let days = backfill.min(HISTORY_DAYS) + 1;
    poll(&format!("first poll (backfill_days = {backfill}: the last {days} days)"), "1h", None, objects)?;
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
        "  on the wire: {} list (day folders) + {} get = {poll_requests} poll requests; per account×region \
         {:.2} lists, {:.2} requests; discovery {} ({} CloudTrail, {} GetBucketLocation, {} folder lists); \
         other {}; total {}",
        c.get(Kind::List),
        c.get(Kind::Get),
        c.get(Kind::List) as f64 / folders as f64,
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

fn ingest_rate(tw: &Trailwatch, moto: &Moto, dir: &Path, args: &AwsBenchArgs) -> Result<()> {
    println!(
        "\n=== S3 ingest rate: {} events from moto vs the same files from a local folder ===",
        args.events
    );
    // The benchmark dataset, moved to the last three days so that a first poll reads it.
    let start = today_ms() - 3 * 86_400_000;
    let config = SynthConfig { start_ms: start, ..SynthConfig::benchmark(args.events) };
    // The history's trail goes, so that the poll reads this trail only.
    if !args.skip_polling {
        moto.python(DELETE_TRAIL, &["org"])?;
    }
    moto.python(CREATE_TRAIL, &["bench", "bench", &config.prefix])?;
    let data = dir.join("synth");
    let t = Instant::now();
    let (files, events) = put_dataset(moto, &config, &data, "bench")?;
    let paths = crate::bench::gz_files(&data);
    let bytes: u64 = paths.iter().map(|f| std::fs::metadata(f).map_or(0, |m| m.len())).sum();
    println!(
        "dataset: {files} files, {:.1} MiB gzipped ({:.1} events and {:.1} KiB a file), generated and uploaded in {:.1} s",
        bytes as f64 / 1048576.0,
        events as f64 / files as f64,
        bytes as f64 / files as f64 / 1024.0,
        t.elapsed().as_secs_f64()
    );
    let keys: Vec<String> = paths
        .iter()
        .filter_map(|p| p.strip_prefix(&data).ok())
        .filter_map(|p| p.to_str().map(String::from))
        .take(args.probe_gets)
        .collect();
    for connections in [1, 8] {
        let p = probe(moto, "bench", &keys, connections)?;
        println!(
            "direct GetObject probe, {} objects from {connections} thread{} ({} connections opened): \
             {:.0} gets/s; latency p50 {:.2} ms, p95 {:.2} ms; moto CPU {:.2} ms per GetObject ({:.0}% of one core)",
            p.requests,
            if connections == 1 { "" } else { "s" },
            p.connections,
            p.requests as f64 / p.seconds,
            p.p50_ms,
            p.p95_ms,
            p.moto_cpu * 1000.0 / p.requests as f64,
            p.moto_cpu / p.seconds * 100.0
        );
    }
    let mut local = Vec::new();
    let mut s3: Vec<Vec<Run>> = args.concurrency.iter().map(|_| Vec::new()).collect();
    for i in 0..args.runs {
        let store = dir.join(format!("local-{i}"));
        let data_arg = data.to_str().context("non-UTF-8 path")?;
        let r = tw.run(&store, None, &["--quiet", "ingest", "--no-detect", data_arg], None)?;
        print_side("local ingest --no-detect", i, &r, events, None);
        local.push(r);
        let _ = std::fs::remove_dir_all(&store);

        for (c, runs) in args.concurrency.iter().zip(&mut s3) {
            let cfg = dir.join("bench.toml");
            write_config(&cfg, &moto.url(), &config.regions, 3, "1h", *c)?;
            let store = dir.join(format!("s3-{i}"));
            let moto_before = moto.cpu_seconds()?;
            let r = tw.run(&store, Some(&cfg), &["poll", "--once", "--no-detect"], None)?;
            let moto_cpu = moto.cpu_seconds()? - moto_before;
            let (new, _, gets) = reported(&r.stderr);
            if new != files || gets < files {
                bail!("the poll read {new} new files ({gets} gets) of {files}");
            }
            print_side(
                &format!("S3 poll --once --no-detect, concurrency {c}"),
                i,
                &r,
                events,
                Some((moto_cpu, gets)),
            );
            runs.push(r);
            let _ = std::fs::remove_dir_all(&store);
        }
    }
    let best = |runs: &[Run]| runs.iter().map(|r| r.seconds).fold(f64::INFINITY, f64::min);
    let cpu = |runs: &[Run]| runs.iter().map(|r| r.cpu_seconds).sum::<f64>() / runs.len().max(1) as f64;
    let l = events as f64 / best(&local);
    println!(
        "best local run: {l:.0} events/s; trailwatch CPU {:.1} s a run ({:.0} µs per event)",
        cpu(&local),
        cpu(&local) * 1e6 / events as f64
    );
    for (c, runs) in args.concurrency.iter().zip(&s3) {
        let s = events as f64 / best(runs);
        println!(
            "best S3 run, concurrency {c}: {s:.0} events/s; ratio S3/local {:.2} (target >= 0.70); \
             trailwatch CPU {:.1} s a run ({:.0} µs per event)",
            s / l,
            cpu(runs),
            cpu(runs) * 1e6 / events as f64
        );
    }
    Ok(())
}

/// What [`probe`] measured.
struct Probe {
    requests: usize,
    /// Connections opened (one per request when the server closes each).
    connections: usize,
    seconds: f64,
    moto_cpu: f64,
    p50_ms: f64,
    p95_ms: f64,
}

/// `GetObject`s of `keys` sent straight to moto over `connections` keep-alive connections
/// (plain HTTP/1.1; moto checks no signatures unless IAM enforcement is on), each body read
/// to the end: moto's own cost per request, without the SDK or trailwatch.
fn probe(moto: &Moto, bucket: &str, keys: &[String], connections: usize) -> Result<Probe> {
    let port = moto.port;
    let cpu_before = moto.cpu_seconds()?;
    let t = Instant::now();
    let chunks: Vec<Vec<String>> =
        (0..connections).map(|c| keys.iter().skip(c).step_by(connections).cloned().collect()).collect();
    let threads: Vec<_> = chunks
        .into_iter()
        .map(|keys| {
            let bucket = bucket.to_owned();
            std::thread::spawn(move || -> Result<(Vec<f64>, usize)> {
                let connect = || -> Result<(BufReader<TcpStream>, TcpStream)> {
                    let stream = TcpStream::connect(("127.0.0.1", port))?;
                    stream.set_nodelay(true)?;
                    Ok((BufReader::new(stream.try_clone()?), stream))
                };
                let mut conn = None;
                let mut connections = 0;
                let mut times = Vec::with_capacity(keys.len());
                for key in &keys {
                    let t = Instant::now();
                    if conn.is_none() {
                        conn = Some(connect()?);
                        connections += 1;
                    }
                    let (reader, writer) = conn.as_mut().expect("connected above");
                    // Any Authorization header will do: moto checks no signature, but answers
                    // a request without one as anonymous (403 on a private object).
                    write!(
                        writer,
                        "GET /{bucket}/{key} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: AWS4-HMAC-SHA256 \
                         Credential=testing/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0\r\n\r\n"
                    )?;
                    let mut length = None;
                    let mut close = false;
                    let mut status = String::new();
                    reader.read_line(&mut status)?;
                    if !status.starts_with("HTTP/1.1 200") {
                        bail!("GET /{bucket}/{key}: {}", status.trim());
                    }
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line)? == 0 {
                            bail!("GET /{bucket}/{key}: the connection closed in the head");
                        }
                        if line == "\r\n" {
                            break;
                        }
                        if let Some((name, value)) = line.split_once(':') {
                            if name.eq_ignore_ascii_case("content-length") {
                                length = value.trim().parse::<u64>().ok();
                            }
                            close |= name.eq_ignore_ascii_case("connection")
                                && value.trim().eq_ignore_ascii_case("close");
                        }
                    }
                    let length = length.with_context(|| format!("GET /{bucket}/{key}: no Content-Length"))?;
                    std::io::copy(&mut reader.take(length), &mut std::io::sink())?;
                    if close {
                        conn = None;
                    }
                    times.push(t.elapsed().as_secs_f64() * 1000.0);
                }
                Ok((times, connections))
            })
        })
        .collect();
    let (mut times, mut opened) = (Vec::new(), 0);
    for t in threads {
        let (t, c) = t.join().map_err(|_| anyhow::anyhow!("a probe thread panicked"))??;
        times.extend(t);
        opened += c;
    }
    let seconds = t.elapsed().as_secs_f64();
    let moto_cpu = moto.cpu_seconds()? - cpu_before;
    times.sort_by(f64::total_cmp);
    let at = |q: f64| times.get(((times.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or(0.0);
    Ok(Probe {
        requests: times.len(),
        connections: opened,
        seconds,
        moto_cpu,
        p50_ms: at(0.5),
        p95_ms: at(0.95),
    })
}

fn print_side(what: &str, i: usize, r: &Run, events: u64, moto: Option<(f64, u64)>) {
    let moto = moto.map_or(String::new(), |(m, gets)| {
        format!(
            "; moto CPU {m:.1} s ({:.0}% of one core over the run; {:.2} ms per GetObject)",
            m / r.seconds * 100.0,
            m * 1000.0 / gets.max(1) as f64
        )
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
