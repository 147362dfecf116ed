//! The routes: one module per kind of resource.

pub(crate) mod actions;
pub(crate) mod blobs;
pub(crate) mod docs;
pub(crate) mod endpoints;
pub(crate) mod fallback;
pub(crate) mod invocations;
pub(crate) mod observe;
pub(crate) mod panel;
pub(crate) mod properties;
#[cfg(feature = "records")]
pub(crate) mod records;
pub(crate) mod streams;
pub(crate) mod things;
pub(crate) mod websocket;

use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::http::{Method, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;

use crate::binding::Endpoint;
use crate::error::ApiError;
use crate::state::AppState;

pub(crate) use fallback::fallback;

/// The whole route table: every endpoint of the binding (`binding.rs`),
/// plus the control panel's and the API docs' static pages (served behind
/// `front.rs`, which checks hosts and origins and gives axum's plain-text
/// rejections a JSON body).
pub(crate) fn router(state: Arc<AppState>) -> Router {
    // One method router per path, in the binding's order.
    let mut paths: Vec<(String, MethodRouter<Arc<AppState>>, Option<String>)> = Vec::new();
    for endpoint in state.endpoints.iter() {
        // The binding numbers the things the lab serves, so each is there.
        let Some(handler) = endpoint.route(state.lab.things()) else {
            continue;
        };
        let note = read_only_note(&state, endpoint);
        match paths.iter_mut().find(|(path, _, _)| *path == endpoint.path) {
            Some((_, methods, old_note)) => {
                *methods = std::mem::take(methods).merge(handler);
                *old_note = old_note.take().or(note);
            }
            None => paths.push((endpoint.path.clone(), handler, note)),
        }
    }
    let mut router = Router::new();
    for (path, methods, note) in paths {
        let route = match note {
            Some(note) => methods.fallback(move |method: Method| async move {
                ApiError::MethodNotAllowed(format!("method {method} is not allowed here: {note}"))
            }),
            None => json_route(methods),
        };
        router = router.route(&path, route);
    }
    router = docs::routes(router);
    router = panel::routes(router);
    router = state.extras.mount(router);
    #[cfg(feature = "mcp")]
    if let Some(mcp) = &state.mcp {
        router = router.route_service(&mcp.config().path, mcp.service(state.config.limits.body_limit));
    }
    checked(router.fallback(not_found), &state)
}

/// `router` behind the checks a configuration asks for (credentials when
/// users are configured, CORS when asked), under the `api_prefix`: for the
/// served routes and the fallback page alike. Host and origin checks are
/// in front of it (`front.rs`).
pub(crate) fn checked(mut router: Router<Arc<AppState>>, state: &Arc<AppState>) -> Router {
    // Without users there is nothing to check: no layer, no cost per request.
    #[cfg(feature = "auth")]
    if state.auth.enabled() {
        router = router.layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::auth::authenticate,
        ));
    }
    if let Some(cors) = &state.config.security.cors {
        router = router.layer(cors_layer(&state.config.security.allowed_origins, cors));
    }
    let router = router.with_state(state.clone());
    if state.config.api_prefix.is_empty() {
        return router;
    }
    let prefix: Arc<str> = state.config.api_prefix.as_str().into();
    Router::new()
        .fallback_service(router)
        .layer(axum::middleware::from_fn_with_state(prefix, under_prefix))
}

/// Serve the router under `prefix`: `{prefix}/…` reaches it as `/…`,
/// `{prefix}` is redirected to `{prefix}/` (the panel's relative links need
/// the slash), and any other path is a JSON 404.
async fn under_prefix(
    axum::extract::State(prefix): axum::extract::State<Arc<str>>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let uri = request.uri().clone();
    let Some(rest) = uri.path().strip_prefix(&*prefix) else {
        return not_found(uri).await.into_response();
    };
    if rest.is_empty() {
        let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
        return axum::response::Redirect::permanent(&format!("{prefix}/{query}")).into_response();
    }
    if !rest.starts_with('/') {
        return not_found(uri).await.into_response();
    }
    let path_and_query = match uri.query() {
        Some(query) => format!("{rest}?{query}"),
        None => rest.to_owned(),
    };
    match Uri::builder().path_and_query(path_and_query).build() {
        Ok(inner) => {
            *request.uri_mut() = inner;
            next.run(request).await
        }
        Err(_) => not_found(uri).await.into_response(),
    }
}

/// For the path that reads a read-only property, what to tell a client
/// that tries to write it.
fn read_only_note(state: &AppState, endpoint: &Endpoint) -> Option<String> {
    if !endpoint.is::<properties::Read>() {
        return None;
    }
    let thing = state.lab.things().get(endpoint.thing?)?;
    let property = thing.properties().get(endpoint.item)?;
    (!property.writable).then(|| {
        format!(
            "the property `{}` of `{}` is read-only: it can be read (GET) and observed, not written",
            property.name,
            thing.name()
        )
    })
}

/// The CORS answers for web apps served from `origins` (tower-http's layer:
/// preflights, `Access-Control-Allow-*`, and the headers clients may read).
fn cors_layer(origins: &[String], cors: &crate::config::CorsConfig) -> tower_http::cors::CorsLayer {
    use axum::http::{HeaderName, HeaderValue};
    use tower_http::cors::{AllowOrigin, CorsLayer};
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o.trim_end_matches('/')).ok())
        .collect();
    let methods: Vec<Method> = cors.methods.iter().filter_map(|m| m.parse().ok()).collect();
    let headers: Vec<HeaderName> = cors.headers.iter().filter_map(|h| h.parse().ok()).collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods(methods)
        .allow_headers(headers)
        .expose_headers([
            header::LOCATION,
            header::RETRY_AFTER,
            header::LINK,
            HeaderName::from_static("x-total-count"),
        ])
}

/// Give a method router a JSON 405 for methods it does not serve (axum adds
/// the `Allow` header).
pub(crate) fn json_route(route: MethodRouter<Arc<AppState>>) -> MethodRouter<Arc<AppState>> {
    route.fallback(method_not_allowed)
}

/// The query parameters of a route, read into `T`; the OpenAPI document
/// lists the same struct's fields ([`crate::openapi::query_parameters`]).
/// A query that does not fit is a 422 naming the parameters there are.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Params<T>(pub(crate) T);

impl<T, S> axum::extract::FromRequestParts<S> for Params<T>
where
    T: serde::de::DeserializeOwned + schemars::JsonSchema,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(rejection) => Err(query_problem(
                &rejection,
                &crate::openapi::query_names::<T>().join(", "),
            )),
        }
    }
}

/// The 422 for a query string that does not fit a route's parameters
/// (`expected` names them).
pub(crate) fn query_problem(rejection: &QueryRejection, expected: &str) -> ApiError {
    ApiError::invalid(
        "query_invalid",
        vec!["query".into()],
        format!("{}; the parameters here are: {expected}", rejection.body_text()),
        serde_json::Value::Null,
    )
}

async fn method_not_allowed(method: Method) -> ApiError {
    ApiError::MethodNotAllowed(format!("method {method} is not allowed here"))
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::NotFound(format!("Not Found: nothing is served at {}", uri.path()))
}

/// Run device code of `thing`'s `affordance` on the lab's device runtime,
/// within its time limit (504 past it; 503 when the thing's calls are all
/// stuck).
pub(crate) async fn device<R: Send + 'static>(
    state: &AppState,
    thing: &labthings_core::ThingInstance,
    affordance: &str,
    f: impl FnOnce() -> R + Send + 'static,
) -> Result<R, ApiError> {
    Ok(state.lab.device().call(thing.name(), affordance, f).await?)
}
