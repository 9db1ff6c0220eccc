//! `GET /api/v1/tail`: the live tail as Server-Sent Events. Each message holds the events
//! matching the query that were committed since the previous one (at most [`PAGE`], with how
//! many there were), and its `id:` is the store's tail cursor after them, so that a client
//! reconnecting with `Last-Event-ID` continues with nothing missed and nothing twice.
//!
//! The store already looks for new commits at most once a second ([`crate::Options`]); a tail
//! asks it about as often, on a blocking thread, and costs a query over the newest segments
//! only ([`trailwatch_store::EventStore::tail`]), not a search.
//!
//! With `from`/`to`, only events whose time falls in the range come (and are counted): the
//! range becomes a `time` condition of the query, so the store filters as it does for a search.

use std::ops::Bound;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tokio::sync::{watch, OwnedSemaphorePermit};
use trailwatch_query::{FieldRef, KnownField, Predicate, Query, RangeValue};
use trailwatch_store::{EventStore, StoredEvent, TailPage, TimeRange};

use crate::api::{now_ms, parse_query, time_range, Params};
use crate::error::{ApiError, Result};
use crate::AppState;

/// Live tails open at once, at most (each polls the store about once a second).
pub const MAX_TAILS: usize = 64;
/// Events per message, at most; `total` says how many there were.
pub const PAGE: usize = 200;
/// A comment line this often keeps proxies and browsers from closing an idle stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

#[derive(Deserialize)]
pub struct TailParams {
    q: Option<String>,
    /// A cursor (a search answer's `cursor`, or a message's id); absent: from now.
    after: Option<u64>,
    /// The time range shown, as for a search (`from` inclusive, `to` exclusive; relative times
    /// are taken from when the tail opens).
    from: Option<String>,
    to: Option<String>,
}

/// One message's data.
#[derive(Serialize)]
struct Message {
    events: Vec<StoredEvent>,
    /// How many new events matched (more than `events` holds when over [`PAGE`]).
    total: u64,
}

/// What a running tail holds between messages.
struct Tail {
    app: AppState,
    query: Arc<Query>,
    cursor: u64,
    /// The first page, sent at once.
    first: Option<TailPage>,
    closing: watch::Receiver<bool>,
    /// Given back when the client goes away (the stream is dropped).
    _permit: OwnedSemaphorePermit,
}

/// `GET /api/v1/tail?q=&after=&from=&to=`, resumed by the `Last-Event-ID` header when present.
pub async fn tail(
    State(app): State<AppState>,
    headers: HeaderMap,
    Params(p): Params<TailParams>,
) -> Result<Response> {
    let now = now_ms();
    let query = parse_query(p.q.as_deref(), now)?;
    let query = Arc::new(within(query, time_range(p.from.as_deref(), p.to.as_deref(), now)?));
    let after = match headers.get("last-event-id") {
        Some(v) => Some(v.to_str().ok().and_then(|s| s.trim().parse::<u64>().ok()).ok_or_else(|| {
            ApiError::BadRequest("bad Last-Event-ID: the id of a message of this stream (a number)".into())
        })?),
        None => p.after,
    };
    let permit = app
        .inner()
        .tails
        .clone()
        .try_acquire_owned()
        .map_err(|_| ApiError::TooManyTails { limit: MAX_TAILS })?;
    // The first message comes at once: the events since `after`, or none "from now"; either way
    // its id is the cursor a reconnecting client resumes from.
    let q = query.clone();
    let first = app.blocking(move |i| Ok(i.store()?.tail(&q, after, PAGE)?)).await?;
    let closing = app.inner().closing.subscribe();
    let state = Tail { app, query, cursor: first.cursor, first: Some(first), closing, _permit: permit };
    let stream = futures_util::stream::unfold(state, next_message);
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)).into_response())
}

/// Waits for new matching events and makes them a message; `None` ends the stream (the
/// server is shutting down, or the store failed: the client reconnects and resumes).
async fn next_message(mut t: Tail) -> Option<(Result<Event, axum::Error>, Tail)> {
    if let Some(page) = t.first.take() {
        return Some((message(page), t));
    }
    let every = t.app.inner().options.tail_every;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = t.closing.changed() => return None,
        }
        if *t.closing.borrow() {
            return None;
        }
        let (query, after) = (t.query.clone(), t.cursor);
        match t.app.blocking(move |i| Ok(i.store()?.tail(&query, Some(after), PAGE)?)).await {
            Ok(page) => {
                t.cursor = page.cursor;
                if page.total > 0 {
                    return Some((message(page), t));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "a live tail stopped");
                return None;
            }
        }
    }
}

/// `query` and a `time` condition for the bounds `range` has.
fn within(query: Query, range: TimeRange) -> Query {
    if range.from.is_none() && range.to.is_none() {
        return query;
    }
    let from = range.from.map_or(Bound::Unbounded, |t| Bound::Included(RangeValue::Time(t)));
    let to = range.to.map_or(Bound::Unbounded, |t| Bound::Excluded(RangeValue::Time(t)));
    let time = Query::Field(FieldRef::Known(KnownField::Time), Predicate::Range(from, to));
    match query {
        Query::All => time,
        Query::And(mut parts) => {
            parts.push(time);
            Query::And(parts)
        }
        q => Query::And(vec![q, time]),
    }
}

fn message(page: TailPage) -> Result<Event, axum::Error> {
    Event::default().id(page.cursor.to_string()).json_data(Message { events: page.events, total: page.total })
}
