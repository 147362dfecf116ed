//! A web page on another site cannot drive the instrument: every attack of
//! issue 12's audit, sent as a browser (or a DNS-rebinding page) would send
//! it, against the mock lab with its default configuration.

mod common;

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/mock_lab.rs"]
mod mock_lab;

use common::{TestServer, read, start};
use labthings::{CorsConfig, ServerConfig};
use serde_json::{Value, json};

async fn lab_with(config: ServerConfig) -> TestServer {
    let config = config.with(|c| c.settings_dir = None);
    start(mock_lab::build(config).expect("the mock lab builds")).await
}

const EVIL: &str = "http://evil.example";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cross_origin_simple_post_cannot_move_the_stage() {
    let lab = lab_with(common::test_config()).await;
    // What a form or `fetch(.., {mode: "no-cors"})` on another site sends.
    let response = lab
        .client
        .post(lab.at("/stage/move_relative"))
        .header("origin", EVIL)
        .header("content-type", "text/plain")
        .body(r#"{"x": 200}"#)
        .send()
        .await
        .expect("POST");
    let (status, body) = read(response).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["detail"].as_str().is_some_and(|d| d.contains("evil.example")),
        "{body}"
    );
    // Without an Origin (not a browser) a text/plain body is still refused.
    let response = lab
        .client
        .post(lab.at("/stage/move_relative"))
        .header("content-type", "text/plain")
        .body(r#"{"x": 200}"#)
        .send()
        .await
        .expect("POST");
    let (status, body) = read(response).await;
    assert_eq!(status, 415, "{body}");
    let (_, invocations) = lab.get("/action_invocations").await;
    assert_eq!(invocations, json!([]), "nothing was started");
    assert_eq!(lab.get("/stage/position").await, (200, json!([0, 0, 0])));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cross_origin_body_less_post_cannot_reset_a_calibration() {
    let lab = lab_with(common::test_config()).await;
    assert_eq!(lab.put("/stage/steps_per_um", json!(3.25)).await.0, 201);
    let response = lab
        .client
        .post(lab.at("/stage/steps_per_um/reset"))
        .header("origin", EVIL)
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 403);
    assert_eq!(lab.get("/stage/steps_per_um").await, (200, json!(3.25)), "unchanged");
    // The same from the server's own origin (the control panel) works.
    let own = lab.url.clone();
    let response = lab
        .client
        .post(lab.at("/stage/steps_per_um/reset"))
        .header("origin", own)
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 200);
    assert_eq!(lab.get("/stage/steps_per_um").await, (200, json!(1.0)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_origin_websocket_is_refused() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let lab = lab_with(common::test_config()).await;
    let url = lab.at("/stage/ws").replacen("http://", "ws://", 1);
    let mut request = url.clone().into_client_request().expect("a request");
    request.headers_mut().insert("origin", EVIL.parse().expect("header"));
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status(), 403),
        other => panic!("a foreign origin's WebSocket was not refused: {other:?}"),
    }
    let mut request = url.into_client_request().expect("a request");
    request.headers_mut().insert("origin", lab.url.parse().expect("header"));
    assert!(
        tokio_tungstenite::connect_async(request).await.is_ok(),
        "its own origin may"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_host_is_not_served() {
    let lab = lab_with(common::test_config()).await;
    for (method, path, body) in [
        ("GET", "/stage/", None),
        ("GET", "/stage/position", None),
        ("PUT", "/stage/step_delay_ms", Some(json!(500))),
    ] {
        let mut request = lab
            .client
            .request(method.parse().expect("method"), lab.at(path))
            .header("host", "attacker.example:5000");
        if let Some(body) = body {
            request = request.json(&body);
        }
        let (status, answer) = read(request.send().await.expect("send")).await;
        assert_eq!(status, 421, "{method} {path}: {answer}");
        assert!(
            answer["detail"]
                .as_str()
                .is_some_and(|d| d.contains("attacker.example")),
            "{answer}"
        );
    }
    assert_eq!(
        lab.get("/stage/step_delay_ms").await,
        (200, json!(10)),
        "the write was refused"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_hosts_origins_cors_and_public_url() {
    let app = "https://app.lab.example";
    let lab = lab_with(common::test_config().with(|c| {
        c.security.allowed_hosts = vec!["scope.lab.example".into()];
        c.security.allowed_origins = vec![app.into()];
        c.security.cors = Some(CorsConfig::default());
        c.security.public_base_url = Some("https://scope.lab.example/".into());
    }))
    .await;
    let td: Value = lab
        .client
        .get(lab.at("/stage/"))
        .header("host", "scope.lab.example")
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("a TD");
    assert_eq!(td["base"], "https://scope.lab.example/", "links follow the public URL");
    // The web app's preflight and its write.
    let preflight = lab
        .client
        .request(reqwest::Method::OPTIONS, lab.at("/stage/step_delay_ms"))
        .header("origin", app)
        .header("access-control-request-method", "PUT")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .expect("OPTIONS");
    assert_eq!(preflight.headers()["access-control-allow-origin"], app);
    let write = lab
        .client
        .put(lab.at("/stage/step_delay_ms"))
        .header("origin", app)
        .json(&json!(2))
        .send()
        .await
        .expect("PUT");
    assert_eq!(write.status(), 201);
    assert_eq!(write.headers()["access-control-allow-origin"], app);
    // Another origin gets neither.
    let read_evil = lab
        .client
        .get(lab.at("/stage/position"))
        .header("origin", EVIL)
        .send()
        .await
        .expect("GET");
    assert!(read_evil.headers().get("access-control-allow-origin").is_none());
    let write_evil = lab
        .client
        .put(lab.at("/stage/step_delay_ms"))
        .header("origin", EVIL)
        .json(&json!(3))
        .send()
        .await
        .expect("PUT");
    assert_eq!(write_evil.status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_cors_configured_no_cors_headers_are_sent() {
    let lab = lab_with(common::test_config()).await;
    let response = lab
        .client
        .get(lab.at("/stage/position"))
        .header("origin", "http://app.example")
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("access-control-allow-origin").is_none());
}
