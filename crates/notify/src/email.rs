//! Email over SMTP (lettre, blocking, rustls): the message people read, and the transport
//! with STARTTLS as the channel asks for it.

use std::fmt::Write as _;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{Message, SmtpTransport, Transport};

use crate::config::{EmailConfig, StartTls};
use crate::http::USER_AGENT;
use crate::notification::{rfc3339_ms, Action, Notification};
use crate::retry::AttemptError;

/// Why an email channel could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum EmailSetupError {
    #[error("cannot read ca_file {path}: {source}")]
    CaFile { path: std::path::PathBuf, source: std::io::Error },
    #[error("ca_file {path} holds no usable PEM certificate: {message}")]
    CaPem { path: std::path::PathBuf, message: String },
    #[error("tls setup: {0}")]
    Tls(String),
}

/// `[trailwatch][HIGH] rule name: title` (`[trailwatch][RESOLVED][HIGH] …` for a resolve).
pub fn subject(n: &Notification) -> String {
    let sev = n.severity.as_str().to_uppercase();
    let resolved = if n.action == Action::Resolve { "[RESOLVED]" } else { "" };
    // A header must stay on one line whatever the rule author wrote.
    let one_line = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    format!("[trailwatch]{resolved}[{sev}] {}: {}", one_line(&n.rule_name), one_line(&n.title))
}

/// The plain-text body.
pub fn text_body(n: &Notification) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}\n", n.title);
    if n.action == Action::Resolve {
        let _ = writeln!(out, "This signal is resolved.\n");
    }
    for (label, value) in fields(n) {
        let _ = writeln!(out, "{:<12}{}", format!("{label}:"), value);
    }
    if !n.description.is_empty() {
        let _ = writeln!(out, "\n{}", n.description);
    }
    if let Some(runbook) = n.runbook.as_deref().filter(|r| !r.trim().is_empty()) {
        let _ = writeln!(out, "\nRunbook:\n{}", runbook.trim());
    }
    if !n.sample_event_ids.is_empty() {
        let _ = writeln!(out, "\nSample events:");
        for id in &n.sample_event_ids {
            let _ = writeln!(out, "  {id}");
        }
    }
    let _ = writeln!(out, "\n-- \nSent by {USER_AGENT} · dedup key {}", n.dedup_key);
    out
}

/// The HTML alternative: the same content, escaped.
pub fn html_body(n: &Notification) -> String {
    let mut out = String::from("<!DOCTYPE html><html><body style=\"font-family:sans-serif\">");
    let _ = write!(out, "<h2>{}</h2>", html(&n.title));
    if n.action == Action::Resolve {
        out.push_str("<p><b>This signal is resolved.</b></p>");
    }
    out.push_str("<table cellpadding=\"3\">");
    for (label, value) in fields(n) {
        let _ = write!(out, "<tr><th align=\"left\">{}</th><td>{}</td></tr>", html(label), html(&value));
    }
    out.push_str("</table>");
    if let Some(link) = &n.link {
        let _ = write!(out, "<p><a href=\"{}\">Open in trailwatch</a></p>", html(link));
    }
    if !n.description.is_empty() {
        let _ = write!(out, "<p>{}</p>", html(&n.description));
    }
    if let Some(runbook) = n.runbook.as_deref().filter(|r| !r.trim().is_empty()) {
        let _ = write!(out, "<h3>Runbook</h3><pre>{}</pre>", html(runbook.trim()));
    }
    out.push_str("</body></html>");
    out
}

fn fields(n: &Notification) -> Vec<(&'static str, String)> {
    let mut fields = vec![
        ("Rule", format!("{} ({})", n.rule_name, n.rule_id)),
        ("Severity", n.severity.to_string()),
        ("Group", n.group.clone()),
        ("Count", n.count.to_string()),
        ("First seen", rfc3339_ms(n.first_seen_ms)),
        ("Last seen", rfc3339_ms(n.last_seen_ms)),
    ];
    if !n.mitre.is_empty() {
        fields.push(("MITRE", n.mitre.join(", ")));
    }
    if !n.tags.is_empty() {
        fields.push(("Tags", n.tags.join(", ")));
    }
    if let Some(link) = &n.link {
        fields.push(("Link", link.clone()));
    }
    fields
}

fn html(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A built SMTP channel: the transport (one connection per message; alerts are rare enough
/// that a pool would only hold idle connections open) and the parsed addresses.
pub(crate) struct EmailTransport {
    transport: SmtpTransport,
    from: Mailbox,
    to: Vec<Mailbox>,
}

impl EmailTransport {
    pub fn new(
        config: &EmailConfig,
        timeout: std::time::Duration,
    ) -> Result<EmailTransport, EmailSetupError> {
        let tls = match config.starttls {
            StartTls::Never => Tls::None,
            mode => {
                let mut params = TlsParameters::builder(config.host.clone());
                if let Some(path) = &config.ca_file {
                    let pem = std::fs::read(path)
                        .map_err(|source| EmailSetupError::CaFile { path: path.clone(), source })?;
                    let cert = Certificate::from_pem(&pem)
                        .map_err(|e| EmailSetupError::CaPem { path: path.clone(), message: e.to_string() })?;
                    params = params.add_root_certificate(cert);
                }
                let params = params.build_rustls().map_err(|e| EmailSetupError::Tls(e.to_string()))?;
                if mode == StartTls::Required {
                    Tls::Required(params)
                } else {
                    Tls::Opportunistic(params)
                }
            }
        };
        let mut builder = SmtpTransport::builder_dangerous(config.host.clone())
            .port(config.port)
            .tls(tls)
            .timeout(Some(timeout));
        if let (Some(user), Some(password)) = (&config.username, &config.password) {
            builder = builder.credentials(Credentials::new(user.clone(), password.expose().to_string()));
        }
        // Addresses were checked by validate(); parse again here to keep the typed values.
        let parse = |a: &str| a.parse::<Mailbox>().map_err(|e| EmailSetupError::Tls(format!("{a:?}: {e}")));
        Ok(EmailTransport {
            transport: builder.build(),
            from: parse(&config.from)?,
            to: config.to.iter().map(|a| parse(a)).collect::<Result<_, _>>()?,
        })
    }

    pub fn send(&self, n: &Notification) -> Result<Option<u16>, AttemptError> {
        let mut message = Message::builder().from(self.from.clone()).subject(subject(n));
        for to in &self.to {
            message = message.to(to.clone());
        }
        let message = message
            .multipart(MultiPart::alternative_plain_html(text_body(n), html_body(n)))
            .map_err(|e| AttemptError::permanent(None, format!("building the message: {e}")))?;
        match self.transport.send(&message) {
            Ok(response) => Ok(code(&response.code())),
            Err(e) => {
                let status = e.status().map(|c| code(&c)).unwrap_or(None);
                let message = error_chain(&e);
                // 5xx replies (bad recipient, auth refused) and TLS failures (certificate,
                // no STARTTLS offered when required) fail the same way next time; 4xx replies,
                // timeouts and dropped connections may pass.
                if e.is_permanent() || e.is_tls() || e.is_client() || is_tls_failure(&e) {
                    Err(AttemptError::permanent(status, message))
                } else {
                    Err(AttemptError::retryable(status, message))
                }
            }
        }
    }
}

fn code(code: &lettre::transport::smtp::response::Code) -> Option<u16> {
    code.to_string().parse().ok()
}

/// Whether a TLS handshake failed (certificate not trusted, wrong name, no common version).
/// lettre reports these as network errors wrapping the rustls error in an `io::Error`.
fn is_tls_failure(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(e);
    while let Some(s) = source {
        let inner = s
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .map(|i| i as &dyn std::error::Error);
        if s.is::<rustls::Error>() || inner.is_some_and(|i| i.is::<rustls::Error>()) {
            return true;
        }
        source = s.source();
    }
    false
}

/// lettre's top-level message is generic ("network error"); the sources say why. An
/// `io::Error` shows its inner error and also returns it as its source, so a text already
/// at the end of the message is not repeated.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !message.ends_with(&text) {
            let _ = write!(message, ": {text}");
        }
        source = s.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notification::Severity;

    fn notification() -> Notification {
        Notification {
            action: Action::Trigger,
            dedup_key: "r/g".into(),
            rule_id: "aws-x".into(),
            rule_name: "Rule\nwith a break".into(),
            severity: Severity::Critical,
            tags: vec![],
            mitre: vec![],
            group: "actor=<script>".into(),
            title: "Root   login\r\nBcc: evil@example.com".into(),
            description: String::new(),
            runbook: None,
            first_seen_ms: 0,
            last_seen_ms: 0,
            count: 1,
            sample_event_ids: vec![],
            link: None,
        }
    }

    #[test]
    fn subject_is_one_line() {
        // A title from event data must not be able to add a header.
        assert_eq!(
            subject(&notification()),
            "[trailwatch][CRITICAL] Rule with a break: Root login Bcc: evil@example.com"
        );
    }

    #[test]
    fn html_is_escaped_and_empty_parts_are_left_out() {
        let html = html_body(&notification());
        assert!(html.contains("actor=&lt;script&gt;") && !html.contains("<script>"), "{html}");
        assert!(!html.contains("Runbook") && !html.contains("Open in trailwatch"));
        let text = text_body(&notification());
        assert!(
            !text.contains("MITRE") && !text.contains("Sample events") && !text.contains("Runbook"),
            "{text}"
        );
        assert!(text.contains("Severity:   critical"), "{text}");
    }
}
