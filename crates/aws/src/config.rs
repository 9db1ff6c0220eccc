//! The `[aws]` section and the `[[accounts]]` list of the configuration file: raw serde structs
//! that reject unknown keys, validated into [`AwsConfig`].

use std::time::Duration;

use serde::Deserialize;

use crate::select::{RawSelect, Selection};
use crate::{Error, Result};

/// The regions looked in when an account names none: the regions every AWS account has enabled
/// by default (opt-in regions must be listed explicitly).
pub const DEFAULT_REGIONS: &[&str] = &[
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ca-central-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-central-1",
    "eu-north-1",
    "ap-south-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-southeast-1",
    "ap-southeast-2",
    "sa-east-1",
];

/// `[aws]`: settings shared by every account.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAws {
    /// Send every AWS request to this endpoint (a VPC endpoint, or a local test server).
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// Default for accounts that set none (`5m`).
    #[serde(default)]
    pub poll_interval: Option<String>,
    /// Regions for accounts that list none (default: [`DEFAULT_REGIONS`]).
    #[serde(default)]
    pub regions: Option<Vec<String>>,
    /// Days of history read on the first poll of a trail (default 1: today and yesterday).
    #[serde(default)]
    pub backfill_days: Option<u32>,
    /// Objects fetched at once (default 8).
    #[serde(default)]
    pub concurrency: Option<usize>,
    /// How often the current and previous day are listed in full to catch very late files
    /// (default `1h`).
    #[serde(default)]
    pub relist_every: Option<String>,
}

/// `[[accounts]]`: one AWS account to read.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAccount {
    /// The 12-digit account id.
    pub id: String,
    /// A name to show (default: the id).
    #[serde(default)]
    pub name: Option<String>,
    /// A profile of the shared AWS config (`~/.aws/config`, SSO profiles included).
    #[serde(default)]
    pub profile: Option<String>,
    /// A role to assume (the cross-account model): `arn:aws:iam::<account>:role/<name>`.
    #[serde(default)]
    pub role_arn: Option<String>,
    /// The ExternalId the role's trust policy requires.
    #[serde(default)]
    pub external_id: Option<String>,
    /// The name of an environment variable that holds the ExternalId (keeps it out of the file).
    #[serde(default)]
    pub external_id_env: Option<String>,
    #[serde(default)]
    pub regions: Option<Vec<String>>,
    #[serde(default)]
    pub poll_interval: Option<String>,
    /// Read S3 notifications from this SQS queue instead of listing the buckets.
    #[serde(default)]
    pub sqs_queue_url: Option<String>,
    /// Which events are kept (default: all).
    #[serde(default)]
    pub events: Option<RawSelect>,
}

/// How trailwatch reaches an account.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: String,
    pub name: String,
    pub profile: Option<String>,
    pub role_arn: Option<String>,
    pub external_id: Option<String>,
    pub regions: Vec<String>,
    pub poll_interval: Duration,
    pub sqs_queue_url: Option<String>,
    pub select: Selection,
}

/// The validated AWS configuration.
#[derive(Debug, Clone)]
pub struct AwsConfig {
    pub endpoint_url: Option<String>,
    pub backfill_days: u32,
    pub concurrency: usize,
    pub relist_every: Duration,
    pub accounts: Vec<Account>,
}

impl AwsConfig {
    /// Validates the raw sections. `env` looks up environment variables (secrets such as
    /// ExternalIds); the binary passes `std::env::var`.
    pub fn validate(
        aws: &RawAws,
        accounts: &[RawAccount],
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<AwsConfig> {
        let default_interval = match &aws.poll_interval {
            Some(s) => duration(s, "[aws] poll_interval")?,
            None => Duration::from_secs(300),
        };
        let default_regions: Vec<String> = match &aws.regions {
            Some(r) => regions(r, "[aws] regions")?,
            None => DEFAULT_REGIONS.iter().map(|s| s.to_string()).collect(),
        };
        let mut out = Vec::new();
        for (n, a) in accounts.iter().enumerate() {
            let at = format!("[[accounts]] #{} ({})", n + 1, a.id);
            if a.id.len() != 12 || !a.id.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Error::Config(format!("{at}: id must be a 12-digit account id")));
            }
            if out.iter().any(|o: &Account| o.id == a.id) {
                return Err(Error::Config(format!("{at}: account listed twice")));
            }
            if let Some(role) = &a.role_arn {
                if !role.starts_with("arn:") || !role.contains(":role/") {
                    return Err(Error::Config(format!("{at}: role_arn {role:?} is not a role ARN")));
                }
            }
            let external_id = match (&a.external_id, &a.external_id_env) {
                (Some(_), Some(_)) => {
                    return Err(Error::Config(format!("{at}: set external_id or external_id_env, not both")))
                }
                (Some(x), None) => Some(x.clone()),
                (None, Some(var)) => Some(env(var).ok_or_else(|| {
                    Error::Config(format!("{at}: external_id_env names {var}, which is not set"))
                })?),
                (None, None) => None,
            };
            if external_id.is_some() && a.role_arn.is_none() {
                return Err(Error::Config(format!("{at}: an external id needs a role_arn")));
            }
            let poll_interval = match &a.poll_interval {
                Some(s) => duration(s, &format!("{at}: poll_interval"))?,
                None => default_interval,
            };
            let regions = match &a.regions {
                Some(r) => regions(r, &format!("{at}: regions"))?,
                None => default_regions.clone(),
            };
            let select = match &a.events {
                Some(raw) => raw.validate().map_err(|e| Error::Config(format!("{at}: events: {e}")))?,
                None => Selection::all(),
            };
            out.push(Account {
                id: a.id.clone(),
                name: a.name.clone().unwrap_or_else(|| a.id.clone()),
                profile: a.profile.clone(),
                role_arn: a.role_arn.clone(),
                external_id,
                regions,
                poll_interval,
                sqs_queue_url: a.sqs_queue_url.clone(),
                select,
            });
        }
        Ok(AwsConfig {
            endpoint_url: aws.endpoint_url.clone(),
            backfill_days: aws.backfill_days.unwrap_or(1),
            concurrency: aws.concurrency.unwrap_or(8).clamp(1, 64),
            relist_every: match &aws.relist_every {
                Some(s) => duration(s, "[aws] relist_every")?,
                None => Duration::from_secs(3600),
            },
            accounts: out,
        })
    }
}

/// `30s`, `5m`, `1h`, `1d`.
pub fn duration(s: &str, what: &str) -> Result<Duration> {
    let bad = || Error::Config(format!("{what}: {s:?} is not a duration such as 30s, 5m or 1h"));
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86400,
        _ => return Err(bad()),
    };
    if secs == 0 {
        return Err(bad());
    }
    Ok(Duration::from_secs(secs))
}

fn regions(list: &[String], what: &str) -> Result<Vec<String>> {
    if list.is_empty() {
        return Err(Error::Config(format!("{what}: empty (leave it out for the default regions)")));
    }
    for r in list {
        let ok = r.split('-').count() >= 3
            && r.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !ok {
            return Err(Error::Config(format!("{what}: {r:?} is not a region name such as us-east-1")));
        }
    }
    Ok(list.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        #[serde(default)]
        aws: RawAws,
        #[serde(default)]
        accounts: Vec<RawAccount>,
    }

    fn load(text: &str) -> std::result::Result<AwsConfig, String> {
        let f: File = toml::from_str(text).map_err(|e| e.message().to_owned())?;
        let env = |k: &str| (k == "EXT").then(|| "from-env".to_owned());
        AwsConfig::validate(&f.aws, &f.accounts, &env).map_err(|e| e.to_string())
    }

    #[test]
    fn the_annotated_example_parses() {
        let text = include_str!("../tests/data/config.toml");
        let c = load(text).unwrap();
        assert_eq!(c.accounts.len(), 2);
        assert_eq!(c.accounts[0].regions, ["us-east-1", "eu-west-1"]);
        assert_eq!(c.accounts[1].regions.len(), DEFAULT_REGIONS.len());
        assert_eq!(c.accounts[1].external_id.as_deref(), Some("from-env"));
        assert_eq!(c.accounts[0].poll_interval, Duration::from_secs(120));
    }

    #[test]
    fn bad_configs_are_rejected_with_what_is_wrong() {
        let cases = [
            ("[[accounts]]\nid = \"123\"", "12-digit"),
            ("[[accounts]]\nid = \"123456789012\"\nrole = \"x\"", "unknown field `role`"),
            ("[[accounts]]\nid = \"123456789012\"\nrole_arn = \"nope\"", "not a role ARN"),
            ("[[accounts]]\nid = \"123456789012\"\nexternal_id = \"x\"", "needs a role_arn"),
            ("[[accounts]]\nid = \"123456789012\"\npoll_interval = \"5 minutes\"", "not a duration"),
            ("[[accounts]]\nid = \"123456789012\"\nregions = [\"mars\"]", "not a region"),
            ("[[accounts]]\nid = \"123456789012\"\nrole_arn = \"arn:aws:iam::1:role/r\"\nexternal_id_env = \"NOPE\"", "NOPE, which is not set"),
            ("[[accounts]]\nid = \"123456789012\"\n[[accounts]]\nid = \"123456789012\"", "listed twice"),
            ("[[accounts]]\nid = \"123456789012\"\nevents = \"everything\"", "unknown preset"),
        ];
        for (text, want) in cases {
            let got = load(text).unwrap_err();
            assert!(got.contains(want), "{text:?}: {got}");
        }
    }
}
