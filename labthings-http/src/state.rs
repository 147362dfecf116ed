//! What every handler shares: the things, the action manager and the settings.

use std::sync::Arc;

use axum::http::{HeaderMap, header};
use labthings_core::Lab;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::auth::Authenticator;
use crate::config::ServerConfig;
use crate::guard::Allowed;

/// Shared state of a running server.
#[derive(Debug)]
pub(crate) struct AppState {
    /// The things and their action manager.
    pub(crate) lab: Lab,
    pub(crate) config: ServerConfig,
    /// Cancelled when the server starts shutting down: live streams (SSE,
    /// MJPEG, WebSocket) end and connections close.
    pub(crate) closing: CancellationToken,
    /// Open connections, WebSockets included (at most `max_connections`).
    pub(crate) connections: Arc<Semaphore>,
    /// The hosts and origins the server accepts.
    pub(crate) allowed: Allowed,
    /// The users, when credentials are checked.
    pub(crate) auth: Authenticator,
    /// HTTPS, when configured.
    pub(crate) tls: Option<Tls>,
    /// Static folders and routes of the program's own.
    pub(crate) extras: crate::extra::Extras,
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
    format!("{}://{host}{}/", state.scheme(), state.config.api_prefix)
}
