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

use std::path::PathBuf;

use common::clients::{repo, run_client, setup};
use common::{TestServer, start};
use labthings::{Server, ServerConfig};

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
