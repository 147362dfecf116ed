//! Live streams that resume, over real sockets: every SSE message carries
//! an `id:` (the hub's epoch and the Thing's sequence number) and a client
//! that reconnects with `Last-Event-ID` is sent what it missed, in order,
//! or one `gap` message; WebSocket messages carry `seq`; the Rust client
//! and a browser's own `EventSource` (headless Chromium) resume through a
//! proxy the test cuts.

mod common;

#[allow(dead_code, unreachable_pub)]
#[path = "../benches/servers/bench.rs"]
mod bench;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use common::clients::{repo, setup};
use common::proxy::CutProxy;
use common::{TestServer, start_thing};
use futures_util::{SinkExt, StreamExt};
use labthings::client::{ClientError, ThingClient};
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;
use tokio_tungstenite::tungstenite::Message;

/// One parsed SSE message.
#[derive(Debug, Clone, PartialEq)]
struct Sse {
    event: String,
    id: String,
    data: String,
}

/// An SSE response read message by message.
struct SseReader {
    response: reqwest::Response,
    buffer: String,
}

impl SseReader {
    async fn open(server: &TestServer, path: &str, last_event_id: Option<&str>) -> Self {
        let mut request = server.client.get(server.at(path));
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        let response = request.send().await.expect("the stream opens");
        assert_eq!(response.status(), 200);
        Self {
            response,
            buffer: String::new(),
        }
    }

    /// The next message with data (comments and `retry:` skipped).
    async fn next(&mut self) -> Sse {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut message = Sse {
                    event: "message".into(),
                    id: String::new(),
                    data: String::new(),
                };
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event: ") {
                        message.event = v.to_owned();
                    } else if let Some(v) = line.strip_prefix("id: ") {
                        message.id = v.to_owned();
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        message.data = v.to_owned();
                    }
                }
                if !message.data.is_empty() {
                    return message;
                }
                continue;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.response.chunk())
                .await
                .expect("a message within 10 s")
                .expect("the stream reads")
                .expect("the stream goes on");
            self.buffer.push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
        }
    }
}

/// A script's standard output, line by line.
type Lines = tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>;

/// Run `node tests/interop/{script} {args}` (standard input piped, for
/// scripts that wait on it); the process and its output's lines.
fn node(script: &str, args: &[&str]) -> (tokio::process::Child, Lines) {
    let mut child = tokio::process::Command::new(PathBuf::from("node"))
        .arg(repo().join("tests/interop").join(script))
        .args(args)
        .current_dir(repo())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("node starts");
    let lines = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    (child, lines)
}

/// The sequence number in an SSE id (`{epoch}-{seq}`).
fn seq(id: &str) -> u64 {
    id.rsplit_once('-')
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or_else(|| panic!("an id: {id:?}"))
}

async fn write_count(server: &TestServer, value: i64) {
    let (status, body) = server.put("/bench/count", json!(value)).await;
    assert!((200..300).contains(&status), "{status} {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_reconnects_with_last_event_id_is_sent_what_it_missed_in_order() {
    let server = start_thing("bench", bench::Bench::default()).await;
    let mut stream = SseReader::open(&server, "/bench/count/observe", None).await;
    let latest = stream.next().await;
    assert_eq!(latest.event, "latest", "a stream says where it starts: {latest:?}");
    for value in 1..=3 {
        write_count(&server, value).await;
    }
    let mut last = latest.id.clone();
    for value in 1..=3 {
        let message = stream.next().await;
        assert_eq!(
            (message.event.as_str(), message.data.as_str()),
            ("message", &*value.to_string())
        );
        assert!(seq(&message.id) > seq(&last), "{message:?} after {last}");
        last = message.id;
    }
    drop(stream);
    // Away: seven changes, and a label change (another affordance of the
    // same Thing, which this stream does not carry).
    for value in 4..=10 {
        write_count(&server, value).await;
    }
    let (status, _) = server.put("/bench/label", json!("away")).await;
    assert!((200..300).contains(&status));
    let mut resumed = SseReader::open(&server, "/bench/count/observe", Some(&last)).await;
    for value in 4..=10 {
        let message = resumed.next().await;
        assert_eq!(message.data, value.to_string(), "{message:?}");
        assert!(seq(&message.id) > seq(&last), "{message:?} after {last}");
        last = message.id;
    }
    let latest = resumed.next().await;
    assert_eq!(latest.event, "latest", "nothing else was missed: {latest:?}");
    assert_eq!(seq(&latest.id), seq(&last) + 1, "the label's change is counted too");
    // And it goes on live, once each.
    write_count(&server, 11).await;
    let message = resumed.next().await;
    assert_eq!(message.data, "11");
    assert_eq!(seq(&message.id), seq(&latest.id) + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gap_too_old_or_from_another_start_is_one_gap_message() {
    let server = start_thing("bench", bench::Bench::default()).await;
    // An id from another start of the server (or not one of ours at all).
    for foreign in ["0badc0de-3", "nonsense"] {
        let mut stream = SseReader::open(&server, "/bench/count/observe", Some(foreign)).await;
        let gap = stream.next().await;
        assert_eq!(gap.event, "gap", "{foreign}: {gap:?}");
        assert!(gap.data.contains("read the current state again"), "{gap:?}");
        write_count(&server, 7).await;
        let message = stream.next().await;
        assert_eq!((message.event.as_str(), message.data.as_str()), ("message", "7"));
    }
    // Away longer than the server keeps (1,024 notifications a Thing).
    let mut stream = SseReader::open(&server, "/bench/count/observe", None).await;
    let latest = stream.next().await;
    drop(stream);
    for value in 0..1100 {
        write_count(&server, value).await;
    }
    let mut stream = SseReader::open(&server, "/bench/count/observe", Some(&latest.id)).await;
    let gap = stream.next().await;
    assert_eq!(gap.event, "gap", "{gap:?}");
    write_count(&server, -1).await;
    let message = stream.next().await;
    assert_eq!(message.data, "-1", "live again after the gap: {message:?}");
    assert_eq!(seq(&message.id), seq(&gap.id) + 1, "the gap's id is where it resumes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_messages_carry_the_things_sequence_number() {
    let server = start_thing("bench", bench::Bench::default()).await;
    let url = server.at("/bench/ws").replacen("http", "ws", 1);
    let (mut socket, _) = tokio_tungstenite::connect_async(url.as_str()).await.expect("connect");
    let add = json!({"messageType": "addPropertyObservation", "data": {"count": true}});
    socket.send(Message::text(add.to_string())).await.expect("send");
    tokio::time::sleep(Duration::from_millis(200)).await;
    write_count(&server, 1).await;
    let (status, _) = server.put("/bench/label", json!("between")).await;
    assert!((200..300).contains(&status));
    write_count(&server, 2).await;
    let mut seqs = Vec::new();
    while seqs.len() < 2 {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a message")
            .expect("open")
            .expect("a frame");
        let message: Value = serde_json::from_str(message.to_text().expect("text")).expect("JSON");
        assert_eq!(message["messageType"], "propertyStatus", "{message}");
        seqs.push(message["seq"].as_u64().expect("seq"));
    }
    assert_eq!(
        seqs[1],
        seqs[0] + 2,
        "the label's change between them is counted: {seqs:?}"
    );
}

/// The next value a stream's reader passed on, within 20 s.
async fn next(counts: &mut tokio::sync::mpsc::UnboundedReceiver<Result<i64, ClientError>>) -> i64 {
    match tokio::time::timeout(Duration::from_secs(20), counts.recv()).await {
        Ok(Some(Ok(value))) => value,
        other => panic!("expected a value, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_client_resumes_through_a_cut_connection() {
    let server = start_thing("bench", bench::Bench::default()).await;
    let target = server.url.trim_start_matches("http://").parse().expect("an address");
    let proxy = CutProxy::start(target).await;
    let bench = ThingClient::from_url(&format!("{}/bench/", proxy.url))
        .await
        .expect("TD");
    let mut stream = bench.observe_property::<i64>("count").await.expect("observe");
    // Read all along, as an application does (a stream only acts when read).
    let (sender, mut counts) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(item) = stream.next().await {
            if sender.send(item).is_err() {
                return;
            }
        }
    });
    for value in 1..=3 {
        write_count(&server, value).await;
        assert_eq!(next(&mut counts).await, value);
    }
    let before = proxy.accepted();
    proxy.set_down(true);
    proxy.cut();
    for value in 4..=10 {
        write_count(&server, value).await;
    }
    // The client tries again meanwhile, and fails.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    proxy.set_down(false);
    let received: Vec<i64> = {
        let mut received = Vec::new();
        for _ in 4..=10 {
            received.push(next(&mut counts).await);
        }
        received
    };
    assert_eq!(
        received,
        (4..=10).collect::<Vec<_>>(),
        "every change while away, in order"
    );
    let after = proxy.accepted();
    assert!(
        after >= before + 2,
        "it failed, then connected again: {before} then {after} connections"
    );
    write_count(&server, 11).await;
    assert_eq!(next(&mut counts).await, 11, "and live again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browsers_event_source_gets_every_change_made_while_it_was_cut_off() {
    setup();
    let server = start_thing("bench", bench::Bench::default()).await;
    let target = server.url.trim_start_matches("http://").parse().expect("an address");
    let proxy = CutProxy::start(target).await;
    let base = format!("{}/bench/", proxy.url);
    let (mut child, mut lines) = node("sse_resume.mjs", &[&base, "/bench/count/observe", "20"]);
    let mut seen: Vec<Value> = Vec::new();
    // Read the browser's lines until one matches `until`.
    async fn wait_for(lines: &mut Lines, seen: &mut Vec<Value>, until: impl Fn(&Value) -> bool) {
        loop {
            let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
                .await
                .unwrap_or_else(|_| panic!("the browser said nothing for 60 s: {seen:?}"))
                .expect("read")
                .unwrap_or_else(|| panic!("the browser script ended: {seen:?}"));
            let value: Value = serde_json::from_str(&line).unwrap_or_else(|_| json!({"line": line}));
            seen.push(value.clone());
            if until(&value) {
                return;
            }
        }
    }
    wait_for(&mut lines, &mut seen, |v| v["open"] == true).await;
    for value in 1..=5 {
        write_count(&server, value).await;
    }
    wait_for(&mut lines, &mut seen, |v| v["data"] == 5).await;
    proxy.set_down(true);
    proxy.cut();
    wait_for(&mut lines, &mut seen, |v| v["error"] == true).await;
    for value in 6..=20 {
        write_count(&server, value).await;
    }
    // Its reconnections fail for a while (it tries each second).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    proxy.set_down(false);
    wait_for(&mut lines, &mut seen, |v| v["done"] == true).await;
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("the script ends")
        .expect("wait");
    assert!(status.success(), "{seen:?}");
    let data: Vec<i64> = seen.iter().filter_map(|v| v["data"].as_i64()).collect();
    assert_eq!(
        data,
        (1..=20).collect::<Vec<_>>(),
        "every change, once, in order: {seen:?}"
    );
    let opens = seen.iter().filter(|v| v["open"] == true).count();
    assert!(opens >= 2, "it reconnected: {seen:?}");
    assert!(
        !seen.iter().any(|v| v.get("gap").is_some()),
        "nothing was too old: {seen:?}"
    );
    println!(
        "the browser's EventSource: {}",
        serde_json::to_string(&seen).unwrap_or_default()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_panel_shows_what_changed_while_it_was_cut_off() {
    use tokio::io::AsyncWriteExt;
    setup();
    let server = common::start(
        labthings::Server::builder()
            .config(common::test_config())
            .thing("bench", bench::Bench::default())
            .thing("live", bench::Live::default())
            .build()
            .expect("build"),
    )
    .await;
    let target = server.url.trim_start_matches("http://").parse().expect("an address");
    let proxy = CutProxy::start(target).await;
    write_count(&server, 5).await;
    let beats = |count: u32| {
        let server = &server;
        async move {
            let (status, body) = server
                .post("/live/beats?return=output", json!({"rate": 100.0, "count": count}))
                .await;
            assert_eq!(status, 200, "{body}");
        }
    };
    let (mut child, mut lines) = node("panel_resume.mjs", &[&proxy.url]);
    let mut stdin = child.stdin.take().expect("stdin");
    /// The panel script's next line.
    async fn said(lines: &mut Lines) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(90), lines.next_line())
            .await
            .expect("the panel script said something within 90 s")
            .expect("read")
            .expect("the panel script ended early");
        serde_json::from_str::<Value>(&line).unwrap_or_else(|_| panic!("not JSON: {line}"))
    }
    let open = said(&mut lines).await;
    assert_eq!(open["open"], true, "{open}");
    beats(2).await;
    stdin.write_all(b"beaten\n").await.expect("tell the script");
    let ready = said(&mut lines).await;
    assert_eq!(ready["ready"]["beats"], json!(["1", "0"]), "{ready}");
    proxy.set_down(true);
    proxy.cut();
    write_count(&server, 42).await;
    beats(3).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    proxy.set_down(false);
    stdin.write_all(b"go on\n").await.expect("tell the script");
    let resumed = said(&mut lines).await;
    assert_eq!(resumed["resumed"]["count"], "42", "{resumed}");
    assert_eq!(
        resumed["resumed"]["beats"],
        json!(["2", "1", "0", "1", "0"]),
        "every beat while cut off, newest first: {resumed}"
    );
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("the script ends")
        .expect("wait");
    assert!(status.success());
}
