//! Thing Descriptions and the list of things.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{MethodFilter, MethodRouter, on};
use labthings_core::ThingInstance;
use labthings_td::ThingDescription;

use crate::td::{describe_thing, thing_description};
use serde_json::{Map, Value, json};

use crate::binding::{Route, ServerKind, ThingKind};
use crate::cache::ByBase;
use crate::error::ApiError;
use crate::openapi::{Schemas, component, json_response, object};
use crate::state::{AppState, base_url};

/// The TD of `thing`, with the security schemes this server accepts and
/// the forms of the other bindings (MQTT) after the HTTP ones.
pub(crate) fn described(state: &AppState, thing: &ThingInstance, base: &str) -> ThingDescription {
    let index = state.lab.things().iter().position(|t| t.name() == thing.name());
    let mut td = match index {
        Some(index) => describe_thing(&state.endpoints, index, thing, base),
        None => thing_description(thing, base),
    };
    crate::auth::td_security(&mut td, &state.auth);
    if let Some(index) = index {
        state.companions.add_forms(&mut td, state.lab.things(), index);
    }
    crate::td::lift_binding_security(&mut td);
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

/// `GET /{thing}/`: the thing's Thing Description (also at `/{thing}`,
/// undocumented).
pub(crate) struct Description;

impl ThingKind for Description {
    const ERRORS: &'static [u16] = &[];

    fn path(thing: &str, _: &str) -> String {
        format!("/{thing}/")
    }

    fn handler(thing: &Arc<ThingInstance>, _: usize, method: MethodFilter) -> Route {
        td_handler(thing, method)
    }

    fn operation(thing: &ThingInstance, _: usize, _: &mut Schemas) -> Map<String, Value> {
        let name = thing.name();
        object(json!({
            "tags": [name], "operationId": format!("{name}_thing_description"),
            "summary": format!("The Thing Description of {name}"),
            "responses": {"200": json_response("The TD", component("ThingDescription"))}
        }))
    }
}

/// `GET /things/`: each thing's URL.
pub(crate) struct Things;

impl ServerKind for Things {
    const ERRORS: &'static [u16] = &[];

    fn path() -> String {
        "/things/".into()
    }

    fn handler(method: MethodFilter) -> Route {
        on(method, list)
    }

    fn operation() -> Map<String, Value> {
        object(
            json!({"tags": ["server"], "operationId": "things", "summary": "Each thing's name and URL",
            "responses": {"200": json_response("URLs by name",
                json!({"type": "object", "additionalProperties": {"type": "string", "format": "uri"}}))}}),
        )
    }
}

/// `GET /thing_descriptions/`: every TD.
pub(crate) struct Descriptions;

impl ServerKind for Descriptions {
    const ERRORS: &'static [u16] = &[];

    fn path() -> String {
        "/thing_descriptions/".into()
    }

    fn handler(method: MethodFilter) -> Route {
        on(method, descriptions)
    }

    fn operation() -> Map<String, Value> {
        object(json!({"tags": ["server"], "operationId": "thing_descriptions",
            "summary": "Every Thing Description by name",
            "responses": {"200": json_response("TDs by name",
                json!({"type": "object", "additionalProperties": component("ThingDescription")}))}}))
    }
}

/// `GET /settings_warnings`: settings files that could not be restored.
pub(crate) struct SettingsWarnings;

impl ServerKind for SettingsWarnings {
    const ERRORS: &'static [u16] = &[];

    fn path() -> String {
        "/settings_warnings".into()
    }

    fn handler(method: MethodFilter) -> Route {
        on(method, settings_warnings)
    }

    fn operation() -> Map<String, Value> {
        object(json!({"tags": ["server"], "operationId": "settings_warnings",
            "summary": "Problems found with settings files at start, by thing",
            "responses": {"200": json_response("Warnings by thing name (only things that have some)",
                json!({"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}}))}}))
    }
}
