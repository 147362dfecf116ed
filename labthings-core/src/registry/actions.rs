//! Turning an action's JSON input into a call ready to run.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::ThingInstance;
use crate::failure::Failure;
use crate::invocation::InvocationHandle;
use crate::lock::LockPolicy;
use crate::outcome::Body;
use crate::validation::{InputProblem, integral_floats_as_integers};

/// An action call with its input decoded and bound to the device method,
/// and what the action manager needs to know to schedule it. Made by
/// [`ThingInstance::prepare`]; run by the action manager.
pub struct ActionCall {
    /// The thing whose action it is (its locks and name).
    pub thing: Arc<ThingInstance>,
    /// The action's name.
    pub action: &'static str,
    /// The input as JSON, defaults filled in.
    pub input: Value,
    /// Retention declared on the action, if any.
    pub retention: Option<Duration>,
    /// The log level declared on the action, if any.
    pub log_level: Option<crate::log::LogLevel>,
    /// The hardware lock it declares (the action manager applies its
    /// default lock to an action that declares none).
    pub lock: LockPolicy,
    run: Body,
}

impl ActionCall {
    /// Whether the action is an `async fn` (the action manager runs it as a
    /// task on the runtime instead of on a thread of its own).
    pub fn is_async(&self) -> bool {
        matches!(self.run, Body::Async { .. })
    }

    /// Run the device method on the calling thread (the action manager calls
    /// this from the invocation's own thread; an `async fn` is driven to
    /// its end here). Panics become failures.
    pub fn run(self, handle: &InvocationHandle) -> Result<Value, Failure> {
        match self.run {
            Body::Blocking(call) => super::erased::guarded(|| call(handle)),
            Body::Async { call, .. } => {
                let future = call(handle.clone());
                super::erased::guarded(|| crate::asynchronous::block_on(future))
            }
        }
    }

    /// The call's body, for the action manager to run an `async fn` on the runtime.
    pub(crate) fn into_body(self) -> Body {
        self.run
    }
}

impl std::fmt::Debug for ActionCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActionCall")
            .field("thing", &self.thing.name())
            .field("action", &self.action)
            .field("input", &self.input)
            .finish_non_exhaustive()
    }
}

/// Why an input could not be turned into a call.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PrepareError {
    /// The thing has no action with that number.
    #[error("the thing has no such action")]
    NoSuchAction,
    /// The input does not match the action's input schema.
    #[error(
        "the input does not fit the action's schema: {}",
        .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
    )]
    Invalid(Vec<InputProblem>),
}

impl ThingInstance {
    /// Validate the input of action number `index` (`null` counts as `{}`),
    /// decode it and bind it to a call of the device method, in one step.
    pub fn prepare(self: &Arc<Self>, index: usize, value: Value) -> Result<ActionCall, PrepareError> {
        let action = self.actions.get(index).ok_or(PrepareError::NoSuchAction)?;
        let mut value = if value.is_null() {
            Value::Object(Default::default())
        } else {
            value
        };
        let problems = action.validator.problems(&value, &[]);
        if !problems.is_empty() {
            return Err(PrepareError::Invalid(problems));
        }
        integral_floats_as_integers(&mut value);
        let prepared = (action.prepare.0)(value).map_err(|e| PrepareError::Invalid(vec![serde_problem(&e)]))?;
        Ok(ActionCall {
            thing: self.clone(),
            action: action.name,
            input: prepared.input,
            retention: action.retention,
            log_level: action.log_level,
            lock: action.lock,
            run: prepared.run,
        })
    }
}

/// A problem found by serde after the schema accepted the value (rare: the
/// schema and the type disagree).
pub(super) fn serde_problem(error: &serde_json::Error) -> InputProblem {
    InputProblem::new("value_error", Vec::new(), error.to_string(), Value::Null)
}
