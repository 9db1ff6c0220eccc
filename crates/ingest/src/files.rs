//! Finding the log files under the paths a user gives.

use std::path::{Path, PathBuf};

use trailwatch_cloudtrail::{KeyKind, LogKey};

/// A file to read, with what its path says about it.
#[derive(Debug, Clone)]
pub struct Discovered {
    pub path: PathBuf,
    pub size: u64,
    /// Modification time in milliseconds since the epoch.
    pub modified: i64,
    pub key: Option<LogKey>,
}

/// Why a file found while walking a folder is not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// A `CloudTrail-Digest/` file: integrity data, not events.
    Digest,
    /// Not named like a log file (`.json`, `.json.gz`, `.gz`, `.jsonl`, `.ndjson`, `.log`).
    NotALogFile,
}

/// Files found but not read, and why.
pub type Skipped = Vec<(PathBuf, SkipReason)>;

/// Files named explicitly are always read (unless they are digests); files found in folders are
/// read when named like log files. Folders are walked recursively, in path order.
pub fn discover(paths: &[PathBuf]) -> crate::Result<(Vec<Discovered>, Skipped)> {
    let mut found = Vec::new();
    let mut skipped = Vec::new();
    for root in paths {
        let meta = std::fs::metadata(root)
            .map_err(|source| crate::Error::Walk { path: root.display().to_string(), source })?;
        if meta.is_file() {
            push(root, &meta, true, &mut found, &mut skipped);
            continue;
        }
        let mut entries: Vec<_> = Vec::new();
        for entry in walkdir::WalkDir::new(root).follow_links(true).sort_by_file_name() {
            let entry = entry.map_err(|e| crate::Error::Walk {
                path: e.path().unwrap_or(root).display().to_string(),
                source: e.into_io_error().unwrap_or_else(|| std::io::Error::other("file system loop")),
            })?;
            if entry.file_type().is_file() {
                entries.push(entry);
            }
        }
        for entry in entries {
            if let Ok(meta) = entry.metadata() {
                push(entry.path(), &meta, false, &mut found, &mut skipped);
            }
        }
    }
    Ok((found, skipped))
}

fn push(
    path: &Path,
    meta: &std::fs::Metadata,
    explicit: bool,
    found: &mut Vec<Discovered>,
    skipped: &mut Skipped,
) {
    let text = path.to_string_lossy();
    let key = LogKey::parse(&text);
    if key.as_ref().is_some_and(|k| k.kind == KeyKind::Digest) || text.contains("CloudTrail-Digest") {
        skipped.push((path.to_owned(), SkipReason::Digest));
        return;
    }
    if !explicit && !looks_like_log(&text) {
        skipped.push((path.to_owned(), SkipReason::NotALogFile));
        return;
    }
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis() as i64);
    found.push(Discovered { path: path.to_owned(), size: meta.len(), modified, key });
}

fn looks_like_log(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [".json", ".json.gz", ".gz", ".jsonl", ".ndjson", ".log"].iter().any(|ext| lower.ends_with(ext))
}
