//! The configuration file (`--config`, TOML): raw structs that reject unknown keys, validated
//! into what the commands use. Each crate owns its section (`[notify]` is trailwatch-notify's).

use std::path::Path;

use serde::Deserialize;
use trailwatch_notify::{Notifier, RawNotifyConfig};

use crate::Fail;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    ui: RawUi,
    #[serde(default)]
    notify: RawNotifyConfig,
    #[serde(default)]
    detect: RawDetect,
    /// Settings shared by the AWS accounts (trailwatch-aws's, docs/AWS.md).
    #[serde(default)]
    aws: trailwatch_aws::RawAws,
    /// The AWS accounts to read.
    #[serde(default)]
    accounts: Vec<trailwatch_aws::RawAccount>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDetect {
    /// GeoLite2 City Blocks CSV files (IPv4 and IPv6) for the impossible-travel rules.
    #[serde(default)]
    geoip: Vec<std::path::PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUi {
    /// Where people reach the UI; notifications link back to it.
    #[serde(default)]
    url: Option<String>,
}

/// The validated configuration.
pub struct Config {
    pub ui_url: Option<String>,
    /// `None` when no channel is configured.
    pub notifier: Option<Notifier>,
    /// Geo data for travel rules, when configured.
    pub geo: Option<std::sync::Arc<trailwatch_detect::geo::GeoDb>>,
    /// The AWS accounts and how to read them (no accounts when none are configured).
    pub aws: trailwatch_aws::AwsConfig,
}

impl Config {
    /// Reads `path`, or the defaults (no channels) when there is none.
    pub fn load(path: Option<&Path>) -> Result<Config, Fail> {
        let raw = match path {
            None => RawConfig::default(),
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| Fail::usage(format!("cannot read config {}: {e}", p.display())))?;
                toml::from_str::<RawConfig>(&text).map_err(|e| {
                    let line = e.span().map(|s| text[..s.start].matches('\n').count() + 1);
                    let at = line.map(|l| format!(":{l}")).unwrap_or_default();
                    Fail::usage(format!("{}{at}: {}", p.display(), e.message()))
                })?
            }
        };
        let env = |name: &str| std::env::var(name).ok();
        let where_ = path.map(|p| p.display().to_string()).unwrap_or_default();
        let notify = raw.notify.validate(&env).map_err(|e| Fail::usage(format!("{where_}: [notify] {e}")))?;
        let notifier = if notify.channels.is_empty() {
            None
        } else {
            Some(Notifier::new(notify).map_err(|e| Fail::usage(format!("{where_}: [notify] {e}")))?)
        };
        let ui_url = raw.ui.url.map(|u| u.trim_end_matches('/').to_owned());
        let geo = if raw.detect.geoip.is_empty() {
            None
        } else {
            // Relative paths are relative to the configuration file.
            let base = path.and_then(Path::parent).unwrap_or(Path::new("."));
            let files: Vec<_> = raw.detect.geoip.iter().map(|p| base.join(p)).collect();
            let db = trailwatch_detect::geo::GeoDb::from_files(&files)
                .map_err(|e| Fail::usage(format!("{where_}: [detect] geoip: {e}")))?;
            Some(std::sync::Arc::new(db))
        };
        let aws = trailwatch_aws::AwsConfig::validate(&raw.aws, &raw.accounts, &env)
            .map_err(|e| Fail::usage(format!("{where_}: {e}")))?;
        Ok(Config { ui_url, notifier, geo, aws })
    }
}
