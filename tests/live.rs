//! Binary outputs and live updates over real sockets: blob downloads, MJPEG
//! streams, WebSocket observation (guide/src/http-contract.md), SSE observation and events.

mod common;

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/mock_lab.rs"]
mod mock_lab;

use std::path::PathBuf;
use std::time::Duration;

use common::{TestServer, assert_valid_td, start, start_lab, start_thing};
use futures_util::{SinkExt, StreamExt};
use labthings::prelude::*;
use labthings::{Server, ServerConfig};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use tokio_tungstenite::tungstenite::Message;

const TEN_MIB: usize = 10 * 1024 * 1024;

/// Deterministic test data.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8 ^ (i >> 16) as u8).collect()
}

fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("labthings-live-{name}-{}", uuid::Uuid::new_v4()))
}

/// Returns binary data.
#[thing]
#[derive(Default)]
struct Archive {
    /// A counter.
    #[event]
    tick: Event<u32>,
}

#[thing]
impl Archive {
    /// 10 MiB from memory.
    #[action(retention_secs = 3)]
    fn memory(&self) -> Blob {
        Blob::from_bytes(pattern(TEN_MIB), "application/octet-stream")
    }

    /// A file the blob owns (deleted when the invocation expires).
    #[action(retention_secs = 3)]
    fn file(&self, path: String) -> Result<Blob, std::io::Error> {
        std::fs::write(&path, pattern(TEN_MIB))?;
        Blob::from_temp_file(&path, "image/tiff")
    }

    /// Emit `count` ticks as fast as possible.
    #[action]
    fn burst(&self, count: u32) -> u32 {
        for n in 0..count {
            self.tick.emit(&n);
        }
        count
    }
}

async fn archive() -> TestServer {
    start_thing("archive", Archive::default()).await
}

async fn lab() -> TestServer {
    start_lab(mock_lab::build).await
}

use common::download;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_10_mib_blob_downloads_intact_from_both_urls() {
    let server = archive().await;
    let expected = Sha256::digest(pattern(TEN_MIB)).to_vec();
    let (status, invocation) = server.post("/archive/memory", Value::Null).await;
    assert_eq!(status, 201);
    let done = server.wait_finished(&invocation).await;
    assert_eq!(done["status"], "completed", "{done}");
    let output = &done["output"];
    assert_eq!(output["media_type"], "application/octet-stream");
    assert_eq!(output["rel"], "output");
    let href = output["href"].as_str().expect("href").to_owned();
    assert!(href.starts_with(&format!("{}/blob/", server.url)), "{href}");
    let id = done["id"].as_str().expect("id");

    for url in [href.clone(), server.at(&format!("/action_invocations/{id}/output"))] {
        let (status, headers, digest, len) = download(&server, &url).await;
        assert_eq!(status, 200, "{url}");
        assert_eq!(headers["content-type"], "application/octet-stream");
        assert_eq!(headers["content-length"], TEN_MIB.to_string().as_str());
        assert_eq!(len, TEN_MIB);
        assert_eq!(digest, expected, "{url} is intact");
    }

    // The blob lives as long as its invocation (retention 3 s), then 404.
    for _ in 0..150 {
        if server.get(&href.replace(&server.url, "")).await.0 == 404 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let blob_path = output["href"].as_str().expect("href").replace(&server.url, "");
    assert_eq!(server.get(&blob_path).await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_blob_streams_and_is_deleted_when_its_invocation_expires() {
    let server = archive().await;
    let path = temp_path("file-blob");
    let (_, invocation) = server
        .post("/archive/file", json!({"path": path.to_string_lossy()}))
        .await;
    let done = server.wait_finished(&invocation).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert!(path.exists(), "kept while the invocation is retained");
    let href = done["output"]["href"].as_str().expect("href").to_owned();
    let (status, headers, digest, _) = download(&server, &href).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "image/tiff");
    assert_eq!(headers["content-length"], TEN_MIB.to_string().as_str());
    assert_eq!(digest, Sha256::digest(pattern(TEN_MIB)).to_vec());
    // Expiry (retention 3 s, swept every second) frees the blob and its file.
    for _ in 0..150 {
        if !path.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!path.exists(), "the temporary file is deleted after expiry");
    assert_eq!(server.get(&href.replace(&server.url, "")).await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blob_outputs_and_live_affordances_are_in_valid_tds() {
    let server = archive().await;
    let (_, td) = server.get("/archive/").await;
    assert_valid_td(&td);
    let output = &td["actions"]["memory"]["output"];
    assert_eq!(output["type"], "object");
    assert_eq!(output["required"], json!(["href", "media_type"]));
    assert_eq!(td["events"]["tick"]["data"]["type"], "integer");
    assert_eq!(td["events"]["tick"]["forms"][0]["subprotocol"], "sse");
    assert_eq!(
        td["events"]["tick"]["forms"][0]["op"],
        json!(["subscribeevent", "unsubscribeevent"])
    );

    let lab = lab().await;
    let (_, camera) = lab.get("/camera/").await;
    assert_valid_td(&camera);
    assert_eq!(camera["links"][0]["href"], "/camera/preview");
    assert_eq!(camera["links"][0]["type"], "multipart/x-mixed-replace");
    let (_, stage) = lab.get("/stage/").await;
    assert_valid_td(&stage);
    assert_eq!(stage["properties"]["position"]["observable"], true);
    assert_eq!(
        stage["properties"]["position"]["forms"][1]["op"],
        json!(["observeproperty", "unobserveproperty"])
    );
    assert_eq!(stage["properties"]["step_delay_ms"]["observable"], false);
}

/// Read from a streaming response until `n` complete MJPEG parts arrived.
async fn read_parts(response: &mut reqwest::Response, n: usize) -> Vec<Vec<u8>> {
    let mut buffer: Vec<u8> = Vec::new();
    let mut frames = Vec::new();
    while frames.len() < n {
        let chunk = tokio::time::timeout(Duration::from_secs(10), response.chunk())
            .await
            .expect("a frame within 10 s")
            .expect("no error")
            .expect("the stream goes on");
        buffer.extend_from_slice(&chunk);
        // Parse complete parts: headers, blank line, Content-Length bytes.
        while let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).to_string();
            assert!(head.starts_with("--frame\r\n"), "part head: {head:?}");
            assert!(head.contains("Content-Type: image/jpeg"), "{head}");
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .and_then(|l| l.trim().parse().ok())
                .expect("a Content-Length");
            if buffer.len() < end + 4 + len + 2 {
                break;
            }
            frames.push(buffer[end + 4..end + 4 + len].to_vec());
            buffer.drain(..end + 4 + len + 2);
        }
    }
    frames
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_camera_preview_is_an_mjpeg_stream() {
    let server = lab().await;
    let mut response = server
        .client
        .get(server.at("/camera/preview"))
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "multipart/x-mixed-replace; boundary=frame"
    );
    let frames = read_parts(&mut response, 3).await;
    for frame in &frames {
        assert_eq!(&frame[..2], &[0xFF, 0xD8], "a JPEG starts with SOI");
        assert_eq!(&frame[frame.len() - 2..], &[0xFF, 0xD9], "and ends with EOI");
    }
    assert_ne!(frames[0], frames[2], "the picture moves");
}

/// A 64 KiB frame framed as a JPEG, `frame {n:06}` after its SOI marker.
fn numbered_frame(n: u32) -> Vec<u8> {
    let mut frame = vec![0xFF, 0xD8];
    frame.extend(format!("frame {n:06}").into_bytes());
    frame.resize(64 * 1024 - 2, b' ');
    frame.extend([0xFF, 0xD9]);
    frame
}

/// A stream for tests.
#[thing]
#[derive(Default)]
struct Feed {
    /// The frames.
    #[stream]
    frames: MjpegStream,
}

#[thing]
impl Feed {
    /// Push `count` numbered frames as fast as possible; returns the viewers seen.
    #[action]
    fn push(&self, count: u32) -> usize {
        for n in 0..count {
            // Framed as a JPEG (SOI ... EOI) with its number inside, and as
            // large as one, so socket buffers cannot hide a backlog.
            let _ = self.frames.push(numbered_frame(n));
        }
        self.frames.viewers()
    }

    /// Stop the stream: viewers' connections end.
    #[action]
    fn stop(&self) {
        self.frames.stop();
    }

    /// The size of the next frame pushed, waiting up to 10 s (as autofocus
    /// code measures sharpness).
    #[action]
    fn next_size(&self) -> Option<usize> {
        self.frames.next_frame_size(Duration::from_secs(10))
    }

    /// Push frames at `fps` a second for `millis` milliseconds.
    #[action]
    fn push_for(&self, millis: u64, fps: u32) {
        let start = std::time::Instant::now();
        let mut n = 0;
        while start.elapsed() < Duration::from_millis(millis) {
            let _ = self.frames.push(numbered_frame(n));
            n += 1;
            std::thread::sleep(Duration::from_secs(1) / fps.max(1));
        }
    }

    /// How many viewers are connected.
    #[property]
    fn viewers(&self) -> usize {
        self.frames.viewers()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_viewers_skip_frames_and_disconnects_cost_nothing() {
    let server = start_thing("feed", Feed::default()).await;
    let mut slow = server.client.get(server.at("/feed/frames")).send().await.expect("GET");
    let mut viewers = 0;
    for _ in 0..100 {
        viewers = server.get("/feed/viewers").await.1.as_u64().unwrap_or(0);
        if viewers == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(viewers, 1);
    // 5,000 frames pushed while the viewer reads nothing.
    let (_, invocation) = server.post("/feed/push", json!({"count": 5000})).await;
    server.wait_finished(&invocation).await;
    // It gets what socket buffers held, then the newest frame: never a
    // backlog of 5,000.
    let (_, invocation) = server.post("/feed/push", json!({"count": 1})).await;
    server.wait_finished(&invocation).await;
    let mut received = 0;
    loop {
        let frame = read_parts(&mut slow, 1).await.remove(0);
        received += 1;
        if frame[2..].starts_with(b"frame 000000") {
            break;
        }
        assert!(received <= 5_000, "the viewer was sent every frame");
    }
    eprintln!("{received} of 5,001 frames reached the stalled viewer");
    assert!(
        received < 1_000,
        "{received} of 5,001 frames reached the stalled viewer"
    );
    drop(slow);
    for _ in 0..200 {
        viewers = server.get("/feed/viewers").await.1.as_u64().unwrap_or(9);
        if viewers == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(viewers, 0, "a closed connection unsubscribes");
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn websocket(server: &TestServer, thing: &str) -> Socket {
    let url = format!("{}/{thing}/ws", server.url.replace("http://", "ws://"));
    let (socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("WebSocket handshake");
    socket
}

async fn send(socket: &mut Socket, message: Value) {
    socket
        .send(Message::Text(message.to_string().into()))
        .await
        .expect("send");
}

async fn receive(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a message within 10 s")
            .expect("the socket is open")
            .expect("no error");
        if let Message::Text(text) = message {
            return serde_json::from_str(&text).expect("JSON");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_observes_properties_and_actions_as_wire_md_says() {
    let server = lab().await;
    assert_eq!(server.put("/stage/step_delay_ms", json!(1)).await.0, 201);
    let mut socket = websocket(&server, "stage").await;
    send(
        &mut socket,
        json!({"messageType": "addPropertyObservation", "data": {"position": true}}),
    )
    .await;
    send(
        &mut socket,
        json!({"messageType": "addActionObservation", "data": {"move_relative": true}}),
    )
    .await;
    // Give the server a moment to register both before acting.
    send(
        &mut socket,
        json!({"messageType": "addPropertyObservation", "data": {"nope": true}}),
    )
    .await;
    let error = receive(&mut socket).await;
    assert_eq!(error["messageType"], "response");
    assert_eq!(error["operation"], "observeproperty");
    assert_eq!(error["name"], "nope");
    assert_eq!(error["error"]["status"], "404");

    let (_, invocation) = server.post("/stage/move_relative", json!({"x": 3})).await;
    let mut positions = Vec::new();
    let mut statuses = Vec::new();
    while statuses.last().map(String::as_str) != Some("completed") {
        let message = receive(&mut socket).await;
        match message["messageType"].as_str() {
            Some("propertyStatus") => positions.push(message["data"]["position"].clone()),
            Some("actionStatus") => {
                assert_eq!(message["data"]["action name"], "move_relative");
                assert_eq!(message["data"]["invocation"]["id"], invocation["id"]);
                statuses.push(message["data"]["status"].as_str().unwrap_or_default().to_owned());
            }
            other => panic!("unexpected message {other:?}: {message}"),
        }
    }
    assert_eq!(positions, vec![json!([1, 0, 0]), json!([2, 0, 0]), json!([3, 0, 0])]);
    assert_eq!(statuses.first().map(String::as_str), Some("pending"));
    assert!(statuses.contains(&"running".to_owned()), "{statuses:?}");

    // A property that is not observable, and an unknown action.
    send(
        &mut socket,
        json!({"messageType": "addPropertyObservation", "data": {"step_delay_ms": true}}),
    )
    .await;
    let error = receive(&mut socket).await;
    assert_eq!(error["error"]["status"], "403");
    assert_eq!(error["error"]["title"], "Not Observable");
    send(
        &mut socket,
        json!({"messageType": "addActionObservation", "data": {"fly": true}}),
    )
    .await;
    let error = receive(&mut socket).await;
    assert_eq!(error["operation"], "observeaction");
    assert_eq!(error["error"]["status"], "404");
}

/// Read SSE messages from a streaming response as (event type, data) pairs;
/// the type is `message` unless an `event:` line names another.
async fn read_events(response: &mut reqwest::Response, n: usize) -> Vec<(String, Value)> {
    let mut buffer = String::new();
    let mut events = Vec::new();
    while events.len() < n {
        let chunk = tokio::time::timeout(Duration::from_secs(10), response.chunk())
            .await
            .expect("an event within 10 s")
            .expect("no error")
            .expect("the stream goes on");
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let mut name = "message".to_owned();
            let mut data = None;
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    name = v.trim().to_owned();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data = serde_json::from_str(v.trim()).ok();
                }
            }
            // (`latest`, which each stream starts with, only gives the id
            // to resume from: not a value or an event.)
            if let Some(data) = data.filter(|_| name != "latest") {
                events.push((name, data));
            }
        }
    }
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_observes_a_property_and_subscribes_to_an_event() {
    let server = lab().await;
    let mut position = server
        .client
        .get(server.at("/stage/position/observe"))
        .send()
        .await
        .expect("GET");
    assert_eq!(position.status().as_u16(), 200);
    assert_eq!(position.headers()["content-type"], "text/event-stream");
    let mut frames = server
        .client
        .get(server.at("/camera/frame_acquired"))
        .send()
        .await
        .expect("GET");
    assert_eq!(frames.headers()["content-type"], "text/event-stream");
    tokio::time::sleep(Duration::from_millis(50)).await;

    assert_eq!(server.put("/stage/step_delay_ms", json!(1)).await.0, 201);
    let (_, homing) = server.post("/stage/move_relative", json!({"x": 0, "y": 2})).await;
    server.wait_finished(&homing).await;
    let events = read_events(&mut position, 2).await;
    assert_eq!(
        events,
        vec![
            ("message".to_owned(), json!([0, 1, 0])),
            ("message".to_owned(), json!([0, 2, 0]))
        ]
    );

    assert_eq!(server.put("/camera/exposure_ms", json!(0.01)).await.0, 201);
    let (_, acquire) = server.post("/camera/acquire", json!({"count": 2})).await;
    server.wait_finished(&acquire).await;
    let events = read_events(&mut frames, 2).await;
    assert_eq!(
        events[0].0, "message",
        "unnamed, so EventSource.onmessage and node-wot receive it"
    );
    assert_eq!(events[1].1["frame"], events[0].1["frame"].as_u64().unwrap_or(0) + 1);
    assert!(events[0].1["mean"].is_number());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_subscriber_blocks_neither_device_code_nor_other_subscribers() {
    let server = archive().await;
    // One subscriber that never reads, one that does.
    let _stalled = server.client.get(server.at("/archive/tick")).send().await.expect("GET");
    let mut reader = server.client.get(server.at("/archive/tick")).send().await.expect("GET");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (_, burst) = server.post("/archive/burst", json!({"count": 100000})).await;
    let done = server.wait_finished(&burst).await;
    assert_eq!(done["status"], "completed", "device code was not blocked: {done}");
    assert_eq!(done["output"], 100000);
    // The reader still gets events: the first ticks (those its connection
    // buffered), then one `gap` message saying it lost those it could not
    // hold (more than the server keeps to resume from), then ticks again.
    let (_, again) = server.post("/archive/burst", json!({"count": 1})).await;
    server.wait_finished(&again).await;
    let mut text = String::new();
    let tick_after_gap = loop {
        let chunk = tokio::time::timeout(Duration::from_secs(10), reader.chunk())
            .await
            .expect("ticks within 10 s")
            .expect("no error")
            .expect("the stream goes on");
        text.push_str(&String::from_utf8_lossy(&chunk));
        assert!(text.len() < 64 << 20, "no gap message, then a tick, in 64 MiB");
        let Some(gap) = text.find("event: gap\n") else { continue };
        let blocks: Vec<&str> = text[gap..].split("\n\n").collect();
        // A whole block after the gap (the last piece may be cut off);
        // lagging again, it may be told of another gap first.
        let whole = blocks.get(1..blocks.len().saturating_sub(1)).unwrap_or_default();
        if let Some(tick) = whole.iter().find(|b| !b.starts_with("event: gap")) {
            break tick.to_string();
        }
    };
    let data = tick_after_gap
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .unwrap_or_default();
    assert!(
        data.parse::<u64>().is_ok(),
        "a tick payload after the gap: {tick_after_gap:?}"
    );
}

/// What the mock thermometer's controller reads, in millikelvin.
static TEMPERATURE_MK: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(293_000);
/// How often the controller was asked.
static THERMOMETER_READS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A thermometer whose reading comes from its controller, not from a
/// stored value: a getter, observable by polling.
#[thing]
#[derive(Default)]
struct Thermometer {}

#[thing]
impl Thermometer {
    /// The temperature, in millikelvin.
    #[property(poll_ms = 20, unit = "mK")]
    fn temperature(&self) -> i64 {
        THERMOMETER_READS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        TEMPERATURE_MK.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// The thermometer's reads, once they have stopped changing for 200 ms.
async fn settled_reads() -> usize {
    loop {
        let before = THERMOMETER_READS.load(std::sync::atomic::Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(200)).await;
        if THERMOMETER_READS.load(std::sync::atomic::Ordering::SeqCst) == before {
            return before;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_polled_getter_is_observable_and_read_only_while_observed() {
    use std::sync::atomic::Ordering::SeqCst;
    let server = start_thing("thermometer", Thermometer::default()).await;
    let (_, td) = server.get("/thermometer/").await;
    assert_valid_td(&td);
    let property = &td["properties"]["temperature"];
    assert_eq!(property["observable"], true, "{property}");
    assert!(
        property["forms"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|f| f["op"].to_string().contains("observeproperty") && f["subprotocol"] == "sse"),
        "{property}"
    );
    // Nobody observes: the controller is not asked.
    let idle = settled_reads().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(THERMOMETER_READS.load(SeqCst), idle, "read while nobody observed");

    // An SSE observer hears the current value, then each change.
    let mut observer = server
        .client
        .get(server.at("/thermometer/temperature/observe"))
        .send()
        .await
        .expect("GET");
    assert_eq!(observer.status().as_u16(), 200);
    assert_eq!(read_events(&mut observer, 1).await[0].1, json!(293_000));
    TEMPERATURE_MK.store(294_000, SeqCst);
    assert_eq!(read_events(&mut observer, 1).await[0].1, json!(294_000));

    // The original's WebSocket observation accepts it too.
    let mut socket = websocket(&server, "thermometer").await;
    send(
        &mut socket,
        json!({"messageType": "addPropertyObservation", "data": {"temperature": true}}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    TEMPERATURE_MK.store(295_000, SeqCst);
    let message = receive(&mut socket).await;
    assert_eq!(message["messageType"], "propertyStatus", "{message}");
    assert_eq!(message["data"]["temperature"], 295_000);
    assert_eq!(read_events(&mut observer, 1).await[0].1, json!(295_000));

    // Everyone leaves: the reads stop.
    drop(observer);
    drop(socket);
    let after = settled_reads().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(THERMOMETER_READS.load(SeqCst), after, "read after every observer left");
    assert!(after > idle, "it was read while observed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_can_cap_its_frame_rate_and_a_stopped_stream_ends() {
    let server = start_thing("feed", Feed::default()).await;
    // A bad cap is the client's mistake, named.
    let (status, body) = server.get("/feed/frames?max_fps=0").await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["detail"][0]["loc"], json!(["query", "max_fps"]));
    assert_eq!(
        server.get("/feed/frames?fps=2").await.0,
        422,
        "unknown parameters are refused"
    );

    let mut capped = server
        .client
        .get(server.at("/feed/frames?max_fps=4"))
        .send()
        .await
        .expect("GET");
    let mut free = server.client.get(server.at("/feed/frames")).send().await.expect("GET");
    // Frames pushed for a second and a half, 50 a second.
    let (_, pushing) = server.post("/feed/push_for", json!({"millis": 1500, "fps": 50})).await;
    let finished = server.wait_finished(&pushing).await;
    assert_eq!(finished["status"], "completed", "{finished}");
    let (_, stop) = server.post("/feed/stop", json!({})).await;
    server.wait_finished(&stop).await;
    let capped_frames = read_all_parts(&mut capped).await;
    let free_frames = read_all_parts(&mut free).await;
    eprintln!("in 1.5 s at 50 fps: capped viewer {capped_frames} frames, uncapped {free_frames}");
    // 4 a second for 1.5 s is 6 or 7 frames (and one already there at the start).
    assert!((2..=9).contains(&capped_frames), "{capped_frames} frames at max_fps=4");
    assert!(
        free_frames > 3 * capped_frames,
        "uncapped {free_frames}, capped {capped_frames}"
    );
}

/// Read every part until the stream ends (it must, within 10 s).
async fn read_all_parts(response: &mut reqwest::Response) -> usize {
    let mut body = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(10), response.chunk()).await {
            Ok(Ok(Some(chunk))) => body.extend_from_slice(&chunk),
            Ok(Ok(None)) => break,
            Ok(Err(e)) => panic!("the stream failed: {e}"),
            Err(_) => panic!("the stream did not end when the device code stopped it"),
        }
    }
    body.windows(9).filter(|w| w == b"--frame\r\n").count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_code_grabs_the_next_frame_of_its_stream() {
    let server = start_thing("feed", Feed::default()).await;
    let (_, waiting) = server.post("/feed/next_size", json!({})).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (_, pushing) = server.post("/feed/push", json!({"count": 1})).await;
    server.wait_finished(&pushing).await;
    let done = server.wait_finished(&waiting).await;
    assert_eq!(done["output"], json!(64 * 1024), "{done}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_output_blob_chains_into_another_actions_input() {
    let server = start(
        Server::builder()
            .config(ServerConfig::default().with(|c| c.settings_dir = None))
            .thing("camera", mock_lab::Camera::default())
            .thing("archive", Archive::default())
            .build()
            .expect("build"),
    )
    .await;
    let (_, td) = server.get("/camera/").await;
    assert_valid_td(&td);
    assert_eq!(
        td["actions"]["snap"]["output"]["properties"]["media_type"]["const"],
        "image/jpeg"
    );
    let image_schema = &td["actions"]["measure_image"]["input"]["properties"]["image"];
    assert_eq!(
        image_schema["properties"]["media_type"]["const"], "image/jpeg",
        "{image_schema}"
    );

    let (status, snapped) = server.post("/camera/snap?return=output", json!({})).await;
    assert_eq!(status, 200, "{snapped}");
    assert!(snapped["href"].as_str().unwrap_or_default().starts_with(&server.url));
    let (status, info) = server
        .post("/camera/measure_image?return=output", json!({"image": snapped}))
        .await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["width"], 320);
    assert_eq!(info["height"], 240);
    assert!(info["bytes"].as_u64().is_some_and(|b| b > 100), "{info}");

    // Only blobs this server holds, of the declared type.
    let elsewhere = json!({"href": "http://elsewhere.example/blob/67e55044-10b1-426f-9247-bb680e5fe0c8", "media_type": "image/jpeg"});
    let unknown = json!({"href": format!("{}/blob/67e55044-10b1-426f-9247-bb680e5fe0c8", server.url), "media_type": "image/jpeg"});
    for image in [elsewhere, unknown] {
        let (status, body) = server.post("/camera/measure_image", json!({"image": image})).await;
        assert_eq!(status, 422, "{body}");
        assert!(body.to_string().contains("not a blob held by this server"), "{body}");
    }
    let (_, archived) = server.post("/archive/memory?return=output", json!({})).await;
    let (status, body) = server
        .post("/camera/measure_image", json!({"image": archived.clone()}))
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        body["detail"][0]["loc"],
        json!(["body", "image", "media_type"]),
        "{body}"
    );
    // A link that claims another media type is judged by the blob itself.
    let mut claimed = archived;
    claimed["media_type"] = json!("image/jpeg");
    let (status, body) = server.post("/camera/measure_image", json!({"image": claimed})).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body.to_string()
            .contains("takes blobs of type image/jpeg; the one given is application/octet-stream"),
        "{body}"
    );
}

/// A thing whose device code sets a property in a burst.
#[thing]
#[derive(Default)]
struct Burst {
    /// The last number set.
    #[property]
    n: DataProperty<u32>,
}

#[thing]
impl Burst {
    /// Set `n` to 1, 2, … `count` as fast as device code can.
    #[action]
    fn burst(&self, count: u32) {
        for n in 1..=count {
            self.n.set(n);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_changes_reaches_a_websocket_observer_whole_and_in_order() {
    // Changes that arrive together go out in one write (a batch): none may
    // be lost or reordered on the way (200 is within the hub's 256).
    let server = start_thing("burst", Burst::default()).await;
    let mut socket = websocket(&server, "burst").await;
    send(
        &mut socket,
        json!({"messageType": "addPropertyObservation", "data": {"n": true}}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, _) = server.post("/burst/burst?return=output", json!({"count": 200})).await;
    assert_eq!(status, 200);
    let mut seen = Vec::new();
    while seen.len() < 200 {
        let message = receive(&mut socket).await;
        assert_eq!(message["messageType"], "propertyStatus", "{message}");
        seen.push(message["data"]["n"].as_u64().expect("a number"));
    }
    assert_eq!(seen, (1..=200).collect::<Vec<u64>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_changes_reaches_an_sse_observer_whole_and_in_order() {
    // SSE messages waiting together go out in one body chunk.
    let server = start_thing("burst", Burst::default()).await;
    let mut observed = server
        .client
        .get(server.at("/burst/n/observe"))
        .send()
        .await
        .expect("observe");
    assert_eq!(
        observed.headers()["content-type"],
        "text/event-stream",
        "{:?}",
        observed.headers()
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, _) = server.post("/burst/burst?return=output", json!({"count": 200})).await;
    assert_eq!(status, 200);
    let events = read_events(&mut observed, 200).await;
    assert!(events.iter().all(|(name, _)| name == "message"));
    let values: Vec<u64> = events.iter().filter_map(|(_, v)| v.as_u64()).collect();
    assert_eq!(values, (1..=200).collect::<Vec<u64>>());
}
