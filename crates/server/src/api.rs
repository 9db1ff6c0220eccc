//! The event endpoints: search, facets, histogram, one event, fields and stats; plus the
//! extractors that turn bad parameters and bodies into [`ApiError::BadRequest`] and the
//! security headers every response carries.

use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use axum::Json;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use trailwatch_query::{KnownField, Query};
use trailwatch_store::{
    EventStore, FacetRequest, FacetResult, Histogram, HistogramRequest, Order, SearchRequest, SearchResult,
    StoredEvent, TimeRange,
};

use crate::error::{ApiError, Result};
use crate::AppState;

pub const MAX_LIMIT: usize = 1000;
pub const MAX_OFFSET: usize = 100_000;
pub const MAX_BUCKETS: i64 = 10_000;

/// Query-string parameters; a bad one is a 400 with serde's message.
pub struct Params<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Params<T>> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Params(q.0))
            .map_err(|e| ApiError::BadRequest(e.body_text()))
    }
}

/// A JSON body; a bad one (or one not sent as `application/json`) is a 400.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Body<T>> {
        Json::<T>::from_request(req, state)
            .await
            .map(|j| Body(j.0))
            .map_err(|e| ApiError::BadRequest(e.body_text()))
    }
}

/// Headers on every response: no caching of API answers, no sniffing, no framing.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    // The UI's pages and assets set their own caching and policy; everything else gets none.
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
        );
    }
    response
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

pub(crate) fn parse_query(q: Option<&str>, now: i64) -> Result<Query> {
    Ok(trailwatch_query::parse(q.unwrap_or(""), now)?)
}

/// A time parameter: `-24h`, `now-7d`, `2024-08-01`, `2024-08-01T13:00:00Z`.
pub(crate) fn parse_time(name: &str, v: Option<&str>, now: i64) -> Result<Option<i64>> {
    v.filter(|s| !s.is_empty())
        .map(|s| {
            trailwatch_query::parse_time(s, now)
                .map_err(|e| ApiError::BadRequest(format!("bad {name} {s:?}: {e}")))
        })
        .transpose()
}

pub(crate) fn time_range(from: Option<&str>, to: Option<&str>, now: i64) -> Result<TimeRange> {
    let range = TimeRange { from: parse_time("from", from, now)?, to: parse_time("to", to, now)? };
    if let (Some(a), Some(b)) = (range.from, range.to) {
        if a >= b {
            return Err(ApiError::BadRequest("from must be before to".into()));
        }
    }
    Ok(range)
}

fn facetable(name: &str, param: &str) -> Result<KnownField> {
    KnownField::from_name(name).filter(|f| trailwatch_store::facetable_fields().any(|g| g == *f)).ok_or_else(
        || {
            let names: Vec<_> = trailwatch_store::facetable_fields().map(|f| f.name()).collect();
            ApiError::BadRequest(format!(
                "bad {param} {name:?}; fields that can be counted: {}",
                names.join(", ")
            ))
        },
    )
}

fn bounded(name: &str, v: Option<usize>, default: usize, max: usize) -> Result<usize> {
    match v.unwrap_or(default) {
        0 => Err(ApiError::BadRequest(format!("{name} must be at least 1"))),
        n if n > max => Err(ApiError::BadRequest(format!("{name} must be at most {max}"))),
        n => Ok(n),
    }
}

#[derive(Deserialize)]
pub struct SearchParams {
    q: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<usize>,
    offset: Option<usize>,
    order: Option<String>,
}

/// `GET /api/v1/search`
pub async fn search(
    State(app): State<AppState>,
    Params(p): Params<SearchParams>,
) -> Result<Json<SearchResult>> {
    let now = now_ms();
    let offset = p.offset.unwrap_or(0);
    if offset > MAX_OFFSET {
        return Err(ApiError::BadRequest(format!("offset must be at most {MAX_OFFSET}")));
    }
    let req = SearchRequest {
        query: parse_query(p.q.as_deref(), now)?,
        range: time_range(p.from.as_deref(), p.to.as_deref(), now)?,
        // `limit=0`: the count only (`total`, no events), without reading any record.
        limit: match p.limit {
            Some(0) => 0,
            limit => bounded("limit", limit, 50, MAX_LIMIT)?,
        },
        offset,
        order: match p.order.as_deref() {
            None | Some("newest") => Order::NewestFirst,
            Some("oldest") => Order::OldestFirst,
            Some(o) => return Err(ApiError::BadRequest(format!("bad order {o:?}: newest or oldest"))),
        },
    };
    Ok(Json(app.blocking(move |i| Ok(i.store()?.search(&req)?)).await?))
}

#[derive(Deserialize)]
pub struct FacetParams {
    field: Option<String>,
    q: Option<String>,
    from: Option<String>,
    to: Option<String>,
    size: Option<usize>,
}

/// `GET /api/v1/facets`
pub async fn facets(
    State(app): State<AppState>,
    Params(p): Params<FacetParams>,
) -> Result<Json<FacetResult>> {
    let now = now_ms();
    let field =
        p.field.as_deref().ok_or_else(|| ApiError::BadRequest("the field parameter is required".into()))?;
    let req = FacetRequest {
        field: facetable(field, "field")?,
        query: parse_query(p.q.as_deref(), now)?,
        range: time_range(p.from.as_deref(), p.to.as_deref(), now)?,
        size: bounded("size", p.size, 10, MAX_LIMIT)?,
    };
    Ok(Json(app.blocking(move |i| Ok(i.store()?.facets(&req)?)).await?))
}

#[derive(Deserialize)]
pub struct HistogramParams {
    q: Option<String>,
    from: Option<String>,
    to: Option<String>,
    interval: Option<String>,
    by: Option<String>,
    top: Option<usize>,
}

/// `GET /api/v1/histogram`. Without `from`/`to`, the stored events' own span.
pub async fn histogram(
    State(app): State<AppState>,
    Params(p): Params<HistogramParams>,
) -> Result<Json<Value>> {
    let now = now_ms();
    let query = parse_query(p.q.as_deref(), now)?;
    let range = time_range(p.from.as_deref(), p.to.as_deref(), now)?;
    let by = p.by.as_deref().map(|b| facetable(b, "by")).transpose()?;
    let top = bounded("top", p.top, 5, 50)?;
    let interval = p
        .interval
        .as_deref()
        .map(|s| {
            trailwatch_detect::duration::parse_duration(s)
                .map_err(|e| ApiError::BadRequest(format!("bad interval {s:?}: {e}")))
        })
        .transpose()?;
    let h: Option<Histogram> = app
        .blocking(move |i| {
            let store = i.store()?;
            let mut range = range;
            if range.from.is_none() || range.to.is_none() {
                let stats = store.stats()?;
                let (Some(oldest), Some(newest)) = (stats.oldest, stats.newest) else { return Ok(None) };
                range.from = range.from.or(Some(oldest));
                range.to = range.to.or(Some(newest + 1));
            }
            let (from, to) = (range.from.unwrap_or(0), range.to.unwrap_or(0));
            if from >= to {
                return Err(ApiError::BadRequest("from must be before to".into()));
            }
            let interval_ms = interval.unwrap_or_else(|| trailwatch_store::auto_interval(to - from));
            if interval_ms <= 0 || (to - from) / interval_ms > MAX_BUCKETS {
                return Err(ApiError::BadRequest(format!(
                    "interval too small: more than {MAX_BUCKETS} buckets over the range"
                )));
            }
            let req = HistogramRequest { query, range, interval_ms, by: by.map(|f| (f, top)) };
            Ok(Some(store.histogram(&req)?))
        })
        .await?;
    Ok(Json(match h {
        Some(h) => serde_json::to_value(h).map_err(ApiError::internal)?,
        None => json!({ "start": null, "interval_ms": null, "series": [] }),
    }))
}

/// `GET /api/v1/events/{id}`: one event with its original record.
pub async fn event(State(app): State<AppState>, Path(id): Path<String>) -> Result<Json<StoredEvent>> {
    let shown = id.chars().take(100).collect::<String>();
    let e = app.blocking(move |i| Ok(i.store()?.get(&id)?)).await?;
    e.map(Json).ok_or_else(|| ApiError::NotFound(format!("no event with id {shown:?}")))
}

/// `GET /api/v1/fields`: the normalized fields queries can use.
pub async fn fields() -> Json<Value> {
    let fields: Vec<Value> = KnownField::ALL
        .iter()
        .map(|f| {
            json!({
                "name": f.name(),
                "kind": format!("{:?}", f.kind()).to_lowercase(),
                "doc": f.doc(),
                "facetable": trailwatch_store::facetable_fields().any(|g| g == *f),
            })
        })
        .collect();
    Json(
        json!({ "fields": fields, "raw_paths": "any field of the original record as @path, e.g. @userIdentity.type" }),
    )
}

/// `GET /api/v1/stats`: the store, files read, signals by status, rules.
pub async fn stats(State(app): State<AppState>) -> Result<Json<Value>> {
    let (store, files, signals, rules) = app
        .blocking(|i| {
            let rules = crate::ui_api::rules_with_switches(i)?;
            let store = i.store()?.stats()?;
            let state = i.state();
            Ok((store, state.file_count()?, state.signal_counts()?, rules))
        })
        .await?;
    let (loaded, enabled) = (rules.len(), rules.iter().filter(|r| r["enabled"] == json!(true)).count());
    let signals: serde_json::Map<String, Value> = signals.into_iter().map(|(s, n)| (s, json!(n))).collect();
    Ok(Json(json!({
        "store": store,
        "files": files,
        "signals": signals,
        "rules": { "loaded": loaded, "enabled": enabled },
    })))
}
