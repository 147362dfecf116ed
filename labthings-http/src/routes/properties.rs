//! Reading, writing and resetting properties (`binding.rs` says where).

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, on};
use labthings_core::{PropertyWriteError, ThingInstance};
use serde_json::Value;

use super::device;
use crate::body::read_json;
use crate::error::ApiError;
use crate::state::AppState;

/// A data property is an in-memory value: read and write it in place.
/// Getters and setters are device code and may block: run them off the reactor.
pub(crate) fn inline(thing: &ThingInstance, index: usize) -> bool {
    thing.properties().get(index).is_some_and(|p| p.data && !p.setting)
}

/// Serve reads of property number `index` of `thing` on `method`.
pub(crate) fn read_handler(
    thing: &Arc<ThingInstance>,
    index: usize,
    method: MethodFilter,
) -> MethodRouter<Arc<AppState>> {
    let inline = inline(thing, index);
    let thing = thing.clone();
    on(method, move |State(state): State<Arc<AppState>>| {
        read(state, thing, index, inline)
    })
}

/// Serve writes of property number `index` of `thing` on `method`.
pub(crate) fn write_handler(
    thing: &Arc<ThingInstance>,
    index: usize,
    method: MethodFilter,
) -> MethodRouter<Arc<AppState>> {
    let inline = inline(thing, index);
    let thing = thing.clone();
    on(
        method,
        move |State(state): State<Arc<AppState>>, headers: HeaderMap, body: Body| {
            write(state, thing, index, inline, headers, body)
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
        let name = property_name(&thing, index);
        let resetting = thing.clone();
        written(device(&state, &thing, &name, move || resetting.reset_property(index)).await?)
            .map(|()| Json(Value::Null))
    })
}

/// The answer to a failed write.
fn written(result: Result<(), PropertyWriteError>) -> Result<(), ApiError> {
    result.map_err(|e| match e {
        PropertyWriteError::Invalid(problems) => ApiError::invalid_body(problems),
        PropertyWriteError::Failed(failure) => ApiError::device(&failure),
        PropertyWriteError::ReadOnly => {
            ApiError::MethodNotAllowed("the property is read-only: it can be read, not written".to_owned())
        }
        PropertyWriteError::Busy => {
            ApiError::Conflict("the property's hardware lock is held by a running action; try again later".to_owned())
        }
    })
}

/// The name of property number `index` (its time limit is looked up by it).
fn property_name(thing: &ThingInstance, index: usize) -> String {
    thing
        .properties()
        .get(index)
        .map_or_else(String::new, |p| p.name.to_string())
}

async fn read(
    state: Arc<AppState>,
    thing: Arc<ThingInstance>,
    index: usize,
    inline: bool,
) -> Result<Response, ApiError> {
    let json = if inline {
        thing.read_property_json(index)
    } else {
        let reading = thing.clone();
        device(&state, &thing, &property_name(&thing, index), move || {
            reading.read_property_json(index)
        })
        .await?
    };
    let json = json.map_err(|failure| ApiError::device(&failure))?;
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
    inline: bool,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let value = read_json(&headers, body, state.config.body_limit, state.config.body_read_timeout).await?;
    if inline {
        written(thing.write_property(index, value))?;
    } else {
        let writing = thing.clone();
        let name = property_name(&thing, index);
        written(device(&state, &thing, &name, move || writing.write_property(index, value)).await?)?;
    }
    Ok((StatusCode::CREATED, Json(Value::Null)))
}
