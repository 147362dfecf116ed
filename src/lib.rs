//! Put a lab instrument on the network by annotating its Rust code.
//!
//! Mark a device's struct and its `impl` block with [`#[thing]`](thing),
//! its stored values and getters with [`#[property]`](property) and its
//! long-running operations with [`#[action]`](action), and labthings gives
//! you typed input models and JSON Schema generated at compile time, a W3C
//! Web of Things Thing Description (TD 1.1), and an HTTP server where every
//! action call runs as a tracked invocation with a status, a log,
//! cancellation, an output and an expiry. It is a Rust re-creation of the
//! Python framework LabThings-FastAPI and speaks the same HTTP, so the
//! original's `ThingClient` works against it unchanged.
//!
//! # A first Thing
//!
//! ```
//! use labthings::prelude::*;
//! use labthings::testing::TestLab;
//!
//! /// A mock stage.
//! #[thing]
//! #[derive(Default)]
//! pub struct Stage {
//!     /// Where it is, in steps.
//!     #[property(read_only)]
//!     pub x: DataProperty<i64>,
//! }
//!
//! #[thing]
//! impl Stage {
//!     /// Move by `dx` steps; stops when cancelled.
//!     #[action]
//!     fn move_by(&self, #[param(minimum = -1000, maximum = 1000)] dx: i64) -> Result<i64, Cancelled> {
//!         for _ in 0..dx.unsigned_abs() {
//!             CancelHook::current().check()?;
//!             self.x.update(|x| *x += dx.signum());
//!         }
//!         Ok(self.x.get())
//!     }
//! }
//!
//! // In a program, `labthings::cli::serve` serves it over HTTP (see `cli`);
//! // here it is called as the server would call it.
//! let lab = TestLab::builder().thing("stage", Stage::default()).build().expect("a lab");
//! assert_eq!(lab.call("stage", "move_by", serde_json::json!({"dx": 5})).output, Some(serde_json::json!(5)));
//! ```
//!
//! # Where to go next
//!
//! - [`prelude`]: everything a device implementation needs; each attribute
//!   ([`thing`], [`property`], [`action`], [`endpoint`], [`slot`],
//!   [`stream`], [`event`], [`param`], [`model`], [`on_start`],
//!   [`on_stop`]) documents its options with an example.
//! - [`cli`]: the whole `main` of a server program (`cli::serve`), with the
//!   standard command line.
//! - [`testing`]: device code tested without a server.
//! - [`http`]: the server, its configuration ([`ServerConfig`]) and
//!   configuration files ([`http::config_file`]).
//! - `client` (feature `client`): the dynamic client and the typed clients
//!   `#[thing]` generates.
//! - The guide, an mdBook in the repository's `guide/` folder (`cargo xtask
//!   guide` builds it): a chapter per task, from a first Thing to running
//!   as a service, security, MQTT, clients, the configuration reference and
//!   migrating from LabThings-FastAPI. Its Rust examples are this crate's
//!   doc tests.
//!
//! # Cargo features
//!
//! | feature | default | brings |
//! | --- | --- | --- |
//! | `http` | on | the HTTP server and the servers' command line |
//! | `swagger-ui` | on | the interactive API docs page at `/docs/` |
//! | `tls` | on | HTTPS with rustls |
//! | `auth` | on | users, roles, tokens and passwords |
//! | `client` | off | the typed clients `#[thing]` generates, on `labthings-client` |
//! | `mqtt` | off | the W3C WoT MQTT binding |
//! | `discovery` | off | DNS-SD advertisement and directory registration |
//! | `remote-blobs` | off | action inputs linking to blobs of other servers the configuration trusts |
#![forbid(unsafe_code)]

/// The README's and the guide's Rust examples are tested as doc tests
/// (`guide/src/serial-instrument.md`'s by `labthings-sangaboard`, whose
/// crate they use). `tests/guide.rs` checks that every chapter with Rust
/// in it is listed here.
#[cfg(doctest)]
mod documentation {
    #[doc = include_str!("../README.md")]
    mod readme {}
    #[doc = include_str!("../guide/src/first-thing.md")]
    mod first_thing {}
    #[doc = include_str!("../guide/src/modelling.md")]
    mod modelling {}
    #[doc = include_str!("../guide/src/async.md")]
    mod asynchronous {}
    #[doc = include_str!("../guide/src/testing.md")]
    mod testing {}
    #[doc = include_str!("../guide/src/live-data.md")]
    mod live_data {}
    #[doc = include_str!("../guide/src/own-server.md")]
    mod own_server {}
    #[doc = include_str!("../guide/src/clients.md")]
    mod clients {}
    #[doc = include_str!("../guide/src/http-api.md")]
    mod http_api {}
    #[doc = include_str!("../guide/src/agents.md")]
    mod agents {}
    #[doc = include_str!("../guide/src/records.md")]
    mod records {}
}

pub use labthings_core as core;
/// What device code running for an invocation may ask for: its helper
/// threads (`context::spawn`), the state of every thing (`context::thing_states`).
pub use labthings_core::context;
#[cfg(feature = "http")]
pub use labthings_http as http;
/// The Thing Description as Rust types, shared by the server, its bindings
/// and the client.
pub use labthings_td as td;

/// Blobs whose media type is fixed by their type, and the media types.
pub use labthings_core::blob::{Jpeg, MediaType, Png, Tiff, TypedBlob};
/// What an `#[endpoint]` method answers: bytes with their media type, or a
/// typed value as JSON (a `Json` parameter is the request's body).
pub use labthings_core::endpoint::{Json, Raw};
pub use labthings_core::{
    ActionManager, ApprovalPolicy, ApprovalRule, BadRequest, Blob, Busy, CancelHook, Cancelled, DataProperty, Event,
    Invocation, InvocationHandle, InvocationStatus, MjpegStream, NoIntermediate, OptionalSlot, Progress, Thing,
    ThingDescriptor, ThingInstance, ThingSlot, ThingSlots, ThingStruct,
};
#[cfg(feature = "http")]
pub use labthings_http::{
    AuthConfig, CorsConfig, Credential, FromConfig, Limits, RemoteBlobSource, Role, Security, Server, ServerBuilder,
    ServerConfig, ThingCatalog, ThingEnv, TlsConfig, User, init_test_tracing, init_tracing,
};
pub use labthings_macros::{action, endpoint, event, model, on_start, on_stop, param, property, slot, stream, thing};
/// Re-exported so a device crate needs no `schemars` dependency of its own
/// (`#[model]` derives `JsonSchema` through it).
pub use schemars;
/// Re-exported so a device crate needs no `serde` dependency of its own
/// (`#[model]` derives `Serialize` and `Deserialize` through it).
pub use serde;
/// Re-exported for device code that builds JSON values (`serde_json::json!`).
pub use serde_json;
/// Re-exported so device code can log (`tracing::info!`) without its own
/// `tracing` dependency; the prelude brings it into scope.
pub use tracing;

#[cfg(feature = "http")]
pub mod cli;
/// Clients: the dynamic [`ThingClient`](client::ThingClient) for any Thing
/// Description, and the runtime of the typed clients `#[thing]` generates
/// (`StageClient` for a Thing `Stage`) with the `client` feature.
#[cfg(feature = "client")]
pub mod client {
    pub use labthings_client::*;
}
#[cfg(feature = "http")]
pub mod testing;
#[cfg(feature = "client")]
mod typed_client;

/// Everything a device implementation needs: `use labthings::prelude::*;`.
pub mod prelude {
    pub use crate::{
        BadRequest, Blob, Busy, CancelHook, Cancelled, DataProperty, Event, InvocationHandle, Jpeg, Json, MjpegStream,
        OptionalSlot, Png, Progress, Raw, Thing, ThingSlot, ThingSlots, Tiff, TypedBlob, action, endpoint, event,
        model, on_start, on_stop, param, property, slot, stream, thing, tracing,
    };
    #[cfg(feature = "http")]
    pub use crate::{FromConfig, Server, ServerConfig, ThingCatalog, ThingEnv};
    pub use std::time::Duration;
}

/// What the code generated by `#[thing]` refers to. Not public API: it may
/// change in any release. Its name carries the version of the macros that
/// use it (the macro crate is pinned with `=`), so mismatched macros and
/// runtime fail with "could not find `__private_0_1_0`" rather than with a
/// confusing type error.
#[doc(hidden)]
pub mod __private_0_1_0 {
    /// Keeps the typed client `#[thing]` generates, or drops it without
    /// the `client` feature.
    pub use crate::__labthings_client_code as client_code;
    #[cfg(feature = "client")]
    pub use crate::typed_client::{CallInput, ClientOutput, call, check_remote, observe, read, start, subscribe};
    #[cfg(feature = "client")]
    pub use labthings_client::{BoxStream, ClientError, Connection, Invocation, RemoteBlob, ThingClient};
    pub use labthings_core::asynchronous::block_on;
    pub use labthings_core::data::{DataCell, DataProperty};
    pub use labthings_core::descriptor::{
        ActionDescriptor, EndpointDescriptor, EventDescriptor, PropertyDescriptor, StreamDescriptor, StructDescriptor,
        Thing, ThingDescriptor, ThingStruct, WriteError,
    };
    pub use labthings_core::endpoint::{EndpointOutput, Json};
    pub use labthings_core::event::EventSource;
    pub use labthings_core::invocation::InvocationHandle;
    pub use labthings_core::lock::{LockPolicy, LockScope, WhenBusy};
    pub use labthings_core::log::LogLevel;
    pub use labthings_core::outcome::{
        ClientValue, PreparedCall, on_set_result, prepare_async_call, prepare_call, result_to_output, result_to_unit,
        schema_of, to_output,
    };
    pub use labthings_core::slot::{Slot, SlotDescriptor};
    pub use schemars;
    pub use serde;
    pub use serde_json;
}

/// The typed client's code, kept: the `client` feature is on.
#[cfg(feature = "client")]
#[doc(hidden)]
#[macro_export]
macro_rules! __labthings_client_code {
    ($($code:tt)*) => { $($code)* };
}

/// The typed client's code, dropped: the `client` feature is off.
#[cfg(not(feature = "client"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __labthings_client_code {
    ($($code:tt)*) => {};
}

#[cfg(test)]
mod tests {
    /// The hidden module is named for this crate's version, which the
    /// macros (same workspace version) look for.
    #[test]
    fn the_hidden_module_is_named_for_this_version() {
        let expected = format!("__private_{}", env!("CARGO_PKG_VERSION").replace('.', "_"));
        assert_eq!(stringify!(__private_0_1_0), expected, "rename the module in src/lib.rs");
    }
}
