//! A served Thing: one device object with its affordances' schemas compiled,
//! behind a type-erased interface that transports (such as the HTTP server) use.

use std::any::{Any, TypeId};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use schemars::generate::SchemaSettings;
use serde_json::Value;

use crate::data::{DataCell, Listener};
use crate::descriptor::{SchemaFn, Thing, WriteError};
use crate::event::EventSource;
use crate::hub::{Hub, Notification};
use crate::invocation::InvocationHandle;
use crate::lock::{HardwareLock, LockGuard, LockPolicy, LockScope};
use crate::outcome::{DecodedInput, Failure};
use crate::settings::{Loaded, SettingsFile};
use crate::stream::MjpegStream;
use crate::validation::{InputProblem, SchemaError, Validator, integral_floats_as_integers};

/// The JSON Schema a [`SchemaFn`] describes, with subschemas inlined (WoT
/// clients do not follow `$ref`) and no `$schema` key.
pub fn schema_value(schema: SchemaFn) -> Value {
    let mut generator = SchemaSettings::draft2020_12()
        .with(|s| {
            s.inline_subschemas = true;
            s.meta_schema = None;
        })
        .into_generator();
    let schema = schema(&mut generator);
    let mut value = schema.to_value();
    if let Some(obj) = value.as_object_mut() {
        obj.remove("$schema");
    }
    value
}

/// A property of a served Thing.
#[derive(Debug)]
pub struct PropertyInfo {
    /// The property's name.
    pub name: &'static str,
    /// Title from the doc comment.
    pub title: Option<&'static str>,
    /// Description from the doc comment.
    pub description: Option<&'static str>,
    /// JSON Schema of the value.
    pub schema: Value,
    /// Whether clients may write it.
    pub writable: bool,
    /// Whether it is a data property (stored, resettable to its default).
    pub data: bool,
    /// The default value of a data property.
    pub default: Option<Value>,
    /// Whether it is saved to the settings file.
    pub setting: bool,
    /// The lock a write needs.
    pub write_lock: LockScope,
    validator: Validator,
}

/// An action of a served Thing.
#[derive(Debug)]
pub struct ActionInfo {
    /// The action's name.
    pub name: &'static str,
    /// Title from the doc comment.
    pub title: Option<&'static str>,
    /// Description from the doc comment.
    pub description: Option<&'static str>,
    /// JSON Schema of the input object.
    pub input_schema: Value,
    /// JSON Schema of the output.
    pub output_schema: Value,
    /// Whether the action takes any input parameter.
    pub has_input: bool,
    /// Retention declared on the action, if any.
    pub retention: Option<Duration>,
    /// The hardware lock it takes.
    pub lock: LockPolicy,
    validator: Validator,
}

/// Why a property write was refused or failed.
#[derive(Debug)]
pub enum PropertyWriteError {
    /// The property has no setter.
    ReadOnly,
    /// The value does not fit the property's schema.
    Invalid(Vec<InputProblem>),
    /// The setter returned an error or panicked.
    Failed(Failure),
    /// The property's lock is held (by a running invocation).
    Busy,
}

/// The device-facing half of a [`ThingInstance`], independent of `T`.
trait ThingOps: Send + Sync {
    fn read(&self, index: usize) -> Result<Value, Failure>;
    fn write(&self, index: usize, value: Value) -> Result<(), WriteError>;
    fn decode(&self, index: usize, value: Value) -> Result<DecodedInput, serde_json::Error>;
    fn run(&self, index: usize, input: DecodedInput, handle: &InvocationHandle) -> Result<Value, Failure>;
    fn data(&self, index: usize) -> Option<&dyn DataCell>;
    fn stream(&self, index: usize) -> Option<&MjpegStream>;
    fn event(&self, index: usize) -> Option<&dyn EventSource>;
    fn start(&self) -> Result<(), Failure>;
    fn stop(&self) -> Result<(), Failure>;
    fn connect_slot(&self, index: usize, target: Arc<dyn Any + Send + Sync>) -> bool;
    fn object(&self) -> &(dyn Any + Send + Sync);
    fn shared(&self) -> Arc<dyn Any + Send + Sync>;
}

struct Ops<T: Thing>(Arc<T>);

fn missing(index: usize) -> Failure {
    Failure::error("InternalError", format!("no affordance number {index}"))
}

impl<T: Thing> ThingOps for Ops<T> {
    fn read(&self, index: usize) -> Result<Value, Failure> {
        let property = T::descriptor().properties.get(index).ok_or_else(|| missing(index))?;
        (property.read)(&self.0)
    }

    fn write(&self, index: usize, value: Value) -> Result<(), WriteError> {
        let write = T::descriptor()
            .properties
            .get(index)
            .and_then(|p| p.write)
            .ok_or_else(|| WriteError::Failed(missing(index)))?;
        write(&self.0, value)
    }

    fn decode(&self, index: usize, value: Value) -> Result<DecodedInput, serde_json::Error> {
        match T::descriptor().actions.get(index) {
            Some(action) => (action.decode)(value),
            None => Err(serde::de::Error::custom(missing(index))),
        }
    }

    fn run(&self, index: usize, input: DecodedInput, handle: &InvocationHandle) -> Result<Value, Failure> {
        let action = T::descriptor().actions.get(index).ok_or_else(|| missing(index))?;
        (action.run)(&self.0, input, handle)
    }

    fn data(&self, index: usize) -> Option<&dyn DataCell> {
        let data = T::descriptor().properties.get(index)?.data?;
        Some(data(&self.0))
    }

    fn stream(&self, index: usize) -> Option<&MjpegStream> {
        Some((T::descriptor().streams.get(index)?.get)(&self.0))
    }

    fn event(&self, index: usize) -> Option<&dyn EventSource> {
        Some((T::descriptor().events.get(index)?.get)(&self.0))
    }

    fn start(&self) -> Result<(), Failure> {
        T::descriptor().on_start.map_or(Ok(()), |start| start(&self.0))
    }

    fn stop(&self) -> Result<(), Failure> {
        T::descriptor().on_stop.map_or(Ok(()), |stop| stop(&self.0))
    }

    fn connect_slot(&self, index: usize, target: Arc<dyn Any + Send + Sync>) -> bool {
        T::descriptor()
            .slots
            .get(index)
            .is_some_and(|slot| (slot.connect)(&self.0, target))
    }

    fn object(&self) -> &(dyn Any + Send + Sync) {
        &*self.0
    }

    fn shared(&self) -> Arc<dyn Any + Send + Sync> {
        self.0.clone()
    }
}

/// A live stream of a served Thing.
#[derive(Debug, Clone)]
pub struct StreamInfo {
    /// The stream's name.
    pub name: &'static str,
    /// Title from the doc comment.
    pub title: Option<&'static str>,
    /// Description from the doc comment.
    pub description: Option<&'static str>,
}

/// An event of a served Thing.
#[derive(Debug, Clone)]
pub struct EventInfo {
    /// The event's name.
    pub name: &'static str,
    /// Title from the doc comment.
    pub title: Option<&'static str>,
    /// Description from the doc comment.
    pub description: Option<&'static str>,
    /// JSON Schema of the payload.
    pub schema: Value,
}

/// A `#[slot]` of a served Thing: another Thing it needs.
#[derive(Debug, Clone)]
pub struct SlotInfo {
    /// The slot's name.
    pub name: &'static str,
    /// The Rust name of the Thing type it needs.
    pub target_type: &'static str,
    /// That type's id.
    pub target_id: TypeId,
}

/// Call device code, turning a panic into a [`Failure`].
fn guarded<R>(call: impl FnOnce() -> Result<R, Failure>) -> Result<R, Failure> {
    catch_unwind(AssertUnwindSafe(call)).unwrap_or_else(|payload| Err(Failure::from_panic(&*payload)))
}

/// One device object served under a name, with compiled schemas.
pub struct ThingInstance {
    name: String,
    type_name: &'static str,
    title: &'static str,
    description: Option<&'static str>,
    type_id: TypeId,
    properties: Vec<PropertyInfo>,
    actions: Vec<ActionInfo>,
    slots: Vec<SlotInfo>,
    streams: Vec<StreamInfo>,
    events: Vec<EventInfo>,
    ops: Arc<dyn ThingOps>,
    lock: Arc<HardwareLock>,
    server_lock: Arc<HardwareLock>,
    settings: OnceLock<SettingsFile>,
    /// Problems found with the settings file when it was loaded.
    settings_warnings: parking_lot::Mutex<Vec<String>>,
}

thread_local! {
    /// Set while this thread writes a setting it has already saved: the
    /// change listener must not save (and lock the file) again.
    static SAVED_ALREADY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
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
            .properties
            .iter()
            .map(|p| {
                let mut schema = schema_value(p.schema);
                let default = p.data.and_then(|data| data(&thing).default_json().ok());
                if let (Some(default), Some(obj)) = (&default, schema.as_object_mut()) {
                    obj.insert("default".into(), default.clone());
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
                    has_input,
                    retention: a.retention,
                    lock: a.lock,
                })
            })
            .collect::<Result<_, SchemaError>>()?;
        let slots = descriptor
            .slots
            .iter()
            .map(|s| SlotInfo {
                name: s.name,
                target_type: s.target_type,
                target_id: (s.target_id)(),
            })
            .collect();
        let streams = descriptor
            .streams
            .iter()
            .map(|s| StreamInfo {
                name: s.name,
                title: s.title,
                description: s.description,
            })
            .collect();
        let events = descriptor
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
            type_name: descriptor.type_name,
            title: descriptor.title,
            description: descriptor.description,
            type_id: TypeId::of::<T>(),
            properties,
            actions,
            slots,
            streams,
            events,
            ops: Arc::new(Ops(thing)),
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

    /// Publish this Thing's data property changes and events on `hub`.
    pub fn publish_to(self: &Arc<Self>, hub: &Hub) {
        let thing_name: Arc<str> = self.name.as_str().into();
        for (index, property) in self.properties.iter().enumerate() {
            if !property.data {
                continue;
            }
            let (weak, hub, thing_name, name) = (Arc::downgrade(self), hub.clone(), thing_name.clone(), property.name);
            self.on_property_change(
                index,
                Arc::new(move || {
                    if let Some(thing) = weak.upgrade()
                        && hub.subscribers() > 0
                        && let Ok(value) = thing.read_property(index)
                    {
                        hub.publish(Notification::Property {
                            thing: thing_name.clone(),
                            name,
                            value,
                        });
                    }
                }),
            );
        }
        for (index, event) in self.events.iter().enumerate() {
            let (hub, thing_name, name) = (hub.clone(), thing_name.clone(), event.name);
            if let Some(source) = self.ops.event(index) {
                source.on_emit(Arc::new(move |data| {
                    hub.publish(Notification::Event {
                        thing: thing_name.clone(),
                        name,
                        data: data.clone(),
                    });
                }));
            }
        }
    }

    /// The Thing's `#[slot]`s.
    pub fn slots(&self) -> &[SlotInfo] {
        &self.slots
    }

    /// Connect slot number `index` to `target`; `false` if the types differ
    /// or it was already connected.
    pub fn connect_slot(&self, index: usize, target: &ThingInstance) -> bool {
        self.ops.connect_slot(index, target.ops.shared())
    }

    /// Run the `#[on_start]` hook, if any (panics become failures).
    pub fn start(&self) -> Result<(), Failure> {
        guarded(|| self.ops.start())
    }

    /// Run the `#[on_stop]` hook, if any (panics become failures).
    pub fn stop(&self) -> Result<(), Failure> {
        guarded(|| self.ops.stop())
    }

    /// The lock for `scope` (`None` for `LockScope::None`).
    pub fn lock_for(&self, scope: LockScope) -> Option<&Arc<HardwareLock>> {
        match scope {
            LockScope::None => None,
            LockScope::Thing => Some(&self.lock),
            LockScope::Server => Some(&self.server_lock),
        }
    }

    /// Take the write lock of property number `index`, if it needs one.
    fn write_guard(&self, index: usize) -> Result<Option<LockGuard>, PropertyWriteError> {
        let scope = self.properties.get(index).map_or(LockScope::None, |p| p.write_lock);
        match self.lock_for(scope) {
            None => Ok(None),
            Some(lock) => lock
                .try_acquire(uuid::Uuid::nil())
                .map(Some)
                .ok_or(PropertyWriteError::Busy),
        }
    }

    /// The name the Thing is served under (its URL segment).
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

    /// The device object, for code that knows its type.
    pub fn object<T: Thing>(&self) -> Option<&T> {
        self.ops.object().downcast_ref()
    }

    /// Read property number `index`; a panic in the getter becomes a [`Failure`].
    pub fn read_property(&self, index: usize) -> Result<Value, Failure> {
        guarded(|| self.ops.read(index))
    }

    /// Read property number `index` as JSON text: written straight from a
    /// data property's value, or from the getter's.
    pub fn read_property_json(&self, index: usize) -> Result<Vec<u8>, Failure> {
        match self.ops.data(index) {
            Some(data) => guarded(|| data.to_json_bytes()),
            None => {
                let value = self.read_property(index)?;
                serde_json::to_vec(&value).map_err(|e| Failure::error("SerializationError", e.to_string()))
            }
        }
    }

    /// Validate `value` and write property number `index`.
    pub fn write_property(&self, index: usize, value: Value) -> Result<(), PropertyWriteError> {
        let property = self.properties.get(index).ok_or(PropertyWriteError::ReadOnly)?;
        if !property.writable {
            return Err(PropertyWriteError::ReadOnly);
        }
        let problems = property.validator.problems(&value, &[]);
        if !problems.is_empty() {
            return Err(PropertyWriteError::Invalid(problems));
        }
        let mut value = value;
        integral_floats_as_integers(&mut value);
        let _guard = self.write_guard(index)?;
        if property.setting {
            return self.write_setting(index, value.clone(), || self.write_now(index, value));
        }
        self.write_now(index, value)
    }

    /// Call the property's writer (setter or data cell).
    fn write_now(&self, index: usize, value: Value) -> Result<(), PropertyWriteError> {
        match guarded(|| Ok(self.ops.write(index, value))) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(WriteError::Invalid(e))) => Err(PropertyWriteError::Invalid(vec![serde_problem(&e)])),
            Ok(Err(WriteError::Failed(f))) | Err(f) => Err(PropertyWriteError::Failed(f)),
        }
    }

    /// Change setting number `index` to `value` with `apply`, saving it
    /// first: if the file cannot be written the change is refused and the
    /// value left as it was; if `apply` fails, the file is put back. The
    /// file stays locked throughout, so file and memory agree.
    fn write_setting(
        &self,
        index: usize,
        value: Value,
        apply: impl FnOnce() -> Result<(), PropertyWriteError>,
    ) -> Result<(), PropertyWriteError> {
        let Some(file) = self.settings.get() else {
            return apply();
        };
        let name = self.properties.get(index).map_or("?", |p| p.name);
        let writer = file.lock();
        let old = self.setting_values();
        let mut new = old.clone();
        new.insert(name.to_owned(), value);
        if let Err(e) = writer.write(&new) {
            return Err(PropertyWriteError::Failed(Failure::error(
                "SettingNotSaved",
                format!(
                    "setting `{name}` of `{}` was not changed: it could not be saved to {}: {e}",
                    self.name,
                    file.path().display()
                ),
            )));
        }
        SAVED_ALREADY.with(|s| s.set(true));
        let applied = apply();
        SAVED_ALREADY.with(|s| s.set(false));
        if applied.is_err()
            && let Err(e) = writer.write(&old)
        {
            tracing::error!("could not put back settings file {}: {e}", file.path().display());
        }
        applied
    }

    /// The current value of every setting, by name.
    fn setting_values(&self) -> serde_json::Map<String, Value> {
        let mut values = serde_json::Map::new();
        for (index, property) in self.properties.iter().enumerate() {
            if property.setting {
                match self.read_property(index) {
                    Ok(value) => {
                        values.insert(property.name.to_owned(), value);
                    }
                    Err(e) => tracing::warn!("setting `{}` of `{}` not saved: {e}", property.name, self.name),
                }
            }
        }
        values
    }

    /// Reset data property number `index` to its default.
    pub fn reset_property(&self, index: usize) -> Result<(), PropertyWriteError> {
        let property = self.properties.get(index).ok_or(PropertyWriteError::ReadOnly)?;
        if !property.writable {
            return Err(PropertyWriteError::ReadOnly);
        }
        let _guard = self.write_guard(index)?;
        let data = self.ops.data(index).ok_or(PropertyWriteError::ReadOnly)?;
        let reset = || {
            guarded(|| {
                data.reset();
                Ok(())
            })
            .map_err(PropertyWriteError::Failed)
        };
        match (&property.default, property.setting) {
            (Some(default), true) => self.write_setting(index, default.clone(), reset),
            _ => reset(),
        }
    }

    /// Call `listener` whenever data property number `index` changes (from
    /// device code or a client). `false` if it is not a data property.
    pub fn on_property_change(&self, index: usize, listener: Listener) -> bool {
        match self.ops.data(index) {
            Some(data) => {
                data.on_change(listener);
                true
            }
            None => false,
        }
    }

    /// Restore this Thing's settings from `{dir}/{name}.json` and save them
    /// there on every change from now on. Problems with the file are logged
    /// as warnings naming the file and field; a bad file is copied aside
    /// before it can be overwritten.
    ///
    /// The warnings are also kept ([`settings_warnings`](Self::settings_warnings)):
    /// settings load when the server is built, often before logging is set
    /// up, so the server logs them again when it starts and shows them in
    /// the control panel.
    pub fn attach_settings(self: &Arc<Self>, dir: &Path) {
        let file = SettingsFile::new(dir, &self.name);
        let path = file.path().display().to_string();
        let warn = |message: String| {
            tracing::warn!("{message}");
            self.settings_warnings.lock().push(message);
        };
        let leftovers = file.remove_leftovers();
        if leftovers > 0 {
            tracing::info!("removed {leftovers} temporary file(s) of interrupted writes of {path}");
        }
        let mut keep_copy = false;
        match file.load() {
            Ok(Loaded::Missing) => {}
            Ok(Loaded::Corrupt(why)) => {
                warn(format!(
                    "settings file {path} is corrupt ({why}); using defaults for thing `{}`",
                    self.name
                ));
                keep_copy = true;
            }
            Err(e) => warn(format!("cannot read settings file {path}: {e}; using defaults")),
            Ok(Loaded::Values(values)) => {
                for (key, value) in values {
                    if let Err(why) = self.restore_setting(&key, value) {
                        warn(format!("settings file {path}: field `{key}` {why}; using its default"));
                        keep_copy = true;
                    }
                }
            }
        }
        if keep_copy {
            match file.keep_bad_copy() {
                Ok(copy) => warn(format!("kept a copy of the bad settings file at {}", copy.display())),
                Err(e) => warn(format!("could not copy the bad settings file {path}: {e}")),
            }
        }
        let _ = self.settings.set(file);
        let weak: Weak<Self> = Arc::downgrade(self);
        for (index, property) in self.properties.iter().enumerate() {
            if property.setting && property.data {
                let weak = weak.clone();
                self.on_property_change(
                    index,
                    Arc::new(move || {
                        if let Some(thing) = weak.upgrade() {
                            thing.save_settings();
                        }
                    }),
                );
            }
        }
        if keep_copy {
            self.save_settings();
        }
    }

    /// Put one saved value back, quietly for data properties.
    fn restore_setting(&self, key: &str, value: Value) -> Result<(), String> {
        let Some(index) = self.properties.iter().position(|p| p.name == key && p.setting) else {
            return Err("is not a setting of this thing".to_owned());
        };
        let problems = self.properties[index].validator.problems(&value, &[]);
        if let Some(problem) = problems.first() {
            return Err(format!("has a bad value {}: {}", problem.input, problem.msg));
        }
        match self.ops.data(index) {
            Some(data) => data.restore_json(value).map_err(|e| e.to_string()),
            None => match guarded(|| Ok(self.ops.write(index, value))) {
                Ok(Ok(())) => Ok(()),
                Ok(Err(WriteError::Invalid(e))) => Err(e.to_string()),
                Ok(Err(WriteError::Failed(f))) | Err(f) => Err(f.to_string()),
            },
        }
    }

    /// Problems found with the settings file when it was loaded (empty if
    /// none), each a sentence naming the file and the field.
    pub fn settings_warnings(&self) -> Vec<String> {
        self.settings_warnings.lock().clone()
    }

    /// Write every setting of this Thing to its file (if settings are
    /// attached): the file is locked before the values are read, so
    /// concurrent saves end with the newest values. Device code changing a
    /// data setting saves through here; a failure is logged as an error (a
    /// client's write is refused instead, see `write_property`).
    pub fn save_settings(&self) {
        let Some(file) = self.settings.get() else { return };
        if SAVED_ALREADY.with(std::cell::Cell::get) {
            return;
        }
        if let Err(e) = file.save_with(|| Ok(self.setting_values())) {
            tracing::error!(
                "could not save the settings of `{}` to {}: {e}; the change is lost at restart",
                self.name,
                file.path().display()
            );
        }
    }

    /// Validate and decode the input of action number `index`. `null`
    /// counts as `{}`.
    pub fn decode_input(&self, index: usize, value: Value) -> Result<DecodedInput, Vec<InputProblem>> {
        let action = self.actions.get(index).ok_or_else(Vec::new)?;
        let value = if value.is_null() {
            Value::Object(Default::default())
        } else {
            value
        };
        let problems = action.validator.problems(&value, &[]);
        if !problems.is_empty() {
            return Err(problems);
        }
        let mut value = value;
        integral_floats_as_integers(&mut value);
        self.ops.decode(index, value).map_err(|e| vec![serde_problem(&e)])
    }

    /// Run action number `index` on the calling thread (the action manager
    /// calls this from the invocation's own thread). Panics become failures.
    pub fn run_action(&self, index: usize, input: DecodedInput, handle: &InvocationHandle) -> Result<Value, Failure> {
        guarded(|| self.ops.run(index, input, handle))
    }
}

/// A problem found by serde after the schema accepted the value (rare: the
/// schema and the type disagree).
fn serde_problem(error: &serde_json::Error) -> InputProblem {
    InputProblem::new("value_error", Vec::new(), error.to_string(), Value::Null)
}
