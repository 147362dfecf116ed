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
//! default_lock = "server"  # optional: actions that do not say take this lock
//! fallback = true          # optional: if a thing fails to start, serve a page saying why
//! api_prefix = "/lab"      # optional: serve everything under this path
//!
//! [limits]                 # optional: any ServerConfig limit, times in seconds
//! retention_s = 300
//! max_retained = 1000
//!
//! [security]               # optional: names and web apps beyond the defaults
//! allowed_hosts = ["scope.lab.example"]
//! allowed_origins = ["https://app.lab.example"]
//! cors = true
//! anonymous = "observe"    # optional: anyone may watch, users operate
//!
//! [[security.users]]       # optional: with users, requests need credentials
//! name = "alice"
//! role = "operate"         # or "observe"
//! password_hash = "$argon2id$v=19$m=19456,t=2,p=1$..."   # from --hash-password
//!
//! [[security.users]]
//! name = "dashboard"
//! role = "observe"
//! token_env = "DASHBOARD_TOKEN"   # or token_file = "...", or token_sha256 = "..."
//!
//! [tls]                    # optional: serve HTTPS
//! cert = "lab.crt"
//! key = "lab.key"
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

#[cfg(feature = "auth")]
use crate::auth::Credential;
use crate::auth::{Role, User};
use crate::config::{CorsConfig, ServerConfig, TlsConfig};
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
    /// The server could not be built from what the file names.
    #[error("{path}: {source}")]
    Build {
        /// The file.
        path: PathBuf,
        /// Why.
        source: crate::server::BuildError,
    },
}

/// Why a table of a binding that is not compiled in is refused.
#[cfg(not(all(feature = "mqtt", feature = "discovery", feature = "auth")))]
const NOT_BUILT_IN: &str =
    "this program was built without the `{}` feature of labthings; add it to the `labthings` dependency's features";

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileModel {
    host: Option<String>,
    port: Option<u16>,
    settings_dir: Option<PathBuf>,
    default_lock: Option<LockName>,
    #[serde(default)]
    fallback: bool,
    api_prefix: Option<String>,
    #[serde(default)]
    limits: Limits,
    #[serde(default)]
    security: Security,
    tls: Option<Tls>,
    #[cfg(feature = "mqtt")]
    mqtt: Option<labthings_mqtt::MqttConfig>,
    /// Kept to refuse it by name when the binding is not built in.
    #[cfg(not(feature = "mqtt"))]
    mqtt: Option<toml::Value>,
    #[cfg(feature = "discovery")]
    discovery: Option<labthings_discovery::DiscoveryConfig>,
    #[cfg(not(feature = "discovery"))]
    discovery: Option<toml::Value>,
    #[serde(default)]
    things: toml::Table,
}

/// `default_lock`: the lock of actions that do not declare one.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum LockName {
    None,
    Thing,
    Server,
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
    /// Serve on other addresses than loopback without users.
    #[serde(default)]
    insecure: bool,
    /// Build links from a reverse proxy's forwarded headers.
    #[serde(default)]
    trust_forwarded: bool,
    /// Failed sign-ins allowed at once per address and user name.
    sign_in_burst: Option<u32>,
    /// `"observe"`: requests without credentials may read.
    anonymous: Option<String>,
    #[serde(default)]
    users: Vec<UserSection>,
}

/// One `[[security.users]]` table: a name, a role, and exactly one of the
/// credential keys. Secrets themselves never sit in the file: a password
/// only as its argon2 hash, a token as its SHA-256 or read from an
/// environment variable or a file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(not(feature = "auth"), allow(dead_code))]
struct UserSection {
    name: String,
    role: String,
    things: Option<Vec<String>>,
    password_hash: Option<String>,
    token_sha256: Option<String>,
    token_env: Option<String>,
    token_file: Option<PathBuf>,
}

impl UserSection {
    /// Without the `auth` feature no user can be checked: refused, naming it.
    #[cfg(not(feature = "auth"))]
    fn user(self, key: &str) -> Result<User, (String, String)> {
        Err((key.to_owned(), NOT_BUILT_IN.replace("{}", "auth")))
    }

    /// The user, or the key and message of what is wrong.
    #[cfg(feature = "auth")]
    fn user(self, key: &str) -> Result<User, (String, String)> {
        let role: Role = self.role.parse().map_err(|e| (format!("{key}.role"), e))?;
        let credential = match (self.password_hash, self.token_sha256, self.token_env, self.token_file) {
            (Some(phc), None, None, None) => {
                Credential::password_hash(&phc).map_err(|e| (format!("{key}.password_hash"), e))?
            }
            (None, Some(hex), None, None) => {
                Credential::token_sha256(&hex).map_err(|e| (format!("{key}.token_sha256"), e))?
            }
            (None, None, Some(variable), None) => {
                let token = std::env::var(&variable).map_err(|e| {
                    (
                        format!("{key}.token_env"),
                        format!("the environment variable {variable}: {e}"),
                    )
                })?;
                secret_token(&token).map_err(|e| (format!("{key}.token_env"), format!("{variable}: {e}")))?
            }
            (None, None, None, Some(path)) => {
                let token = std::fs::read_to_string(&path).map_err(|e| {
                    (
                        format!("{key}.token_file"),
                        format!("cannot read {}: {e}", path.display()),
                    )
                })?;
                secret_token(&token).map_err(|e| (format!("{key}.token_file"), format!("{}: {e}", path.display())))?
            }
            _ => {
                return Err((
                    key.to_owned(),
                    "give exactly one of password_hash, token_sha256, token_env, token_file".to_owned(),
                ));
            }
        };
        if self.things.is_some() && role != Role::Operate {
            return Err((
                format!("{key}.things"),
                "`things` limits what an operate user may operate; an observe user observes every thing".to_owned(),
            ));
        }
        Ok(User {
            name: self.name,
            role,
            things: self.things,
            credential,
        })
    }
}

/// The shortest token accepted from the environment or a file: a guessable
/// token would make the credentials pointless.
#[cfg(feature = "auth")]
const MIN_TOKEN_LEN: usize = 16;

/// A token read from the environment or a file (surrounding whitespace,
/// such as a file's final newline, is not part of it).
#[cfg(feature = "auth")]
fn secret_token(token: &str) -> Result<Credential, String> {
    let token = token.trim();
    if token.chars().count() < MIN_TOKEN_LEN {
        return Err(format!(
            "a token has at least {MIN_TOKEN_LEN} characters (`--new-token` makes one)"
        ));
    }
    Ok(Credential::token(token))
}

/// The `[tls]` table: serve HTTPS with these PEM files.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Tls {
    cert: PathBuf,
    key: PathBuf,
}

impl Security {
    fn apply(self, config: &mut ServerConfig) -> Result<(), (String, String)> {
        config.insecure |= self.insecure;
        if let Some(anonymous) = &self.anonymous {
            match anonymous.parse::<Role>() {
                Ok(Role::Observe) => config.auth.anonymous = Some(Role::Observe),
                _ => {
                    return Err((
                        "security.anonymous".to_owned(),
                        format!("`{anonymous}`: requests without credentials may only `observe`"),
                    ));
                }
            }
        }
        for (index, user) in self.users.into_iter().enumerate() {
            config.auth.users.push(user.user(&format!("security.users[{index}]"))?);
        }
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
        config.trust_forwarded |= self.trust_forwarded;
        if let Some(burst) = self.sign_in_burst {
            config.sign_in_burst = burst;
        }
        Ok(())
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
    progress_per_second: Option<u32>,
    device_timeout_s: Option<f64>,
    /// Time limits of single things or affordances: `"camera.capture" = 120`.
    #[serde(default)]
    device_timeouts_s: HashMap<String, f64>,
    device_calls_per_thing: Option<usize>,
    start_timeout_s: Option<f64>,
    max_connections_per_address: Option<usize>,
    #[serde(default)]
    unlimited_addresses: Vec<std::net::IpAddr>,
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
        seconds("device_timeout_s", self.device_timeout_s, &mut config.device.timeout)?;
        seconds(
            "start_timeout_s",
            self.start_timeout_s,
            &mut config.device.start_timeout,
        )?;
        for (name, value) in self.device_timeouts_s {
            let mut timeout = Duration::ZERO;
            seconds(&format!("device_timeouts_s.{name}"), Some(value), &mut timeout)?;
            config.device.timeouts.insert(name, timeout);
        }
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
            (self.device_calls_per_thing, &mut config.device.calls_per_thing),
            (
                self.max_connections_per_address,
                &mut config.max_connections_per_address,
            ),
        ];
        for (value, field) in sizes {
            if let Some(value) = value {
                *field = value;
            }
        }
        config.unlimited_addresses.extend(self.unlimited_addresses);
        if let Some(rate) = self.progress_per_second {
            config.progress_per_second = rate;
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
    config.fallback |= file.fallback;
    if let Some(prefix) = file.api_prefix {
        config.api_prefix = prefix;
    }
    if let Some(lock) = file.default_lock {
        config.default_action_lock = match lock {
            LockName::None => labthings_core::LockScope::None,
            LockName::Thing => labthings_core::LockScope::Thing,
            LockName::Server => labthings_core::LockScope::Server,
        };
    }
    file.limits
        .apply(&mut config)
        .map_err(|(key, message)| invalid(key, message))?;
    file.security
        .apply(&mut config)
        .map_err(|(key, message)| invalid(key, message))?;
    if let Some(tls) = file.tls {
        config.tls = Some(TlsConfig {
            cert: tls.cert,
            key: tls.key,
        });
    }
    #[cfg(feature = "mqtt")]
    if let Some(mqtt) = file.mqtt {
        config.mqtt = Some(mqtt);
    }
    #[cfg(not(feature = "mqtt"))]
    if file.mqtt.is_some() {
        return Err(invalid("mqtt".into(), NOT_BUILT_IN.replace("{}", "mqtt")));
    }
    #[cfg(feature = "discovery")]
    if let Some(discovery) = file.discovery {
        config.discovery = discovery;
    }
    #[cfg(not(feature = "discovery"))]
    if file.discovery.is_some() {
        return Err(invalid("discovery".into(), NOT_BUILT_IN.replace("{}", "discovery")));
    }
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

#[cfg(test)]
mod tests {
    use super::{ConfigError, ThingCatalog, load};
    use crate::ServerConfig;

    /// Load `text` as a configuration file with no thing types.
    fn loaded(text: &str) -> Result<(), ConfigError> {
        let folder = std::env::temp_dir().join(format!("labthings-config-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&folder).expect("a temporary folder");
        let path = folder.join("lab.toml");
        std::fs::write(&path, text).expect("the file is written");
        let result = load(&path, &ThingCatalog::new(), ServerConfig::default()).map(|_| ());
        let _ = std::fs::remove_dir_all(&folder);
        result
    }

    /// A binding's table is taken when the binding is built in, and
    /// refused by name (the key and the feature to add) when it is not,
    /// rather than ignored.
    #[test]
    fn a_binding_table_needs_its_feature() {
        let mqtt = loaded("[mqtt]\nbroker = \"mqtt://127.0.0.1:1883\"\nclient_id = \"lab\"\n");
        let discovery = loaded("[discovery]\ndns_sd = true\n");
        #[cfg(feature = "mqtt")]
        assert!(mqtt.is_ok(), "{mqtt:?}");
        #[cfg(not(feature = "mqtt"))]
        assert!(
            matches!(&mqtt, Err(ConfigError::Invalid { key, message, .. }) if key == "mqtt" && message.contains("`mqtt` feature")),
            "{mqtt:?}"
        );
        #[cfg(feature = "discovery")]
        assert!(discovery.is_ok(), "{discovery:?}");
        #[cfg(not(feature = "discovery"))]
        assert!(
            matches!(&discovery, Err(ConfigError::Invalid { key, message, .. }) if key == "discovery" && message.contains("`discovery` feature")),
            "{discovery:?}"
        );
        let users = loaded(
            "[[security.users]]\nname = \"dashboard\"\nrole = \"observe\"\n\
             token_sha256 = \"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\"\n",
        );
        #[cfg(feature = "auth")]
        assert!(users.is_ok(), "{users:?}");
        #[cfg(not(feature = "auth"))]
        assert!(
            matches!(&users, Err(ConfigError::Invalid { key, message, .. }) if key == "security.users[0]" && message.contains("`auth` feature")),
            "{users:?}"
        );
    }
}
