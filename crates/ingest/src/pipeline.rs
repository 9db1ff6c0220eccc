//! The ingestion pipeline: decoder threads feed one writer, which commits in batches and
//! checkpoints files after each commit.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, unbounded};
use trailwatch_cloudtrail::{normalize, Event, Limits, RecordContext, RecordReader};
use trailwatch_detect::signal::Outcome;
use trailwatch_store::{Checkpoint, EventStore, FileRecord, NewEvent, State};

use crate::detect::Detection;
use crate::files::{discover, Discovered, SkipReason};
use crate::Result;

/// How an ingestion run behaves.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    pub limits: Limits,
    /// Decoding threads.
    pub decoders: usize,
    /// Events a decoder hands over at a time (bounds memory on huge files).
    pub chunk_events: usize,
    /// Commit after this many new events…
    pub commit_every_events: u64,
    /// …or after this long, whichever comes first.
    pub commit_every: Duration,
    /// Read files again even when recorded as done with the same size and time.
    pub force: bool,
    /// When the run started (milliseconds): the received time of records whose file key has
    /// no delivery stamp.
    pub now_ms: i64,
    /// The name files are recorded under in the state (`local` for files on disk).
    pub source: String,
    /// Which events are kept; the others are counted ([`Progress::events_excluded`]), not stored.
    pub select: Option<EventFilter>,
}

/// A predicate over events: `true` keeps the event.
#[derive(Clone)]
pub struct EventFilter(pub Arc<dyn Fn(&Event) -> bool + Send + Sync>);

impl std::fmt::Debug for EventFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventFilter")
    }
}

/// Opens the files of a run for reading: files on disk ([`LocalFiles`]) or objects in S3
/// (trailwatch-aws). Called from decoder threads, several files at once.
pub trait Opener: Sync {
    /// A reader over the file's bytes (gzip or plain; the decoder tells them apart). The error
    /// says what failed, for the file's problem line.
    fn open(&self, file: &Discovered) -> std::result::Result<Box<dyn BufRead + Send>, String>;
}

/// Files on the local disk.
pub struct LocalFiles;

impl Opener for LocalFiles {
    fn open(&self, file: &Discovered) -> std::result::Result<Box<dyn BufRead + Send>, String> {
        match File::open(&file.path) {
            Ok(f) => Ok(Box::new(BufReader::with_capacity(256 * 1024, f))),
            Err(e) => Err(format!("cannot open: {e}")),
        }
    }
}

/// A file recorded as done after a commit, with a sample of its events' times (for the lag
/// from event to ingestion that live sources report).
#[derive(Debug, Clone)]
pub struct RecordedFile {
    pub record: FileRecord,
    /// Up to 21 event times (milliseconds): the 0%, 5%, …, 100% quantiles of the file's events.
    pub event_times: Vec<i64>,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            limits: Limits::default(),
            decoders: std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 8),
            chunk_events: 256,
            commit_every_events: 1_000_000,
            commit_every: Duration::from_secs(30),
            force: false,
            now_ms: 0,
            source: "local".into(),
            select: None,
        }
    }
}

/// Running totals, reported to the [`Observer`] as the run goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    /// Files to read in this run.
    pub files_total: u64,
    pub files_done: u64,
    /// Files that could not be read to their end (their good records are kept).
    pub files_failed: u64,
    /// Files not read again because they were ingested before, unchanged.
    pub files_unchanged: u64,
    /// Files found in folders but not read (digests, other names).
    pub files_ignored: u64,
    pub events_read: u64,
    /// Events read but not kept by [`IngestOptions::select`].
    pub events_excluded: u64,
    pub events_added: u64,
    pub duplicates: u64,
    /// Records that could not become events.
    pub records_rejected: u64,
    /// Decompressed bytes read.
    pub bytes_read: u64,
    pub elapsed: Duration,
}

/// A bad file or record. The run goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: PathBuf,
    /// The record's index in the file, for record-level problems.
    pub record: Option<usize>,
    /// What is wrong; names the record when there is one.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

/// Hears about the run as it goes (the CLI draws a progress bar). Library code never prints.
pub trait Observer: Sync {
    fn progress(&self, _progress: &Progress) {}
    fn problem(&self, _problem: &Problem) {}
    fn ignored(&self, _path: &std::path::Path, _why: SkipReason) {}
    /// A rule fired: a signal was opened or updated.
    fn signal(&self, _outcome: &Outcome) {}
    /// A commit reached `stage` (tests stop the process there to check recovery).
    fn committing(&self, _stage: CommitStage) {}
    /// Files were recorded as done: their events are durably stored (a queue source deletes
    /// their messages now).
    fn recorded(&self, _files: &[RecordedFile]) {}
}

/// The steps of a commit, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitStage {
    /// Detection results and the ids of the events behind them are saved.
    DetectionSaved,
    /// The store committed the events.
    StoreCommitted,
    /// The files are recorded as done.
    FilesRecorded,
}

/// The outcome of a run.
#[derive(Debug, Clone)]
pub struct Summary {
    pub progress: Progress,
    pub problems: u64,
}

/// What a decoder hands to the writer.
struct Chunk {
    file: usize,
    events: Vec<NewEvent>,
    problems: Vec<Problem>,
    /// Set on the file's last chunk.
    end: Option<FileEnd>,
}

struct FileEnd {
    fatal: Option<String>,
    bytes: u64,
    excluded: u64,
    event_times: Vec<i64>,
}

/// Ingests every file under `paths`.
pub fn ingest(
    paths: &[PathBuf],
    store: &dyn EventStore,
    state: &mut State,
    options: &IngestOptions,
    observer: &dyn Observer,
    detection: Option<&mut Detection>,
) -> Result<Summary> {
    let (found, ignored) = discover(paths)?;
    for (path, why) in &ignored {
        observer.ignored(path, *why);
    }
    let mut todo = Vec::new();
    let mut unchanged = 0;
    for file in found {
        let known = state.file(&options.source, &file.path.to_string_lossy())?;
        match known {
            Some(k) if !options.force && k.size == file.size && k.modified == file.modified => unchanged += 1,
            _ => todo.push(file),
        }
    }
    let progress =
        Progress { files_ignored: ignored.len() as u64, files_unchanged: unchanged, ..Progress::default() };
    ingest_files(todo, &LocalFiles, progress, store, state, options, observer, detection)
}

/// Ingests `todo`, opened through `opener`, counting on from `progress` (which may carry the
/// files skipped before). Every file given is read: checking what was done before is the
/// caller's business.
#[allow(clippy::too_many_arguments)]
pub fn ingest_files(
    todo: Vec<Discovered>,
    opener: &dyn Opener,
    progress: Progress,
    store: &dyn EventStore,
    state: &mut State,
    options: &IngestOptions,
    observer: &dyn Observer,
    detection: Option<&mut Detection>,
) -> Result<Summary> {
    let started = Instant::now();
    let mut progress = progress;
    progress.files_total = todo.len() as u64;
    observer.progress(&progress);
    let mut problems = 0u64;

    // Per file: events added and problems so far.
    let mut counts = vec![(0u64, 0u64); todo.len()];
    let mut finished: Vec<RecordedFile> = Vec::new();
    let mut since_commit = 0u64;
    let mut last_commit = Instant::now();
    let mut detection = detection;
    decode_all(&todo, opener, options, |chunk| {
        let n = chunk.events.len() as u64;
        progress.events_read += n;
        if n > 0 {
            let mut failed = None;
            let stats = match detection.as_deref_mut() {
                Some(d) => {
                    let st = &*state;
                    let stats = store.add_inspect(chunk.events, &mut |e| {
                        if failed.is_none() {
                            failed = d.observe(e, Some(st)).err();
                        }
                    })?;
                    for o in d.take_outcomes() {
                        observer.signal(&o);
                    }
                    stats
                }
                None => store.add(chunk.events)?,
            };
            if let Some(e) = failed {
                return Err(e);
            }
            progress.events_added += stats.added;
            progress.duplicates += stats.duplicates;
            since_commit += stats.added;
            counts[chunk.file].0 += n;
        }
        account_chunk(&chunk.problems, chunk.file, &mut counts, &mut progress, &mut problems, observer);
        if let Some(end) = chunk.end {
            let file = &todo[chunk.file];
            end_file(&end, file, &mut progress, &mut problems, observer);
            let record = FileRecord {
                source: options.source.clone(),
                path: file.path.to_string_lossy().into_owned(),
                size: file.size,
                modified: file.modified,
                events: counts[chunk.file].0,
                errors: counts[chunk.file].1 + end.fatal.is_some() as u64,
                error: end.fatal,
                done_at: options.now_ms,
            };
            finished.push(RecordedFile { record, event_times: end.event_times });
        }
        if since_commit >= options.commit_every_events || last_commit.elapsed() >= options.commit_every {
            commit(store, state, &mut finished, detection.as_deref_mut(), observer)?;
            since_commit = 0;
            last_commit = Instant::now();
        }
        progress.elapsed = started.elapsed();
        observer.progress(&progress);
        Ok(())
    })?;
    commit(store, state, &mut finished, detection, observer)?;
    store.finish()?;
    progress.elapsed = started.elapsed();
    observer.progress(&progress);
    Ok(Summary { progress, problems })
}

/// Saves what detection made of the events since the last commit, commits the store, then
/// records the files whose events the commit covers. See [`crate::detect`] for why in this order.
fn commit(
    store: &dyn EventStore,
    state: &mut State,
    finished: &mut Vec<RecordedFile>,
    detection: Option<&mut Detection>,
    observer: &dyn Observer,
) -> Result<()> {
    let mut detection = detection;
    if let Some(d) = detection.as_deref_mut() {
        let rows = d.take_rows();
        let any = !rows.signals.is_empty() || !rows.rule_states.is_empty() || !rows.pending.is_empty();
        if any {
            state.checkpoint(&Checkpoint {
                signals: &rows.signals,
                rule_states: &rows.rule_states,
                outbox: &rows.outbox,
                pending: Some(&rows.pending),
                ..Checkpoint::default()
            })?;
            observer.committing(CommitStage::DetectionSaved);
        }
    }
    store.commit()?;
    observer.committing(CommitStage::StoreCommitted);
    let files: Vec<FileRecord> = finished.iter().map(|f| f.record.clone()).collect();
    state.checkpoint(&Checkpoint { files: &files, clear_pending: true, ..Checkpoint::default() })?;
    observer.committing(CommitStage::FilesRecorded);
    if !finished.is_empty() {
        observer.recorded(finished);
    }
    finished.clear();
    if let Some(d) = detection {
        d.committed();
    }
    Ok(())
}

/// Runs decoder threads over `todo` and hands their chunks to `each`, in the order they come.
fn decode_all(
    todo: &[Discovered],
    opener: &dyn Opener,
    options: &IngestOptions,
    mut each: impl FnMut(Chunk) -> Result<()>,
) -> Result<()> {
    let (file_tx, file_rx) = unbounded::<usize>();
    for i in 0..todo.len() {
        file_tx.send(i).expect("receiver is alive");
    }
    drop(file_tx);
    // Bounded: decoders wait rather than pile parsed events up in memory.
    let (chunk_tx, chunk_rx) = bounded::<Chunk>(options.decoders);
    std::thread::scope(|scope| -> Result<()> {
        for _ in 0..options.decoders.max(1) {
            let (file_rx, chunk_tx) = (file_rx.clone(), chunk_tx.clone());
            scope.spawn(move || {
                for i in file_rx {
                    if !decode_file(i, &todo[i], opener, options, &chunk_tx) {
                        break;
                    }
                }
            });
        }
        drop(chunk_tx);
        for chunk in chunk_rx.iter() {
            each(chunk)?;
        }
        Ok(())
    })
}

fn account_chunk(
    chunk_problems: &[Problem],
    file: usize,
    counts: &mut [(u64, u64)],
    progress: &mut Progress,
    problems: &mut u64,
    observer: &dyn Observer,
) {
    for p in chunk_problems {
        observer.problem(p);
    }
    let np = chunk_problems.len() as u64;
    *problems += np;
    progress.records_rejected += chunk_problems.iter().filter(|p| p.record.is_some()).count() as u64;
    counts[file].1 += np;
}

fn end_file(
    end: &FileEnd,
    file: &Discovered,
    progress: &mut Progress,
    problems: &mut u64,
    observer: &dyn Observer,
) {
    progress.files_done += 1;
    progress.bytes_read += end.bytes;
    progress.events_excluded += end.excluded;
    if let Some(message) = &end.fatal {
        progress.files_failed += 1;
        *problems += 1;
        observer.problem(&Problem { path: file.path.clone(), record: None, message: message.clone() });
    }
}

/// Runs the rules over every file under `paths` without storing anything (incident response
/// on a folder). Events with an id seen earlier in the run are skipped, as the store would.
pub fn hunt(
    paths: &[PathBuf],
    options: &IngestOptions,
    observer: &dyn Observer,
    detection: &mut Detection,
) -> Result<Summary> {
    let started = Instant::now();
    let (todo, ignored) = discover(paths)?;
    let mut progress = Progress {
        files_ignored: ignored.len() as u64,
        files_total: todo.len() as u64,
        ..Progress::default()
    };
    for (path, why) in &ignored {
        observer.ignored(path, *why);
    }
    let mut problems = 0u64;
    let mut counts = vec![(0u64, 0u64); todo.len()];
    let mut seen: HashSet<u64> = HashSet::new();
    decode_all(&todo, &LocalFiles, options, |chunk| {
        progress.events_read += chunk.events.len() as u64;
        for ne in &chunk.events {
            if !seen.insert(id_hash(&ne.event.id)) {
                progress.duplicates += 1;
                continue;
            }
            progress.events_added += 1;
            detection.observe(&ne.event, None)?;
        }
        for o in detection.take_outcomes() {
            observer.signal(&o);
        }
        account_chunk(&chunk.problems, chunk.file, &mut counts, &mut progress, &mut problems, observer);
        if let Some(end) = &chunk.end {
            end_file(end, &todo[chunk.file], &mut progress, &mut problems, observer);
        }
        progress.elapsed = started.elapsed();
        observer.progress(&progress);
        Ok(())
    })?;
    progress.elapsed = started.elapsed();
    observer.progress(&progress);
    Ok(Summary { progress, problems })
}

fn id_hash(id: &str) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault};
    BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().hash_one(id)
}

/// Reads one file and sends its events in chunks. Returns false when the writer is gone.
fn decode_file(
    i: usize,
    file: &Discovered,
    opener: &dyn Opener,
    options: &IngestOptions,
    tx: &crossbeam_channel::Sender<Chunk>,
) -> bool {
    let ctx = RecordContext {
        account: file.key.as_ref().map(|k| k.account.clone()),
        region: file.key.as_ref().map(|k| k.region.clone()),
        received: file.key.as_ref().and_then(|k| k.delivered).unwrap_or(options.now_ms),
    };
    let problem =
        |record: Option<usize>, message: String| Problem { path: file.path.clone(), record, message };
    let end = |fatal: Option<String>, bytes: u64| {
        Some(FileEnd { fatal, bytes, excluded: 0, event_times: Vec::new() })
    };
    let reader = match opener.open(file) {
        Ok(r) => r,
        Err(e) => {
            let chunk = Chunk { file: i, events: Vec::new(), problems: Vec::new(), end: end(Some(e), 0) };
            return tx.send(chunk).is_ok();
        }
    };
    let mut records = match RecordReader::new(reader, options.limits) {
        Ok(r) => r,
        Err(e) => {
            let chunk =
                Chunk { file: i, events: Vec::new(), problems: Vec::new(), end: end(Some(e.to_string()), 0) };
            return tx.send(chunk).is_ok();
        }
    };
    let mut events = Vec::with_capacity(options.chunk_events.min(1024));
    let mut problems = Vec::new();
    let mut fatal = None;
    let mut excluded = 0u64;
    let mut times = Vec::new();
    for item in records.by_ref() {
        match item {
            Ok(rec) => match normalize(rec.bytes, &ctx) {
                Ok(event) if options.select.as_ref().is_some_and(|f| !(f.0)(&event)) => excluded += 1,
                Ok(event) => {
                    times.push(event.time);
                    events.push(NewEvent { event })
                }
                Err(e) => problems.push(problem(Some(rec.index), format!("record {}: {e}", rec.index))),
            },
            Err(e) if e.is_fatal() => fatal = Some(e.to_string()),
            Err(e) => problems.push(problem(e.record_index(), e.to_string())),
        }
        if events.len() >= options.chunk_events {
            let chunk = Chunk {
                file: i,
                events: std::mem::take(&mut events),
                problems: std::mem::take(&mut problems),
                end: None,
            };
            if tx.send(chunk).is_err() {
                return false;
            }
        }
    }
    let bytes = records.bytes_read();
    let end = Some(FileEnd { fatal, bytes, excluded, event_times: quantiles(times) });
    tx.send(Chunk { file: i, events, problems, end }).is_ok()
}

/// The 0%, 5%, …, 100% quantiles of `times` (fewer when there are fewer times).
fn quantiles(mut times: Vec<i64>) -> Vec<i64> {
    times.sort_unstable();
    if times.len() <= 21 {
        return times;
    }
    let last = times.len() - 1;
    (0..=20).map(|q| times[last * q / 20]).collect()
}
