//! Kill -9 during ingestion, then ingest again: the store ends with exactly the events of a
//! clean run, none lost and none doubled, and the rules saw each event exactly once, wherever the
//! kill landed.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use trailwatch_query::Query;
use trailwatch_store::{
    EmbeddedStore, EventStore, Order, SearchRequest, SignalFilter, State, StoreOptions, TimeRange,
};
use trailwatch_synth::{generate, SynthConfig};

/// Events in the dataset: enough for ingestion to take a few seconds in a debug build.
const EVENTS: u64 = 30_000;
/// Small commits, so that a kill finds some files committed and others not.
const COMMIT_EVERY: &str = "2500";

/// Every stored event id, and how many events are stored.
fn stored_ids(data: &Path) -> (BTreeSet<String>, u64) {
    let store =
        EmbeddedStore::open(data, StoreOptions { writer_memory_bytes: 50 << 20, writer_threads: 1 }).unwrap();
    let total = store.count(&Query::All, TimeRange::default()).unwrap();
    let mut ids = BTreeSet::new();
    let page = 20_000;
    let mut offset = 0;
    while offset < total as usize {
        let res = store
            .search(&SearchRequest {
                query: Query::All,
                range: TimeRange::default(),
                limit: page,
                offset,
                order: Order::OldestFirst,
            })
            .unwrap();
        assert!(!res.events.is_empty(), "a page at offset {offset} of {total} is empty");
        offset += res.events.len();
        ids.extend(res.events.into_iter().map(|e| e.event.id));
    }
    (ids, total)
}

/// Files recorded as done in a data directory's state (0 before the state exists).
fn files_recorded(data: &Path) -> u64 {
    let path = data.join("state.sqlite");
    if !path.exists() {
        return 0;
    }
    State::open(&path).and_then(|s| s.file_count()).unwrap_or(0)
}

/// Per match rule and group, how many times it fired: every matching event fires once, so a
/// run that detected an event twice, or not at all, shows here whatever the order of files.
fn match_firings(data: &Path) -> BTreeMap<(String, String), u64> {
    let matching: BTreeSet<String> = trailwatch_detect::builtin_rules()
        .rules
        .into_iter()
        .filter(|r| r.method == trailwatch_detect::Method::Match)
        .map(|r| r.id)
        .collect();
    let state = State::open(&data.join("state.sqlite")).unwrap();
    let filter = SignalFilter { since: i64::MIN, limit: 100_000, ..SignalFilter::default() };
    let mut out = BTreeMap::new();
    for body in state.signals(&filter).unwrap() {
        let s: trailwatch_detect::Signal = serde_json::from_str(&body).unwrap();
        if matching.contains(&s.rule_id) {
            *out.entry((s.rule_id, s.group)).or_default() += s.count;
        }
    }
    out
}

/// When to kill the ingestion.
#[derive(Debug, Clone, Copy)]
enum KillAt {
    /// After this long, whatever has happened.
    Delay(Duration),
    /// Once at least this many files are recorded as done.
    Files(u64),
}

#[test]
fn kill_9_then_ingest_again_loses_and_doubles_nothing() {
    let tmp = tempfile::TempDir::new().unwrap();
    let logs = tmp.path().join("logs");
    // One account and region over 25 hours: 300 files, one per five minutes.
    let config = SynthConfig {
        accounts: vec!["111122223333".into()],
        regions: vec!["us-east-1".into()],
        duration_ms: 25 * 3_600_000,
        ..SynthConfig::benchmark(EVENTS)
    };
    let made = generate(&config, &logs).unwrap();
    assert_eq!(made.events, EVENTS);
    let logs_arg = logs.to_str().unwrap();
    let ingest = ["ingest", logs_arg, "--commit-every-events", COMMIT_EVERY];

    let clean = tmp.path().join("clean");
    let started = Instant::now();
    tw(&clean, &ingest).expect(0);
    let clean_time = started.elapsed();
    let (want, want_count) = stored_ids(&clean);
    assert_eq!(want_count, EVENTS, "the clean run stores every generated event");
    assert_eq!(want.len() as u64, EVENTS, "stored ids are distinct");
    assert_eq!(files_recorded(&clean), made.files);
    let want_firings = match_firings(&clean);
    assert!(want_firings.values().sum::<u64>() > 20, "the dataset fires match rules: {want_firings:?}");
    assert!(
        clean_time > Duration::from_millis(1500),
        "a clean run took only {clean_time:?}: too fast to be killed midway; make the dataset bigger"
    );

    let points =
        [KillAt::Delay(clean_time / 10), KillAt::Files(made.files / 4), KillAt::Files(made.files * 2 / 3)];
    for (i, point) in points.into_iter().enumerate() {
        let data = tmp.path().join(format!("killed{i}"));
        let mut child = command(&data, &ingest).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        let deadline = Instant::now() + clean_time * 3 + Duration::from_secs(10);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("{point:?}: ingestion ended ({status}) before the kill; make the dataset bigger");
            }
            let due = match point {
                KillAt::Delay(d) => started_elapsed(&data, d),
                KillAt::Files(n) => files_recorded(&data) >= n.max(1),
            };
            if due {
                break;
            }
            assert!(Instant::now() < deadline, "{point:?}: the kill point was never reached");
            std::thread::sleep(Duration::from_millis(10));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let at_kill = files_recorded(&data);
        assert!(at_kill < made.files, "{point:?}: every file was done before the kill");
        if let KillAt::Files(n) = point {
            assert!(at_kill >= n.max(1), "{point:?}: only {at_kill} files recorded");
        }

        let run = tw(&data, &ingest).expect(0);
        assert!(
            run.stderr.contains(&format!("unchanged files skipped: {} ", with_commas(at_kill))),
            "{point:?}: the files recorded before the kill ({at_kill}) must be skipped:\n{}",
            run.stderr
        );
        let (got, got_count) = stored_ids(&data);
        assert_eq!(
            got_count, want_count,
            "{point:?}: {at_kill} files done at the kill; events lost or doubled"
        );
        if got != want {
            let lost: Vec<_> = want.difference(&got).take(5).collect();
            let extra: Vec<_> = got.difference(&want).take(5).collect();
            panic!("{point:?}: stored ids differ from a clean run; lost {lost:?}, extra {extra:?}");
        }
        assert_eq!(files_recorded(&data), made.files, "{point:?}: every file is recorded in the end");
        assert_eq!(match_firings(&data), want_firings, "{point:?}: events detected twice or not at all");
    }
}

/// A crash at each step of a commit (the process aborts there), then a re-run: the rules see
/// every event exactly once, as in a run that never stopped.
#[test]
fn a_crash_at_any_step_of_a_commit_detects_each_event_once() {
    let tmp = tempfile::TempDir::new().unwrap();
    let logs = tmp.path().join("logs");
    let config = SynthConfig {
        accounts: vec!["111122223333".into()],
        regions: vec!["us-east-1".into()],
        duration_ms: 12 * 3_600_000,
        ..SynthConfig::benchmark(12_000)
    };
    generate(&config, &logs).unwrap();
    let logs_arg = logs.to_str().unwrap();
    // One decoder: files arrive in the same order in every run, so even stateful rules agree.
    let ingest = ["ingest", logs_arg, "--commit-every-events", "1500", "--threads", "1"];
    let clean = tmp.path().join("clean");
    tw(&clean, &ingest).expect(0);
    let want = match_firings(&clean);
    assert!(want.values().sum::<u64>() > 10, "the dataset fires match rules: {want:?}");
    for stage in ["detection-saved:3", "store-committed:3", "files-recorded:3"] {
        let data = tmp.path().join(stage.replace(':', "-"));
        let mut args = ingest.to_vec();
        args.extend(["--abort-at", stage]);
        let run = tw(&data, &args);
        assert_ne!(run.code, 0, "{stage}: the run was to abort");
        tw(&data, &ingest).expect(0);
        assert_eq!(match_firings(&data), want, "{stage}: events detected twice or not at all");
        assert_eq!(stored_ids(&data), stored_ids(&clean), "{stage}: stored events differ");
    }
}

/// Whether `delay` has passed since the data directory was created (the run started).
fn started_elapsed(data: &Path, delay: Duration) -> bool {
    std::fs::metadata(data)
        .and_then(|m| m.created().or_else(|_| m.modified()))
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|e| e >= delay)
}

/// `12345` as the CLI prints it: `12,345`.
fn with_commas(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
