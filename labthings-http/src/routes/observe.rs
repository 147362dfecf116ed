//! Observation: the LabThings-FastAPI WebSocket (`/{thing}/ws`) and W3C WoT
//! Server-Sent Events (`/{thing}/{property}/observe`, `/{thing}/{event}`).
//!
//! Both read the server's notification hub. A slow subscriber loses its
//! oldest notifications rather than slowing anybody down (see
//! [`labthings_core::hub`]); a closed connection unsubscribes.

use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::Stream;
use labthings_core::ThingInstance;
use labthings_core::hub::Notification;
use serde_json::{Value, json};
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use super::json_route;
use crate::error::ApiError;
use crate::state::{AppState, base_url};

/// The error type LabThings-FastAPI uses in WebSocket error responses.
const WEBTHING_ERRORS: &str = "https://w3c.github.io/web-thing-protocol/errors";

/// Add `/{thing}/ws`, the SSE route of each data property, and each event's route.
pub(crate) fn routes(mut router: Router<Arc<AppState>>, thing: &Arc<ThingInstance>) -> Router<Arc<AppState>> {
    let ws_thing = thing.clone();
    router = router.route(
        &format!("/{}/ws", thing.name()),
        json_route(get(
            move |upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
                  State(state): State<Arc<AppState>>,
                  headers: HeaderMap| async move {
                let upgrade = upgrade.map_err(|rejection| {
                    ApiError::BadRequest(format!("{}: this is a WebSocket endpoint", rejection.body_text()))
                })?;
                let base = base_url(&headers);
                let limit = state.config.ws_max_message;
                Ok::<_, ApiError>(
                    upgrade
                        .max_message_size(limit)
                        .max_frame_size(limit)
                        .on_upgrade(move |socket| websocket(socket, state, ws_thing, base)),
                )
            },
        )),
    );
    for property in thing.properties().iter().filter(|p| p.data) {
        let path = format!("/{}/{}/observe", thing.name(), property.name);
        router = sse_route(router, &path, Feed::Property, thing.name().into(), property.name);
    }
    for event in thing.events() {
        let path = format!("/{}/{}", thing.name(), event.name);
        router = sse_route(router, &path, Feed::Event, thing.name().into(), event.name);
    }
    router
}

/// What one SSE stream carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Feed {
    /// Each new value of one observable property.
    Property,
    /// Each payload of one event.
    Event,
}

/// Add the SSE route at `path` for the `feed` named `name` of `thing_name`.
fn sse_route(
    router: Router<Arc<AppState>>,
    path: &str,
    feed: Feed,
    thing_name: Arc<str>,
    name: &'static str,
) -> Router<Arc<AppState>> {
    router.route(
        path,
        json_route(get(move |State(state): State<Arc<AppState>>| {
            let thing_name = thing_name.clone();
            async move {
                sse(
                    state.manager.hub().subscribe(),
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
        })),
    )
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
    F: Fn(Notification) -> Option<Value> + Send + Sync + 'static,
{
    let events = notifications(receiver, pick);
    let events = futures_util::StreamExt::take_until(events, closing.cancelled_owned());
    let events = futures_util::StreamExt::map(events, |value| {
        Ok::<_, Infallible>(SseEvent::default().data(value.to_string()))
    });
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

/// The notifications `pick` selects, skipping over any this subscriber was
/// too slow to receive.
fn notifications<F, T>(receiver: Receiver<Notification>, pick: F) -> impl Stream<Item = T> + Send
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

/// The error response LabThings-FastAPI clients expect for a bad observation.
fn observation_error(kind: &str, name: &str, observable: bool) -> Value {
    let (status, suffix, title, detail) = if observable {
        (
            "404",
            "not-found",
            "Not Found",
            format!("No {kind} found with the name '{name}'."),
        )
    } else {
        (
            "403",
            "not-observable",
            "Not Observable",
            format!("Property '{name}' is not observable."),
        )
    };
    json!({
        "messageType": "response",
        "operation": format!("observe{kind}"),
        "name": name,
        "error": {"status": status, "type": format!("{WEBTHING_ERRORS}#{suffix}"), "title": title, "detail": detail},
    })
}

enum Incoming {
    Client(Option<Result<Message, axum::Error>>),
    Hub(Result<Notification, RecvError>),
}

/// One WebSocket session: the client adds observations; we relay matching
/// notifications until either side closes.
///
/// The session counts as one of the server's open connections, and ends
/// (with a close frame) when the server starts shutting down.
async fn websocket(mut socket: WebSocket, state: Arc<AppState>, thing: Arc<ThingInstance>, base: String) {
    let Ok(_permit) = state.connections.clone().try_acquire_owned() else {
        let _ = socket
            .send(Message::Close(Some(CloseFrame {
                code: close_code::AGAIN,
                reason: "too many open connections".into(),
            })))
            .await;
        return;
    };
    let mut hub = state.manager.hub().subscribe();
    let mut properties: HashSet<String> = HashSet::new();
    let mut actions: HashSet<String> = HashSet::new();
    loop {
        let incoming = tokio::select! {
            message = socket.recv() => Incoming::Client(message),
            notification = hub.recv() => Incoming::Hub(notification),
            () = state.closing.cancelled() => {
                let _ = socket
                    .send(Message::Close(Some(CloseFrame {
                        code: close_code::AWAY,
                        reason: "the server is shutting down".into(),
                    })))
                    .await;
                return;
            }
        };
        let reply = match incoming {
            Incoming::Client(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => return,
            Incoming::Client(Some(Ok(Message::Text(text)))) => request(&text, &thing, &mut properties, &mut actions),
            Incoming::Client(Some(Ok(_))) => Vec::new(),
            Incoming::Hub(Err(RecvError::Lagged(_))) => Vec::new(),
            Incoming::Hub(Err(RecvError::Closed)) => return,
            Incoming::Hub(Ok(notification)) => relay(notification, &thing, &properties, &actions, &base)
                .into_iter()
                .collect(),
        };
        for message in reply {
            if socket.send(Message::Text(message.to_string().into())).await.is_err() {
                return;
            }
        }
    }
}

/// Handle a client message; returns error responses to send back.
fn request(
    text: &str,
    thing: &ThingInstance,
    properties: &mut HashSet<String>,
    actions: &mut HashSet<String>,
) -> Vec<Value> {
    let Ok(message) = serde_json::from_str::<Value>(text) else {
        return vec![
            json!({"messageType": "response", "error": {"status": "400", "title": "Bad Request", "detail": "messages must be JSON objects"}}),
        ];
    };
    let names: Vec<String> = message["data"]
        .as_object()
        .map(|d| {
            d.iter()
                .filter(|(_, on)| on.as_bool() != Some(false))
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default();
    let mut errors = Vec::new();
    match message["messageType"].as_str() {
        Some("addPropertyObservation") => {
            for name in names {
                match thing.properties().iter().find(|p| p.name == name) {
                    Some(p) if p.data => {
                        properties.insert(name);
                    }
                    Some(_) => errors.push(observation_error("property", &name, false)),
                    None => errors.push(observation_error("property", &name, true)),
                }
            }
        }
        Some("addActionObservation") => {
            for name in names {
                if thing.actions().iter().any(|a| a.name == name) {
                    actions.insert(name);
                } else {
                    errors.push(observation_error("action", &name, true));
                }
            }
        }
        Some("removePropertyObservation") => properties.retain(|p| !names.contains(p)),
        Some("removeActionObservation") => actions.retain(|a| !names.contains(a)),
        other => errors.push(json!({
            "messageType": "response",
            "error": {"status": "400", "title": "Bad Request", "detail": format!("unknown messageType {other:?}")},
        })),
    }
    errors
}

/// The message for a notification this session observes, if any.
fn relay(
    notification: Notification,
    thing: &ThingInstance,
    properties: &HashSet<String>,
    actions: &HashSet<String>,
    base: &str,
) -> Option<Value> {
    match notification {
        Notification::Property { thing: t, name, value } if *t == *thing.name() && properties.contains(name) => {
            Some(json!({"messageType": "propertyStatus", "data": {name: value}}))
        }
        Notification::Invocation(invocation)
            if invocation.thing() == thing.name() && actions.contains(invocation.action()) =>
        {
            Some(json!({
                "messageType": "actionStatus",
                "data": {
                    "action name": invocation.action(),
                    "status": invocation.status().as_str(),
                    "invocation": invocation.to_json(base, true),
                },
            }))
        }
        _ => None,
    }
}
