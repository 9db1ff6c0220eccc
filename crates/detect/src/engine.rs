//! The streaming engine: every event, in arrival order, against every enabled rule. Rules are
//! indexed by the actions their queries require, so most rules are never looked at for most
//! events; the rest are evaluated with the query language's own in-memory evaluator.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use trailwatch_cloudtrail::Event;
use trailwatch_query::{matches, FieldRef, GlobToken, KnownField, Predicate, Query};

use crate::duration::format_duration;
use crate::field::{group_key, join_key};
use crate::geo::GeoDb;
use crate::rule::{Method, Rule};
use crate::window::{
    Entry, Hit, NewValueState, Place, SequenceState, ThresholdState, TravelState, MAX_SAMPLE_IDS,
};

/// Stateful rules prune their state every this many of their matches.
const PRUNE_EVERY: u64 = 4096;

/// A rule fired.
#[derive(Debug, Clone, PartialEq)]
pub struct Firing {
    /// Index of the rule in [`Engine::rules`].
    pub rule: usize,
    pub rule_id: String,
    /// What the signal is about (`actor.arn=…`), empty when the rule has no group.
    pub group: String,
    /// Event time of the first and last event behind the firing.
    pub first_time: i64,
    pub last_time: i64,
    /// Ids of the events behind it (at most 20), oldest first.
    pub event_ids: Vec<String>,
    /// The title of the event that completed it.
    pub title: String,
    /// Why it fired, in words: "12 matches within 10m", "new source_ip 203.0.113.9".
    pub reason: String,
}

/// What one indexed query needs of an event's action (lowercased `eventName`).
#[derive(Debug, Clone, PartialEq)]
enum Need {
    Any,
    Actions(Vec<Action>),
}

#[derive(Debug, Clone, PartialEq)]
enum Action {
    Exact(String),
    Prefix(String),
}

/// The actions a query can match, or `Any` when it could match any action. Only necessary
/// conditions are taken, so the index can only skip rules that cannot match.
fn need(q: &Query) -> Need {
    match q {
        Query::Field(FieldRef::Known(KnownField::Action), p) => action_need(p),
        Query::Field(FieldRef::Raw(path), p) if path == "eventName" => action_need(p),
        Query::And(parts) => {
            let mut best = Need::Any;
            for p in parts {
                if let Need::Actions(a) = need(p) {
                    if matches!(&best, Need::Any) || matches!(&best, Need::Actions(b) if a.len() < b.len()) {
                        best = Need::Actions(a);
                    }
                }
            }
            best
        }
        Query::Or(parts) => {
            let mut all = Vec::new();
            for p in parts {
                match need(p) {
                    Need::Any => return Need::Any,
                    Need::Actions(a) => all.extend(a),
                }
            }
            Need::Actions(all)
        }
        _ => Need::Any,
    }
}

fn action_need(p: &Predicate) -> Need {
    match p {
        Predicate::Equals(term) => Need::Actions(vec![Action::Exact(term.clone())]),
        Predicate::Wildcard(glob) => {
            let mut prefix = String::new();
            for t in glob {
                match t {
                    GlobToken::Literal(s) => prefix.push_str(s),
                    _ => break,
                }
            }
            if prefix.is_empty() {
                Need::Any
            } else {
                Need::Actions(vec![Action::Prefix(prefix)])
            }
        }
        _ => Need::Any,
    }
}

/// Which matchers (rule, step) to evaluate for an action.
#[derive(Debug, Default)]
struct Index {
    exact: HashMap<String, Vec<Matcher>>,
    prefix: Vec<(String, Matcher)>,
    any: Vec<Matcher>,
}

/// A rule's query (`step: None`) or one step of a sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Matcher {
    rule: usize,
    step: Option<usize>,
}

impl Index {
    fn add(&mut self, q: &Query, m: Matcher) {
        match need(q) {
            Need::Any => self.any.push(m),
            Need::Actions(actions) => {
                for a in actions {
                    match a {
                        Action::Exact(s) => self.exact.entry(s).or_default().push(m),
                        Action::Prefix(s) => self.prefix.push((s, m)),
                    }
                }
            }
        }
    }

    fn candidates(&self, action: &str, out: &mut Vec<Matcher>) {
        out.clear();
        out.extend_from_slice(&self.any);
        if let Some(v) = self.exact.get(action) {
            out.extend_from_slice(v);
        }
        for (p, m) in &self.prefix {
            if action.starts_with(p.as_str()) {
                out.push(*m);
            }
        }
        if out.len() > 1 {
            out.sort_unstable();
            out.dedup();
        }
    }
}

/// Per-rule state of the stateful methods.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum RuleState {
    Stateless,
    Threshold(ThresholdState),
    NewValue(NewValueState),
    Sequence(SequenceState),
    Travel(TravelState),
}

impl RuleState {
    fn for_method(m: &Method) -> RuleState {
        match m {
            Method::Match => RuleState::Stateless,
            Method::Threshold { .. } => RuleState::Threshold(ThresholdState::default()),
            Method::NewValue { .. } => RuleState::NewValue(NewValueState::default()),
            Method::Sequence { .. } => RuleState::Sequence(SequenceState::default()),
            Method::Travel { .. } => RuleState::Travel(TravelState::default()),
        }
    }

    fn same_method(&self, other: &RuleState) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }
}

/// The engine's memory, to be saved and restored across restarts: per rule id.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EngineState {
    pub rules: HashMap<String, RuleState>,
}

/// Counters, for the benchmark and `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineStats {
    pub events: u64,
    /// Rule queries evaluated (the index skipped the rest).
    pub evaluations: u64,
    pub matches: u64,
    pub firings: u64,
}

pub struct Engine {
    rules: Vec<Rule>,
    index: Index,
    state: Vec<RuleState>,
    /// A sequence step's query joined with its rule's, by (rule, step).
    step_queries: HashMap<(usize, usize), Query>,
    /// Matches per rule since its last prune.
    since_prune: Vec<u64>,
    /// Rules whose state changed since [`Engine::take_dirty`].
    dirty: Vec<bool>,
    stats: EngineStats,
    scratch: Vec<Matcher>,
    geo: Option<std::sync::Arc<GeoDb>>,
    lateness: i64,
}

impl Engine {
    /// An engine for the enabled rules among `rules`.
    pub fn new(rules: Vec<Rule>) -> Engine {
        let rules: Vec<Rule> = rules.into_iter().filter(|r| r.enabled).collect();
        let mut index = Index::default();
        let mut step_queries = HashMap::new();
        for (i, r) in rules.iter().enumerate() {
            match &r.method {
                Method::Sequence { steps, .. } => {
                    for (s, step) in steps.iter().enumerate() {
                        let both = Query::And(vec![r.query.clone(), step.query.clone()]);
                        index.add(&both, Matcher { rule: i, step: Some(s) });
                        step_queries.insert((i, s), both);
                    }
                }
                _ => index.add(&r.query, Matcher { rule: i, step: None }),
            }
        }
        let state = rules.iter().map(|r| RuleState::for_method(&r.method)).collect();
        let n = rules.len();
        Engine {
            rules,
            index,
            state,
            step_queries,
            since_prune: vec![0; n],
            dirty: vec![false; n],
            stats: EngineStats::default(),
            scratch: Vec::new(),
            geo: None,
            lateness: crate::window::LATENESS,
        }
    }

    /// Gives travel rules the geo data they need (without it they never fire).
    pub fn with_geo(mut self, geo: std::sync::Arc<GeoDb>) -> Engine {
        self.set_geo(geo);
        self
    }

    pub fn set_geo(&mut self, geo: std::sync::Arc<GeoDb>) {
        self.geo = Some(geo);
    }

    /// How long past its window an event still counts when it arrives late (default
    /// [`crate::window::LATENESS`], one hour). Hunting a folder whose files come in any order
    /// uses `i64::MAX`: nothing is too late, and state is bounded only by its caps.
    pub fn set_lateness(&mut self, ms: i64) {
        self.lateness = ms;
        for s in &mut self.state {
            match s {
                RuleState::Threshold(t) => t.lateness = ms,
                RuleState::Sequence(q) => q.lateness = ms,
                RuleState::Travel(t) => t.lateness = ms,
                RuleState::Stateless | RuleState::NewValue(_) => {}
            }
        }
    }

    /// Whether travel rules can run.
    pub fn has_geo(&self) -> bool {
        self.geo.is_some()
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn stats(&self) -> EngineStats {
        self.stats
    }

    /// How many rules must be evaluated for every event whatever its action.
    pub fn unindexed_rules(&self) -> usize {
        self.index.any.len()
    }

    /// Checks one event against every rule; firings are appended to `out`.
    pub fn observe(&mut self, event: &Event, out: &mut Vec<Firing>) {
        self.stats.events += 1;
        let action = event.action.to_lowercase();
        let mut cands = std::mem::take(&mut self.scratch);
        self.index.candidates(&action, &mut cands);
        for &m in &cands {
            self.stats.evaluations += 1;
            let rule = &self.rules[m.rule];
            let query = match m.step {
                Some(s) => &self.step_queries[&(m.rule, s)],
                None => &rule.query,
            };
            if !matches(query, event) || !rule.conditions.iter().all(|c| c.holds(event)) {
                continue;
            }
            self.stats.matches += 1;
            if let Some(f) = self.step(m, event) {
                self.stats.firings += 1;
                out.push(f);
            }
        }
        self.scratch = cands;
    }

    fn step(&mut self, m: Matcher, event: &Event) -> Option<Firing> {
        let rule = &self.rules[m.rule];
        let group = group_key(&rule.group_by, event);
        let firing = |first_time: i64, event_ids: Vec<String>, reason: String| Firing {
            rule: m.rule,
            rule_id: rule.id.clone(),
            group: group.clone(),
            first_time,
            last_time: event.time,
            event_ids,
            title: event.title.clone(),
            reason,
        };
        if !matches!(rule.method, Method::Match) {
            self.dirty[m.rule] = true;
            self.since_prune[m.rule] += 1;
        }
        let prune = self.since_prune[m.rule] >= PRUNE_EVERY;
        if prune {
            self.since_prune[m.rule] = 0;
        }
        match (&rule.method, &mut self.state[m.rule]) {
            (Method::Match, _) => Some(firing(event.time, vec![event.id.clone()], "matched".into())),
            (Method::Threshold { window, count, distinct }, RuleState::Threshold(st)) => {
                if prune {
                    st.prune(*window);
                }
                let value = match distinct {
                    Some(f) => Some(f.first(event)?.to_lowercase()),
                    None => None,
                };
                let hit = Hit { time: event.time, id: event.id.clone(), value };
                let hits = st.add(group.clone(), hit, *window, *count, distinct.is_some())?;
                let first = hits.first().map_or(event.time, |h| h.time);
                let reason = match distinct {
                    Some(f) => {
                        let mut vals: Vec<&str> = hits.iter().filter_map(|h| h.value.as_deref()).collect();
                        vals.sort_unstable();
                        vals.dedup();
                        format!("{} distinct {f} within {}", vals.len(), format_duration(*window))
                    }
                    None => format!("{} matches within {}", hits.len(), format_duration(*window)),
                };
                let mut f = firing(first, ids(hits.iter().map(|h| &h.id)), reason);
                f.last_time = hits.last().map_or(event.time, |h| h.time).max(event.time);
                Some(f)
            }
            (Method::NewValue { fields, learning, forget }, RuleState::NewValue(st)) => {
                if prune {
                    st.prune(*forget);
                }
                let value = join_key(fields, event)?;
                if !st.add(group.clone(), value, event.time, *learning) {
                    return None;
                }
                let shown: Vec<String> =
                    fields.iter().map(|f| format!("{f}={}", f.first(event).unwrap_or_default())).collect();
                Some(firing(event.time, vec![event.id.clone()], format!("first seen: {}", shown.join(", "))))
            }
            (Method::Sequence { within, steps }, RuleState::Sequence(st)) => {
                if prune {
                    st.prune(*within);
                }
                let s = m.step.expect("sequence matchers have a step");
                let step = &steps[s];
                let entry = Entry {
                    time: event.time,
                    id: event.id.clone(),
                    key: join_key(&step.key, event)?,
                    next: join_key(&step.next_key, event)?,
                    group: if rule.group_by.is_empty() { group_key(&step.key, event) } else { group.clone() },
                };
                let chain = st.add(steps, s, entry, *within)?;
                let names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
                let chain_group = chain.events.first().map(|e| e.group.clone()).unwrap_or_default();
                let mut f = firing(
                    chain.start,
                    ids(chain.events.iter().map(|e| &e.id)),
                    format!("{} within {}", names.join(" then "), format_duration(chain.end - chain.start)),
                );
                f.group = chain_group;
                f.last_time = chain.end;
                Some(f)
            }
            (Method::Travel { max_speed_kmh, min_distance_km }, RuleState::Travel(st)) => {
                if prune {
                    st.prune();
                }
                let ip_text = event.source_ip.as_deref()?;
                let ip: std::net::IpAddr = ip_text.parse().ok()?;
                let loc = self.geo.as_ref()?.locate(ip)?;
                let place = Place {
                    time: event.time,
                    id: event.id.clone(),
                    ip: ip_text.to_owned(),
                    lat: loc.lat,
                    lon: loc.lon,
                };
                let j = st.add(group.clone(), place, *max_speed_kmh, *min_distance_km)?;
                let minutes = (j.to.time - j.from.time) / 60_000;
                let reason = format!(
                    "{} ({:.2},{:.2}) then {} ({:.2},{:.2}): {:.0} km in {minutes} min = {:.0} km/h",
                    j.from.ip, j.from.lat, j.from.lon, j.to.ip, j.to.lat, j.to.lon, j.km, j.kmh
                );
                let mut f = firing(j.from.time, vec![j.from.id.clone(), j.to.id.clone()], reason);
                f.last_time = j.to.time;
                Some(f)
            }
            _ => unreachable!("rule state is built for the rule's method"),
        }
    }

    /// The engine's memory, for saving.
    pub fn snapshot(&self) -> EngineState {
        EngineState {
            rules: self.rules.iter().zip(&self.state).map(|(r, s)| (r.id.clone(), s.clone())).collect(),
        }
    }

    /// The saved memory of the rules changed since the last call (and marks them clean).
    pub fn take_dirty(&mut self) -> Vec<(String, RuleState)> {
        let mut out = Vec::new();
        for (i, d) in self.dirty.iter_mut().enumerate() {
            if std::mem::take(d) {
                out.push((self.rules[i].id.clone(), self.state[i].clone()));
            }
        }
        out
    }

    /// Takes saved memory back. State of a rule whose method changed since is dropped.
    pub fn restore(&mut self, saved: EngineState) {
        let mut saved = saved.rules;
        for (i, r) in self.rules.iter().enumerate() {
            if let Some(s) = saved.remove(&r.id) {
                if s.same_method(&self.state[i]) {
                    self.state[i] = s;
                }
            }
        }
        self.set_lateness(self.lateness);
    }

    /// How much the engine remembers: threshold hits, values seen, sequence entries.
    pub fn remembered(&self) -> usize {
        self.state
            .iter()
            .map(|s| match s {
                RuleState::Stateless => 0,
                RuleState::Threshold(t) => t.groups.values().map(Vec::len).sum(),
                RuleState::NewValue(n) => n.values(),
                RuleState::Sequence(q) => q.steps.iter().flat_map(|m| m.values()).map(|r| r.len()).sum(),
                RuleState::Travel(t) => t.groups.values().map(Vec::len).sum(),
            })
            .sum()
    }
}

fn ids<'a>(it: impl Iterator<Item = &'a String>) -> Vec<String> {
    let mut v: Vec<String> = it.cloned().collect();
    if v.len() > MAX_SAMPLE_IDS {
        // Keep the first and the latest.
        let tail = v.split_off(v.len() - MAX_SAMPLE_IDS / 2);
        v.truncate(MAX_SAMPLE_IDS / 2);
        v.extend(tail);
    }
    v
}
