//! Serving a blob does not copy it: alone in its own test process (so no
//! other test's allocations count), three downloads of a 10 MiB blob in
//! flight at once grow resident memory by less than one copy.

mod common;

use common::{download, start};
use labthings::Server;
use labthings::prelude::*;
use serde_json::Value;

const TEN_MIB: usize = 10 * 1024 * 1024;

/// Returns 10 MiB.
#[thing]
#[derive(Default)]
struct Store;

#[thing]
impl Store {
    /// 10 MiB of zeros and ones.
    #[action]
    fn large(&self) -> Blob {
        Blob::from_bytes(
            (0..TEN_MIB).map(|i| (i % 2) as u8).collect::<Vec<u8>>(),
            "application/octet-stream",
        )
    }
}

/// This process's resident memory in bytes (Linux), if known.
fn rss() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_share_the_stored_bytes() {
    let server = start(
        Server::builder()
            .config(common::test_config())
            .thing("store", Store)
            .build()
            .expect("build"),
    )
    .await;
    let (_, invocation) = server.post("/store/large", Value::Null).await;
    let done = server.wait_finished(&invocation).await;
    let href = done["output"]["href"].as_str().expect("href").to_owned();
    // One warm-up download, so buffers that are reused are already counted.
    assert_eq!(download(&server, &href).await.3, TEN_MIB);
    let Some(before) = rss() else {
        eprintln!("SKIPPED: /proc/self/statm is not readable on this system");
        return;
    };
    // Three downloads, each stopped after its first chunk: the server is
    // serving all three at once.
    let mut responses = Vec::new();
    for _ in 0..3 {
        let mut response = server.client.get(&href).send().await.expect("GET");
        assert_eq!(response.status().as_u16(), 200);
        let first = response.chunk().await.expect("a chunk").expect("not empty");
        responses.push((response, first.len()));
    }
    let during = rss().unwrap_or(before);
    let grown = during.saturating_sub(before);
    eprintln!("RSS grew by {grown} bytes with three 10 MiB downloads in flight");
    assert!(
        grown < TEN_MIB as u64,
        "RSS grew by {grown} bytes: serving copied the blob"
    );
    for (mut response, mut len) in responses {
        while let Some(chunk) = response.chunk().await.expect("a chunk") {
            len += chunk.len();
        }
        assert_eq!(len, TEN_MIB, "each download is complete");
    }
}
