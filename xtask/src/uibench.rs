//! The web UI's benchmark (issue 5): the release `trailwatch serve` over the bench store, and in
//! one run the explorer's first paint with results and the overview dashboard fully loaded in a
//! real headless Chromium (timed by the pages' own Performance API marks), the facet and
//! histogram API calls the explorer makes, and many concurrent users searching over HTTP.

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::{json, Value};

use crate::webdriver::{program, Browser};

#[derive(Args)]
pub struct UiBenchArgs {
    /// Stored events (the dataset and store of `xtask bench --events N`, made when missing).
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    /// Where datasets and stores are kept (shared with `xtask bench`).
    #[arg(long, default_value = "bench-data")]
    pub dir: PathBuf,
    /// Concurrent users in the load phases.
    #[arg(long, default_value_t = 50)]
    pub users: usize,
    /// Page loads per explorer query, and overview loads (after one warm-up load).
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Times each facet and histogram call is made (after one warm-up call).
    #[arg(long, default_value_t = 5)]
    pub api_runs: usize,
    /// Seconds each load phase lasts.
    #[arg(long, default_value_t = 20)]
    pub seconds: u64,
    /// A release `trailwatch` binary to use instead of building one.
    #[arg(long)]
    pub binary: Option<PathBuf>,
}

const PASSWORD: &str = "ui-bench password, loopback only";
const USER: &str = "uibench";

/// What the explorer asks for: its facet sidebar (`FACETS` in explorer.js, 8 values each).
const FACETS: &[&str] =
    &["service", "action", "account", "region", "actor.name", "source_ip", "outcome", "error_code", "agent"];

/// Typical explorer queries; each also over the dataset's last day.
const QUERIES: &[&str] = &[
    "",
    "service:iam",
    "outcome:failure",
    "action:AssumeRole",
    "\"not authorized\"",
    "source_ip:10.0.0.0/8",
    "error_code:AccessDenied -service:s3",
    "action:Create* OR action:Delete*",
];

const TARGET_PAINT_MS: f64 = 300.0;
const TARGET_API_MS: f64 = 100.0;
const TARGET_OVERVIEW_MS: f64 = 1000.0;
const TARGET_USERS_P95_MS: f64 = 1000.0;

/// One explorer URL's parameters.
#[derive(Clone)]
struct Search {
    q: String,
    from: Option<String>,
    to: Option<String>,
}

impl Search {
    fn params(&self) -> Vec<(&str, String)> {
        let mut p = Vec::new();
        if !self.q.is_empty() {
            p.push(("q", self.q.clone()));
        }
        if let Some(f) = &self.from {
            p.push(("from", f.clone()));
        }
        if let Some(t) = &self.to {
            p.push(("to", t.clone()));
        }
        p
    }

    fn label(&self) -> String {
        let q = if self.q.is_empty() { "*" } else { &self.q };
        match &self.from {
            Some(_) => format!("{q} (last day)"),
            None => q.to_string(),
        }
    }
}

/// Sorted samples in milliseconds.
struct Samples(Vec<f64>);

impl Samples {
    fn new(mut v: Vec<f64>) -> Samples {
        v.sort_by(|a, b| a.total_cmp(b));
        Samples(v)
    }
    fn p(&self, q: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        let i = ((self.0.len() as f64 * q).ceil() as usize).clamp(1, self.0.len()) - 1;
        self.0[i]
    }
    fn p50(&self) -> f64 {
        self.0.get(self.0.len() / 2).copied().unwrap_or(f64::NAN)
    }
    fn p95(&self) -> f64 {
        self.p(0.95)
    }
}

/// A child process killed when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn encode(params: &[(&str, String)]) -> String {
    let mut out = String::new();
    for (k, v) in params {
        out.push(if out.is_empty() { '?' } else { '&' });
        out.push_str(k);
        out.push('=');
        for b in v.bytes() {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}

/// An HTTP client of the API with a token, keeping its connection.
#[derive(Clone)]
struct Api {
    agent: ureq::Agent,
    base: String,
    token: String,
}

impl Api {
    fn new(base: &str, token: &str) -> Api {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        Api { agent, base: base.to_owned(), token: token.to_owned() }
    }

    /// GET `path` with `params`: the JSON answer and the time it took (ms).
    fn get(&self, path: &str, params: &[(&str, String)]) -> Result<(Value, f64)> {
        let url = format!("{}{path}{}", self.base, encode(params));
        let t = Instant::now();
        let mut r = self
            .agent
            .get(&url)
            .header("authorization", format!("Bearer {}", self.token))
            .call()
            .with_context(|| format!("GET {url}"))?;
        let body = r.body_mut().read_to_string()?;
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        if r.status() != 200 {
            bail!("GET {url}: {} {body}", r.status());
        }
        Ok((serde_json::from_str(&body)?, ms))
    }
}

pub fn run(args: UiBenchArgs) -> Result<()> {
    let root = std::env::current_dir()?;
    std::fs::create_dir_all(&args.dir)?;
    let chromium = program("TRAILWATCH_CHROMIUM", "/usr/bin/chromium")?;
    let chromedriver = program("TRAILWATCH_CHROMEDRIVER", "/usr/bin/chromedriver")?;
    let binary = match &args.binary {
        Some(b) => b.clone(),
        None => crate::bench::build_release(&root)?,
    };
    let n = args.events;
    let data = args.dir.join(format!("synth-{n}"));
    let store_dir = args.dir.join(format!("store-{n}"));
    if !store_dir.join("index/manifest.json").exists() {
        // As `xtask bench` makes it: the same dataset, ingested with the rule pack.
        let (files, _) = crate::bench::ensure_dataset(&data, n)?;
        let _ = std::fs::remove_dir_all(&store_dir);
        let ing = crate::bench::ingest(&binary, &data, &store_dir)?;
        println!("ingested {files} files in {:.1} s ({:.0} events/s)", ing.seconds, n as f64 / ing.seconds);
    }
    let token = user_and_token(&binary, &store_dir)?;

    let port = free_port()?;
    let base = format!("http://127.0.0.1:{port}");
    let log = std::fs::File::create(args.dir.join("ui-bench-serve.log"))?;
    let server = Killed(
        Command::new(&binary)
            .arg("--data-dir")
            .arg(&store_dir)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting trailwatch serve")?,
    );
    let api = Api::new(&base, &token);
    let start = Instant::now();
    while ureq::get(format!("{base}/healthz")).call().is_err() {
        if start.elapsed() > Duration::from_secs(60) {
            bail!("trailwatch serve did not answer at {base}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let (stats, _) = api.get("/api/v1/stats", &[])?;
    let events = stats["store"]["events"].as_u64().context("no store.events in /api/v1/stats")?;
    let newest = stats["store"]["newest"].as_i64().context("no store.newest")?;
    let signals: u64 = stats["signals"].as_object().map_or(0, |m| m.values().filter_map(Value::as_u64).sum());
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "trailwatch serve at {base} over {events} events ({}, {signals} signals); {threads} cores shared by the server, Chromium and the clients",
        store_dir.display()
    );

    let searches = searches(newest);
    let api_figures = api_calls(&api, &searches, args.api_runs)?;
    let browser =
        Browser::start(&chromium, &chromedriver, free_port()?, &args.dir.join("ui-bench-chromium"))?;
    login(&browser, &base)?;
    let paint = explorer(&browser, &api, &base, &searches, args.runs)?;
    let overview = overview(&browser, &base, args.runs)?;
    drop(browser);
    let users_search = users(&api, &searches, args.users, args.seconds, Load::Search)?;
    let users_explorer = users(&api, &searches, args.users, args.seconds, Load::Explorer)?;
    let rss = peak_rss_mib(server.0.id());

    println!("\n=== summary: {events} events ===");
    println!("  {:<52} {:>9} {:>9} {:>10} {:>8}", "measure", "p50 ms", "p95 ms", "target", "p50/tgt");
    let line = |name: &str, s: &Samples, target: Option<f64>, p95_target: bool| {
        let (t, ratio) = match target {
            Some(t) if p95_target => (format!("p95<={t:.0}"), s.p95() / t),
            Some(t) => (format!("p50<={t:.0}"), s.p50() / t),
            None => (String::new(), f64::NAN),
        };
        let ratio = if ratio.is_nan() { String::new() } else { format!("{ratio:.2}") };
        println!("  {name:<52} {:>9.1} {:>9.1} {t:>10} {ratio:>8}", s.p50(), s.p95());
    };
    line("explorer first paint with results (Chromium)", &paint.first_paint, Some(TARGET_PAINT_MS), false);
    line("  explorer, facets complete", &paint.facets, None, false);
    line("facets API (the explorer's 9 per search)", &api_figures.facets, Some(TARGET_API_MS), false);
    line("histogram API (the explorer's)", &api_figures.histogram, Some(TARGET_API_MS), false);
    line("overview dashboard fully loaded (Chromium)", &overview, Some(TARGET_OVERVIEW_MS), false);
    let users_line = |name: &str, r: &UsersRun| {
        line(&format!("{name}, {} users", r.users), &r.latency, Some(TARGET_USERS_P95_MS), true);
        println!(
            "  {:<52} {:.1}/s over {:.0} s ({} done, {} failed)",
            "  throughput",
            r.done as f64 / r.seconds,
            r.seconds,
            r.done,
            r.failed
        );
    };
    users_line("search API", &users_search);
    users_line("explorer refresh (search+histogram+signals+9 facets)", &users_explorer);
    if let Some(rss) = rss {
        println!("  server peak RSS: {rss:.0} MiB");
    }
    if users_search.failed + users_explorer.failed > 0 {
        bail!("{} requests failed under load", users_search.failed + users_explorer.failed);
    }
    Ok(())
}

/// The searches of the benchmark: each query over all time, and the first four over the
/// dataset's last day (an absolute range, as the time picker or a dashboard click sets).
fn searches(newest: i64) -> Vec<Search> {
    let iso = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms).map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
    };
    let mut out: Vec<Search> =
        QUERIES.iter().map(|q| Search { q: q.to_string(), from: None, to: None }).collect();
    for q in &QUERIES[..4] {
        out.push(Search { q: q.to_string(), from: iso(newest + 1000 - 86_400_000), to: iso(newest + 1000) });
    }
    out
}

/// Makes the benchmark's user (or resets its password) and a fresh API token for it.
fn user_and_token(binary: &Path, store: &Path) -> Result<String> {
    let run = |args: &[&str], stdin: Option<&str>| -> Result<std::process::Output> {
        let mut child = Command::new(binary)
            .arg("--data-dir")
            .arg(store)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let mut input = child.stdin.take().context("stdin")?;
        if let Some(s) = stdin {
            input.write_all(s.as_bytes())?;
        }
        drop(input);
        Ok(child.wait_with_output()?)
    };
    let password = format!("{PASSWORD}\n");
    if !run(&["users", "add", USER, "--password-stdin"], Some(&password))?.status.success() {
        let out = run(&["users", "passwd", USER, "--password-stdin"], Some(&password))?;
        if !out.status.success() {
            bail!("trailwatch users passwd: {}", String::from_utf8_lossy(&out.stderr));
        }
    }
    let out = run(&["users", "token", USER, "--name", "ui-bench"], None)?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .find(|w| w.starts_with("tw_"))
        .map(str::to_owned)
        .with_context(|| format!("no token in the output of trailwatch users token: {text}"))
}

struct ApiFigures {
    facets: Samples,
    histogram: Samples,
}

/// The explorer's facet and histogram calls for every search, one at a time.
fn api_calls(api: &Api, searches: &[Search], runs: usize) -> Result<ApiFigures> {
    println!("\nfacet and histogram API calls as the explorer makes them ({runs} runs after a warm-up; ms)");
    println!(
        "  {:<46} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "search", "hist p50", "hist p95", "facet p50", "facet p95", "worst"
    );
    let (mut all_f, mut all_h) = (Vec::new(), Vec::new());
    for s in searches {
        let (mut f, mut h) = (Vec::new(), Vec::new());
        let mut worst: (f64, &str) = (0.0, "");
        for i in 0..=runs {
            let (_, ms) = api.get("/api/v1/histogram", &s.params())?;
            if i > 0 {
                h.push(ms);
            }
            for field in FACETS {
                let mut p = s.params();
                p.push(("field", field.to_string()));
                p.push(("size", "8".into()));
                let (_, ms) = api.get("/api/v1/facets", &p)?;
                if i > 0 {
                    f.push(ms);
                    if ms > worst.0 {
                        worst = (ms, *field);
                    }
                }
            }
        }
        all_f.extend_from_slice(&f);
        all_h.extend_from_slice(&h);
        let (f, h) = (Samples::new(f), Samples::new(h));
        println!(
            "  {:<46} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>8}",
            s.label(),
            h.p50(),
            h.p95(),
            f.p50(),
            f.p95(),
            format!("{:.0} {}", worst.0, worst.1)
        );
    }
    Ok(ApiFigures { facets: Samples::new(all_f), histogram: Samples::new(all_h) })
}

/// Logs the browser in through the API from the login page, as the page's form does.
fn login(browser: &Browser, base: &str) -> Result<()> {
    browser.goto(&format!("{base}/login"))?;
    let status = browser.execute_async(
        "const done = arguments[arguments.length - 1];
         fetch('/api/v1/login', { method: 'POST', headers: { 'Content-Type': 'application/json' },
           body: JSON.stringify({ username: arguments[0], password: arguments[1] }) })
           .then((r) => done(r.status), (e) => done(String(e)));",
        vec![json!(USER), json!(PASSWORD)],
    )?;
    if status != json!(200) {
        bail!("logging in from Chromium answered {status}");
    }
    Ok(())
}

/// Waits (event-driven: a PerformanceObserver, no polling) for the page's marks `names`, then
/// returns them with the resource timings and `check`, a script expression evaluated then.
fn wait_marks(browser: &Browser, names: &[&str], check: &str) -> Result<Value> {
    let script = format!(
        "const names = arguments[0]; const done = arguments[arguments.length - 1];
         const ready = () => names.every((n) => performance.getEntriesByName(n, 'mark').length);
         const finish = () => {{
           const marks = {{}};
           for (const n of names) marks[n] = performance.getEntriesByName(n, 'mark').pop().startTime;
           const resources = performance.getEntriesByType('resource').map((r) => ({{
             path: new URL(r.name).pathname, start: r.startTime, end: r.responseEnd,
             server: r.responseStart - r.requestStart }}));
           const nav = performance.getEntriesByType('navigation')[0];
           done({{ marks, resources, html: nav ? nav.responseEnd : null, check: ({check}) }});
         }};
         if (ready()) finish();
         else new PerformanceObserver((l, obs) => {{ if (ready()) {{ obs.disconnect(); finish(); }} }}).observe({{ type: 'mark' }});"
    );
    browser.execute_async(&script, vec![json!(names)])
}

/// A count as the UI shows it (`fmtCount` in util.js).
fn fmt_count(n: u64) -> String {
    let short = |v: f64, suffix: &str| {
        let s = format!("{v:.1}");
        format!("{}{suffix}", s.strip_suffix(".0").unwrap_or(&s))
    };
    match n {
        n if n >= 1_000_000_000 => short(n as f64 / 1e9, "B"),
        n if n >= 1_000_000 => short(n as f64 / 1e6, "M"),
        n if n >= 10_000 => short(n as f64 / 1e3, "k"),
        n => {
            let digits = n.to_string();
            let mut out = String::new();
            for (i, ch) in digits.chars().enumerate() {
                if i > 0 && (digits.len() - i) % 3 == 0 {
                    out.push(',');
                }
                out.push(ch);
            }
            out
        }
    }
}

/// The end of the last resource whose path starts with `prefix` (ms since navigation start).
fn resource_end(v: &Value, prefix: &str) -> Option<f64> {
    v["resources"]
        .as_array()?
        .iter()
        .filter(|r| r["path"].as_str().is_some_and(|p| p.starts_with(prefix)))
        .filter_map(|r| r["end"].as_f64())
        .reduce(f64::max)
}

struct Paint {
    first_paint: Samples,
    facets: Samples,
}

/// Explorer page loads: time from navigation start until the list and the histogram are
/// rendered (the later of the page's `tw:explorer:list` and `tw:explorer:histogram` marks),
/// checked against the API's total for the same search.
fn explorer(browser: &Browser, api: &Api, base: &str, searches: &[Search], runs: usize) -> Result<Paint> {
    let names = ["tw:explorer:list", "tw:explorer:histogram", "tw:explorer:facets", "tw:explorer:ready"];
    let check = "{ total: document.getElementById('total').textContent, rows: document.querySelectorAll('#events tr.ev').length,
        histogram: !!document.querySelector('#histogram svg'), errors: document.querySelectorAll('.error-box, .query-error:not([hidden])').length,
        facets: document.querySelectorAll('.facet .facet-value').length }";
    println!("\nexplorer in headless Chromium: page loads after one warm-up ({runs} per search; ms since navigation start)");
    println!(
        "  {:<46} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "search", "paint", "html", "session", "search", "hist", "facets"
    );
    let mut totals = Vec::new();
    for s in searches {
        let (v, _) = api.get("/api/v1/search", &[s.params(), vec![("limit", "1".into())]].concat())?;
        totals.push(v["total"].as_u64().context("no total")?);
    }
    let (mut paint, mut facets) = (Vec::new(), Vec::new());
    let mut per: Vec<Vec<[f64; 6]>> = vec![Vec::new(); searches.len()];
    for round in 0..=runs {
        for (i, s) in searches.iter().enumerate() {
            browser.goto(&format!("{base}/ui/explorer{}", encode(&s.params())))?;
            let v = wait_marks(browser, &names, check)?;
            let c = &v["check"];
            if c["total"].as_str() != Some(fmt_count(totals[i]).as_str())
                || c["rows"].as_u64() != Some(totals[i].min(50))
                || c["histogram"] != json!(true)
                || c["errors"] != json!(0)
            {
                bail!(
                    "the explorer did not show the results of {}: {c} (the API's total {})",
                    s.label(),
                    totals[i]
                );
            }
            if round == 0 {
                continue;
            }
            let m = &v["marks"];
            let list = m["tw:explorer:list"].as_f64().unwrap_or(f64::NAN);
            let hist = m["tw:explorer:histogram"].as_f64().unwrap_or(f64::NAN);
            let first = list.max(hist);
            paint.push(first);
            facets.push(m["tw:explorer:facets"].as_f64().unwrap_or(f64::NAN));
            per[i].push([
                first,
                v["html"].as_f64().unwrap_or(f64::NAN),
                resource_end(&v, "/api/v1/session").unwrap_or(f64::NAN),
                resource_end(&v, "/api/v1/search").unwrap_or(f64::NAN),
                resource_end(&v, "/api/v1/histogram").unwrap_or(f64::NAN),
                resource_end(&v, "/api/v1/facets").unwrap_or(f64::NAN),
            ]);
        }
    }
    for (s, rows) in searches.iter().zip(&per) {
        let col = |k: usize| Samples::new(rows.iter().map(|r| r[k]).collect()).p50();
        println!(
            "  {:<46} {:>8.0} {:>8.0} {:>8.0} {:>8.0} {:>8.0} {:>8.0}",
            s.label(),
            col(0),
            col(1),
            col(2),
            col(3),
            col(4),
            col(5)
        );
    }
    println!("  (p50 per search; html, session, search, hist, facets: when each answer had arrived)");
    Ok(Paint { first_paint: Samples::new(paint), facets: Samples::new(facets) })
}

/// The built-in overview dashboard, until every widget has rendered (`tw:dashboard:ready`).
fn overview(browser: &Browser, base: &str, runs: usize) -> Result<Samples> {
    let check = "{ widgets: document.querySelectorAll('.widget').length, loading: document.querySelectorAll('.widget .loading').length,
        errors: document.querySelectorAll('.error-box').length, values: [...document.querySelectorAll('.big-value')].map((e) => e.textContent) }";
    let mut times = Vec::new();
    let mut last = Value::Null;
    for round in 0..=runs {
        browser.goto(&format!("{base}/ui/dashboards/overview"))?;
        let v = wait_marks(browser, &["tw:dashboard:ready"], check)?;
        let c = &v["check"];
        if c["widgets"] != json!(12) || c["loading"] != json!(0) || c["errors"] != json!(0) {
            bail!("the overview did not render every widget: {c}");
        }
        if round > 0 {
            times.push(v["marks"]["tw:dashboard:ready"].as_f64().unwrap_or(f64::NAN));
        }
        last = v;
    }
    let s = Samples::new(times);
    // Where the time goes in the last load: each API call's server time and end.
    let mut calls: Vec<(String, f64, f64)> = last["resources"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|r| r["path"].as_str().is_some_and(|p| p.starts_with("/api/")))
                .map(|r| {
                    (
                        r["path"].as_str().unwrap_or("").to_owned(),
                        r["server"].as_f64().unwrap_or(0.0),
                        r["end"].as_f64().unwrap_or(0.0),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    calls.sort_by(|a, b| a.2.total_cmp(&b.2));
    println!(
        "\noverview dashboard in headless Chromium ({runs} loads after a warm-up): p50 {:.0} ms, p95 {:.0} ms; big values {}",
        s.p50(),
        s.p95(),
        last["check"]["values"]
    );
    println!(
        "  the last load's API calls (waiting for the answer, answer complete, ms since navigation start):"
    );
    for (path, server, end) in &calls {
        println!("    {path:<28} {server:>7.0} {end:>7.0}");
    }
    Ok(s)
}

#[derive(Clone, Copy)]
enum Load {
    /// One `/api/v1/search` (the explorer's first page of 50).
    Search,
    /// Everything the explorer asks for one search, one call after another.
    Explorer,
}

struct UsersRun {
    users: usize,
    latency: Samples,
    done: u64,
    failed: u64,
    seconds: f64,
}

/// `users` clients, each with its own connection, repeating a mix of searches for `seconds`.
fn users(api: &Api, searches: &[Search], users: usize, seconds: u64, load: Load) -> Result<UsersRun> {
    let barrier = Arc::new(Barrier::new(users + 1));
    let handles: Vec<_> = (0..users)
        .map(|u| {
            let api = Api::new(&api.base, &api.token);
            let searches = searches.to_vec();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                let start = Instant::now();
                let (mut times, mut failed) = (Vec::new(), 0u64);
                let mut i = u;
                while start.elapsed() < Duration::from_secs(seconds) {
                    let s = &searches[i % searches.len()];
                    i += 1;
                    let t = Instant::now();
                    let ok = match load {
                        Load::Search => api
                            .get("/api/v1/search", &[s.params(), vec![("limit", "50".into())]].concat())
                            .is_ok(),
                        Load::Explorer => explorer_refresh(&api, s).is_ok(),
                    };
                    if ok {
                        times.push(t.elapsed().as_secs_f64() * 1000.0);
                    } else {
                        failed += 1;
                    }
                }
                (times, failed, start.elapsed().as_secs_f64())
            })
        })
        .collect();
    barrier.wait();
    let (mut times, mut failed, mut secs) = (Vec::new(), 0, 0f64);
    for h in handles {
        let (t, f, s) = h.join().map_err(|_| anyhow::anyhow!("a user thread panicked"))?;
        times.extend(t);
        failed += f;
        secs = secs.max(s);
    }
    let done = times.len() as u64;
    Ok(UsersRun { users, latency: Samples::new(times), done, failed, seconds: secs })
}

fn explorer_refresh(api: &Api, s: &Search) -> Result<()> {
    api.get("/api/v1/search", &[s.params(), vec![("limit", "50".into())]].concat())?;
    api.get("/api/v1/histogram", &s.params())?;
    api.get("/api/v1/signals", &[("limit", "500".into())])?;
    for field in FACETS {
        api.get(
            "/api/v1/facets",
            &[s.params(), vec![("field", field.to_string()), ("size", "8".into())]].concat(),
        )?;
    }
    Ok(())
}

/// The server's peak resident memory so far (VmHWM), in MiB.
fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}
