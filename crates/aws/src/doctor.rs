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
    /// The actions and resources of that statement (for [`Report::policy`]).
    pub grant: Option<Grant>,
    /// What else to know about the check (where a KMS key ARN came from).
    pub note: Option<String>,
}

impl Check {
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }
}

/// What one policy statement allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub actions: Vec<String>,
    pub resources: Vec<String>,
}

impl Grant {
    fn new(actions: &[&str], resources: &[String]) -> Grant {
        Grant { actions: actions.iter().map(|a| a.to_string()).collect(), resources: resources.to_vec() }
    }

    /// `{"Effect": "Allow", "Action": [...], "Resource": [...]}`
    pub fn statement(&self) -> String {
        let quote = |v: &[String]| {
            v.iter()
                .map(|a| serde_json::to_string(a).expect("strings serialize"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            "{{\"Effect\": \"Allow\", \"Action\": [{}], \"Resource\": [{}]}}",
            quote(&self.actions),
            quote(&self.resources)
        )
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

    /// The smallest IAM policy document granting every failed check: one statement per set of
    /// resources, with the actions each needs; `None` when nothing failed.
    pub fn policy(&self) -> Option<String> {
        let mut merged: Vec<Grant> = Vec::new();
        for g in self.checks.iter().filter(|c| !c.ok()).filter_map(|c| c.grant.as_ref()) {
            let mut resources = g.resources.clone();
            resources.sort();
            resources.dedup();
            match merged.iter_mut().find(|m| m.resources == resources) {
                Some(m) => {
                    for a in &g.actions {
                        if !m.actions.contains(a) {
                            m.actions.push(a.clone());
                        }
                    }
                }
                None => merged.push(Grant { actions: g.actions.clone(), resources }),
            }
        }
        if merged.is_empty() {
            return None;
        }
        let statements: Vec<String> = merged.iter().map(|g| format!("    {}", g.statement())).collect();
        Some(format!(
            "{{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n{}\n  ]\n}}",
            statements.join(",\n")
        ))
    }
}

/// The placeholder for a KMS key nobody named.
pub const KMS_PLACEHOLDER: &str = "arn:aws:kms:REGION:ACCOUNT:key/KEY-ID";

/// The ARN to grant `kms:Decrypt` on, and where it came from: the object's `SSEKMSKeyId`
/// (what its data key was made with), else the trail's `KmsKeyId`; a bare key id becomes an
/// ARN in `region` and `account`. An alias is no resource `kms:Decrypt` can be granted on, so it
/// counts as unknown. `None` when neither names a key.
pub fn kms_key_arn(
    object_key: Option<&str>,
    trail_key: Option<&str>,
    region: &str,
    account: &str,
) -> Option<(String, &'static str)> {
    let arn = |k: &str| {
        if k.starts_with("arn:") && k.contains(":key/") {
            Some(k.to_owned())
        } else if !k.is_empty() && !k.contains('/') && !k.contains(':') {
            Some(format!("arn:aws:kms:{region}:{account}:key/{k}"))
        } else {
            None
        }
    };
    object_key
        .and_then(arn)
        .map(|a| (a, "the object's SSEKMSKeyId"))
        .or_else(|| trail_key.and_then(arn).map(|a| (a, "the trail's KmsKeyId")))
}

/// The failed `kms:Decrypt` check of `object` (a trail's file), granting the key's real ARN
/// when the object or the trail names it, else the placeholder (and the note says so).
fn kms_check(
    object_key: Option<&str>,
    t: &Trail,
    region: &str,
    object: &str,
    error: (ErrorKind, String),
) -> Check {
    let known = kms_key_arn(object_key, t.kms_key_id.as_deref(), region, t.owner());
    let (arn, resource, note) = match known {
        Some((arn, from)) => {
            (arn.clone(), format!("{arn} (the key of {object})"), format!("the key ARN is {from}"))
        }
        None => (
            KMS_PLACEHOLDER.to_owned(),
            format!("the key of {object}"),
            "the key is unknown (neither the trail's KmsKeyId nor the object's SSEKMSKeyId names one): \
             replace REGION, ACCOUNT and KEY-ID in the statement with the key's"
                .to_owned(),
        ),
    };
    let mut c = check("kms:Decrypt", resource, Some(error), statement(&["kms:Decrypt"], &[arn]));
    c.note = Some(note);
    c
}

fn statement(actions: &[&str], resources: &[String]) -> Grant {
    Grant::new(actions, resources)
}

fn check(
    permission: &'static str,
    resource: String,
    error: Option<(ErrorKind, String)>,
    grant: Grant,
) -> Check {
    let failed = error.is_some();
    Check {
        permission,
        resource,
        error: error.map(|(_, d)| d),
        policy: failed.then(|| grant.statement()),
        grant: failed.then_some(grant),
        note: None,
    }
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
                // The failed GET carries no headers; HEAD needs no kms:Decrypt and names the key.
                let head = s3.head_object().bucket(&t.bucket).key(&key).send().await;
                let object_key = head.ok().and_then(|o| o.ssekms_key_id().map(str::to_owned));
                let object = format!("s3://{}/{key}", t.bucket);
                r.checks.push(kms_check(object_key.as_deref(), &t, &region, &object, k));
            } else if let Some(key_id) = kms_key {
                r.checks.push(Check {
                    permission: "kms:Decrypt",
                    resource: key_id,
                    error: None,
                    policy: None,
                    grant: None,
                    note: None,
                });
            }
        }
    }
    t.bucket_region = Some(region);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kms_key_arn_comes_from_the_object_then_the_trail() {
        let key = "arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        let other = "arn:aws:kms:eu-west-1:111111111111:key/ffff0000-12ab-34cd-56ef-1234567890ab";
        let check = |object: Option<&str>, trail: Option<&str>| {
            kms_key_arn(object, trail, "eu-west-1", "111111111111")
        };
        assert_eq!(check(Some(key), Some(other)), Some((key.to_owned(), "the object's SSEKMSKeyId")));
        assert_eq!(check(None, Some(other)), Some((other.to_owned(), "the trail's KmsKeyId")));
        assert_eq!(
            check(Some("1234abcd-12ab-34cd-56ef-1234567890ab"), None),
            Some((key.to_owned(), "the object's SSEKMSKeyId"))
        );
        assert_eq!(check(Some("alias/logs"), Some(other)).map(|k| k.1), Some("the trail's KmsKeyId"));
        assert_eq!(check(Some("alias/logs"), None), None);
        assert_eq!(check(None, None), None);
    }

    fn trail(kms: Option<&str>) -> Trail {
        Trail {
            account: "111111111111".into(),
            name: "main".into(),
            arn: "arn:aws:cloudtrail:eu-west-1:111111111111:trail/main".into(),
            home_region: "eu-west-1".into(),
            multi_region: true,
            organization: false,
            bucket: "logs".into(),
            prefix: String::new(),
            kms_key_id: kms.map(str::to_owned),
            skipped: None,
            stopped_at: None,
            bucket_region: None,
            roots: Vec::new(),
        }
    }

    #[test]
    fn the_kms_statement_names_the_trails_key_or_says_it_is_unknown() {
        let key = "arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        let denied =
            || (ErrorKind::KmsDenied, "AccessDenied: not authorized to perform kms:Decrypt".to_owned());
        let object = "s3://logs/AWSLogs/x.json.gz";
        let c = kms_check(None, &trail(Some(key)), "eu-west-1", object, denied());
        assert_eq!(
            c.policy.as_deref(),
            Some(&*format!(r#"{{"Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": ["{key}"]}}"#))
        );
        assert_eq!(c.note.as_deref(), Some("the key ARN is the trail's KmsKeyId"));
        assert!(c.resource.starts_with(key), "{}", c.resource);
        let report = Report { checks: vec![c], ..Report::default() };
        assert!(report.policy().unwrap().contains(key));

        // The object's own key wins (the trail's key may have changed since).
        let c = kms_check(
            Some("ffff0000-12ab-34cd-56ef-1234567890ab"),
            &trail(Some(key)),
            "eu-west-1",
            object,
            denied(),
        );
        assert!(c
            .policy
            .unwrap()
            .contains("arn:aws:kms:eu-west-1:111111111111:key/ffff0000-12ab-34cd-56ef-1234567890ab"));
        assert_eq!(c.note.as_deref(), Some("the key ARN is the object's SSEKMSKeyId"));

        let c = kms_check(None, &trail(None), "eu-west-1", object, denied());
        assert!(c.policy.unwrap().contains(KMS_PLACEHOLDER));
        assert!(c.note.unwrap().starts_with("the key is unknown"));
        assert_eq!(c.resource, format!("the key of {object}"));
    }

    #[test]
    fn failed_checks_make_one_policy_with_statements_by_resource() {
        let bucket = "arn:aws:s3:::logs".to_owned();
        let report = Report {
            account: "111111111111".into(),
            checks: vec![
                check(
                    "s3:GetBucketLocation",
                    "logs".into(),
                    Some((ErrorKind::Denied, "AccessDenied".into())),
                    Grant::new(&["s3:GetBucketLocation"], std::slice::from_ref(&bucket)),
                ),
                check(
                    "cloudtrail:DescribeTrails",
                    "us-east-1".into(),
                    None,
                    Grant::new(&["cloudtrail:DescribeTrails"], &["*".to_owned()]),
                ),
                check(
                    "s3:ListBucket",
                    "logs".into(),
                    Some((ErrorKind::Denied, "AccessDenied".into())),
                    Grant::new(&["s3:ListBucket"], std::slice::from_ref(&bucket)),
                ),
                check(
                    "kms:Decrypt",
                    "k".into(),
                    Some((ErrorKind::KmsDenied, "denied".into())),
                    Grant::new(&["kms:Decrypt"], &["arn:aws:kms:eu-west-1:111111111111:key/k".to_owned()]),
                ),
            ],
            notes: Vec::new(),
        };
        let policy = report.policy().unwrap();
        assert_eq!(
            policy,
            r#"{
  "Version": "2012-10-17",
  "Statement": [
    {"Effect": "Allow", "Action": ["s3:GetBucketLocation", "s3:ListBucket"], "Resource": ["arn:aws:s3:::logs"]},
    {"Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": ["arn:aws:kms:eu-west-1:111111111111:key/k"]}
  ]
}"#
        );
        let v: serde_json::Value = serde_json::from_str(&policy).unwrap();
        assert_eq!(v["Statement"].as_array().unwrap().len(), 2);
        assert_eq!(Report::default().policy(), None);
    }
}
