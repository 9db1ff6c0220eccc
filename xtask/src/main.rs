//! Project tasks: `cargo run --release -p xtask -- bench` (the benchmark), `ui-bench` (the web
//! UI and HTTP API under load, in headless Chromium), `aws-bench` (polling cost and S3 ingest
//! rate against moto) and `gen` (a synthetic CloudTrail dataset in the S3 layout).

mod awsbench;
mod bench;
mod latency;
mod moto;
mod proxy;
mod uibench;
mod webdriver;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "trailwatch project tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Generate data, then measure parse rate, ingest rate, memory, index size and query latency.
    Bench(bench::BenchArgs),
    /// The web UI and API over the bench store: explorer first paint and the overview dashboard
    /// in headless Chromium, facet and histogram calls, concurrent users searching.
    UiBench(uibench::UiBenchArgs),
    /// Against moto: S3 requests per poll (6 accounts × 4 regions, 30 days), and the ingest rate
    /// of S3 objects against the same files read locally.
    AwsBench(awsbench::AwsBenchArgs),
    /// Write a synthetic CloudTrail dataset in the S3 layout.
    Gen {
        out: PathBuf,
        #[arg(long, default_value_t = 100_000)]
        events: u64,
        #[arg(long, default_value_t = 0x7261_696c)]
        seed: u64,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().task {
        Task::Bench(args) => bench::run(args),
        Task::AwsBench(args) => awsbench::run(args),
        Task::UiBench(args) => uibench::run(args),
        Task::Gen { out, events, seed } => {
            let config =
                trailwatch_synth::SynthConfig { seed, ..trailwatch_synth::SynthConfig::benchmark(events) };
            let s = trailwatch_synth::generate(&config, &out)?;
            println!(
                "{} events in {} files, {} bytes gzipped ({} bytes of JSON)",
                s.events, s.files, s.gz_bytes, s.json_bytes
            );
            Ok(())
        }
    }
}
