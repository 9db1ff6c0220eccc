//! A moto server for the live-AWS benchmark, started the way the AWS tests start theirs: from
//! `$TRAILWATCH_VENV` (else the repository's `.venv`) on a free loopback port, killed on drop.
//! Buckets, trails and objects are set up with boto3, moto's own dependency.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

pub struct Moto {
    pub port: u16,
    venv: PathBuf,
    child: Child,
}

impl Moto {
    /// Starts moto; on CPU `cpu` alone when given (`taskset`, which execs moto in its place).
    /// `waitress`: the same moto application served by waitress with that many threads
    /// (keep-alive connections; `moto_server`'s werkzeug closes every connection after one
    /// answer), installed once with pip under `bench-data/aws-py`.
    pub fn start(root: &Path, cpu: Option<usize>, waitress: Option<usize>) -> Result<Moto> {
        let venv = std::env::var_os("TRAILWATCH_VENV").map_or_else(|| root.join(".venv"), PathBuf::from);
        let bin = venv.join("bin/moto_server");
        if !bin.exists() {
            bail!(
                "moto is not installed in the venv {} (set TRAILWATCH_VENV to another one, or run \
                 `bash scripts/test`, which installs moto[s3,sqs,cloudtrail,sts,iam]==5.2.5)",
                venv.display()
            );
        }
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let (program, args): (PathBuf, Vec<String>) = match waitress {
            None => (bin.clone(), ["-H", "127.0.0.1", "-p", &port.to_string()].map(String::from).to_vec()),
            Some(threads) => {
                let site = root.join("bench-data/aws-py");
                if !site.join("waitress").exists() {
                    let ok = Command::new(venv.join("bin/python"))
                        .args(["-m", "pip", "install", "-q", "--target"])
                        .arg(&site)
                        .arg("waitress==3.0.2")
                        .status()
                        .context("running pip")?
                        .success();
                    if !ok {
                        bail!("pip install --target {} waitress==3.0.2 failed", site.display());
                    }
                }
                let args = vec!["-c".into(), WAITRESS.into(), port.to_string(), threads.to_string()];
                (venv.join("bin/python"), args)
            }
        };
        let mut command = match cpu {
            Some(cpu) => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(cpu.to_string()).arg(&program);
                c
            }
            None => Command::new(&program),
        };
        if waitress.is_some() {
            command.env("PYTHONPATH", root.join("bench-data/aws-py"));
        }
        let child = command
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", program.display()))?;
        let mut moto = Moto { port, venv, child };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !moto.answers() {
            if let Some(status) = moto.child.try_wait()? {
                bail!("moto_server exited at start: {status}");
            }
            if Instant::now() > deadline {
                bail!("moto_server did not answer on 127.0.0.1:{port} within 30 s");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(moto)
    }

    fn answers(&self) -> bool {
        let status = || -> Option<bool> {
            let mut s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
            write!(s, "GET /moto-api/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").ok()?;
            let mut b = [0u8; 12];
            s.read_exact(&mut b).ok()?;
            Some(b.ends_with(b"200"))
        };
        status() == Some(true)
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// User + system CPU seconds moto has used so far (from `/proc/<pid>/stat`).
    pub fn cpu_seconds(&self) -> Result<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))?;
        // The fields after the command name (which is in parentheses and may hold spaces).
        let rest = stat.rsplit_once(')').map(|(_, r)| r).context("odd /proc stat")?;
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 =
            f.get(11).context("no utime")?.parse::<u64>()? + f.get(12).context("no stime")?.parse::<u64>()?;
        // SAFETY: sysconf only reads a configuration value.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1);
        Ok(ticks as f64 / hz as f64)
    }

    /// Runs a boto3 script with moto's URL as `sys.argv[1]` and `args` after it; returns its stdout.
    pub fn python(&self, script: &str, args: &[&str]) -> Result<String> {
        let out = Command::new(self.venv.join("bin/python"))
            .arg("-c")
            .arg(script)
            .arg(self.url())
            .args(args)
            .output()
            .context("running the venv's python")?;
        if !out.status.success() {
            bail!("moto setup script failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// moto's application under waitress: `sys.argv[1:3]` are the port and the threads.
const WAITRESS: &str = r#"
import sys
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from waitress import serve
serve(DomainDispatcherApplication(create_backend_app), host="127.0.0.1", port=int(sys.argv[1]),
      threads=int(sys.argv[2]), _quiet=True)
"#;

/// Creates `bucket` and a logging organization trail `trail` writing under `prefix/`.
pub const CREATE_TRAIL: &str = r#"
import boto3, sys
url, bucket, trail, prefix = sys.argv[1:5]
kw = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
boto3.client("s3", **kw).create_bucket(Bucket=bucket)
ct = boto3.client("cloudtrail", **kw)
ct.create_trail(Name=trail, S3BucketName=bucket, S3KeyPrefix=prefix, IsMultiRegionTrail=True, IsOrganizationTrail=True)
ct.start_logging(Name=trail)
"#;

/// Deletes the trail `sys.argv[2]`.
pub const DELETE_TRAIL: &str = r#"
import boto3, sys
kw = dict(endpoint_url=sys.argv[1], region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
boto3.client("cloudtrail", **kw).delete_trail(Name=sys.argv[2])
"#;

/// Uploads every file under a folder to `bucket`, keyed by its path relative to the folder;
/// prints the number of objects and bytes.
pub const UPLOAD: &str = r#"
import boto3, os, sys
from concurrent.futures import ThreadPoolExecutor
url, bucket, root = sys.argv[1:4]
s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
paths = [os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs if f.endswith(".json.gz")]
def put(p):
    with open(p, "rb") as f:
        body = f.read()
    s3.put_object(Bucket=bucket, Key=os.path.relpath(p, root), Body=body)
    return len(body)
with ThreadPoolExecutor(4) as ex:
    total = sum(ex.map(put, paths))
print(len(paths), total)
"#;
