//! The `trailwatch` binary as users run it: exit codes, what each command prints, and the
//! messages for bad input, bad queries and a missing store.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::{json, Value};
use tempfile::TempDir;

/// The Stratus records in three files, ingested into `<tmp>/data`.
fn ingested() -> (TempDir, PathBuf, Vec<Value>) {
    let tmp = TempDir::new().unwrap();
    let records = stratus();
    let logs = tmp.path().join("logs");
    for (i, part) in records.chunks(110).enumerate() {
        write_log(&log_path(&logs, &format!("part{i}")), part);
    }
    let data = tmp.path().join("data");
    let run = tw(&data, &["ingest", logs.to_str().unwrap()]).expect(0);
    assert!(run.stderr.contains("ingested 310 new events from 3 files"), "{}", run.stderr);
    (tmp, data, records)
}

fn json_out(run: &Run) -> Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", run.stdout))
}

fn service_of(r: &Value) -> String {
    r["eventSource"].as_str().unwrap().trim_end_matches(".amazonaws.com").to_owned()
}

#[test]
fn ingest_exit_codes_name_the_bad_file() {
    let tmp = TempDir::new().unwrap();
    let records = stratus();
    let logs = tmp.path().join("logs");
    write_log(&log_path(&logs, "good"), &records[..50]);
    let run = tw(&tmp.path().join("data"), &["ingest", logs.to_str().unwrap()]).expect(0);
    assert!(!run.stderr.contains("rejected"), "{}", run.stderr);

    // A second folder with one good and one bad file: the good one is read, the bad one named.
    let more = tmp.path().join("more");
    write_log(&log_path(&more, "good"), &records[50..100]);
    let bad = log_path(&more, "bad");
    std::fs::write(&bad, b"this is not a log file").unwrap();
    let run = tw(&tmp.path().join("data"), &["ingest", more.to_str().unwrap()]).expect(1);
    let output = format!("{}{}", run.stdout, run.stderr);
    assert!(
        output.contains(&format!("rejected: {}: invalid JSON at byte 0", bad.display())),
        "the bad file is not named:\n{output}"
    );
    assert!(run.stderr.contains("ingested 50 new events from 2 files"), "{}", run.stderr);
    assert!(run.stderr.contains("1 files could not be read to the end"), "{}", run.stderr);

    // A missing path is bad usage.
    let run = tw(&tmp.path().join("data"), &["ingest", tmp.path().join("nope").to_str().unwrap()]).expect(2);
    assert!(run.stderr.contains("nope"), "{}", run.stderr);
}

#[test]
fn search_prints_a_table_and_json() {
    let (_tmp, data, records) = ingested();
    let ssm: Vec<&Value> = records.iter().filter(|r| service_of(r) == "ssm").collect();

    let run = tw(&data, &["search", "service:ssm", "--limit", "5"]).expect(0);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 6, "a header and five rows:\n{}", run.stdout);
    for h in ["TIME (UTC)", "ACCOUNT", "REGION", "SOURCE IP", "OUTCOME", "EVENT"] {
        assert!(lines[0].contains(h), "header {:?} lacks {h}", lines[0]);
    }
    assert!(run.stderr.contains(&format!("5 of {} matching events (more with", ssm.len())), "{}", run.stderr);

    let run = tw(&data, &["search", "service:ssm", "--limit", "1000", "--format", "json"]).expect(0);
    let v = json_out(&run);
    assert_eq!(v["total"], json!(ssm.len()));
    let events = v["events"].as_array().unwrap();
    assert_eq!(events.len(), ssm.len());
    let mut got: Vec<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    let mut want: Vec<&str> = ssm.iter().map(|r| r["eventID"].as_str().unwrap()).collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    for e in events {
        assert_eq!(e["service"], "ssm");
        let original = ssm.iter().find(|r| r["eventID"] == e["id"]).unwrap();
        assert_eq!(&&e["record"], original, "the record is printed as it was read");
    }
    // Newest first.
    let times: Vec<i64> = events.iter().map(|e| e["time"].as_i64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "not newest first: {times:?}");

    let run = tw(&data, &["search", "", "--format", "jsonl", "--limit", "1000"]).expect(0);
    assert_eq!(run.stdout.lines().count(), 310);

    let run = tw(&data, &["search", "service:nothing-like-this", "--fail-empty"]).expect(1);
    assert!(run.stderr.contains("0 of 0 matching events"), "{}", run.stderr);
}

#[test]
fn a_bad_query_points_at_its_column() {
    let (_tmp, data, _) = ingested();
    let query = "service:ssm ) action:Get*";
    let run = tw(&data, &["search", query]).expect(2);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert!(lines.len() >= 3, "{}", run.stderr);
    let first = lines[0];
    assert!(first.starts_with("error: bad query: column "), "{first}");
    assert!(first.ends_with(": unexpected ) without a matching ("), "{first}");
    let column: usize =
        first["error: bad query: column ".len()..].split(':').next().unwrap().parse().unwrap();
    assert_eq!(query.chars().nth(column - 1), Some(')'), "column {column} is not the stray parenthesis");
    assert_eq!(lines[1], format!("  {query}"));
    assert_eq!(lines[2], format!("  {}^", " ".repeat(column - 1)));
    assert!(run.stdout.is_empty(), "{}", run.stdout);
}

#[test]
fn facets_count_services() {
    let (_tmp, data, records) = ingested();
    let count = |s: &str| records.iter().filter(|r| service_of(r) == s).count() as u64;
    let run = tw(&data, &["facets", "service", "--format", "json", "--size", "3"]).expect(0);
    let v = json_out(&run);
    assert_eq!(
        v["values"],
        json!([
            {"value": "ssm", "count": count("ssm")},
            {"value": "ec2", "count": count("ec2")},
            {"value": "secretsmanager", "count": count("secretsmanager")},
        ])
    );
    assert_eq!(v["other"], json!(310 - count("ssm") - count("ec2") - count("secretsmanager")));
    assert_eq!(v["missing"], json!(0));

    let run = tw(&data, &["facets", "service", "--size", "2"]).expect(0);
    let lines: Vec<Vec<&str>> = run.stdout.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(lines[0], ["COUNT", "SHARE", "SERVICE"]);
    assert_eq!(lines[1], [count("ssm").to_string().as_str(), "44.5%", "ssm"]);
    assert_eq!(lines[2][0], count("ec2").to_string());
    assert_eq!(lines[2][2], "ec2");
    assert_eq!(lines[3][2..], ["(other", "values)"]);

    let run = tw(&data, &["facets", "no_such_field"]).expect(2);
    assert!(run.stderr.contains("unknown field \"no_such_field\""), "{}", run.stderr);
}

#[test]
fn histogram_splits_by_outcome() {
    let (_tmp, data, _) = ingested();
    let outcomes = json_out(&tw(&data, &["facets", "outcome", "--format", "json"]).expect(0));
    let args = ["histogram", "--interval", "1h", "--by", "outcome"];
    let h = json_out(&tw(&data, &[&args[..], &["--format", "json"]].concat()).expect(0));
    assert_eq!(h["interval_ms"], json!(3_600_000));
    assert_eq!(h["start"].as_i64().unwrap() % 3_600_000, 0, "buckets are aligned to the hour");
    let series = h["series"].as_array().unwrap();
    let mut total = 0;
    for s in series {
        let sum: u64 = s["counts"].as_array().unwrap().iter().map(|c| c.as_u64().unwrap()).sum();
        let value = s["value"].as_str().expect("two outcomes fit in the top 5");
        let want = outcomes["values"].as_array().unwrap().iter().find(|v| v["value"] == value).unwrap();
        assert_eq!(json!(sum), want["count"], "{value}");
        total += sum;
    }
    assert_eq!(series.len(), outcomes["values"].as_array().unwrap().len());
    assert_eq!(total, 310);

    // The table: a header naming the series, one row per bucket with the same counts.
    let run = tw(&data, &args).expect(0);
    let lines: Vec<Vec<&str>> = run.stdout.lines().map(|l| l.split_whitespace().collect()).collect();
    let names: Vec<&str> = series.iter().map(|s| s["value"].as_str().unwrap()).collect();
    assert_eq!(lines[0], [&["BUCKET", "(UTC)"][..], &names].concat());
    let buckets = series[0]["counts"].as_array().unwrap().len();
    assert_eq!(lines.len(), 1 + buckets);
    let busiest = (0..buckets)
        .max_by_key(|&b| series.iter().map(|s| s["counts"][b].as_u64().unwrap()).sum::<u64>())
        .unwrap();
    let row = &lines[1 + busiest];
    for (i, s) in series.iter().enumerate() {
        assert_eq!(row[2 + i], s["counts"][busiest].to_string(), "row {row:?}");
    }
}

#[test]
fn get_prints_the_record_or_exits_1() {
    let (_tmp, data, records) = ingested();
    let r = &records[42];
    let id = r["eventID"].as_str().unwrap();
    let v = json_out(&tw(&data, &["get", id]).expect(0));
    assert_eq!(v["id"], json!(id));
    assert_eq!(&v["record"], r);

    let run = tw(&data, &["get", "00000000-0000-0000-0000-000000000000"]).expect(1);
    assert!(
        run.stderr.contains("no event with id \"00000000-0000-0000-0000-000000000000\""),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty());
}

#[test]
fn a_missing_data_dir_is_explained() {
    let tmp = TempDir::new().unwrap();
    let data = tmp.path().join("nothing-here");
    for args in [&["search", "service:iam"][..], &["facets", "service"], &["get", "x"], &["stats"]] {
        let run = tw(&data, args).expect(2);
        assert!(
            run.stderr
                .contains(&format!("no events in {}: run `trailwatch ingest PATH` first", data.display())),
            "{args:?}: {}",
            run.stderr
        );
    }
    assert!(!data.exists(), "reading must not create the data directory");
}

#[test]
fn prune_deletes_older_events() {
    let tmp = TempDir::new().unwrap();
    let records = stratus();
    let logs = tmp.path().join("logs");
    write_log(&log_path(&logs, "old"), &records);
    // Five events from an hour ago.
    let recent_time =
        (chrono::Utc::now() - chrono::Duration::hours(1)).format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let recent: Vec<Value> = (0..5)
        .map(|i| {
            let mut r = records[i].clone();
            r["eventID"] = json!(format!("recent-{i}"));
            r["eventTime"] = json!(recent_time);
            r
        })
        .collect();
    write_log(&log_path(&logs, "recent"), &recent);
    let data = tmp.path().join("data");
    tw(&data, &["ingest", logs.to_str().unwrap()]).expect(0);

    let run = tw(&data, &["prune", "--older-than", "30d"]).expect(0);
    assert!(run.stderr.contains("deleted 310 events older than 30d"), "{}", run.stderr);
    let v = json_out(&tw(&data, &["search", "", "--format", "json", "--limit", "100"]).expect(0));
    assert_eq!(v["total"], json!(5));
    let mut ids: Vec<&str> =
        v["events"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap()).collect();
    ids.sort();
    assert_eq!(ids, ["recent-0", "recent-1", "recent-2", "recent-3", "recent-4"]);

    let run = tw(&data, &["prune", "--older-than", "30d"]).expect(0);
    assert!(run.stderr.contains("deleted 0 events"), "{}", run.stderr);
    let run = tw(&data, &["prune", "--older-than", "soon"]).expect(2);
    assert!(run.stderr.contains("bad duration \"soon\""), "{}", run.stderr);
}

#[test]
fn help_shows_examples_and_exit_codes() {
    let run = tw(Path::new("unused"), &["--help"]).expect(0);
    assert!(run.stdout.contains("Examples:\n  trailwatch demo"), "{}", run.stdout);
    assert!(run.stdout.contains("\n  trailwatch ingest ./AWSLogs"), "{}", run.stdout);
    assert!(run.stdout.contains("Exit codes: 0 success; 1"), "{}", run.stdout);
    for command in ["ingest", "search", "facets", "histogram", "get", "prune", "demo"] {
        assert!(run.stdout.contains(&format!("  {command}")), "{command} is not listed");
    }
    let run = tw(Path::new("unused"), &["ingest", "--help"]).expect(0);
    assert!(run.stdout.contains("Examples:\n  trailwatch ingest ./AWSLogs"), "{}", run.stdout);
    assert!(!run.stdout.contains("commit-every"), "the test-only option is hidden");
}
