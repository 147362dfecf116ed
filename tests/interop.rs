//! Interoperability: clients nobody here wrote drive the `mock_lab` and
//! `bench` examples, served in this process on free ports, using only what
//! our servers publish.
//!
//! - Eclipse Thingweb node-wot 0.9.2 follows the Thing Descriptions
//!   (`tests/interop/wot_client.mjs`): every property and action, outputs
//!   checked against the TD's schemas, observation, events, errors and
//!   cancellation through the TD's forms.
//! - LabThings-FastAPI 0.3.0's own Python `ThingClient`
//!   (`tests/interop/thing_client.py`), unchanged, as guide/src/http-contract.md promises.
//!
//! Both run a second time against servers that need credentials: the mock
//! lab with a password (HTTP Basic), the bench with a bearer token.
//!
//! The clients are installed by `tests/interop/setup.sh` (npm and pip),
//! which these tests run first; it does nothing when they are present.

mod common;

#[allow(dead_code, unreachable_pub)]
#[path = "../benches/servers/bench.rs"]
mod bench;
#[allow(dead_code, unreachable_pub)]
#[path = "../examples/mock_lab.rs"]
mod mock_lab;

use std::path::PathBuf;

use common::clients::{repo, run_client, run_client_with, setup};
use common::{TestServer, start};
use labthings::{AuthConfig, Credential, Role, Server, ServerConfig, User};
use serde_json::json;

/// The mock lab (no settings files) and the bench, each on its own port.
async fn servers() -> (TestServer, TestServer) {
    servers_with(AuthConfig::default(), AuthConfig::default()).await
}

/// [`servers`], with users.
async fn servers_with(lab_auth: AuthConfig, bench_auth: AuthConfig) -> (TestServer, TestServer) {
    let config = |auth| {
        ServerConfig::default().with(|c| {
            c.settings_dir = None;
            c.auth = auth;
        })
    };
    let lab = start(mock_lab::build(config(lab_auth)).expect("build the mock lab")).await;
    let bench = start(
        Server::builder()
            .config(config(bench_auth))
            .thing("bench", bench::Bench::default())
            .build()
            .expect("build the bench"),
    )
    .await;
    (lab, bench)
}

const PASSWORD: &str = "the operator's password";
const TOKEN: &str = "a-bearer-token-for-the-bench-0123456789";

/// The lab for an operator with a password, the bench for one with a token,
/// and `LABTHINGS_CREDENTIALS` for the clients; requests without
/// credentials may do what `anonymous` says.
async fn secured_servers(anonymous: Option<Role>) -> (TestServer, TestServer, String) {
    let (lab, bench) = servers_with(
        AuthConfig::for_users(vec![User::new(
            "operator",
            Role::Operate,
            Credential::password(PASSWORD),
        )])
        .with_anonymous(anonymous),
        AuthConfig::for_users(vec![User::new("script", Role::Operate, Credential::token(TOKEN))])
            .with_anonymous(anonymous),
    )
    .await;
    let credentials = json!({
        lab.url.clone(): {"username": "operator", "password": PASSWORD},
        bench.url.clone(): {"token": TOKEN},
    })
    .to_string();
    (lab, bench, credentials)
}

/// Run node-wot's suite against `lab` and `bench` with the environment `env`.
async fn drive_with_node_wot(lab: &TestServer, bench: &TestServer, env: &[(&str, &str)]) {
    setup();
    let script = repo().join("tests/interop/wot_client.mjs");
    let stdout = run_client_with(
        PathBuf::from("node"),
        &[script.to_str().expect("a UTF-8 path"), &lab.url, &bench.url],
        env,
    )
    .await;
    for thing in ["stage", "camera", "autofocus", "bench"] {
        assert!(
            stdout.contains(&format!("{thing}: done")),
            "{thing} was driven:\n{stdout}"
        );
    }
    assert!(stdout.contains(" checks passed, 0 failed"), "{stdout}");
}

/// Run the original's ThingClient against `lab` and `bench` with the environment `env`.
async fn drive_with_thing_client(lab: &TestServer, bench: &TestServer, env: &[(&str, &str)]) {
    setup();
    let script = repo().join("tests/interop/thing_client.py");
    let stdout = run_client_with(
        repo().join(".venv-original/bin/python"),
        &[script.to_str().expect("a UTF-8 path"), &lab.url, &bench.url],
        env,
    )
    .await;
    assert!(
        stdout.contains("mock lab: done") && stdout.contains("bench: done"),
        "{stdout}"
    );
    assert!(stdout.contains(" checks passed, 0 failed"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_wot_drives_the_mock_lab_and_the_bench_through_their_tds() {
    let (lab, bench) = servers().await;
    drive_with_node_wot(&lab, &bench, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_originals_thing_client_drives_the_mock_lab_and_the_bench() {
    let (lab, bench) = servers().await;
    drive_with_thing_client(&lab, &bench, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_wot_drives_servers_that_need_basic_and_bearer_credentials() {
    // Anyone may observe: node-wot 0.9 opens SSE subscriptions without
    // credentials (its SSESubscription takes no headers), and the TDs mark
    // the forms that need none.
    let (lab, bench, credentials) = secured_servers(Some(Role::Observe)).await;
    drive_with_node_wot(&lab, &bench, &[("LABTHINGS_CREDENTIALS", &credentials)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_originals_thing_client_drives_servers_that_need_credentials() {
    let (lab, bench, credentials) = secured_servers(None).await;
    drive_with_thing_client(&lab, &bench, &[("LABTHINGS_CREDENTIALS", &credentials)]).await;
}

/// Every chapter of the guide (`guide/src/*.md`), one after another.
fn guide() -> String {
    let mut chapters: Vec<PathBuf> = std::fs::read_dir(repo().join("guide/src"))
        .expect("read the guide")
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|e| e == "md"))
        .collect();
    chapters.sort();
    chapters
        .iter()
        .map(|path| std::fs::read_to_string(path).expect("read a chapter"))
        .collect()
}

/// The code block that follows `<!-- walkthrough: NAME -->` in the guide,
/// talking to `url` instead of the quick start's address.
fn walkthrough(name: &str, url: &str) -> String {
    let guide = guide();
    let marker = format!("<!-- walkthrough: {name} -->");
    let after = &guide[guide.find(&marker).unwrap_or_else(|| panic!("{marker} in the guide"))..];
    let body = &after[after.find("```").expect("a code block")..];
    let body = &body[body.find('\n').expect("a fence line") + 1..];
    body[..body.find("\n```").expect("the block ends") + 1].replace("http://127.0.0.1:5000", url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guides_walkthroughs_print_what_the_guide_says_on_a_lab_that_has_been_used() {
    setup();
    let (lab, _bench) = servers().await;
    // Not a fresh server: an earlier session moved the stage.
    let (status, _) = lab
        .post("/stage/move_absolute?return=output", json!({"x": 7, "y": 8, "z": 9}))
        .await;
    assert_eq!(status, 200);
    let guide = guide();

    let script = repo().join("tests/interop/walkthrough_readme.mjs");
    std::fs::write(&script, walkthrough("node-wot", &lab.url)).expect("write the script");
    let stdout = run_client(PathBuf::from("node"), &[script.to_str().expect("a UTF-8 path")]).await;
    let _ = std::fs::remove_file(&script);
    for printed in [
        "arrived at [ 3, 0, 0 ]",
        "Client error: Unprocessable Entity: body.x: 1000000 is greater than the maximum of 100000",
    ] {
        assert!(guide.contains(printed), "the guide promises {printed:?}");
        assert!(stdout.contains(printed), "{printed:?} in\n{stdout}");
    }

    let script = std::env::temp_dir().join(format!("walkthrough-{}.py", uuid::Uuid::new_v4()));
    std::fs::write(&script, walkthrough("python", &lab.url)).expect("write the script");
    let stdout = run_client(
        repo().join(".venv-original/bin/python"),
        &[script.to_str().expect("a UTF-8 path")],
    )
    .await;
    let _ = std::fs::remove_file(&script);
    assert!(guide.contains("print(stage.move_relative(x=10, y=-3))               # [10, -3, 0]"));
    assert_eq!(stdout.trim(), "[10, -3, 0]");
}

/// Every TD of `server` (from `/thing_descriptions/`, read as anyone may)
/// written to a file in `dir` named after `label` and the thing.
async fn save_tds(server: &TestServer, label: &str, dir: &std::path::Path) -> Vec<PathBuf> {
    let (status, all) = server.get("/thing_descriptions/").await;
    assert_eq!(status, 200, "{all}");
    let all = all.as_object().expect("TDs by name");
    assert!(!all.is_empty());
    all.iter()
        .map(|(name, td)| {
            let file = dir.join(format!("{label}-{name}.td.json"));
            std::fs::write(&file, td.to_string()).expect("write the TD");
            file
        })
        .collect()
}

/// The W3C WoT TD Playground's checks (its validator and its assertions,
/// the npm packages its web page and command line use) find no failure in
/// any TD the examples serve: the mock lab and the bench without users,
/// with users (a password, a token, anonymous observers), and with the
/// MQTT binding (the broker's login in the TD).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_td_playground_finds_no_failure_in_any_td() {
    setup();
    let dir = std::env::temp_dir().join(format!("labthings-playground-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    let mut files = Vec::new();
    let (lab, bench) = servers().await;
    files.extend(save_tds(&lab, "plain", &dir).await);
    files.extend(save_tds(&bench, "plain", &dir).await);
    let (lab, bench, _) = secured_servers(Some(Role::Observe)).await;
    files.extend(save_tds(&lab, "users", &dir).await);
    files.extend(save_tds(&bench, "users", &dir).await);
    // The MQTT binding's forms, with a broker that needs a login (nothing
    // listens there: the TD is the same either way).
    let password = dir.join("broker.password");
    std::fs::write(&password, "the broker's password").expect("write the password");
    let mqtt = labthings::http::MqttConfig::new("mqtt://127.0.0.1:9", "lab1").with(|c| {
        c.username = Some("lab1".to_owned());
        c.password_file = Some(password);
    });
    let with_mqtt = start(
        Server::builder()
            .config(ServerConfig::default().with(|c| {
                c.settings_dir = None;
                c.mqtt = Some(mqtt);
            }))
            .thing("bench", bench::Bench::default())
            .build()
            .expect("build the bench with MQTT"),
    )
    .await;
    files.extend(save_tds(&with_mqtt, "mqtt", &dir).await);

    let script = repo().join("tests/interop/playground.cjs");
    let mut args = vec![script.to_str().expect("a UTF-8 path").to_owned()];
    args.extend(files.iter().map(|f| f.to_string_lossy().into_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let stdout = run_client(PathBuf::from("node"), &args).await;
    assert!(stdout.contains("every TD passed"), "{stdout}");
    assert_eq!(stdout.matches(", 0 failed of").count(), files.len(), "{stdout}");
    // The JSON-LD expansion ran (offline, with the W3C contexts in
    // tests/interop/contexts/) and passed on every TD.
    assert_eq!(stdout.matches(r#""jsonld":"passed""#).count(), files.len(), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}
