//! The browser side of the web UI's end-to-end tests: chromedriver and a headless Chromium
//! session, and waiting for the page's own state with scripts (never fixed sleeps).
//!
//! Chromium and chromedriver come from `scripts/test` (Debian `chromium` and `chromium-driver`),
//! found through `TRAILWATCH_CHROMIUM` / `TRAILWATCH_CHROMEDRIVER` or on the `PATH`. Without
//! them a test fails: it is never skipped.

use std::future::Future;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use serde_json::{json, Value};

use super::command;

/// A child process killed when the test ends, however it ends.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A program from an environment variable or the `PATH`; a clear failure otherwise.
pub fn program(var: &str, name: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(var) {
        return PathBuf::from(p);
    }
    for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
        let p = dir.join(name);
        if p.is_file() {
            return p;
        }
    }
    panic!("{name} not found (set {var} or run scripts/test, which installs Debian's chromium and chromium-driver)");
}

pub fn wait_http(url: &str, what: &str) {
    let start = Instant::now();
    loop {
        if ureq::get(url).call().is_ok() {
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{what} did not answer at {url}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/ui-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
}

/// Evaluates `script` (a function body returning a value) until it returns something truthy.
pub async fn wait_js(c: &Client, script: &str, what: &str) -> Value {
    let start = Instant::now();
    loop {
        let v = c.execute(script, vec![]).await.unwrap();
        let truthy = match &v {
            Value::Null | Value::Bool(false) => false,
            Value::String(s) => !s.is_empty(),
            Value::Array(a) => !a.is_empty(),
            Value::Number(n) => n.as_f64() != Some(0.0),
            _ => true,
        };
        if truthy {
            return v;
        }
        if start.elapsed() > Duration::from_secs(15) {
            shot(c, &format!("failed-{}", what.replace(' ', "-"))).await;
            panic!("timed out waiting for {what} (last value {v})");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn texts(c: &Client, selector: &str) -> Vec<String> {
    let v = c
        .execute(
            "return [...document.querySelectorAll(arguments[0])].map(e => e.textContent.trim())",
            vec![json!(selector)],
        )
        .await
        .unwrap();
    serde_json::from_value(v).unwrap()
}

/// Adds the user `name` with `password` to the data directory.
pub fn add_user(data: &Path, name: &str, password: &str) {
    let mut add = command(data, &["users", "add", name, "--password-stdin"])
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    add.stdin.take().unwrap().write_all(format!("{password}\n").as_bytes()).unwrap();
    assert!(add.wait().unwrap().success());
}

/// `trailwatch serve` over `data` on a free loopback port (its base URL), killed when dropped.
/// `extra` goes before `serve` (e.g. `--config FILE`).
pub fn serve(data: &Path, extra: &[&str], serve_args: &[&str]) -> (Killed, String) {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let listen = format!("127.0.0.1:{port}");
    let mut args: Vec<&str> = extra.to_vec();
    args.extend_from_slice(&["serve", "--listen", &listen]);
    args.extend_from_slice(serve_args);
    let server = Killed(command(data, &args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap());
    wait_http(&format!("{base}/healthz"), "trailwatch serve");
    (server, base)
}

/// Starts chromedriver and a headless Chromium (profile under `dir`), runs `steps` with the
/// session, closes the browser whatever happened, then fails if a step failed. The steps run in
/// a task of their own so that a failed assertion still closes the browser (chromedriver killed
/// alone would leave Chromium running).
pub async fn with_browser<F, Fut>(dir: &Path, steps: F)
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let chromium = program("TRAILWATCH_CHROMIUM", "chromium");
    let chromedriver = program("TRAILWATCH_CHROMEDRIVER", "chromedriver");
    let driver_port = free_port();
    let _driver = Killed(
        Command::new(&chromedriver)
            .arg(format!("--port={driver_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromedriver.display())),
    );
    wait_http(&format!("http://127.0.0.1:{driver_port}/status"), "chromedriver");
    let profile = dir.join("chromium-profile");
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1600,1000", format!("--user-data-dir={}", profile.display())],
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let c = ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{driver_port}"))
        .await
        .expect("chromedriver starts a Chromium session");
    let outcome = tokio::spawn(steps(c.clone())).await;
    let closed = c.close().await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
    closed.unwrap();
}
