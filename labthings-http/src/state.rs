//! What every handler shares: the things, the action manager and the settings.

use std::sync::Arc;

use axum::http::{HeaderMap, header};
use labthings_core::{ActionManager, ThingInstance};

use crate::config::ServerConfig;

/// Shared state of a running server.
#[derive(Debug)]
pub(crate) struct AppState {
    pub(crate) things: Vec<Arc<ThingInstance>>,
    pub(crate) manager: Arc<ActionManager>,
    pub(crate) config: ServerConfig,
}

/// The absolute base URL (ending in `/`) the client used to reach us, from
/// the `Host` header: links in responses are built on it.
pub(crate) fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or("localhost");
    format!("http://{host}/")
}
