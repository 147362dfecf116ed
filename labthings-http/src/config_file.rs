//! Building a server from a configuration file.
//!
//! The file is TOML: lab engineers edit it by hand, and TOML allows comments
//! next to each value (JSON does not) while mapping one-to-one onto serde
//! types. It names where to listen, where settings live, and which Things to
//! serve under which names, each with its own typed configuration:
//!
//! Everything but `host`, `port` and `[things]` is a [`ServerConfig`],
//! deserialised straight into it: each table is one of its fields, times
//! are in seconds (`retention_s`), and a key it does not have is an error
//! that names it.
//!
//! ```toml
//! host = "127.0.0.1"
//! port = 5000
//! settings_dir = "settings"
//! fallback = true          # optional: if a thing fails to start, serve a page saying why
//! api_prefix = "/lab"      # optional: serve everything under this path
//!
//! [limits]                 # optional: ServerConfig::limits (connections, requests, WebSockets)
//! body_limit = 1048576
//! max_connections_per_address = 128
//!
//! [invocations]            # optional: ServerConfig::invocations (the action manager)
//! retention_s = 300
//! max_retained = 1000
//! default_lock = "server"  # actions that do not say take this lock
//!
//! [approval]               # optional: ServerConfig::approval (calls that wait for an operator)
//! timeout_s = 300
//! [[approval.rules]]       # these callers (users, roles, bindings) wait for these actions
//! users = ["robot"]
//! actions = ["stage.*"]    # empty: the actions marked #[action(approval)]
//!
//! [device]                 # optional: ServerConfig::device (time limits of device code)
//! timeout_s = 30
//! timeouts_s = { "camera.capture" = 120 }
//!
//! [security]               # optional: names and web apps beyond the defaults
//! allowed_hosts = ["scope.lab.example"]
//! allowed_origins = ["https://app.lab.example"]
//! cors = {}                # let those web apps call the API (default methods and headers)
//!
//! [auth]                   # optional: ServerConfig::auth
//! anonymous = "observe"    # anyone may watch, users operate
//!
//! [[auth.users]]           # with users, requests need credentials
//! name = "alice"
//! role = "operate"         # or "observe"
//! password_hash = "$argon2id$v=19$m=19456,t=2,p=1$..."   # from --hash-password
//!
//! [[auth.users]]
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
use std::sync::Arc;

use labthings_core::Thing;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::config::ServerConfig;
use crate::server::{Server, ServerBuilder};

/// Where a Thing built from a configuration file is served, for its
/// constructor: its own name, its data folder and the server's
/// `[application_config]` (the original's `thing_server_interface.name`,
/// `settings_folder` and `application_config`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ThingEnv {
    /// The name it is served as (`stage` for `[things.stage]`).
    pub name: String,
    /// A folder of its own for files that outlive the process (tuning
    /// tables, calibration images): `{settings_dir}/{name}/`, created
    /// before it is built; `None` when settings are kept in memory only.
    pub data_folder: Option<PathBuf>,
    /// The file's `[application_config]` table, as JSON: options for the
    /// whole application that no one thing owns (`None` if absent).
    pub application_config: Option<serde_json::Value>,
    /// The program's own options ([`ThingCatalog::options`]), read with
    /// [`ThingEnv::options`].
    options: Option<Arc<dyn std::any::Any + Send + Sync>>,
}

impl ThingEnv {
    /// The options the program gave its catalog with
    /// [`ThingCatalog::options`] (its command line, say), if they are of
    /// type `O`: how a flag of the program's own reaches the things a
    /// configuration file names.
    ///
    /// ```
    /// use labthings::prelude::*;
    /// use labthings::{FromConfig, ThingEnv};
    ///
    /// /// The program's own options.
    /// struct Options { serial: String }
    ///
    /// /// A filter wheel on a serial port.
    /// #[thing]
    /// pub struct Wheel { port: String }
    ///
    /// #[thing]
    /// impl Wheel {}
    ///
    /// impl FromConfig for Wheel {
    ///     type Config = std::collections::HashMap<String, String>;
    ///     fn from_config(_: Self::Config, env: &ThingEnv) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
    ///         let options = env.options::<Options>().ok_or("the program gave no options")?;
    ///         Ok(Wheel { port: options.serial.clone() })
    ///     }
    /// }
    ///
    /// let catalog = ThingCatalog::new()
    ///     .register::<Wheel>("Wheel")
    ///     .options(Options { serial: "/dev/ttyUSB0".into() });
    /// let file = std::env::temp_dir().join(format!("wheel-{}.toml", std::process::id()));
    /// std::fs::write(&file, "[things.wheel]\ntype = \"Wheel\"\n").unwrap();
    /// let served = labthings::http::config_file::load(&file, &catalog, |_| {}).unwrap();
    /// # let _ = std::fs::remove_file(&file);
    /// let wheel = served.server.things()[0].object::<Wheel>().unwrap();
    /// assert_eq!(wheel.port, "/dev/ttyUSB0");
    /// ```
    pub fn options<O: std::any::Any>(&self) -> Option<&O> {
        self.options.as_deref()?.downcast_ref::<O>()
    }
}

/// A Thing that can be built from its own section of a configuration file.
pub trait FromConfig: Thing {
    /// The Thing's configuration, deserialized from `[things.NAME.config]`.
    type Config: DeserializeOwned + Default;

    /// Build the Thing from its configuration, served as `env.name`.
    fn from_config(config: Self::Config, env: &ThingEnv) -> Result<Self, Box<dyn std::error::Error + Send + Sync>>;

    /// Build the Thing simulated: the same affordances (the same TD), no
    /// hardware, for `simulate = true` or `--simulate`. `None`, the
    /// default, means the type has no simulated mode, and asking for one
    /// fails the build rather than reach the hardware.
    fn simulated(
        config: Self::Config,
        env: &ThingEnv,
    ) -> Option<Result<Self, Box<dyn std::error::Error + Send + Sync>>> {
        let _ = (config, env);
        None
    }
}

/// Why a configuration file could not be used. Every message names the file
/// and, where there is one, the key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
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
    /// Serve it simulated (as `--simulate` does for every thing).
    #[serde(default)]
    simulate: bool,
}

/// Adds a thing to a builder from its name, its `config` and whether to
/// simulate it; or the key and message of what is wrong.
type Maker =
    Box<dyn Fn(ServerBuilder, &ThingEnv, toml::Value, bool) -> Result<ServerBuilder, (String, String)> + Send + Sync>;

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
    provides: Vec<labthings_core::Provides>,
    /// Things built in code, served beside those a file names.
    fixed: Vec<(String, Fixed)>,
    /// The program's own options, handed to each `FromConfig` in its `ThingEnv`.
    options: Option<Arc<dyn std::any::Any + Send + Sync>>,
}

/// Adds a thing built in code to a builder.
type Fixed = Box<dyn Fn(ServerBuilder) -> ServerBuilder + Send + Sync>;

impl std::fmt::Debug for ThingCatalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThingCatalog")
            .field("types", &self.type_names())
            .field("things", &self.fixed.iter().map(|(name, _)| name).collect::<Vec<_>>())
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
        let maker: Maker = Box::new(|builder, env, config, simulate| {
            let name = env.name.as_str();
            let config: T::Config = serde_path_to_error::deserialize(config).map_err(|e| {
                (
                    format!("things.{name}.config.{}", e.path()),
                    e.inner().message().to_owned(),
                )
            })?;
            let failed = |e: Box<dyn std::error::Error + Send + Sync>| (format!("things.{name}"), e.to_string());
            if !simulate {
                return Ok(builder.thing(name, T::from_config(config, env).map_err(failed)?));
            }
            match T::simulated(config, env) {
                Some(thing) => Ok(builder.simulated_thing(name, thing.map_err(failed)?)),
                None => Err((
                    format!("things.{name}.simulate"),
                    format!("type `{}` has no simulated mode", std::any::type_name::<T>()),
                )),
            }
        });
        self.makers.insert(type_name.to_owned(), maker);
        self
    }

    /// Let files name `T` as `type = "{type_name}"`, built with `Default`;
    /// a `config` for it is an error. Simulating it builds it as it is: a
    /// type that takes no configuration names no hardware (register a type
    /// that reaches hardware with [`register`](Self::register) and
    /// [`FromConfig::simulated`]).
    pub fn register_default<T: Thing + Default>(mut self, type_name: &str) -> Self {
        let maker: Maker = Box::new(|builder, env, config, _simulate| {
            let name = env.name.as_str();
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

    /// Let Things of type `T` fill slots of type `U` (a trait they
    /// implement), as [`ServerBuilder::provides`] does.
    pub fn provides<T: Thing, U: ?Sized + Send + Sync + 'static>(mut self, upcast: fn(Arc<T>) -> Arc<U>) -> Self {
        self.provides.push(labthings_core::Provides::new(upcast));
        self
    }

    /// Serve `thing`, built in code, as `name` in every server this
    /// catalog builds: beside the things a configuration file names
    /// ([`load`]), or alone ([`build`](Self::build)). A file naming a thing
    /// `name` too is refused when the server is built, as any name twice is.
    /// (`labthings::cli::serve` has an example.)
    pub fn thing<T: Thing>(mut self, name: &str, thing: T) -> Self {
        let thing = Arc::new(thing);
        let named = name.to_owned();
        self.fixed.push((
            name.to_owned(),
            Box::new(move |builder| builder.shared_thing(&named, thing.clone())),
        ));
        self
    }

    /// Hand the program's own `options` (its parsed command line, say) to
    /// every thing a configuration file names: [`ThingEnv::options`] gives
    /// them back, typed, in [`FromConfig::from_config`] and
    /// [`FromConfig::simulated`]. Given again, the newer options win.
    pub fn options<O: std::any::Any + Send + Sync>(mut self, options: O) -> Self {
        self.options = Some(Arc::new(options));
        self
    }

    /// A server of the things built in code ([`thing`](Self::thing)) alone,
    /// with `config`: what a program serves without a configuration file.
    pub fn build(&self, config: ServerConfig) -> Result<Server, crate::server::BuildError> {
        self.builder(config).build()
    }

    /// A builder with `config`, this catalog's trait implementations and
    /// its things built in code.
    fn builder(&self, config: ServerConfig) -> ServerBuilder {
        let builder = Server::builder().config(config).provides_all(&self.provides);
        self.fixed.iter().fold(builder, |builder, (_, add)| add(builder))
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

/// Build the server `path` describes with the thing types of `catalog`;
/// `adjust` changes the configuration read from the file before the server
/// is built (a command line's options win over the file: `--insecure`,
/// `--fallback`). Every error names the file and the key.
///
/// If `adjust` asks for the [`fallback`](ServerConfig::fallback)
/// (`--fallback`), a file that cannot be read or used, or a thing it names
/// that cannot be built, does not stop the program: the server returned
/// answers every request 503 with the error (a page for browsers), on the
/// address the command line gives (the file's `host` and `port` cannot be
/// trusted then). `fallback = true` in the file itself covers the things'
/// start hooks, once the file could be read.
pub fn load(
    path: &Path,
    catalog: &ThingCatalog,
    adjust: impl Fn(&mut ServerConfig),
) -> Result<ConfiguredServer, ConfigError> {
    let built = load_file(path, catalog, &adjust);
    let mut fallback = ServerConfig::default();
    adjust(&mut fallback);
    match built {
        Err(error) if fallback.fallback => {
            tracing::error!("{error}");
            let server = Server::failed(fallback, error.to_string()).map_err(|source| ConfigError::Build {
                path: path.to_owned(),
                source,
            })?;
            Ok(ConfiguredServer {
                server,
                host: None,
                port: None,
            })
        }
        built => built,
    }
}

fn load_file(
    path: &Path,
    catalog: &ThingCatalog,
    adjust: &dyn Fn(&mut ServerConfig),
) -> Result<ConfiguredServer, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let invalid = |key: String, message: String| ConfigError::Invalid {
        path: path.to_owned(),
        key,
        message,
    };
    let mut document: toml::Table = toml::from_str(&text).map_err(|e| invalid("(syntax)".to_owned(), e.to_string()))?;
    // Where to listen and what to serve belong to the file, not the server's
    // settings; everything else is a ServerConfig.
    let key = |key: &'static str| move |message: String| invalid(key.to_owned(), message);
    let host: Option<String> = take(&mut document, "host").map_err(key("host"))?;
    let port = take::<i64>(&mut document, "port")
        .map_err(key("port"))?
        .map(|port| {
            u16::try_from(port).map_err(|_| invalid("port".into(), format!("{port} is not a port (0 to 65535)")))
        })
        .transpose()?;
    let things: toml::Table = take(&mut document, "things")
        .map_err(key("things"))?
        .unwrap_or_default();
    for (table, feature, built_in, cannot) in [
        ("mqtt", "mqtt", cfg!(feature = "mqtt"), "connect to an MQTT broker"),
        ("mcp", "mcp", cfg!(feature = "mcp"), "serve AI agents over MCP"),
        (
            "records",
            "records",
            cfg!(feature = "records"),
            "record invocations on disk",
        ),
        (
            "discovery",
            "discovery",
            cfg!(feature = "discovery"),
            "advertise itself or register with a directory",
        ),
        (
            "remote_blobs",
            "remote-blobs",
            cfg!(feature = "remote-blobs"),
            "fetch blobs from other servers",
        ),
    ] {
        if !built_in && document.contains_key(table) {
            return Err(invalid(table.into(), crate::features::missing(feature, cannot)));
        }
    }
    let mut config: ServerConfig = serde_path_to_error::deserialize(toml::Value::Table(document)).map_err(|e| {
        let key = e.path().to_string();
        invalid(key, e.into_inner().message().to_owned())
    })?;
    adjust(&mut config);
    let simulate_all = config.simulate;
    let settings_dir = config.settings_dir.clone();
    let application_config = config.application_config.clone();
    let mut builder = catalog.builder(config);
    for (name, section) in things {
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
        let simulate = section.simulate || simulate_all;
        let data_folder = settings_dir.as_ref().map(|dir| dir.join(&name));
        if let Some(folder) = &data_folder {
            std::fs::create_dir_all(folder).map_err(|e| {
                invalid(
                    "settings_dir".to_owned(),
                    format!("cannot make the data folder {} of `{name}`: {e}", folder.display()),
                )
            })?;
        }
        let env = ThingEnv {
            name: name.clone(),
            data_folder,
            application_config: application_config.clone(),
            options: catalog.options.clone(),
        };
        builder = maker(builder, &env, thing_config, simulate).map_err(|(key, message)| invalid(key, message))?;
        for (slot, target) in &section.connect {
            builder = builder.connect(&name, slot, target);
        }
    }
    let server = builder.build().map_err(|source| ConfigError::Build {
        path: path.to_owned(),
        source,
    })?;
    Ok(ConfiguredServer { server, host, port })
}

/// Take `key` out of `document`, read as a `T` (`None` when absent), or
/// why it is not one.
fn take<T: serde::de::DeserializeOwned>(document: &mut toml::Table, key: &str) -> Result<Option<T>, String> {
    document
        .remove(key)
        .map(|value| T::deserialize(value).map_err(|e| e.message().to_owned()))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::{ConfigError, ThingCatalog, load};

    /// Load `text` as a configuration file with no thing types.
    fn loaded(text: &str) -> Result<(), ConfigError> {
        let folder = std::env::temp_dir().join(format!("labthings-config-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&folder).expect("a temporary folder");
        let path = folder.join("lab.toml");
        std::fs::write(&path, text).expect("the file is written");
        let result = load(&path, &ThingCatalog::new(), |_| ()).map(|_| ());
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
        let remote = loaded("[[remote_blobs]]\nurl = \"http://camera.lab:5000/\"\n");
        #[cfg(feature = "remote-blobs")]
        assert!(remote.is_ok(), "{remote:?}");
        #[cfg(not(feature = "remote-blobs"))]
        assert!(
            matches!(&remote, Err(ConfigError::Invalid { key, message, .. }) if key == "remote_blobs" && message.contains("`remote-blobs` feature")),
            "{remote:?}"
        );
        let users = loaded(
            "[[auth.users]]\nname = \"dashboard\"\nrole = \"observe\"\n\
             token_sha256 = \"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\"\n",
        );
        #[cfg(feature = "auth")]
        assert!(users.is_ok(), "{users:?}");
        #[cfg(not(feature = "auth"))]
        assert!(
            matches!(&users, Err(ConfigError::Invalid { key, message, .. }) if key == "auth.users[0]" && message.contains("`auth` feature")),
            "{users:?}"
        );
    }

    /// Where to listen and what to serve are read by key, and a value of
    /// the wrong type names the key and what was expected.
    #[test]
    fn listening_keys_of_the_wrong_type_are_named() {
        let cases = [
            ("host = 5\n", "host", "expected a string"),
            ("port = \"5000\"\n", "port", "expected i64"),
            ("port = 70000\n", "port", "70000 is not a port (0 to 65535)"),
            ("things = 3\n", "things", "expected a map"),
        ];
        for (text, wanted, words) in cases {
            let result = loaded(text);
            assert!(
                matches!(&result, Err(ConfigError::Invalid { key, message, .. }) if key == wanted && message.contains(words)),
                "{text}: {result:?}"
            );
        }
        assert!(loaded("host = \"127.0.0.1\"\nport = 0\n[things]\n").is_ok());
    }
}
