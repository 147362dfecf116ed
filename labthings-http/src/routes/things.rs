//! Thing Descriptions and the list of things.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, on};
use bytes::Bytes;
use labthings_core::ThingInstance;

use crate::td::thing_description;
use parking_lot::Mutex;
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::state::{AppState, base_url};

/// The serialized TD of one thing for the base URL it was last asked with.
/// A TD depends only on the thing's descriptor table and the base URL, so
/// it is built once instead of on every request (it is several kilobytes of
/// JSON); a request with another `Host` rebuilds it.
#[derive(Default)]
struct TdCache(Mutex<Option<(String, Bytes)>>);

impl TdCache {
    fn response(&self, state: &AppState, thing: &ThingInstance, base: &str) -> Result<Response, ApiError> {
        let cached = match &*self.0.lock() {
            Some((cached_base, bytes)) if cached_base == base => Some(bytes.clone()),
            _ => None,
        };
        let bytes = match cached {
            Some(bytes) => bytes,
            None => {
                let json = serde_json::to_vec(&described(state, thing, base))
                    .map_err(|e| ApiError::BadBody(format!("could not serialize the TD: {e}")))?;
                let bytes = Bytes::from(json);
                *self.0.lock() = Some((base.to_owned(), bytes.clone()));
                bytes
            }
        };
        Ok((
            [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
            bytes,
        )
            .into_response())
    }
}

/// The TD of `thing`, with the security schemes this server accepts and,
/// with the MQTT binding on, its MQTT forms.
pub(crate) fn described(state: &AppState, thing: &ThingInstance, base: &str) -> Value {
    let mut td = thing_description(thing, base);
    crate::auth::td_security(&mut td, &state.auth);
    if let Some(index) = state.lab.things().iter().position(|t| t.name() == thing.name()) {
        crate::mqtt::add_forms(&mut td, state, index);
    }
    td
}

/// Serve the Thing Description of `thing` on `method` (from a cache of its own).
pub(crate) fn td_handler(thing: &Arc<ThingInstance>, method: MethodFilter) -> MethodRouter<Arc<AppState>> {
    let thing = thing.clone();
    let cache = Arc::new(TdCache::default());
    on(
        method,
        move |State(state): State<Arc<AppState>>, headers: HeaderMap| async move {
            cache.response(&state, &thing, &base_url(&state, &headers))
        },
    )
}

/// `GET /thing_descriptions/`: every TD by thing name.
pub(crate) async fn descriptions(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Json<Value> {
    let base = base_url(&state, &headers);
    let all: Map<String, Value> = state
        .lab
        .things()
        .iter()
        .map(|t| (t.name().to_owned(), described(&state, t, &base)))
        .collect();
    Json(Value::Object(all))
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
