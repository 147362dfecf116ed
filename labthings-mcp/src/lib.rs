//! The Model Context Protocol (MCP) binding of
//! [labthings](https://crates.io/crates/labthings): language-model agents
//! call a lab's actions as MCP tools, within the limits the Things declare,
//! and under an operator's approval where the Thing or the server asks for
//! it.
//!
//! It is a third binding of the same model as HTTP and MQTT: the tools are
//! made from the same descriptor tables and Thing Descriptions (each
//! action a tool `thing.action`, its input schema the TD's; each property a
//! `thing.get-property` tool and, when writable, a `thing.set-property`
//! tool; each TD a resource), and every call goes through the same core
//! service (`Lab::invoke`, `Lab::read`, `Lab::write`, `Lab::cancel`), so
//! input is checked against the schema before device code is called, and
//! the caller is the server's own user with the server's own roles.
//!
//! The server mounts [`Mcp::service`] at [`McpConfig::path`] (Streamable
//! HTTP, from the official Rust SDK `rmcp`) behind its credential check,
//! and runs [`Mcp`] as a companion. Users of the `labthings` facade turn it
//! on with the `mcp` feature and an `[mcp]` table; nobody builds it by hand.
//!
//! ```
//! let config: labthings_mcp::McpConfig = serde_json::from_value(serde_json::json!({
//!     "path": "/mcp",
//!     "calls_per_minute": 30,
//! }))
//! .expect("a valid [mcp] table");
//! assert_eq!(config.burst, 10);
//! ```

mod call;
mod handler;
mod limit;
mod sessions;
mod tools;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use labthings_core::companion::{Companion, Host, Running};
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;

pub use handler::Handler;
pub use sessions::BoundedSessions;

/// The binding's settings: the `[mcp]` table of a configuration file (times
/// in seconds; an unknown key is an error).
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct McpConfig {
    /// Where the Streamable HTTP endpoint is served, under the server's
    /// path prefix (default `/mcp`).
    pub path: String,
    /// Tool calls one user (or the anonymous caller) may make per minute
    /// (default 60); beyond it a call is answered with a tool error saying
    /// when to try again, and reaches no device code.
    pub calls_per_minute: u32,
    /// How many calls one user may make at once beyond the rate (default 10).
    pub burst: u32,
    /// How many MCP sessions may be open at once (default 64); a client
    /// beyond it is refused until one ends or times out.
    pub max_sessions: usize,
    /// How long a session may sit idle before it is closed (default 300 s).
    #[serde(rename = "session_idle_s", with = "labthings_core::seconds")]
    pub session_idle: Duration,
    /// How long a tool call waits for its invocation to end (default
    /// 3600 s); past it the answer says the invocation still runs and where
    /// to follow it (it is not cancelled).
    #[serde(rename = "call_timeout_s", with = "labthings_core::seconds")]
    pub call_timeout: Duration,
}

impl Default for McpConfig {
    fn default() -> Self {
        Self {
            path: "/mcp".to_owned(),
            calls_per_minute: 60,
            burst: 10,
            max_sessions: 64,
            session_idle: Duration::from_secs(300),
            call_timeout: Duration::from_secs(3600),
        }
    }
}

impl McpConfig {
    /// This configuration changed by `change`.
    pub fn with(mut self, change: impl FnOnce(&mut Self)) -> Self {
        change(&mut self);
        self
    }
}

/// The MCP binding of one server: the companion that learns the running
/// server (its lab, its TDs) and the HTTP service that answers MCP clients.
pub struct Mcp {
    config: McpConfig,
    host: Arc<OnceLock<Arc<dyn Host>>>,
    stop: CancellationToken,
    limiter: Arc<limit::Limiter>,
}

impl std::fmt::Debug for Mcp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mcp")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Mcp {
    /// The binding with `config`; serves nothing until the server mounts
    /// [`service`](Self::service) and starts it as a companion.
    pub fn new(config: McpConfig) -> Self {
        let limiter = Arc::new(limit::Limiter::new(config.calls_per_minute, config.burst));
        Self {
            config,
            host: Arc::default(),
            stop: CancellationToken::new(),
            limiter,
        }
    }

    /// Its settings.
    pub fn config(&self) -> &McpConfig {
        &self.config
    }

    /// The Streamable HTTP service to mount at [`McpConfig::path`], taking
    /// request bodies of at most `body_limit` bytes. The server in front
    /// checks the `Host` and `Origin` headers and the credentials, and puts
    /// the caller (a `labthings_core::Caller`) in each request's extensions.
    pub fn service(&self, body_limit: usize) -> StreamableHttpService<Handler, BoundedSessions> {
        let handler = Handler::new(self.host.clone(), self.config.clone(), self.limiter.clone());
        let mut config = StreamableHttpServerConfig::default()
            .with_cancellation_token(self.stop.child_token())
            // The server in front already checked the Host header against
            // its own allowed hosts; an empty list here checks nothing more.
            .with_allowed_hosts(Vec::<String>::new());
        config.max_request_body_bytes = body_limit;
        StreamableHttpService::new(
            move || Ok(handler.clone()),
            Arc::new(BoundedSessions::new(self.config.max_sessions, self.config.session_idle)),
            config,
        )
    }
}

impl Companion for Mcp {
    fn name(&self) -> &'static str {
        "mcp"
    }

    fn start(&self, host: Arc<dyn Host>) -> Result<Running, String> {
        if self.host.set(host).is_err() {
            return Err("the MCP binding was started twice".to_owned());
        }
        let stop = self.stop.clone();
        Ok(Running::new(move || async move { stop.cancel() }))
    }
}
