//! The `labthings` binary against the mock lab, served in this process on
//! a free port: every command, human and `--json` output, a mistake's exit
//! status, and Ctrl-C (a real SIGINT) cancelling an invocation.

mod common;

#[allow(dead_code, unreachable_pub)]
#[path = "../../examples/mock_lab.rs"]
mod mock_lab;

use std::process::Stdio;
use std::time::Duration;

use labthings::ServerConfig;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

/// The mock lab on a free port; its URL. Stops when the test's runtime ends.
async fn lab() -> String {
    // Invocation logs are captured through the tracing subscriber.
    labthings::init_test_tracing();
    let server = mock_lab::builder()
        .config(ServerConfig::default().with(|c| c.settings_dir = None))
        .thing("stage", mock_lab::Stage::default())
        .thing("camera", mock_lab::Camera::default())
        .thing("autofocus", mock_lab::Autofocus::default())
        .build()
        .expect("build");
    let listening = server.bind("127.0.0.1:0").await.expect("bind");
    let url = listening.url();
    tokio::spawn(listening.serve_until(std::future::pending::<()>()));
    url
}

/// Run `labthings ARGS`: (exit status, stdout, stderr).
async fn labthings(args: &[&str]) -> (i32, String, String) {
    common::labthings_with(args, &[]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_get_set_invoke_and_list() {
    let url = lab().await;
    let stage = format!("{url}/stage/");

    let (code, out, err) = labthings(&["describe", &stage]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("A mock three-axis translation stage."), "{out}");
    assert!(out.contains("properties:") && out.contains("actions:"), "{out}");
    assert!(out.contains("step_delay_ms            integer [ms]"), "{out}");
    assert!(
        out.contains("position                 array of integer (read-only, observable)"),
        "{out}"
    );
    assert!(
        out.contains("move_relative(x: integer, y: integer = 0, z: integer = 0) -> array of integer"),
        "{out}"
    );
    let (_, json, _) = labthings(&["describe", &stage, "--json"]).await;
    let td: serde_json::Value = serde_json::from_str(&json).expect("the TD as JSON");
    assert!(td["properties"]["position"].is_object());

    let (code, out, _) = labthings(&["get", &stage, "position"]).await;
    assert_eq!((code, out.as_str()), (0, "[\n  0,\n  0,\n  0\n]\n"));
    let (_, out, _) = labthings(&["--json", "get", &stage, "position"]).await;
    assert_eq!(out, "[0,0,0]\n");

    let (code, out, err) = labthings(&["set", &stage, "step_delay_ms", "0"]).await;
    assert_eq!((code, out.as_str()), (0, "step_delay_ms = 0\n"), "{err}");

    let (code, out, err) = labthings(&["invoke", &stage, "move_relative", "x=5", "z=-2"]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "[\n  5,\n  0,\n  -2\n]\n");
    assert!(err.contains("move_relative: completed"), "{err}");
    assert!(
        err.contains("[INFO] moving by [5, 0, -2]"),
        "the log lines as they arrive: {err}"
    );
    let (code, out, _) = labthings(&[
        "--json",
        "invoke",
        &stage,
        "move_absolute",
        r#"{"x": 1, "y": 2, "z": 3}"#,
    ])
    .await;
    assert_eq!((code, out.as_str()), (0, "[1,2,3]\n"));

    let (code, out, _) = labthings(&["list", &stage]).await;
    assert_eq!(code, 0);
    assert_eq!(out.lines().filter(|l| l.contains("completed")).count(), 2, "{out}");
    let (_, json, _) = labthings(&["list", &stage, "--json"]).await;
    let list: Vec<serde_json::Value> = serde_json::from_str(&json).expect("JSON");
    assert_eq!(list.len(), 2, "{json}");

    // The device refusing an argument reads as the typed client says it
    // (`invalid input: body: ...`), and its log line is a warning.
    let (code, _, err) = labthings(&["invoke", &stage, "move_relative", "x=150000"]).await;
    assert_ne!(code, 0, "{err}");
    assert!(
        err.contains("invalid input: body: ") && err.contains("beyond the stage's travel"),
        "{err}"
    );
    assert!(!err.contains("the device failed"), "{err}");
    assert!(err.contains("[WARNING]"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invoke_shows_how_far_a_move_is_and_the_time_left() {
    let url = lab().await;
    let stage = format!("{url}/stage/");
    let (code, _, err) = labthings(&["set", &stage, "step_delay_ms", "10"]).await;
    assert_eq!(code, 0, "{err}");
    // 250 steps of 10 ms: about 2.5 s. Without a terminal the progress
    // goes out as a line a second at most, and once at the end.
    let started = std::time::Instant::now();
    let (code, out, err) = labthings(&["invoke", &stage, "move_relative", "x=250"]).await;
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "[\n  250,\n  0,\n  0\n]\n");
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("move_relative: ") && l.contains(" %"))
        .collect();
    assert!(lines.len() >= 2, "progress lines while it runs: {err}");
    assert!(
        lines[..lines.len() - 1]
            .iter()
            .any(|l| l.contains("s left") && l.contains("about")),
        "the estimated time left: {err}"
    );
    assert_eq!(lines.last(), Some(&"move_relative: 100 %"), "{err}");
    let said: Vec<&str> = err.lines().filter(|l| l.starts_with("move_relative: ")).collect();
    assert_eq!(
        said.last(),
        Some(&"move_relative: completed"),
        "the final status is said last: {err}"
    );
    assert!(
        lines.len() as f64 <= seconds.ceil() + 1.0,
        "a line a second at most ({seconds:.1} s): {err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mistakes_exit_1_with_the_servers_reason() {
    let url = lab().await;
    let stage = format!("{url}/stage/");
    let (code, _, err) = labthings(&["get", &stage, "speed"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("error: not found") && err.contains("position"), "{err}");

    let (code, _, err) = labthings(&["invoke", &stage, "move_relative", "x=lots"]).await;
    assert_eq!(code, 1);
    assert!(
        err.contains("error: invalid input") && err.contains("  - body.x:"),
        "{err}"
    );

    let (code, _, err) = labthings(&["set", &stage, "position", "[1,2,3]"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("read-only"), "{err}");

    let (code, _, err) = labthings(&["invoke", &stage, "move_relative", "x"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("name=value"), "{err}");

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let (code, _, err) = labthings(&["get", &format!("http://127.0.0.1:{closed}/stage/"), "position"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("error: transport"), "{err}");

    let (code, _, err) = labthings(&["frobnicate"]).await;
    assert_eq!(code, 2, "a usage mistake: {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_prints_each_event_and_ctrl_c_cancels_an_invocation() {
    let url = lab().await;
    let camera = format!("{url}/camera/");
    let stage = format!("{url}/stage/");
    labthings(&["set", &camera, "exposure_ms", "0.01"]).await;
    let watcher = tokio::spawn({
        let camera = camera.clone();
        async move { labthings(&["--json", "watch", &camera, "frame_acquired", "--count", "2"]).await }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (code, _, err) = labthings(&["invoke", &camera, "acquire", "count=3"]).await;
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = tokio::time::timeout(Duration::from_secs(20), watcher)
        .await
        .expect("the watcher stops after 2")
        .expect("joined");
    assert_eq!(code, 0, "{err}");
    let events: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).expect("JSON")).collect();
    assert_eq!(events.len(), 2, "{out}");
    assert!(events[0]["frame"].is_u64() && events[0]["mean"].is_f64(), "{out}");

    // A slow move, interrupted with a real SIGINT once it runs.
    labthings(&["set", &stage, "step_delay_ms", "20"]).await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_labthings"))
        .args(["invoke", &stage, "move_relative", "x=2000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run labthings");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut seen = String::new();
    while let Ok(Ok(Some(line))) = tokio::time::timeout(Duration::from_secs(10), lines.next_line()).await {
        seen.push_str(&line);
        seen.push('\n');
        if line.contains("move_relative: running") {
            break;
        }
    }
    assert!(seen.contains("running"), "{seen}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = child.id().expect("a pid").to_string();
    let kill = Command::new("kill").args(["-INT", &pid]).status().await.expect("kill");
    assert!(kill.success());
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("it exits after the cancellation")
        .expect("status");
    while let Ok(Some(line)) = lines.next_line().await {
        seen.push_str(&line);
        seen.push('\n');
    }
    assert_eq!(status.code(), Some(130), "{seen}");
    assert!(
        seen.contains("move_relative: cancelled") && seen.contains("was cancelled"),
        "{seen}"
    );
    let (_, out, _) = labthings(&["--json", "get", &stage, "position"]).await;
    let position: Vec<i64> = serde_json::from_str(out.trim()).expect("JSON");
    assert!(position[0] > 0 && position[0] < 2000, "stopped part way: {position:?}");
}
