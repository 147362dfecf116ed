//! Progress, time remaining and intermediate results of long actions, over
//! real sockets: in the invocation JSON, an SSE stream per invocation, the
//! WebSocket's `actionStatus` messages, the TD and the OpenAPI document.

mod common;

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/mock_lab.rs"]
mod mock_lab;

use std::time::{Duration, Instant};

use common::{TestServer, assert_valid_td, start_lab};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

async fn lab() -> TestServer {
    start_lab(mock_lab::build).await
}

/// Every message of an SSE stream until it ends (or 30 s pass).
async fn all_events(mut response: reqwest::Response) -> Vec<Value> {
    let mut buffer = String::new();
    let mut events = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let chunk = tokio::time::timeout(left, response.chunk())
            .await
            .expect("the stream ends within 30 s")
            .expect("no error");
        let Some(chunk) = chunk else { return events };
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            for line in block.lines() {
                if let Some(data) = line.strip_prefix("data:") {
                    events.push(serde_json::from_str(data.trim()).expect("JSON data"));
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stage_move_streams_its_progress_a_few_times_a_second_and_ends() {
    let server = lab().await;
    assert_eq!(server.put("/stage/step_delay_ms", json!(2)).await.0, 201);
    // 300 steps of 2 ms: a progress report each, over about 0.6 s or more.
    let (status, invocation) = server.post("/stage/move_relative", json!({"x": 300})).await;
    assert_eq!(status, 201, "{invocation}");
    let href = invocation["href"].as_str().expect("href");
    let response = server
        .client
        .get(format!("{href}/observe"))
        .send()
        .await
        .expect("GET observe");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let started = Instant::now();
    let events = all_events(response).await;
    let seconds = started.elapsed().as_secs_f64();

    let last = events.last().expect("at least the final state");
    assert_eq!(last["status"], "completed", "{last}");
    assert_eq!(last["output"], json!([300, 0, 0]));
    assert_eq!(last["progress"]["fraction"], 1.0);
    assert_eq!(last["progress"]["remainingSeconds"], 0.0);
    let running: Vec<&Value> = events.iter().filter(|e| e["status"] == "running").collect();
    let fractions: Vec<f64> = running
        .iter()
        .filter_map(|e| e["progress"]["fraction"].as_f64())
        .collect();
    assert!(fractions.len() >= 2, "progress while running: {events:?}");
    assert!(fractions.windows(2).all(|w| w[0] <= w[1]), "{fractions:?}");
    assert!(fractions.iter().all(|f| *f > 0.0 && *f < 1.0), "{fractions:?}");
    let estimated = running
        .iter()
        .find(|e| e["progress"]["remainingSeconds"].is_number())
        .expect("a time left");
    assert_eq!(estimated["progress"]["remainingEstimated"], true);
    // 300 reports; observers are told 10 a second at most, plus the state
    // at subscription, the start and the end.
    let limit = (seconds * 10.0).ceil() as usize + 4;
    assert!(
        events.len() <= limit,
        "{} messages in {seconds:.2} s (limit {limit})",
        events.len()
    );

    // The invocation's JSON shows the same.
    let (_, whole) = server
        .get(&format!(
            "/action_invocations/{}",
            invocation["id"].as_str().unwrap_or_default()
        ))
        .await;
    assert_eq!(whole["progress"]["fraction"], 1.0);
    // An unknown invocation is a 404 with a JSON body; a bad id a 422.
    let (status, body) = server
        .get("/action_invocations/00000000-0000-4000-8000-000000000000/observe")
        .await;
    assert_eq!(status, 404, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("No action invocation")),
        "{body}"
    );
    assert_eq!(server.get("/action_invocations/nope/observe").await.0, 422);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_autofocus_scan_reports_its_points_as_typed_intermediate_results() {
    let server = lab().await;
    assert_eq!(server.put("/stage/step_delay_ms", json!(0)).await.0, 201);
    assert_eq!(server.put("/camera/exposure_ms", json!(1.0)).await.0, 201);
    let (status, invocation) = server.post("/autofocus/scan", json!({"range": 20, "step": 10})).await;
    assert!(status == 201, "{invocation}");
    let done = server.wait_finished(&invocation).await;
    assert_eq!(done["status"], "completed", "{done}");
    let points = done["intermediate"].as_array().expect("intermediate results");
    let zs: Vec<i64> = points.iter().filter_map(|p| p["z"].as_i64()).collect();
    assert_eq!(zs, vec![-20, -10, 0, 10, 20], "{points:?}");
    assert!(points.iter().all(|p| p["sharpness"].is_number()));
    assert_eq!(done["progress"]["fraction"], 1.0);
    // An action without intermediate results shows none.
    let (_, moved) = server.post("/stage/move_relative", json!({"x": 1})).await;
    let moved = server.wait_finished(&moved).await;
    assert!(moved.get("intermediate").is_none(), "{moved}");

    // Declared in the TD (still valid TD 1.1) and in the OpenAPI document.
    let (_, td) = server.get("/autofocus/").await;
    assert_valid_td(&td);
    let declared = &td["actions"]["scan"]["lt:intermediate"];
    assert_eq!(declared["properties"]["z"]["type"], "integer", "{declared}");
    assert!(
        td["@context"]
            .as_array()
            .is_some_and(|c| c.iter().any(|e| e["lt"].is_string())),
        "{}",
        td["@context"]
    );
    let (_, stage_td) = server.get("/stage/").await;
    assert!(stage_td["actions"]["move_relative"].get("lt:intermediate").is_none());
    let (_, openapi) = server.get("/openapi.json").await;
    let text = openapi.to_string();
    assert!(
        text.contains("\"intermediate\""),
        "intermediate in the OpenAPI document"
    );
    assert!(
        openapi["paths"]["/action_invocations/{id}/observe"]["get"].is_object(),
        "the invocation stream in the OpenAPI document"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_action_status_messages_carry_progress() {
    let server = lab().await;
    assert_eq!(server.put("/stage/step_delay_ms", json!(2)).await.0, 201);
    let url = format!("{}/stage/ws", server.url.replace("http://", "ws://"));
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.expect("WebSocket");
    socket
        .send(Message::Text(
            json!({"messageType": "addActionObservation", "data": {"move_relative": true}})
                .to_string()
                .into(),
        ))
        .await
        .expect("send");
    // The observation is registered once the server answers a request made after it.
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.post("/stage/move_relative", json!({"x": 200})).await;
    let mut fractions = Vec::new();
    loop {
        let message = tokio::time::timeout(Duration::from_secs(20), socket.next())
            .await
            .expect("a message")
            .expect("open")
            .expect("no error");
        let Message::Text(text) = message else { continue };
        let message: Value = serde_json::from_str(&text).expect("JSON");
        if message["messageType"] != "actionStatus" {
            continue;
        }
        if let Some(f) = message["data"]["invocation"]["progress"]["fraction"].as_f64() {
            fractions.push(f);
        }
        if message["data"]["status"] == "completed" {
            break;
        }
    }
    assert!(fractions.len() >= 2, "{fractions:?}");
    assert_eq!(fractions.last(), Some(&1.0));
}
