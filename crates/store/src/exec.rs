//! A [`Query`] evaluated on one segment: the set of its documents that match, rule by rule as
//! `trailwatch_query::matches` decides (the property test in `tests/agreement.rs` holds the two
//! together). Everything is answered from the dictionary and postings but some phrases: the
//! index has no positions, but pairs of adjacent words made of letters (`"not authorized"`),
//! so a two-word phrase of letters is exact, and other phrases are narrowed with pairs and
//! words, then checked against the candidates' stored record and title.

use std::net::Ipv6Addr;
use std::ops::{Bound, RangeBounds};

use roaring::RoaringBitmap;
use trailwatch_query::ast::{as_bool, as_number, cidr_bounds_v6, glob_matches};
use trailwatch_query::{
    text, FieldKind, FieldRef, GlobToken, KnownField, Predicate, Query, RangeValue, TextQuery,
};

use crate::codec::ordered_f64;
use crate::segment::Segment;
use crate::terms::*;
use crate::Result;

/// Checks candidate documents that the index cannot decide alone (phrases).
pub trait Verifier {
    fn phrase(&mut self, seg: &Segment, doc: u32, words: &[(u32, String)]) -> Result<bool>;
}

/// The documents of `seg` within `scope` that match `q`.
pub fn eval(q: &Query, seg: &Segment, scope: &RoaringBitmap, v: &mut dyn Verifier) -> Result<RoaringBitmap> {
    if scope.is_empty() {
        return Ok(RoaringBitmap::new());
    }
    Ok(match q {
        Query::All => scope.clone(),
        Query::And(parts) => {
            // Phrases cost a check per candidate: narrow the scope with everything else first.
            let mut acc = scope.clone();
            let costly = |p: &Query| matches!(p, Query::Text(TextQuery::Phrase(w)) if w.len() > 1);
            for p in parts.iter().filter(|p| !costly(p)).chain(parts.iter().filter(|p| costly(p))) {
                acc = eval(p, seg, &acc, v)?;
                if acc.is_empty() {
                    break;
                }
            }
            acc
        }
        Query::Or(parts) => {
            let mut acc = RoaringBitmap::new();
            for p in parts {
                acc |= eval(p, seg, scope, v)?;
            }
            acc
        }
        Query::Not(inner) => scope - eval(inner, seg, scope, v)?,
        Query::Field(FieldRef::Known(f), pred) => known(*f, pred, seg, scope)? & scope,
        Query::Field(FieldRef::Raw(path), pred) => raw(path, pred, seg)? & scope,
        Query::Text(TextQuery::Phrase(words)) => match words.as_slice() {
            [] => RoaringBitmap::new(),
            [(_, w)] => seg.term_docs(&word_term(w))? & scope,
            _ => {
                // Words next to each other must be indexed as a pair; two words at positions
                // 0 and 1 are exactly their pair, longer phrases are checked on the record.
                let mut cands = scope.clone();
                let mut exact = words.len() == 2;
                for pair in words.windows(2) {
                    let ((p1, w1), (p2, w2)) = (&pair[0], &pair[1]);
                    if p1 + 1 == *p2 && is_pair_word(w1) && is_pair_word(w2) {
                        cands &= seg.term_docs(&pair_term(w1, w2))?;
                    } else {
                        exact = false;
                        cands &= seg.term_docs(&word_term(w1))?;
                        cands &= seg.term_docs(&word_term(w2))?;
                    }
                    if cands.is_empty() {
                        return Ok(cands);
                    }
                }
                if exact {
                    return Ok(cands);
                }
                let mut out = RoaringBitmap::new();
                for doc in &cands {
                    if v.phrase(seg, doc, words)? {
                        out.insert(doc);
                    }
                }
                out
            }
        },
        Query::Text(TextQuery::Wildcard(glob)) => glob_terms(seg, &[WORD], glob)? & scope,
    })
}

/// Union of the terms `prefix` + t for every t matching `glob`.
fn glob_terms(seg: &Segment, prefix: &[u8], glob: &[GlobToken]) -> Result<RoaringBitmap> {
    let mut from = prefix.to_vec();
    if let Some(GlobToken::Literal(s)) = glob.first() {
        from.extend_from_slice(s.as_bytes());
    }
    let to = prefix_end(&from);
    let n = prefix.len();
    seg.union_range(&from, to.as_deref(), &mut |t| {
        std::str::from_utf8(&t[n..]).is_ok_and(|s| glob_matches(glob, s))
    })
}

/// Both bounds of a range as one kind of value (`pick`), or `None` when a bound is another
/// kind: such a range matches nothing, as in the evaluator.
fn bounds<'a, T>(
    lo: &'a Bound<RangeValue>,
    hi: &'a Bound<RangeValue>,
    pick: impl Fn(&'a RangeValue) -> Option<T>,
) -> Option<(Bound<T>, Bound<T>)> {
    let one = |b: &'a Bound<RangeValue>| match b {
        Bound::Included(v) => pick(v).map(Bound::Included),
        Bound::Excluded(v) => pick(v).map(Bound::Excluded),
        Bound::Unbounded => Some(Bound::Unbounded),
    };
    Some((one(lo)?, one(hi)?))
}

fn text_bounds<'a>(
    lo: &'a Bound<RangeValue>,
    hi: &'a Bound<RangeValue>,
) -> Option<(Bound<&'a str>, Bound<&'a str>)> {
    bounds(lo, hi, |v| if let RangeValue::Text(s) = v { Some(s.as_str()) } else { None })
}

/// Union of the terms `prefix` + t for every t within the string bounds.
fn text_range(seg: &Segment, prefix: &[u8], lo: Bound<&str>, hi: Bound<&str>) -> Result<RoaringBitmap> {
    let mut from = prefix.to_vec();
    if let Bound::Included(s) | Bound::Excluded(s) = lo {
        from.extend_from_slice(s.as_bytes());
    }
    let to = prefix_end(prefix);
    let n = prefix.len();
    let (lo, hi) = (lo.map(str::as_bytes), hi.map(str::as_bytes));
    seg.union_range(&from, to.as_deref(), &mut |t| (lo, hi).contains(&t[n..]))
}

fn known(f: KnownField, pred: &Predicate, seg: &Segment, scope: &RoaringBitmap) -> Result<RoaringBitmap> {
    if f.kind() == FieldKind::Time {
        let col = |doc: u32| if f == KnownField::Time { seg.time(doc) } else { seg.received(doc) };
        let keep: Box<dyn Fn(i64) -> bool> = match pred {
            Predicate::Exists => return Ok(scope.clone()),
            Predicate::Equals(s) => match trailwatch_query::time::parse_absolute_millis(s) {
                Some(t) => Box::new(move |x| x == t),
                None => return Ok(RoaringBitmap::new()),
            },
            Predicate::Range(lo, hi) => {
                let time = |v: &RangeValue| if let RangeValue::Time(t) = v { Some(*t) } else { None };
                let Some((lo, hi)) = bounds(lo, hi, time) else { return Ok(RoaringBitmap::new()) };
                Box::new(move |x| (lo, hi).contains(&x))
            }
            Predicate::Wildcard(_) | Predicate::Cidr(_) => return Ok(RoaringBitmap::new()),
        };
        let docs = scope.iter().filter(|d| keep(col(*d)));
        return Ok(RoaringBitmap::from_sorted_iter(docs).expect("sorted"));
    }
    if let Predicate::Exists = pred {
        return seg.term_docs(&exists_term(f.name()));
    }
    if let Predicate::Cidr(net) = pred {
        if f == KnownField::SourceIp {
            let (lo, hi) = cidr_bounds_v6(net);
            let to = match u128::from(hi).checked_add(1) {
                Some(next) => ip_term(Ipv6Addr::from(next)),
                None => vec![IP + 1],
            };
            return seg.union_range(&ip_term(lo), Some(&to), &mut |_| true);
        }
    }
    // The field's own terms, then (for aliases) its raw path's where they stand for it.
    let mut out = keyword_docs(pred, seg, &keyword_prefix(f))?;
    if let Some(path) = alias(f) {
        let mut prefix = raw_prefix(path);
        prefix.push(STR);
        let from_raw = keyword_docs(pred, seg, &prefix)?;
        if !from_raw.is_empty() {
            out |= from_raw - seg.term_docs(&not_alias_term(f))?;
        }
    }
    Ok(out)
}

/// Documents with a keyword term `prefix` + k where k satisfies `pred`.
fn keyword_docs(pred: &Predicate, seg: &Segment, prefix: &[u8]) -> Result<RoaringBitmap> {
    let prefix = prefix.to_vec();
    Ok(match pred {
        Predicate::Exists => RoaringBitmap::new(),
        Predicate::Equals(v) => match text::keyword(v) {
            Some(k) => {
                let mut t = prefix.clone();
                t.extend_from_slice(k.as_bytes());
                seg.term_docs(&t)?
            }
            None => RoaringBitmap::new(),
        },
        Predicate::Wildcard(glob) => glob_terms(seg, &prefix, glob)?,
        Predicate::Range(lo, hi) => match text_bounds(lo, hi) {
            Some((lo, hi)) => text_range(seg, &prefix, lo, hi)?,
            None => RoaringBitmap::new(),
        },
        Predicate::Cidr(net) => {
            // Other fields hold no address terms: read each value as an address.
            let n = prefix.len();
            let to = prefix_end(&prefix);
            seg.union_range(&prefix, to.as_deref(), &mut |t| {
                std::str::from_utf8(&t[n..])
                    .ok()
                    .and_then(|s| s.parse::<std::net::IpAddr>().ok())
                    .is_some_and(|ip| trailwatch_query::ast::cidr_contains(net, ip))
            })?
        }
    })
}

fn raw(path: &str, pred: &Predicate, seg: &Segment) -> Result<RoaringBitmap> {
    let prefix = raw_prefix(path);
    let typed = |ty: u8, value: &[u8]| {
        let mut t = prefix.clone();
        t.push(ty);
        t.extend_from_slice(value);
        t
    };
    Ok(match pred {
        Predicate::Exists => seg.term_docs(&exists_term(&format!("@{path}")))?,
        Predicate::Equals(v) => {
            let mut out = RoaringBitmap::new();
            if let Some(k) = text::keyword(v) {
                out |= seg.term_docs(&typed(STR, k.as_bytes()))?;
            }
            if let Some(n) = as_number(v) {
                out |= seg.term_docs(&typed(NUM, &ordered_f64(n)))?;
            }
            if let Some(b) = as_bool(v) {
                out |= seg.term_docs(&typed(BOOL, &[b as u8]))?;
            }
            out
        }
        Predicate::Wildcard(glob) => glob_terms(seg, &typed(STR, b""), glob)?,
        Predicate::Range(lo, hi) => {
            let number = |v: &RangeValue| if let RangeValue::Number(n) = v { Some(*n) } else { None };
            if let Some((lo, hi)) = bounds(lo, hi, number) {
                // Bytes after the type byte compare as the numbers do.
                let from = match lo {
                    Bound::Included(x) | Bound::Excluded(x) => typed(NUM, &ordered_f64(x)),
                    Bound::Unbounded => typed(NUM, b""),
                };
                let end = typed(NUM + 1, b"");
                let n = prefix.len() + 1;
                let (lo, hi) = (lo.map(ordered_f64), hi.map(ordered_f64));
                let (lo, hi) = (lo.as_ref().map(|b| &b[..]), hi.as_ref().map(|b| &b[..]));
                seg.union_range(&from, Some(&end), &mut |t| (lo, hi).contains(&t[n..]))?
            } else if let Some((lo, hi)) = text_bounds(lo, hi) {
                text_range(seg, &typed(STR, b""), lo, hi)?
            } else {
                RoaringBitmap::new()
            }
        }
        Predicate::Cidr(_) => RoaringBitmap::new(),
    })
}
