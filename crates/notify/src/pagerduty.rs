//! PagerDuty Events API v2: a `trigger` opens or updates the incident for the signal's
//! dedup key, a `resolve` with the same key closes it.

use serde_json::{json, Value};

use crate::config::Secret;
use crate::notification::{rfc3339_ms, Action, Notification, Severity};
use crate::slack::cut;

/// PagerDuty has four severities; low and medium both page as `warning`.
pub fn severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Info => "info",
        Severity::Low | Severity::Medium => "warning",
        Severity::High => "error",
        Severity::Critical => "critical",
    }
}

/// The event body for the notification.
pub fn event(n: &Notification, routing_key: &Secret) -> Value {
    match n.action {
        // A resolve needs nothing but the key: PagerDuty ignores a payload on it.
        Action::Resolve => json!({
            "routing_key": routing_key.expose(),
            "event_action": "resolve",
            "dedup_key": n.dedup_key,
        }),
        Action::Trigger => {
            let source = if n.group.is_empty() { "trailwatch" } else { n.group.as_str() };
            let mut event = json!({
                "routing_key": routing_key.expose(),
                "event_action": "trigger",
                "dedup_key": n.dedup_key,
                "client": "trailwatch",
                "payload": {
                    // PagerDuty cuts summaries at 1024 characters; cut first to keep the ellipsis.
                    "summary": cut(&n.title, 1024),
                    "source": source,
                    "severity": severity(n.severity),
                    "timestamp": rfc3339_ms(n.last_seen_ms),
                    "component": "aws-cloudtrail",
                    "group": n.rule_id,
                    "class": n.rule_name,
                    "custom_details": {
                        "rule_id": n.rule_id,
                        "rule_name": n.rule_name,
                        "severity": n.severity,
                        "group": n.group,
                        "description": n.description,
                        "count": n.count,
                        "first_seen": rfc3339_ms(n.first_seen_ms),
                        "last_seen": rfc3339_ms(n.last_seen_ms),
                        "tags": n.tags,
                        "mitre": n.mitre,
                        "runbook": n.runbook,
                        "sample_event_ids": n.sample_event_ids,
                    },
                },
            });
            if let Some(link) = &n.link {
                event["client_url"] = json!(link);
                event["links"] = json!([{"href": link, "text": "Open in trailwatch"}]);
            }
            event
        }
    }
}
