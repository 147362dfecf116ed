//! The original LabThings-FastAPI 0.3.0 (its `labthings-server`, from
//! `.venv-original/`, which `cargo xtask test` installs) serving Python
//! Things of ours as a process of its own on a free port.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::clients::{repo, setup};

/// The original's server; killed when dropped.
pub struct Original {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl Drop for Original {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Serve the Python Thing `class` (`module:Class`, the module in the
/// repository folder `folder`) as `name`, once `/{name}/` answers (within
/// 60 s).
pub async fn serve(name: &str, class: &str, folder: &str) -> Original {
    setup();
    let port = super::free_port();
    let things = serde_json::json!({ "things": { name: class } }).to_string();
    let child = Command::new(repo().join(".venv-original/bin/labthings-server"))
        .args(["-j", &things, "--port", &port.to_string()])
        .env("PYTHONPATH", repo().join(folder))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start labthings-server from .venv-original (`cargo xtask test` installs it)");
    let server = Original {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if reqwest::get(format!("{}/{name}/", server.url))
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return server;
        }
        assert!(Instant::now() < deadline, "the original did not start within 60 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
