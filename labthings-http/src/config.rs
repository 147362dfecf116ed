//! Server settings.

use std::path::PathBuf;
use std::time::Duration;

use crate::auth::AuthConfig;

/// Settings of a [`Server`](crate::Server). `Default` gives the documented
/// defaults.
///
/// ```
/// use labthings_http::ServerConfig;
/// use std::time::Duration;
/// let config = ServerConfig { body_limit: 64 * 1024, ..ServerConfig::default() };
/// assert_eq!(config.retention, Duration::from_secs(300));
/// ```
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest request body accepted, in bytes (default 1 MiB); larger is 413.
    pub body_limit: usize,
    /// How long finished invocations are kept when the action does not say
    /// (default 300 s).
    pub retention: Duration,
    /// Log records kept per invocation (default 1000).
    pub log_capacity: usize,
    /// Bytes of log kept per invocation (default 64 KiB); the newest
    /// records are kept.
    pub log_bytes: usize,
    /// Finished invocations kept at most (default 1000); beyond it the
    /// oldest finished one is dropped, whatever its retention time.
    pub max_retained: usize,
    /// Invocations pending or running at once (default 256); beyond it an
    /// invoke answers 503 with `Retry-After`.
    pub max_active_invocations: usize,
    /// Threads that run invocations (default 64); further invocations wait,
    /// pending, for a free one.
    pub max_invocation_threads: usize,
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
    pub header_read_timeout: Duration,
    /// How long a client may take to send a request body (default 30 s);
    /// slower is 408.
    pub body_read_timeout: Duration,
    /// Largest WebSocket message (and frame) a client may send, in bytes
    /// (default 64 KiB; observation requests are a few hundred bytes).
    pub ws_max_message: usize,
    /// How long a WebSocket message (or frame) may take to arrive once it has
    /// begun (default 30 s); a client that leaves one unfinished longer is
    /// disconnected (close code 1008).
    pub ws_message_timeout: Duration,
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
    /// browser (CORS answers and preflights; default off).
    pub cors: Option<CorsConfig>,
    /// The URL clients reach the server at when it differs from what they
    /// send as `Host` (behind a reverse proxy), e.g.
    /// `https://scope.lab.example/`; TD `base`, `Location` and blob links
    /// are built on it (default: from the allowed `Host`).
    pub public_base_url: Option<String>,
    /// Who may use the server (default: no users, so no credentials are
    /// checked; see [`auth`](crate::auth)).
    pub auth: AuthConfig,
    /// Failed or unremembered sign-ins one client address (an IPv6 /64),
    /// and one user name, may make at once (default 10); past it, one a
    /// second per address and one every two seconds per user name, and
    /// further attempts answer 429 with `Retry-After` without checking
    /// anything. 0 turns the limit off. Configuration files:
    /// `sign_in_burst` in `[security]`.
    pub sign_in_burst: u32,
    /// Serve without credentials on an address other than loopback
    /// (default false: the server refuses to start, as anyone on the
    /// network could then drive the instrument).
    pub insecure: bool,
    /// Serve HTTPS with this certificate and key (default: plain HTTP).
    pub tls: Option<TlsConfig>,
    /// Most invocations in one answer of an invocation list (default 1000);
    /// `?limit=` may ask for fewer, `?offset=` pages.
    pub max_list: usize,
    /// How long a POST that invokes an action waits for it to finish before
    /// answering (default 50 ms). A quick action's POST answers 201 with the
    /// finished invocation, so clients need not poll; a slower one answers
    /// with it still running, as LabThings-FastAPI does. Zero never waits.
    pub invoke_wait: Duration,
    /// How often expired invocations are dropped (default 1 s).
    pub expiry_interval: Duration,
    /// On shutdown, how long running invocations get to finish after being
    /// cancelled (default 5 s).
    pub shutdown_grace: Duration,
    /// Where settings files are kept, one `{thing}.json` per Thing that has
    /// settings (default `settings`, relative to the working directory;
    /// `None` keeps settings in memory only).
    pub settings_dir: Option<PathBuf>,
    /// The hardware lock an action takes when it does not say (default
    /// none). `LockScope::Server` is the original's global lock: one such
    /// action at a time in the whole server; an action opts out with
    /// `#[action(lock = "none")]`. Configuration files: `default_lock`.
    pub default_action_lock: labthings_core::LockScope,
    /// How many times a second observers (WebSocket, SSE, MQTT) are told
    /// of one invocation's progress at most (default 10; the last report is
    /// always told). Configuration files: `[limits] progress_per_second`.
    pub progress_per_second: u32,
    /// When a thing fails to start, keep serving a page that says which
    /// thing failed and why (every request answers 503 with it) instead of
    /// exiting: for an instrument that runs headless as a service, where
    /// nobody reads the console. Off by default; `--fallback`, or
    /// `fallback = true` in a configuration file.
    pub fallback: bool,
    /// Serve everything under this path (e.g. `/lab`: the TD of `stage` at
    /// `/lab/stage/`, the panel at `/lab/`), for a server that shares a
    /// host name with other services. Links, TD forms, the OpenAPI
    /// document and the panel follow it. Default: empty (the root).
    /// Configuration files: `api_prefix`.
    pub api_prefix: String,
    /// Build links from the `X-Forwarded-Proto`/`-Host`/`-Prefix` (or
    /// `Forwarded`) headers a reverse proxy sets, instead of a fixed
    /// `public_base_url` (default off: only turn it on when every request
    /// comes through a proxy that sets them). A forwarded host is used, and
    /// accepted as the origin of browser writes, only if it is an allowed
    /// host. Configuration files: `trust_forwarded` in `[security]`.
    pub trust_forwarded: bool,
    /// The WoT MQTT binding: publish every thing's TD, observable values,
    /// events and invocations on a broker, and take writes and invocations
    /// from it (default off). Configuration files: the `[mqtt]` table.
    /// Feature `mqtt`.
    #[cfg(feature = "mqtt")]
    pub mqtt: Option<labthings_mqtt::MqttConfig>,
    /// How the server makes itself found: DNS-SD, a directory (default
    /// off). Configuration files: the `[discovery]` table. Feature
    /// `discovery`.
    #[cfg(feature = "discovery")]
    pub discovery: labthings_discovery::DiscoveryConfig,
    /// How long a request waits for device code (a getter, setter or
    /// endpoint: 30 s, then 504 naming the thing and the affordance; per
    /// thing or affordance in `timeouts`), how many calls into one thing
    /// may be under way (16), and how long each `#[on_start]` may take
    /// (60 s). Device code runs on a runtime of its own, never on the one
    /// that serves requests. Configuration files: `device_timeout_s`,
    /// `device_timeouts_s`, `device_calls_per_thing` and `start_timeout_s`
    /// in `[limits]`.
    pub device: labthings_core::device::DeviceConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            body_limit: 1024 * 1024,
            retention: Duration::from_secs(300),
            log_capacity: 1000,
            log_bytes: 64 * 1024,
            max_retained: 1000,
            max_active_invocations: 256,
            max_invocation_threads: 64,
            max_connections: 512,
            max_connections_per_address: 128,
            unlimited_addresses: Vec::new(),
            header_read_timeout: Duration::from_secs(20),
            body_read_timeout: Duration::from_secs(30),
            ws_max_message: 64 * 1024,
            ws_message_timeout: Duration::from_secs(30),
            max_list: 1000,
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
            cors: None,
            public_base_url: None,
            auth: AuthConfig::default(),
            insecure: false,
            sign_in_burst: crate::auth::DEFAULT_SIGN_IN_BURST,
            tls: None,
            invoke_wait: Duration::from_millis(50),
            expiry_interval: Duration::from_secs(1),
            shutdown_grace: Duration::from_secs(5),
            settings_dir: Some(PathBuf::from("settings")),
            default_action_lock: labthings_core::LockScope::None,
            progress_per_second: 10,
            fallback: false,
            api_prefix: String::new(),
            trust_forwarded: false,
            #[cfg(feature = "mqtt")]
            mqtt: None,
            #[cfg(feature = "discovery")]
            discovery: labthings_discovery::DiscoveryConfig::default(),
            device: labthings_core::device::DeviceConfig::default(),
        }
    }
}

/// The cross-origin policy: which methods and request headers web apps
/// served from [`ServerConfig::allowed_origins`] may use.
#[derive(Debug, Clone, PartialEq, Eq)]
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
/// let tls = TlsConfig { cert: "lab.crt".into(), key: "lab.key".into() };
/// assert_eq!(tls.cert.to_str(), Some("lab.crt"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// The certificate chain (PEM), the server's own certificate first.
    pub cert: PathBuf,
    /// The private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}
