//! Beside the generated routes: a folder of static files (a web app) and
//! routes of the program's own, over real sockets.

mod common;

#[allow(dead_code, unreachable_pub)]
#[path = "../benches/servers/bench.rs"]
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
        .config(ServerConfig::default().with(|c| {
            c.settings_dir = None;
            c.auth = auth;
        }))
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
    let auth = AuthConfig::for_users(vec![User::new(
        "alice",
        Role::Operate,
        Credential::token("alice-token-0123456789abcdef"),
    )]);
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
            .config(common::test_config())
            .thing("bench", bench::Bench::default())
            .route(path, get(|| async { "" }))
            .build()
            .map(|_| ())
            .expect_err(path)
            .to_string();
        assert!(error.contains(why) && error.contains(path), "{path}: {error}");
    }
    let twice = Server::builder()
        .config(common::test_config())
        .static_files("/app", &dir)
        .route("/app", get(|| async { "" }))
        .build()
        .map(|_| ())
        .expect_err("twice")
        .to_string();
    assert!(twice.contains("given twice"), "{twice}");
    // The same refusals, typed: a program matches on them.
    let typed = Server::builder()
        .config(common::test_config())
        .thing("bench", bench::Bench::default())
        .route("/bench/extra", get(|| async { "" }))
        .build()
        .map(|_| ())
        .expect_err("shadows");
    assert!(
        matches!(
            &typed,
            labthings::http::BuildError::Route {
                static_folder: false,
                problem: labthings::http::RouteProblem::Shadows { segment },
                ..
            } if segment == "bench"
        ),
        "{typed:?}"
    );
    let prefix = Server::builder()
        .config(common::test_config().with(|c| c.api_prefix = "lab/".into()))
        .build()
        .map(|_| ())
        .expect_err("a prefix that is not a path");
    assert!(
        matches!(&prefix, labthings::http::BuildError::BadPrefix { prefix } if prefix == "lab/"),
        "{prefix:?}"
    );
    // A thing may not take the server's own first segments either: they
    // come from the endpoint table, pages included (`_panel` was accepted
    // as a thing name before, and its TD would have shadowed the panel).
    for name in [
        "_panel",
        "docs",
        "action_invocations",
        "blob",
        "things",
        "thing_descriptions",
        "settings_warnings",
    ] {
        let error = Server::builder()
            .config(common::test_config())
            .thing(name, bench::Bench::default())
            .build()
            .map(|_| ())
            .expect_err(name)
            .to_string();
        assert!(
            error.contains("cannot name a thing") && error.contains("_panel"),
            "{name}: {error}"
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_follows_an_api_prefix() {
    let server = start(
        Server::builder()
            .config(ServerConfig::default().with(|c| {
                c.settings_dir = None;
                c.api_prefix = "/lab".to_owned();
            }))
            .thing("bench", bench::Bench::default())
            .build()
            .expect("build"),
    )
    .await;
    // Only under the prefix.
    assert_eq!(server.get("/lab/bench/count").await, (200, json!(0)));
    let (status, body) = server.get("/bench/count").await;
    assert_eq!(status, 404, "{body}");
    assert!(body["detail"].is_string(), "{body}");
    assert_eq!(server.get("/labx/bench/count").await.0, 404);
    let panel = server.client.get(server.at("/lab/")).send().await.expect("GET");
    assert_eq!(panel.status().as_u16(), 200);
    assert!(
        panel.text().await.expect("html").contains("src=\"_panel/panel.js\""),
        "relative links"
    );
    assert!(server.get_text("/lab/_panel/panel.js").await.contains("WebSocket"));
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client");
    let bare = no_redirects.get(server.at("/lab")).send().await.expect("GET");
    assert_eq!(bare.status().as_u16(), 308);
    assert_eq!(bare.headers()["location"], "/lab/");

    // The TD's base and forms, links and the OpenAPI document follow it.
    let (_, td) = server.get("/lab/bench/").await;
    common::assert_valid_td(&td);
    assert_eq!(td["base"], format!("{}/lab/", server.url));
    assert_eq!(td["properties"]["count"]["forms"][0]["href"], "/lab/bench/count");
    let (status, invocation) = server.post("/lab/bench/increment", json!({"by": 2})).await;
    assert_eq!(status, 201, "{invocation}");
    let href = invocation["href"].as_str().expect("href");
    assert!(
        href.starts_with(&format!("{}/lab/action_invocations/", server.url)),
        "{href}"
    );
    let done = server.wait_finished(&invocation).await;
    assert_eq!(done["output"], 2);
    let (_, document) = server.get("/lab/openapi.json").await;
    assert_eq!(document["servers"][0]["url"], format!("{}/lab", server.url));
    assert!(document["paths"]["/bench/count"].is_object());

    // The original's WebSocket, under the prefix.
    let ws = format!("{}/lab/bench/ws", server.url.replace("http://", "ws://"));
    let (mut socket, _) = tokio_tungstenite::connect_async(ws).await.expect("WebSocket handshake");
    use futures_util::{SinkExt, StreamExt};
    socket
        .send(tokio_tungstenite::tungstenite::Message::Text(
            json!({"messageType": "addPropertyObservation", "data": {"count": true}})
                .to_string()
                .into(),
        ))
        .await
        .expect("send");
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(server.put("/lab/bench/count", json!(7)).await.0, 201);
    let message = tokio::time::timeout(std::time::Duration::from_secs(10), socket.next())
        .await
        .expect("a message")
        .expect("open")
        .expect("no error");
    assert!(message.to_string().contains("\"count\":7"), "{message}");

    // Behind a proxy that strips a path, the public URL's path leads the forms.
    let proxied = start(
        Server::builder()
            .config(ServerConfig::default().with(|c| {
                c.settings_dir = None;
                c.security.public_base_url = Some("https://scope.example/lab/".to_owned());
            }))
            .thing("bench", bench::Bench::default())
            .build()
            .expect("build"),
    )
    .await;
    let (_, td) = proxied.get("/bench/").await;
    assert_eq!(td["base"], "https://scope.example/lab/");
    assert_eq!(td["properties"]["count"]["forms"][0]["href"], "/lab/bench/count");

    // A prefix that is not plain path segments fails the build.
    for bad in ["lab", "/lab/", "/l b", "/a/{x}"] {
        let error = Server::builder()
            .config(common::test_config().with(|c| c.api_prefix = bad.to_owned()))
            .build()
            .map(|_| ())
            .expect_err(bad)
            .to_string();
        assert!(error.contains("api_prefix"), "{bad}: {error}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_links_follow_its_forwarded_headers() {
    let serve = |trust_forwarded| {
        Server::builder()
            .config(ServerConfig::default().with(|c| {
                c.settings_dir = None;
                c.security.allowed_hosts = vec!["scope.example".to_owned()];
                c.security.trust_forwarded = trust_forwarded;
            }))
            .thing("bench", bench::Bench::default())
            .build()
            .expect("build")
    };
    let td_base = |server: &common::TestServer, headers: &'static [(&'static str, &'static str)]| {
        let mut request = server.client.get(server.at("/bench/"));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        async move {
            let td: serde_json::Value = request.send().await.expect("GET").json().await.expect("a TD");
            (
                td["base"].as_str().unwrap_or_default().to_owned(),
                td["properties"]["count"]["forms"][0]["href"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        }
    };
    const PROXIED: &[(&str, &str)] = &[
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "scope.example"),
        ("x-forwarded-prefix", "/lab/"),
    ];
    // Not trusted: the headers change nothing.
    let plain = start(serve(false)).await;
    assert_eq!(td_base(&plain, PROXIED).await.0, format!("{}/", plain.url));

    let proxied = start(serve(true)).await;
    assert_eq!(
        td_base(&proxied, PROXIED).await,
        ("https://scope.example/lab/".to_owned(), "/lab/bench/count".to_owned())
    );
    let rfc: &[(&str, &str)] = &[(
        "forwarded",
        "for=192.0.2.1;proto=https;host=scope.example, for=10.0.0.1",
    )];
    assert_eq!(td_base(&proxied, rfc).await.0, "https://scope.example/");
    // A host the server does not answer to, and a prefix that is not plain, are ignored.
    let forged: &[(&str, &str)] = &[("x-forwarded-host", "evil.example"), ("x-forwarded-prefix", "/../x")];
    assert_eq!(td_base(&proxied, forged).await.0, format!("{}/", proxied.url));
    // Links in answers follow too.
    let invoked = proxied
        .client
        .post(proxied.at("/bench/increment"))
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "scope.example")
        .json(&json!({}))
        .send()
        .await
        .expect("POST");
    let location = invoked.headers()["location"].to_str().unwrap_or_default().to_owned();
    assert!(
        location.starts_with("https://scope.example/action_invocations/"),
        "{location}"
    );
    // A page served by the proxy may write; a page from elsewhere may not.
    for (origin, status) in [("https://scope.example", 201), ("https://evil.example", 403)] {
        let response = proxied
            .client
            .put(proxied.at("/bench/count"))
            .header("x-forwarded-host", "scope.example")
            .header("origin", origin)
            .json(&json!(3))
            .send()
            .await
            .expect("PUT");
        assert_eq!(response.status().as_u16(), status, "{origin}");
    }
}
