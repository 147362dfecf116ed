//! What the typed clients `#[thing]` generates (with the `client` feature)
//! need beside `labthings-client`: the check that the remote Thing has
//! what the type expects, and an action call's input being built.

use labthings_client::{BoxStream, ClientError, Invocation, ThingClient, ThingDescription};
use labthings_core::Thing;
use labthings_core::registry::schema_value;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// Check that `td` describes what the Thing type `T` declares: each of its
/// properties (writable where `T`'s is), actions (with `T`'s parameters)
/// and events, each of the same JSON type. Every difference is listed in
/// one [`ClientError::Mismatch`].
pub fn check_remote<T: Thing>(td: &ThingDescription) -> Result<(), ClientError> {
    let descriptor = T::descriptor();
    let mut problems = Vec::new();
    for property in descriptor.properties() {
        let Ok(remote) = td.property(property.name) else {
            problems.push(format!("property `{}` is missing", property.name));
            continue;
        };
        compare(
            &format!("property `{}`", property.name),
            &schema_value(property.schema),
            &remote.description,
            &mut problems,
        );
        if property.write.is_some() && remote.read_only() {
            problems.push(format!("property `{}` is read-only there", property.name));
        }
    }
    for action in descriptor.actions {
        let Ok(remote) = td.action(action.name) else {
            problems.push(format!("action `{}` is missing", action.name));
            continue;
        };
        let input = schema_value(action.input_schema);
        let remote_input = remote.description.get("input").cloned().unwrap_or(Value::Null);
        for name in property_names(&input) {
            if !property_names(&remote_input).contains(&name) {
                problems.push(format!("action `{}` takes no parameter `{name}` there", action.name));
            }
        }
        if let Some(output) = remote.description.get("output") {
            compare(
                &format!("the output of action `{}`", action.name),
                &schema_value(action.output_schema),
                output,
                &mut problems,
            );
        }
    }
    for event in descriptor.fields.events {
        if td.event(event.name).is_err() {
            problems.push(format!("event `{}` is missing", event.name));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ClientError::Mismatch(problems))
    }
}

/// Add a problem if `local` and `remote` name different JSON types.
fn compare(what: &str, local: &Value, remote: &Value, problems: &mut Vec<String>) {
    let (Some(local), Some(remote)) = (json_type(local), json_type(remote)) else {
        return;
    };
    if local != remote {
        problems.push(format!("{what} is {remote} there, {local} here"));
    }
}

/// The JSON type a schema names, with `integer` counted as `number`'s kin
/// only when both say so; `None` if it names none.
fn json_type(schema: &Value) -> Option<String> {
    match schema.get("type")? {
        Value::String(t) => Some(t.clone()),
        Value::Array(types) => {
            let mut names: Vec<&str> = types.iter().filter_map(Value::as_str).collect();
            names.sort_unstable();
            Some(names.join(" | "))
        }
        _ => None,
    }
}

fn property_names(schema: &Value) -> Vec<String> {
    schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

/// The input of an action call being built: each parameter as JSON, or
/// the first that could not be written as JSON.
#[derive(Debug, Default)]
pub struct CallInput {
    values: Map<String, Value>,
    error: Option<ClientError>,
}

impl CallInput {
    /// Set parameter `name` to `value`.
    pub fn set<V: Serialize>(&mut self, name: &str, value: V) {
        match serde_json::to_value(value) {
            Ok(value) => {
                self.values.insert(name.to_owned(), value);
            }
            Err(e) => {
                self.error.get_or_insert_with(|| {
                    ClientError::Protocol(format!("the parameter `{name}` cannot be written as JSON: {e}"))
                });
            }
        }
    }

    /// The input object, or the error of a parameter.
    pub fn finish(self) -> Result<Value, ClientError> {
        match self.error {
            Some(error) => Err(error),
            None => Ok(Value::Object(self.values)),
        }
    }
}

/// A value a typed client receives: property values, action outputs and
/// event payloads must be readable back (`Deserialize`) as well as
/// sendable, once the `client` feature generates typed clients.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be read by the typed client: it is not `Deserialize`",
    label = "a property value, action output or event payload the typed client receives",
    note = "the `client` feature generates a typed client, which reads this type back: mark it `#[labthings::model]` (in the prelude as `#[model]`), which derives `Serialize`, `Deserialize` and `JsonSchema`, or derive `serde::Deserialize` for it"
)]
pub trait ClientOutput: DeserializeOwned + Send + 'static {}

impl<T: DeserializeOwned + Send + 'static> ClientOutput for T {}

/// Read property `name` (the typed client's getters).
pub async fn read<T: ClientOutput>(thing: &ThingClient, name: &str) -> Result<T, ClientError> {
    thing.read_property(name).await
}

/// Each new value of property `name`.
pub async fn observe<T: ClientOutput>(
    thing: &ThingClient,
    name: &str,
) -> Result<BoxStream<'static, Result<T, ClientError>>, ClientError> {
    thing.observe_property(name).await
}

/// Each payload of event `name`.
pub async fn subscribe<T: ClientOutput>(
    thing: &ThingClient,
    name: &str,
) -> Result<BoxStream<'static, Result<T, ClientError>>, ClientError> {
    thing.subscribe_event(name).await
}

/// Start action `name` with `input` and return a handle.
pub async fn start<T: ClientOutput>(
    thing: &ThingClient,
    name: &str,
    input: CallInput,
) -> Result<Invocation<T>, ClientError> {
    thing.invoke_action(name, &input.finish()?).await
}

/// Run action `name` with `input` and return its output.
pub async fn call<T: ClientOutput>(thing: &ThingClient, name: &str, input: CallInput) -> Result<T, ClientError> {
    thing.call_action(name, &input.finish()?).await
}
