//! The messages waiting for the broker: a bounded queue that, when full,
//! drops its oldest message, so that after the broker was away the newest
//! values, events and invocation updates are the ones that go out. Device
//! code and HTTP handlers only ever push (never wait); one task drains it
//! into the MQTT client.

use std::collections::VecDeque;

use parking_lot::Mutex;
use rumqttc::v5::mqttbytes::v5::PublishProperties;
use tokio::sync::Notify;

/// One message to publish (QoS 1).
#[derive(Debug)]
pub(crate) struct Message {
    pub(crate) topic: String,
    pub(crate) retain: bool,
    pub(crate) payload: Vec<u8>,
    pub(crate) properties: Option<PublishProperties>,
}

/// A bounded queue of messages, oldest dropped first.
pub(crate) struct Outbox {
    queue: Mutex<VecDeque<Message>>,
    ready: Notify,
    capacity: usize,
}

impl Outbox {
    /// An outbox holding at most `capacity` messages (at least one).
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            queue: Mutex::new(VecDeque::new()),
            ready: Notify::new(),
            capacity: capacity.max(1),
        }
    }

    /// Queue `message`; whether the oldest waiting message was dropped to
    /// make room.
    pub(crate) fn push(&self, message: Message) -> bool {
        let dropped = {
            let mut queue = self.queue.lock();
            let full = queue.len() >= self.capacity;
            if full {
                queue.pop_front();
            }
            queue.push_back(message);
            full
        };
        self.ready.notify_one();
        dropped
    }

    /// The oldest waiting message, once there is one.
    pub(crate) async fn next(&self) -> Message {
        loop {
            if let Some(message) = self.queue.lock().pop_front() {
                return message;
            }
            // A push between the check and here leaves a permit: no lost wake-up.
            self.ready.notified().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Message, Outbox};

    fn message(n: u32) -> Message {
        Message {
            topic: "t".to_owned(),
            retain: false,
            payload: n.to_string().into_bytes(),
            properties: None,
        }
    }

    #[tokio::test]
    async fn a_full_outbox_drops_its_oldest_messages() {
        let outbox = Outbox::new(3);
        let dropped: Vec<bool> = (1..=5).map(|n| outbox.push(message(n))).collect();
        assert_eq!(dropped, [false, false, false, true, true]);
        let mut left = Vec::new();
        for _ in 0..3 {
            left.push(String::from_utf8(outbox.next().await.payload).expect("UTF-8"));
        }
        assert_eq!(left, ["3", "4", "5"], "the newest are kept, in order");
    }

    #[tokio::test]
    async fn next_wakes_for_a_later_push() {
        let outbox = std::sync::Arc::new(Outbox::new(2));
        let waiting = tokio::spawn({
            let outbox = outbox.clone();
            async move { outbox.next().await.payload }
        });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        outbox.push(message(7));
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
            .await
            .expect("woken")
            .expect("joined");
        assert_eq!(got, b"7");
    }
}
