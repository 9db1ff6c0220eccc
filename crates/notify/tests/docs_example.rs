//! The examples in docs/NOTIFICATIONS.md are real: the config validates and builds a notifier,
//! the webhook JSON reads as schema version 1, and both signature recipes agree with ours.

mod support;

use std::path::Path;
use std::process::Command;

use serde::Deserialize;
use trailwatch_notify::{ChannelKind, Notifier, RawNotifyConfig, Secret, Severity, WebhookPayload};

fn doc() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/NOTIFICATIONS.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The first fenced block of `lang`.
fn block(doc: &str, lang: &str) -> String {
    let start =
        doc.find(&format!("```{lang}\n")).unwrap_or_else(|| panic!("no {lang} block")) + lang.len() + 4;
    let len = doc[start..].find("```").unwrap();
    doc[start..start + len].to_string()
}

#[test]
fn docs_example_is_valid() {
    #[derive(Deserialize)]
    struct File {
        notify: RawNotifyConfig,
    }
    let dir = tempfile::tempdir().unwrap();
    let slack_file = dir.path().join("slack-webhook-url");
    std::fs::write(&slack_file, "https://hooks.slack.com/services/T0/B0/x\n").unwrap();
    let text =
        block(&doc(), "toml").replace("/run/secrets/slack-webhook-url", &slack_file.display().to_string());
    let file: File = toml::from_str(&text).expect("the documented config parses");
    let env = |name: &str| name.starts_with("TRAILWATCH_").then(|| format!("value-of-{name}"));
    let config = file.notify.validate(&env).expect("the documented config validates");
    let kinds: Vec<_> = config.channels.iter().map(|c| (c.name.as_str(), c.kind.type_name())).collect();
    assert_eq!(
        kinds,
        [("soc", "webhook"), ("slack-secops", "slack"), ("oncall", "pagerduty"), ("mail", "email")]
    );
    assert_eq!(config.channels[2].route.min_severity, Severity::Critical);
    let ChannelKind::Slack(slack) = &config.channels[1].kind else { panic!() };
    assert_eq!(slack.webhook_url.expose(), "https://hooks.slack.com/services/T0/B0/x");
    let notifier = Notifier::new(config).expect("the documented config builds a notifier");
    assert_eq!(notifier.channels().len(), 4);
}

#[test]
fn docs_webhook_json_is_schema_1() {
    let payload: WebhookPayload =
        serde_json::from_str(&block(&doc(), "json")).expect("documented JSON reads");
    assert_eq!(payload.version, trailwatch_notify::SCHEMA_VERSION);
    assert_eq!(payload.notification.severity, Severity::High);
    assert_eq!(payload.first_seen, trailwatch_notify::rfc3339_ms(payload.notification.first_seen_ms));
}

#[test]
fn docs_signature_recipes_agree() {
    let secret = "doc-secret";
    let body = br#"{"version":1,"sent_at":1762337105,"title":"x"}"#;
    let ours = trailwatch_notify::webhook::signature(&Secret::new(secret), body);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("body.json"), body).unwrap();

    // Python: the documented function, run on the same body.
    let python = format!(
        "{}\nimport sys\nbody = open('body.json','rb').read()\ntry:\n    verify(b'{secret}', body, '{ours}', max_age_s=10**12)\nexcept ValueError as e:\n    sys.exit(str(e))\n",
        block(&doc(), "python")
    );
    let out = Command::new(support::venv_python())
        .arg("-c")
        .arg(&python)
        .current_dir(dir.path())
        .output()
        .expect("python3 runs");
    assert!(out.status.success(), "python: {}", String::from_utf8_lossy(&out.stderr));

    // Shell: the documented openssl line prints the header value.
    let out = Command::new("sh")
        .arg("-c")
        .arg(block(&doc(), "sh"))
        .env("TRAILWATCH_WEBHOOK_SECRET", secret)
        .current_dir(dir.path())
        .output()
        .expect("sh runs");
    assert!(out.status.success(), "sh: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), ours);
}
