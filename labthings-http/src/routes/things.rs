//! Thing Descriptions and the list of things.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use labthings_core::{ThingInstance, thing_description};
use serde_json::{Map, Value};

use super::json_route;
use crate::state::{AppState, base_url};

/// `GET /{thing}/` (and `/{thing}`): the Thing Description.
pub(crate) fn routes(router: Router<Arc<AppState>>, thing: &Arc<ThingInstance>) -> Router<Arc<AppState>> {
    let td = {
        let thing = thing.clone();
        move |headers: HeaderMap| async move { Json(thing_description(&thing, &base_url(&headers))) }
    };
    router
        .route(&format!("/{}/", thing.name()), json_route(get(td.clone())))
        .route(&format!("/{}", thing.name()), json_route(get(td)))
}

/// `GET /thing_descriptions/`: every TD by thing name.
pub(crate) async fn descriptions(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Json<Value> {
    let base = base_url(&headers);
    let all: Map<String, Value> = state
        .things
        .iter()
        .map(|t| (t.name().to_owned(), thing_description(t, &base)))
        .collect();
    Json(Value::Object(all))
}

/// `GET /things/`: each thing's name and URL.
pub(crate) async fn list(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Json<Value> {
    let base = base_url(&headers);
    let all: Map<String, Value> = state
        .things
        .iter()
        .map(|t| (t.name().to_owned(), Value::from(format!("{base}{}/", t.name()))))
        .collect();
    Json(Value::Object(all))
}
