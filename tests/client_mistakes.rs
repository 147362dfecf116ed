//! Client mistakes are 4xx answers with a JSON body naming the problem,
//! including those device code detects and those no handler sees.

mod common;

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/mock_lab.rs"]
mod mock_lab;

use std::sync::atomic::{AtomicBool, Ordering};

use common::{TestServer, start, start_lab};
use labthings::BadRequest;
use labthings::prelude::*;
use parking_lot::Mutex;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn lab() -> TestServer {
    start_lab(mock_lab::build).await
}

/// A laser with an interlock.
#[thing]
#[derive(Default)]
struct Laser {
    interlock_open: AtomicBool,
    power_mw: Mutex<f64>,
}

#[thing]
impl Laser {
    /// Output power.
    #[property(minimum = 0.0, maximum = 50.0, unit = "mW")]
    fn power_mw(&self) -> f64 {
        *self.power_mw.lock()
    }

    fn set_power_mw(&self, value: f64) -> Result<(), BadRequest> {
        if value > 0.0 && self.interlock_open.load(Ordering::SeqCst) {
            return Err(BadRequest::new("the interlock is open: close the enclosure first"));
        }
        *self.power_mw.lock() = value;
        Ok(())
    }

    /// Open the enclosure.
    #[action]
    fn open_enclosure(&self) {
        self.interlock_open.store(true, Ordering::SeqCst);
        *self.power_mw.lock() = 0.0;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_setter_refusing_a_value_answers_422() {
    let server = Server::builder()
        .config(common::test_config())
        .thing("laser", Laser::default())
        .build()
        .expect("build");
    let lab = start(server).await;
    assert_eq!(lab.put("/laser/power_mw", json!(5.0)).await.0, 201);
    assert_eq!(lab.post("/laser/open_enclosure?return=output", json!({})).await.0, 200);
    let (status, body) = lab.put("/laser/power_mw", json!(5.0)).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["detail"][0]["type"], "value_error");
    assert!(
        body["detail"][0]["msg"]
            .as_str()
            .is_some_and(|m| m.contains("interlock is open")),
        "{body}"
    );
    assert_eq!(lab.get("/laser/power_mw").await, (200, json!(0.0)), "unchanged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_refusing_an_argument_answers_422_and_does_not_move() {
    let lab = lab().await;
    assert_eq!(lab.put("/stage/step_delay_ms", json!(0)).await.0, 201);
    let (status, body) = lab
        .post("/stage/move_relative?return=output", json!({"x": 150_000}))
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["detail"][0]["msg"]
            .as_str()
            .is_some_and(|m| m.contains("beyond the stage's travel")),
        "{body}"
    );
    assert_eq!(body["detail"][0]["input"]["x"], 150_000);
    // Without ?return=output the invocation ends as an error with status 422.
    let (status, invocation) = lab.post("/stage/move_relative", json!({"x": 150_000})).await;
    assert_eq!(status, 201);
    let done = lab.wait_finished(&invocation).await;
    assert_eq!(done["status"], "error");
    assert_eq!(done["error"]["status"], 422);
    assert_eq!(done["error"]["type"], "urn:labthings:problem:bad-request");
    // The invocation's log keeps the refusal as a warning: the client's
    // mistake, not a fault of the device.
    let last = done["log"]
        .as_array()
        .and_then(|log| log.last())
        .cloned()
        .unwrap_or_default();
    assert_eq!(last["levelname"], "WARNING", "{done}");
    assert!(
        last["message"]
            .as_str()
            .is_some_and(|m| m.contains("beyond the stage's travel")),
        "{done}"
    );
    assert_eq!(
        lab.get("/stage/position").await,
        (200, json!([0, 0, 0])),
        "the stage did not move"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extreme_coordinates_cannot_drive_the_stage() {
    let lab = lab().await;
    for x in [i64::MIN, i64::MAX, -100_001, 100_001] {
        let (status, body) = lab
            .post("/stage/move_absolute?return=output", json!({"x": x, "y": 0, "z": 0}))
            .await;
        assert_eq!(status, 422, "x = {x}: {body}");
        assert_eq!(body["detail"][0]["loc"], json!(["body", "x"]), "{body}");
    }
    let (status, body) = lab.post("/stage/move_relative", json!({"x": i64::MIN})).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(lab.get("/stage/position").await, (200, json!([0, 0, 0])));
    assert!(!mock_lab::within_travel(i64::MIN) && !mock_lab::within_travel(i64::MAX));
    // Every parameter of the hardware's actions has both bounds in the TD.
    let (_, td) = lab.get("/stage/").await;
    for action in ["move_relative", "move_absolute"] {
        for axis in ["x", "y", "z"] {
            let schema = &td["actions"][action]["input"]["properties"][axis];
            assert!(
                schema["minimum"].is_number() && schema["maximum"].is_number(),
                "{action}.{axis}: {schema}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_integral_float_is_an_integer_as_the_schema_says() {
    let lab = lab().await;
    assert_eq!(lab.put("/stage/step_delay_ms", json!(1.0)).await.0, 201);
    assert_eq!(lab.get("/stage/step_delay_ms").await, (200, json!(1)));
    let (status, output) = lab.post("/stage/move_relative?return=output", json!({"x": 2.0})).await;
    assert_eq!((status, output), (200, json!([2, 0, 0])));
    let (status, body) = lab.post("/stage/move_relative", json!({"x": 2.5})).await;
    assert_eq!(status, 422);
    assert_eq!(body["detail"][0]["type"], "int_from_float", "{body}");
}

/// Send raw bytes and read the whole answer (the server closes after it).
async fn raw(lab: &TestServer, request: &[u8]) -> (String, Value) {
    let mut socket = TcpStream::connect(lab.url.trim_start_matches("http://"))
        .await
        .expect("connect");
    socket.write_all(request).await.expect("write");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), socket.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let json = serde_json::from_str(body).unwrap_or_else(|_| Value::String(format!("<not JSON: {body}>")));
    (head.to_owned(), json)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_that_cannot_be_parsed_get_json_answers() {
    let lab = lab().await;
    let mut too_many_headers = b"GET /stage/ HTTP/1.1\r\nHost: localhost\r\n".to_vec();
    for n in 0..200 {
        too_many_headers.extend_from_slice(format!("X-{n}: 1\r\n").as_bytes());
    }
    too_many_headers.extend_from_slice(b"\r\n");
    let mut long_path = b"GET /".to_vec();
    long_path.extend(std::iter::repeat_n(b'a', 1 << 20));
    long_path.extend_from_slice(b" HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("a bad request line", b"GARBAGE\r\n\r\n".to_vec(), "400"),
        ("too many headers", too_many_headers, "431"),
        ("a 1 MiB path", long_path, "431"),
        (
            "two Content-Length headers",
            b"PUT /stage/step_delay_ms HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n1"
                .to_vec(),
            "400",
        ),
        (
            "a WebSocket GET without upgrade",
            b"GET /stage/ws HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".to_vec(),
            "400",
        ),
        (
            "a path that is not UTF-8",
            b"GET /action_invocations/%FF%FE HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".to_vec(),
            "4",
        ),
    ];
    for (what, request, status) in cases {
        let (head, body) = raw(&lab, &request).await;
        assert!(head.starts_with(&format!("HTTP/1.1 {status}")), "{what}: {head}");
        assert!(
            head.to_ascii_lowercase().contains("content-type: application/json"),
            "{what}: {head}"
        );
        assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()), "{what}: {body}");
    }
    assert_eq!(lab.get("/stage/position").await.0, 200, "the server keeps serving");
}
