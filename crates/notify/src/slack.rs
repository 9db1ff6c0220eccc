//! The Slack incoming-webhook message: Block Kit for people, with a `text` fallback for
//! notifications on phones and for clients that do not render blocks.

use serde_json::{json, Value};

use crate::notification::{rfc3339_ms, Action, Notification, Severity};

/// Slack's limits: header text 150 characters, section text 3000; longer is rejected as
/// `invalid_blocks`, so text is cut rather than the whole message lost.
const HEADER_MAX: usize = 150;
const SECTION_MAX: usize = 3000;
const RUNBOOK_EXCERPT: usize = 600;

pub fn emoji(severity: Severity) -> &'static str {
    match severity {
        Severity::Info => ":large_blue_circle:",
        Severity::Low => ":large_yellow_circle:",
        Severity::Medium => ":large_orange_circle:",
        Severity::High => ":red_circle:",
        Severity::Critical => ":rotating_light:",
    }
}

/// The JSON body posted to the incoming webhook.
pub fn message(n: &Notification) -> Value {
    let sev = n.severity.as_str().to_uppercase();
    let (header, fallback) = match n.action {
        Action::Trigger => (
            format!("{} {sev} · {}", emoji(n.severity), n.rule_name),
            format!("[{sev}] {}: {}", escape(&n.rule_name), escape(&n.title)),
        ),
        Action::Resolve => (
            format!(":white_check_mark: RESOLVED · {}", n.rule_name),
            format!("[RESOLVED][{sev}] {}: {}", escape(&n.rule_name), escape(&n.title)),
        ),
    };
    let mut summary = format!("*{}*", escape(&n.title));
    if !n.description.is_empty() {
        summary.push('\n');
        summary.push_str(&escape(&n.description));
    }
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": cut(&header, HEADER_MAX), "emoji": true}}),
        json!({"type": "section", "text": {"type": "mrkdwn", "text": cut(&summary, SECTION_MAX)}}),
        json!({"type": "section", "fields": [
            field("Group", &format!("`{}`", escape(&n.group))),
            field("Count", &n.count.to_string()),
            field("First seen", &rfc3339_ms(n.first_seen_ms)),
            field("Last seen", &rfc3339_ms(n.last_seen_ms)),
        ]}),
    ];
    let mut context = vec![format!("rule `{}`", escape(&n.rule_id))];
    if !n.mitre.is_empty() {
        context.push(format!("MITRE ATT&amp;CK {}", escape(&n.mitre.join(", "))));
    }
    if !n.tags.is_empty() {
        context.push(format!("tags {}", escape(&n.tags.join(", "))));
    }
    blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": context.join(" · ")}]}));
    if let Some(runbook) = n.runbook.as_deref().filter(|r| !r.trim().is_empty()) {
        let text = format!("*Runbook*\n{}", escape(&cut(runbook.trim(), RUNBOOK_EXCERPT)));
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": text}}));
    }
    if let Some(link) = &n.link {
        blocks.push(json!({"type": "actions", "elements": [{
            "type": "button",
            "text": {"type": "plain_text", "text": "Open in trailwatch"},
            "url": link,
        }]}));
    }
    let text = match &n.link {
        Some(link) => format!("{fallback} <{link}|open>"),
        None => fallback,
    };
    json!({"text": text, "blocks": blocks})
}

fn field(name: &str, value: &str) -> Value {
    json!({"type": "mrkdwn", "text": format!("*{name}*\n{value}")})
}

/// Slack's mrkdwn treats `&`, `<` and `>` as control characters (links, mentions); text from
/// CloudTrail (user names, ARNs) must not be able to ping `<!channel>`.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// At most `max` characters, with an ellipsis when cut.
pub(crate) fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_cuts() {
        assert_eq!(escape("<!channel> & co"), "&lt;!channel&gt; &amp; co");
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(cut("abc", 4), "abc");
    }
}
