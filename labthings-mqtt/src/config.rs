//! How to reach the MQTT broker: in code (`ServerConfig::mqtt`) or in a
//! configuration file's `[mqtt]` table.

use std::path::PathBuf;

use serde::Deserialize;

/// The MQTT binding's configuration. Off unless given.
///
/// ```
/// use labthings_mqtt::MqttConfig;
/// let config = MqttConfig::new("mqtt://127.0.0.1:1883", "scope-1");
/// assert_eq!(config.prefix(), "labthings/scope-1");
/// assert_eq!(config.host_port(), Ok(("127.0.0.1".to_owned(), 1883)));
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct MqttConfig {
    /// The broker: `mqtt://host:port` (port 1883 when left out), or
    /// `mqtts://host:port` for MQTT over TLS (port 8883 when left out).
    pub broker: String,
    /// This server's MQTT client id, unique on the broker; also its name in
    /// the default topic prefix.
    pub client_id: String,
    /// The user name to log in with, if the broker requires one.
    #[serde(default)]
    pub username: Option<String>,
    /// The environment variable holding the password (never the command
    /// line, where other users could read it).
    #[serde(default)]
    pub password_env: Option<String>,
    /// A file holding the password (its first line).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Where this server's topics start (default `labthings/{client_id}`).
    #[serde(default)]
    pub topic_prefix: Option<String>,
    /// How many messages may wait for the broker; past that, the oldest
    /// waiting is dropped for each new one (and counted in the log) rather
    /// than block device code.
    /// Current values are published again on every reconnection.
    #[serde(default = "default_buffer")]
    pub buffer: usize,
    /// For `mqtts://`: a PEM file of the certificate authorities to trust
    /// (a lab's own CA); the system's when left out.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// For `mqtts://` brokers that want a client certificate: the PEM
    /// certificate chain and its key (both or neither).
    #[serde(default)]
    pub client_cert_file: Option<PathBuf>,
    /// The key of `client_cert_file`.
    #[serde(default)]
    pub client_key_file: Option<PathBuf>,
}

fn default_buffer() -> usize {
    1000
}

impl MqttConfig {
    /// This configuration changed by `change` (the way to set the fields
    /// [`new`](Self::new) leaves at their defaults).
    pub fn with(mut self, change: impl FnOnce(&mut Self)) -> Self {
        change(&mut self);
        self
    }

    /// Connect to `broker` as `client_id`, with the defaults.
    pub fn new(broker: impl Into<String>, client_id: impl Into<String>) -> Self {
        Self {
            broker: broker.into(),
            client_id: client_id.into(),
            username: None,
            password_env: None,
            password_file: None,
            topic_prefix: None,
            buffer: default_buffer(),
            ca_file: None,
            client_cert_file: None,
            client_key_file: None,
        }
    }

    /// Log in as `username` with the password in the environment variable `env`.
    pub fn with_login(mut self, username: impl Into<String>, env: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self.password_env = Some(env.into());
        self
    }

    /// The topic prefix: `topic_prefix`, or `labthings/{client_id}`.
    pub fn prefix(&self) -> String {
        match &self.topic_prefix {
            Some(prefix) => prefix.trim_end_matches('/').to_owned(),
            None => format!("labthings/{}", self.client_id),
        }
    }

    /// The broker's host and port, or what is wrong with `broker`.
    pub fn host_port(&self) -> Result<(String, u16), String> {
        let (rest, default_port) = if let Some(rest) = self.broker.strip_prefix("mqtt://") {
            (rest, 1883)
        } else if let Some(rest) = self.broker.strip_prefix("mqtts://") {
            (rest, 8883)
        } else {
            return Err(format!(
                "mqtt.broker {:?} must start with mqtt:// (or mqtts:// for TLS)",
                self.broker
            ));
        };
        let rest = rest.trim_end_matches('/');
        match rest.rsplit_once(':') {
            Some((host, port)) => port
                .parse()
                .map(|port| (host.to_owned(), port))
                .map_err(|_| format!("mqtt.broker {:?}: {port:?} is not a port number", self.broker)),
            None => Ok((rest.to_owned(), default_port)),
        }
    }

    /// The TLS client configuration for an `mqtts://` broker (`None` for
    /// `mqtt://`), or what is wrong with the files it names.
    pub(crate) fn tls(&self) -> Result<Option<labthings_tls::tokio_rustls::rustls::ClientConfig>, String> {
        let identity = match (&self.client_cert_file, &self.client_key_file) {
            (Some(cert), Some(key)) => Some((cert.as_path(), key.as_path())),
            (None, None) => None,
            _ => return Err("mqtt.client_cert_file and mqtt.client_key_file go together".to_owned()),
        };
        if !self.broker.starts_with("mqtts://") {
            if self.ca_file.is_some() || identity.is_some() {
                return Err(format!(
                    "mqtt.broker {:?} is not mqtts://, but TLS files are given",
                    self.broker
                ));
            }
            return Ok(None);
        }
        labthings_tls::client_config(self.ca_file.as_deref(), identity)
            .map(Some)
            .map_err(|e| format!("mqtt: {e}"))
    }

    /// The password, read from where the configuration says.
    pub(crate) fn password(&self) -> Result<Option<String>, String> {
        labthings_core::secret::read_secret("password", self.password_env.as_deref(), self.password_file.as_deref())
            .map_err(|e| format!("mqtt.{e}"))
    }

    /// Problems a server should refuse to start with.
    pub(crate) fn check(&self) -> Result<(), String> {
        self.host_port()?;
        self.password()?;
        self.tls()?;
        if self.client_id.is_empty() || self.client_id.contains(['/', '+', '#']) {
            return Err(format!(
                "mqtt.client_id {:?} must be non-empty, without `/`, `+` or `#`",
                self.client_id
            ));
        }
        if self.prefix().contains(['+', '#']) || self.prefix().is_empty() {
            return Err(format!("mqtt.topic_prefix {:?} may not hold `+` or `#`", self.prefix()));
        }
        if self.buffer == 0 {
            return Err("mqtt.buffer must be at least 1".to_owned());
        }
        Ok(())
    }
}
