//! `trailwatch hunt`, `trailwatch rules …` and `trailwatch signals`.

use std::path::Path;
use std::sync::atomic::AtomicU64;

use trailwatch_detect::testing::run_tests;
use trailwatch_detect::{Rule, Severity, Signal, SignalStatus};
use trailwatch_ingest::{Detection, IngestOptions};
use trailwatch_server::signals::rule_json;
use trailwatch_store::{EventStore, SignalFilter, State};

use crate::args::{Format, HuntArgs, RuleArgs, RulesCommand, SignalsArgs};
use crate::ingest::CliObserver;
use crate::output::{self, human_count, time};
use crate::query::time_range;
use crate::{now_ms, open_store, Fail};

/// The rules and the detection an ingest or a poll runs (none with `--no-detect`): with the
/// state's rule state and switches, the GeoIP database, and notifications queued only when
/// channels are configured (signals are recorded either way).
pub fn ingest_detection(
    no_detect: bool,
    rules: &RuleArgs,
    dry_run: bool,
    state: &State,
    config: &crate::config::Config,
) -> Result<(Vec<Rule>, Option<Detection>), Fail> {
    if no_detect {
        return Ok((Vec::new(), None));
    }
    let rules = load_rules(rules)?;
    let d = Detection::new(rules.clone(), Some(state), dry_run, now_ms())
        .map_err(Fail::system)?
        .with_geo(config.geo.clone());
    let d = if config.notifier.is_some() { d } else { d.without_notifications() };
    Ok((rules, Some(d)))
}

/// The built-in pack (unless left out) and the rules under `--rules`. Rules that do not load
/// are reported and left out; the others run.
pub fn load_rules(args: &RuleArgs) -> Result<Vec<Rule>, Fail> {
    let (rules, errors) = load_all(args);
    for e in &errors {
        eprintln!("rule not loaded: {e}");
    }
    if rules.is_empty() {
        return Err(Fail::usage("no rules to run"));
    }
    Ok(rules)
}

fn load_all(args: &RuleArgs) -> (Vec<Rule>, Vec<trailwatch_detect::RuleError>) {
    let base = if args.no_builtin { Default::default() } else { trailwatch_detect::builtin_rules() };
    let report = trailwatch_detect::load_paths(&args.rule_paths, base);
    (report.rules, report.errors)
}

fn severity(s: &str) -> Result<Severity, Fail> {
    Severity::parse(s)
        .ok_or_else(|| Fail::usage(format!("bad severity {s:?}: info, low, medium, high or critical")))
}

pub fn hunt(args: HuntArgs, config: Option<&Path>, quiet: bool) -> Result<u8, Fail> {
    let config = crate::config::Config::load(config)?;
    let rules = load_rules(&args.rules)?;
    let min = severity(&args.min_severity)?;
    let fail_on = args.fail_on.as_deref().map(severity).transpose()?;
    let mut detection =
        Detection::new(rules, None, true, now_ms()).map_err(Fail::system)?.with_geo(config.geo).any_order();
    let mut options = IngestOptions { now_ms: now_ms(), ..IngestOptions::default() };
    if let Some(t) = args.threads {
        options.decoders = t.max(1);
    }
    let observer = CliObserver {
        bar: None,
        all_errors: false,
        problems: AtomicU64::new(0),
        signals: AtomicU64::new(0),
        show_signals: false,
        abort_at: None,
        commits: AtomicU64::new(0),
    };
    let summary =
        trailwatch_ingest::hunt(&args.paths, &options, &observer, &mut detection).map_err(|e| match e {
            trailwatch_ingest::Error::Walk { .. } => Fail::usage(e.to_string()),
            e => Fail::system(e),
        })?;
    let mut signals: Vec<Signal> = detection.signals().filter(|s| s.severity >= min).cloned().collect();
    sort_signals(&mut signals);
    print_signals(&signals, args.format);
    if !quiet {
        let p = &summary.progress;
        let secs = p.elapsed.as_secs_f64().max(0.001);
        let stats = detection.engine().stats();
        eprintln!(
            "hunted {} events from {} files in {:.1} s ({} events/s) with {} rules: {} signals ({} firings)",
            human_count(p.events_added),
            human_count(p.files_done),
            secs,
            human_count((p.events_read as f64 / secs) as u64),
            detection.engine().rules().len(),
            signals.len(),
            human_count(stats.firings),
        );
        eprintln!(
            "  rule queries evaluated: {:.1} per event ({} rules need every event; the index skipped the rest)",
            stats.evaluations as f64 / stats.events.max(1) as f64,
            detection.engine().unindexed_rules(),
        );
        if summary.problems > 0 {
            eprintln!(
                "  rejected: {} files could not be read to the end, {} records could not be read",
                p.files_failed, p.records_rejected
            );
        }
    }
    let alarmed = fail_on.is_some_and(|f| signals.iter().any(|s| s.severity >= f));
    Ok(if alarmed || summary.problems > 0 { 1 } else { 0 })
}

/// Most severe first, then latest first.
fn sort_signals(signals: &mut [Signal]) {
    signals.sort_by(|a, b| {
        b.severity.cmp(&a.severity).then(b.last_seen.cmp(&a.last_seen)).then(a.id.cmp(&b.id))
    });
}

fn print_signals(signals: &[Signal], format: Format) {
    match format {
        Format::Json => output::json(&signals),
        Format::Jsonl => signals.iter().for_each(output::json_line),
        Format::Table => {
            let rows: Vec<Vec<String>> = signals
                .iter()
                .map(|s| {
                    vec![
                        s.severity.as_str().to_owned(),
                        s.status.as_str().to_owned(),
                        time(s.last_seen),
                        s.count.to_string(),
                        s.rule_id.clone(),
                        s.group.clone(),
                        s.title.clone(),
                    ]
                })
                .collect();
            output::table(&["SEVERITY", "STATUS", "LAST SEEN", "COUNT", "RULE", "GROUP", "TITLE"], &rows);
        }
    }
}

pub fn rules(data_dir: &Path, config: Option<&Path>, cmd: RulesCommand) -> Result<u8, Fail> {
    match cmd {
        RulesCommand::List { rules, format } => {
            let (rules, errors) = load_all(&rules);
            for e in &errors {
                eprintln!("rule not loaded: {e}");
            }
            match format {
                Format::Table => {
                    let rows: Vec<Vec<String>> = rules
                        .iter()
                        .map(|r| {
                            vec![
                                r.id.clone(),
                                r.severity.as_str().into(),
                                r.method.name().into(),
                                if r.enabled { "yes" } else { "no" }.into(),
                                r.techniques.join(","),
                                r.name.clone(),
                            ]
                        })
                        .collect();
                    output::table(&["ID", "SEVERITY", "METHOD", "ENABLED", "ATT&CK", "NAME"], &rows);
                }
                _ => {
                    let list: Vec<serde_json::Value> = rules.iter().map(rule_json).collect();
                    if format == Format::Json {
                        output::json(&list)
                    } else {
                        list.iter().for_each(output::json_line)
                    }
                }
            }
            Ok(if errors.is_empty() { 0 } else { 1 })
        }
        RulesCommand::Test { rules } => {
            let (rules, errors) = load_all(&rules);
            for e in &errors {
                eprintln!("rule not loaded: {e}");
            }
            let (mut passed, mut failed) = (0, 0);
            for r in &rules {
                for t in run_tests(r) {
                    if t.passed {
                        passed += 1;
                    } else {
                        failed += 1;
                        println!("FAIL {} / {}: {}", t.rule_id, t.test, t.message.unwrap_or_default());
                    }
                }
            }
            println!(
                "{} rules, {passed} tests passed, {failed} failed, {} rule files not loaded",
                rules.len(),
                errors.len()
            );
            Ok(if failed == 0 && errors.is_empty() { 0 } else { 1 })
        }
        RulesCommand::Show { id, rules } => {
            let (rules, _) = load_all(&rules);
            let r =
                rules.iter().find(|r| r.id == id).ok_or_else(|| Fail::usage(format!("no rule {id:?}")))?;
            output::json(&rule_json(r));
            Ok(0)
        }
        RulesCommand::Replay { id, rules, time, format } => {
            let (all, errors) = load_all(&rules);
            for e in &errors {
                eprintln!("rule not loaded: {e}");
            }
            let chosen: Vec<Rule> = if id == "all" {
                all.into_iter().filter(|r| r.enabled).collect()
            } else {
                let mut r = all
                    .into_iter()
                    .find(|r| r.id == id)
                    .ok_or_else(|| Fail::usage(format!("no rule {id:?}")))?;
                r.enabled = true;
                vec![r]
            };
            let now = now_ms();
            let range = time_range(&time, now)?;
            let store = open_store(data_dir)?;
            let geo = crate::config::Config::load(config)?.geo;
            let (signals, events) =
                trailwatch_ingest::replay(&store, chosen, range, geo).map_err(Fail::system)?;
            print_signals(&signals, format);
            eprintln!("replayed {} events: {} signals", human_count(events), signals.len());
            Ok(0)
        }
    }
}

pub fn signals(data_dir: &Path, args: SignalsArgs) -> Result<u8, Fail> {
    let path = data_dir.join("state.sqlite");
    if !path.exists() {
        return Err(Fail::usage(format!(
            "no state in {}: run `trailwatch ingest PATH` first (or pass --data-dir)",
            data_dir.display()
        )));
    }
    let mut state = State::open(&path)?;
    if !args.change.is_empty() {
        let [action, id] = args.change.as_slice() else {
            return Err(Fail::usage("give an action (show, ack, resolve, mute, reopen) and a signal id"));
        };
        if action == "show" {
            return show_signal(data_dir, &state, id, &args);
        }
        let status = match action.as_str() {
            "ack" | "acknowledge" => SignalStatus::Acknowledged,
            "resolve" => SignalStatus::Resolved,
            "mute" => SignalStatus::Muted,
            "reopen" => SignalStatus::Open,
            other => {
                return Err(Fail::usage(format!("unknown action {other:?}: ack, resolve, mute or reopen")))
            }
        };
        let by = args.by.clone().or_else(|| std::env::var("USER").ok()).unwrap_or_else(|| "unknown".into());
        let change = trailwatch_server::signals::change_status(&mut state, id, status, &by, now_ms())?
            .ok_or_else(|| Fail::usage(format!("no signal {id:?}")))?;
        eprintln!("{}: {} -> {} by {by}", change.signal.id, change.previous.as_str(), status.as_str());
        return Ok(0);
    }
    if let Some(st) = &args.status {
        if SignalStatus::parse(st).is_none() {
            return Err(Fail::usage(format!("bad --status {st:?}: open, acknowledged, resolved or muted")));
        }
    }
    let since = match &args.since {
        Some(s) => trailwatch_query::parse_time(s, now_ms())
            .map_err(|e| Fail::usage(format!("bad --since {s:?}: {e}")))?,
        None => i64::MIN,
    };
    let filter = SignalFilter {
        status: args.status.as_deref().and_then(SignalStatus::parse).map(|s| s.as_str().to_owned()),
        since,
        min_severity: severity(&args.min_severity)? as i64,
        rule_id: args.rule.clone(),
        limit: args.limit.max(1),
    };
    let signals: Vec<Signal> =
        state.signals(&filter)?.iter().filter_map(|b| serde_json::from_str(b).ok()).collect();
    print_signals(&signals, args.format);
    Ok(0)
}

/// `signals show ID`: the signal, its rule's description and runbook, and the events behind it.
fn show_signal(data_dir: &Path, state: &State, id: &str, args: &SignalsArgs) -> Result<u8, Fail> {
    let body = state.signal(id)?.ok_or_else(|| Fail::usage(format!("no signal {id:?}")))?;
    let s: Signal = serde_json::from_str(&body).map_err(Fail::system)?;
    let (rules, _) = load_all(&RuleArgs { rule_paths: Vec::new(), no_builtin: false });
    let rule = rules.iter().find(|r| r.id == s.rule_id);
    let store = open_store(data_dir)?;
    let mut events = Vec::new();
    for eid in &s.sample_event_ids {
        if let Some(e) = store.get(eid)? {
            events.push(e);
        }
    }
    if args.format != Format::Table {
        output::json(&serde_json::json!({
            "signal": s,
            "rule": rule.map(rule_json),
            "events": events,
        }));
        return Ok(0);
    }
    println!("{} [{}] {}", s.id, s.severity.as_str().to_uppercase(), s.rule_name);
    println!(
        "status:     {}{}",
        s.status.as_str(),
        s.status_by.as_deref().map(|b| format!(" by {b}")).unwrap_or_default()
    );
    println!("group:      {}", s.group);
    println!("seen:       {} .. {} ({} firings)", time(s.first_seen), time(s.last_seen), s.count);
    println!("why:        {}", s.reason);
    println!("ATT&CK:     {}", s.techniques.join(", "));
    if let Some(r) = rule {
        println!("\n{}", r.description.trim());
        if let Some(rb) = &r.runbook {
            println!("\nRunbook:\n{}", rb.trim_end());
        }
    }
    println!("\nEvents ({} of {} sampled ids still stored):", events.len(), s.sample_event_ids.len());
    output::events_table(&events);
    Ok(0)
}
