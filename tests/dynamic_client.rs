//! The dynamic client (`labthings::client::ThingClient`) driving the same
//! Bench thing on our server and on the original LabThings-FastAPI 0.3.0
//! (`benches/servers/bench_original.py`, served by its `labthings-server` from
//! `.venv-original/`, which `tests/interop/setup.sh` installs), through
//! nothing but each server's Thing Description.

mod common;

#[allow(dead_code, unreachable_pub)]
#[path = "../benches/servers/bench.rs"]
mod bench;

use std::time::Duration;

use common::original::Original;
use common::start_thing;
use labthings::client::{ClientError, Status, ThingClient};
use serde_json::{Value, json};

/// The original serving the Bench (`benches/servers/bench_original.py`).
async fn original() -> Original {
    common::original::serve("bench", "bench_original:Bench", "benches/servers").await
}

/// What both servers must do for the same client calls.
async fn drive(url: &str) {
    let bench = ThingClient::from_url(url).await.expect("fetch the TD");
    assert!(!bench.description().title.is_empty(), "{url}");

    bench.write_property("count", &5).await.expect("write count");
    let count: i64 = bench.read_property("count").await.expect("read count");
    assert_eq!(count, 5, "{url}");
    let label: Value = bench.read_property("label").await.expect("read label as a Value");
    assert!(label.is_string(), "{url}: {label}");

    // The output in one call (ours: one round trip; the original: followed).
    let after: i64 = bench
        .call_action("increment", &json!({"by": 2}))
        .await
        .expect("increment");
    assert_eq!(after, 7, "{url}");
    let defaulted: i64 = bench
        .call_action("increment", &())
        .await
        .expect("increment with defaults");
    assert_eq!(defaulted, 8, "{url}");

    // A handle on a running invocation: status, log, output.
    let mut slow = bench
        .invoke_action::<String, _>("slow_task", &json!({"duration_s": 0.6, "steps": 3}))
        .await
        .expect("start slow_task");
    assert!(slow.id().is_some(), "{url}: both servers have invocations");
    let status = slow.status().await.expect("status");
    assert!(
        matches!(status, Status::Pending | Status::Running | Status::Completed),
        "{url}: {status}"
    );
    let output = tokio::time::timeout(Duration::from_secs(20), slow.wait())
        .await
        .expect("finishes")
        .expect("completed");
    assert_eq!(output, "finished 3 steps", "{url}");

    // Each mistake is its own error.
    match bench.call_action::<i64, _>("increment", &json!({"by": "two"})).await {
        Err(ClientError::Validation(problems)) => {
            assert!(
                problems.iter().any(|p| p.loc.contains(&json!("by"))),
                "{url}: {problems:?}"
            );
        }
        other => panic!("{url}: expected Validation, got {other:?}"),
    }
    match bench.read_property::<Value>("speed").await {
        Err(ClientError::NotFound(message)) => assert!(message.contains("count"), "{url}: {message}"),
        other => panic!("{url}: expected NotFound, got {other:?}"),
    }
    let listed = bench.invocations().await;
    if let Ok(listed) = listed {
        assert!(listed.iter().any(|i| i.status == Status::Completed), "{url}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dynamic_client_drives_our_bench() {
    let server = start_thing("bench", bench::Bench::default()).await;
    drive(&server.at("/bench/")).await;

    // Ours also offers observation, a thing-level invocation list and cancellation.
    let bench = ThingClient::from_url(&server.at("/bench/")).await.expect("TD");
    let listed = bench.invocations().await.expect("queryallactions");
    assert!(listed.len() >= 3, "{listed:?}");
    let mut counts = bench.observe_property::<i64>("count").await.expect("observe");
    bench.write_property("count", &41).await.expect("write");
    let seen = tokio::time::timeout(Duration::from_secs(10), async {
        use labthings::client::StreamExt;
        loop {
            match counts.next().await {
                Some(Ok(41)) => return true,
                Some(Ok(_)) => continue,
                _ => return false,
            }
        }
    })
    .await;
    assert_eq!(seen, Ok(true), "the write was observed");
    let slow = bench
        .invoke_action::<String, _>("slow_task", &json!({"duration_s": 30.0, "steps": 300}))
        .await
        .expect("start");
    slow.cancel().await.expect("cancel");
    assert!(matches!(slow.await, Err(ClientError::Cancelled)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dynamic_client_drives_the_originals_bench() {
    let server = original().await;
    drive(&format!("{}/bench/", server.url)).await;

    // The original's TD has no SSE forms: observing says so, it does not hang.
    let bench = ThingClient::from_url(&format!("{}/bench/", server.url))
        .await
        .expect("TD");
    match bench.observe_property::<i64>("count").await {
        Err(ClientError::NotFound(message)) => assert!(message.contains("observeproperty"), "{message}"),
        other => panic!("expected NotFound, got {:?}", other.map(|_| "a stream")),
    }
}

/// A server on a free port whose every GET answers 307 to `target`.
async fn redirector(target: String) -> String {
    use labthings::http::axum;
    let app = axum::Router::new().fallback(move || {
        let target = target.clone();
        async move {
            (
                axum::http::StatusCode::TEMPORARY_REDIRECT,
                [(axum::http::header::LOCATION, target)],
            )
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("an address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// Redirects are followed (the original's FastAPI redirects a path without
/// its slash), and credentials stay with the origin they were given for:
/// a redirect to another server does not carry the token, and the 401
/// from there says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_followed_and_credentials_stay_with_their_origin() {
    use labthings::client::Connection;
    use labthings::{AuthConfig, Credential, Role, Server, ServerConfig, User};
    let open = start_thing("bench", bench::Bench::default()).await;
    let moved = redirector(open.at("/bench/")).await;
    let bench = ThingClient::connect(&format!("{moved}/bench"), Connection::new())
        .await
        .expect("the TD, after the redirect");
    let count: i64 = bench.read_property("count").await.expect("read through the TD's forms");
    assert_eq!(count, 0);

    const TOKEN: &str = "a-token-for-the-redirect-test-0123456789";
    let secured = common::start(
        Server::builder()
            .config(ServerConfig::default().with(|c| {
                c.settings_dir = None;
                c.auth = AuthConfig::for_users(vec![User::new("script", Role::Operate, Credential::token(TOKEN))]);
            }))
            .thing("bench", bench::Bench::default())
            .build()
            .expect("build"),
    )
    .await;
    let elsewhere = redirector(secured.at("/bench/")).await;
    let url = format!("{elsewhere}/bench");
    match ThingClient::connect(&url, Connection::new().with_token_for(TOKEN, &url)).await {
        Err(ClientError::Unauthorized(why)) => assert!(why.contains("were not sent"), "{why}"),
        Err(other) => panic!("expected a 401 saying the token was held back, got {other}"),
        Ok(_) => panic!("the token followed a redirect to another origin"),
    }
}
