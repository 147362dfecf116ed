//! Notifications for observers: property changes, invocation status
//! changes and events, fanned out to every subscriber (WebSocket and SSE
//! connections).
//!
//! The policy for slow or dead subscribers: publishing never blocks and
//! never fails. Each subscriber has a bounded buffer ([`Hub::new`]'s
//! capacity, 256 by default); one that falls that far behind loses the
//! oldest notifications and is told how many it missed, and the others are
//! not affected. A subscriber that disconnects simply stops receiving.

use std::sync::{Arc, OnceLock};

use serde_json::Value;
use tokio::sync::broadcast;

use crate::invocation::{Invocation, InvocationStatus};

/// A notification's JSON value, shared by every subscriber: a clone is a
/// reference count, and the text is written once, by whichever subscriber
/// asks first, however many there are.
///
/// ```
/// use labthings_core::hub::Payload;
/// let payload = Payload::from(serde_json::json!({"x": 1}));
/// let copy = payload.clone();
/// assert_eq!(copy.text(), r#"{"x":1}"#);
/// assert_eq!(payload.value()["x"], 1);
/// ```
#[derive(Debug, Clone)]
pub struct Payload(Arc<PayloadInner>);

#[derive(Debug)]
struct PayloadInner {
    value: Value,
    text: OnceLock<String>,
}

impl Payload {
    /// The value.
    pub fn value(&self) -> &Value {
        &self.0.value
    }

    /// The value as JSON text (written on first use, then shared).
    pub fn text(&self) -> &str {
        self.0.text.get_or_init(|| self.0.value.to_string())
    }
}

impl From<Value> for Payload {
    fn from(value: Value) -> Self {
        Self(Arc::new(PayloadInner {
            value,
            text: OnceLock::new(),
        }))
    }
}

impl PartialEq for Payload {
    fn eq(&self, other: &Self) -> bool {
        self.value() == other.value()
    }
}

/// Something observers may want to hear about.
#[derive(Debug, Clone)]
pub enum Notification {
    /// An observable property changed.
    Property {
        /// The Thing's name.
        thing: Arc<str>,
        /// The property's name.
        name: &'static str,
        /// Its new value.
        value: Payload,
    },
    /// An invocation changed status.
    Invocation {
        /// The invocation (its current state may already be later).
        invocation: Arc<Invocation>,
        /// The status it changed to, when this was published.
        status: InvocationStatus,
    },
    /// A Thing emitted an event.
    Event {
        /// The Thing's name.
        thing: Arc<str>,
        /// The event's name.
        name: &'static str,
        /// Its payload.
        data: Payload,
    },
}

/// The server's notification fan-out.
///
/// ```
/// use labthings_core::hub::{Hub, Notification};
/// let hub = Hub::new(4);
/// let mut subscriber = hub.subscribe();
/// hub.publish(Notification::Event { thing: "cam".into(), name: "flash", data: serde_json::json!(1).into() });
/// assert!(matches!(subscriber.try_recv(), Ok(Notification::Event { name: "flash", .. })));
/// ```
#[derive(Debug, Clone)]
pub struct Hub {
    sender: broadcast::Sender<Notification>,
}

impl Default for Hub {
    fn default() -> Self {
        Self::new(256)
    }
}

impl Hub {
    /// A hub whose subscribers each buffer at most `capacity` notifications.
    pub fn new(capacity: usize) -> Self {
        Self {
            sender: broadcast::Sender::new(capacity.max(1)),
        }
    }

    /// Tell every subscriber; never blocks (nobody listening is fine).
    pub fn publish(&self, notification: Notification) {
        if self.sender.receiver_count() > 0 {
            let _ = self.sender.send(notification);
        }
    }

    /// Start receiving notifications published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Notification> {
        self.sender.subscribe()
    }

    /// How many subscribers there are.
    pub fn subscribers(&self) -> usize {
        self.sender.receiver_count()
    }
}
