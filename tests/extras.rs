//! Beside the generated routes: a folder of static files (a web app) and
//! routes of the program's own, over real sockets.

mod common;

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/bench.rs"]
mod bench;

use std::io::{Read, Write};

use common::start;
use labthings::http::axum::routing::get;
use labthings::{AuthConfig, Credential, Role, Server, ServerConfig, User};
use serde_json::json;

/// A folder with a small web app.
fn web_app() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("labthings-app-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(dir.join("js")).expect("make the folder");
    std::fs::write(dir.join("index.html"), "<!doctype html><title>app</title>").expect("write");
    std::fs::write(dir.join("js/app.js"), "console.log('app');").expect("write");
    dir
}

fn server_with(dir: &std::path::Path, auth: AuthConfig) -> Server {
    Server::builder()
        .config(ServerConfig {
            settings_dir: None,
            auth,
            ..ServerConfig::default()
        })
        .thing("bench", bench::Bench::default())
        .static_files("/app", dir)
        .route("/status", get(|| async { "all good" }))
        .build()
        .expect("build")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_web_app_and_a_route_of_our_own_are_served_beside_the_api() {
    let dir = web_app();
    let server = start(server_with(&dir, AuthConfig::default())).await;
    let page = server.client.get(server.at("/app/")).send().await.expect("GET");
    assert_eq!(page.status().as_u16(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/html")
    );
    assert!(page.text().await.expect("text").contains("<title>app</title>"));
    assert_eq!(server.get_text("/app/js/app.js").await, "console.log('app');");
    assert_eq!(server.get_text("/status").await, "all good");
    // The generated routes are untouched.
    assert_eq!(server.get("/bench/count").await, (200, json!(0)));
    // Mistakes are JSON 4xx like every other.
    let (status, body) = server.get("/app/missing.js").await;
    assert_eq!(status, 404, "{body}");
    assert!(body["detail"].is_string(), "{body}");
    assert_eq!(server.post("/app/", json!({})).await.0, 405);

    // No path leaves the folder: a raw request line, as a browser never sends it.
    let address = server.url.trim_start_matches("http://").to_owned();
    let mut socket = std::net::TcpStream::connect(&address).expect("connect");
    write!(
        socket,
        "GET /app/../../../../etc/passwd HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut answer = String::new();
    let _ = socket.read_to_string(&mut answer);
    assert!(!answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(!answer.contains("root:"), "{answer}");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_users_the_app_is_public_and_our_route_needs_credentials() {
    let dir = web_app();
    let auth = AuthConfig {
        users: vec![User::new(
            "alice",
            Role::Operate,
            Credential::token("alice-token-0123456789abcdef"),
        )],
        anonymous: None,
    };
    let server = start(server_with(&dir, auth)).await;
    assert_eq!(
        server
            .client
            .get(server.at("/app/"))
            .send()
            .await
            .expect("GET")
            .status()
            .as_u16(),
        200
    );
    assert_eq!(server.get("/status").await.0, 401);
    let with_token = server
        .client
        .get(server.at("/status"))
        .bearer_auth("alice-token-0123456789abcdef")
        .send()
        .await
        .expect("GET");
    assert_eq!(with_token.status().as_u16(), 200);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn extra_paths_cannot_shadow_the_generated_ones() {
    let dir = web_app();
    for (path, why) in [
        ("/bench/extra", "shadow"),
        ("/docs", "shadow"),
        ("/_panel/x", "shadow"),
        ("/action_invocations", "shadow"),
        ("status", "plain segments"),
        ("/a/{id}", "plain segments"),
    ] {
        let error = Server::builder()
            .thing("bench", bench::Bench::default())
            .route(path, get(|| async { "" }))
            .build()
            .map(|_| ())
            .expect_err(path)
            .to_string();
        assert!(error.contains(why) && error.contains(path), "{path}: {error}");
    }
    let twice = Server::builder()
        .static_files("/app", &dir)
        .route("/app", get(|| async { "" }))
        .build()
        .map(|_| ())
        .expect_err("twice")
        .to_string();
    assert!(twice.contains("given twice"), "{twice}");
    let _ = std::fs::remove_dir_all(dir);
}
