//! Device code that never returns must not take the server with it:
//! `tests/programs/hung.rs` as a real process (a getter that blocks forever, an
//! `async fn` action that blocks its thread, start and stop hooks that hang
//! when asked), driven over real sockets and stopped with real signals.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::process::{ServerProcess, capture_stderr, example_binary, scratch_dir};
use serde_json::{Value, json};

/// The grace period (5 s) plus one second.
const EXIT_WITHIN: Duration = Duration::from_secs(6);

/// The number of threads of process `pid`.
fn threads(pid: u32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

async fn get(client: &reqwest::Client, url: &str) -> (u16, Value) {
    let response = client.get(url).send().await.expect("the server answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// SIGTERM `lab` and wait for it to exit: (time taken, exit code, stderr).
fn terminate(mut lab: ServerProcess) -> (Duration, Option<i32>, String) {
    let sent = Instant::now();
    lab.signal("TERM");
    let took = lab.wait_exit(sent, Duration::from_secs(30));
    let code = lab.exit_code();
    let stderr = lab.stderr();
    let took = took.unwrap_or_else(|| panic!("no exit 30 s after SIGTERM; stderr:\n{stderr}"));
    (took, code, stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_calls_to_a_hung_getter_neither_lock_clients_out_nor_stop_the_shutdown() {
    let lab = ServerProcess::start("hung", &[]);
    let client = reqwest::Client::new();
    // A client that waits is told, in time, which thing and property hang.
    let started = Instant::now();
    let (status, body) = get(&client, &lab.at("/sensor/reading")).await;
    assert_eq!(status, 504, "{body}");
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("`sensor`") && detail.contains("`reading`"), "{detail}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "answered after the 2 s limit"
    );

    // 600 clients that give up after 50 ms, 50 at a time: more than the
    // server's 512 connections, each leaving a call that never returns.
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(50))
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    for _ in 0..12 {
        let batch: Vec<_> = (0..50)
            .map(|_| {
                let (client, url) = (impatient.clone(), lab.at("/sensor/reading"));
                tokio::spawn(async move { client.get(url).send().await.is_ok() })
            })
            .collect();
        for request in batch {
            let _ = request.await;
        }
    }
    // Every other thing still answers, and the hung one says so at once.
    for _ in 0..20 {
        let (status, body) = get(&client, &lab.at("/lamp/on")).await;
        assert_eq!(status, 200, "{body}");
    }
    let asked = Instant::now();
    let (status, body) = get(&client, &lab.at("/sensor/reading")).await;
    assert_eq!(status, 503, "{body}");
    assert!(asked.elapsed() < Duration::from_secs(1), "refused without waiting");
    assert!(
        body["detail"].as_str().unwrap_or_default().contains("is not answering"),
        "{body}"
    );
    // The stuck calls hold at most the thing's four slots' threads.
    let count = threads(lab.pid());
    assert!(count < 60, "{count} threads");

    let (took, code, stderr) = tokio::task::spawn_blocking(move || terminate(lab))
        .await
        .expect("joined");
    assert!(took <= EXIT_WITHIN, "exit took {took:?}; stderr:\n{stderr}");
    for hook in ["lamp off", "sensor released", "probe closed"] {
        assert!(stderr.contains(hook), "`{hook}`: the stop hooks ran; stderr:\n{stderr}");
    }
    assert_eq!(code, Some(0), "a clean stop; stderr:\n{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_hook_that_hangs_neither_stops_the_others_nor_the_exit() {
    let dir = scratch_dir();
    let lab = ServerProcess::start_in(dir, "hung", &[], &[("HANG_ON_STOP", "1")]);
    let (took, code, stderr) = tokio::task::spawn_blocking(move || terminate(lab))
        .await
        .expect("joined");
    assert!(took <= EXIT_WITHIN, "exit took {took:?}; stderr:\n{stderr}");
    assert!(stderr.contains("sensor releasing"), "{stderr}");
    assert!(!stderr.contains("sensor released"), "{stderr}");
    // The lamp was started first, so it is stopped after the sensor.
    assert!(stderr.contains("lamp off"), "the next hook ran; stderr:\n{stderr}");
    assert!(stderr.contains("its stop hook did not return"), "{stderr}");
    assert_ne!(code, Some(0), "a supervisor can tell; stderr:\n{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_inside_async_actions_does_not_freeze_the_server() {
    let lab = ServerProcess::start("hung", &[]);
    let client = reqwest::Client::new();
    // More blocked async actions than the server's runtime has workers.
    let mut invocations = Vec::new();
    for _ in 0..4 {
        let response = client
            .post(lab.at("/sensor/settle"))
            .json(&json!({"seconds": 20}))
            .send()
            .await
            .expect("invoke");
        assert_eq!(response.status().as_u16(), 201);
        invocations.push(response.json::<Value>().await.expect("json"));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let asked = Instant::now();
    let (status, _) = get(&client, &lab.at("/lamp/on")).await;
    assert_eq!(status, 200);
    let (status, _) = get(&client, &lab.at("/lamp/")).await;
    assert_eq!(status, 200);
    let href = invocations[0]["href"].as_str().expect("href");
    let cancel = client.delete(href).send().await.expect("cancel");
    assert_eq!(cancel.status().as_u16(), 200);
    // Measured against the 20 s the actions block: the old server answered
    // only when they had finished.
    let took = asked.elapsed();
    assert!(took < Duration::from_secs(5), "answered after {took:?}");
}

/// Start `hung` with `HANG_ON_START=kind`, which never prints `listening
/// on`: the child, and its stderr as it comes.
fn start_hanging(kind: &str) -> (std::process::Child, std::sync::Arc<parking_lot::Mutex<String>>) {
    let mut child = Command::new(example_binary("hung"))
        .args(["--port", "0"])
        .env("HANG_ON_START", kind)
        .current_dir(scratch_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start hung");
    let stderr = capture_stderr(&mut child);
    (child, stderr)
}

/// Wait at most `limit` for `child` to exit: its exit code and stdout.
fn exited(child: &mut std::process::Child, limit: Duration) -> Option<(Option<i32>, String)> {
    let since = Instant::now();
    while since.elapsed() < limit {
        if let Ok(Some(status)) = child.try_wait() {
            let mut stdout = String::new();
            if let Some(mut out) = child.stdout.take() {
                let _ = out.read_to_string(&mut stdout);
            }
            return Some((status.code(), stdout));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

#[test]
fn a_start_hook_that_does_not_return_fails_the_start() {
    for (kind, thing) in [("sync", "sensor"), ("async", "probe")] {
        let (mut child, stderr) = start_hanging(kind);
        // The start hook may take 3 s; then the start fails.
        let (code, stdout) = exited(&mut child, Duration::from_secs(20))
            .unwrap_or_else(|| panic!("{kind}: still running 20 s later: {}", stderr.lock()));
        std::thread::sleep(Duration::from_millis(100));
        let stderr = stderr.lock().clone();
        assert!(!stdout.contains("listening on"), "{kind}: said listening: {stdout}");
        assert_ne!(code, Some(0), "{kind}: {stderr}");
        assert!(
            stderr.contains(&format!("thing `{thing}` failed to start"))
                && stderr.contains("did not return within 3 s"),
            "{kind}: {stderr}"
        );
        assert!(
            stderr.contains("lamp off"),
            "{kind}: the started lamp was stopped: {stderr}"
        );
    }
}

#[test]
fn sigterm_while_a_start_hook_hangs_stops_what_had_started() {
    let (mut child, stderr) = start_hanging("sync");
    let since = Instant::now();
    while !stderr.lock().contains("sensor connecting") {
        assert!(
            since.elapsed() < Duration::from_secs(20),
            "never started: {}",
            stderr.lock()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let sent = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let (code, stdout) = exited(&mut child, Duration::from_secs(20)).expect("exits");
    let took = sent.elapsed();
    std::thread::sleep(Duration::from_millis(100));
    let stderr = stderr.lock().clone();
    assert!(took <= EXIT_WITHIN, "exit took {took:?}: {stderr}");
    // Ended by the server, not by the signal's default action (143).
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stdout.contains("listening on"), "{stdout}");
    assert!(stderr.contains("lamp off"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_fallback_a_hung_start_hook_is_served_as_the_failure() {
    let dir = scratch_dir();
    // `listening on` comes once the start hook has failed, for the page.
    let lab = ServerProcess::start_in(dir, "hung", &["--fallback"], &[("HANG_ON_START", "sync")]);
    let (status, body) = get(&reqwest::Client::new(), &lab.at("/lamp/on")).await;
    assert_eq!(status, 503, "{body}");
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("thing `sensor` failed to start") && detail.contains("did not return within 3 s"),
        "{detail}"
    );
    assert!(lab.stderr().contains("lamp off"), "the lamp, started, was stopped");
}
