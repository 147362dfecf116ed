//! What every request passes before and after the routes, in one service
//! in front of the router: the host and origin checks (`guard.rs`), the
//! client's address (for the sign-in allowance and the routes' bounds per
//! client), and a JSON body for the error answers axum's extractors
//! write as plain text. One service, one boxed future per request: each
//! axum middleware layer would add a clone and a boxed future of its own to
//! every request, including the cheapest property read.
//!
//! The cheapest reads, of data properties (values in memory, no device
//! code), are answered here from a table made once from the binding
//! (`binding.rs`: each `ReadProperty` endpoint whose property is data),
//! without the router: the same answer, with no allocation but the value's
//! JSON. Only when nothing else must see the request: no users configured
//! (whose credentials the router's layer checks) and no CORS policy (whose
//! headers the router's layer adds).

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::future::Either;
use labthings_core::ThingInstance;
use tower::Service;

use crate::peer::ClientAddr;
use crate::state::AppState;

/// The router behind the checks; cloned for each connection.
#[derive(Clone)]
pub(crate) struct Front {
    state: Arc<AppState>,
    inner: Router,
    /// The connection's client, put in each routed request's extensions
    /// (the sign-in allowance, one archive at a time per client).
    client: Option<ClientAddr>,
    /// Data properties by the path that reads them (with the prefix).
    reads: Arc<HashMap<String, (Arc<ThingInstance>, usize)>>,
    /// Whether plain-text error answers get a JSON body (the API's
    /// routes; not the failure page, which is HTML for browsers).
    json_errors: bool,
}

/// The data properties of `state`'s things by the full path that reads
/// them, when reads may be answered before the router; else empty.
fn data_reads(state: &AppState) -> HashMap<String, (Arc<ThingInstance>, usize)> {
    if state.auth.enabled() || state.config.security.cors.is_some() {
        return HashMap::new();
    }
    let things = state.lab.things();
    state
        .endpoints
        .iter()
        .filter(|endpoint| endpoint.is::<crate::routes::properties::Read>())
        .filter_map(|endpoint| {
            let (thing, p) = (things.get(endpoint.thing?)?, endpoint.item);
            labthings_core::Lab::in_place(thing, p).then(|| {
                let path = format!("{}{}", state.config.api_prefix, endpoint.path);
                (path, (thing.clone(), p))
            })
        })
        .collect()
}

impl Front {
    /// `inner` (the routes, with credentials, CORS and the path prefix)
    /// behind the checks of `state`.
    pub(crate) fn new(state: Arc<AppState>, inner: Router) -> Self {
        Self {
            reads: Arc::default(),
            state,
            inner,
            client: None,
            json_errors: false,
        }
    }

    /// The same for the API's routes (`routes::router`): plain-text error
    /// answers get a JSON body, and reads of data properties are answered
    /// here. Not for the failure page, which answers every request with
    /// its 503 (an HTML page for browsers).
    pub(crate) fn serving_api(self) -> Self {
        Self {
            reads: Arc::new(data_reads(&self.state)),
            json_errors: true,
            ..self
        }
    }

    /// The same, for a connection from `client`.
    pub(crate) fn for_client(&self, client: ClientAddr) -> Self {
        Self {
            client: Some(client),
            ..self.clone()
        }
    }
}

impl<B> Service<Request<B>> for Front
where
    B: axum::body::HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future =
        Either<Ready<Result<Response, Infallible>>, Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        if let Some(refused) = crate::guard::refusal(&self.state, &request) {
            return Either::Left(ready(Ok(refused)));
        }
        if request.method() == Method::GET
            && let Some((thing, index)) = self.reads.get(request.uri().path())
            && let Ok(json) = thing.read_property_json(*index)
        {
            let json_type = [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))];
            return Either::Left(ready(Ok((json_type, json).into_response())));
        }
        let mut request = request.map(Body::new);
        if let Some(client) = self.client {
            request.extensions_mut().insert(client);
        }
        let routed = self.inner.call(request);
        let json_errors = self.json_errors;
        Either::Right(Box::pin(async move {
            let Ok(response) = routed.await;
            if !json_errors {
                return Ok(response);
            }
            Ok(json_error_bodies(response).await)
        }))
    }
}

/// Give every error answer a JSON body: rejections that axum's extractors
/// write themselves are `text/plain`; they become `{"detail": "<that text>"}`.
/// Answers that are already JSON (all of ours) pass untouched, at once.
async fn json_error_bodies(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    if is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024).await.unwrap_or_default();
    let mut detail = String::from_utf8_lossy(&text).trim().to_owned();
    if detail.is_empty() {
        detail = status.canonical_reason().unwrap_or("error").to_owned();
    }
    let mut response = (status, axum::Json(serde_json::json!({ "detail": detail }))).into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            response.headers_mut().insert(name.clone(), value.clone());
        }
    }
    response.extensions_mut().extend(parts.extensions);
    response
}
