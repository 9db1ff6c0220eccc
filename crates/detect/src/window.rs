//! State of the stateful methods, per rule: threshold windows, values seen, sequence steps.
//! Everything is in event time and kept a while past its window ([`LATENESS`]), so records
//! that arrive late (CloudTrail delivers files 5 to 20 minutes after the fact) still count.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::rule::Step;

/// How long past its window an event is kept for late arrivals, in milliseconds (live
/// ingestion; hunting a folder of files in any order keeps everything, see
/// [`crate::Engine::set_lateness`]).
pub const LATENESS: i64 = 3_600_000;

fn default_lateness() -> i64 {
    LATENESS
}

/// `newest - window - lateness`, without overflow.
fn horizon(newest: i64, window: i64, lateness: i64) -> i64 {
    newest.saturating_sub(window).saturating_sub(lateness)
}
/// Most entries kept per group (threshold) or per key (sequence step); the oldest go first.
const MAX_PER_GROUP: usize = 10_000;
/// Most events kept per key and step of a sequence: a search only ever uses the latest ones
/// before, or the earliest after, an event (a key busier than this within a window may miss a
/// chain whose events arrive that much out of order).
const MAX_PER_KEY: usize = 256;
/// Most candidates a sequence search tries per step (the latest ones going back, the
/// earliest going forward), so a busy key cannot make one event cost thousands of steps.
const MAX_ANCHORS: usize = 64;
/// Hits of a threshold group that fell out of its window are dropped once there are this many
/// (or once they are half of the group).
const DRAIN_AT: usize = 1024;
/// Most event ids a firing carries.
pub const MAX_SAMPLE_IDS: usize = 20;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hit {
    pub time: i64,
    pub id: String,
    /// The distinct-count value (threshold) or nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// A threshold rule's recent matches, per group, sorted by time.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ThresholdState {
    pub groups: HashMap<String, Vec<Hit>>,
    pub newest: i64,
    /// How long past the window late events still count (not saved).
    #[serde(skip, default = "default_lateness")]
    pub lateness: i64,
}

impl ThresholdState {
    /// Adds a match; returns the hits of a window of `window` ms holding at least `count`
    /// matches (or distinct values), and forgets the group's hits, so the next firing needs
    /// `count` new ones.
    pub fn add(
        &mut self,
        group: String,
        hit: Hit,
        window: i64,
        count: u64,
        distinct: bool,
    ) -> Option<Vec<Hit>> {
        self.newest = self.newest.max(hit.time);
        let horizon = horizon(self.newest, window, self.lateness);
        if hit.time < horizon {
            return None;
        }
        let t = hit.time;
        let hits = self.groups.entry(group.clone()).or_default();
        let at = hits.partition_point(|h| h.time <= t);
        hits.insert(at, hit);
        // Only the newest MAX_PER_GROUP hits within the horizon count. Those before are
        // dropped in bulk once they are many, not one memmove of the whole group per hit.
        let old = hits.partition_point(|h| h.time < horizon).max(hits.len().saturating_sub(MAX_PER_GROUP));
        if old >= DRAIN_AT || old * 2 >= hits.len() {
            hits.drain(..old);
        }
        let old = hits.partition_point(|h| h.time < horizon).max(hits.len().saturating_sub(MAX_PER_GROUP));
        let found = best_window(&hits[old..], t, window, count, distinct)?;
        let found = (found.0 + old, found.1 + old);
        let out = hits[found.0..found.1].to_vec();
        self.groups.remove(&group);
        Some(out)
    }

    pub fn prune(&mut self, window: i64) {
        let horizon = horizon(self.newest, window, self.lateness);
        self.groups.retain(|_, hits| {
            let old = hits.partition_point(|h| h.time < horizon);
            hits.drain(..old);
            !hits.is_empty()
        });
    }
}

/// A window `[s, s + window]` that contains `t` and at least `count` hits (or distinct values),
/// as a range of `hits`.
fn best_window(hits: &[Hit], t: i64, window: i64, count: u64, distinct: bool) -> Option<(usize, usize)> {
    let first = hits.partition_point(|h| h.time < t - window);
    let mut end = first;
    let mut values: HashMap<&str, usize> = HashMap::new();
    for start in first..hits.len() {
        if hits[start].time > t {
            break;
        }
        while end < hits.len() && hits[end].time <= hits[start].time + window {
            if distinct {
                if let Some(v) = &hits[end].value {
                    *values.entry(v).or_default() += 1;
                }
            }
            end += 1;
        }
        let n = if distinct { values.len() as u64 } else { (end - start) as u64 };
        if n >= count {
            return Some((start, end));
        }
        if distinct {
            if let Some(v) = &hits[start].value {
                let c = values.get_mut(v.as_str()).expect("counted when added");
                *c -= 1;
                if *c == 0 {
                    values.remove(v.as_str());
                }
            }
        }
    }
    None
}

/// A new-value rule's memory: when it started learning and every value seen, per group, with
/// when it was last seen.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NewValueState {
    /// The earliest event time the rule has seen: learning ends `learning` after it.
    pub started: Option<i64>,
    pub newest: i64,
    pub seen: HashMap<String, HashMap<String, i64>>,
}

impl NewValueState {
    /// Records `value` for `group` at `time`; whether it is new and the rule has learned.
    pub fn add(&mut self, group: String, value: String, time: i64, learning: i64) -> bool {
        let started = *self.started.get_or_insert(time);
        self.started = Some(started.min(time));
        self.newest = self.newest.max(time);
        let values = self.seen.entry(group).or_default();
        match values.get_mut(&value) {
            Some(last) => {
                *last = (*last).max(time);
                false
            }
            None => {
                values.insert(value, time);
                time >= self.started.unwrap_or(time) + learning
            }
        }
    }

    pub fn prune(&mut self, forget: Option<i64>) {
        if let Some(forget) = forget {
            let horizon = self.newest - forget;
            self.seen.retain(|_, values| {
                values.retain(|_, last| *last >= horizon);
                !values.is_empty()
            });
        }
    }

    pub fn values(&self) -> usize {
        self.seen.values().map(HashMap::len).sum()
    }
}

/// One event that matched a step of a sequence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub time: i64,
    pub id: String,
    /// How it joins the step before (the step's `key`).
    pub key: String,
    /// How the next step joins it (`next_key`).
    pub next: String,
    /// The signal group of the event (group_by, or the key fields).
    pub group: String,
}

/// The entries of one key of a step, sorted by time, shared between the step's two indexes.
/// The oldest are dropped by moving `start` and then in bulk, so dropping one moves nothing.
#[derive(Debug, Clone, Default)]
pub struct Recent {
    items: Vec<Arc<Entry>>,
    start: usize,
}

impl Deref for Recent {
    type Target = [Arc<Entry>];

    fn deref(&self) -> &[Arc<Entry>] {
        &self.items[self.start..]
    }
}

impl Recent {
    /// Inserts `e` in time order (after entries of the same time); keeps the newest
    /// [`MAX_PER_KEY`].
    fn insert_sorted(&mut self, e: Arc<Entry>) {
        let at = self.start + self.partition_point(|x| x.time <= e.time);
        self.items.insert(at, e);
        if self.len() > MAX_PER_KEY {
            self.drop_oldest(1);
        }
    }

    /// Drops the `n` oldest entries.
    fn drop_oldest(&mut self, n: usize) {
        self.start += n.min(self.len());
        if self.start >= MAX_PER_KEY.min(self.items.len()) || self.start == self.items.len() {
            self.items.drain(..self.start);
            self.start = 0;
        }
    }

    fn retain(&mut self, keep: impl Fn(&Entry) -> bool) {
        self.items.drain(..self.start);
        self.start = 0;
        self.items.retain(|e| keep(e));
    }
}

impl Serialize for Recent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter().map(|e| &**e))
    }
}

impl<'de> Deserialize<'de> for Recent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Recent, D::Error> {
        let mut items: Vec<Arc<Entry>> = Vec::<Entry>::deserialize(d)?.into_iter().map(Arc::new).collect();
        items.sort_by_key(|e| e.time);
        Ok(Recent { items, start: 0 })
    }
}

/// A sequence rule's matches, per step, indexed by key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SequenceState {
    pub steps: Vec<HashMap<String, Recent>>,
    pub newest: i64,
    /// How long past the window late events still count (not saved).
    #[serde(skip, default = "default_lateness")]
    pub lateness: i64,
    #[serde(skip)]
    by_next: Vec<HashMap<String, Recent>>,
}

/// A completed sequence: when it started and ended, its events, and the group of its first.
#[derive(Debug, Clone, PartialEq)]
pub struct Chain {
    pub start: i64,
    pub end: i64,
    pub events: Vec<Arc<Entry>>,
}

impl SequenceState {
    fn ensure(&mut self, n: usize) {
        if self.steps.len() != n {
            self.steps = vec![HashMap::new(); n];
        }
        if self.by_next.len() != n {
            // Rebuilt after a restore: the next-key index is not saved.
            self.by_next = vec![HashMap::new(); n];
            for (i, step) in self.steps.iter().enumerate() {
                for e in step.values().flat_map(|r| r.iter()) {
                    self.by_next[i].entry(e.next.clone()).or_default().items.push(e.clone());
                }
            }
            for m in &mut self.by_next {
                m.values_mut().for_each(|v| v.items.sort_by_key(|e| e.time));
            }
        }
    }

    /// Adds an event matching step `i`; returns a chain through it (or through later events
    /// of the same step and key) from the first step to the last within `within`, and forgets
    /// the chain's events.
    pub fn add(&mut self, steps: &[Step], i: usize, entry: Entry, within: i64) -> Option<Chain> {
        self.ensure(steps.len());
        self.newest = self.newest.max(entry.time);
        if entry.time < horizon(self.newest, within, self.lateness) {
            return None;
        }
        let entry = Arc::new(entry);
        self.steps[i].entry(entry.key.clone()).or_default().insert_sorted(entry.clone());
        self.by_next[i].entry(entry.next.clone()).or_default().insert_sorted(entry.clone());
        // Later events of the same step and key may complete a chain now that this one came
        // (a late file); the chain must fit in `within` around the new event.
        let same = &self.steps[i][&entry.key];
        let from = same.partition_point(|e| e.time < entry.time);
        let upto = same.partition_point(|e| e.time <= entry.time.saturating_add(within));
        let anchors: Vec<Arc<Entry>> = same[from..upto].iter().take(MAX_ANCHORS).cloned().collect();
        for anchor in anchors {
            let floor = anchor.time.saturating_sub(within);
            let Some((start, mut before)) = self.anchor_back(steps, i, &anchor, floor) else { continue };
            let ceiling = start.saturating_add(within);
            let Some((end, after)) = self.forward(steps, i + 1, &anchor.next, anchor.time, ceiling) else {
                continue;
            };
            if end - start <= within {
                before.extend(after);
                before.sort_by_key(|e| e.time);
                before.dedup();
                for e in &before {
                    self.forget(e);
                }
                return Some(Chain { start, end, events: before });
            }
        }
        None
    }

    /// The latest start of steps `0..=i` completed by `anchor` at step `i`.
    fn anchor_back(
        &self,
        steps: &[Step],
        i: usize,
        anchor: &Entry,
        floor: i64,
    ) -> Option<(i64, Vec<Arc<Entry>>)> {
        let c = steps[i].count as usize;
        let all = &self.steps[i][&anchor.key];
        let lo = all.partition_point(|e| e.time < floor);
        let hi = all.partition_point(|e| e.time <= anchor.time);
        let same = &all[lo..hi];
        if same.len() < c {
            return None;
        }
        let chosen: Vec<Arc<Entry>> = same[same.len() - c..].to_vec();
        let start_i = chosen[0].time;
        if i == 0 {
            return Some((start_i, chosen));
        }
        let (start, mut events) = self.back(steps, i - 1, &anchor.key, start_i, floor)?;
        events.extend(chosen);
        Some((start, events))
    }

    /// The latest start of steps `0..=j` whose step `j` joins `key` by `time`.
    fn back(
        &self,
        steps: &[Step],
        j: usize,
        key: &str,
        time: i64,
        floor: i64,
    ) -> Option<(i64, Vec<Arc<Entry>>)> {
        let cands = self.by_next[j].get(key)?;
        let from = cands.partition_point(|e| e.time < floor);
        let upto = cands.partition_point(|e| e.time <= time);
        let cands = &cands[from..upto.max(from)];
        let c = steps[j].count as usize;
        if c > 1 {
            if cands.len() < c {
                return None;
            }
            let chosen = cands[cands.len() - c..].to_vec();
            let s = chosen[0].time;
            if j == 0 {
                return Some((s, chosen));
            }
            let (start, mut events) = self.back(steps, j - 1, key, s, floor)?;
            events.extend(chosen);
            return Some((start, events));
        }
        let mut best: Option<(i64, Vec<Arc<Entry>>)> = None;
        for cand in cands.iter().rev().take(MAX_ANCHORS) {
            let found = if j == 0 {
                Some((cand.time, vec![cand.clone()]))
            } else {
                self.back(steps, j - 1, &cand.key, cand.time, floor).map(|(s, mut ev)| {
                    ev.push(cand.clone());
                    (s, ev)
                })
            };
            if let Some(f) = found {
                if best.as_ref().is_none_or(|b| f.0 > b.0) {
                    best = Some(f);
                }
                if j == 0 {
                    break; // the latest candidate is the latest start
                }
            }
        }
        best
    }

    /// The earliest end of steps `j..` whose step `j` joins `key` from `time` on.
    fn forward(
        &self,
        steps: &[Step],
        j: usize,
        key: &str,
        time: i64,
        ceiling: i64,
    ) -> Option<(i64, Vec<Arc<Entry>>)> {
        if j == steps.len() {
            return Some((time, Vec::new()));
        }
        let cands = self.steps[j].get(key)?;
        let from = cands.partition_point(|e| e.time < time);
        let upto = cands.partition_point(|e| e.time <= ceiling);
        let cands = &cands[from..upto.max(from)];
        let c = steps[j].count as usize;
        if c > 1 {
            if cands.len() < c {
                return None;
            }
            let chosen = cands[..c].to_vec();
            let (end, mut events) = self.forward(steps, j + 1, key, chosen[c - 1].time, ceiling)?;
            events.extend(chosen);
            return Some((end, events));
        }
        let mut best: Option<(i64, Vec<Arc<Entry>>)> = None;
        for cand in cands.iter().take(MAX_ANCHORS) {
            if let Some((end, mut ev)) = self.forward(steps, j + 1, &cand.next, cand.time, ceiling) {
                ev.push(cand.clone());
                if best.as_ref().is_none_or(|b| end < b.0) {
                    best = Some((end, ev));
                }
                if j + 1 == steps.len() {
                    break; // the earliest candidate is the earliest end
                }
            }
        }
        best
    }

    fn forget(&mut self, e: &Entry) {
        for (maps, k) in [(&mut self.steps, &e.key), (&mut self.by_next, &e.next)] {
            for m in maps.iter_mut() {
                if let Some(v) = m.get_mut(k) {
                    v.retain(|x| x != e);
                    if v.is_empty() {
                        m.remove(k);
                    }
                }
            }
        }
    }

    pub fn prune(&mut self, within: i64) {
        let horizon = horizon(self.newest, within, self.lateness);
        for maps in [&mut self.steps, &mut self.by_next] {
            for m in maps.iter_mut() {
                m.retain(|_, v| {
                    v.drop_oldest(v.partition_point(|e| e.time < horizon));
                    !v.is_empty()
                });
            }
        }
    }
}

/// Where a group was seen last: a travel rule's memory.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TravelState {
    pub groups: HashMap<String, Vec<Place>>,
    pub newest: i64,
    /// How long past the window late events still count (not saved).
    #[serde(skip, default = "default_lateness")]
    pub lateness: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Place {
    pub time: i64,
    pub id: String,
    pub ip: String,
    pub lat: f32,
    pub lon: f32,
}

/// Places kept per group, and for how long: enough for late records around a journey.
const PLACES_PER_GROUP: usize = 16;
const PLACES_FOR: i64 = 24 * 3_600_000;

/// An impossible journey: from a place to another faster than allowed.
#[derive(Debug, Clone, PartialEq)]
pub struct Journey {
    pub from: Place,
    pub to: Place,
    pub km: f64,
    pub kmh: f64,
}

impl TravelState {
    /// Adds a place of `group`; the fastest impossible journey between it and a place kept.
    pub fn add(&mut self, group: String, place: Place, max_kmh: f64, min_km: f64) -> Option<Journey> {
        use crate::geo::Location;
        self.newest = self.newest.max(place.time);
        if place.time < horizon(self.newest, PLACES_FOR, self.lateness) {
            return None;
        }
        let here = Location { lat: place.lat, lon: place.lon };
        let places = self.groups.entry(group).or_default();
        let mut worst: Option<Journey> = None;
        for p in places.iter() {
            let km = here.km_to(Location { lat: p.lat, lon: p.lon });
            if km < min_km {
                continue;
            }
            // Events a second apart from two continents are no slower than a minute apart:
            // CloudTrail times are to the second, so at least a minute is assumed.
            let hours = ((place.time - p.time).abs().max(60_000)) as f64 / 3_600_000.0;
            let kmh = km / hours;
            if kmh > max_kmh && worst.as_ref().is_none_or(|w| kmh > w.kmh) {
                let (from, to) = if p.time <= place.time {
                    (p.clone(), place.clone())
                } else {
                    (place.clone(), p.clone())
                };
                worst = Some(Journey { from, to, km, kmh });
            }
        }
        let at = places.partition_point(|p| p.time <= place.time);
        places.insert(at, place);
        if places.len() > PLACES_PER_GROUP {
            places.remove(0);
        }
        worst
    }

    pub fn prune(&mut self) {
        let horizon = horizon(self.newest, PLACES_FOR, self.lateness);
        self.groups.retain(|_, v| {
            v.retain(|p| p.time >= horizon);
            !v.is_empty()
        });
    }
}

impl Default for ThresholdState {
    fn default() -> Self {
        ThresholdState { groups: HashMap::new(), newest: i64::MIN, lateness: LATENESS }
    }
}

impl Default for SequenceState {
    fn default() -> Self {
        SequenceState { steps: Vec::new(), newest: i64::MIN, lateness: LATENESS, by_next: Vec::new() }
    }
}

impl Default for TravelState {
    fn default() -> Self {
        TravelState { groups: HashMap::new(), newest: i64::MIN, lateness: LATENESS }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(time: i64) -> Hit {
        Hit { time, id: format!("e{time}"), value: None }
    }

    /// Hits that fell behind the horizon are kept for a while (dropped in bulk) but never
    /// counted: a late event next to them fires only with hits still inside the horizon.
    #[test]
    fn threshold_never_counts_hits_behind_the_horizon() {
        const WINDOW: i64 = 60_000;
        let mut st = ThresholdState::default();
        let x: i64 = 10_000_000_000;
        let horizon = x - WINDOW - LATENESS;
        let g = || "g".to_string();
        // Ten hits within one window, soon to be behind the horizon.
        for k in 0..10 {
            assert!(st.add(g(), hit(horizon - 30_000 + k * 1_000), WINDOW, 11, false).is_none());
        }
        // Filler that never makes 11 in a minute, then the newest hit, which moves the horizon.
        for k in 0..25 {
            assert!(st.add(g(), hit(x - 250_000 + k * 10_000), WINDOW, 11, false).is_none());
        }
        assert!(st.add(g(), hit(x), WINDOW, 11, false).is_none());
        assert!(st.groups["g"].len() > 26, "the stale hits are still held (dropped in bulk later)");
        // A late hit whose window covers the ten stale ones: 11 in a minute, but ten are stale.
        assert!(st.add(g(), hit(horizon + 5_000), WINDOW, 11, false).is_none());
        // Ten more live hits next to it fire, with live hits only.
        let mut fired = None;
        for k in 1..=10 {
            fired = fired.or(st.add(g(), hit(horizon + 5_000 + k * 100), WINDOW, 11, false));
        }
        let fired = fired.expect("11 live hits in a minute fire");
        assert_eq!(fired.len(), 11);
        assert!(fired.iter().all(|h| h.time >= horizon));
    }

    fn entry(time: i64) -> Arc<Entry> {
        Arc::new(Entry { time, id: format!("e{time}"), key: "k".into(), next: "n".into(), group: "g".into() })
    }

    /// A key's entries stay sorted, keep the newest MAX_PER_KEY, and save as a plain list.
    #[test]
    fn recent_entries_keep_the_newest_in_order() {
        let mut r = Recent::default();
        for t in [5, 1, 3, 3, 9, 0] {
            r.insert_sorted(entry(t));
        }
        let times = |r: &Recent| r.iter().map(|e| e.time).collect::<Vec<_>>();
        assert_eq!(times(&r), [0, 1, 3, 3, 5, 9]);
        r.drop_oldest(2);
        assert_eq!(times(&r), [3, 3, 5, 9]);
        r.insert_sorted(entry(4));
        assert_eq!(times(&r), [3, 3, 4, 5, 9]);
        let json = serde_json::to_string(&r).unwrap();
        let back: Recent = serde_json::from_str(&json).unwrap();
        assert_eq!(times(&back), [3, 3, 4, 5, 9]);
        assert!(json.starts_with("[{\"time\":3,"), "{json}");
        r.retain(|e| e.time != 3);
        assert_eq!(times(&r), [4, 5, 9]);

        let mut r = Recent::default();
        for t in 0..(3 * MAX_PER_KEY as i64) {
            r.insert_sorted(entry(t));
            assert!(r.len() <= MAX_PER_KEY && r.items.len() <= 2 * MAX_PER_KEY);
        }
        assert_eq!(r.first().map(|e| e.time), Some(2 * MAX_PER_KEY as i64));
        assert_eq!(r.last().map(|e| e.time), Some(3 * MAX_PER_KEY as i64 - 1));
    }

    /// Only the newest MAX_PER_GROUP hits count, however many are held.
    #[test]
    fn threshold_counts_the_newest_hits_only() {
        let mut st = ThresholdState::default();
        let n = MAX_PER_GROUP as i64;
        // n + 500 hits at the same minute: they would fire at count n + 1 if all counted.
        for k in 0..n + 500 {
            assert!(st.add("g".into(), hit(k), 60_000, n as u64 + 1, false).is_none());
        }
        assert!(st.groups["g"].len() <= MAX_PER_GROUP + DRAIN_AT);
        let mut st = ThresholdState::default();
        let fired = (0..n).find_map(|k| st.add("g".into(), hit(k), 60_000, n as u64, false));
        assert_eq!(fired.map(|f| f.len()), Some(MAX_PER_GROUP));
    }
}
