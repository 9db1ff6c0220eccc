//! Conditions a query cannot say: comparing two fields of one event, and reading IAM, S3 and
//! sharing policies for grants to other accounts or to everyone. They run after the query
//! matched, on the few events that get that far.

use std::net::IpAddr;

use serde_json::Value;
use trailwatch_cloudtrail::event::for_each_value_at;
use trailwatch_cloudtrail::Event;

use crate::field::FieldPath;

/// Policy documents are JSON inside a string; deeper than this they are not read.
const MAX_POLICY_DEPTH: usize = 32;
/// Nor longer than this.
const MAX_POLICY_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// The first field has a value and none of its values is a value of the second
    /// (case-insensitive): `CreateAccessKey` whose `@requestParameters.userName` is not the
    /// caller.
    Differ(FieldPath, FieldPath),
    /// Some value of the first field is a value of the second.
    Same(FieldPath, FieldPath),
    /// The values at the field, and everything below it (JSON policy documents in strings are
    /// read too), name a 12-digit AWS account that is neither the event's account nor the
    /// caller's.
    ForeignAccount(FieldPath),
    /// The values at the field grant access to everyone: a `"*"` principal, the S3 `AllUsers`
    /// or `AuthenticatedUsers` groups, or the sharing group `all` (snapshots, AMIs).
    Public(FieldPath),
    /// The field holds an IP address, not a service name such as `ec2.amazonaws.com`.
    IpAddress(FieldPath),
}

impl Condition {
    pub fn holds(&self, event: &Event) -> bool {
        match self {
            Condition::Differ(a, b) => {
                let left = a.values(event);
                let right = b.values(event);
                !left.is_empty() && left.iter().all(|l| !right.iter().any(|r| r.eq_ignore_ascii_case(l)))
            }
            Condition::Same(a, b) => {
                let right = b.values(event);
                a.values(event).iter().any(|l| right.iter().any(|r| r.eq_ignore_ascii_case(l)))
            }
            Condition::ForeignAccount(path) => {
                let mut own: Vec<&str> = vec![event.account.as_str()];
                own.extend(event.actor.account.as_deref());
                let mut found = false;
                walk_leaves(event, path, &mut |_, text| {
                    found |= account_ids(text).any(|id| !own.contains(&id));
                });
                found
            }
            Condition::Public(path) => {
                let mut found = false;
                walk_leaves(event, path, &mut |key, text| found |= grants_everyone(key, text));
                found
            }
            Condition::IpAddress(path) => path.values(event).iter().any(|v| v.parse::<IpAddr>().is_ok()),
        }
    }
}

/// Whether one leaf (under `key`) grants access to everyone.
fn grants_everyone(key: &str, text: &str) -> bool {
    let key = key.to_ascii_lowercase();
    (text == "*" && matches!(key.as_str(), "principal" | "aws" | "canonicaluser"))
        || text.contains("acs.amazonaws.com/groups/global/AllUsers")
        || text.contains("acs.amazonaws.com/groups/global/AuthenticatedUsers")
        || (text.eq_ignore_ascii_case("all")
            && matches!(key.as_str(), "group" | "valuestoadd" | "attributevalues"))
}

/// The 12-digit runs of `text` (not part of a longer run of digits).
fn account_ids(text: &str) -> impl Iterator<Item = &str> {
    let bytes = text.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < bytes.len() {
            if bytes[i].is_ascii_digit() {
                let start = i;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
                if i - start == 12 {
                    return Some(&text[start..i]);
                }
            } else {
                i += 1;
            }
        }
        None
    })
}

/// Calls `f(key, text)` for every string, number and boolean at or below `path`, with the
/// object key it sits under. Strings holding a JSON object or array (policy documents) are
/// parsed and walked too.
fn walk_leaves(event: &Event, path: &FieldPath, f: &mut dyn FnMut(&str, &str)) {
    match path {
        FieldPath::Known(_) => {
            for v in path.values(event) {
                visit_text("", &v, f, 0);
            }
        }
        FieldPath::Raw(p) => {
            let last = p.rsplit('.').next().unwrap_or(p);
            for_each_value_at(&event.raw, p, &mut |v| visit(last, v, f, 0));
            // for_each_value_at stops at leaves; objects under the path are walked here.
            walk_objects(&event.raw, p, &mut |v| visit(last, v, f, 0));
        }
    }
}

fn walk_objects<'a>(value: &'a Value, path: &str, f: &mut dyn FnMut(&'a Value)) {
    let mut node = vec![value];
    for part in path.split('.') {
        let mut next = Vec::new();
        for v in node {
            collect_child(v, part, &mut next);
        }
        node = next;
    }
    for v in node {
        if v.is_object() || v.is_array() {
            f(v);
        }
    }
}

fn collect_child<'a>(v: &'a Value, key: &str, out: &mut Vec<&'a Value>) {
    match v {
        Value::Object(map) => out.extend(map.get(key)),
        Value::Array(items) => items.iter().for_each(|i| collect_child(i, key, out)),
        _ => {}
    }
}

fn visit(key: &str, v: &Value, f: &mut dyn FnMut(&str, &str), depth: usize) {
    if depth > MAX_POLICY_DEPTH {
        return;
    }
    match v {
        Value::String(s) => visit_text(key, s, f, depth),
        Value::Number(n) => f(key, &n.to_string()),
        Value::Bool(b) => f(key, if *b { "true" } else { "false" }),
        Value::Array(items) => items.iter().for_each(|i| visit(key, i, f, depth + 1)),
        Value::Object(map) => map.iter().for_each(|(k, i)| visit(k, i, f, depth + 1)),
        Value::Null => {}
    }
}

fn visit_text(key: &str, s: &str, f: &mut dyn FnMut(&str, &str), depth: usize) {
    let t = s.trim_start();
    if (t.starts_with('{') || t.starts_with('[')) && s.len() <= MAX_POLICY_BYTES {
        if let Ok(inner) = serde_json::from_str::<Value>(s) {
            return visit(key, &inner, f, depth + 1);
        }
    }
    f(key, s);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use trailwatch_cloudtrail::{normalize, RecordContext};

    fn event(raw: Value) -> Event {
        let bytes = serde_json::to_vec(&raw).unwrap();
        normalize(raw, &bytes, &RecordContext::default()).unwrap()
    }

    fn base(extra: Value) -> Value {
        let mut v = json!({
            "eventTime": "2024-01-01T00:00:00Z", "eventSource": "iam.amazonaws.com",
            "eventName": "X", "recipientAccountId": "111122223333",
            "userIdentity": {"type": "IAMUser", "userName": "alice", "accountId": "111122223333",
                             "arn": "arn:aws:iam::111122223333:user/alice"},
            "sourceIPAddress": "203.0.113.9"
        });
        v.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        v
    }

    fn p(s: &str) -> FieldPath {
        FieldPath::parse(s).unwrap()
    }

    #[test]
    fn differ_and_same() {
        let e = event(base(json!({"requestParameters": {"userName": "bob"}})));
        assert!(Condition::Differ(p("@requestParameters.userName"), p("actor.name")).holds(&e));
        assert!(!Condition::Same(p("@requestParameters.userName"), p("actor.name")).holds(&e));
        let e = event(base(json!({"requestParameters": {"userName": "Alice"}})));
        assert!(!Condition::Differ(p("@requestParameters.userName"), p("actor.name")).holds(&e));
        assert!(Condition::Same(p("@requestParameters.userName"), p("actor.name")).holds(&e));
        // No value on the left: nothing differs.
        let e = event(base(json!({})));
        assert!(!Condition::Differ(p("@requestParameters.userName"), p("actor.name")).holds(&e));
    }

    #[test]
    fn foreign_accounts_in_policy_strings() {
        let doc = r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999988887777:root"},"Action":"sts:AssumeRole"}]}"#;
        let e = event(base(json!({"requestParameters": {"policyDocument": doc}})));
        assert!(Condition::ForeignAccount(p("@requestParameters.policyDocument")).holds(&e));
        let own = doc.replace("999988887777", "111122223333");
        let e = event(base(json!({"requestParameters": {"policyDocument": own}})));
        assert!(!Condition::ForeignAccount(p("@requestParameters.policyDocument")).holds(&e));
        // Objects under the path are walked too; 13-digit runs are not accounts.
        let e = event(base(json!({"requestParameters": {"x": {"items": [{"userId": "444455556666"}]}}})));
        assert!(Condition::ForeignAccount(p("@requestParameters.x")).holds(&e));
        let e = event(base(json!({"requestParameters": {"x": "1444455556666"}})));
        assert!(!Condition::ForeignAccount(p("@requestParameters")).holds(&e));
    }

    #[test]
    fn public_grants() {
        let e =
            event(base(json!({"requestParameters": {"bucketPolicy": {"Statement": [{"Principal": "*"}]}}})));
        assert!(Condition::Public(p("@requestParameters.bucketPolicy")).holds(&e));
        let e = event(base(
            json!({"requestParameters": {"bucketPolicy": {"Statement": [{"Principal": {"AWS": "arn:aws:iam::1:root"}, "Resource": "*"}]}}}),
        ));
        assert!(!Condition::Public(p("@requestParameters.bucketPolicy")).holds(&e));
        let e = event(base(
            json!({"requestParameters": {"createVolumePermission": {"add": {"items": [{"group": "all"}]}}}}),
        ));
        assert!(Condition::Public(p("@requestParameters")).holds(&e));
        let e = event(base(json!({"requestParameters": {"valuesToAdd": ["all"]}})));
        assert!(Condition::Public(p("@requestParameters.valuesToAdd")).holds(&e));
    }

    #[test]
    fn ip_addresses() {
        let e = event(base(json!({})));
        assert!(Condition::IpAddress(p("source_ip")).holds(&e));
        let e = event(base(json!({"sourceIPAddress": "ec2.amazonaws.com"})));
        assert!(!Condition::IpAddress(p("source_ip")).holds(&e));
    }
}
