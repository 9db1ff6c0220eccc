//! Just enough of the W3C WebDriver protocol (plain JSON over HTTP on loopback) to drive a
//! headless Chromium through chromedriver from a blocking program: a session, navigation and
//! scripts. The end-to-end test uses fantoccini on tokio; the benchmark has no runtime.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

/// chromedriver and one browser session on it; both end when this is dropped.
pub struct Browser {
    agent: ureq::Agent,
    base: String,
    session: String,
    driver: Child,
}

/// A program named by an environment variable, else the Debian path, else a clear error.
pub fn program(var: &str, default: &str) -> Result<PathBuf> {
    let p = std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| PathBuf::from(default));
    if !p.is_file() {
        bail!(
            "{} not found (set {var}; Debian's chromium and chromium-driver packages install it)",
            p.display()
        );
    }
    Ok(p)
}

impl Browser {
    /// Starts chromedriver on `port` and a headless Chromium with a fresh profile in `profile`.
    pub fn start(chromium: &Path, chromedriver: &Path, port: u16, profile: &Path) -> Result<Browser> {
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", chromedriver.display()))?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        let base = format!("http://127.0.0.1:{port}");
        let mut browser = Browser { agent, base, session: String::new(), driver };
        let start = Instant::now();
        while browser.agent.get(format!("{}/status", browser.base)).call().is_err() {
            if start.elapsed() > Duration::from_secs(30) {
                bail!("chromedriver did not answer on port {port}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = std::fs::remove_dir_all(profile);
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "timeouts": {"script": 60_000, "pageLoad": 60_000},
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--disable-extensions", "--disable-dev-shm-usage", "--window-size=1600,1000",
                    format!("--user-data-dir={}", profile.display())],
            },
        }}});
        let v = browser.call("POST", "/session", Some(caps))?;
        browser.session =
            v["sessionId"].as_str().context("no sessionId in chromedriver's answer")?.to_owned();
        Ok(browser)
    }

    /// One WebDriver command; its `value`, or the driver's error.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        let url = format!("{}{path}", self.base);
        let mut response = match body {
            Some(b) => self
                .agent
                .post(&url)
                .header("content-type", "application/json")
                .send(serde_json::to_vec(&b)?)
                .with_context(|| format!("webdriver {method} {path}"))?,
            None if method == "DELETE" => {
                self.agent.delete(&url).call().with_context(|| format!("webdriver {method} {path}"))?
            }
            None => self.agent.get(&url).call().with_context(|| format!("webdriver {method} {path}"))?,
        };
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string()?;
        let v: Value =
            serde_json::from_str(&text).with_context(|| format!("webdriver {path} answered {text:?}"))?;
        if status != 200 {
            bail!("webdriver {path}: {} {}", v["value"]["error"], v["value"]["message"]);
        }
        Ok(v["value"].clone())
    }

    /// Navigates and returns once the page's load event has fired.
    pub fn goto(&self, url: &str) -> Result<()> {
        self.call("POST", &format!("/session/{}/url", self.session), Some(json!({ "url": url })))?;
        Ok(())
    }

    /// Runs `script` asynchronously: it ends by calling `arguments[arguments.length - 1]` with
    /// its value (within the session's 60-second script timeout).
    pub fn execute_async(&self, script: &str, args: Vec<Value>) -> Result<Value> {
        let body = json!({ "script": script, "args": args });
        self.call("POST", &format!("/session/{}/execute/async", self.session), Some(body))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.call("DELETE", &format!("/session/{}", self.session), None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
