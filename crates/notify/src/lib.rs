//! Who must hear about it: delivers alert notifications about signals to webhooks, Slack,
//! PagerDuty and email, with routing, retries and dead letters.
//!
//! ```text
//! RawNotifyConfig ──validate(env lookup)──► NotifyConfig ──Notifier::new──► Notifier
//! Notification ──► Notifier::route (severity, tags, rule globs) ──► channels
//!              ──► Notifier::send ──► one Delivery per channel (ok, attempts, status/error,
//!                                      dead_letter when it failed for good)
//! ```
//!
//! - [`Notification`]: what a signal says (the detection engine converts its signal into one).
//! - [`RawNotifyConfig`] / [`RawChannel`]: the `[notify]` section as written (TOML, serde,
//!   unknown keys rejected); [`RawNotifyConfig::validate`] resolves secrets through an injected
//!   lookup and checks every key per channel type, giving [`NotifyConfig`].
//! - [`Notifier`]: `new`, `route`, `send`, `send_to`, `redeliver`.
//! - Wire formats, public so receivers and tests can use them: [`WebhookPayload`] (schema
//!   [`SCHEMA_VERSION`]) with [`webhook::signature`] / [`webhook::verify_signature`],
//!   [`slack::message`], [`pagerduty::event`], [`email::subject`] / [`email::text_body`].
//!
//! Reference for operators: docs/NOTIFICATIONS.md.
//!
//! Architecture Invariant: this crate never prints and never reads environment variables
//! (secrets come through the lookup given to `validate`); secrets appear in no `Debug`
//! output, error or log line ([`Secret`] hides itself, delivery errors are scrubbed).
//! Architecture Invariant: it depends on no other trailwatch crate.

mod config;
pub mod email;
mod http;
mod notification;
mod notifier;
pub mod pagerduty;
mod retry;
mod route;
pub mod slack;
pub mod webhook;

pub use config::{
    parse_duration, ChannelConfig, ChannelKind, ConfigError, EmailConfig, EnvLookup, NotifyConfig,
    PagerDutyConfig, RawChannel, RawNotifyConfig, Secret, SlackConfig, StartTls, WebhookConfig,
    PAGERDUTY_EVENTS_URL,
};
pub use email::EmailSetupError;
pub use http::USER_AGENT;
pub use notification::{
    rfc3339_ms, Action, Notification, ParseSeverityError, Severity, WebhookPayload, SCHEMA_VERSION,
};
pub use notifier::{Channel, DeadLetter, Delivery, Notifier};
pub use retry::RetryPolicy;
pub use route::{glob_match, Route};

/// What can go wrong building a [`Notifier`] or redelivering. (Failed deliveries are not
/// errors: they are [`Delivery`] values with `ok == false`.)
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("notify channel {channel:?}: {source}")]
    EmailSetup { channel: String, source: EmailSetupError },
    #[error("notify channel {channel:?}: http client setup: {message}")]
    HttpSetup { channel: String, message: String },
    #[error("dead letter for unknown notify channel {channel:?}")]
    UnknownChannel { channel: String },
    #[error("dead letter for notify channel {channel:?} holds no valid notification: {source}")]
    BadDeadLetter { channel: String, source: serde_json::Error },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
