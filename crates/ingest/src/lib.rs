//! How files become stored events: find the files, decode and normalize them on worker
//! threads, add the events to the store, commit, and only then record the files as done.
//!
//! Architecture Invariant: a file is recorded in [`State`] only after a store commit that
//! covers all of its events, so a crash at any point followed by a re-run ends with the same
//! events, none lost and none doubled (the store drops events whose id it already has).

pub mod detect;
mod files;
mod pipeline;
mod replay;

pub use detect::Detection;
pub use files::{discover, Discovered, SkipReason, Skipped};
pub use pipeline::{
    hunt, ingest, ingest_files, CommitStage, EventFilter, IngestOptions, LocalFiles, Observer, Opener,
    Problem, Progress, RecordedFile, Summary,
};
pub use replay::replay;

/// What can stop an ingestion run as a whole (bad files and records do not: they are
/// reported as [`Problem`]s and the run goes on).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] trailwatch_store::Error),
    #[error("{path}: {source}")]
    Walk { path: String, source: std::io::Error },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
