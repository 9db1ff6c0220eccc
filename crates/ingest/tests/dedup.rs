//! Each event is stored once however often its files are read: unchanged files are skipped,
//! forced re-reads and overlapping files only find duplicates, grown files add only what is new,
//! and retention deletes exactly the older events.

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;
use trailwatch_ingest::{ingest, IngestOptions, Summary};
use trailwatch_query::Query;
use trailwatch_store::{EmbeddedStore, EventStore, State, TimeRange};

fn run(logs: &Path, store: &EmbeddedStore, state: &mut State, options: &IngestOptions) -> Summary {
    let observer = Collect::default();
    let summary = ingest(&[logs.to_owned()], store, state, options, &observer, None).unwrap();
    assert_eq!(observer.problems(), vec![], "good files reported problems");
    summary
}

/// The Stratus records in three files.
fn write_stratus(logs: &Path) -> Vec<Value> {
    let records = stratus();
    for (i, part) in records.chunks(110).enumerate() {
        write_log(&log_path(logs, &format!("part{i}")), part);
    }
    records
}

#[test]
fn unchanged_files_are_not_read_again() {
    let tmp = tempfile::TempDir::new().unwrap();
    let (logs, data) = (tmp.path().join("logs"), tmp.path().join("data"));
    let records = write_stratus(&logs);
    let (store, mut state) = open(&data);

    let first = run(&logs, &store, &mut state, &options());
    assert_eq!((first.progress.files_total, first.progress.events_added), (3, records.len() as u64));
    assert_eq!(count(&store), 310);
    assert_eq!(state.file_count().unwrap(), 3);

    let second = run(&logs, &store, &mut state, &options());
    let p = &second.progress;
    assert_eq!((p.files_total, p.files_done, p.files_unchanged), (0, 0, 3));
    assert_eq!((p.events_read, p.events_added, p.duplicates), (0, 0, 0));
    assert_eq!(count(&store), 310);

    // Also across processes: a store and state opened afresh know what was read.
    drop((store, state));
    let (store, mut state) = open(&data);
    let third = run(&logs, &store, &mut state, &options());
    assert_eq!((third.progress.files_unchanged, third.progress.events_read), (3, 0));
    assert_eq!(count(&store), 310);
}

#[test]
fn force_reads_everything_and_finds_only_duplicates() {
    let tmp = tempfile::TempDir::new().unwrap();
    let (logs, data) = (tmp.path().join("logs"), tmp.path().join("data"));
    write_stratus(&logs);
    let (store, mut state) = open(&data);
    run(&logs, &store, &mut state, &options());

    let forced = run(&logs, &store, &mut state, &IngestOptions { force: true, ..options() });
    let p = &forced.progress;
    assert_eq!((p.files_total, p.files_done, p.files_unchanged), (3, 3, 0));
    assert_eq!((p.events_read, p.events_added, p.duplicates), (310, 0, 310));
    assert_eq!(count(&store), 310);
}

#[test]
fn overlapping_files_store_each_event_once() {
    let tmp = tempfile::TempDir::new().unwrap();
    let (logs, data) = (tmp.path().join("logs"), tmp.path().join("data"));
    let records = stratus();
    // Records 0..200 in one file, 100..310 in another, and 150..160 twice within a third.
    write_log(&log_path(&logs, "a"), &records[..200]);
    write_log(&log_path(&logs, "b"), &records[100..]);
    let twice: Vec<Value> = records[150..160].iter().chain(&records[150..160]).cloned().collect();
    write_log(&log_path(&logs, "c"), &twice);
    let (store, mut state) = open(&data);

    let s = run(&logs, &store, &mut state, &options());
    let p = &s.progress;
    assert_eq!(p.events_read, 200 + 210 + 20);
    assert_eq!(p.events_added, 310);
    assert_eq!(p.duplicates, 100 + 20);
    assert_eq!(count(&store), 310);
    for r in &records[95..205] {
        let q = trailwatch_query::parse(&format!("id:{:?}", id_of(r)), 0).unwrap();
        assert_eq!(store.count(&q, TimeRange::default()).unwrap(), 1, "{} stored more than once", id_of(r));
    }
}

#[test]
fn a_grown_file_is_read_again_and_only_new_events_added() {
    let tmp = tempfile::TempDir::new().unwrap();
    let (logs, data) = (tmp.path().join("logs"), tmp.path().join("data"));
    let records = stratus();
    let path = log_path(&logs, "growing");
    write_log(&path, &records[..100]);
    write_log(&log_path(&logs, "other"), &records[250..]);
    let (store, mut state) = open(&data);
    run(&logs, &store, &mut state, &options());
    assert_eq!(count(&store), 160);
    let before = std::fs::metadata(&path).unwrap().len();

    write_log(&path, &records[..250]);
    assert_ne!(std::fs::metadata(&path).unwrap().len(), before, "the file must change size");
    let s = run(&logs, &store, &mut state, &options());
    let p = &s.progress;
    assert_eq!((p.files_total, p.files_unchanged), (1, 1), "only the grown file is read");
    assert_eq!((p.events_read, p.events_added, p.duplicates), (250, 150, 100));
    assert_eq!(count(&store), 310);
    for r in &records[100..250] {
        assert!(store.get(id_of(r)).unwrap().is_some(), "{} was not added", id_of(r));
    }
}

#[test]
fn retention_deletes_exactly_the_older_events() {
    let tmp = tempfile::TempDir::new().unwrap();
    let (logs, data) = (tmp.path().join("logs"), tmp.path().join("data"));
    let records = write_stratus(&logs);
    let (store, mut state) = open(&data);
    run(&logs, &store, &mut state, &options());

    // 2024-09-01T00:00:00Z: the Stratus records span 2024-07-30 to 2024-11-30.
    let cutoff = 1_725_148_800_000;
    let older = TimeRange { from: None, to: Some(cutoff) };
    let newer = TimeRange { from: Some(cutoff), to: None };
    let (n_old, n_new) = (store.count(&Query::All, older).unwrap(), store.count(&Query::All, newer).unwrap());
    let expected_old = records.iter().filter(|r| r["eventTime"].as_str().unwrap() < "2024-09-01").count();
    assert_eq!(n_old, expected_old as u64);
    assert!(n_old > 0 && n_new > 0, "the cutoff must split the events ({n_old} older, {n_new} newer)");
    assert_eq!(n_old + n_new, 310);

    assert_eq!(store.delete_before(cutoff).unwrap(), n_old);
    assert_eq!(store.count(&Query::All, older).unwrap(), 0);
    assert_eq!(store.count(&Query::All, newer).unwrap(), n_new);
    assert_eq!(count(&store), n_new);
    for r in &records {
        let kept = store.get(id_of(r)).unwrap().is_some();
        assert_eq!(kept, r["eventTime"].as_str().unwrap() >= "2024-09-01", "{}", id_of(r));
    }
    // Nothing left to delete.
    assert_eq!(store.delete_before(cutoff).unwrap(), 0);
}
