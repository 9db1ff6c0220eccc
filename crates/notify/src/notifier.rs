//! The notifier: built channels, routing, and delivery with retries, backoff and dead letters.

use std::thread;
use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};
use tracing::{debug, error, info, warn};

use crate::config::{ChannelConfig, ChannelKind, NotifyConfig, Secret};
use crate::email::EmailTransport;
use crate::http::HttpClient;
use crate::notification::Notification;
use crate::retry::AttemptError;
use crate::{pagerduty, slack, webhook, Error, Result};

/// One configured destination, ready to send.
pub struct Channel {
    config: ChannelConfig,
    transport: Transport,
}

enum Transport {
    Http(HttpClient),
    // Boxed: the SMTP transport is five times the size of the HTTP agent handle.
    Email(Box<EmailTransport>),
}

/// Shows the config only: the transports hold credentials (lettre's among them) whose own
/// `Debug` is not ours to vouch for.
impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel").field("config", &self.config).finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier").field("channels", &self.channels).finish()
    }
}

impl Channel {
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// `webhook`, `slack`, `pagerduty` or `email`.
    pub fn type_name(&self) -> &'static str {
        self.config.kind.type_name()
    }

    pub fn config(&self) -> &ChannelConfig {
        &self.config
    }

    /// Every secret of the channel, to scrub from error messages: a receiver may echo a
    /// request back and a client error may quote a URL.
    fn secrets(&self) -> Vec<&Secret> {
        match &self.config.kind {
            ChannelKind::Webhook(c) => c.secret.iter().collect(),
            ChannelKind::Slack(c) => vec![&c.webhook_url],
            ChannelKind::PagerDuty(c) => vec![&c.routing_key],
            ChannelKind::Email(c) => c.password.iter().collect(),
        }
    }

    fn redact(&self, message: &str) -> String {
        self.secrets()
            .into_iter()
            .filter(|s| !s.expose().is_empty())
            .fold(message.to_string(), |m, s| m.replace(s.expose(), "***"))
    }

    /// What one delivery sends on every attempt, made once so that retries are identical.
    fn prepare(&self, n: &Notification) -> Prepared {
        match &self.config.kind {
            ChannelKind::Webhook(c) => {
                let id = delivery_id();
                let sent_at = chrono::Utc::now().timestamp();
                let request = webhook::request(n, c.secret.as_ref(), id, sent_at);
                Prepared::Http { url: c.url.clone(), headers: request.headers, body: request.body }
            }
            ChannelKind::Slack(c) => Prepared::Http {
                url: c.webhook_url.expose().to_string(),
                headers: vec![],
                body: serde_json::to_vec(&slack::message(n)).expect("json values serialize"),
            },
            ChannelKind::PagerDuty(c) => Prepared::Http {
                url: c.url.clone(),
                headers: vec![],
                body: serde_json::to_vec(&pagerduty::event(n, &c.routing_key))
                    .expect("json values serialize"),
            },
            ChannelKind::Email(_) => Prepared::Email,
        }
    }

    fn attempt(&self, prepared: &Prepared, n: &Notification) -> Result<Option<u16>, AttemptError> {
        match (&self.transport, prepared) {
            (Transport::Http(client), Prepared::Http { url, headers, body }) => {
                client.post_json(url, headers, body).map(Some)
            }
            (Transport::Email(transport), Prepared::Email) => transport.send(n),
            _ => unreachable!("a channel's transport and request are made from the same kind"),
        }
    }
}

enum Prepared {
    Http { url: String, headers: Vec<(&'static str, String)>, body: Vec<u8> },
    Email,
}

/// 128 random bits as hex: unique enough that receivers can deduplicate on it.
fn delivery_id() -> String {
    hex::encode(rand::rng().random::<[u8; 16]>())
}

/// The outcome of sending one notification to one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub channel: String,
    pub ok: bool,
    /// How many attempts were made (1 when the first one worked).
    pub attempts: u32,
    /// The last HTTP status or SMTP reply code, when the server answered.
    pub status: Option<u16>,
    /// The last error, secrets removed; `None` when `ok`.
    pub error: Option<String>,
    /// Set whenever the delivery failed for good (retries used up or a permanent error), for
    /// the caller to store durably and redeliver later with [`Notifier::redeliver`].
    pub dead_letter: Option<DeadLetter>,
}

/// A notification that could not be delivered to a channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub channel: String,
    /// The [`Notification`] as JSON (not the channel's wire format, which holds secrets).
    pub notification: serde_json::Value,
    pub last_error: String,
    pub status: Option<u16>,
    pub attempts: u32,
    /// When the last attempt failed, milliseconds since the epoch.
    pub failed_at_ms: i64,
}

impl DeadLetter {
    pub fn notification(&self) -> Result<Notification, serde_json::Error> {
        serde_json::from_value(self.notification.clone())
    }
}

/// Sends notifications to the channels whose routes match them.
pub struct Notifier {
    channels: Vec<Channel>,
}

impl Notifier {
    /// Builds every channel's client (TLS roots, proxies). Nothing is sent yet.
    pub fn new(config: NotifyConfig) -> Result<Notifier> {
        let channels = config
            .channels
            .into_iter()
            .map(|config| {
                let transport = match &config.kind {
                    ChannelKind::Email(email) => Transport::Email(Box::new(
                        EmailTransport::new(email, config.timeout)
                            .map_err(|source| Error::EmailSetup { channel: config.name.clone(), source })?,
                    )),
                    ChannelKind::Webhook(c) => Transport::Http(http(&config, c.proxy.as_deref())?),
                    ChannelKind::Slack(c) => Transport::Http(http(&config, c.proxy.as_deref())?),
                    ChannelKind::PagerDuty(c) => Transport::Http(http(&config, c.proxy.as_deref())?),
                };
                Ok(Channel { config, transport })
            })
            .collect::<Result<_>>()?;
        Ok(Notifier { channels })
    }

    pub fn channels(&self) -> &[Channel] {
        &self.channels
    }

    pub fn channel(&self, name: &str) -> Option<&Channel> {
        self.channels.iter().find(|c| c.name() == name)
    }

    /// The channels whose route matches, in config order.
    pub fn route(&self, n: &Notification) -> Vec<&Channel> {
        self.channels.iter().filter(|c| c.config.route.matches(n)).collect()
    }

    /// Delivers to every routed channel, in parallel (one slow or retrying channel does not
    /// hold up the others), and returns one [`Delivery`] per routed channel in config order.
    /// Blocks until every channel succeeded or gave up.
    pub fn send(&self, n: &Notification) -> Vec<Delivery> {
        let routed = self.route(n);
        if routed.is_empty() {
            debug!(rule_id = %n.rule_id, dedup_key = %n.dedup_key, "no channel routes this notification");
        }
        match routed.as_slice() {
            [] => vec![],
            [one] => vec![self.send_to(one, n)],
            many => thread::scope(|scope| {
                let handles: Vec<_> = many.iter().map(|c| scope.spawn(move || self.send_to(c, n))).collect();
                handles.into_iter().map(|h| h.join().expect("a delivery thread does not panic")).collect()
            }),
        }
    }

    /// Delivers to one channel whatever its route says, retrying as the channel is configured.
    pub fn send_to(&self, channel: &Channel, n: &Notification) -> Delivery {
        let policy = channel.config.retry;
        let prepared = channel.prepare(n);
        let mut attempts = 0;
        loop {
            attempts += 1;
            let failure = match channel.attempt(&prepared, n) {
                Ok(status) => {
                    info!(channel = %channel.name(), rule_id = %n.rule_id, dedup_key = %n.dedup_key,
                        attempts, status, "notification delivered");
                    return Delivery {
                        channel: channel.name().to_string(),
                        ok: true,
                        attempts,
                        status,
                        error: None,
                        dead_letter: None,
                    };
                }
                Err(failure) => failure,
            };
            let message = channel.redact(&failure.message);
            if !failure.retryable || attempts > policy.retries {
                error!(channel = %channel.name(), rule_id = %n.rule_id, dedup_key = %n.dedup_key,
                    attempts, status = failure.status, error = %message, "notification not delivered");
                let dead_letter = DeadLetter {
                    channel: channel.name().to_string(),
                    notification: serde_json::to_value(n).expect("a notification always serializes"),
                    last_error: message.clone(),
                    status: failure.status,
                    attempts,
                    failed_at_ms: chrono::Utc::now().timestamp_millis(),
                };
                return Delivery {
                    channel: channel.name().to_string(),
                    ok: false,
                    attempts,
                    status: failure.status,
                    error: Some(message),
                    dead_letter: Some(dead_letter),
                };
            }
            let wait = match failure.retry_after {
                Some(asked) => policy.server_delay(asked),
                None => policy.backoff(attempts, &mut rand::rng()),
            };
            warn!(channel = %channel.name(), rule_id = %n.rule_id, attempt = attempts, status = failure.status,
                error = %message, wait_ms = wait.as_millis() as u64, "notification attempt failed, retrying");
            sleep(wait);
        }
    }

    /// Tries a dead letter again on its channel (after an outage, or after fixing the
    /// channel's config). The new delivery may itself carry a new dead letter.
    pub fn redeliver(&self, dead_letter: &DeadLetter) -> Result<Delivery> {
        let channel = self
            .channel(&dead_letter.channel)
            .ok_or_else(|| Error::UnknownChannel { channel: dead_letter.channel.clone() })?;
        let notification = dead_letter
            .notification()
            .map_err(|source| Error::BadDeadLetter { channel: dead_letter.channel.clone(), source })?;
        Ok(self.send_to(channel, &notification))
    }
}

fn http(config: &ChannelConfig, proxy: Option<&str>) -> Result<HttpClient> {
    HttpClient::new(config.timeout, proxy)
        .map_err(|e| Error::HttpSetup { channel: config.name.clone(), message: e.to_string() })
}

fn sleep(wait: Duration) {
    if !wait.is_zero() {
        thread::sleep(wait);
    }
}
