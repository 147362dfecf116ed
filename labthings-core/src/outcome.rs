//! What device code returns, turned into JSON or into a failure.
//!
//! The `#[thing]` macro calls these helpers from the code it generates, so a
//! getter or action may return a plain value, `()`, or a `Result<T, E>` whose
//! error implements `Display`.

use std::fmt::Display;
use std::future::Future;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::asynchronous::CallFuture;
use crate::failure::{Failure, to_failure};
use crate::invocation::InvocationHandle;

/// A type clients can be sent: it is written as JSON (`Serialize`) and
/// described in the Thing Description (`JsonSchema`). Property values,
/// action outputs and event payloads must be one; every type that is both
/// already is.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be sent to clients: it is not `Serialize` and `JsonSchema`",
    label = "a property value, action output or event payload",
    note = "mark it `#[labthings::model]` (in the prelude as `#[model]`), which derives both through labthings, or derive `serde::Serialize` and `schemars::JsonSchema` for it"
)]
pub trait ClientValue: Serialize + JsonSchema {}

impl<T: Serialize + JsonSchema + ?Sized> ClientValue for T {}

/// The JSON Schema of a value clients are sent, for a [`SchemaFn`](crate::descriptor::SchemaFn).
pub fn schema_of<T: ClientValue + ?Sized>(generator: &mut SchemaGenerator) -> Schema {
    generator.root_schema_for::<T>()
}

/// Serialize a value returned by device code.
pub fn to_output<T: ClientValue + ?Sized>(value: &T) -> Result<Value, Failure> {
    serialize(value)
}

/// Serialize a value for a client.
pub(crate) fn serialize<T: Serialize + ?Sized>(value: &T) -> Result<Value, Failure> {
    serde_json::to_value(value).map_err(|e| {
        Failure::error(
            "SerializationError",
            format!("the value could not be written as JSON: {e}"),
        )
    })
}

/// Serialize the `Ok` value of a `Result` returned by device code, or turn its
/// error into a [`Failure`].
pub fn result_to_output<T: ClientValue, E: Display + 'static>(result: Result<T, E>) -> Result<Value, Failure> {
    match result {
        Ok(value) => to_output(&value),
        Err(error) => Err(to_failure(error)),
    }
}

/// Map the error of a data property's `on_set` hook into a [`Failure`],
/// keeping the value it returned.
pub fn on_set_result<T, E: Display + 'static>(result: Result<T, E>) -> Result<T, Failure> {
    result.map_err(to_failure)
}

/// Map the error of a setter's `Result` into a [`Failure`].
pub fn result_to_unit<T, E: Display + 'static>(result: Result<T, E>) -> Result<(), Failure> {
    result.map(|_| ()).map_err(to_failure)
}

/// The type-erased body of a prepared call: run the device method on the
/// calling thread with the invocation's handle.
pub type CallFn = Box<dyn FnOnce(&InvocationHandle) -> Result<Value, Failure> + Send>;

/// The type-erased body of a prepared call of an `async fn` action: the
/// future of the device method's call, given the invocation's handle.
pub type AsyncCallFn = Box<dyn FnOnce(InvocationHandle) -> CallFuture + Send>;

/// What running a prepared call means.
pub enum Body {
    /// A blocking method, run on an invocation thread.
    Blocking(CallFn),
    /// An `async fn`, run as a task on the server's runtime.
    Async {
        /// Makes the call's future.
        call: AsyncCallFn,
        /// Whether the method takes a `CancelHook` and so decides itself
        /// where to stop; any other is dropped at its next `.await` when
        /// cancelled.
        handles_cancel: bool,
    },
}

/// An action call ready to run: the decoded input is already bound to the
/// device method, so running it needs nothing but the invocation's handle.
pub struct PreparedCall {
    /// The input as JSON, defaults filled in (shown in the invocation).
    pub input: Value,
    /// The call of the device method with the decoded input.
    pub run: Body,
}

impl std::fmt::Debug for PreparedCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedCall")
            .field("input", &self.input)
            .finish_non_exhaustive()
    }
}

/// Decode an action's input struct `I` from JSON (`null` counts as `{}`)
/// and bind it to `call`, in one step.
///
/// ```
/// use labthings_core::Failure;
/// use labthings_core::outcome::prepare_call;
/// #[derive(serde::Deserialize, serde::Serialize)]
/// struct Input { by: i64, #[serde(default)] repeat: u32 }
/// let prepared = prepare_call(serde_json::json!({"by": 2}), |input: Input, _handle| {
///     Ok::<_, Failure>(serde_json::json!(input.by * 10))
/// })
/// .expect("a valid input");
/// assert_eq!(prepared.input, serde_json::json!({"by": 2, "repeat": 0}));
/// ```
pub fn prepare_call<I, F>(value: Value, call: F) -> Result<PreparedCall, serde_json::Error>
where
    I: DeserializeOwned + Serialize + Send + 'static,
    F: FnOnce(I, &InvocationHandle) -> Result<Value, Failure> + Send + 'static,
{
    let (typed, input) = decode::<I>(value)?;
    Ok(PreparedCall {
        input,
        run: Body::Blocking(Box::new(move |handle| call(typed, handle))),
    })
}

/// [`prepare_call`] for an `async fn` action: `call` makes the future of
/// the device method's call from the decoded input and the invocation's
/// handle; `handles_cancel` says whether the method takes a `CancelHook`.
pub fn prepare_async_call<I, F, Fut>(
    value: Value,
    handles_cancel: bool,
    call: F,
) -> Result<PreparedCall, serde_json::Error>
where
    I: DeserializeOwned + Serialize + Send + 'static,
    F: FnOnce(I, InvocationHandle) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Value, Failure>> + Send + 'static,
{
    let (typed, input) = decode::<I>(value)?;
    Ok(PreparedCall {
        input,
        run: Body::Async {
            call: Box::new(move |handle| Box::pin(call(typed, handle))),
            handles_cancel,
        },
    })
}

/// The input struct `I` from JSON (`null` counts as `{}`), and the input
/// as JSON with its defaults filled in.
fn decode<I: DeserializeOwned + Serialize>(value: Value) -> Result<(I, Value), serde_json::Error> {
    let value = if value.is_null() {
        Value::Object(Default::default())
    } else {
        value
    };
    let typed: I = serde_json::from_value(value)?;
    let input = serde_json::to_value(&typed)?;
    Ok((typed, input))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_input_decodes_as_empty_object() {
        #[derive(serde::Deserialize, Serialize)]
        struct Empty {}
        let prepared = prepare_call(Value::Null, |_: Empty, _| Ok(Value::Null)).expect("null is an empty input");
        assert_eq!(prepared.input, serde_json::json!({}));
    }
}
