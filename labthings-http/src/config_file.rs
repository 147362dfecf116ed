//! Building a server from a configuration file.
//!
//! The file is TOML: lab engineers edit it by hand, and TOML allows comments
//! next to each value (JSON does not) while mapping one-to-one onto serde
//! types. It names where to listen, where settings live, and which Things to
//! serve under which names, each with its own typed configuration:
//!
//! ```toml
//! host = "127.0.0.1"
//! port = 5000
//! settings_dir = "settings"
//!
//! [limits]                 # optional: any ServerConfig limit, times in seconds
//! retention_s = 300
//! max_retained = 1000
//!
//! [security]               # optional: names and web apps beyond the defaults
//! allowed_hosts = ["scope.lab.example"]
//! allowed_origins = ["https://app.lab.example"]
//! cors = true
//!
//! [things.stage]
//! type = "Stage"
//! config = { step_delay_ms = 5 }
//!
//! [things.autofocus]
//! type = "Autofocus"
//! connect = { camera = "camera" }   # fill a slot explicitly (optional)
//! ```
//!
//! The program says which types a file may name, and how each is built,
//! with a [`ThingCatalog`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use labthings_core::Thing;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::config::{CorsConfig, ServerConfig};
use crate::server::{Server, ServerBuilder};

/// A Thing that can be built from its own section of a configuration file.
pub trait FromConfig: Thing {
    /// The Thing's configuration, deserialized from `[things.NAME.config]`.
    type Config: DeserializeOwned + Default;

    /// Build the Thing from its configuration.
    fn from_config(config: Self::Config) -> Result<Self, Box<dyn std::error::Error + Send + Sync>>;
}

/// Why a configuration file could not be used. Every message names the file
/// and, where there is one, the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid, or a value has the wrong type.
    #[error("{path}: {key}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Where in the file (`things.stage.config.step_delay_ms`).
        key: String,
        /// What is wrong.
        message: String,
    },
    /// The server could not be built from the things the file names.
    #[error("{path}: {source}")]
    Build {
        /// The file.
        path: PathBuf,
        /// Why.
        source: crate::server::BuildError,
    },
}

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileModel {
    host: Option<String>,
    port: Option<u16>,
    settings_dir: Option<PathBuf>,
    #[serde(default)]
    limits: Limits,
    #[serde(default)]
    security: Security,
    #[serde(default)]
    things: toml::Table,
}

/// The `[security]` table: who may reach the server from a browser.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Security {
    #[serde(default)]
    allowed_hosts: Vec<String>,
    #[serde(default)]
    allowed_origins: Vec<String>,
    /// `true` for the default methods and headers.
    #[serde(default)]
    cors: bool,
    cors_methods: Option<Vec<String>>,
    cors_headers: Option<Vec<String>>,
    public_base_url: Option<String>,
}

impl Security {
    fn apply(self, config: &mut ServerConfig) {
        config.allowed_hosts.extend(self.allowed_hosts);
        config.allowed_origins.extend(self.allowed_origins);
        if self.cors {
            let defaults = CorsConfig::default();
            config.cors = Some(CorsConfig {
                methods: self.cors_methods.unwrap_or(defaults.methods),
                headers: self.cors_headers.unwrap_or(defaults.headers),
            });
        }
        if self.public_base_url.is_some() {
            config.public_base_url = self.public_base_url;
        }
    }
}

/// The `[limits]` table: each key overrides one [`ServerConfig`] field
/// (times in seconds, sizes in bytes); absent keys keep the defaults.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Limits {
    body_limit: Option<usize>,
    retention_s: Option<f64>,
    log_capacity: Option<usize>,
    log_bytes: Option<usize>,
    max_retained: Option<usize>,
    max_active_invocations: Option<usize>,
    max_invocation_threads: Option<usize>,
    max_connections: Option<usize>,
    header_read_timeout_s: Option<f64>,
    body_read_timeout_s: Option<f64>,
    ws_max_message: Option<usize>,
    ws_message_timeout_s: Option<f64>,
    max_list: Option<usize>,
    invoke_wait_s: Option<f64>,
    expiry_interval_s: Option<f64>,
    shutdown_grace_s: Option<f64>,
}

impl Limits {
    /// Apply the limits to `config`; an error names the key of a bad time.
    fn apply(self, config: &mut ServerConfig) -> Result<(), (String, String)> {
        let seconds = |key: &str, value: Option<f64>, field: &mut Duration| {
            if let Some(value) = value {
                *field = Duration::try_from_secs_f64(value)
                    .map_err(|_| (format!("limits.{key}"), format!("{value} is not a duration in seconds")))?;
            }
            Ok::<(), (String, String)>(())
        };
        seconds("retention_s", self.retention_s, &mut config.retention)?;
        seconds(
            "header_read_timeout_s",
            self.header_read_timeout_s,
            &mut config.header_read_timeout,
        )?;
        seconds(
            "body_read_timeout_s",
            self.body_read_timeout_s,
            &mut config.body_read_timeout,
        )?;
        seconds("invoke_wait_s", self.invoke_wait_s, &mut config.invoke_wait)?;
        seconds("expiry_interval_s", self.expiry_interval_s, &mut config.expiry_interval)?;
        seconds("shutdown_grace_s", self.shutdown_grace_s, &mut config.shutdown_grace)?;
        seconds(
            "ws_message_timeout_s",
            self.ws_message_timeout_s,
            &mut config.ws_message_timeout,
        )?;
        let sizes = [
            (self.body_limit, &mut config.body_limit),
            (self.log_capacity, &mut config.log_capacity),
            (self.log_bytes, &mut config.log_bytes),
            (self.max_retained, &mut config.max_retained),
            (self.max_active_invocations, &mut config.max_active_invocations),
            (self.max_invocation_threads, &mut config.max_invocation_threads),
            (self.max_connections, &mut config.max_connections),
            (self.ws_max_message, &mut config.ws_max_message),
            (self.max_list, &mut config.max_list),
        ];
        for (value, field) in sizes {
            if let Some(value) = value {
                *field = value;
            }
        }
        Ok(())
    }
}

/// One `[things.NAME]` section.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThingSection {
    #[serde(rename = "type")]
    type_name: String,
    #[serde(default)]
    config: Option<toml::Value>,
    #[serde(default)]
    connect: HashMap<String, String>,
}

type Maker = Box<dyn Fn(ServerBuilder, &str, toml::Value) -> Result<ServerBuilder, (String, String)> + Send + Sync>;

/// The Thing types a configuration file may name, and how to build each.
///
/// ```
/// # use labthings_http::ThingCatalog;
/// let catalog = ThingCatalog::new();
/// assert!(catalog.type_names().is_empty());
/// ```
#[derive(Default)]
pub struct ThingCatalog {
    makers: HashMap<String, Maker>,
}

impl std::fmt::Debug for ThingCatalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThingCatalog")
            .field("types", &self.type_names())
            .finish()
    }
}

impl ThingCatalog {
    /// An empty catalog.
    pub fn new() -> Self {
        Self::default()
    }

    /// Let files name `T` as `type = "{type_name}"`, built with
    /// [`FromConfig::from_config`].
    pub fn register<T: FromConfig>(mut self, type_name: &str) -> Self {
        let maker: Maker = Box::new(|builder, name, config| {
            let config: T::Config = serde_path_to_error::deserialize(config).map_err(|e| {
                (
                    format!("things.{name}.config.{}", e.path()),
                    e.inner().message().to_owned(),
                )
            })?;
            let thing = T::from_config(config).map_err(|e| (format!("things.{name}"), e.to_string()))?;
            Ok(builder.thing(name, thing))
        });
        self.makers.insert(type_name.to_owned(), maker);
        self
    }

    /// Let files name `T` as `type = "{type_name}"`, built with `Default`;
    /// a `config` for it is an error.
    pub fn register_default<T: Thing + Default>(mut self, type_name: &str) -> Self {
        let maker: Maker = Box::new(|builder, name, config| {
            if config.as_table().is_some_and(|t| !t.is_empty()) {
                return Err((
                    format!("things.{name}.config"),
                    "this thing type takes no configuration".to_owned(),
                ));
            }
            Ok(builder.thing(name, T::default()))
        });
        self.makers.insert(type_name.to_owned(), maker);
        self
    }

    /// The registered type names, sorted.
    pub fn type_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.makers.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }
}

/// A server described by a configuration file, ready to bind.
#[derive(Debug)]
pub struct ConfiguredServer {
    /// The server.
    pub server: Server,
    /// `host` from the file, if given.
    pub host: Option<String>,
    /// `port` from the file, if given.
    pub port: Option<u16>,
}

/// Read `path` and build the server it describes, with `config` as the
/// settings the file does not override.
pub fn load(path: &Path, catalog: &ThingCatalog, config: ServerConfig) -> Result<ConfiguredServer, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let invalid = |key: String, message: String| ConfigError::Invalid {
        path: path.to_owned(),
        key,
        message,
    };
    let document: toml::Value = toml::from_str(&text).map_err(|e| invalid("(syntax)".to_owned(), e.to_string()))?;
    let file: FileModel = serde_path_to_error::deserialize(document).map_err(|e| {
        let key = e.path().to_string();
        invalid(key, e.into_inner().message().to_owned())
    })?;
    let mut config = config;
    if let Some(dir) = file.settings_dir {
        config.settings_dir = Some(dir);
    }
    file.limits
        .apply(&mut config)
        .map_err(|(key, message)| invalid(key, message))?;
    file.security.apply(&mut config);
    let mut builder = Server::builder().config(config);
    for (name, section) in file.things {
        let section: ThingSection = serde_path_to_error::deserialize(section).map_err(|e| {
            invalid(
                format!("things.{name}.{}", e.path()),
                e.into_inner().message().to_owned(),
            )
        })?;
        let maker = catalog.makers.get(&section.type_name).ok_or_else(|| {
            invalid(
                format!("things.{name}.type"),
                format!(
                    "unknown thing type `{}`; known types: {:?}",
                    section.type_name,
                    catalog.type_names()
                ),
            )
        })?;
        let thing_config = section.config.unwrap_or_else(|| toml::Value::Table(toml::Table::new()));
        builder = maker(builder, &name, thing_config).map_err(|(key, message)| invalid(key, message))?;
        for (slot, target) in &section.connect {
            builder = builder.connect(&name, slot, target);
        }
    }
    let server = builder.build().map_err(|source| ConfigError::Build {
        path: path.to_owned(),
        source,
    })?;
    Ok(ConfiguredServer {
        server,
        host: file.host,
        port: file.port,
    })
}
