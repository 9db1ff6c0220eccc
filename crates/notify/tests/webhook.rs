//! The webhook channel against a real HTTP receiver on loopback: schema, signature, retries,
//! permanent failures, dead letters and redelivery.

mod support;

use std::time::{Duration, Instant};

use support::{closed_port, notification, notifier, HttpReceiver, Reply};
use trailwatch_notify::webhook::verify_signature;
use trailwatch_notify::{Notification, Secret, Severity, WebhookPayload, SCHEMA_VERSION, USER_AGENT};

const SECRET: &str = "hmac-secret-do-not-log";

fn webhook_config(url: &str, retries: u32) -> String {
    format!(
        r#"
[[notify.channels]]
name = "soc"
type = "webhook"
url = "{url}"
secret_env = "HOOK_SECRET"
retries = {retries}
retry_delay = "5ms"
retry_max_delay = "50ms"
timeout = "2s"
"#
    )
}

#[test]
fn body_schema_headers_and_signature() {
    let receiver = HttpReceiver::start(Reply::status(200));
    let notifier = notifier(&webhook_config(&receiver.url("/hook"), 0), &[("HOOK_SECRET", SECRET)]);
    let n = notification();
    let deliveries = notifier.send(&n);
    assert_eq!(deliveries.len(), 1);
    let d = &deliveries[0];
    assert!(d.ok, "{d:?}");
    assert_eq!(
        (d.channel.as_str(), d.attempts, d.status, d.dead_letter.is_none()),
        ("soc", 1, Some(200), true)
    );

    let [request] = receiver.requests().try_into().expect("one request");
    assert_eq!((request.method.as_str(), request.path.as_str()), ("POST", "/hook"));
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("user-agent"), Some(USER_AGENT));
    assert!(USER_AGENT.starts_with("trailwatch/"));
    let signature = request.header("x-trailwatch-signature").expect("signed");
    assert!(signature.starts_with("sha256=") && signature.len() == 7 + 64, "{signature}");
    assert!(verify_signature(&Secret::new(SECRET), &request.body, signature));
    assert!(!verify_signature(&Secret::new("wrong"), &request.body, signature));

    let body = request.json();
    assert_eq!(body["version"], SCHEMA_VERSION);
    assert_eq!(body["action"], "trigger");
    assert_eq!(body["dedup_key"], n.dedup_key);
    assert_eq!(body["rule_id"], "aws-cloudtrail-stopped");
    assert_eq!(body["rule_name"], "CloudTrail logging stopped");
    assert_eq!(body["severity"], "high");
    assert_eq!(body["mitre"][0], "T1562.008");
    assert_eq!(body["tags"][1], "defense-evasion");
    assert_eq!(body["group"], n.group);
    assert_eq!(body["title"], n.title);
    assert_eq!(body["count"], 3);
    assert_eq!(body["first_seen_ms"], n.first_seen_ms);
    assert_eq!(body["first_seen"], "2025-11-05T10:00:00.000Z");
    assert_eq!(body["last_seen"], "2025-11-05T10:05:00.000Z");
    assert_eq!(body["link"], n.link.clone().unwrap());
    assert_eq!(body["sample_event_ids"][0], n.sample_event_ids[0]);
    let delivery_id = request.header("x-trailwatch-delivery").unwrap();
    assert_eq!(body["delivery_id"], delivery_id);
    assert_eq!(delivery_id.len(), 32);
    let timestamp: i64 = request.header("x-trailwatch-timestamp").unwrap().parse().unwrap();
    assert_eq!(body["sent_at"], timestamp);
    assert!((chrono::Utc::now().timestamp() - timestamp).abs() < 60);

    // The documented schema reads back into the notification it came from.
    let payload: WebhookPayload = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(payload.notification, n);
}

#[test]
fn unsigned_without_a_secret() {
    let receiver = HttpReceiver::start(Reply::status(204));
    let config = format!(
        "[[notify.channels]]\nname = \"plain\"\ntype = \"webhook\"\nurl = \"{}\"\n",
        receiver.url("/")
    );
    let d = &notifier(&config, &[]).send(&notification())[0];
    assert!(d.ok && d.status == Some(204), "{d:?}");
    assert!(receiver.requests()[0].header("x-trailwatch-signature").is_none());
}

#[test]
fn retries_on_500_until_the_receiver_recovers() {
    let receiver = HttpReceiver::start(Reply::status(200));
    receiver.script([Reply::status(500), Reply::status(503).body("busy"), Reply::status(502)]);
    let notifier = notifier(&webhook_config(&receiver.url("/hook"), 4), &[("HOOK_SECRET", SECRET)]);
    let d = &notifier.send(&notification())[0];
    assert!(d.ok, "{d:?}");
    assert_eq!((d.attempts, d.status), (4, Some(200)));
    let requests = receiver.requests();
    assert_eq!(requests.len(), 4);
    // A retry is the same delivery: same bytes, same id, still a valid signature.
    for r in &requests {
        assert_eq!(r.body, requests[0].body);
        assert_eq!(r.header("x-trailwatch-delivery"), requests[0].header("x-trailwatch-delivery"));
        assert!(verify_signature(&Secret::new(SECRET), &r.body, r.header("x-trailwatch-signature").unwrap()));
    }
}

#[test]
fn bad_request_is_not_retried_and_becomes_a_dead_letter() {
    let receiver = HttpReceiver::start(Reply::status(400).body("missing field foo"));
    let notifier = notifier(&webhook_config(&receiver.url("/hook"), 4), &[("HOOK_SECRET", SECRET)]);
    let n = notification();
    let d = &notifier.send(&n)[0];
    assert!(!d.ok);
    assert_eq!((d.attempts, d.status), (1, Some(400)));
    assert_eq!(receiver.requests().len(), 1);
    assert_eq!(d.error.as_deref(), Some("http 400: missing field foo"));
    let dead = d.dead_letter.as_ref().expect("a permanent failure is a dead letter too");
    assert_eq!((dead.channel.as_str(), dead.attempts, dead.status), ("soc", 1, Some(400)));
}

#[test]
fn all_attempts_failing_yields_a_dead_letter_that_redelivers() {
    let receiver = HttpReceiver::start(Reply::status(200));
    receiver.script(std::iter::repeat_n(Reply::status(500).body("down"), 3));
    let notifier = notifier(&webhook_config(&receiver.url("/hook"), 2), &[("HOOK_SECRET", SECRET)]);
    let n = notification();
    let d = &notifier.send(&n)[0];
    assert!(!d.ok);
    assert_eq!((d.attempts, d.status), (3, Some(500)));
    assert_eq!(receiver.requests().len(), 3);
    let dead = d.dead_letter.clone().expect("dead letter");
    assert_eq!((dead.attempts, dead.last_error.as_str()), (3, "http 500: down"));
    assert!((chrono::Utc::now().timestamp_millis() - dead.failed_at_ms).abs() < 60_000);

    // It survives a round trip through storage, and holds the notification, not the wire body.
    let stored = serde_json::to_string(&dead).unwrap();
    assert!(!stored.contains(SECRET));
    let dead: trailwatch_notify::DeadLetter = serde_json::from_str(&stored).unwrap();
    assert_eq!(dead.notification().unwrap(), n);

    // The receiver is back: redelivery works and is a new delivery (new id).
    let again = notifier.redeliver(&dead).unwrap();
    assert!(again.ok && again.attempts == 1, "{again:?}");
    let requests = receiver.requests();
    assert_eq!(requests.len(), 4);
    assert_ne!(requests[3].header("x-trailwatch-delivery"), requests[0].header("x-trailwatch-delivery"));

    let mut unknown = dead.clone();
    unknown.channel = "gone".into();
    assert!(notifier.redeliver(&unknown).unwrap_err().to_string().contains("\"gone\""));
}

#[test]
fn connection_refused_is_retried() {
    let url = format!("http://127.0.0.1:{}/hook", closed_port());
    let notifier = notifier(&webhook_config(&url, 2), &[("HOOK_SECRET", SECRET)]);
    let d = &notifier.send(&notification())[0];
    assert!(!d.ok);
    assert_eq!((d.attempts, d.status), (3, None));
    assert!(d.dead_letter.is_some());
    assert!(!d.error.as_deref().unwrap().is_empty());
}

#[test]
fn timeout_is_retried() {
    let receiver = HttpReceiver::start(Reply::status(200));
    receiver.script([Reply::status(200).delay(Duration::from_millis(1500))]);
    let config = webhook_config(&receiver.url("/hook"), 1).replace("timeout = \"2s\"", "timeout = \"300ms\"");
    let d = &notifier(&config, &[("HOOK_SECRET", SECRET)]).send(&notification())[0];
    assert!(d.ok, "{d:?}");
    assert_eq!(d.attempts, 2);
}

#[test]
fn retry_after_is_honoured_and_capped() {
    let receiver = HttpReceiver::start(Reply::status(200));
    receiver.script([
        Reply::status(429).header("Retry-After", "1"),
        Reply::status(429).header("Retry-After", "3600"),
    ]);
    let config = webhook_config(&receiver.url("/hook"), 3)
        .replace("retry_max_delay = \"50ms\"", "retry_max_delay = \"1s\"");
    let notifier = notifier(&config, &[("HOOK_SECRET", SECRET)]);
    let start = Instant::now();
    let d = &notifier.send(&notification())[0];
    let took = start.elapsed();
    assert!(d.ok && d.attempts == 3, "{d:?}");
    // 1 s as asked, then 3600 s capped to retry_max_delay = 1 s.
    assert!(took >= Duration::from_millis(1900) && took < Duration::from_secs(10), "{took:?}");
}

#[test]
fn secrets_stay_out_of_debug_output_and_errors() {
    let receiver = HttpReceiver::start(Reply::status(401).body(&format!("bad signature with key {SECRET}")));
    let notifier = notifier(&webhook_config(&receiver.url("/hook"), 0), &[("HOOK_SECRET", SECRET)]);
    let debug = format!("{notifier:?}");
    assert!(debug.contains("\"soc\""), "{debug}");
    assert!(!debug.contains(SECRET), "{debug}");
    let d = &notifier.send(&notification())[0];
    let shown = format!("{d:?} {}", serde_json::to_string(d).unwrap());
    assert!(!shown.contains(SECRET), "{shown}");
    assert_eq!(d.error.as_deref(), Some("http 401: bad signature with key ***"));
}

#[test]
fn routing_picks_channels_and_sends_in_parallel() {
    let (a, b, c) = (
        HttpReceiver::start(Reply::status(200)),
        HttpReceiver::start(Reply::status(200)),
        HttpReceiver::start(Reply::status(200)),
    );
    // `a` is slow to recover; `b` must not wait for it.
    a.script([Reply::status(500), Reply::status(500)]);
    let config = format!(
        r#"
[[notify.channels]]
name = "all"
type = "webhook"
url = "{}"
retry_delay = "300ms"
retry_max_delay = "300ms"

[[notify.channels]]
name = "high-cloudtrail"
type = "webhook"
url = "{}"
min_severity = "high"
tags = ["cloudtrail"]
rules = ["aws-*"]

[[notify.channels]]
name = "critical"
type = "webhook"
url = "{}"
min_severity = "critical"
"#,
        a.url("/"),
        b.url("/"),
        c.url("/")
    );
    let notifier = notifier(&config, &[]);
    let n = notification();
    let names = |n: &Notification| notifier.route(n).iter().map(|c| c.name().to_string()).collect::<Vec<_>>();
    assert_eq!(names(&n), ["all", "high-cloudtrail"]);
    assert_eq!(
        names(&Notification { severity: Severity::Critical, ..n.clone() }),
        ["all", "high-cloudtrail", "critical"]
    );
    assert_eq!(names(&Notification { severity: Severity::Medium, ..n.clone() }), ["all"]);
    assert_eq!(names(&Notification { rule_id: "custom".into(), ..n.clone() }), ["all"]);

    let deliveries = notifier.send(&n);
    let summary: Vec<_> = deliveries.iter().map(|d| (d.channel.as_str(), d.ok, d.attempts)).collect();
    assert_eq!(summary, [("all", true, 3), ("high-cloudtrail", true, 1)]);
    assert_eq!((a.requests().len(), b.requests().len(), c.requests().len()), (3, 1, 0));
}

#[test]
fn redirects_are_not_followed_nor_retried() {
    let elsewhere = HttpReceiver::start(Reply::status(200));
    let receiver = HttpReceiver::start(Reply::status(302).header("Location", &elsewhere.url("/stolen")));
    let notifier = notifier(&webhook_config(&receiver.url("/hook"), 3), &[("HOOK_SECRET", SECRET)]);
    let d = &notifier.send(&notification())[0];
    assert!(!d.ok, "{d:?}");
    assert_eq!(d.attempts, 1, "{d:?}");
    assert!(elsewhere.requests().is_empty(), "the signed body went to the redirect target");
}
