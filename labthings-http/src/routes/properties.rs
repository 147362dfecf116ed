//! Reading, writing and resetting properties (`binding.rs` says where).

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, on};
use labthings_core::ThingInstance;
use labthings_td::Operation;
use serde_json::{Map, Value, json};

use crate::binding::{Access, Affordance, Form, Route, ThingKind, form};
use crate::body::read_json;
use crate::error::ApiError;
use crate::openapi::{Schemas, describe, json_response, object};
use crate::state::AppState;

/// `GET /{thing}/{property}`: read a property.
pub(crate) struct Read;

impl ThingKind for Read {
    const ERRORS: &'static [u16] = &[409, 500, 503, 504];

    fn path(thing: &str, property: &str) -> String {
        format!("/{thing}/{property}")
    }

    fn forms(thing: &ThingInstance, t: usize, item: usize, path: &str) -> Vec<Form> {
        let writable = thing.properties().get(item).is_some_and(|p| p.writable);
        let ops: &'static [Operation] = if writable {
            &[Operation::ReadProperty, Operation::WriteProperty]
        } else {
            &[Operation::ReadProperty]
        };
        vec![form(t, Affordance::Property(item), path.to_owned(), ops)]
    }

    fn handler(thing: &Arc<ThingInstance>, index: usize, method: MethodFilter) -> Route {
        let thing = thing.clone();
        on(method, move |State(state): State<Arc<AppState>>| {
            read(state, thing, index)
        })
    }

    fn operation(thing: &ThingInstance, index: usize, schemas: &mut Schemas) -> Map<String, Value> {
        let Some(property) = thing.properties().get(index) else {
            return Map::new();
        };
        let name = thing.name();
        let schema = schemas.adopt(&format!("{name}_{}_", property.name), &property.schema);
        let mut get = Map::new();
        describe(
            &mut get,
            property.title.unwrap_or(property.name).to_owned(),
            property.description,
        );
        get.insert("tags".into(), json!([name]));
        get.insert("operationId".into(), format!("{name}_{}_read", property.name).into());
        get.insert(
            "responses".into(),
            json!({"200": json_response("The current value", schema)}),
        );
        get
    }
}

/// `PUT /{thing}/{property}`: write a property.
pub(crate) struct Write;

impl ThingKind for Write {
    const METHOD: Method = Method::PUT;
    const ERRORS: &'static [u16] = &[400, 403, 408, 409, 413, 415, 422, 500, 503, 504];
    const ACCESS: Access = Access::Operate;

    fn path(thing: &str, property: &str) -> String {
        format!("/{thing}/{property}")
    }

    fn handler(thing: &Arc<ThingInstance>, index: usize, method: MethodFilter) -> Route {
        let thing = thing.clone();
        on(
            method,
            move |State(state): State<Arc<AppState>>, headers: HeaderMap, body: Body| {
                write(state, thing, index, headers, body)
            },
        )
    }

    fn operation(thing: &ThingInstance, index: usize, schemas: &mut Schemas) -> Map<String, Value> {
        let Some(property) = thing.properties().get(index) else {
            return Map::new();
        };
        let name = thing.name();
        let schema = schemas.adopt(&format!("{name}_{}_", property.name), &property.schema);
        object(json!({
            "tags": [name], "operationId": format!("{name}_{}_write", property.name),
            "summary": format!("Write {}", property.name),
            "requestBody": {"required": true, "content": {"application/json": {"schema": schema}}},
            "responses": {"201": json_response("Written", json!({"type": "null"}))}
        }))
    }
}

/// `POST /{thing}/{property}/reset`: put a data property back to its default.
pub(crate) struct Reset;

impl ThingKind for Reset {
    const METHOD: Method = Method::POST;
    const ERRORS: &'static [u16] = &[409, 500, 503, 504];
    const ACCESS: Access = Access::Operate;

    fn path(thing: &str, property: &str) -> String {
        format!("/{thing}/{property}/reset")
    }

    fn handler(thing: &Arc<ThingInstance>, index: usize, method: MethodFilter) -> Route {
        let thing = thing.clone();
        on(method, move |State(state): State<Arc<AppState>>| async move {
            state.lab.reset(&thing, index).await?;
            Ok::<_, ApiError>(Json(Value::Null))
        })
    }

    fn operation(thing: &ThingInstance, index: usize, _: &mut Schemas) -> Map<String, Value> {
        let Some(property) = thing.properties().get(index) else {
            return Map::new();
        };
        let name = thing.name();
        object(json!({
            "tags": [name], "operationId": format!("{name}_{}_reset", property.name),
            "summary": format!("Reset {} to its default", property.name),
            "responses": {"200": json_response("Reset", json!({"type": "null"}))}
        }))
    }
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
