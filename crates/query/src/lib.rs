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
