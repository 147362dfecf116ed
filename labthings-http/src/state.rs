//! What every handler shares: the things, the action manager and the settings.

use std::sync::Arc;

use axum::http::{HeaderMap, header};
use labthings_core::{ActionManager, ThingInstance};

use parking_lot::Mutex;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::auth::Authenticator;
use crate::config::ServerConfig;
use crate::guard::Allowed;

/// Shared state of a running server.
#[derive(Debug)]
pub(crate) struct AppState {
    pub(crate) things: Vec<Arc<ThingInstance>>,
    pub(crate) manager: Arc<ActionManager>,
    pub(crate) config: ServerConfig,
    /// Cancelled when the server starts shutting down: live streams (SSE,
    /// MJPEG, WebSocket) end and connections close.
    pub(crate) closing: CancellationToken,
    /// Open connections, WebSockets included (at most `max_connections`).
    pub(crate) connections: Arc<Semaphore>,
    /// Whether the stop hooks have run (they run once).
    pub(crate) stopped: Mutex<bool>,
    /// The hosts and origins the server accepts.
    pub(crate) allowed: Allowed,
    /// The users, when credentials are checked.
    pub(crate) auth: Authenticator,
    /// HTTPS, when configured.
    pub(crate) tls: Option<Tls>,
}

/// The TLS acceptor of a server that serves HTTPS.
#[derive(Clone)]
pub(crate) struct Tls(pub(crate) tokio_rustls::TlsAcceptor);

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls(..)")
    }
}

impl AppState {
    /// `https` when serving TLS, else `http`.
    pub(crate) fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    /// Run every Thing's stop hook, in reverse order, unless they have run.
    pub(crate) fn stop_things(&self) {
        let mut stopped = self.stopped.lock();
        if *stopped {
            return;
        }
        *stopped = true;
        stop_in_reverse(&self.things);
    }
}

/// Run the stop hooks of `things` in reverse order, logging failures.
pub(crate) fn stop_in_reverse(things: &[Arc<ThingInstance>]) {
    for thing in things.iter().rev() {
        if let Err(failure) = thing.stop() {
            tracing::error!("thing `{}` failed to stop cleanly: {failure}", thing.name());
        }
    }
}

/// The absolute base URL (ending in `/`) links in responses are built on:
/// the configured public URL, or the one the client used to reach us (its
/// `Host`, which the guard has checked is one we answer to).
pub(crate) fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(public) = &state.config.public_base_url {
        return if public.ends_with('/') {
            public.clone()
        } else {
            format!("{public}/")
        };
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or("localhost");
    format!("{}://{host}/", state.scheme())
}
