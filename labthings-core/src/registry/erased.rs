//! The device-facing half of a [`ThingInstance`](super::ThingInstance), independent of the
//! device type: every call into device code goes through [`ThingOps`].

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use serde_json::Value;

use crate::data::DataCell;
use crate::descriptor::{Thing, WriteError};
use crate::endpoint::Raw;
use crate::event::EventSource;
use crate::failure::Failure;
use crate::slot::Target;
use crate::stream::MjpegStream;

/// The device-facing half of a [`ThingInstance`], independent of `T`.
pub(super) trait ThingOps: Send + Sync {
    fn read(&self, index: usize) -> Result<Value, Failure>;
    fn write(&self, index: usize, value: Value) -> Result<(), WriteError>;
    fn data(&self, index: usize) -> Option<&dyn DataCell>;
    fn stream(&self, index: usize) -> Option<&MjpegStream>;
    fn event(&self, index: usize) -> Option<&dyn EventSource>;
    fn endpoint(&self, index: usize, params: Value, body: Value) -> Result<Result<Raw, Failure>, serde_json::Error>;
    fn start(&self) -> Result<(), Failure>;
    fn stop(&self) -> Result<(), Failure>;
    fn connect_slot(&self, index: usize, target: &Target<'_>) -> bool;
    fn object(&self) -> &(dyn Any + Send + Sync);
    fn shared(&self) -> Arc<dyn Any + Send + Sync>;
    /// The Thing as a boxed `Arc<T>`, what a slot of `T` takes.
    fn boxed(&self) -> Box<dyn Any + Send + Sync>;
}

pub(super) struct Ops<T: Thing>(pub(super) Arc<T>);

fn missing(index: usize) -> Failure {
    Failure::error("InternalError", format!("no affordance number {index}"))
}

impl<T: Thing> ThingOps for Ops<T> {
    fn read(&self, index: usize) -> Result<Value, Failure> {
        let property = T::descriptor().property(index).ok_or_else(|| missing(index))?;
        (property.read)(&self.0)
    }

    fn write(&self, index: usize, value: Value) -> Result<(), WriteError> {
        let write = T::descriptor()
            .property(index)
            .and_then(|p| p.write)
            .ok_or_else(|| WriteError::Failed(missing(index)))?;
        write(&self.0, value)
    }

    fn data(&self, index: usize) -> Option<&dyn DataCell> {
        let data = T::descriptor().property(index)?.data?;
        Some(data(&self.0))
    }

    fn stream(&self, index: usize) -> Option<&MjpegStream> {
        Some((T::descriptor().fields.streams.get(index)?.get)(&self.0))
    }

    fn event(&self, index: usize) -> Option<&dyn EventSource> {
        Some((T::descriptor().fields.events.get(index)?.get)(&self.0))
    }

    fn endpoint(&self, index: usize, params: Value, body: Value) -> Result<Result<Raw, Failure>, serde_json::Error> {
        match T::descriptor().endpoints.get(index) {
            Some(endpoint) => (endpoint.call)(&self.0, params, body),
            None => Ok(Err(missing(index))),
        }
    }

    fn start(&self) -> Result<(), Failure> {
        T::descriptor().on_start.map_or(Ok(()), |start| start(&self.0))
    }

    fn stop(&self) -> Result<(), Failure> {
        T::descriptor().on_stop.map_or(Ok(()), |stop| stop(&self.0))
    }

    fn connect_slot(&self, index: usize, target: &Target<'_>) -> bool {
        T::descriptor()
            .fields
            .slots
            .get(index)
            .is_some_and(|slot| (slot.connect)(&self.0, target))
    }

    fn object(&self) -> &(dyn Any + Send + Sync) {
        &*self.0
    }

    fn shared(&self) -> Arc<dyn Any + Send + Sync> {
        self.0.clone()
    }

    fn boxed(&self) -> Box<dyn Any + Send + Sync> {
        Box::new(self.0.clone())
    }
}

/// Call device code, turning a panic into a [`Failure`].
pub(crate) fn guarded<R>(call: impl FnOnce() -> Result<R, Failure>) -> Result<R, Failure> {
    catch_unwind(AssertUnwindSafe(call)).unwrap_or_else(|payload| Err(Failure::from_panic(&*payload)))
}
