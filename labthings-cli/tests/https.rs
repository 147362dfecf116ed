//! The `labthings` binary against a lab served with TLS (a self-signed
//! certificate made here) and users (a password and a token), and each
//! mistake a user makes on the way there answered with what failed:
//! a certificate not trusted, not for the name used, plain HTTP to the
//! HTTPS port or the reverse, a wrong password (with what the server asks
//! for), nothing listening at the address.

mod common;

#[allow(dead_code, unreachable_pub)]
#[path = "../../examples/mock_lab.rs"]
mod mock_lab;

use std::path::PathBuf;

use labthings::{AuthConfig, Credential, Role, ServerConfig, TlsConfig, User};

/// A self-signed certificate for `localhost` only, as PEM files in a
/// scratch folder: (folder, certificate, key).
fn certificate() -> (PathBuf, PathBuf, PathBuf) {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("a certificate");
    let dir = std::env::temp_dir().join(format!("labthings-cli-tls-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let (cert, key) = (dir.join("lab.crt"), dir.join("lab.key"));
    std::fs::write(&cert, made.cert.pem()).expect("write the certificate");
    std::fs::write(&key, made.signing_key.serialize_pem()).expect("write the key");
    (dir, cert, key)
}

/// The mock lab on a free port, with `tls` if given and users alice
/// (password) and bot (token); its port.
async fn lab(tls: Option<TlsConfig>) -> u16 {
    let config = ServerConfig::default().with(|c| {
        c.settings_dir = None;
        c.tls = tls;
        c.auth = AuthConfig::for_users(vec![
            User::new("alice", Role::Operate, Credential::password("alice's password")),
            User::new(
                "bot",
                Role::Observe,
                Credential::token("a-long-random-token-for-the-bot"),
            ),
        ]);
    });
    let listening = mock_lab::build(config)
        .expect("the mock lab builds")
        .bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listening.local_addr().expect("an address").port();
    tokio::spawn(listening.serve_until(std::future::pending::<()>()));
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_drives_a_lab_served_with_tls_and_users_and_says_what_failed() {
    let (dir, cert, key) = certificate();
    let port = lab(Some(TlsConfig::new(cert.clone(), key))).await;
    let cacert = cert.to_str().expect("a UTF-8 path");
    let stage = format!("https://localhost:{port}/stage/");
    let password = [("LABTHINGS_PASSWORD", "alice's password")];

    // A user name and password, the CA file named on the command line.
    let (code, out, err) = common::labthings_with(
        &["--cacert", cacert, "--user", "alice", "get", &stage, "position"],
        &password,
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains('0'), "{out}");
    // And writing, which needs the operate role.
    let (code, _, err) = common::labthings_with(
        &[
            "--cacert",
            cacert,
            "--user",
            "alice",
            "set",
            &stage,
            "step_delay_ms",
            "3",
        ],
        &password,
    )
    .await;
    assert_eq!(code, 0, "{err}");
    // A token, the CA file from the environment.
    let (code, out, err) = common::labthings_with(
        &[
            "--token",
            "a-long-random-token-for-the-bot",
            "get",
            &stage,
            "step_delay_ms",
        ],
        &[("LABTHINGS_CACERT", cacert)],
    )
    .await;
    assert_eq!((code, out.trim()), (0, "3"), "{err}");

    // The certificate not trusted: say so, and how to trust it.
    let (code, _, err) = common::labthings_with(&["--user", "alice", "get", &stage, "position"], &password).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("is not trusted") && err.contains("--cacert"), "{err}");
    // Not for the name used (made for localhost, asked as 127.0.0.1).
    let by_address = format!("https://127.0.0.1:{port}/stage/");
    let (code, _, err) = common::labthings_with(
        &["--cacert", cacert, "--user", "alice", "get", &by_address, "position"],
        &password,
    )
    .await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not valid for the name 127.0.0.1"), "{err}");
    // Plain HTTP to the HTTPS port.
    let plain = format!("http://localhost:{port}/stage/");
    let (code, _, err) = common::labthings_with(&["get", &plain, "position"], &[]).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("does it speak HTTPS"), "{err}");
    // A wrong password: 401, what was sent, what the server asks for.
    let (code, _, err) = common::labthings_with(
        &["--cacert", cacert, "--user", "alice", "get", &stage, "position"],
        &[("LABTHINGS_PASSWORD", "not it")],
    )
    .await;
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("not allowed")
            && err.contains("\"alice\" and password sent were not accepted")
            && err.contains("Basic"),
        "{err}"
    );
    // A CA file that is not there is named.
    let (code, _, err) = common::labthings_with(&["--cacert", "no-such-ca.pem", "get", &stage, "position"], &[]).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no-such-ca.pem"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_to_a_plain_server_and_a_closed_port_are_named() {
    let port = lab(None).await;
    let (code, _, err) =
        common::labthings_with(&["get", &format!("https://127.0.0.1:{port}/stage/"), "position"], &[]).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("does it speak plain HTTP"), "{err}");

    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let free = closed.local_addr().expect("an address").port();
    drop(closed);
    let (code, _, err) =
        common::labthings_with(&["get", &format!("http://127.0.0.1:{free}/stage/"), "position"], &[]).await;
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!("connection refused at 127.0.0.1:{free}")),
        "{err}"
    );
}
