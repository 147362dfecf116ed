//! Reading, writing and resetting properties (`binding.rs` says where).

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, on};
use labthings_core::ThingInstance;
use serde_json::Value;

use crate::body::read_json;
use crate::error::ApiError;
use crate::state::AppState;

/// Serve reads of property number `index` of `thing` on `method`.
pub(crate) fn read_handler(
    thing: &Arc<ThingInstance>,
    index: usize,
    method: MethodFilter,
) -> MethodRouter<Arc<AppState>> {
    let thing = thing.clone();
    on(method, move |State(state): State<Arc<AppState>>| {
        read(state, thing, index)
    })
}

/// Serve writes of property number `index` of `thing` on `method`.
pub(crate) fn write_handler(
    thing: &Arc<ThingInstance>,
    index: usize,
    method: MethodFilter,
) -> MethodRouter<Arc<AppState>> {
    let thing = thing.clone();
    on(
        method,
        move |State(state): State<Arc<AppState>>, headers: HeaderMap, body: Body| {
            write(state, thing, index, headers, body)
        },
    )
}

/// Serve resets of data property number `index` of `thing` on `method`.
pub(crate) fn reset_handler(
    thing: &Arc<ThingInstance>,
    index: usize,
    method: MethodFilter,
) -> MethodRouter<Arc<AppState>> {
    let thing = thing.clone();
    on(method, move |State(state): State<Arc<AppState>>| async move {
        state.lab.reset(&thing, index).await?;
        Ok::<_, ApiError>(Json(Value::Null))
    })
}

async fn read(state: Arc<AppState>, thing: Arc<ThingInstance>, index: usize) -> Result<Response, ApiError> {
    let json = state.lab.read(&thing, index).await?;
    Ok((
        [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        json,
    )
        .into_response())
}

async fn write(
    state: Arc<AppState>,
    thing: Arc<ThingInstance>,
    index: usize,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let value = read_json(
        &headers,
        body,
        state.config.limits.body_limit,
        state.config.limits.body_read_timeout,
    )
    .await?;
    state.lab.write(&thing, index, value).await?;
    Ok((StatusCode::CREATED, Json(Value::Null)))
}
