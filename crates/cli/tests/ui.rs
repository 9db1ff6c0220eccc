//! The web UI end to end in a real headless Chromium: `trailwatch serve` over the Stratus
//! records (ingested with the rule pack) on a free loopback port, chromedriver on another, and
//! a user who logs in, searches, fixes a bad query, clicks a facet, opens an event, changes the
//! time range, opens the overview dashboard, acknowledges a signal and looks at the rules and
//! sources pages. Screenshots go to `target/ui-screenshots/` (git-ignored). The browser
//! helpers are in `common/browser.rs`; the Sources page's AWS account panels have their own
//! test against moto (`ui_sources.rs`).

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::browser::{add_user, serve, shot, texts, wait_js, with_browser};
use common::tw;
use fantoccini::{Client, Locator};
use serde_json::{json, Value};

const PASSWORD: &str = "correct horse battery staple";

/// The number of stored events `trailwatch search` finds for a query and range.
fn cli_count(data: &Path, query: &str, range: &[&str]) -> usize {
    let mut args = vec!["search", query, "--limit", "1000", "--format", "json"];
    args.extend_from_slice(range);
    let run = tw(data, &args);
    assert!(run.code == 0 || run.code == 1, "{}", run.stderr);
    let v: Value = serde_json::from_str(&run.stdout).unwrap();
    v["total"].as_u64().unwrap() as usize
}

/// How many requests the server answered on `route` (its metrics, read with the session).
async fn requests(c: &Client, route: &str) -> u64 {
    let script = "const done = arguments[arguments.length - 1];
        fetch('/metrics').then((r) => r.text()).then(done, (e) => done('error ' + e));";
    let text = c.execute_async(script, vec![]).await.unwrap();
    let text = text.as_str().unwrap();
    text.lines()
        .filter(|l| l.starts_with(&format!("trailwatch_http_requests_total{{route=\"{route}\",")))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum()
}

/// Now, as CloudTrail writes times (seconds, UTC).
fn chrono_like_now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn dir_of(data: &Path) -> PathBuf {
    data.parent().unwrap().to_owned()
}

/// Types `query` into the explorer's search bar and runs it.
async fn run_query(c: &Client, query: &str) {
    let q = c.find(Locator::Id("query")).await.unwrap();
    q.clear().await.unwrap();
    q.send_keys(query).await.unwrap();
    c.find(Locator::Id("run")).await.unwrap().click().await.unwrap();
}

/// Waits for the explorer to show the results of the current URL.
async fn results(c: &Client) -> usize {
    wait_js(
        c,
        "const t = document.getElementById('total'); return t && t.textContent !== '…' && \
         (document.querySelector('#events tr.ev') || document.getElementById('no-events') || t.textContent === '0') \
         && !document.querySelector('.facet .loading') ? t.textContent : ''",
        "the explorer's results",
    )
    .await
    .as_str()
    .unwrap()
    .replace(',', "")
    .parse()
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_logs_in_searches_filters_reads_an_event_opens_a_dashboard_and_acknowledges_a_signal() {
    // The data: the Stratus records, ingested with the rule pack, and a user.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let stratus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../cloudtrail/tests/data/stratus");
    tw(&data, &["ingest", stratus.to_str().unwrap()]).expect(0);
    add_user(&data, "alice", PASSWORD);
    let (_server, base) = serve(&data, &[], &[]);
    with_browser(dir.path(), |c| async move { drive(&c, &base, &data).await }).await;
}

async fn drive(c: &Client, base: &str, data: &Path) {
    // Every page needs a session: the explorer sends us to the login page.
    c.goto(&format!("{base}/ui/explorer")).await.unwrap();
    c.wait().for_element(Locator::Id("login-form")).await.unwrap();
    assert_eq!(c.current_url().await.unwrap().path(), "/login");
    c.find(Locator::Id("username")).await.unwrap().send_keys("alice").await.unwrap();
    c.find(Locator::Id("password")).await.unwrap().send_keys("wrong password!").await.unwrap();
    c.find(Locator::Id("login-submit")).await.unwrap().click().await.unwrap();
    wait_js(c, "return document.getElementById('login-error').textContent", "the login error").await;
    assert_eq!(texts(c, "#login-error").await, ["wrong username or password"]);
    shot(c, "01-login").await;
    let pass = c.find(Locator::Id("password")).await.unwrap();
    pass.clear().await.unwrap();
    pass.send_keys(PASSWORD).await.unwrap();
    c.find(Locator::Id("login-submit")).await.unwrap().click().await.unwrap();
    wait_js(c, "return location.pathname === '/ui/explorer'", "the explorer after login").await;
    assert_eq!(results(c).await, 310, "every stored event, over all time");
    // The session is asked for beside the data, and shown when it comes.
    wait_js(c, "return document.getElementById('whoami').textContent === 'alice'", "the user's name").await;
    let facets = texts(c, "#facets .facet-title").await;
    assert_eq!(
        facets,
        [
            "Service",
            "Action",
            "Account",
            "Region",
            "Actor",
            "Source IP",
            "Outcome",
            "Error code",
            "User agent family"
        ]
    );
    wait_js(c, "return document.querySelector('#histogram svg rect')", "the histogram").await;
    // Split by a field: one series per top value, with a legend.
    c.find(Locator::Id("split")).await.unwrap().select_by_value("service").await.unwrap();
    wait_js(c, "return new URLSearchParams(location.search).get('by') === 'service'", "the split in the URL")
        .await;
    let legend = wait_js(
        c,
        "return [...document.querySelectorAll('#histogram .legend-item')].map(e => e.title)",
        "the legend",
    )
    .await;
    assert_eq!(legend[0], "ssm", "the top service first: {legend}");
    assert_eq!(legend.as_array().unwrap().last().unwrap(), "other");
    shot(c, "02-explorer").await;

    // A search in the query language.
    run_query(c, "service:iam").await;
    wait_js(
        c,
        "return new URLSearchParams(location.search).get('q') === 'service:iam'",
        "the query in the URL",
    )
    .await;
    let n = results(c).await;
    assert_eq!(n, cli_count(data, "service:iam", &[]), "the UI and the CLI agree");
    assert!(n > 0 && n < 310);
    let services = texts(c, "#events tr.ev td:nth-child(2)").await;
    assert!(!services.is_empty() && services.iter().all(|s| s == "iam"), "{services:?}");

    // A bad query: the error is shown at its column.
    run_query(c, "service:iam action:").await;
    wait_js(c, "const e = document.getElementById('query-error'); return e && !e.hidden", "the query error")
        .await;
    let msg = texts(c, "#query-error .q-msg").await.join("");
    assert!(msg.contains("(column 20)"), "{msg}");
    assert_eq!(texts(c, "#query-error .err-at").await, [""], "the marker sits just past the end");
    shot(c, "03-query-error").await;
    c.back().await.unwrap();
    assert_eq!(results(c).await, n);

    // A facet value: click to include it.
    let action = wait_js(
        c,
        "const v = document.querySelector('.facet[data-field=action] .facet-value'); return v && v.dataset.value",
        "the action facet",
    )
    .await
    .as_str()
    .unwrap()
    .to_owned();
    c.find(Locator::Css(".facet[data-field=action] .facet-value .fv-include"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let want_q = format!("service:iam action:{action}");
    wait_js(
        c,
        &format!("return new URLSearchParams(location.search).get('q') === {}", json!(want_q)),
        "the facet in the query",
    )
    .await;
    let m = results(c).await;
    assert_eq!(m, cli_count(data, &want_q, &[]));
    let actions = texts(c, "#events tr.ev td:nth-child(3)").await;
    assert!(actions.iter().all(|a| *a == action), "{actions:?}");
    // And − to exclude it.
    c.find(Locator::Css(".facet[data-field=action] .facet-value .fv-exclude"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_js(
        c,
        "return (new URLSearchParams(location.search).get('q') || '').includes('-action:')",
        "the exclusion",
    )
    .await;
    assert_eq!(results(c).await, n - m, "excluding the value leaves the rest");
    shot(c, "04-facet").await;

    // An event: normalized fields, raw record, "search events like this".
    let first_title = texts(c, "#events tr.ev td.title").await[0].clone();
    c.find(Locator::Css("#events tr.ev")).await.unwrap().click().await.unwrap();
    wait_js(c, "return document.getElementById('event-title')", "the event detail").await;
    assert_eq!(texts(c, "#event-title").await, [first_title]);
    let fields = texts(c, "#event-fields td.f").await;
    for f in ["id", "time", "service", "action", "actor.name", "outcome"] {
        assert!(fields.contains(&f.to_owned()), "{f} in {fields:?}");
    }
    let raw = texts(c, "#event-raw").await.join("");
    assert!(raw.contains("\"eventSource\"") && raw.contains("\"iam.amazonaws.com\""), "{raw}");
    shot(c, "05-event").await;
    c.find(Locator::Css("#event-fields tr:nth-child(1) button[data-act=like]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_js(c, "return (new URLSearchParams(location.search).get('q') || '').startsWith('id:')", "like this")
        .await;
    assert_eq!(results(c).await, 1, "the event's own id finds it alone");

    // The time range: a relative preset (the 2024 records are older than a day), then absolute.
    c.goto(&format!("{base}/ui/explorer")).await.unwrap();
    assert_eq!(results(c).await, 310);
    // A fresh page sends the search and the histogram first, and the 9 facets only once the
    // search has answered (the browser's Resource Timing entries of this document).
    let order = c
        .execute(
            "const e = performance.getEntriesByType('resource');
             const of = (p) => e.filter((r) => new URL(r.name).pathname === p);
             const search = of('/api/v1/search'), hist = of('/api/v1/histogram'), facets = of('/api/v1/facets');
             return { searches: search.length, histograms: hist.length, facets: facets.length,
               facets_after_search: search.length === 1 && facets.every((f) => f.startTime >= search[0].responseEnd),
               histogram_with_search: hist.length === 1 && search.length === 1 && hist[0].startTime < search[0].responseEnd };",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        order,
        json!({ "searches": 1, "histograms": 1, "facets": 9, "facets_after_search": true, "histogram_with_search": true }),
        "the explorer's requests and their order"
    );
    c.find(Locator::Id("time-picker")).await.unwrap().click().await.unwrap();
    c.find(Locator::Css("button[data-range='-24h']")).await.unwrap().click().await.unwrap();
    wait_js(c, "return new URLSearchParams(location.search).get('from') === '-24h'", "the preset").await;
    assert_eq!(results(c).await, 0);
    assert_eq!(texts(c, ".tp-label").await, ["Last 24 hours"]);
    c.find(Locator::Id("time-picker")).await.unwrap().click().await.unwrap();
    c.execute(
        "document.getElementById('tp-from').value = '2024-08-01T00:00'; document.getElementById('tp-to').value = '2024-08-02T00:00';",
        vec![],
    )
    .await
    .unwrap();
    c.find(Locator::Id("tp-apply")).await.unwrap().click().await.unwrap();
    wait_js(
        c,
        "return new URLSearchParams(location.search).get('to') === '2024-08-02T00:00:00Z'",
        "the absolute range",
    )
    .await;
    let day = results(c).await;
    assert_eq!(day, cli_count(data, "", &["--from", "2024-08-01T00:00:00Z", "--to", "2024-08-02T00:00:00Z"]));
    assert!(day > 0 && day < 310);
    let times = texts(c, "#events tr.ev td.t").await;
    assert!(times.iter().all(|t| t.starts_with("2024-08-01")), "{times:?}");
    shot(c, "06-time-range").await;

    // Zoom by dragging across the histogram: the range becomes the dragged span.
    c.goto(&format!("{base}/ui/explorer")).await.unwrap();
    assert_eq!(results(c).await, 310);
    c.execute(
        "const svg = document.querySelector('#histogram svg'); const r = svg.getBoundingClientRect();
         const at = (f) => ({ clientX: r.left + 44 + (r.width - 52) * f, clientY: r.top + 60, bubbles: true });
         svg.dispatchEvent(new MouseEvent('mousedown', at(0.0)));
         svg.dispatchEvent(new MouseEvent('mousemove', at(0.05)));
         svg.dispatchEvent(new MouseEvent('mouseup', at(0.05)));",
        vec![],
    )
    .await
    .unwrap();
    let zoomed = wait_js(
        c,
        "const p = new URLSearchParams(location.search); return p.get('from') && p.get('to') ? [p.get('from'), p.get('to')] : null",
        "the zoomed range",
    )
    .await;
    let (zf, zt) = (zoomed[0].as_str().unwrap().to_owned(), zoomed[1].as_str().unwrap().to_owned());
    let z = results(c).await;
    assert_eq!(z, cli_count(data, "", &["--from", &zf, "--to", &zt]), "zoomed to {zf}..{zt}");
    assert!(
        z > 0 && z < 310,
        "the first 5% of the span holds the July and August attacks, not the later ones: {z}"
    );

    // Dashboards: the list, then the overview over all time.
    c.goto(&format!("{base}/ui/dashboards")).await.unwrap();
    wait_js(c, "return document.querySelector('#dashboard-list .card')", "the dashboard list").await;
    let names = texts(c, "#dashboard-list .card-title").await;
    assert!(names[0].starts_with("CloudTrail overview"), "{names:?}");
    c.find(Locator::Css("#dashboard-list .card")).await.unwrap().click().await.unwrap();
    wait_js(
        c,
        "return location.pathname === '/ui/dashboards/overview' && document.querySelectorAll('.widget').length && \
         !document.querySelector('.widget .loading')",
        "the overview's widgets",
    )
    .await;
    assert_eq!(texts(c, ".widget[data-widget='0'] .big-value").await, ["310"]);
    let failed = cli_count(data, "outcome:failure", &[]);
    assert_eq!(texts(c, ".widget[data-widget='1'] .big-value").await, [failed.to_string()]);
    wait_js(c, "return document.querySelectorAll('.w-timeseries svg rect').length > 10", "time series bars")
        .await;
    wait_js(c, "return document.querySelectorAll('.w-timeseries path.marker').length", "signal markers")
        .await;
    assert!(texts(c, ".w-toplist .tl-row").await.len() >= 2);
    assert!(texts(c, ".errors-box, .widget .error-box").await.is_empty(), "no widget failed");
    // The single values are counts: `limit=0`, no record read; the event list asks for rows.
    let limits = c
        .execute(
            "return performance.getEntriesByType('resource').map((r) => new URL(r.name))
               .filter((u) => u.pathname === '/api/v1/search').map((u) => u.searchParams.get('limit')).sort()",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(limits, json!(["0", "0", "0", "8"]), "the overview's searches");
    shot(c, "07-dashboard").await;
    // A copy of the overview, edited and saved.
    c.find(Locator::Id("copy-dashboard")).await.unwrap().click().await.unwrap();
    wait_js(c, "return document.getElementById('dashboard-editor')", "the dashboard editor").await;
    c.execute(
        "document.getElementById('dash-name').value = 'IAM board';
         document.querySelector('.wedit .w-query').value = 'service:iam';",
        vec![],
    )
    .await
    .unwrap();
    c.find(Locator::Id("save-dashboard")).await.unwrap().click().await.unwrap();
    wait_js(
        c,
        "return !location.search.includes('edit') && document.querySelectorAll('.widget').length && !document.querySelector('.widget .loading')",
        "the saved dashboard",
    )
    .await;
    assert_eq!(texts(c, "#page-title").await, ["IAM board"]);
    let iam = cli_count(data, "service:iam", &[]);
    assert_eq!(texts(c, ".widget[data-widget='0'] .big-value").await, [iam.to_string()]);
    shot(c, "07b-dashboard-edited").await;

    // Signals: open the first one and acknowledge it.
    c.goto(&format!("{base}/ui/signals")).await.unwrap();
    wait_js(c, "return document.querySelector('#signal-list tr.sig')", "the signal list").await;
    shot(c, "08-signals").await;
    c.find(Locator::Css("#signal-list tr.sig")).await.unwrap().click().await.unwrap();
    wait_js(c, "return document.getElementById('signal-acknowledged')", "the signal detail").await;
    let runbook = texts(c, "#signal-runbook").await.join("");
    assert!(runbook.len() > 20, "the rule's runbook is shown: {runbook:?}");
    assert!(!texts(c, "#signal-events tr").await.is_empty(), "the matched events are shown");
    let signal_id = c
        .execute("return new URLSearchParams(location.search).get('signal')", vec![])
        .await
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned();
    c.find(Locator::Id("signal-acknowledged")).await.unwrap().click().await.unwrap();
    let line = wait_js(
        c,
        "const l = document.getElementById('signal-status-line'); return l && l.textContent.includes('acknowledged by alice') && l.textContent",
        "the acknowledgement",
    )
    .await;
    assert!(line.as_str().unwrap().contains("UTC"), "{line}");
    shot(c, "09-signal-acknowledged").await;
    let run = tw(data, &["signals", "--status", "acknowledged", "--format", "json"]).expect(0);
    let acked: Value = serde_json::from_str(&run.stdout).unwrap();
    let acked = acked.as_array().unwrap();
    assert_eq!(acked.len(), 1);
    assert_eq!(acked[0]["id"], json!(signal_id));
    assert_eq!(acked[0]["status_by"], "alice");

    // Rules and sources.
    c.goto(&format!("{base}/ui/rules?rule=cloudtrail-stop-logging")).await.unwrap();
    wait_js(c, "return document.getElementById('rule-query')", "the rule").await;
    assert!(texts(c, "#rule-list tr.rule").await.len() > 80);
    let detail = texts(c, "#rule-detail").await.join("");
    assert!(!detail.contains("[object"), "{detail}");
    assert!(!texts(c, "#rule-references li").await.is_empty());
    c.execute("document.getElementById('replay-range').value = '1970-01-01'", vec![]).await.unwrap();
    c.find(Locator::Id("replay-run")).await.unwrap().click().await.unwrap();
    let sum = wait_js(
        c,
        "const s = document.querySelector('#replay-result .replay-sum'); return s && s.textContent",
        "the dry run",
    )
    .await;
    let sum = sum.as_str().unwrap();
    assert!(sum.contains("would fire") && !sum.starts_with("0 "), "the stored StopLogging calls fire: {sum}");
    assert!(!texts(c, "#replay-result tr").await.is_empty());
    shot(c, "10-rules").await;
    c.find(Locator::Id("rule-toggle")).await.unwrap().click().await.unwrap();
    wait_js(
        c,
        "const d = document.getElementById('rule-detail'); return d && d.textContent.includes('disabled by alice')",
        "the rule switched off",
    )
    .await;
    assert_eq!(texts(c, "#rule-list tr[data-id=cloudtrail-stop-logging] .pill").await, ["off"]);
    c.goto(&format!("{base}/ui/sources")).await.unwrap();
    wait_js(c, "return document.querySelector('#sources tr[data-source=local]')", "the sources").await;
    assert_eq!(texts(c, "#stat-events .stat-value").await, ["310"]);
    shot(c, "11-sources").await;

    // Live tail over Server-Sent Events: an event ingested while the explorer watches shows up
    // on top, marked new, without the explorer searching again.
    c.goto(&format!("{base}/ui/explorer?q=service%3Asts")).await.unwrap();
    let before = results(c).await;
    let searches = requests(c, "/api/v1/search").await;
    c.find(Locator::Id("live")).await.unwrap().click().await.unwrap();
    let sts = common::stratus()
        .into_iter()
        .find(|r| r["eventSource"] == "sts.amazonaws.com")
        .expect("a Stratus STS record");
    let ingest_sts = |id: &str, time: String| {
        let mut record = sts.clone();
        record["eventID"] = json!(id);
        record["eventTime"] = json!(time);
        let fresh = dir_of(data).join(format!("live-{id}"));
        common::write_log(&common::log_path(&fresh, "live"), &[record]);
        tw(data, &["ingest", fresh.to_str().unwrap()]).expect(0);
    };
    let on_top = |id: &str| {
        format!(
            "const r = document.querySelector('#events tbody tr.ev'); return r && r.dataset.id === '{id}' && r.classList.contains('fresh')"
        )
    };
    let id = "0e2e0000-1111-4222-8333-444455556666";
    ingest_sts(id, chrono_like_now());
    wait_js(c, &on_top(id), "the live event on top").await;
    assert_eq!(texts(c, "#total").await, [(before + 1).to_string()]);
    wait_js(
        c,
        &format!("const v = document.querySelector('.facet[data-field=service] .fv-count'); return v && v.textContent === '{}'", before + 1),
        "the facets counting the live event",
    )
    .await;
    assert!(requests(c, "/api/v1/tail").await >= 1, "the tail is a stream");
    assert_eq!(requests(c, "/api/v1/search").await, searches, "no polling searches");
    shot(c, "12-live-tail").await;

    // Paused: what is stored meanwhile does not show (a late event: its time 20 minutes ago)...
    c.find(Locator::Id("live")).await.unwrap().click().await.unwrap();
    assert_eq!(
        c.execute("return document.getElementById('live').classList.contains('on')", vec![]).await.unwrap(),
        json!(false),
        "paused"
    );
    let late = "0e2e0000-1111-4222-8333-444455557777";
    let twenty_minutes_ago =
        (chrono::Utc::now() - chrono::Duration::minutes(20)).format("%Y-%m-%dT%H:%M:%SZ").to_string();
    ingest_sts(late, twenty_minutes_ago);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let shown = format!("return !!document.querySelector('#events tr.ev[data-id=\"{late}\"]')");
    assert_eq!(c.execute(&shown, vec![]).await.unwrap(), json!(false), "paused, yet the event came");
    // ... and comes on resuming, from where the tail was paused.
    c.find(Locator::Id("live")).await.unwrap().click().await.unwrap();
    wait_js(c, &on_top(late), "the event stored while paused, on top").await;
    assert_eq!(texts(c, "#total").await, [(before + 2).to_string()]);
    assert_eq!(texts(c, &format!("#events tr.ev[data-id=\"{id}\"]")).await.len(), 1, "no duplicate");
    c.find(Locator::Id("live")).await.unwrap().click().await.unwrap();

    // The session gone while a page is open (its cookie deleted): the next data request's 401
    // leads to the login page, which leads back to where we were. On a fresh explorer, once all
    // of its requests have answered (the tail's refresh of the page above could still come).
    c.goto(&format!("{base}/ui/explorer")).await.unwrap();
    assert_eq!(results(c).await, 312, "with the two live events");
    wait_js(c, "return document.querySelector('#histogram svg rect')", "the histogram").await;
    c.delete_cookie("tw_session").await.unwrap();
    run_query(c, "service:iam").await;
    wait_js(
        c,
        "return location.pathname === '/login' && document.getElementById('login-form')",
        "the login page on a 401",
    )
    .await;
    let next = c.execute("return new URLSearchParams(location.search).get('next')", vec![]).await.unwrap();
    assert_eq!(next, json!("/ui/explorer?q=service%3Aiam"), "the way back is kept");
    c.find(Locator::Id("username")).await.unwrap().send_keys("alice").await.unwrap();
    c.find(Locator::Id("password")).await.unwrap().send_keys(PASSWORD).await.unwrap();
    c.find(Locator::Id("login-submit")).await.unwrap().click().await.unwrap();
    wait_js(
        c,
        "return new URLSearchParams(location.search).get('q') === 'service:iam'",
        "the explorer again",
    )
    .await;
    assert_eq!(results(c).await, cli_count(data, "service:iam", &[]));

    // Logging out ends the session: pages send us back to the login.
    c.find(Locator::Id("logout")).await.unwrap().click().await.unwrap();
    wait_js(c, "return location.pathname === '/login'", "the login page after logout").await;
    c.goto(&format!("{base}/ui/signals")).await.unwrap();
    c.wait().for_element(Locator::Id("login-form")).await.unwrap();
}
