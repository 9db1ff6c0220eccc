//! The rule format: raw YAML structs (strict: unknown keys are errors) validated into [`Rule`].
//! docs/RULES.md is the reference.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use trailwatch_query::Query;

use crate::condition::Condition;
use crate::duration::parse_duration;
use crate::field::FieldPath;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        Some(match s.to_ascii_lowercase().as_str() {
            "info" => Severity::Info,
            "low" => Severity::Low,
            "medium" => Severity::Medium,
            "high" => Severity::High,
            "critical" => Severity::Critical,
            _ => return None,
        })
    }
}

/// A validated rule, ready for the engine.
#[derive(Debug, Clone)]
pub struct Rule {
    pub id: String,
    pub name: String,
    pub description: String,
    pub severity: Severity,
    pub tags: Vec<String>,
    /// ATT&CK tactic ids (`TA0005`).
    pub tactics: Vec<String>,
    /// ATT&CK technique ids (`T1562.008`).
    pub techniques: Vec<String>,
    /// The query as written, and parsed.
    pub query_text: String,
    pub query: Query,
    /// Extra conditions on a matching event (`where:`).
    pub conditions: Vec<Condition>,
    pub method: Method,
    /// What a signal is about: one signal per rule and distinct values of these fields.
    pub group_by: Vec<FieldPath>,
    /// Matches of the same rule and group within this long (event time) update the open signal
    /// without notifying again. Milliseconds.
    pub suppress: i64,
    pub runbook: Option<String>,
    pub references: Vec<String>,
    pub enabled: bool,
    /// Signals of this rule are recorded but never notified (trying a new rule out).
    pub dry_run: bool,
    pub tests: Vec<RuleTest>,
    /// The file the rule came from (`builtin:cloudtrail-stop-logging.yml` for the pack).
    pub origin: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Method {
    /// Every matching event fires.
    Match,
    /// `count` matching events (or `count` distinct values of `distinct`) per group within
    /// `window` milliseconds of event time.
    Threshold { window: i64, count: u64, distinct: Option<FieldPath> },
    /// A value of `fields` (per group) not seen before, once the rule has learned for
    /// `learning` milliseconds of event time. Values not seen for `forget` are forgotten.
    NewValue { fields: Vec<FieldPath>, learning: i64, forget: Option<i64> },
    /// The steps in order of event time, joined by key, from first to last within `within`.
    Sequence { within: i64, steps: Vec<Step> },
    /// Two events of a group from places farther apart than `min_distance_km` and farther
    /// than travel at `max_speed_kmh` allows in the time between them (needs geo data).
    Travel { max_speed_kmh: f64, min_distance_km: f64 },
}

impl Method {
    pub fn name(&self) -> &'static str {
        match self {
            Method::Match => "match",
            Method::Threshold { .. } => "threshold",
            Method::NewValue { .. } => "new_value",
            Method::Sequence { .. } => "sequence",
            Method::Travel { .. } => "travel",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub name: String,
    pub query_text: String,
    pub query: Query,
    /// How this step's event joins the step before it.
    pub key: Vec<FieldPath>,
    /// How the next step joins this one (default: `key`).
    pub next_key: Vec<FieldPath>,
    /// Events this step needs (same key) before the sequence goes on.
    pub count: u32,
}

/// Inline test: records that must (or must not) fire the rule.
#[derive(Debug, Clone)]
pub struct RuleTest {
    pub name: String,
    /// How many firings the records must cause (`fires: true` means at least one).
    pub expect: Expect,
    pub records: Vec<Value>,
    /// The test's own geo data, when it gives some.
    pub geo: Option<crate::geo::GeoDb>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    AtLeastOne,
    None,
    Exactly(usize),
}

// ---- raw YAML ------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRule {
    pub id: String,
    pub name: String,
    pub description: String,
    pub severity: Severity,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub mitre: RawMitre,
    pub query: String,
    /// `- differ: [A, B]` maps (serde_yaml would otherwise want `!differ` tags).
    #[serde(default, rename = "where", with = "serde_yaml::with::singleton_map_recursive")]
    pub conditions: Vec<RawCondition>,
    #[serde(default)]
    pub detection: Option<RawDetection>,
    #[serde(default)]
    pub group_by: Vec<String>,
    #[serde(default)]
    pub suppress: Option<String>,
    #[serde(default)]
    pub runbook: Option<String>,
    #[serde(default)]
    pub references: Vec<String>,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub dry_run: bool,
    #[serde(default)]
    pub tests: Vec<RawTest>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMitre {
    #[serde(default)]
    pub tactics: Vec<String>,
    #[serde(default)]
    pub techniques: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub(crate) enum RawCondition {
    Differ([String; 2]),
    Same([String; 2]),
    ForeignAccount(String),
    Public(String),
    IpAddress(String),
    AdminPolicy(String),
}

#[derive(Debug, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum RawDetection {
    Match,
    Threshold {
        window: String,
        count: u64,
        #[serde(default)]
        distinct: Option<String>,
    },
    NewValue {
        fields: Vec<String>,
        learning: String,
        #[serde(default)]
        forget: Option<String>,
    },
    Sequence {
        within: String,
        steps: Vec<RawStep>,
    },
    Travel {
        #[serde(default = "default_speed")]
        max_speed_kmh: f64,
        #[serde(default = "default_distance")]
        min_distance_km: f64,
    },
}

/// Faster than an airliner.
fn default_speed() -> f64 {
    1000.0
}

/// Farther than the error of city-level geo data.
fn default_distance() -> f64 {
    500.0
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStep {
    #[serde(default)]
    pub name: Option<String>,
    pub query: String,
    #[serde(default)]
    pub key: Option<Vec<String>>,
    #[serde(default)]
    pub next_key: Option<Vec<String>>,
    #[serde(default)]
    pub count: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTest {
    pub name: String,
    /// `true`, `false` or a number of firings.
    pub fires: Value,
    pub records: Vec<Value>,
    /// Geo data for the test (travel rules): networks and their coordinates.
    #[serde(default)]
    pub geoip: Vec<RawGeo>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGeo {
    pub network: String,
    pub latitude: f32,
    pub longitude: f32,
}

/// A problem in one part of a rule; [`crate::load`] adds the file and line.
#[derive(Debug)]
pub(crate) struct Invalid {
    /// The YAML key the problem is at (to find its line), with how many earlier keys of the
    /// same name to skip.
    pub key: &'static str,
    pub nth: usize,
    pub message: String,
}

fn invalid(key: &'static str, nth: usize, message: impl Into<String>) -> Invalid {
    Invalid { key, nth, message: message.into() }
}

fn duration(key: &'static str, s: &str) -> Result<i64, Invalid> {
    parse_duration(s).map_err(|e| invalid(key, 0, e))
}

fn fields(key: &'static str, names: &[String]) -> Result<Vec<FieldPath>, Invalid> {
    names.iter().map(|n| FieldPath::parse(n).map_err(|e| invalid(key, 0, e))).collect()
}

fn query(key: &'static str, nth: usize, text: &str) -> Result<Query, Invalid> {
    trailwatch_query::parse(text, 0).map_err(|e| invalid(key, nth, format!("bad query {text:?}: {e}")))
}

impl RawRule {
    pub(crate) fn validate(self, origin: &str) -> Result<Rule, Invalid> {
        let id_ok = !self.id.is_empty()
            && self.id.len() <= 100
            && self
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !id_ok {
            return Err(invalid(
                "id",
                0,
                format!("bad id {:?}: use lowercase letters, digits, - and _", self.id),
            ));
        }
        if self.name.trim().is_empty() {
            return Err(invalid("name", 0, "the name is empty"));
        }
        for t in &self.mitre.tactics {
            if !(t.starts_with("TA") && t.len() == 6 && t[2..].bytes().all(|b| b.is_ascii_digit())) {
                return Err(invalid("tactics", 0, format!("bad ATT&CK tactic id {t:?} (like TA0005)")));
            }
        }
        for t in &self.mitre.techniques {
            let (main, sub) = t.split_once('.').unwrap_or((t, "000"));
            let ok = main.starts_with('T')
                && main.len() == 5
                && main[1..].bytes().all(|b| b.is_ascii_digit())
                && sub.len() == 3
                && sub.bytes().all(|b| b.is_ascii_digit());
            if !ok {
                return Err(invalid(
                    "techniques",
                    0,
                    format!("bad ATT&CK technique id {t:?} (like T1078 or T1562.008)"),
                ));
            }
        }
        let parsed = query("query", 0, &self.query)?;
        let conditions = self
            .conditions
            .iter()
            .map(|c| {
                let f = |s: &str| FieldPath::parse(s).map_err(|e| invalid("where", 0, e));
                Ok(match c {
                    RawCondition::Differ([a, b]) => Condition::Differ(f(a)?, f(b)?),
                    RawCondition::Same([a, b]) => Condition::Same(f(a)?, f(b)?),
                    RawCondition::ForeignAccount(a) => Condition::ForeignAccount(f(a)?),
                    RawCondition::Public(a) => Condition::Public(f(a)?),
                    RawCondition::IpAddress(a) => Condition::IpAddress(f(a)?),
                    RawCondition::AdminPolicy(a) => Condition::AdminPolicy(f(a)?),
                })
            })
            .collect::<Result<Vec<_>, Invalid>>()?;
        let group_by = fields("group_by", &self.group_by)?;
        let method = match self.detection {
            None | Some(RawDetection::Match) => Method::Match,
            Some(RawDetection::Threshold { window, count, distinct }) => {
                if count == 0 {
                    return Err(invalid("count", 0, "count must be at least 1"));
                }
                let distinct = distinct
                    .map(|d| FieldPath::parse(&d).map_err(|e| invalid("distinct", 0, e)))
                    .transpose()?;
                Method::Threshold { window: duration("window", &window)?, count, distinct }
            }
            Some(RawDetection::NewValue { fields: names, learning, forget }) => {
                if names.is_empty() {
                    return Err(invalid("fields", 0, "new_value needs at least one field"));
                }
                Method::NewValue {
                    fields: fields("fields", &names)?,
                    learning: duration("learning", &learning)?,
                    forget: forget.map(|f| duration("forget", &f)).transpose()?,
                }
            }
            Some(RawDetection::Sequence { within, steps }) => {
                if steps.len() < 2 {
                    return Err(invalid("steps", 0, "a sequence needs at least two steps"));
                }
                if steps.len() > 8 {
                    return Err(invalid("steps", 0, "a sequence has at most eight steps"));
                }
                let mut out = Vec::new();
                for (i, s) in steps.into_iter().enumerate() {
                    let key = match &s.key {
                        Some(k) => fields("key", k)?,
                        None if !group_by.is_empty() => group_by.clone(),
                        None => {
                            return Err(invalid(
                                "steps",
                                0,
                                format!("step {} has no key and the rule no group_by", i + 1),
                            ))
                        }
                    };
                    let next_key = match &s.next_key {
                        Some(k) => fields("next_key", k)?,
                        None => key.clone(),
                    };
                    let count = s.count.unwrap_or(1);
                    if count == 0 || count > 1000 {
                        return Err(invalid("count", 0, format!("step {}: count must be 1 to 1000", i + 1)));
                    }
                    if count > 1 && next_key != key {
                        return Err(invalid(
                            "next_key",
                            0,
                            format!("step {}: a step with a count cannot change the key", i + 1),
                        ));
                    }
                    out.push(Step {
                        name: s.name.unwrap_or_else(|| format!("step {}", i + 1)),
                        query: query("query", i + 1, &s.query)?,
                        query_text: s.query,
                        key,
                        next_key,
                        count,
                    });
                }
                for pair in out.windows(2) {
                    if pair[0].next_key.len() != pair[1].key.len() {
                        return Err(invalid(
                            "key",
                            0,
                            format!(
                                "{:?} joins {:?} with a different number of fields",
                                pair[1].name, pair[0].name
                            ),
                        ));
                    }
                }
                Method::Sequence { within: duration("within", &within)?, steps: out }
            }
            Some(RawDetection::Travel { max_speed_kmh, min_distance_km }) => {
                if !(max_speed_kmh > 0.0 && min_distance_km >= 0.0) {
                    return Err(invalid("max_speed_kmh", 0, "speed must be above 0 and distance at least 0"));
                }
                if group_by.is_empty() {
                    return Err(invalid(
                        "detection",
                        0,
                        "travel needs group_by (whose travel: a user, a key)",
                    ));
                }
                Method::Travel { max_speed_kmh, min_distance_km }
            }
        };
        let default_suppress = match &method {
            Method::Match | Method::NewValue { .. } | Method::Travel { .. } => 3_600_000,
            Method::Threshold { window, .. } => *window,
            Method::Sequence { within, .. } => *within,
        };
        let suppress = self
            .suppress
            .as_deref()
            .map(|s| duration("suppress", s))
            .transpose()?
            .unwrap_or(default_suppress);
        let mut tests = Vec::new();
        for (i, t) in self.tests.into_iter().enumerate() {
            let expect = match &t.fires {
                Value::Bool(true) => Expect::AtLeastOne,
                Value::Bool(false) => Expect::None,
                Value::Number(n) if n.as_u64().is_some() => match n.as_u64().unwrap() {
                    0 => Expect::None,
                    n => Expect::Exactly(n as usize),
                },
                other => {
                    return Err(invalid(
                        "fires",
                        i,
                        format!("fires must be true, false or a number, not {other}"),
                    ))
                }
            };
            if t.records.is_empty() {
                return Err(invalid("records", i, format!("test {:?} has no records", t.name)));
            }
            let geo = if t.geoip.is_empty() {
                None
            } else {
                let mut db = crate::geo::GeoDb::default();
                for g in &t.geoip {
                    let net = g
                        .network
                        .parse()
                        .map_err(|_| invalid("network", 0, format!("bad network {:?}", g.network)))?;
                    db.insert(net, crate::geo::Location { lat: g.latitude, lon: g.longitude });
                }
                db.finish();
                Some(db)
            };
            tests.push(RuleTest { name: t.name, expect, records: t.records, geo });
        }
        Ok(Rule {
            id: self.id,
            name: self.name,
            description: self.description,
            severity: self.severity,
            tags: self.tags,
            tactics: self.mitre.tactics,
            techniques: self.mitre.techniques,
            query_text: self.query,
            query: parsed,
            conditions,
            method,
            group_by,
            suppress,
            runbook: self.runbook,
            references: self.references,
            enabled: self.enabled,
            dry_run: self.dry_run,
            tests,
            origin: origin.to_owned(),
        })
    }
}
