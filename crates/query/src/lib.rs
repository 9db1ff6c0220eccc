//! The trailwatch search language: what a query means, and whether an event matches it.
//!
//! Architecture Invariant: this crate does no IO. The store translates the same [`Query`] into
//! index queries; the in-memory evaluator answers for one event, and both must agree.

pub mod ast;
pub mod eval;
pub mod fields;
pub mod parse;
pub mod text;
pub mod time;

pub use ast::{FieldRef, GlobToken, Predicate, Query, RangeValue, TextQuery};
pub use eval::matches;
pub use fields::{FieldKind, FieldValues, KnownField};
pub use parse::{parse, ParseError};
pub use time::{parse_time, parse_time_with_precision, TimePrecision};

#[cfg(test)]
mod tests {
    use crate::fields::KnownField;

    const QUERY_DOC: &str = include_str!("../../../docs/QUERY.md");

    #[test]
    fn every_field_is_documented() {
        for field in KnownField::ALL {
            let row = format!("| `{}` |", field.name());
            assert!(QUERY_DOC.contains(&row), "docs/QUERY.md has no table row for {}", field.name());
        }
    }

    #[test]
    fn documented_examples_parse() {
        let blocks = QUERY_DOC.split("```text\n").skip(1).map(|b| b.split("```").next().unwrap());
        let mut count = 0;
        for block in blocks.filter(|b| !b.contains("column ")) {
            for line in block.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
                if let Err(e) = crate::parse(line, 0) {
                    panic!("docs/QUERY.md example {line:?} does not parse: {e}");
                }
                count += 1;
            }
        }
        assert!(count > 20, "only {count} examples found");
    }
}
