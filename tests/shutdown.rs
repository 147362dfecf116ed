//! Shutdown stops the lab: the mock lab as a real process, sent a real
//! SIGTERM while clients hold it open in each way a lab client does. Each
//! case must exit within the grace period (5 s) + 1 s with its stop hooks
//! run, and no queued move may start.

mod common;

use std::time::{Duration, Instant};

use common::process::ServerProcess;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};

/// The mock lab's shutdown grace period plus one second.
const EXIT_WITHIN: Duration = Duration::from_secs(6);

/// SIGTERM `lab`, and check it exits in time with its stop hooks run.
fn terminate_and_check(mut lab: ServerProcess) -> String {
    let sent = Instant::now();
    lab.signal("TERM");
    let exited = lab.wait_exit(sent, Duration::from_secs(20));
    let stderr = lab.stderr();
    let took = exited.unwrap_or_else(|| panic!("no exit 20 s after SIGTERM; stderr:\n{stderr}"));
    assert!(took <= EXIT_WITHIN, "exit took {took:?}; stderr:\n{stderr}");
    assert!(
        stderr.contains("stage disconnected at"),
        "the stage's stop hook ran; stderr:\n{stderr}"
    );
    stderr
}

/// Hold the live stream at `path` open (after its first chunk, when
/// `first_chunk`), SIGTERM the lab, and check the stream ends and the lab
/// exits in time.
async fn sigterm_ends_a_stream(path: &str, first_chunk: bool, what: &str) {
    let lab = ServerProcess::start("mock_lab", &[]);
    let mut response = reqwest::get(lab.at(path)).await.expect("open the stream");
    assert_eq!(response.status(), 200);
    if first_chunk {
        let first = tokio::time::timeout(Duration::from_secs(10), response.chunk()).await;
        assert!(matches!(first, Ok(Ok(Some(_)))), "a first {what} chunk arrives");
    }
    let terminated = tokio::task::spawn_blocking(move || terminate_and_check(lab));
    // The stream ends rather than hanging.
    let ended = tokio::time::timeout(EXIT_WITHIN, async { while let Ok(Some(_)) = response.chunk().await {} }).await;
    assert!(ended.is_ok(), "the {what} stream ended");
    terminated.await.expect("checked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_an_sse_observation_and_exits() {
    sigterm_ends_a_stream("/stage/position/observe", false, "SSE").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_an_mjpeg_viewer_and_exits() {
    sigterm_ends_a_stream("/camera/preview", true, "MJPEG").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_closes_a_websocket_and_exits() {
    let lab = ServerProcess::start("mock_lab", &[]);
    let ws_url = lab.at("/stage/ws").replacen("http://", "ws://", 1);
    let (mut socket, _) = tokio_tungstenite::connect_async(ws_url).await.expect("connect");
    let observe = json!({"messageType": "addPropertyObservation", "data": {"position": true}});
    socket
        .send(tokio_tungstenite::tungstenite::Message::text(observe.to_string()))
        .await
        .expect("send");
    let terminated = tokio::task::spawn_blocking(move || terminate_and_check(lab));
    let closed = tokio::time::timeout(EXIT_WITHIN, async {
        while let Some(Ok(message)) = socket.next().await {
            if let tokio_tungstenite::tungstenite::Message::Close(frame) = message {
                return frame.map(|f| u16::from(f.code));
            }
        }
        None
    })
    .await;
    assert_eq!(closed, Ok(Some(1001)), "the server closed the WebSocket as going away");
    terminated.await.expect("checked");
}

/// POST `body` to `path` with `?return=output` on the mock lab, SIGTERM it
/// half a second later, and check the waiting caller gets its cancelled
/// answer in time and the lab exits with its stop hooks run; its stderr.
async fn sigterm_while_waiting_on(path: &str, body: Value) -> String {
    let lab = ServerProcess::start("mock_lab", &[]);
    let waiting = reqwest::Client::new()
        .post(lab.at(&format!("{path}?return=output")))
        .json(&body)
        .send();
    let waiting = tokio::spawn(waiting);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let terminated = tokio::task::spawn_blocking(move || terminate_and_check(lab));
    let answer = tokio::time::timeout(EXIT_WITHIN, waiting)
        .await
        .expect("the waiting call is answered in time")
        .expect("joined")
        .expect("an answer");
    assert_eq!(answer.status(), 500);
    let problem: Value = answer.json().await.expect("problem details");
    assert_eq!(problem["title"], "InvocationCancelledError", "{problem}");
    terminated.await.expect("checked")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_cancels_a_move_waited_on_with_return_output() {
    // 1,500 steps of 10 ms: 15 s if nothing stops it.
    let stderr = sigterm_while_waiting_on("/stage/move_relative", json!({"x": 1500})).await;
    let position = stderr
        .split("stage disconnected at [")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|x| x.trim().parse::<i64>().ok())
        .unwrap_or_else(|| panic!("the final position is logged; stderr:\n{stderr}"));
    assert!((1..1500).contains(&position), "the move stopped mid-way, at {position}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_cancels_a_running_async_action_and_runs_its_async_stop_hook() {
    // 1,000 readings 100 ms apart: 100 s if nothing stops it.
    let stderr = sigterm_while_waiting_on("/thermometer/record", json!({"count": 1000, "interval_ms": 100})).await;
    assert!(
        stderr.contains("thermometer disconnected"),
        "the async stop hook ran; stderr:\n{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_starts_none_of_the_moves_queued_on_the_stage_lock() {
    let lab = ServerProcess::start("mock_lab", &[]);
    let client = reqwest::Client::new();
    let (status, running): (u16, Value) = {
        let response = client
            .post(lab.at("/stage/move_relative"))
            .json(&json!({"x": 1500}))
            .send()
            .await
            .expect("move");
        (response.status().as_u16(), response.json().await.expect("json"))
    };
    assert_eq!(status, 201, "{running}");
    for _ in 0..200 {
        let response = client
            .post(lab.at("/stage/move_relative"))
            .json(&json!({"x": -1000}))
            .send()
            .await
            .expect("queue a move");
        assert_eq!(response.status(), 201);
        let queued: Value = response.json().await.expect("json");
        assert_eq!(queued["status"], "pending", "{queued}");
    }
    let stderr = terminate_and_check(lab);
    assert!(
        stderr.contains("moving by [1500, 0, 0]"),
        "the first move started; stderr:\n{stderr}"
    );
    assert!(
        !stderr.contains("moving by [-1000"),
        "a queued move started during shutdown; stderr:\n{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_ctrl_c_exits_at_once_after_the_stop_hooks() {
    let mut pump = ServerProcess::start("stubborn", &[]);
    let response = reqwest::Client::new()
        .post(pump.at("/pump/prime"))
        .json(&json!({"seconds": 60}))
        .send()
        .await
        .expect("prime");
    assert_eq!(response.status(), 201);
    pump.signal("INT");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(pump.is_running(), "the first Ctrl-C gives the action its grace period");
    assert!(
        !pump.stderr().contains("valves closed"),
        "stop hooks run after the grace period"
    );
    let refused = reqwest::Client::new()
        .post(pump.at("/pump/prime"))
        .json(&json!({"seconds": 1}))
        .send()
        .await
        .expect("an answer while shutting down");
    assert_eq!(refused.status(), 503);
    let body: Value = refused.json().await.expect("JSON");
    assert!(
        body["detail"].as_str().is_some_and(|d| d.contains("shutting down")),
        "{body}"
    );
    let pump = tokio::task::spawn_blocking(move || {
        let mut pump = pump;
        let again = Instant::now();
        pump.signal("INT");
        (pump.wait_exit(again, Duration::from_secs(10)), pump.stderr())
    });
    let (took, stderr) = pump.await.expect("joined");
    let took = took.unwrap_or_else(|| panic!("no exit after a second Ctrl-C; stderr:\n{stderr}"));
    assert!(took < Duration::from_millis(1500), "exit took {took:?}");
    assert!(stderr.contains("valves closed"), "the stop hook ran; stderr:\n{stderr}");
}
