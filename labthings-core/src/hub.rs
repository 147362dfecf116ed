//! Notifications for observers: property changes, invocation status
//! changes and events, fanned out to every subscriber (WebSocket and SSE
//! connections).
//!
//! The policy for slow or dead subscribers: publishing never blocks and
//! never fails. Each subscriber has a bounded buffer ([`Hub::new`]'s
//! capacity, 256 by default); one that falls that far behind loses the
//! oldest notifications and is told how many it missed, and the others are
//! not affected. A subscriber that disconnects simply stops receiving.

use std::sync::Arc;

use serde_json::Value;
use tokio::sync::broadcast;

use crate::invocation::{Invocation, InvocationStatus};

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
        value: Value,
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
        data: Value,
    },
}

/// The server's notification fan-out.
///
/// ```
/// use labthings_core::hub::{Hub, Notification};
/// let hub = Hub::new(4);
/// let mut subscriber = hub.subscribe();
/// hub.publish(Notification::Event { thing: "cam".into(), name: "flash", data: 1.into() });
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
