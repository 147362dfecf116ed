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

pub mod asynchronous;
pub mod blob;
pub mod cancel;
pub mod companion;
pub mod context;
pub mod data;
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
pub mod log_limit;
pub mod manager;
pub mod outcome;
mod poll;
pub mod pool;
pub mod progress;
pub mod registry;
pub mod seconds;
pub mod service;
pub mod settings;
pub mod slot;
pub mod stream;
mod updates;
pub mod validation;

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
