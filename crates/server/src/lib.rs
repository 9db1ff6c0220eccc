//! How people see it: the HTTP API (JSON under `/api/v1`), its authentication (local users,
//! session cookies with CSRF tokens, API tokens), login rate limiting and Prometheus metrics.
//!
//! [`app`] builds the router from an [`AppState`]; [`serve`] runs it on a listener, over TLS
//! when given a certificate. Reference: docs/API.md.
//!
//! Architecture Invariant: every route but `/healthz` goes through [`auth::require`]; the list
//! of routes ([`ROUTES`]) is the one the OpenAPI document and the tests are checked against.

pub mod api;
pub mod auth;
mod error;
mod metrics;
mod openapi;
mod ratelimit;
pub mod signals;
pub mod tail;
mod tls;
pub mod ui;
pub mod ui_api;
pub mod users;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::routing::{get, post, put};
use axum::Router;
use trailwatch_detect::Rule;
use trailwatch_store::{EmbeddedStore, State};

pub use error::ApiError;
pub use ratelimit::LoginLimits;
pub use tls::TlsFiles;

/// What can go wrong outside a request: users, files, the listener.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] trailwatch_store::Error),
    #[error("{0}")]
    Io(String),
}

/// Every route, as (method, path) in the router's syntax. The OpenAPI document lists exactly
/// these (checked by a test).
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/metrics"),
    ("POST", "/api/v1/login"),
    ("POST", "/api/v1/logout"),
    ("GET", "/api/v1/session"),
    ("GET", "/api/v1/search"),
    ("GET", "/api/v1/tail"),
    ("GET", "/api/v1/facets"),
    ("GET", "/api/v1/histogram"),
    ("GET", "/api/v1/events/{id}"),
    ("GET", "/api/v1/fields"),
    ("GET", "/api/v1/stats"),
    ("GET", "/api/v1/signals"),
    ("GET", "/api/v1/signals/{id}"),
    ("POST", "/api/v1/signals/{id}/status"),
    ("GET", "/api/v1/rules"),
    ("GET", "/api/v1/rules/{id}"),
    ("POST", "/api/v1/rules/{id}/enabled"),
    ("POST", "/api/v1/rules/{id}/replay"),
    ("GET", "/api/v1/dashboards"),
    ("POST", "/api/v1/dashboards"),
    ("GET", "/api/v1/dashboards/{id}"),
    ("PUT", "/api/v1/dashboards/{id}"),
    ("DELETE", "/api/v1/dashboards/{id}"),
    ("GET", "/api/v1/sources"),
    ("GET", "/api/v1/openapi.json"),
];

/// How the server behaves.
#[derive(Debug, Clone)]
pub struct Options {
    /// How long a login session lasts (server side, whatever the cookie says).
    pub session_ttl: Duration,
    /// Mark the session cookie `Secure` (when serving over TLS).
    pub secure_cookies: bool,
    pub login_limits: LoginLimits,
    /// How often the store looks for commits of a running ingest, at most.
    pub refresh_every: Duration,
    /// How often a live tail asks the store for new events.
    pub tail_every: Duration,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            session_ttl: Duration::from_secs(12 * 3600),
            secure_cookies: false,
            login_limits: LoginLimits::default(),
            refresh_every: Duration::from_secs(1),
            tail_every: Duration::from_secs(1),
        }
    }
}

/// What every request shares: the store, the state database, the rules, limits and metrics.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    store: EmbeddedStore,
    state: Mutex<State>,
    rules: Vec<Rule>,
    options: Options,
    limiter: ratelimit::LoginLimiter,
    metrics: metrics::Metrics,
    refreshed: Mutex<Instant>,
    /// Password hashing is costly in memory and time: a few at a time.
    hashing: tokio::sync::Semaphore,
    /// Live tails open, at most [`tail::MAX_TAILS`].
    tails: Arc<tokio::sync::Semaphore>,
    /// Set when the server shuts down: live tails end (a graceful shutdown waits for every
    /// response to end, and theirs never would).
    closing: tokio::sync::watch::Sender<bool>,
}

impl AppState {
    /// `store` is opened for reading (as `trailwatch search` does); `state` is the data
    /// directory's SQLite state; `rules` are the loaded rules (for descriptions and runbooks).
    pub fn new(store: EmbeddedStore, state: State, rules: Vec<Rule>, options: Options) -> AppState {
        // The dummy hash checked for unknown users is made now, not on the first such login
        // (which would then take longer than a known user's and tell them apart).
        users::verify_password("", None);
        AppState(Arc::new(Inner {
            store,
            state: Mutex::new(state),
            rules,
            limiter: ratelimit::LoginLimiter::new(options.login_limits),
            options,
            metrics: metrics::Metrics::default(),
            refreshed: Mutex::new(Instant::now()),
            hashing: tokio::sync::Semaphore::new(2),
            tails: Arc::new(tokio::sync::Semaphore::new(tail::MAX_TAILS)),
            closing: tokio::sync::watch::Sender::new(false),
        }))
    }

    /// Runs `f` on a blocking thread (store queries and SQLite are synchronous); a panic there
    /// is an internal error, not a dropped connection.
    pub(crate) async fn blocking<T, F>(&self, f: F) -> error::Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> error::Result<T> + Send + 'static,
    {
        let inner = self.0.clone();
        tokio::task::spawn_blocking(move || f(&inner)).await.map_err(ApiError::internal)?
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.0
    }
}

impl Inner {
    /// The store, having looked for new commits if the last look is old enough.
    pub(crate) fn store(&self) -> error::Result<&EmbeddedStore> {
        let mut last = self.refreshed.lock().unwrap_or_else(|p| p.into_inner());
        if last.elapsed() >= self.options.refresh_every {
            self.store.refresh()?;
            *last = Instant::now();
        }
        Ok(&self.store)
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn rules(&self) -> &[Rule] {
        &self.rules
    }
}

/// The whole HTTP API and the web UI. Every API route but `/healthz` and the login requires a
/// session or an API token; the UI's pages redirect to the login page without a session.
pub fn app(state: AppState) -> Router {
    let protected = Router::new()
        .route("/metrics", get(metrics::render))
        .route("/api/v1/logout", post(auth::logout))
        .route("/api/v1/session", get(auth::session))
        .route("/api/v1/search", get(api::search))
        .route("/api/v1/tail", get(tail::tail))
        .route("/api/v1/facets", get(api::facets))
        .route("/api/v1/histogram", get(api::histogram))
        .route("/api/v1/events/{id}", get(api::event))
        .route("/api/v1/fields", get(api::fields))
        .route("/api/v1/stats", get(api::stats))
        .route("/api/v1/signals", get(signals::list))
        .route("/api/v1/signals/{id}", get(signals::show))
        .route("/api/v1/signals/{id}/status", post(signals::set_status))
        .route("/api/v1/rules", get(signals::rules))
        .route("/api/v1/rules/{id}", get(signals::rule))
        .route("/api/v1/rules/{id}/enabled", post(ui_api::switch_rule))
        .route("/api/v1/rules/{id}/replay", post(ui_api::replay_rule))
        .route("/api/v1/dashboards", get(ui_api::list_dashboards).post(ui_api::create_dashboard))
        .route(
            "/api/v1/dashboards/{id}",
            get(ui_api::get_dashboard).merge(put(ui_api::update_dashboard).delete(ui_api::delete_dashboard)),
        )
        .route("/api/v1/sources", get(ui_api::sources))
        .route("/api/v1/openapi.json", get(openapi::document))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), auth::require));
    Router::new()
        .route("/healthz", get(|| async { axum::Json(serde_json::json!({ "status": "ok" })) }))
        .route("/api/v1/login", post(auth::login))
        // The web UI: pages (the shell checks the session itself) and embedded assets.
        .route("/", get(ui::root))
        .route("/login", get(ui::login_page))
        .route("/ui", get(ui::root))
        .route("/ui/{*page}", get(ui::app_page))
        .route("/assets/{version}/{name}", get(ui::asset))
        .merge(protected)
        .fallback(|| async { ApiError::NotFound("no such endpoint".into()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::track))
        .layer(axum::middleware::from_fn(api::security_headers))
        .with_state(state)
}

/// Serves `app` on `listener` until `shutdown` completes: plain HTTP, or HTTPS with `tls`.
pub async fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    tls: Option<&TlsFiles>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let closing = state.0.clone();
    let shutdown = async move {
        shutdown.await;
        closing.closing.send_replace(true);
    };
    let router = app(state);
    let io = |e: std::io::Error| Error::Io(format!("serving: {e}"));
    match tls {
        None => axum::serve(listener, router.into_make_service_with_connect_info::<auth::ClientAddr>())
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(io),
        Some(files) => {
            let listener = tls::TlsListener::new(listener, files.config()?);
            axum::serve(listener, router.into_make_service_with_connect_info::<auth::ClientAddr>())
                .with_graceful_shutdown(shutdown)
                .await
                .map_err(io)
        }
    }
}

/// Where the data directory keeps the state database.
pub fn state_path(data_dir: &std::path::Path) -> PathBuf {
    data_dir.join("state.sqlite")
}
