//! The trailwatch search language: what a query means, and whether an event matches it.
//!
//! Architecture Invariant: this crate does no IO. The store translates the same [`Query`] into
//! index queries; the in-memory evaluator answers for one event, and both must agree.

pub mod ast;
pub mod fields;
pub mod text;

pub use ast::{FieldRef, GlobToken, Predicate, Query, RangeValue, TextQuery};
pub use fields::{FieldKind, FieldValues, KnownField};
