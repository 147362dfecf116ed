//! MQTT 5 request/response: a client that invokes an action with a
//! response topic (and, usually, correlation data) gets the invocation's
//! updates published there too, each carrying its correlation data, the
//! last one (completed, failed or cancelled, with the output) always.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use labthings_core::Invocation;
use parking_lot::Mutex;
use rumqttc::v5::mqttbytes::v5::PublishProperties;
use uuid::Uuid;

/// How many running invocations may have a response topic at once; past
/// that, new invocations asking for one are refused.
pub(crate) const MAX_WATCHED: usize = 1024;

/// Where a client asked for an invocation's updates.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    /// The client's response topic.
    pub(crate) topic: String,
    /// Its correlation data, returned unchanged.
    correlation: Option<Bytes>,
}

impl Reply {
    /// A reply to `topic` with `correlation`, or why the server will not
    /// publish there: a topic name with wildcards or a NUL would make the
    /// broker drop the server's connection, `$` topics belong to the
    /// broker, and the server's own topics (under `prefix`) carry its
    /// values, which a client must not be able to spoof.
    pub(crate) fn new(topic: String, correlation: Option<Bytes>, prefix: &str) -> Result<Self, String> {
        let problem = if topic.is_empty() {
            Some("is empty")
        } else if topic.contains(['+', '#']) {
            Some("has a wildcard (+ or #)")
        } else if topic.contains('\0') {
            Some("has a NUL character")
        } else if topic.starts_with('$') {
            Some("starts with $ (the broker's own topics)")
        } else if topic.len() > MAX_TOPIC_BYTES {
            Some("is longer than 1,024 bytes")
        } else if topic.split('/').count() > MAX_TOPIC_LEVELS {
            // Mosquitto treats a publish past its limit (200 levels) as a
            // protocol error and disconnects the publisher: this server.
            Some("has more than 64 levels")
        } else if topic == prefix || topic.starts_with(&format!("{prefix}/")) {
            Some("is one of this server's own topics")
        } else {
            None
        };
        match problem {
            Some(problem) => Err(format!("the response topic {topic:?} {problem}")),
            None => Ok(Self { topic, correlation }),
        }
    }

    /// The MQTT 5 properties of each message to the response topic.
    pub(crate) fn properties(&self) -> PublishProperties {
        PublishProperties {
            payload_format_indicator: Some(1),
            content_type: Some("application/json".to_owned()),
            correlation_data: self.correlation.clone(),
            ..PublishProperties::default()
        }
    }
}

/// The longest response topic taken, in bytes.
const MAX_TOPIC_BYTES: usize = 1024;

/// The most levels a response topic may have.
const MAX_TOPIC_LEVELS: usize = 64;

/// The invocations being watched for a client, by id.
#[derive(Default)]
pub(crate) struct Replies(Mutex<HashMap<Uuid, (Arc<Invocation>, Reply)>>);

impl Replies {
    /// Whether another invocation may be watched.
    pub(crate) fn has_room(&self) -> bool {
        self.0.lock().len() < MAX_WATCHED
    }

    /// Watch `invocation` (just started) for `reply`. If it has already
    /// finished, nothing is kept and the reply is returned: the caller
    /// publishes the final state (`update` will not, so it goes out once).
    pub(crate) fn watch(&self, invocation: &Arc<Invocation>, reply: Reply) -> Option<Reply> {
        let mut watched = self.0.lock();
        if invocation.status().is_finished() {
            return Some(reply);
        }
        watched.insert(invocation.id(), (invocation.clone(), reply));
        None
    }

    /// Where to publish a change of `invocation`, if a client asked; a
    /// finished invocation is forgotten (so its final state goes out once,
    /// and must be rendered after this call).
    pub(crate) fn update(&self, invocation: &Invocation) -> Option<Reply> {
        let mut watched = self.0.lock();
        if invocation.status().is_finished() {
            watched.remove(&invocation.id()).map(|(_, reply)| reply)
        } else {
            watched.get(&invocation.id()).map(|(_, reply)| reply.clone())
        }
    }

    /// Forget every finished invocation and return them with their
    /// replies: after notifications were missed, their final states are
    /// published from here.
    pub(crate) fn sweep(&self) -> Vec<(Arc<Invocation>, Reply)> {
        let mut watched = self.0.lock();
        let done: Vec<Uuid> = watched
            .iter()
            .filter(|(_, (i, _))| i.status().is_finished())
            .map(|(id, _)| *id)
            .collect();
        done.into_iter().filter_map(|id| watched.remove(&id)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::Reply;

    #[test]
    fn response_topics_that_would_harm_are_refused() {
        for (topic, problem) in [
            ("", "is empty"),
            ("replies/#", "wildcard"),
            ("replies/+/x", "wildcard"),
            ("a\0b", "NUL"),
            ("$SYS/x", "starts with $"),
            ("labthings/lab1/bench/properties/count", "own topics"),
            ("labthings/lab1", "own topics"),
        ] {
            let refused = Reply::new(topic.to_owned(), None, "labthings/lab1").expect_err(topic);
            assert!(refused.contains(problem), "{topic}: {refused}");
        }
        assert!(Reply::new("x".repeat(70_000), None, "p").is_err());
        for fine in ["replies/client-7", "labthings/lab2/replies", "labthings/lab10/x"] {
            assert!(Reply::new(fine.to_owned(), None, "labthings/lab1").is_ok(), "{fine}");
        }
    }
}
