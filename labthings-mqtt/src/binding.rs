//! The MQTT binding in one place: for the served things, every topic the
//! server publishes or listens on, what it carries, and the Thing
//! Description forms (WoT MQTT binding: `mqtt://` hrefs, `mqv:controlPacket`,
//! `mqv:retain`, `mqv:qos`) that describe it. The runtime (`run.rs`) and
//! the TD (`td.rs`) both read [`topics`], as the HTTP side reads
//! `binding.rs`, so the two cannot drift apart.

use std::sync::Arc;

use labthings_core::ThingInstance;
use labthings_td::{Form, JSON, Operation};

/// What a topic carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Carries {
    /// The server's `online` / `offline` (its Last Will).
    Status,
    /// A thing's Thing Description (retained).
    Td,
    /// Each value of property number `.0` (retained: a late subscriber
    /// gets the last one).
    PropertyValue(usize),
    /// New values for property number `.0`, published by clients.
    WriteProperty(usize),
    /// Inputs of action number `.0`, published by clients: each starts an
    /// invocation.
    InvokeAction(usize),
    /// The invocations of action number `.0`: their JSON at each change.
    Invocations(usize),
    /// Each payload of event number `.0`.
    Event(usize),
}

/// One topic of the binding.
#[derive(Debug, Clone)]
pub(crate) struct Topic {
    /// The thing it belongs to (its index in the served order), if any.
    pub(crate) thing: Option<usize>,
    /// The topic name.
    pub(crate) name: String,
    /// What it carries.
    pub(crate) carries: Carries,
}

impl Topic {
    /// Whether the server publishes it retained.
    pub(crate) fn retained(&self) -> bool {
        matches!(self.carries, Carries::Status | Carries::Td | Carries::PropertyValue(_))
    }

    /// Whether clients publish to it (the server subscribes).
    pub(crate) fn inbound(&self) -> bool {
        matches!(self.carries, Carries::WriteProperty(_) | Carries::InvokeAction(_))
    }
}

/// Every topic of a server whose topics start with `prefix`, serving `things`.
pub(crate) fn topics(prefix: &str, things: &[Arc<ThingInstance>]) -> Vec<Topic> {
    let mut all = vec![Topic {
        thing: None,
        name: format!("{prefix}/status"),
        carries: Carries::Status,
    }];
    for (t, thing) in things.iter().enumerate() {
        let base = format!("{prefix}/{}", thing.name());
        let mut add = |name: String, carries| {
            all.push(Topic {
                thing: Some(t),
                name,
                carries,
            })
        };
        add(format!("{base}/td"), Carries::Td);
        for (p, property) in thing.properties().iter().enumerate() {
            if property.observable() {
                add(
                    format!("{base}/properties/{}", property.name),
                    Carries::PropertyValue(p),
                );
            }
            if property.writable {
                add(
                    format!("{base}/properties/{}/set", property.name),
                    Carries::WriteProperty(p),
                );
            }
        }
        for (a, action) in thing.actions().iter().enumerate() {
            add(format!("{base}/actions/{}", action.name), Carries::InvokeAction(a));
            add(
                format!("{base}/actions/{}/invocations", action.name),
                Carries::Invocations(a),
            );
        }
        for (e, event) in thing.events().iter().enumerate() {
            add(format!("{base}/events/{}", event.name), Carries::Event(e));
        }
    }
    all
}

/// The MQTT forms of one affordance of thing `thing`, for a broker at
/// `broker` (`mqtt://host:port`): what a WoT client subscribes or
/// publishes to.
pub(crate) fn forms(topics: &[Topic], thing: usize, affordance: Affordance, broker: &str) -> Vec<Form> {
    let broker = broker.trim_end_matches('/');
    topics
        .iter()
        .filter(|t| t.thing == Some(thing))
        .filter_map(|t| {
            let (ops, packet) = match (affordance, t.carries) {
                (Affordance::Property(p), Carries::PropertyValue(q)) if p == q => (
                    vec![
                        Operation::ReadProperty,
                        Operation::ObserveProperty,
                        Operation::UnobserveProperty,
                    ],
                    "subscribe",
                ),
                (Affordance::Property(p), Carries::WriteProperty(q)) if p == q => {
                    (vec![Operation::WriteProperty], "publish")
                }
                (Affordance::Action(a), Carries::InvokeAction(b)) if a == b => {
                    (vec![Operation::InvokeAction], "publish")
                }
                (Affordance::Event(e), Carries::Event(f)) if e == f => (
                    vec![Operation::SubscribeEvent, Operation::UnsubscribeEvent],
                    "subscribe",
                ),
                _ => return None,
            };
            let mut form = Form::new(format!("{broker}/{}", t.name), ops);
            form.content_type = Some(JSON.to_owned());
            form.extra.insert("mqv:controlPacket".into(), packet.into());
            form.extra.insert("mqv:retain".into(), t.retained().into());
            form.extra.insert("mqv:qos".into(), "1".into());
            Some(form)
        })
        .collect()
}

/// Which affordance of a thing MQTT forms are asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Affordance {
    /// Property number `.0`.
    Property(usize),
    /// Action number `.0`.
    Action(usize),
    /// Event number `.0`.
    Event(usize),
}
