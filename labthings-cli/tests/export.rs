//! `labthings export`: the mock lab, served in this process with its record
//! of invocations in a scratch folder, saved by the real binary as a folder
//! and as Bluesky event-model documents.

mod common;

#[allow(dead_code, unreachable_pub)]
#[path = "../../examples/mock_lab.rs"]
mod mock_lab;

use std::path::{Path, PathBuf};
use std::time::Duration;

use labthings::ServerConfig;
use serde_json::{Value, json};

/// A new empty folder.
fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("labthings-export-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// The mock lab recording into `records`; its URL.
async fn lab(records: &Path) -> String {
    let records = records.to_owned();
    let server = mock_lab::builder()
        .config(ServerConfig::default().with(|c| {
            c.settings_dir = None;
            c.records.dir = Some(records);
        }))
        .thing("stage", mock_lab::Stage::default())
        .thing("camera", mock_lab::Camera::default())
        .build()
        .expect("build");
    let listening = server.bind("127.0.0.1:0").await.expect("bind");
    let url = listening.url();
    tokio::spawn(listening.serve_until(std::future::pending::<()>()));
    url
}

/// POST an action and wait for it to finish; the finished invocation.
async fn invoke(url: &str, body: Value) -> Value {
    let client = reqwest::Client::new();
    let mut invocation: Value = client
        .post(url)
        .json(&body)
        .send()
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    while matches!(invocation["status"].as_str(), Some("pending" | "running")) {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let href = invocation["href"].as_str().expect("href").to_owned();
        invocation = client.get(href).send().await.expect("get").json().await.expect("json");
    }
    invocation
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_saves_the_record_as_a_folder_and_as_bluesky_documents() {
    let dir = scratch();
    let url = lab(&dir.join("records")).await;
    let snap = invoke(&format!("{url}/camera/snap"), json!({})).await;
    let moved = invoke(&format!("{url}/stage/move_relative"), json!({"x": 30})).await;
    assert_eq!(
        (snap["status"].as_str(), moved["status"].as_str()),
        (Some("completed"), Some("completed"))
    );
    let (snap_id, move_id) = (snap["id"].as_str().expect("id"), moved["id"].as_str().expect("id"));
    let blob_id = snap["output"]["href"]
        .as_str()
        .expect("link")
        .rsplit('/')
        .next()
        .expect("id");

    let out = dir.join("saved");
    let out_arg = out.to_string_lossy().into_owned();
    let (code, _, err) = common::labthings_with(&["export", &url, "--out", &out_arg], &[]).await;
    assert_eq!(code, 0, "{err}");
    println!("labthings export: {}", err.trim());
    let index: Value = serde_json::from_slice(&std::fs::read(out.join("index.json")).expect("index")).expect("JSON");
    assert_eq!(index["invocations"], json!([snap_id, move_id]));
    let jpeg = std::fs::read(out.join(snap_id).join("blobs").join(blob_id)).expect("the snapped frame");
    assert!(jpeg.starts_with(&[0xFF, 0xD8]), "a JPEG");
    let record: Value =
        serde_json::from_slice(&std::fs::read(out.join(move_id).join("record.json")).expect("record")).expect("JSON");
    assert_eq!(record["output"], json!([30, 0, 0]));
    assert_eq!(
        record["thing_states"]["stage"]["position"],
        json!([0, 0, 0]),
        "the states when it started"
    );
    let shown: Value =
        serde_json::from_slice(&std::fs::read(out.join(move_id).join("invocation.json")).expect("json")).expect("JSON");
    assert_eq!(shown["status"], "completed");

    // Only the stage's, as Bluesky documents.
    let documents_path = dir.join("documents.json");
    let documents_arg = documents_path.to_string_lossy().into_owned();
    let (code, _, err) = common::labthings_with(
        &[
            "export",
            &url,
            "--thing",
            "stage",
            "--format",
            "event-model",
            "--out",
            &documents_arg,
        ],
        &[],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let documents: Value = serde_json::from_slice(&std::fs::read(&documents_path).expect("documents")).expect("JSON");
    let names: Vec<&str> = documents
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|d| d[0].as_str())
        .collect();
    assert_eq!(names.first(), Some(&"start"));
    assert_eq!(names.iter().filter(|n| **n == "start").count(), 1, "{names:?}");
    assert_eq!(documents[0][1]["plan_name"], "stage.move_relative");

    // A mistake names the parameter, exit status 1.
    let (code, _, err) = common::labthings_with(&["export", &url, "--status", "finished"], &[]).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("status"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}
