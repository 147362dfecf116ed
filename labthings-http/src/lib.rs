//! The HTTP server of [labthings](https://crates.io/crates/labthings): hyper 1
//! and tokio through axum's router. It turns the descriptor tables that
//! `#[thing]` generates into routes, runs actions on their own threads via the
//! core [`ActionManager`](labthings_core::ActionManager), and serves Thing
//! Descriptions. The paths, status codes and JSON shapes are those of
//! LabThings-FastAPI, so its clients work unchanged.
//!
//! ```
//! # use labthings_http::{Server, ServerConfig};
//! let server = Server::builder()
//!     .config(ServerConfig::default().with(|c| c.limits.body_limit = 4096))
//!     .build()
//!     .expect("no things, nothing to get wrong");
//! assert!(server.things().is_empty());
//! ```

#![forbid(unsafe_code)]

mod access;
pub mod auth;
mod binding;
mod body;
mod cache;
mod caller;
mod companions;
mod config;
pub mod config_file;
mod connections;
mod embedded;
mod error;
mod extra;
mod features;
mod front;
mod guard;
mod logging;
pub mod openapi;
mod parse_errors;
mod paths;
mod peer;
pub mod remote_blobs;
pub mod render;
mod routes;
mod server;
mod state;
pub mod td;
mod tls;

pub use auth::{AuthConfig, Credential, Role, User};
/// Re-exported for [`ServerBuilder::route`]: build extra routes with the
/// same axum the server uses.
pub use axum;
pub use config::{CorsConfig, Limits, Security, ServerConfig, TlsConfig};
pub use config_file::{ConfigError, ConfiguredServer, FromConfig, ThingCatalog, ThingEnv};
pub use embedded::Started;
pub use error::ApiError;
#[cfg(feature = "discovery")]
pub use labthings_discovery::DiscoveryConfig;
#[cfg(feature = "mcp")]
pub use labthings_mcp::McpConfig;
#[cfg(feature = "mqtt")]
pub use labthings_mqtt::MqttConfig;
pub use logging::{init_test_tracing, init_tracing};
pub use remote_blobs::RemoteBlobSource;
pub use server::{BuildError, Listening, RouteProblem, Server, ServerBuilder, StopNow, shutdown_signal};
