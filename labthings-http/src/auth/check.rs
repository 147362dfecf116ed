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
use crate::access::Target;
use crate::binding::Access;
use crate::error::ApiError;
use crate::peer::ClientAddr;
use crate::state::AppState;

/// The realm named in `WWW-Authenticate`.
const REALM: &str = "labthings";

/// The query parameter a bearer token may come in on GET requests
/// (RFC 6750 section 2.3): browsers cannot give WebSockets, event streams,
/// images or download links an `Authorization` header.
const TOKEN_PARAMETER: &str = "access_token";

/// What `method` on `path` needs, and which thing it is about: the access
/// level its endpoint declares (`binding.rs`), from the table made when the
/// server was built. A path nothing serves (it will be answered 404) needs
/// what its kind of method does.
fn needed(state: &AppState, method: &Method, path: &str) -> (Access, Option<String>) {
    let Some((access, target)) = state.access.find(method, path) else {
        let access = if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
            Access::Observe
        } else {
            Access::Operate
        };
        return (access, None);
    };
    let thing = match target {
        Target::Server => None,
        Target::Thing(index) => state.lab.things().get(index).map(|t| t.name().to_owned()),
        Target::Invocation(id) => state.lab.manager().get(id).map(|i| i.thing().to_owned()),
    };
    (access, thing)
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
    let (access, thing) = needed(&state, request.method(), path);
    if !state.auth.enabled() || access == Access::Public || static_file {
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
    let needed = match access {
        Access::Operate => Role::Operate,
        Access::Observe | Access::Public => Role::Observe,
    };
    let thing = thing.as_deref();
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
    request.extensions_mut().insert(identity.caller());
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
}
