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
    let dir = std::env::temp_dir().join(format!("labthings-tls-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let (cert, key) = common::self_signed(&dir, &["localhost", "127.0.0.1"]);
    (dir, cert, key)
}

/// The mock lab bound to a free port, serving HTTPS with `cert` and `key`,
/// with the users alice (operate, a password) and bot (observe, a token).
async fn secured_lab(cert: &std::path::Path, key: PathBuf) -> labthings::http::Listening {
    let config = ServerConfig::default().with(|c| {
        c.settings_dir = None;
        c.tls = Some(TlsConfig::new(cert.to_owned(), key));
        c.auth = AuthConfig::for_users(vec![
            User::new("alice", Role::Operate, Credential::password("alice's password")),
            User::new(
                "bot",
                Role::Observe,
                Credential::token("a-long-random-token-for-the-bot"),
            ),
        ]);
    });
    mock_lab::build(config)
        .expect("the mock lab builds")
        .bind("127.0.0.1:0")
        .await
        .expect("bind")
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
    let listening = secured_lab(&cert, key).await;
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
    // A password user and a token user: either scheme.
    assert_eq!(td["security"], serde_json::json!(["combo_sc"]));

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
    let missing = common::test_config().with(|c| c.tls = Some(TlsConfig::new(dir.join("nope.crt"), key.clone())));
    let error = mock_lab::build(missing).expect_err("no such certificate").to_string();
    assert!(error.contains("nope.crt"), "{error}");
    let swapped = common::test_config().with(|c| c.tls = Some(TlsConfig::new(key, cert)));
    let error = mock_lab::build(swapped)
        .expect_err("certificate and key swapped")
        .to_string();
    assert!(error.contains("tls:"), "{error}");
    let _ = std::fs::remove_dir_all(dir);
}

/// The typed client `#[thing]` generates and the dynamic client reach a lab
/// served with TLS (its self-signed certificate named as the CA file) and
/// users: with a password, with a token; without the CA file the
/// certificate is refused, saying so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_clients_drive_a_lab_served_with_tls_and_users() {
    use labthings::client::{ClientError, Connection, ThingClient};
    let (dir, cert, key) = certificate();
    let listening = secured_lab(&cert, key).await;
    let port = listening.local_addr().expect("an address").port();
    tokio::spawn(listening.serve_until(std::future::pending::<()>()));
    let stage = format!("https://localhost:{port}/stage/");
    let trusting = || Connection::new().with_ca_file(&cert).expect("the certificate is read");

    let typed = mock_lab::StageClient::connect_with(&stage, trusting().with_password("alice", "alice's password"))
        .await
        .expect("the typed client connects over TLS with a password");
    let moved: [i64; 3] = typed.move_relative(5).await.expect("moved");
    assert_eq!(moved, [5, 0, 0]);
    let dynamic = ThingClient::connect(&stage, trusting().with_token("a-long-random-token-for-the-bot"))
        .await
        .expect("the dynamic client connects over TLS with a token");
    let position: Vec<i64> = dynamic.read_property("position").await.expect("read");
    assert_eq!(position, vec![5, 0, 0]);

    match ThingClient::connect(&stage, Connection::new().with_password("alice", "alice's password")).await {
        Err(ClientError::Tls(why)) => assert!(why.contains("not trusted"), "{why}"),
        Err(other) => panic!("expected a TLS error, got {other}"),
        Ok(_) => panic!("a certificate nobody named was trusted"),
    }
    let _ = std::fs::remove_dir_all(dir);
}
