//! `GET` and `PUT /{thing}/{property}`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use labthings_core::{PropertyWriteError, ThingInstance};
use serde_json::Value;

use super::{blocking, json_route};
use crate::body::read_json;
use crate::error::ApiError;
use crate::state::AppState;

/// Add the route of property number `index` of `thing`.
pub(crate) fn route(router: Router<Arc<AppState>>, thing: &Arc<ThingInstance>, index: usize) -> Router<Arc<AppState>> {
    let Some(property) = thing.properties().get(index) else {
        return router;
    };
    let path = format!("/{}/{}", thing.name(), property.name);
    // A data property is an in-memory value: read and write it in place.
    // Getters and setters are device code and may block: run them off the reactor.
    let inline = property.data && !property.setting;
    let read = {
        let thing = thing.clone();
        move || read(thing, index, inline)
    };
    let mut method_router = get(read);
    let mut router = router;
    if property.writable {
        let writer = thing.clone();
        method_router = method_router.put(
            move |State(state): State<Arc<AppState>>, headers: HeaderMap, body: Body| {
                write(state, writer, index, inline, headers, body)
            },
        );
        if property.data {
            let thing = thing.clone();
            router = router.route(
                &format!("{path}/reset"),
                json_route(post(move || async move {
                    written(blocking(move || thing.reset_property(index)).await?).map(|()| Json(Value::Null))
                })),
            );
        }
    }
    router.route(&path, json_route(method_router))
}

/// The answer to a failed write.
fn written(result: Result<(), PropertyWriteError>) -> Result<(), ApiError> {
    result.map_err(|e| match e {
        PropertyWriteError::Invalid(problems) => ApiError::invalid_body(problems),
        PropertyWriteError::Failed(failure) => ApiError::device(&failure),
        PropertyWriteError::ReadOnly => ApiError::MethodNotAllowed("PUT".to_owned()),
        PropertyWriteError::Busy => {
            ApiError::Conflict("the property's hardware lock is held by a running action; try again later".to_owned())
        }
    })
}

async fn read(thing: Arc<ThingInstance>, index: usize, inline: bool) -> Result<Response, ApiError> {
    let json = if inline {
        thing.read_property_json(index)
    } else {
        blocking(move || thing.read_property_json(index)).await?
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
        written(blocking(move || thing.write_property(index, value)).await?)?;
    }
    Ok((StatusCode::CREATED, Json(Value::Null)))
}
