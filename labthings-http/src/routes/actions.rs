//! `POST /{thing}/{action}` (invoke) and `GET /{thing}/{action}` (its invocations).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use labthings_core::ThingInstance;
use serde_json::Value;

use super::json_route;
use crate::body::read_json;
use crate::error::ApiError;
use crate::state::{AppState, base_url};

/// Add the route of action number `index` of `thing`.
pub(crate) fn route(router: Router<Arc<AppState>>, thing: &Arc<ThingInstance>, index: usize) -> Router<Arc<AppState>> {
    let Some(action) = thing.actions().get(index) else {
        return router;
    };
    let path = format!("/{}/{}", thing.name(), action.name);
    let invoke_thing = thing.clone();
    let list_thing = thing.clone();
    let method_router = post(
        move |State(state): State<Arc<AppState>>, headers: HeaderMap, body: Body| {
            invoke(state, invoke_thing, index, headers, body)
        },
    )
    .get(
        move |State(state): State<Arc<AppState>>, headers: HeaderMap| async move {
            let name = list_thing.actions().get(index).map(|a| a.name);
            let base = base_url(&headers);
            let list: Vec<Value> = state
                .manager
                .list(Some(list_thing.name()), name)
                .iter()
                .map(|i| i.to_json(&base, false))
                .collect();
            Json(Value::Array(list))
        },
    );
    router.route(&path, json_route(method_router))
}

/// Validate the input, start the invocation and answer 201 with it.
async fn invoke(
    state: Arc<AppState>,
    thing: Arc<ThingInstance>,
    index: usize,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let input = read_json(&headers, body, state.config.body_limit).await?;
    let decoded = thing.decode_input(index, input).map_err(ApiError::Invalid)?;
    let invocation = state
        .manager
        .invoke(&thing, index, decoded)
        .map_err(|busy| ApiError::Conflict(busy.to_string()))?;
    let wait = state.config.invoke_wait;
    if !wait.is_zero() {
        let _ = tokio::time::timeout(wait, invocation.finished()).await;
    }
    let body = invocation.to_json(&base_url(&headers), true);
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    let location = format!("{}action_invocations/{}", base_url(&headers), invocation.id());
    if let Ok(location) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}
