//! Fixtures shared by the ingestion tests: real Stratus Red Team records, CloudTrail files built
//! from them in the S3 key layout, and an observer that remembers what it heard.

#![allow(dead_code)] // each test file uses a different part

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use flate2::{write::GzEncoder, Compression};
use serde_json::Value;
use trailwatch_ingest::{IngestOptions, Observer, Problem, Progress, SkipReason};
use trailwatch_query::Query;
use trailwatch_store::{EmbeddedStore, EventStore, State, StoreOptions, TimeRange};

pub const ACCOUNT: &str = "123456789012";

/// Every Stratus record, in file-name and line order (310 records, all with distinct eventIDs).
pub fn stratus() -> Vec<Value> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../cloudtrail/tests/data/stratus");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    let mut records = Vec::new();
    for f in files {
        for line in std::fs::read_to_string(&f).unwrap().lines().filter(|l| !l.trim().is_empty()) {
            records.push(serde_json::from_str(line).unwrap());
        }
    }
    assert_eq!(records.len(), 310, "the Stratus fixture changed");
    records
}

/// A copy of `record` with a new eventID, so it is a different event.
pub fn with_id(record: &Value, id: &str) -> Value {
    let mut r = record.clone();
    r["eventID"] = Value::String(id.into());
    r
}

pub fn id_of(record: &Value) -> &str {
    record["eventID"].as_str().unwrap()
}

/// The folder of the S3 key layout for one day.
pub fn day_dir(root: &Path) -> PathBuf {
    root.join(format!("AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2024/08/01"))
}

/// A log file path in the S3 key layout; `tag` makes it unique.
pub fn log_path(root: &Path, tag: &str) -> PathBuf {
    day_dir(root).join(format!("{ACCOUNT}_CloudTrail_us-east-1_20240801T1335Z_{tag}.json.gz"))
}

/// `{"Records":[...]}` of already-serialized records.
pub fn document_of(parts: &[Vec<u8>]) -> Vec<u8> {
    let mut doc = b"{\"Records\":[".to_vec();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            doc.push(b',');
        }
        doc.extend_from_slice(p);
    }
    doc.extend_from_slice(b"]}");
    doc
}

pub fn document(records: &[Value]) -> Vec<u8> {
    document_of(&records.iter().map(|r| serde_json::to_vec(r).unwrap()).collect::<Vec<_>>())
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

pub fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// Writes `records` as one gzipped CloudTrail file.
pub fn write_log(path: &Path, records: &[Value]) {
    write(path, &gzip(&document(records)));
}

/// Options for tests: two decoders, a fixed clock.
pub fn options() -> IngestOptions {
    IngestOptions { decoders: 2, now_ms: 1_750_000_000_000, ..IngestOptions::default() }
}

pub fn open(data: &Path) -> (EmbeddedStore, State) {
    let store =
        EmbeddedStore::open(data, StoreOptions { writer_memory_bytes: 50 << 20, writer_threads: 1 }).unwrap();
    let state = State::open(&data.join("state.sqlite")).unwrap();
    (store, state)
}

pub fn count(store: &dyn EventStore) -> u64 {
    store.count(&Query::All, TimeRange::default()).unwrap()
}

/// Remembers every problem, ignored file and the last progress report.
#[derive(Default)]
pub struct Collect {
    pub problems: Mutex<Vec<Problem>>,
    pub ignored: Mutex<Vec<(PathBuf, SkipReason)>>,
    pub last: Mutex<Progress>,
}

impl Observer for Collect {
    fn progress(&self, p: &Progress) {
        *self.last.lock().unwrap() = p.clone();
    }
    fn problem(&self, p: &Problem) {
        self.problems.lock().unwrap().push(p.clone());
    }
    fn ignored(&self, path: &Path, why: SkipReason) {
        self.ignored.lock().unwrap().push((path.to_owned(), why));
    }
}

impl Collect {
    pub fn problems(&self) -> Vec<Problem> {
        self.problems.lock().unwrap().clone()
    }
}
