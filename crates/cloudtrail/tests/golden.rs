//! Golden test: every Stratus Red Team record, normalized, against `data/stratus.normalized.jsonl`.
//!
//! Each line of the golden file is one serialized [`Event`] (without `raw`), in file-name order
//! then line order, so a change shows up in `git diff` as the lines of the records it touched.
//! `UPDATE_GOLDEN=1 cargo test -p trailwatch-cloudtrail --test golden` rewrites the file; review
//! the diff (titles and actor names especially) before committing it.

use std::fs;
use std::path::{Path, PathBuf};

use trailwatch_cloudtrail::{normalize, Event, RecordContext};

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// `(file:line, event)` for every record of every `*.jsonl` under `dir`.
fn normalize_dir(dir: &Path) -> Vec<(String, Event)> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    let ctx = RecordContext { received: 1_700_000_000_000, ..RecordContext::default() };
    let mut out = Vec::new();
    for file in files {
        let text = fs::read_to_string(&file).unwrap();
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let at = format!("{name}:{}", i + 1);
            let event = normalize(line.as_bytes().to_vec(), &ctx).unwrap_or_else(|e| panic!("{at}: {e}"));
            out.push((at, event));
        }
    }
    out
}

#[test]
fn stratus_records_normalize_as_recorded() {
    let events = normalize_dir(&data().join("stratus"));
    assert_eq!(events.len(), 310, "the Stratus corpus has 310 records");
    let lines: Vec<String> = events.iter().map(|(_, e)| serde_json::to_string(e).unwrap()).collect();
    let golden = data().join("stratus.normalized.jsonl");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        fs::write(&golden, lines.join("\n") + "\n").unwrap();
        return;
    }
    let expected = fs::read_to_string(&golden).expect("golden file missing: run with UPDATE_GOLDEN=1");
    let expected: Vec<&str> = expected.lines().collect();
    for (i, ((at, event), line)) in events.iter().zip(&lines).enumerate() {
        let want = expected.get(i).copied().unwrap_or("<missing>");
        if want != line {
            let pretty = |s: &str| {
                serde_json::from_str::<serde_json::Value>(s)
                    .map(|v| serde_json::to_string_pretty(&v).unwrap())
                    .unwrap_or_else(|_| s.to_owned())
            };
            panic!(
                "{at} (golden line {}) differs; rerun with UPDATE_GOLDEN=1 if the change is intended\n\
                 --- expected\n{}\n--- got\n{}",
                i + 1,
                pretty(want),
                serde_json::to_string_pretty(event).unwrap()
            );
        }
    }
    assert_eq!(expected.len(), lines.len(), "golden file has extra lines");
}

/// Titles are one line, never empty, and name someone or something.
#[test]
fn stratus_titles_read_well() {
    for (at, event) in normalize_dir(&data().join("stratus")) {
        assert!(!event.title.is_empty() && !event.title.contains('\n'), "{at}: {:?}", event.title);
        assert!(!event.title.contains("  "), "{at}: {:?}", event.title);
    }
}
