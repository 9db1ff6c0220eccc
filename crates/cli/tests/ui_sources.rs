//! The Sources page's AWS account panels in a real headless Chromium. A moto server holds a
//! logging trail and a stopped one, and a reader user that may list the bucket but not read its
//! objects; `trailwatch poll --once` and `trailwatch doctor` save what they found the way `serve`
//! does, and the page must show it: the account and its settings, the trail read (with the read
//! error in its health) and the one skipped with why, the doctor report's lines, and the IAM
//! policy to add with its *Copy* button.

mod common;

use common::browser::{add_user, serve, shot, texts, wait_js, with_browser};
use common::moto::{aws_tw, Moto};
use common::*;
use fantoccini::{Client, Locator};
use serde_json::{json, Value};

const PASSWORD: &str = "correct horse battery staple";

/// Bucket `logs` with one object; trail `main` (multi-region, logging) and `old` (stopped)
/// writing there; user `reader`, allowed everything the poller needs but `s3:GetObject`.
const SETUP: &str = r#"
import boto3, json, sys
url = sys.argv[1]
kw = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
s3 = boto3.client("s3", **kw)
s3.create_bucket(Bucket="logs")
ct = boto3.client("cloudtrail", **kw)
ct.create_trail(Name="main", S3BucketName="logs", IsMultiRegionTrail=True)
ct.start_logging(Name="main")
ct.create_trail(Name="old", S3BucketName="logs")
s3.put_object(Bucket="logs", Key=sys.argv[2], Body=open(sys.argv[3], "rb").read())
iam = boto3.client("iam", **kw)
iam.create_user(UserName="reader")
policy = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["cloudtrail:DescribeTrails", "cloudtrail:GetTrailStatus", "s3:ListBucket", "s3:GetBucketLocation"], "Resource": "*"}]}
iam.put_user_policy(UserName="reader", PolicyName="p", PolicyDocument=json.dumps(policy))
key = iam.create_access_key(UserName="reader")["AccessKey"]
print(key["AccessKeyId"], key["SecretAccessKey"])
"#;

fn today_key() -> String {
    let d = chrono::Utc::now().date_naive();
    format!(
        "AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/{}/{ACCOUNT}_CloudTrail_us-east-1_{}T1000Z_a.json.gz",
        d.format("%Y/%m/%d"),
        d.format("%Y%m%d")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sources_page_shows_the_account_its_trails_the_doctor_report_and_the_policy() {
    // The set-up's calls run unauthenticated (eight, and one to spare as in `aws.rs`); IAM is
    // enforced after them, so the reader's missing permission is denied.
    let moto = Moto::start(Some(9));
    let dir = tempfile::tempdir().unwrap();
    let object = today_key();
    let file = dir.path().join("f.json.gz");
    write_log(&file, &stratus());
    let out = moto.python(SETUP, &[&object, file.to_str().unwrap()]);
    let mut parts = out.split_whitespace();
    let key = (parts.next().unwrap(), parts.next().unwrap());
    let config = dir.path().join("tw.toml");
    std::fs::write(
        &config,
        format!(
            "[aws]\nendpoint_url = \"{}\"\n\n[[accounts]]\nid = \"{ACCOUNT}\"\nname = \"prod\"\nregions = [\"us-east-1\"]\npoll_interval = \"2m\"\nevents = \"security\"\n",
            moto.url()
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    // A poll saves the discovery and the trail's health (its object cannot be read); doctor
    // saves its report (one permission missing: exit code 1).
    let poll = aws_tw(&data, &config, key, &["poll", "--once", "--no-detect"]);
    assert!(poll.stderr.contains("AccessDenied"), "the read is denied: {poll:?}");
    let doctor = aws_tw(&data, &config, key, &["doctor"]).expect(1);
    assert!(doctor.stdout.contains("the policy to add"), "{}", doctor.stdout);
    add_user(&data, "alice", PASSWORD);
    // Served without the configuration: the page shows what was saved.
    let (_server, base) = serve(&data, &[], &[]);
    with_browser(dir.path(), move |c| async move { steps(&c, &base, &object).await }).await;
}

/// The rows of a table as the cells' texts.
async fn rows(c: &Client, selector: &str) -> Vec<Vec<String>> {
    let v = c
        .execute(
            "return [...document.querySelectorAll(arguments[0])].map((r) => [...r.cells].map((td) => td.textContent.trim()))",
            vec![json!(selector)],
        )
        .await
        .unwrap();
    serde_json::from_value(v).unwrap()
}

async fn steps(c: &Client, base: &str, object: &str) {
    c.goto(&format!("{base}/login")).await.unwrap();
    c.find(Locator::Id("username")).await.unwrap().send_keys("alice").await.unwrap();
    c.find(Locator::Id("password")).await.unwrap().send_keys(PASSWORD).await.unwrap();
    c.find(Locator::Id("login-submit")).await.unwrap().click().await.unwrap();
    wait_js(c, "return location.pathname === '/ui/explorer'", "the explorer after login").await;

    c.goto(&format!("{base}/ui/sources")).await.unwrap();
    let panel = format!("section.account[data-account='{ACCOUNT}']");
    wait_js(c, &format!("return document.querySelector(\"{panel}\")"), "the account panel").await;
    shot(c, "13-sources-account").await;

    // The account: name and id, when it was discovered, its settings and the events kept.
    assert_eq!(texts(c, &format!("{panel} .panel-title")).await, [format!("prod ({ACCOUNT})")]);
    let head = texts(c, &format!("{panel} .panel-head .sub")).await;
    assert!(head[0].starts_with("discovered 20"), "{head:?}");
    let settings = texts(c, &format!("{panel} .acct-body > .acct-sub")).await;
    assert_eq!(settings[0], "regions us-east-1 · S3 listing every 2m", "{settings:?}");
    let selection = texts(c, &format!("{panel} .selection")).await;
    assert!(
        selection[0].starts_with("Events kept: writes, console sign-ins")
            && selection[0].ends_with("(preset security)"),
        "{selection:?}"
    );
    assert!(texts(c, &format!("{panel} .discovery-errors")).await.is_empty(), "no discovery errors");

    // The trails: `main` read, with the denied read as its last error; `old` skipped, with why.
    let reading = rows(c, &format!("{panel} .acct-trails tr[data-status=reading]")).await;
    assert_eq!(reading.len(), 1, "{reading:?}");
    let main = &reading[0];
    assert_eq!(main[0], "mainmulti-region · home us-east-1", "{main:?}");
    assert!(main[1].starts_with("s3://logs"), "{main:?}");
    assert_eq!(main[2], "reading");
    let last_error = main.last().unwrap();
    assert!(last_error.contains(object) && last_error.contains("AccessDenied"), "{main:?}");
    let skipped = rows(c, &format!("{panel} .acct-trails tr[data-status=skipped]")).await;
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert!(skipped[0][0].starts_with("old"), "{skipped:?}");
    let why = texts(c, &format!("{panel} tr[data-status=skipped] .why")).await;
    assert!(why[0].starts_with("not logging"), "{why:?}");

    // The doctor report: a line per permission checked, the missing one with the AWS error,
    // as many lines as the API holds, and the notes.
    let verdict = texts(c, &format!("{panel} .doctor > .acct-sub")).await;
    assert!(verdict[0].starts_with("Doctor found missing permissions · 20"), "{verdict:?}");
    let lines = rows(c, &format!("{panel} .doctor-checks tbody tr")).await;
    let failed: Vec<_> = lines.iter().filter(|l| l[0] == "fail").collect();
    assert_eq!(failed.len(), 1, "{lines:?}");
    assert_eq!(failed[0][1], "s3:GetObject");
    assert_eq!(failed[0][2], format!("s3://logs/{object}"));
    assert!(failed[0][3].contains("AccessDenied"), "{lines:?}");
    for p in
        ["cloudtrail:DescribeTrails", "cloudtrail:GetTrailStatus", "s3:GetBucketLocation", "s3:ListBucket"]
    {
        assert!(lines.iter().any(|l| l[0] == "pass" && l[1] == p), "{p} passes: {lines:?}");
    }
    let api = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch('/api/v1/sources').then((r) => r.json()).then(done, (e) => done(String(e)));",
            vec![],
        )
        .await
        .unwrap();
    let report = &api["accounts"][0]["doctor"];
    assert_eq!(lines.len(), report["checks"].as_array().unwrap().len(), "{report:#}");
    let notes = texts(c, &format!("{panel} .doctor .notes li")).await;
    let want_notes: Vec<String> = serde_json::from_value(report["notes"].clone()).unwrap();
    assert_eq!(notes, want_notes);
    assert!(notes.iter().any(|n| n.contains("old is not logging")), "{notes:?}");

    // The policy to add, and Copy. The browser's clipboard is replaced by a recorder (headless
    // Chromium has no system clipboard to read back); then by one that refuses, where the page
    // selects the text for Ctrl-C instead.
    let policy = texts(c, &format!("{panel} .policy pre")).await;
    let doc: Value = serde_json::from_str(&policy[0]).unwrap();
    assert_eq!(
        doc["Statement"],
        json!([{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::logs/AWSLogs/*"]}])
    );
    let want_policy = report["policy"].as_str().unwrap();
    assert_eq!(policy[0], want_policy.trim());
    c.execute(
        "window.copied = null;
         Object.defineProperty(navigator, 'clipboard', { configurable: true,
           value: { writeText: async (t) => { window.copied = t; } } });",
        vec![],
    )
    .await
    .unwrap();
    let copy = format!("{panel} .policy button.copy");
    c.find(Locator::Css(&copy)).await.unwrap().click().await.unwrap();
    wait_js(c, &format!("return document.querySelector(\"{copy}\").textContent === 'Copied'"), "Copied")
        .await;
    assert_eq!(c.execute("return window.copied", vec![]).await.unwrap(), json!(want_policy));
    c.execute(
        "Object.defineProperty(navigator, 'clipboard', { configurable: true,
           value: { writeText: async () => { throw new DOMException('denied', 'NotAllowedError'); } } });",
        vec![],
    )
    .await
    .unwrap();
    c.find(Locator::Css(&copy)).await.unwrap().click().await.unwrap();
    wait_js(
        c,
        &format!("return document.querySelector(\"{copy}\").textContent === 'Selected: press Ctrl-C'"),
        "the policy selected",
    )
    .await;
    let selected = c.execute("return window.getSelection().toString()", vec![]).await.unwrap();
    assert_eq!(selected.as_str().unwrap().trim(), policy[0]);
    shot(c, "14-sources-policy").await;
}
