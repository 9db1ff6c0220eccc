//! CloudTrail log files: what is in them, and how each record becomes a normalized [`Event`].
//!
//! Architecture Invariant: this crate does no IO of its own. It reads from any `std::io::Read`
//! handed to it and never touches the file system or the network.

mod actor;
pub mod agent;
pub mod decode;
pub mod event;
mod id;
pub mod json;
pub mod key;
pub mod normalize;
mod time;
mod title;

pub use decode::{DecodeError, Limits, RawRecord, RecordReader};
pub use event::{Actor, Category, Event, Outcome};
pub use json::{Json, JsonError};
pub use key::{KeyKind, LogKey};
pub use normalize::{normalize, RecordContext, RecordError};
