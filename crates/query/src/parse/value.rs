//! What follows `field:`: a value, a wildcard, `*`, a comparison, a range or a value group,
//! typed by the kind of field.

use std::ops::Bound;

use super::{glob, has_wildcard, literal, lowercase, too_long_message, Parser, Piece, Result};
use crate::ast::{as_number, FieldRef, Predicate, Query, RangeValue};
use crate::fields::FieldKind;
use crate::time::parse_time_with_precision;

/// A range bound as written, with the column of its value.
enum RawBound {
    Unbounded,
    Included(String, usize),
    Excluded(String, usize),
}

fn kind(field: &FieldRef) -> Option<FieldKind> {
    match field {
        FieldRef::Known(f) => Some(f.kind()),
        FieldRef::Raw(_) => None,
    }
}

/// The field as the user wrote it, for messages.
fn label(field: &FieldRef) -> String {
    match field {
        FieldRef::Known(f) => f.name().to_owned(),
        FieldRef::Raw(path) => format!("@{path}"),
    }
}

impl Parser {
    /// The value right after `field:` (no space allowed between).
    pub(super) fn field_value(&mut self, field: FieldRef) -> Result<Query> {
        if self.at_close() || self.peek().is_some_and(char::is_whitespace) {
            return self.fail(self.pos, format!("missing value after {}:", label(&field)));
        }
        if self.peek() == Some('(') {
            let open = self.pos;
            self.pos += 1;
            return self.group(open, Some(&field));
        }
        self.value(&field)
    }

    /// One value bound to `field`: directly after `field:` or as a term of a value group.
    pub(super) fn value(&mut self, field: &FieldRef) -> Result<Query> {
        let at = self.pos;
        let predicate = match self.peek() {
            Some('>' | '<') => self.comparison(field)?,
            Some('[' | '{') => self.range(field)?,
            Some('"') => {
                let text = self.quoted()?;
                if text.is_empty() {
                    return self.fail(at, format!("empty value for {}", label(field)));
                }
                self.equals(field, &text, at)?
            }
            _ => {
                let pieces = self.bare(&[')'])?;
                if pieces == [Piece::Star] {
                    Predicate::Exists
                } else if has_wildcard(&pieces) {
                    if kind(field) == Some(FieldKind::Time) {
                        return self
                            .fail(at, format!("wildcards do not apply to time field {}", label(field)));
                    }
                    let g = glob(&pieces);
                    if crate::ast::glob_too_long(&g) {
                        return self.fail(at, too_long_message());
                    }
                    Predicate::Wildcard(g)
                } else {
                    self.equals(field, &literal(&pieces), at)?
                }
            }
        };
        Ok(Query::Field(field.clone(), predicate))
    }

    /// `field:value` with no wildcard: a keyword, a time interval or a CIDR block.
    fn equals(&self, field: &FieldRef, value: &str, at: usize) -> Result<Predicate> {
        match kind(field) {
            Some(FieldKind::Time) => {
                let (t, precision) =
                    parse_time_with_precision(value, self.now_ms).or_else(|e| self.fail(at, e))?;
                let end = t.saturating_add(precision.millis());
                Ok(Predicate::Range(
                    Bound::Included(RangeValue::Time(t)),
                    Bound::Excluded(RangeValue::Time(end)),
                ))
            }
            Some(FieldKind::Ip) if value.contains('/') => match value.parse::<ipnet::IpNet>() {
                Ok(net) => Ok(Predicate::Cidr(net.trunc())),
                Err(_) => Ok(Predicate::Equals(lowercase(value))),
            },
            _ => Ok(Predicate::Equals(lowercase(value))),
        }
    }

    /// `field:>v`, `field:>=v`, `field:<v`, `field:<=v`.
    fn comparison(&mut self, field: &FieldRef) -> Result<Predicate> {
        let at = self.pos;
        let greater = self.peek() == Some('>');
        self.pos += 1;
        let inclusive = self.peek() == Some('=');
        self.pos += usize::from(inclusive);
        let op: String = self.chars[at..self.pos].iter().collect();
        let value_at = self.pos;
        let value = match self.peek() {
            Some('"') => self.quoted()?,
            _ => {
                let pieces = self.bare(&[')'])?;
                if has_wildcard(&pieces) {
                    return self.fail(value_at, format!("wildcards are not allowed after {op}"));
                }
                literal(&pieces)
            }
        };
        if value.is_empty() {
            return self.fail(value_at, format!("missing value after {}:{op}", label(field)));
        }
        let bound =
            if inclusive { RawBound::Included(value, value_at) } else { RawBound::Excluded(value, value_at) };
        if greater {
            self.typed_range(field, bound, RawBound::Unbounded)
        } else {
            self.typed_range(field, RawBound::Unbounded, bound)
        }
    }

    /// `[a TO b]` (inclusive), `{a TO b}` (exclusive) or a mix; `*` leaves a side open.
    fn range(&mut self, field: &FieldRef) -> Result<Predicate> {
        let open = self.pos;
        let open_char = self.chars[open];
        let lower_inclusive = open_char == '[';
        self.pos += 1;
        self.skip_ws();
        let lower = self.bound(open, open_char, "lower")?;
        self.skip_ws();
        if self.at_end() {
            return self.fail(open, format!("unclosed {open_char}"));
        }
        let to_end = self.pos + 2;
        let is_to = self.chars[self.pos..to_end.min(self.chars.len())].iter().eq(['T', 'O'].iter())
            && self.chars.get(to_end).is_none_or(|c| c.is_whitespace() || "]}".contains(*c));
        if !is_to {
            let found = self.token_at(self.pos);
            return self.fail(self.pos, format!("expected TO in range, found {found}"));
        }
        self.pos = to_end;
        self.skip_ws();
        let upper = self.bound(open, open_char, "upper")?;
        self.skip_ws();
        let upper_inclusive = match self.peek() {
            Some(']') => true,
            Some('}') => false,
            None => return self.fail(open, format!("unclosed {open_char}")),
            Some(_) => {
                let found = self.token_at(self.pos);
                return self.fail(self.pos, format!("expected ] or }} to close the range, found {found}"));
            }
        };
        self.pos += 1;
        let side = |b: Option<(String, usize)>, inclusive: bool| match b {
            None => RawBound::Unbounded,
            Some((v, at)) if inclusive => RawBound::Included(v, at),
            Some((v, at)) => RawBound::Excluded(v, at),
        };
        self.typed_range(field, side(lower, lower_inclusive), side(upper, upper_inclusive))
    }

    /// One bound of a range: `None` for `*`.
    fn bound(&mut self, open: usize, open_char: char, which: &str) -> Result<Option<(String, usize)>> {
        let at = self.pos;
        let value = match self.peek() {
            None => return self.fail(open, format!("unclosed {open_char}")),
            Some('"') => self.quoted()?,
            _ => {
                let pieces = self.bare(&[']', '}'])?;
                if pieces == [Piece::Star] {
                    return Ok(None);
                }
                if which == "lower" && literal(&pieces) == "TO" {
                    return self.fail(at, "missing lower bound in range");
                }
                if has_wildcard(&pieces) {
                    let token = literal(&pieces);
                    return self.fail(at, format!("wildcards are not allowed in range bounds: {token}"));
                }
                literal(&pieces)
            }
        };
        if value.is_empty() {
            return self.fail(at, format!("missing {which} bound in range"));
        }
        Ok(Some((value, at)))
    }

    /// Types the bounds by the field: times on time fields; numbers on raw paths when every
    /// bound is a number; lowercase text otherwise. `[* TO *]` is `field:*`.
    fn typed_range(&self, field: &FieldRef, lower: RawBound, upper: RawBound) -> Result<Predicate> {
        if matches!((&lower, &upper), (RawBound::Unbounded, RawBound::Unbounded)) {
            return Ok(Predicate::Exists);
        }
        let (lo, hi) = match kind(field) {
            Some(FieldKind::Time) => {
                // A bound names an interval as long as its precision: `>2024-08-01` starts
                // after that day, `<=2024-08-01` ends with it.
                let time = |value: &str, at: usize| {
                    parse_time_with_precision(value, self.now_ms)
                        .map(|(t, p)| (t, t.saturating_add(p.millis())))
                        .or_else(|e| self.fail(at, e))
                };
                let lo = match lower {
                    RawBound::Unbounded => Bound::Unbounded,
                    RawBound::Included(v, at) => Bound::Included(RangeValue::Time(time(&v, at)?.0)),
                    RawBound::Excluded(v, at) => Bound::Included(RangeValue::Time(time(&v, at)?.1)),
                };
                let hi = match upper {
                    RawBound::Unbounded => Bound::Unbounded,
                    RawBound::Included(v, at) => Bound::Excluded(RangeValue::Time(time(&v, at)?.1)),
                    RawBound::Excluded(v, at) => Bound::Excluded(RangeValue::Time(time(&v, at)?.0)),
                };
                (lo, hi)
            }
            None if [&lower, &upper].iter().all(|b| match b {
                RawBound::Unbounded => true,
                RawBound::Included(v, _) | RawBound::Excluded(v, _) => as_number(v).is_some(),
            }) =>
            {
                let number = |v: &str| RangeValue::Number(as_number(v).expect("checked above"));
                (map_bound(lower, number), map_bound(upper, number))
            }
            _ => {
                let text = |v: &str| RangeValue::Text(lowercase(v));
                (map_bound(lower, text), map_bound(upper, text))
            }
        };
        Ok(Predicate::Range(lo, hi))
    }
}

fn map_bound(b: RawBound, f: impl Fn(&str) -> RangeValue) -> Bound<RangeValue> {
    match b {
        RawBound::Unbounded => Bound::Unbounded,
        RawBound::Included(v, _) => Bound::Included(f(&v)),
        RawBound::Excluded(v, _) => Bound::Excluded(f(&v)),
    }
}
