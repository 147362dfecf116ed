//! Interoperability: clients nobody here wrote drive the `mock_lab` and
//! `bench` examples, served in this process on free ports, using only what
//! our servers publish.
//!
//! - Eclipse Thingweb node-wot 0.9.2 follows the Thing Descriptions
//!   (`tests/interop/wot_client.mjs`): every property and action, outputs
//!   checked against the TD's schemas, observation, events, errors and
//!   cancellation through the TD's forms.
//! - LabThings-FastAPI 0.3.0's own Python `ThingClient`
//!   (`tests/interop/thing_client.py`), unchanged, as WIRE.md promises.
//!
//! The clients are installed by `tests/interop/setup.sh` (npm and pip),
//! which these tests run first; it does nothing when they are present.

mod common;

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/bench.rs"]
mod bench;
#[allow(dead_code, unreachable_pub)]
#[path = "../examples/mock_lab.rs"]
mod mock_lab;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use common::{TestServer, start};
use labthings::{Server, ServerConfig};

/// How long one client may take for its whole suite.
const SUITE_TIMEOUT: Duration = Duration::from_secs(300);

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Install the clients once per test binary (both tests share it).
fn setup() {
    static SETUP: OnceLock<Result<(), String>> = OnceLock::new();
    let result = SETUP.get_or_init(|| {
        let output = std::process::Command::new("bash")
            .arg(repo().join("tests/interop/setup.sh"))
            .output()
            .map_err(|e| format!("could not run bash: {e}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "tests/interop/setup.sh failed ({}); it needs node, npm, python3 and the npm registry and PyPI:\n{}{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    });
    if let Err(message) = result {
        panic!("{message}");
    }
}

/// The mock lab (no settings files) and the bench, each on its own port.
async fn servers() -> (TestServer, TestServer) {
    let config = ServerConfig {
        settings_dir: None,
        ..ServerConfig::default()
    };
    let lab = start(mock_lab::build(config).expect("build the mock lab")).await;
    let bench = start(
        Server::builder()
            .thing("bench", bench::Bench::default())
            .build()
            .expect("build the bench"),
    )
    .await;
    (lab, bench)
}

/// Run a client to the end; fail the test with its output unless it passes.
async fn run_client(program: PathBuf, args: &[&str]) -> String {
    let child = tokio::process::Command::new(&program)
        .args(args)
        .current_dir(repo())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("could not start {}: {e}", program.display()));
    let output = tokio::time::timeout(SUITE_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{} did not finish within {SUITE_TIMEOUT:?}", program.display()))
        .expect("wait for the client");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    // Ajv inside node-wot warns once per schema about formats such as
    // schemars' "uint64" it has no validator for; they are not failures.
    let stderr: Vec<&str> = std::str::from_utf8(&output.stderr)
        .unwrap_or("")
        .lines()
        .filter(|line| !line.starts_with("unknown format"))
        .collect();
    assert!(
        output.status.success(),
        "{} failed ({}):\n{stdout}\n{}",
        program.display(),
        output.status,
        stderr.join("\n")
    );
    println!("{stdout}");
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_wot_drives_the_mock_lab_and_the_bench_through_their_tds() {
    setup();
    let (lab, bench) = servers().await;
    let script = repo().join("tests/interop/wot_client.mjs");
    let stdout = run_client(
        PathBuf::from("node"),
        &[script.to_str().expect("a UTF-8 path"), &lab.url, &bench.url],
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_originals_thing_client_drives_the_mock_lab_and_the_bench() {
    setup();
    let (lab, bench) = servers().await;
    let script = repo().join("tests/interop/thing_client.py");
    let stdout = run_client(
        repo().join(".venv-original/bin/python"),
        &[script.to_str().expect("a UTF-8 path"), &lab.url, &bench.url],
    )
    .await;
    assert!(
        stdout.contains("mock lab: done") && stdout.contains("bench: done"),
        "{stdout}"
    );
    assert!(stdout.contains(" checks passed, 0 failed"), "{stdout}");
}
