//! The HTTP API through its router (no socket), against a real store of the Stratus Red Team
//! records ingested with the built-in rules: every endpoint, authentication, CSRF, rate
//! limiting, cookies and error bodies.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderMap, Request, StatusCode};
use axum::Router;
use serde_json::{json, Value};
use tower::ServiceExt;
use trailwatch_server::auth::ClientAddr;
use trailwatch_server::{app, users, AppState, LoginLimits, Options, ROUTES};
use trailwatch_store::{EmbeddedStore, SignalRow, State, StoreOptions};

const PASSWORD: &str = "correct horse battery staple";

/// A data directory with the Stratus records ingested (rules on, nothing notified), built once.
fn template() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let stratus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../cloudtrail/tests/data/stratus");
        let store = EmbeddedStore::open(dir.path(), StoreOptions::default()).unwrap();
        let mut state = State::open(&dir.path().join("state.sqlite")).unwrap();
        let now = chrono_now();
        let rules = trailwatch_detect::builtin_rules().rules;
        let mut detection = trailwatch_ingest::Detection::new(rules, Some(&state), true, now)
            .unwrap()
            .without_notifications();
        struct Quiet;
        impl trailwatch_ingest::Observer for Quiet {}
        let options = trailwatch_ingest::IngestOptions { now_ms: now, ..Default::default() };
        trailwatch_ingest::ingest(&[stratus], &store, &mut state, &options, &Quiet, Some(&mut detection))
            .unwrap();
        trailwatch_store::EventStore::finish(&store).unwrap();
        users::add_user(&state, "alice", PASSWORD).unwrap();
        dir
    })
    .path()
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

struct Fixture {
    dir: tempfile::TempDir,
    app: Router,
    token: String,
}

impl Fixture {
    fn data(&self) -> PathBuf {
        self.dir.path().to_owned()
    }
}

/// A fresh copy of the template with its own server state (limits, sessions, metrics).
fn fixture_with(options: Options) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(template(), dir.path());
    let state = State::open(&dir.path().join("state.sqlite")).unwrap();
    let token = users::create_token(&state, "alice", "tests").unwrap();
    let store = EmbeddedStore::open(dir.path(), StoreOptions::default()).unwrap();
    let rules = trailwatch_detect::builtin_rules().rules;
    let app = app(AppState::new(store, state, rules, options));
    Fixture { dir, app, token }
}

fn fixture() -> Fixture {
    fixture_with(Options::default())
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
    text: String,
}

async fn send(app: &Router, req: Request<Body>) -> Reply {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = axum::body::to_bytes(res.into_body(), 64 << 20).await.unwrap();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Reply { status, headers, body, text }
}

fn bearer(method: &str, uri: &str, token: &str, body: Option<Value>) -> Request<Body> {
    let b =
        Request::builder().method(method).uri(uri).header(header::AUTHORIZATION, format!("Bearer {token}"));
    with_body(b, body)
}

fn with_body(b: axum::http::request::Builder, body: Option<Value>) -> Request<Body> {
    match body {
        Some(v) => {
            b.header(header::CONTENT_TYPE, "application/json").body(Body::from(v.to_string())).unwrap()
        }
        None => b.body(Body::empty()).unwrap(),
    }
}

async fn get(f: &Fixture, uri: &str) -> Reply {
    send(&f.app, bearer("GET", uri, &f.token, None)).await
}

fn login_request(username: &str, password: &str, from: Option<IpAddr>) -> Request<Body> {
    let mut req = with_body(
        Request::builder().method("POST").uri("/api/v1/login"),
        Some(json!({ "username": username, "password": password })),
    );
    if let Some(ip) = from {
        req.extensions_mut().insert(ConnectInfo(ClientAddr(Some(ip))));
    }
    req
}

/// Logs in as alice: (the `Cookie` header value, the CSRF token, the `Set-Cookie` header).
async fn login(app: &Router) -> (String, String, String) {
    let r = send(app, login_request("alice", PASSWORD, None)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let set = r.headers.get(header::SET_COOKIE).unwrap().to_str().unwrap().to_owned();
    let cookie = set.split(';').next().unwrap().to_owned();
    (cookie, r.body["csrf"].as_str().unwrap().to_owned(), set)
}

fn with_cookie(
    method: &str,
    uri: &str,
    cookie: &str,
    csrf: Option<&str>,
    body: Option<Value>,
) -> Request<Body> {
    let mut b = Request::builder().method(method).uri(uri).header(header::COOKIE, cookie);
    if let Some(c) = csrf {
        b = b.header("X-CSRF-Token", c);
    }
    with_body(b, body)
}

/// Some signal raised by the Stratus records.
async fn a_signal(f: &Fixture) -> Value {
    let r = get(f, "/api/v1/signals?limit=1000").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let signals = r.body["signals"].as_array().unwrap();
    assert!(signals.len() > 20, "the Stratus records raise many signals: {}", signals.len());
    signals[0].clone()
}

fn uri_for(path: &str, event: &str, signal: &str) -> String {
    let id = if path.starts_with("/api/v1/events") {
        event
    } else if path.starts_with("/api/v1/signals") {
        signal
    } else {
        "cloudtrail-stop-logging"
    };
    let path = path.replace("{id}", &urlencode(id));
    match path.as_str() {
        "/api/v1/facets" => format!("{path}?field=service"),
        _ => path,
    }
}

fn a_dashboard(name: &str) -> Value {
    json!({ "name": name, "widgets": [
        { "type": "timeseries", "title": "by service", "query": "", "field": "service" },
        { "type": "toplist", "title": "actors", "query": "outcome:failure", "field": "actor.name", "size": 5 },
    ] })
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test]
async fn healthz_is_open_and_every_other_route_needs_authentication() {
    let f = fixture();
    let r = send(&f.app, Request::get("/healthz").body(Body::empty()).unwrap()).await;
    assert_eq!((r.status, r.body.clone()), (StatusCode::OK, json!({ "status": "ok" })));
    for (method, path) in ROUTES.iter().filter(|(_, p)| *p != "/healthz" && *p != "/api/v1/login") {
        let uri = uri_for(path, "x", "y");
        let req = with_body(Request::builder().method(*method).uri(&uri), Some(json!({ "status": "open" })));
        let r = send(&f.app, req).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{method} {uri}: {}", r.text);
        assert!(r.body["error"].is_string(), "{method} {uri}: {}", r.text);
        let r = send(&f.app, bearer(method, &uri, "tw_0000", None)).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{method} {uri} with an unknown token");
        let r = send(&f.app, with_cookie(method, &uri, "tw_session=0123", None, None)).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{method} {uri} with an unknown session");
    }
}

#[tokio::test]
async fn every_route_answers_and_the_openapi_document_lists_exactly_the_routes() {
    let f = fixture();
    let event = get(&f, "/api/v1/search?limit=1").await.body["events"][0]["id"].as_str().unwrap().to_owned();
    let signal = a_signal(&f).await["id"].as_str().unwrap().to_owned();
    let doc = get(&f, "/api/v1/openapi.json").await;
    assert_eq!(doc.status, StatusCode::OK);
    assert_eq!(doc.body["openapi"], "3.1.0");
    let mut documented: Vec<(String, String)> = Vec::new();
    for (path, ops) in doc.body["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            documented.push((method.to_uppercase(), path.clone()));
        }
    }
    documented.sort();
    let mut routes: Vec<(String, String)> =
        ROUTES.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    routes.sort();
    assert_eq!(documented, routes, "openapi.json and ROUTES differ");
    let dashboard =
        send(&f.app, bearer("POST", "/api/v1/dashboards", &f.token, Some(a_dashboard("d")))).await;
    assert_eq!(dashboard.status, StatusCode::CREATED, "{}", dashboard.text);
    let dashboard = dashboard.body["id"].as_str().unwrap().to_owned();
    for (method, path) in ROUTES {
        if *path == "/api/v1/login" || *path == "/api/v1/logout" {
            continue; // their own tests
        }
        let mut uri = uri_for(path, &event, &signal);
        if path.starts_with("/api/v1/dashboards/") {
            uri = path.replace("{id}", &dashboard);
        }
        let body = match (*method, *path) {
            ("POST", "/api/v1/rules/{id}/enabled") => Some(json!({ "enabled": true })),
            ("POST", "/api/v1/rules/{id}/replay") => Some(json!({ "from": "2020-01-01" })),
            ("POST" | "PUT", p) if p.starts_with("/api/v1/dashboards") => Some(a_dashboard("e")),
            ("POST", _) => Some(json!({ "status": "acknowledged" })),
            _ => None,
        };
        if *path == "/api/v1/tail" {
            // A stream that never ends by itself: its first message is enough.
            let mut tail = open_tail(&f, &uri, None).await;
            assert_eq!(tail.next().await.1["events"], json!([]));
            continue;
        }
        let r = send(&f.app, bearer(method, &uri, &f.token, body)).await;
        let want = if (*method, *path) == ("POST", "/api/v1/dashboards") {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        assert_eq!(r.status, want, "{method} {uri}: {}", r.text);
    }
    let r = get(&f, "/api/v1/nothing-here").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.body["error"], "no such endpoint");
    let r = send(&f.app, Request::get("/api/v1/login").body(Body::empty()).unwrap()).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(r.body["error"].is_string(), "{}", r.text);
}

#[tokio::test]
async fn search_facets_histogram_events_fields_and_stats() {
    let f = fixture();
    let r = get(&f, "/api/v1/search?q=service:cloudtrail&limit=2&order=oldest").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let total = r.body["total"].as_u64().unwrap();
    assert!(total > 2, "{total}");
    let events = r.body["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert!(events[0]["time"].as_i64() <= events[1]["time"].as_i64(), "oldest first");
    assert_eq!(events[0]["record"]["eventSource"], "cloudtrail.amazonaws.com");
    let id = events[0]["id"].as_str().unwrap();

    let one = get(&f, &format!("/api/v1/events/{}", urlencode(id))).await;
    assert_eq!(one.status, StatusCode::OK);
    assert_eq!(one.body["id"], id);
    assert_eq!(one.body["record"]["eventID"], id);
    let missing = get(&f, "/api/v1/events/no-such-event").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.body["error"].as_str().unwrap().contains("no-such-event"));

    let all = get(&f, "/api/v1/search?limit=1").await;
    assert_eq!(all.body["total"], 310);
    let ranged = get(&f, "/api/v1/search?from=-1h").await;
    assert_eq!(ranged.body["total"], 0, "the records are older than an hour");
    let iso = get(&f, "/api/v1/search?from=2000-01-01&to=2100-01-01T00:00:00Z&limit=1").await;
    assert_eq!(iso.body["total"], 310);

    let facets = get(&f, "/api/v1/facets?field=service&size=3").await;
    assert_eq!(facets.status, StatusCode::OK, "{}", facets.text);
    assert_eq!(facets.body["field"], "service");
    assert_eq!(facets.body["values"].as_array().unwrap().len(), 3);

    let h = get(&f, "/api/v1/histogram?interval=1d&by=service&top=2").await;
    assert_eq!(h.status, StatusCode::OK, "{}", h.text);
    assert_eq!(h.body["interval_ms"], 86_400_000);
    let series = h.body["series"].as_array().unwrap();
    assert!(series.len() >= 2, "{series:?}");
    let counted: u64 =
        series.iter().flat_map(|s| s["counts"].as_array().unwrap()).map(|c| c.as_u64().unwrap()).sum();
    assert_eq!(counted, 310);

    let fields = get(&f, "/api/v1/fields").await;
    let names: Vec<&str> =
        fields.body["fields"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"service") && names.contains(&"actor.name"), "{names:?}");

    let stats = get(&f, "/api/v1/stats").await;
    assert_eq!(stats.body["store"]["events"], 310);
    assert!(stats.body["files"].as_u64().unwrap() > 30);
    assert!(stats.body["signals"]["open"].as_u64().unwrap() > 20, "{}", stats.text);
    assert_eq!(
        stats.body["rules"]["loaded"].as_u64(),
        Some(trailwatch_detect::builtin_rules().rules.len() as u64)
    );
}

#[tokio::test]
async fn search_with_limit_0_answers_the_count_only() {
    let f = fixture();
    for (params, expected) in [
        ("", Some(310)),
        ("q=service:cloudtrail", None),
        ("q=outcome:failure&from=2000-01-01&to=2100-01-01", None),
        ("q=service:cloudtrail&offset=5", None),
        ("from=-1h", Some(0)),
    ] {
        let full = get(&f, &format!("/api/v1/search?{params}&limit=1000")).await;
        assert_eq!(full.status, StatusCode::OK, "{params}: {}", full.text);
        let count = get(&f, &format!("/api/v1/search?{params}&limit=0")).await;
        assert_eq!(count.status, StatusCode::OK, "{params}: {}", count.text);
        assert_eq!(count.body["total"], full.body["total"], "{params}");
        assert_eq!(count.body["events"], json!([]), "{params}");
        assert_eq!(count.body["cursor"], full.body["cursor"], "{params}");
        if let Some(n) = expected {
            assert_eq!(count.body["total"], n, "{params}");
        }
    }
    let counted =
        get(&f, "/api/v1/search?q=service:cloudtrail&limit=0").await.body["total"].as_u64().unwrap();
    assert!(counted > 2 && counted < 310, "a query narrows the count: {counted}");
    let bad = get(&f, "/api/v1/search?q=service%3Aiam%20AND%20(&limit=0").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "a bad query is still refused: {}", bad.text);
    assert!(bad.body["column"].is_u64(), "{}", bad.text);
}

#[tokio::test]
async fn bad_input_gives_400_with_a_message_and_a_bad_query_its_column() {
    let f = fixture();
    let r = get(&f, "/api/v1/search?q=service%3Aiam%20AND%20(").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(r.body["error"].as_str().unwrap().starts_with("bad query"), "{}", r.text);
    assert!(r.body["column"].as_u64().unwrap() >= 17, "{}", r.text);
    let r = get(&f, "/api/v1/facets?field=service&q=%40a%3A%5B1").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body["column"].is_u64(), "{}", r.text);
    for uri in [
        "/api/v1/search?from=yesterday",
        "/api/v1/search?from=-1h&to=-2h",
        "/api/v1/search?limit=100000",
        "/api/v1/facets?field=service&size=0",
        "/api/v1/search?limit=abc",
        "/api/v1/search?order=sideways",
        "/api/v1/facets",
        "/api/v1/facets?field=nonsense",
        "/api/v1/histogram?interval=1ms&from=2000-01-01&to=2100-01-01",
        "/api/v1/histogram?interval=forever",
        "/api/v1/signals?status=closed",
        "/api/v1/signals?min_severity=huge",
    ] {
        let r = get(&f, uri).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{uri}: {}", r.text);
        assert!(!r.body["error"].as_str().unwrap().is_empty(), "{uri}");
        assert!(r.body.get("column").is_none(), "{uri}");
    }
    let signal = a_signal(&f).await["id"].as_str().unwrap().to_owned();
    let uri = format!("/api/v1/signals/{}/status", urlencode(&signal));
    let r = send(&f.app, bearer("POST", &uri, &f.token, Some(json!({ "status": "closed" })))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    let r = send(&f.app, bearer("POST", &uri, &f.token, Some(json!({ "state": "open" })))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(r.body["error"].is_string());
    let r = send(
        &f.app,
        bearer("POST", "/api/v1/signals/nope/status", &f.token, Some(json!({ "status": "open" }))),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn login_sets_a_strict_http_only_cookie_and_the_session_ends_at_logout() {
    let f = fixture();
    let (cookie, csrf, set) = login(&f.app).await;
    let (name, id) = cookie.split_once('=').unwrap();
    assert_eq!(name, "tw_session");
    assert_eq!(id.len(), 64, "256 random bits in hex");
    assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(csrf.len(), 64);
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(set.split("; ").any(|a| a == attr), "{attr} in {set}");
    }
    assert!(!set.contains("Secure"), "no TLS, no Secure: {set}");
    // Only a hash of the session id is kept.
    let state = State::open(&f.data().join("state.sqlite")).unwrap();
    assert!(state.session(id, 0).unwrap().is_none());
    assert!(state.session(&users::sha256_hex(id), 0).unwrap().is_some());

    let r = send(&f.app, with_cookie("GET", "/api/v1/session", &cookie, None, None)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["username"], "alice");
    assert_eq!(r.body["via"], "session");
    assert_eq!(r.body["csrf"], csrf.as_str());
    let r = send(&f.app, with_cookie("GET", "/api/v1/search?limit=1", &cookie, None, None)).await;
    assert_eq!(r.status, StatusCode::OK, "reading needs no CSRF token");

    let r = send(&f.app, with_cookie("POST", "/api/v1/logout", &cookie, None, None)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "logout changes state: CSRF token needed");
    let r = send(&f.app, with_cookie("POST", "/api/v1/logout", &cookie, Some(&csrf), None)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let cleared = r.headers.get(header::SET_COOKIE).unwrap().to_str().unwrap();
    assert!(cleared.starts_with("tw_session=;") && cleared.contains("Max-Age=0"), "{cleared}");
    let r = send(&f.app, with_cookie("GET", "/api/v1/session", &cookie, None, None)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "the session ended on the server");

    let secure = fixture_with(Options { secure_cookies: true, ..Options::default() });
    let (_, _, set) = login(&secure.app).await;
    assert!(set.split("; ").any(|a| a == "Secure"), "{set}");
}

#[tokio::test]
async fn sessions_expire_on_the_server() {
    let f = fixture_with(Options { session_ttl: Duration::from_millis(50), ..Options::default() });
    let (cookie, _, _) = login(&f.app).await;
    let r = send(&f.app, with_cookie("GET", "/api/v1/session", &cookie, None, None)).await;
    assert_eq!(r.status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(80)).await;
    let r = send(&f.app, with_cookie("GET", "/api/v1/session", &cookie, None, None)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn wrong_passwords_are_refused_and_rate_limited_per_username() {
    let f = fixture();
    for (user, pw) in [("alice", "wrong password"), ("nobody", PASSWORD)] {
        let r = send(&f.app, login_request(user, pw, None)).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert_eq!(r.body, json!({ "error": "wrong username or password" }), "the same for both");
        assert!(r.headers.get(header::SET_COOKIE).is_none());
    }
    for _ in 0..4 {
        let r = send(&f.app, login_request("alice", "still wrong", None)).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let r = send(&f.app, login_request("alice", PASSWORD, None)).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "five failures: even the right password waits");
    let retry: u64 = r.headers.get(header::RETRY_AFTER).unwrap().to_str().unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    assert!(r.body["error"].is_string());
    let r = send(&f.app, login_request("ALICE", PASSWORD, None)).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "usernames are limited case-insensitively");
    let metrics = get(&f, "/metrics").await.text;
    assert!(metrics.contains("trailwatch_auth_login_failures_total 6"), "{metrics}");
    assert!(metrics.contains("trailwatch_auth_login_rate_limited_total 2"), "{metrics}");
    let r = send(
        &f.app,
        with_body(
            Request::builder().method("POST").uri("/api/v1/login"),
            Some(json!({ "username": "alice" })),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    let r = send(
        &f.app,
        Request::post("/api/v1/login")
            .header(header::CONTENT_TYPE, "text/plain")
            .body(Body::from("{}"))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "only JSON bodies: {}", r.text);
}

#[tokio::test]
async fn failed_logins_are_rate_limited_per_client_address() {
    let limits = LoginLimits { per_username: 100, per_address: 3, window: Duration::from_secs(900) };
    let f = fixture_with(Options { login_limits: limits, ..Options::default() });
    let a: IpAddr = "127.0.0.7".parse().unwrap();
    let b: IpAddr = "127.0.0.8".parse().unwrap();
    for user in ["u1", "u2", "u3"] {
        assert_eq!(send(&f.app, login_request(user, "x", Some(a))).await.status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        send(&f.app, login_request("alice", PASSWORD, Some(a))).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(send(&f.app, login_request("alice", PASSWORD, Some(b))).await.status, StatusCode::OK);
}

#[tokio::test]
async fn state_changes_with_a_session_need_the_csrf_token_and_record_the_user() {
    let f = fixture();
    let signal = a_signal(&f).await;
    let id = signal["id"].as_str().unwrap();
    let uri = format!("/api/v1/signals/{}/status", urlencode(id));
    let (cookie, csrf, _) = login(&f.app).await;
    let body = || Some(json!({ "status": "acknowledged" }));
    let r = send(&f.app, with_cookie("POST", &uri, &cookie, None, body())).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert!(r.body["error"].as_str().unwrap().contains("CSRF"));
    let r = send(&f.app, with_cookie("POST", &uri, &cookie, Some(&"0".repeat(64)), body())).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "a wrong token");
    let unchanged = get(&f, &format!("/api/v1/signals/{}", urlencode(id))).await;
    assert_eq!(unchanged.body["signal"]["status"], signal["status"]);

    let before = chrono_now();
    let r = send(&f.app, with_cookie("POST", &uri, &cookie, Some(&csrf), body())).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["previous"], "open");
    let shown = get(&f, &format!("/api/v1/signals/{}", urlencode(id))).await;
    let s = &shown.body["signal"];
    assert_eq!(s["status"], "acknowledged");
    assert_eq!(s["status_by"], "alice");
    assert!(s["status_at"].as_i64().unwrap() >= before);
    let acked = get(&f, "/api/v1/signals?status=acknowledged").await;
    assert_eq!(acked.body["signals"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn api_tokens_need_no_csrf_token() {
    let f = fixture();
    let signal = a_signal(&f).await;
    let id = signal["id"].as_str().unwrap();
    let uri = format!("/api/v1/signals/{}/status", urlencode(id));
    let r = send(&f.app, bearer("POST", &uri, &f.token, Some(json!({ "status": "resolved" })))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["signal"]["status"], "resolved");
    assert_eq!(r.body["signal"]["status_by"], "alice");
    let who = get(&f, "/api/v1/session").await;
    assert_eq!(who.body, json!({ "username": "alice", "via": "token", "token_name": "tests" }));
    let r = send(
        &f.app,
        Request::get("/api/v1/stats")
            .header(header::AUTHORIZATION, "Basic YWxpY2U6eA==")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_signal_comes_with_its_rule_and_sample_events() {
    let f = fixture();
    let r = get(&f, "/api/v1/signals?rule=cloudtrail-stop-logging").await;
    let signals = r.body["signals"].as_array().unwrap();
    assert_eq!(signals.len(), 1, "{}", r.text);
    let id = signals[0]["id"].as_str().unwrap();
    let r = get(&f, &format!("/api/v1/signals/{}", urlencode(id))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["rule"]["id"], "cloudtrail-stop-logging");
    assert!(!r.body["rule"]["description"].as_str().unwrap().is_empty());
    assert!(r.body["rule"].get("runbook").is_some());
    let events = r.body["events"].as_array().unwrap();
    assert!(!events.is_empty());
    assert_eq!(events[0]["action"], "StopLogging");
    let high = get(&f, "/api/v1/signals?min_severity=critical&since=2000-01-01").await;
    assert!(high.body["signals"].as_array().unwrap().iter().all(|s| s["severity"] == "critical"));
    let rules = get(&f, "/api/v1/rules").await;
    assert_eq!(rules.body["rules"].as_array().unwrap().len(), trailwatch_detect::builtin_rules().rules.len());
    let rule = get(&f, "/api/v1/rules/cloudtrail-stop-logging").await;
    assert_eq!(rule.body["id"], "cloudtrail-stop-logging");
    assert_eq!(get(&f, "/api/v1/rules/nope").await.status, StatusCode::NOT_FOUND);
    assert_eq!(get(&f, "/api/v1/signals/nope").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn internal_errors_tell_nothing() {
    let f = fixture();
    let mut state = State::open(&f.data().join("state.sqlite")).unwrap();
    let row = SignalRow {
        id: "broken".into(),
        rule_id: "r".into(),
        group: "g".into(),
        status: "open".into(),
        severity: 2,
        first_seen: 1,
        last_seen: 1,
        body: "{ not json, /var/lib/secret.sqlite".into(),
    };
    state.update_signal(&row, None).unwrap();
    let r = get(&f, "/api/v1/signals/broken").await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(r.text, r#"{"error":"internal error"}"#);
    let list = get(&f, "/api/v1/signals?limit=1000").await;
    assert_eq!(list.status, StatusCode::OK, "a broken signal is left out of the list");
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status() {
    let f = fixture();
    get(&f, "/api/v1/search?limit=1").await;
    get(&f, "/api/v1/search?q=(").await;
    get(&f, "/api/v1/events/nope").await;
    let r = get(&f, "/metrics").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.headers[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/plain"));
    for line in [
        "trailwatch_store_events 310",
        "trailwatch_http_requests_total{route=\"/api/v1/search\",status=\"200\"} 1",
        "trailwatch_http_requests_total{route=\"/api/v1/search\",status=\"400\"} 1",
        "trailwatch_http_requests_total{route=\"/api/v1/events/{id}\",status=\"404\"} 1",
        "trailwatch_auth_login_failures_total 0",
        "# TYPE trailwatch_http_requests_total counter",
    ] {
        assert!(r.text.lines().any(|l| l == line), "{line} in\n{}", r.text);
    }
    assert!(r.text.contains("trailwatch_store_segments "));
    assert!(r.text.contains("trailwatch_store_index_bytes "));
    assert!(r.text.contains("trailwatch_detect_signals{status=\"open\"} "));
    assert_eq!(r.headers["x-content-type-options"], "nosniff");
    assert_eq!(r.headers["cache-control"], "no-store");
}

#[tokio::test]
async fn searches_see_what_an_ingest_commits_while_the_server_runs() {
    let f = fixture_with(Options { refresh_every: Duration::ZERO, ..Options::default() });
    assert_eq!(get(&f, "/api/v1/search?limit=1").await.body["total"], 310);
    // Another writer, as `trailwatch ingest` in another process would be.
    ingest_one(&f, "00000000-0000-4000-8000-000000000001");
    assert_eq!(get(&f, "/api/v1/search?limit=1").await.body["total"], 311);
    let r = get(&f, "/api/v1/events/00000000-0000-4000-8000-000000000001").await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn overlong_passwords_are_refused_without_hashing() {
    let f = fixture();
    let r = send(&f.app, login_request("alice", &"x".repeat(100_000), None)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_parallel_guesses_is_limited_too() {
    let f = fixture();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let app = f.app.clone();
        tasks.push(tokio::spawn(async move {
            send(&app, login_request("alice", &format!("guess number {i}"), None)).await.status
        }));
    }
    let mut refused = 0;
    for t in tasks {
        match t.await.unwrap() {
            StatusCode::UNAUTHORIZED => refused += 1,
            StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("{other}"),
        }
    }
    // Two hashes run at a time, so at most one guess past the limit of five is checked.
    assert!((5..=6).contains(&refused), "{refused} guesses were checked");
}

// ---- the web UI: pages, assets, dashboards, sources, rule switches and dry runs ----

#[tokio::test]
async fn ui_pages_need_a_session_and_assets_are_cached_by_version() {
    let f = fixture();
    let page = |uri: &str, cookie: Option<&str>| {
        let mut b = Request::get(uri);
        if let Some(c) = cookie {
            b = b.header(header::COOKIE, c);
        }
        b.body(Body::empty()).unwrap()
    };
    let r = send(&f.app, page("/ui/explorer?q=service%3Aiam", None)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.headers[header::LOCATION], "/login?next=/ui/explorer%3Fq%3Dservice%253Aiam");
    let r = send(&f.app, page("/ui/explorer", Some("tw_session=0123"))).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "an unknown session");
    for root in ["/", "/ui"] {
        let r = send(&f.app, page(root, None)).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        assert_eq!(r.headers[header::LOCATION], "/ui/explorer");
    }

    let login_page = send(&f.app, page("/login", None)).await;
    assert_eq!(login_page.status, StatusCode::OK);
    let (cookie, _, _) = login(&f.app).await;
    let r = send(&f.app, page("/ui/signals", Some(&cookie))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.text, login_page.text, "one shell for every page");
    assert!(r.headers[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/html"));
    assert_eq!(r.headers[header::CACHE_CONTROL], "no-cache");
    let csp = r.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("unsafe"), "{csp}");
    assert!(!r.text.contains("<script>") && !r.text.contains("style="), "no inline script or style");

    // Every asset the shell names, and every module those import, answers from this version.
    let version = trailwatch_server::ui::version();
    let prefix = format!("/assets/{version}/");
    let mut todo: Vec<String> =
        r.text.split(['"', '\'']).filter_map(|s| s.strip_prefix(&prefix)).map(str::to_owned).collect();
    assert!(todo.contains(&"app.js".to_owned()) && todo.contains(&"app.css".to_owned()), "{todo:?}");
    let mut seen = std::collections::BTreeSet::new();
    while let Some(name) = todo.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let r = send(&f.app, page(&format!("{prefix}{name}"), None)).await;
        assert_eq!(r.status, StatusCode::OK, "{name}");
        assert_eq!(r.headers[header::CACHE_CONTROL], "public, max-age=31536000, immutable", "{name}");
        if name.ends_with(".js") {
            assert!(r.headers[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/javascript"));
            for part in r.text.split(['\'', '"']).filter(|s| s.starts_with("./") && s.ends_with(".js")) {
                todo.push(part.trim_start_matches("./").to_owned());
            }
        }
    }
    for module in
        ["explorer.js", "signals.js", "dashboards.js", "rules.js", "sources.js", "chart.js", "api.js"]
    {
        assert!(seen.contains(module), "{module} is reached from the shell: {seen:?}");
    }
    let r = send(&f.app, page("/assets/0000/app.js", None)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers[header::CACHE_CONTROL], "no-cache", "another version is not cached");
    let r = send(&f.app, page(&format!("{prefix}nothing.js"), None)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // The API keeps its own policy.
    let r = get(&f, "/api/v1/stats").await;
    assert_eq!(r.headers[header::CACHE_CONTROL], "no-store");
}

#[tokio::test]
async fn dashboards_are_saved_listed_changed_and_deleted_with_who_and_when() {
    let f = fixture();
    let (cookie, csrf, _) = login(&f.app).await;
    let r = send(&f.app, with_cookie("POST", "/api/v1/dashboards", &cookie, None, Some(a_dashboard("mine"))))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "no CSRF token");
    let before = chrono_now();
    let r = send(
        &f.app,
        with_cookie("POST", "/api/v1/dashboards", &cookie, Some(&csrf), Some(a_dashboard("mine"))),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(r.body["created_by"], "alice");
    assert!(r.body["created_at"].as_i64().unwrap() >= before);

    let list = get(&f, "/api/v1/dashboards").await;
    let names: Vec<&str> =
        list.body["dashboards"].as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["CloudTrail overview", "mine"]);
    let overview = get(&f, "/api/v1/dashboards/overview").await;
    assert_eq!(overview.body["builtin"], true);
    let kinds: Vec<&str> =
        overview.body["widgets"].as_array().unwrap().iter().map(|w| w["type"].as_str().unwrap()).collect();
    for k in ["timeseries", "toplist", "value", "events", "signals"] {
        assert!(kinds.contains(&k), "the overview has a {k} widget");
    }

    let uri = format!("/api/v1/dashboards/{id}");
    let mut changed = a_dashboard("renamed");
    changed["widgets"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "type": "value", "title": "n", "query": "service:iam" }));
    let r = send(&f.app, bearer("PUT", &uri, &f.token, Some(changed))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let got = get(&f, &uri).await;
    assert_eq!(got.body["name"], "renamed");
    assert_eq!(got.body["widgets"].as_array().unwrap().len(), 3);
    assert_eq!(got.body["created_by"], "alice");

    let bad = json!({ "name": "x", "widgets": [{ "type": "value", "title": "t", "query": "service:(iam" }] });
    let r = send(&f.app, bearer("PUT", &uri, &f.token, Some(bad))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body["error"].as_str().unwrap().starts_with("widget 1: bad query at column"), "{}", r.text);
    let r =
        send(&f.app, bearer("PUT", "/api/v1/dashboards/overview", &f.token, Some(a_dashboard("x")))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "the overview is read-only");
    let r = send(&f.app, bearer("DELETE", &uri, &f.token, None)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(get(&f, &uri).await.status, StatusCode::NOT_FOUND);
    let r = send(&f.app, bearer("DELETE", &uri, &f.token, None)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn sources_sum_the_files_read() {
    let f = fixture();
    let stats = get(&f, "/api/v1/stats").await;
    let r = get(&f, "/api/v1/sources").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let sources = r.body["sources"].as_array().unwrap();
    assert_eq!(sources.len(), 1);
    assert_eq!(sources[0]["source"], "local");
    assert_eq!(sources[0]["files"], stats.body["files"]);
    assert_eq!(sources[0]["events"], 310);
    assert_eq!(sources[0]["errors"], 0);
    assert!(sources[0]["last_file_at"].as_i64().unwrap() > 0);
    assert_eq!(r.body["store"]["events"], 310);
    assert_eq!(r.body["trails"], json!([]));

    // The health `trailwatch poll` keeps for a trail: shown with its summary.
    let now = chrono_now_ms();
    let mut health = trailwatch_aws::health::TrailHealth {
        arn: "arn:aws:cloudtrail:us-east-1:111122223333:trail/main".into(),
        name: "main".into(),
        account: "111122223333".into(),
        bucket: "logs".into(),
        poll_interval_secs: 300,
        last_poll_lists: 4,
        last_poll_at: Some(now),
        lists_total: 40,
        gets_total: 3,
        ..Default::default()
    };
    health.file(
        "AWSLogs/111122223333/CloudTrail/us-east-1/f.json.gz",
        now - 1000,
        Some(now - 2000),
        10,
        &[now - 61_000],
    );
    health.last_error = Some("AccessDenied: s3:GetObject".into());
    let mut state = State::open(&f.data().join("state.sqlite")).unwrap();
    health.save(&mut state).unwrap();
    drop(state);
    let r = get(&f, "/api/v1/sources").await;
    let trails = r.body["trails"].as_array().unwrap();
    assert_eq!(trails.len(), 1, "{}", r.text);
    let t = &trails[0];
    assert_eq!(t["name"], "main");
    assert_eq!(t["lag_p50_ms"], 60_000);
    assert_eq!(t["silent"], false);
    assert_eq!(t["lists_per_day"], 4.0 * 288.0);
    assert_eq!(t["gets_total"], 3);
    assert_eq!(t["last_error"], "AccessDenied: s3:GetObject");
    assert_eq!(r.body["accounts"], json!([]));

    // What discovery and doctor saved: one account with its trails, and its last doctor run;
    // a second account only doctor checked.
    use trailwatch_aws::report::{AccountDiscovery, CheckResult, DoctorRun, TrailFound};
    let found = AccountDiscovery {
        id: "111122223333".into(),
        name: "prod".into(),
        regions: vec!["us-east-1".into()],
        mode: "s3".into(),
        poll_interval_secs: 300,
        selection: vec!["every event".into()],
        at: now,
        trails: vec![
            TrailFound {
                name: "main".into(),
                arn: health.arn.clone(),
                kind: "multi-region".into(),
                ..Default::default()
            },
            TrailFound {
                name: "old".into(),
                arn: "arn:aws:cloudtrail:us-east-1:111122223333:trail/old".into(),
                skipped: Some("not logging since 2026-11-02T10:00:00+00:00".into()),
                ..Default::default()
            },
        ],
        errors: vec!["cloudtrail:DescribeTrails in eu-west-1: AccessDenied (HTTP 403)".into()],
        ..Default::default()
    };
    let run = |account: &str| DoctorRun {
        account: account.into(),
        name: account.into(),
        at: now,
        ok: false,
        checks: vec![CheckResult {
            permission: "s3:GetObject".into(),
            resource: "s3://logs/x".into(),
            error: Some("AccessDenied".into()),
            ..Default::default()
        }],
        notes: vec![],
        policy: Some("{\"Version\": \"2012-10-17\"}".into()),
    };
    let mut state = State::open(&f.data().join("state.sqlite")).unwrap();
    AccountDiscovery::save_all(&mut state, std::slice::from_ref(&found), now).unwrap();
    run("111122223333").save(&mut state).unwrap();
    run("444455556666").save(&mut state).unwrap();
    drop(state);
    let r = get(&f, "/api/v1/sources").await;
    let accounts = r.body["accounts"].as_array().unwrap();
    assert_eq!(accounts.len(), 2, "{}", r.text);
    let a = &accounts[0];
    assert_eq!(a["id"], "111122223333");
    assert_eq!(a["selection"], json!(["every event"]));
    assert_eq!(a["discovered_at"], now);
    assert_eq!(a["trails"][0]["status"], "reading");
    assert_eq!(a["trails"][1]["status"], "skipped");
    assert_eq!(a["trails"][1]["skipped_reason"], "not logging since 2026-11-02T10:00:00+00:00");
    assert_eq!(a["errors"][0], found.errors[0]);
    assert_eq!(a["doctor"]["checks"][0]["permission"], "s3:GetObject");
    assert_eq!(a["doctor"]["checks"][0]["ok"], false);
    assert_eq!(a["doctor"]["policy"], "{\"Version\": \"2012-10-17\"}");
    assert_eq!(accounts[1]["id"], "444455556666");
    assert!(accounts[1]["discovered_at"].is_null());
    assert_eq!(accounts[1]["doctor"]["at"], now);
}

fn chrono_now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

#[tokio::test]
async fn a_rule_switched_off_says_who_did_it_and_the_next_ingest_leaves_it_out() {
    let f = fixture();
    let id = "cloudtrail-stop-logging";
    let stats = get(&f, "/api/v1/stats").await;
    let enabled = stats.body["rules"]["enabled"].as_u64().unwrap();
    let r = send(
        &f.app,
        bearer("POST", &format!("/api/v1/rules/{id}/enabled"), &f.token, Some(json!({ "enabled": false }))),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["enabled"], false);
    assert_eq!(r.body["switched_by"], "alice");
    assert_eq!(get(&f, &format!("/api/v1/rules/{id}")).await.body["enabled"], false);
    let stats = get(&f, "/api/v1/stats").await;
    assert_eq!(stats.body["rules"]["enabled"].as_u64().unwrap(), enabled - 1);
    let r = send(
        &f.app,
        bearer("POST", "/api/v1/rules/nope/enabled", &f.token, Some(json!({ "enabled": false }))),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // A new ingest whose state holds the switch: the rule raises nothing, the others do.
    let state = State::open(&f.data().join("state.sqlite")).unwrap();
    let switches = state.rule_switches().unwrap();
    assert_eq!(switches.len(), 1);
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path(), StoreOptions::default()).unwrap();
    let mut fresh = State::open(&dir.path().join("state.sqlite")).unwrap();
    fresh.set_rule_switch(&switches[0]).unwrap();
    let now = chrono_now();
    let rules = trailwatch_detect::builtin_rules().rules;
    let mut detection =
        trailwatch_ingest::Detection::new(rules, Some(&fresh), true, now).unwrap().without_notifications();
    struct Quiet;
    impl trailwatch_ingest::Observer for Quiet {}
    let stratus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../cloudtrail/tests/data/stratus");
    let options = trailwatch_ingest::IngestOptions { now_ms: now, ..Default::default() };
    trailwatch_ingest::ingest(&[stratus], &store, &mut fresh, &options, &Quiet, Some(&mut detection))
        .unwrap();
    let filter = |rule: Option<&str>| trailwatch_store::SignalFilter {
        status: None,
        since: i64::MIN,
        min_severity: 0,
        rule_id: rule.map(str::to_owned),
        limit: 1000,
    };
    assert!(fresh.signals(&filter(Some(id))).unwrap().is_empty(), "the switched-off rule fired");
    assert!(fresh.signals(&filter(None)).unwrap().len() > 20, "the other rules fire");
    assert!(!state.signals(&filter(Some(id))).unwrap().is_empty(), "the first ingest had it on");
}

#[tokio::test]
async fn a_dry_run_shows_what_a_rule_would_fire_and_saves_nothing() {
    let f = fixture();
    let id = "cloudtrail-stop-logging";
    let stored = get(&f, &format!("/api/v1/signals?rule={id}&limit=1000")).await;
    let stored = stored.body["signals"].as_array().unwrap().len();
    assert!(stored > 0);
    let uri = format!("/api/v1/rules/{id}/replay");
    let r = send(&f.app, bearer("POST", &uri, &f.token, Some(json!({ "from": "2000-01-01" })))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["total"].as_u64().unwrap() as usize, stored, "the replay finds what the ingest raised");
    assert!(r.body["events_read"].as_u64().unwrap() > 0);
    assert!(r.body["signals"].as_array().unwrap().iter().all(|s| s["rule_id"] == id));
    let after = get(&f, &format!("/api/v1/signals?rule={id}&limit=1000")).await;
    assert_eq!(after.body["signals"].as_array().unwrap().len(), stored, "nothing saved");
    let r = send(
        &f.app,
        bearer("POST", &uri, &f.token, Some(json!({ "from": "2000-01-01", "to": "2000-01-02" }))),
    )
    .await;
    assert_eq!(r.body["total"], 0, "{}", r.text);
    let r = send(&f.app, bearer("POST", &uri, &f.token, Some(json!({ "from": "yesterday" })))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

/// A live tail's Server-Sent Events, read as they come.
struct Tail {
    body: axum::body::BodyDataStream,
    buffer: String,
}

impl Tail {
    /// The next message (keep-alive comments skipped): its id and its data.
    async fn next(&mut self) -> (u64, Value) {
        use futures_util::StreamExt;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let message: String = self.buffer.drain(..end + 2).collect();
                let (mut id, mut data) = (None, None);
                for line in message.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = Some(v.trim().parse::<u64>().unwrap());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data = Some(serde_json::from_str::<Value>(v.trim()).unwrap());
                    }
                }
                match (id, data) {
                    (Some(id), Some(data)) => return (id, data),
                    (None, None) => continue,
                    other => panic!("a message without an id or data: {other:?} in {message:?}"),
                }
            }
            let chunk = tokio::time::timeout(Duration::from_secs(20), self.body.next())
                .await
                .expect("no message within 20 s")
                .expect("the stream ended")
                .unwrap();
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// No message within `wait` (keep-alive comments aside).
    async fn quiet_for(&mut self, wait: Duration) {
        if let Ok((id, data)) = tokio::time::timeout(wait, self.next()).await {
            panic!("an unexpected message {id}: {data}");
        }
    }
}

async fn open_tail(f: &Fixture, uri: &str, last_event_id: Option<&str>) -> Tail {
    let mut req = bearer("GET", uri, &f.token, None);
    if let Some(id) = last_event_id {
        req.headers_mut().insert("last-event-id", id.parse().unwrap());
    }
    let res = f.app.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[header::CONTENT_TYPE], "text/event-stream");
    Tail { body: res.into_body().into_data_stream(), buffer: String::new() }
}

/// Ingests one Stratus record with a new event id (and an event time years ago, as a late
/// event's would be) through another writer, as `trailwatch ingest` beside the server would.
fn ingest_one(f: &Fixture, id: &str) {
    ingest_at(f, id, None)
}

/// [`ingest_one`] with the record's `eventTime` set to `time` when given.
fn ingest_at(f: &Fixture, id: &str, time: Option<&str>) {
    let stratus = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../cloudtrail/tests/data/stratus/aws.defense-evasion.cloudtrail-stop.jsonl");
    let line = std::fs::read_to_string(stratus).unwrap().lines().next().unwrap().to_owned();
    let mut record: Value = serde_json::from_str(&line).unwrap();
    record["eventID"] = json!(id);
    if let Some(t) = time {
        record["eventTime"] = json!(t);
    }
    let logs = f.dir.path().join(format!("more-{id}"));
    std::fs::create_dir_all(&logs).unwrap();
    std::fs::write(logs.join("more.jsonl"), format!("{record}\n")).unwrap();
    let writer = EmbeddedStore::open(&f.data(), StoreOptions::default()).unwrap();
    let mut state = State::open(&f.data().join("state.sqlite")).unwrap();
    struct Quiet;
    impl trailwatch_ingest::Observer for Quiet {}
    let options = trailwatch_ingest::IngestOptions { now_ms: chrono_now(), ..Default::default() };
    trailwatch_ingest::ingest(&[logs], &writer, &mut state, &options, &Quiet, None).unwrap();
}

fn ids_of(message: &Value) -> Vec<String> {
    message["events"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap().to_owned()).collect()
}

fn fast_tails() -> Fixture {
    fixture_with(Options {
        refresh_every: Duration::ZERO,
        tail_every: Duration::from_millis(20),
        ..Options::default()
    })
}

#[tokio::test]
async fn a_live_tail_streams_what_an_ingest_commits_and_resumes_from_last_event_id() {
    let f = fast_tails();
    let r = send(&f.app, Request::get("/api/v1/tail").body(Body::empty()).unwrap()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    let q = "/api/v1/tail?q=service%3Acloudtrail%20action%3AStopLogging";
    let mut tail = open_tail(&f, q, None).await;
    // From now: the first message says where the stream starts, with no events.
    let (start, first) = tail.next().await;
    assert_eq!((ids_of(&first).len(), &first["total"]), (0, &json!(0)));
    let searched = get(&f, "/api/v1/search?limit=1").await;
    assert_eq!(searched.body["cursor"], start, "a search answer carries the same cursor");
    tail.quiet_for(Duration::from_millis(300)).await;

    ingest_one(&f, "00000000-0000-4000-8000-00000000000a");
    let (after_a, m) = tail.next().await;
    assert!(after_a > start);
    assert_eq!(ids_of(&m), ["00000000-0000-4000-8000-00000000000a"]);
    assert_eq!(m["total"], 1);
    // Same shape as a search answer's events.
    let from_search = get(&f, "/api/v1/events/00000000-0000-4000-8000-00000000000a").await.body;
    assert_eq!(m["events"][0], from_search);
    drop(tail);

    // The client was away while b was stored: resuming from the last id it got gives b only.
    ingest_one(&f, "00000000-0000-4000-8000-00000000000b");
    let mut resumed = open_tail(&f, q, Some(&after_a.to_string())).await;
    let (after_b, m) = resumed.next().await;
    assert_eq!(ids_of(&m), ["00000000-0000-4000-8000-00000000000b"]);
    assert!(after_b > after_a);
    resumed.quiet_for(Duration::from_millis(300)).await;
    ingest_one(&f, "00000000-0000-4000-8000-00000000000c");
    let (_, m) = resumed.next().await;
    assert_eq!(ids_of(&m), ["00000000-0000-4000-8000-00000000000c"]);
    // Last-Event-ID takes the place of after; after alone works too.
    let mut again = open_tail(&f, &format!("{q}&after={start}"), Some(&after_b.to_string())).await;
    assert_eq!(ids_of(&again.next().await.1), ["00000000-0000-4000-8000-00000000000c"]);
    let mut from_start = open_tail(&f, &format!("{q}&after={start}"), None).await;
    let (_, m) = from_start.next().await;
    assert_eq!(m["total"], 3);
    assert_eq!(ids_of(&m).len(), 3);
    // Events the query does not match never come.
    let mut other = open_tail(&f, "/api/v1/tail?q=service%3Aec2", Some(&start.to_string())).await;
    assert_eq!(other.next().await.1["total"], 0);
    other.quiet_for(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn a_live_tail_streams_and_counts_only_the_events_of_its_time_range() {
    let f = fast_tails();
    let q = "/api/v1/tail?q=action%3AStopLogging";
    // August 2024 (the day both ends: from inclusive, to exclusive), and everything since 2025.
    let august = format!("{q}&from=2024-08-01T00:00:00Z&to=2024-08-02T00:00:00Z");
    let mut day = open_tail(&f, &august, None).await;
    let (start, first) = day.next().await;
    assert_eq!(first["total"], 0);
    let mut since = open_tail(&f, &format!("{q}&from=2025-01-01"), None).await;
    since.next().await;
    let mut all = open_tail(&f, q, None).await;
    all.next().await;

    ingest_at(&f, "00000000-0000-4000-8000-0000000000d1", Some("2024-08-01T00:00:00Z"));
    let (_, m) = day.next().await;
    assert_eq!(
        (ids_of(&m), &m["total"]),
        (vec!["00000000-0000-4000-8000-0000000000d1".to_owned()], &json!(1))
    );
    assert_eq!(ids_of(&all.next().await.1), ["00000000-0000-4000-8000-0000000000d1"]);
    since.quiet_for(Duration::from_millis(300)).await;

    // Outside August (at its exclusive end, and a year later): not sent, not counted.
    ingest_at(&f, "00000000-0000-4000-8000-0000000000d2", Some("2024-08-02T00:00:00Z"));
    ingest_at(&f, "00000000-0000-4000-8000-0000000000d3", Some("2025-08-01T00:00:00Z"));
    day.quiet_for(Duration::from_millis(300)).await;
    assert_eq!(ids_of(&since.next().await.1), ["00000000-0000-4000-8000-0000000000d3"]);
    ingest_at(&f, "00000000-0000-4000-8000-0000000000d4", Some("2024-08-01T23:59:59Z"));
    let (_, m) = day.next().await;
    assert_eq!(
        (ids_of(&m), &m["total"]),
        (vec!["00000000-0000-4000-8000-0000000000d4".to_owned()], &json!(1))
    );
    // The unranged tail had all four; a ranged one resumed from the start has the two of August.
    let mut seen = 1;
    while seen < 4 {
        seen += all.next().await.1["total"].as_u64().unwrap();
    }
    assert_eq!(seen, 4);
    let mut again = open_tail(&f, &format!("{august}&after={start}"), None).await;
    let (_, m) = again.next().await;
    assert_eq!(m["total"], 2, "{m}");
    let mut got = ids_of(&m);
    got.sort();
    assert_eq!(got, ["00000000-0000-4000-8000-0000000000d1", "00000000-0000-4000-8000-0000000000d4"]);

    // A bad range is refused before streaming, as a search's is.
    for bad in ["from=yesterday", "from=2024-08-02&to=2024-08-01"] {
        let r = get(&f, &format!("{q}&{bad}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.text);
        assert!(r.body["error"].as_str().is_some(), "{}", r.text);
    }
}

#[tokio::test]
async fn a_live_tail_refuses_bad_queries_and_cursors_before_streaming() {
    let f = fast_tails();
    let r = get(&f, "/api/v1/tail?q=service%3Aiam%20AND%20(").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(r.body["column"].as_u64().unwrap() >= 17, "{}", r.text);
    let r = get(&f, "/api/v1/tail?after=-1").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    for bad in ["abc", "-3", "1.5", ""] {
        let mut req = bearer("GET", "/api/v1/tail", &f.token, None);
        req.headers_mut().insert("last-event-id", bad.parse().unwrap());
        let r = send(&f.app, req).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "Last-Event-ID {bad:?}: {}", r.text);
        assert!(r.body["error"].as_str().unwrap().contains("Last-Event-ID"), "{}", r.text);
    }
}

#[tokio::test]
async fn at_most_64_live_tails_are_open_at_once() {
    let f = fast_tails();
    let mut open = Vec::new();
    for _ in 0..trailwatch_server::tail::MAX_TAILS {
        let mut t = open_tail(&f, "/api/v1/tail", None).await;
        t.next().await;
        open.push(t);
    }
    let r = get(&f, "/api/v1/tail").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text);
    assert!(r.body["error"].as_str().unwrap().contains("live tails"), "{}", r.text);
    assert!(r.headers.contains_key(header::RETRY_AFTER));
    // A client going away gives its place back.
    open.pop();
    let mut t = open_tail(&f, "/api/v1/tail", None).await;
    t.next().await;
}
