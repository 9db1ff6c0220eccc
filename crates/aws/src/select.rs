//! Which events an account keeps: presets, include/exclude by service and action, read or
//! write, category, failures only. Events not kept are counted by the pipeline, not stored.

use serde::Deserialize;
use trailwatch_cloudtrail::{Category, Event, Outcome};

/// `events = "preset"` or `[accounts.events]` with the fields below.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RawSelect {
    Preset(String),
    Table(RawSelectTable),
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSelectTable {
    /// `all` (default), `writes-and-logins` or `security`.
    #[serde(default)]
    pub preset: Option<String>,
    /// Services kept (short names such as `iam`, or event sources `iam.amazonaws.com`).
    #[serde(default)]
    pub include_services: Vec<String>,
    #[serde(default)]
    pub exclude_services: Vec<String>,
    /// Actions kept (`eventName` globs: `Create*`, `*AccessKey`).
    #[serde(default)]
    pub include_actions: Vec<String>,
    #[serde(default)]
    pub exclude_actions: Vec<String>,
    /// `all` (default), `read` (read-only calls) or `write`.
    #[serde(default)]
    pub access: Option<String>,
    /// Categories kept: `management`, `data`, `insight`, `networkactivity` (default: all).
    #[serde(default)]
    pub categories: Vec<String>,
    /// Keep failed calls only.
    #[serde(default)]
    pub failures_only: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    All,
    /// Every call that is not read-only, and console sign-ins.
    WritesAndLogins,
    /// Writes and logins, every failed call, and the reads attackers use to take credentials
    /// or look around (secrets, parameters, access keys, caller identity, role assumption).
    Security,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    All,
    Read,
    Write,
}

/// A validated selection.
#[derive(Debug, Clone)]
pub struct Selection {
    pub preset: Preset,
    include_services: Vec<String>,
    exclude_services: Vec<String>,
    include_actions: Vec<String>,
    exclude_actions: Vec<String>,
    access: Access,
    categories: Vec<Category>,
    failures_only: bool,
}

/// Reads the `security` preset keeps besides writes, logins and failures.
const SECURITY_READS: &[&str] = &[
    "GetSecretValue",
    "BatchGetSecretValue",
    "GetParameter*",
    "ListAccessKeys",
    "GetAccessKeyLastUsed",
    "GetCallerIdentity",
    "AssumeRole*",
    "GetSessionToken",
    "GetFederationToken",
    "GetPasswordData",
    "ListBuckets",
    "GetBucketPolicy",
    "GetAccountAuthorizationDetails",
    "GetCredentialReport",
    "Decrypt",
];

impl RawSelect {
    pub fn validate(&self) -> Result<Selection, String> {
        match self {
            RawSelect::Preset(p) => {
                RawSelectTable { preset: Some(p.clone()), ..RawSelectTable::default() }.validate()
            }
            RawSelect::Table(t) => t.validate(),
        }
    }
}

impl RawSelectTable {
    pub fn validate(&self) -> Result<Selection, String> {
        let preset = match self.preset.as_deref().unwrap_or("all") {
            "all" => Preset::All,
            "writes-and-logins" => Preset::WritesAndLogins,
            "security" => Preset::Security,
            p => return Err(format!("unknown preset {p:?} (all, writes-and-logins, security)")),
        };
        let access = match self.access.as_deref().unwrap_or("all") {
            "all" => Access::All,
            "read" => Access::Read,
            "write" => Access::Write,
            a => return Err(format!("access {a:?}: expected all, read or write")),
        };
        let mut categories = Vec::new();
        for c in &self.categories {
            categories.push(match c.as_str() {
                "management" => Category::Management,
                "data" => Category::Data,
                "insight" => Category::Insight,
                "networkactivity" => Category::NetworkActivity,
                _ => {
                    return Err(format!(
                        "category {c:?}: expected management, data, insight or networkactivity"
                    ))
                }
            });
        }
        let service = |s: &String| s.trim_end_matches(".amazonaws.com").to_ascii_lowercase();
        Ok(Selection {
            preset,
            include_services: self.include_services.iter().map(service).collect(),
            exclude_services: self.exclude_services.iter().map(service).collect(),
            include_actions: self.include_actions.clone(),
            exclude_actions: self.exclude_actions.clone(),
            access,
            categories,
            failures_only: self.failures_only,
        })
    }
}

impl Selection {
    /// Keeps everything.
    pub fn all() -> Selection {
        RawSelectTable::default().validate().expect("the default selection is valid")
    }

    /// Whether this selection keeps every event (then no filter runs at all).
    pub fn keeps_all(&self) -> bool {
        self.preset == Preset::All
            && self.include_services.is_empty()
            && self.exclude_services.is_empty()
            && self.include_actions.is_empty()
            && self.exclude_actions.is_empty()
            && self.access == Access::All
            && self.categories.is_empty()
            && !self.failures_only
    }

    /// The selection in words, one clause each (`["writes and console sign-ins", "only
    /// services iam, s3"]`); `["every event"]` when everything is kept.
    pub fn describe(&self) -> Vec<String> {
        let list = |v: &[String]| v.join(", ");
        let mut out = vec![match self.preset {
            Preset::All => "every event".to_owned(),
            Preset::WritesAndLogins => "writes and console sign-ins (preset writes-and-logins)".to_owned(),
            Preset::Security => {
                "writes, console sign-ins, failed calls and credential or reconnaissance reads \
                                 (preset security)"
                    .to_owned()
            }
        }];
        if !self.include_services.is_empty() {
            out.push(format!("only services {}", list(&self.include_services)));
        }
        if !self.exclude_services.is_empty() {
            out.push(format!("except services {}", list(&self.exclude_services)));
        }
        if !self.include_actions.is_empty() {
            out.push(format!("only actions {}", list(&self.include_actions)));
        }
        if !self.exclude_actions.is_empty() {
            out.push(format!("except actions {}", list(&self.exclude_actions)));
        }
        match self.access {
            Access::All => {}
            Access::Read => out.push("read-only calls only".to_owned()),
            Access::Write => out.push("write calls only".to_owned()),
        }
        if !self.categories.is_empty() {
            let names: Vec<&str> = self.categories.iter().map(|c| c.as_str()).collect();
            out.push(format!("only {} events", names.join(", ")));
        }
        if self.failures_only {
            out.push("failed calls only".to_owned());
        }
        out
    }

    pub fn keeps(&self, e: &Event) -> bool {
        let failed = e.outcome == Outcome::Failure;
        let login = e.event_type == "AwsConsoleSignIn";
        let write = e.read_only != Some(true);
        let preset = match self.preset {
            Preset::All => true,
            Preset::WritesAndLogins => write || login,
            Preset::Security => write || login || failed || SECURITY_READS.iter().any(|g| glob(g, &e.action)),
        };
        let service = e.service.to_ascii_lowercase();
        preset
            && (self.include_services.is_empty() || self.include_services.contains(&service))
            && !self.exclude_services.contains(&service)
            && (self.include_actions.is_empty() || self.include_actions.iter().any(|g| glob(g, &e.action)))
            && !self.exclude_actions.iter().any(|g| glob(g, &e.action))
            && match self.access {
                Access::All => true,
                Access::Read => e.read_only == Some(true),
                Access::Write => write,
            }
            && (self.categories.is_empty() || self.categories.contains(&e.category))
            && (!self.failures_only || failed)
    }
}

/// `*` matches any run of characters, `?` one; case-sensitive like `eventName`.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(service: &str, action: &str, read_only: Option<bool>, failed: bool, event_type: &str) -> Event {
        let record = serde_json::json!({
            "eventVersion": "1.08",
            "eventID": format!("{service}-{action}"),
            "eventTime": "2026-12-01T10:00:00Z",
            "eventSource": format!("{service}.amazonaws.com"),
            "eventName": action,
            "eventType": event_type,
            "awsRegion": "us-east-1",
            "recipientAccountId": "111111111111",
            "readOnly": read_only,
            "errorCode": if failed { Some("AccessDenied") } else { None },
            "userIdentity": {"type": "IAMUser", "userName": "alice", "accountId": "111111111111"},
        });
        let bytes = serde_json::to_vec(&record).unwrap();
        let ctx = trailwatch_cloudtrail::RecordContext { account: None, region: None, received: 0 };
        trailwatch_cloudtrail::normalize(bytes, &ctx).unwrap()
    }

    fn check(select: &str, expect: &[bool]) {
        let raw: RawSelectTable = toml::from_str(select).unwrap();
        let s = raw.validate().unwrap();
        let events = [
            event("iam", "CreateAccessKey", Some(false), false, "AwsApiCall"),
            event("s3", "GetObject", Some(true), false, "AwsApiCall"),
            event("signin", "ConsoleLogin", None, false, "AwsConsoleSignIn"),
            event("secretsmanager", "GetSecretValue", Some(true), false, "AwsApiCall"),
            event("ec2", "DescribeInstances", Some(true), true, "AwsApiCall"),
        ];
        let got: Vec<bool> = events.iter().map(|e| s.keeps(e)).collect();
        assert_eq!(got, expect, "{select}");
    }

    #[test]
    fn selections() {
        check("", &[true, true, true, true, true]);
        check("preset = \"writes-and-logins\"", &[true, false, true, false, false]);
        check("preset = \"security\"", &[true, false, true, true, true]);
        check("include_services = [\"iam\", \"s3.amazonaws.com\"]", &[true, true, false, false, false]);
        check("exclude_actions = [\"Get*\", \"Describe*\"]", &[true, false, true, false, false]);
        check("include_actions = [\"*Login\"]", &[false, false, true, false, false]);
        check("access = \"read\"", &[false, true, false, true, true]);
        check("access = \"write\"", &[true, false, true, false, false]);
        check("failures_only = true", &[false, false, false, false, true]);
        check("categories = [\"data\"]", &[false, false, false, false, false]);
    }

    #[test]
    fn selections_in_words() {
        let words = |select: &str| {
            let raw: RawSelectTable = toml::from_str(select).unwrap();
            raw.validate().unwrap().describe()
        };
        assert_eq!(words(""), ["every event"]);
        assert_eq!(
            words("preset = \"writes-and-logins\"\ninclude_services = [\"iam\", \"s3.amazonaws.com\"]\nexclude_actions = [\"Get*\"]\naccess = \"write\"\ncategories = [\"management\"]\nfailures_only = true"),
            [
                "writes and console sign-ins (preset writes-and-logins)",
                "only services iam, s3",
                "except actions Get*",
                "write calls only",
                "only management events",
                "failed calls only",
            ]
        );
    }

    #[test]
    fn globs() {
        for (p, t, want) in [
            ("Get*", "GetObject", true),
            ("Get*", "ListGet", false),
            ("*Key", "CreateAccessKey", true),
            ("Get?bject", "GetObject", true),
            ("*", "", true),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "aXbY", false),
        ] {
            assert_eq!(glob(p, t), want, "{p} {t}");
        }
    }
}
