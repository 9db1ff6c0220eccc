//! What a notification says: the signal's severity, rule, group, times and samples, and the
//! versioned JSON document that webhooks receive and dead letters keep.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How bad a signal is. Ordered, so routing can say "medium and above".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] =
        [Severity::Info, Severity::Low, Severity::Medium, Severity::High, Severity::Critical];

    /// The lowercase name used in configs and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text was not one of `info`, `low`, `medium`, `high`, `critical`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown severity {0:?} (expected info, low, medium, high or critical)")]
pub struct ParseSeverityError(pub String);

impl FromStr for Severity {
    type Err = ParseSeverityError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Case-insensitive because people write `High` in configs; JSON output is lowercase.
        Severity::ALL
            .into_iter()
            .find(|sev| sev.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| ParseSeverityError(s.to_string()))
    }
}

/// Whether a signal opened (or is still firing) or is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Trigger,
    Resolve,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Trigger => "trigger",
            Action::Resolve => "resolve",
        }
    }
}

/// One alert about one signal, as every channel receives it.
///
/// `dedup_key` must be stable for the life of a signal (rule id + group), so that a later
/// trigger updates the same PagerDuty incident and a resolve closes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    pub action: Action,
    pub dedup_key: String,
    pub rule_id: String,
    pub rule_name: String,
    pub severity: Severity,
    #[serde(default)]
    pub tags: Vec<String>,
    /// MITRE ATT&CK technique ids, e.g. `T1562.008`.
    #[serde(default)]
    pub mitre: Vec<String>,
    /// What the signal is grouped by, e.g. `actor.arn=arn:aws:iam::123456789012:user/bob`.
    pub group: String,
    /// One line, e.g. "CloudTrail logging stopped by bob in 123456789012".
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub runbook: Option<String>,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    pub count: u64,
    #[serde(default)]
    pub sample_event_ids: Vec<String>,
    /// A URL back to the signal or its events in the trailwatch UI.
    #[serde(default)]
    pub link: Option<String>,
}

/// The version of the webhook JSON document ([`WebhookPayload`]). Raised only for changes that
/// break a reader; new fields may be added within a version.
pub const SCHEMA_VERSION: u32 = 1;

/// The JSON document a webhook receives (schema version 1, see docs/NOTIFICATIONS.md).
///
/// It is the notification's fields, flat, plus the envelope (`version`, `delivery_id`,
/// `sent_at`) and RFC 3339 copies of the times for people reading it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebhookPayload {
    pub version: u32,
    /// Unique per delivery (the same across retries of one delivery, so a receiver can drop
    /// a retry whose first try it did get).
    pub delivery_id: String,
    /// Unix seconds when the delivery was first attempted; also sent as `X-Trailwatch-Timestamp`.
    pub sent_at: i64,
    #[serde(flatten)]
    pub notification: Notification,
    pub first_seen: String,
    pub last_seen: String,
}

impl WebhookPayload {
    pub fn new(notification: &Notification, delivery_id: String, sent_at: i64) -> WebhookPayload {
        WebhookPayload {
            version: SCHEMA_VERSION,
            delivery_id,
            sent_at,
            notification: notification.clone(),
            first_seen: rfc3339_ms(notification.first_seen_ms),
            last_seen: rfc3339_ms(notification.last_seen_ms),
        }
    }
}

/// Milliseconds since the epoch as `2026-11-05T10:00:00.000Z` (an out-of-range value, which
/// only a broken caller makes, is shown as the raw number rather than failing a delivery).
pub fn rfc3339_ms(ms: i64) -> String {
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(t) => t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        None => ms.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_order_and_names() {
        assert!(Severity::Info < Severity::Low && Severity::High < Severity::Critical);
        assert_eq!("High".parse::<Severity>(), Ok(Severity::High));
        assert_eq!(serde_json::to_string(&Severity::Critical).unwrap(), "\"critical\"");
        let err = "hgh".parse::<Severity>().unwrap_err();
        assert!(err.to_string().contains("\"hgh\""), "{err}");
    }

    #[test]
    fn times_are_rfc3339() {
        assert_eq!(rfc3339_ms(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }
}
