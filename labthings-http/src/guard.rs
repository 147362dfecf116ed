//! What keeps a web page on another site from driving the instrument.
//!
//! A browser will send requests to the lab server on behalf of any page the
//! user has open: "simple" cross-origin POSTs without asking first, and
//! requests to a name the attacker controls that resolves to the lab server
//! (DNS rebinding). Every request therefore passes [`refusal`] (in
//! `front.rs`, before the routes):
//!
//! - its `Host` must be one the server answers to (`localhost`, an IP
//!   address, this machine's host name, or a configured name), else 421;
//! - a request that changes something (any method but GET, HEAD, OPTIONS)
//!   or opens a WebSocket, and carries an `Origin`, must come from the
//!   server's own origin or an allowed one, else 403.
//!
//! Clients that are not browsers send no `Origin` and are unaffected. Every
//! refusal is logged as a warning with the method, path and offending host
//! or origin, so an operator sees attempts.
//! Bodies that must be JSON are checked in `body.rs` (415 otherwise).

use crate::config::ServerConfig;
use crate::error::ApiError;
use crate::state::AppState;
use axum::http::{Method, Request, header};
use axum::response::{IntoResponse, Response};

/// The names and origins a server accepts, prepared once.
#[derive(Debug, Clone, Default)]
pub(crate) struct Allowed {
    any_host: bool,
    hosts: Vec<String>,
    origins: Vec<String>,
}

impl Allowed {
    /// From the configuration, plus this machine's host name.
    pub(crate) fn new(config: &ServerConfig) -> Self {
        let mut hosts: Vec<String> = config
            .security
            .allowed_hosts
            .iter()
            .map(|h| h.to_ascii_lowercase())
            .collect();
        hosts.push("localhost".to_owned());
        if let Some(name) = machine_host_name() {
            hosts.push(format!("{name}.local"));
            hosts.push(name);
        }
        let mut origins: Vec<String> = config
            .security
            .allowed_origins
            .iter()
            .map(|o| o.trim_end_matches('/').to_ascii_lowercase())
            .collect();
        if let Some(public) = &config.security.public_base_url {
            origins.push(origin_of(public));
        }
        Self {
            any_host: config.security.allowed_hosts.iter().any(|h| h == "*"),
            hosts,
            origins,
        }
    }

    /// Whether `host` (a `Host` header: name or address, perhaps a port)
    /// is one this server answers to.
    pub(crate) fn host(&self, host: &str) -> bool {
        if self.any_host {
            return true;
        }
        let name = host_name(host);
        name.parse::<std::net::IpAddr>().is_ok() || self.hosts.iter().any(|h| h.eq_ignore_ascii_case(name))
    }

    /// Whether a browser request from `origin` to `host` may change things.
    fn origin(&self, origin: &str, host: &str) -> bool {
        let origin = origin.to_ascii_lowercase();
        let own = [format!("http://{host}"), format!("https://{host}")];
        own.iter().any(|o| o.eq_ignore_ascii_case(&origin)) || self.origins.contains(&origin)
    }
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> String {
    let lower = url.to_ascii_lowercase();
    let (scheme, rest) = lower.split_once("://").unwrap_or(("http", lower.as_str()));
    let authority = rest.split('/').next().unwrap_or(rest);
    format!("{scheme}://{authority}")
}

/// The name or address of a `Host` header, without its port.
fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        // [v6] or [v6]:port
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// This machine's host name, where the system tells it.
fn machine_host_name() -> Option<String> {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|path| std::fs::read_to_string(path).ok())
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
}

/// Log a refused request (method, path, and the offending header cut to
/// 100 characters) and answer it with `error(offending)`.
fn refuse<B>(request: &Request<B>, what: &str, offending: &str, error: impl FnOnce(&str) -> ApiError) -> Response {
    let offending: String = offending.chars().take(100).collect();
    tracing::warn!(
        method = %request.method(),
        path = request.uri().path(),
        offending = offending.as_str(),
        "refused {what}"
    );
    error(&offending).into_response()
}

/// The checks every request passes before it reaches a route: the answer
/// refusing it, or `None` to let it through.
pub(crate) fn refusal<B>(state: &AppState, request: &Request<B>) -> Option<Response> {
    let headers = request.headers();
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    if !state.allowed.host(host) {
        return Some(refuse(
            request,
            "a request for a host this server does not answer to",
            host,
            |host| {
                ApiError::MisdirectedRequest(format!(
                    "this server does not answer to the host `{host}`; use its address or add the name to `allowed_hosts`"
                ))
            },
        ));
    }
    let changes = !matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let websocket = headers
        .get(header::UPGRADE)
        .and_then(|u| u.to_str().ok())
        .is_some_and(|u| u.eq_ignore_ascii_case("websocket"));
    if (changes || websocket)
        && let Some(origin) = headers.get(header::ORIGIN)
    {
        let origin = origin.to_str().unwrap_or("null");
        // Behind a trusted proxy the page's origin is the public host the
        // proxy forwarded, when that is an allowed host.
        let own = crate::state::trusted_forwarded(state, headers)
            .host
            .is_some_and(|h| state.allowed.origin(origin, h));
        if !own && !state.allowed.origin(origin, host) {
            let action = if websocket {
                "open a WebSocket to"
            } else {
                "change things on"
            };
            return Some(refuse(
                request,
                "a browser request from another origin",
                origin,
                |origin| {
                    ApiError::Forbidden(format!(
                        "a page from `{origin}` may not {action} this server; add the origin to `allowed_origins` if it should"
                    ))
                },
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_origins() {
        let allowed = Allowed::new(&ServerConfig::default().with(|c| {
            c.security.allowed_hosts = vec!["scope.lab".into()];
            c.security.allowed_origins = vec!["https://app.example:8443/".into()];
        }));
        for host in [
            "localhost:5000",
            "127.0.0.1:5000",
            "[::1]:5000",
            "192.168.1.7",
            "SCOPE.lab:80",
        ] {
            assert!(allowed.host(host), "{host}");
        }
        for host in [
            "attacker.example",
            "attacker.example:5000",
            "localhost.attacker.example",
            "",
        ] {
            assert!(!allowed.host(host), "{host}");
        }
        assert!(allowed.origin("http://localhost:5000", "localhost:5000"));
        assert!(allowed.origin("https://app.example:8443", "localhost:5000"));
        assert!(!allowed.origin("http://evil.example", "localhost:5000"));
        assert!(!allowed.origin("null", "localhost:5000"));
        assert!(!allowed.origin("http://localhost:5001", "localhost:5000"));
        assert_eq!(origin_of("https://scope.lab.example/api/"), "https://scope.lab.example");
    }
}
