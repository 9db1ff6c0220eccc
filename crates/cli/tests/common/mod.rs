//! Shared by the binary's tests: running `trailwatch`, and CloudTrail files built from the
//! Stratus Red Team records kept in the cloudtrail crate's test data.

#![allow(dead_code)] // each test file uses a different part

pub mod browser;
pub mod moto;

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

/// A running `trailwatch serve`, killed when dropped.
pub struct Server {
    pub child: std::process::Child,
    pub base: String,
    /// The first admin's password, when the server created it.
    pub admin_password: Option<String>,
    /// Everything it printed to stderr so far (for failure messages).
    pub log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `cmd` (a `trailwatch … serve --listen 127.0.0.1:0 …`), and waits for it to say where
/// it listens.
pub fn start_server(mut cmd: Command) -> Server {
    use std::io::{BufRead, BufReader};
    let mut child =
        cmd.stderr(std::process::Stdio::piped()).stdout(std::process::Stdio::null()).spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut admin_password = None;
    let base = loop {
        let line = lines.next().expect("the server says where it listens").unwrap();
        log.lock().unwrap().push(line.clone());
        if let Some(p) = line.strip_prefix("created user admin with password ") {
            admin_password = Some(p.trim().to_owned());
        }
        if let Some(url) = line.strip_prefix("listening on ") {
            break url.trim().to_owned();
        }
    };
    // Keep reading stderr so the server never blocks on a full pipe.
    let kept = log.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            kept.lock().unwrap().push(line);
        }
    });
    Server { child, base, admin_password, log }
}

impl Server {
    /// What the server printed, for assertion messages.
    pub fn stderr(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Logs in as admin with the password the server printed; returns the session cookie.
    pub fn login(&self) -> String {
        let password = self.admin_password.clone().expect("the server created admin");
        let r = ureq::post(format!("{}/api/v1/login", self.base))
            .header("Content-Type", "application/json")
            .send(serde_json::json!({ "username": "admin", "password": password }).to_string())
            .unwrap();
        let set_cookie = r.headers().get("set-cookie").unwrap().to_str().unwrap();
        set_cookie.split(';').next().unwrap().to_owned()
    }

    /// `GET path` with the session cookie, as JSON (a non-2xx status fails).
    pub fn get(&self, cookie: &str, path: &str) -> Value {
        let mut r = ureq::get(format!("{}{path}", self.base)).header("Cookie", cookie).call().unwrap();
        serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap()
    }

    /// Sends SIGTERM and waits (at most 60 s) for the exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "serve did not stop within 60 s:\n{}",
                self.stderr()
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

/// Waits up to `secs` for `f` to give something; panics with `what` and `log()` otherwise.
pub fn wait_for<T>(secs: u64, what: &str, log: impl Fn() -> String, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(std::time::Instant::now() < deadline, "{what} within {secs} s; log:\n{}", log());
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
}
