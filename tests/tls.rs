//! HTTPS: a certificate made in the test (rcgen), the mock lab serving it
//! with rustls, and curl (a client nobody here wrote) trusting only that
//! certificate. Links in the TD follow the scheme.

mod common;

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/mock_lab.rs"]
mod mock_lab;

use std::path::PathBuf;

use labthings::{AuthConfig, Credential, Role, ServerConfig, TlsConfig, User};
use serde_json::Value;

/// A self-signed certificate for `localhost` and 127.0.0.1, as PEM files in
/// a scratch folder: (folder, certificate, key).
fn certificate() -> (PathBuf, PathBuf, PathBuf) {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .expect("a self-signed certificate");
    let dir = std::env::temp_dir().join(format!("labthings-tls-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let (cert, key) = (dir.join("lab.crt"), dir.join("lab.key"));
    std::fs::write(&cert, made.cert.pem()).expect("write the certificate");
    std::fs::write(&key, made.signing_key.serialize_pem()).expect("write the key");
    (dir, cert, key)
}

/// Run curl with `args`; (exit code, stdout).
async fn curl(args: &[&str]) -> (i32, String) {
    let output = tokio::process::Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "10"])
        .args(args)
        .output()
        .await
        .expect("run curl");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lab_serves_https_that_a_client_trusting_its_certificate_accepts() {
    // Installs curl too, where it is missing.
    common::clients::setup();
    labthings::init_test_tracing();
    let (dir, cert, key) = certificate();
    let config = ServerConfig::default().with(|c| {
        c.settings_dir = None;
        c.tls = Some(TlsConfig {
            cert: cert.clone(),
            key,
        });
        c.auth = AuthConfig {
            users: vec![User::new(
                "alice",
                Role::Operate,
                Credential::password("alice's password"),
            )],
            anonymous: None,
            ..AuthConfig::default()
        };
    });
    let listening = mock_lab::build(config)
        .expect("the mock lab builds")
        .bind("127.0.0.1:0")
        .await
        .expect("bind");
    assert!(listening.url().starts_with("https://127.0.0.1:"), "{}", listening.url());
    let port = listening.local_addr().expect("an address").port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(listening.serve_until(async move {
        let _ = stopped.await;
    }));
    let url = format!("https://localhost:{port}");
    let cacert = cert.to_str().expect("a UTF-8 path");

    let (code, body) = curl(&[
        "--cacert",
        cacert,
        "-u",
        "alice:alice's password",
        &format!("{url}/stage/"),
    ])
    .await;
    assert_eq!(code, 0, "curl trusting the certificate: {body}");
    let td: Value = serde_json::from_str(&body).expect("a TD");
    assert_eq!(td["base"], format!("{url}/"), "TD links use https");
    assert_eq!(td["security"], serde_json::json!(["basic_sc"]));

    // Writes over TLS, with credentials.
    let (code, body) = curl(&[
        "--cacert",
        cacert,
        "-u",
        "alice:alice's password",
        "-X",
        "PUT",
        "-H",
        "content-type: application/json",
        "-d",
        "7",
        "-w",
        "%{http_code}",
        &format!("{url}/stage/step_delay_ms"),
    ])
    .await;
    assert_eq!((code, body.as_str()), (0, "null201"));
    // Without credentials, 401 over TLS too.
    let (code, body) = curl(&["--cacert", cacert, "-w", " %{http_code}", &format!("{url}/stage/")]).await;
    assert_eq!(code, 0, "{body}");
    assert!(body.ends_with(" 401"), "{body}");
    // A client that does not trust the certificate refuses it (curl 60).
    let (code, _) = curl(&[&format!("{url}/stage/")]).await;
    assert_eq!(code, 60, "an untrusted certificate must fail verification");
    // Plain HTTP on the TLS port gets no HTTP answer.
    let (code, body) = curl(&[&format!("http://localhost:{port}/stage/")]).await;
    assert_ne!(code, 0, "plain HTTP to the TLS port: {body}");
    // The server still serves after both.
    let (code, _) = curl(&[
        "--cacert",
        cacert,
        "-u",
        "alice:alice's password",
        &format!("{url}/things/"),
    ])
    .await;
    assert_eq!(code, 0);

    let _ = stop.send(());
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_that_cannot_be_used_is_a_clear_build_error() {
    let (dir, cert, key) = certificate();
    let missing = ServerConfig::default().with(|c| {
        c.tls = Some(TlsConfig {
            cert: dir.join("nope.crt"),
            key: key.clone(),
        })
    });
    let error = mock_lab::build(missing).expect_err("no such certificate").to_string();
    assert!(error.contains("nope.crt"), "{error}");
    let swapped = ServerConfig::default().with(|c| c.tls = Some(TlsConfig { cert: key, key: cert }));
    let error = mock_lab::build(swapped)
        .expect_err("certificate and key swapped")
        .to_string();
    assert!(error.contains("tls:"), "{error}");
    let _ = std::fs::remove_dir_all(dir);
}
