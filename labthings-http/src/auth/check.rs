//! The check every request passes when users are configured: who is it
//! from, and may they do this? Also the audit log of what operators do.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;

use super::Role;
use super::verify::{Identity, Presented, Verdict};
use crate::error::ApiError;
use crate::peer::ClientAddr;
use crate::state::AppState;

/// The realm named in `WWW-Authenticate`.
const REALM: &str = "labthings";

/// The query parameter a bearer token may come in on GET requests
/// (RFC 6750 section 2.3): browsers cannot give WebSockets, event streams,
/// images or download links an `Authorization` header.
const TOKEN_PARAMETER: &str = "access_token";

/// Pages anyone may load: the control panel's and the API docs' static
/// files (they hold no data; the panel asks for credentials itself) and the
/// OpenAPI document (it declares how to authenticate).
pub(crate) fn is_public(method: &Method, path: &str) -> bool {
    matches!(*method, Method::GET | Method::HEAD)
        && (path == "/"
            || path == "/openapi.json"
            || path == "/docs"
            || path.starts_with("/docs/")
            || path.starts_with("/_panel/"))
}

/// What a request needs: reading needs `Observe`, anything else `Operate`.
fn needed_role(method: &Method) -> Role {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        Role::Observe
    } else {
        Role::Operate
    }
}

/// The thing a request is about: the first path segment when it names a
/// thing, or the thing of the invocation `/action_invocations/{id}` names.
fn target_thing<'a>(state: &'a AppState, path: &str) -> Option<&'a str> {
    let mut segments = path.trim_start_matches('/').split('/');
    let first = segments.next()?;
    if first == "action_invocations" {
        let id = segments.next()?.parse().ok()?;
        let invocation = state.lab.manager().get(id)?;
        return state
            .lab
            .things()
            .iter()
            .map(|t| t.name())
            .find(|name| *name == invocation.thing());
    }
    state.lab.things().iter().map(|t| t.name()).find(|name| *name == first)
}

/// Why presented credentials could not even be read.
struct Malformed(&'static str);

/// The credentials a request carries, if any. A token in the query is taken
/// out of the URI, so it reaches neither the routes nor any log.
fn presented(request: &mut Request) -> Result<Option<Presented>, Malformed> {
    if let Some(value) = request.headers().get(header::AUTHORIZATION) {
        let value = value
            .to_str()
            .map_err(|_| Malformed("the Authorization header is not text"))?;
        let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value, ""));
        let rest = rest.trim();
        return if scheme.eq_ignore_ascii_case("bearer") {
            Ok(Some(Presented::Bearer(rest.to_owned())))
        } else if scheme.eq_ignore_ascii_case("basic") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(rest)
                .map_err(|_| Malformed("Basic credentials are not base64"))?;
            let decoded = String::from_utf8(decoded).map_err(|_| Malformed("Basic credentials are not UTF-8"))?;
            let (user, password) = decoded
                .split_once(':')
                .ok_or(Malformed("Basic credentials are not `user:password`"))?;
            Ok(Some(Presented::Basic {
                user: user.to_owned(),
                password: password.to_owned(),
            }))
        } else {
            Err(Malformed("the Authorization scheme is neither Bearer nor Basic"))
        };
    }
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        return Ok(None);
    }
    let Some(query) = request.uri().query() else {
        return Ok(None);
    };
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(query).map_err(|_| Malformed("the query string cannot be read"))?;
    let Some(token) = pairs.iter().find(|(k, _)| k == TOKEN_PARAMETER).map(|(_, v)| v.clone()) else {
        return Ok(None);
    };
    let rest: Vec<&(String, String)> = pairs.iter().filter(|(k, _)| k != TOKEN_PARAMETER).collect();
    let rest = serde_urlencoded::to_string(rest).map_err(|_| Malformed("the query string cannot be read"))?;
    let path = request.uri().path();
    let path_and_query = if rest.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{rest}")
    };
    let mut parts = request.uri().clone().into_parts();
    parts.path_and_query = path_and_query.parse().ok();
    if let Ok(uri) = Uri::from_parts(parts) {
        *request.uri_mut() = uri;
    }
    Ok(Some(Presented::Bearer(token)))
}

/// The 401 answer: what is wrong, and a `WWW-Authenticate` challenge for
/// each scheme the server accepts.
fn challenge(state: &AppState, request: &Request, detail: &str, invalid_token: bool) -> Response {
    tracing::warn!(
        method = %request.method(),
        path = request.uri().path(),
        "refused a request without valid credentials: {detail}"
    );
    let mut response = ApiError::Unauthorized(detail.to_owned()).into_response();
    let headers = response.headers_mut();
    if state.auth.has_tokens() {
        let error = if invalid_token { ", error=\"invalid_token\"" } else { "" };
        if let Ok(value) = HeaderValue::from_str(&format!("Bearer realm=\"{REALM}\"{error}")) {
            headers.append(header::WWW_AUTHENTICATE, value);
        }
    }
    if state.auth.has_passwords()
        && let Ok(value) = HeaderValue::from_str(&format!("Basic realm=\"{REALM}\", charset=\"UTF-8\""))
    {
        headers.append(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// The 429 for a client that failed to sign in too often: wait `wait`.
fn slow_down(wait: std::time::Duration) -> Response {
    let seconds = u32::try_from(wait.as_secs().saturating_add(1)).unwrap_or(u32::MAX);
    ApiError::TooManyRequests {
        detail: format!("too many failed sign-ins from this address or for this user; try again in {seconds} s"),
        retry_after_secs: seconds,
    }
    .into_response()
}

/// Check the request's credentials and role (when users are configured),
/// and log every change an authenticated user makes.
pub(crate) async fn authenticate(State(state): State<Arc<AppState>>, mut request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let static_file = matches!(*request.method(), Method::GET | Method::HEAD) && state.extras.is_static(path);
    if !state.auth.enabled() || is_public(request.method(), path) || static_file {
        return next.run(request).await;
    }
    let address = request
        .extensions()
        .get::<ClientAddr>()
        .map_or(std::net::Ipv4Addr::UNSPECIFIED.into(), |client| client.0);
    // A refusal counts against the client's allowance; past it, 429.
    let refuse = |request: &Request, verdict: Verdict, why: &str| match verdict {
        Verdict::SlowDown(wait) => slow_down(wait),
        _ => challenge(&state, request, why, false),
    };
    let identity: Identity = match presented(&mut request) {
        Err(Malformed(why)) => return refuse(&request, state.auth.failed(address, None), why),
        Ok(None) => match state.auth.anonymous() {
            Some(anonymous) => anonymous.clone(),
            None => return refuse(&request, state.auth.missing(address), "this server needs credentials"),
        },
        Ok(Some(credentials)) => match state.auth.check(credentials, address).await {
            Verdict::User(identity) => identity,
            Verdict::SlowDown(wait) => return slow_down(wait),
            Verdict::Refused => {
                return challenge(&state, &request, "the credentials are not those of any user", true);
            }
        },
    };
    let needed = needed_role(request.method());
    let thing = target_thing(&state, request.uri().path());
    if !identity.may(needed, thing) {
        tracing::warn!(
            user = &*identity.name,
            method = %request.method(),
            path = request.uri().path(),
            "refused a request the user's role does not allow"
        );
        let target = thing.map(|t| format!(" `{t}`")).unwrap_or_default();
        return ApiError::Forbidden(format!(
            "user `{}` may {}, not {} {}{target}",
            identity.name,
            identity.describe_role(),
            needed.as_str(),
            if thing.is_some() { "the thing" } else { "here" },
        ))
        .into_response();
    }
    if needed == Role::Observe {
        return next.run(request).await;
    }
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    let response = next.run(request).await;
    let status: StatusCode = response.status();
    tracing::info!(
        target: "labthings::audit",
        user = &*identity.name,
        method = %method,
        path = path.as_str(),
        status = status.as_u16(),
        "operated"
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: Method, uri: &str, authorization: Option<&str>) -> Request {
        let mut builder = Request::builder().method(method).uri(uri);
        if let Some(value) = authorization {
            builder = builder.header(header::AUTHORIZATION, value);
        }
        builder.body(axum::body::Body::empty()).expect("a request")
    }

    #[test]
    fn credentials_are_read_from_headers_and_get_queries() {
        let mut basic = request(Method::GET, "/stage/", Some("Basic YWxpY2U6cHc6d2l0aDpjb2xvbnM="));
        match presented(&mut basic) {
            Ok(Some(Presented::Basic { user, password })) => {
                assert_eq!((user.as_str(), password.as_str()), ("alice", "pw:with:colons"));
            }
            _ => panic!("Basic credentials"),
        }
        let mut bearer = request(Method::PUT, "/stage/x", Some("bearer  abc "));
        assert!(matches!(presented(&mut bearer), Ok(Some(Presented::Bearer(t))) if t == "abc"));
        let mut query = request(Method::GET, "/action_invocations?thing=stage&access_token=a%2Bb", None);
        assert!(matches!(presented(&mut query), Ok(Some(Presented::Bearer(t))) if t == "a+b"));
        assert_eq!(query.uri().to_string(), "/action_invocations?thing=stage");
        let mut only = request(Method::GET, "/stage/ws?access_token=abc", None);
        assert!(matches!(presented(&mut only), Ok(Some(Presented::Bearer(_)))));
        assert_eq!(only.uri().to_string(), "/stage/ws");
        // Not on requests that change things: those come from code that can set headers.
        let mut post = request(Method::POST, "/stage/home?access_token=abc", None);
        assert!(matches!(presented(&mut post), Ok(None)));
        for bad in ["Basic !!!", "Basic YWxpY2U=", "Digest x", "Negotiate"] {
            let mut bad = request(Method::GET, "/", Some(bad));
            assert!(presented(&mut bad).is_err());
        }
        let mut none = request(Method::GET, "/stage/", None);
        assert!(matches!(presented(&mut none), Ok(None)));
    }

    #[test]
    fn only_static_pages_and_the_api_description_are_public() {
        for path in [
            "/",
            "/openapi.json",
            "/docs/",
            "/docs/swagger-ui.css",
            "/_panel/panel.js",
        ] {
            assert!(is_public(&Method::GET, path), "{path}");
        }
        for path in ["/stage/", "/things/", "/action_invocations", "/blob/x", "/stage/ws"] {
            assert!(!is_public(&Method::GET, path), "{path}");
        }
        assert!(!is_public(&Method::POST, "/"));
        assert_eq!(needed_role(&Method::GET), Role::Observe);
        assert_eq!(needed_role(&Method::DELETE), Role::Operate);
    }
}
