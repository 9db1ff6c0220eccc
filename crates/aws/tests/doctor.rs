//! `doctor` against moto with IAM enforcement: a user without `s3:GetObject`.

mod support;

use std::process::Command;

use aws_sdk_s3::config::Credentials;
use support::*;
use trailwatch_aws::client::{AccountClients, Connect};

/// Sets up, through boto3 (moto's own dependency) while moto does not check yet, a trail with
/// one log file and a user allowed everything trailwatch needs except `s3:GetObject`. Prints
/// the user's access key id and secret.
const SETUP: &str = r#"
import boto3, gzip, json, sys
url = sys.argv[1]
kw = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
s3 = boto3.client("s3", **kw)
s3.create_bucket(Bucket="locked")
ct = boto3.client("cloudtrail", **kw)
ct.create_trail(Name="main", S3BucketName="locked")
ct.start_logging(Name="main")
s3.put_object(Bucket="locked", Key=sys.argv[2], Body=gzip.compress(json.dumps({"Records": []}).encode()))
iam = boto3.client("iam", **kw)
iam.create_user(UserName="reader")
policy = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["cloudtrail:DescribeTrails", "cloudtrail:GetTrailStatus", "s3:ListBucket", "s3:GetBucketLocation"], "Resource": "*"}]}
iam.put_user_policy(UserName="reader", PolicyName="p", PolicyDocument=json.dumps(policy))
key = iam.create_access_key(UserName="reader")["AccessKey"]
print(key["AccessKeyId"], key["SecretAccessKey"])
"#;

#[test]
fn a_user_without_get_object_is_told_which_statement_to_add() {
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    std::env::set_var("AWS_CONFIG_FILE", "/dev/null");
    std::env::set_var("AWS_SHARED_CREDENTIALS_FILE", "/dev/null");
    // The setup makes 8 requests; everything after is checked against IAM.
    let moto = Moto::start_with(Some(8));
    let python = moto_server().with_file_name("python");
    let object = key(&format!("AWSLogs/{ACCOUNT}/"), ACCOUNT, "us-east-1", "1000", "x");
    let out = Command::new(python).args(["-c", SETUP, &moto.url(), &object]).output().unwrap();
    assert!(out.status.success(), "setup failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let mut parts = text.split_whitespace();
    let (id, secret) = (parts.next().unwrap().to_owned(), parts.next().unwrap().to_owned());
    let cfg = config("", &format!("[[accounts]]\nid = \"{ACCOUNT}\"\nregions = [\"us-east-1\"]"));
    let connect = Connect {
        endpoint_url: Some(moto.url()),
        credentials: Some(Credentials::new(id, secret, None, None, "t")),
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let report = rt.block_on(async {
        let clients = AccountClients::new(&connect, &cfg.accounts[0]).await;
        trailwatch_aws::doctor::run(&clients, &cfg.accounts[0]).await
    });
    let lines: Vec<String> =
        report.checks.iter().map(|c| format!("{} {} {}", c.permission, c.ok(), c.resource)).collect();
    let failed: Vec<_> = report.checks.iter().filter(|c| !c.ok()).collect();
    assert_eq!(failed.len(), 1, "{lines:#?}");
    assert_eq!(failed[0].permission, "s3:GetObject", "{lines:#?}");
    assert_eq!(failed[0].resource, format!("s3://locked/{object}"));
    assert!(failed[0].error.as_deref().unwrap().contains("AccessDenied"), "{:?}", failed[0].error);
    let policy = failed[0].policy.as_deref().unwrap();
    assert!(
        policy.contains("\"s3:GetObject\"") && policy.contains("arn:aws:s3:::locked/AWSLogs/*"),
        "{policy}"
    );
    for p in
        ["cloudtrail:DescribeTrails", "cloudtrail:GetTrailStatus", "s3:GetBucketLocation", "s3:ListBucket"]
    {
        assert!(report.checks.iter().any(|c| c.permission == p && c.ok()), "{p} passes: {lines:#?}");
    }
    assert!(!report.ok());
}
