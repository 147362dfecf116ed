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
//! The pieces: `description` (the TD and its forms), `connection` (HTTP and
//! credentials), `thing` (the client), `invocation` (the handle), `error`.

mod connection;
mod description;
mod error;
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
