//! Trail discovery: `DescribeTrails` in every region of an account (a multi-region trail shows
//! in each region as a shadow trail: it is kept once, by ARN), `GetTrailStatus` (trails not
//! logging are skipped, with the reason and when they stopped), the bucket's region from
//! `GetBucketLocation`, and the key folders the trail writes under (`AWSLogs/<account>/`,
//! `AWSLogs/o-<org>/<account>/` for organization trails, both for trails that changed).

use std::collections::BTreeSet;

use crate::client::{bucket_region, AccountClients};
use crate::config::Account;
use crate::error::{aws_error, Error, Result};

/// A trail as found.
#[derive(Debug, Clone)]
pub struct Trail {
    /// The configured account it was found through.
    pub account: String,
    pub name: String,
    pub arn: String,
    pub home_region: String,
    pub multi_region: bool,
    pub organization: bool,
    pub bucket: String,
    /// The key prefix, without a trailing slash (empty when none).
    pub prefix: String,
    /// The KMS key the trail's files are encrypted with (`KmsKeyId`: a key ARN), if any.
    pub kms_key_id: Option<String>,
    /// Why the trail is not read (not logging, or its status could not be read).
    pub skipped: Option<String>,
    /// When logging stopped (RFC 3339), for trails not logging.
    pub stopped_at: Option<String>,
    /// Filled by [`locate`]: the bucket's region.
    pub bucket_region: Option<String>,
    /// Filled by [`locate`]: `…/AWSLogs/[o-org/]<account>/` folders with the regions under each.
    pub roots: Vec<Root>,
}

/// One account's folder in a trail's bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    /// `prefix/AWSLogs/[o-org/]<account>/`, with the trailing slash.
    pub path: String,
    pub account: String,
    pub regions: Vec<String>,
}

impl Trail {
    /// `single-region`, `multi-region` or `organization`.
    pub fn kind(&self) -> &'static str {
        match (self.multi_region, self.organization) {
            (_, true) => "organization",
            (true, false) => "multi-region",
            _ => "single-region",
        }
    }

    /// The account the trail belongs to (from its ARN).
    pub fn owner(&self) -> &str {
        self.arn.split(':').nth(4).unwrap_or("")
    }

    fn awslogs(&self) -> String {
        if self.prefix.is_empty() {
            "AWSLogs/".to_owned()
        } else {
            format!("{}/AWSLogs/", self.prefix)
        }
    }
}

/// What discovery found in one account, and what it could not look at.
#[derive(Debug, Default)]
pub struct Found {
    pub trails: Vec<Trail>,
    /// Regions (or trails) that could not be read, with the error.
    pub errors: Vec<Error>,
    /// AWS requests made.
    pub requests: u64,
}

/// Lists the trails of `account` in its regions, deduplicated by ARN, with their status.
pub async fn trails(clients: &AccountClients, account: &Account) -> Found {
    let mut found = Found::default();
    let mut seen = BTreeSet::new();
    for region in &account.regions {
        let ct = clients.cloudtrail(region);
        found.requests += 1;
        let out = match ct.describe_trails().include_shadow_trails(true).send().await {
            Ok(o) => o,
            Err(e) => {
                found.errors.push(aws_error(format!("cloudtrail:DescribeTrails in {region}"), &e));
                continue;
            }
        };
        for t in out.trail_list() {
            let Some(arn) = t.trail_arn() else { continue };
            if !seen.insert(arn.to_owned()) {
                continue;
            }
            let home = t.home_region().unwrap_or(region).to_owned();
            let Some(bucket) = t.s3_bucket_name() else { continue };
            found.trails.push(Trail {
                account: account.id.clone(),
                name: t.name().unwrap_or(arn).to_owned(),
                arn: arn.to_owned(),
                home_region: home,
                multi_region: t.is_multi_region_trail().unwrap_or(false),
                organization: t.is_organization_trail().unwrap_or(false),
                bucket: bucket.to_owned(),
                prefix: t.s3_key_prefix().unwrap_or("").trim_end_matches('/').to_owned(),
                kms_key_id: t.kms_key_id().filter(|k| !k.is_empty()).map(str::to_owned),
                skipped: None,
                stopped_at: None,
                bucket_region: None,
                roots: Vec::new(),
            });
        }
    }
    for trail in &mut found.trails {
        let ct = clients.cloudtrail(&trail.home_region);
        found.requests += 1;
        match ct.get_trail_status().name(&trail.arn).send().await {
            Ok(s) if s.is_logging() == Some(true) => {}
            Ok(s) => {
                trail.stopped_at = s.stop_logging_time().map(|t| {
                    chrono::DateTime::from_timestamp(t.secs(), 0).map(|d| d.to_rfc3339()).unwrap_or_default()
                });
                let when = trail.stopped_at.as_deref().map(|t| format!(" since {t}")).unwrap_or_default();
                trail.skipped = Some(format!("not logging{when}"));
            }
            Err(e) => {
                let err = aws_error(format!("cloudtrail:GetTrailStatus on {}", trail.arn), &e);
                trail.skipped = Some(format!("status unknown: {err}"));
                found.errors.push(err);
            }
        }
    }
    found
}

/// Finds the bucket's region and the account folders a trail writes under. Returns the
/// requests made.
pub async fn locate(clients: &AccountClients, trail: &mut Trail, account: &Account) -> Result<u64> {
    let mut requests = 1;
    let s3 = clients.s3(&trail.home_region);
    let loc = s3
        .get_bucket_location()
        .bucket(&trail.bucket)
        .send()
        .await
        .map_err(|e| aws_error(format!("s3:GetBucketLocation on {}", trail.bucket), &e))?;
    let region = bucket_region(loc.location_constraint().map(|c| c.as_str()));
    let s3 = clients.s3(&region);
    trail.bucket_region = Some(region);
    let awslogs = trail.awslogs();
    let mut accounts = Vec::new();
    let (top, n) = folders(&s3, &trail.bucket, &awslogs).await?;
    requests += n;
    for f in top {
        if f.starts_with("o-") {
            let (members, n) = folders(&s3, &trail.bucket, &format!("{awslogs}{f}/")).await?;
            requests += n;
            for m in members.into_iter().filter(|m| is_account(m)) {
                accounts.push((format!("{awslogs}{f}/{m}/"), m));
            }
        } else if is_account(&f) {
            accounts.push((format!("{awslogs}{f}/"), f));
        }
    }
    // A trail that is not an organization trail writes its own account's logs only (another
    // trail may share the bucket).
    if !trail.organization {
        let owner = trail.owner().to_owned();
        accounts.retain(|(_, a)| *a == owner);
        if accounts.is_empty() {
            accounts.push((format!("{awslogs}{owner}/"), owner));
        }
    }
    let mut roots = Vec::new();
    for (path, acct) in accounts {
        let (listed, n) = folders(&s3, &trail.bucket, &format!("{path}CloudTrail/")).await?;
        requests += n;
        let mut regions: BTreeSet<String> = listed.into_iter().collect();
        if trail.multi_region {
            regions.extend(account.regions.iter().cloned());
        } else {
            regions.insert(trail.home_region.clone());
        }
        roots.push(Root { path, account: acct, regions: regions.into_iter().collect() });
    }
    trail.roots = roots;
    Ok(requests)
}

fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// The folder names right under `prefix` (ListObjectsV2 with a delimiter), and the requests made.
async fn folders(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Result<(Vec<String>, u64)> {
    let mut out = Vec::new();
    let mut token = None;
    let mut requests = 0;
    loop {
        requests += 1;
        let page = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .delimiter("/")
            .set_continuation_token(token.take())
            .send()
            .await
            .map_err(|e| aws_error(format!("s3:ListBucket on {bucket} (prefix {prefix})"), &e))?;
        for p in page.common_prefixes() {
            if let Some(name) = p.prefix().and_then(|p| p.strip_prefix(prefix)) {
                out.push(name.trim_end_matches('/').to_owned());
            }
        }
        match page.next_continuation_token() {
            Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_owned()),
            _ => return Ok((out, requests)),
        }
    }
}
