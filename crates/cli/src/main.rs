//! The `trailwatch` binary: parses the command line, runs the command, prints, and picks the
//! exit code. The only place in the project that prints.

mod args;
mod aws;
mod config;
mod demo;
mod demo_records;
mod detect;
mod ingest;
mod notify;
mod output;
mod query;
mod serve;

use std::process::ExitCode;

/// mimalloc: decoder threads allocate parsed records that the writer thread frees; glibc's
/// malloc spent ~30% of ingest CPU on that hand-over, mimalloc a fraction of it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;

use args::{Cli, Command};

/// A command's failure: what to tell the user and which exit code to use.
#[derive(Debug)]
pub struct Fail {
    pub code: u8,
    pub message: String,
}

impl Fail {
    /// Bad usage or a bad query (exit code 2).
    pub fn usage(message: impl Into<String>) -> Fail {
        Fail { code: 2, message: message.into() }
    }

    /// The store or the file system failed (exit code 3).
    pub fn system(message: impl std::fmt::Display) -> Fail {
        Fail { code: 3, message: message.to_string() }
    }
}

impl From<trailwatch_store::Error> for Fail {
    fn from(e: trailwatch_store::Error) -> Fail {
        match e {
            trailwatch_store::Error::Query(_) | trailwatch_store::Error::Invalid(_) => {
                Fail::usage(e.to_string())
            }
            e => Fail::system(e),
        }
    }
}

/// `mi_option_purge_delay` in the vendored mimalloc.h (v3, pinned by Cargo.lock); not exported
/// by libmimalloc-sys.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> ExitCode {
    // mimalloc hands freed pages back to the OS after 10 ms by default; the pipeline frees and
    // allocates the same amounts every few milliseconds, so that costs ~20% of a hunt's time in
    // page faults. A second of delay keeps the pages while work goes on.
    // SAFETY: setting an option is allowed at any time; no other thread runs yet.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 1000) };
    let cli = Cli::parse();
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, _) => "debug",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TRAILWATCH_LOG").unwrap_or_else(|_| level.into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(fail) => {
            eprintln!("error: {}", fail.message);
            ExitCode::from(fail.code)
        }
    }
}

fn run(cli: Cli) -> Result<u8, Fail> {
    match cli.command {
        Command::Ingest(args) => ingest::run(&cli.data_dir, cli.config.as_deref(), args, cli.quiet),
        Command::Notify(cmd) => notify::run(&cli.data_dir, cli.config.as_deref(), cmd),
        Command::Search(args) => query::search(&cli.data_dir, args),
        Command::Facets(args) => query::facets(&cli.data_dir, args),
        Command::Histogram(args) => query::histogram(&cli.data_dir, args),
        Command::Get { id } => query::get(&cli.data_dir, &id),
        Command::Fields => {
            output::fields();
            Ok(0)
        }
        Command::Stats => query::stats(&cli.data_dir),
        Command::Demo { events, no_serve, listen } => {
            demo::run(&cli.data_dir, events, cli.quiet, (!no_serve).then_some(listen))
        }
        Command::Hunt(args) => detect::hunt(args, cli.config.as_deref(), cli.quiet),
        Command::Rules(cmd) => detect::rules(&cli.data_dir, cli.config.as_deref(), cmd),
        Command::Signals(args) => detect::signals(&cli.data_dir, args),
        Command::Serve(args) => serve::serve(&cli.data_dir, cli.config.as_deref(), args, cli.quiet),
        Command::Users(cmd) => serve::users(&cli.data_dir, cmd),
        Command::Poll(args) => aws::poll(&cli.data_dir, cli.config.as_deref(), args, cli.quiet),
        Command::Trails => aws::trails(cli.config.as_deref()),
        Command::Status => aws::status(&cli.data_dir, cli.config.as_deref()),
        Command::Doctor => aws::doctor(&cli.data_dir, cli.config.as_deref()),
        Command::Prune { older_than } => ingest::prune(&cli.data_dir, &older_than, cli.quiet),
    }
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Reads an age or interval such as `90d`, `12w`, `720h`, `15m` or `30s` (the rule files'
/// durations, [`trailwatch_detect::duration::parse_duration`]).
pub fn parse_duration(s: &str) -> Result<i64, Fail> {
    trailwatch_detect::duration::parse_duration(s).map_err(Fail::usage)
}

/// Opens the store in the data directory for reading (no writer lock is taken).
pub fn open_store(data_dir: &std::path::Path) -> Result<trailwatch_store::EmbeddedStore, Fail> {
    if !trailwatch_store::EmbeddedStore::exists(data_dir) {
        return Err(Fail::usage(format!(
            "no events in {}: run `trailwatch ingest PATH` first (or pass --data-dir)",
            data_dir.display()
        )));
    }
    Ok(trailwatch_store::EmbeddedStore::open(data_dir, trailwatch_store::StoreOptions::default())?)
}
