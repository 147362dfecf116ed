//! The LabThings-FastAPI WebSocket, `/{thing}/ws`: a client adds property
//! and action observations and receives `propertyStatus` and `actionStatus`
//! messages.
//!
//! The upgrade is handled here (hyper's upgrade and tokio-tungstenite)
//! rather than by axum's extractor, because the connection's reads are
//! watched: a message, or a frame, that is still unfinished
//! [`ServerConfig::ws_message_timeout`](crate::ServerConfig::ws_message_timeout)
//! after its first byte arrived closes the socket (1008), so a client cannot
//! hold half-sent messages open. Messages and frames are also capped at
//! `ws_max_message` bytes, each session counts as one of the server's
//! connections, and shutdown closes every session with 1001.

use std::collections::HashSet;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::{MethodFilter, on};
use futures_util::{SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use labthings_core::ThingInstance;
use labthings_core::hub::{Notification, Sequenced};
use parking_lot::Mutex;
use serde_json::{Map, Value, json};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};

use crate::binding::{Route, ThingKind};
use crate::error::ApiError;
use crate::openapi::{Schemas, object};
use crate::state::{AppState, base_url};

/// The error type LabThings-FastAPI uses in WebSocket error responses.
const WEBTHING_ERRORS: &str = "https://w3c.github.io/web-thing-protocol/errors";

/// `GET /{thing}/ws`: the thing's observation WebSocket.
pub(crate) struct WebSocket;

impl ThingKind for WebSocket {
    const ERRORS: &'static [u16] = &[];

    fn path(thing: &str, _: &str) -> String {
        format!("/{thing}/ws")
    }

    fn handler(thing: &Arc<ThingInstance>, _: usize, method: MethodFilter) -> Route {
        let thing = thing.clone();
        on(method, move |State(state): State<Arc<AppState>>, request: Request| {
            upgrade(state, thing.clone(), request)
        })
    }

    fn operation(thing: &ThingInstance, _: usize, _: &mut Schemas) -> Map<String, Value> {
        let name = thing.name();
        object(json!({
            "tags": [name], "operationId": format!("{name}_websocket"),
            "summary": "Observe properties and actions over a WebSocket",
            "description": "Upgrade to a WebSocket; send addPropertyObservation or addActionObservation messages.",
            "responses": {"101": {"description": "Switching to the WebSocket protocol"}}
        }))
    }
}

/// Whether the comma-separated header `name` holds `token` (any case).
fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// Check the handshake, answer 101 and run the session once upgraded.
async fn upgrade(state: Arc<AppState>, thing: Arc<ThingInstance>, mut request: Request) -> Result<Response, ApiError> {
    let headers = request.headers();
    let not_websocket = |what: &str| {
        ApiError::BadRequest(format!(
            "this is a WebSocket endpoint: {what} (send `Connection: Upgrade`, `Upgrade: websocket`, \
             `Sec-WebSocket-Version: 13` and a `Sec-WebSocket-Key`)"
        ))
    };
    if !has_token(headers, header::CONNECTION, "upgrade") {
        return Err(not_websocket("the Connection header does not include `upgrade`"));
    }
    if !has_token(headers, header::UPGRADE, "websocket") {
        return Err(not_websocket("the Upgrade header is not `websocket`"));
    }
    if headers.get(header::SEC_WEBSOCKET_VERSION).map(HeaderValue::as_bytes) != Some(b"13") {
        return Err(not_websocket("Sec-WebSocket-Version is not 13"));
    }
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .ok_or_else(|| not_websocket("Sec-WebSocket-Key is missing"))?;
    let accept = derive_accept_key(key.as_bytes());
    let base = base_url(&state, headers);
    let upgrading = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        if let Ok(upgraded) = upgrading.await {
            session(TokioIo::new(upgraded), state, thing, base).await;
        }
    });
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(accept) = HeaderValue::from_str(&accept) {
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    Ok(response)
}

/// The upgraded connection, noting when bytes arrived that have not yet
/// made up a whole message.
struct Watched<T> {
    inner: T,
    unfinished_since: Arc<Mutex<Option<Instant>>>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.unfinished_since.lock().get_or_insert_with(Instant::now);
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// What woke the session.
enum Incoming {
    Client(Option<Result<Message, tokio_tungstenite::tungstenite::Error>>),
    Hub(Result<Sequenced, RecvError>),
    Closing,
    /// Time to check for a message under way too long.
    Timer,
}

/// Close `socket` with `code` and `reason`.
async fn close<S: AsyncRead + AsyncWrite + Unpin>(socket: &mut WebSocketStream<S>, code: CloseCode, reason: &str) {
    let frame = CloseFrame {
        code,
        reason: reason.to_owned().into(),
    };
    let _ = socket.send(Message::Close(Some(frame))).await;
}

/// One WebSocket session: the client adds observations; we relay matching
/// notifications until either side closes, the server shuts down, or the
/// client leaves a message unfinished too long.
async fn session<S>(io: S, state: Arc<AppState>, thing: Arc<ThingInstance>, base: String)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let unfinished_since = Arc::new(Mutex::new(None));
    let watched = Watched {
        inner: io,
        unfinished_since: unfinished_since.clone(),
    };
    let limit = state.config.limits.ws_max_message;
    // Small buffers: an idle observer costs a few KiB, not tungstenite's
    // default 128 KiB read buffer. Messages still up to `limit`; outgoing
    // ones are batched up to WRITE_BATCH bytes, and at most `limit` plus
    // one batch may wait unsent.
    // `limit` is what a client may send; what the server sends is bounded
    // by OUTGOING_MAX (a larger message is replaced by a notice), and only
    // one message beyond the batch may wait unsent.
    let config = WebSocketConfig::default()
        .max_message_size(Some(limit))
        .max_frame_size(Some(limit))
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BATCH)
        .max_write_buffer_size(OUTGOING_MAX.saturating_add(WRITE_BATCH).saturating_add(1));
    let mut socket = WebSocketStream::from_raw_socket(watched, Role::Server, Some(config)).await;
    let Ok(_permit) = state.connections.clone().try_acquire_owned() else {
        close(&mut socket, CloseCode::Again, "too many open connections").await;
        return;
    };
    let timeout = state.config.limits.ws_message_timeout;
    let mut hub = state.lab.hub().subscribe();
    let mut properties: HashSet<String> = HashSet::new();
    let mut actions: HashSet<String> = HashSet::new();
    loop {
        // Wake when the message under way would be overdue, or after one
        // timeout to look again (bytes may arrive while we wait).
        let started = *unfinished_since.lock();
        let wake = started.unwrap_or_else(Instant::now) + timeout;
        let incoming = tokio::select! {
            message = socket.next() => Incoming::Client(message),
            notification = hub.recv() => Incoming::Hub(notification),
            () = state.closing.cancelled() => Incoming::Closing,
            () = tokio::time::sleep_until(wake.into()) => Incoming::Timer,
        };
        let from_hub = matches!(incoming, Incoming::Hub(Ok(_)));
        let reply = match incoming {
            Incoming::Closing => {
                close(&mut socket, CloseCode::Away, "the server is shutting down").await;
                return;
            }
            Incoming::Timer => {
                let overdue = unfinished_since.lock().is_some_and(|since| since.elapsed() >= timeout);
                if overdue {
                    let reason = format!("a message was still unfinished {timeout:?} after it began");
                    close(&mut socket, CloseCode::Policy, &reason).await;
                    return;
                }
                Vec::new()
            }
            Incoming::Client(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => return,
            Incoming::Client(Some(Ok(message))) => {
                *unfinished_since.lock() = None;
                match message {
                    Message::Text(text) => request(text.as_str(), &thing, &mut properties, &mut actions)
                        .iter()
                        .map(Value::to_string)
                        .collect(),
                    _ => Vec::new(),
                }
            }
            Incoming::Hub(Err(RecvError::Lagged(_))) => Vec::new(),
            Incoming::Hub(Err(RecvError::Closed)) => return,
            Incoming::Hub(Ok(notification)) => relay(notification, &thing, &properties, &actions, &base)
                .into_iter()
                .collect(),
        };
        let mut outgoing = reply;
        if from_hub {
            // Whatever else is already waiting goes out in the same write.
            while outgoing.len() < MAX_BATCH {
                match hub.try_recv() {
                    Ok(notification) => outgoing.extend(relay(notification, &thing, &properties, &actions, &base)),
                    Err(TryRecvError::Lagged(_)) => {}
                    Err(_) => break,
                }
            }
        }
        if outgoing.is_empty() {
            continue;
        }
        for message in outgoing {
            let message = if message.len() > OUTGOING_MAX {
                too_large(message.len())
            } else {
                message
            };
            if let Err(e) = socket.feed(Message::text(message)).await {
                tracing::debug!("WebSocket of `{}` closed: {e}", thing.name());
                return;
            }
        }
        if let Err(e) = socket.flush().await {
            tracing::debug!("WebSocket of `{}` closed: {e}", thing.name());
            return;
        }
    }
}

/// The largest message a session sends (16 MiB); a larger one (a huge
/// value or invocation output) is replaced by [`too_large`].
const OUTGOING_MAX: usize = 16 << 20;

/// What is sent instead of a message of `size` bytes, larger than
/// [`OUTGOING_MAX`]: the session goes on.
fn too_large(size: usize) -> String {
    json!({
        "messageType": "error",
        "error": {
            "status": "413",
            "type": format!("{WEBTHING_ERRORS}#message-too-large"),
            "title": "Message Too Large",
            "detail": format!(
                "a notification of {size} bytes is larger than this WebSocket sends ({OUTGOING_MAX} bytes): \
                 read the value or the invocation over HTTP"
            ),
        },
    })
    .to_string()
}

/// The read buffer of a session (tungstenite's default is 128 KiB).
const READ_BUFFER: usize = 4 << 10;
/// Outgoing messages are written once this many bytes are waiting, or when
/// no more notifications are.
const WRITE_BATCH: usize = 16 << 10;
/// At most this many messages are gathered into one write.
const MAX_BATCH: usize = 64;

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
                    Some(p) if p.observable() => {
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

/// The message for a notification this session observes, if any. A
/// property's value is written into it as the shared text every observer
/// uses (serialized once, not once per observer). Each message carries
/// the notification's number in the Thing's sequence (`seq`): a client
/// that sees one skipped knows it missed a change (and reads afresh).
fn relay(
    Sequenced { seq, notification }: Sequenced,
    thing: &ThingInstance,
    properties: &HashSet<String>,
    actions: &HashSet<String>,
    base: &str,
) -> Option<String> {
    match notification {
        Notification::Property { thing: t, name, value } if *t == *thing.name() && properties.contains(name) => {
            let name = Value::from(name);
            Some(format!(
                r#"{{"messageType":"propertyStatus","seq":{seq},"data":{{{name}:{}}}}}"#,
                value.text()
            ))
        }
        Notification::Invocation { invocation, status }
            if invocation.thing() == thing.name() && actions.contains(invocation.action()) =>
        {
            Some(
                json!({
                    "messageType": "actionStatus",
                    "seq": seq,
                    "data": {
                        "action name": invocation.action(),
                        "status": status.as_str(),
                        "invocation": crate::render::invocation_json(&invocation, base, true),
                    },
                })
                .to_string(),
            )
        }
        _ => None,
    }
}
