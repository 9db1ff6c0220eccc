//! Config validation, table style: a TOML snippet in, a validated channel or an error message out.

use super::*;

/// The `[notify]` table as the binary would hand it over, parsed and validated with a fixed
/// environment.
fn parse(toml_text: &str) -> Result<NotifyConfig, String> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        notify: RawNotifyConfig,
    }
    let env = |name: &str| match name {
        "WEBHOOK_SECRET" => Some("s3cr3t-hmac".to_string()),
        "SLACK_URL" => Some("https://hooks.slack.example/services/T/B/XYZ".to_string()),
        "PD_KEY" => Some("pd-routing-key-123".to_string()),
        "SMTP_PASSWORD" => Some("smtp-pass".to_string()),
        "EMPTY" => Some("  ".to_string()),
        _ => None,
    };
    let file: File = toml::from_str(toml_text).map_err(|e| e.to_string())?;
    file.notify.validate(&env).map_err(|e| e.to_string())
}

/// Expects an error containing every one of `needles`.
fn check_err(toml_text: &str, needles: &[&str]) {
    match parse(toml_text) {
        Ok(config) => panic!("expected an error with {needles:?}, got {config:?}"),
        Err(message) => {
            for needle in needles {
                assert!(message.contains(needle), "error {message:?} lacks {needle:?}");
            }
        }
    }
}

const WEBHOOK: &str = r#"
[[notify.channels]]
name = "soc"
type = "webhook"
url = "https://hooks.example.com/trailwatch"
secret_env = "WEBHOOK_SECRET"
min_severity = "medium"
tags = ["cloudtrail"]
rules = ["aws-*"]
timeout = "10s"
retries = 4
retry_delay = "250ms"
retry_max_delay = "30s"
"#;

#[test]
fn full_webhook_channel() {
    let config = parse(WEBHOOK).unwrap();
    let [channel] = config.channels.as_slice() else { panic!("one channel") };
    assert_eq!(channel.name, "soc");
    assert_eq!(
        channel.route,
        Route {
            min_severity: Severity::Medium,
            tags: vec!["cloudtrail".into()],
            rules: vec!["aws-*".into()]
        }
    );
    assert_eq!(channel.timeout, Duration::from_secs(10));
    assert_eq!(
        channel.retry,
        RetryPolicy {
            retries: 4,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(30)
        }
    );
    let ChannelKind::Webhook(w) = &channel.kind else { panic!("webhook") };
    assert_eq!(w.url, "https://hooks.example.com/trailwatch");
    assert_eq!(w.secret.as_ref().map(Secret::expose), Some("s3cr3t-hmac"));
}

#[test]
fn defaults() {
    let config =
        parse("[[notify.channels]]\nname = \"a\"\ntype = \"webhook\"\nurl = \"http://127.0.0.1:9/x\"\n")
            .unwrap();
    let channel = &config.channels[0];
    assert_eq!(channel.route, Route::default());
    assert_eq!(channel.timeout, DEFAULT_TIMEOUT);
    assert_eq!(channel.retry.retries, DEFAULT_RETRIES);
    let ChannelKind::Webhook(w) = &channel.kind else { panic!("webhook") };
    assert!(w.secret.is_none());
    assert!(parse("[notify]\n").unwrap().channels.is_empty());
}

#[test]
fn other_types() {
    let config = parse(
        r#"
[[notify.channels]]
name = "slack"
type = "slack"
secret_env = "SLACK_URL"

[[notify.channels]]
name = "pd"
type = "pagerduty"
secret_env = "PD_KEY"

[[notify.channels]]
name = "pd-test"
type = "pagerduty"
secret_env = "PD_KEY"
url = "http://127.0.0.1:8080/v2/enqueue"

[[notify.channels]]
name = "mail"
type = "email"
host = "smtp.example.com"
starttls = "opportunistic"
username = "trailwatch"
secret_env = "SMTP_PASSWORD"
from = "trailwatch <trailwatch@example.com>"
to = ["soc@example.com", "Bob <bob@example.com>"]
"#,
    )
    .unwrap();
    let kinds: Vec<_> = config.channels.iter().map(|c| c.kind.type_name()).collect();
    assert_eq!(kinds, ["slack", "pagerduty", "pagerduty", "email"]);
    let ChannelKind::PagerDuty(pd) = &config.channels[1].kind else { panic!() };
    assert_eq!(pd.url, PAGERDUTY_EVENTS_URL);
    let ChannelKind::PagerDuty(pd) = &config.channels[2].kind else { panic!() };
    assert_eq!(pd.url, "http://127.0.0.1:8080/v2/enqueue");
    let ChannelKind::Email(mail) = &config.channels[3].kind else { panic!() };
    assert_eq!((mail.port, mail.starttls), (587, StartTls::Opportunistic));
    assert_eq!(mail.password.as_ref().map(Secret::expose), Some("smtp-pass"));
}

#[test]
fn errors_name_the_channel_and_key() {
    let webhook = |extra: &str| format!("[[notify.channels]]\nname = \"soc\"\ntype = \"webhook\"\n{extra}\n");
    // Unknown keys are rejected by serde with the key's name.
    check_err(&webhook("url = \"https://x.example\"\nsecrt_env = \"A\""), &["unknown field", "secrt_env"]);
    check_err("[notify]\nchanels = []\n", &["unknown field", "chanels"]);
    check_err(
        &webhook("url = \"https://x.example\"\nmin_severity = \"hgh\""),
        &["\"soc\"", "min_severity", "hgh"],
    );
    check_err(&webhook("url = \"https://x.example\"\ntimeout = \"10\""), &["\"soc\"", "timeout"]);
    check_err(&webhook("url = \"https://x.example\"\ntimeout = \"0s\""), &["\"soc\"", "timeout"]);
    check_err(&webhook("url = \"ftp://x.example\""), &["\"soc\"", "url", "ftp://"]);
    check_err(&webhook(""), &["\"soc\"", "`url` is required", "webhook"]);
    check_err(&webhook("url = \"https://x.example\"\nhost = \"smtp\""), &["\"soc\"", "`host`", "webhook"]);
    check_err(&webhook("url = \"https://x.example\"\nrules = [\"\"]"), &["\"soc\"", "rules"]);
    check_err(
        &webhook("url = \"https://x.example\"\nretry_delay = \"10s\"\nretry_max_delay = \"1s\""),
        &["\"soc\"", "retry_max_delay"],
    );
    check_err(
        "[[notify.channels]]\nname = \"soc\"\ntype = \"teams\"\n",
        &["\"soc\"", "unknown type \"teams\"", "webhook, slack, pagerduty or email"],
    );
    check_err("[[notify.channels]]\nname = \" \"\ntype = \"slack\"\n", &["#0", "name is empty"]);
    check_err("[[notify.channels]]\ntype = \"slack\"\n", &["missing field", "name"]);
}

#[test]
fn duplicate_names() {
    let one = "[[notify.channels]]\nname = \"soc\"\ntype = \"webhook\"\nurl = \"https://x.example\"\n";
    check_err(&format!("{one}{one}"), &["\"soc\"", "used by another channel"]);
}

#[test]
fn missing_secrets() {
    check_err(
        "[[notify.channels]]\nname = \"soc\"\ntype = \"webhook\"\nurl = \"https://x.example\"\nsecret_env = \"NOPE\"\n",
        &["\"soc\"", "NOPE", "not set"],
    );
    check_err(
        "[[notify.channels]]\nname = \"s\"\ntype = \"slack\"\nsecret_env = \"EMPTY\"\n",
        &["\"s\"", "EMPTY", "not set or empty"],
    );
    check_err("[[notify.channels]]\nname = \"s\"\ntype = \"slack\"\n", &["\"s\"", "secret_env", "required"]);
    check_err("[[notify.channels]]\nname = \"pd\"\ntype = \"pagerduty\"\n", &["\"pd\"", "secret_env"]);
    check_err(
        "[[notify.channels]]\nname = \"pd\"\ntype = \"pagerduty\"\nsecret_file = \"/nonexistent/key\"\n",
        &["\"pd\"", "/nonexistent/key"],
    );
    check_err(
        "[[notify.channels]]\nname = \"pd\"\ntype = \"pagerduty\"\nsecret_env = \"PD_KEY\"\nsecret_file = \"/x\"\n",
        &["\"pd\"", "not both"],
    );
}

#[test]
fn secret_file_is_trimmed_and_never_shown() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("key");
    std::fs::write(&path, "pd-file-key\n").unwrap();
    let config = parse(&format!(
        "[[notify.channels]]\nname = \"pd\"\ntype = \"pagerduty\"\nsecret_file = {:?}\n",
        path.display().to_string()
    ))
    .unwrap();
    let ChannelKind::PagerDuty(pd) = &config.channels[0].kind else { panic!() };
    assert_eq!(pd.routing_key.expose(), "pd-file-key");
    let debug = format!("{config:?}");
    assert!(!debug.contains("pd-file-key"), "{debug}");
    assert!(debug.contains("Secret(***)"), "{debug}");

    let slack =
        parse("[[notify.channels]]\nname = \"s\"\ntype = \"slack\"\nsecret_env = \"SLACK_URL\"\n").unwrap();
    assert!(!format!("{slack:?}").contains("XYZ"));
}

#[test]
fn email_errors() {
    let email = |extra: &str| {
        format!(
            "[[notify.channels]]\nname = \"mail\"\ntype = \"email\"\nhost = \"smtp.example.com\"\n{extra}\n"
        )
    };
    check_err(&email("to = [\"a@example.com\"]"), &["\"mail\"", "`from` is required"]);
    check_err(&email("from = \"tw@example.com\""), &["\"mail\"", "`to` is required"]);
    check_err(&email("from = \"tw@example.com\"\nto = []"), &["\"mail\"", "`to` is required"]);
    check_err(&email("from = \"not an address\"\nto = [\"a@example.com\"]"), &["\"mail\"", "from"]);
    check_err(&email("from = \"tw@example.com\"\nto = [\"a@\"]"), &["\"mail\"", "to", "a@"]);
    check_err(
        &email("from = \"tw@example.com\"\nto = [\"a@example.com\"]\nstarttls = \"always\""),
        &["\"mail\"", "starttls", "always"],
    );
    check_err(
        &email("from = \"tw@example.com\"\nto = [\"a@example.com\"]\nsecret_env = \"SMTP_PASSWORD\""),
        &["\"mail\"", "`username` is required"],
    );
    check_err(&email("from = \"tw@example.com\"\nto = [\"a@example.com\"]\nurl = \"https://x\""), &["`url`"]);
}

#[test]
fn durations() {
    assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
    assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
    assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
    assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
    for bad in ["", "10", "s", "1.5s", "10 days", "-1s"] {
        assert!(parse_duration(bad).is_err(), "{bad:?}");
    }
}
