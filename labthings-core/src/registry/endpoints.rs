//! Calling an extra resource (`#[endpoint]`) of a served Thing.

use serde_json::Value;

use super::ThingInstance;
use super::actions::serde_problem;
use super::erased::guarded;
use crate::endpoint::{EndpointError, Raw};
use crate::validation::{LocSegment, integral_floats_as_integers};

impl ThingInstance {
    /// Call endpoint number `index` with its parameters as a JSON object
    /// (`null` counts as `{}`) on the calling thread: the parameters are
    /// checked against the schema (each problem located under `loc`), then
    /// the method runs with panics contained.
    pub fn call_endpoint(&self, index: usize, params: Value, loc: &[LocSegment]) -> Result<Raw, EndpointError> {
        let endpoint = self.endpoints.get(index).ok_or(EndpointError::NoSuchEndpoint)?;
        let mut params = if params.is_null() {
            Value::Object(Default::default())
        } else {
            params
        };
        let problems = endpoint.validator.problems(&params, loc);
        if !problems.is_empty() {
            return Err(EndpointError::Invalid(problems));
        }
        integral_floats_as_integers(&mut params);
        match guarded(|| Ok(self.ops.endpoint(index, params))) {
            Ok(Ok(Ok(raw))) => Ok(raw),
            Ok(Ok(Err(failure))) | Err(failure) => Err(EndpointError::Failed(failure)),
            Ok(Err(error)) => Err(EndpointError::Invalid(vec![serde_problem(&error)])),
        }
    }
}
