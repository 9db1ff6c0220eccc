//! Notifications from the command line, to real receivers on loopback: signals raised while
//! ingesting reach a webhook signed, routed by severity; a receiver that keeps failing leaves
//! dead letters; resolving a signal sends a resolve; a bad config names its line.

mod common;
#[path = "../../notify/tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;
use support::{HttpReceiver, Reply};
use tempfile::TempDir;
use trailwatch_notify::webhook::verify_signature;
use trailwatch_notify::Secret;

fn stratus_logs(tmp: &Path) -> PathBuf {
    let logs = tmp.join("logs");
    for (i, part) in stratus().chunks(110).enumerate() {
        write_log(&log_path(&logs, &format!("part{i}")), part);
    }
    logs
}

fn config(tmp: &Path, url: &str, min: &str) -> PathBuf {
    let path = tmp.join("trailwatch.toml");
    std::fs::write(
        &path,
        format!(
            "[ui]\nurl = \"http://127.0.0.1:8080/\"\n\n[[notify.channels]]\nname = \"soc\"\ntype = \"webhook\"\nurl = \"{url}\"\nsecret_env = \"TW_TEST_WEBHOOK_SECRET\"\nmin_severity = \"{min}\"\nretries = 2\nretry_delay = \"10ms\"\n"
        ),
    )
    .unwrap();
    path
}

fn with_config(data: &Path, config: &Path, args: &[&str]) -> Run {
    let mut c = command(data, args);
    c.arg("--config").arg(config).env("TW_TEST_WEBHOOK_SECRET", "s3cret");
    Run::from(c.output().unwrap())
}

#[test]
fn signals_reach_a_webhook_signed_and_routed_by_severity() {
    let tmp = TempDir::new().unwrap();
    let logs = stratus_logs(tmp.path());
    let data = tmp.path().join("data");
    let hook = HttpReceiver::start(Reply::status(200));
    let cfg = config(tmp.path(), &hook.url("/hook"), "high");
    let run = with_config(&data, &cfg, &["ingest", logs.to_str().unwrap()]).expect(0);
    let signals: Vec<Value> = serde_json::from_str(
        &tw(&data, &["signals", "--format", "json", "--limit", "1000"]).expect(0).stdout,
    )
    .unwrap();
    let high = signals.iter().filter(|s| matches!(s["severity"].as_str(), Some("high" | "critical"))).count();
    assert!(high >= 10 && high < signals.len(), "{high} of {}", signals.len());
    let requests = hook.requests();
    assert_eq!(requests.len(), high, "one delivery per high signal; stderr:\n{}", run.stderr);
    assert!(run.stderr.contains(&format!("{high} deliveries, 0 dead letters")), "{}", run.stderr);
    for r in &requests {
        let sig = r.header("x-trailwatch-signature").expect("signed");
        assert!(verify_signature(&Secret::new("s3cret"), &r.body, sig), "signature verifies");
        let body = r.json();
        assert_eq!(body["version"], 1);
        assert_eq!(body["action"], "trigger");
        assert!(matches!(body["severity"].as_str(), Some("high" | "critical")));
        assert!(body["link"].as_str().unwrap().starts_with("http://127.0.0.1:8080/signals/"));
        assert!(!body["description"].as_str().unwrap().is_empty(), "the rule's description goes along");
    }
    assert!(requests.iter().any(|r| r.json()["rule_id"] == "cloudtrail-stop-logging"));

    // Resolving a notified signal sends a resolve with the same dedup key.
    let stop = signals.iter().find(|s| s["rule_id"] == "cloudtrail-stop-logging").unwrap();
    let id = stop["id"].as_str().unwrap();
    tw(&data, &["signals", "resolve", id, "--by", "bob"]).expect(0);
    with_config(&data, &cfg, &["notify", "flush"]).expect(0);
    let last = hook.requests().last().unwrap().json();
    assert_eq!(last["action"], "resolve");
    assert_eq!(last["dedup_key"], id);

    // Nothing is sent twice: a re-read raises nothing new, a flush finds nothing queued.
    let before = hook.requests().len();
    with_config(&data, &cfg, &["ingest", logs.to_str().unwrap(), "--force"]).expect(0);
    let run = with_config(&data, &cfg, &["notify", "flush"]).expect(0);
    assert!(run.stderr.contains("sent 0 notifications"), "{}", run.stderr);
    assert_eq!(hook.requests().len(), before);
}

#[test]
fn a_failing_receiver_leaves_dead_letters_and_test_reports_it() {
    let tmp = TempDir::new().unwrap();
    let logs = tmp.path().join("logs");
    let records = stratus();
    let stop: Vec<Value> = records
        .iter()
        .filter(|r| r["eventName"] == "StopLogging" || r["eventName"] == "DeleteTrail")
        .cloned()
        .collect();
    write_log(&log_path(&logs, "tamper"), &stop);
    let data = tmp.path().join("data");
    let hook = HttpReceiver::start(Reply::status(500));
    let cfg = config(tmp.path(), &hook.url("/hook"), "info");
    let run = with_config(&data, &cfg, &["ingest", logs.to_str().unwrap()]).expect(0);
    assert!(run.stderr.contains("2 notifications, 2 deliveries, 2 dead letters"), "{}", run.stderr);
    assert_eq!(hook.requests().len(), 6, "three attempts for each of the two signals");
    let dead: Vec<Value> =
        serde_json::from_str(&tw(&data, &["notify", "dead-letters", "--format", "json"]).expect(0).stdout)
            .unwrap();
    assert_eq!(dead.len(), 2);
    assert_eq!(dead[0]["channel"], "soc");
    assert_eq!(dead[0]["attempts"], 3);
    assert!(dead[0]["last_error"].as_str().unwrap().contains("500"), "{:?}", dead[0]);
    let run = with_config(&data, &cfg, &["notify", "test"]).expect(1);
    assert!(run.stdout.contains("soc: FAILED after 3 attempt(s)"), "{}", run.stdout);
    hook.script([Reply::status(200)]);
    let run = with_config(&data, &cfg, &["notify", "test"]).expect(0);
    assert!(run.stdout.contains("soc: ok (1 attempt(s))"), "{}", run.stdout);
}

#[test]
fn bad_configs_name_the_file_and_line() {
    let tmp = TempDir::new().unwrap();
    let data = tmp.path().join("data");
    let cfg = tmp.path().join("bad.toml");
    std::fs::write(&cfg, "[ui]\nurl = \"http://x\"\ncolour = \"red\"\n").unwrap();
    let run = with_config(&data, &cfg, &["notify", "test"]).expect(2);
    assert!(run.stderr.contains("bad.toml:3: unknown field `colour`"), "{}", run.stderr);
    std::fs::write(&cfg, "[[notify.channels]]\nname = \"x\"\ntype = \"webhook\"\nurl = \"http://127.0.0.1:9/\"\nsecret_env = \"TW_NOT_SET_ANYWHERE\"\n").unwrap();
    let run = tw(&data, &["--config", cfg.to_str().unwrap(), "notify", "test"]).expect(2);
    assert!(run.stderr.contains("[notify]") && run.stderr.contains("TW_NOT_SET_ANYWHERE"), "{}", run.stderr);
}
