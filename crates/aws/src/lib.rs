//! Live AWS: the accounts of the configuration, the trails found in them, reading the trails'
//! files from S3 cheaply (listing only the day folders that can have new files), and checking
//! the permissions this needs (`doctor`).
//!
//! Architecture Invariant: like every library crate, this one never prints, reads environment
//! variables or exits; the binary passes the environment in and prints what comes back.

pub mod client;
pub mod config;
pub mod discover;
pub mod doctor;
pub mod error;
pub mod fetch;
pub mod health;
pub mod poll;
pub mod report;
pub mod select;
pub mod sqs;

pub use config::{Account, AwsConfig, RawAccount, RawAws};
pub use error::{Error, Result};
pub use select::{RawSelect, Selection};
