//! Server settings.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::auth::AuthConfig;

/// Settings of a [`Server`](crate::Server), in the shape of a configuration
/// file: a configuration file deserialises straight into it (its `host`,
/// `port` and `[things]` aside), each table a field, times in seconds
/// (`retention_s`), unknown keys refused by name. `Default` gives the
/// documented defaults; [`with`](Self::with) changes some of them.
///
/// ```
/// use labthings_http::ServerConfig;
/// use std::time::Duration;
/// let config = ServerConfig::default().with(|c| c.limits.body_limit = 64 * 1024);
/// assert_eq!(config.invocations.retention, Duration::from_secs(300));
/// let file: ServerConfig = toml::from_str("[limits]\nbody_limit = 4096\n[invocations]\nretention_s = 60\n")?;
/// assert_eq!((file.limits.body_limit, file.invocations.retention), (4096, Duration::from_secs(60)));
/// assert!(toml::from_str::<ServerConfig>("[limits]\nbody_limits = 1\n").is_err());
/// # Ok::<(), toml::de::Error>(())
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Where settings files are kept, one `{thing}.json` per Thing that has
    /// settings (default `settings`, relative to the working directory;
    /// `None` keeps settings in memory only).
    pub settings_dir: Option<PathBuf>,
    /// When a thing fails to start, keep serving a page that says which
    /// thing failed and why (every request answers 503 with it) instead of
    /// exiting: for an instrument that runs headless as a service, where
    /// nobody reads the console. Off by default; `--fallback`.
    pub fallback: bool,
    /// Serve every thing of a configuration file simulated: built with
    /// [`FromConfig::simulated`](crate::FromConfig::simulated), the same
    /// affordances without hardware, and marked `"lt:simulated": true` in
    /// its TD; a type with no simulated mode fails the build, naming it.
    /// Off by default; `--simulate`, or `simulate = true` per thing.
    pub simulate: bool,
    /// Options for the whole application that no one thing owns
    /// (`[application_config]`, any table), handed to each thing built from
    /// a configuration file ([`ThingEnv`](crate::config_file::ThingEnv)),
    /// as the original's `application_config`.
    pub application_config: Option<serde_json::Value>,
    /// Serve everything under this path (e.g. `/lab`: the TD of `stage` at
    /// `/lab/stage/`, the panel at `/lab/`), for a server that shares a
    /// host name with other services. Links, TD forms, the OpenAPI
    /// document and the panel follow it. Default: empty (the root).
    pub api_prefix: String,
    /// What one client, one request or one connection may take
    /// (`[limits]`).
    pub limits: Limits,
    /// How invocations are run and kept (`[invocations]`): retention, logs,
    /// how many at once, the default lock, progress updates.
    pub invocations: labthings_core::ManagerConfig,
    /// Which calls wait for an operator's approval, and how long
    /// (`[approval]`: `timeout_s`, `[[approval.rules]]`). Agents (the MCP
    /// binding) always wait for the actions marked `#[action(approval)]`.
    pub approval: labthings_core::ApprovalPolicy,
    /// How long a request waits for device code (a getter, setter or
    /// endpoint: 30 s, then 504 naming the thing and the affordance; per
    /// thing or affordance in `timeouts_s`), how many calls into one thing
    /// may be under way (16), and how long each `#[on_start]` may take
    /// (60 s) (`[device]`). Device code runs on a runtime of its own, never
    /// on the one that serves requests.
    pub device: labthings_core::device::DeviceConfig,
    /// Which hosts and web pages the server answers, and how it is reached
    /// behind a proxy (`[security]`).
    pub security: Security,
    /// Who may use the server (`[auth]`; default: no users, so no
    /// credentials are checked; see [`auth`](crate::auth)).
    pub auth: AuthConfig,
    /// Serve HTTPS with this certificate and key (`[tls]`; default: plain
    /// HTTP). Feature `tls`.
    pub tls: Option<TlsConfig>,
    /// Other servers whose blobs an action's input may link to
    /// (`[[remote_blobs]]`; default none: only this server's own blobs).
    /// Feature `remote-blobs`.
    pub remote_blobs: Vec<crate::RemoteBlobSource>,
    /// The WoT MQTT binding: publish every thing's TD, observable values,
    /// events and invocations on a broker, and take writes and invocations
    /// from it (`[mqtt]`; default off). Feature `mqtt`.
    #[cfg(feature = "mqtt")]
    pub mqtt: Option<labthings_mqtt::MqttConfig>,
    /// The Model Context Protocol binding: AI agents call the actions as
    /// tools at `path` (Streamable HTTP), as the server's users, within the
    /// Things' limits, under `[approval]` (`[mcp]`; default off). Feature
    /// `mcp`.
    #[cfg(feature = "mcp")]
    pub mcp: Option<labthings_mcp::McpConfig>,
    /// Whether, where and for how long every invocation is recorded on
    /// disk (`[records]`: `enabled`, `dir`, `max_age_days`, `max_size_mb`;
    /// default on, beside the settings folder (`records` for `settings`, else
    /// `{name}-records`); off when
    /// settings are kept in memory and no `dir` is given). Feature
    /// `records`.
    #[cfg(feature = "records")]
    pub records: labthings_store::RecordsConfig,
    /// How the server makes itself found: DNS-SD, a directory
    /// (`[discovery]`; default off). Feature `discovery`.
    #[cfg(feature = "discovery")]
    pub discovery: labthings_discovery::DiscoveryConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            settings_dir: Some(PathBuf::from("settings")),
            fallback: false,
            simulate: false,
            application_config: None,
            api_prefix: String::new(),
            limits: Limits::default(),
            invocations: labthings_core::ManagerConfig::default(),
            approval: labthings_core::ApprovalPolicy::default(),
            device: labthings_core::device::DeviceConfig::default(),
            security: Security::default(),
            auth: AuthConfig::default(),
            tls: None,
            remote_blobs: Vec::new(),
            #[cfg(feature = "mqtt")]
            mqtt: None,
            #[cfg(feature = "mcp")]
            mcp: None,
            #[cfg(feature = "records")]
            records: labthings_store::RecordsConfig::default(),
            #[cfg(feature = "discovery")]
            discovery: labthings_discovery::DiscoveryConfig::default(),
        }
    }
}

impl ServerConfig {
    /// This configuration changed by `change`: the way to set a few values
    /// on the defaults (the fields of nested tables are reached directly).
    ///
    /// ```
    /// use labthings_http::ServerConfig;
    /// let config = ServerConfig::default().with(|c| {
    ///     c.settings_dir = None;
    ///     c.limits.max_connections = 64;
    ///     c.security.allowed_hosts.push("scope.lab.example".into());
    /// });
    /// assert_eq!(config.limits.max_connections, 64);
    /// ```
    pub fn with(mut self, change: impl FnOnce(&mut Self)) -> Self {
        change(&mut self);
        self
    }
}

/// What one client, one request or one connection may take: the `[limits]`
/// table (times in seconds; sizes in bytes).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Limits {
    /// Largest request body accepted, in bytes (default 1 MiB); larger is 413.
    pub body_limit: usize,
    /// Open connections at most (default 512); a connection beyond it gets
    /// a 503 and is closed.
    pub max_connections: usize,
    /// Open connections from one client address at most (default 128), so
    /// one client cannot take every connection; beyond it, a connection from
    /// that address gets a 503 and is closed (logged at most every 10 s).
    pub max_connections_per_address: usize,
    /// Client addresses without a share limit (default none; loopback is
    /// limited too, as a local script can be the greedy client).
    pub unlimited_addresses: Vec<std::net::IpAddr>,
    /// How long a client may take to send a request's headers, and how long
    /// an idle kept-alive connection stays open (default 20 s).
    #[serde(rename = "header_read_timeout_s", with = "labthings_core::seconds")]
    pub header_read_timeout: Duration,
    /// How long a client may take to send a request body (default 30 s);
    /// slower is 408.
    #[serde(rename = "body_read_timeout_s", with = "labthings_core::seconds")]
    pub body_read_timeout: Duration,
    /// Largest WebSocket message (and frame) a client may send, in bytes
    /// (default 64 KiB; observation requests are a few hundred bytes).
    pub ws_max_message: usize,
    /// How long a WebSocket message (or frame) may take to arrive once it has
    /// begun (default 30 s); a client that leaves one unfinished longer is
    /// disconnected (close code 1008).
    #[serde(rename = "ws_message_timeout_s", with = "labthings_core::seconds")]
    pub ws_message_timeout: Duration,
    /// Most invocations in one answer of an invocation list (default 1000);
    /// `?limit=` may ask for fewer, `?offset=` pages.
    pub max_list: usize,
    /// How long a POST that invokes an action waits for it to finish before
    /// answering (default 50 ms). A quick action's POST answers 201 with the
    /// finished invocation, so clients need not poll; a slower one answers
    /// with it still running, as LabThings-FastAPI does. Zero never waits.
    #[serde(rename = "invoke_wait_s", with = "labthings_core::seconds")]
    pub invoke_wait: Duration,
    /// How often expired invocations are dropped (default 1 s).
    #[serde(rename = "expiry_interval_s", with = "labthings_core::seconds")]
    pub expiry_interval: Duration,
    /// On shutdown, how long running invocations get to finish after being
    /// cancelled (default 5 s).
    #[serde(rename = "shutdown_grace_s", with = "labthings_core::seconds")]
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            body_limit: 1024 * 1024,
            max_connections: 512,
            max_connections_per_address: 128,
            unlimited_addresses: Vec::new(),
            header_read_timeout: Duration::from_secs(20),
            body_read_timeout: Duration::from_secs(30),
            ws_max_message: 64 * 1024,
            ws_message_timeout: Duration::from_secs(30),
            max_list: 1000,
            invoke_wait: Duration::from_millis(50),
            expiry_interval: Duration::from_secs(1),
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

/// Which hosts and web pages the server answers, and how it is reached
/// behind a proxy: the `[security]` table (users are in [`AuthConfig`]).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Security {
    /// Host names (without port) the server answers to besides the ones it
    /// always does: `localhost`, any IP address, and this machine's own host
    /// name (also with `.local`). `"*"` answers to any. Other `Host`s get
    /// 421, which stops DNS-rebinding pages (default: none).
    pub allowed_hosts: Vec<String>,
    /// Origins (`https://app.example:8443`) from which browsers may write,
    /// invoke, cancel and open WebSockets, besides the server's own origin;
    /// requests from other origins get 403 (default: none). With
    /// [`cors`](Self::cors) they may also read cross-origin.
    pub allowed_origins: Vec<String>,
    /// Let web apps served from `allowed_origins` call the API from the
    /// browser (CORS answers and preflights; default off; `[security.cors]`
    /// turns it on, with the default methods and headers unless it names
    /// them).
    pub cors: Option<CorsConfig>,
    /// The URL clients reach the server at when it differs from what they
    /// send as `Host` (behind a reverse proxy), e.g.
    /// `https://scope.lab.example/`; TD `base`, `Location` and blob links
    /// are built on it (default: from the allowed `Host`).
    pub public_base_url: Option<String>,
    /// Build links from the `X-Forwarded-Proto`/`-Host`/`-Prefix` (or
    /// `Forwarded`) headers a reverse proxy sets, instead of a fixed
    /// `public_base_url` (default off: only turn it on when every request
    /// comes through a proxy that sets them). A forwarded host is used, and
    /// accepted as the origin of browser writes, only if it is an allowed
    /// host.
    pub trust_forwarded: bool,
    /// Serve without credentials on an address other than loopback
    /// (default false: the server refuses to start, as anyone on the
    /// network could then drive the instrument).
    pub insecure: bool,
}

/// The cross-origin policy: which methods and request headers web apps
/// served from [`Security::allowed_origins`] may use (`[security.cors]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct CorsConfig {
    /// Methods allowed cross-origin (default GET, PUT, POST, DELETE).
    pub methods: Vec<String>,
    /// Request headers allowed cross-origin (default `content-type`,
    /// `authorization`).
    pub headers: Vec<String>,
}

impl Default for CorsConfig {
    fn default() -> Self {
        Self {
            methods: ["GET", "PUT", "POST", "DELETE"].map(String::from).to_vec(),
            headers: ["content-type", "authorization"].map(String::from).to_vec(),
        }
    }
}

/// The certificate and private key HTTPS is served with, as PEM files.
///
/// ```
/// use labthings_http::TlsConfig;
/// let tls = TlsConfig::new("lab.crt", "lab.key");
/// assert_eq!(tls.cert.to_str(), Some("lab.crt"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TlsConfig {
    /// The certificate chain (PEM), the server's own certificate first.
    pub cert: PathBuf,
    /// The private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

impl TlsConfig {
    /// HTTPS with the certificate chain `cert` and the private key `key`.
    pub fn new(cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        Self {
            cert: cert.into(),
            key: key.into(),
        }
    }
}
