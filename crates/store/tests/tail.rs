//! The live tail: events committed after a cursor come back exactly once, in commit order,
//! late ones (an old event time, stored later) included, through merges and retention; the
//! tail and search agree; stores written before commits were numbered still open.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{json, Value};
use trailwatch_cloudtrail::{normalize, RecordContext};
use trailwatch_query::{matches, Query};
use trailwatch_store::{EmbeddedStore, EventStore, NewEvent, Order, SearchRequest, StoreOptions, TimeRange};

const DAY: i64 = 86_400_000;
/// 2024-08-01T00:00:00Z.
const T0: i64 = 1_722_470_400_000;

fn options() -> StoreOptions {
    // One builder: one segment per commit, so that merges have many small segments to take.
    StoreOptions { writer_memory_bytes: 16 << 20, writer_threads: 1 }
}

fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).unwrap().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Event `n` of a commit: every third one is late (its event time a few days before the
/// commit's), and services alternate so that a query matches some of each commit.
fn record(commit: usize, n: usize) -> Value {
    let base = T0 + commit as i64 * DAY;
    let time = if n % 3 == 2 { base - 3 * DAY } else { base + n as i64 * 1000 };
    let service = ["iam", "s3", "ec2"][(commit + n) % 3];
    json!({
        "eventVersion": "1.08",
        "eventID": format!("c{commit}-e{n}"),
        "eventTime": iso(time),
        "eventSource": format!("{service}.amazonaws.com"),
        "eventName": if n.is_multiple_of(2) { "CreateThing" } else { "ListThings" },
        "awsRegion": "us-east-1",
        "sourceIPAddress": "10.0.0.1",
        "userAgent": "aws-cli/2.15",
        "recipientAccountId": "111111111111",
        "userIdentity": { "type": "IAMUser", "userName": format!("user{}", n % 4),
                          "arn": "arn:aws:iam::111111111111:user/someone" },
    })
}

fn new_event(raw: Value) -> NewEvent {
    let ctx = RecordContext { account: None, region: None, received: 1 };
    NewEvent { event: normalize(serde_json::to_vec(&raw).unwrap(), &ctx).unwrap() }
}

fn query(q: &str) -> Query {
    trailwatch_query::parse(q, T0).unwrap()
}

/// Adds commit `c`'s events (`per` of them) and commits.
fn commit(store: &EmbeddedStore, c: usize, per: usize) -> Vec<Value> {
    let records: Vec<Value> = (0..per).map(|n| record(c, n)).collect();
    store.add(records.iter().cloned().map(new_event).collect()).unwrap();
    store.commit().unwrap();
    records
}

fn ids(events: &[trailwatch_store::StoredEvent]) -> Vec<String> {
    events.iter().map(|e| e.event.id.clone()).collect()
}

fn matching_ids(q: &Query, records: &[Value]) -> BTreeSet<String> {
    records.iter().map(|r| new_event(r.clone()).event).filter(|e| matches(q, e)).map(|e| e.id).collect()
}

fn count_files(dir: &Path, suffix: &str) -> usize {
    std::fs::read_dir(dir.join("index"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(suffix))
        .count()
}

#[test]
fn from_now_is_the_current_cursor_and_no_events() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path(), options()).unwrap();
    let page = store.tail(&Query::All, None, 10).unwrap();
    assert_eq!((page.events.len(), page.cursor, page.total), (0, 0, 0));
    commit(&store, 0, 5);
    let page = store.tail(&Query::All, None, 10).unwrap();
    assert_eq!((page.events.len(), page.cursor, page.total), (0, 1, 0));
    // A commit with nothing new (all duplicates) does not move the cursor.
    commit(&store, 0, 5);
    assert_eq!(store.tail(&Query::All, None, 10).unwrap().cursor, 1);
    let page = store.tail(&Query::All, Some(0), 10).unwrap();
    assert_eq!((page.events.len(), page.cursor, page.total), (5, 1, 5));
    assert!(store.tail(&Query::All, Some(1), 10).unwrap().events.is_empty());
}

#[test]
fn each_commit_comes_back_once_in_commit_order_through_merges_and_retention() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path(), options()).unwrap();
    // A reader, as the server is: it sees the writer's commits when it refreshes.
    let reader = EmbeddedStore::open(dir.path(), options()).unwrap();
    let q = query("service:iam OR action:ListThings");
    let commits = 24;
    let per = 30;
    let mut cursors = vec![reader.tail(&q, None, 1000).unwrap().cursor];
    let mut batches: Vec<Vec<Value>> = Vec::new();
    let mut seen = BTreeSet::new();
    for c in 0..commits {
        let records = commit(&store, c, per);
        reader.refresh().unwrap();
        let page = reader.tail(&q, Some(*cursors.last().unwrap()), 1000).unwrap();
        let got: BTreeSet<String> = ids(&page.events).into_iter().collect();
        assert_eq!(got, matching_ids(&q, &records), "commit {c}");
        assert_eq!(page.total as usize, got.len());
        assert!(got.iter().all(|id| seen.insert(id.clone())), "an event came back twice");
        // Late events too: an event time days before the commit's others.
        assert!(page.events.iter().any(|e| e.event.time < T0 + c as i64 * DAY), "commit {c}");
        assert!(page.cursor > *cursors.last().unwrap());
        // Nothing more until the next commit.
        assert!(reader.tail(&q, Some(page.cursor), 1000).unwrap().events.is_empty());
        cursors.push(page.cursor);
        batches.push(records);
    }
    store.finish().unwrap();
    assert!(count_files(dir.path(), ".commits") > 0, "no merge of several commits happened");
    // Retention drops the events older than commit 6's day, late ones of later commits too.
    let cutoff = T0 + 6 * DAY;
    assert!(store.delete_before(cutoff).unwrap() > 0);
    reader.refresh().unwrap();
    assert!(reader.stats().unwrap().segments < commits);
    for (k, cursor) in cursors.iter().enumerate() {
        let page = reader.tail(&q, Some(*cursor), 100_000).unwrap();
        let expected: BTreeSet<String> = batches[k..]
            .iter()
            .flat_map(|b| b.iter().filter(|r| new_event((*r).clone()).event.time >= cutoff).cloned())
            .filter(|r| matches(&q, &new_event(r.clone()).event))
            .map(|r| r["eventID"].as_str().unwrap().to_owned())
            .collect();
        let got = ids(&page.events);
        assert_eq!(got.len(), expected.len(), "after commit {k}: an event came back twice");
        assert_eq!(got.into_iter().collect::<BTreeSet<_>>(), expected, "after commit {k}");
        // In commit order: the commit number in the id never goes down.
        let order: Vec<usize> = page
            .events
            .iter()
            .map(|e| e.event.id[1..e.event.id.find('-').unwrap()].parse().unwrap())
            .collect();
        assert!(order.windows(2).all(|w| w[0] <= w[1]), "after commit {k}: {order:?}");
        assert_eq!(page.cursor, *cursors.last().unwrap());
    }
    // A reopened store has the same commits.
    drop(store);
    let again = EmbeddedStore::open(dir.path(), options()).unwrap();
    let page = again.tail(&q, Some(cursors[20]), 100_000).unwrap();
    assert_eq!(
        page.total as usize,
        (20..commits).map(|c| matching_ids(&q, &batches[c]).len()).sum::<usize>()
    );
    assert_eq!(again.tail(&q, None, 1).unwrap().cursor, *cursors.last().unwrap());
}

#[test]
fn tail_and_search_agree_and_a_search_cursor_misses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path(), options()).unwrap();
    let mut all = Vec::new();
    for c in 0..10 {
        all.extend(commit(&store, c, 20));
    }
    store.finish().unwrap();
    for q in ["*", "service:s3", "action:Create* -service:ec2", "user1", "service:nothing"] {
        let q = query(q);
        let searched = store
            .search(&SearchRequest {
                query: q.clone(),
                range: TimeRange::default(),
                limit: 10_000,
                offset: 0,
                order: Order::NewestFirst,
            })
            .unwrap();
        let tailed = store.tail(&q, Some(0), 10_000).unwrap();
        assert_eq!(tailed.total, searched.total, "{q:?}");
        assert_eq!(
            ids(&tailed.events).into_iter().collect::<BTreeSet<_>>(),
            ids(&searched.events).into_iter().collect::<BTreeSet<_>>(),
            "{q:?}"
        );
        assert_eq!(searched.cursor, tailed.cursor);
        assert_eq!(matching_ids(&q, &all).len() as u64, searched.total);
    }
    // Events stored after a search come from the tail at the search's cursor, and only they.
    let q = query("service:iam");
    let search = |store: &EmbeddedStore| {
        store
            .search(&SearchRequest {
                query: q.clone(),
                range: TimeRange { from: Some(T0), to: None },
                limit: 5,
                offset: 0,
                order: Order::NewestFirst,
            })
            .unwrap()
    };
    let before = search(&store);
    let later = commit(&store, 10, 20);
    let page = store.tail(&q, Some(before.cursor), 1000).unwrap();
    assert_eq!(ids(&page.events).into_iter().collect::<BTreeSet<_>>(), matching_ids(&q, &later));
    assert_eq!(search(&store).total, before.total + page.total);
}

#[test]
fn more_new_events_than_the_limit_gives_the_last_ones_and_the_count() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path(), options()).unwrap();
    commit(&store, 0, 10);
    let first = commit(&store, 1, 30);
    let second = commit(&store, 2, 30);
    let page = store.tail(&Query::All, Some(1), 40).unwrap();
    assert_eq!((page.total, page.events.len(), page.cursor), (60, 40, 3));
    // The ten left out are the first commit's earliest (commit order, then event time).
    let mut expected: Vec<(usize, i64, String)> = first
        .iter()
        .chain(&second)
        .map(|r| new_event(r.clone()).event)
        .enumerate()
        .map(|(i, e)| (i / 30, e.time, e.id))
        .collect();
    expected.sort();
    let want: BTreeSet<String> = expected.into_iter().skip(20).map(|(_, _, id)| id).collect();
    assert_eq!(ids(&page.events).into_iter().collect::<BTreeSet<_>>(), want);
}

#[test]
fn a_store_written_before_commits_were_numbered_opens_with_its_events_at_commit_zero() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = EmbeddedStore::open(dir.path(), options()).unwrap();
        for c in 0..3 {
            commit(&store, c, 10);
        }
    }
    // The manifest as older versions wrote it: no commit numbers at all.
    let path = dir.path().join("index/manifest.json");
    let mut m: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(m["commit"], 3);
    m.as_object_mut().unwrap().remove("commit");
    for s in m["segments"].as_array_mut().unwrap() {
        assert!(s.as_object_mut().unwrap().remove("commit").is_some());
    }
    std::fs::write(&path, serde_json::to_vec_pretty(&m).unwrap()).unwrap();

    let store = EmbeddedStore::open(dir.path(), options()).unwrap();
    assert_eq!(store.stats().unwrap().events, 30);
    let page = store.tail(&Query::All, None, 10).unwrap();
    assert_eq!((page.cursor, page.events.len()), (0, 0));
    assert_eq!(store.tail(&Query::All, Some(0), 100).unwrap().total, 0);
    let new = commit(&store, 3, 10);
    let page = store.tail(&Query::All, Some(0), 100).unwrap();
    assert_eq!(page.cursor, 1);
    assert_eq!(ids(&page.events).into_iter().collect::<BTreeSet<_>>(), matching_ids(&Query::All, &new));
    // Merges of old and new segments keep the difference.
    for c in 4..12 {
        commit(&store, c, 10);
    }
    store.finish().unwrap();
    assert!(store.stats().unwrap().segments < 12);
    assert_eq!(store.tail(&Query::All, Some(0), 1000).unwrap().total, 90);
    assert_eq!(store.tail(&Query::All, Some(1), 1000).unwrap().total, 80);
}
