//! From a parsed [`Query`] to a tantivy query, mirroring the in-memory evaluator's semantics
//! (`trailwatch_query::matches`): the property test in `tests/agreement.rs` holds the two together.

use std::net::Ipv6Addr;
use std::ops::Bound;

use tantivy::query::{
    AllQuery, BooleanQuery, EmptyQuery, ExistsQuery, InvertedIndexRangeQuery, Occur, PhraseQuery,
    Query as TQuery, RangeQuery, RegexQuery, TermQuery,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::Term;
use trailwatch_query::ast::{as_bool, as_number, cidr_bounds_v6};
use trailwatch_query::{
    text, FieldKind, FieldRef, GlobToken, KnownField, Predicate, Query, RangeValue, TextQuery,
};

use crate::schema::Fields;
use crate::{Error, Result};

type Boxed = Box<dyn TQuery>;

pub fn translate(query: &Query, fields: &Fields) -> Result<Boxed> {
    Ok(match query {
        Query::All => Box::new(AllQuery),
        Query::And(parts) => {
            let mut clauses: Vec<(Occur, Boxed)> = Vec::with_capacity(parts.len() + 1);
            for p in parts {
                match p {
                    Query::Not(inner) => clauses.push((Occur::MustNot, translate(inner, fields)?)),
                    other => clauses.push((Occur::Must, translate(other, fields)?)),
                }
            }
            if clauses.iter().all(|(o, _)| *o == Occur::MustNot) {
                clauses.push((Occur::Must, Box::new(AllQuery)));
            }
            Box::new(BooleanQuery::new(clauses))
        }
        Query::Or(parts) => any_of(parts.iter().map(|p| translate(p, fields)).collect::<Result<_>>()?),
        Query::Not(inner) => Box::new(BooleanQuery::new(vec![
            (Occur::Must, Box::new(AllQuery) as Boxed),
            (Occur::MustNot, translate(inner, fields)?),
        ])),
        Query::Field(FieldRef::Known(f), pred) => known(*f, pred, fields)?,
        Query::Field(FieldRef::Raw(path), pred) => raw(path, pred, fields)?,
        Query::Text(t) => text_query(t, fields.text),
    })
}

fn any_of(mut parts: Vec<Boxed>) -> Boxed {
    match parts.len() {
        0 => Box::new(EmptyQuery),
        1 => parts.pop().unwrap(),
        _ => Box::new(BooleanQuery::new(parts.into_iter().map(|q| (Occur::Should, q)).collect())),
    }
}

fn term_query(term: Term) -> Boxed {
    Box::new(TermQuery::new(term, IndexRecordOption::Basic))
}

fn exists(name: &str, fields: &Fields) -> Boxed {
    term_query(Term::from_field_text(fields.exists, name))
}

fn known(f: KnownField, pred: &Predicate, fields: &Fields) -> Result<Boxed> {
    if f.kind() == FieldKind::Time {
        let field = if f == KnownField::Time { fields.time } else { fields.received };
        return Ok(match pred {
            Predicate::Exists => Box::new(AllQuery),
            Predicate::Range(lo, hi) => {
                let bound = |b: &Bound<RangeValue>| -> Option<Bound<Term>> {
                    Some(match b {
                        Bound::Unbounded => Bound::Unbounded,
                        Bound::Included(RangeValue::Time(t)) => {
                            Bound::Included(Term::from_field_i64(field, *t))
                        }
                        Bound::Excluded(RangeValue::Time(t)) => {
                            Bound::Excluded(Term::from_field_i64(field, *t))
                        }
                        _ => return None,
                    })
                };
                match (bound(lo), bound(hi)) {
                    // tantivy panics on a range without bounds; time always has a value.
                    (Some(Bound::Unbounded), Some(Bound::Unbounded)) => Box::new(AllQuery),
                    (Some(lo), Some(hi)) => Box::new(RangeQuery::new(lo, hi)),
                    // Bounds of another type match nothing, as in the evaluator.
                    _ => Box::new(EmptyQuery),
                }
            }
            Predicate::Equals(v) => match trailwatch_query::time::parse_absolute_millis(v) {
                Some(t) => term_query(Term::from_field_i64(field, t)),
                None => Box::new(EmptyQuery),
            },
            Predicate::Wildcard(_) | Predicate::Cidr(_) => Box::new(EmptyQuery),
        });
    }
    let field = fields.keyword(f).ok_or_else(|| unsupported(f, "keyword conditions"))?;
    Ok(match pred {
        Predicate::Exists => exists(f.name(), fields),
        Predicate::Equals(v) => match text::keyword(v) {
            Some(k) => term_query(Term::from_field_text(field, &k)),
            None => Box::new(EmptyQuery),
        },
        Predicate::Wildcard(glob) => Box::new(regex(field, "", glob)?),
        Predicate::Range(lo, hi) => {
            let bound = |b: &Bound<RangeValue>| -> Option<Bound<Term>> {
                Some(match b {
                    Bound::Unbounded => Bound::Unbounded,
                    Bound::Included(RangeValue::Text(s)) => Bound::Included(Term::from_field_text(field, s)),
                    Bound::Excluded(RangeValue::Text(s)) => Bound::Excluded(Term::from_field_text(field, s)),
                    _ => return None,
                })
            };
            match (bound(lo), bound(hi)) {
                // Every indexed keyword (not over-long values, which `Exists` would count).
                (Some(Bound::Unbounded), Some(Bound::Unbounded)) => {
                    Box::new(regex(field, "", &[GlobToken::AnyRun])?)
                }
                (Some(lo), Some(hi)) => Box::new(InvertedIndexRangeQuery::new(lo, hi)),
                _ => Box::new(EmptyQuery),
            }
        }
        Predicate::Cidr(net) => {
            // tantivy's IP range arithmetic overflows at the ends of the address space: the
            // ends are left open instead (and a block covering everything is "has an address").
            let (lo, hi) = cidr_bounds_v6(net);
            let lo = if lo == Ipv6Addr::UNSPECIFIED {
                Bound::Unbounded
            } else {
                Bound::Included(Term::from_field_ip_addr(fields.ip, lo))
            };
            let hi = if hi == Ipv6Addr::from(u128::MAX) {
                Bound::Unbounded
            } else {
                Bound::Included(Term::from_field_ip_addr(fields.ip, hi))
            };
            match (lo, hi) {
                (Bound::Unbounded, Bound::Unbounded) => {
                    Box::new(ExistsQuery::new("source_ip_addr".into(), false))
                }
                (lo, hi) => Box::new(RangeQuery::new(lo, hi)),
            }
        }
    })
}

/// A JSON term prefix for `path` in the raw field, ready for a type and value.
fn json_term(path: &str, fields: &Fields) -> Term {
    // Escape dots inside segments? No: a dotted path means nested keys, as in the evaluator.
    Term::from_field_json_path(fields.raw, path, false)
}

fn raw(path: &str, pred: &Predicate, fields: &Fields) -> Result<Boxed> {
    Ok(match pred {
        Predicate::Exists => exists(&format!("@{path}"), fields),
        Predicate::Equals(v) => {
            let mut parts: Vec<Boxed> = Vec::new();
            if let Some(k) = text::keyword(v) {
                let mut t = json_term(path, fields);
                t.append_type_and_str(&k);
                parts.push(term_query(t));
            }
            if let Some(n) = as_number(v) {
                let mut t = json_term(path, fields);
                // Tantivy keeps integral numbers as i64 (u64 above i64::MAX) and others as f64.
                if n.fract() == 0.0 && n >= i64::MIN as f64 && n < i64::MAX as f64 {
                    t.append_type_and_fast_value(n as i64);
                } else if n.fract() == 0.0 && n >= 0.0 && n < u64::MAX as f64 {
                    t.append_type_and_fast_value(n as u64);
                } else {
                    t.append_type_and_fast_value(n);
                }
                parts.push(term_query(t));
            }
            if let Some(b) = as_bool(v) {
                let mut t = json_term(path, fields);
                t.append_type_and_fast_value(b);
                parts.push(term_query(t));
            }
            any_of(parts)
        }
        Predicate::Wildcard(glob) => {
            let prefix = json_term(path, fields);
            let mut p = String::from_utf8_lossy(prefix.serialized_value_bytes()).into_owned();
            p.push('s');
            Box::new(regex(fields.raw, &p, glob)?)
        }
        Predicate::Range(lo, hi) => {
            let is = |b: &Bound<RangeValue>, want: fn(&RangeValue) -> bool| match b {
                Bound::Included(v) | Bound::Excluded(v) => want(v),
                Bound::Unbounded => true,
            };
            let number = |v: &RangeValue| matches!(v, RangeValue::Number(_));
            let textual = |v: &RangeValue| matches!(v, RangeValue::Text(_));
            // As in the evaluator: numeric bounds (or none) compare numbers; text bounds strings.
            if is(lo, number) && is(hi, number) {
                number_range(path, lo, hi, fields)
            } else if is(lo, textual) && is(hi, textual) {
                text_range(path, lo, hi, fields)
            } else {
                Box::new(EmptyQuery)
            }
        }
        // The evaluator never matches these either: raw paths hold no addresses.
        Predicate::Cidr(_) => Box::new(EmptyQuery),
    })
}

/// A string range on a raw path, kept within the path's string terms.
fn text_range(path: &str, lo: &Bound<RangeValue>, hi: &Bound<RangeValue>, fields: &Fields) -> Boxed {
    let typed = |s: &str| {
        let mut t = json_term(path, fields);
        t.append_type_and_str(s);
        t
    };
    let lo = match lo {
        Bound::Included(RangeValue::Text(s)) => Bound::Included(typed(s)),
        Bound::Excluded(RangeValue::Text(s)) => Bound::Excluded(typed(s)),
        _ => Bound::Included(typed("")),
    };
    let hi = match hi {
        Bound::Included(RangeValue::Text(s)) => Bound::Included(typed(s)),
        Bound::Excluded(RangeValue::Text(s)) => Bound::Excluded(typed(s)),
        // Past every string: the type code after `s`.
        _ => {
            let mut t = json_term(path, fields);
            t.append_bytes(&[b's' + 1]);
            Bound::Excluded(t)
        }
    };
    Box::new(InvertedIndexRangeQuery::new(lo, hi))
}
/// A numeric range on a raw path: integers (kept as i64) and other numbers (kept as f64).
fn number_range(path: &str, lo: &Bound<RangeValue>, hi: &Bound<RangeValue>, fields: &Fields) -> Boxed {
    let num = |b: &Bound<RangeValue>| match b {
        Bound::Included(RangeValue::Number(n)) => Bound::Included(*n),
        Bound::Excluded(RangeValue::Number(n)) => Bound::Excluded(*n),
        _ => Bound::Unbounded,
    };
    let (lo, hi) = (num(lo), num(hi));
    let mut parts: Vec<Boxed> = Vec::new();
    // Integers: the same bounds, rounded inwards.
    let ilo = match lo {
        Bound::Unbounded => Some(i64::MIN),
        Bound::Included(x) => int_at_least(x.ceil()),
        Bound::Excluded(x) => int_at_least(if x.fract() == 0.0 { x + 1.0 } else { x.ceil() }),
    };
    let ihi = match hi {
        Bound::Unbounded => Some(i64::MAX),
        Bound::Included(x) => int_at_most(x.floor()),
        Bound::Excluded(x) => int_at_most(if x.fract() == 0.0 { x - 1.0 } else { x.floor() }),
    };
    if let (Some(a), Some(b)) = (ilo, ihi) {
        if a <= b {
            let mut ta = json_term(path, fields);
            ta.append_type_and_fast_value(a);
            let mut tb = json_term(path, fields);
            tb.append_type_and_fast_value(b);
            parts.push(Box::new(InvertedIndexRangeQuery::new(Bound::Included(ta), Bound::Included(tb))));
        }
    }
    let ft = |x: f64| {
        let mut t = json_term(path, fields);
        t.append_type_and_fast_value(x);
        t
    };
    let flo = match lo {
        Bound::Unbounded => Bound::Included(ft(f64::NEG_INFINITY)),
        Bound::Included(x) => Bound::Included(ft(x)),
        Bound::Excluded(x) => Bound::Excluded(ft(x)),
    };
    let fhi = match hi {
        Bound::Unbounded => Bound::Included(ft(f64::INFINITY)),
        Bound::Included(x) => Bound::Included(ft(x)),
        Bound::Excluded(x) => Bound::Excluded(ft(x)),
    };
    parts.push(Box::new(InvertedIndexRangeQuery::new(flo, fhi)));
    any_of(parts)
}

fn int_at_least(x: f64) -> Option<i64> {
    if x > i64::MAX as f64 {
        None
    } else if x < i64::MIN as f64 {
        Some(i64::MIN)
    } else {
        Some(x as i64)
    }
}

fn int_at_most(x: f64) -> Option<i64> {
    if x < i64::MIN as f64 {
        None
    } else if x >= i64::MAX as f64 {
        Some(i64::MAX)
    } else {
        Some(x as i64)
    }
}

fn text_query(t: &TextQuery, field: Field) -> Boxed {
    match t {
        TextQuery::Phrase(words) => match words.len() {
            0 => Box::new(EmptyQuery),
            1 => term_query(Term::from_field_text(field, &words[0].1)),
            _ => {
                let base = words[0].0;
                let terms = words
                    .iter()
                    .map(|(pos, w)| ((pos - base) as usize, Term::from_field_text(field, w)))
                    .collect();
                Box::new(PhraseQuery::new_with_offset(terms))
            }
        },
        TextQuery::Wildcard(glob) => match regex(field, "", glob) {
            Ok(q) => Box::new(q),
            Err(_) => Box::new(EmptyQuery),
        },
    }
}

/// A regex query over whole terms: `prefix` (literal) then the glob.
fn regex(field: Field, prefix: &str, glob: &[GlobToken]) -> Result<RegexQuery> {
    let mut pattern = String::new();
    for c in prefix.chars() {
        pattern.push_str(&format!("\\x{{{:x}}}", c as u32));
    }
    for tok in glob {
        match tok {
            GlobToken::Literal(s) => pattern.push_str(&regex_syntax::escape(s)),
            GlobToken::AnyRun => pattern.push_str("(?s:.*)"),
            GlobToken::AnyChar => pattern.push_str("(?s:.)"),
        }
    }
    RegexQuery::from_pattern(&pattern, field).map_err(|e| Error::Query(format!("wildcard pattern: {e}")))
}

fn unsupported(f: KnownField, what: &str) -> Error {
    Error::Query(format!("{} does not support {what}", f.name()))
}
