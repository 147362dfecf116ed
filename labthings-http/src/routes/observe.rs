//! Observation over W3C WoT Server-Sent Events
//! (`/{thing}/{property}/observe`, `/{thing}/{event}`,
//! `/action_invocations/{id}/observe`); the LabThings-FastAPI
//! WebSocket (`/{thing}/ws`) is in [`super::websocket`].
//!
//! Both read the server's notification hub. A slow subscriber loses its
//! oldest notifications rather than slowing anybody down (see
//! [`labthings_core::hub`]); a closed connection unsubscribes.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, on};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use labthings_core::ThingInstance;
use labthings_core::hub::{Hub, Missed, Notification, Payload, Sequenced};
use labthings_td::Operation;
use serde_json::{Map, Value, json};
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio_util::sync::CancellationToken;

use crate::binding::{Affordance, Form, Route, ThingKind, form};
use crate::openapi::{Schemas, event_stream};
use crate::state::AppState;

/// `GET /{thing}/{property}/observe`: each new value of an observable
/// property, as Server-Sent Events.
pub(crate) struct ObserveProperty;

impl ThingKind for ObserveProperty {
    const ERRORS: &'static [u16] = &[];

    fn path(thing: &str, property: &str) -> String {
        format!("/{thing}/{property}/observe")
    }

    fn forms(_: &ThingInstance, t: usize, item: usize, path: &str) -> Vec<Form> {
        vec![Form {
            subprotocol: Some("sse"),
            ..form(
                t,
                Affordance::Property(item),
                path.to_owned(),
                &[Operation::ObserveProperty, Operation::UnobserveProperty],
            )
        }]
    }

    fn handler(thing: &Arc<ThingInstance>, index: usize, method: MethodFilter) -> Route {
        let name = thing.properties().get(index).map_or("", |p| p.name);
        sse_handler(method, Feed::Property, thing.name().into(), name)
    }

    fn operation(thing: &ThingInstance, index: usize, _: &mut Schemas) -> Map<String, Value> {
        let Some(property) = thing.properties().get(index) else {
            return Map::new();
        };
        let name = thing.name();
        event_stream(
            &json!([name]),
            format!("{name}_{}_observe", property.name),
            "Each new value, as it changes",
        )
    }
}

/// `GET /{thing}/{event}`: each payload of an event, as Server-Sent Events.
pub(crate) struct SubscribeEvent;

impl ThingKind for SubscribeEvent {
    const ERRORS: &'static [u16] = &[];

    fn path(thing: &str, event: &str) -> String {
        format!("/{thing}/{event}")
    }

    fn forms(_: &ThingInstance, t: usize, item: usize, path: &str) -> Vec<Form> {
        vec![Form {
            subprotocol: Some("sse"),
            ..form(
                t,
                Affordance::Event(item),
                path.to_owned(),
                &[Operation::SubscribeEvent, Operation::UnsubscribeEvent],
            )
        }]
    }

    fn handler(thing: &Arc<ThingInstance>, index: usize, method: MethodFilter) -> Route {
        let name = thing.events().get(index).map_or("", |e| e.name);
        sse_handler(method, Feed::Event, thing.name().into(), name)
    }

    fn operation(thing: &ThingInstance, index: usize, _: &mut Schemas) -> Map<String, Value> {
        let Some(event) = thing.events().get(index) else {
            return Map::new();
        };
        let name = thing.name();
        event_stream(
            &json!([name]),
            format!("{name}_{}_subscribe", event.name),
            event.description.unwrap_or("Each time the event is emitted"),
        )
    }
}

/// What one SSE stream carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Feed {
    /// Each new value of one observable property.
    Property,
    /// Each payload of one event.
    Event,
}

/// Serve, on `method`, the SSE stream of the `feed` named `name` of `thing_name`.
fn sse_handler(
    method: MethodFilter,
    feed: Feed,
    thing_name: Arc<str>,
    name: &'static str,
) -> MethodRouter<Arc<AppState>> {
    on(method, move |State(state): State<Arc<AppState>>, headers: HeaderMap| {
        let thing_name = thing_name.clone();
        async move {
            let pick = move |notification: &Notification| match (feed, notification) {
                (Feed::Property, Notification::Property { name: n, value, .. })
                | (
                    Feed::Event,
                    Notification::Event {
                        name: n, data: value, ..
                    },
                ) if *n == name => Some(value.clone()),
                _ => None,
            };
            sse(&state, thing_name, last_event_id(&headers), pick)
        }
    })
}

/// Where a client that reconnects left off: the `Last-Event-ID` header
/// it sends (a browser's `EventSource` does by itself). `None` without
/// one; `Some(None)` for an id this server did not give (another start's,
/// or not one of ours at all), which means the client must read afresh.
fn last_event_id(headers: &HeaderMap) -> Option<Option<(String, u64)>> {
    let value = headers.get("last-event-id")?;
    Some(value.to_str().ok().and_then(|id| {
        let (epoch, seq) = id.trim().rsplit_once('-')?;
        Some((epoch.to_owned(), seq.parse().ok()?))
    }))
}

/// The state of one SSE stream of a Thing's notifications.
struct Feeder<F> {
    receiver: Receiver<Sequenced>,
    thing: Arc<str>,
    pick: F,
    closing: CancellationToken,
    hub: Hub,
    /// The number of the Thing's last notification this stream has seen.
    last: u64,
}

impl<F: Fn(&Notification) -> Option<Payload>> Feeder<F> {
    /// Write `sequenced` if it is this stream's and new; note that it was seen.
    fn write(&mut self, chunk: &mut BytesMut, sequenced: &Sequenced) -> bool {
        if *sequenced.notification.thing() != *self.thing || sequenced.seq <= self.last {
            return false;
        }
        self.last = sequenced.seq;
        let Some(payload) = (self.pick)(&sequenced.notification) else {
            return false;
        };
        write_message(chunk, self.hub.epoch(), sequenced.seq, &payload);
        true
    }

    /// Write what this stream missed after `self.last` (it fell behind, or
    /// it resumes): the notifications still kept, or one `gap` message.
    fn catch_up(&mut self, chunk: &mut BytesMut, missed: Missed, latest: u64) {
        match missed {
            Missed::Kept(kept) => {
                for sequenced in &kept {
                    self.write(chunk, sequenced);
                }
            }
            Missed::TooOld => {
                write_gap(chunk, self.hub.epoch(), latest);
                self.last = self.last.max(latest);
            }
        }
    }

    /// Write what the receiver skipped because this stream fell behind.
    fn fell_behind(&mut self, chunk: &mut BytesMut) {
        let missed = self.hub.missed(&self.thing, self.last);
        self.catch_up(chunk, missed, self.last);
    }
}

/// An SSE response of `thing`'s notifications that `pick` selects, each as
/// one `data: JSON` message with its `id:` (the hub's epoch and the
/// notification's number), with a keep-alive comment after 15 s of silence
/// so proxies keep it open.
///
/// A client that sends `Last-Event-ID` (`resume`; a browser's
/// `EventSource` does when it reconnects) is first sent what it missed,
/// or one `gap` message when that is no longer kept (see
/// [`labthings_core::hub`]). Every stream then says the Thing's latest id
/// (`event: latest`), so a client that receives nothing before a break can
/// still resume; a stream that falls behind catches up the same way.
///
/// The value messages carry no `event:` name: each stream serves one
/// affordance already, and unnamed messages are what `EventSource.onmessage`
/// and node-wot's SSE client receive (the named `gap` reaches neither).
///
/// Messages already waiting when one is written go out in the same body
/// chunk (at most [`MAX_BATCH`]), so a fast property or event costs one
/// write per subscriber per batch, not per message. The stream ends when
/// the server starts shutting down (`closing`) or the hub closes.
fn sse<F>(state: &AppState, thing: Arc<str>, resume: Option<Option<(String, u64)>>, pick: F) -> Response
where
    F: Fn(&Notification) -> Option<Payload> + Send + Sync + 'static,
{
    let hub = state.lab.hub().clone();
    let after = match &resume {
        Some(Some((epoch, seq))) if epoch == hub.epoch() => Some(*seq),
        _ => None,
    };
    let resumed = hub.resume(&thing, after);
    let missed = match (resume, resumed.missed) {
        (Some(_), Some(missed)) => Some(missed),
        (Some(_), None) => Some(Missed::TooOld),
        (None, _) => None,
    };
    let mut feeder = Feeder {
        receiver: resumed.receiver,
        thing,
        pick,
        closing: state.closing.clone(),
        hub,
        last: after.unwrap_or(0),
    };
    let mut first = BytesMut::from(&b"retry: 1000\n\n"[..]);
    let gap = matches!(missed, Some(Missed::TooOld));
    if let Some(missed) = missed {
        feeder.catch_up(&mut first, missed, resumed.latest);
    }
    if !gap {
        // (A gap message already gives the id to resume from.)
        write_latest(&mut first, feeder.hub.epoch(), resumed.latest);
    }
    feeder.last = resumed.latest;
    let first = futures_util::stream::once(std::future::ready(Ok::<_, Infallible>(first.freeze())));
    let live = futures_util::stream::unfold(feeder, |mut feeder| async move {
        let mut chunk = BytesMut::new();
        loop {
            let received = tokio::select! {
                () = feeder.closing.cancelled() => return None,
                () = tokio::time::sleep(KEEP_ALIVE) => {
                    return Some((Ok(Bytes::from_static(b":\n\n")), feeder));
                }
                received = feeder.receiver.recv() => received,
            };
            match received {
                Ok(sequenced) => {
                    if feeder.write(&mut chunk, &sequenced) {
                        break;
                    }
                }
                Err(RecvError::Lagged(_)) => {
                    feeder.fell_behind(&mut chunk);
                    if !chunk.is_empty() {
                        break;
                    }
                }
                Err(RecvError::Closed) => return None,
            }
        }
        let mut batched = 1;
        while batched < MAX_BATCH {
            match feeder.receiver.try_recv() {
                Ok(sequenced) => {
                    if feeder.write(&mut chunk, &sequenced) {
                        batched += 1;
                    }
                }
                Err(TryRecvError::Lagged(_)) => feeder.fell_behind(&mut chunk),
                Err(_) => break,
            }
        }
        Some((Ok(chunk.freeze()), feeder))
    });
    let mut response = Body::from_stream(first.chain(live)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// Silence after which an SSE stream sends a comment.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// At most this many SSE messages go into one body chunk.
const MAX_BATCH: usize = 64;

/// The `id:` line of notification `seq` of the hub started as `epoch`.
fn write_id(chunk: &mut BytesMut, epoch: &str, seq: u64) {
    chunk.extend_from_slice(format!("id: {epoch}-{seq}\n").as_bytes());
}

/// One SSE message: its `id:`, `data: {JSON}` and a blank line (compact
/// JSON has no line breaks, so one `data:` line carries it).
fn write_message(chunk: &mut BytesMut, epoch: &str, seq: u64, payload: &Payload) {
    write_id(chunk, epoch, seq);
    chunk.extend_from_slice(b"data: ");
    chunk.extend_from_slice(payload.text().as_bytes());
    chunk.extend_from_slice(b"\n\n");
}

/// The message that gives the id a stream has reached (the Thing's latest
/// notification) when it starts, so that a client that receives nothing
/// before a break can still resume: an `event: latest` (which `onmessage`
/// handlers and node-wot ignore; a browser still takes its id).
fn write_latest(chunk: &mut BytesMut, epoch: &str, latest: u64) {
    chunk.extend_from_slice(b"event: latest\n");
    write_id(chunk, epoch, latest);
    chunk.extend_from_slice(format!("data: {{\"latest\":{latest}}}\n\n").as_bytes());
}

/// The one message that says a stream missed notifications no longer
/// kept: an `event: gap` (which `onmessage` handlers and node-wot ignore;
/// `addEventListener("gap", ...)` hears it), carrying the id to resume from.
fn write_gap(chunk: &mut BytesMut, epoch: &str, latest: u64) {
    chunk.extend_from_slice(b"event: gap\n");
    write_id(chunk, epoch, latest);
    let data = json!({
        "message": "notifications were missed that the server no longer keeps (or it has restarted): \
                    read the current state again",
    });
    chunk.extend_from_slice(format!("data: {data}\n\n").as_bytes());
}

/// An SSE response following one invocation: the whole invocation (as
/// `GET /action_invocations/{id}` shows it) at once, again whenever it
/// changes (status, progress, intermediate results: as often as the
/// manager tells them, a few times a second at most), and a last time
/// when it has finished; then the stream ends. Changes that arrive together
/// are sent once, as the state after them. Each message's `id:` is the
/// number of the Thing's latest notification it shows; a client that
/// resumes (`Last-Event-ID`) is sent the whole state at once, which holds
/// everything it missed.
pub(crate) fn invocation(
    hub: &Hub,
    invocation: Arc<labthings_core::Invocation>,
    base: String,
    closing: CancellationToken,
) -> Response {
    // Subscribed before the state is read, so no change falls in between.
    let resumed = hub.resume(invocation.thing(), None);
    let id = invocation.id();
    let epoch: Arc<str> = hub.epoch().into();
    let render = move |invocation: &labthings_core::Invocation, seq: u64| -> (Bytes, bool) {
        // Whether it had finished before the JSON is made: the JSON then
        // shows the end. (Read after, an end in between would close the
        // stream on a message that still says running.)
        let finished = invocation.status().is_finished();
        let json = crate::render::invocation_json(invocation, &base, true);
        let mut chunk = BytesMut::new();
        write_message(&mut chunk, &epoch, seq, &Payload::from(json));
        (chunk.freeze(), finished)
    };
    // State: the receiver, the number of the last notification shown (none
    // before the first message), whether the last message is sent.
    let state = (resumed.receiver, None::<u64>, false);
    let latest = resumed.latest;
    let chunks = futures_util::stream::unfold(state, move |(mut receiver, shown, ended)| {
        let (invocation, render, closing) = (invocation.clone(), render.clone(), closing.clone());
        async move {
            if ended {
                return None;
            }
            let mut seq = latest;
            if let Some(shown) = shown {
                let concerns = |s: &Sequenced| match &s.notification {
                    Notification::Invocation { invocation, .. } if invocation.id() == id => Some(s.seq),
                    _ => None,
                };
                tokio::select! {
                    () = closing.cancelled() => return None,
                    () = tokio::time::sleep(KEEP_ALIVE) => {
                        return Some((Ok::<_, Infallible>(Bytes::from_static(b":\n\n")), (receiver, Some(shown), false)));
                    }
                    changed = next_picked(&mut receiver, &concerns) => seq = changed?,
                }
                // Whatever else is waiting is shown by the state now.
                loop {
                    match receiver.try_recv() {
                        Ok(s) => seq = concerns(&s).unwrap_or(seq),
                        Err(TryRecvError::Lagged(_)) => {}
                        Err(_) => break,
                    }
                }
            }
            let (chunk, finished) = render(&invocation, seq);
            Some((Ok(chunk), (receiver, Some(seq), finished)))
        }
    });
    let mut response = Body::from_stream(chunks).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// The next notification `pick` selects, skipping over any this
/// subscriber was too slow to receive; `None` once the hub is closed.
async fn next_picked<F, T>(receiver: &mut Receiver<Sequenced>, pick: &F) -> Option<T>
where
    F: Fn(&Sequenced) -> Option<T>,
{
    loop {
        match receiver.recv().await {
            Ok(sequenced) => {
                if let Some(item) = pick(&sequenced) {
                    return Some(item);
                }
            }
            Err(RecvError::Lagged(_)) => continue,
            Err(RecvError::Closed) => return None,
        }
    }
}
