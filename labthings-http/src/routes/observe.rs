//! Observation over W3C WoT Server-Sent Events
//! (`/{thing}/{property}/observe`, `/{thing}/{event}`); the LabThings-FastAPI
//! WebSocket (`/{thing}/ws`) is in [`super::websocket`].
//!
//! Both read the server's notification hub. A slow subscriber loses its
//! oldest notifications rather than slowing anybody down (see
//! [`labthings_core::hub`]); a closed connection unsubscribes.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, on};
use futures_util::Stream;
use labthings_core::ThingInstance;
use labthings_core::hub::{Notification, Payload};
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use crate::state::AppState;

/// Serve each new value of observable property number `index` of `thing` as SSE.
pub(crate) fn property_handler(
    thing: &ThingInstance,
    index: usize,
    method: MethodFilter,
) -> MethodRouter<Arc<AppState>> {
    let name = thing.properties().get(index).map_or("", |p| p.name);
    sse_handler(method, Feed::Property, thing.name().into(), name)
}

/// Serve each payload of event number `index` of `thing` as SSE.
pub(crate) fn event_handler(thing: &ThingInstance, index: usize, method: MethodFilter) -> MethodRouter<Arc<AppState>> {
    let name = thing.events().get(index).map_or("", |e| e.name);
    sse_handler(method, Feed::Event, thing.name().into(), name)
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
                state.lab.manager().hub().subscribe(),
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
/// `data: JSON` message, with keep-alive comments so proxies keep it open.
///
/// The messages carry no `event:` name: each stream serves one affordance
/// already, and unnamed messages are what `EventSource.onmessage` and
/// node-wot's SSE client receive (a named event reaches neither).
///
/// The stream ends when the server starts shutting down (`closing`).
fn sse<F>(receiver: Receiver<Notification>, closing: CancellationToken, pick: F) -> Response
where
    F: Fn(Notification) -> Option<Payload> + Send + Sync + 'static,
{
    let events = notifications(receiver, pick);
    let events = futures_util::StreamExt::take_until(events, closing.cancelled_owned());
    let events = futures_util::StreamExt::map(events, |value: Payload| {
        Ok::<_, Infallible>(SseEvent::default().data(value.text()))
    });
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

/// The notifications `pick` selects, skipping over any this subscriber was
/// too slow to receive.
pub(crate) fn notifications<F, T>(receiver: Receiver<Notification>, pick: F) -> impl Stream<Item = T> + Send
where
    F: Fn(Notification) -> Option<T> + Send + Sync + 'static,
    T: Send + 'static,
{
    futures_util::stream::unfold((receiver, pick), |(mut receiver, pick)| async move {
        loop {
            match receiver.recv().await {
                Ok(notification) => {
                    if let Some(item) = pick(notification) {
                        return Some((item, (receiver, pick)));
                    }
                }
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return None,
            }
        }
    })
}
