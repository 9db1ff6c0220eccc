//! The index document of an event, read by tantivy straight from the event: no copy of the
//! record into tantivy's own value tree, and strings in the record stay strings (tantivy's
//! conversion of JSON would turn RFC 3339 strings into dates, which string queries then miss).

use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;

use serde_json::Value as Json;
use tantivy::schema::document::{ReferenceValue, ReferenceValueLeaf, Value};
use tantivy::schema::{Document, Field};
use trailwatch_cloudtrail::event::for_each_present_path;
use trailwatch_cloudtrail::Event;
use trailwatch_query::FieldValues;
#[cfg(test)]
use trailwatch_query::KnownField;

use crate::schema::{id_hash, ip_to_v6, Fields};

/// An event with what its index document needs beyond the event itself.
pub struct EventDoc {
    fields: Arc<Fields>,
    event: Event,
    record: Vec<u8>,
    /// `@path` of every present path of the record, one after another (`exists_ends` marks
    /// where each ends): one allocation instead of one per path, as documents wait in tantivy's
    /// queue by the thousand.
    exists: String,
    exists_ends: Vec<u32>,
    ip: Option<Ipv6Addr>,
    id_hash: u64,
}

impl EventDoc {
    pub fn new(fields: Arc<Fields>, event: Event, record: Vec<u8>) -> EventDoc {
        let mut exists = String::with_capacity(1024);
        let mut exists_ends = Vec::with_capacity(64);
        for_each_present_path(&event.raw, |p| {
            exists.push('@');
            exists.push_str(p);
            exists_ends.push(exists.len() as u32);
        });
        exists.shrink_to_fit();
        exists_ends.shrink_to_fit();
        let ip = event.source_ip.as_deref().and_then(|s| s.parse::<IpAddr>().ok()).map(ip_to_v6);
        let id_hash = id_hash(&event.id);
        EventDoc { fields, event, record, exists, exists_ends, ip, id_hash }
    }
}

/// One value of an [`EventDoc`], borrowed from it.
#[derive(Debug, Clone)]
pub enum DocValue<'a> {
    Str(&'a str),
    I64(i64),
    U64(u64),
    Ip(Ipv6Addr),
    Bytes(&'a [u8]),
    Json(&'a Json),
}

impl<'a> Value<'a> for DocValue<'a> {
    type ArrayIter = JsonArrayIter<'a>;
    type ObjectIter = JsonObjectIter<'a>;

    fn as_value(&self) -> ReferenceValue<'a, Self> {
        match *self {
            DocValue::Str(s) => ReferenceValueLeaf::Str(s).into(),
            DocValue::I64(n) => ReferenceValueLeaf::I64(n).into(),
            DocValue::U64(n) => ReferenceValueLeaf::U64(n).into(),
            DocValue::Ip(ip) => ReferenceValueLeaf::IpAddr(ip).into(),
            DocValue::Bytes(b) => ReferenceValueLeaf::Bytes(b).into(),
            DocValue::Json(v) => match v {
                Json::Null => ReferenceValueLeaf::Null.into(),
                Json::Bool(b) => ReferenceValueLeaf::Bool(*b).into(),
                Json::Number(n) => {
                    if let Some(u) = n.as_u64() {
                        ReferenceValueLeaf::U64(u).into()
                    } else if let Some(i) = n.as_i64() {
                        ReferenceValueLeaf::I64(i).into()
                    } else {
                        ReferenceValueLeaf::F64(n.as_f64().unwrap_or(f64::NAN)).into()
                    }
                }
                Json::String(s) => ReferenceValueLeaf::Str(s).into(),
                Json::Array(items) => ReferenceValue::Array(JsonArrayIter(items.iter())),
                Json::Object(map) => ReferenceValue::Object(JsonObjectIter(map.iter())),
            },
        }
    }
}

pub struct JsonArrayIter<'a>(std::slice::Iter<'a, Json>);

impl<'a> Iterator for JsonArrayIter<'a> {
    type Item = DocValue<'a>;
    fn next(&mut self) -> Option<DocValue<'a>> {
        self.0.next().map(DocValue::Json)
    }
}

pub struct JsonObjectIter<'a>(serde_json::map::Iter<'a>);

impl<'a> Iterator for JsonObjectIter<'a> {
    type Item = (&'a str, DocValue<'a>);
    fn next(&mut self) -> Option<(&'a str, DocValue<'a>)> {
        self.0.next().map(|(k, v)| (k.as_str(), DocValue::Json(v)))
    }
}

impl Document for EventDoc {
    type Value<'a> = DocValue<'a>;
    type FieldsValuesIter<'a> = std::vec::IntoIter<(Field, DocValue<'a>)>;

    fn iter_fields_and_values(&self) -> Self::FieldsValuesIter<'_> {
        let f = &*self.fields;
        let e = &self.event;
        let mut out: Vec<(Field, DocValue<'_>)> = Vec::with_capacity(64 + self.exists_ends.len() + 48);
        for &(known, field) in f.keywords() {
            if let FieldValues::Keywords(values) = known.values(e) {
                if !values.is_empty() {
                    out.push((f.exists, DocValue::Str(known.name())));
                }
                for v in values {
                    // Known fields borrow from the event (or are static); nothing is owned.
                    if let std::borrow::Cow::Borrowed(s) = v {
                        out.push((field, DocValue::Str(s)));
                    }
                }
            }
        }
        out.push((f.time, DocValue::I64(e.time)));
        out.push((f.received, DocValue::I64(e.received)));
        if let Some(ip) = self.ip {
            out.push((f.ip, DocValue::Ip(ip)));
        }
        let mut start = 0;
        for &end in &self.exists_ends {
            out.push((f.exists, DocValue::Str(&self.exists[start..end as usize])));
            start = end as usize;
        }
        out.push((f.text, DocValue::Str(&e.title)));
        collect_strings(&e.raw, f.text, &mut out);
        out.push((f.raw, DocValue::Json(&e.raw)));
        out.push((f.record, DocValue::Bytes(&self.record)));
        out.push((f.id_hash, DocValue::U64(self.id_hash)));
        out.into_iter()
    }
}

/// Every string leaf of the record, as free text (the same strings as `Event::raw_strings`).
fn collect_strings<'a>(v: &'a Json, field: Field, out: &mut Vec<(Field, DocValue<'a>)>) {
    match v {
        Json::String(s) => out.push((field, DocValue::Str(s))),
        Json::Array(items) => items.iter().for_each(|x| collect_strings(x, field, out)),
        Json::Object(map) => map.values().for_each(|x| collect_strings(x, field, out)),
        _ => {}
    }
}

/// Known fields whose values must be borrowed for [`EventDoc`] (checked by a test).
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_field_values_are_all_borrowed() {
        let raw = serde_json::json!({"eventTime": "2024-08-01T00:00:00Z", "readOnly": true,
            "userIdentity": {"type": "AssumedRole", "sessionContext": {"attributes": {"mfaAuthenticated": "true"}}},
            "resources": [{"ARN": "arn:x"}]});
        let bytes = raw.to_string().into_bytes();
        let e = trailwatch_cloudtrail::normalize(raw, &bytes, &Default::default()).unwrap();
        for &f in KnownField::ALL {
            if let FieldValues::Keywords(vs) = f.values(&e) {
                assert!(vs.iter().all(|v| matches!(v, std::borrow::Cow::Borrowed(_))), "{}", f.name());
            }
        }
    }
}
