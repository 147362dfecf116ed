//! What a served Thing's affordances are: their names, schemas and flags.

use std::any::TypeId;
use std::time::Duration;

use schemars::generate::SchemaSettings;
use schemars::transform::RecursiveTransform;
use schemars::{Schema, SchemaGenerator};
use serde_json::Value;

use crate::descriptor::{OptionalSchemaFn, SchemaFn};
use crate::lock::{LockPolicy, LockScope};
use crate::outcome::PreparedCall;
use crate::validation::Validator;

/// The JSON Schema a [`SchemaFn`] describes, with subschemas inlined (WoT
/// clients do not follow `$ref`), no `$schema` key, and only the `format`s
/// JSON Schema defines ([`STANDARD_FORMATS`]).
pub fn schema_value(schema: SchemaFn) -> Value {
    generated(|generator| Some(schema(generator))).unwrap_or_default()
}

/// The JSON Schema an [`OptionalSchemaFn`] describes, if any, written as
/// [`schema_value`] writes one.
pub fn optional_schema_value(schema: OptionalSchemaFn) -> Option<Value> {
    generated(schema)
}

fn generated(schema: impl FnOnce(&mut SchemaGenerator) -> Option<Schema>) -> Option<Value> {
    let mut generator = SchemaSettings::draft2020_12()
        .with(|s| {
            s.inline_subschemas = true;
            s.meta_schema = None;
        })
        .with_transform(RecursiveTransform(drop_nonstandard_format))
        .into_generator();
    let mut value = schema(&mut generator)?.to_value();
    if let Some(obj) = value.as_object_mut() {
        obj.remove("$schema");
    }
    Some(value)
}

/// The `format` values JSON Schema 2020-12 defines. schemars also writes
/// `int64`, `uint8`, `double` and the like for Rust's number types; WoT
/// clients validating with Ajv (node-wot) print a warning for each unknown
/// format, and the range they imply is already in `minimum`/`maximum`.
pub const STANDARD_FORMATS: &[&str] = &[
    "date-time",
    "date",
    "time",
    "duration",
    "email",
    "idn-email",
    "hostname",
    "idn-hostname",
    "ipv4",
    "ipv6",
    "uri",
    "uri-reference",
    "iri",
    "iri-reference",
    "uuid",
    "uri-template",
    "json-pointer",
    "relative-json-pointer",
    "regex",
];

/// Remove a `format` JSON Schema does not define (see [`STANDARD_FORMATS`]).
fn drop_nonstandard_format(schema: &mut Schema) {
    let standard = schema
        .get("format")
        .and_then(Value::as_str)
        .is_none_or(|format| STANDARD_FORMATS.contains(&format));
    if !standard {
        schema.remove("format");
    }
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
    /// How often a getter is read to announce its changes (`poll_ms`).
    pub poll: Option<Duration>,
    /// Part of the Thing's state (`#[property(state)]`).
    pub state: bool,
    pub(super) validator: Validator,
}

impl PropertyInfo {
    /// Whether observers hear of its changes: a data property announces
    /// every change, a polled getter each change its polling sees.
    pub fn observable(&self) -> bool {
        self.data || self.poll.is_some()
    }
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
    /// JSON Schema of its intermediate results, if it reports any.
    pub intermediate_schema: Option<Value>,
    /// Whether the action takes any input parameter.
    pub has_input: bool,
    /// Retention declared on the action, if any.
    pub retention: Option<Duration>,
    /// The log level declared on the action, if any.
    pub log_level: Option<crate::log::LogLevel>,
    /// The hardware lock it takes.
    pub lock: LockPolicy,
    /// Whether calls by agents wait for an operator's approval
    /// (`#[action(approval)]`).
    pub approval: bool,
    pub(super) validator: Validator,
    /// The generated entry point, bound to the device object.
    pub(super) prepare: Preparer,
}

/// An action's generated entry point bound to its device object: decode a
/// JSON input into a call ready to run.
pub(super) struct Preparer(pub(super) Box<dyn Fn(Value) -> Result<PreparedCall, serde_json::Error> + Send + Sync>);

impl std::fmt::Debug for Preparer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Preparer")
    }
}

/// An extra resource (`#[endpoint]`) of a served Thing.
#[derive(Debug)]
pub struct EndpointInfo {
    /// The endpoint's name.
    pub name: &'static str,
    /// Title from the doc comment.
    pub title: Option<&'static str>,
    /// Description from the doc comment.
    pub description: Option<&'static str>,
    /// `get`, `post`, `put` or `delete`, as declared.
    pub method: &'static str,
    /// JSON Schema of the parameters (an object, one property each).
    pub params_schema: Value,
    /// JSON Schema of the request's body, when the endpoint takes one.
    pub body_schema: Option<Value>,
    /// JSON Schema of the answer, when it is typed JSON.
    pub output_schema: Option<Value>,
    pub(super) validator: Validator,
    pub(super) body_validator: Option<Validator>,
}

impl EndpointInfo {
    /// Whether the endpoint takes a body that must be given: its schema
    /// does not accept `null` (a `Json<Option<T>>` body may be left out).
    pub fn body_required(&self) -> bool {
        self.body_validator
            .as_ref()
            .is_some_and(|validator| !validator.problems(&Value::Null, &[]).is_empty())
    }

    /// The parameters' names with their schemas and whether each is
    /// required, in declaration order.
    pub fn params(&self) -> impl Iterator<Item = (&str, &Value, bool)> {
        let required = |name: &str| {
            self.params_schema
                .get("required")
                .and_then(Value::as_array)
                .is_some_and(|r| r.iter().any(|n| n.as_str() == Some(name)))
        };
        self.params_schema
            .get("properties")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(move |(name, schema)| (name.as_str(), schema, required(name)))
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
    /// How many Things it takes.
    pub kind: crate::slot::SlotKind,
    /// The Thing it takes by default (`#[slot(default = "..")]`).
    pub default: Option<&'static str>,
}
