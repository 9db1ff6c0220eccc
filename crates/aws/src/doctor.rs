//! `doctor`: checks each permission trailwatch needs in an account, one at a time, and says
//! what to add when one is missing (an IAM policy statement with the real ARNs) and what a
//! situation means (no trails, a trail not logging, a bucket in another account).

use crate::client::AccountClients;
use crate::config::Account;
use crate::discover::{self, Trail};
use crate::error::{describe, ErrorKind};

/// One permission checked on one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub permission: &'static str,
    /// What it was checked on (a region, trail, bucket or key).
    pub resource: String,
    /// `None` when it passed; the AWS error otherwise.
    pub error: Option<String>,
    /// The IAM policy statement that grants it, for failures.
    pub policy: Option<String>,
}

impl Check {
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }
}

/// The checks of one account and what they mean.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub account: String,
    pub checks: Vec<Check>,
    pub notes: Vec<String>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.checks.iter().all(Check::ok)
    }
}

fn statement(actions: &[&str], resources: &[String]) -> String {
    let actions = actions.iter().map(|a| format!("\"{a}\"")).collect::<Vec<_>>().join(", ");
    let resources = resources.iter().map(|r| format!("\"{r}\"")).collect::<Vec<_>>().join(", ");
    format!("{{\"Effect\": \"Allow\", \"Action\": [{actions}], \"Resource\": [{resources}]}}")
}

fn check(
    permission: &'static str,
    resource: String,
    error: Option<(ErrorKind, String)>,
    policy: String,
) -> Check {
    let failed = error.is_some();
    Check { permission, resource, error: error.map(|(_, d)| d), policy: failed.then_some(policy) }
}

/// Checks `account`.
pub async fn run(clients: &AccountClients, account: &Account) -> Report {
    let mut r = Report { account: account.id.clone(), ..Report::default() };
    if let Some(role) = &account.role_arn {
        let e = clients.whoami().await.err().map(|e| (e.kind().unwrap_or(ErrorKind::Other), e.to_string()));
        let denied = e.is_some();
        r.checks.push(check(
            "sts:AssumeRole",
            role.clone(),
            e,
            statement(&["sts:AssumeRole"], std::slice::from_ref(role)),
        ));
        if denied {
            r.notes.push(format!(
                "the credentials trailwatch runs with need sts:AssumeRole on {role} (the statement above, in their policy), \
                 and the role's trust policy must name them (and the ExternalId, when one is set)"
            ));
            return r;
        }
    }
    // DescribeTrails, one line for all regions: the first failure is shown.
    let found = discover::trails(clients, account).await;
    let describe_err = found
        .errors
        .iter()
        .find(|e| e.to_string().starts_with("cloudtrail:DescribeTrails"))
        .map(|e| (e.kind().unwrap_or(ErrorKind::Other), e.to_string()));
    let describe_failed = describe_err.is_some();
    r.checks.push(check(
        "cloudtrail:DescribeTrails",
        account.regions.join(","),
        describe_err,
        statement(&["cloudtrail:DescribeTrails"], &["*".to_owned()]),
    ));
    if found.trails.is_empty() && !describe_failed {
        r.notes.push(format!(
            "no trails found in {} (regions {}): create a trail (a multi-region one covers every region), or add the \
             regions where it lives to `regions`, or configure the organization's management account for an \
             organization trail",
            account.id,
            account.regions.join(", ")
        ));
    }
    for t in &found.trails {
        let status_err = found
            .errors
            .iter()
            .find(|e| e.to_string().starts_with(&format!("cloudtrail:GetTrailStatus on {}", t.arn)))
            .map(|e| (e.kind().unwrap_or(ErrorKind::Other), e.to_string()));
        r.checks.push(check(
            "cloudtrail:GetTrailStatus",
            t.arn.clone(),
            status_err,
            statement(&["cloudtrail:GetTrailStatus"], std::slice::from_ref(&t.arn)),
        ));
        if let Some(why) = &t.skipped {
            if why.starts_with("not logging") {
                r.notes.push(format!(
                    "trail {} is {why}: it delivers no new files, so it is skipped (start it with \
                     `aws cloudtrail start-logging --name {}`)",
                    t.name, t.arn
                ));
                continue;
            }
        }
        bucket_checks(clients, account, t.clone(), &mut r).await;
    }
    r
}

async fn bucket_checks(clients: &AccountClients, account: &Account, mut t: Trail, r: &mut Report) {
    let bucket_arn = format!("arn:aws:s3:::{}", t.bucket);
    let s3 = clients.s3(&t.home_region);
    let loc = s3.get_bucket_location().bucket(&t.bucket).send().await;
    let (loc_err, region) = match &loc {
        Ok(o) => (None, crate::client::bucket_region(o.location_constraint().map(|c| c.as_str()))),
        Err(e) => (Some(describe(e)), t.home_region.clone()),
    };
    let loc_denied = loc_err.as_ref().is_some_and(|(k, _)| *k == ErrorKind::Denied);
    r.checks.push(check(
        "s3:GetBucketLocation",
        t.bucket.clone(),
        loc_err,
        statement(&["s3:GetBucketLocation"], std::slice::from_ref(&bucket_arn)),
    ));
    let s3 = clients.s3(&region);
    let awslogs = if t.prefix.is_empty() { "AWSLogs/".to_owned() } else { format!("{}/AWSLogs/", t.prefix) };
    let listed = s3.list_objects_v2().bucket(&t.bucket).prefix(&awslogs).max_keys(50).send().await;
    let (list_err, sample) = match &listed {
        Ok(o) => (
            None,
            o.contents()
                .iter()
                .filter_map(|o| o.key())
                .find(|k| {
                    trailwatch_cloudtrail::LogKey::parse(k)
                        .is_some_and(|k| k.kind == trailwatch_cloudtrail::KeyKind::Log)
                })
                .map(str::to_owned),
        ),
        Err(e) => (Some(describe(e)), None),
    };
    let list_denied = list_err.as_ref().is_some_and(|(k, _)| *k == ErrorKind::Denied);
    r.checks.push(check(
        "s3:ListBucket",
        t.bucket.clone(),
        list_err,
        statement(&["s3:ListBucket"], std::slice::from_ref(&bucket_arn)),
    ));
    if (loc_denied || list_denied) && (t.organization || t.owner() != account.id) {
        r.notes.push(format!(
            "bucket {} is probably in another account (trail {} belongs to {}{}): the bucket's policy must also \
             allow these calls for trailwatch's role",
            t.bucket,
            t.name,
            t.owner(),
            if t.organization { ", an organization trail" } else { "" }
        ));
    } else if loc_denied || list_denied {
        r.notes.push(format!(
            "bucket {}: if it is in another account, its bucket policy must also allow trailwatch's role",
            t.bucket
        ));
    }
    let object_arn = format!("arn:aws:s3:::{}/{awslogs}*", t.bucket);
    match sample {
        None if !list_denied => r.notes.push(format!(
            "no log files yet under s3://{}/{awslogs}: s3:GetObject could not be checked",
            t.bucket
        )),
        None => {}
        Some(key) => {
            let got = s3.get_object().bucket(&t.bucket).key(&key).range("bytes=0-0").send().await;
            let (get_err, kms_key) = match &got {
                Ok(o) => (None, o.ssekms_key_id().map(str::to_owned)),
                Err(e) => (Some(describe(e)), None),
            };
            let kms = get_err.as_ref().filter(|(k, _)| *k == ErrorKind::KmsDenied).cloned();
            let get_err = get_err.filter(|(k, _)| *k != ErrorKind::KmsDenied);
            r.checks.push(check(
                "s3:GetObject",
                format!("s3://{}/{key}", t.bucket),
                get_err,
                statement(&["s3:GetObject"], std::slice::from_ref(&object_arn)),
            ));
            if let Some(k) = kms {
                r.checks.push(check(
                    "kms:Decrypt",
                    format!("the key of s3://{}/{key}", t.bucket),
                    Some(k),
                    statement(&["kms:Decrypt"], &["arn:aws:kms:REGION:ACCOUNT:key/KEY-ID".to_owned()]),
                ));
            } else if let Some(key_id) = kms_key {
                r.checks.push(Check {
                    permission: "kms:Decrypt",
                    resource: key_id,
                    error: None,
                    policy: None,
                });
            }
        }
    }
    t.bucket_region = Some(region);
}
