//! Things that use other things: a `ThingSlot<T>` field, declared with
//! `#[slot]`, is filled with the served `T` when the server is built.

use std::any::{Any, TypeId};
use std::fmt;
use std::sync::{Arc, OnceLock};

/// A connection to another Thing of type `T`, filled by the server builder.
///
/// ```
/// use labthings_core::ThingSlot;
/// let slot: ThingSlot<String> = ThingSlot::new();
/// assert!(slot.try_get().is_none());
/// ```
pub struct ThingSlot<T> {
    target: OnceLock<Arc<T>>,
}

impl<T> Default for ThingSlot<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> fmt::Debug for ThingSlot<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThingSlot")
            .field("target", &std::any::type_name::<T>())
            .field("connected", &self.target.get().is_some())
            .finish()
    }
}

impl<T> ThingSlot<T> {
    /// An empty slot.
    pub const fn new() -> Self {
        Self {
            target: OnceLock::new(),
        }
    }

    /// The connected Thing, or `None` before the server connected it.
    pub fn try_get(&self) -> Option<&T> {
        self.target.get().map(|t| &**t)
    }

    /// The connected Thing.
    ///
    /// # Panics
    /// If the slot was never connected: a Thing used outside a server built
    /// with [`ServerBuilder`](https://docs.rs/labthings-http). Inside a server
    /// every slot is connected before any request is served (or the build fails).
    pub fn get(&self) -> &T {
        match self.target.get() {
            Some(target) => target,
            None => panic!(
                "ThingSlot<{}> used before the server connected it",
                std::any::type_name::<T>()
            ),
        }
    }

    /// Connect the slot (first connection wins). Returns whether it was empty.
    pub fn connect(&self, target: Arc<T>) -> bool {
        self.target.set(target).is_ok()
    }
}

impl<T: Send + Sync + 'static> ThingSlot<T> {
    /// Connect from a type-erased Thing; `false` if it is not a `T` or the
    /// slot was already connected.
    pub fn connect_any(&self, target: Arc<dyn Any + Send + Sync>) -> bool {
        match target.downcast::<T>() {
            Ok(target) => self.connect(target),
            Err(_) => false,
        }
    }
}

/// One `#[slot]` of a Thing type.
pub struct SlotDescriptor<T: 'static> {
    /// The slot's name (its field).
    pub name: &'static str,
    /// The Rust name of the Thing type it needs.
    pub target_type: &'static str,
    /// The `TypeId` of that type.
    pub target_id: fn() -> TypeId,
    /// Connect the slot of `thing` to a type-erased Thing.
    pub connect: fn(&T, Arc<dyn Any + Send + Sync>) -> bool,
}

impl<T> fmt::Debug for SlotDescriptor<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlotDescriptor")
            .field("name", &self.name)
            .field("target_type", &self.target_type)
            .finish_non_exhaustive()
    }
}
