//! The MQTT connection of a server: one MQTT 5 client per server,
//! connecting out to the broker (so it works across NAT and subnets),
//! publishing what the binding table says and acting on what clients
//! publish. Clients of any MQTT version meet it through the broker; those
//! speaking MQTT 5 may ask for an invocation's updates on a response topic
//! of their own, with their correlation data (see `replies.rs`).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use labthings_core::hub::{Notification, Sequenced};
use labthings_core::{PropertyError, PropertyWriteError, Refusal};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{
    DisconnectReasonCode, Filter, LastWill, Packet, Publish, PublishProperties, RetainForwardRule,
};
use rumqttc::v5::{AsyncClient, Event, EventLoop, MqttOptions};
use rumqttc::{TlsConfiguration, Transport};
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use super::binding::{Carries, Topic, topics};
use super::config::MqttConfig;
use super::outbox::{Message, Outbox};
use super::replies::{Replies, Reply};
use labthings_core::companion::Host;

/// A running MQTT binding; [`stop`](Self::stop) says `offline` and leaves.
pub(crate) struct MqttBinding {
    client: AsyncClient,
    status: String,
    task: tokio::task::JoinHandle<()>,
}

impl MqttBinding {
    /// Publish `offline` (retained), disconnect, and end the task.
    pub(crate) async fn stop(self) {
        let said = self.client.publish(&self.status, QoS::AtLeastOnce, true, "offline");
        let _ = tokio::time::timeout(Duration::from_secs(1), said).await;
        let _ = tokio::time::timeout(Duration::from_secs(1), self.client.disconnect()).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        self.task.abort();
    }
}

/// What the connection needs to know of the server.
struct Context {
    host: Arc<dyn Host>,
    topics: Vec<Topic>,
    /// Value and event topics by (thing, affordance name).
    outbound: HashMap<(String, String), usize>,
    /// Messages waiting for the broker (the oldest dropped when full).
    outbox: Outbox,
    /// Messages that could not wait for the broker.
    dropped: AtomicU64,
    /// Bytes of commands waiting in the queue.
    queued_bytes: AtomicUsize,
    /// Invocations whose updates a client asked for on its response topic.
    replies: Replies,
    /// The server's topic prefix (no response topic may point under it).
    prefix: String,
    /// Refusals of commands: logged, and answered, at a bounded rate.
    refusals: Refusals,
    /// The client id, for the log line that says another client uses it.
    client_id: String,
}

/// Refusals of what clients publish, at a bounded rate: a flood of bad
/// messages must neither fill the disk with the log nor the broker with
/// answers.
struct Refusals {
    /// One warning per 10 s, with the count held back.
    log: labthings_core::log_limit::LogLimiter,
    /// Answers published in the current second.
    answered: parking_lot::Mutex<(std::time::Instant, u32)>,
}

/// Answers to refused commands published per second at most.
const ANSWERS_PER_SECOND: u32 = 20;

impl Refusals {
    fn new() -> Self {
        Self {
            log: labthings_core::log_limit::LogLimiter::new(Duration::from_secs(10)),
            answered: parking_lot::Mutex::new((std::time::Instant::now(), 0)),
        }
    }

    /// Whether another answer may be published this second.
    fn may_answer(&self) -> bool {
        let mut answered = self.answered.lock();
        let now = std::time::Instant::now();
        if now.duration_since(answered.0) >= Duration::from_secs(1) {
            *answered = (now, 0);
        }
        answered.1 = answered.1.saturating_add(1);
        answered.1 <= ANSWERS_PER_SECOND
    }
}

/// Connect to the broker of `config` (checked when the server was built)
/// and run the binding for `server`.
pub(crate) fn spawn(server: Arc<dyn Host>, config: &MqttConfig) -> Result<MqttBinding, String> {
    let (host, port) = config.host_port()?;
    let prefix = config.prefix();
    let status = format!("{prefix}/status");
    let mut options = MqttOptions::new(config.client_id.clone(), host, port);
    options.set_keep_alive(Duration::from_secs(5));
    // Commands larger than this are refused by the broker, which bounds the
    // memory one message can take (rumqttc's default is 10 KiB).
    options.set_max_packet_size(Some(MAX_INCOMING));
    options.set_last_will(LastWill::new(&status, "offline", QoS::AtLeastOnce, true, None));
    if let Some(tls) = config.tls()? {
        options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(Arc::new(tls))));
    }
    if let Some(username) = &config.username {
        options.set_credentials(username, config.password()?.unwrap_or_default());
    }
    // The client's own queue is short: messages wait in the outbox, where
    // the oldest are dropped first.
    let (client, eventloop) = AsyncClient::new(options, CLIENT_QUEUE);
    let topics = topics(&prefix, server.lab().things());
    let outbound = topics
        .iter()
        .enumerate()
        .filter_map(|(i, topic)| {
            let thing = server.lab().things().get(topic.thing?)?;
            let name = match topic.carries {
                Carries::PropertyValue(p) => thing.properties().get(p)?.name,
                Carries::Event(e) => thing.events().get(e)?.name,
                Carries::Invocations(a) => thing.actions().get(a)?.name,
                _ => return None,
            };
            Some(((thing.name().to_owned(), name.to_owned()), i))
        })
        .collect();
    let context = Arc::new(Context {
        host: server,
        topics,
        outbound,
        outbox: Outbox::new(config.buffer),
        dropped: AtomicU64::new(0),
        queued_bytes: AtomicUsize::new(0),
        replies: Replies::default(),
        prefix,
        refusals: Refusals::new(),
        client_id: config.client_id.clone(),
    });
    let task = tokio::spawn(run(context, client.clone(), eventloop));
    Ok(MqttBinding { client, status, task })
}

/// How many commands (writes, invocations) received over MQTT may wait to
/// be carried out, and how many bytes they may hold together; past either,
/// new ones are dropped (and counted), so a flood of messages cannot pile
/// up work or memory.
const COMMAND_QUEUE: usize = 256;
const COMMAND_BYTES: usize = 16 << 20;

/// How many messages the MQTT client itself may hold (see `Outbox`).
const CLIENT_QUEUE: usize = 64;

/// The largest message the server takes from the broker (1 MiB).
const MAX_INCOMING: u32 = 1 << 20;

async fn run(context: Arc<Context>, client: AsyncClient, mut eventloop: EventLoop) {
    let mut hub = context.host.lab().hub().subscribe();
    // Commands are carried out one at a time, in the order they came.
    let (commands, mut queue) = tokio::sync::mpsc::channel::<Publish>(COMMAND_QUEUE);
    let worker = {
        let context = context.clone();
        tokio::spawn(async move {
            while let Some(message) = queue.recv().await {
                context.queued_bytes.fetch_sub(message.payload.len(), Ordering::Relaxed);
                command(context.clone(), message).await;
            }
        })
    };
    let _worker = AbortOnDrop(worker);
    // Messages leave the outbox only while connected: while the broker is
    // away they wait there, where the oldest are dropped first.
    let (online, mut is_online) = tokio::sync::watch::channel(false);
    let sender = {
        let (context, client) = (context.clone(), client.clone());
        tokio::spawn(async move {
            loop {
                if is_online.wait_for(|up| *up).await.is_err() {
                    return;
                }
                let m = context.outbox.next().await;
                let properties = m.properties.unwrap_or_default();
                let _ = client
                    .publish_with_properties(m.topic, QoS::AtLeastOnce, m.retain, m.payload, properties)
                    .await;
            }
        })
    };
    let _sender = AbortOnDrop(sender);
    let mut backoff = MIN_BACKOFF;
    // Since when the connection is up: the back-off starts again only after
    // a connection that lasted, so a broker (or another client with this
    // client id) that drops the server at once is not retried ten times a
    // second.
    let mut connected_at: Option<std::time::Instant> = None;
    let taken_over = labthings_core::log_limit::LogLimiter::new(Duration::from_secs(60));
    // Connections in a row that the broker closed soon after accepting them.
    let mut short_lived = 0u32;
    // At most one announcement runs: a new connection replaces the last's.
    let mut announcing: Option<AbortOnDrop> = None;
    loop {
        tokio::select! {
            polled = eventloop.poll() => match polled {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    tracing::info!("MQTT: connected to the broker");
                    connected_at = Some(std::time::Instant::now());
                    online.send_replace(true);
                    let next = AbortOnDrop(tokio::spawn(announce(context.clone(), client.clone())));
                    // Dropping the last one's handle ends it.
                    drop(announcing.replace(next));
                }
                Ok(Event::Incoming(Packet::Publish(message))) => {
                    let size = message.payload.len();
                    let queued = context.queued_bytes.fetch_add(size, Ordering::Relaxed);
                    if queued.saturating_add(size) > COMMAND_BYTES || commands.try_send(message).is_err() {
                        context.queued_bytes.fetch_sub(size, Ordering::Relaxed);
                        drop_count(&context, 1);
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    online.send_replace(false);
                    let lost = connected_at.take();
                    match lost.map(|at| at.elapsed() >= STABLE) {
                        Some(true) => {
                            backoff = MIN_BACKOFF;
                            short_lived = 0;
                        }
                        Some(false) => short_lived = short_lived.saturating_add(1),
                        None => {}
                    }
                    // Mosquitto closes a taken-over session without saying
                    // why to the client: connections the broker accepts and
                    // then drops within seconds, again and again, are the sign.
                    if is_takeover(&error) || short_lived >= 2 {
                        backoff = backoff.max(TAKEOVER_BACKOFF);
                        taken_over.hit(|more| {
                            tracing::error!(
                                "MQTT: the broker keeps closing this server's connection soon after accepting it, \
                                 most likely because another client with the same client id `{}` connects (the \
                                 broker gives the session to the newest): give each server its own `client_id` \
                                 in [mqtt]; retrying every {} s or more{more}",
                                context.client_id,
                                backoff.as_secs()
                            );
                        });
                    } else if lost.is_some() {
                        tracing::warn!("MQTT: lost the broker ({error}); reconnecting with back-off");
                    } else {
                        tracing::debug!("MQTT: no connection to the broker ({error}); retrying in {:.1} s", backoff.as_secs_f64());
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            },
            note = hub.recv() => match note {
                Ok(note) => notify(&context, note),
                Err(RecvError::Lagged(missed)) => {
                    drop_count(&context, missed);
                    // Final states the missed notifications carried still go out.
                    for (invocation, reply) in context.replies.sweep() {
                        let json = context.host.invocation_json(&invocation, true);
                        answer(&context, &reply, &json);
                    }
                }
                Err(RecvError::Closed) => return,
            },
        }
    }
}

/// `InvalidInput` as `invalid-input`.
fn kebab(title: &str) -> String {
    let mut out = String::with_capacity(title.len() + 4);
    for (i, c) in title.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('-');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// The first wait before reconnecting, and the longest.
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A connection that lasted this long resets the back-off.
const STABLE: Duration = Duration::from_secs(10);
/// The wait after another client took the session over.
const TAKEOVER_BACKOFF: Duration = Duration::from_secs(5);

/// Whether the broker ended the connection because another client
/// connected with the same client id.
fn is_takeover(error: &rumqttc::v5::ConnectionError) -> bool {
    matches!(
        error,
        rumqttc::v5::ConnectionError::MqttState(rumqttc::v5::StateError::ServerDisconnect {
            reason_code: DisconnectReasonCode::SessionTakenOver,
            ..
        })
    )
}

/// Ends a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Count messages that could not wait for the broker, logging at 1, 2, 4, ...
fn drop_count(context: &Context, n: u64) {
    let before = context.dropped.fetch_add(n, Ordering::Relaxed);
    let after = before.saturating_add(n);
    if before == 0 || (after.ilog2() > before.max(1).ilog2()) {
        tracing::warn!(
            "MQTT: {after} messages dropped so far (the broker slow or away, or commands arriving faster than they are carried out)"
        );
    }
}

/// Publish without waiting: a full outbox drops its oldest message (counted).
fn offer(context: &Context, topic: &Topic, payload: Vec<u8>, seq: Option<u64>) {
    // A notification's number in its Thing's sequence, and the name of
    // the server start the numbers belong to: a subscriber that sees one
    // skipped knows it missed a message.
    let properties = seq.map(|seq| PublishProperties {
        user_properties: vec![
            ("seq".to_owned(), seq.to_string()),
            ("epoch".to_owned(), context.host.lab().hub().epoch().to_owned()),
        ],
        ..PublishProperties::default()
    });
    let message = Message {
        topic: topic.name.clone(),
        retain: topic.retained(),
        payload,
        properties,
    };
    if context.outbox.push(message) {
        drop_count(context, 1);
    }
}

/// On each connection: `online`, every TD and every observable value
/// (retained, so late subscribers have them), and the command topics.
async fn announce(context: Arc<Context>, client: AsyncClient) {
    // A command runs once, when it is published: retained ones are never
    // sent on subscribing (else every reconnection would move the stage
    // again), and the retain flag is kept on what is forwarded, so one
    // published retained is seen, refused and cleared.
    let filters: Vec<Filter> = context
        .topics
        .iter()
        .filter(|t| t.inbound())
        .map(|topic| Filter {
            preserve_retain: true,
            retain_forward_rule: RetainForwardRule::Never,
            // Not the server's own messages (the clearing of a retained one).
            nolocal: true,
            ..Filter::new(topic.name.clone(), QoS::AtLeastOnce)
        })
        .collect();
    if !filters.is_empty() {
        let _ = client.subscribe_many(filters).await;
    }
    for topic in &context.topics {
        let payload = match (topic.carries, topic.thing) {
            (Carries::Status, _) => b"online".to_vec(),
            (Carries::Td, Some(t)) => {
                let Some(td) = context.host.thing_description(t) else {
                    continue;
                };
                serde_json::to_vec(&td).unwrap_or_default()
            }
            (Carries::PropertyValue(p), Some(t)) => {
                let Some(thing) = context.host.lab().things().get(t).cloned() else {
                    continue;
                };
                match context.host.lab().read(&thing, p).await {
                    Ok(json) => json,
                    Err(_) => continue,
                }
            }
            _ => continue,
        };
        let _ = client
            .publish(&topic.name, QoS::AtLeastOnce, topic.retained(), payload)
            .await;
    }
}

/// Publish a change the hub announced to its topic (and an invocation's
/// to the response topic its client asked for, if any), with its number
/// in its Thing's sequence as MQTT 5 user properties (`seq`, `epoch`).
fn notify(
    context: &Context,
    Sequenced {
        seq,
        notification: note,
    }: Sequenced,
) {
    let (thing, name, payload) = match note {
        Notification::Property { thing, name, value } => {
            (thing.to_string(), name.to_owned(), value.text().as_bytes().to_vec())
        }
        Notification::Event { thing, name, data } => {
            (thing.to_string(), name.to_owned(), data.text().as_bytes().to_vec())
        }
        Notification::Invocation { invocation, .. } => {
            // Asked before rendering: a final state seen here is the one rendered.
            let reply = context.replies.update(&invocation);
            let mut json = context
                .host
                .invocation_json(&invocation, invocation.status().is_finished());
            // It may have finished between asking and rendering: a final
            // status is always published with its output.
            let rendered_final = json["status"]
                .as_str()
                .is_some_and(|s| ["completed", "cancelled", "error"].contains(&s));
            if rendered_final && json.get("output").is_none() {
                json = context.host.invocation_json(&invocation, true);
            }
            if let Some(reply) = reply {
                answer(context, &reply, &json);
            }
            let text = serde_json::to_vec(&json).unwrap_or_default();
            (invocation.thing().to_owned(), invocation.action().to_owned(), text)
        }
    };
    let Some(topic) = context
        .outbound
        .get(&(thing, name))
        .and_then(|i| context.topics.get(*i))
    else {
        return;
    };
    offer(context, topic, payload, Some(seq));
}

/// Publish `json` to the response topic of `reply`, with its correlation data.
fn answer(context: &Context, reply: &Reply, json: &Value) {
    let message = Message {
        topic: reply.topic.clone(),
        retain: false,
        payload: serde_json::to_vec(json).unwrap_or_default(),
        properties: Some(reply.properties()),
    };
    if context.outbox.push(message) {
        drop_count(context, 1);
    }
}

/// Act on a message a client published to a command topic.
async fn command(context: Arc<Context>, message: Publish) {
    let Ok(topic_name) = std::str::from_utf8(&message.topic) else {
        return;
    };
    let Some(topic) = context.topics.iter().find(|t| t.name == topic_name && t.inbound()) else {
        return;
    };
    let Some(thing) = topic.thing.and_then(|t| context.host.lab().things().get(t)).cloned() else {
        return;
    };
    // An MQTT 5 client may ask for the answer on a topic of its own; a
    // topic the server will not publish to gets no answer there.
    let wanted = message
        .properties
        .as_ref()
        .and_then(|p| p.response_topic.clone().map(|t| (t, p.correlation_data.clone())));
    let (reply, bad_reply) = match wanted.map(|(t, c)| Reply::new(t, c, &context.prefix)).transpose() {
        Ok(reply) => (reply, None),
        Err(why) => (None, Some(why)),
    };
    let refuse = |title: &str, detail: Value| refuse(&context, &thing, topic, reply.as_ref(), title, detail);
    if message.retain {
        // Cleared on the broker, so no other subscriber runs it either.
        let cleared = Message {
            topic: topic.name.clone(),
            retain: true,
            payload: Vec::new(),
            properties: None,
        };
        if context.outbox.push(cleared) {
            drop_count(&context, 1);
        }
        refuse(
            "Retained",
            json!(
                "a retained command is refused (and cleared): it would run again for every new subscriber and \
             after every reconnection; publish commands without the retain flag"
            ),
        );
        return;
    }
    if let Some(why) = bad_reply {
        refuse("BadResponseTopic", json!(why));
        return;
    }
    let payload = message.payload;
    let value: Value = if payload.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        match serde_json::from_slice(&payload) {
            Ok(value) => value,
            Err(e) => {
                refuse("NotJson", json!(format!("the message is not JSON: {e}")));
                return;
            }
        }
    };
    match topic.carries {
        Carries::WriteProperty(p) => {
            let (title, problem) = match context.host.lab().write(&thing, p, value).await {
                Ok(()) => return,
                Err(PropertyError::Write(PropertyWriteError::Invalid(problems))) => ("InvalidInput", json!(problems)),
                Err(e @ PropertyError::Write(PropertyWriteError::Failed(_))) => ("DeviceError", json!(e.to_string())),
                Err(PropertyError::Write(PropertyWriteError::ReadOnly)) => {
                    ("ReadOnly", json!("the property is read-only"))
                }
                Err(e @ PropertyError::Write(PropertyWriteError::Busy)) => ("Busy", json!(e.to_string())),
                Err(e @ PropertyError::Device(_)) => ("DeviceNotAnswering", json!(e.to_string())),
                Err(e) => ("NoSuchProperty", json!(e.to_string())),
            };
            refuse(title, problem);
        }
        Carries::InvokeAction(a) => {
            if reply.is_some() && !context.replies.has_room() {
                refuse(
                    "Overloaded",
                    json!(format!(
                        "{} invocations already have a response topic; try again when one has finished",
                        super::replies::MAX_WATCHED
                    )),
                );
                return;
            }
            // A blob an earlier action output, given by its HTTP link, is
            // named by its URI, as over HTTP; the lab resolves it.
            let mut input = value;
            context.host.links_to_blobs(&mut input);
            match context
                .host
                .lab()
                .invoke(&thing, a, input, &labthings_core::Caller::anonymous("mqtt"))
            {
                Ok(invocation) => {
                    if let Some(reply) = reply {
                        // Already finished (a fast action) or not: the final
                        // state is published exactly once, here or by `notify`.
                        if let Some(reply) = context.replies.watch(&invocation, reply) {
                            let json = context.host.invocation_json(&invocation, true);
                            answer(&context, &reply, &json);
                        }
                    }
                }
                Err(Refusal::Invalid(problems)) => refuse("InvalidInput", json!(problems)),
                Err(refused) => refuse(refused.title(), json!(refused.to_string())),
            }
        }
        _ => {}
    }
}

/// Say a command published on `topic` (a write or an invocation of
/// `thing`) was refused, and why: a problem, `{"status": "rejected",
/// "type": "urn:labthings:problem:invalid-input", "title": "InvalidInput",
/// "detail": …}` (`detail` a sentence, or the list of problems with the
/// input, as HTTP's 422 lists them), on the affordance's answer topic (an
/// action's invocations topic, a property's `…/set/rejected`) and on the
/// client's response topic if it gave one. Logged and answered at a
/// bounded rate.
fn refuse(
    context: &Context,
    thing: &labthings_core::ThingInstance,
    topic: &Topic,
    reply: Option<&Reply>,
    title: &str,
    detail: Value,
) {
    context.refusals.log.hit(|more| {
        tracing::warn!("MQTT: {}: refused: {detail}{more}", topic.name);
    });
    if !context.refusals.may_answer() {
        return;
    }
    let rejected = json!({
        "status": "rejected",
        "type": format!("urn:labthings:problem:{}", kebab(title)),
        "title": title,
        "detail": detail,
    });
    let answers_on = match topic.carries {
        Carries::InvokeAction(a) => thing.actions().get(a).and_then(|action| {
            context
                .outbound
                .get(&(thing.name().to_owned(), action.name.to_owned()))
                .and_then(|i| context.topics.get(*i))
        }),
        _ => None,
    };
    let payload = serde_json::to_vec(&rejected).unwrap_or_default();
    match answers_on {
        Some(invocations) => offer(context, invocations, payload, None),
        None => {
            let message = Message {
                topic: format!("{}/rejected", topic.name),
                retain: false,
                payload,
                properties: None,
            };
            if context.outbox.push(message) {
                drop_count(context, 1);
            }
        }
    }
    if let Some(reply) = reply {
        answer(context, reply, &rejected);
    }
}
