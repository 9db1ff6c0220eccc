//! A real moto server for the tests that talk to AWS (started from `$TRAILWATCH_VENV` on a free
//! loopback port; a missing moto fails the test), boto3 set-up scripts, and `trailwatch` run with
//! static credentials against it.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{command, Run};

pub fn venv() -> PathBuf {
    let venv = std::env::var_os("TRAILWATCH_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv"));
    assert!(
        venv.join("bin/moto_server").exists(),
        "moto is not installed in the venv {}: run `bash scripts/test`, which installs it",
        venv.display()
    );
    venv
}

pub struct Moto {
    pub port: u16,
    child: Child,
}

impl Moto {
    pub fn start(no_auth: Option<u32>) -> Moto {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut cmd = Command::new(venv().join("bin/moto_server"));
        cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()]).stdout(Stdio::null()).stderr(Stdio::null());
        if let Some(n) = no_auth {
            cmd.env("INITIAL_NO_AUTH_ACTION_COUNT", n.to_string());
        }
        let mut moto = Moto { port, child: cmd.spawn().expect("start moto_server") };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let up = TcpStream::connect(("127.0.0.1", port)).ok().and_then(|mut s| {
                write!(s, "GET /moto-api/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").ok()?;
                let mut b = [0u8; 12];
                s.read_exact(&mut b).ok()?;
                Some(b.ends_with(b"200"))
            });
            if up == Some(true) {
                return moto;
            }
            assert!(moto.child.try_wait().unwrap().is_none(), "moto_server exited at start");
            assert!(Instant::now() < deadline, "moto_server did not answer within 30 s");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Runs a boto3 script (moto's own dependency) with `url` as `sys.argv[1]`; returns its stdout.
    pub fn python(&self, script: &str, args: &[&str]) -> String {
        let out = Command::new(venv().join("bin/python"))
            .arg("-c")
            .arg(script)
            .arg(self.url())
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "setup failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `trailwatch --config CONFIG ARGS…` with static credentials, never reaching the
/// instance-metadata address.
pub fn aws_command(data: &Path, config: &Path, key: (&str, &str), args: &[&str]) -> Command {
    let mut c = command(data, &[]);
    c.arg("--config").arg(config).args(args);
    c.env("AWS_ACCESS_KEY_ID", key.0)
        .env("AWS_SECRET_ACCESS_KEY", key.1)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN");
    c
}

pub fn aws_tw(data: &Path, config: &Path, key: (&str, &str), args: &[&str]) -> Run {
    Run::from(aws_command(data, config, key, args).output().unwrap())
}
