//! Shared helpers for the integration tests: an in-process server on port 0,
//! an HTTP client, polling, and the W3C TD schema.
#![allow(dead_code, unreachable_pub)]

use std::time::{Duration, Instant};

use labthings::Server;
use serde_json::Value;
use tokio::sync::oneshot;

pub mod clients;
pub mod faulty;
pub mod original;
pub mod process;
pub mod proxy;

/// A free TCP port on 127.0.0.1 (bound, then let go: nothing listens on it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A server running in this process on a free port; stops when dropped.
pub struct TestServer {
    pub url: String,
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Bind `server` to 127.0.0.1:0 and serve it in the background.
pub async fn start(server: Server) -> TestServer {
    labthings::init_test_tracing();
    let listening = server.bind("127.0.0.1:0").await.expect("bind a free port");
    let url = listening.url();
    let (stop, stopped) = oneshot::channel::<()>();
    let serving = listening.serve_until(async move {
        let _ = stopped.await;
    });
    tokio::spawn(async move {
        // A server that could not start says why (the test then fails on
        // a refused connection).
        if let Err(e) = serving.await {
            eprintln!("the test server stopped: {e}");
        }
    });
    TestServer {
        url,
        client: reqwest::Client::new(),
        stop: Some(stop),
    }
}

/// The default configuration with settings, and so the record of
/// invocations, kept in memory: tests serving at the same time share no
/// folder (a record store admits one server per folder).
pub fn test_config() -> labthings::ServerConfig {
    labthings::ServerConfig::default().with(|c| c.settings_dir = None)
}

/// Serve the lab `build` makes (the mock lab's `mock_lab::build`) with the
/// default configuration, its settings kept in memory only.
pub async fn start_lab(build: impl FnOnce(labthings::ServerConfig) -> anyhow::Result<Server>) -> TestServer {
    let config = labthings::ServerConfig::default().with(|c| c.settings_dir = None);
    start(build(config).expect("the lab builds")).await
}

/// Serve one thing, `thing` as `name`, with the default configuration,
/// its settings (and so its record of invocations) kept in memory only.
pub async fn start_thing<T: labthings::Thing>(name: &str, thing: T) -> TestServer {
    let config = labthings::ServerConfig::default().with(|c| c.settings_dir = None);
    start(
        Server::builder()
            .config(config)
            .thing(name, thing)
            .build()
            .expect("build"),
    )
    .await
}

impl TestServer {
    pub fn at(&self, path: &str) -> String {
        format!("{}{}", self.url, path)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self.client.get(self.at(path)).send().await.expect("GET");
        read(response).await
    }

    pub async fn get_text(&self, path: &str) -> String {
        let response = self.client.get(self.at(path)).send().await.expect("GET");
        response.text().await.expect("a text body")
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let response = self.client.post(self.at(path)).json(&body).send().await.expect("POST");
        read(response).await
    }

    pub async fn post_raw(&self, path: &str, body: &'static str) -> (u16, Value) {
        let response = self
            .client
            .post(self.at(path))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("POST");
        read(response).await
    }

    pub async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        let response = self.client.put(self.at(path)).json(&body).send().await.expect("PUT");
        read(response).await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        let response = self.client.delete(self.at(path)).send().await.expect("DELETE");
        read(response).await
    }

    /// The status of `invocation` (as its POST answered it) now.
    pub async fn status(&self, invocation: &Value) -> Value {
        let id = invocation["id"].as_str().expect("an invocation id");
        self.get(&format!("/action_invocations/{id}")).await.1["status"].clone()
    }

    /// Cancel `invocation` and wait until it has finished; the DELETE's status.
    pub async fn cancel_and_wait(&self, invocation: &Value) -> u16 {
        let id = invocation["id"].as_str().expect("an invocation id");
        let (status, _) = self.delete(&format!("/action_invocations/{id}")).await;
        self.wait_finished(invocation).await;
        status
    }

    /// Poll an invocation (by its `href`) until it has finished.
    pub async fn wait_finished(&self, invocation: &Value) -> Value {
        let href = invocation["href"].as_str().expect("invocation has an href");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let response = self.client.get(href).send().await.expect("poll");
            let (status, body) = read(response).await;
            assert_eq!(status, 200, "polling {href}: {body}");
            if ["completed", "cancelled", "error"].contains(&body["status"].as_str().unwrap_or_default()) {
                return body;
            }
            assert!(Instant::now() < deadline, "invocation did not finish: {body}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Status and JSON body (`Value::Null` if the body is not JSON, which the
/// tests treat as a failure where they expect JSON).
pub async fn read(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or_else(|_| Value::String(format!("<not JSON: {text}>")));
    (status, body)
}

/// The W3C TD 1.1 validation schema from `../shared` (or `LABTHINGS_TD_SCHEMA`).
/// `None`, with a message saying why, when neither is there.
pub fn td_schema() -> Option<Value> {
    let path = std::env::var("LABTHINGS_TD_SCHEMA").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/td-json-schema-validation.json").to_owned()
    });
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(serde_json::from_str(&text).expect("the TD schema is JSON")),
        Err(e) => {
            eprintln!("SKIPPED: TD schema validation: cannot read {path} ({e}); set LABTHINGS_TD_SCHEMA");
            None
        }
    }
}

/// Assert that `td` validates against the W3C TD 1.1 JSON Schema.
pub fn assert_valid_td(td: &Value) {
    let Some(schema) = td_schema() else { return };
    let validator = jsonschema::validator_for(&schema).expect("the TD schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(td)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "TD is not valid TD 1.1:\n{}\n{td:#}",
        errors.join("\n")
    );
}

/// Download `url` chunk by chunk (holding no copy), returning the status,
/// headers, the SHA-256 of the body and its length.
pub async fn download(server: &TestServer, url: &str) -> (u16, reqwest::header::HeaderMap, Vec<u8>, usize) {
    use sha2::Digest;
    let mut response = server.client.get(url).send().await.expect("GET");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let mut hash = sha2::Sha256::new();
    let mut len = 0;
    while let Some(chunk) = response.chunk().await.expect("a chunk") {
        len += chunk.len();
        hash.update(&chunk);
    }
    (status, headers, hash.finalize().to_vec(), len)
}

/// A self-signed certificate for `names`, written as PEM files into `dir`:
/// (certificate, key).
pub fn self_signed(dir: &std::path::Path, names: &[&str]) -> (std::path::PathBuf, std::path::PathBuf) {
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let made = rcgen::generate_simple_self_signed(names).expect("a self-signed certificate");
    let (cert, key) = (dir.join("lab.crt"), dir.join("lab.key"));
    std::fs::write(&cert, made.cert.pem()).expect("write the certificate");
    std::fs::write(&key, made.signing_key.serialize_pem()).expect("write the key");
    (cert, key)
}
