//! Reading, writing and resetting properties.

use serde_json::Value;

use super::ThingInstance;
use super::actions::serde_problem;
use super::erased::guarded;
use crate::data::Listener;
use crate::descriptor::WriteError;
use crate::failure::Failure;
use crate::lock::{LockGuard, LockScope};
use crate::validation::{InputProblem, integral_floats_as_integers};

/// Why a property write was refused or failed: an error with a message
/// that names each problem.
///
/// ```
/// use labthings_core::{InputProblem, PropertyWriteError};
/// let problem = InputProblem::new("int_type", vec!["body".into()], "not an integer", 1.5.into());
/// let error = PropertyWriteError::Invalid(vec![problem]);
/// assert_eq!(error.to_string(), "the value does not fit the property's schema: body: not an integer");
/// let _: &dyn std::error::Error = &error;
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PropertyWriteError {
    /// The property has no setter.
    #[error("the property is read-only")]
    ReadOnly,
    /// The value does not fit the property's schema.
    #[error("the value does not fit the property's schema: {}", crate::validation::problem_list(.0))]
    Invalid(Vec<InputProblem>),
    /// The setter returned an error or panicked.
    #[error("the setter failed: {0}")]
    Failed(Failure),
    /// The property's lock is held (by a running invocation).
    #[error("the property's lock is held by a running invocation")]
    Busy,
}

impl ThingInstance {
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
}
