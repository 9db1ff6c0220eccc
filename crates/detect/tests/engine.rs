//! The engine's methods on crafted streams: windows in event time, late and out-of-order
//! records, learning periods, sequences with changing keys, state saved and restored.

use serde_json::{json, Value};
use trailwatch_detect::engine::{Engine, EngineState};
use trailwatch_detect::load::parse_rule;
use trailwatch_detect::testing::test_events;
use trailwatch_detect::Firing;

fn rule(yaml: &str) -> trailwatch_detect::Rule {
    parse_rule("test.yml", yaml).unwrap_or_else(|e| panic!("{e}"))
}

fn run(engine: &mut Engine, records: &[Value]) -> Vec<Firing> {
    let events = test_events("t", "t", records).unwrap();
    let mut out = Vec::new();
    for e in &events {
        engine.observe(e, &mut out);
    }
    out
}

fn login(user: &str, ok: bool, at: &str) -> Value {
    json!({"eventSource": "signin.amazonaws.com", "eventName": "ConsoleLogin", "eventType": "AwsConsoleSignIn",
           "eventTime": at, "eventID": format!("{user}-{at}-{ok}"),
           "userIdentity": {"type": "IAMUser", "userName": user, "arn": format!("arn:aws:iam::111122223333:user/{user}")},
           "responseElements": {"ConsoleLogin": if ok { "Success" } else { "Failure" }}})
}

const BRUTE: &str = "
id: brute
name: brute force
description: d
severity: medium
query: action:ConsoleLogin @responseElements.ConsoleLogin:Failure
group_by: [actor.name]
detection: {method: threshold, window: 10m, count: 3}
";

#[test]
fn threshold_counts_in_event_time_per_group() {
    let mut e = Engine::new(vec![rule(BRUTE)]);
    // Two failures, one 20 minutes later: no window of 10 minutes holds three.
    let f =
        run(&mut e, &[login("bob", false, "+0m"), login("bob", false, "+1m"), login("bob", false, "+21m")]);
    assert!(f.is_empty());
    // Another user's failures do not count for bob.
    let f = run(&mut e, &[login("eve", false, "+22m"), login("eve", false, "+23m")]);
    assert!(f.is_empty());
    let f = run(&mut e, &[login("bob", false, "+25m"), login("bob", false, "+26m")]);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].group, "actor.name=bob");
    assert_eq!(f[0].event_ids.len(), 3);
    assert!(f[0].reason.contains("3 matches within 10m"), "{}", f[0].reason);
    // Counting starts again after a firing.
    let f = run(&mut e, &[login("bob", false, "+27m"), login("bob", false, "+28m")]);
    assert!(f.is_empty());
}

#[test]
fn threshold_counts_late_records_where_they_belong() {
    let mut e = Engine::new(vec![rule(BRUTE)]);
    // Arrival order: 12:05, 12:40, then a file 35 minutes late brings 12:03 and 12:07.
    let f = run(&mut e, &[login("bob", false, "+5m"), login("bob", false, "+40m")]);
    assert!(f.is_empty());
    let f = run(&mut e, &[login("bob", false, "+3m"), login("bob", false, "+7m")]);
    assert_eq!(f.len(), 1, "the late records complete the 12:03-12:07 window");
    assert_eq!(f[0].first_time + 4 * 60_000, f[0].last_time);
}

#[test]
fn distinct_threshold() {
    let r = rule(
        "id: spray\nname: n\ndescription: d\nseverity: low\nquery: action:ConsoleLogin\ngroup_by: [source_ip]\ndetection: {method: threshold, window: 5m, count: 3, distinct: actor.name}\n",
    );
    let mut e = Engine::new(vec![r]);
    let f = run(&mut e, &[login("a", false, "+0m"), login("a", false, "+1m"), login("b", false, "+2m")]);
    assert!(f.is_empty(), "two distinct users only");
    let f = run(&mut e, &[login("c", false, "+3m")]);
    assert_eq!(f.len(), 1);
    assert!(f[0].reason.starts_with("3 distinct actor.name"), "{}", f[0].reason);
}

const NEW_IP: &str = "
id: new-ip
name: n
description: d
severity: low
query: action:ConsoleLogin
group_by: [actor.name]
detection: {method: new_value, fields: [source_ip], learning: 1d}
";

fn login_from(user: &str, ip: &str, at: &str) -> Value {
    let mut v = login(user, true, at);
    v["sourceIPAddress"] = json!(ip);
    v["eventID"] = json!(format!("{user}-{ip}-{at}"));
    v
}

#[test]
fn new_value_learns_then_fires_once_per_value_and_group() {
    let mut e = Engine::new(vec![rule(NEW_IP)]);
    let f = run(&mut e, &[login_from("bob", "192.0.2.1", "+0m"), login_from("bob", "192.0.2.2", "+10h")]);
    assert!(f.is_empty(), "still learning");
    let f = run(
        &mut e,
        &[
            login_from("bob", "192.0.2.1", "+25h"),
            login_from("bob", "192.0.2.9", "+26h"),
            login_from("bob", "192.0.2.9", "+27h"),
            login_from("eve", "192.0.2.9", "+28h"),
        ],
    );
    let groups: Vec<&str> = f.iter().map(|f| f.group.as_str()).collect();
    assert_eq!(groups, ["actor.name=bob", "actor.name=eve"]);
    assert_eq!(f[0].reason, "first seen: source_ip=192.0.2.9");
}

#[test]
fn state_survives_a_restart() {
    let mut e = Engine::new(vec![rule(NEW_IP), rule(BRUTE)]);
    run(
        &mut e,
        &[login_from("bob", "192.0.2.1", "+0m"), login("bob", false, "+25h"), login("bob", false, "+25h")],
    );
    let saved: EngineState = serde_json::from_str(&serde_json::to_string(&e.snapshot()).unwrap()).unwrap();
    let mut fresh = Engine::new(vec![rule(NEW_IP), rule(BRUTE)]);
    fresh.restore(saved);
    let f = run(&mut fresh, &[login_from("bob", "192.0.2.1", "+26h"), login("bob", false, "+25h")]);
    let ids: Vec<&str> = f.iter().map(|f| f.rule_id.as_str()).collect();
    // The known address stays known; the third failure completes the saved window.
    assert_eq!(ids, ["brute"]);
    let f = run(&mut fresh, &[login_from("bob", "192.0.2.7", "+27h")]);
    assert_eq!(f.len(), 1, "learning ended before the restart");
}

const AFTER_FAILURES: &str = "
id: success-after-failures
name: n
description: d
severity: high
query: action:ConsoleLogin
group_by: [actor.name]
detection:
  method: sequence
  within: 30m
  steps:
    - {name: failures, query: '@responseElements.ConsoleLogin:Failure', count: 3}
    - {name: success, query: '@responseElements.ConsoleLogin:Success'}
";

#[test]
fn sequence_with_a_counted_step() {
    let mut e = Engine::new(vec![rule(AFTER_FAILURES)]);
    let f = run(&mut e, &[login("bob", false, "+0m"), login("bob", false, "+1m"), login("bob", true, "+2m")]);
    assert!(f.is_empty(), "two failures only");
    let f = run(&mut e, &[login("bob", false, "+3m"), login("bob", true, "+4m")]);
    // Failures at 0, 1 and 3 minutes, success at 4: the success at 2 minutes came too early.
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].event_ids.len(), 4);
    assert_eq!(f[0].reason, "failures then success within 4m");
    // The failures are spent: another success does not fire again.
    assert!(run(&mut e, &[login("bob", true, "+5m")]).is_empty());
}

#[test]
fn sequence_out_of_order_and_too_slow() {
    let mut e = Engine::new(vec![rule(AFTER_FAILURES)]);
    // The success arrives first; the failures come in a late file.
    let f = run(
        &mut e,
        &[
            login("bob", true, "+10m"),
            login("bob", false, "+7m"),
            login("bob", false, "+8m"),
            login("bob", false, "+9m"),
        ],
    );
    assert_eq!(f.len(), 1);
    // Too slow: 40 minutes from the first failure to the success.
    let mut e = Engine::new(vec![rule(AFTER_FAILURES)]);
    let f = run(
        &mut e,
        &[
            login("eve", false, "+0m"),
            login("eve", false, "+1m"),
            login("eve", false, "+2m"),
            login("eve", true, "+40m"),
        ],
    );
    // Failures at 0, 1, 2 and success at 40: the latest three failures start at 0.
    assert!(f.is_empty());
}

#[test]
fn sequence_with_changing_keys() {
    let r = rule(
        "
id: new-user-used
name: n
description: d
severity: high
query: '*'
detection:
  method: sequence
  within: 1h
  steps:
    - {query: action:CreateUser, key: ['@requestParameters.userName']}
    - {query: action:CreateAccessKey, key: ['@requestParameters.userName'], next_key: ['@responseElements.accessKey.accessKeyId']}
    - {query: '-action:CreateAccessKey', key: [actor.access_key]}
",
    );
    let create = json!({"eventSource": "iam.amazonaws.com", "eventName": "CreateUser", "eventID": "1", "eventTime": "+0m",
                        "requestParameters": {"userName": "backdoor"}});
    let key = json!({"eventSource": "iam.amazonaws.com", "eventName": "CreateAccessKey", "eventID": "2", "eventTime": "+1m",
                     "requestParameters": {"userName": "backdoor"},
                     "responseElements": {"accessKey": {"accessKeyId": "AKIANEWKEY", "userName": "backdoor"}}});
    let other_key = json!({"eventSource": "s3.amazonaws.com", "eventName": "ListBuckets", "eventID": "3", "eventTime": "+2m",
                           "userIdentity": {"type": "IAMUser", "userName": "x", "accessKeyId": "AKIAOTHER"}});
    let used = json!({"eventSource": "s3.amazonaws.com", "eventName": "ListBuckets", "eventID": "4", "eventTime": "+3m",
                      "userIdentity": {"type": "IAMUser", "userName": "backdoor", "accessKeyId": "AKIANEWKEY"}});
    let mut e = Engine::new(vec![r]);
    assert!(run(&mut e, &[create, key, other_key]).is_empty());
    let f = run(&mut e, &[used]);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].event_ids, ["1", "2", "4"]);
    assert_eq!(f[0].group, "@requestParameters.userName=backdoor");
}

#[test]
fn the_index_skips_rules_that_cannot_match() {
    let mut e = Engine::new(vec![rule(BRUTE), rule(AFTER_FAILURES)]);
    let other = json!({"eventSource": "s3.amazonaws.com", "eventName": "GetObject"});
    run(&mut e, &[other.clone(), other.clone(), other]);
    assert_eq!(e.stats().evaluations, 0);
    run(&mut e, &[login("bob", true, "+0m")]);
    assert_eq!(e.stats().evaluations, 3, "brute, and both steps of the sequence");
}
