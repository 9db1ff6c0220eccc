//! Loading rules: the built-in pack embedded at build time, and rule files or folders given by
//! the user. A bad file is reported with its line and does not stop the others.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::rule::{Invalid, RawRule, Rule};

include!(concat!(env!("OUT_DIR"), "/builtin_rules.rs"));

/// Rule files larger than this are refused (a rule is a few KiB; tests make them bigger).
const MAX_RULE_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// A rule that could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for RuleError {}

/// The rules that loaded, and the errors of those that did not.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub rules: Vec<Rule>,
    pub errors: Vec<RuleError>,
}

/// Parses one rule file's text. `origin` names it in errors.
pub fn parse_rule(origin: &str, text: &str) -> Result<Rule, RuleError> {
    let raw: RawRule = serde_yaml::from_str(text).map_err(|e| RuleError {
        file: origin.to_owned(),
        line: e.location().map(|l| l.line()),
        message: e.to_string().split(" at line ").next().unwrap_or_default().to_owned(),
    })?;
    raw.validate(origin).map_err(|Invalid { key, nth, message }| RuleError {
        file: origin.to_owned(),
        line: line_of(text, key, nth),
        message,
    })
}

/// The line (1-based) of the `nth` (0-based) `key:` in `text`, at any depth.
fn line_of(text: &str, key: &str, nth: usize) -> Option<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| {
            let t = l.trim_start().trim_start_matches("- ");
            t.strip_prefix(key).is_some_and(|rest| rest.starts_with(':'))
        })
        .nth(nth)
        .map(|(i, _)| i + 1)
}

/// The built-in rule pack.
pub fn builtin_rules() -> LoadReport {
    let mut report = LoadReport::default();
    for (name, text) in BUILTIN {
        match parse_rule(&format!("builtin:{name}"), text) {
            Ok(rule) => report.rules.push(rule),
            Err(e) => report.errors.push(e),
        }
    }
    report
}

/// Loads rule files (`.yml`, `.yaml`) and folders of them (recursively, in name order). Rules
/// with an id already loaded are errors, except that a file may replace a built-in rule of the
/// same id (pass the built-in pack as `base`).
pub fn load_paths(paths: &[PathBuf], base: LoadReport) -> LoadReport {
    let mut report = base;
    let builtin: HashMap<String, usize> =
        report.rules.iter().enumerate().map(|(i, r)| (r.id.clone(), i)).collect();
    let mut seen: HashMap<String, String> = HashMap::new();
    let mut files = Vec::new();
    for p in paths {
        collect(p, &mut files, &mut report.errors);
    }
    let mut replaced = Vec::new();
    for file in files {
        let origin = file.display().to_string();
        let text = match read_limited(&file) {
            Ok(t) => t,
            Err(message) => {
                report.errors.push(RuleError { file: origin, line: None, message });
                continue;
            }
        };
        match parse_rule(&origin, &text) {
            Ok(rule) => {
                if let Some(first) = seen.get(&rule.id) {
                    report.errors.push(RuleError {
                        file: origin,
                        line: line_of(&text, "id", 0),
                        message: format!("rule id {:?} is already used by {first}", rule.id),
                    });
                    continue;
                }
                seen.insert(rule.id.clone(), origin);
                match builtin.get(&rule.id) {
                    Some(&i) => replaced.push((i, rule)),
                    None => report.rules.push(rule),
                }
            }
            Err(e) => report.errors.push(e),
        }
    }
    for (i, rule) in replaced {
        report.rules[i] = rule;
    }
    report
}

fn read_limited(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read: {e}"))?;
    if meta.len() > MAX_RULE_FILE_BYTES {
        return Err(format!(
            "{} bytes is too large for a rule file (at most {MAX_RULE_FILE_BYTES})",
            meta.len()
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    String::from_utf8(bytes).map_err(|e| format!("not UTF-8 (byte {})", e.utf8_error().valid_up_to()))
}

fn collect(path: &Path, out: &mut Vec<PathBuf>, errors: &mut Vec<RuleError>) {
    let unreadable = |e: std::io::Error| RuleError {
        file: path.display().to_string(),
        line: None,
        message: format!("cannot read: {e}"),
    };
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => return errors.push(unreadable(e)),
    };
    if meta.is_file() {
        out.push(path.to_owned());
        return;
    }
    let mut entries: Vec<PathBuf> = match std::fs::read_dir(path) {
        Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(e) => return errors.push(unreadable(e)),
    };
    entries.sort();
    for e in entries {
        let is_rule = e.extension().is_some_and(|x| x == "yml" || x == "yaml");
        if e.is_dir() {
            collect(&e, out, errors);
        } else if is_rule {
            out.push(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "id: x-rule\nname: X\ndescription: d\nseverity: high\nquery: action:StopLogging\n";

    #[test]
    fn a_good_rule_loads() {
        let r = parse_rule("x.yml", GOOD).unwrap();
        assert_eq!(r.id, "x-rule");
        assert_eq!(r.method, crate::Method::Match);
        assert_eq!(r.suppress, 3_600_000);
    }

    #[test]
    fn where_conditions_are_maps() {
        let text = format!(
            "{GOOD}where:\n  - differ: ['@requestParameters.userName', actor.name]\n  - same: [account, actor.account]\n  - foreign_account: '@requestParameters.policyDocument'\n  - public: '@requestParameters'\n  - ip_address: source_ip\n"
        );
        let r = parse_rule("x.yml", &text).unwrap();
        assert_eq!(r.conditions.len(), 5);
        let e = error(&format!("{GOOD}where:\n  - unlike: [a, b]\n"));
        assert_eq!(e.line, Some(7), "{e}");
        assert!(e.message.contains("unknown variant `unlike`"), "{e}");
    }

    fn error(text: &str) -> RuleError {
        parse_rule("bad.yml", text).unwrap_err()
    }

    #[test]
    fn errors_name_the_line() {
        let e = error(&format!("{GOOD}colour: red\n"));
        assert_eq!(e.line, Some(6), "{e}");
        assert!(e.message.contains("unknown field `colour`"), "{e}");

        let e = error(&GOOD.replace("action:StopLogging", "'action:(a'"));
        assert_eq!(e.line, Some(5), "{e}");
        assert!(e.message.contains("bad query"), "{e}");

        let e = error(&GOOD.replace("high", "urgent"));
        assert_eq!(e.line, Some(4), "{e}");

        let e = error(&format!("{GOOD}detection:\n  method: threshold\n  window: 10 minutes\n  count: 5\n"));
        assert_eq!(e.line, Some(8), "{e}");
        assert!(e.message.contains("bad duration"), "{e}");

        let e = error(&format!(
            "{GOOD}group_by: [actor.arn]\ndetection:\n  method: sequence\n  within: 1h\n  steps:\n    - query: action:A\n    - query: 'action:(B'\n"
        ));
        assert_eq!(e.line, Some(12), "{e}");

        let e = error(&format!("{GOOD}group_by: [actor.nme]\n"));
        assert!(e.message.contains("unknown field \"actor.nme\""), "{e}");
        assert_eq!(e.to_string(), format!("bad.yml:6: {}", e.message));

        let e = error("id: [unclosed\n");
        assert_eq!(e.line, Some(1), "{e}");
    }

    #[test]
    fn one_bad_file_does_not_stop_the_others() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.yml"), GOOD).unwrap();
        std::fs::write(dir.path().join("b.yml"), "id: b\nname: B\n").unwrap();
        std::fs::write(dir.path().join("c.yaml"), GOOD.replace("x-rule", "c-rule")).unwrap();
        std::fs::write(dir.path().join("d.yml"), GOOD).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not a rule").unwrap();
        let report = load_paths(&[dir.path().to_owned()], LoadReport::default());
        let ids: Vec<_> = report.rules.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["x-rule", "c-rule"]);
        assert_eq!(report.errors.len(), 2, "{:?}", report.errors);
        assert!(
            report.errors[0].file.ends_with("b.yml") && report.errors[0].message.contains("missing field")
        );
        assert!(report.errors[1].message.contains("already used"));
    }

    #[test]
    fn a_user_rule_replaces_a_builtin_of_the_same_id() {
        let pack = builtin_rules();
        let first = pack.rules[0].id.clone();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("mine.yml"), GOOD.replace("x-rule", &first).replace("high", "low"))
            .unwrap();
        let n = pack.rules.len();
        let report = load_paths(&[dir.path().to_owned()], pack);
        assert_eq!(report.rules.len(), n);
        let r = report.rules.iter().find(|r| r.id == first).unwrap();
        assert_eq!(r.severity, crate::Severity::Low);
        assert!(report.errors.is_empty());
    }
}
