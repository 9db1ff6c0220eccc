//! A field a rule groups, counts or compares by: a normalized field (`actor.arn`) or a raw
//! record path (`@requestParameters.userName`), read the same way the query language reads it.

use std::borrow::Cow;
use std::fmt;

use trailwatch_cloudtrail::event::for_each_value_at;
use trailwatch_cloudtrail::json::Value;
use trailwatch_cloudtrail::Event;
use trailwatch_query::{FieldValues, KnownField};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FieldPath {
    Known(KnownField),
    /// A dotted path into the original record (without the `@`).
    Raw(String),
    /// `a|b`: the values of the first of these fields that has any (`actor.issuer|actor.arn`
    /// is the role behind a session, or the caller itself when it is not a session).
    First(Vec<FieldPath>),
}

impl FieldPath {
    /// `actor.arn` or `@requestParameters.userName`.
    pub fn parse(s: &str) -> Result<FieldPath, String> {
        let s = s.trim();
        if s.contains('|') {
            let parts = s.split('|').map(FieldPath::parse).collect::<Result<Vec<_>, _>>()?;
            return Ok(FieldPath::First(parts));
        }
        if let Some(path) = s.strip_prefix('@') {
            if path.is_empty() || path.split('.').any(str::is_empty) {
                return Err(format!("bad record path {s:?}"));
            }
            return Ok(FieldPath::Raw(path.to_owned()));
        }
        KnownField::from_name(s).map(FieldPath::Known).ok_or_else(|| {
            format!(
                "unknown field {s:?}: use a normalized field (`trailwatch fields`) or @path.in.the.record"
            )
        })
    }

    /// Every value of the field in `event`, as text (numbers and booleans as JSON writes
    /// them). Empty strings count as absent.
    pub fn values<'a>(&self, event: &'a Event) -> Vec<Cow<'a, str>> {
        match self {
            FieldPath::Known(field) => match field.values(event) {
                FieldValues::Keywords(values) => values.into_iter().filter(|v| !v.is_empty()).collect(),
                FieldValues::Time(t) => vec![Cow::Owned(t.to_string())],
            },
            FieldPath::Raw(path) => {
                let mut out = Vec::new();
                for_each_value_at(event.raw.root(), path, &mut |v| match v {
                    Value::String(s) if !s.is_empty() => out.push(Cow::Borrowed(s)),
                    Value::Number(n) => out.push(Cow::Owned(n.to_string())),
                    Value::Bool(b) => out.push(Cow::Borrowed(if b { "true" } else { "false" })),
                    _ => {}
                });
                out
            }
            FieldPath::First(parts) => {
                parts.iter().map(|p| p.values(event)).find(|v| !v.is_empty()).unwrap_or_default()
            }
        }
    }

    /// The first value, if any.
    pub fn first<'a>(&self, event: &'a Event) -> Option<Cow<'a, str>> {
        self.values(event).into_iter().next()
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldPath::Known(k) => f.write_str(k.name()),
            FieldPath::Raw(p) => write!(f, "@{p}"),
            FieldPath::First(parts) => {
                let names: Vec<String> = parts.iter().map(|p| p.to_string()).collect();
                f.write_str(&names.join("|"))
            }
        }
    }
}

/// The values of several fields as one group key: `actor.arn=…, source_ip=…`. A field with
/// several values contributes them all, joined by `|`; a field with none is left out.
pub fn group_key(fields: &[FieldPath], event: &Event) -> String {
    let mut key = String::new();
    for f in fields {
        let values = f.values(event);
        if values.is_empty() {
            continue;
        }
        if !key.is_empty() {
            key.push_str(", ");
        }
        key.push_str(&f.to_string());
        key.push('=');
        for (j, v) in values.iter().enumerate() {
            if j > 0 {
                key.push('|');
            }
            key.push_str(v);
        }
    }
    key
}

/// The values of several fields as a join key for sequences (values only, lowercased, so
/// `@requestParameters.userName` of one step can equal `actor.name` of the next). `None`
/// when any field has no value: an event without the key cannot join anything.
pub fn join_key(fields: &[FieldPath], event: &Event) -> Option<String> {
    let mut key = String::new();
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            key.push('\u{1f}');
        }
        let v = f.first(event)?;
        key.push_str(&v.to_lowercase());
    }
    Some(key)
}
