//! The calls every binding makes on a [`Lab`]: read, write and reset a
//! property, cancel an invocation (starting one is [`Lab::invoke`], observing
//! is [`Lab::hub`]). Each runs device code where the lab says it runs (on
//! the device runtime, within its time limit; a data property in place)
//! and fails with one error type that each binding maps to its own answer.

use std::sync::Arc;

use uuid::Uuid;

use crate::device::DeviceCallError;
use crate::manager::CancelError;
use crate::registry::{PropertyWriteError, ThingInstance};
use crate::{Failure, Lab};

/// Why a property read, write or reset did not happen.
#[derive(Debug)]
#[non_exhaustive]
pub enum PropertyError {
    /// The thing has no property with that number.
    NoSuchProperty {
        /// The thing's name.
        thing: String,
    },
    /// The write was refused (read-only, invalid value, lock held) or the
    /// setter failed.
    Write(PropertyWriteError),
    /// The getter failed.
    Read(Failure),
    /// The device code did not answer in time, or could not be run.
    Device(DeviceCallError),
}

impl std::fmt::Display for PropertyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoSuchProperty { thing } => write!(f, "`{thing}` has no such property"),
            Self::Write(PropertyWriteError::ReadOnly) => f.write_str("the property is read-only"),
            Self::Write(PropertyWriteError::Invalid(problems)) => {
                let list: Vec<String> = problems
                    .iter()
                    .map(|p| format!("{}: {}", p.loc_path(), p.msg))
                    .collect();
                write!(f, "the value does not fit: {}", list.join("; "))
            }
            Self::Write(PropertyWriteError::Failed(failure)) | Self::Read(failure) => f.write_str(&failure.detail()),
            Self::Write(PropertyWriteError::Busy) => {
                f.write_str("the property's hardware lock is held by a running action; try again later")
            }
            Self::Device(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for PropertyError {}

impl From<DeviceCallError> for PropertyError {
    fn from(e: DeviceCallError) -> Self {
        Self::Device(e)
    }
}

impl Lab {
    /// Whether property number `property` of `thing` is read and written in
    /// place: a data property (an in-memory value, not a setting saved to
    /// disk) runs no device code, so it needs no device runtime.
    pub fn in_place(thing: &ThingInstance, property: usize) -> bool {
        thing.properties().get(property).is_some_and(|p| p.data && !p.setting)
    }

    /// Read property number `property` of `thing` as JSON text.
    pub async fn read(&self, thing: &Arc<ThingInstance>, property: usize) -> Result<Vec<u8>, PropertyError> {
        let name = property_name(thing, property)?;
        let json = if Self::in_place(thing, property) {
            thing.read_property_json(property)
        } else {
            let reading = thing.clone();
            (self.device())
                .call(thing.name(), &name, move || reading.read_property_json(property))
                .await?
        };
        json.map_err(PropertyError::Read)
    }

    /// Write `value` to property number `property` of `thing` (checked
    /// against its schema, its lock taken, its setter called).
    pub async fn write(
        &self,
        thing: &Arc<ThingInstance>,
        property: usize,
        value: serde_json::Value,
    ) -> Result<(), PropertyError> {
        let name = property_name(thing, property)?;
        let written = if Self::in_place(thing, property) {
            thing.write_property(property, value)
        } else {
            let writing = thing.clone();
            (self.device())
                .call(thing.name(), &name, move || writing.write_property(property, value))
                .await?
        };
        written.map_err(PropertyError::Write)
    }

    /// Set data property number `property` of `thing` back to its default.
    pub async fn reset(&self, thing: &Arc<ThingInstance>, property: usize) -> Result<(), PropertyError> {
        let name = property_name(thing, property)?;
        let resetting = thing.clone();
        (self.device())
            .call(thing.name(), &name, move || resetting.reset_property(property))
            .await?
            .map_err(PropertyError::Write)
    }

    /// Ask invocation `id` to stop: a pending one ends `cancelled` at once,
    /// a running one has its cancel hook set.
    pub fn cancel(&self, id: Uuid) -> Result<(), CancelError> {
        self.manager().cancel(id)
    }
}

/// The name of property number `property` (its time limit is found by it).
fn property_name(thing: &ThingInstance, property: usize) -> Result<String, PropertyError> {
    thing
        .properties()
        .get(property)
        .map(|p| p.name.to_owned())
        .ok_or_else(|| PropertyError::NoSuchProperty {
            thing: thing.name().to_owned(),
        })
}
