//! The Slack and PagerDuty channels against a real HTTP receiver on loopback.

mod support;

use support::{notification, notifier, HttpReceiver, Reply};
use trailwatch_notify::{Action, Notification, Severity};

const PD_KEY: &str = "R0UT1NGKEY0123456789abcdef012345";

#[test]
fn slack_message_has_blocks_fallback_and_link() {
    let receiver = HttpReceiver::start(Reply::status(200).body("ok"));
    let hook = receiver.url("/services/T000/B000/XXXXSECRET");
    let config = "[[notify.channels]]\nname = \"chat\"\ntype = \"slack\"\nsecret_env = \"SLACK_HOOK\"\n";
    let notifier = notifier(config, &[("SLACK_HOOK", &hook)]);
    let n = notification();
    let d = &notifier.send(&n)[0];
    assert!(d.ok && d.status == Some(200), "{d:?}");

    let [request] = receiver.requests().try_into().expect("one request");
    assert_eq!(request.path, "/services/T000/B000/XXXXSECRET");
    let body = request.json();
    let text = body["text"].as_str().unwrap();
    assert!(text.contains("[HIGH] CloudTrail logging stopped: CloudTrail logging stopped by bob"), "{text}");
    let blocks = body["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "header");
    assert_eq!(blocks[0]["text"]["text"], ":red_circle: HIGH · CloudTrail logging stopped");
    let all = body.to_string();
    for needle in ["T1562.008", "*Count*\\n3", "*Runbook*", "Restart logging", "2025-11-05T10:00:00.000Z"] {
        assert!(all.contains(needle), "{needle} not in {all}");
    }
    let actions = blocks.iter().find(|b| b["type"] == "actions").expect("a button block");
    assert_eq!(actions["elements"][0]["url"], n.link.clone().unwrap());
}

#[test]
fn slack_errors_do_not_leak_the_webhook_url() {
    let receiver = HttpReceiver::start(Reply::status(404).body("no_service"));
    let hook = receiver.url("/services/T000/B000/XXXXSECRET");
    let config =
        "[[notify.channels]]\nname = \"chat\"\ntype = \"slack\"\nsecret_env = \"SLACK_HOOK\"\nretries = 3\n";
    let notifier = notifier(config, &[("SLACK_HOOK", &hook)]);
    assert!(!format!("{:?}", notifier.channels()[0].config()).contains("XXXXSECRET"));
    let d = &notifier.send(&notification())[0];
    assert_eq!((d.ok, d.attempts, d.error.as_deref()), (false, 1, Some("http 404: no_service")));
}

#[test]
fn slack_escapes_mentions_from_event_data() {
    let n = Notification { title: "<!channel> created by <@U123> & co".into(), ..notification() };
    let body = trailwatch_notify::slack::message(&n).to_string();
    assert!(body.contains("&lt;!channel&gt; created by &lt;@U123&gt; &amp; co"), "{body}");
    assert!(!body.contains("<!channel>"));
}

fn pagerduty(receiver: &HttpReceiver) -> trailwatch_notify::Notifier {
    let config = format!(
        "[[notify.channels]]\nname = \"oncall\"\ntype = \"pagerduty\"\nsecret_env = \"PD_KEY\"\nurl = \"{}\"\n\
         retry_delay = \"5ms\"\n",
        receiver.url("/v2/enqueue")
    );
    notifier(&config, &[("PD_KEY", PD_KEY)])
}

#[test]
fn pagerduty_trigger_and_resolve_share_the_dedup_key() {
    let receiver = HttpReceiver::start(
        Reply::status(202).body(r#"{"status":"success","message":"Event processed","dedup_key":"x"}"#),
    );
    let notifier = pagerduty(&receiver);
    let n = notification();
    let trigger = &notifier.send(&n)[0];
    assert!(trigger.ok && trigger.status == Some(202), "{trigger:?}");
    let resolve = &notifier.send(&Notification { action: Action::Resolve, ..n.clone() })[0];
    assert!(resolve.ok, "{resolve:?}");

    let [t, r] = receiver.requests().try_into().expect("two requests");
    assert_eq!(t.path, "/v2/enqueue");
    let (t, r) = (t.json(), r.json());
    assert_eq!(t["routing_key"], PD_KEY);
    assert_eq!(t["event_action"], "trigger");
    assert_eq!(r["event_action"], "resolve");
    assert_eq!(t["dedup_key"], n.dedup_key);
    assert_eq!(r["dedup_key"], t["dedup_key"]);
    assert_eq!(r["routing_key"], PD_KEY);
    assert_eq!(t["payload"]["summary"], n.title);
    assert_eq!(t["payload"]["source"], n.group);
    assert_eq!(t["payload"]["severity"], "error");
    assert_eq!(t["payload"]["timestamp"], "2025-11-05T10:05:00.000Z");
    assert_eq!(t["payload"]["custom_details"]["rule_id"], n.rule_id);
    assert_eq!(t["payload"]["custom_details"]["mitre"][0], "T1562.008");
    assert_eq!(t["payload"]["custom_details"]["count"], 3);
    assert_eq!(t["links"][0]["href"], n.link.clone().unwrap());
}

#[test]
fn pagerduty_severity_mapping() {
    for (ours, theirs) in [
        (Severity::Info, "info"),
        (Severity::Low, "warning"),
        (Severity::Medium, "warning"),
        (Severity::High, "error"),
        (Severity::Critical, "critical"),
    ] {
        let n = Notification { severity: ours, ..notification() };
        let event = trailwatch_notify::pagerduty::event(&n, &trailwatch_notify::Secret::new("k"));
        assert_eq!(event["payload"]["severity"], theirs, "{ours}");
    }
}

#[test]
fn pagerduty_rate_limit_is_retried_and_bad_key_is_not() {
    let receiver = HttpReceiver::start(Reply::status(202));
    receiver.script([Reply::status(429).header("Retry-After", "0"), Reply::status(500)]);
    let d = &pagerduty(&receiver).send(&notification())[0];
    assert!(d.ok && d.attempts == 3, "{d:?}");

    let receiver = HttpReceiver::start(
        Reply::status(400)
            .body(&format!(r#"{{"status":"invalid event","errors":["routing key {PD_KEY} is invalid"]}}"#)),
    );
    let d = &pagerduty(&receiver).send(&notification())[0];
    assert_eq!((d.ok, d.attempts, d.status), (false, 1, Some(400)));
    let error = d.error.as_deref().unwrap();
    assert!(error.contains("routing key *** is invalid") && !error.contains(PD_KEY), "{error}");
}
