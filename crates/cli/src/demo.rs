//! `trailwatch demo`: a realistic dataset (synthetic activity of several accounts and regions,
//! plus real attack records), ingested, with example searches run against it.

use std::io::Write;
use std::path::Path;

use flate2::{write::GzEncoder, Compression};

use crate::args::{Format, IngestArgs, SearchArgs, TimeArgs};
use crate::{demo_records, Fail};

/// Example searches shown at the end of the demo, with what each finds.
const EXAMPLES: &[(&str, &str)] = &[
    ("actor.type:Root", "activity of the root user"),
    ("action:(StopLogging OR DeleteTrail OR PutEventSelectors)", "CloudTrail tampering"),
    (
        "service:iam action:(CreateAccessKey OR CreateLoginProfile OR AttachUserPolicy) -outcome:failure",
        "IAM persistence",
    ),
    ("outcome:failure error_code:*UnauthorizedOperation", "denied EC2 calls"),
    ("\"AdministratorAccess\"", "free text: anything mentioning the admin policy"),
];

/// `serve`: where to serve the web UI afterwards (until Ctrl-C), or `None` to stop.
pub fn run(data_dir: &Path, events: u64, quiet: bool, serve: Option<String>) -> Result<u8, Fail> {
    let logs = data_dir.join("demo-logs");
    if !logs.join(".complete").exists() {
        let _ = std::fs::remove_dir_all(&logs);
        if !quiet {
            eprintln!(
                "generating {events} synthetic events of 3 accounts in 4 regions into {}",
                logs.display()
            );
        }
        let config = trailwatch_synth::SynthConfig::benchmark(events);
        trailwatch_synth::generate(&config, &logs.join("synthetic")).map_err(Fail::system)?;
        write_attacks(&logs.join("attacks"))?;
        std::fs::write(logs.join(".complete"), "").map_err(Fail::system)?;
    }
    let args = IngestArgs {
        paths: vec![logs.clone()],
        force: false,
        retention: None,
        threads: None,
        max_file_mib: 1024,
        max_record_kib: 1024,
        max_depth: 64,
        all_errors: false,
        commit_every_events: None,
        abort_at: None,
        rules: crate::args::RuleArgs { rule_paths: Vec::new(), no_builtin: false },
        no_detect: false,
        dry_run: false,
    };
    let code = crate::ingest::run(data_dir, None, args, quiet)?;
    for (query, what) in EXAMPLES {
        println!("\n$ trailwatch search '{query}' --limit 5        # {what}");
        let search = SearchArgs {
            query: (*query).into(),
            time: TimeArgs { from: None, to: None },
            limit: 5,
            offset: 0,
            format: Format::Table,
            oldest_first: false,
            fail_empty: false,
        };
        crate::query::search(data_dir, search)?;
    }
    println!("\n$ trailwatch signals --min-severity high --limit 15        # alerts the rule pack raised while ingesting");
    let signals = crate::args::SignalsArgs {
        change: Vec::new(),
        status: None,
        since: None,
        min_severity: "high".into(),
        rule: None,
        limit: 15,
        by: None,
        format: Format::Table,
    };
    crate::detect::signals(data_dir, signals)?;
    println!(
        "\nThe events are in {dir}. Try for yourself:
  trailwatch --data-dir {dir} signals                       every alert, most recent first
  trailwatch --data-dir {dir} rules list                    the built-in detection rules\n  trailwatch --data-dir {dir} facets actor.name 'outcome:failure'\n  trailwatch --data-dir {dir} histogram 'service:iam' --by action\n  trailwatch --data-dir {dir} search '@userIdentity.sessionContext.attributes.mfaAuthenticated:false action:ConsoleLogin'",
        dir = data_dir.display()
    );
    let Some(listen) = serve else { return Ok(code) };
    // A demo user with a fresh password each run (shown now; the demo's data is throwaway).
    let password = trailwatch_server::users::random_password();
    {
        let mut state = trailwatch_store::State::open(&trailwatch_server::state_path(data_dir))?;
        let users = trailwatch_server::users::list(&state)?;
        if users.iter().any(|u| u.username == DEMO_USER) {
            trailwatch_server::users::set_password(&mut state, DEMO_USER, &password)?;
        } else {
            trailwatch_server::users::add_user(&state, DEMO_USER, &password)?;
        }
    }
    println!(
        "\nThe web UI, with the signals the rules raised:\n  open    http://{listen}/\n  log in  {DEMO_USER} / {password}\n  (Ctrl-C stops it; `trailwatch --data-dir {dir} serve` serves it again)",
        dir = data_dir.display()
    );
    let args = crate::args::ServeArgs {
        listen,
        tls_cert: None,
        tls_key: None,
        session_ttl: "12h".into(),
        rules: crate::args::RuleArgs { rule_paths: Vec::new(), no_builtin: false },
        no_poll: true,
        no_detect: false,
        dry_run: false,
    };
    crate::serve::serve(data_dir, None, args, quiet)?;
    Ok(code)
}

/// Who logs in to the demo's web UI.
pub const DEMO_USER: &str = "demo";

/// Writes the bundled attack records as CloudTrail files (one per technique).
fn write_attacks(dir: &Path) -> Result<(), Fail> {
    std::fs::create_dir_all(dir).map_err(Fail::system)?;
    for (name, jsonl) in demo_records::STRATUS {
        let records: Vec<&str> = jsonl.lines().filter(|l| !l.trim().is_empty()).collect();
        let doc = format!("{{\"Records\":[{}]}}", records.join(","));
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(doc.as_bytes()).map_err(Fail::system)?;
        let bytes = gz.finish().map_err(Fail::system)?;
        std::fs::write(dir.join(format!("{name}.json.gz")), bytes).map_err(Fail::system)?;
    }
    Ok(())
}
