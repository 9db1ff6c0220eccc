//! Sending what detection queued: the outbox in the state, through the configured channels.
//! A notification leaves the outbox once every channel took it or its failure is recorded as
//! a dead letter; until then a crash or a later run sends it again.

use std::path::Path;

use trailwatch_detect::{Rule, Signal};
use trailwatch_notify::{Action, Notification, Severity};
use trailwatch_store::{DeadLetterRow, State};

use crate::args::{Format, NotifyCommand};
use crate::config::Config;
use crate::output::{self, time};
use crate::{now_ms, Fail};

/// What one pass over the outbox did.
#[derive(Debug, Default)]
pub struct Sent {
    pub notifications: u64,
    pub deliveries: u64,
    pub dead_letters: u64,
}

/// The notification of a signal, with the rule's description and runbook when it is known.
pub fn notification(signal: &Signal, action: Action, rules: &[Rule], ui_url: Option<&str>) -> Notification {
    let rule = rules.iter().find(|r| r.id == signal.rule_id);
    Notification {
        action,
        dedup_key: signal.id.clone(),
        rule_id: signal.rule_id.clone(),
        rule_name: signal.rule_name.clone(),
        severity: match signal.severity {
            trailwatch_detect::Severity::Info => Severity::Info,
            trailwatch_detect::Severity::Low => Severity::Low,
            trailwatch_detect::Severity::Medium => Severity::Medium,
            trailwatch_detect::Severity::High => Severity::High,
            trailwatch_detect::Severity::Critical => Severity::Critical,
        },
        tags: signal.tags.clone(),
        mitre: signal.techniques.clone(),
        group: signal.group.clone(),
        title: signal.title.clone(),
        description: rule.map(|r| r.description.trim().to_owned()).unwrap_or_default(),
        runbook: rule.and_then(|r| r.runbook.clone()),
        first_seen_ms: signal.first_seen,
        last_seen_ms: signal.last_seen,
        count: signal.count,
        sample_event_ids: signal.sample_event_ids.clone(),
        link: ui_url.map(|u| format!("{u}/signals/{}", urlencode(&signal.id))),
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Sends everything in the outbox. Without a notifier the outbox is emptied: nobody is to be
/// told, and queued notifications should not all go out once channels are configured later.
pub fn deliver(state: &mut State, config: &Config, rules: &[Rule]) -> Result<Sent, Fail> {
    let mut sent = Sent::default();
    loop {
        let batch = state.outbox(100)?;
        if batch.is_empty() {
            return Ok(sent);
        }
        for (seq, row) in batch {
            let mut dead = Vec::new();
            if let Some(notifier) = &config.notifier {
                match serde_json::from_str::<Signal>(&row.body) {
                    Ok(signal) => {
                        let action = if row.action == "resolve" { Action::Resolve } else { Action::Trigger };
                        let n = notification(&signal, action, rules, config.ui_url.as_deref());
                        for d in notifier.send(&n) {
                            sent.deliveries += 1;
                            if let Some(dl) = d.dead_letter {
                                dead.push(DeadLetterRow {
                                    channel: dl.channel.clone(),
                                    signal_id: signal.id.clone(),
                                    body: serde_json::to_string(&dl).expect("dead letters serialize"),
                                    error: dl.last_error.clone(),
                                    attempts: dl.attempts,
                                    at: dl.failed_at_ms,
                                });
                            }
                        }
                        sent.notifications += 1;
                    }
                    Err(e) => {
                        tracing::warn!(signal = %row.signal_id, error = %e, "queued signal unreadable; dropped")
                    }
                }
            }
            sent.dead_letters += dead.len() as u64;
            state.outbox_done(seq, &dead)?;
        }
    }
}

pub fn run(data_dir: &Path, config_path: Option<&Path>, cmd: NotifyCommand) -> Result<u8, Fail> {
    let config = Config::load(config_path)?;
    match cmd {
        NotifyCommand::Test => {
            let notifier = config
                .notifier
                .as_ref()
                .ok_or_else(|| Fail::usage("no [[notify.channels]] configured (--config)"))?;
            let now = now_ms();
            let n = Notification {
                action: Action::Trigger,
                dedup_key: format!("trailwatch-test:{now}"),
                rule_id: "trailwatch-test".into(),
                rule_name: "trailwatch test notification".into(),
                severity: Severity::Info,
                tags: vec!["test".into()],
                mitre: Vec::new(),
                group: "test".into(),
                title: "This is a test notification from trailwatch".into(),
                description: "Sent by `trailwatch notify test` to check the channel.".into(),
                runbook: None,
                first_seen_ms: now,
                last_seen_ms: now,
                count: 1,
                sample_event_ids: Vec::new(),
                link: config.ui_url.clone(),
            };
            let mut failed = 0;
            for ch in notifier.channels() {
                let d = notifier.send_to(ch, &n);
                match &d.error {
                    None => println!("{}: ok ({} attempt(s))", d.channel, d.attempts),
                    Some(e) => {
                        failed += 1;
                        println!("{}: FAILED after {} attempt(s): {e}", d.channel, d.attempts);
                    }
                }
            }
            Ok(if failed == 0 { 0 } else { 1 })
        }
        NotifyCommand::Flush { rules } => {
            let mut state = open_state(data_dir)?;
            let rules = crate::detect::load_rules(&rules)?;
            let sent = deliver(&mut state, &config, &rules)?;
            eprintln!(
                "sent {} notifications ({} deliveries, {} dead letters)",
                sent.notifications, sent.deliveries, sent.dead_letters
            );
            Ok(if sent.dead_letters == 0 { 0 } else { 1 })
        }
        NotifyCommand::DeadLetters { limit, format } => {
            let state = open_state(data_dir)?;
            let rows = state.dead_letters(limit.max(1))?;
            match format {
                Format::Table => {
                    let table: Vec<Vec<String>> = rows
                        .iter()
                        .map(|d| {
                            vec![
                                time(d.at),
                                d.channel.clone(),
                                d.attempts.to_string(),
                                d.signal_id.clone(),
                                d.error.clone(),
                            ]
                        })
                        .collect();
                    output::table(&["FAILED AT", "CHANNEL", "ATTEMPTS", "SIGNAL", "ERROR"], &table);
                }
                _ => {
                    let list: Vec<serde_json::Value> = rows
                        .iter()
                        .map(|d| serde_json::from_str(&d.body).unwrap_or(serde_json::Value::Null))
                        .collect();
                    if format == Format::Json {
                        output::json(&list)
                    } else {
                        list.iter().for_each(output::json_line)
                    }
                }
            }
            Ok(0)
        }
    }
}

fn open_state(data_dir: &Path) -> Result<State, Fail> {
    let path = data_dir.join("state.sqlite");
    if !path.exists() {
        return Err(Fail::usage(format!(
            "no state in {}: run `trailwatch ingest PATH` first",
            data_dir.display()
        )));
    }
    Ok(State::open(&path)?)
}
