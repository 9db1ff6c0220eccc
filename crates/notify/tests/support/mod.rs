//! Real local receivers for the integration tests: a scripted HTTP/1.1 listener on loopback,
//! an aiosmtpd SMTP sink from the repo's venv, and helpers to build notifiers from TOML.
#![allow(dead_code)] // each test file uses a different part

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde::Deserialize;
use trailwatch_notify::{Action, Notification, Notifier, RawNotifyConfig, Severity};

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// Names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }
}

/// What the receiver answers to one request.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// Wait this long before answering (to make the client time out).
    pub delay: Duration,
}

impl Reply {
    pub fn status(status: u16) -> Reply {
        Reply { status, headers: vec![], body: String::new(), delay: Duration::ZERO }
    }

    pub fn body(mut self, body: &str) -> Reply {
        self.body = body.to_string();
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn delay(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }
}

/// An HTTP listener on 127.0.0.1 in a thread. It answers scripted replies in order, then the
/// default reply, and records every request. One request per connection (`Connection: close`)
/// keeps the parser minimal.
pub struct HttpReceiver {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Request>>>,
    script: Arc<Mutex<VecDeque<Reply>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HttpReceiver {
    pub fn start(default: Reply) -> HttpReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(VecDeque::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (requests, script, stop) = (requests.clone(), script.clone(), stop.clone());
            thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    // A thread per connection, so a delayed reply (timeout tests) does not
                    // hold up the client's retry on a new connection.
                    let (requests, script, default) = (requests.clone(), script.clone(), default.clone());
                    thread::spawn(move || {
                        let Some(request) = read_request(&stream) else { return };
                        // Record and pick the reply under one lock, so replies follow arrival order.
                        let reply = {
                            let mut requests = requests.lock().unwrap();
                            requests.push(request);
                            script.lock().unwrap().pop_front().unwrap_or(default)
                        };
                        write_reply(stream, &reply);
                    });
                }
            })
        };
        HttpReceiver { addr, requests, script, stop, thread: Some(thread) }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Queues replies to answer before the default one.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.script.lock().unwrap().extend(replies);
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for HttpReceiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn read_request(stream: &TcpStream) -> Option<Request> {
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let length: usize =
        headers.iter().find(|(n, _)| n == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Request { method, path, headers, body })
}

fn write_reply(mut stream: TcpStream, reply: &Reply) {
    thread::sleep(reply.delay);
    let mut head = format!(
        "HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        reply.status,
        reply.body.len()
    );
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    // The client may have given up (timeout tests); that is fine.
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(reply.body.as_bytes());
}

/// A port on loopback that nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A notifier from a `[notify]` TOML snippet, with secrets from `env`.
pub fn notifier(toml_text: &str, env: &[(&str, &str)]) -> Notifier {
    #[derive(Deserialize)]
    struct File {
        notify: RawNotifyConfig,
    }
    let file: File = toml::from_str(toml_text).expect("test config parses");
    let lookup = |name: &str| env.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string());
    let config = file.notify.validate(&lookup).expect("test config validates");
    Notifier::new(config).expect("notifier builds")
}

/// A realistic notification for "CloudTrail logging stopped".
pub fn notification() -> Notification {
    Notification {
        action: Action::Trigger,
        dedup_key: "aws-cloudtrail-stopped/actor.arn=arn:aws:iam::123456789012:user/bob".into(),
        rule_id: "aws-cloudtrail-stopped".into(),
        rule_name: "CloudTrail logging stopped".into(),
        severity: Severity::High,
        tags: vec!["cloudtrail".into(), "defense-evasion".into()],
        mitre: vec!["T1562.008".into()],
        group: "actor.arn=arn:aws:iam::123456789012:user/bob".into(),
        title: "CloudTrail logging stopped by bob in 123456789012".into(),
        description: "StopLogging was called on trail management-events.".into(),
        runbook: Some("1. Check whether bob meant to stop the trail.\n2. Restart logging.".into()),
        first_seen_ms: 1_762_336_800_000,
        last_seen_ms: 1_762_337_100_000,
        count: 3,
        sample_event_ids: vec!["0b9a6c2e-1111-4a3b-9c1d-000000000001".into()],
        link: Some("http://127.0.0.1:7070/signals/aws-cloudtrail-stopped?group=bob".into()),
    }
}

/// The repo's Python venv (`TRAILWATCH_VENV`, else `<repo>/.venv`), which `scripts/test`
/// creates. Missing is a failure, never a skip: a skipped mail test would hide a broken channel.
pub fn venv_python() -> PathBuf {
    let venv = std::env::var_os("TRAILWATCH_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv"));
    let python = venv.join("bin/python");
    let ok = Command::new(&python)
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "aiosmtpd is not installed in the venv {} (set TRAILWATCH_VENV to another one): run `bash scripts/test`, \
         which creates .venv and installs aiosmtpd==1.4.6",
        venv.display()
    );
    python
}

/// An aiosmtpd sink writing every message into a maildir, killed on drop.
pub struct SmtpSink {
    pub port: u16,
    pub maildir: PathBuf,
    child: Child,
    _dir: tempfile::TempDir,
}

impl SmtpSink {
    /// `tls`: (certificate chain PEM, key PEM) to offer STARTTLS with (and require it).
    pub fn start(tls: Option<(&str, &str)>) -> SmtpSink {
        let python = venv_python();
        let dir = tempfile::tempdir().unwrap();
        let maildir = dir.path().join("maildir");
        for sub in ["tmp", "new", "cur"] {
            std::fs::create_dir_all(maildir.join(sub)).unwrap();
        }
        let port = closed_port();
        let mut command = Command::new(python);
        command.args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")]);
        if let Some((cert, key)) = tls {
            let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
            std::fs::write(&cert_path, cert).unwrap();
            std::fs::write(&key_path, key).unwrap();
            command.arg("--tlscert").arg(cert_path).arg("--tlskey").arg(key_path);
        }
        command.args(["-c", "aiosmtpd.handlers.Mailbox"]).arg(&maildir);
        // Its log (which shows expected TLS failures as tracebacks) goes to a file, shown
        // only when it does not start.
        let log_path = dir.path().join("aiosmtpd.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let child = command.stdout(Stdio::null()).stderr(log).spawn().expect("start aiosmtpd");
        let mut sink = SmtpSink { port, maildir, child, _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = sink.child.try_wait() {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                panic!("aiosmtpd exited at start: {status}\n{log}");
            }
            assert!(Instant::now() < deadline, "aiosmtpd did not listen on 127.0.0.1:{port} within 15 s");
            thread::sleep(Duration::from_millis(50));
        }
        sink
    }

    /// The messages delivered so far, as raw RFC 5322 text.
    pub fn messages(&self) -> Vec<String> {
        let mut out = Vec::new();
        for sub in ["new", "cur"] {
            for entry in std::fs::read_dir(self.maildir.join(sub)).unwrap() {
                out.push(std::fs::read_to_string(entry.unwrap().path()).unwrap());
            }
        }
        out
    }

    /// Waits briefly for `n` messages: the sink writes the file just after answering 250.
    pub fn wait_for(&self, n: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let messages = self.messages();
            if messages.len() >= n || Instant::now() > deadline {
                return messages;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
