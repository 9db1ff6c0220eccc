//! Running a rule's inline tests: the records each test gives, completed with defaults, go
//! through a fresh engine holding only that rule, and the firings are counted.

use serde_json::{json, Map, Value};
use trailwatch_cloudtrail::{normalize, Event, RecordContext};

use crate::engine::{Engine, Firing};
use crate::rule::{Expect, Rule};

/// Test records without an `eventTime` are this far apart, from [`BASE_TIME`].
const STEP_MS: i64 = 1_000;
/// 2024-03-01T12:00:00Z.
pub const BASE_TIME: i64 = 1_709_294_400_000;

#[derive(Debug, Clone)]
pub struct TestResult {
    pub rule_id: String,
    pub test: String,
    pub passed: bool,
    pub firings: usize,
    /// What went wrong, when it did.
    pub message: Option<String>,
}

/// Runs every inline test of `rule`.
pub fn run_tests(rule: &Rule) -> Vec<TestResult> {
    rule.tests
        .iter()
        .map(|t| {
            let result = |passed: bool, firings: usize, message: Option<String>| TestResult {
                rule_id: rule.id.clone(),
                test: t.name.clone(),
                passed,
                firings,
                message,
            };
            let events = match test_events(&rule.id, &t.name, &t.records) {
                Ok(e) => e,
                Err(m) => return result(false, 0, Some(m)),
            };
            let firings = fire_with(rule, &events, t.geo.clone()).len();
            let passed = match t.expect {
                Expect::AtLeastOne => firings > 0,
                Expect::None => firings == 0,
                Expect::Exactly(n) => firings == n,
            };
            let message = (!passed).then(|| match t.expect {
                Expect::AtLeastOne => "expected the rule to fire; it did not".to_owned(),
                Expect::None => format!("expected no firing; it fired {firings} time(s)"),
                Expect::Exactly(n) => format!("expected {n} firing(s); it fired {firings} time(s)"),
            });
            result(passed, firings, message)
        })
        .collect()
}

/// The firings of `rule` (enabled or not) over `events`, in order.
pub fn fire(rule: &Rule, events: &[Event]) -> Vec<Firing> {
    fire_with(rule, events, None)
}

fn fire_with(rule: &Rule, events: &[Event], geo: Option<crate::geo::GeoDb>) -> Vec<Firing> {
    let mut rule = rule.clone();
    rule.enabled = true;
    let mut engine = Engine::new(vec![rule]);
    if let Some(g) = geo {
        engine = engine.with_geo(std::sync::Arc::new(g));
    }
    let mut out = Vec::new();
    for e in events {
        engine.observe(e, &mut out);
    }
    out
}

/// The events of a test's records, with defaults filled in.
pub fn test_events(rule: &str, test: &str, records: &[Value]) -> Result<Vec<Event>, String> {
    records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let Value::Object(map) = r else {
                return Err(format!("record {} is not a mapping", i + 1));
            };
            let raw = Value::Object(complete(map.clone(), rule, test, i)?);
            let bytes = serde_json::to_vec(&raw).expect("values serialize");
            normalize(bytes, &RecordContext::default()).map_err(|e| format!("record {}: {e}", i + 1))
        })
        .collect()
}

/// Fills what a test record leaves out so tests stay short: time (`+10m` is relative to the
/// base time), id, account, region, type, caller and address.
fn complete(
    mut map: Map<String, Value>,
    rule: &str,
    test: &str,
    i: usize,
) -> Result<Map<String, Value>, String> {
    let time = match map.get("eventTime") {
        None => BASE_TIME + i as i64 * STEP_MS,
        Some(Value::String(s)) if s.starts_with('+') => {
            let offset = &s[1..];
            let zero = offset.trim_end_matches(|c: char| c.is_ascii_alphabetic()).bytes().all(|b| b == b'0');
            let ms = if zero && !offset.is_empty() {
                0
            } else {
                crate::duration::parse_duration(offset).map_err(|e| format!("record {}: {e}", i + 1))?
            };
            BASE_TIME + ms
        }
        Some(_) => i64::MIN,
    };
    if time != i64::MIN {
        let t = chrono_like(time);
        map.insert("eventTime".into(), Value::String(t));
    }
    let defaults = [
        ("eventVersion", json!("1.08")),
        ("eventID", json!(format!("test-{rule}-{}-{i}", test.replace(' ', "-")))),
        ("recipientAccountId", json!("111122223333")),
        ("awsRegion", json!("us-east-1")),
        ("eventType", json!("AwsApiCall")),
        ("sourceIPAddress", json!("198.51.100.7")),
        ("userAgent", json!("aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64")),
        (
            "userIdentity",
            json!({"type": "IAMUser", "principalId": "AIDAEXAMPLEALICE", "userName": "alice",
                   "arn": "arn:aws:iam::111122223333:user/alice", "accountId": "111122223333",
                   "accessKeyId": "AKIAEXAMPLEALICE"}),
        ),
    ];
    for (k, v) in defaults {
        map.entry(k).or_insert(v);
    }
    Ok(map)
}

/// `YYYY-MM-DDTHH:MM:SSZ` for milliseconds since the epoch (whole seconds).
fn chrono_like(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    #[test]
    fn times() {
        assert_eq!(super::chrono_like(super::BASE_TIME), "2024-03-01T12:00:00Z");
        assert_eq!(super::chrono_like(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::chrono_like(951_782_400_000), "2000-02-29T00:00:00Z");
    }
}
