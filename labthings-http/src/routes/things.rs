//! Thing Descriptions and the list of things.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{MethodFilter, MethodRouter, on};
use labthings_core::ThingInstance;
use labthings_td::ThingDescription;

use crate::td::thing_description;
use serde_json::{Map, Value};

use crate::cache::ByBase;
use crate::error::ApiError;
use crate::state::{AppState, base_url};

/// The TD of `thing`, with the security schemes this server accepts and
/// the forms of the other bindings (MQTT) after the HTTP ones.
pub(crate) fn described(state: &AppState, thing: &ThingInstance, base: &str) -> ThingDescription {
    let mut td = thing_description(thing, base);
    crate::auth::td_security(&mut td, &state.auth);
    if let Some(index) = state.lab.things().iter().position(|t| t.name() == thing.name()) {
        state.companions.add_forms(&mut td, state.lab.things(), index);
    }
    td
}

/// Serve the Thing Description of `thing` on `method` (from a cache of its own).
pub(crate) fn td_handler(thing: &Arc<ThingInstance>, method: MethodFilter) -> MethodRouter<Arc<AppState>> {
    let thing = thing.clone();
    let cache = Arc::new(ByBase::default());
    on(
        method,
        move |State(state): State<Arc<AppState>>, headers: HeaderMap| async move {
            let base = base_url(&state, &headers);
            cache.response(&base, || described(&state, &thing, &base).to_json())
        },
    )
}

/// `GET /thing_descriptions/`: every TD by thing name.
pub(crate) async fn descriptions(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Result<Response, ApiError> {
    let base = base_url(&state, &headers);
    state.documents.listing.response(&base, || {
        let all: Map<String, Value> = state
            .lab
            .things()
            .iter()
            .map(|t| (t.name().to_owned(), described(&state, t, &base).to_json()))
            .collect();
        Value::Object(all)
    })
}

/// `GET /things/`: each thing's name and URL.
pub(crate) async fn list(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Json<Value> {
    let base = base_url(&state, &headers);
    let all: Map<String, Value> = state
        .lab
        .things()
        .iter()
        .map(|t| (t.name().to_owned(), Value::from(format!("{base}{}/", t.name()))))
        .collect();
    Json(Value::Object(all))
}

/// `GET /settings_warnings`: for each thing whose settings file had
/// problems at start (corrupt, mistyped, unreadable), what was wrong; the
/// control panel shows them so the operator sees that a value was reset.
pub(crate) async fn settings_warnings(State(state): State<Arc<AppState>>) -> Json<Value> {
    let all: Map<String, Value> = state
        .lab
        .things()
        .iter()
        .map(|t| (t.name().to_owned(), t.settings_warnings()))
        .filter(|(_, warnings)| !warnings.is_empty())
        .map(|(name, warnings)| (name, Value::from(warnings)))
        .collect();
    Json(Value::Object(all))
}
