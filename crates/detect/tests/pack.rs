//! The built-in rule pack: every rule loads, has tests that must and must not fire, and
//! passes them; every Stratus Red Team technique whose detonation logs we carry fires a rule.

use std::collections::BTreeMap;
use std::path::Path;

use trailwatch_cloudtrail::{normalize, RecordContext};
use trailwatch_detect::engine::Engine;
use trailwatch_detect::rule::Expect;
use trailwatch_detect::testing::run_tests;

#[test]
fn the_pack_loads_without_errors() {
    let pack = trailwatch_detect::builtin_rules();
    assert!(pack.errors.is_empty(), "built-in rules with errors:\n{}", lines(&pack.errors));
    let n = pack.rules.len();
    assert!(n >= 60, "the pack has {n} rules; the product promises at least 60");
    let mut ids: Vec<&str> = pack.rules.iter().map(|r| r.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), n, "rule ids are unique");
}

#[test]
fn every_rule_has_positive_and_negative_tests_and_passes_them() {
    let pack = trailwatch_detect::builtin_rules();
    let mut failures = Vec::new();
    for rule in &pack.rules {
        let positive = rule.tests.iter().any(|t| t.expect != Expect::None);
        let negative = rule.tests.iter().any(|t| t.expect == Expect::None);
        if !positive || !negative {
            failures.push(format!("{}: needs a test that fires and one that does not", rule.id));
        }
        if rule.description.trim().is_empty() || rule.runbook.is_none() {
            failures.push(format!("{}: needs a description and a runbook", rule.id));
        }
        if rule.techniques.is_empty() || rule.tactics.is_empty() {
            failures.push(format!("{}: needs ATT&CK tactics and techniques", rule.id));
        }
        for r in run_tests(rule) {
            if !r.passed {
                failures.push(format!("{} / {}: {}", r.rule_id, r.test, r.message.unwrap_or_default()));
            }
        }
    }
    assert!(failures.is_empty(), "{} problems:\n{}", failures.len(), failures.join("\n"));
}

/// Every technique's detonation records, through the whole pack as one stream per technique.
#[test]
fn every_stratus_technique_fires_a_rule() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../cloudtrail/tests/data/stratus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("the Stratus records are in crates/cloudtrail/tests/data/stratus")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    assert!(files.len() >= 30, "only {} Stratus techniques found", files.len());
    let pack = trailwatch_detect::builtin_rules();
    let mut coverage: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for file in &files {
        let technique = file.file_stem().unwrap().to_string_lossy().into_owned();
        let mut engine = Engine::new(pack.rules.clone());
        let mut firings = Vec::new();
        for (i, line) in std::fs::read_to_string(file).unwrap().lines().enumerate() {
            let event = normalize(line.as_bytes().to_vec(), &RecordContext::default())
                .unwrap_or_else(|e| panic!("{technique} record {i}: {e}"));
            engine.observe(&event, &mut firings);
        }
        let mut rules: Vec<String> = firings.iter().map(|f| f.rule_id.clone()).collect();
        rules.sort();
        rules.dedup();
        coverage.insert(technique, rules);
    }
    let report: String = coverage.iter().map(|(t, r)| format!("{t} -> {}\n", r.join(", "))).collect();
    let missed: Vec<&String> = coverage.iter().filter(|(_, r)| r.is_empty()).map(|(t, _)| t).collect();
    // The coverage report docs/DETECTION-COVERAGE.md is this list; keep them equal.
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/DETECTION-COVERAGE.md"),
    )
    .unwrap_or_default();
    assert!(missed.is_empty(), "Stratus techniques no rule fires on: {missed:?}\n\ncoverage:\n{report}");
    for (t, rules) in &coverage {
        let row =
            format!("| `{t}` | {} |", rules.iter().map(|r| format!("`{r}`")).collect::<Vec<_>>().join(", "));
        assert!(doc.contains(&row), "docs/DETECTION-COVERAGE.md lacks the row\n{row}\n\ncoverage:\n{report}");
    }
}

fn lines(errors: &[trailwatch_detect::RuleError]) -> String {
    errors.iter().map(|e| format!("{e}\n")).collect()
}
