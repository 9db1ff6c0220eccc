//! Signals: what a firing becomes. One signal per rule and group while it is not resolved;
//! firings within the rule's suppression period update it without notifying again.

use serde::{Deserialize, Serialize};

use crate::engine::Firing;
use crate::rule::{Rule, Severity};
use crate::window::MAX_SAMPLE_IDS;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignalStatus {
    Open,
    Acknowledged,
    Resolved,
    Muted,
}

impl SignalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SignalStatus::Open => "open",
            SignalStatus::Acknowledged => "acknowledged",
            SignalStatus::Resolved => "resolved",
            SignalStatus::Muted => "muted",
        }
    }

    pub fn parse(s: &str) -> Option<SignalStatus> {
        Some(match s {
            "open" => SignalStatus::Open,
            "acknowledged" | "ack" => SignalStatus::Acknowledged,
            "resolved" => SignalStatus::Resolved,
            "muted" => SignalStatus::Muted,
            _ => return None,
        })
    }
}

/// An alert: a rule fired for a group, once or many times.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    /// `<rule id>:<group hash>:<first seen>`: the same firings give the same id on a re-run.
    pub id: String,
    pub rule_id: String,
    pub rule_name: String,
    pub severity: Severity,
    pub tags: Vec<String>,
    pub techniques: Vec<String>,
    pub group: String,
    /// The title of the event that first fired it.
    pub title: String,
    /// Why it last fired.
    pub reason: String,
    /// Event time of the first and the latest event behind it, in milliseconds.
    pub first_seen: i64,
    pub last_seen: i64,
    /// Firings folded into it.
    pub count: u64,
    /// Ids of events behind it (the first ones and the latest ones, at most 20).
    pub sample_event_ids: Vec<String>,
    pub status: SignalStatus,
    /// Who changed the status last, and when (wall clock, milliseconds).
    pub status_by: Option<String>,
    pub status_at: Option<i64>,
    /// Event time of the last firing that notified.
    pub notified_at: Option<i64>,
    /// Raised by a rule in dry-run: recorded, never notified.
    pub dry_run: bool,
}

/// What to do with a firing.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub signal: Signal,
    pub created: bool,
    /// Whether notifications go out for it.
    pub notify: bool,
}

/// Folds `firing` of `rule` into the signal open for its group (`existing`, when there is one
/// that is not resolved), or opens a new one.
pub fn apply(existing: Option<Signal>, firing: &Firing, rule: &Rule, dry_run: bool) -> Outcome {
    match existing.filter(|s| s.status != SignalStatus::Resolved) {
        Some(mut s) => {
            s.count += 1;
            s.first_seen = s.first_seen.min(firing.first_time);
            s.last_seen = s.last_seen.max(firing.last_time);
            s.reason = firing.reason.clone();
            add_samples(&mut s.sample_event_ids, &firing.event_ids);
            let quiet_until = s.notified_at.map_or(i64::MIN, |t| t.saturating_add(rule.suppress));
            let notify = s.status == SignalStatus::Open && !s.dry_run && firing.last_time >= quiet_until;
            if notify {
                s.notified_at = Some(firing.last_time);
            }
            Outcome { signal: s, created: false, notify }
        }
        None => {
            let signal = Signal {
                id: format!("{}:{:016x}:{}", rule.id, fnv(&firing.group), firing.first_time),
                rule_id: rule.id.clone(),
                rule_name: rule.name.clone(),
                severity: rule.severity,
                tags: rule.tags.clone(),
                techniques: rule.techniques.clone(),
                group: firing.group.clone(),
                title: firing.title.clone(),
                reason: firing.reason.clone(),
                first_seen: firing.first_time,
                last_seen: firing.last_time,
                count: 1,
                sample_event_ids: firing.event_ids.iter().take(MAX_SAMPLE_IDS).cloned().collect(),
                status: SignalStatus::Open,
                status_by: None,
                status_at: None,
                notified_at: (!dry_run).then_some(firing.last_time),
                dry_run,
            };
            Outcome { signal, created: true, notify: !dry_run }
        }
    }
}

fn add_samples(samples: &mut Vec<String>, new: &[String]) {
    for id in new {
        if !samples.contains(id) {
            samples.push(id.clone());
        }
    }
    if samples.len() > MAX_SAMPLE_IDS {
        // Keep the first half as they were; the rest are the latest.
        let keep = MAX_SAMPLE_IDS / 2;
        let drop = samples.len() - MAX_SAMPLE_IDS;
        samples.drain(keep..keep + drop);
    }
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3))
}
