//! Decoding an action's input and running it.

use serde_json::Value;

use super::ThingInstance;
use super::erased::guarded;
use crate::invocation::InvocationHandle;
use crate::outcome::{DecodedInput, Failure};
use crate::validation::{InputProblem, integral_floats_as_integers};

impl ThingInstance {
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
pub(super) fn serde_problem(error: &serde_json::Error) -> InputProblem {
    InputProblem::new("value_error", Vec::new(), error.to_string(), Value::Null)
}
