//! Writes a benchmark dataset: `cargo run --release -p trailwatch-synth --example gen -- OUT EVENTS [SEED]`.
//!
//! Prints one JSON line with the summary, the generation time and the average record size.

use std::path::PathBuf;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(out), Some(events)) = (args.next(), args.next()) else {
        eprintln!("usage: gen OUT EVENTS [SEED]");
        std::process::exit(2);
    };
    let mut config = trailwatch_synth::SynthConfig::benchmark(events.parse()?);
    if let Some(seed) = args.next() {
        config.seed = seed.parse()?;
    }
    let started = Instant::now();
    let s = trailwatch_synth::generate(&config, &PathBuf::from(out))?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "files": s.files,
            "events": s.events,
            "errors": s.errors,
            "json_bytes": s.json_bytes,
            "gz_bytes": s.gz_bytes,
            "seconds": seconds,
            "events_per_s": s.events as f64 / seconds,
            "avg_record_bytes": s.json_bytes as f64 / s.events.max(1) as f64,
            "gz_ratio": s.json_bytes as f64 / s.gz_bytes.max(1) as f64,
        })
    );
    Ok(())
}
