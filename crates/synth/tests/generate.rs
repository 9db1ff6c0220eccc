//! End-to-end checks of generated datasets: layout, decoding, determinism and realism figures.

use std::collections::{BTreeMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use trailwatch_synth::{generate, SynthConfig, MAX_FILE_RECORDS};

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn decode(path: &Path) -> Vec<serde_json::Value> {
    let mut json = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap()).read_to_end(&mut json).unwrap();
    let mut doc: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(doc.as_object().unwrap().len(), 1, "only Records at the top");
    match doc["Records"].take() {
        serde_json::Value::Array(records) => records,
        other => panic!("Records is not an array: {other}"),
    }
}

#[test]
fn same_seed_same_bytes() {
    let config = SynthConfig::benchmark(3_000);
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let sa = generate(&config, a.path()).unwrap();
    let sb = generate(&config, b.path()).unwrap();
    assert_eq!(sa, sb);
    let (fa, fb) = (files(a.path()), files(b.path()));
    assert_eq!(fa.len() as u64, sa.files);
    for (x, y) in fa.iter().zip(&fb) {
        assert_eq!(x.strip_prefix(a.path()).unwrap(), y.strip_prefix(b.path()).unwrap());
        assert_eq!(std::fs::read(x).unwrap(), std::fs::read(y).unwrap(), "{}", x.display());
    }
    let other = tempfile::tempdir().unwrap();
    generate(&SynthConfig { seed: 1, ..config }, other.path()).unwrap();
    assert_ne!(files(other.path())[0].file_name(), fa[0].file_name());
}

#[test]
fn files_decode_with_the_right_layout_and_realistic_figures() {
    let config = SynthConfig::benchmark(20_000);
    let dir = tempfile::tempdir().unwrap();
    let summary = generate(&config, dir.path()).unwrap();
    assert_eq!(summary.events, 20_000);

    let mut events = 0u64;
    let mut errors = 0u64;
    let mut ids = HashSet::new();
    let mut sources = HashSet::new();
    let mut names = HashSet::new();
    let mut types = BTreeMap::new();
    let paths = files(dir.path());
    assert_eq!(paths.len() as u64, summary.files);
    for path in &paths {
        let rel = path.strip_prefix(dir.path()).unwrap().to_str().unwrap().to_owned();
        let parts: Vec<&str> = rel.split('/').collect();
        let ["trail", "AWSLogs", org, account, "CloudTrail", region, yyyy, mm, dd, file] = parts[..] else {
            panic!("unexpected key {rel}");
        };
        assert_eq!(org, "o-a1b2c3d4e5");
        let stamp = format!("{yyyy}{mm}{dd}T");
        assert!(file.starts_with(&format!("{account}_CloudTrail_{region}_{stamp}")), "{rel}");
        assert!(file.ends_with(".json.gz"));
        let records = decode(path);
        assert!((1..=MAX_FILE_RECORDS as usize).contains(&records.len()), "{rel}: {}", records.len());
        let folder_day = format!("{yyyy}-{mm}-{dd}");
        let mut previous = String::new();
        for r in &records {
            assert_eq!(r["recipientAccountId"], *account, "{rel}");
            assert_eq!(r["awsRegion"], *region, "{rel}");
            let time = r["eventTime"].as_str().unwrap();
            assert_eq!(time.len(), 20);
            assert!(time >= previous.as_str(), "records sorted by time in {rel}");
            // The day folder follows the delivery, a few minutes after the last record.
            assert!(time[..10] <= *folder_day, "{time} after folder {folder_day}");
            previous = time.to_owned();
            assert!(ids.insert(r["eventID"].as_str().unwrap().to_owned()), "duplicate eventID");
            assert!(matches!(r["eventVersion"].as_str(), Some("1.08" | "1.09")));
            assert!(r["userIdentity"]["type"].is_string());
            assert!(r["readOnly"].is_boolean() && r["managementEvent"].is_boolean());
            if r.get("errorCode").is_some() {
                errors += 1;
            }
            sources.insert(r["eventSource"].as_str().unwrap().to_owned());
            names.insert(r["eventName"].as_str().unwrap().to_owned());
            *types.entry(r["userIdentity"]["type"].as_str().unwrap().to_owned()).or_insert(0u64) += 1;
        }
        events += records.len() as u64;
    }
    assert_eq!(events, summary.events);
    assert_eq!(errors, summary.errors);
    let avg = summary.json_bytes as f64 / summary.events as f64;
    assert!((1400.0..=1800.0).contains(&avg), "average record {avg} bytes");
    let error_ratio = errors as f64 / events as f64;
    assert!((0.03..=0.05).contains(&error_ratio), "error ratio {error_ratio}");
    assert!(sources.len() >= 25, "{} sources", sources.len());
    assert!(names.len() >= 120, "{} event names", names.len());
    for kind in ["AssumedRole", "IAMUser", "AWSService"] {
        assert!(types.get(kind).copied().unwrap_or(0) > 500, "{kind}: {types:?}");
    }
    assert!(names.contains("ConsoleLogin"));
}

#[test]
fn bad_config_is_an_error() {
    let mut config = SynthConfig::benchmark(10);
    config.accounts = vec!["12345".into()];
    let dir = tempfile::tempdir().unwrap();
    assert!(generate(&config, dir.path()).is_err());
}
