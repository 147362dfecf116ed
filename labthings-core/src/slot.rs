//! Things that use other things: a `#[slot]` field is filled with served
//! Things of its type when the server is built. A [`ThingSlot<T>`] holds
//! exactly one, an [`OptionalSlot<T>`] one or none, and [`ThingSlots<T>`]
//! every served `T` by name. `T` is a Thing type, or a trait object
//! (`ThingSlot<dyn Stage>`) that any Thing declared to provide it fills
//! ([`Provides`]), so an autofocus can need "a stage" rather than one kind.

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

/// A Thing, or a view of it, as a slot receives it: a boxed `Arc<T>`.
pub type Boxed = Box<dyn Any + Send + Sync>;

/// Sees a Thing (as `Arc<dyn Any>` of its type) as a boxed `Arc<U>`.
type Upcast = Arc<dyn Fn(Arc<dyn Any + Send + Sync>) -> Option<Boxed> + Send + Sync>;

/// A served Thing offered to a slot: its name, and the Thing seen as each
/// type it can fill a slot of (its own, and each it [`Provides`]).
pub struct Target<'a> {
    name: &'a str,
    view: &'a dyn Fn(TypeId) -> Option<Boxed>,
}

impl fmt::Debug for Target<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<'a> Target<'a> {
    /// The Thing served as `name`; `view` gives it as a boxed `Arc<U>` for
    /// the `TypeId` of each `U` it can be seen as.
    pub fn new(name: &'a str, view: &'a dyn Fn(TypeId) -> Option<Boxed>) -> Self {
        Self { name, view }
    }

    /// The name it is served as.
    pub fn name(&self) -> &str {
        self.name
    }

    /// The Thing as a `T` (its own type, or a trait object it provides).
    pub fn get<T: ?Sized + 'static>(&self) -> Option<Arc<T>> {
        let boxed = (self.view)(TypeId::of::<T>())?;
        boxed.downcast::<Arc<T>>().ok().map(|arc| *arc)
    }
}

/// A Thing type's declaration that it can fill slots of another type `U`
/// (a trait it implements, as `dyn Trait`), given to the server builder:
/// `.provides::<Sangaboard, dyn Stage>(|stage| stage)`.
#[derive(Clone)]
pub struct Provides {
    /// The Thing type.
    pub thing: TypeId,
    /// The type it can be seen as.
    pub target: TypeId,
    /// That type's Rust name.
    pub target_type: &'static str,
    /// The Thing (as `Arc<dyn Any>` of the Thing type) as a boxed `Arc<U>`.
    view: Upcast,
}

impl fmt::Debug for Provides {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Provides")
            .field("target_type", &self.target_type)
            .finish_non_exhaustive()
    }
}

impl Provides {
    /// `T` fills slots of `U`, seen as one through `upcast` (for a trait
    /// `T` implements, `|thing| thing`: the compiler checks it does).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use labthings_core::slot::Provides;
    /// trait Named: Send + Sync { fn name(&self) -> String; }
    /// impl Named for String { fn name(&self) -> String { self.clone() } }
    /// let provides = Provides::new::<String, dyn Named>(|s| s);
    /// assert!(provides.target_type.starts_with("dyn ") && provides.target_type.ends_with("Named"));
    /// assert_eq!(provides.target, std::any::TypeId::of::<dyn Named>());
    /// ```
    pub fn new<T, U>(upcast: fn(Arc<T>) -> Arc<U>) -> Self
    where
        T: Send + Sync + 'static,
        U: ?Sized + Send + Sync + 'static,
    {
        Self {
            thing: TypeId::of::<T>(),
            target: TypeId::of::<U>(),
            target_type: std::any::type_name::<U>(),
            view: Arc::new(move |thing| {
                let thing = thing.downcast::<T>().ok()?;
                Some(Box::new(upcast(thing)) as Boxed)
            }),
        }
    }

    /// `thing` (of the Thing type) as a boxed `Arc<U>`.
    pub fn view(&self, thing: Arc<dyn Any + Send + Sync>) -> Option<Boxed> {
        (self.view)(thing)
    }
}

/// What a slot field is: its kind, and how to fill it from a served Thing.
/// Implemented by the three slot types.
pub trait Slot {
    /// How many Things it takes.
    const KIND: SlotKind;
    /// Fill it with `target`; `false` if `target` cannot be seen as its
    /// type or it takes no more.
    fn connect_any(&self, target: &Target<'_>) -> bool;
}

/// A connection to another Thing of type `T`, filled by the server builder.
///
/// ```
/// use labthings_core::ThingSlot;
/// let slot: ThingSlot<String> = ThingSlot::new();
/// assert!(slot.try_get().is_none());
/// ```
pub struct ThingSlot<T: ?Sized> {
    target: OnceLock<Arc<T>>,
}

impl<T: ?Sized> Default for ThingSlot<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: ?Sized> fmt::Debug for ThingSlot<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThingSlot")
            .field("target", &std::any::type_name::<T>())
            .field("connected", &self.target.get().is_some())
            .finish()
    }
}

impl<T: ?Sized> ThingSlot<T> {
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

impl<T: ?Sized + 'static> Slot for ThingSlot<T> {
    const KIND: SlotKind = SlotKind::One;
    fn connect_any(&self, target: &Target<'_>) -> bool {
        target.get::<T>().is_some_and(|target| self.connect(target))
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
pub struct OptionalSlot<T: ?Sized> {
    /// The same one-time connection a [`ThingSlot`] holds; only how an
    /// empty one is read differs.
    slot: ThingSlot<T>,
}

impl<T: ?Sized> Default for OptionalSlot<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: ?Sized> fmt::Debug for OptionalSlot<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("OptionalSlot").field(&self.slot).finish()
    }
}

impl<T: ?Sized> OptionalSlot<T> {
    /// An empty slot.
    pub const fn new() -> Self {
        Self { slot: ThingSlot::new() }
    }

    /// The connected Thing, if the server has one.
    pub fn get(&self) -> Option<&T> {
        self.slot.try_get()
    }
}

impl<T: ?Sized + 'static> Slot for OptionalSlot<T> {
    const KIND: SlotKind = SlotKind::Optional;
    fn connect_any(&self, target: &Target<'_>) -> bool {
        self.slot.connect_any(target)
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
pub struct ThingSlots<T: ?Sized> {
    targets: RwLock<BTreeMap<String, Arc<T>>>,
}

impl<T: ?Sized> Default for ThingSlots<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: ?Sized> fmt::Debug for ThingSlots<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThingSlots")
            .field("target", &std::any::type_name::<T>())
            .field("names", &self.names())
            .finish()
    }
}

impl<T: ?Sized> ThingSlots<T> {
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

impl<T: ?Sized + 'static> Slot for ThingSlots<T> {
    const KIND: SlotKind = SlotKind::All;
    fn connect_any(&self, target: &Target<'_>) -> bool {
        match target.get::<T>() {
            Some(thing) => {
                self.targets.write().insert(target.name().to_owned(), thing);
                true
            }
            None => false,
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
    /// Connect the slot of `thing` to a served Thing.
    pub connect: fn(&T, &Target<'_>) -> bool,
}

impl<T> fmt::Debug for SlotDescriptor<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlotDescriptor")
            .field("name", &self.name)
            .field("target_type", &self.target_type)
            .finish_non_exhaustive()
    }
}
