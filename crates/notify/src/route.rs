//! Which channels hear about which signals: a severity threshold, tags and rule id globs.

use crate::notification::{Notification, Severity};

/// A channel's filter. A notification passes when all three parts agree; an empty `tags` or
/// `rules` list lets everything through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Only signals at or above this severity.
    pub min_severity: Severity,
    /// Only rules having any of these tags (compared ignoring ASCII case).
    pub tags: Vec<String>,
    /// Only rules whose id matches one of these globs (`*` any run, `?` one character).
    pub rules: Vec<String>,
}

impl Default for Route {
    fn default() -> Self {
        Route { min_severity: Severity::Info, tags: Vec::new(), rules: Vec::new() }
    }
}

impl Route {
    pub fn matches(&self, n: &Notification) -> bool {
        n.severity >= self.min_severity
            && (self.tags.is_empty()
                || self.tags.iter().any(|want| n.tags.iter().any(|have| have.eq_ignore_ascii_case(want))))
            && (self.rules.is_empty() || self.rules.iter().any(|glob| glob_match(glob, &n.rule_id)))
    }
}

/// Matches `text` against a glob of `*` (any run, also empty) and `?` (one character); every
/// other character stands for itself. Rule ids are short, so the classic two-pointer walk with
/// one backtrack point is plenty (linear in practice, never exponential).
pub fn glob_match(glob: &str, text: &str) -> bool {
    let g: Vec<char> = glob.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut gi, mut ti) = (0, 0);
    // Where the last `*` was and which text position it is currently standing in for.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if gi < g.len() && (g[gi] == '?' || (g[gi] != '*' && g[gi] == t[ti])) {
            gi += 1;
            ti += 1;
        } else if gi < g.len() && g[gi] == '*' {
            star = Some((gi, ti));
            gi += 1;
        } else if let Some((sg, st)) = star {
            // Let the last star swallow one more character and try again after it.
            gi = sg + 1;
            ti = st + 1;
            star = Some((sg, st + 1));
        } else {
            return false;
        }
    }
    g[gi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notification::Action;

    fn notification(rule_id: &str, severity: Severity, tags: &[&str]) -> Notification {
        Notification {
            action: Action::Trigger,
            dedup_key: format!("{rule_id}/g"),
            rule_id: rule_id.into(),
            rule_name: "r".into(),
            severity,
            tags: tags.iter().map(|t| t.to_string()).collect(),
            mitre: vec![],
            group: "g".into(),
            title: "t".into(),
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
    fn globs() {
        let check = |glob: &str, text: &str, expected: bool| {
            assert_eq!(glob_match(glob, text), expected, "glob {glob:?} on {text:?}");
        };
        check("aws-*", "aws-cloudtrail-stopped", true);
        check("aws-*", "aws-", true);
        check("aws-*", "gcp-x", false);
        check("*", "", true);
        check("", "", true);
        check("", "a", false);
        check("aws-?-x", "aws-1-x", true);
        check("aws-?-x", "aws-12-x", false);
        check("*stopped", "aws-cloudtrail-stopped", true);
        check("*-iam-*-key", "aws-iam-access-key", true);
        check("*-iam-*-key", "aws-iam-access-keys", false);
        check("a*b*c", "aXbXbXc", true);
        check("exact", "exact", true);
        check("exact", "exactly", false);
    }

    #[test]
    fn severity_threshold() {
        let route = Route { min_severity: Severity::Medium, ..Route::default() };
        assert!(!route.matches(&notification("x", Severity::Info, &[])));
        assert!(!route.matches(&notification("x", Severity::Low, &[])));
        assert!(route.matches(&notification("x", Severity::Medium, &[])));
        assert!(route.matches(&notification("x", Severity::Critical, &[])));
    }

    #[test]
    fn tags_any_of() {
        let route = Route { tags: vec!["cloudtrail".into(), "iam".into()], ..Route::default() };
        assert!(route.matches(&notification("x", Severity::Low, &["CloudTrail"])));
        assert!(route.matches(&notification("x", Severity::Low, &["s3", "iam"])));
        assert!(!route.matches(&notification("x", Severity::Low, &["s3"])));
        assert!(!route.matches(&notification("x", Severity::Low, &[])));
        assert!(Route::default().matches(&notification("x", Severity::Low, &[])));
    }

    #[test]
    fn rule_globs_and_all_parts_together() {
        let route = Route {
            min_severity: Severity::High,
            tags: vec!["cloudtrail".into()],
            rules: vec!["aws-*".into(), "custom-exact".into()],
        };
        assert!(route.matches(&notification("aws-trail-stopped", Severity::High, &["cloudtrail"])));
        assert!(route.matches(&notification("custom-exact", Severity::Critical, &["cloudtrail"])));
        assert!(!route.matches(&notification("gcp-x", Severity::High, &["cloudtrail"])));
        assert!(!route.matches(&notification("aws-trail-stopped", Severity::Medium, &["cloudtrail"])));
        assert!(!route.matches(&notification("aws-trail-stopped", Severity::High, &["s3"])));
    }
}
