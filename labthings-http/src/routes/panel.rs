//! The control panel at `/`: a small page that builds itself from the Thing
//! Descriptions (`/thing_descriptions/`), so every thing gets a usable UI with
//! no code of its own. Plain HTML, CSS and JavaScript, embedded in the binary:
//! no build step and nothing fetched from the internet.

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;

use super::json_route;
use crate::state::AppState;

const INDEX: &str = include_str!("../panel/index.html");
const SCRIPT: &str = include_str!("../panel/panel.js");
const STYLE: &str = include_str!("../panel/panel.css");

/// Add `/` and the panel's script and style sheet under `/_panel/`.
pub(crate) fn routes(router: Router<Arc<AppState>>) -> Router<Arc<AppState>> {
    router
        .route(
            "/",
            json_route(get(|| async { page("text/html; charset=utf-8", INDEX) })),
        )
        .route(
            "/_panel/panel.js",
            json_route(get(|| async { page("text/javascript; charset=utf-8", SCRIPT) })),
        )
        .route(
            "/_panel/panel.css",
            json_route(get(|| async { page("text/css; charset=utf-8", STYLE) })),
        )
}

fn page(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        body,
    )
}
