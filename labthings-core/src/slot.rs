//! Things that use other things: a `#[slot]` field is filled with served
//! Things of its type when the server is built. A [`ThingSlot<T>`] holds
//! exactly one, an [`OptionalSlot<T>`] one or none, and [`ThingSlots<T>`]
//! every served `T` by name.

use std::any::{Any, TypeId};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

use parking_lot::RwLock;

/// How many Things a slot takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotKind {
    /// Exactly one ([`ThingSlot`]): none, or several without a choice, fail the build.
    One,
    /// One or none ([`OptionalSlot`]): several without a choice fail the build.
    Optional,
    /// Every served Thing of the type ([`ThingSlots`]), by name.
    All,
}

/// What a slot field is: its kind, and how to fill it from a type-erased
/// Thing served under a name. Implemented by the three slot types.
pub trait Slot {
    /// How many Things it takes.
    const KIND: SlotKind;
    /// Fill it with `target`, served as `name`; `false` if `target` is not
    /// of its type or it takes no more.
    fn connect_any(&self, name: &str, target: Arc<dyn Any + Send + Sync>) -> bool;
}

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

impl<T: Send + Sync + 'static> Slot for ThingSlot<T> {
    const KIND: SlotKind = SlotKind::One;
    fn connect_any(&self, _name: &str, target: Arc<dyn Any + Send + Sync>) -> bool {
        target.downcast::<T>().is_ok_and(|target| self.connect(target))
    }
}

/// A connection to another Thing of type `T` that may be absent: filled
/// when the server serves one (or its default), left empty when it serves
/// none. For an accessory some instruments have (a filter wheel).
///
/// ```
/// use labthings_core::OptionalSlot;
/// let wheel: OptionalSlot<String> = OptionalSlot::new();
/// assert!(wheel.get().is_none());
/// ```
pub struct OptionalSlot<T> {
    /// The same one-time connection a [`ThingSlot`] holds; only how an
    /// empty one is read differs.
    slot: ThingSlot<T>,
}

impl<T> Default for OptionalSlot<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> fmt::Debug for OptionalSlot<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("OptionalSlot").field(&self.slot).finish()
    }
}

impl<T> OptionalSlot<T> {
    /// An empty slot.
    pub const fn new() -> Self {
        Self { slot: ThingSlot::new() }
    }

    /// The connected Thing, if the server has one.
    pub fn get(&self) -> Option<&T> {
        self.slot.try_get()
    }
}

impl<T: Send + Sync + 'static> Slot for OptionalSlot<T> {
    const KIND: SlotKind = SlotKind::Optional;
    fn connect_any(&self, name: &str, target: Arc<dyn Any + Send + Sync>) -> bool {
        self.slot.connect_any(name, target)
    }
}

/// Every served Thing of type `T`, by the name it is served under: the
/// cameras of a multi-camera instrument.
///
/// ```
/// use labthings_core::ThingSlots;
/// let cameras: ThingSlots<String> = ThingSlots::new();
/// assert!(cameras.names().is_empty());
/// ```
pub struct ThingSlots<T> {
    targets: RwLock<BTreeMap<String, Arc<T>>>,
}

impl<T> Default for ThingSlots<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> fmt::Debug for ThingSlots<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThingSlots")
            .field("target", &std::any::type_name::<T>())
            .field("names", &self.names())
            .finish()
    }
}

impl<T> ThingSlots<T> {
    /// No Things yet.
    pub const fn new() -> Self {
        Self {
            targets: RwLock::new(BTreeMap::new()),
        }
    }

    /// The Thing served as `name`, if it is a `T`.
    pub fn get(&self, name: &str) -> Option<Arc<T>> {
        self.targets.read().get(name).cloned()
    }

    /// The names of the connected Things, in order.
    pub fn names(&self) -> Vec<String> {
        self.targets.read().keys().cloned().collect()
    }

    /// Every connected Thing with its name, in name order.
    pub fn all(&self) -> Vec<(String, Arc<T>)> {
        self.targets
            .read()
            .iter()
            .map(|(n, t)| (n.clone(), t.clone()))
            .collect()
    }
}

impl<T: Send + Sync + 'static> Slot for ThingSlots<T> {
    const KIND: SlotKind = SlotKind::All;
    fn connect_any(&self, name: &str, target: Arc<dyn Any + Send + Sync>) -> bool {
        match target.downcast::<T>() {
            Ok(target) => {
                self.targets.write().insert(name.to_owned(), target);
                true
            }
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
    /// How many Things it takes.
    pub kind: SlotKind,
    /// The Thing to fill it with when several of its type are served and
    /// no connection says (`#[slot(default = "name")]`).
    pub default: Option<&'static str>,
    /// Connect the slot of `thing` to a type-erased Thing served as `name`.
    pub connect: fn(&T, &str, Arc<dyn Any + Send + Sync>) -> bool,
}

impl<T> fmt::Debug for SlotDescriptor<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlotDescriptor")
            .field("name", &self.name)
            .field("target_type", &self.target_type)
            .finish_non_exhaustive()
    }
}
