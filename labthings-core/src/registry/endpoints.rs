//! Calling an extra resource (`#[endpoint]`) of a served Thing.

use serde_json::Value;

use super::ThingInstance;
use super::actions::serde_problem;
use super::erased::guarded;
use crate::endpoint::{EndpointError, Raw};
use crate::validation::{LocSegment, integral_floats_as_integers};

impl ThingInstance {
    /// Call endpoint number `index` on the calling thread with its
    /// parameters as a JSON object (`null` counts as `{}`) and, for an
    /// endpoint that takes a `Json<T>` body, the body (`null` when the
    /// request has none; an endpoint without a body ignores it). The
    /// parameters are checked against their schema (each problem located
    /// under `params_loc`) and the body against its own (under `body_loc`),
    /// every problem of both reported together; then the method runs with
    /// panics contained.
    pub fn call_endpoint(
        &self,
        index: usize,
        params: Value,
        body: Value,
        params_loc: &[LocSegment],
        body_loc: &[LocSegment],
    ) -> Result<Raw, EndpointError> {
        let endpoint = self.endpoints.get(index).ok_or(EndpointError::NoSuchEndpoint)?;
        let mut params = if params.is_null() {
            Value::Object(Default::default())
        } else {
            params
        };
        let mut problems = endpoint.validator.problems(&params, params_loc);
        let mut body = match &endpoint.body_validator {
            Some(validator) => {
                problems.extend(validator.problems(&body, body_loc));
                body
            }
            None => Value::Null,
        };
        if !problems.is_empty() {
            return Err(EndpointError::Invalid(problems));
        }
        integral_floats_as_integers(&mut params);
        integral_floats_as_integers(&mut body);
        match guarded(|| Ok(self.ops.endpoint(index, params, body))) {
            Ok(Ok(Ok(raw))) => Ok(raw),
            Ok(Ok(Err(failure))) | Err(failure) => Err(EndpointError::Failed(failure)),
            Ok(Err(error)) => Err(EndpointError::Invalid(vec![serde_problem(&error)])),
        }
    }
}
