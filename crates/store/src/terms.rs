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

use trailwatch_cloudtrail::event::{for_each_present_path, for_each_value_at};
use trailwatch_cloudtrail::json::Value;
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
        // Copied, then lowercased in place: both run many bytes at a time.
        let start = out.len();
        out.extend_from_slice(value.as_bytes());
        out[start..].make_ascii_lowercase();
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
    prev: Vec<u8>,
    path: Vec<u8>,
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

/// Whether the words and pairs of a string can be made from its raw `s` term alone (see
/// [`for_each_term`]): ASCII (its lowercase keyword then splits into the same words), with a
/// keyword term, and no NUL byte (NUL also ends a term's path).
fn derivable(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_KEYWORD_BYTES && s.is_ascii() && !s.as_bytes().contains(&0)
}

/// Calls `f` with every term of `event` but its presence terms (`e`), and `presence` with
/// those, each once and in the same order for events of the same shape (known fields in
/// catalogue order, then raw paths in document order). A term given to `f` may come more
/// than once (the same word twice). The builder keeps presence terms apart: most events share
/// their set with many others, so a set is looked up once per event, not each of its terms.
///
/// With `derive`, the words and pairs (`w`, `p`) of most record strings are left out: `f`
/// gets those strings' raw `s` terms with the offset of the value in the term (else 0), and
/// [`for_each_text_term`] over that value gives the left-out terms. Strings repeat across
/// events (agents, ARNs, names), so the builder makes their words once per distinct string
/// when it writes the segment, not once per event.
pub fn for_each_term(
    event: &Event,
    scratch: &mut TermScratch,
    derive: bool,
    f: &mut dyn FnMut(&[u8], u32),
    presence: &mut dyn FnMut(&[u8]),
) {
    let TermScratch { buf, own, raw, prev, path } = scratch;
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
            for_each_value_at(event.raw.root(), path, &mut |v| {
                if let Value::String(s) = v {
                    raw.push(s);
                }
            });
            if raw.same_set(own) {
                write_own = false;
            } else if !raw.is_empty() {
                f(&not_alias_term(field), 0);
            }
        }
        if write_own {
            for k in own.iter() {
                buf.clear();
                buf.push(KEYWORD);
                buf.push(n);
                buf.extend_from_slice(k);
                f(buf, 0);
            }
        }
        if field == KnownField::SourceIp {
            for v in &values {
                if let Ok(ip) = v.parse::<IpAddr>() {
                    f(&ip_term(to_v6(ip)), 0);
                }
            }
        }
    }
    for_each_present_path(event.raw.root(), |p| {
        buf.clear();
        buf.push(EXISTS);
        buf.push(b'@');
        buf.extend_from_slice(p.as_bytes());
        presence(buf);
    });
    text_terms(&event.title, buf, prev, &mut |t| f(t, 0));
    path.clear();
    path.push(RAW);
    let mut raw = RawTerms { derive, f, buf, prev };
    raw.walk(event.raw.root(), path, true, true);
}

/// Calls `f` with the word and pair terms of one string, as [`for_each_term`] makes them.
pub fn for_each_text_term(text: &str, scratch: &mut TermScratch, f: &mut dyn FnMut(&[u8])) {
    let TermScratch { buf, prev, .. } = scratch;
    text_terms(text, buf, prev, f);
}

/// The words of `s` (`w`), and each two words next to each other that both are
/// [`is_pair_word`] (`p`). Pairs never span two strings.
fn text_terms(s: &str, buf: &mut Vec<u8>, prev: &mut Vec<u8>, f: &mut dyn FnMut(&[u8])) {
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
            buf.extend_from_slice(prev);
            buf.push(b' ');
            buf.extend_from_slice(w.as_bytes());
            f(buf);
        }
        prev.clear();
        prev.extend_from_slice(w.as_bytes());
        // A pair starts only at a word that may begin one.
        prev_pos = if alpha { Some(pos) } else { None };
    })
}

/// The raw record's `r` terms, and the words of its strings, in document order.
struct RawTerms<'a> {
    derive: bool,
    f: &'a mut dyn FnMut(&[u8], u32),
    buf: &'a mut Vec<u8>,
    prev: &'a mut Vec<u8>,
}

impl RawTerms<'_> {
    /// `path` holds `r` and the path so far (segments split by [`PATH_SEP`]); `clean` is
    /// whether no key on it holds a NUL byte (the path then ends at the first NUL).
    fn walk(&mut self, value: Value<'_>, path: &mut Vec<u8>, top: bool, clean: bool) {
        match value {
            Value::Null => {}
            Value::Bool(b) => {
                let len = path.len();
                path.extend_from_slice(&[PATH_END, BOOL, b as u8]);
                (self.f)(path, 0);
                path.truncate(len);
            }
            Value::Number(n) => {
                if let Some(x) = n.as_f64() {
                    let len = path.len();
                    path.extend_from_slice(&[PATH_END, NUM]);
                    path.extend_from_slice(&ordered_f64(x));
                    (self.f)(path, 0);
                    path.truncate(len);
                }
            }
            Value::String(s) => {
                let len = path.len();
                path.extend_from_slice(&[PATH_END, STR]);
                let at = path.len() as u32;
                let derived = self.derive && clean && derivable(s);
                if push_keyword(path, s) {
                    (self.f)(path, if derived { at } else { 0 });
                }
                path.truncate(len);
                if !derived {
                    let f = &mut *self.f;
                    text_terms(s, self.buf, self.prev, &mut |t| f(t, 0));
                }
            }
            // Arrays are transparent: their items are at the array's own path.
            Value::Array(items) => items.iter().for_each(|v| self.walk(v, path, top, clean)),
            Value::Object(map) => {
                for (key, child) in map {
                    let len = path.len();
                    if !top {
                        path.push(PATH_SEP);
                    }
                    path.extend_from_slice(key.as_bytes());
                    let clean = clean && !key.as_bytes().contains(&0);
                    self.walk(child, path, false, clean);
                    path.truncate(len);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_terms_use_path_segments_and_types() {
        let raw = serde_json::json!({"eventTime": "2024-08-01T00:00:00Z", "a": {"B": "X", "n": 5, "t": true},
            "list": [{"k": "v"}, "w"], "dot.key": "y", "nothing": null});
        let e = trailwatch_cloudtrail::normalize(raw.to_string().into_bytes(), &Default::default()).unwrap();
        let (mut terms, mut presence) = (Vec::new(), Vec::new());
        for_each_term(&e, &mut TermScratch::default(), false, &mut |t, _| terms.push(t.to_vec()), &mut |t| {
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

    /// The terms of `raw` as a sorted set: all made per event, or with words derived from the
    /// raw strings' terms as the builder does at write time.
    fn term_set(raw: serde_json::Value, derive: bool) -> Vec<Vec<u8>> {
        let e = trailwatch_cloudtrail::normalize(raw.to_string().into_bytes(), &Default::default()).unwrap();
        let mut scratch = TermScratch::default();
        let mut terms = Vec::new();
        let mut derived = Vec::new();
        for_each_term(
            &e,
            &mut scratch,
            derive,
            &mut |t, at| {
                terms.push(t.to_vec());
                if at > 0 {
                    derived.push(t[at as usize..].to_vec());
                }
            },
            &mut |_| {},
        );
        assert!(derive || derived.is_empty());
        for value in derived {
            let value = std::str::from_utf8(&value).unwrap();
            for_each_text_term(value, &mut scratch, &mut |t| terms.push(t.to_vec()));
        }
        terms.sort();
        terms.dedup();
        terms
    }

    #[test]
    fn derived_words_are_the_words_made_per_event() {
        let raw = serde_json::json!({"eventTime": "2024-08-01T00:00:00Z", "eventName": "GetObject",
            "userAgent": "aws-cli/2.13.5 Python/3.11.4 Linux/5.10 exe/x86_64.amzn.2 prompt/off",
            "errorMessage": "User: arn:aws:iam::123456789012:user/Alice is not authorized to perform",
            "a": {"B": "Über Straße", "k\u{0}ey": "nul in key", "v": "nul\u{0}value", "e": ""},
            "list": ["One Two", {"x": "THREE four"}], "long": "word ".repeat(500), "n": 1});
        let all = term_set(raw.clone(), false);
        let derived = term_set(raw, true);
        assert_eq!(all, derived);
        assert!(all.contains(&pair_term("not", "authorized")));
        assert!(all.contains(&word_term("über")));
        assert!(all.contains(&word_term("three")));
    }

    #[test]
    fn derive_leaves_out_the_words_of_derivable_strings_only() {
        let raw =
            serde_json::json!({"eventTime": "2024-08-01T00:00:00Z", "a": "Plain Words", "b": "Ünïcode"});
        let e = trailwatch_cloudtrail::normalize(raw.to_string().into_bytes(), &Default::default()).unwrap();
        let mut words = Vec::new();
        let mut values = Vec::new();
        for_each_term(
            &e,
            &mut TermScratch::default(),
            true,
            &mut |t, at| {
                if t[0] == WORD {
                    words.push(String::from_utf8(t[1..].to_vec()).unwrap());
                }
                if at > 0 {
                    values.push(String::from_utf8(t[at as usize..].to_vec()).unwrap());
                }
            },
            &mut |_| {},
        );
        assert!(values.contains(&"plain words".to_string()), "{values:?}");
        assert!(!words.contains(&"plain".to_string()));
        assert!(words.contains(&"ünïcode".to_string()), "{words:?}");
    }

    #[test]
    fn prefix_ends() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(&[b'a', 0xff]), Some(b"b".to_vec()));
        assert_eq!(prefix_end(&[0xff]), None);
    }
}
