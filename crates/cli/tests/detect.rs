//! Detection from the command line: `hunt` on a folder, signals raised while ingesting (once,
//! however often the files are read), their status, rule state across runs, `rules test`,
//! `rules replay`, and rule files with errors.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use common::*;
use serde_json::{json, Value};
use tempfile::TempDir;

fn stratus_logs(tmp: &Path) -> PathBuf {
    let logs = tmp.join("logs");
    for (i, part) in stratus().chunks(110).enumerate() {
        write_log(&log_path(&logs, &format!("part{i}")), part);
    }
    logs
}

fn json_out(run: &Run) -> Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", run.stdout, run.stderr))
}

fn rule_ids(signals: &Value) -> BTreeSet<String> {
    signals.as_array().unwrap().iter().map(|s| s["rule_id"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn hunt_finds_the_attacks_in_a_folder_and_stores_nothing() {
    let tmp = TempDir::new().unwrap();
    let logs = stratus_logs(tmp.path());
    let data = tmp.path().join("data");
    let run = tw(&data, &["hunt", logs.to_str().unwrap(), "--format", "json"]).expect(0);
    let signals = json_out(&run);
    let ids = rule_ids(&signals);
    for expected in
        ["cloudtrail-stop-logging", "cloudtrail-delete-trail", "organizations-leave", "ebs-snapshot-shared"]
    {
        assert!(ids.contains(expected), "{expected} not raised: {ids:?}");
    }
    assert!(run.stderr.contains("hunted 310 events from 3 files"), "{}", run.stderr);
    assert!(!data.exists(), "hunt stores nothing");
    // Severity filters and exit codes for scripts.
    tw(&data, &["hunt", logs.to_str().unwrap(), "--fail-on", "high"]).expect(1);
    let run =
        tw(&data, &["hunt", logs.to_str().unwrap(), "--min-severity", "high", "--format", "json"]).expect(0);
    assert!(json_out(&run)
        .as_array()
        .unwrap()
        .iter()
        .all(|s| matches!(s["severity"].as_str(), Some("high" | "critical"))));
    let run = tw(&data, &["hunt", logs.to_str().unwrap(), "--fail-on", "urgent"]).expect(2);
    assert!(run.stderr.contains("bad severity \"urgent\""), "{}", run.stderr);
}

#[test]
fn ingest_raises_signals_once_and_their_status_changes() {
    let tmp = TempDir::new().unwrap();
    let logs = stratus_logs(tmp.path());
    let data = tmp.path().join("data");
    let run = tw(&data, &["ingest", logs.to_str().unwrap()]).expect(0);
    assert!(
        run.stderr.contains("signal: [HIGH] ") && run.stderr.contains(" new signals, "),
        "{}",
        run.stderr
    );
    let first = json_out(&tw(&data, &["signals", "--format", "json", "--limit", "1000"]).expect(0));
    let n = first.as_array().unwrap().len();
    assert!(n >= 35, "only {n} signals");
    assert!(first.as_array().unwrap().iter().all(|s| s["status"] == "open" && s["dry_run"] == false));

    // Read again: the events are duplicates, so detection does not see them twice.
    tw(&data, &["ingest", logs.to_str().unwrap(), "--force"]).expect(0);
    let again = json_out(&tw(&data, &["signals", "--format", "json", "--limit", "1000"]).expect(0));
    assert_eq!(first, again);

    let stop = first.as_array().unwrap().iter().find(|s| s["rule_id"] == "cloudtrail-stop-logging").unwrap();
    let id = stop["id"].as_str().unwrap();
    let shown = tw(&data, &["signals", "show", id]).expect(0);
    assert!(
        shown.stdout.contains("[HIGH] CloudTrail logging stopped") && shown.stdout.contains("Runbook:"),
        "{}",
        shown.stdout
    );
    assert!(
        shown.stdout.contains("Events (1 of 1 sampled ids still stored)")
            && shown.stdout.contains("cloudtrail:StopLogging"),
        "{}",
        shown.stdout
    );
    let detail = json_out(&tw(&data, &["signals", "show", id, "--format", "json"]).expect(0));
    assert_eq!(detail["events"][0]["action"], "StopLogging");
    assert_eq!(detail["rule"]["id"], "cloudtrail-stop-logging");
    let run = tw(&data, &["signals", "ack", id, "--by", "alice"]).expect(0);
    assert!(run.stderr.contains("open -> acknowledged by alice"), "{}", run.stderr);
    let acked = json_out(&tw(&data, &["signals", "--status", "acknowledged", "--format", "json"]).expect(0));
    assert_eq!(acked.as_array().unwrap().len(), 1);
    assert_eq!(acked[0]["status_by"], "alice");
    assert!(acked[0]["status_at"].as_i64().unwrap() > 0);
    tw(&data, &["signals", "resolve", id]).expect(0);
    let open = json_out(
        &tw(&data, &["signals", "--status", "open", "--format", "json", "--limit", "1000"]).expect(0),
    );
    assert_eq!(open.as_array().unwrap().len(), n - 1);
    let run = tw(&data, &["signals", "ack", "no-such-signal"]).expect(2);
    assert!(run.stderr.contains("no signal \"no-such-signal\""), "{}", run.stderr);
    let high = json_out(
        &tw(&data, &["signals", "--min-severity", "high", "--format", "json", "--limit", "1000"]).expect(0),
    );
    assert!(high.as_array().unwrap().len() < n);
}

fn call(id: &str, at: &str) -> Value {
    json!({"eventVersion": "1.08", "eventID": id, "eventTime": at, "eventSource": "s3.amazonaws.com",
           "eventName": "DeleteBucket", "awsRegion": "us-east-1", "recipientAccountId": ACCOUNT,
           "sourceIPAddress": "198.51.100.7", "eventType": "AwsApiCall",
           "userIdentity": {"type": "IAMUser", "userName": "bob", "arn": format!("arn:aws:iam::{ACCOUNT}:user/bob")},
           "requestParameters": {"bucketName": id}})
}

const THREE_DELETES: &str = "id: three-deletes
name: three bucket deletions
description: three DeleteBucket by one user within an hour
severity: medium
query: action:DeleteBucket
group_by: [actor.name]
detection: {method: threshold, window: 1h, count: 3}
";

#[test]
fn rule_state_carries_over_between_runs_and_dry_run_notifies_nobody() {
    let tmp = TempDir::new().unwrap();
    let rules = tmp.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(rules.join("three.yml"), THREE_DELETES).unwrap();
    let data = tmp.path().join("data");
    let logs = tmp.path().join("logs");
    let rule_args = ["--rules", rules.to_str().unwrap(), "--no-builtin"];
    write_log(
        &log_path(&logs, "a"),
        &[call("d1", "2024-08-01T10:00:00Z"), call("d2", "2024-08-01T10:10:00Z")],
    );
    let mut args = vec!["ingest", logs.to_str().unwrap()];
    args.extend(rule_args);
    tw(&data, &args).expect(0);
    let none = json_out(&tw(&data, &["signals", "--format", "json"]).expect(0));
    assert_eq!(none.as_array().unwrap().len(), 0);
    // A later file, in a later run: the third deletion completes the window kept in the state.
    write_log(&log_path(&logs, "b"), &[call("d3", "2024-08-01T10:20:00Z")]);
    let mut args = vec!["ingest", logs.to_str().unwrap(), "--dry-run"];
    args.extend(rule_args);
    let run = tw(&data, &args).expect(0);
    assert!(run.stderr.contains("1 new signals, 0 notifications (dry run: none sent)"), "{}", run.stderr);
    let one = json_out(&tw(&data, &["signals", "--format", "json"]).expect(0));
    assert_eq!(one.as_array().unwrap().len(), 1);
    assert_eq!(one[0]["rule_id"], "three-deletes");
    assert_eq!(one[0]["group"], "actor.name=bob");
    assert_eq!(one[0]["dry_run"], true);
    assert_eq!(one[0]["sample_event_ids"], json!(["d1", "d2", "d3"]));

    // A rule in dry run records without notifying, whatever the command line says.
    std::fs::write(
        rules.join("three.yml"),
        format!("{THREE_DELETES}dry_run: true\n").replace("id: three-deletes", "id: three-deletes-trial"),
    )
    .unwrap();
    write_log(
        &log_path(&logs, "c"),
        &[
            call("d4", "2024-08-02T10:00:00Z"),
            call("d5", "2024-08-02T10:01:00Z"),
            call("d6", "2024-08-02T10:02:00Z"),
        ],
    );
    let mut args = vec!["ingest", logs.to_str().unwrap()];
    args.extend(rule_args);
    tw(&data, &args).expect(0);
    let trial =
        json_out(&tw(&data, &["signals", "--rule", "three-deletes-trial", "--format", "json"]).expect(0));
    assert_eq!(trial.as_array().unwrap().len(), 1);
    assert_eq!(trial[0]["dry_run"], true);
    assert_eq!(trial[0]["notified_at"], Value::Null);
}

#[test]
fn rules_list_test_show_and_bad_rule_files() {
    let tmp = TempDir::new().unwrap();
    let data = tmp.path().join("data");
    let run = tw(&data, &["rules", "test"]).expect(0);
    assert!(
        run.stdout.contains(" failed, 0 rule files not loaded")
            && run.stdout.contains("tests passed, 0 failed"),
        "{}",
        run.stdout
    );
    let list = json_out(&tw(&data, &["rules", "list", "--format", "json"]).expect(0));
    assert!(list.as_array().unwrap().len() >= 60);
    let show = json_out(&tw(&data, &["rules", "show", "cloudtrail-stop-logging"]).expect(0));
    assert_eq!(show["severity"], "high");

    let rules = tmp.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(rules.join("good.yml"), THREE_DELETES).unwrap();
    std::fs::write(
        rules.join("bad-query.yml"),
        THREE_DELETES
            .replace("three-deletes", "bad")
            .replace("action:DeleteBucket", "'action:(DeleteBucket'"),
    )
    .unwrap();
    std::fs::write(
        rules.join("failing-test.yml"),
        format!("{}tests:\n  - name: one deletion is enough\n    fires: true\n    records:\n      - {{eventSource: s3.amazonaws.com, eventName: DeleteBucket}}\n", THREE_DELETES.replace("three-deletes", "failing")),
    )
    .unwrap();
    let run = tw(&data, &["rules", "test", "--rules", rules.to_str().unwrap(), "--no-builtin"]).expect(1);
    assert!(run.stderr.contains("bad-query.yml:5: bad query"), "{}", run.stderr);
    assert!(
        run.stdout.contains("FAIL failing / one deletion is enough: expected the rule to fire; it did not"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("2 rules, 0 tests passed, 1 failed, 1 rule files not loaded"),
        "{}",
        run.stdout
    );
    // The good rules still run where the bad one is left out.
    let logs = tmp.path().join("logs");
    write_log(&log_path(&logs, "a"), &[call("x1", "2024-08-01T10:00:00Z")]);
    let run =
        tw(&data, &["hunt", logs.to_str().unwrap(), "--rules", rules.to_str().unwrap(), "--no-builtin"])
            .expect(0);
    assert!(run.stderr.contains("rule not loaded:") && run.stderr.contains("with 2 rules"), "{}", run.stderr);
}

#[test]
fn replay_runs_rules_over_stored_history() {
    let tmp = TempDir::new().unwrap();
    let logs = stratus_logs(tmp.path());
    let data = tmp.path().join("data");
    tw(&data, &["ingest", logs.to_str().unwrap(), "--no-detect"]).expect(0);
    let none = json_out(&tw(&data, &["signals", "--format", "json"]).expect(0));
    assert_eq!(none.as_array().unwrap().len(), 0, "--no-detect raises nothing");
    let one =
        json_out(&tw(&data, &["rules", "replay", "cloudtrail-stop-logging", "--format", "json"]).expect(0));
    assert_eq!(rule_ids(&one), BTreeSet::from(["cloudtrail-stop-logging".to_owned()]));
    let run = tw(&data, &["rules", "replay", "all", "--format", "json"]).expect(0);
    assert!(run.stderr.contains("replayed 310 events"), "{}", run.stderr);
    let replayed = rule_ids(&json_out(&run));
    let hunted =
        rule_ids(&json_out(&tw(&data, &["hunt", logs.to_str().unwrap(), "--format", "json"]).expect(0)));
    assert_eq!(replayed, hunted, "the same rules fire over stored events as over the files");
    // A time range that holds none of the events.
    let run = tw(&data, &["rules", "replay", "all", "--from", "2020-01-01", "--to", "2020-02-01"]).expect(0);
    assert!(run.stderr.contains("replayed 0 events: 0 signals"), "{}", run.stderr);
    // Replay stores nothing.
    let none = json_out(&tw(&data, &["signals", "--format", "json"]).expect(0));
    assert_eq!(none.as_array().unwrap().len(), 0);
    tw(&data, &["rules", "replay", "no-such-rule"]).expect(2);
}

#[test]
fn impossible_travel_needs_and_uses_geo_data_from_the_config() {
    let tmp = TempDir::new().unwrap();
    let geo = tmp.path().join("GeoLite2-City-Blocks-IPv4.csv");
    std::fs::write(
        &geo,
        "network,geoname_id,registered_country_geoname_id,represented_country_geoname_id,is_anonymous_proxy,is_satellite_provider,postal_code,latitude,longitude,accuracy_radius\n\
         203.0.113.0/24,2988507,3017382,,0,0,75001,48.8534,2.3488,20\n\
         198.51.100.0/24,1850147,1861060,,0,0,,35.6895,139.6917,50\n",
    )
    .unwrap();
    let cfg = tmp.path().join("trailwatch.toml");
    std::fs::write(&cfg, "[detect]\ngeoip = [\"GeoLite2-City-Blocks-IPv4.csv\"]\n").unwrap();
    let login = |id: &str, ip: &str, at: &str| {
        json!({"eventVersion": "1.08", "eventID": id, "eventTime": at, "eventSource": "signin.amazonaws.com",
               "eventName": "ConsoleLogin", "eventType": "AwsConsoleSignIn", "awsRegion": "us-east-1",
               "recipientAccountId": ACCOUNT, "sourceIPAddress": ip,
               "userIdentity": {"type": "IAMUser", "userName": "bob", "arn": format!("arn:aws:iam::{ACCOUNT}:user/bob")},
               "responseElements": {"ConsoleLogin": "Success"}})
    };
    let logs = tmp.path().join("logs");
    write_log(
        &log_path(&logs, "a"),
        &[
            login("l1", "203.0.113.5", "2024-08-01T10:00:00Z"),
            login("l2", "198.51.100.9", "2024-08-01T12:00:00Z"),
        ],
    );
    let data = tmp.path().join("data");
    let travel = |run: &Run| {
        json_out(run)
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["rule_id"] == "console-login-impossible-travel")
            .cloned()
    };
    let without = tw(&data, &["hunt", logs.to_str().unwrap(), "--format", "json"]).expect(0);
    assert!(travel(&without).is_none(), "no geo data, no travel signal");
    let run =
        tw(&data, &["--config", cfg.to_str().unwrap(), "hunt", logs.to_str().unwrap(), "--format", "json"])
            .expect(0);
    let s = travel(&run).expect("Paris then Tokyo in two hours");
    assert!(
        s["reason"]
            .as_str()
            .unwrap()
            .contains("203.0.113.5 (48.85,2.35) then 198.51.100.9 (35.69,139.69): 9713 km in 120 min"),
        "{s}"
    );
    assert_eq!(s["sample_event_ids"], json!(["l1", "l2"]));
    std::fs::write(&geo, "network,latitude\n").unwrap();
    let run = tw(&data, &["--config", cfg.to_str().unwrap(), "hunt", logs.to_str().unwrap()]).expect(2);
    assert!(run.stderr.contains("GeoLite2-City-Blocks-IPv4.csv:1: no `longitude` column"), "{}", run.stderr);
}
