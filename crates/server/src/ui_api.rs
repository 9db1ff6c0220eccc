//! The endpoints the web UI needs beyond search and signals: dashboards (a built-in overview
//! and user dashboards saved in the state database), sources (what was read), switching rules
//! on or off, and replaying a rule over stored events (a dry run: nothing is saved).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use trailwatch_aws::report::{AccountDiscovery, DoctorRun};
use trailwatch_store::{DashboardRow, EventStore, RuleSwitch, TimeRange};

use crate::api::{now_ms, parse_time, Body};
use crate::auth::User;
use crate::error::{ApiError, Result};
use crate::signals::rule_json;
use crate::AppState;

/// What a widget shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WidgetKind {
    /// Counts over time (histogram), optionally split by a field, with signal markers.
    Timeseries,
    /// The top values of a field (facets).
    Toplist,
    /// One number: how many events match.
    Value,
    /// The latest matching events.
    Events,
    /// Signals by severity (raised in the range).
    Signals,
}

/// One widget: a query and how to show it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Widget {
    #[serde(rename = "type")]
    pub kind: WidgetKind,
    pub title: String,
    #[serde(default)]
    pub query: String,
    /// Time series: split by this field. Top list: the field counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Top list and event list: how many rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<usize>,
}

/// A dashboard as sent by the UI.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DashboardBody {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub widgets: Vec<Widget>,
}

pub const MAX_WIDGETS: usize = 40;

impl DashboardBody {
    /// Names, sizes, fields and every query checked; a bad query's error names its widget.
    fn validate(&self) -> Result<()> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(ApiError::BadRequest("a dashboard needs a name of 1 to 100 characters".into()));
        }
        if self.widgets.len() > MAX_WIDGETS {
            return Err(ApiError::BadRequest(format!("at most {MAX_WIDGETS} widgets")));
        }
        for (i, w) in self.widgets.iter().enumerate() {
            let n = i + 1;
            if w.title.chars().count() > 200 {
                return Err(ApiError::BadRequest(format!("widget {n}: the title is too long")));
            }
            if let Err(e) = trailwatch_query::parse(&w.query, now_ms()) {
                return Err(ApiError::BadRequest(format!(
                    "widget {n}: bad query at column {}: {}",
                    e.column, e.message
                )));
            }
            if let Some(f) = &w.field {
                let ok = trailwatch_query::KnownField::from_name(f)
                    .is_some_and(|k| trailwatch_store::facetable_fields().any(|g| g == k));
                if !ok {
                    return Err(ApiError::BadRequest(format!("widget {n}: {f:?} cannot be counted")));
                }
            }
            if w.kind == WidgetKind::Toplist && w.field.is_none() {
                return Err(ApiError::BadRequest(format!("widget {n}: a top list needs a field")));
            }
            if w.size.is_some_and(|s| s == 0 || s > 100) {
                return Err(ApiError::BadRequest(format!("widget {n}: size must be between 1 and 100")));
            }
        }
        Ok(())
    }
}

/// The built-in "CloudTrail overview".
pub fn overview() -> Value {
    let w = |kind: &str, title: &str, query: &str, field: Option<&str>| {
        let mut v = json!({ "type": kind, "title": title, "query": query });
        if let Some(f) = field {
            v["field"] = json!(f);
        }
        v
    };
    json!({
        "id": "overview",
        "builtin": true,
        "name": "CloudTrail overview",
        "description": "Activity, failures, who and from where, console logins and the signals raised",
        "widgets": [
            w("value", "Events", "", None),
            w("value", "Failed calls", "outcome:failure", None),
            w("value", "Console logins", "action:ConsoleLogin", None),
            w("signals", "Signals by severity", "", None),
            w("timeseries", "Events over time by service", "", Some("service")),
            w("timeseries", "Failures over time", "outcome:failure", Some("error_code")),
            w("toplist", "Top actors", "", Some("actor.name")),
            w("toplist", "Top source IPs", "", Some("source_ip")),
            w("toplist", "Activity by region", "", Some("region")),
            w("toplist", "Activity by account", "", Some("account")),
            w("timeseries", "Console logins: success and failure", "action:ConsoleLogin", Some("outcome")),
            w("events", "Latest failures", "outcome:failure", None),
        ],
    })
}

fn dashboard_json(row: &DashboardRow) -> Result<Value> {
    let mut v: Value = serde_json::from_str(&row.body).map_err(ApiError::internal)?;
    v["id"] = json!(row.id);
    v["builtin"] = json!(false);
    v["created_by"] = json!(row.created_by);
    v["created_at"] = json!(row.created_at);
    v["updated_by"] = json!(row.updated_by);
    v["updated_at"] = json!(row.updated_at);
    Ok(v)
}

/// `GET /api/v1/dashboards`: the built-in overview, then saved dashboards (oldest first).
pub async fn list_dashboards(State(app): State<AppState>) -> Result<Json<Value>> {
    let rows = app.blocking(|i| Ok(i.state().dashboards()?)).await?;
    let mut list = vec![overview()];
    for r in &rows {
        list.push(dashboard_json(r)?);
    }
    Ok(Json(json!({ "dashboards": list })))
}

/// `GET /api/v1/dashboards/{id}`
pub async fn get_dashboard(State(app): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>> {
    if id == "overview" {
        return Ok(Json(overview()));
    }
    let shown = id.clone();
    let row = app.blocking(move |i| Ok(i.state().dashboard(&id)?)).await?;
    let row = row.ok_or_else(|| ApiError::NotFound(format!("no dashboard {shown:?}")))?;
    Ok(Json(dashboard_json(&row)?))
}

/// `POST /api/v1/dashboards`: a new dashboard, with a new id.
pub async fn create_dashboard(
    State(app): State<AppState>,
    Extension(user): Extension<User>,
    Body(body): Body<DashboardBody>,
) -> Result<(StatusCode, Json<Value>)> {
    body.validate()?;
    let now = now_ms();
    let row = DashboardRow {
        id: format!("d-{}", &crate::users::random_hex()[..12]),
        body: serde_json::to_string(&body).map_err(ApiError::internal)?,
        created_by: user.username.clone(),
        created_at: now,
        updated_by: user.username,
        updated_at: now,
    };
    let saved = row.clone();
    app.blocking(move |i| Ok(i.state().put_dashboard(&saved)?)).await?;
    Ok((StatusCode::CREATED, Json(dashboard_json(&row)?)))
}

/// `PUT /api/v1/dashboards/{id}`: replaces a saved dashboard's name and widgets.
pub async fn update_dashboard(
    State(app): State<AppState>,
    Extension(user): Extension<User>,
    Path(id): Path<String>,
    Body(body): Body<DashboardBody>,
) -> Result<Json<Value>> {
    if id == "overview" {
        return Err(ApiError::BadRequest("the built-in overview cannot be changed; save a copy".into()));
    }
    body.validate()?;
    let text = serde_json::to_string(&body).map_err(ApiError::internal)?;
    let row = app
        .blocking(move |i| {
            let state = i.state();
            let mut row =
                state.dashboard(&id)?.ok_or_else(|| ApiError::NotFound(format!("no dashboard {id:?}")))?;
            row.body = text;
            row.updated_by = user.username;
            row.updated_at = now_ms();
            state.put_dashboard(&row)?;
            Ok(row)
        })
        .await?;
    Ok(Json(dashboard_json(&row)?))
}

/// `DELETE /api/v1/dashboards/{id}`
pub async fn delete_dashboard(State(app): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>> {
    if id == "overview" {
        return Err(ApiError::BadRequest("the built-in overview cannot be deleted".into()));
    }
    let shown = id.clone();
    let gone = app.blocking(move |i| Ok(i.state().delete_dashboard(&id)?)).await?;
    if !gone {
        return Err(ApiError::NotFound(format!("no dashboard {shown:?}")));
    }
    Ok(Json(json!({ "deleted": shown })))
}

/// `GET /api/v1/sources`: what was read, per source; the health of every AWS trail polled;
/// and per configured account what the last discovery found (settings, trails read or skipped
/// and why, errors) and the last `trailwatch doctor` report (all kept in the state by
/// trailwatch-aws).
pub async fn sources(State(app): State<AppState>) -> Result<Json<Value>> {
    let (summaries, stats, health, found, doctor) = app
        .blocking(|i| {
            let s = i.state().source_summaries()?;
            let aws = |e: trailwatch_aws::Error| ApiError::Internal(format!("aws sources: {e}"));
            let health = trailwatch_aws::health::TrailHealth::all(&i.state()).map_err(aws)?;
            let found = AccountDiscovery::all(&i.state()).map_err(aws)?;
            let doctor = DoctorRun::all(&i.state()).map_err(aws)?;
            Ok((s, i.store()?.stats()?, health, found, doctor))
        })
        .await?;
    let now = now_ms();
    let skipped =
        |arn: &str| found.iter().flat_map(|a| &a.trails).any(|t| t.arn == arn && t.skipped.is_some());
    let removed = |account: &str| found.iter().any(|a| a.id == account && a.removed_at.is_some());
    let trails: Vec<Value> = health
        .iter()
        .map(|t| {
            // A trail that stopped logging is not silent: it is skipped. Nor is one whose
            // account was removed from the configuration: it is no longer read.
            let account_removed = removed(&t.account);
            let s = t.summary(now, !skipped(&t.arn) && !account_removed);
            json!({
                "arn": t.arn, "name": t.name, "account": t.account, "account_removed": account_removed,
                "bucket": t.bucket,
                "last_file": t.last_file, "last_file_at": t.last_file_at,
                "last_error": t.last_error, "last_error_at": t.last_error_at,
                "polls": t.polls, "last_poll_at": t.last_poll_at,
                "files_per_hour": s.files_per_hour, "events_per_hour": s.events_per_hour,
                "lag_p50_ms": s.lag_p50_ms, "lag_p95_ms": s.lag_p95_ms, "silent": s.silent,
                "lists_total": t.lists_total, "gets_total": t.gets_total,
                "lists_per_day": s.lists_per_day, "gets_per_day": s.gets_per_day,
                "cost_per_day_usd": s.cost_per_day, "events_excluded": t.events_excluded_total,
                "backfilled_files": s.backfilled_files,
            })
        })
        .collect();
    let sources: Vec<Value> = summaries
        .iter()
        .map(|s| {
            json!({
                "source": s.source, "kind": if s.source == "local" { "files" } else { "s3" },
                "files": s.files, "events": s.events, "errors": s.errors, "failed_files": s.failed_files,
                "last_file_at": s.last_done_at, "last_modified": s.last_modified,
                "lag_ms": s.last_done_at.map(|t| now - t),
                "last_error": s.last_error.as_ref().map(|(path, error)| json!({ "path": path, "error": error })),
            })
        })
        .collect();
    Ok(Json(json!({
        "sources": sources,
        "store": { "events": stats.events, "oldest": stats.oldest, "newest": stats.newest },
        "trails": trails,
        "accounts": accounts_json(found, doctor),
    })))
}

/// Each account discovered or checked: its discovery (or `null`) and its last doctor run (or
/// `null`), in the order discovery saw them, then accounts only doctor checked.
fn accounts_json(found: Vec<AccountDiscovery>, mut doctor: Vec<DoctorRun>) -> Vec<Value> {
    let mut out = Vec::new();
    for a in found {
        let d = doctor.iter().position(|d| d.account == a.id).map(|i| doctor.remove(i));
        let trails: Vec<Value> = a
            .trails
            .iter()
            .map(|t| {
                json!({
                    "name": t.name, "arn": t.arn, "kind": t.kind, "home_region": t.home_region,
                    "bucket": t.bucket, "bucket_region": t.bucket_region, "prefix": t.prefix,
                    "kms_key_id": t.kms_key_id, "status": if t.skipped.is_some() { "skipped" } else { "reading" },
                    "skipped_reason": t.skipped, "stopped_at": t.stopped_at, "folders": t.folders,
                })
            })
            .collect();
        out.push(json!({
            "id": a.id, "name": a.name, "regions": a.regions, "mode": a.mode,
            "sqs_queue_url": a.sqs_queue_url, "role_arn": a.role_arn, "profile": a.profile,
            "poll_interval_secs": a.poll_interval_secs, "selection": a.selection,
            "discovered_at": a.at, "removed_at": a.removed_at, "trails": trails, "errors": a.errors,
            "doctor": d.map(doctor_json),
        }));
    }
    for d in doctor {
        out.push(json!({
            "id": d.account, "name": d.name, "regions": [], "mode": null, "sqs_queue_url": null,
            "role_arn": null, "profile": null, "poll_interval_secs": null, "selection": [],
            "discovered_at": null, "removed_at": null, "trails": [], "errors": [], "doctor": doctor_json(d),
        }));
    }
    out
}

fn doctor_json(d: DoctorRun) -> Value {
    json!({
        "at": d.at, "ok": d.ok, "notes": d.notes, "policy": d.policy,
        "checks": d.checks.iter().map(|c| json!({
            "permission": c.permission, "resource": c.resource, "ok": c.ok, "error": c.error,
            "statement": c.statement, "note": c.note,
        })).collect::<Vec<_>>(),
    })
}

/// The loaded rules with the switches people made (who and when) applied.
pub(crate) fn rules_with_switches(app: &crate::Inner) -> Result<Vec<Value>> {
    let switches = app.state().rule_switches()?;
    Ok(app
        .rules()
        .iter()
        .map(|r| {
            let mut v = rule_json(r);
            if let Some(s) = switches.iter().find(|s| s.rule_id == r.id) {
                v["enabled"] = json!(s.enabled);
                v["switched_by"] = json!(s.by);
                v["switched_at"] = json!(s.at);
            }
            v
        })
        .collect())
}

#[derive(Deserialize)]
pub struct SwitchBody {
    enabled: bool,
}

/// `POST /api/v1/rules/{id}/enabled`: switches a rule on or off for the next ingests (their
/// engine reads the switches from the state database).
pub async fn switch_rule(
    State(app): State<AppState>,
    Extension(user): Extension<User>,
    Path(id): Path<String>,
    Body(body): Body<SwitchBody>,
) -> Result<Json<Value>> {
    let rule = app
        .blocking(move |i| {
            if !i.rules().iter().any(|r| r.id == id) {
                return Err(ApiError::NotFound(format!("no rule {id:?}")));
            }
            let s =
                RuleSwitch { rule_id: id.clone(), enabled: body.enabled, by: user.username, at: now_ms() };
            i.state().set_rule_switch(&s)?;
            rules_with_switches(i)?
                .into_iter()
                .find(|r| r["id"] == json!(id))
                .ok_or_else(|| ApiError::internal("switched rule vanished"))
        })
        .await?;
    tracing::info!(rule = %rule["id"], enabled = body.enabled, "rule switched");
    Ok(Json(rule))
}

#[derive(Deserialize, Default)]
pub struct ReplayBody {
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
}

/// The most signals a replay answers with (the count is always complete).
pub const MAX_REPLAY_SIGNALS: usize = 200;

/// `POST /api/v1/rules/{id}/replay`: what the rule (enabled or not) would fire over the stored
/// events of a range (default: the last 7 days). Nothing is saved.
pub async fn replay_rule(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Body(body): Body<ReplayBody>,
) -> Result<Json<Value>> {
    let now = now_ms();
    let from = parse_time("from", body.from.as_deref(), now)?.unwrap_or(now - 7 * 86_400_000);
    let to = parse_time("to", body.to.as_deref(), now)?;
    if to.is_some_and(|t| t <= from) {
        return Err(ApiError::BadRequest("from must be before to".into()));
    }
    app.blocking(move |i| {
        let mut rule = i
            .rules()
            .iter()
            .find(|r| r.id == id)
            .cloned()
            .ok_or_else(|| ApiError::NotFound(format!("no rule {id:?}")))?;
        rule.enabled = true;
        let store = i.store()?;
        let (signals, events) =
            trailwatch_ingest::replay(store, vec![rule], TimeRange { from: Some(from), to }, None)
                .map_err(ApiError::internal)?;
        let total = signals.len();
        let shown: Vec<_> = signals.into_iter().take(MAX_REPLAY_SIGNALS).collect();
        Ok(Json(json!({
            "rule_id": id, "from": from, "to": to, "events_read": events,
            "total": total, "signals": shown,
        })))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: Value) -> Result<()> {
        serde_json::from_value::<DashboardBody>(v)
            .map_err(|e| ApiError::BadRequest(e.to_string()))?
            .validate()
    }

    #[test]
    fn the_overview_is_a_valid_dashboard() {
        let mut v = overview();
        for k in ["id", "builtin"] {
            v.as_object_mut().unwrap().remove(k);
        }
        body(v).unwrap();
    }

    #[test]
    fn bad_dashboards_say_which_widget() {
        let bad = |v: Value, want: &str| {
            let e = body(v).unwrap_err().to_string();
            assert!(e.contains(want), "{e:?} should contain {want:?}");
        };
        bad(json!({ "name": "", "widgets": [] }), "needs a name");
        bad(
            json!({ "name": "x", "widgets": [{ "type": "value", "title": "a", "query": "service:" }] }),
            "widget 1: bad query at column",
        );
        bad(json!({ "name": "x", "widgets": [{ "type": "toplist", "title": "a" }] }), "needs a field");
        bad(
            json!({ "name": "x", "widgets": [{ "type": "toplist", "title": "a", "field": "nope" }] }),
            "cannot be counted",
        );
        bad(json!({ "name": "x", "widgets": [{ "type": "pie", "title": "a" }] }), "unknown variant");
    }
}
