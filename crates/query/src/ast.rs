//! What a parsed query is. The parser builds it; the in-memory evaluator and the store's
//! translator both read it, and must agree on every event.

use std::ops::Bound;

use crate::fields::KnownField;

/// A parsed query.
#[derive(Debug, Clone, PartialEq)]
pub enum Query {
    /// Matches every event (the empty query, or `*`).
    All,
    /// Every part must match.
    And(Vec<Query>),
    /// At least one part must match.
    Or(Vec<Query>),
    /// The part must not match.
    Not(Box<Query>),
    /// A condition on one field.
    Field(FieldRef, Predicate),
    /// Free text: words found in the event's title or any string of its record.
    Text(TextQuery),
}

/// The field a condition is on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FieldRef {
    /// A normalized field (`service`, `actor.name`).
    Known(KnownField),
    /// A dotted path in the original record (`@userIdentity.type` is `userIdentity.type`).
    /// Arrays are transparent: `resources.ARN` is the ARN of any resource.
    Raw(String),
}

/// A condition on a field's values. A multi-valued field matches when any value does.
#[derive(Debug, Clone, PartialEq)]
pub enum Predicate {
    /// `field:*`: the field has a value. For raw paths: a string, number or boolean at that
    /// path or below it (nulls and empty containers do not count).
    Exists,
    /// `field:value`: equal as a keyword (the value is stored lowercase here). On a raw path
    /// the value also matches a number equal to it ([`as_number`]) or a boolean ([`as_bool`]).
    /// On a time field the value is a time and matches that millisecond.
    Equals(String),
    /// `field:Create*`: a glob over the lowercase keyword (strings only, on raw paths).
    Wildcard(Vec<GlobToken>),
    /// `field:>5`, `field:[a TO b]`: values within the bounds.
    Range(Bound<RangeValue>, Bound<RangeValue>),
    /// `source_ip:10.0.0.0/8`: an IP field whose value is an IP address inside the block.
    Cidr(ipnet::IpNet),
}

/// A bound of a range. Both bounds of one range have the same variant (the parser checks).
#[derive(Debug, Clone, PartialEq)]
pub enum RangeValue {
    /// Milliseconds since the epoch, on time fields.
    Time(i64),
    /// Numbers, on raw paths (compared with JSON numbers).
    Number(f64),
    /// Lowercase strings compared byte-wise, on keyword fields and raw paths.
    Text(String),
}

/// One piece of a glob pattern. Literals are lowercase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GlobToken {
    Literal(String),
    /// `*`: any run of characters, including none.
    AnyRun,
    /// `?`: exactly one character.
    AnyChar,
}

/// Free text.
#[derive(Debug, Clone, PartialEq)]
pub enum TextQuery {
    /// Words that must appear at these relative positions within one string of the event
    /// (one word: anywhere). Positions come from [`crate::text::words`].
    Phrase(Vec<(u32, String)>),
    /// A bare word with wildcards (`creat*`), matched against every word.
    Wildcard(Vec<GlobToken>),
}

/// Reads a query value as a number the way raw-path matching does: a decimal integer or
/// float (`5`, `-3`, `2.5`, `1e3`), finite. Everything else is not a number.
pub fn as_number(value: &str) -> Option<f64> {
    let v = value.trim();
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b)) {
        return None;
    }
    v.parse::<f64>().ok().filter(|n| n.is_finite())
}

/// Reads a query value as a boolean the way raw-path matching does: `true` or `false`, any case.
pub fn as_bool(value: &str) -> Option<bool> {
    if value.eq_ignore_ascii_case("true") {
        Some(true)
    } else if value.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// Whether `text` (already lowercase) matches the glob `pattern`.
pub fn glob_matches(pattern: &[GlobToken], text: &str) -> bool {
    // Classic two-pointer wildcard matching over chars, with backtracking to the last `*`.
    let t: Vec<char> = text.chars().collect();
    let mut p: Vec<PatChar> = Vec::new();
    for tok in pattern {
        match tok {
            GlobToken::Literal(s) => p.extend(s.chars().map(PatChar::Lit)),
            GlobToken::AnyRun => p.push(PatChar::Run),
            GlobToken::AnyChar => p.push(PatChar::One),
        }
    }
    let (mut ti, mut pi) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some(PatChar::Lit(c)) if *c == t[ti] => {
                ti += 1;
                pi += 1;
            }
            Some(PatChar::One) => {
                ti += 1;
                pi += 1;
            }
            Some(PatChar::Run) => {
                star = Some((pi, ti));
                pi += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|c| matches!(c, PatChar::Run))
}

#[derive(Clone, Copy)]
enum PatChar {
    Lit(char),
    Run,
    One,
}

/// The addresses a CIDR block spans, as IPv6 (IPv4 as IPv4-mapped), inclusive. The index keeps
/// addresses this way, so in-memory matching compares the same way.
pub fn cidr_bounds_v6(net: &ipnet::IpNet) -> (std::net::Ipv6Addr, std::net::Ipv6Addr) {
    match net {
        ipnet::IpNet::V4(n) => (n.network().to_ipv6_mapped(), n.broadcast().to_ipv6_mapped()),
        ipnet::IpNet::V6(n) => (n.network(), n.broadcast()),
    }
}

/// Whether an address falls inside a CIDR block, compared as IPv6 like the index does.
pub fn cidr_contains(net: &ipnet::IpNet, ip: std::net::IpAddr) -> bool {
    let v6 = match ip {
        std::net::IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        std::net::IpAddr::V6(v6) => v6,
    };
    let (lo, hi) = cidr_bounds_v6(net);
    lo <= v6 && v6 <= hi
}

/// Longest wildcard pattern accepted: literal characters, and `*`/`?` wildcards. The index runs
/// wildcards as automata of bounded size, so the parser refuses larger patterns up front.
pub const MAX_WILDCARD_CHARS: usize = 100;
pub const MAX_WILDCARDS: usize = 10;

/// Whether a glob is over the limits above.
pub fn glob_too_long(glob: &[GlobToken]) -> bool {
    let chars: usize =
        glob.iter().map(|t| if let GlobToken::Literal(s) = t { s.chars().count() } else { 0 }).sum();
    let wild = glob.iter().filter(|t| !matches!(t, GlobToken::Literal(_))).count();
    chars > MAX_WILDCARD_CHARS || wild > MAX_WILDCARDS
}

#[cfg(test)]
mod tests {
    use super::*;
    use GlobToken::*;

    fn lit(s: &str) -> GlobToken {
        Literal(s.into())
    }

    #[test]
    fn globs() {
        assert!(glob_matches(&[lit("create"), AnyRun], "createuser"));
        assert!(glob_matches(&[lit("create"), AnyRun], "create"));
        assert!(!glob_matches(&[lit("create"), AnyRun], "deleteuser"));
        assert!(glob_matches(&[AnyRun, lit("key"), AnyRun], "createaccesskey"));
        assert!(glob_matches(&[lit("a"), AnyChar, lit("c")], "abc"));
        assert!(!glob_matches(&[lit("a"), AnyChar, lit("c")], "ac"));
        assert!(glob_matches(&[AnyRun, lit("ab"), AnyRun, lit("ab")], "xabyabab"));
        assert!(glob_matches(&[AnyRun], ""));
    }

    #[test]
    fn numbers_and_bools() {
        assert_eq!(as_number("5"), Some(5.0));
        assert_eq!(as_number("-2.5"), Some(-2.5));
        assert_eq!(as_number("1e3"), Some(1000.0));
        assert_eq!(as_number("inf"), None);
        assert_eq!(as_number("0x10"), None);
        assert_eq!(as_number("abc"), None);
        assert_eq!(as_bool("TRUE"), Some(true));
        assert_eq!(as_bool("no"), None);
    }
}
