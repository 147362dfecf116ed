//! The static tables that `#[thing]` generates for a device type.
//!
//! `#[thing]` on the struct generates a [`StructDescriptor`] (the Thing's
//! title and the affordances declared on its fields: data properties, slots,
//! streams, events); `#[thing]` on its impl block generates the
//! [`ThingDescriptor`], which adds the affordances declared on methods
//! (computed properties, actions, start and stop hooks). Everything is
//! decided at compile time; the server only looks a name up once per request.

use std::sync::Arc;
use std::time::Duration;

use schemars::{Schema, SchemaGenerator};
use serde_json::Value;

use crate::data::DataCell;
use crate::endpoint::Raw;
use crate::event::EventSource;
use crate::failure::Failure;
use crate::lock::{LockPolicy, LockScope};
use crate::outcome::PreparedCall;
use crate::slot::SlotDescriptor;
use crate::stream::MjpegStream;

/// A function that produces a JSON Schema.
pub type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

/// A generated setter: decode a JSON value and call the user's setter.
pub type WriteFn<T> = fn(&T, Value) -> Result<(), WriteError>;

/// A device type served by labthings. Implemented by `#[thing]` on the
/// type's impl block; do not implement it by hand.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a Thing",
    label = "add `#[thing]` to an `impl {Self}` block",
    note = "a Thing is a struct marked `#[labthings::thing]` with an impl block marked `#[labthings::thing]`"
)]
pub trait Thing: ThingStruct + Send + Sync + Sized + 'static {
    /// The generated table of this type's affordances.
    fn descriptor() -> &'static ThingDescriptor<Self>;
}

/// The part of a Thing declared on its struct. Implemented by `#[thing]` on
/// the struct; do not implement it by hand.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a `#[thing]` struct",
    label = "add `#[thing]` above `struct {Self}`",
    note = "a Thing's title and its field affordances (data properties, slots, streams, events) come from its struct, marked `#[labthings::thing]`"
)]
pub trait ThingStruct: Sized + 'static {
    /// The generated table of the struct's title and field affordances.
    const STRUCT: &'static StructDescriptor<Self>;
}

/// What a Thing's struct declares: its name, its TD title and description
/// (from the struct's doc comment) and the affordances on its fields.
#[derive(Debug)]
pub struct StructDescriptor<T: 'static> {
    /// The Rust type's name.
    pub type_name: &'static str,
    /// Title for the TD (first paragraph of the struct's doc comment, or the type name).
    pub title: &'static str,
    /// Description for the TD (the struct's whole doc comment).
    pub description: Option<&'static str>,
    /// Data properties (`#[property]` fields) in declaration order.
    pub properties: &'static [PropertyDescriptor<T>],
    /// Other Things this one uses (`#[slot]` fields), filled when the server is built.
    pub slots: &'static [SlotDescriptor<T>],
    /// Live MJPEG streams (`#[stream]` fields).
    pub streams: &'static [StreamDescriptor<T>],
    /// Events (`#[event]` fields).
    pub events: &'static [EventDescriptor<T>],
}

impl<T> StructDescriptor<T> {
    /// Whether a field affordance (property, stream or event) is called
    /// `name`. A `const fn`, so the code `#[thing]` generates for the impl
    /// block refuses, at compile time, a method affordance that reuses a
    /// field affordance's name.
    pub const fn has_affordance(&self, name: &str) -> bool {
        let mut i = 0;
        while i < self.properties.len() {
            if str_eq(self.properties[i].name, name) {
                return true;
            }
            i += 1;
        }
        let mut i = 0;
        while i < self.streams.len() {
            if str_eq(self.streams[i].name, name) {
                return true;
            }
            i += 1;
        }
        let mut i = 0;
        while i < self.events.len() {
            if str_eq(self.events[i].name, name) {
                return true;
            }
            i += 1;
        }
        false
    }
}

/// `a == b` in a `const fn`.
const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The affordances of one Thing type: those of its struct, then those of
/// its impl block.
#[derive(Debug)]
pub struct ThingDescriptor<T: 'static> {
    /// What the struct declares (`#[thing]` on the struct).
    pub fields: &'static StructDescriptor<T>,
    /// Computed properties (`#[property]` getters) in declaration order.
    pub properties: &'static [PropertyDescriptor<T>],
    /// Actions in declaration order.
    pub actions: &'static [ActionDescriptor<T>],
    /// Extra resources (`#[endpoint]` methods) in declaration order.
    pub endpoints: &'static [EndpointDescriptor<T>],
    /// Called before the server accepts requests (`#[on_start]`).
    pub on_start: Option<LifecycleFn<T>>,
    /// Called on graceful shutdown, after invocations stopped (`#[on_stop]`).
    pub on_stop: Option<LifecycleFn<T>>,
}

impl<T> ThingDescriptor<T> {
    /// Every property: the struct's data properties, then the getters.
    /// Property number `i` of a served Thing is the `i`-th of these.
    pub fn properties(&self) -> impl Iterator<Item = &PropertyDescriptor<T>> {
        self.fields.properties.iter().chain(self.properties)
    }

    /// Property number `index` in the order of [`properties`](Self::properties).
    pub fn property(&self, index: usize) -> Option<&PropertyDescriptor<T>> {
        match index.checked_sub(self.fields.properties.len()) {
            None => self.fields.properties.get(index),
            Some(method) => self.properties.get(method),
        }
    }
}

/// A generated action entry point: decode a JSON input and bind it, with the
/// device object, to a call of the action's method.
pub type PrepareFn<T> = fn(Arc<T>, Value) -> Result<PreparedCall, serde_json::Error>;

/// A generated start or stop hook.
pub type LifecycleFn<T> = fn(&T) -> Result<(), Failure>;

/// A generated accessor of a data property's storage.
pub type DataFn<T> = fn(&T) -> &dyn DataCell;

/// How a property's new value failed to be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The value does not decode into the setter's type.
    #[error("the value does not fit the setter's type: {0}")]
    Invalid(#[source] serde_json::Error),
    /// The setter returned an error or panicked.
    #[error("the setter failed: {0}")]
    Failed(Failure),
}

/// One property: a getter and, if writable, a setter.
pub struct PropertyDescriptor<T: 'static> {
    /// The affordance name (in the TD and every binding).
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
    /// The storage of a data property (a `#[property] x: DataProperty<T>` field).
    pub data: Option<DataFn<T>>,
    /// Saved to disk on every change and restored at start (`#[property(setting)]`).
    pub setting: bool,
    /// The lock a write needs (`#[property(lock)]`): refused as busy while it is taken.
    pub write_lock: LockScope,
    /// A getter read this often, in milliseconds, while anyone observes the
    /// server, and announced when its value changes (`#[property(poll_ms = N)]`).
    pub poll_ms: Option<u64>,
    /// Part of the Thing's state, the metadata stored with measurements
    /// (`#[property(state)]`).
    pub state: bool,
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
    /// The affordance name (in the TD and every binding).
    pub name: &'static str,
    /// First line of the method's doc comment.
    pub title: Option<&'static str>,
    /// The method's whole doc comment.
    pub description: Option<&'static str>,
    /// JSON Schema of the generated input struct.
    pub input_schema: SchemaFn,
    /// JSON Schema of the output.
    pub output_schema: SchemaFn,
    /// JSON Schema of its intermediate results, for an action that reports
    /// them (an `InvocationHandle<T>` parameter).
    pub intermediate_schema: Option<SchemaFn>,
    /// Decode the JSON input into the generated input struct and bind it,
    /// with the device object, to a call of the method.
    pub prepare: PrepareFn<T>,
    /// How long a finished invocation is kept (`None`: the server default).
    pub retention: Option<Duration>,
    /// The least severe records its invocations' logs keep
    /// (`#[action(log_level = "debug")]`; `None`: the server default).
    pub log_level: Option<crate::log::LogLevel>,
    /// The hardware lock the action takes, if any (`#[action(lock)]`).
    pub lock: LockPolicy,
    /// Whether calls by agents wait for an operator's approval
    /// (`#[action(approval)]`).
    pub approval: bool,
}

impl<T> std::fmt::Debug for ActionDescriptor<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActionDescriptor")
            .field("name", &self.name)
            .field("retention", &self.retention)
            .finish_non_exhaustive()
    }
}

/// A function that produces a JSON Schema when there is one to produce:
/// an endpoint's answer has one when it is a typed `Json<T>`.
pub type OptionalSchemaFn = fn(&mut SchemaGenerator) -> Option<Schema>;

/// A generated endpoint entry point: decode the parameters and the body
/// (`null` when there is none) from JSON (`Err` if they do not fit the
/// method's parameter types) and call the method with them.
pub type EndpointFn<T> = fn(&T, Value, Value) -> Result<Result<Raw, Failure>, serde_json::Error>;

/// One `#[endpoint]` method: an extra resource of the Thing that answers
/// with bytes and their media type (a raw download, a small HTML page).
pub struct EndpointDescriptor<T: 'static> {
    /// The name (the last segment of its URL).
    pub name: &'static str,
    /// First line of the method's doc comment.
    pub title: Option<&'static str>,
    /// The method's whole doc comment.
    pub description: Option<&'static str>,
    /// How a binding with request methods serves it: `get` (the default),
    /// `post`, `put` or `delete`, as the declaration names it. The core
    /// does not interpret it.
    pub method: &'static str,
    /// JSON Schema of the parameters: an object with one property each.
    pub params_schema: SchemaFn,
    /// JSON Schema of the request's body, when the method takes a `Json<T>`
    /// parameter.
    pub body_schema: Option<SchemaFn>,
    /// JSON Schema of the answer, when the method returns a `Json<T>`.
    pub output_schema: OptionalSchemaFn,
    /// Decode the parameters and the body and call the method.
    pub call: EndpointFn<T>,
}

impl<T> std::fmt::Debug for EndpointDescriptor<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointDescriptor")
            .field("name", &self.name)
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}

/// One `#[stream] name: MjpegStream` field.
pub struct StreamDescriptor<T: 'static> {
    /// The affordance name (in the TD and every binding).
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

/// One `#[event] name: Event<T>` field.
pub struct EventDescriptor<T: 'static> {
    /// The affordance name (in the TD and every binding).
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
