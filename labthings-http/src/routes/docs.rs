//! `/openapi.json` and the interactive API docs at `/docs/` (Swagger UI,
//! served from the binary: its files are vendored by `utoipa-swagger-ui`'s
//! `vendored` feature and embedded at compile time, so no CDN is needed).

use std::sync::{Arc, LazyLock};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use utoipa_swagger_ui::Config;

use super::json_route;
use crate::error::ApiError;
use crate::openapi::openapi_document;
use crate::state::{AppState, base_url};

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

/// `GET /openapi.json`, made once per base URL (for 100 things it takes a
/// quarter of a second).
pub(crate) async fn openapi(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, crate::error::ApiError> {
    let base = base_url(&state, &headers);
    state.documents.openapi.response(&base, || {
        let mut document = openapi_document(state.lab.things(), &base);
        crate::auth::secure_openapi(&mut document, &state.auth);
        document
    })
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
