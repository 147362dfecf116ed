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
    /// The access level of every endpoint, for the credential check.
    pub(crate) access: crate::access::AccessTable,
    /// Every endpoint of the binding for the lab's things (`binding.rs`),
    /// listed once: the router, the TDs, the OpenAPI document and the
    /// access table are made from it.
    pub(crate) endpoints: Vec<crate::binding::Endpoint>,
    /// HTTPS, when configured.
    pub(crate) tls: Option<Tls>,
    /// Static folders and routes of the program's own.
    pub(crate) extras: crate::extra::Extras,
    /// What runs beside the server (expiry, MQTT, discovery, the
    /// program's own); each may add forms to the TDs.
    pub(crate) companions: crate::companions::Companions,
    /// The MCP binding, mounted at its path (`[mcp]`).
    #[cfg(feature = "mcp")]
    pub(crate) mcp: Option<Arc<labthings_mcp::Mcp>>,
    /// Server-wide documents, made once per base URL.
    pub(crate) documents: Documents,
    /// The archives of `/records/export` under way.
    #[cfg(feature = "records")]
    pub(crate) exports: crate::routes::records::Exports,
}

/// The server-wide documents kept serialized (each TD keeps its own).
#[derive(Debug, Default)]
pub(crate) struct Documents {
    /// `GET /openapi.json`.
    pub(crate) openapi: crate::cache::ByBase,
    /// `GET /thing_descriptions/`.
    pub(crate) listing: crate::cache::ByBase,
}

/// The TLS acceptor of a server that serves HTTPS.
#[derive(Clone)]
pub(crate) struct Tls(pub(crate) crate::tls::Acceptor);

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
    if let Some(public) = &state.config.security.public_base_url {
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
    let forwarded = trusted_forwarded(state, headers);
    let scheme = forwarded.proto.unwrap_or(state.scheme());
    let host = forwarded.host.unwrap_or(host);
    let prefix = forwarded.prefix.unwrap_or("");
    format!("{scheme}://{host}{prefix}{}/", state.config.api_prefix)
}

/// What the proxy forwarded, if the configuration trusts it (else
/// nothing), with a forwarded host kept only if this server answers to it.
pub(crate) fn trusted_forwarded<'a>(state: &AppState, headers: &'a HeaderMap) -> Forwarded<'a> {
    if !state.config.security.trust_forwarded {
        return Forwarded::default();
    }
    let mut forwarded = Forwarded::of(headers);
    forwarded.host = forwarded.host.filter(|h| state.allowed.host(h));
    forwarded
}

/// What a reverse proxy says about the request it forwarded: the scheme,
/// host and path prefix the client used. Each value is checked before use
/// (a scheme is `http` or `https`, a host visible ASCII, a prefix plain
/// path segments); anything else counts as absent.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Forwarded<'a> {
    pub(crate) proto: Option<&'static str>,
    pub(crate) host: Option<&'a str>,
    pub(crate) prefix: Option<&'a str>,
}

impl<'a> Forwarded<'a> {
    /// From `X-Forwarded-Proto`, `X-Forwarded-Host` and `X-Forwarded-Prefix`,
    /// or else the first element of `Forwarded` (RFC 7239: `proto=`, `host=`).
    pub(crate) fn of(headers: &'a HeaderMap) -> Self {
        let first = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        let rfc = |key: &str| {
            first("forwarded").and_then(|element| {
                element.split(';').find_map(|pair| {
                    let (k, v) = pair.split_once('=')?;
                    k.trim().eq_ignore_ascii_case(key).then(|| v.trim().trim_matches('"'))
                })
            })
        };
        let proto = first("x-forwarded-proto").or_else(|| rfc("proto")).and_then(|p| {
            if p.eq_ignore_ascii_case("https") {
                Some("https")
            } else if p.eq_ignore_ascii_case("http") {
                Some("http")
            } else {
                None
            }
        });
        let host = first("x-forwarded-host")
            .or_else(|| rfc("host"))
            .filter(|h| h.bytes().all(|b| b.is_ascii_graphic()) && !h.contains('/'));
        let prefix = first("x-forwarded-prefix")
            .map(|p| p.trim_end_matches('/'))
            .filter(|p| crate::paths::plain_path(p));
        Self { proto, host, prefix }
    }
}
