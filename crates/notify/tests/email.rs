//! The email channel against a real SMTP server (aiosmtpd from the repo's venv): plain SMTP,
//! STARTTLS with a private CA, and the failures STARTTLS must cause.

mod support;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose};
use support::{closed_port, notification, notifier, SmtpSink};
use trailwatch_notify::{Action, Notification};

fn email_config(port: u16, starttls: &str, extra: &str) -> String {
    format!(
        r#"
[[notify.channels]]
name = "mail"
type = "email"
host = "127.0.0.1"
port = {port}
starttls = "{starttls}"
from = "trailwatch <trailwatch@example.com>"
to = ["soc@example.com", "Bob <bob@example.com>"]
timeout = "10s"
retries = 1
retry_delay = "10ms"
{extra}
"#
    )
}

/// The mail's headers and its decoded text part (lettre sends quoted-printable or base64 as
/// it sees fit, so the test decodes via Python's email parser rather than guessing).
fn parse_mail(raw: &str) -> (String, String) {
    let python = support::venv_python();
    let out = std::process::Command::new(python)
        .args([
            "-c",
            "import sys, email, email.policy\n\
             m = email.message_from_string(sys.stdin.read(), policy=email.policy.default)\n\
             print(m['Subject']); print(m['To'])\n\
             print(m.get_body(('plain',)).get_content())\n\
             print('=====HTML=====')\n\
             print(m.get_body(('html',)).get_content())",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(raw.as_bytes())?;
            child.wait_with_output()
        })
        .expect("python parses the mail");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let (head, body) = text.split_once('\n').unwrap();
    (head.to_string(), body.to_string())
}

#[test]
fn plain_smtp_delivers_subject_and_body() {
    let sink = SmtpSink::start(None);
    let notifier = notifier(&email_config(sink.port, "never", ""), &[]);
    let n = notification();
    let d = &notifier.send(&n)[0];
    assert!(d.ok, "{d:?}");
    assert_eq!((d.attempts, d.status), (1, Some(250)));

    let messages = sink.wait_for(1);
    assert_eq!(messages.len(), 1, "one message for both recipients");
    let (subject, rest) = parse_mail(&messages[0]);
    assert_eq!(
        subject,
        "[trailwatch][HIGH] CloudTrail logging stopped: CloudTrail logging stopped by bob in 123456789012"
    );
    assert!(rest.starts_with("soc@example.com, Bob <bob@example.com>"), "{rest}");
    for needle in [
        "CloudTrail logging stopped by bob in 123456789012",
        "Rule:       CloudTrail logging stopped (aws-cloudtrail-stopped)",
        "Severity:   high",
        "Count:      3",
        "First seen: 2025-11-05T10:00:00.000Z",
        "MITRE:      T1562.008",
        "StopLogging was called on trail management-events.",
        "Runbook:\n1. Check whether bob meant to stop the trail.",
        "0b9a6c2e-1111-4a3b-9c1d-000000000001",
        "=====HTML=====",
        "<a href=\"http://127.0.0.1:7070/signals/aws-cloudtrail-stopped?group=bob\">Open in trailwatch</a>",
    ] {
        assert!(rest.contains(needle), "{needle:?} not in:\n{rest}");
    }
}

#[test]
fn resolve_subject() {
    let sink = SmtpSink::start(None);
    let notifier = notifier(&email_config(sink.port, "never", ""), &[]);
    let d = &notifier.send(&Notification { action: Action::Resolve, ..notification() })[0];
    assert!(d.ok, "{d:?}");
    let (subject, rest) = parse_mail(&sink.wait_for(1)[0]);
    assert!(subject.starts_with("[trailwatch][RESOLVED][HIGH] CloudTrail logging stopped: "), "{subject}");
    assert!(rest.contains("This signal is resolved."));
}

/// A private CA and a server certificate for 127.0.0.1 signed by it: (CA PEM, server cert PEM,
/// server key PEM).
fn private_ca() -> (String, String, String) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "trailwatch test CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let mut server_params =
        CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    server_params.distinguished_name.push(DnType::CommonName, "127.0.0.1");
    let server_key = KeyPair::generate().unwrap();
    let server = server_params.signed_by(&server_key, &ca).unwrap();
    (ca.pem(), server.pem(), server_key.serialize_pem())
}

#[test]
fn starttls_required_with_a_private_ca() {
    let (ca, cert, key) = private_ca();
    let sink = SmtpSink::start(Some((&cert, &key)));
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca).unwrap();

    let config =
        email_config(sink.port, "required", &format!("ca_file = {:?}", ca_file.display().to_string()));
    let d = &notifier(&config, &[]).send(&notification())[0];
    assert!(d.ok, "{d:?}");
    let messages = sink.wait_for(1);
    assert_eq!(messages.len(), 1);
    let (subject, _) = parse_mail(&messages[0]);
    assert!(subject.starts_with("[trailwatch][HIGH] "), "{subject}");
    // The sink records how the message came in: over TLS, after STARTTLS.
    assert!(messages[0].contains("X-Peer"), "aiosmtpd's Mailbox adds X-Peer");

    // Opportunistic also upgrades (the server requires TLS, so it must have).
    let config =
        email_config(sink.port, "opportunistic", &format!("ca_file = {:?}", ca_file.display().to_string()));
    assert!(notifier(&config, &[]).send(&notification())[0].ok);
    assert_eq!(sink.wait_for(2).len(), 2);
}

#[test]
fn starttls_required_fails_without_trusting_the_ca() {
    let (_ca, cert, key) = private_ca();
    let sink = SmtpSink::start(Some((&cert, &key)));
    let d = &notifier(&email_config(sink.port, "required", ""), &[]).send(&notification())[0];
    assert!(!d.ok);
    // A certificate that does not verify fails the same way next time: no retry.
    assert_eq!(d.attempts, 1, "{d:?}");
    assert!(d.error.as_deref().unwrap().contains("UnknownIssuer"), "{d:?}");
    assert!(d.dead_letter.is_some());
    assert!(sink.messages().is_empty());
}

#[test]
fn starttls_required_fails_when_the_server_does_not_offer_it() {
    let sink = SmtpSink::start(None);
    let d = &notifier(&email_config(sink.port, "required", ""), &[]).send(&notification())[0];
    assert!(!d.ok, "{d:?}");
    assert_eq!(d.attempts, 1, "{d:?}");
    assert!(d.error.as_deref().unwrap().contains("STARTTLS"), "{d:?}");
    assert!(d.dead_letter.is_some());
    assert!(sink.messages().is_empty(), "nothing may go out in the clear");
}

#[test]
fn password_is_not_in_debug_output() {
    let config = email_config(25, "never", "username = \"tw\"\nsecret_env = \"SMTP_PASSWORD\"");
    let notifier = notifier(&config, &[("SMTP_PASSWORD", "hunter2-smtp")]);
    let debug = format!("{notifier:?}");
    assert!(debug.contains("\"mail\"") && !debug.contains("hunter2-smtp"), "{debug}");
}

#[test]
fn unreachable_server_is_retried() {
    let d = &notifier(&email_config(closed_port(), "never", ""), &[]).send(&notification())[0];
    assert!(!d.ok);
    assert_eq!(d.attempts, 2, "{d:?}");
    assert!(d.dead_letter.is_some());
}
