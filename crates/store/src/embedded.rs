//! The embedded default store: immutable segment files in one directory and a manifest naming
//! the live ones, needing no setup.
//!
//! Writing: `add` drops duplicate ids (a Bloom filter over every stored id, then an exact
//! lookup for "maybe"s) and hands events to builder threads, each filling its own in-memory
//! segment ([`crate::builder`]) and writing it to a file when full. `commit` has every builder
//! write what it holds, then replaces the manifest (written aside, synced, renamed): a segment
//! counts only once the manifest names it, so a crash leaves the last committed state.
//!
//! Reading: each query runs on every segment in parallel ([`crate::exec`]); facets and
//! histograms read dictionary-encoded columns, searches the time column and record blocks.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use crossbeam_channel::{bounded, Receiver, Sender};
use rayon::prelude::*;
use roaring::RoaringBitmap;
use serde::{Deserialize, Serialize};
use trailwatch_cloudtrail::{normalize, Event, Json, RecordContext};
use trailwatch_query::{text, KnownField, Query};

use crate::builder::Builder;
use crate::exec::{eval, Verifier};
use crate::idfilter::IdFilter;
use crate::segment::{Block, Segment};
use crate::terms::is_facetable;
use crate::{
    AddStats, Error, EventStore, FacetRequest, FacetResult, FacetValue, Histogram, HistogramRequest,
    NewEvent, Order, Result, SearchRequest, SearchResult, Series, StoreStats, StoredEvent, TailPage,
    TimeRange,
};

/// Most buckets a histogram may have.
pub const MAX_BUCKETS: usize = 10_000;

/// Segments are merged until they hold this many events.
pub const MAX_MERGED_DOCS: u64 = 2_000_000;
/// How many small segments a merge takes at most (and how many make one worth it).
pub const MERGE_FACTOR: usize = 8;

const MANIFEST: &str = "manifest.json";
const FORMAT: u32 = 1;

/// How the embedded store uses the machine.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Memory for segments being built, split among the builder threads (a builder writes
    /// its segment to a file when its share fills up).
    pub writer_memory_bytes: usize,
    pub writer_threads: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 4);
        StoreOptions { writer_memory_bytes: 160 << 20, writer_threads: threads }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct ManifestSegment {
    name: String,
    docs: u32,
    /// A file of deleted documents (a serialized bitmap), when some are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    deleted: Option<String>,
    /// The commit that stored the segment's documents; for a merge, the latest commit of any of
    /// them. 0 in stores written before commits were numbered.
    #[serde(default, skip_serializing_if = "is_zero")]
    commit: u64,
    /// For a merge of documents stored by several commits: the file saying which commit stored
    /// which documents (see [`write_commit_runs`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    commits: Option<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
struct Manifest {
    format: u32,
    /// The number of the last commit that stored events (0 before the first, and in stores
    /// written before commits were numbered). Only ever grows: the live tail's cursor.
    #[serde(default)]
    commit: u64,
    segments: Vec<ManifestSegment>,
}

/// A segment as the manifest has it: its documents not deleted.
struct Live {
    entry: ManifestSegment,
    seg: Segment,
    live: RoaringBitmap,
    /// Which commit stored which documents, as (first document, commit) runs, when not all by
    /// `entry.commit`.
    runs: Option<Vec<(u32, u64)>>,
}

impl Live {
    /// The commit that stored `doc`.
    fn commit_of(&self, doc: u32) -> u64 {
        match &self.runs {
            None => self.entry.commit,
            Some(runs) => {
                let i = runs.partition_point(|(first, _)| *first <= doc);
                runs[i.max(1) - 1].1
            }
        }
    }

    /// The live documents stored by a commit after `after`.
    fn committed_after(&self, after: u64) -> RoaringBitmap {
        if self.entry.commit <= after {
            return RoaringBitmap::new();
        }
        let Some(runs) = &self.runs else { return self.live.clone() };
        let mut docs = RoaringBitmap::new();
        for (k, (first, commit)) in runs.iter().enumerate() {
            if *commit > after {
                let end = runs.get(k + 1).map_or(self.seg.docs, |r| r.0);
                docs.insert_range(*first..end);
            }
        }
        docs & &self.live
    }
}

/// The (first document, commit) runs of a merge of `inputs`, in their order.
fn merged_runs(inputs: &[Arc<Live>]) -> Vec<(u32, u64)> {
    let mut runs: Vec<(u32, u64)> = Vec::new();
    let mut n = 0u32;
    let mut push = |at: u32, commit: u64| {
        if runs.last().is_none_or(|r| r.1 != commit) {
            runs.push((at, commit));
        }
    };
    for l in inputs {
        if l.runs.is_none() {
            if !l.live.is_empty() {
                push(n, l.entry.commit);
            }
            n += l.live.len() as u32;
            continue;
        }
        for d in &l.live {
            push(n, l.commit_of(d));
            n += 1;
        }
    }
    runs
}

/// Writes commit runs to `path`: per run, its first document (u32) and its commit (u64),
/// little-endian.
fn write_commit_runs(path: &Path, runs: &[(u32, u64)]) -> Result<()> {
    let io = |e: std::io::Error| Error::Directory(format!("cannot write {}: {e}", path.display()));
    let mut bytes = Vec::with_capacity(runs.len() * 12);
    for (first, commit) in runs {
        bytes.extend_from_slice(&first.to_le_bytes());
        bytes.extend_from_slice(&commit.to_le_bytes());
    }
    let mut f = File::create(path).map_err(io)?;
    std::io::Write::write_all(&mut f, &bytes).map_err(io)?;
    f.sync_all().map_err(io)
}

fn read_commit_runs(path: &Path, docs: u32) -> Result<Vec<(u32, u64)>> {
    let bytes =
        std::fs::read(path).map_err(|e| Error::Directory(format!("cannot read {}: {e}", path.display())))?;
    let damaged = || Error::Directory(format!("{} is damaged", path.display()));
    if bytes.is_empty() || !bytes.len().is_multiple_of(12) {
        return Err(damaged());
    }
    let runs: Vec<(u32, u64)> = bytes
        .chunks_exact(12)
        .map(|c| {
            let first = u32::from_le_bytes(c[..4].try_into().expect("4 bytes"));
            (first, u64::from_le_bytes(c[4..].try_into().expect("8 bytes")))
        })
        .collect();
    let ordered = runs.windows(2).all(|w| w[0].0 < w[1].0);
    if runs[0].0 != 0 || !ordered || runs.last().is_some_and(|r| r.0 >= docs.max(1)) {
        return Err(damaged());
    }
    Ok(runs)
}

pub struct EmbeddedStore {
    dir: PathBuf,
    options: StoreOptions,
    shared: Arc<Shared>,
    /// Taken on the first write, so that searching processes never hold the index lock.
    writer: Mutex<Option<Writer>>,
}

struct Writer {
    _lock: File,
    names: Arc<Names>,
    merging: Option<Merging>,
    builders: Vec<BuilderThread>,
    next: usize,
    filter: IdFilter,
    /// Id hashes added since the last commit (not yet visible to readers).
    pending: HashSet<u64>,
}

/// Merges running in the background.
struct Merging {
    handle: std::thread::JoinHandle<Result<()>>,
}

enum Msg {
    Add(Vec<(NewEvent, u64)>),
    /// Write what is held; answer with every segment written since the last flush.
    Flush(Sender<Result<Vec<(String, u32)>>>),
}

struct BuilderThread {
    tx: Option<Sender<Msg>>,
    handle: Option<std::thread::JoinHandle<()>>,
}

/// Merges segments, one merge after another, until the policy asks for no more.
fn merge_while_due(shared: &Shared, names: &Names) -> Result<()> {
    while let Some(inputs) = pick_merge(&shared.segments()) {
        let name = names.take();
        let path = names.dir.join(format!("{name}.seg"));
        let parts: Vec<crate::merge::Input<'_>> =
            inputs.iter().map(|l| crate::merge::Input { seg: &l.seg, live: &l.live }).collect();
        let docs = crate::merge::merge(&parts, &path)?;
        let entries: Vec<ManifestSegment> = inputs.iter().map(|l| l.entry.clone()).collect();
        // The merged documents keep the commits that stored them (the live tail reads them).
        let runs = merged_runs(&inputs);
        let commit = runs.iter().map(|r| r.1).max().unwrap_or(0);
        let commits = if runs.len() > 1 {
            let file = format!("{name}.commits");
            write_commit_runs(&names.dir.join(&file), &runs)?;
            Some(file)
        } else {
            None
        };
        drop(parts);
        drop(inputs);
        shared.apply_merge(&entries, ManifestSegment { name, docs, deleted: None, commit, commits })?;
    }
    Ok(())
}

/// The smallest segments, when enough of them are small: up to [`MERGE_FACTOR`] of them, as
/// many as fit in [`MAX_MERGED_DOCS`].
fn pick_merge(segs: &[Arc<Live>]) -> Option<Vec<Arc<Live>>> {
    let mut small: Vec<&Arc<Live>> = segs.iter().filter(|l| l.live.len() < MAX_MERGED_DOCS / 2).collect();
    if small.len() < MERGE_FACTOR {
        return None;
    }
    small.sort_by_key(|l| l.live.len());
    let mut picked = Vec::new();
    let mut total = 0;
    for l in small.into_iter().take(MERGE_FACTOR) {
        if total + l.live.len() > MAX_MERGED_DOCS {
            break;
        }
        total += l.live.len();
        picked.push(l.clone());
    }
    // In the manifest's order, so merged documents keep their order.
    picked.sort_by_key(|l| segs.iter().position(|s| Arc::ptr_eq(s, l)));
    (picked.len() >= 2).then_some(picked)
}

impl Writer {
    /// Hands a batch to the next builder with room, or waits for the first one to have room:
    /// a builder busy writing its segment does not hold the others up.
    fn dispatch(&mut self, mut msg: Msg) -> Result<()> {
        let stopped = || Error::Directory("a builder thread stopped".into());
        let txs: Vec<&Sender<Msg>> = self.builders.iter().filter_map(|b| b.tx.as_ref()).collect();
        if txs.len() != self.builders.len() || txs.is_empty() {
            return Err(stopped());
        }
        let n = txs.len();
        for k in 0..n {
            let i = (self.next + k) % n;
            match txs[i].try_send(msg) {
                Ok(()) => {
                    self.next = i + 1;
                    return Ok(());
                }
                Err(crossbeam_channel::TrySendError::Full(m)) => msg = m,
                Err(crossbeam_channel::TrySendError::Disconnected(_)) => return Err(stopped()),
            }
        }
        let mut select = crossbeam_channel::Select::new();
        for tx in &txs {
            select.send(tx);
        }
        let op = select.select();
        let i = op.index();
        op.send(txs[i], msg).map_err(|_| stopped())?;
        self.next = i + 1;
        Ok(())
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // An unfinished merge's file is named by no manifest: the next writer deletes it.
        if let Some(m) = self.merging.take() {
            let _ = m.handle.join();
        }
        for b in &mut self.builders {
            b.tx.take();
            if let Some(h) = b.handle.take() {
                let _ = h.join();
            }
        }
    }
}

/// Names segment files: a counter shared by the builder threads, above every file present.
struct Names {
    dir: PathBuf,
    next: std::sync::atomic::AtomicU64,
}

impl Names {
    fn take(&self) -> String {
        format!("{:016x}", self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
    }
}

fn builder_loop(rx: Receiver<Msg>, names: Arc<Names>, budget: usize) {
    let mut builder: Option<Builder> = None;
    let mut written: Vec<(String, u32)> = Vec::new();
    let mut failed: Option<Error> = None;
    let write = |b: Builder, written: &mut Vec<(String, u32)>| -> Result<()> {
        let name = names.take();
        let docs = b.write(&names.dir.join(format!("{name}.seg")))?;
        written.push((name, docs));
        Ok(())
    };
    for msg in rx {
        match msg {
            Msg::Add(events) => {
                if failed.is_some() {
                    continue;
                }
                let result = (|| -> Result<()> {
                    if builder.is_none() {
                        builder = Some(Builder::new()?);
                    }
                    let b = builder.as_mut().expect("just made");
                    for (NewEvent { event }, hash) in &events {
                        b.add(event, event.raw.bytes(), *hash)?;
                    }
                    if b.memory() >= budget || b.docs() >= u32::MAX / 2 {
                        write(builder.take().expect("present"), &mut written)?;
                    }
                    Ok(())
                })();
                if let Err(e) = result {
                    failed = Some(e);
                }
            }
            Msg::Flush(reply) => {
                let result = match failed.take() {
                    Some(e) => {
                        builder = None;
                        written.clear();
                        Err(e)
                    }
                    None => match builder.take() {
                        Some(b) if b.docs() > 0 => {
                            write(b, &mut written).map(|_| std::mem::take(&mut written))
                        }
                        _ => Ok(std::mem::take(&mut written)),
                    },
                };
                let _ = reply.send(result);
            }
        }
    }
}

/// What the store and its background merges share.
struct Shared {
    index_dir: PathBuf,
    /// The live segments and the manifest's commit number, read together.
    segments: RwLock<(Arc<Vec<Arc<Live>>>, u64)>,
    /// Held across every read-modify-write of the manifest (commits, merges, retention).
    manifest: Mutex<()>,
}

impl Shared {
    fn read_manifest(&self) -> Result<Manifest> {
        let path = self.index_dir.join(MANIFEST);
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Manifest { format: FORMAT, commit: 0, segments: Vec::new() })
            }
            Err(e) => return Err(Error::Directory(format!("cannot read {}: {e}", path.display()))),
        };
        let m: Manifest = serde_json::from_slice(&text)
            .map_err(|e| Error::Directory(format!("{} is damaged: {e}", path.display())))?;
        if m.format != FORMAT {
            return Err(Error::Directory(format!(
                "{} has format {} but this trailwatch reads format {FORMAT}",
                path.display(),
                m.format
            )));
        }
        Ok(m)
    }

    fn write_manifest(&self, m: &Manifest) -> Result<()> {
        let io = |e: std::io::Error| Error::Directory(format!("cannot write the manifest: {e}"));
        let tmp = self.index_dir.join("manifest.json.tmp");
        let bytes = serde_json::to_vec_pretty(m).map_err(|e| Error::Directory(e.to_string()))?;
        let mut f = File::create(&tmp).map_err(io)?;
        std::io::Write::write_all(&mut f, &bytes).map_err(io)?;
        f.sync_all().map_err(io)?;
        std::fs::rename(&tmp, self.index_dir.join(MANIFEST)).map_err(io)?;
        File::open(&self.index_dir).and_then(|d| d.sync_all()).map_err(io)?;
        Ok(())
    }

    /// Sees commits made by another process since this store was opened or last refreshed.
    fn refresh(&self) -> Result<()> {
        // A writer may merge segments away between our reading the manifest and opening them:
        // read it again then.
        let mut tries = 0;
        loop {
            match self.load() {
                Err(Error::Directory(_)) if tries < 3 => tries += 1,
                other => return other,
            }
        }
    }

    fn load(&self) -> Result<()> {
        let m = self.read_manifest()?;
        let old = self.segments();
        let mut out = Vec::with_capacity(m.segments.len());
        for entry in m.segments {
            if let Some(l) = old.iter().find(|l| l.entry == entry) {
                out.push(l.clone());
                continue;
            }
            let seg = Segment::open(&self.index_dir.join(format!("{}.seg", entry.name)), &entry.name)?;
            let runs = match &entry.commits {
                Some(f) => Some(read_commit_runs(&self.index_dir.join(f), seg.docs)?),
                None => None,
            };
            let mut live = RoaringBitmap::new();
            live.insert_range(0..seg.docs);
            if let Some(d) = &entry.deleted {
                let path = self.index_dir.join(d);
                let bytes = std::fs::read(&path)
                    .map_err(|e| Error::Directory(format!("cannot read {}: {e}", path.display())))?;
                let deleted = RoaringBitmap::deserialize_from(&bytes[..])
                    .map_err(|e| Error::Directory(format!("{} is damaged: {e}", path.display())))?;
                live -= deleted;
            }
            out.push(Arc::new(Live { entry, seg, live, runs }));
        }
        *self.segments.write().unwrap_or_else(|p| p.into_inner()) = (Arc::new(out), m.commit);
        Ok(())
    }

    fn segments(&self) -> Arc<Vec<Arc<Live>>> {
        self.snapshot().0
    }

    /// The live segments and the commit number of the manifest naming them.
    fn snapshot(&self) -> (Arc<Vec<Arc<Live>>>, u64) {
        self.segments.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Replaces the merged segments by their merge in the manifest, unless they changed since
    /// (a retention run deleted from them): then the merge is dropped.
    fn apply_merge(&self, inputs: &[ManifestSegment], merged: ManifestSegment) -> Result<()> {
        let _manifest = self.manifest.lock().unwrap_or_else(|p| p.into_inner());
        let (segs, commit) = self.snapshot();
        let current: Vec<ManifestSegment> = segs.iter().map(|l| l.entry.clone()).collect();
        if !inputs.iter().all(|i| current.contains(i)) {
            let _ = std::fs::remove_file(self.index_dir.join(format!("{}.seg", merged.name)));
            if let Some(f) = &merged.commits {
                let _ = std::fs::remove_file(self.index_dir.join(f));
            }
            return Ok(());
        }
        let mut m = Manifest { format: FORMAT, commit, segments: Vec::with_capacity(current.len()) };
        let mut placed = false;
        for e in current {
            if inputs.contains(&e) {
                if !placed {
                    m.segments.push(merged.clone());
                    placed = true;
                }
            } else {
                m.segments.push(e);
            }
        }
        self.write_manifest(&m)?;
        self.refresh()?;
        for i in inputs {
            let _ = std::fs::remove_file(self.index_dir.join(format!("{}.seg", i.name)));
            for f in i.deleted.iter().chain(&i.commits) {
                let _ = std::fs::remove_file(self.index_dir.join(f));
            }
        }
        Ok(())
    }
}

impl EmbeddedStore {
    /// Opens the store in `dir`, creating it when empty.
    pub fn open(dir: &Path, options: StoreOptions) -> Result<EmbeddedStore> {
        let index_dir = dir.join("index");
        std::fs::create_dir_all(&index_dir)
            .map_err(|e| Error::Directory(format!("cannot create {}: {e}", index_dir.display())))?;
        if index_dir.join("meta.json").exists() {
            return Err(Error::Directory(format!(
                "the index in {} was written by an older version of trailwatch; ingest again into a new data directory",
                index_dir.display()
            )));
        }
        let store = EmbeddedStore {
            dir: dir.to_owned(),
            options,
            shared: Arc::new(Shared {
                index_dir,
                segments: RwLock::new((Arc::new(Vec::new()), 0)),
                manifest: Mutex::new(()),
            }),
            writer: Mutex::new(None),
        };
        store.refresh()?;
        Ok(store)
    }

    /// Whether `dir` holds a store with at least one commit.
    pub fn exists(dir: &Path) -> bool {
        dir.join("index").join(MANIFEST).exists()
    }

    /// Sees commits made by another process since this store was opened or last refreshed.
    pub fn refresh(&self) -> Result<()> {
        self.shared.refresh()
    }

    fn segments(&self) -> Arc<Vec<Arc<Live>>> {
        self.shared.segments()
    }

    fn write_manifest(&self, m: &Manifest) -> Result<()> {
        self.shared.write_manifest(m)
    }

    fn writer(&self) -> Result<MutexGuard<'_, Option<Writer>>> {
        let mut guard = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            let path = self.shared.index_dir.join("writer.lock");
            let lock = File::options()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .map_err(|e| Error::Directory(format!("cannot open {}: {e}", path.display())))?;
            if lock.try_lock().is_err() {
                return Err(Error::Directory(format!(
                    "another trailwatch process is writing to {}",
                    self.dir.display()
                )));
            }
            // The writer may see commits this reader has not loaded yet.
            self.refresh()?;
            let names =
                Arc::new(Names { dir: self.shared.index_dir.clone(), next: self.clean_and_number()?.into() });
            let threads = self.options.writer_threads.max(1);
            let budget = (self.options.writer_memory_bytes / threads).max(8 << 20);
            let mut builders = Vec::new();
            for i in 0..threads {
                let (tx, rx) = bounded::<Msg>(2);
                let names = names.clone();
                let handle = std::thread::Builder::new()
                    .name(format!("segment-builder-{i}"))
                    .spawn(move || builder_loop(rx, names, budget))
                    .map_err(|e| Error::Directory(format!("cannot start a builder thread: {e}")))?;
                builders.push(BuilderThread { tx: Some(tx), handle: Some(handle) });
            }
            let filter = self.build_filter(0);
            *guard = Some(Writer {
                _lock: lock,
                names,
                merging: None,
                builders,
                next: 0,
                filter,
                pending: HashSet::new(),
            });
        }
        Ok(guard)
    }

    /// Deletes files no manifest names (segments of a run that crashed before its commit) and
    /// returns the number after every segment name present.
    fn clean_and_number(&self) -> Result<u64> {
        let live: HashSet<String> = self
            .segments()
            .iter()
            .flat_map(|l| {
                let mut v = vec![format!("{}.seg", l.entry.name)];
                v.extend(l.entry.deleted.clone());
                v.extend(l.entry.commits.clone());
                v
            })
            .collect();
        let mut max = 0u64;
        let rd = std::fs::read_dir(&self.shared.index_dir)
            .map_err(|e| Error::Directory(format!("cannot list {}: {e}", self.shared.index_dir.display())))?;
        for entry in rd.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let stem = name.split(['.', '-']).next().unwrap_or("");
            if let Ok(n) = u64::from_str_radix(stem, 16) {
                max = max.max(n + 1);
            }
            let ours = name.ends_with(".seg") || name.ends_with(".commits") || name.contains(".del");
            if ours && !live.contains(&name) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        Ok(max)
    }

    /// A Bloom filter of every stored id (and `extra` room to grow).
    fn build_filter(&self, extra: u64) -> IdFilter {
        let segs = self.segments();
        let docs: u64 = segs.iter().map(|l| l.live.len()).sum();
        let mut filter = IdFilter::with_capacity((docs + extra).max(1 << 20) * 2);
        for l in segs.iter() {
            for doc in &l.live {
                filter.insert(l.seg.id_hash(doc));
            }
            // Read once here; no reason to keep those pages mapped.
            l.seg.release_pages();
        }
        filter
    }

    /// Whether an event with this id is committed.
    fn is_stored(&self, segs: &[Arc<Live>], id: &str) -> Result<bool> {
        Ok(self.find(segs, id)?.is_some())
    }

    fn find(&self, segs: &[Arc<Live>], id: &str) -> Result<Option<(usize, u32)>> {
        let Some(k) = text::keyword(id) else { return Ok(None) };
        let hash = crate::id_hash(id);
        for (i, l) in segs.iter().enumerate() {
            if !l.seg.may_hold(hash) {
                continue;
            }
            let docs = self.id_docs(l, &k)?;
            if let Some(d) = docs.iter().find(|d| l.live.contains(*d)) {
                return Ok(Some((i, d)));
            }
        }
        Ok(None)
    }

    /// The documents of `l` whose id is the keyword `k` (the id term, or the raw eventID's).
    fn id_docs(&self, l: &Live, k: &str) -> Result<RoaringBitmap> {
        let q = Query::Field(
            trailwatch_query::FieldRef::Known(KnownField::Id),
            trailwatch_query::Predicate::Equals(k.to_owned()),
        );
        eval(&q, &l.seg, &l.live, &mut RecordVerifier::default())
    }

    /// Keeps segments merged: a background thread merges and applies merges as long as the
    /// policy asks for them; this checks on it (surfacing its error) and starts it again when
    /// it has stopped. With `wait`, merges until none is due.
    fn maintain(&self, w: &mut Writer, wait: bool) -> Result<()> {
        if let Some(m) = w.merging.take() {
            if !wait && !m.handle.is_finished() {
                w.merging = Some(m);
                return Ok(());
            }
            m.handle.join().map_err(|_| Error::Directory("a merge thread panicked".into()))??;
        }
        if wait {
            return merge_while_due(&self.shared, &w.names);
        }
        if pick_merge(&self.segments()).is_some() {
            let (shared, names) = (self.shared.clone(), w.names.clone());
            let handle = std::thread::Builder::new()
                .name("segment-merge".into())
                .spawn(move || merge_while_due(&shared, &names))
                .map_err(|e| Error::Directory(format!("cannot start a merge thread: {e}")))?;
            w.merging = Some(Merging { handle });
        }
        Ok(())
    }

    /// The documents of `l` in the time range.
    fn scope(l: &Live, range: TimeRange) -> RoaringBitmap {
        let (from, to) = (range.from.unwrap_or(i64::MIN), range.to.unwrap_or(i64::MAX));
        if l.seg.min_time >= from && l.seg.max_time < to {
            return l.live.clone();
        }
        if l.seg.max_time < from || l.seg.min_time >= to {
            return RoaringBitmap::new();
        }
        let docs = l.live.iter().filter(|d| (from..to).contains(&l.seg.time(*d)));
        RoaringBitmap::from_sorted_iter(docs).expect("sorted")
    }

    /// The matching documents of every segment.
    fn matching(&self, query: &Query, range: TimeRange) -> Result<Vec<(Arc<Live>, RoaringBitmap)>> {
        Self::matching_in(&self.segments(), query, range)
    }

    fn matching_in(
        segs: &[Arc<Live>],
        query: &Query,
        range: TimeRange,
    ) -> Result<Vec<(Arc<Live>, RoaringBitmap)>> {
        segs.par_iter()
            .map(|l| {
                let scope = Self::scope(l, range);
                let mut v = RecordVerifier::default();
                let docs = eval(query, &l.seg, &scope, &mut v)?;
                Ok((l.clone(), docs))
            })
            .collect()
    }

    /// Bytes used by the index files.
    pub fn index_bytes(&self) -> u64 {
        std::fs::read_dir(&self.shared.index_dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok()?.metadata().ok()).filter(|m| m.is_file()).map(|m| m.len()).sum()
            })
            .unwrap_or(0)
    }

    /// Runs the merges that are due to the end (a writer's work only: without one, nothing).
    pub fn wait_merges(&self) -> Result<()> {
        let mut guard = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        match guard.as_mut() {
            Some(w) => self.maintain(w, true),
            None => Ok(()),
        }
    }

    fn commit_locked(&self, w: &mut Writer) -> Result<()> {
        let mut written = Vec::new();
        let mut first_error = None;
        for b in &w.builders {
            let (tx, rx) = bounded(1);
            let sent = b.tx.as_ref().is_some_and(|t| t.send(Msg::Flush(tx)).is_ok());
            let answer = if sent { rx.recv().ok() } else { None };
            match answer {
                Some(Ok(mut segs)) => written.append(&mut segs),
                Some(Err(e)) => first_error = first_error.or(Some(e)),
                None => {
                    first_error = first_error.or(Some(Error::Directory("a builder thread stopped".into())))
                }
            }
        }
        if let Some(e) = first_error {
            // What this commit would have covered is lost: forget its ids so they can come again.
            w.pending.clear();
            w.filter = self.build_filter(0);
            return Err(e);
        }
        if !written.is_empty() {
            let _manifest = self.shared.manifest.lock().unwrap_or_else(|p| p.into_inner());
            let (segs, last) = self.shared.snapshot();
            let commit = last + 1;
            let mut m =
                Manifest { format: FORMAT, commit, segments: segs.iter().map(|l| l.entry.clone()).collect() };
            m.segments.extend(written.into_iter().map(|(name, docs)| ManifestSegment {
                name,
                docs,
                deleted: None,
                commit,
                commits: None,
            }));
            self.write_manifest(&m)?;
            self.refresh()?;
        }
        w.pending.clear();
        self.maintain(w, false)
    }

    fn read_event(l: &Live, doc: u32, cache: &mut BlockCache) -> Result<StoredEvent> {
        let (record, _title) = record_of(&l.seg, doc, cache)?;
        let text_of = |f: KnownField| {
            let col = l.seg.column(f)?;
            let mut v = None;
            l.seg.ords(col, doc, &mut |o| v = Some(l.seg.value(col, o).to_owned()));
            v
        };
        let ctx = RecordContext {
            account: text_of(KnownField::Account),
            region: text_of(KnownField::Region),
            received: l.seg.received(doc),
        };
        let corrupt = |reason: String| Error::Corrupt {
            id: String::from_utf8_lossy(&record[..record.len().min(80)]).into_owned(),
            reason,
        };
        let event: Event = normalize(record.to_vec(), &ctx).map_err(|e| corrupt(e.to_string()))?;
        Ok(StoredEvent { record: event.raw.to_serde(), event })
    }
}

/// The last block read, by number.
type BlockCache = Option<(usize, Block)>;

/// The record bytes and title of a document, through a one-block cache.
fn record_of<'c>(seg: &Segment, doc: u32, cache: &'c mut BlockCache) -> Result<(&'c [u8], &'c str)> {
    let b = seg.block_of(doc)?;
    if cache.as_ref().is_none_or(|c| c.0 != b) {
        *cache = Some((b, seg.block(b)?));
    }
    cache.as_ref().expect("just filled").1.doc(doc)
}

#[derive(Default)]
struct RecordVerifier {
    cache: BlockCache,
    seg: String,
}

impl Verifier for RecordVerifier {
    fn phrase(&mut self, seg: &Segment, doc: u32, words: &[(u32, String)]) -> Result<bool> {
        if self.seg != seg.name {
            self.cache = None;
            self.seg = seg.name.clone();
        }
        let (record, title) = record_of(seg, doc, &mut self.cache)?;
        let raw = Json::parse(record.to_vec())
            .map_err(|e| Error::Corrupt { id: format!("{}:{doc}", seg.name), reason: e.to_string() })?;
        Ok(trailwatch_query::eval::phrase_in(words, title, raw.root()))
    }
}

impl EventStore for EmbeddedStore {
    fn add_inspect(&self, events: Vec<NewEvent>, inspect: &mut dyn FnMut(&Event)) -> Result<AddStats> {
        let mut guard = self.writer()?;
        let w = guard.as_mut().expect("writer is open");
        let segs = self.segments();
        let mut stats = AddStats::default();
        let mut batch = Vec::with_capacity(events.len());
        let mut looked_up = false;
        for ne in events {
            let h = crate::id_hash(&ne.event.id);
            if w.pending.contains(&h)
                || (w.filter.maybe_contains(h) && {
                    looked_up = true;
                    self.is_stored(&segs, &ne.event.id)?
                })
            {
                stats.duplicates += 1;
                continue;
            }
            w.pending.insert(h);
            w.filter.insert(h);
            inspect(&ne.event);
            batch.push((ne, h));
            stats.added += 1;
        }
        if looked_up {
            // The lookups read dictionary pages of every segment that may hold the ids; left
            // mapped, re-ingesting stored events would grow the resident size with the store.
            segs.iter().for_each(|l| l.seg.release_pages());
        }
        if w.filter.is_full() {
            // Rebuild larger from what is committed, plus what is pending.
            let mut filter = self.build_filter(w.filter.capacity() * 2);
            w.pending.iter().for_each(|h| filter.insert(*h));
            w.filter = filter;
        }
        if !batch.is_empty() {
            w.dispatch(Msg::Add(batch))?;
        }
        Ok(stats)
    }

    fn commit(&self) -> Result<()> {
        let mut guard = self.writer()?;
        let w = guard.as_mut().expect("writer is open");
        self.commit_locked(w)
    }

    fn finish(&self) -> Result<()> {
        self.wait_merges()
    }

    fn search(&self, req: &SearchRequest) -> Result<SearchResult> {
        let (segs, cursor) = self.shared.snapshot();
        let matched = Self::matching_in(&segs, &req.query, req.range)?;
        let total: u64 = matched.iter().map(|(_, d)| d.len()).sum();
        if req.limit == 0 {
            // A count: no pass over the matches' times, no record decoded.
            return Ok(SearchResult { total, events: Vec::new(), cursor });
        }
        let want = req.offset.saturating_add(req.limit);
        // The first `want` documents by time (ties: segment order, then document order), per
        // segment and then overall.
        let newest = req.order == Order::NewestFirst;
        let mut best: Vec<(i64, usize, u32)> = matched
            .par_iter()
            .enumerate()
            .map(|(si, (l, docs))| {
                let mut heap = std::collections::BinaryHeap::with_capacity(want + 1);
                for d in docs {
                    let t = l.seg.time(d);
                    // Ordered so that the heap's top is the entry to drop first.
                    let key = if newest { (-t, si, d) } else { (t, si, d) };
                    if heap.len() < want {
                        heap.push(key);
                    } else if let Some(top) = heap.peek() {
                        if key < *top {
                            heap.pop();
                            heap.push(key);
                        }
                    }
                }
                heap.into_vec()
            })
            .flatten()
            .collect();
        best.sort_unstable();
        let mut events = Vec::with_capacity(req.limit);
        let mut cache: BlockCache = None;
        let mut cached_seg = usize::MAX;
        for &(_, si, d) in best.iter().skip(req.offset).take(req.limit) {
            if si != cached_seg {
                cache = None;
                cached_seg = si;
            }
            events.push(Self::read_event(&matched[si].0, d, &mut cache)?);
        }
        Ok(SearchResult { total, events, cursor })
    }

    fn count(&self, query: &Query, range: TimeRange) -> Result<u64> {
        Ok(self.matching(query, range)?.iter().map(|(_, d)| d.len()).sum())
    }

    fn facets(&self, req: &FacetRequest) -> Result<FacetResult> {
        if !is_facetable(req.field) {
            return Err(Error::Invalid(format!(
                "{} cannot be faceted; facetable fields: {}",
                req.field.name(),
                crate::facetable_fields().map(|f| f.name()).collect::<Vec<_>>().join(", ")
            )));
        }
        let matched = self.matching(&req.query, req.range)?;
        // Values stay borrowed from the segments until the top ones are chosen.
        let parts: Vec<(Vec<(&str, u64)>, u64)> = matched
            .par_iter()
            .map(|(l, docs)| {
                let Some(col) = l.seg.column(req.field) else { return (Vec::new(), docs.len()) };
                let mut counts = vec![0u64; l.seg.nvalues(col) as usize + 1];
                let mut missing = 0u64;
                if let Some(ord) = l.seg.single_ord(col) {
                    for d in docs {
                        counts[ord(d) as usize] += 1;
                    }
                    missing = counts[0];
                } else {
                    for d in docs {
                        let mut any = false;
                        l.seg.ords(col, d, &mut |o| {
                            counts[o as usize + 1] += 1;
                            any = true;
                        });
                        missing += u64::from(!any);
                    }
                }
                let values = counts
                    .iter()
                    .enumerate()
                    .skip(1)
                    .filter(|(_, n)| **n > 0)
                    .map(|(o, n)| (l.seg.value(col, o as u32 - 1), *n))
                    .collect();
                (values, missing)
            })
            .collect();
        let missing = parts.iter().map(|(_, m)| m).sum();
        let mut merged: HashMap<&str, u64, rustc_hash::FxBuildHasher> = HashMap::default();
        for (vals, _) in &parts {
            merged.reserve(vals.len() / 2);
            for (v, n) in vals {
                *merged.entry(v).or_default() += n;
            }
        }
        let mut top: Vec<(&str, u64)> = merged.into_iter().collect();
        top.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        let other = top.iter().skip(req.size).map(|v| v.1).sum();
        top.truncate(req.size);
        let values: Vec<FacetValue> =
            top.into_iter().map(|(v, count)| FacetValue { value: v.to_owned(), count }).collect();
        Ok(FacetResult { field: req.field.name(), values, other, missing })
    }

    fn histogram(&self, req: &HistogramRequest) -> Result<Histogram> {
        let (Some(from), Some(to)) = (req.range.from, req.range.to) else {
            return Err(Error::Invalid("a histogram needs a time range closed on both ends".into()));
        };
        if req.interval_ms <= 0 {
            return Err(Error::Invalid("the histogram interval must be positive".into()));
        }
        let start = from.div_euclid(req.interval_ms) * req.interval_ms;
        let buckets = ((to - start).max(0) as u64).div_ceil(req.interval_ms as u64) as usize;
        if buckets > MAX_BUCKETS {
            return Err(Error::Invalid(format!(
                "{buckets} buckets is too many (at most {MAX_BUCKETS}): choose a larger interval or a shorter range"
            )));
        }
        let split = match req.by {
            None => None,
            Some((field, top)) => {
                let facets = self.facets(&FacetRequest {
                    query: req.query.clone(),
                    range: req.range,
                    field,
                    size: top,
                })?;
                Some((field, facets.values.into_iter().map(|v| v.value).collect::<Vec<_>>()))
            }
        };
        let rows = split.as_ref().map_or(1, |(_, names)| names.len() + 1);
        let matched = self.matching(&req.query, req.range)?;
        let interval = req.interval_ms;
        let counts: Vec<Vec<u64>> = matched
            .par_iter()
            .map(|(l, docs)| {
                let mut counts = vec![vec![0u64; buckets]; rows];
                let bucket = |d: u32| {
                    let t = l.seg.time(d);
                    let b = (t - start).div_euclid(interval);
                    (0..buckets as i64).contains(&b).then_some(b as usize)
                };
                match &split {
                    None => {
                        for d in docs {
                            if let Some(b) = bucket(d) {
                                counts[0][b] += 1;
                            }
                        }
                    }
                    Some((field, names)) => {
                        let other = names.len();
                        let Some(col) = l.seg.column(*field) else { return counts };
                        // Row of each ordinal (+1; 0 is "no value"): its name's, or "other".
                        let mut row_of = vec![other; l.seg.nvalues(col) as usize + 1];
                        for (row, name) in names.iter().enumerate() {
                            if let Some(o) = l.seg.ord_of(col, name) {
                                row_of[o as usize + 1] = row;
                            }
                        }
                        for d in docs {
                            let Some(b) = bucket(d) else { continue };
                            let mut any = false;
                            l.seg.ords(col, d, &mut |o| {
                                any = true;
                                counts[row_of[o as usize + 1]][b] += 1;
                            });
                            if !any {
                                counts[other][b] += 1;
                            }
                        }
                    }
                }
                counts
            })
            .reduce(
                || vec![vec![0u64; buckets]; rows],
                |mut a, b| {
                    for (ra, rb) in a.iter_mut().zip(b) {
                        for (x, y) in ra.iter_mut().zip(rb) {
                            *x += y;
                        }
                    }
                    a
                },
            );
        let mut series = Vec::new();
        let mut rows = counts.into_iter();
        match split {
            None => series.push(Series { value: None, counts: rows.next().unwrap_or_default() }),
            Some((_, names)) => {
                for name in names {
                    series.push(Series { value: Some(name), counts: rows.next().unwrap_or_default() });
                }
                if let Some(other) = rows.next().filter(|r| r.iter().any(|n| *n > 0)) {
                    series.push(Series { value: None, counts: other });
                }
            }
        }
        Ok(Histogram { start, interval_ms: req.interval_ms, series })
    }

    fn tail(&self, query: &Query, after: Option<u64>, limit: usize) -> Result<TailPage> {
        let (segs, cursor) = self.shared.snapshot();
        let Some(after) = after else { return Ok(TailPage { events: Vec::new(), cursor, total: 0 }) };
        // Only segments holding a later commit are looked at: usually the few newest ones.
        let fresh: Vec<(usize, &Arc<Live>)> =
            segs.iter().enumerate().filter(|(_, l)| l.entry.commit > after).collect();
        // Per segment, the count and the last `limit` documents by (commit, time, id hash):
        // a cursor far back (or 0) costs a count, not a list of every match.
        type Key = (u64, i64, u64, usize, u32);
        let found: Vec<(u64, Vec<Key>)> = fresh
            .par_iter()
            .map(|&(si, l)| {
                let scope = l.committed_after(after);
                let docs = eval(query, &l.seg, &scope, &mut RecordVerifier::default())?;
                let mut last =
                    std::collections::BinaryHeap::with_capacity(limit.min(docs.len() as usize) + 1);
                for d in &docs {
                    let key = std::cmp::Reverse((l.commit_of(d), l.seg.time(d), l.seg.id_hash(d), si, d));
                    if last.len() < limit {
                        last.push(key);
                    } else if last.peek().is_some_and(|top| key < *top) {
                        last.pop();
                        last.push(key);
                    }
                }
                Ok((docs.len(), last.into_iter().map(|k| k.0).collect()))
            })
            .collect::<Result<_>>()?;
        let total = found.iter().map(|(n, _)| n).sum();
        let mut found: Vec<Key> = found.into_iter().flat_map(|(_, keys)| keys).collect();
        found.sort_unstable();
        found.drain(..found.len().saturating_sub(limit));
        let mut events = Vec::with_capacity(found.len());
        let mut cache: BlockCache = None;
        let mut cached_seg = usize::MAX;
        for &(_, _, _, si, d) in &found {
            if si != cached_seg {
                cache = None;
                cached_seg = si;
            }
            events.push(Self::read_event(&segs[si], d, &mut cache)?);
        }
        Ok(TailPage { events, cursor, total })
    }

    fn get(&self, id: &str) -> Result<Option<StoredEvent>> {
        let segs = self.segments();
        match self.find(&segs, id)? {
            Some((i, doc)) => Ok(Some(Self::read_event(&segs[i], doc, &mut None)?)),
            None => Ok(None),
        }
    }

    fn delete_before(&self, cutoff: i64) -> Result<u64> {
        let n = self.count(&Query::All, TimeRange { from: None, to: Some(cutoff) })?;
        if n == 0 {
            return Ok(0);
        }
        let mut guard = self.writer()?;
        let w = guard.as_mut().expect("writer is open");
        // Events added but not committed yet are covered too.
        self.commit_locked(w)?;
        let _manifest = self.shared.manifest.lock().unwrap_or_else(|p| p.into_inner());
        let (segs, commit) = self.shared.snapshot();
        let mut m = Manifest { format: FORMAT, commit, segments: Vec::new() };
        let mut removed = 0u64;
        let mut gone_files = Vec::new();
        for l in segs.iter() {
            if l.seg.min_time >= cutoff {
                m.segments.push(l.entry.clone());
                continue;
            }
            let old: Vec<u32> = l.live.iter().filter(|d| l.seg.time(*d) < cutoff).collect();
            removed += old.len() as u64;
            if old.len() as u64 == l.live.len() {
                gone_files.push(format!("{}.seg", l.entry.name));
                gone_files.extend(l.entry.deleted.clone());
                gone_files.extend(l.entry.commits.clone());
                continue;
            }
            let mut entry = l.entry.clone();
            if !old.is_empty() {
                let mut deleted = RoaringBitmap::new();
                deleted.insert_range(0..l.seg.docs);
                deleted -= &l.live;
                deleted.extend(old);
                let gen = u64::from_str_radix(&l.entry.name, 16).unwrap_or(0);
                let name = format!("{:016x}.del-{}", gen, deleted.len());
                let path = self.shared.index_dir.join(&name);
                let mut bytes = Vec::new();
                deleted.serialize_into(&mut bytes).expect("writing to memory");
                let io =
                    |e: std::io::Error| Error::Directory(format!("cannot write {}: {e}", path.display()));
                let mut f = File::create(&path).map_err(io)?;
                std::io::Write::write_all(&mut f, &bytes).map_err(io)?;
                f.sync_all().map_err(io)?;
                gone_files.extend(l.entry.deleted.clone().filter(|d| *d != name));
                entry.deleted = Some(name);
            }
            m.segments.push(entry);
        }
        self.write_manifest(&m)?;
        self.refresh()?;
        for f in gone_files {
            let _ = std::fs::remove_file(self.shared.index_dir.join(f));
        }
        Ok(removed)
    }

    fn stats(&self) -> Result<StoreStats> {
        let segs = self.segments();
        let (mut oldest, mut newest) = (None::<i64>, None::<i64>);
        let mut events = 0;
        for l in segs.iter() {
            if l.live.is_empty() {
                continue;
            }
            events += l.live.len();
            let (lo, hi) = if l.live.len() == u64::from(l.seg.docs) {
                (l.seg.min_time, l.seg.max_time)
            } else {
                let times = l.live.iter().map(|d| l.seg.time(d));
                times.fold((i64::MAX, i64::MIN), |(a, b), t| (a.min(t), b.max(t)))
            };
            oldest = Some(oldest.map_or(lo, |o| o.min(lo)));
            newest = Some(newest.map_or(hi, |o| o.max(hi)));
        }
        Ok(StoreStats { events, segments: segs.len(), index_bytes: self.index_bytes(), oldest, newest })
    }
}
