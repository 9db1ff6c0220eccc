//! The normalized event: what trailwatch stores, searches and alerts on, built from one record.

use serde::Serialize;

use crate::json::{Json, Value};

/// One CloudTrail record, normalized. The original record is kept whole in `raw`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// `eventID`; records without one get a stable id derived from their bytes (`h-…`).
    pub id: String,
    /// `eventTime`, in milliseconds since the Unix epoch (UTC).
    pub time: i64,
    /// When CloudTrail delivered the file holding the record (from its key), or else when
    /// trailwatch read it; milliseconds since the Unix epoch.
    pub received: i64,
    /// `recipientAccountId`, else the account in the file's key, else `userIdentity.accountId`.
    pub account: String,
    /// `awsRegion`, else the region in the file's key.
    pub region: String,
    /// The service's short name: `iam` for `iam.amazonaws.com`.
    pub service: String,
    /// `eventSource` as written by CloudTrail (`iam.amazonaws.com`).
    pub source: String,
    /// `eventName` (`CreateAccessKey`).
    pub action: String,
    /// `eventType` (`AwsApiCall`, `AwsConsoleSignIn`, `AwsServiceEvent`, `AwsCloudTrailInsight`…).
    pub event_type: String,
    pub category: Category,
    /// `readOnly`; absent on some event types.
    pub read_only: Option<bool>,
    pub actor: Actor,
    /// `sourceIPAddress`: an IP address, or a service name such as `ec2.amazonaws.com`.
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    /// The family of client behind `user_agent`: `console`, `aws-cli`, `boto3`, `terraform`…
    pub agent: Option<String>,
    pub outcome: Outcome,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub request_id: Option<String>,
    /// ARNs of the resources the call touched (`resources[].ARN`).
    pub resources: Vec<String>,
    /// A one-line human description: "alice called iam:CreateAccessKey for bob".
    pub title: String,
    /// The original record: its bytes as read, parsed.
    #[serde(skip)]
    pub raw: Json,
}

/// Who made the call (`userIdentity`, normalized).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Actor {
    /// `userIdentity.type`: `Root`, `IAMUser`, `AssumedRole`, `AWSService`, `FederatedUser`…
    pub kind: Option<String>,
    pub arn: Option<String>,
    /// A readable name: the user name, `role/session` for an assumed role, `root`, the service.
    pub name: Option<String>,
    pub account: Option<String>,
    pub principal_id: Option<String>,
    pub access_key_id: Option<String>,
    /// The ARN of the role or user that issued the session, for temporary credentials.
    pub issuer: Option<String>,
    /// Whether the session was authenticated with MFA, where CloudTrail says.
    pub mfa: Option<bool>,
    /// `userIdentity.invokedBy`: the AWS service that made the call on the actor's behalf.
    pub invoked_by: Option<String>,
}

/// Which kind of CloudTrail event this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    Management,
    Data,
    Insight,
    NetworkActivity,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Management => "management",
            Category::Data => "data",
            Category::Insight => "insight",
            Category::NetworkActivity => "networkactivity",
        }
    }
}

/// Whether the call succeeded. CloudTrail omits `errorCode` on success.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Success,
    Failure,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        }
    }
}

impl Event {
    /// Every string leaf of the original record, in document order: what free text searches
    /// besides the title. Arrays and objects are walked; keys, numbers and booleans are not text.
    pub fn raw_strings(&self) -> Vec<&str> {
        let mut out = Vec::new();
        collect_strings(self.raw.root(), &mut out);
        out
    }
}

fn collect_strings<'a>(value: Value<'a>, out: &mut Vec<&'a str>) {
    match value {
        Value::String(s) => out.push(s),
        Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

/// Calls `f` with every dotted path of `value` that leads to at least one string, number or
/// boolean, parents included (`userIdentity`, `userIdentity.type`). Arrays are transparent:
/// `resources[].ARN` is `resources.ARN`. Nulls and empty containers lead nowhere.
/// Each path is reported once.
pub fn for_each_present_path(value: Value<'_>, mut f: impl FnMut(&str)) {
    let mut path = String::new();
    walk_paths(value, &mut path, &mut f);
}

/// Returns whether anything under `value` is a leaf (so its path is present). Object keys are
/// unique, so paths repeat only below arrays: those are gathered and reported once each.
fn walk_paths(value: Value<'_>, path: &mut String, f: &mut dyn FnMut(&str)) -> bool {
    let any = match value {
        Value::Null => false,
        Value::Bool(_) | Value::Number(_) | Value::String(_) => true,
        Value::Array(items) => {
            let mut below = std::collections::BTreeSet::new();
            let mut any = false;
            for item in items {
                any |= walk_paths(item, path, &mut |p: &str| {
                    if !below.contains(p) {
                        below.insert(p.to_owned());
                    }
                });
            }
            // The array's own path is reported by the caller below, once.
            below.iter().filter(|p| p.as_str() != path.as_str()).for_each(|p| f(p));
            any
        }
        Value::Object(map) => {
            let mut any = false;
            for (key, child) in map {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                any |= walk_paths(child, path, f);
                path.truncate(len);
            }
            any
        }
    };
    if any && !path.is_empty() {
        f(path);
    }
    any
}

/// Calls `f` with every leaf value found at the dotted `path` of `value`, arrays flattened at
/// any level (`resources.ARN` visits the ARN of every resource).
pub fn for_each_value_at<'a>(value: Value<'a>, path: &str, f: &mut dyn FnMut(Value<'a>)) {
    let mut parts = path.split('.');
    visit(value, &mut parts, f);

    fn visit<'a>(value: Value<'a>, parts: &mut std::str::Split<'_, char>, f: &mut dyn FnMut(Value<'a>)) {
        match value {
            Value::Array(items) => {
                for item in items {
                    visit(item, &mut parts.clone(), f);
                }
            }
            Value::Object(map) => {
                if let Some(key) = parts.next() {
                    if let Some(child) = map.get(key) {
                        visit(child, parts, f);
                    }
                }
            }
            leaf => {
                if parts.clone().next().is_none() {
                    f(leaf);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(v: serde_json::Value) -> Json {
        Json::parse(serde_json::to_vec(&v).unwrap()).unwrap()
    }

    #[test]
    fn present_paths_are_unique_and_skip_nulls() {
        let v = serde_json::json!({
            "a": {"b": 1, "c": null, "d": {}},
            "r": [{"ARN": "x"}, {"ARN": "y", "t": [1, [2]]}, null],
            "e": [],
            "k.dot": "v"
        });
        let mut paths = Vec::new();
        for_each_present_path(doc(v).root(), |p| paths.push(p.to_owned()));
        paths.sort();
        assert_eq!(paths, vec!["a", "a.b", "k.dot", "r", "r.ARN", "r.t"]);
    }

    #[test]
    fn values_at_flatten_arrays() {
        let v = serde_json::json!({"r": [{"ARN": "x"}, {"ARN": ["y", "z"]}, {"other": 1}]});
        let mut got = Vec::new();
        let v = doc(v);
        for_each_value_at(v.root(), "r.ARN", &mut |x| got.push(x.to_serde()));
        assert_eq!(got, vec![serde_json::json!("x"), serde_json::json!("y"), serde_json::json!("z")]);
    }
}
