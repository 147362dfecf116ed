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
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, on};
use bytes::{Bytes, BytesMut};
use labthings_core::ThingInstance;
use labthings_core::hub::{Notification, Payload};
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
    on(method, move |State(state): State<Arc<AppState>>| {
        let thing_name = thing_name.clone();
        async move {
            sse(
                state.lab.hub().subscribe(),
                state.closing.clone(),
                move |notification| match (feed, notification) {
                    (Feed::Property, Notification::Property { thing, name: n, value })
                    | (
                        Feed::Event,
                        Notification::Event {
                            thing,
                            name: n,
                            data: value,
                        },
                    ) if *thing == *thing_name && n == name => Some(value),
                    _ => None,
                },
            )
        }
    })
}

/// An SSE response of the notifications `pick` selects, each as one
/// `data: JSON` message, with a keep-alive comment after 15 s of silence so
/// proxies keep it open.
///
/// The messages carry no `event:` name: each stream serves one affordance
/// already, and unnamed messages are what `EventSource.onmessage` and
/// node-wot's SSE client receive (a named event reaches neither).
///
/// Messages already waiting when one is written go out in the same body
/// chunk (at most [`MAX_BATCH`]), so a fast property or event costs one
/// write per subscriber per batch, not per message. The stream ends when
/// the server starts shutting down (`closing`) or the hub closes.
fn sse<F>(receiver: Receiver<Notification>, closing: CancellationToken, pick: F) -> Response
where
    F: Fn(Notification) -> Option<Payload> + Send + Sync + 'static,
{
    let chunks = futures_util::stream::unfold((receiver, pick, closing), |(mut receiver, pick, closing)| async move {
        let first = tokio::select! {
            () = closing.cancelled() => return None,
            () = tokio::time::sleep(KEEP_ALIVE) => {
                return Some((Ok::<_, Infallible>(Bytes::from_static(b":\n\n")), (receiver, pick, closing)));
            }
            first = next_picked(&mut receiver, &pick) => first?,
        };
        let mut chunk = BytesMut::new();
        write_message(&mut chunk, &first);
        let mut batched = 1;
        while batched < MAX_BATCH {
            match receiver.try_recv() {
                Ok(notification) => {
                    if let Some(payload) = pick(notification) {
                        write_message(&mut chunk, &payload);
                        batched += 1;
                    }
                }
                Err(TryRecvError::Lagged(_)) => {}
                Err(_) => break,
            }
        }
        Some((Ok(chunk.freeze()), (receiver, pick, closing)))
    });
    let mut response = Body::from_stream(chunks).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// Silence after which an SSE stream sends a comment.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// At most this many SSE messages go into one body chunk.
const MAX_BATCH: usize = 64;

/// One SSE message: `data: {JSON}` and a blank line (compact JSON has no
/// line breaks, so one `data:` line carries it).
fn write_message(chunk: &mut BytesMut, payload: &Payload) {
    chunk.extend_from_slice(b"data: ");
    chunk.extend_from_slice(payload.text().as_bytes());
    chunk.extend_from_slice(b"\n\n");
}

/// The next notification `pick` selects, skipping over any this
/// subscriber was too slow to receive; `None` once the hub is closed.
async fn next_picked<F, T>(receiver: &mut Receiver<Notification>, pick: &F) -> Option<T>
where
    F: Fn(Notification) -> Option<T>,
{
    loop {
        match receiver.recv().await {
            Ok(notification) => {
                if let Some(item) = pick(notification) {
                    return Some(item);
                }
            }
            Err(RecvError::Lagged(_)) => continue,
            Err(RecvError::Closed) => return None,
        }
    }
}

/// An SSE response following one invocation: the whole invocation (as
/// `GET /action_invocations/{id}` shows it) at once, again whenever it
/// changes (status, progress, intermediate results: as often as the
/// manager tells them, a few times a second at most), and a last time
/// when it has finished; then the stream ends. Changes that arrive together
/// are sent once, as the state after them.
pub(crate) fn invocation(
    receiver: Receiver<Notification>,
    invocation: Arc<labthings_core::Invocation>,
    base: String,
    closing: CancellationToken,
) -> Response {
    let id = invocation.id();
    let render = move |invocation: &labthings_core::Invocation| -> (Bytes, bool) {
        // Whether it had finished before the JSON is made: the JSON then
        // shows the end. (Read after, an end in between would close the
        // stream on a message that still says running.)
        let finished = invocation.status().is_finished();
        let json = crate::render::invocation_json(invocation, &base, true);
        let mut chunk = BytesMut::new();
        write_message(&mut chunk, &Payload::from(json));
        (chunk.freeze(), finished)
    };
    // State: the receiver, whether the first message is sent, whether the
    // last one is.
    let chunks = futures_util::stream::unfold((receiver, false, false), move |(mut receiver, started, ended)| {
        let (invocation, render, closing) = (invocation.clone(), render.clone(), closing.clone());
        async move {
            if ended {
                return None;
            }
            if started {
                let concerns = |n: Notification| match n {
                    Notification::Invocation { invocation, .. } if invocation.id() == id => Some(()),
                    _ => None,
                };
                tokio::select! {
                    () = closing.cancelled() => return None,
                    () = tokio::time::sleep(KEEP_ALIVE) => {
                        return Some((Ok::<_, Infallible>(Bytes::from_static(b":\n\n")), (receiver, true, false)));
                    }
                    changed = next_picked(&mut receiver, &concerns) => changed?,
                }
                // Whatever else is waiting is shown by the state now.
                while let Ok(_) | Err(TryRecvError::Lagged(_)) = receiver.try_recv() {}
            }
            let (chunk, finished) = render(&invocation);
            Some((Ok(chunk), (receiver, true, finished)))
        }
    });
    let mut response = Body::from_stream(chunks).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
