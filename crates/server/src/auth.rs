//! Who is asking: login and logout, session cookies, API tokens, and the middleware that
//! authenticates every protected request and checks the CSRF token of state-changing ones.
//!
//! A session id and a CSRF token are 256 random bits each. The cookie carries the session id;
//! the database keeps only its SHA-256, with a server-side expiry. A request authenticated by
//! its cookie that is not GET/HEAD must send the session's CSRF token in `X-CSRF-Token`; a
//! cross-site page can make the browser send the cookie (SameSite=Strict already stops that in
//! current browsers) but cannot read the token. Requests with `Authorization: Bearer tw_…` carry
//! no ambient credential, so they need no CSRF token.

use std::net::{IpAddr, SocketAddr};

use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::serve::IncomingStream;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use trailwatch_store::SessionRow;

use crate::api::Body;
use crate::error::{ApiError, Result};
use crate::users::{random_hex, sha256_hex, verify_password};
use crate::AppState;

pub const SESSION_COOKIE: &str = "tw_session";
pub const CSRF_HEADER: &str = "x-csrf-token";
pub const TOKEN_PREFIX: &str = "tw_";
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// The authenticated user of a request (in its extensions, put there by [`require`]).
#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub username: String,
    #[serde(flatten)]
    pub via: Via,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "via", rename_all = "lowercase")]
pub enum Via {
    Session {
        #[serde(skip)]
        id_hash: String,
        csrf: String,
        expires_at: i64,
    },
    Token {
        token_name: String,
    },
}

/// The client's address, as the connection gives it (no proxy header is trusted).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub Option<IpAddr>);

impl Connected<IncomingStream<'_, tokio::net::TcpListener>> for ClientAddr {
    fn connect_info(stream: IncomingStream<'_, tokio::net::TcpListener>) -> ClientAddr {
        ClientAddr(Some(stream.remote_addr().ip()))
    }
}

impl Connected<SocketAddr> for ClientAddr {
    fn connect_info(addr: SocketAddr) -> ClientAddr {
        ClientAddr(Some(addr.ip()))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<ClientAddr, Self::Rejection> {
        Ok(parts.extensions.get::<ConnectInfo<ClientAddr>>().map_or(ClientAddr(None), |c| c.0))
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// The value of a cookie in the request's `Cookie` headers.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Equal in time whatever the bytes, so a token cannot be guessed byte by byte.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Authenticates a request by its bearer token or its session cookie, and checks the CSRF
/// token of a state-changing request made with the cookie.
pub async fn require(State(app): State<AppState>, mut req: Request, next: Next) -> Result<Response> {
    let bearer = match req.headers().get(header::AUTHORIZATION) {
        None => None,
        Some(v) => {
            let v = v.to_str().map_err(|_| ApiError::Unauthenticated("bad authorization header"))?;
            let token = v
                .strip_prefix("Bearer ")
                .filter(|t| t.starts_with(TOKEN_PREFIX))
                .ok_or(ApiError::Unauthenticated("authorization must be Bearer tw_…"))?;
            Some(sha256_hex(token))
        }
    };
    let user = if let Some(hash) = bearer {
        let row = app.blocking(move |i| Ok(i.state().token(&hash)?)).await?;
        let row = row.ok_or(ApiError::Unauthenticated("unknown api token"))?;
        User { username: row.username, via: Via::Token { token_name: row.name } }
    } else {
        let id = cookie(req.headers(), SESSION_COOKIE).ok_or(ApiError::Unauthenticated("log in first"))?;
        let hash = sha256_hex(id);
        let now = now_ms();
        let row = app.blocking(move |i| Ok(i.state().session(&hash, now)?)).await?;
        let row = row.ok_or(ApiError::Unauthenticated("the session expired or ended; log in again"))?;
        let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
        if !safe {
            let sent = req.headers().get(CSRF_HEADER).map(|v| v.as_bytes()).unwrap_or_default();
            if !same(sent, row.csrf.as_bytes()) {
                return Err(ApiError::Forbidden("missing or wrong X-CSRF-Token header"));
            }
        }
        User {
            username: row.username,
            via: Via::Session { id_hash: row.id_hash, csrf: row.csrf, expires_at: row.expires_at },
        }
    };
    req.extensions_mut().insert(user);
    Ok(next.run(req).await)
}

/// The user of a live session named by the request's cookie, if any (the UI's pages).
pub(crate) async fn session_user(app: &AppState, headers: &HeaderMap) -> Option<String> {
    let hash = sha256_hex(cookie(headers, SESSION_COOKIE)?);
    let now = now_ms();
    let row = app.blocking(move |i| Ok(i.state().session(&hash, now)?)).await.ok()??;
    Some(row.username)
}

#[derive(Deserialize)]
pub struct LoginBody {
    username: String,
    password: String,
}

#[derive(Serialize)]
struct LoginReply {
    username: String,
    csrf: String,
    expires_at: i64,
}

/// `POST /api/v1/login`: checks the password (rate limited per username and per address) and
/// starts a session.
pub async fn login(
    State(app): State<AppState>,
    addr: ClientAddr,
    Body(body): Body<LoginBody>,
) -> Result<Response> {
    let inner = app.inner();
    let username = body.username.trim().to_owned();
    // The limit is checked and a failure recorded while holding one of the few hashing
    // permits: a burst of parallel guesses cannot all pass the check before any has failed.
    let permit = inner.hashing.acquire().await.map_err(ApiError::internal)?;
    inner.limiter.check(&username, addr.0).inspect_err(|_| inner.metrics.login_rate_limited())?;
    // Far longer than any password: refused without hashing (argon2 reads all of it).
    let ok = body.password.len() <= MAX_PASSWORD_BYTES && {
        let user = username.clone();
        app.blocking(move |i| {
            let hash = i.state().password_hash(&user)?;
            Ok(verify_password(&body.password, hash.as_deref()))
        })
        .await?
    };
    if !ok {
        inner.limiter.failed(&username, addr.0);
        drop(permit);
        inner.metrics.login_failed();
        tracing::warn!(username = %username, client = ?addr.0, "failed login");
        return Err(ApiError::Unauthenticated("wrong username or password"));
    }
    drop(permit);
    inner.limiter.succeeded(&username);
    let id = random_hex();
    let now = now_ms();
    let row = SessionRow {
        id_hash: sha256_hex(&id),
        username: username.clone(),
        csrf: random_hex(),
        created_at: now,
        expires_at: now + inner.options.session_ttl.as_millis() as i64,
    };
    let reply = LoginReply { username, csrf: row.csrf.clone(), expires_at: row.expires_at };
    app.blocking(move |i| Ok(i.state().add_session(&row)?)).await?;
    let cookie = format!(
        "{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        inner.options.session_ttl.as_secs(),
        if inner.options.secure_cookies { "; Secure" } else { "" }
    );
    let mut response = Json(reply).into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, HeaderValue::from_str(&cookie).map_err(ApiError::internal)?);
    Ok(response)
}

/// `POST /api/v1/logout`: ends the session (an API token stays valid) and clears the cookie.
pub async fn logout(State(app): State<AppState>, Extension(user): Extension<User>) -> Result<Response> {
    if let Via::Session { id_hash, .. } = user.via {
        app.blocking(move |i| Ok(i.state().delete_session(&id_hash)?)).await?;
    }
    let secure = if app.inner().options.secure_cookies { "; Secure" } else { "" };
    let cookie = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}");
    let mut response = Json(serde_json::json!({ "logged_out": true })).into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, HeaderValue::from_str(&cookie).map_err(ApiError::internal)?);
    Ok(response)
}

/// `GET /api/v1/session`: who is logged in, and the CSRF token of the session.
pub async fn session(Extension(user): Extension<User>) -> Json<User> {
    Json(user)
}
