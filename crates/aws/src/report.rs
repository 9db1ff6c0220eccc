//! What discovery and `doctor` found, kept in the state (the `source_state` table, one JSON
//! document per account and kind) for the web UI: per account its settings, the trails found
//! (read, or skipped and why) and discovery's errors; and the last doctor run with each check
//! and the IAM policy to add.

use serde::{Deserialize, Serialize};
use trailwatch_store::State;

use crate::config::Account;
use crate::doctor::Report;
use crate::poll::Watched;
use crate::Result;

/// The state document kind of discovery results, by account id.
pub const DISCOVERY_KIND: &str = "aws-discovery";
/// The state document kind of doctor reports, by account id.
pub const DOCTOR_KIND: &str = "aws-doctor";

/// One account as the last discovery saw it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct AccountDiscovery {
    pub id: String,
    pub name: String,
    pub regions: Vec<String>,
    /// `s3` (listing day folders) or `sqs` (a queue of object notifications).
    pub mode: String,
    pub sqs_queue_url: Option<String>,
    pub role_arn: Option<String>,
    pub profile: Option<String>,
    pub poll_interval_secs: u64,
    /// The event selection in words ([`crate::Selection::describe`]).
    pub selection: Vec<String>,
    /// When discovery ran (milliseconds).
    pub at: i64,
    pub trails: Vec<TrailFound>,
    /// What discovery could not look at.
    pub errors: Vec<String>,
    /// When a discovery first ran without this account in the configuration (milliseconds):
    /// its trails are no longer read, and what is shown of it is its last discovery. `None`
    /// while it is configured.
    #[serde(default)]
    pub removed_at: Option<i64>,
}

/// A trail found.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TrailFound {
    pub name: String,
    pub arn: String,
    /// `single-region`, `multi-region` or `organization`.
    pub kind: String,
    pub home_region: String,
    pub bucket: String,
    pub bucket_region: Option<String>,
    pub prefix: String,
    pub kms_key_id: Option<String>,
    /// Why it is not read; `None` when it is.
    pub skipped: Option<String>,
    pub stopped_at: Option<String>,
    /// The account folders read, each with its regions (`AWSLogs/1111…/: us-east-1, eu-west-1`).
    pub folders: Vec<String>,
}

impl AccountDiscovery {
    pub fn of(w: &Watched, at: i64) -> AccountDiscovery {
        let a = &w.account;
        AccountDiscovery {
            id: a.id.clone(),
            name: a.name.clone(),
            regions: a.regions.clone(),
            mode: if a.sqs_queue_url.is_some() { "sqs" } else { "s3" }.to_owned(),
            sqs_queue_url: a.sqs_queue_url.clone(),
            role_arn: a.role_arn.clone(),
            profile: a.profile.clone(),
            poll_interval_secs: a.poll_interval.as_secs(),
            selection: a.select.describe(),
            at,
            trails: w
                .trails
                .iter()
                .map(|t| TrailFound {
                    name: t.name.clone(),
                    arn: t.arn.clone(),
                    kind: t.kind().to_owned(),
                    home_region: t.home_region.clone(),
                    bucket: t.bucket.clone(),
                    bucket_region: t.bucket_region.clone(),
                    prefix: t.prefix.clone(),
                    kms_key_id: t.kms_key_id.clone(),
                    skipped: t.skipped.clone(),
                    stopped_at: t.stopped_at.clone(),
                    folders: t
                        .roots
                        .iter()
                        .map(|r| format!("{}: {}", r.path, r.regions.join(", ")))
                        .collect(),
                })
                .collect(),
            errors: w.errors.iter().map(|e| e.to_string()).collect(),
            removed_at: None,
        }
    }

    /// Every account's last discovery, by account id.
    pub fn all(state: &State) -> Result<Vec<AccountDiscovery>> {
        Ok(state
            .source_list(DISCOVERY_KIND)?
            .into_iter()
            .filter_map(|(_, b)| serde_json::from_str(&b).ok())
            .collect())
    }

    /// Saves every account's discovery in one transaction. The accounts saved before that are
    /// not among `found` (removed from the configuration since) are saved again in the same
    /// transaction, marked removed at `at` (when not marked already), so that the UI tells them
    /// apart from the accounts being read. Returns the ids newly marked.
    pub fn save_all(state: &mut State, found: &[AccountDiscovery], at: i64) -> Result<Vec<String>> {
        let mut docs: Vec<(String, String)> = found
            .iter()
            .map(|d| (d.id.clone(), serde_json::to_string(d).expect("discovery serializes")))
            .collect();
        let mut removed = Vec::new();
        for mut old in Self::all(state)? {
            if old.removed_at.is_none() && !found.iter().any(|d| d.id == old.id) {
                old.removed_at = Some(at);
                removed.push(old.id.clone());
                docs.push((old.id.clone(), serde_json::to_string(&old).expect("discovery serializes")));
            }
        }
        state.source_put(DISCOVERY_KIND, &docs)?;
        Ok(removed)
    }
}

/// The last `trailwatch doctor` run of one account.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DoctorRun {
    pub account: String,
    pub name: String,
    /// When it ran (milliseconds).
    pub at: i64,
    pub ok: bool,
    pub checks: Vec<CheckResult>,
    pub notes: Vec<String>,
    /// The IAM policy document granting what failed ([`Report::policy`]).
    pub policy: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CheckResult {
    pub permission: String,
    pub resource: String,
    pub ok: bool,
    /// The AWS error, for failures.
    pub error: Option<String>,
    /// The statement to add, for failures.
    pub statement: Option<String>,
    pub note: Option<String>,
}

impl DoctorRun {
    pub fn of(report: &Report, account: &Account, at: i64) -> DoctorRun {
        DoctorRun {
            account: account.id.clone(),
            name: account.name.clone(),
            at,
            ok: report.ok(),
            checks: report
                .checks
                .iter()
                .map(|c| CheckResult {
                    permission: c.permission.to_owned(),
                    resource: c.resource.clone(),
                    ok: c.ok(),
                    error: c.error.clone(),
                    statement: c.policy.clone(),
                    note: c.note.clone(),
                })
                .collect(),
            notes: report.notes.clone(),
            policy: report.policy(),
        }
    }

    pub fn all(state: &State) -> Result<Vec<DoctorRun>> {
        Ok(state
            .source_list(DOCTOR_KIND)?
            .into_iter()
            .filter_map(|(_, b)| serde_json::from_str(&b).ok())
            .collect())
    }

    pub fn save(&self, state: &mut State) -> Result<()> {
        let body = serde_json::to_string(self).expect("doctor run serializes");
        state.source_put(DOCTOR_KIND, &[(self.account.clone(), body)])?;
        Ok(())
    }
}
