//! A served Thing: one device object with its affordances' schemas compiled,
//! behind a type-erased interface that transports (such as the HTTP server) use.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

use schemars::generate::SchemaSettings;
use serde_json::Value;

use crate::descriptor::{SchemaFn, Thing, WriteError};
use crate::invocation::InvocationHandle;
use crate::outcome::{DecodedInput, Failure};
use crate::validation::{InputProblem, LocSegment, SchemaError, Validator};

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
    /// Whether it has a setter.
    pub writable: bool,
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
}

/// The device-facing half of a [`ThingInstance`], independent of `T`.
trait ThingOps: Send + Sync {
    fn read(&self, index: usize) -> Result<Value, Failure>;
    fn write(&self, index: usize, value: Value) -> Result<(), WriteError>;
    fn decode(&self, index: usize, value: Value) -> Result<DecodedInput, serde_json::Error>;
    fn run(&self, index: usize, input: DecodedInput, handle: &InvocationHandle) -> Result<Value, Failure>;
    fn object(&self) -> &(dyn Any + Send + Sync);
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

    fn object(&self) -> &(dyn Any + Send + Sync) {
        &*self.0
    }
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
    properties: Vec<PropertyInfo>,
    actions: Vec<ActionInfo>,
    ops: Arc<dyn ThingOps>,
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
    pub fn new<T: Thing>(name: impl Into<String>, thing: Arc<T>) -> Result<Self, SchemaError> {
        let descriptor = T::descriptor();
        let properties = descriptor
            .properties
            .iter()
            .map(|p| {
                let schema = schema_value(p.schema);
                Ok(PropertyInfo {
                    name: p.name,
                    title: p.title,
                    description: p.description,
                    validator: Validator::new(&schema)?,
                    schema,
                    writable: p.write.is_some(),
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
                })
            })
            .collect::<Result<_, SchemaError>>()?;
        Ok(Self {
            name: name.into(),
            type_name: descriptor.type_name,
            title: descriptor.title,
            description: descriptor.description,
            properties,
            actions,
            ops: Arc::new(Ops(thing)),
        })
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

    /// Validate `value` and write property number `index`.
    pub fn write_property(&self, index: usize, value: Value) -> Result<(), PropertyWriteError> {
        let property = self.properties.get(index).ok_or(PropertyWriteError::ReadOnly)?;
        if !property.writable {
            return Err(PropertyWriteError::ReadOnly);
        }
        let problems = property.validator.problems(&value, &["body".into()]);
        if !problems.is_empty() {
            return Err(PropertyWriteError::Invalid(problems));
        }
        match guarded(|| Ok(self.ops.write(index, value))) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(WriteError::Invalid(e))) => Err(PropertyWriteError::Invalid(vec![serde_problem(&e)])),
            Ok(Err(WriteError::Failed(f))) | Err(f) => Err(PropertyWriteError::Failed(f)),
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
        let problems = action.validator.problems(&value, &["body".into()]);
        if !problems.is_empty() {
            return Err(problems);
        }
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
    InputProblem::new(
        "value_error",
        vec![LocSegment::from("body")],
        error.to_string(),
        Value::Null,
    )
}
