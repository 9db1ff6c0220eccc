//! Query latency: typical searches, facets and histograms, p50 and p95 over repeated runs.

use std::time::Instant;

use anyhow::Result;
use trailwatch_query::{parse, KnownField};
use trailwatch_store::{EmbeddedStore, EventStore, FacetRequest, HistogramRequest, SearchRequest, TimeRange};

enum Kind {
    Search,
    Count,
    Facet(KnownField),
    Histogram(Option<KnownField>),
}

const QUERIES: &[(&str, &str)] = &[
    ("term", "service:iam"),
    ("term", "action:AssumeRole"),
    ("term", "outcome:failure"),
    ("term", "actor.type:Root"),
    ("term", "@userIdentity.type:IAMUser read_only:false"),
    ("term", "error_code:AccessDenied -service:s3"),
    ("wildcard", "action:Create* OR action:Delete*"),
    ("cidr", "source_ip:10.0.0.0/8"),
    ("free text", "\"not authorized\""),
    ("free text", "AccessDenied"),
    ("free text", "terraform*"),
];

pub fn report(store: &EmbeddedStore, runs: usize) -> Result<()> {
    let stats = store.stats()?;
    let range = TimeRange { from: stats.oldest, to: stats.newest.map(|t| t + 1) };
    println!("query latency over {} events ({runs} runs each after a warm-up; ms)", stats.events);
    println!("  {:<10} {:<58} {:>8} {:>8} {:>10}", "kind", "query", "p50", "p95", "matches");
    let mut cases: Vec<(String, &str, Kind)> = Vec::new();
    for (kind, q) in QUERIES {
        cases.push((format!("{kind} count"), q, Kind::Count));
    }
    cases.push(("search".into(), "service:iam", Kind::Search));
    cases.push(("search".into(), "\"not authorized\"", Kind::Search));
    cases.push(("search".into(), "", Kind::Search));
    cases.push(("facet".into(), "", Kind::Facet(KnownField::Service)));
    cases.push(("facet".into(), "", Kind::Facet(KnownField::ActorName)));
    cases.push(("facet".into(), "", Kind::Facet(KnownField::SourceIp)));
    cases.push(("facet".into(), "outcome:failure", Kind::Facet(KnownField::Action)));
    cases.push(("histogram".into(), "", Kind::Histogram(None)));
    cases.push(("histogram".into(), "", Kind::Histogram(Some(KnownField::Service))));
    cases.push(("histogram".into(), "action:ConsoleLogin", Kind::Histogram(Some(KnownField::Outcome))));
    let mut summary: Vec<(String, f64)> = Vec::new();
    for (label, q, kind) in &cases {
        let query = parse(q, 0).map_err(|e| anyhow::anyhow!("{q}: {e}"))?;
        let mut times = Vec::with_capacity(runs);
        let mut matches = 0u64;
        for i in 0..=runs {
            let t = Instant::now();
            matches = match kind {
                Kind::Count => store.count(&query, TimeRange::default())?,
                Kind::Search => {
                    let r = store.search(&SearchRequest {
                        query: query.clone(),
                        range: TimeRange::default(),
                        limit: 50,
                        offset: 0,
                        order: Default::default(),
                    })?;
                    r.total
                }
                Kind::Facet(f) => {
                    let r = store.facets(&FacetRequest {
                        query: query.clone(),
                        range: TimeRange::default(),
                        field: *f,
                        size: 10,
                    })?;
                    r.values.iter().map(|v| v.count).sum::<u64>() + r.other
                }
                Kind::Histogram(by) => {
                    let h = store.histogram(&HistogramRequest {
                        query: query.clone(),
                        range,
                        interval_ms: 3_600_000,
                        by: by.map(|f| (f, 5)),
                    })?;
                    h.series.iter().flat_map(|s| s.counts.iter()).sum()
                }
            };
            if i > 0 {
                times.push(t.elapsed().as_secs_f64() * 1000.0);
            }
        }
        times.sort_by(|a, b| a.total_cmp(b));
        let p50 = times[times.len() / 2];
        let p95 = times[((times.len() as f64 * 0.95).ceil() as usize).min(times.len()) - 1];
        let shown = match kind {
            Kind::Facet(f) => format!("{} by {}", if q.is_empty() { "*" } else { q }, f.name()),
            Kind::Histogram(Some(f)) => {
                format!("{} per 1h by {}", if q.is_empty() { "*" } else { q }, f.name())
            }
            Kind::Histogram(None) => format!("{} per 1h", if q.is_empty() { "*" } else { q }),
            Kind::Search => format!("{} (top 50 by time, with records)", if q.is_empty() { "*" } else { q }),
            Kind::Count => q.to_string(),
        };
        println!("  {label:<10} {shown:<58} {p50:>8.1} {p95:>8.1} {matches:>10}");
        summary.push((label.clone(), p50));
    }
    let worst = |pred: &dyn Fn(&str) -> bool| {
        summary.iter().filter(|(l, _)| pred(l)).map(|(_, t)| *t).fold(0.0, f64::max)
    };
    println!(
        "  worst p50: term/facet/histogram {:.1} ms (target <= 50); free text {:.1} ms (target <= 200)",
        worst(&|l| !l.starts_with("free text") && l != "search"),
        worst(&|l| l.starts_with("free text"))
    );
    Ok(())
}
