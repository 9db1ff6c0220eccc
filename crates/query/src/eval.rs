//! Whether one event matches a query, in memory. Used by streaming rules; the store answers the
//! same question from its index and the two must agree on every event.

use std::borrow::Cow;
use std::net::IpAddr;
use std::ops::Bound;
use std::str::FromStr;

use trailwatch_cloudtrail::event::for_each_value_at;
use trailwatch_cloudtrail::json::Value;
use trailwatch_cloudtrail::Event;

use crate::ast::{as_bool, as_number, glob_matches, FieldRef, Predicate, Query, RangeValue};
use crate::ast::{GlobToken, TextQuery};
use crate::fields::{FieldValues, KnownField};
use crate::text::{for_each_word, MAX_KEYWORD_BYTES};

/// Whether `event` matches `query`.
pub fn matches(query: &Query, event: &Event) -> bool {
    match query {
        Query::All => true,
        Query::And(parts) => parts.iter().all(|q| matches(q, event)),
        Query::Or(parts) => parts.iter().any(|q| matches(q, event)),
        Query::Not(inner) => !matches(inner, event),
        Query::Field(FieldRef::Known(field), pred) => known(*field, pred, event),
        Query::Field(FieldRef::Raw(path), pred) => raw(path, pred, event.raw.root()),
        Query::Text(TextQuery::Phrase(words)) => phrase(words, event),
        Query::Text(TextQuery::Wildcard(glob)) => text_wildcard(glob, event),
    }
}

/// The keyword term of `value` (see [`crate::text::keyword`]) without allocating when the
/// value is already lowercase.
fn keyword_cow(value: &str) -> Option<Cow<'_, str>> {
    if value.is_empty() || value.len() > MAX_KEYWORD_BYTES {
        return None;
    }
    if value.is_ascii() {
        if value.bytes().any(|b| b.is_ascii_uppercase()) {
            return Some(Cow::Owned(value.to_ascii_lowercase()));
        }
        return Some(Cow::Borrowed(value));
    }
    Some(Cow::Owned(value.chars().flat_map(char::to_lowercase).collect()))
}

/// `text::keyword(value) == Some(term)`, without allocating.
fn keyword_eq(value: &str, term: &str) -> bool {
    if value.is_empty() || value.len() > MAX_KEYWORD_BYTES {
        return false;
    }
    if value.is_ascii() {
        value.len() == term.len() && value.bytes().zip(term.bytes()).all(|(v, t)| v.to_ascii_lowercase() == t)
    } else {
        value.chars().flat_map(char::to_lowercase).eq(term.chars())
    }
}

fn in_bounds<T: PartialOrd + ?Sized>(v: &T, lo: Bound<&T>, hi: Bound<&T>) -> bool {
    let above = match lo {
        Bound::Included(b) => v >= b,
        Bound::Excluded(b) => v > b,
        Bound::Unbounded => true,
    };
    let below = match hi {
        Bound::Included(b) => v <= b,
        Bound::Excluded(b) => v < b,
        Bound::Unbounded => true,
    };
    above && below
}

/// Both bounds as one variant, or `None` when they disagree (the parser never builds that).
fn bounds<'a, T: ?Sized>(
    lo: &'a Bound<RangeValue>,
    hi: &'a Bound<RangeValue>,
    pick: impl Fn(&'a RangeValue) -> Option<&'a T>,
) -> Option<(Bound<&'a T>, Bound<&'a T>)> {
    let one = |b: &'a Bound<RangeValue>| match b {
        Bound::Included(v) => pick(v).map(Bound::Included),
        Bound::Excluded(v) => pick(v).map(Bound::Excluded),
        Bound::Unbounded => Some(Bound::Unbounded),
    };
    Some((one(lo)?, one(hi)?))
}

fn time_of(v: &RangeValue) -> Option<&i64> {
    match v {
        RangeValue::Time(t) => Some(t),
        _ => None,
    }
}

fn number_of(v: &RangeValue) -> Option<&f64> {
    match v {
        RangeValue::Number(n) => Some(n),
        _ => None,
    }
}

fn text_of(v: &RangeValue) -> Option<&str> {
    match v {
        RangeValue::Text(s) => Some(s),
        _ => None,
    }
}

fn known(field: KnownField, pred: &Predicate, event: &Event) -> bool {
    let values = match field.values(event) {
        FieldValues::Time(t) => return time_matches(t, pred),
        FieldValues::Keywords(values) => values,
    };
    match pred {
        Predicate::Exists => !values.is_empty(),
        Predicate::Equals(term) => values.iter().any(|v| keyword_eq(v, term)),
        Predicate::Wildcard(glob) => {
            values.iter().any(|v| keyword_cow(v).is_some_and(|k| glob_matches(glob, &k)))
        }
        Predicate::Range(lo, hi) => match bounds(lo, hi, text_of) {
            Some((lo, hi)) => values.iter().any(|v| keyword_cow(v).is_some_and(|k| in_bounds(&*k, lo, hi))),
            None => false,
        },
        Predicate::Cidr(net) => values.iter().any(|v| cidr_contains(net, v)),
    }
}

fn cidr_contains(net: &ipnet::IpNet, value: &str) -> bool {
    IpAddr::from_str(value).is_ok_and(|ip| crate::ast::cidr_contains(net, ip))
}

/// Time fields always have a value. The parser turns `time:X` into a range; an `Equals` built
/// by hand matches the one millisecond it names.
fn time_matches(t: i64, pred: &Predicate) -> bool {
    match pred {
        Predicate::Exists => true,
        Predicate::Equals(s) => crate::time::parse_absolute_millis(s) == Some(t),
        Predicate::Range(lo, hi) => bounds(lo, hi, time_of).is_some_and(|(lo, hi)| in_bounds(&t, lo, hi)),
        Predicate::Wildcard(_) | Predicate::Cidr(_) => false,
    }
}

fn raw(path: &str, pred: &Predicate, record: Value<'_>) -> bool {
    let mut hit = false;
    match pred {
        Predicate::Exists => return raw_exists(path, record),
        Predicate::Equals(term) => {
            let (number, boolean) = (as_number(term), as_bool(term));
            for_each_value_at(record, path, &mut |v| {
                hit |= match v {
                    Value::String(s) => keyword_eq(s, term),
                    Value::Number(n) => number.is_some() && n.as_f64() == number,
                    Value::Bool(b) => boolean == Some(b),
                    _ => false,
                }
            });
        }
        Predicate::Wildcard(glob) => for_each_value_at(record, path, &mut |v| {
            if let Value::String(s) = v {
                hit = hit || keyword_cow(s).is_some_and(|k| glob_matches(glob, &k));
            }
        }),
        Predicate::Range(lo, hi) => {
            if let Some((lo, hi)) = bounds(lo, hi, number_of) {
                for_each_value_at(record, path, &mut |v| {
                    if let Value::Number(n) = v {
                        hit |= n.as_f64().is_some_and(|n| in_bounds(&n, lo, hi));
                    }
                });
            } else if let Some((lo, hi)) = bounds(lo, hi, text_of) {
                for_each_value_at(record, path, &mut |v| {
                    if let Value::String(s) = v {
                        hit = hit || keyword_cow(s).is_some_and(|k| in_bounds(&*k, lo, hi));
                    }
                });
            }
        }
        // CIDR blocks apply to IP fields only (the parser never builds this; the index has
        // no addresses for raw paths).
        Predicate::Cidr(_) => {}
    }
    hit
}

/// Whether `path` is one of the paths [`for_each_present_path`] reports. A non-null leaf found
/// by walking the path's segments proves it cheaply; otherwise (parents, keys with dots in
/// them) the full walk decides.
fn raw_exists(path: &str, record: Value<'_>) -> bool {
    // Keys may themselves hold dots (`k.dot`), so at each level every key that is the rest
    // of the path, or a prefix of it ending at a dot, is followed: exactly the paths
    // `for_each_present_path` would report, without walking the rest of the record.
    fn exists(value: Value<'_>, rest: &str) -> bool {
        match value {
            Value::Array(items) => items.iter().any(|v| exists(v, rest)),
            Value::Object(map) => map.iter().any(|(k, v)| {
                if rest == k {
                    present(v)
                } else {
                    rest.strip_prefix(k).and_then(|r| r.strip_prefix('.')).is_some_and(|r| exists(v, r))
                }
            }),
            _ => false,
        }
    }
    fn present(value: Value<'_>) -> bool {
        match value {
            Value::Null => false,
            Value::Array(items) => items.iter().any(present),
            Value::Object(map) => map.values().any(present),
            _ => true,
        }
    }
    exists(record, path)
}

/// Calls `f` with the title and every string leaf of the record until it returns true; the
/// same strings as `event.title` plus [`Event::raw_strings`].
fn any_searchable(event: &Event, f: &mut dyn FnMut(&str) -> bool) -> bool {
    any_string(&event.title, event.raw.root(), f)
}

fn any_string(title: &str, raw: Value<'_>, f: &mut dyn FnMut(&str) -> bool) -> bool {
    fn walk(value: Value<'_>, f: &mut dyn FnMut(&str) -> bool) -> bool {
        match value {
            Value::String(s) => f(s),
            Value::Array(items) => items.iter().any(|v| walk(v, f)),
            Value::Object(map) => map.values().any(|v| walk(v, f)),
            _ => false,
        }
    }
    f(title) || walk(raw, f)
}

fn phrase(words: &[(u32, String)], event: &Event) -> bool {
    phrase_in(words, &event.title, event.raw.root())
}

/// Whether the phrase is in `title` or in a string of `raw`: what a phrase query asks of an
/// event with that title and record (the store checks its candidates with this).
pub fn phrase_in(words: &[(u32, String)], title: &str, raw: Value<'_>) -> bool {
    match words {
        [] => false,
        [(_, word)] => any_string(title, raw, &mut |s| {
            let mut hit = false;
            for_each_word(s, |_, w| hit = hit || w == word);
            hit
        }),
        [(first, first_word), ..] => {
            // Offsets of each query word from the first one.
            let offsets: Vec<(i64, &str)> =
                words.iter().map(|(p, w)| (i64::from(*p) - i64::from(*first), w.as_str())).collect();
            let mut found: Vec<(u32, String)> = Vec::new();
            any_string(title, raw, &mut |s| {
                // Most strings lack the first word: check that before collecting words.
                let mut has_first = false;
                for_each_word(s, |_, w| has_first = has_first || w == first_word);
                if !has_first {
                    return false;
                }
                found.clear();
                for_each_word(s, |p, w| found.push((p, w.to_owned())));
                found.iter().any(|(start, w)| {
                    w == first_word
                        && offsets[1..].iter().all(|(off, qw)| {
                            let Ok(at) = u32::try_from(i64::from(*start) + off) else {
                                return false;
                            };
                            // Positions are increasing, so a binary search finds `at`.
                            found.binary_search_by_key(&at, |(p, _)| *p).is_ok_and(|i| found[i].1 == *qw)
                        })
                })
            })
        }
    }
}

fn text_wildcard(glob: &[GlobToken], event: &Event) -> bool {
    any_searchable(event, &mut |s| {
        let mut hit = false;
        for_each_word(s, |_, w| hit = hit || glob_matches(glob, w));
        hit
    })
}

#[cfg(test)]
mod tests;
