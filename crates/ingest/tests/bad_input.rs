//! One folder of good CloudTrail files mixed with every kind of bad file we know of: each bad
//! file or record is reported with its path and what is wrong, every good event is stored
//! exactly once and unchanged, and the progress counters add up.

mod common;

use std::io::Write;
use std::path::PathBuf;

use common::*;
use flate2::{write::GzEncoder, Compression};
use serde_json::{json, Value};
use trailwatch_cloudtrail::Limits;
use trailwatch_ingest::{ingest, SkipReason};
use trailwatch_store::EventStore;

/// A bad file, what the problem about it must say, and the record it is about.
struct Case {
    path: PathBuf,
    message: &'static str,
    record: Option<usize>,
}

/// A good record (from Stratus) with a new id, as JSON bytes.
fn good(base: &Value, id: &str) -> Vec<u8> {
    serde_json::to_vec(&with_id(base, id)).unwrap()
}

#[test]
fn bad_files_and_records_are_reported_and_good_events_kept() {
    let tmp = tempfile::TempDir::new().unwrap();
    let logs = tmp.path().join("logs");
    let data = tmp.path().join("data");
    let records = stratus();
    let base = &records[0];

    // The good files: every Stratus record, spread over four files.
    for (i, part) in records.chunks(80).enumerate() {
        write_log(&log_path(&logs, &format!("good{i}")), part);
    }
    // Ids of the good records in partly bad files, which must be stored too.
    let mut partial_good: Vec<String> = Vec::new();
    // Ids of records that must not be stored.
    let mut rejected_ids: Vec<String> = Vec::new();
    let mut cases: Vec<Case> = Vec::new();
    let mut case = |tag: &str, bytes: &[u8], message: &'static str, record: Option<usize>| {
        let path = log_path(&logs, tag);
        write(&path, bytes);
        cases.push(Case { path, message, record });
    };

    // Truncated gzip: the file stops in the middle of the compressed stream.
    let truncated_ids: Vec<String> = (0..200).map(|i| format!("truncated-{i}")).collect();
    let whole = gzip(&document_of(&truncated_ids.iter().map(|id| good(&records[5], id)).collect::<Vec<_>>()));
    case("truncated", &whole[..whole.len() / 2], "gzip data is corrupt or truncated", None);

    // Not gzip, not JSON.
    case(
        "garbage",
        b"\x00\x01PK\x03\x04 this is not a log file \xff\xfe",
        "invalid JSON at byte 0: expected { or [ at the start of the file",
        None,
    );

    // One record is not valid JSON; the scanner finds its end, the parser rejects it.
    let bad_json =
        br#"{"eventVersion":"1.08","eventTime":"2024-08-01T13:00:00Z","eventID":"bad-json","readOnly":nope}"#;
    case(
        "badjson",
        &gzip(&document_of(&[good(base, "badjson-0"), bad_json.to_vec(), good(base, "badjson-2")])),
        "record 1: invalid JSON",
        Some(1),
    );
    partial_good.extend(["badjson-0".into(), "badjson-2".into()]);
    rejected_ids.push("bad-json".into());

    case(
        "norecords",
        &gzip(br#"{"Foo":[{"eventTime":"2024-08-01T13:00:00Z"}],"Bar":1}"#),
        "not a CloudTrail log file: the top-level object has no Records array",
        None,
    );
    case(
        "notarray",
        &gzip(br#"{"Records":{"eventTime":"2024-08-01T13:00:00Z"}}"#),
        "Records is not an array (found an object)",
        None,
    );

    let no_time = json!({"eventVersion": "1.08", "eventID": "no-time", "eventName": "CreateUser"});
    case(
        "notime",
        &gzip(&document_of(&[good(base, "notime-0"), serde_json::to_vec(&no_time).unwrap()])),
        "record 1: record has no eventTime",
        Some(1),
    );
    partial_good.push("notime-0".into());
    rejected_ids.push("no-time".into());

    let mut bad_time = with_id(base, "bad-time");
    bad_time["eventTime"] = json!("2024-13-45T99:00:00Z");
    case(
        "badtime",
        &gzip(&document_of(&[
            good(base, "badtime-0"),
            good(base, "badtime-1"),
            serde_json::to_vec(&bad_time).unwrap(),
            good(base, "badtime-3"),
        ])),
        "record 2: record has an unparsable eventTime \"2024-13-45T99:00:00Z\"",
        Some(2),
    );
    partial_good.extend(["badtime-0".into(), "badtime-1".into(), "badtime-3".into()]);
    rejected_ids.push("bad-time".into());

    let mut bad_utf8 =
        br#"{"eventVersion":"1.08","eventTime":"2024-08-01T13:00:00Z","eventID":"bad-utf8","eventName":"Get"#
            .to_vec();
    bad_utf8.extend_from_slice(b"\xff\xfe\xc3\x28");
    bad_utf8.extend_from_slice(br#""}"#);
    case(
        "badutf8",
        &gzip(&document_of(&[good(base, "badutf8-0"), bad_utf8, good(base, "badutf8-2")])),
        "record 1: invalid JSON",
        Some(1),
    );
    partial_good.extend(["badutf8-0".into(), "badutf8-2".into()]);
    rejected_ids.push("bad-utf8".into());

    let limits = Limits { max_decompressed_bytes: 8 << 20, max_record_bytes: 64 << 10, max_depth: 32 };

    let deep = format!(
        r#"{{"eventTime":"2024-08-01T13:00:00Z","eventID":"too-deep","requestParameters":{}1{}}}"#,
        "[".repeat(100),
        "]".repeat(100)
    );
    case(
        "deep",
        &gzip(&document_of(&[good(base, "deep-0"), deep.into_bytes(), good(base, "deep-2")])),
        "record 1 nests deeper than the limit of 32 levels",
        Some(1),
    );
    partial_good.extend(["deep-0".into(), "deep-2".into()]);
    rejected_ids.push("too-deep".into());

    let mut huge = with_id(base, "too-large");
    huge["errorMessage"] = json!("x".repeat(200 << 10));
    case(
        "huge",
        &gzip(&document_of(&[
            good(base, "huge-0"),
            serde_json::to_vec(&huge).unwrap(),
            good(base, "huge-2"),
        ])),
        "record 1 is larger than the limit of 65536 bytes",
        Some(1),
    );
    partial_good.extend(["huge-0".into(), "huge-2".into()]);
    rejected_ids.push("too-large".into());

    // A gzip bomb: a small file holding 64 MiB of blanks inside the Records array.
    let mut bomb = GzEncoder::new(Vec::new(), Compression::best());
    bomb.write_all(b"{\"Records\":[").unwrap();
    let blanks = vec![b' '; 1 << 20];
    for _ in 0..64 {
        bomb.write_all(&blanks).unwrap();
    }
    bomb.write_all(b"]}").unwrap();
    let bomb = bomb.finish().unwrap();
    assert!(bomb.len() < 1 << 20, "the bomb should be small on disk ({} bytes)", bomb.len());
    case("bomb", &bomb, "decompressed size exceeds the limit of 8388608 bytes", None);

    case("empty", b"", "file is empty", None);

    // Trailing garbage: the records before it are good and kept.
    let mut trailing = document_of(&[good(base, "trailing-0"), good(base, "trailing-1")]);
    trailing.extend_from_slice(b"\n}garbage");
    case("trailing", &gzip(&trailing), "unexpected data after the end of the JSON at byte", None);
    partial_good.extend(["trailing-0".into(), "trailing-1".into()]);

    // A digest file is integrity data: ignored, not an error.
    let digest = logs.join(format!(
        "AWSLogs/{ACCOUNT}/CloudTrail-Digest/us-east-1/2024/08/01/{ACCOUNT}_CloudTrail-Digest_us-east-1_trail_us-east-1_20240801T1335Z.json.gz"
    ));
    write(&digest, &gzip(br#"{"awsAccountId":"123456789012","digestStartTime":"2024-08-01T12:35:00Z"}"#));

    let (store, mut state) = open(&data);
    let observer = Collect::default();
    let options = trailwatch_ingest::IngestOptions { limits, ..options() };
    let summary = ingest(std::slice::from_ref(&logs), &store, &mut state, &options, &observer, None).unwrap();

    // Every bad file, and only the bad files, has exactly one problem, saying what is wrong.
    let problems = observer.problems();
    for c in &cases {
        let mine: Vec<_> = problems.iter().filter(|p| p.path == c.path).collect();
        assert_eq!(mine.len(), 1, "{}: expected one problem, got {mine:#?}", c.path.display());
        let p = mine[0];
        assert!(
            p.message.contains(c.message),
            "{}: message {:?} does not say {:?}",
            c.path.display(),
            p.message,
            c.message
        );
        assert_eq!(p.record, c.record, "{}: record index of {:?}", c.path.display(), p.message);
        if let Some(i) = c.record {
            assert!(p.message.starts_with(&format!("record {i}")), "{:?} names no record", p.message);
        }
    }
    assert_eq!(problems.len(), cases.len(), "unexpected problems: {problems:#?}");
    assert_eq!(summary.problems, cases.len() as u64);

    let ignored = observer.ignored.lock().unwrap().clone();
    assert_eq!(ignored, vec![(digest, SkipReason::Digest)]);

    // The good events are all there, unchanged.
    for r in &records {
        let stored = store.get(id_of(r)).unwrap().unwrap_or_else(|| panic!("{} is missing", id_of(r)));
        assert_eq!(&stored.record, r, "record {} changed on its way into the store", id_of(r));
    }
    for id in &partial_good {
        let stored =
            store.get(id).unwrap().unwrap_or_else(|| panic!("{id} (a good record of a bad file) is missing"));
        assert_eq!(stored.event.id, *id);
    }
    for id in &rejected_ids {
        assert!(store.get(id).unwrap().is_none(), "rejected record {id} was stored");
    }
    // Of the truncated file, what was read before the cut (a prefix of its records) is kept.
    let kept = truncated_ids.iter().take_while(|id| store.get(id).unwrap().is_some()).count();
    assert!(kept < truncated_ids.len(), "all records of the truncated file were stored");
    for id in &truncated_ids[kept..] {
        assert!(store.get(id).unwrap().is_none(), "{id} stored after a gap in the truncated file");
    }
    let expected = (records.len() + partial_good.len() + kept) as u64;
    assert_eq!(count(&store), expected);

    let p = &summary.progress;
    assert_eq!(p.files_total, 4 + cases.len() as u64);
    assert_eq!(p.files_done, p.files_total);
    assert_eq!(p.files_failed, 7, "truncated, garbage, no Records, not an array, bomb, empty, trailing");
    assert_eq!(p.records_rejected, 6, "bad JSON, no time, bad time, bad UTF-8, too deep, too large");
    assert_eq!(p.files_ignored, 1);
    assert_eq!(p.files_unchanged, 0);
    assert_eq!(p.events_read, expected);
    assert_eq!(p.events_added, expected);
    assert_eq!(p.duplicates, 0);
    assert_eq!(*observer.last.lock().unwrap(), *p, "the last progress report is the summary's");
}
