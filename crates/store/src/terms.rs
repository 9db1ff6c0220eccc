//! The terms an event is indexed under, and the terms a query looks up: one sorted term space
//! whose first byte says what a term is about. Writer and query build terms here only, so
//! they cannot disagree.
//!
//! | first byte | then | for |
//! |---|---|---|
//! | `k` | field number, lowercase keyword | `field:value`, wildcards and ranges on known fields |
//! | `e` | field name, or `@` and a dotted path | `field:*` and `@path:*` |
//! | `i` | 16 bytes of IPv6 (IPv4 mapped) | CIDR blocks on `source_ip` |
//! | `r` | path segments split by 0x01, 0x00, a type byte, the value | `@path:value` and ranges |
//! | `w` | a lowercase word | free text |
//! | `p` | two words split by a space | two words next to each other in one string (phrases) |
//! | `x` | field number | the field's value is not its raw path's (see [`alias`]) |
//!
//! Aliases: most known fields copy one string of the record (`action` is `eventName`). Their
//! keyword terms would repeat the raw path's, so an event gets a field's `k` term only when its
//! value differs from the raw path's strings, plus an `x` term then if the path has strings at
//! all. A field's term set is then its `k` terms, or else its raw path's `s` terms unless `x`.
//!
//! Raw values: `s` and the lowercase keyword for strings, `n` and [`ordered_f64`] for numbers
//! (compared as f64, as the evaluator does), `b` and 0 or 1 for booleans.

use std::net::{IpAddr, Ipv6Addr};

use serde_json::Value;
use trailwatch_cloudtrail::event::{for_each_present_path, for_each_value_at};
use trailwatch_cloudtrail::Event;
use trailwatch_query::text::{for_each_word, MAX_KEYWORD_BYTES};
use trailwatch_query::{FieldKind, FieldValues, KnownField};

use crate::codec::ordered_f64;

pub const KEYWORD: u8 = b'k';
pub const EXISTS: u8 = b'e';
pub const IP: u8 = b'i';
pub const RAW: u8 = b'r';
pub const WORD: u8 = b'w';
pub const NOT_ALIAS: u8 = b'x';
pub const PAIR: u8 = b'p';

pub const PATH_SEP: u8 = 0x01;
pub const PATH_END: u8 = 0x00;
pub const STR: u8 = b's';
pub const NUM: u8 = b'n';
pub const BOOL: u8 = b'b';

/// The number a known field has in terms and columns.
pub fn field_number(f: KnownField) -> u8 {
    KnownField::ALL.iter().position(|x| *x == f).expect("field is in the catalogue") as u8
}

/// Whether facets and histogram splits can use this field (it has a column).
pub fn is_facetable(field: KnownField) -> bool {
    use KnownField::*;
    !matches!(field, Id | RequestId | Title | ErrorMessage | Time | Received)
}

/// The facetable fields, in catalogue order: the columns of a segment.
pub fn columns() -> impl Iterator<Item = KnownField> {
    KnownField::ALL.iter().copied().filter(|f| is_facetable(*f))
}

/// The raw path a known field usually copies.
pub fn alias(f: KnownField) -> Option<&'static str> {
    use KnownField::*;
    Some(match f {
        Id => "eventID",
        Account => "recipientAccountId",
        Region => "awsRegion",
        Source => "eventSource",
        Action => "eventName",
        EventType => "eventType",
        ActorType => "userIdentity.type",
        ActorArn => "userIdentity.arn",
        ActorAccount => "userIdentity.accountId",
        ActorPrincipalId => "userIdentity.principalId",
        ActorAccessKey => "userIdentity.accessKeyId",
        ActorInvokedBy => "userIdentity.invokedBy",
        SourceIp => "sourceIPAddress",
        UserAgent => "userAgent",
        ErrorCode => "errorCode",
        ErrorMessage => "errorMessage",
        RequestId => "requestID",
        _ => return None,
    })
}

pub fn not_alias_term(f: KnownField) -> Vec<u8> {
    vec![NOT_ALIAS, field_number(f)]
}

/// Appends the keyword form of `value` (as `text::keyword`): lowercase; false (nothing
/// appended) when the value is empty or too long to be a keyword.
pub fn push_keyword(out: &mut Vec<u8>, value: &str) -> bool {
    if value.is_empty() || value.len() > MAX_KEYWORD_BYTES {
        return false;
    }
    if value.is_ascii() {
        out.extend(value.bytes().map(|b| b.to_ascii_lowercase()));
    } else {
        let mut buf = [0u8; 4];
        for c in value.chars().flat_map(char::to_lowercase) {
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
    }
    true
}

/// The first bytes of every keyword term of `field`.
pub fn keyword_prefix(field: KnownField) -> Vec<u8> {
    vec![KEYWORD, field_number(field)]
}

pub fn exists_term(name: &str) -> Vec<u8> {
    let mut t = vec![EXISTS];
    t.extend_from_slice(name.as_bytes());
    t
}

pub fn ip_term(ip: Ipv6Addr) -> Vec<u8> {
    let mut t = vec![IP];
    t.extend_from_slice(&ip.octets());
    t
}

pub fn to_v6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

/// `r`, the path's segments, the end-of-path byte: ready for a type byte and a value.
pub fn raw_prefix(path: &str) -> Vec<u8> {
    let mut t = vec![RAW];
    for (i, seg) in path.split('.').enumerate() {
        if i > 0 {
            t.push(PATH_SEP);
        }
        t.extend_from_slice(seg.as_bytes());
    }
    t.push(PATH_END);
    t
}

/// Whether a word takes part in pairs: letters only. Identifiers (ids, keys, numbers, most
/// of what CloudTrail strings hold) would make pairs by the million, each for one event.
pub fn is_pair_word(w: &str) -> bool {
    w.chars().all(char::is_alphabetic)
}

/// Two words next to each other in one string (both [`is_pair_word`]).
pub fn pair_term(first: &str, second: &str) -> Vec<u8> {
    let mut t = vec![PAIR];
    t.extend_from_slice(first.as_bytes());
    t.push(b' ');
    t.extend_from_slice(second.as_bytes());
    t
}

pub fn word_term(word: &str) -> Vec<u8> {
    let mut t = vec![WORD];
    t.extend_from_slice(word.as_bytes());
    t
}

/// The smallest byte string greater than every string starting with `prefix`.
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// Reusable buffers for [`for_each_term`].
#[derive(Default)]
pub struct TermScratch {
    buf: Vec<u8>,
    own: Keywords,
    raw: Keywords,
}

/// A few keywords in one buffer (no allocation per keyword once warm).
#[derive(Default)]
struct Keywords {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl Keywords {
    fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
    }

    fn push(&mut self, value: &str) {
        let len = self.bytes.len();
        if push_keyword(&mut self.bytes, value) {
            self.ends.push(self.bytes.len());
        } else {
            self.bytes.truncate(len);
        }
    }

    fn iter(&self) -> impl Iterator<Item = &[u8]> {
        let mut start = 0;
        self.ends.iter().map(move |&end| {
            let k = &self.bytes[start..end];
            start = end;
            k
        })
    }

    fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Whether both hold the same keywords, ignoring order and repeats.
    fn same_set(&self, other: &Keywords) -> bool {
        match (self.ends.len(), other.ends.len()) {
            (1, 1) => self.bytes == other.bytes,
            (0, 0) => true,
            (0, _) | (_, 0) => false,
            _ => {
                fn sorted(k: &Keywords) -> Vec<&[u8]> {
                    let mut v: Vec<&[u8]> = k.iter().collect();
                    v.sort_unstable();
                    v.dedup();
                    v
                }
                sorted(self) == sorted(other)
            }
        }
    }
}

/// Calls `f` with every term of `event` but its presence terms (`e`), and `presence` with
/// those, each once and in the same order for events of the same shape (known fields in
/// catalogue order, then raw paths in document order). A term given to `f` may come more
/// than once (the same word twice). The builder keeps presence terms apart: most events share
/// their set with many others, so a set is looked up once per event, not each of its terms.
pub fn for_each_term(
    event: &Event,
    scratch: &mut TermScratch,
    f: &mut dyn FnMut(&[u8]),
    presence: &mut dyn FnMut(&[u8]),
) {
    let TermScratch { buf, own, raw } = scratch;
    for &field in KnownField::ALL {
        if field.kind() == FieldKind::Time {
            continue;
        }
        let FieldValues::Keywords(values) = field.values(event) else { continue };
        if !values.is_empty() {
            buf.clear();
            buf.push(EXISTS);
            buf.extend_from_slice(field.name().as_bytes());
            presence(buf);
        }
        let n = field_number(field);
        own.clear();
        for v in &values {
            own.push(v);
        }
        let mut write_own = true;
        if let Some(path) = alias(field) {
            raw.clear();
            for_each_value_at(&event.raw, path, &mut |v| {
                if let Value::String(s) = v {
                    raw.push(s);
                }
            });
            if raw.same_set(own) {
                write_own = false;
            } else if !raw.is_empty() {
                f(&not_alias_term(field));
            }
        }
        if write_own {
            for k in own.iter() {
                buf.clear();
                buf.push(KEYWORD);
                buf.push(n);
                buf.extend_from_slice(k);
                f(buf);
            }
        }
        if field == KnownField::SourceIp {
            for v in &values {
                if let Ok(ip) = v.parse::<IpAddr>() {
                    f(&ip_term(to_v6(ip)));
                }
            }
        }
    }
    for_each_present_path(&event.raw, |p| {
        buf.clear();
        buf.push(EXISTS);
        buf.push(b'@');
        buf.extend_from_slice(p.as_bytes());
        presence(buf);
    });
    buf.clear();
    buf.push(RAW);
    raw_terms(&event.raw, buf, true, f);
    let mut prev = Vec::new();
    let mut words = |s: &str| {
        let mut prev_pos = None;
        for_each_word(s, |pos, w| {
            buf.clear();
            buf.push(WORD);
            buf.extend_from_slice(w.as_bytes());
            f(buf);
            let alpha = is_pair_word(w);
            if alpha && prev_pos.is_some_and(|p: u32| p + 1 == pos) {
                buf.clear();
                buf.push(PAIR);
                buf.extend_from_slice(&prev);
                buf.push(b' ');
                buf.extend_from_slice(w.as_bytes());
                f(buf);
            }
            prev.clear();
            prev.extend_from_slice(w.as_bytes());
            // A pair starts only at a word that may begin one.
            prev_pos = if alpha { Some(pos) } else { None };
        })
    };
    words(&event.title);
    for_each_string(&event.raw, &mut words);
}

/// `path` holds `r` and the path so far (segments split by [`PATH_SEP`]).
fn raw_terms(value: &Value, path: &mut Vec<u8>, top: bool, f: &mut dyn FnMut(&[u8])) {
    match value {
        Value::Null => {}
        Value::Bool(b) => {
            let len = path.len();
            path.extend_from_slice(&[PATH_END, BOOL, *b as u8]);
            f(path);
            path.truncate(len);
        }
        Value::Number(n) => {
            if let Some(x) = n.as_f64() {
                let len = path.len();
                path.extend_from_slice(&[PATH_END, NUM]);
                path.extend_from_slice(&ordered_f64(x));
                f(path);
                path.truncate(len);
            }
        }
        Value::String(s) => {
            let len = path.len();
            path.extend_from_slice(&[PATH_END, STR]);
            if push_keyword(path, s) {
                f(path);
            }
            path.truncate(len);
        }
        // Arrays are transparent: their items are at the array's own path.
        Value::Array(items) => items.iter().for_each(|v| raw_terms(v, path, top, f)),
        Value::Object(map) => {
            for (key, child) in map {
                let len = path.len();
                if !top {
                    path.push(PATH_SEP);
                }
                path.extend_from_slice(key.as_bytes());
                raw_terms(child, path, false, f);
                path.truncate(len);
            }
        }
    }
}

/// Every string leaf of the record, in document order (as `Event::raw_strings`).
fn for_each_string(value: &Value, f: &mut dyn FnMut(&str)) {
    match value {
        Value::String(s) => f(s),
        Value::Array(items) => items.iter().for_each(|v| for_each_string(v, f)),
        Value::Object(map) => map.values().for_each(|v| for_each_string(v, f)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_terms_use_path_segments_and_types() {
        let raw = serde_json::json!({"eventTime": "2024-08-01T00:00:00Z", "a": {"B": "X", "n": 5, "t": true},
            "list": [{"k": "v"}, "w"], "dot.key": "y", "nothing": null});
        let bytes = raw.to_string().into_bytes();
        let e = trailwatch_cloudtrail::normalize(raw, &bytes, &Default::default()).unwrap();
        let (mut terms, mut presence) = (Vec::new(), Vec::new());
        for_each_term(&e, &mut TermScratch::default(), &mut |t| terms.push(t.to_vec()), &mut |t| {
            presence.push(t.to_vec())
        });
        assert!(presence.iter().all(|t| t[0] == EXISTS) && terms.iter().all(|t| t[0] != EXISTS));
        terms.extend(presence);
        let has = |t: &[u8]| terms.iter().any(|x| x == t);
        let mut s = raw_prefix("a.B");
        s.extend_from_slice(b"sx");
        assert!(has(&s));
        let mut n = raw_prefix("a.n");
        n.push(NUM);
        n.extend_from_slice(&ordered_f64(5.0));
        assert!(has(&n));
        let mut k = raw_prefix("list.k");
        k.extend_from_slice(b"sv");
        assert!(has(&k));
        let mut w = raw_prefix("list");
        w.extend_from_slice(b"sw");
        assert!(has(&w));
        // A key with a dot is one segment: `@dot.key:y` looks for nested keys, as the evaluator does.
        let mut d = raw_prefix("dot.key");
        d.extend_from_slice(b"sy");
        assert!(!has(&d));
        assert!(has(&exists_term("@dot.key")));
        assert!(has(&exists_term("@a.B")));
        assert!(!has(&exists_term("@nothing")));
        assert!(has(&word_term("x")));
    }

    #[test]
    fn prefix_ends() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(&[b'a', 0xff]), Some(b"b".to_vec()));
        assert_eq!(prefix_end(&[0xff]), None);
    }
}
