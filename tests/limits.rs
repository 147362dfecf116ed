//! An unauthenticated client cannot exhaust the server: every store, pool
//! and connection has a bound, and answers stay small. Each test sets a
//! small limit and pushes past it over real sockets.

mod common;

#[allow(dead_code, unreachable_pub)]
#[path = "../benches/servers/bench.rs"]
mod bench;

use std::time::{Duration, Instant};

use common::{TestServer, read, start};
use labthings::{Server, ServerConfig};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The bench served with `config`; also returns the server for its manager.
async fn bench_with(config: ServerConfig) -> (TestServer, Server) {
    let server = Server::builder()
        .config(config)
        .thing("bench", bench::Bench::default())
        .build()
        .expect("build");
    (start(server.clone()).await, server)
}

fn address(server: &TestServer) -> String {
    server.url.trim_start_matches("http://").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_invocations_beyond_the_cap_are_evicted_oldest_first() {
    let (server, handle) = bench_with(common::test_config().with(|c| c.invocations.max_retained = 50)).await;
    let mut ids = Vec::new();
    for _ in 0..200 {
        let (status, invocation) = server.post("/bench/increment", json!({})).await;
        assert_eq!(status, 201);
        ids.push(invocation["id"].as_str().expect("id").to_owned());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        handle.manager().retained() <= 50,
        "{} kept",
        handle.manager().retained()
    );
    let (status, _) = server.get(&format!("/action_invocations/{}", ids[0])).await;
    assert_eq!(status, 404, "the oldest was evicted");
    let (status, newest) = server.get(&format!("/action_invocations/{}", ids[199])).await;
    assert_eq!((status, newest["status"].as_str()), (200, Some("completed")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invocation_log_keeps_within_its_byte_cap() {
    let (server, _) = bench_with(common::test_config().with(|c| c.invocations.log_bytes = 8 * 1024)).await;
    let (_, invocation) = server
        .post("/bench/slow_task", json!({"duration_s": 0.0, "steps": 1000}))
        .await;
    let done = server.wait_finished(&invocation).await;
    let log = done["log"].as_array().expect("log");
    let bytes: usize = log
        .iter()
        .map(|r| r["message"].as_str().map_or(0, str::len) + r["filename"].as_str().map_or(0, str::len) + 128)
        .sum();
    assert!(bytes <= 8 * 1024, "{bytes} bytes of log kept");
    assert!(log.len() < 1000, "older records were dropped");
    assert_eq!(
        log.last().map(|r| r["message"].clone()),
        Some(json!("step 1000 of 1000"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_unfinished_invocations_answer_503_with_retry_after() {
    let (server, handle) = bench_with(common::test_config().with(|c| {
        c.invocations.max_active = 5;
        c.invocations.max_threads = 2;
    }))
    .await;
    let mut running = Vec::new();
    for _ in 0..5 {
        let (status, invocation) = server
            .post("/bench/slow_task", json!({"duration_s": 30.0, "steps": 3000}))
            .await;
        assert_eq!(status, 201);
        running.push(invocation);
    }
    assert!(
        handle.manager().threads() <= 2,
        "threads: {}",
        handle.manager().threads()
    );
    let response = server
        .client
        .post(server.at("/bench/increment"))
        .json(&json!({}))
        .send()
        .await
        .expect("POST");
    assert_eq!(
        response.headers().get("retry-after").map(|v| v.as_bytes()),
        Some(&b"1"[..])
    );
    let (status, body) = read(response).await;
    assert_eq!(status, 503);
    assert!(
        body["detail"].as_str().is_some_and(|d| d.contains("5 invocations")),
        "{body}"
    );
    // Pending ones hold no thread and can be cancelled; then there is room.
    for invocation in &running {
        let id = invocation["id"].as_str().expect("id");
        assert_eq!(server.delete(&format!("/action_invocations/{id}")).await.0, 200);
    }
    for invocation in &running {
        assert_eq!(server.wait_finished(invocation).await["status"], "cancelled");
    }
    assert_eq!(server.post("/bench/increment", json!({})).await.0, 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invocations_beyond_the_thread_cap_wait_and_all_complete() {
    let (server, handle) = bench_with(common::test_config().with(|c| c.invocations.max_threads = 3)).await;
    let mut all = Vec::new();
    for _ in 0..30 {
        let (status, invocation) = server
            .post("/bench/slow_task", json!({"duration_s": 0.05, "steps": 1}))
            .await;
        assert_eq!(status, 201);
        all.push(invocation);
        assert!(
            handle.manager().threads() <= 3,
            "threads: {}",
            handle.manager().threads()
        );
    }
    for invocation in &all {
        assert_eq!(server.wait_finished(invocation).await["status"], "completed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invocation_lists_come_in_pages() {
    let (server, _) = bench_with(common::test_config().with(|c| c.limits.max_list = 20)).await;
    for _ in 0..30 {
        server.post("/bench/increment", json!({})).await;
    }
    let response = server
        .client
        .get(server.at("/action_invocations"))
        .send()
        .await
        .expect("GET");
    assert_eq!(response.headers()["x-total-count"], "30");
    assert!(
        response.headers()["link"]
            .to_str()
            .is_ok_and(|l| l.contains("offset=20"))
    );
    let (_, first) = read(response).await;
    assert_eq!(first.as_array().map(Vec::len), Some(20), "capped at max_list");
    let (_, rest) = server.get("/action_invocations?offset=25&limit=10").await;
    assert_eq!(rest.as_array().map(Vec::len), Some(5));
    let (_, some) = server.get("/bench/increment?limit=3").await;
    assert_eq!(some.as_array().map(Vec::len), Some(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_invalid_body_gets_a_small_answer() {
    let (server, _) = bench_with(common::test_config()).await;
    let fields: serde_json::Map<String, Value> = (0..40_000).map(|n| (format!("f{n}"), Value::from(n))).collect();
    let body = Value::Object(fields).to_string();
    assert!(body.len() > 500_000);
    let response = server
        .client
        .post(server.at("/bench/increment"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("POST");
    let text = response.text().await.expect("body");
    assert!(text.len() < 16 * 1024, "a {} byte answer", text.len());
    let answer: Value = serde_json::from_str(&text).expect("JSON");
    let detail = answer["detail"].as_array().expect("problems");
    assert_eq!(detail[0]["type"], "extra_forbidden");
    let last = detail.last().expect("a summary");
    assert_eq!(last["type"], "too_many_errors");
    assert!(
        last["msg"].as_str().is_some_and(|m| m.starts_with("39980 more")),
        "{last}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_or_idle_clients_are_disconnected() {
    let (server, _) = bench_with(common::test_config().with(|c| {
        c.limits.header_read_timeout = Duration::from_millis(500);
        c.limits.body_read_timeout = Duration::from_millis(500);
    }))
    .await;
    let addr = address(&server);
    // Headers sent a byte at a time, never finished (slowloris).
    let mut slow = TcpStream::connect(&addr).await.expect("connect");
    slow.write_all(b"GET /bench/count HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .expect("write");
    // A connection that never sends anything.
    let mut idle = TcpStream::connect(&addr).await.expect("connect");
    let started = Instant::now();
    for socket in [&mut slow, &mut idle] {
        let mut buf = [0u8; 512];
        let closed = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match socket.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "the server closed the connection");
    }
    assert!(started.elapsed() < Duration::from_secs(3));
    // A body that never arrives: 408 with JSON.
    let mut stalled = TcpStream::connect(&addr).await.expect("connect");
    stalled
        .write_all(
            b"PUT /bench/count HTTP/1.1\r\nHost: localhost\r\ncontent-type: application/json\r\ncontent-length: 10\r\n\r\n1",
        )
        .await
        .expect("write");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stalled.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"detail\""), "{answer}");
    // Streams are not cut by the header timeout.
    let mut sse = server
        .client
        .get(server.at("/bench/count/observe"))
        .send()
        .await
        .expect("observe");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(server.put("/bench/count", json!(7)).await.0, 201);
    // (After the `latest` message each stream starts with.)
    let mut text = String::new();
    let seen = tokio::time::timeout(Duration::from_secs(5), async {
        while !text.contains("\ndata: 7\n") {
            match sse.chunk().await {
                Ok(Some(bytes)) => text.push_str(&String::from_utf8_lossy(&bytes)),
                _ => return false,
            }
        }
        true
    })
    .await;
    assert_eq!(seen, Ok(true), "the change arrived on the stream: {text:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_get_a_503_and_others_recover() {
    let (server, _) = bench_with(common::test_config().with(|c| c.limits.max_connections = 4)).await;
    let addr = address(&server);
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(TcpStream::connect(&addr).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut extra = TcpStream::connect(&addr).await.expect("connect");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), extra.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("too many open connections"), "{answer}");
    drop(held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        server.get("/bench/count").await.0,
        200,
        "served again once others closed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_websocket_message_closes_only_that_socket() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let (server, _) = bench_with(common::test_config().with(|c| c.limits.ws_max_message = 4096)).await;
    let url = server.at("/bench/ws").replacen("http://", "ws://", 1);
    let (mut socket, _) = tokio_tungstenite::connect_async(&url).await.expect("connect");
    let _ = socket.send(Message::text("x".repeat(100_000))).await;
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match socket.next().await {
                None | Some(Err(_)) => return,
                Some(Ok(message)) if message.is_close() => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the socket was closed");
    let (mut other, _) = tokio_tungstenite::connect_async(&url).await.expect("connect again");
    let observe = json!({"messageType": "addPropertyObservation", "data": {"count": true}});
    other.send(Message::text(observe.to_string())).await.expect("send");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(server.put("/bench/count", json!(3)).await.0, 201);
    let message = tokio::time::timeout(Duration::from_secs(5), other.next()).await;
    assert!(
        matches!(&message, Ok(Some(Ok(m))) if m.to_text().is_ok_and(|t| t.contains("propertyStatus"))),
        "{message:?}"
    );
}

/// Makes a small blob.
#[labthings::thing]
#[derive(Default)]
struct Snapper;

#[labthings::thing]
impl Snapper {
    /// A few bytes.
    #[action]
    fn snap(&self) -> labthings::Blob {
        labthings::Blob::from_bytes(vec![0xFF, 0xD8, 0xFF, 0xD9], "image/jpeg")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blob_is_found_as_soon_as_its_output_is_answered() {
    let server = Server::builder()
        .config(common::test_config())
        .thing("snapper", Snapper)
        .build()
        .expect("build");
    let server = std::sync::Arc::new(start(server).await);
    // Four clients at once: the race this guards against (the answer sent
    // before the blob could be looked up) showed only under contention.
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let server = server.clone();
            tokio::spawn(async move {
                for _ in 0..500 {
                    let (status, blob) = server.post("/snapper/snap?return=output", json!({})).await;
                    assert_eq!(status, 200, "{blob}");
                    let href = blob["href"].as_str().expect("a blob link");
                    let response = server.client.get(href).send().await.expect("GET");
                    assert_eq!(response.status(), 200, "{href}");
                    assert_eq!(
                        response.bytes().await.expect("bytes").as_ref(),
                        [0xFF, 0xD8, 0xFF, 0xD9]
                    );
                }
            })
        })
        .collect();
    for client in clients {
        client.await.expect("every blob was found");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_message_left_unfinished_closes_the_socket() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    let (server, _) =
        bench_with(common::test_config().with(|c| c.limits.ws_message_timeout = Duration::from_millis(500))).await;
    let url = server.at("/bench/ws").replacen("http://", "ws://", 1);
    // A quiet observer is not disturbed: it has nothing unfinished.
    let (mut quiet, _) = tokio_tungstenite::connect_async(&url).await.expect("connect");
    let observe = json!({"messageType": "addPropertyObservation", "data": {"count": true}});
    quiet.send(Message::text(observe.to_string())).await.expect("send");
    // The first fragment of a text message, and never the rest.
    let (mut stalling, _) = tokio_tungstenite::connect_async(&url).await.expect("connect");
    let fragment = Frame::message(b"{\"messageType\": ".to_vec(), OpCode::Data(Data::Text), false);
    stalling.send(Message::Frame(fragment)).await.expect("send a fragment");
    let started = Instant::now();
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match stalling.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => {}
                None | Some(Err(_)) => return None,
            }
        }
    })
    .await;
    assert_eq!(closed, Ok(Some(1008)), "closed as a policy violation");
    assert!(started.elapsed() < Duration::from_secs(3));
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(server.put("/bench/count", json!(5)).await.0, 201);
    let message = tokio::time::timeout(Duration::from_secs(5), quiet.next()).await;
    assert!(
        matches!(&message, Ok(Some(Ok(m))) if m.to_text().is_ok_and(|t| t.contains("propertyStatus"))),
        "the quiet observer still observes: {message:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_outgoing_websocket_message_is_sent_whole() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    // The limit is on what clients send (64 KiB by default), not on what the
    // server sends: a 200 KiB label reaches its observer.
    let (server, _) = bench_with(ServerConfig::default().with(|c| c.settings_dir = None)).await;
    let url = server.at("/bench/ws").replacen("http://", "ws://", 1);
    let (mut socket, _) = tokio_tungstenite::connect_async(&url).await.expect("connect");
    let observe = json!({"messageType": "addPropertyObservation", "data": {"label": true}});
    socket.send(Message::text(observe.to_string())).await.expect("send");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let label = "x".repeat(200 * 1024);
    assert_eq!(server.put("/bench/label", json!(label)).await.0, 201);
    let message = tokio::time::timeout(Duration::from_secs(5), socket.next()).await;
    let Ok(Some(Ok(Message::Text(text)))) = message else {
        panic!("the observer got no message: {message:?}");
    };
    let message: Value = serde_json::from_str(text.as_str()).expect("JSON");
    assert_eq!(
        message["data"]["label"].as_str().map(str::len),
        Some(label.len()),
        "whole"
    );
    // And the session goes on.
    assert_eq!(server.put("/bench/label", json!("short")).await.0, 201);
    let next = tokio::time::timeout(Duration::from_secs(5), socket.next()).await;
    assert!(matches!(next, Ok(Some(Ok(Message::Text(_))))), "{next:?}");
}
