//! Replaying rules over stored events: what they would have fired, without touching any
//! signal, rule state or notification (`trailwatch rules replay` and the API's dry run).

use std::collections::HashSet;

use trailwatch_detect::signal::apply;
use trailwatch_detect::{Engine, Rule, Signal};
use trailwatch_query::Query;
use trailwatch_store::{EventStore, Order, SearchRequest, TimeRange};

use crate::Result;

/// Runs `rules` on a fresh engine over the stored events of `range`, oldest first (paging by a
/// time cursor), and returns the signals they would raise (most severe, then latest, first)
/// with the number of events read. Only the events some rule's query can match are read.
pub fn replay(
    store: &dyn EventStore,
    rules: Vec<Rule>,
    range: TimeRange,
    geo: Option<std::sync::Arc<trailwatch_detect::geo::GeoDb>>,
) -> Result<(Vec<Signal>, u64)> {
    let mut queries: Vec<Query> = Vec::new();
    for r in &rules {
        queries.push(r.query.clone());
    }
    let query = if queries.iter().any(|q| matches!(q, Query::All)) { Query::All } else { Query::Or(queries) };
    let mut engine = Engine::new(rules);
    if let Some(g) = geo {
        engine.set_geo(g);
    }
    let mut signals: std::collections::HashMap<(String, String), Signal> = Default::default();
    let mut firings = Vec::new();
    let mut cursor = range.from;
    // Ids already seen at the cursor's millisecond: pages overlap by that millisecond.
    let mut at_cursor: HashSet<String> = HashSet::new();
    let mut events = 0u64;
    const PAGE: usize = 5_000;
    loop {
        let req = SearchRequest {
            query: query.clone(),
            range: TimeRange { from: cursor, to: range.to },
            limit: PAGE,
            offset: 0,
            order: Order::OldestFirst,
        };
        let page = store.search(&req)?;
        let n = page.events.len();
        let mut fresh = 0;
        let mut last = cursor;
        for se in page.events {
            let e = &se.event;
            if Some(e.time) == cursor && at_cursor.contains(&e.id) {
                continue;
            }
            if Some(e.time) != last {
                if last != cursor || Some(e.time) != cursor {
                    at_cursor.clear();
                }
                last = Some(e.time);
            }
            at_cursor.insert(e.id.clone());
            fresh += 1;
            events += 1;
            engine.observe(e, &mut firings);
            for f in firings.drain(..) {
                let rule = &engine.rules()[f.rule];
                let key = (f.rule_id.clone(), f.group.clone());
                let o = apply(signals.remove(&key), &f, rule, true);
                signals.insert(key, o.signal);
            }
        }
        if n < PAGE {
            break;
        }
        if fresh == 0 {
            // A whole page in one millisecond, all seen: step past it.
            cursor = cursor.map(|c| c + 1);
            at_cursor.clear();
        } else {
            cursor = last;
        }
    }
    let mut out: Vec<Signal> = signals.into_values().collect();
    out.sort_by(|a, b| b.severity.cmp(&a.severity).then(b.last_seen.cmp(&a.last_seen)).then(a.id.cmp(&b.id)));
    Ok((out, events))
}
