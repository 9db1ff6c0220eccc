//! Conditions a query cannot say: comparing two fields of one event, and reading IAM, S3 and
//! sharing policies for grants to other accounts or to everyone. They run after the query
//! matched, on the few events that get that far.

use std::net::IpAddr;

use serde_json::Value;
use trailwatch_cloudtrail::event::for_each_value_at;
use trailwatch_cloudtrail::json::Value as RawValue;
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
    /// The IAM policy document at the field (JSON, in a string or not, URL-encoded or not)
    /// has a statement that allows every action (`*`, `*:*`, or any `NotAction`) on every
    /// resource.
    AdminPolicy(FieldPath),
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
            Condition::AdminPolicy(path) => policies(event, path).iter().any(grants_admin),
        }
    }
}

/// The policy documents at `path`: objects as they are, strings parsed (after URL-decoding
/// when they start with `%7B`, as documents sent by the console do).
fn policies(event: &Event, path: &FieldPath) -> Vec<Value> {
    let mut out = Vec::new();
    let mut take = |v: &Value| match v {
        Value::Object(_) => out.push(v.clone()),
        Value::String(s) if s.len() <= MAX_POLICY_BYTES => {
            let decoded =
                if s.starts_with("%7B") || s.starts_with("%7b") { percent_decode(s) } else { s.clone() };
            if let Ok(doc) = serde_json::from_str::<Value>(&decoded) {
                out.push(doc);
            }
        }
        _ => {}
    };
    match path {
        FieldPath::Raw(p) => {
            for_each_value_at(event.raw.root(), p, &mut |v| take(&v.to_serde()));
            walk_objects(event.raw.root(), p, &mut |v| take(&v.to_serde()));
        }
        FieldPath::Known(_) | FieldPath::First(_) => {
            for v in path.values(event) {
                take(&Value::String(v.into_owned()));
            }
        }
    }
    out
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether a policy document allows everything on everything in one statement.
fn grants_admin(doc: &Value) -> bool {
    let statements: Vec<&Value> = match doc.get("Statement") {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => return false,
    };
    let has_star = |v: Option<&Value>, stars: &[&str]| match v {
        Some(Value::String(s)) => stars.contains(&s.as_str()),
        Some(Value::Array(items)) => items.iter().any(|i| i.as_str().is_some_and(|s| stars.contains(&s))),
        _ => false,
    };
    statements.iter().any(|st| {
        let allow = st.get("Effect").and_then(Value::as_str).is_some_and(|e| e.eq_ignore_ascii_case("allow"));
        let every_action = has_star(st.get("Action"), &["*", "*:*"]) || st.get("NotAction").is_some();
        let every_resource = has_star(st.get("Resource"), &["*"]) || st.get("NotResource").is_some();
        allow && every_action && every_resource
    })
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
        FieldPath::Known(_) | FieldPath::First(_) => {
            for v in path.values(event) {
                visit_text("", &v, f, 0);
            }
        }
        FieldPath::Raw(p) => {
            let last = p.rsplit('.').next().unwrap_or(p);
            for_each_value_at(event.raw.root(), p, &mut |v| visit(last, &v.to_serde(), f, 0));
            // for_each_value_at stops at leaves; objects under the path are walked here.
            walk_objects(event.raw.root(), p, &mut |v| visit(last, &v.to_serde(), f, 0));
        }
    }
}

/// Calls `f` with every object or array at `path` of the record (arrays flattened on the way).
fn walk_objects<'a>(value: RawValue<'a>, path: &str, f: &mut dyn FnMut(RawValue<'a>)) {
    let mut node = vec![value];
    for part in path.split('.') {
        let mut next = Vec::new();
        for v in node {
            collect_child(v, part, &mut next);
        }
        node = next;
    }
    for v in node {
        if matches!(v, RawValue::Object(_) | RawValue::Array(_)) {
            f(v);
        }
    }
}

fn collect_child<'a>(v: RawValue<'a>, key: &str, out: &mut Vec<RawValue<'a>>) {
    match v {
        RawValue::Object(map) => out.extend(map.get(key)),
        RawValue::Array(items) => items.iter().for_each(|i| collect_child(i, key, out)),
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
        normalize(serde_json::to_vec(&raw).unwrap(), &RecordContext::default()).unwrap()
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
    fn admin_policies() {
        let doc = |d: &str| event(base(json!({"requestParameters": {"policyDocument": d}})));
        let c = Condition::AdminPolicy(p("@requestParameters.policyDocument"));
        assert!(c.holds(&doc(r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#)));
        assert!(c.holds(&doc(r#"{"Statement":{"Effect":"Allow","Action":["s3:*","*:*"],"Resource":["*"]}}"#)));
        assert!(c.holds(&doc(r#"{"Statement":[{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}]}"#)));
        assert!(c.holds(&doc("%7B%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22*%22%2C%22Resource%22%3A%22*%22%7D%5D%7D")));
        let padding = format!(
            r#"{{"Sid":"{}","Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}"#,
            "x".repeat(3000)
        );
        assert!(c.holds(&doc(&format!(
            r#"{{"Statement":[{padding},{{"Effect":"Allow","Action":"*","Resource":"*"}}]}}"#
        ))));
        assert!(!c.holds(&doc(r#"{"Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}"#)));
        assert!(!c
            .holds(&doc(r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"arn:aws:s3:::b/*"}]}"#)));
        assert!(!c.holds(&doc(r#"{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#)));
        assert!(!c.holds(&doc("not json")));
    }

    #[test]
    fn ip_addresses() {
        let e = event(base(json!({})));
        assert!(Condition::IpAddress(p("source_ip")).holds(&e));
        let e = event(base(json!({"sourceIPAddress": "ec2.amazonaws.com"})));
        assert!(!Condition::IpAddress(p("source_ip")).holds(&e));
    }
}
