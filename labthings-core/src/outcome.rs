//! What device code returns, turned into JSON or into a failure.
//!
//! The `#[thing]` macro calls these helpers from the code it generates, so a
//! getter or action may return a plain value, `()`, or a `Result<T, E>` whose
//! error implements `Display`.

use std::any::{Any, type_name};
use std::fmt::Display;
use std::future::Future;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::asynchronous::CallFuture;
use crate::cancel::Cancelled;
use crate::invocation::InvocationHandle;

/// Why device code did not produce a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The code stopped because it was cancelled ([`Cancelled`]).
    Cancelled,
    /// The code refused the request as a client mistake ([`BadRequest`]):
    /// reported as the client's mistake, not as a failure of the device.
    BadRequest {
        /// Why the request was refused.
        detail: String,
    },
    /// The code returned an error or panicked.
    Error {
        /// A short name for the kind of error (the error type's name, or `Panic`).
        title: String,
        /// The error's message.
        detail: String,
    },
}

impl Failure {
    /// A failure with the given title and detail.
    pub fn error(title: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::Error {
            title: title.into(),
            detail: detail.into(),
        }
    }

    /// The failure for a caught panic payload.
    pub fn from_panic(payload: &(dyn Any + Send)) -> Self {
        let message = if let Some(s) = payload.downcast_ref::<&str>() {
            (*s).to_owned()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "(no message)".to_owned()
        };
        // A panic is a bug in the device code: its message (and the file and
        // line the panic hook printed) are for the server's log, not for
        // clients. Kept out of invocation logs, which clients read.
        tracing::error!(target: PANIC_TARGET, "device code panicked: {message}");
        Self::error("Panic", "the device code panicked; the server's log has its message")
    }

    /// The human-readable message.
    pub fn detail(&self) -> String {
        match self {
            Failure::Cancelled => Cancelled.to_string(),
            Failure::BadRequest { detail } | Failure::Error { detail, .. } => detail.clone(),
        }
    }
}

/// The log target of the record a caught panic leaves in the server's log.
pub const PANIC_TARGET: &str = "labthings::panic";

impl Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Cancelled => Display::fmt(&Cancelled, f),
            Failure::BadRequest { detail } => write!(f, "BadRequest: {detail}"),
            Failure::Error { title, detail } => write!(f, "{title}: {detail}"),
        }
    }
}

/// The error device code returns to refuse a request that is the client's
/// mistake: a value out of the hardware's range, a target beyond its travel.
/// A setter returning it refuses the write as a schema violation would; an
/// action returning it ends as `error`, marked as the client's mistake
/// ([`Failure::BadRequest`]). Protocol bindings answer it as a client error
/// (the HTTP binding: 422).
///
/// ```
/// use labthings_core::BadRequest;
/// fn set_exposure(ms: f64) -> Result<(), BadRequest> {
///     if !(0.01..=10_000.0).contains(&ms) {
///         return Err(BadRequest::new(format!("exposure {ms} ms is outside 0.01..=10000 ms")));
///     }
///     Ok(())
/// }
/// assert!(set_exposure(1e9).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRequest(String);

impl BadRequest {
    /// Refuse with `message`, which the client sees.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl Display for BadRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadRequest {}

/// The last path segment of a type's name, without generics:
/// `alloc::string::String` → `String`.
fn short_type_name<T: ?Sized>() -> &'static str {
    let full = type_name::<T>();
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base)
}

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

/// Turn an error returned by device code into a [`Failure`]; [`Cancelled`]
/// (also inside a boxed error) becomes [`Failure::Cancelled`].
pub fn to_failure<E: Display + 'static>(error: E) -> Failure {
    let any: &dyn Any = &error;
    if any.is::<Cancelled>() {
        return Failure::Cancelled;
    }
    if let Some(bad) = any.downcast_ref::<BadRequest>() {
        return Failure::BadRequest { detail: bad.0.clone() };
    }
    if let Some(boxed) = any.downcast_ref::<Box<dyn std::error::Error + Send + Sync>>() {
        if boxed.is::<Cancelled>() {
            return Failure::Cancelled;
        }
        if let Some(bad) = boxed.downcast_ref::<BadRequest>() {
            return Failure::BadRequest { detail: bad.0.clone() };
        }
        // The concrete type is erased; "Box" would tell nobody anything.
        return Failure::error("Error", error.to_string());
    }
    Failure::error(short_type_name::<E>(), error.to_string())
}

/// Serialize the `Ok` value of a `Result` returned by device code, or turn its
/// error into a [`Failure`].
pub fn result_to_output<T: ClientValue, E: Display + 'static>(result: Result<T, E>) -> Result<Value, Failure> {
    match result {
        Ok(value) => to_output(&value),
        Err(error) => Err(to_failure(error)),
    }
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
/// use labthings_core::outcome::{Failure, prepare_call};
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
    fn cancelled_errors_become_cancelled_failures() {
        assert_eq!(to_failure(Cancelled), Failure::Cancelled);
        let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(Cancelled);
        assert_eq!(to_failure(boxed), Failure::Cancelled);
    }

    #[test]
    fn other_errors_keep_their_type_name_and_message() {
        let failure = to_failure(String::from("motor stalled"));
        assert_eq!(failure, Failure::error("String", "motor stalled"));
        let boxed: Box<dyn std::error::Error + Send + Sync> = "beyond travel".into();
        assert_eq!(to_failure(boxed), Failure::error("Error", "beyond travel"));
    }

    #[test]
    fn null_input_decodes_as_empty_object() {
        #[derive(serde::Deserialize, Serialize)]
        struct Empty {}
        let prepared = prepare_call(Value::Null, |_: Empty, _| Ok(Value::Null)).expect("null is an empty input");
        assert_eq!(prepared.input, serde_json::json!({}));
    }
}
