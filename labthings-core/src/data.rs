//! Data properties: values a Thing stores, read and written without a
//! hand-written getter/setter pair.
//!
//! A [`DataProperty`] holds a typed value and the default it starts from.
//! Device code reads and sets it directly (`self.count.set(3)`); the server
//! reads it for `GET`, writes it for `PUT` and restores the default for
//! `POST …/reset`. Every change calls the listeners registered with
//! [`DataProperty::on_change`]: the point where settings are saved and
//! observers are told.

use std::fmt;
use std::sync::{Arc, OnceLock};

use parking_lot::RwLock;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::failure::{BadRequest, Failure};
use crate::outcome::serialize;

/// Something to call after a value changed.
pub type Listener = Arc<dyn Fn() + Send + Sync>;

/// Checks a value, as JSON, against a property's schema: `Err` says which
/// rules it breaks.
pub type Check = Arc<dyn Fn(&Value) -> Result<(), String> + Send + Sync>;

/// A stored property value with its default.
///
/// ```
/// use labthings_core::DataProperty;
/// let count = DataProperty::new(0_i64);
/// count.update(|c| *c += 2);
/// assert_eq!(count.get(), 2);
/// count.reset();
/// assert_eq!(count.get(), 0);
/// ```
pub struct DataProperty<T> {
    value: RwLock<T>,
    default: T,
    listeners: RwLock<Vec<Listener>>,
    /// The property's schema check, once the thing is served.
    check: OnceLock<Check>,
}

impl<T: fmt::Debug> fmt::Debug for DataProperty<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataProperty")
            .field("value", &*self.value.read())
            .field("default", &self.default)
            .finish_non_exhaustive()
    }
}

impl<T: Clone + Default> Default for DataProperty<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T: Clone> DataProperty<T> {
    /// A property holding `default`, which [`reset`](Self::reset) restores.
    pub fn new(default: T) -> Self {
        Self {
            value: RwLock::new(default.clone()),
            default,
            listeners: RwLock::new(Vec::new()),
            check: OnceLock::new(),
        }
    }

    /// A copy of the current value.
    pub fn get(&self) -> T {
        self.value.read().clone()
    }

    /// Look at the current value without copying it.
    pub fn read<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        f(&self.value.read())
    }

    /// Replace the value and tell the listeners.
    pub fn set(&self, value: T) {
        *self.value.write() = value;
        self.changed();
    }

    /// Set `value` if it fits the property's schema -- its bounds, pattern,
    /// enum: what a client's write is held to -- and tell the listeners;
    /// otherwise keep the old value and refuse, naming each rule broken.
    /// For device code that must not store what a client could not (a
    /// calibration computed from a measurement). The schema is the one the
    /// server serves, known once the thing is served (a server or a
    /// `TestLab`); before that the value is set unchecked. [`set`](Self::set)
    /// never checks.
    pub fn try_set(&self, value: T) -> Result<(), BadRequest>
    where
        T: Serialize,
    {
        if let Some(check) = self.check.get() {
            let json = serde_json::to_value(&value)
                .map_err(|e| BadRequest::new(format!("the value cannot be written as JSON: {e}")))?;
            check(&json).map_err(BadRequest::new)?;
        }
        self.set(value);
        Ok(())
    }

    /// Change the value in place and tell the listeners.
    pub fn update<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let result = f(&mut self.value.write());
        self.changed();
        result
    }

    /// Go back to the default value.
    pub fn reset(&self) {
        self.set(self.default.clone());
    }

    /// The default value.
    pub fn default_value(&self) -> &T {
        &self.default
    }

    /// Call `listener` after every change (from device code or a client).
    pub fn on_change(&self, listener: Listener) {
        self.listeners.write().push(listener);
    }

    /// Set the value without telling the listeners (restoring saved settings).
    pub fn set_quietly(&self, value: T) {
        *self.value.write() = value;
    }

    fn changed(&self) {
        let listeners = self.listeners.read().clone();
        for listener in listeners {
            listener();
        }
    }
}

/// A [`DataProperty`] of any type, as the server sees it: JSON in and out.
pub trait DataCell: Send + Sync {
    /// The value as JSON.
    fn to_json(&self) -> Result<Value, Failure>;
    /// The value as JSON text, written straight from the value (the fast
    /// path for reads).
    fn to_json_bytes(&self) -> Result<Vec<u8>, Failure>;
    /// The default as JSON.
    fn default_json(&self) -> Result<Value, Failure>;
    /// Decode `value` and set it, telling the listeners.
    fn set_json(&self, value: Value) -> Result<(), serde_json::Error>;
    /// Decode `value` and set it without telling the listeners.
    fn restore_json(&self, value: Value) -> Result<(), serde_json::Error>;
    /// Go back to the default.
    fn reset(&self);
    /// Call `listener` after every change.
    fn on_change(&self, listener: Listener);
    /// Hold [`DataProperty::try_set`] to `check` (the first one given).
    fn attach_check(&self, check: Check);
}

impl<T> DataCell for DataProperty<T>
where
    T: Clone + Serialize + DeserializeOwned + Send + Sync,
{
    fn to_json(&self) -> Result<Value, Failure> {
        self.read(serialize)
    }

    fn to_json_bytes(&self) -> Result<Vec<u8>, Failure> {
        self.read(serde_json::to_vec).map_err(|e| {
            Failure::error(
                "SerializationError",
                format!("the value could not be written as JSON: {e}"),
            )
        })
    }

    fn default_json(&self) -> Result<Value, Failure> {
        serialize(&self.default)
    }

    fn set_json(&self, value: Value) -> Result<(), serde_json::Error> {
        self.set(serde_json::from_value(value)?);
        Ok(())
    }

    fn restore_json(&self, value: Value) -> Result<(), serde_json::Error> {
        self.set_quietly(serde_json::from_value(value)?);
        Ok(())
    }

    fn reset(&self) {
        DataProperty::reset(self);
    }

    fn on_change(&self, listener: Listener) {
        DataProperty::on_change(self, listener);
    }

    fn attach_check(&self, check: Check) {
        let _ = self.check.set(check);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn every_change_reaches_the_listeners() {
        let property = DataProperty::new(1.5_f64);
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = calls.clone();
        property.on_change(Arc::new(move || {
            seen.fetch_add(1, Ordering::SeqCst);
        }));
        property.set(2.0);
        property.update(|v| *v *= 2.0);
        property.reset();
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        property.set_quietly(9.0);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert_eq!(property.get(), 9.0);
    }

    #[test]
    fn json_round_trip_rejects_the_wrong_type() {
        let property = DataProperty::new(String::from("a"));
        assert!(property.set_json(Value::from(3)).is_err());
        property.set_json(Value::from("b")).expect("a string");
        assert_eq!(property.to_json(), Ok(Value::from("b")));
        assert_eq!(property.default_json(), Ok(Value::from("a")));
    }
}
