//! The MCP binding, driven by the official MCP Python SDK (PyPI `mcp`,
//! `tests/interop/mcp_client.py`) over real sockets: an agent discovers the
//! mock lab's tools (their schemas the TD's), reads and writes a property,
//! moves the stage with progress notifications, cancels a long move (the
//! stage stops), and calls an action that waits for an operator's
//! approval; it is refused without a token, and an observer gets reading
//! tools only. Then 10,000 generated bad calls reach no device code, and
//! one user's calls are rate limited.

mod common;

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/mock_lab.rs"]
mod mock_lab;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::clients::{repo, run_client_with, setup};
use common::{TestServer, start};
use labthings::http::McpConfig;
use labthings::prelude::*;
use labthings::{AuthConfig, Credential, Role, ServerConfig, User};
use serde_json::{Value, json};

const AGENT: &str = "agent-token-0123456789abcdef";
const OPERATOR: &str = "alice-token-0123456789abcdef";
const OBSERVER: &str = "carol-token-0123456789abcdef";

/// The Python with the MCP SDK (`tests/interop/setup.sh`).
fn python() -> PathBuf {
    setup();
    repo().join(".venv-mcp/bin/python")
}

/// Run a scenario of `mcp_client.py` against `server`; its JSON lines by step.
async fn scenario(server: &TestServer, args: &[&str]) -> serde_json::Map<String, Value> {
    let script = repo().join("tests/interop/mcp_client.py");
    let script = script.to_string_lossy().into_owned();
    let base = format!("{}/", server.url.trim_end_matches('/'));
    let mut all = vec![script.as_str(), args[0], base.as_str()];
    all.extend(&args[1..]);
    let env = [
        ("AGENT_TOKEN", AGENT),
        ("OPERATOR_TOKEN", OPERATOR),
        ("OBSERVER_TOKEN", OBSERVER),
    ];
    let out = run_client_with(python(), &all, &env).await;
    out.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter_map(|step| Some((step["step"].as_str()?.to_owned(), step)))
        .collect()
}

/// The mock lab with MCP at `/mcp`, an agent (`claude`), an operator
/// (`alice`) and an observer (`carol`).
async fn mock_lab_with_agents() -> TestServer {
    let users = vec![
        User::new("claude", Role::Operate, Credential::token(AGENT)),
        User::new("alice", Role::Operate, Credential::token(OPERATOR)),
        User::new("carol", Role::Observe, Credential::token(OBSERVER)),
    ];
    let config = ServerConfig::default().with(|c| {
        c.settings_dir = None;
        c.auth = AuthConfig::for_users(users);
        c.mcp = Some(McpConfig::default().with(|m| {
            m.calls_per_minute = 6000;
            m.burst = 100;
        }));
    });
    start(mock_lab::build(config).expect("the mock lab builds")).await
}

#[tokio::test]
async fn an_agent_discovers_calls_watches_and_cancels_the_mock_lab_with_the_python_sdk() {
    let server = mock_lab_with_agents().await;
    let steps = scenario(&server, &["mock_lab"]).await;
    let step = |name: &str| {
        steps
            .get(name)
            .unwrap_or_else(|| panic!("no step {name}: {steps:?}"))
            .clone()
    };

    // Every action of every thing is a tool whose input schema is the TD's.
    let tools = step("tools")["tools"].clone();
    let (_, things) = common::read(
        server
            .client
            .get(server.at("/thing_descriptions/"))
            .bearer_auth(OPERATOR)
            .send()
            .await
            .expect("TDs"),
    )
    .await;
    let mut actions = 0;
    for (thing, td) in things.as_object().expect("TDs by thing") {
        for (action, affordance) in td["actions"].as_object().expect("actions") {
            let tool = &tools[format!("{thing}.{action}")];
            let expected = affordance
                .get("input")
                .cloned()
                .unwrap_or(json!({"type": "object", "properties": {}}));
            assert_eq!(tool["input"], expected, "{thing}.{action}: {tool}");
            if let Some(output) = affordance.get("output") {
                assert_eq!(tool["output"]["properties"]["output"], *output, "{thing}.{action}");
            }
            actions += 1;
        }
        for property in td["properties"].as_object().expect("properties").keys() {
            assert!(
                tools.get(format!("{thing}.get-{property}")).is_some(),
                "{thing}.{property}"
            );
        }
    }
    assert!(actions >= 10, "{actions} actions");
    let described = tools["stage.move_absolute"]["description"].as_str().unwrap_or_default();
    assert!(described.contains("operator's approval"), "{described}");
    assert_eq!(step("resources")["mime"][0], "application/td+json");
    assert_eq!(step("resource")["td"]["title"], things["stage"]["title"]);

    assert_eq!(step("read")["structured"], json!({"value": [0, 0, 0]}));
    assert_eq!(step("write")["value"], json!({"value": 2}));

    let moved = step("move");
    assert_eq!(moved["structured"], json!({"output": [150, 0, 0]}));
    let progress: Vec<f64> = moved["progress"]
        .as_array()
        .expect("progress notifications")
        .iter()
        .filter_map(|p| p[0].as_f64())
        .collect();
    assert!(!progress.is_empty(), "no progress notification: {moved}");
    assert!(
        progress.windows(2).all(|w| w[0] <= w[1]),
        "progress went back: {progress:?}"
    );

    let refused = step("out_of_range");
    assert_eq!(refused["error"], true);
    assert!(
        refused["text"]
            .as_str()
            .unwrap_or_default()
            .contains("maximum of 200000"),
        "{refused}"
    );
    assert_eq!(refused["moved"], false);

    let cancelled = step("cancel");
    assert!(cancelled["progress_seen"].as_u64().unwrap_or(0) > 0, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    assert_eq!(cancelled["still_moving"], false, "the stage kept moving: {cancelled}");
    let x = cancelled["position"][0].as_i64().unwrap_or_default();
    assert!(150 < x && x < 5150, "stopped mid-way: {cancelled}");

    let approval = step("approval");
    assert_eq!(approval["awaiting"]["state"], "awaiting");
    assert_eq!(approval["awaiting"]["caller"], "claude");
    assert_eq!(approval["awaiting"]["binding"], "mcp");
    assert_eq!(approval["moved_before_approval"], false);
    assert_eq!(approval["own_approval"], 403, "the agent approved its own call");
    assert_eq!(approval["approved"], 200);
    assert_eq!(approval["structured"], json!({"output": [20, 0, 0]}));

    let rejection = step("rejection");
    assert_eq!(rejection["error"], true);
    assert!(
        rejection["text"].as_str().unwrap_or_default().contains("rejected"),
        "{rejection}"
    );
    assert_eq!(rejection["position"], json!([20, 0, 0]), "a rejected move moved");

    // Without a token the SDK cannot even list (it reports only "an error
    // response"); what the server answered is a 401 with a challenge.
    let anonymous = step("no_token");
    assert_eq!(anonymous["refused"], true, "{anonymous}");
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "curl", "version": "1"}}});
    let response = server
        .client
        .post(server.at("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .json(&initialize)
        .send()
        .await
        .expect("POST /mcp");
    assert_eq!(response.status(), 401);
    assert!(response.headers().contains_key("www-authenticate"));

    let observer = step("observer");
    let observed = observer["tools"].as_array().expect("tools");
    assert!(!observed.is_empty());
    assert!(
        observed
            .iter()
            .all(|t| t.as_str().unwrap_or_default().contains(".get-")),
        "an observer was offered more than reading: {observed:?}"
    );
    let refusals = observer["refusals"].as_object().expect("refusals");
    assert_eq!(refusals.len(), actions, "every action was tried");
    for (tool, answer) in refusals {
        assert_eq!(answer["error"], true, "{tool}: {answer}");
        assert!(
            answer["text"].as_str().unwrap_or_default().contains("may observe"),
            "{tool}: {answer}"
        );
    }
}

/// Counts every call of device code.
#[thing]
#[derive(Default)]
pub struct Counter {
    calls: AtomicUsize,
}

/// How a counter counts.
#[model]
#[derive(Debug, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// One at a time.
    Slow,
    /// Many at once.
    Fast,
}

#[thing]
impl Counter {
    /// Step by `by`, 1 to 10.
    #[action]
    fn step(&self, #[param(minimum = 1, maximum = 10)] by: u32) -> usize {
        self.calls.fetch_add(1, Ordering::SeqCst) + by as usize
    }

    /// Label the counter: 1 to 32 letters, digits or `_`.
    #[action]
    fn label(&self, #[param(min_length = 1, max_length = 32, pattern = "^[A-Za-z0-9_]+$")] text: String) -> String {
        self.calls.fetch_add(1, Ordering::SeqCst);
        text
    }

    /// Choose a mode.
    #[action]
    fn mode(&self, mode: Mode) -> usize {
        let _ = mode;
        self.calls.fetch_add(1, Ordering::SeqCst)
    }

    /// How many times device code ran.
    #[property]
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

async fn counter_with(mcp: McpConfig) -> TestServer {
    let config = ServerConfig::default().with(|c| {
        c.settings_dir = None;
        c.mcp = Some(mcp);
    });
    start(
        labthings::Server::builder()
            .config(config)
            .thing("counter", Counter::default())
            .build()
            .expect("build"),
    )
    .await
}

#[tokio::test]
async fn ten_thousand_bad_calls_reach_no_device_code() {
    let server = counter_with(McpConfig::default().with(|m| {
        m.calls_per_minute = 10_000_000;
        m.burst = 100_000;
    }))
    .await;
    let steps = scenario(&server, &["bad_calls", "10000"]).await;
    let bad = &steps["bad_calls"];
    assert_eq!(
        bad["answered"],
        json!({"tool_error": 10000, "protocol_error": 0, "ok": 0}),
        "{bad}"
    );
    let (_, calls) = server.get("/counter/calls").await;
    assert_eq!(calls, json!(0), "device code ran for a bad call");
    // Each refusal names the rule it broke.
    for example in bad["examples"].as_array().expect("examples") {
        let answer = example["answer"].as_str().unwrap_or_default();
        assert!(answer.contains("never reached the instrument"), "{example}");
    }
    // And the server still serves a good call.
    let (status, body) = server.post("/counter/step?return=output", json!({"by": 2})).await;
    assert_eq!((status, body), (200, json!(2)));
}

#[tokio::test]
async fn one_users_calls_are_rate_limited_before_device_code() {
    let server = counter_with(McpConfig::default().with(|m| {
        m.calls_per_minute = 1;
        m.burst = 3;
    }))
    .await;
    let steps = scenario(&server, &["rate_limit", "5"]).await;
    let answers = steps["rate_limit"]["answers"].as_array().expect("answers").clone();
    let refused: Vec<&Value> = answers.iter().filter(|a| a["error"] == true).collect();
    assert_eq!(answers.len() - refused.len(), 3, "{answers:?}");
    for answer in &refused {
        assert!(
            answer["text"].as_str().unwrap_or_default().contains("too many calls"),
            "{answer}"
        );
    }
    let (_, calls) = server.get("/counter/calls").await;
    assert_eq!(calls, json!(3), "only the allowed calls ran");
}

#[tokio::test]
async fn the_binding_is_off_unless_configured_and_its_path_is_checked() {
    let server = common::start_thing("counter", Counter::default()).await;
    let (status, _) = server.post("/mcp", json!({})).await;
    assert_eq!(status, 404, "MCP is served without being configured");

    let clash = labthings::Server::builder()
        .config(ServerConfig::default().with(|c| {
            c.settings_dir = None;
            c.mcp = Some(McpConfig::default().with(|m| m.path = "/counter".into()));
        }))
        .thing("counter", Counter::default())
        .build();
    let message = clash.expect_err("a path a thing has").to_string();
    assert!(message.contains("mcp.path"), "{message}");

    // Nor a path of the program's own routes, nor one that is not plain.
    for (path, own) in [("/agents", "/agents/status"), ("/a b", "/status")] {
        let clash = labthings::Server::builder()
            .config(ServerConfig::default().with(|c| {
                c.settings_dir = None;
                c.mcp = Some(McpConfig::default().with(|m| m.path = path.into()));
            }))
            .route(own, labthings::http::axum::routing::get(|| async { "ok" }))
            .thing("counter", Counter::default())
            .build();
        let message = clash.expect_err("a path taken or not plain").to_string();
        assert!(message.contains("mcp.path"), "{path}: {message}");
    }
}
