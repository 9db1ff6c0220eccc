//! `trailwatch poll`, `trails`, `status` and `doctor` against a real moto server (started from
//! `$TRAILWATCH_VENV` on a free loopback port; a missing moto fails the test).

mod common;

use std::time::Instant;

use common::moto::{aws_command, aws_tw, Moto};
use common::*;

const SETUP: &str = r#"
import boto3, sys
url = sys.argv[1]
kw = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
s3 = boto3.client("s3", **kw)
s3.create_bucket(Bucket="logs")
ct = boto3.client("cloudtrail", **kw)
ct.create_trail(Name="main", S3BucketName="logs", IsMultiRegionTrail=True)
ct.start_logging(Name="main")
ct.create_trail(Name="old", S3BucketName="logs")
s3.put_object(Bucket="logs", Key=sys.argv[2], Body=open(sys.argv[3], "rb").read())
"#;

fn today_key(hhmm: &str) -> String {
    let d = chrono::Utc::now().date_naive();
    format!(
        "AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/{}/{ACCOUNT}_CloudTrail_us-east-1_{}T{hhmm}Z_a.json.gz",
        d.format("%Y/%m/%d"),
        d.format("%Y%m%d")
    )
}

#[test]
fn poll_once_then_trails_and_status() {
    let moto = Moto::start(None);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f.json.gz");
    write_log(&file, &stratus());
    moto.python(SETUP, &[&today_key("1000"), file.to_str().unwrap()]);
    let config = dir.path().join("tw.toml");
    std::fs::write(
        &config,
        format!("[aws]\nendpoint_url = \"{}\"\n\n[[accounts]]\nid = \"{ACCOUNT}\"\nname = \"test\"\nregions = [\"us-east-1\", \"eu-west-1\"]\n", moto.url()),
    )
    .unwrap();
    let data = dir.path().join("data");
    let key = ("testing", "testing");
    let run = aws_tw(&data, &config, key, &["trails"]).expect(0);
    assert!(run.stdout.contains("main [multi-region, home us-east-1] reading"), "{}", run.stdout);
    assert!(
        run.stdout.contains("old [single-region, home us-east-1] skipped: not logging"),
        "{}",
        run.stdout
    );
    let run = aws_tw(&data, &config, key, &["poll", "--once", "--no-detect"]).expect(0);
    assert!(run.stderr.contains("1 new files, 310 events added"), "{}", run.stderr);
    // Again: nothing new, nothing read twice.
    let run = aws_tw(&data, &config, key, &["poll", "--once", "--no-detect"]).expect(0);
    assert!(run.stderr.contains("0 new files, 0 events added"), "{}", run.stderr);
    let run = aws_tw(&data, &config, key, &["status"]).expect(0);
    assert!(run.stdout.contains("main (account 123456789012, s3://logs)"), "{}", run.stdout);
    assert!(run.stdout.contains(&format!("last file s3://logs/{}", today_key("1000"))), "{}", run.stdout);
    assert!(run.stdout.contains("lag p50"), "{}", run.stdout);
    tw(&data, &["search", "*", "--limit", "1"]).expect(0);
    // An unknown key in the configuration is rejected with its line.
    std::fs::write(&config, "[[accounts]]\nid = \"123456789012\"\nrole = \"x\"\n").unwrap();
    let run = aws_tw(&data, &config, key, &["trails"]).expect(2);
    assert!(run.stderr.contains("tw.toml:") && run.stderr.contains("role"), "{}", run.stderr);
}

const IAM_SETUP: &str = r#"
import boto3, gzip, json, sys
url = sys.argv[1]
kw = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
s3 = boto3.client("s3", **kw)
s3.create_bucket(Bucket="locked")
ct = boto3.client("cloudtrail", **kw)
ct.create_trail(Name="main", S3BucketName="locked")
ct.start_logging(Name="main")
s3.put_object(Bucket="locked", Key=sys.argv[2], Body=gzip.compress(b'{"Records": []}'))
iam = boto3.client("iam", **kw)
iam.create_user(UserName="reader")
policy = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["cloudtrail:DescribeTrails", "cloudtrail:GetTrailStatus", "s3:ListBucket", "s3:GetBucketLocation"], "Resource": "*"}]}
iam.put_user_policy(UserName="reader", PolicyName="p", PolicyDocument=json.dumps(policy))
key = iam.create_access_key(UserName="reader")["AccessKey"]
print(key["AccessKeyId"], key["SecretAccessKey"])
"#;

#[test]
fn doctor_names_the_missing_permission_and_prints_the_policy() {
    let moto = Moto::start(Some(8));
    let dir = tempfile::tempdir().unwrap();
    let object = today_key("1000");
    let out = moto.python(IAM_SETUP, &[&object]);
    let mut parts = out.split_whitespace();
    let key = (parts.next().unwrap(), parts.next().unwrap());
    let config = dir.path().join("tw.toml");
    std::fs::write(
        &config,
        format!(
            "[aws]\nendpoint_url = \"{}\"\n\n[[accounts]]\nid = \"{ACCOUNT}\"\nregions = [\"us-east-1\"]\n",
            moto.url()
        ),
    )
    .unwrap();
    let run = aws_tw(&dir.path().join("data"), &config, key, &["doctor"]).expect(1);
    let fails: Vec<&str> = run.stdout.lines().filter(|l| l.trim_start().starts_with("FAIL")).collect();
    assert_eq!(fails.len(), 1, "{}", run.stdout);
    assert!(
        fails[0].contains("s3:GetObject") && fails[0].contains(&format!("s3://locked/{object}")),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("AccessDenied"), "{}", run.stdout);
    assert!(
        run.stdout.contains(r#"{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::locked/AWSLogs/*"]}"#),
        "{}",
        run.stdout
    );
    for p in
        ["cloudtrail:DescribeTrails", "cloudtrail:GetTrailStatus", "s3:GetBucketLocation", "s3:ListBucket"]
    {
        assert!(
            run.stdout.lines().any(|l| l.trim_start().starts_with("pass") && l.contains(p)),
            "{p}: {}",
            run.stdout
        );
    }
    assert!(run.stdout.contains("the policy to add, all in one:"), "{}", run.stdout);

    // The report is kept: the Sources page shows it. `--no-poll` serves without polling (this
    // user could not read the object anyway).
    let data = dir.path().join("data");
    let mut server =
        start_server(aws_command(&data, &config, key, &["serve", "--listen", "127.0.0.1:0", "--no-poll"]));
    let cookie = server.login();
    let sources = server.get(&cookie, "/api/v1/sources");
    let accounts = sources["accounts"].as_array().unwrap();
    assert_eq!(accounts.len(), 1, "{sources:#}");
    let doctor = &accounts[0]["doctor"];
    assert_eq!(accounts[0]["id"], ACCOUNT);
    assert_eq!(doctor["ok"], false, "{doctor:#}");
    assert!(doctor["at"].as_i64().unwrap() > 0);
    let failed: Vec<&serde_json::Value> =
        doctor["checks"].as_array().unwrap().iter().filter(|c| c["ok"] == false).collect();
    assert_eq!(failed.len(), 1, "{doctor:#}");
    assert_eq!(failed[0]["permission"], "s3:GetObject");
    assert!(failed[0]["error"].as_str().unwrap().contains("AccessDenied"), "{doctor:#}");
    let policy: serde_json::Value = serde_json::from_str(doctor["policy"].as_str().unwrap()).unwrap();
    assert_eq!(policy["Version"], "2012-10-17");
    assert_eq!(
        policy["Statement"],
        serde_json::json!([{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::locked/AWSLogs/*"]}])
    );
    // Nothing was polled, nothing discovered.
    assert_eq!(sources["trails"], serde_json::json!([]), "{}", server.stderr());
    assert!(accounts[0]["discovered_at"].is_null(), "{sources:#}");
    assert!(!server.stderr().contains("polling"), "{}", server.stderr());
    assert_eq!(server.terminate(), Some(0), "{}", server.stderr());
}

/// A logging multi-region trail `main` and a stopped one, `old`, both writing to bucket `logs`.
const TRAILS_SETUP: &str = r#"
import boto3, sys
url = sys.argv[1]
kw = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
boto3.client("s3", **kw).create_bucket(Bucket="logs")
ct = boto3.client("cloudtrail", **kw)
ct.create_trail(Name="main", S3BucketName="logs", IsMultiRegionTrail=True, KmsKeyId=sys.argv[2])
ct.start_logging(Name="main")
ct.create_trail(Name="old", S3BucketName="logs")
"#;

const PUT: &str = r#"
import boto3, sys
kw = dict(endpoint_url=sys.argv[1], region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
boto3.client("s3", **kw).put_object(Bucket="logs", Key=sys.argv[2], Body=open(sys.argv[3], "rb").read())
"#;

#[test]
fn serve_polls_the_accounts_beside_the_api_and_stops_cleanly() {
    let moto = Moto::start(None);
    let dir = tempfile::tempdir().unwrap();
    let kms_key = format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab");
    moto.python(TRAILS_SETUP, &[&kms_key]);
    let config = dir.path().join("tw.toml");
    std::fs::write(
        &config,
        format!(
            "[aws]\nendpoint_url = \"{}\"\n\n[[accounts]]\nid = \"{ACCOUNT}\"\nname = \"test\"\nregions = [\"us-east-1\"]\npoll_interval = \"1s\"\nevents = \"security\"\n",
            moto.url()
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let key = ("testing", "testing");
    let mut server = start_server(aws_command(&data, &config, key, &["serve", "--listen", "127.0.0.1:0"]));
    let cookie = server.login();
    let log = || server.stderr();

    // Discovery is saved for the Sources page: the account, its selection, both trails.
    let account = wait_for(30, "the account discovered", log, || {
        let s = server.get(&cookie, "/api/v1/sources");
        let a = s["accounts"].get(0)?.clone();
        (!a["discovered_at"].is_null()).then_some(a)
    });
    assert_eq!(account["id"], ACCOUNT);
    assert_eq!(account["name"], "test");
    assert_eq!(account["mode"], "s3");
    assert_eq!(account["regions"], serde_json::json!(["us-east-1"]));
    assert!(account["selection"][0].as_str().unwrap().contains("preset security"), "{account:#}");
    let trail = |name: &str| {
        account["trails"].as_array().unwrap().iter().find(|t| t["name"] == name).cloned().unwrap()
    };
    assert_eq!(trail("main")["status"], "reading", "{account:#}");
    assert_eq!(trail("main")["kind"], "multi-region");
    assert_eq!(trail("main")["bucket"], "logs");
    // The trail's key, which doctor's kms:Decrypt statement names when decryption is denied.
    assert_eq!(trail("main")["kms_key_id"], kms_key.as_str());
    assert_eq!(trail("old")["status"], "skipped", "{account:#}");
    assert!(trail("old")["skipped_reason"].as_str().unwrap().starts_with("not logging"), "{account:#}");
    assert_eq!(account["errors"], serde_json::json!([]));
    assert!(account["doctor"].is_null());

    // A file put in the bucket after serve started becomes searchable.
    let file = dir.path().join("f.json.gz");
    write_log(&file, &stratus());
    moto.python(PUT, &[&today_key("1000"), file.to_str().unwrap()]);
    let put_at = Instant::now();
    // Recorded (after the commit that holds its events), then searchable within a second.
    wait_for(60, "the new file recorded", log, || {
        let s = server.get(&cookie, "/api/v1/sources");
        s["trails"][0]["last_file"].as_str()?.ends_with(&today_key("1000")).then_some(())
    });
    let found = wait_for(10, "the new file searchable", log, || {
        let n = server.get(&cookie, "/api/v1/search?limit=1")["total"].as_u64().unwrap();
        (n > 0).then_some(n)
    });
    eprintln!("searchable {:?} after the put (poll interval 1 s)", put_at.elapsed());
    // The security preset drops some Stratus records (reads); the rest are kept.
    assert!(found < 310, "{found}");
    // More polls read nothing again.
    let polls = |s: &serde_json::Value| s["trails"][0]["polls"].as_u64().unwrap_or(0);
    let seen = polls(&server.get(&cookie, "/api/v1/sources"));
    wait_for(30, "two more polls", log, || {
        (polls(&server.get(&cookie, "/api/v1/sources")) >= seen + 2).then_some(())
    });
    let s = server.get(&cookie, "/api/v1/sources");
    assert_eq!(server.get(&cookie, "/api/v1/search?limit=1")["total"].as_u64(), Some(found));
    assert_eq!(s["trails"].as_array().unwrap().len(), 1, "{s:#}");
    assert!(s["trails"][0]["last_file"].as_str().unwrap().ends_with(&today_key("1000")), "{s:#}");
    assert!(s["trails"][0]["events_excluded"].as_u64().unwrap() > 0, "{s:#}");
    assert_eq!(s["trails"][0]["silent"], false);

    // `trailwatch doctor` beside the server: its report shows on the Sources page.
    aws_tw(&data, &config, key, &["doctor"]).expect(0);
    let doctor = server.get(&cookie, "/api/v1/sources")["accounts"][0]["doctor"].clone();
    assert_eq!(doctor["ok"], true, "{doctor:#}");
    assert!(doctor["policy"].is_null());
    let checks: Vec<&str> =
        doctor["checks"].as_array().unwrap().iter().map(|c| c["permission"].as_str().unwrap()).collect();
    for p in ["cloudtrail:DescribeTrails", "cloudtrail:GetTrailStatus", "s3:ListBucket", "s3:GetObject"] {
        assert!(checks.contains(&p), "{p}: {doctor:#}");
    }
    assert!(
        doctor["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("old is not logging")),
        "{doctor:#}"
    );

    let term_at = Instant::now();
    assert_eq!(server.terminate(), Some(0), "{}", server.stderr());
    eprintln!("exited {:?} after SIGTERM", term_at.elapsed());
    assert!(server.stderr().contains("poller stopped"), "{}", server.stderr());
    // Each event once.
    let run = tw(&data, &["search", "", "--format", "jsonl", "--limit", "1000"]).expect(0);
    let ids: std::collections::BTreeSet<String> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(run.stdout.lines().count() as u64, found);
    assert_eq!(ids.len() as u64, found);
    // The writer lock was let go: an ingest can write now.
    let again = aws_tw(&data, &config, key, &["poll", "--once", "--no-detect"]).expect(0);
    assert!(again.stderr.contains("0 new files, 0 events added"), "{}", again.stderr);
}
