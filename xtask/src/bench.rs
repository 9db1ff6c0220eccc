//! The benchmark: for each dataset size, the raw decompress+parse rate of the files (the
//! physical limit here), end-to-end ingest into a fresh store by the release binary (rate and
//! peak RSS), index size per input byte, query latency, and DuckDB's load rate on the same files.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use trailwatch_cloudtrail::{Limits, RecordReader};

#[derive(Args)]
pub struct BenchArgs {
    /// Dataset sizes in events (e.g. 1000000,10000000).
    #[arg(long, value_delimiter = ',', default_value = "1000000")]
    pub events: Vec<u64>,
    /// Where datasets and stores are kept (reused between runs when present).
    #[arg(long, default_value = "bench-data")]
    pub dir: PathBuf,
    /// Skip the DuckDB comparison.
    #[arg(long)]
    pub skip_duckdb: bool,
    /// Skip the detection figures (ingest without rules, hunt).
    #[arg(long)]
    pub skip_detection: bool,
    /// Reuse an existing store for the latency phase instead of ingesting again.
    #[arg(long)]
    pub reuse_store: bool,
    /// Times each query runs (after one warm-up run).
    #[arg(long, default_value_t = 15)]
    pub runs: usize,
}

pub fn run(args: BenchArgs) -> Result<()> {
    let root = std::env::current_dir()?;
    std::fs::create_dir_all(&args.dir)?;
    let binary = build_release(&root)?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("machine: {threads} cores; trailwatch {}", binary.display());
    for &n in &args.events {
        println!("\n=== {} events ===", n);
        let data = args.dir.join(format!("synth-{n}"));
        let (files, gz_bytes) = ensure_dataset(&data, n)?;
        println!(
            "dataset: {files} files, {:.1} MiB gzipped ({})",
            gz_bytes as f64 / 1048576.0,
            data.display()
        );

        let raw = raw_parse(&data, threads)?;
        println!(
            "raw decompress+parse ({threads} threads): {} events in {:.2} s = {:.0} events/s ({:.0} MiB/s of JSON)",
            raw.events,
            raw.seconds,
            raw.events as f64 / raw.seconds,
            raw.json_bytes as f64 / 1048576.0 / raw.seconds
        );

        let store_dir = args.dir.join(format!("store-{n}"));
        let ingest = if args.reuse_store && store_dir.join("index/manifest.json").exists() {
            None
        } else {
            let _ = std::fs::remove_dir_all(&store_dir);
            Some(ingest(&binary, &data, &store_dir)?)
        };
        let store = trailwatch_store::EmbeddedStore::open(&store_dir, Default::default())?;
        let index_bytes = store.index_bytes();
        if let Some(ing) = &ingest {
            let rate = raw.events as f64 / ing.seconds;
            println!(
                "ingest end to end (release binary): {:.2} s = {:.0} events/s; ratio to raw parse {:.2}",
                ing.seconds,
                rate,
                rate / (raw.events as f64 / raw.seconds)
            );
            println!(
                "ingest peak RSS: {:.0} MiB; CPU {:.1} s ({:.0} µs per event)",
                ing.max_rss_kib as f64 / 1024.0,
                ing.cpu_seconds,
                ing.cpu_seconds * 1e6 / raw.events as f64
            );
        }
        if let (Some(with), false) = (&ingest, args.skip_detection) {
            // The same ingest without the rule pack: what detection costs.
            let plain_dir = args.dir.join(format!("store-{n}-nodetect"));
            let _ = std::fs::remove_dir_all(&plain_dir);
            let plain = run_binary(&binary, &plain_dir, &["ingest", "--no-detect"], &data)?;
            let _ = std::fs::remove_dir_all(&plain_dir);
            let (with, with_cpu) = (with.seconds, with.cpu_seconds);
            println!(
                "ingest without detection: {:.2} s = {:.0} events/s; detection costs {:.1}% of ingest time, {:.1}% of its CPU",
                plain.seconds,
                raw.events as f64 / plain.seconds,
                (with - plain.seconds) / with * 100.0,
                (with_cpu - plain.cpu_seconds) / with_cpu * 100.0
            );
            let hunt =
                run_binary(&binary, &args.dir.join("hunt-scratch"), &["hunt", "--format", "jsonl"], &data)?;
            let rate = raw.events as f64 / hunt.seconds;
            println!(
                "hunt (whole built-in pack, no store): {:.2} s = {:.0} events/s; ratio to raw parse {:.2}; peak RSS {:.0} MiB; CPU {:.1} s",
                hunt.seconds,
                rate,
                rate / (raw.events as f64 / raw.seconds),
                hunt.max_rss_kib as f64 / 1024.0,
                hunt.cpu_seconds
            );
        }
        println!(
            "index: {:.1} MiB = {:.2} bytes per input .json.gz byte ({:.0} bytes per event)",
            index_bytes as f64 / 1048576.0,
            index_bytes as f64 / gz_bytes as f64,
            index_bytes as f64 / raw.events as f64
        );
        if let Some(ing) = &ingest {
            if !args.skip_duckdb {
                match duckdb(&root, &args.dir, &data) {
                    Ok(rate) => println!(
                        "duckdb read_json load: {:.0} events/s; trailwatch ingest is {:.1}x that",
                        rate,
                        (raw.events as f64 / ing.seconds) / rate
                    ),
                    Err(e) => println!("duckdb: not measured ({e:#})"),
                }
            }
        }
        crate::latency::report(&store, args.runs)?;
    }
    Ok(())
}

pub(crate) fn build_release(root: &Path) -> Result<PathBuf> {
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "-q", "-p", "trailwatch"])
        .current_dir(root)
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("cargo build --release -p trailwatch failed");
    }
    let target = std::env::var("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|_| root.join("target"));
    Ok(target.join("release/trailwatch"))
}

/// Generates the dataset unless a complete one is there (a marker file is written last).
pub(crate) fn ensure_dataset(dir: &Path, events: u64) -> Result<(u64, u64)> {
    let marker = dir.join(".complete");
    if !marker.exists() {
        let _ = std::fs::remove_dir_all(dir);
        let t = Instant::now();
        let s = trailwatch_synth::generate(&trailwatch_synth::SynthConfig::benchmark(events), dir)?;
        println!(
            "generated {} events ({} files) in {:.1} s; average record {:.0} bytes; gzip ratio {:.1}",
            s.events,
            s.files,
            t.elapsed().as_secs_f64(),
            s.json_bytes as f64 / s.events as f64,
            s.json_bytes as f64 / s.gz_bytes as f64
        );
        std::fs::write(&marker, "")?;
    }
    let (mut files, mut bytes) = (0, 0);
    for f in gz_files(dir) {
        files += 1;
        bytes += std::fs::metadata(&f)?.len();
    }
    Ok((files, bytes))
}

pub(crate) fn gz_files(dir: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file() && e.path().extension().is_some_and(|x| x == "gz"))
        .map(|e| e.into_path())
        .collect()
}

struct Raw {
    events: u64,
    json_bytes: u64,
    seconds: f64,
}

/// Decompresses every file and parses every record (with the parser ingest uses, which builds
/// no tree of allocations), on `threads` threads: the work no ingester can skip.
fn raw_parse(dir: &Path, threads: usize) -> Result<Raw> {
    let files = gz_files(dir);
    let (tx, rx) = crossbeam_channel::unbounded();
    files.iter().for_each(|f| tx.send(f.clone()).unwrap());
    drop(tx);
    let t = Instant::now();
    let totals = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let rx = rx.clone();
                s.spawn(move || -> Result<(u64, u64)> {
                    let (mut events, mut bytes) = (0, 0);
                    for f in rx {
                        let reader = std::io::BufReader::with_capacity(256 * 1024, std::fs::File::open(&f)?);
                        let mut records = RecordReader::new(reader, Limits::default())?;
                        for r in records.by_ref() {
                            let r = r?;
                            let v = trailwatch_cloudtrail::Json::parse(r.bytes)?;
                            std::hint::black_box(&v);
                            events += 1;
                        }
                        bytes += records.bytes_read();
                    }
                    Ok((events, bytes))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("parse thread")).collect::<Result<Vec<_>>>()
    })?;
    Ok(Raw {
        events: totals.iter().map(|t| t.0).sum(),
        json_bytes: totals.iter().map(|t| t.1).sum(),
        seconds: t.elapsed().as_secs_f64(),
    })
}

pub(crate) struct Ingest {
    pub(crate) seconds: f64,
    max_rss_kib: i64,
    /// User + system CPU seconds of the process (less sensitive to a busy machine than wall time).
    cpu_seconds: f64,
}

pub(crate) fn ingest(binary: &Path, data: &Path, store: &Path) -> Result<Ingest> {
    run_binary(binary, store, &["ingest"], data)
}

/// Runs `trailwatch --quiet --data-dir STORE ARGS… DATA`, output discarded, timed.
fn run_binary(binary: &Path, store: &Path, args: &[&str], data: &Path) -> Result<Ingest> {
    let t = Instant::now();
    let child = Command::new(binary)
        .arg("--data-dir")
        .arg(store)
        .arg("--quiet")
        .args(args)
        .arg(data)
        .stdout(std::process::Stdio::null())
        .spawn()
        .with_context(|| format!("running trailwatch {}", args.join(" ")))?;
    let (status, max_rss_kib, cpu_seconds) = wait_with_rusage(child)?;
    let seconds = t.elapsed().as_secs_f64();
    if status != 0 {
        bail!("trailwatch {} exited with status {status}", args.join(" "));
    }
    Ok(Ingest { seconds, max_rss_kib, cpu_seconds })
}

/// Waits for one child and returns its exit status, its own peak resident memory (KiB) and the
/// CPU seconds it used.
pub(crate) fn wait_with_rusage(child: std::process::Child) -> Result<(i32, i64, f64)> {
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: wait4 writes only into the status and rusage it is given; the pid is our child,
    // which `child` no longer waits for (it is dropped without wait).
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        if libc::wait4(pid, &mut status, 0, &mut usage) < 0 {
            bail!("wait4 failed: {}", std::io::Error::last_os_error());
        }
        usage
    };
    drop(child);
    let code = if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { -1 };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Ok((code, usage.ru_maxrss, secs(usage.ru_utime) + secs(usage.ru_stime)))
}

/// Runs bench/duckdb_load.py in a venv under the bench directory (installing DuckDB once).
fn duckdb(root: &Path, bench_dir: &Path, data: &Path) -> Result<f64> {
    let venv = bench_dir.join("venv");
    let python = venv.join("bin/python");
    if !python.exists() {
        let ok = Command::new("python3").arg("-m").arg("venv").arg(&venv).status()?.success();
        if !ok {
            bail!("python3 -m venv failed");
        }
    }
    let has = Command::new(&python).args(["-c", "import duckdb"]).status()?.success();
    if !has {
        let ok = Command::new(&python).args(["-m", "pip", "install", "-q", "duckdb"]).status()?.success();
        if !ok {
            bail!("pip install duckdb failed");
        }
    }
    let out = Command::new(&python).arg(root.join("bench/duckdb_load.py")).arg(data).output()?;
    if !out.status.success() {
        bail!("duckdb_load.py failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let line = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(line.trim().lines().last().unwrap_or(""))?;
    v["events_per_s"].as_f64().context("no events_per_s in duckdb_load.py output")
}
