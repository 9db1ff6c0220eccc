//! The `[notify]` config section: raw serde structs as written in TOML, and `validate()` into
//! the domain types the notifier runs on (secrets resolved, durations parsed, keys checked per
//! channel type).

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::notification::Severity;
use crate::retry::RetryPolicy;
use crate::route::Route;

/// The PagerDuty Events API v2 endpoint, used unless a channel sets `url`.
pub const PAGERDUTY_EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_RETRIES: u32 = 3;
const DEFAULT_RETRY_DELAY: Duration = Duration::from_secs(1);
const DEFAULT_RETRY_MAX_DELAY: Duration = Duration::from_secs(60);

/// `[notify]` as written. Unknown keys are errors that name the key.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNotifyConfig {
    #[serde(default)]
    pub channels: Vec<RawChannel>,
}

/// One `[[notify.channels]]` table as written. It is flat (every key of every type) because
/// serde cannot combine `deny_unknown_fields` with a flattened common part; `validate` then
/// rejects keys that do not apply to the channel's type, naming the channel.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawChannel {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub url: Option<String>,
    pub secret_env: Option<String>,
    pub secret_file: Option<PathBuf>,
    pub min_severity: Option<String>,
    pub tags: Option<Vec<String>>,
    pub rules: Option<Vec<String>>,
    pub timeout: Option<String>,
    pub retries: Option<u32>,
    pub retry_delay: Option<String>,
    pub retry_max_delay: Option<String>,
    pub proxy: Option<String>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub starttls: Option<String>,
    pub username: Option<String>,
    pub from: Option<String>,
    pub to: Option<Vec<String>>,
    pub ca_file: Option<PathBuf>,
}

/// A secret value (token, password, webhook URL). Its `Debug` and `Display` never show it, so
/// a config or error can be logged whole.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value itself: only for putting it on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// The validated section.
#[derive(Debug, Clone, Default)]
pub struct NotifyConfig {
    pub channels: Vec<ChannelConfig>,
}

/// One validated channel.
#[derive(Debug, Clone)]
pub struct ChannelConfig {
    pub name: String,
    pub route: Route,
    pub retry: RetryPolicy,
    /// For one attempt as a whole (connect, send, answer).
    pub timeout: Duration,
    pub kind: ChannelKind,
}

#[derive(Debug, Clone)]
pub enum ChannelKind {
    Webhook(WebhookConfig),
    Slack(SlackConfig),
    PagerDuty(PagerDutyConfig),
    Email(EmailConfig),
}

impl ChannelKind {
    pub fn type_name(&self) -> &'static str {
        match self {
            ChannelKind::Webhook(_) => "webhook",
            ChannelKind::Slack(_) => "slack",
            ChannelKind::PagerDuty(_) => "pagerduty",
            ChannelKind::Email(_) => "email",
        }
    }
}

#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub url: String,
    /// The HMAC key for `X-Trailwatch-Signature`; without one, requests are not signed.
    pub secret: Option<Secret>,
    pub proxy: Option<String>,
}

#[derive(Debug, Clone)]
pub struct SlackConfig {
    /// The incoming webhook URL: whoever has it can post to the channel, so it is a secret.
    pub webhook_url: Secret,
    pub proxy: Option<String>,
}

#[derive(Debug, Clone)]
pub struct PagerDutyConfig {
    pub url: String,
    pub routing_key: Secret,
    pub proxy: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartTls {
    /// Fail unless the server offers STARTTLS and the certificate verifies.
    Required,
    /// Upgrade when offered, else send in the clear.
    Opportunistic,
    /// Never upgrade (local relays only).
    Never,
}

#[derive(Debug, Clone)]
pub struct EmailConfig {
    pub host: String,
    pub port: u16,
    pub starttls: StartTls,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub from: String,
    pub to: Vec<String>,
    /// Extra trusted roots (PEM), e.g. a private CA; the public web roots stay trusted too.
    pub ca_file: Option<PathBuf>,
}

/// What is wrong with the section. Every variant names the channel; none carries a secret.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("notify channel #{index}: name is empty")]
    EmptyName { index: usize },
    #[error("notify channel {channel:?}: the name is used by another channel too")]
    DuplicateName { channel: String },
    #[error(
        "notify channel {channel:?}: unknown type {kind:?} (expected webhook, slack, pagerduty or email)"
    )]
    UnknownType { channel: String, kind: String },
    #[error("notify channel {channel:?}: `{key}` is required for type {kind}")]
    MissingKey { channel: String, kind: &'static str, key: &'static str },
    #[error("notify channel {channel:?}: `{key}` does not apply to type {kind}")]
    KeyNotForType { channel: String, kind: &'static str, key: &'static str },
    #[error("notify channel {channel:?}: bad `{key}`: {problem}")]
    BadValue { channel: String, key: &'static str, problem: String },
    #[error("notify channel {channel:?}: environment variable {var} is not set or empty")]
    MissingSecretEnv { channel: String, var: String },
    #[error("notify channel {channel:?}: cannot read secret_file {path}: {source}")]
    SecretFile { channel: String, path: PathBuf, source: std::io::Error },
    #[error("notify channel {channel:?}: secret_file {path} is empty")]
    EmptySecretFile { channel: String, path: PathBuf },
}

/// How `validate` looks up `secret_env` names. The binary passes `std::env::var(..).ok()`;
/// tests pass a map. (Library crates never read the environment themselves.)
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

impl RawNotifyConfig {
    pub fn validate(self, env: EnvLookup<'_>) -> Result<NotifyConfig, ConfigError> {
        let mut seen: HashMap<String, ()> = HashMap::new();
        let mut channels = Vec::with_capacity(self.channels.len());
        for (index, raw) in self.channels.into_iter().enumerate() {
            if raw.name.trim().is_empty() {
                return Err(ConfigError::EmptyName { index });
            }
            if seen.insert(raw.name.clone(), ()).is_some() {
                return Err(ConfigError::DuplicateName { channel: raw.name });
            }
            channels.push(raw.validate(env)?);
        }
        Ok(NotifyConfig { channels })
    }
}

/// The keys only some types use, with whether the raw channel has them set.
fn type_specific_keys(raw: &RawChannel) -> [(&'static str, bool); 9] {
    [
        ("url", raw.url.is_some()),
        ("proxy", raw.proxy.is_some()),
        ("host", raw.host.is_some()),
        ("port", raw.port.is_some()),
        ("starttls", raw.starttls.is_some()),
        ("username", raw.username.is_some()),
        ("from", raw.from.is_some()),
        ("to", raw.to.is_some()),
        ("ca_file", raw.ca_file.is_some()),
    ]
}

impl RawChannel {
    pub fn validate(self, env: EnvLookup<'_>) -> Result<ChannelConfig, ConfigError> {
        let channel = self.name.clone();
        let kind: &'static str = match self.kind.as_str() {
            "webhook" => "webhook",
            "slack" => "slack",
            "pagerduty" => "pagerduty",
            "email" => "email",
            _ => return Err(ConfigError::UnknownType { channel, kind: self.kind }),
        };
        let allowed: &[&str] = match kind {
            "webhook" => &["url", "proxy"],
            "slack" => &["proxy"],
            "pagerduty" => &["url", "proxy"],
            _ => &["host", "port", "starttls", "username", "from", "to", "ca_file"],
        };
        for (key, set) in type_specific_keys(&self) {
            if set && !allowed.contains(&key) {
                return Err(ConfigError::KeyNotForType { channel, kind, key });
            }
        }
        let bad = |key: &'static str, problem: String| ConfigError::BadValue {
            channel: channel.clone(),
            key,
            problem,
        };
        let missing = |key: &'static str| ConfigError::MissingKey { channel: channel.clone(), kind, key };

        let min_severity = match &self.min_severity {
            Some(s) => s.parse::<Severity>().map_err(|e| bad("min_severity", e.to_string()))?,
            None => Severity::Info,
        };
        let rules = self.rules.clone().unwrap_or_default();
        if rules.iter().any(|r| r.is_empty()) {
            return Err(bad("rules", "a rule glob is empty".into()));
        }
        let route = Route { min_severity, tags: self.tags.clone().unwrap_or_default(), rules };
        let duration = |key: &'static str, value: &Option<String>, default: Duration| match value {
            Some(s) => parse_duration(s).map_err(|problem| bad(key, problem)),
            None => Ok(default),
        };
        let timeout = duration("timeout", &self.timeout, DEFAULT_TIMEOUT)?;
        if timeout.is_zero() {
            return Err(bad("timeout", "must be more than zero".into()));
        }
        let retry = RetryPolicy {
            retries: self.retries.unwrap_or(DEFAULT_RETRIES),
            base_delay: duration("retry_delay", &self.retry_delay, DEFAULT_RETRY_DELAY)?,
            max_delay: duration("retry_max_delay", &self.retry_max_delay, DEFAULT_RETRY_MAX_DELAY)?,
        };
        if retry.max_delay < retry.base_delay {
            return Err(bad("retry_max_delay", "is shorter than retry_delay".into()));
        }
        if let Some(proxy) = &self.proxy {
            check_http_url(proxy).map_err(|problem| bad("proxy", problem))?;
        }
        let secret = self.secret(env)?;

        let kind = match kind {
            "webhook" => {
                let url = self.url.ok_or_else(|| missing("url"))?;
                check_http_url(&url).map_err(|problem| bad("url", problem))?;
                ChannelKind::Webhook(WebhookConfig { url, secret, proxy: self.proxy })
            }
            "slack" => {
                let webhook_url = secret.ok_or_else(|| missing("secret_env` or `secret_file"))?;
                // Say what is wrong without echoing the URL: it is the secret.
                check_http_url(webhook_url.expose())
                    .map_err(|_| bad("secret_env", "the Slack webhook URL is not an http(s) URL".into()))?;
                ChannelKind::Slack(SlackConfig { webhook_url, proxy: self.proxy })
            }
            "pagerduty" => {
                let url = self.url.unwrap_or_else(|| PAGERDUTY_EVENTS_URL.to_string());
                check_http_url(&url).map_err(|problem| bad("url", problem))?;
                let routing_key = secret.ok_or_else(|| missing("secret_env` or `secret_file"))?;
                ChannelKind::PagerDuty(PagerDutyConfig { url, routing_key, proxy: self.proxy })
            }
            _ => {
                let host = self.host.ok_or_else(|| missing("host"))?;
                let starttls = match self.starttls.as_deref() {
                    None | Some("required") => StartTls::Required,
                    Some("opportunistic") => StartTls::Opportunistic,
                    Some("never") => StartTls::Never,
                    Some(other) => {
                        return Err(bad(
                            "starttls",
                            format!("{other:?} (expected required, opportunistic or never)"),
                        ))
                    }
                };
                let from = self.from.ok_or_else(|| missing("from"))?;
                check_mailbox(&from).map_err(|problem| bad("from", problem))?;
                let to = self.to.unwrap_or_default();
                if to.is_empty() {
                    return Err(missing("to"));
                }
                for address in &to {
                    check_mailbox(address).map_err(|problem| bad("to", problem))?;
                }
                if secret.is_some() && self.username.is_none() {
                    return Err(missing("username"));
                }
                ChannelKind::Email(EmailConfig {
                    host,
                    // 587 is the submission port, where STARTTLS is expected.
                    port: self.port.unwrap_or(587),
                    starttls,
                    username: self.username,
                    password: secret,
                    from,
                    to,
                    ca_file: self.ca_file,
                })
            }
        };
        Ok(ChannelConfig { name: self.name, route, retry, timeout, kind })
    }

    /// Reads the channel's secret from `secret_env` or `secret_file` (not both).
    fn secret(&self, env: EnvLookup<'_>) -> Result<Option<Secret>, ConfigError> {
        let channel = || self.name.clone();
        match (&self.secret_env, &self.secret_file) {
            (Some(_), Some(_)) => Err(ConfigError::BadValue {
                channel: channel(),
                key: "secret_file",
                problem: "set either secret_env or secret_file, not both".into(),
            }),
            (Some(var), None) => match env(var) {
                Some(value) if !value.trim().is_empty() => Ok(Some(Secret(value.trim().to_string()))),
                _ => Err(ConfigError::MissingSecretEnv { channel: channel(), var: var.clone() }),
            },
            (None, Some(path)) => {
                let value = std::fs::read_to_string(path).map_err(|source| ConfigError::SecretFile {
                    channel: channel(),
                    path: path.clone(),
                    source,
                })?;
                // Files written by `echo` or secret managers end with a newline; it is not
                // part of the secret.
                let value = value.trim();
                if value.is_empty() {
                    return Err(ConfigError::EmptySecretFile { channel: channel(), path: path.clone() });
                }
                Ok(Some(Secret(value.to_string())))
            }
            (None, None) => Ok(None),
        }
    }
}

/// `500ms`, `10s`, `2m`, `1h`: a whole number and a unit (a bare number is ambiguous).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let n: u64 = number.parse().map_err(|_| format!("{s:?} is not a duration like 500ms, 10s or 2m"))?;
    match unit.trim() {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        "h" => Ok(Duration::from_secs(n * 3600)),
        _ => Err(format!("{s:?} is not a duration like 500ms, 10s or 2m (units: ms, s, m, h)")),
    }
}

fn check_http_url(url: &str) -> Result<(), String> {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(rest) if !rest.is_empty() && !rest.starts_with('/') => Ok(()),
        _ => Err(format!("{url:?} is not an http:// or https:// URL")),
    }
}

fn check_mailbox(address: &str) -> Result<(), String> {
    address.parse::<lettre::message::Mailbox>().map(|_| ()).map_err(|e| format!("{address:?}: {e}"))
}

#[cfg(test)]
mod tests;
