//! The static tables that `#[thing]` generates for a device type.
//!
//! One [`ThingDescriptor`] per type lists its properties and actions with
//! their names, documentation, schemas and the functions that call the device
//! code. Everything is decided at compile time; the server only looks a name
//! up once per request.

use std::sync::Arc;
use std::time::Duration;

use schemars::{Schema, SchemaGenerator};
use serde_json::Value;

use crate::data::DataCell;
use crate::event::EventSource;
use crate::lock::{LockPolicy, LockScope};
use crate::outcome::{Failure, PreparedCall};
use crate::slot::SlotDescriptor;
use crate::stream::MjpegStream;

/// A function that produces a JSON Schema.
pub type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

/// A generated setter: decode a JSON value and call the user's setter.
pub type WriteFn<T> = fn(&T, Value) -> Result<(), WriteError>;

/// A device type served by labthings. Implemented by `#[thing]`; do not
/// implement it by hand.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a Thing",
    label = "add `#[thing]` to an `impl {Self}` block",
    note = "a Thing is a type whose impl block is annotated with `#[labthings::thing]`"
)]
pub trait Thing: Send + Sync + Sized + 'static {
    /// The generated table of this type's affordances.
    fn descriptor() -> &'static ThingDescriptor<Self>;
}

/// The affordances of one Thing type.
#[derive(Debug)]
pub struct ThingDescriptor<T: 'static> {
    /// The Rust type's name.
    pub type_name: &'static str,
    /// Title for the TD (first line of the impl block's doc comment, or the type name).
    pub title: &'static str,
    /// Description for the TD (the impl block's whole doc comment).
    pub description: Option<&'static str>,
    /// Properties in declaration order.
    pub properties: &'static [PropertyDescriptor<T>],
    /// Actions in declaration order.
    pub actions: &'static [ActionDescriptor<T>],
    /// Other Things this one uses (`#[slot]`), filled when the server is built.
    pub slots: &'static [SlotDescriptor<T>],
    /// Live MJPEG streams (`#[stream]`).
    pub streams: &'static [StreamDescriptor<T>],
    /// Events (`#[event]`).
    pub events: &'static [EventDescriptor<T>],
    /// Called before the server accepts requests (`#[on_start]`).
    pub on_start: Option<LifecycleFn<T>>,
    /// Called on graceful shutdown, after invocations stopped (`#[on_stop]`).
    pub on_stop: Option<LifecycleFn<T>>,
}

/// A generated action entry point: decode a JSON input and bind it, with the
/// device object, to a call of the action's method.
pub type PrepareFn<T> = fn(Arc<T>, Value) -> Result<PreparedCall, serde_json::Error>;

/// A generated start or stop hook.
pub type LifecycleFn<T> = fn(&T) -> Result<(), Failure>;

/// A generated accessor of a data property's storage.
pub type DataFn<T> = fn(&T) -> &dyn DataCell;

/// How a property's new value failed to be written.
#[derive(Debug)]
pub enum WriteError {
    /// The value does not decode into the setter's type.
    Invalid(serde_json::Error),
    /// The setter returned an error or panicked.
    Failed(Failure),
}

/// One property: a getter and, if writable, a setter.
pub struct PropertyDescriptor<T: 'static> {
    /// The name used in URLs and the TD.
    pub name: &'static str,
    /// First line of the getter's doc comment.
    pub title: Option<&'static str>,
    /// The getter's whole doc comment.
    pub description: Option<&'static str>,
    /// JSON Schema of the value.
    pub schema: SchemaFn,
    /// Call the getter and serialize its value.
    pub read: fn(&T) -> Result<Value, Failure>,
    /// Decode a value and call the setter; `None` for a read-only property.
    pub write: Option<WriteFn<T>>,
    /// The storage of a data property (`fn x(&self) -> &DataProperty<T>`).
    pub data: Option<DataFn<T>>,
    /// Saved to disk on every change and restored at start (`#[property(setting)]`).
    pub setting: bool,
    /// The lock a write needs (`#[property(lock)]`): refused as busy while it is taken.
    pub write_lock: LockScope,
}

impl<T> std::fmt::Debug for PropertyDescriptor<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PropertyDescriptor")
            .field("name", &self.name)
            .field("writable", &self.write.is_some())
            .finish_non_exhaustive()
    }
}

/// One action: a method run as a tracked invocation on its own thread.
pub struct ActionDescriptor<T: 'static> {
    /// The name used in URLs and the TD.
    pub name: &'static str,
    /// First line of the method's doc comment.
    pub title: Option<&'static str>,
    /// The method's whole doc comment.
    pub description: Option<&'static str>,
    /// JSON Schema of the generated input struct.
    pub input_schema: SchemaFn,
    /// JSON Schema of the output.
    pub output_schema: SchemaFn,
    /// Decode the JSON input into the generated input struct and bind it,
    /// with the device object, to a call of the method.
    pub prepare: PrepareFn<T>,
    /// How long a finished invocation is kept (`None`: the server default).
    pub retention: Option<Duration>,
    /// The hardware lock the action takes, if any (`#[action(lock)]`).
    pub lock: LockPolicy,
}

impl<T> std::fmt::Debug for ActionDescriptor<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActionDescriptor")
            .field("name", &self.name)
            .field("retention", &self.retention)
            .finish_non_exhaustive()
    }
}

/// One `#[stream] fn name(&self) -> &MjpegStream`.
pub struct StreamDescriptor<T: 'static> {
    /// The name used in URLs and the TD.
    pub name: &'static str,
    /// First line of the accessor's doc comment.
    pub title: Option<&'static str>,
    /// The accessor's whole doc comment.
    pub description: Option<&'static str>,
    /// The stream of a Thing.
    pub get: fn(&T) -> &MjpegStream,
}

impl<T> std::fmt::Debug for StreamDescriptor<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamDescriptor")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// One `#[event] fn name(&self) -> &Event<T>`.
pub struct EventDescriptor<T: 'static> {
    /// The name used in URLs and the TD.
    pub name: &'static str,
    /// First line of the accessor's doc comment.
    pub title: Option<&'static str>,
    /// The accessor's whole doc comment.
    pub description: Option<&'static str>,
    /// JSON Schema of the payload.
    pub schema: SchemaFn,
    /// The event source of a Thing.
    pub get: fn(&T) -> &dyn EventSource,
}

impl<T> std::fmt::Debug for EventDescriptor<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventDescriptor")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}
