//! The web UI: hand-written HTML, CSS and JavaScript modules (`crates/server/ui/`), embedded in
//! the binary and served by the same router as the API.
//!
//! Assets are served under `/assets/<version>/<name>`, where the version is a hash of every
//! asset: an asset URL never changes meaning, so browsers may keep it for a year (`immutable`),
//! and a new build gets new URLs. Relative imports between modules (`./api.js`) stay inside the
//! same version. The pages (`/`, `/login`, `/ui/...`) are one HTML shell, never cached; the
//! `/ui/...` pages need a session (otherwise a redirect to `/login`). The Content-Security-Policy
//! allows scripts, styles and fetches from this origin only: no inline script or style.

use std::sync::OnceLock;

use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use crate::AppState;

/// Every embedded asset: (name, content type, bytes).
const ASSETS: &[(&str, &str, &[u8])] = &[
    ("app.css", "text/css; charset=utf-8", include_bytes!("../ui/app.css")),
    ("app.js", "text/javascript; charset=utf-8", include_bytes!("../ui/app.js")),
    ("api.js", "text/javascript; charset=utf-8", include_bytes!("../ui/api.js")),
    ("util.js", "text/javascript; charset=utf-8", include_bytes!("../ui/util.js")),
    ("chart.js", "text/javascript; charset=utf-8", include_bytes!("../ui/chart.js")),
    ("explorer.js", "text/javascript; charset=utf-8", include_bytes!("../ui/explorer.js")),
    ("signals.js", "text/javascript; charset=utf-8", include_bytes!("../ui/signals.js")),
    ("dashboards.js", "text/javascript; charset=utf-8", include_bytes!("../ui/dashboards.js")),
    ("rules.js", "text/javascript; charset=utf-8", include_bytes!("../ui/rules.js")),
    ("sources.js", "text/javascript; charset=utf-8", include_bytes!("../ui/sources.js")),
    ("favicon.svg", "image/svg+xml", include_bytes!("../ui/favicon.svg")),
];

const SHELL: &str = include_str!("../ui/index.html");

/// The UI's pages, besides the assets (not API routes: they are not in [`crate::ROUTES`]).
pub const PAGES: &[&str] = &["/", "/login", "/ui", "/ui/{*page}", "/assets/{version}/{name}"];

const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// A hash of every asset's name and bytes (16 hex digits), the version in asset URLs.
pub fn version() -> &'static str {
    static V: OnceLock<String> = OnceLock::new();
    V.get_or_init(|| {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for (name, _, bytes) in ASSETS {
            h.update(name.as_bytes());
            h.update([0]);
            h.update(bytes);
        }
        h.update(SHELL.as_bytes());
        hex::encode(&h.finalize()[..8])
    })
}

fn shell() -> &'static str {
    static S: OnceLock<String> = OnceLock::new();
    S.get_or_init(|| SHELL.replace("{{ASSETS}}", &format!("/assets/{}", version())))
}

fn page() -> Response {
    let mut r = ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], shell()).into_response();
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(PAGE_CSP));
    r
}

/// `GET /` and `GET /ui`: the explorer (which sends to the login page without a session).
pub(crate) async fn root() -> Redirect {
    Redirect::to("/ui/explorer")
}

/// `GET /login`: the shell, whose script shows the login form.
pub(crate) async fn login_page() -> Response {
    page()
}

/// `GET /ui/...`: the shell for a logged-in user, else a redirect to the login page that
/// comes back here afterwards.
pub(crate) async fn app_page(State(app): State<AppState>, req: Request) -> Response {
    if crate::auth::session_user(&app, req.headers()).await.is_some() {
        return page();
    }
    let back = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/ui/explorer");
    Redirect::to(&format!("/login?next={}", encode(back))).into_response()
}

/// `GET /assets/{version}/{name}`: an embedded asset, cached for a year under its version.
/// An old version's URL still answers (with today's bytes) but is not cached.
pub(crate) async fn asset(Path((v, name)): Path<(String, String)>) -> Response {
    let Some((_, ctype, bytes)) = ASSETS.iter().find(|(n, _, _)| *n == name) else {
        return (StatusCode::NOT_FOUND, "no such asset").into_response();
    };
    let mut r = ([(header::CONTENT_TYPE, *ctype)], *bytes).into_response();
    let cache = if v == version() { "public, max-age=31536000, immutable" } else { "no-cache" };
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    r.headers_mut().insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(PAGE_CSP));
    r
}

/// Percent-encodes what a query-string value must not hold raw.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_version_is_stable_and_the_shell_names_it() {
        assert_eq!(super::version(), super::version());
        assert_eq!(super::version().len(), 16);
        assert!(super::shell().contains(&format!("/assets/{}/app.js", super::version())));
        assert!(!super::shell().contains("{{ASSETS}}"));
    }

    #[test]
    fn the_way_back_is_encoded() {
        assert_eq!(super::encode("/ui/explorer?q=a b&x=1"), "/ui/explorer%3Fq%3Da%20b%26x%3D1");
    }
}
