//! The documents the server serves, kept as files: every TD of the mock lab,
//! of the bench, and of the bench with users (bearer and basic), the TD
//! listing and the OpenAPI document of each. The next changes to how they
//! are built (a typed Thing Description, endpoint types) must serve exactly
//! the same JSON; this test compares them byte for byte, with the server's
//! address written as `http://HOST`.
//!
//! After a change meant to alter a document, re-record with
//! `LABTHINGS_RECORD_DOCUMENTS=1 cargo test --test documents` and review
//! the diff of `tests/documents/`.

mod common;

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/mock_lab.rs"]
mod mock_lab;

#[allow(dead_code, unreachable_pub)]
#[path = "../benches/servers/bench.rs"]
mod bench;

use std::path::PathBuf;

use common::{TestServer, start};
use labthings::{AuthConfig, Credential, Role, Server, ServerConfig, User};
use serde_json::Value;

/// The bench's users: a token and a password.
fn users() -> AuthConfig {
    AuthConfig::for_users(vec![
        User::new(
            "script",
            Role::Operate,
            Credential::token("a-token-of-the-documents-test"),
        ),
        User::new(
            "alice",
            Role::Observe,
            Credential::password("alice's documents password"),
        ),
    ])
    .with_anonymous(Some(Role::Observe))
}

/// `GET path` on `server` as text, with the server's address as `http://HOST`.
async fn document(server: &TestServer, path: &str, token: Option<&str>) -> String {
    let mut request = server.client.get(server.at(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("GET");
    assert_eq!(response.status(), 200, "{path}");
    let value: Value = response.json().await.expect("JSON");
    let text = serde_json::to_string_pretty(&value).expect("JSON text");
    format!("{}\n", text.replace(&server.url, "http://HOST"))
}

/// Compare `text` with the recorded `tests/documents/{name}` (or record it).
fn check(name: &str, text: &str, mismatches: &mut Vec<String>) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/documents")
        .join(name);
    if std::env::var_os("LABTHINGS_RECORD_DOCUMENTS").is_some() {
        std::fs::write(&path, text).expect("record the document");
        return;
    }
    match std::fs::read_to_string(&path) {
        Ok(recorded) if recorded == text => {}
        Ok(recorded) => {
            let line = recorded
                .lines()
                .zip(text.lines())
                .position(|(a, b)| a != b)
                .unwrap_or_else(|| recorded.lines().count().min(text.lines().count()))
                + 1;
            mismatches.push(format!("{name}: differs from line {line}"));
        }
        Err(e) => mismatches.push(format!("{name}: not recorded ({e})")),
    }
}

/// Every TD of `server` (by thing name), its listing and its OpenAPI
/// document, compared under `prefix`.
async fn check_server(server: &TestServer, prefix: &str, things: &[&str], token: Option<&str>) -> Vec<String> {
    let mut mismatches = Vec::new();
    for thing in things {
        let td = document(server, &format!("/{thing}/"), token).await;
        check(&format!("{prefix}-{thing}.td.json"), &td, &mut mismatches);
    }
    let listing = document(server, "/thing_descriptions/", token).await;
    check(&format!("{prefix}.listing.json"), &listing, &mut mismatches);
    let openapi = document(server, "/openapi.json", token).await;
    check(&format!("{prefix}.openapi.json"), &openapi, &mut mismatches);
    mismatches
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_document_is_served_as_recorded() {
    let config = || ServerConfig::default().with(|c| c.settings_dir = None);
    let mut mismatches = Vec::new();

    let lab = start(mock_lab::build(config()).expect("the mock lab builds")).await;
    let things = ["stage", "camera", "autofocus", "thermometer"];
    mismatches.extend(check_server(&lab, "mock_lab", &things, None).await);

    let plain = Server::builder()
        .config(config())
        .thing("bench", bench::Bench::default())
        .build()
        .expect("build");
    let plain = start(plain).await;
    mismatches.extend(check_server(&plain, "bench", &["bench"], None).await);

    let secured = Server::builder()
        .config(config().with(|c| c.auth = users()))
        .thing("bench", bench::Bench::default())
        .build()
        .expect("build");
    let secured = start(secured).await;
    let token = Some("a-token-of-the-documents-test");
    mismatches.extend(check_server(&secured, "secured_bench", &["bench"], token).await);

    assert!(
        mismatches.is_empty(),
        "documents differ from tests/documents/ (re-record with LABTHINGS_RECORD_DOCUMENTS=1 if meant):\n{}",
        mismatches.join("\n")
    );
}
