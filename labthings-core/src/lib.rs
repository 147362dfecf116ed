//! The transport-free core of [labthings](https://crates.io/crates/labthings):
//! the descriptor tables that `#[thing]` generates, the served set of things
//! ([`Lab`]), invocations (threads, cancel hooks, logs, status), the
//! [`ActionManager`], locks, settings, observation and blobs. Nothing here
//! knows about a transport: URLs, status codes, Thing Description forms and
//! the JSON the HTTP contract shows are the HTTP binding's (`labthings-http`).
//!
//! Most users depend on the `labthings` facade instead of this crate.
//!
//! ```
//! use labthings_core::{CancelHook, Cancelled};
//! use std::time::Duration;
//!
//! // What an action does with the hook it is given:
//! fn slow(cancel: &CancelHook) -> Result<u32, Cancelled> {
//!     for _ in 0..3 {
//!         cancel.sleep(Duration::from_millis(1))?;
//!     }
//!     Ok(3)
//! }
//! assert_eq!(slow(&CancelHook::new()), Ok(3));
//! ```

#![forbid(unsafe_code)]

// The modules marked `#[doc(hidden)]` below are public only because the
// code `#[thing]` generates, or another crate of this workspace, names
// them; they may change in any release. What a user needs of them is
// re-exported at the crate's root.

pub mod approval;
pub mod asynchronous;
pub mod blob;
pub mod cancel;
pub mod companion;
pub mod context;
pub mod data;
// Not public API: the tables `#[thing]` generates; their public types are re-exported at the root.
#[doc(hidden)]
pub mod descriptor;
pub mod device;
pub mod endpoint;
pub mod event;
pub mod failure;
pub mod hub;
pub mod invocation;
pub mod lab;
pub mod lock;
pub mod log;
// Not public API: rate-limited warnings, shared with the binding crates.
#[doc(hidden)]
pub mod log_limit;
pub mod manager;
// Not public API: what the code `#[thing]` generates calls to run device code.
#[doc(hidden)]
pub mod outcome;
mod poll;
// Not public API: the invocation thread pool, shared with the binding crates.
#[doc(hidden)]
pub mod pool;
pub mod progress;
pub mod record;
pub mod registry;
// Not public API: durations as seconds in configuration files, shared with the binding crates.
#[doc(hidden)]
pub mod seconds;
pub mod secret;
pub mod service;
pub mod settings;
pub mod slot;
pub mod stream;
pub mod thing_states;
mod updates;
pub mod validation;

pub use approval::{Approval, ApprovalPolicy, ApprovalRule, ApprovalState, Caller};
pub use blob::Blob;
pub use cancel::{CancelHook, Cancelled};
pub use data::DataProperty;
pub use descriptor::{
    ActionDescriptor, EndpointDescriptor, PropertyDescriptor, SchemaFn, StructDescriptor, Thing, ThingDescriptor,
    ThingStruct, WriteError,
};
pub use endpoint::{EndpointError, EndpointOutput, Json, Raw};
pub use event::Event;
pub use failure::{BadRequest, Busy, Failure};
pub use invocation::{Invocation, InvocationHandle, InvocationStatus, NoIntermediate, Snapshot};
pub use lab::{Lab, LabError, Refusal};
pub use lock::{LockPolicy, LockScope, WhenBusy};
pub use log::{InvocationLogLayer, LogLevel, LogRecord};
pub use manager::{ActionManager, CancelError, InvokeError, ManagerConfig};
pub use outcome::{Body, PreparedCall};
pub use progress::Progress;
pub use registry::{
    ActionCall, ActionInfo, EndpointInfo, EventInfo, PrepareError, PropertyInfo, PropertyWriteError, STANDARD_FORMATS,
    SlotInfo, StreamInfo, ThingInstance,
};
pub use service::PropertyError;
pub use slot::{OptionalSlot, Provides, ThingSlot, ThingSlots};
pub use stream::{Frame, FrameError, MjpegStream};
pub use validation::{InputProblem, LocSegment, Validator};
