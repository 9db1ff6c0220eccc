//! Is this suspicious? Detection rules (YAML), the streaming engine that checks every event
//! against them, and the built-in CloudTrail rule pack.
//!
//! The engine is pure: it takes events in arrival order and returns [`Firing`]s. What a firing
//! becomes (a new or updated signal, a notification) is decided by [`signal`]; where signals and
//! engine state are kept is the caller's business (the store's SQLite state in trailwatch).
//!
//! Architecture Invariant: no IO besides reading rule files in [`load`]; no printing.

pub mod condition;
pub mod duration;
pub mod engine;
pub mod field;
pub mod geo;
pub mod load;
pub mod rule;
pub mod signal;
pub mod testing;
mod window;

pub use engine::{Engine, EngineState, Firing};
pub use field::FieldPath;
pub use load::{builtin_rules, load_paths, LoadReport, RuleError};
pub use rule::{Method, Rule, Severity};
pub use signal::{Signal, SignalStatus};
