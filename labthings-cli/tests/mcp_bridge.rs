//! `labthings mcp URL...` started by the official MCP Python SDK (PyPI
//! `mcp`, `tests/interop/mcp_client.py`, as a stdio server): it lists and
//! calls the actions of the original LabThings-FastAPI 0.3.0 serving a
//! Thing, and of our mock lab served without an MCP binding (progress
//! told, bad input refused with the server's reason). And `labthings
//! approve` / `reject` decide a call awaiting an operator.

mod common;

#[allow(dead_code, unreachable_pub)]
#[path = "../../examples/mock_lab.rs"]
mod mock_lab;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use labthings::{ApprovalPolicy, ApprovalRule, AuthConfig, Credential, Role, ServerConfig, User};
use serde_json::{Value, json};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from(".."), Path::to_path_buf)
}

/// A venv's program, or a failure naming `cargo xtask test`, which installs it.
fn installed(path: &str) -> PathBuf {
    let program = repo().join(path);
    assert!(
        program.exists(),
        "{} is missing; `cargo xtask test` installs what the tests need (saying what), then runs them",
        program.display()
    );
    program
}

/// The bridge driven by the SDK: its steps by name.
async fn bridge(urls: &[&str], calls: Value, token: Option<&str>) -> serde_json::Map<String, Value> {
    let script = repo().join("tests/interop/mcp_client.py");
    let mut command = tokio::process::Command::new(installed(".venv-mcp/bin/python"));
    command
        .arg(script)
        .arg("bridge")
        .arg(env!("CARGO_BIN_EXE_labthings"))
        .args(urls)
        .env("BRIDGE_CALLS", calls.to_string())
        .env_remove("LABTHINGS_TOKEN")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    if let Some(token) = token {
        command.env("LABTHINGS_TOKEN", token);
    }
    let output = tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .expect("the bridge scenario ends within 120 s")
        .expect("run python");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the bridge scenario failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter_map(|step| Some((step["step"].as_str()?.to_owned(), step)))
        .collect()
}

/// The original LabThings-FastAPI serving `bench_original:Bench` as `bench`;
/// killed when dropped.
struct Original(std::process::Child, String);

impl Drop for Original {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn original() -> Original {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let things = json!({"things": {"bench": "bench_original:Bench"}}).to_string();
    let child = std::process::Command::new(installed(".venv-original/bin/labthings-server"))
        .args(["-j", &things, "--port", &port.to_string()])
        .env("PYTHONPATH", repo().join("benches/servers"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the original");
    let server = Original(child, format!("http://127.0.0.1:{port}/bench/"));
    let deadline = Instant::now() + Duration::from_secs(60);
    let (status, _, _) = loop {
        let answer = common::labthings_with(&["describe", &server.1], &[]).await;
        if answer.0 == 0 || Instant::now() > deadline {
            break answer;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(status, 0, "the original did not start within 60 s");
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_lists_and_calls_the_originals_actions_through_the_bridge() {
    let original = original().await;
    let calls = json!([
        ["bench.increment", {"by": 2}],
        ["bench.get-count", {}],
        ["bench.increment", {"by": "many"}],
    ]);
    let steps = bridge(&[&original.1], calls, None).await;
    let tools = &steps["bridge_tools"]["tools"];
    for tool in [
        "bench.increment",
        "bench.slow_task",
        "bench.get-count",
        "bench.set-count",
    ] {
        assert!(tools.get(tool).is_some(), "{tool} missing: {tools}");
    }
    assert_eq!(
        tools["bench.increment"]["properties"]["by"]["type"], "integer",
        "{tools}"
    );
    let calls = &steps["bridge_calls"]["calls"];
    let increment = &calls[r#"bench.increment {"by": 2}"#];
    assert_eq!(increment["error"], false, "{calls}");
    assert_eq!(increment["structured"], json!({"output": 2}));
    assert_eq!(
        calls["bench.get-count {}"]["structured"],
        json!({"value": 2}),
        "{calls}"
    );
    let refused = &calls[r#"bench.increment {"by": "many"}"#];
    assert_eq!(refused["error"], true, "{calls}");
    assert!(
        refused["text"]
            .as_str()
            .unwrap_or_default()
            .contains("never reached the instrument"),
        "{refused}"
    );
}

/// The mock lab without MCP, `bob` an operator whose calls of
/// `stage.home` wait for approval, `alice` another operator.
async fn lab() -> String {
    labthings::init_test_tracing();
    let users = vec![
        User::new("alice", Role::Operate, Credential::token(ALICE)),
        User::new("bob", Role::Operate, Credential::token(BOB)),
    ];
    let server = mock_lab::build(ServerConfig::default().with(|c| {
        c.settings_dir = None;
        c.auth = AuthConfig::for_users(users);
        c.approval = ApprovalPolicy::default().rule(ApprovalRule::default().users(["bob"]).actions(["stage.home"]));
    }))
    .expect("build");
    let listening = server.bind("127.0.0.1:0").await.expect("bind");
    let url = format!("{}/", listening.url().trim_end_matches('/'));
    tokio::spawn(listening.serve_until(std::future::pending::<()>()));
    url
}

const ALICE: &str = "alice-token-0123456789abcdef";
const BOB: &str = "bob-token-0123456789abcdef-00";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bridge_tells_progress_and_the_servers_refusals() {
    let url = lab().await;
    let stage = format!("{url}stage/");
    let calls = json!([
        ["stage.set-step_delay_ms", {"value": 2}],
        ["stage.move_relative", {"x": 300}],
        ["stage.move_relative", {"x": 1_000_000_000}],
    ]);
    let steps = bridge(&[&stage], calls, Some(ALICE)).await;
    let calls = &steps["bridge_calls"]["calls"];
    let moved = &calls[r#"stage.move_relative {"x": 300}"#];
    assert_eq!(moved["structured"], json!({"output": [300, 0, 0]}), "{calls}");
    assert!(
        !moved["progress"].as_array().is_none_or(Vec::is_empty),
        "no progress notification: {moved}"
    );
    let refused = &calls[r#"stage.move_relative {"x": 1000000000}"#];
    assert_eq!(refused["error"], true);
    assert!(
        refused["text"].as_str().unwrap_or_default().contains("maximum"),
        "{refused}"
    );
}

/// bob asks for `stage.home`; the invocation's URL.
async fn ask(url: &str) -> String {
    let home = format!("{url}stage/home");
    let connection = labthings_client::Connection::new().with_token_for(BOB, url);
    let body = labthings_client::Bytes::from_static(b"{}");
    let (status, body) = connection
        .request(labthings_client::Method::POST, &home, Some(("application/json", body)))
        .await
        .expect("POST");
    let answer: Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["approval"]["state"], "awaiting", "{answer}");
    answer["href"].as_str().expect("href").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approve_and_reject_decide_a_waiting_call_but_not_ones_own() {
    let url = lab().await;
    let first = ask(&url).await;
    let (status, _, stderr) = common::labthings_with(&["approve", &first], &[("LABTHINGS_TOKEN", BOB)]).await;
    assert_eq!(status, 1, "bob approved his own call");
    assert!(stderr.contains("another operator"), "{stderr}");
    let (status, stdout, stderr) = common::labthings_with(&["approve", &first], &[("LABTHINGS_TOKEN", ALICE)]).await;
    assert_eq!(status, 0, "{stderr}");
    assert!(stdout.contains("approved"), "{stdout}");

    let second = ask(&url).await;
    let (status, stdout, stderr) =
        common::labthings_with(&["--json", "reject", &second], &[("LABTHINGS_TOKEN", ALICE)]).await;
    assert_eq!(status, 0, "{stderr}");
    let answer: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(answer["approval"]["state"], "rejected");
    assert_eq!(answer["approval"]["decided_by"], "alice");
}
