//! Notifications for observers: property changes, invocation status
//! changes and events, fanned out to every subscriber (WebSocket, SSE and
//! MQTT connections).
//!
//! The policy for slow or dead subscribers: publishing never blocks and
//! never fails. Each subscriber has a bounded buffer ([`Hub::new`]'s
//! capacity, 256 by default); one that falls that far behind loses the
//! oldest notifications and is told how many it missed, and the others are
//! not affected. A subscriber that disconnects simply stops receiving.
//!
//! Every notification is numbered in its Thing's sequence
//! ([`Sequenced::seq`]: 1, 2, 3, ... from the server's start), so a client
//! can tell when it missed one; and the hub keeps each Thing's latest
//! notifications (at most [`REPLAY_COUNT`] and [`REPLAY_BYTES`] of values
//! per Thing), so a client that reconnects after a blip is sent what it
//! missed ([`Hub::resume`]), or told that the gap is too old.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, OnceLock, Weak};

use parking_lot::Mutex;
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

impl Notification {
    /// The name of the Thing it concerns.
    pub fn thing(&self) -> &str {
        match self {
            Self::Property { thing, .. } | Self::Event { thing, .. } => thing,
            Self::Invocation { invocation, .. } => invocation.thing(),
        }
    }
}

/// A notification and its place in its Thing's sequence.
#[derive(Debug, Clone)]
pub struct Sequenced {
    /// 1 for the Thing's first notification since the server started, one
    /// more for each after it (property changes, events and invocation
    /// updates of that Thing share the sequence).
    pub seq: u64,
    /// What happened.
    pub notification: Notification,
}

/// What a subscriber that resumes after notification `after` missed.
#[derive(Debug, Clone)]
pub enum Missed {
    /// Every notification of the Thing after it, oldest first (none, when
    /// nothing happened meanwhile).
    Kept(Vec<Sequenced>),
    /// Some of them are no longer kept (or `after` is not a number this
    /// hub gave): the subscriber must read the state afresh.
    TooOld,
}

/// A subscription that starts where an earlier one left off
/// ([`Hub::resume`]).
#[derive(Debug)]
pub struct Resumed {
    /// What was missed, if the subscriber said where it left off.
    pub missed: Option<Missed>,
    /// The Thing's latest number when the subscription began (0 before its
    /// first notification): every later one comes through `receiver`.
    pub latest: u64,
    /// Notifications from then on.
    pub receiver: broadcast::Receiver<Sequenced>,
}

/// At most this many notifications of each Thing are kept for subscribers
/// that resume.
pub const REPLAY_COUNT: usize = 1024;

/// At most this many bytes of values (as JSON text) of each Thing's
/// notifications are kept for subscribers that resume; a larger value is
/// not kept at all.
pub const REPLAY_BYTES: usize = 4 << 20;

/// The server's notification fan-out.
///
/// ```
/// use labthings_core::hub::{Hub, Missed, Notification};
/// let hub = Hub::new(4);
/// let mut subscriber = hub.subscribe();
/// let flash = || Notification::Event { thing: "cam".into(), name: "flash", data: serde_json::json!(1).into() };
/// hub.publish(flash());
/// let first = subscriber.try_recv().expect("told");
/// assert_eq!(first.seq, 1);
/// assert!(matches!(first.notification, Notification::Event { name: "flash", .. }));
///
/// // A subscriber that left after the first is sent what came since.
/// hub.publish(flash());
/// hub.publish(flash());
/// let resumed = hub.resume("cam", Some(1));
/// let Some(Missed::Kept(missed)) = resumed.missed else { panic!("kept") };
/// assert_eq!(missed.iter().map(|m| m.seq).collect::<Vec<_>>(), [2, 3]);
/// assert_eq!(resumed.latest, 3);
/// ```
#[derive(Debug, Clone)]
pub struct Hub {
    sender: broadcast::Sender<Sequenced>,
    kept: Arc<Mutex<HashMap<Arc<str>, Ring>>>,
    limits: (usize, usize),
    epoch: Arc<str>,
}

impl Default for Hub {
    fn default() -> Self {
        Self::new(256)
    }
}

/// One Thing's sequence and latest notifications.
#[derive(Debug, Default)]
struct Ring {
    /// The last number given.
    latest: u64,
    /// Every notification numbered up to this one is gone (0: none).
    forgotten: u64,
    /// Bytes of values kept.
    bytes: usize,
    kept: VecDeque<Kept>,
}

/// A notification kept for resuming subscribers. An invocation is held
/// weakly: the record of an update never keeps an invocation (and its
/// output) in memory after the manager let it go.
#[derive(Debug)]
enum Kept {
    Value {
        seq: u64,
        notification: Notification,
        bytes: usize,
    },
    Invocation {
        seq: u64,
        invocation: Weak<Invocation>,
        status: InvocationStatus,
    },
}

impl Kept {
    fn seq(&self) -> u64 {
        match self {
            Self::Value { seq, .. } | Self::Invocation { seq, .. } => *seq,
        }
    }

    fn bytes(&self) -> usize {
        match self {
            Self::Value { bytes, .. } => *bytes,
            Self::Invocation { .. } => 0,
        }
    }

    /// The notification again; `None` for an invocation already let go.
    fn sequenced(&self) -> Option<Sequenced> {
        match self {
            Self::Value { seq, notification, .. } => Some(Sequenced {
                seq: *seq,
                notification: notification.clone(),
            }),
            Self::Invocation {
                seq,
                invocation,
                status,
            } => Some(Sequenced {
                seq: *seq,
                notification: Notification::Invocation {
                    invocation: invocation.upgrade()?,
                    status: *status,
                },
            }),
        }
    }
}

impl Ring {
    /// Number `notification` and keep it, forgetting the oldest beyond the limits.
    fn push(&mut self, notification: &Notification, (count, max_bytes): (usize, usize)) -> u64 {
        self.latest = self.latest.saturating_add(1);
        let seq = self.latest;
        let kept = match notification {
            Notification::Property { value: payload, .. } | Notification::Event { data: payload, .. } => {
                let bytes = payload.text().len();
                (bytes <= max_bytes).then(|| Kept::Value {
                    seq,
                    notification: notification.clone(),
                    bytes,
                })
            }
            Notification::Invocation { invocation, status } => Some(Kept::Invocation {
                seq,
                invocation: Arc::downgrade(invocation),
                status: *status,
            }),
        };
        let Some(kept) = kept else {
            // Too large to keep: whoever misses it must read afresh.
            self.kept.clear();
            self.bytes = 0;
            self.forgotten = seq;
            return seq;
        };
        self.bytes = self.bytes.saturating_add(kept.bytes());
        self.kept.push_back(kept);
        while self.kept.len() > count || self.bytes > max_bytes {
            let Some(old) = self.kept.pop_front() else { break };
            self.bytes = self.bytes.saturating_sub(old.bytes());
            self.forgotten = old.seq();
        }
        seq
    }

    /// What came after `after`.
    fn since(&self, after: u64) -> Missed {
        if after < self.forgotten || after > self.latest {
            return Missed::TooOld;
        }
        Missed::Kept(
            self.kept
                .iter()
                .filter(|k| k.seq() > after)
                .filter_map(Kept::sequenced)
                .collect(),
        )
    }
}

impl Hub {
    /// A hub whose subscribers each buffer at most `capacity` notifications,
    /// keeping [`REPLAY_COUNT`] notifications ([`REPLAY_BYTES`] of values)
    /// of each Thing for subscribers that resume.
    pub fn new(capacity: usize) -> Self {
        Self::with_replay(capacity, REPLAY_COUNT, REPLAY_BYTES)
    }

    /// A hub like [`new`](Self::new)'s keeping at most `count`
    /// notifications and `bytes` of values of each Thing for subscribers
    /// that resume.
    pub fn with_replay(capacity: usize, count: usize, bytes: usize) -> Self {
        Self {
            sender: broadcast::Sender::new(capacity.max(1)),
            kept: Arc::default(),
            limits: (count, bytes),
            epoch: uuid::Uuid::new_v4().simple().to_string()[..8].into(),
        }
    }

    /// Number the notification in its Thing's sequence, keep it for
    /// subscribers that resume, and tell every subscriber; never blocks on
    /// a subscriber (nobody listening is fine).
    pub fn publish(&self, notification: Notification) {
        // The value's text (kept, and sent to every subscriber) is written
        // before the lock is taken, not while publishers wait for it.
        if let Notification::Property { value: payload, .. } | Notification::Event { data: payload, .. } = &notification
        {
            payload.text();
        }
        let mut kept = self.kept.lock();
        let seq = match kept.get_mut(notification.thing()) {
            Some(ring) => ring.push(&notification, self.limits),
            None => {
                let mut ring = Ring::default();
                let seq = ring.push(&notification, self.limits);
                kept.insert(notification.thing().into(), ring);
                seq
            }
        };
        // Sent with the lock held: subscribers receive each Thing's
        // notifications in the order of their numbers, and one that
        // resumes (below) neither misses nor repeats one.
        if self.sender.receiver_count() > 0 {
            let _ = self.sender.send(Sequenced { seq, notification });
        }
    }

    /// Start receiving notifications published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Sequenced> {
        self.sender.subscribe()
    }

    /// Start receiving `thing`'s notifications again where a subscriber
    /// left off: `after` is the number of the last one it received (none:
    /// a new subscriber). What it missed is in [`Resumed::missed`]; the
    /// receiver then brings every later one (of every Thing; those of
    /// `thing` numbered after [`Resumed::latest`]).
    pub fn resume(&self, thing: &str, after: Option<u64>) -> Resumed {
        let kept = self.kept.lock();
        let receiver = self.sender.subscribe();
        let latest = kept.get(thing).map_or(0, |r| r.latest);
        let missed = after.map(|after| since(&kept, thing, after));
        Resumed {
            missed,
            latest,
            receiver,
        }
    }

    /// What `thing` published after `after`, for a subscriber that fell
    /// behind (its receiver skipped some): the notifications still kept,
    /// or [`Missed::TooOld`].
    pub fn missed(&self, thing: &str, after: u64) -> Missed {
        since(&self.kept.lock(), thing, after)
    }

    /// A name for this hub's sequences, different each time a server
    /// starts: numbers from another start (a client that reconnects after
    /// a restart) mean nothing here, and a client compares the two to tell.
    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    /// How many subscribers there are.
    pub fn subscribers(&self) -> usize {
        self.sender.receiver_count()
    }
}

/// What `thing` published after `after`, among the rings `kept` (a Thing
/// that has published nothing has missed nothing since 0).
fn since(kept: &HashMap<Arc<str>, Ring>, thing: &str, after: u64) -> Missed {
    match kept.get(thing) {
        Some(ring) => ring.since(after),
        None if after == 0 => Missed::Kept(Vec::new()),
        None => Missed::TooOld,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn value(thing: &str, n: i64) -> Notification {
        Notification::Property {
            thing: thing.into(),
            name: "count",
            value: json!(n).into(),
        }
    }

    fn seqs(missed: Option<Missed>) -> Vec<u64> {
        match missed {
            Some(Missed::Kept(kept)) => kept.iter().map(|k| k.seq).collect(),
            other => panic!("expected kept notifications, got {other:?}"),
        }
    }

    #[test]
    fn each_thing_has_its_own_sequence() {
        let hub = Hub::new(16);
        let mut receiver = hub.subscribe();
        hub.publish(value("a", 1));
        hub.publish(value("b", 1));
        hub.publish(value("a", 2));
        let told: Vec<(String, u64)> = std::iter::from_fn(|| receiver.try_recv().ok())
            .map(|s| (s.notification.thing().to_owned(), s.seq))
            .collect();
        assert_eq!(told, [("a".into(), 1), ("b".into(), 1), ("a".into(), 2)]);
    }

    #[test]
    fn a_subscriber_that_resumes_gets_what_it_missed_once() {
        let hub = Hub::new(16);
        for n in 1..=5 {
            hub.publish(value("a", n));
        }
        let mut resumed = hub.resume("a", Some(2));
        assert_eq!(seqs(resumed.missed.take()), [3, 4, 5]);
        assert_eq!(resumed.latest, 5);
        hub.publish(value("a", 6));
        let next = resumed.receiver.try_recv().expect("the next one");
        assert_eq!(next.seq, 6);
        assert!(resumed.receiver.try_recv().is_err(), "nothing twice");
        assert_eq!(seqs(hub.resume("a", Some(6)).missed), Vec::<u64>::new());
        assert!(hub.resume("a", None).missed.is_none());
    }

    #[test]
    fn a_gap_longer_than_what_is_kept_is_too_old() {
        let hub = Hub::with_replay(16, 3, 1 << 20);
        for n in 1..=10 {
            hub.publish(value("a", n));
        }
        assert_eq!(seqs(hub.resume("a", Some(7)).missed), [8, 9, 10]);
        assert!(matches!(hub.resume("a", Some(6)).missed, Some(Missed::TooOld)));
        // A number this hub never gave (another start's).
        assert!(matches!(hub.resume("a", Some(11)).missed, Some(Missed::TooOld)));
        assert!(matches!(hub.resume("b", Some(1)).missed, Some(Missed::TooOld)));
        assert_eq!(seqs(hub.resume("b", Some(0)).missed), Vec::<u64>::new());
    }

    #[test]
    fn values_are_kept_within_their_byte_budget() {
        let hub = Hub::with_replay(16, 100, 10);
        hub.publish(value("a", 1234)); // 4 bytes
        hub.publish(value("a", 5678)); // 8
        hub.publish(value("a", 9012)); // 12: the first goes
        assert_eq!(seqs(hub.resume("a", Some(1)).missed), [2, 3]);
        assert!(matches!(hub.resume("a", Some(0)).missed, Some(Missed::TooOld)));
        // One larger than the whole budget is not kept, nor anything before it.
        hub.publish(value("a", 12_345_678_901));
        assert!(matches!(hub.resume("a", Some(3)).missed, Some(Missed::TooOld)));
        hub.publish(value("a", 1));
        assert_eq!(seqs(hub.resume("a", Some(4)).missed), [5]);
    }
}
