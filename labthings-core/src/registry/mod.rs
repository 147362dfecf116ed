//! A served Thing: one device object with its affordances' schemas compiled,
//! behind a type-erased interface that protocol bindings use.
//!
//! The pieces, one file each: the affordance infos (`info.rs`), the
//! type-erased calls into the device object (`erased.rs`), property I/O
//! (`properties.rs`), settings persistence (`persist.rs`), action inputs and
//! runs (`actions.rs`), and publishing changes to the hub (`observe.rs`).

mod actions;
mod endpoints;
mod erased;
pub(crate) use erased::guarded;
mod info;
mod observe;
mod persist;
mod properties;

pub use actions::{ActionCall, PrepareError};
pub use info::{
    ActionInfo, EndpointInfo, EventInfo, PropertyInfo, STANDARD_FORMATS, SlotInfo, StreamInfo, optional_schema_value,
    schema_value,
};
pub use properties::PropertyWriteError;

use std::any::TypeId;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::Value;

use crate::descriptor::Thing;
use crate::failure::Failure;
use crate::lock::{HardwareLock, LockScope};
use crate::settings::SettingsFile;
use crate::slot::{Provides, Target};
use crate::stream::MjpegStream;
use crate::validation::{SchemaError, Validator};

use erased::{Ops, ThingOps};
use info::Preparer;

/// One device object served under a name, with compiled schemas.
pub struct ThingInstance {
    name: String,
    type_name: &'static str,
    title: &'static str,
    description: Option<&'static str>,
    type_id: TypeId,
    properties: Vec<PropertyInfo>,
    actions: Vec<ActionInfo>,
    endpoints: Vec<EndpointInfo>,
    slots: Vec<SlotInfo>,
    streams: Vec<StreamInfo>,
    events: Vec<EventInfo>,
    ops: Arc<dyn ThingOps>,
    /// The other types it fills slots of (trait objects), from the
    /// server builder's `provides`.
    provides: Vec<Provides>,
    /// The names of the things its slots were connected to.
    slot_targets: parking_lot::Mutex<Vec<String>>,
    /// Whether it is a simulated stand-in for an instrument.
    simulated: bool,
    lock: Arc<HardwareLock>,
    server_lock: Arc<HardwareLock>,
    settings: OnceLock<SettingsFile>,
    /// Problems found with the settings file when it was loaded.
    settings_warnings: parking_lot::Mutex<Vec<String>>,
}

impl std::fmt::Debug for ThingInstance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThingInstance")
            .field("name", &self.name)
            .field("type", &self.type_name)
            .field("properties", &self.properties)
            .field("actions", &self.actions)
            .finish_non_exhaustive()
    }
}

impl ThingInstance {
    /// Serve `thing` under `name`, compiling its schemas.
    /// Its locked actions share `server_lock` with every other Thing of the
    /// server for `LockScope::Server`.
    pub fn new<T: Thing>(
        name: impl Into<String>,
        thing: Arc<T>,
        server_lock: Arc<HardwareLock>,
    ) -> Result<Self, SchemaError> {
        let descriptor = T::descriptor();
        let properties = descriptor
            .properties()
            .map(|p| {
                let mut schema = schema_value(p.schema);
                let default = p.data.and_then(|data| data(&thing).default_json().ok());
                if let (Some(default), Some(obj)) = (&default, schema.as_object_mut()) {
                    obj.insert("default".into(), default.clone());
                }
                if let Some(data) = p.data {
                    // What `DataProperty::try_set` holds device code's values to.
                    let validator = Validator::new(&schema)?;
                    data(&thing).attach_check(Arc::new(move |value| {
                        let problems = validator.problems(value, &[]);
                        if problems.is_empty() {
                            return Ok(());
                        }
                        let rules: Vec<String> = problems.iter().map(|p| p.msg.clone()).collect();
                        Err(rules.join("; "))
                    }));
                }
                Ok(PropertyInfo {
                    name: p.name,
                    title: p.title,
                    description: p.description,
                    validator: Validator::new(&schema)?,
                    schema,
                    writable: p.write.is_some(),
                    data: p.data.is_some(),
                    default,
                    setting: p.setting,
                    write_lock: p.write_lock,
                    poll: p.poll_ms.map(Duration::from_millis),
                    state: p.state,
                })
            })
            .collect::<Result<_, SchemaError>>()?;
        let actions = descriptor
            .actions
            .iter()
            .map(|a| {
                let input_schema = schema_value(a.input_schema);
                let has_input = input_schema
                    .get("properties")
                    .and_then(Value::as_object)
                    .is_some_and(|p| !p.is_empty());
                Ok(ActionInfo {
                    name: a.name,
                    title: a.title,
                    description: a.description,
                    validator: Validator::new(&input_schema)?,
                    input_schema,
                    output_schema: schema_value(a.output_schema),
                    intermediate_schema: a.intermediate_schema.map(schema_value),
                    has_input,
                    retention: a.retention,
                    log_level: a.log_level,
                    lock: a.lock,
                    approval: a.approval,
                    prepare: {
                        let (thing, prepare) = (thing.clone(), a.prepare);
                        Preparer(Box::new(move |value| prepare(thing.clone(), value)))
                    },
                })
            })
            .collect::<Result<_, SchemaError>>()?;
        let endpoints = descriptor
            .endpoints
            .iter()
            .map(|e| {
                let params_schema = schema_value(e.params_schema);
                let body_schema = e.body_schema.map(schema_value);
                let output_schema = optional_schema_value(e.output_schema);
                Ok(EndpointInfo {
                    name: e.name,
                    title: e.title,
                    description: e.description,
                    method: e.method,
                    validator: Validator::new(&params_schema)?,
                    body_validator: body_schema.as_ref().map(Validator::new).transpose()?,
                    params_schema,
                    body_schema,
                    output_schema,
                })
            })
            .collect::<Result<_, SchemaError>>()?;
        let slots = descriptor
            .fields
            .slots
            .iter()
            .map(|s| SlotInfo {
                name: s.name,
                target_type: s.target_type,
                target_id: (s.target_id)(),
                kind: s.kind,
                default: s.default,
            })
            .collect();
        let streams = descriptor
            .fields
            .streams
            .iter()
            .map(|s| StreamInfo {
                name: s.name,
                title: s.title,
                description: s.description,
            })
            .collect();
        let events = descriptor
            .fields
            .events
            .iter()
            .map(|e| EventInfo {
                name: e.name,
                title: e.title,
                description: e.description,
                schema: schema_value(e.schema),
            })
            .collect();
        Ok(Self {
            name: name.into(),
            type_name: descriptor.fields.type_name,
            title: descriptor.fields.title,
            description: descriptor.fields.description,
            type_id: TypeId::of::<T>(),
            properties,
            actions,
            endpoints,
            slots,
            streams,
            events,
            ops: Arc::new(Ops(thing)),
            provides: Vec::new(),
            slot_targets: parking_lot::Mutex::new(Vec::new()),
            simulated: false,
            lock: Arc::new(HardwareLock::default()),
            server_lock,
            settings: OnceLock::new(),
            settings_warnings: parking_lot::Mutex::new(Vec::new()),
        })
    }

    /// The `TypeId` of the device type.
    pub fn type_id(&self) -> TypeId {
        self.type_id
    }

    /// The Thing's live streams.
    pub fn streams(&self) -> &[StreamInfo] {
        &self.streams
    }

    /// The Thing's events.
    pub fn events(&self) -> &[EventInfo] {
        &self.events
    }

    /// Stream number `index`.
    pub fn stream(&self, index: usize) -> Option<&MjpegStream> {
        self.ops.stream(index)
    }

    /// The Thing's `#[slot]`s.
    pub fn slots(&self) -> &[SlotInfo] {
        &self.slots
    }

    /// Let this Thing fill slots of the other types `provides` names for
    /// its type (`Provides::target`); declarations about other types are
    /// passed over.
    pub fn add_provides(&mut self, provides: &[Provides]) {
        for declared in provides.iter().filter(|p| p.thing == self.type_id) {
            if !self.provides.iter().any(|p| p.target == declared.target) {
                self.provides.push(declared.clone());
            }
        }
    }

    /// Mark it a simulated stand-in for an instrument (no hardware).
    pub fn set_simulated(&mut self) {
        self.simulated = true;
    }

    /// Whether it is a simulated stand-in for an instrument.
    pub fn simulated(&self) -> bool {
        self.simulated
    }

    /// Whether this Thing can fill a slot of the type `target`: its own, or
    /// one it provides.
    pub fn fills(&self, target: TypeId) -> bool {
        self.type_id == target || self.provides.iter().any(|p| p.target == target)
    }

    /// This Thing as a boxed `Arc<U>`, for the `TypeId` of `U`.
    fn view(&self, target: TypeId) -> Option<Box<dyn std::any::Any + Send + Sync>> {
        if target == self.type_id {
            return Some(self.ops.boxed());
        }
        let provides = self.provides.iter().find(|p| p.target == target)?;
        provides.view(self.ops.shared())
    }

    /// Connect slot number `index` to `target`; `false` if `target` cannot
    /// fill it or it was already connected.
    pub fn connect_slot(&self, index: usize, target: &ThingInstance) -> bool {
        let view = |id: TypeId| target.view(id);
        let connected = self.ops.connect_slot(index, &Target::new(target.name(), &view));
        if connected {
            self.slot_targets.lock().push(target.name().to_owned());
        }
        connected
    }

    /// The names of the things its slots hold.
    pub fn slot_targets(&self) -> Vec<String> {
        self.slot_targets.lock().clone()
    }

    /// Run the `#[on_start]` hook, if any (panics become failures).
    pub fn start(&self) -> Result<(), Failure> {
        guarded(|| self.ops.start())
    }

    /// Run the `#[on_stop]` hook, if any (panics become failures).
    pub fn stop(&self) -> Result<(), Failure> {
        guarded(|| self.ops.stop())
    }

    /// The server-wide hardware lock this Thing shares with the others.
    pub fn server_lock(&self) -> &Arc<HardwareLock> {
        &self.server_lock
    }

    /// The lock for `scope` (`None` for `LockScope::None`).
    pub fn lock_for(&self, scope: LockScope) -> Option<&Arc<HardwareLock>> {
        match scope {
            LockScope::None => None,
            LockScope::Thing => Some(&self.lock),
            LockScope::Server => Some(&self.server_lock),
        }
    }

    /// This Thing's state: the metadata to store with a measurement (the
    /// original's `thing_state`). An object of its `#[property(state)]`
    /// values, read now (a getter runs its device code); a Thing that
    /// marks none gives its data properties, which are stored values and
    /// touch no hardware. A property that cannot be read is left out.
    /// Written to `out` as JSON text, each value straight from the property
    /// ([`read_property_json`](Self::read_property_json)).
    pub fn write_state_json(&self, out: &mut Vec<u8>) {
        let marked = self.properties.iter().any(|p| p.state);
        let mut object = JsonObject::open(out);
        for (index, property) in self.properties.iter().enumerate() {
            if !(if marked { property.state } else { property.data }) {
                continue;
            }
            let Ok(value) = self.read_property_json(index) else {
                continue;
            };
            object.key(property.name).extend_from_slice(&value);
        }
        object.close();
    }

    /// The name the Thing is served under.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The Rust type's name.
    pub fn type_name(&self) -> &'static str {
        self.type_name
    }

    /// The TD title.
    pub fn title(&self) -> &'static str {
        self.title
    }

    /// The TD description.
    pub fn description(&self) -> Option<&'static str> {
        self.description
    }

    /// The properties, in declaration order.
    pub fn properties(&self) -> &[PropertyInfo] {
        &self.properties
    }

    /// The actions, in declaration order.
    pub fn actions(&self) -> &[ActionInfo] {
        &self.actions
    }

    /// The extra resources (`#[endpoint]` methods), in declaration order.
    pub fn endpoints(&self) -> &[EndpointInfo] {
        &self.endpoints
    }

    /// The device object, for code that knows its type.
    pub fn object<T: Thing>(&self) -> Option<&T> {
        self.ops.object().downcast_ref()
    }
}

/// A JSON object being written as text: [`key`](Self::key) writes the
/// separator and a member's name, the caller its value.
pub(crate) struct JsonObject<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> JsonObject<'a> {
    /// Start an object in `out`.
    pub(crate) fn open(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Self { out, first: true }
    }

    /// Write the next member's name; its value goes into what is returned.
    pub(crate) fn key(&mut self, name: &str) -> &mut Vec<u8> {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        // Writing a `str` to a `Vec` fails only for want of memory, which aborts.
        let _ = serde_json::to_writer(&mut *self.out, name);
        self.out.push(b':');
        self.out
    }

    /// End the object.
    pub(crate) fn close(self) {
        self.out.push(b'}');
    }
}
