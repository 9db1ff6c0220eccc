//! Detection during ingestion: each event newly stored goes through the rule engine; firings
//! become signals. At a commit, signals, rule state, notifications to send and the ids of the
//! events detected are saved first (one transaction), then the store commits, then the files are
//! recorded. A run killed between the two finds those ids on its next start and does not detect
//! those events again when they come back: each event is detected exactly once.

use std::collections::{HashMap, HashSet};

use trailwatch_cloudtrail::Event;
use trailwatch_detect::engine::EngineState;
use trailwatch_detect::signal::{apply, Outcome};
use trailwatch_detect::{Engine, Firing, Rule, Signal};
use trailwatch_store::{id_hash, OutboxRow, SignalRow, State};

use crate::Result;

/// The engine and the signals it changed since the last checkpoint.
pub struct Detection {
    engine: Engine,
    dry_run: bool,
    /// Whether notifications are queued (not when no channel would take them).
    queue: bool,
    now_ms: i64,
    touched: HashMap<(String, String), Signal>,
    outbox: Vec<OutboxRow>,
    firings: Vec<Firing>,
    outcomes: Vec<Outcome>,
    /// Events a run that died had already detected (saved before its store commit): they come
    /// back as new to the store, and are not detected again.
    skip: HashSet<u64>,
    /// Id hashes of the events detected since the last store commit.
    batch: Vec<u64>,
    /// Signals created and notifications queued, over the whole run.
    pub created: u64,
    pub notified: u64,
}

/// What a checkpoint must record for detection.
#[derive(Debug, Default)]
pub struct DetectionRows {
    pub signals: Vec<SignalRow>,
    pub rule_states: Vec<(String, String)>,
    pub outbox: Vec<OutboxRow>,
    /// Events detected but not yet committed by the store (id hashes).
    pub pending: Vec<u64>,
}

impl Detection {
    /// An engine over `rules`, its memory restored from `state` when given. `dry_run` records
    /// signals without queueing notifications.
    pub fn new(mut rules: Vec<Rule>, state: Option<&State>, dry_run: bool, now_ms: i64) -> Result<Detection> {
        // Rules switched on or off by people (the web UI) override their files.
        if let Some(state) = state {
            apply_rule_switches(&mut rules, state)?;
        }
        let mut engine = Engine::new(rules);
        let mut skip = HashSet::new();
        if let Some(state) = state {
            skip.extend(state.detected_pending()?);
            let mut saved = EngineState::default();
            for (rule, body) in state.rule_states()? {
                match serde_json::from_str(&body) {
                    Ok(s) => {
                        saved.rules.insert(rule, s);
                    }
                    Err(e) => {
                        tracing::warn!(rule = %rule, error = %e, "saved rule state unreadable; starting afresh")
                    }
                }
            }
            engine.restore(saved);
        }
        Ok(Detection {
            engine,
            dry_run,
            queue: true,
            now_ms,
            touched: HashMap::new(),
            outbox: Vec::new(),
            firings: Vec::new(),
            outcomes: Vec::new(),
            skip,
            batch: Vec::new(),
            created: 0,
            notified: 0,
        })
    }

    /// Gives travel rules their geo data.
    pub fn with_geo(mut self, geo: Option<std::sync::Arc<trailwatch_detect::geo::GeoDb>>) -> Detection {
        if let Some(g) = geo {
            self.engine.set_geo(g);
        }
        self
    }

    /// Records signals as usual but queues no notifications (no channel is configured).
    pub fn without_notifications(mut self) -> Detection {
        self.queue = false;
        self
    }

    /// Nothing is too late: for files read in any order (hunting a folder), where a file of
    /// last month may come after one of today.
    pub fn any_order(mut self) -> Detection {
        self.engine.set_lateness(i64::MAX);
        self
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Runs the rules on one event. Signals already stored are looked up in `state`.
    pub fn observe(&mut self, event: &Event, state: Option<&State>) -> Result<()> {
        if state.is_some() {
            let h = id_hash(&event.id);
            if self.skip.contains(&h) {
                return Ok(());
            }
            self.batch.push(h);
        }
        self.firings.clear();
        self.engine.observe(event, &mut self.firings);
        for i in 0..self.firings.len() {
            let f = &self.firings[i];
            let rule = &self.engine.rules()[f.rule];
            let key = (f.rule_id.clone(), f.group.clone());
            let existing = match self.touched.remove(&key) {
                Some(s) => Some(s),
                None => match state {
                    Some(st) => match st.open_signal(&key.0, &key.1)? {
                        Some(body) => serde_json::from_str(&body).ok(),
                        None => None,
                    },
                    None => None,
                },
            };
            let outcome = apply(existing, f, rule, self.dry_run || rule.dry_run);
            self.created += outcome.created as u64;
            if outcome.notify && self.queue {
                self.notified += 1;
                self.outbox.push(OutboxRow {
                    signal_id: outcome.signal.id.clone(),
                    action: "trigger".into(),
                    body: serde_json::to_string(&outcome.signal).expect("signals serialize"),
                    created_at: self.now_ms,
                });
            }
            self.touched.insert(key, outcome.signal.clone());
            self.outcomes.push(outcome);
        }
        Ok(())
    }

    /// The outcomes since the last call, in order.
    pub fn take_outcomes(&mut self) -> Vec<Outcome> {
        std::mem::take(&mut self.outcomes)
    }

    /// What the next checkpoint records; the in-memory signals are handed over.
    pub fn take_rows(&mut self) -> DetectionRows {
        let signals = self.touched.drain().map(|(_, s)| signal_row(&s)).collect();
        let rule_states = self
            .engine
            .take_dirty()
            .into_iter()
            .map(|(id, s)| (id, serde_json::to_string(&s).expect("rule state serializes")))
            .collect();
        let mut pending: Vec<u64> = self.skip.iter().copied().collect();
        pending.extend_from_slice(&self.batch);
        DetectionRows { signals, rule_states, outbox: std::mem::take(&mut self.outbox), pending }
    }

    /// The store committed every event detected so far.
    pub fn committed(&mut self) {
        self.skip.clear();
        self.batch.clear();
    }

    /// Every signal changed since the last [`Detection::take_rows`] (hunt mode keeps them all).
    pub fn signals(&self) -> impl Iterator<Item = &Signal> {
        self.touched.values()
    }
}

/// A signal as the state stores it.
pub fn signal_row(s: &Signal) -> SignalRow {
    SignalRow {
        id: s.id.clone(),
        rule_id: s.rule_id.clone(),
        group: s.group.clone(),
        status: s.status.as_str().to_owned(),
        severity: s.severity as i64,
        first_seen: s.first_seen,
        last_seen: s.last_seen,
        body: serde_json::to_string(s).expect("signals serialize"),
    }
}

/// Sets `enabled` of the rules that someone switched on or off (kept in the state database).
pub fn apply_rule_switches(rules: &mut [Rule], state: &State) -> Result<()> {
    let switches = state.rule_switches()?;
    for r in rules.iter_mut() {
        if let Some(s) = switches.iter().find(|s| s.rule_id == r.id) {
            r.enabled = s.enabled;
        }
    }
    Ok(())
}
