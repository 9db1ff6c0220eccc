//! `trailwatch serve` on a loopback port with a real HTTP client, and `trailwatch users …`.

mod common;

use std::path::Path;
use std::process::Stdio;

use common::{command, start_server, tw, Server};

/// Starts the server on a free loopback port (port 0: it prints the one it got).
fn start(data: &Path, extra: &[&str]) -> Server {
    let mut args = vec!["serve", "--listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    start_server(command(data, &args))
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).build().into()
}

#[test]
fn serve_answers_health_checks_and_logins_over_http() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let stratus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../cloudtrail/tests/data/stratus");
    tw(&data, &["ingest", stratus.to_str().unwrap(), "--no-detect"]).expect(0);
    let server = start(&data, &[]);
    assert!(server.base.starts_with("http://127.0.0.1:"), "{}", server.base);
    let password = server.admin_password.clone().expect("the first start creates admin");
    assert_eq!(password.len(), 20);
    let agent = agent();

    let mut r = agent.get(format!("{}/healthz", server.base)).call().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.body_mut().read_to_string().unwrap(), r#"{"status":"ok"}"#);
    let r = agent.get(format!("{}/api/v1/stats", server.base)).call().unwrap();
    assert_eq!(r.status(), 401);

    let login = |pw: &str| {
        agent
            .post(format!("{}/api/v1/login", server.base))
            .header("Content-Type", "application/json")
            .send(serde_json::json!({ "username": "admin", "password": pw }).to_string())
            .unwrap()
    };
    assert_eq!(login("not the password").status(), 401);
    let mut r = login(&password);
    assert_eq!(r.status(), 200);
    let set_cookie = r.headers().get("set-cookie").unwrap().to_str().unwrap().to_owned();
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"), "{set_cookie}");
    let body: serde_json::Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(body["username"], "admin");
    let cookie = set_cookie.split(';').next().unwrap();
    let mut r =
        agent.get(format!("{}/api/v1/search?limit=1", server.base)).header("Cookie", cookie).call().unwrap();
    assert_eq!(r.status(), 200);
    let found: serde_json::Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(found["total"], 310);

    // A token made while the server runs works at once.
    let token = tw(&data, &["users", "token", "admin", "--name", "test"]).expect(0).stdout.trim().to_owned();
    assert!(token.starts_with("tw_") && token.len() == 67, "{token}");
    let r = agent
        .get(format!("{}/metrics", server.base))
        .header("Authorization", format!("Bearer {token}"))
        .call()
        .unwrap();
    assert_eq!(r.status(), 200);
    drop(server);

    // A second start does not make another admin.
    let again = start(&data, &[]);
    assert!(again.admin_password.is_none());
}

#[test]
fn users_are_added_listed_and_deleted() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    let mut add =
        command(data, &["users", "add", "alice", "--password-stdin"]).stdin(Stdio::piped()).spawn().unwrap();
    std::io::Write::write_all(add.stdin.as_mut().unwrap(), b"a long enough password\n").unwrap();
    assert!(add.wait().unwrap().success());
    let run = tw(data, &["users", "add", "alice", "--password-stdin"]).expect(2);
    assert!(run.stderr.contains("exists already") || run.stderr.contains("at least"), "{}", run.stderr);
    let run = tw(data, &["users", "add", "bob"]).expect(0);
    assert!(run.stderr.contains("password for bob: "), "{}", run.stderr);
    tw(data, &["users", "add", "bad name"]).expect(2);
    tw(data, &["users", "token", "alice"]).expect(0);
    let list = tw(data, &["users", "list", "--format", "json"]).expect(0);
    let users: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
    assert_eq!(users[0]["username"], "alice");
    assert_eq!(users[0]["tokens"], 1);
    assert_eq!(users[1]["username"], "bob");
    tw(data, &["users", "delete", "alice"]).expect(0);
    tw(data, &["users", "delete", "alice"]).expect(2);
    tw(data, &["users", "token", "alice"]).expect(2);
    let list = tw(data, &["users", "list"]).expect(0);
    assert!(!list.stdout.contains("alice") && list.stdout.contains("bob"), "{}", list.stdout);
}

#[test]
fn serve_speaks_tls_with_a_certificate_and_marks_the_cookie_secure() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let (cert_path, key_path) = (tmp.path().join("cert.pem"), tmp.path().join("key.pem"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, signing_key.serialize_pem()).unwrap();
    let server =
        start(&data, &["--tls-cert", cert_path.to_str().unwrap(), "--tls-key", key_path.to_str().unwrap()]);
    assert!(server.base.starts_with("https://127.0.0.1:"), "{}", server.base);
    let roots = ureq::tls::RootCerts::Specific(std::sync::Arc::new(vec![ureq::tls::Certificate::from_der(
        cert.der(),
    )
    .to_owned()]));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .tls_config(ureq::tls::TlsConfig::builder().root_certs(roots).build())
        .build()
        .into();
    let r = agent.get(format!("{}/healthz", server.base)).call().unwrap();
    assert_eq!(r.status(), 200);
    let r = agent
        .post(format!("{}/api/v1/login", server.base))
        .header("Content-Type", "application/json")
        .send(
            serde_json::json!({ "username": "admin", "password": server.admin_password.clone().unwrap() })
                .to_string(),
        )
        .unwrap();
    assert_eq!(r.status(), 200);
    let set_cookie = r.headers().get("set-cookie").unwrap().to_str().unwrap();
    assert!(set_cookie.split("; ").any(|a| a == "Secure"), "{set_cookie}");
    // Plain HTTP to the TLS port gets no answer.
    let plain = server.base.replace("https://", "http://");
    assert!(ureq::get(format!("{plain}/healthz")).call().is_err());

    let bad = command(
        &data,
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            key_path.to_str().unwrap(),
            "--tls-key",
            key_path.to_str().unwrap(),
        ],
    )
    .output()
    .unwrap();
    assert_eq!(bad.status.code(), Some(2), "{}", String::from_utf8_lossy(&bad.stderr));
}
