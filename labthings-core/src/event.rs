//! Events a Thing emits with a typed payload (`#[event]`).

use std::marker::PhantomData;
use std::sync::Arc;

use crate::hub::Payload;
use parking_lot::RwLock;
use serde::Serialize;

/// Something to call with each emitted payload.
pub type EventListener = Arc<dyn Fn(&Payload) + Send + Sync>;

/// An event source with payloads of type `T`. Declare it as an `#[event]`
/// field of a `#[thing]` struct; device code calls
/// [`emit`](Self::emit), subscribers (SSE, WebSocket) receive it.
///
/// ```
/// use labthings_core::Event;
/// let overheated: Event<f64> = Event::new();
/// overheated.emit(&81.5); // nobody subscribed: nothing happens
/// ```
pub struct Event<T> {
    listeners: RwLock<Vec<EventListener>>,
    payload: PhantomData<fn(T)>,
}

impl<T> Default for Event<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> std::fmt::Debug for Event<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Event")
            .field("listeners", &self.listeners.read().len())
            .finish()
    }
}

impl<T> Event<T> {
    /// An event with no listeners yet.
    pub fn new() -> Self {
        Self {
            listeners: RwLock::new(Vec::new()),
            payload: PhantomData,
        }
    }
}

impl<T: Serialize> Event<T> {
    /// Send `data` to every subscriber. A payload that cannot be written as
    /// JSON is logged and dropped.
    pub fn emit(&self, data: &T) {
        // Listeners are called under the read lock (they only publish), and
        // share one payload: no copy of the list or of the value per emit.
        let listeners = self.listeners.read();
        if listeners.is_empty() {
            return;
        }
        match serde_json::to_value(data) {
            Ok(value) => {
                let payload = Payload::from(value);
                for listener in listeners.iter() {
                    listener(&payload);
                }
            }
            Err(e) => tracing::warn!("event payload could not be written as JSON: {e}"),
        }
    }
}

/// An [`Event`] of any payload type, as the server sees it.
pub trait EventSource: Send + Sync {
    /// Call `listener` with every emitted payload.
    fn on_emit(&self, listener: EventListener);
}

impl<T> EventSource for Event<T> {
    fn on_emit(&self, listener: EventListener) {
        self.listeners.write().push(listener);
    }
}
