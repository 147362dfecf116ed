//! Drive a W3C Web of Things Thing from Rust over HTTP.
//!
//! [`ThingClient`] reads any Thing Description (TD 1.1: ours, the original
//! LabThings-FastAPI's, other WoT servers' HTTP forms) and offers
//! [`read_property`](ThingClient::read_property),
//! [`write_property`](ThingClient::write_property),
//! [`invoke_action`](ThingClient::invoke_action) (an [`Invocation`]
//! handle: status, log, cancel, `.await` for the output),
//! [`call_action`](ThingClient::call_action),
//! [`observe_property`](ThingClient::observe_property) and
//! [`subscribe_event`](ThingClient::subscribe_event), with
//! `serde_json::Value` or any type that deserializes. Every failure is one
//! [`ClientError`] to match on.
//!
//! It is also the runtime of the typed clients `#[thing]` generates with
//! the `labthings` crate's `client` feature (`StageClient` for a Thing
//! `Stage`), and of the `labthings` command line.
//!
//! ```
//! use labthings_client::{ClientError, ThingClient};
//! # use labthings::prelude::*;
//! # /// A counter.
//! # #[thing]
//! # #[derive(Default)]
//! # pub struct Counter {
//! #     /// The count.
//! #     #[property]
//! #     pub count: DataProperty<u32>,
//! # }
//! # #[thing]
//! # impl Counter {
//! #     /// Add `by`.
//! #     #[action]
//! #     fn add(&self, by: u32) -> u32 {
//! #         self.count.update(|c| *c += by);
//! #         self.count.get()
//! #     }
//! # }
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let config = labthings::ServerConfig::default().with(|c| c.settings_dir = None);
//! # let server = labthings::Server::builder().config(config).thing("counter", Counter::default()).build()?;
//! # let listening = server.bind("127.0.0.1:0").await?;
//! # let url = listening.url();
//! # tokio::spawn(listening.serve_until(std::future::pending()));
//! // `url` is a labthings (or LabThings-FastAPI) server's, e.g. http://127.0.0.1:5000
//! let counter = ThingClient::from_url(&format!("{url}/counter/")).await?;
//! counter.write_property("count", &5).await?;
//! let count: u32 = counter.read_property("count").await?;
//! assert_eq!(count, 5);
//! let after: u32 = counter.call_action("add", &serde_json::json!({"by": 2})).await?;
//! assert_eq!(after, 7);
//! // A mistake is a `ClientError` naming it.
//! let refused = counter.call_action::<u32, _>("add", &serde_json::json!({"by": "two"})).await;
//! assert!(matches!(refused, Err(ClientError::Validation(_))));
//! # Ok(())
//! # }
//! ```
//!
//! The pieces: `description` (the TD and its forms), `connection` (HTTP and
//! credentials), `thing` (the client), `invocation` (the handle), `error`.

mod connection;
mod description;
mod error;
mod events;
mod invocation;
mod thing;

pub use connection::{Connection, Limits};
pub use description::{Affordance, Form, ThingDescription};
pub use error::{ClientError, InputProblem, Problem, Result};
pub use invocation::{Invocation, InvocationState, LogRecord, Progress, Status};
pub use labthings_td::Operation;
pub use thing::{RemoteBlob, ThingClient};

/// The HTTP methods of [`Connection::request`], and bytes.
pub use bytes::Bytes;
pub use hyper::Method;

/// Streams of observed values and events.
pub use futures_util::stream::{BoxStream, StreamExt};
