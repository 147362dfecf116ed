//! Server settings.

use std::path::PathBuf;
use std::time::Duration;

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
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            body_limit: 1024 * 1024,
            retention: Duration::from_secs(300),
            log_capacity: 1000,
            invoke_wait: Duration::from_millis(50),
            expiry_interval: Duration::from_secs(1),
            shutdown_grace: Duration::from_secs(5),
            settings_dir: Some(PathBuf::from("settings")),
        }
    }
}
