//! Shared by the binary's tests: running `trailwatch`, and CloudTrail files built from the
//! Stratus Red Team records kept in the cloudtrail crate's test data.

#![allow(dead_code)] // each test file uses a different part

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use flate2::{write::GzEncoder, Compression};
use serde_json::Value;

pub const ACCOUNT: &str = "123456789012";

/// `trailwatch --data-dir DATA ARGS…`, isolated from the caller's environment.
pub fn command(data: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_trailwatch"));
    c.arg("--data-dir").arg(data).args(args).env_remove("TRAILWATCH_DATA_DIR").env_remove("TRAILWATCH_LOG");
    c
}

/// Runs `trailwatch` to the end.
pub fn tw(data: &Path, args: &[&str]) -> Run {
    let out = command(data, args).output().expect("trailwatch runs");
    Run::from(out)
}

/// What a run printed and how it ended.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8(o.stdout).expect("stdout is UTF-8"),
            stderr: String::from_utf8(o.stderr).expect("stderr is UTF-8"),
        }
    }
}

impl Run {
    /// Asserts the exit code, showing the output when it is wrong.
    pub fn expect(self, code: i32) -> Run {
        assert_eq!(self.code, code, "exit code; stdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self
    }
}

/// Every Stratus record, in file-name and line order (310, with distinct eventIDs).
pub fn stratus() -> Vec<Value> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../cloudtrail/tests/data/stratus");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    let mut records = Vec::new();
    for f in files {
        for line in std::fs::read_to_string(&f).unwrap().lines().filter(|l| !l.trim().is_empty()) {
            records.push(serde_json::from_str(line).unwrap());
        }
    }
    assert_eq!(records.len(), 310, "the Stratus fixture changed");
    records
}

/// A log file path in the S3 key layout; `tag` makes it unique.
pub fn log_path(root: &Path, tag: &str) -> PathBuf {
    root.join(format!(
        "AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2024/08/01/{ACCOUNT}_CloudTrail_us-east-1_20240801T1335Z_{tag}.json.gz"
    ))
}

pub fn write_gz(path: &Path, data: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    std::fs::write(path, e.finish().unwrap()).unwrap();
}

/// Writes `records` as one gzipped `{"Records":[...]}` file.
pub fn write_log(path: &Path, records: &[Value]) {
    write_gz(path, &serde_json::to_vec(&serde_json::json!({ "Records": records })).unwrap());
}
