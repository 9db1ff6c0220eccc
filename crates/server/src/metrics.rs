//! Prometheus metrics at `/metrics`: HTTP requests by route and status, logins, and gauges
//! read at scrape time (store size, signals by status). Names follow
//! `trailwatch_<subsystem>_<name>_<unit>[_total]`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use trailwatch_store::EventStore;

use crate::error::Result;
use crate::AppState;

#[derive(Default)]
pub(crate) struct Metrics {
    /// (route, status) → requests. Routes are the router's patterns, so the set is bounded.
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    /// (route) → total seconds spent answering.
    seconds: Mutex<BTreeMap<String, f64>>,
    login_failures: AtomicU64,
    login_rate_limited: AtomicU64,
}

impl Metrics {
    pub(crate) fn login_failed(&self) {
        self.login_failures.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn login_rate_limited(&self) {
        self.login_rate_limited.fetch_add(1, Ordering::Relaxed);
    }
}

/// Counts every request by its route pattern and response status.
pub(crate) async fn track(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", |m| m.as_str()).to_owned();
    let started = std::time::Instant::now();
    let response = next.run(req).await;
    let m = &app.inner().metrics;
    let status = response.status().as_u16();
    *m.requests.lock().unwrap_or_else(|p| p.into_inner()).entry((route.clone(), status)).or_default() += 1;
    *m.seconds.lock().unwrap_or_else(|p| p.into_inner()).entry(route).or_default() +=
        started.elapsed().as_secs_f64();
    response
}

/// Label values escaped as the text format wants.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// `GET /metrics`: the Prometheus text format.
pub(crate) async fn render(State(app): State<AppState>) -> Result<Response> {
    let (stats, signals) = app
        .blocking(|i| {
            let stats = i.store()?.stats()?;
            let signals = i.state().signal_counts()?;
            Ok((stats, signals))
        })
        .await?;
    let m = &app.inner().metrics;
    let mut out = String::new();
    let mut gauge = |name: &str, help: &str, value: u64| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}");
    };
    gauge("trailwatch_store_events", "Events in the store.", stats.events);
    gauge("trailwatch_store_segments", "Segment files in the store.", stats.segments as u64);
    gauge("trailwatch_store_index_bytes", "Size of the index on disk.", stats.index_bytes);
    let _ = writeln!(
        out,
        "# HELP trailwatch_detect_signals Signals by status.\n# TYPE trailwatch_detect_signals gauge"
    );
    for status in ["open", "acknowledged", "resolved", "muted"] {
        let n = signals.iter().find(|(s, _)| s == status).map_or(0, |(_, n)| *n);
        let _ = writeln!(out, "trailwatch_detect_signals{{status=\"{status}\"}} {n}");
    }
    let _ = writeln!(
        out,
        "# HELP trailwatch_http_requests_total HTTP requests by route and status.\n# TYPE trailwatch_http_requests_total counter"
    );
    for ((route, status), n) in m.requests.lock().unwrap_or_else(|p| p.into_inner()).iter() {
        let _ = writeln!(
            out,
            "trailwatch_http_requests_total{{route=\"{}\",status=\"{status}\"}} {n}",
            label(route)
        );
    }
    let _ = writeln!(
        out,
        "# HELP trailwatch_http_request_duration_seconds_total Time spent answering, by route.\n# TYPE trailwatch_http_request_duration_seconds_total counter"
    );
    for (route, s) in m.seconds.lock().unwrap_or_else(|p| p.into_inner()).iter() {
        let _ = writeln!(
            out,
            "trailwatch_http_request_duration_seconds_total{{route=\"{}\"}} {s:.6}",
            label(route)
        );
    }
    for (name, help, v) in [
        (
            "trailwatch_auth_login_failures_total",
            "Logins refused for a wrong username or password.",
            &m.login_failures,
        ),
        (
            "trailwatch_auth_login_rate_limited_total",
            "Logins refused by the rate limit.",
            &m.login_rate_limited,
        ),
    ] {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
            v.load(Ordering::Relaxed)
        );
    }
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], out).into_response())
}
