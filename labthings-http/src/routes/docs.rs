//! `/openapi.json` and the interactive API docs at `/docs/` (Swagger UI,
//! served from the binary: its files are vendored by `utoipa-swagger-ui`'s
//! `vendored` feature and embedded at compile time, so no CDN is needed;
//! cargo feature `swagger-ui`, on by default).

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{MethodFilter, on};
use serde_json::{Map, Value, json};

use crate::binding::{Access, Route, ServerKind};
use crate::openapi::{json_response, object};
use crate::state::{AppState, base_url};

#[cfg(feature = "swagger-ui")]
pub(crate) use swagger::routes;

/// Without Swagger UI, `/docs` and `/docs/` say where the description is.
#[cfg(not(feature = "swagger-ui"))]
pub(crate) fn routes(router: axum::Router<Arc<AppState>>) -> axum::Router<Arc<AppState>> {
    use axum::routing::get;
    let missing = || async {
        crate::error::ApiError::NotFound(
            "the API docs page is not built into this program (the `swagger-ui` feature of labthings); \
             the OpenAPI document is at openapi.json"
                .to_owned(),
        )
    };
    router
        .route("/docs", super::json_route(get(missing)))
        .route("/docs/", super::json_route(get(missing)))
}

#[cfg(feature = "swagger-ui")]
mod swagger {
    use std::sync::{Arc, LazyLock};

    use axum::Router;
    use axum::extract::Path;
    use axum::http::{HeaderValue, header};
    use axum::response::{IntoResponse, Redirect, Response};
    use axum::routing::get;
    use utoipa_swagger_ui::Config;

    use super::super::json_route;
    use crate::error::ApiError;
    use crate::state::AppState;

    /// Swagger UI's settings: read `/openapi.json`, allow "Try it out".
    static CONFIG: LazyLock<Arc<Config<'static>>> = LazyLock::new(|| {
        Arc::new(
            // Relative to the page (`…/docs/`), so it follows an `api_prefix`.
            Config::new(["../openapi.json"])
                .try_it_out_enabled(true)
                .display_operation_id(false)
                .default_models_expand_depth(0),
        )
    });

    /// Add `/docs` and `/docs/{file}` (Swagger UI's files; `/openapi.json` is
    /// an endpoint of the binding).
    pub(crate) fn routes(router: Router<Arc<AppState>>) -> Router<Arc<AppState>> {
        router
            .route("/docs", json_route(get(|| async { Redirect::permanent("docs/") })))
            .route("/docs/", json_route(get(|| async { asset(String::new()) })))
            .route(
                "/docs/{*file}",
                json_route(get(|Path(file): Path<String>| async move { asset(file) })),
            )
    }

    /// One file of Swagger UI (`index.html` for the empty path).
    fn asset(file: String) -> Response {
        match utoipa_swagger_ui::serve(&file, CONFIG.clone()) {
            Ok(Some(found)) => {
                let content_type = HeaderValue::from_str(&found.content_type)
                    .unwrap_or(HeaderValue::from_static("application/octet-stream"));
                let mut response = ([(header::CONTENT_TYPE, content_type)], found.bytes.into_owned()).into_response();
                if found.gzpipped {
                    response
                        .headers_mut()
                        .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                }
                response
            }
            Ok(None) => ApiError::NotFound(format!("Not Found: the docs have no file {file}")).into_response(),
            Err(error) => ApiError::BadBody(format!("could not prepare the docs: {error}")).into_response(),
        }
    }
}

/// `GET /openapi.json`: the OpenAPI document. Anyone may read it: it
/// declares how to authenticate.
pub(crate) struct OpenApi;

impl ServerKind for OpenApi {
    const ERRORS: &'static [u16] = &[];
    const ACCESS: Access = Access::Public;

    fn path() -> String {
        "/openapi.json".into()
    }

    fn handler(method: MethodFilter) -> Route {
        on(method, openapi)
    }

    fn operation() -> Map<String, Value> {
        object(
            json!({"tags": ["server"], "operationId": "openapi", "summary": "This document",
            "responses": {"200": json_response("OpenAPI 3.1", json!({"type": "object"}))}}),
        )
    }
}

/// `GET /openapi.json`, made once per base URL (for 100 things it takes a
/// quarter of a second).
async fn openapi(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Result<Response, crate::error::ApiError> {
    let base = base_url(&state, &headers);
    state.documents.openapi.response(&base, || {
        let mut document = crate::openapi::document(state.lab.things(), &state.endpoints, &base);
        crate::auth::secure_openapi(&mut document, &state.auth, &state.access);
        document
    })
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, header};
    use tower::ServiceExt;

    /// `/docs/` is Swagger UI with the `swagger-ui` feature, and a JSON 404
    /// that names the feature without it; `/openapi.json` is served either way.
    #[tokio::test]
    async fn the_docs_page_follows_its_feature() {
        let server = crate::Server::builder().build().expect("no things");
        let get = |path: &str| {
            Request::get(path)
                .header(header::HOST, "localhost")
                .body(Body::empty())
                .expect("a request")
        };
        let docs = server.router().oneshot(get("/docs/")).await.expect("an answer");
        let kind = docs.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap_or_default()
            .to_owned();
        let body = axum::body::to_bytes(docs.into_body(), 1 << 22).await.expect("a body");
        let text = String::from_utf8_lossy(&body);
        #[cfg(feature = "swagger-ui")]
        assert!(
            kind.starts_with("text/html") && text.contains("swagger"),
            "{kind}: {text}"
        );
        #[cfg(not(feature = "swagger-ui"))]
        assert!(
            kind.contains("json") && text.contains("`swagger-ui` feature"),
            "{kind}: {text}"
        );
        let openapi = server.router().oneshot(get("/openapi.json")).await.expect("an answer");
        assert_eq!(openapi.status(), 200);
    }
}
