//! Test support: a real moto server on a free loopback port (killed on drop), SDK clients for
//! setting up buckets, trails, objects and IAM in it, and generated CloudTrail files.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::Credentials;
use flate2::write::GzEncoder;
use trailwatch_aws::client::Connect;
use trailwatch_aws::{AwsConfig, RawAccount, RawAws};

pub const ACCOUNT: &str = "123456789012";

/// moto's own account for static test credentials.
pub fn creds() -> Credentials {
    Credentials::new("testing", "testing", None, None, "test")
}

/// `moto_server` from the repo's venv (`TRAILWATCH_VENV`, else `<repo>/.venv`). Missing is a
/// failure, never a skip.
pub fn moto_server() -> PathBuf {
    let venv = std::env::var_os("TRAILWATCH_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv"));
    let bin = venv.join("bin/moto_server");
    assert!(
        bin.exists(),
        "moto is not installed in the venv {} (set TRAILWATCH_VENV to another one): run `bash scripts/test`, \
         which installs moto[s3,sqs,cloudtrail,sts,iam]==5.2.5",
        venv.display()
    );
    bin
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A moto server, killed on drop.
pub struct Moto {
    pub port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Moto {
    pub fn start() -> Moto {
        Moto::start_with(None)
    }

    /// `no_auth`: with IAM enforcement after that many unchecked requests.
    pub fn start_with(no_auth: Option<u32>) -> Moto {
        let bin = moto_server();
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let log_path = dir.path().join("moto.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let mut cmd = Command::new(bin);
        cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()]).stdout(Stdio::null()).stderr(log);
        if let Some(n) = no_auth {
            cmd.env("INITIAL_NO_AUTH_ACTION_COUNT", n.to_string());
        }
        let child = cmd.spawn().expect("start moto_server");
        let mut moto = Moto { port, child, _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if http_get(port, "/moto-api/").is_some_and(|s| s == 200) {
                break;
            }
            if let Ok(Some(status)) = moto.child.try_wait() {
                panic!(
                    "moto_server exited at start: {status}\n{}",
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                );
            }
            assert!(Instant::now() < deadline, "moto_server did not answer on 127.0.0.1:{port} within 30 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn connect(&self) -> Connect {
        Connect { endpoint_url: Some(self.url()), credentials: Some(creds()) }
    }

    pub async fn sdk(&self, region: &str) -> SdkConfig {
        sdk_for(&self.url(), region, creds()).await
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn sdk_for(url: &str, region: &str, creds: Credentials) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .endpoint_url(url)
        .credentials_provider(creds)
        .load()
        .await
}

pub fn s3(sdk: &SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(sdk).force_path_style(true).build())
}

/// The status of `GET path`, if the server answered.
pub fn http_get(port: u16, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").ok()?;
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).ok()?;
    std::str::from_utf8(&buf[..n]).ok()?.split_whitespace().nth(1)?.parse().ok()
}

/// Creates a bucket in `region`.
pub async fn bucket(s3: &aws_sdk_s3::Client, name: &str, region: &str) {
    let mut req = s3.create_bucket().bucket(name);
    if region != "us-east-1" {
        req = req.create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(region))
                .build(),
        );
    }
    req.send().await.unwrap();
}

/// Creates a trail (and starts it when `logging`).
pub async fn trail(
    sdk: &SdkConfig,
    name: &str,
    bucket: &str,
    prefix: Option<&str>,
    multi: bool,
    logging: bool,
) -> String {
    let ct = aws_sdk_cloudtrail::Client::new(sdk);
    let out = ct
        .create_trail()
        .name(name)
        .s3_bucket_name(bucket)
        .set_s3_key_prefix(prefix.map(str::to_owned))
        .is_multi_region_trail(multi)
        .send()
        .await
        .unwrap();
    if logging {
        ct.start_logging().name(name).send().await.unwrap();
    }
    out.trail_arn().unwrap().to_owned()
}

/// A CloudTrail record.
pub fn record(
    id: &str,
    account: &str,
    region: &str,
    time: &str,
    action: &str,
    read_only: bool,
) -> serde_json::Value {
    serde_json::json!({
        "eventVersion": "1.08",
        "userIdentity": {"type": "IAMUser", "principalId": "AIDA0", "arn": format!("arn:aws:iam::{account}:user/alice"),
                          "accountId": account, "userName": "alice"},
        "eventTime": time,
        "eventSource": "iam.amazonaws.com",
        "eventName": action,
        "awsRegion": region,
        "sourceIPAddress": "203.0.113.7",
        "userAgent": "aws-cli/2.15.0",
        "readOnly": read_only,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": account,
        "eventID": id,
    })
}

/// `{"Records": [...]}`, gzipped.
pub fn gz(records: &[serde_json::Value]) -> Vec<u8> {
    let body = serde_json::to_vec(&serde_json::json!({ "Records": records })).unwrap();
    let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(&body).unwrap();
    enc.finish().unwrap()
}

/// The key CloudTrail would give a file delivered at `hhmm` today (UTC), under `root`
/// (`[prefix/]AWSLogs/[o-org/]<account>/`).
pub fn key(root: &str, account: &str, region: &str, hhmm: &str, suffix: &str) -> String {
    let today = chrono::Utc::now().date_naive();
    format!(
        "{root}CloudTrail/{region}/{}/{account}_CloudTrail_{region}_{}T{hhmm}Z_{suffix}.json.gz",
        today.format("%Y/%m/%d"),
        today.format("%Y%m%d")
    )
}

/// Today at `hh:mm:ss` as an eventTime.
pub fn today_at(hms: &str) -> String {
    format!("{}T{hms}Z", chrono::Utc::now().date_naive().format("%Y-%m-%d"))
}

/// Uploads `n` records as one file at `key`; ids are `<tag>-<i>`.
pub async fn upload(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    tag: &str,
    n: usize,
    account: &str,
    region: &str,
) {
    let records: Vec<_> = (0..n)
        .map(|i| {
            record(
                &format!("{tag}-{i}"),
                account,
                region,
                &today_at("00:00:01"),
                if i % 2 == 0 { "CreateUser" } else { "GetUser" },
                i % 2 == 1,
            )
        })
        .collect();
    s3.put_object().bucket(bucket).key(key).body(gz(&records).into()).send().await.unwrap();
}

/// The AWS configuration for accounts written as TOML `[[accounts]]` entries.
pub fn config(aws: &str, accounts: &str) -> AwsConfig {
    #[derive(serde::Deserialize)]
    struct F {
        #[serde(default)]
        aws: RawAws,
        #[serde(default)]
        accounts: Vec<RawAccount>,
    }
    let f: F = toml::from_str(&format!("{aws}\n{accounts}")).unwrap();
    AwsConfig::validate(&f.aws, &f.accounts, &|_| None).unwrap()
}

/// A loopback HTTP proxy in front of moto that injects faults: the first `fail_gets` object
/// GETs are answered `503 SlowDown`, and the first `cut_bodies` object GETs that get through
/// have their body cut off halfway. One request per connection.
pub struct FaultProxy {
    pub port: u16,
    pub requests: std::sync::Arc<std::sync::atomic::AtomicU64>,
    pub faults: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl FaultProxy {
    pub fn start(upstream: u16, fail_gets: u64, cut_bodies: u64) -> FaultProxy {
        use std::sync::atomic::{AtomicU64, Ordering};
        use std::sync::Arc;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(AtomicU64::new(0));
        let faults = Arc::new(AtomicU64::new(0));
        let (fails, cuts) = (Arc::new(AtomicU64::new(fail_gets)), Arc::new(AtomicU64::new(cut_bodies)));
        let (req_count, fault_count) = (requests.clone(), faults.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut client) = conn else { continue };
                let (fails, cuts, req_count, fault_count) =
                    (fails.clone(), cuts.clone(), req_count.clone(), fault_count.clone());
                std::thread::spawn(move || {
                    let Some(request) = read_message(&mut client, true) else { return };
                    req_count.fetch_add(1, Ordering::SeqCst);
                    let head = String::from_utf8_lossy(&request[..request.len().min(512)]).to_string();
                    let first = head.lines().next().unwrap_or("").to_owned();
                    // An object GET: a path with a key under AWSLogs/, not a listing.
                    let object_get = first.starts_with("GET ")
                        && first.contains("/AWSLogs/")
                        && !first.contains("list-type");
                    let take = |n: &AtomicU64| {
                        n.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| v.checked_sub(1)).is_ok()
                    };
                    if object_get && take(&fails) {
                        fault_count.fetch_add(1, Ordering::SeqCst);
                        let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>";
                        let _ = write!(client, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
                        return;
                    }
                    let Ok(mut up) = TcpStream::connect(("127.0.0.1", upstream)) else { return };
                    let request = force_close(&request);
                    if up.write_all(&request).is_err() {
                        return;
                    }
                    let Some(response) = read_message(&mut up, false) else { return };
                    let split =
                        response.windows(4).position(|w| w == b"\r\n\r\n").map_or(response.len(), |p| p + 4);
                    let body_len = response.len() - split;
                    if object_get && body_len > 64 && take(&cuts) {
                        fault_count.fetch_add(1, Ordering::SeqCst);
                        let _ = client.write_all(&response[..split + body_len / 2]);
                        let _ = client.flush();
                        let _ = client.shutdown(std::net::Shutdown::Both);
                        return;
                    }
                    let _ = client.write_all(&response);
                });
            }
        });
        FaultProxy { port, requests, faults }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// Rewrites the request to `Connection: close` so that the upstream closes after answering.
fn force_close(request: &[u8]) -> Vec<u8> {
    let split = request.windows(4).position(|w| w == b"\r\n\r\n").map_or(request.len(), |p| p + 4);
    let head = String::from_utf8_lossy(&request[..split]);
    let mut out = String::new();
    for line in head.split("\r\n") {
        if line.is_empty() || line.to_ascii_lowercase().starts_with("connection:") {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("Connection: close\r\n\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&request[split..]);
    bytes
}

/// Reads one HTTP message: the head, then a `Content-Length` body (requests), or everything
/// until the peer closes (responses, sent with `Connection: close`).
fn read_message(s: &mut TcpStream, request: bool) -> Option<Vec<u8>> {
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            if !request {
                break;
            }
            let head = String::from_utf8_lossy(&buf[..p]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if buf.len() >= p + 4 + len {
                return Some(buf);
            }
        }
        let n = s.read(&mut chunk).ok()?;
        if n == 0 {
            return (!buf.is_empty()).then_some(buf);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    loop {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return Some(buf),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}
