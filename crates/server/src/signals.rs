//! Signals and rules: listing signals, one signal with its rule and sample events, changing a
//! signal's status (shared with `trailwatch signals ack|resolve|mute|reopen`), and the rules.

use axum::extract::{Path, State};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{json, Value};
use trailwatch_detect::{Rule, Severity, Signal, SignalStatus};
use trailwatch_ingest::detect::signal_row;
use trailwatch_store::{EventStore, OutboxRow, SignalFilter};

use crate::api::{now_ms, parse_time, Body, Params};
use crate::auth::User;
use crate::error::{ApiError, Result};
use crate::AppState;

/// A rule as the API and `trailwatch rules list --format json` show it.
pub fn rule_json(r: &Rule) -> Value {
    json!({
        "id": r.id, "name": r.name, "description": r.description, "severity": r.severity,
        "tags": r.tags, "tactics": r.tactics, "techniques": r.techniques, "query": r.query_text,
        "method": r.method.name(), "group_by": r.group_by.iter().map(|f| f.to_string()).collect::<Vec<_>>(),
        "suppress_ms": r.suppress, "runbook": r.runbook, "references": r.references,
        "enabled": r.enabled, "dry_run": r.dry_run, "tests": r.tests.len(), "origin": r.origin,
    })
}

/// What a status change did.
#[derive(Debug, Clone)]
pub struct StatusChange {
    pub previous: SignalStatus,
    pub signal: Signal,
}

/// Sets a signal's status, recording who and when. Resolving a signal that was notified also
/// queues a `resolve` notification (PagerDuty closes its incident). `None`: no such signal.
pub fn change_status(
    state: &mut trailwatch_store::State,
    id: &str,
    status: SignalStatus,
    by: &str,
    now: i64,
) -> Result<Option<StatusChange>, crate::Error> {
    let Some(body) = state.signal(id)? else { return Ok(None) };
    let mut s: Signal = serde_json::from_str(&body)
        .map_err(|e| crate::Error::Invalid(format!("signal {id:?} cannot be read: {e}")))?;
    let previous = s.status;
    s.status = status;
    s.status_by = Some(by.to_owned());
    s.status_at = Some(now);
    let resolve =
        (status == SignalStatus::Resolved && previous != SignalStatus::Resolved && s.notified_at.is_some())
            .then(|| OutboxRow {
                signal_id: s.id.clone(),
                action: "resolve".into(),
                body: serde_json::to_string(&s).expect("signals serialize"),
                created_at: now,
            });
    state.update_signal(&signal_row(&s), resolve.as_ref())?;
    Ok(Some(StatusChange { previous, signal: s }))
}

#[derive(Deserialize)]
pub struct ListParams {
    status: Option<String>,
    since: Option<String>,
    min_severity: Option<String>,
    rule: Option<String>,
    limit: Option<usize>,
}

fn status(s: &str) -> Result<SignalStatus> {
    SignalStatus::parse(s).ok_or_else(|| {
        ApiError::BadRequest(format!("bad status {s:?}: open, acknowledged, resolved or muted"))
    })
}

/// `GET /api/v1/signals`: latest first.
pub async fn list(State(app): State<AppState>, Params(p): Params<ListParams>) -> Result<Json<Value>> {
    let filter = SignalFilter {
        status: p.status.as_deref().map(status).transpose()?.map(|s| s.as_str().to_owned()),
        since: parse_time("since", p.since.as_deref(), now_ms())?.unwrap_or(i64::MIN),
        min_severity: match p.min_severity.as_deref() {
            None => 0,
            Some(s) => Severity::parse(s).ok_or_else(|| {
                ApiError::BadRequest(format!("bad min_severity {s:?}: info, low, medium, high or critical"))
            })? as i64,
        },
        rule_id: p.rule,
        limit: match p.limit.unwrap_or(50) {
            n @ 1..=1000 => n,
            _ => return Err(ApiError::BadRequest("limit must be between 1 and 1000".into())),
        },
    };
    let bodies = app.blocking(move |i| Ok(i.state().signals(&filter)?)).await?;
    let signals: Vec<Value> = bodies
        .iter()
        .filter_map(|b| match serde_json::from_str::<Value>(b) {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::warn!(error = %e, "skipped a signal that cannot be read");
                None
            }
        })
        .collect();
    Ok(Json(json!({ "signals": signals })))
}

/// `GET /api/v1/signals/{id}`: the signal, its rule (description, runbook) and the sample
/// events still stored.
pub async fn show(State(app): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>> {
    app.blocking(move |i| {
        let body = i.state().signal(&id)?.ok_or_else(|| ApiError::NotFound(format!("no signal {id:?}")))?;
        let s: Signal = serde_json::from_str(&body).map_err(ApiError::internal)?;
        let rule = i.rules().iter().find(|r| r.id == s.rule_id).map(rule_json);
        let store = i.store()?;
        let mut events = Vec::new();
        for eid in &s.sample_event_ids {
            if let Some(e) = store.get(eid)? {
                events.push(e);
            }
        }
        Ok(Json(json!({ "signal": s, "rule": rule, "events": events })))
    })
    .await
}

#[derive(Deserialize)]
pub struct StatusBody {
    status: String,
}

/// `POST /api/v1/signals/{id}/status`: by the logged-in user, now.
pub async fn set_status(
    State(app): State<AppState>,
    Extension(user): Extension<User>,
    Path(id): Path<String>,
    Body(body): Body<StatusBody>,
) -> Result<Json<Value>> {
    let new = status(&body.status)?;
    let change = app
        .blocking(move |i| {
            let mut state = i.state();
            change_status(&mut state, &id, new, &user.username, now_ms())
                .map_err(ApiError::internal)?
                .ok_or_else(|| ApiError::NotFound(format!("no signal {id:?}")))
        })
        .await?;
    tracing::info!(signal = %change.signal.id, from = change.previous.as_str(), to = new.as_str(),
        by = change.signal.status_by.as_deref().unwrap_or(""), "signal status changed");
    Ok(Json(json!({ "previous": change.previous, "signal": change.signal })))
}

/// `GET /api/v1/rules`: with the switches people made applied.
pub async fn rules(State(app): State<AppState>) -> Result<Json<Value>> {
    let rules = app.blocking(crate::ui_api::rules_with_switches).await?;
    Ok(Json(json!({ "rules": rules })))
}

/// `GET /api/v1/rules/{id}`
pub async fn rule(State(app): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>> {
    let rules = app.blocking(crate::ui_api::rules_with_switches).await?;
    rules
        .into_iter()
        .find(|r| r["id"] == json!(id))
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no rule {id:?}")))
}
