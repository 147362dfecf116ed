//! Extra resources things declare (`#[endpoint]`): the parameters come from
//! the query string, a `Json<T>` parameter from the JSON request body (read
//! with the server's body limits), and the answer is the method's bytes with
//! their media type, or its `Json<T>` as `application/json`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, on};
use labthings_core::endpoint::EndpointError;
use labthings_core::{EndpointInfo, Failure, ThingInstance};
use serde_json::{Map, Value, json};

use super::{device, query_problem};
use crate::binding::{Access, Affordance, Form, Route, ThingKind, form};
use crate::body::read_json;
use crate::error::ApiError;
use crate::openapi::{Schemas, describe, errors};
use crate::state::AppState;

/// An `#[endpoint]` read with GET: the thing's data, for observers (a TD
/// link).
pub(crate) struct Read;

impl ThingKind for Read {
    const ERRORS: &'static [u16] = &[409, 422, 500, 503, 504];

    fn path(thing: &str, endpoint: &str) -> String {
        format!("/{thing}/{endpoint}")
    }

    fn forms(_: &ThingInstance, t: usize, item: usize, path: &str) -> Vec<Form> {
        vec![form(t, Affordance::Endpoint(item), path.to_owned(), &[])]
    }

    fn handler(thing: &Arc<ThingInstance>, index: usize, method: MethodFilter) -> Route {
        handler(thing, index, method)
    }

    fn operation(thing: &ThingInstance, index: usize, schemas: &mut Schemas) -> Map<String, Value> {
        operation(thing, index, schemas)
    }
}

/// An `#[endpoint]` on POST, PUT or DELETE: it changes the thing, so only
/// those who may operate it may use it.
pub(crate) struct Change;

impl ThingKind for Change {
    const ERRORS: &'static [u16] = Read::ERRORS;
    const ACCESS: Access = Access::Operate;

    fn path(thing: &str, endpoint: &str) -> String {
        Read::path(thing, endpoint)
    }

    fn method(thing: &ThingInstance, index: usize) -> Method {
        match thing.endpoints().get(index).map(|e| e.method) {
            Some("post") => Method::POST,
            Some("put") => Method::PUT,
            Some("delete") => Method::DELETE,
            _ => Method::GET,
        }
    }

    fn handler(thing: &Arc<ThingInstance>, index: usize, method: MethodFilter) -> Route {
        handler(thing, index, method)
    }

    fn operation(thing: &ThingInstance, index: usize, schemas: &mut Schemas) -> Map<String, Value> {
        operation(thing, index, schemas)
    }
}

/// Serve endpoint number `index` of `thing` on `method`.
fn handler(thing: &Arc<ThingInstance>, index: usize, method: MethodFilter) -> Route {
    let thing = thing.clone();
    on(
        method,
        move |State(state): State<Arc<AppState>>,
              query: Result<Query<Vec<(String, String)>>, QueryRejection>,
              headers: HeaderMap,
              body: Body| { call(state, thing, index, query, headers, body) },
    )
}

/// The OpenAPI operation of endpoint number `index`: its parameters from
/// its declaration.
fn operation(thing: &ThingInstance, index: usize, schemas: &mut Schemas) -> Map<String, Value> {
    let Some(endpoint) = thing.endpoints().get(index) else {
        return Map::new();
    };
    let name = thing.name();
    let prefix = format!("{name}_{}_", endpoint.name);
    let parameters: Vec<Value> = endpoint
        .params()
        .map(|(param, schema, required)| {
            let mut parameter = json!({
                "name": param, "in": "query", "required": required,
                "schema": schemas.adopt(&prefix, schema)
            });
            if let Some(description) = schema.get("description") {
                parameter["description"] = description.clone();
            }
            parameter
        })
        .collect();
    let mut operation = Map::new();
    describe(
        &mut operation,
        endpoint.title.unwrap_or(endpoint.name).to_owned(),
        endpoint.description,
    );
    operation.insert("tags".into(), json!([name]));
    operation.insert(
        "operationId".into(),
        format!("{name}_{}_endpoint", endpoint.name).into(),
    );
    operation.insert("parameters".into(), parameters.into());
    if let Some(body) = &endpoint.body_schema {
        operation.insert(
            "requestBody".into(),
            json!({
                "required": endpoint.body_required(),
                "content": {"application/json": {"schema": schemas.adopt(&format!("{prefix}body_"), body)}}
            }),
        );
    }
    let answer = match &endpoint.output_schema {
        Some(output) => json!({
            "description": "The endpoint's answer, as JSON",
            "content": {"application/json": {"schema": schemas.adopt(&format!("{prefix}output_"), output)}}
        }),
        None => json!({
            "description": "The bytes the endpoint answers, of the media type its Content-Type names",
            "content": {"*/*": {"schema": {}}}
        }),
    };
    let mut responses = Map::new();
    responses.insert("200".into(), answer);
    if endpoint.body_schema.is_some() {
        // What reading a body adds to the kind's answers.
        responses.extend(errors(BODY_ERRORS));
    }
    operation.insert("responses".into(), responses.into());
    operation
}

/// The answers reading a JSON body may give: unreadable (400), too slow
/// (408), too large (413), not said to be JSON (415).
const BODY_ERRORS: &[u16] = &[400, 408, 413, 415];

async fn call(
    state: Arc<AppState>,
    thing: Arc<ThingInstance>,
    index: usize,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let Some(endpoint) = thing.endpoints().get(index) else {
        return Err(ApiError::NotFound(format!("no endpoint number {index}")));
    };
    let Query(pairs) = query.map_err(|rejection| query_problem(&rejection, &parameter_list(endpoint)))?;
    let params = params_from_query(endpoint, pairs)?;
    // Only an endpoint with a `Json<T>` parameter reads the body; any other
    // answers as it always did, whatever a client sends.
    let (body, refused_at) = if endpoint.body_schema.is_some() {
        let limits = &state.config.limits;
        let body = read_json(&headers, body, limits.body_limit, limits.body_read_timeout).await?;
        (body, "body")
    } else {
        (Value::Null, "query")
    };
    let name = endpoint.name.to_string();
    let calling = thing.clone();
    let answer = device(&state, &thing, &name, move || {
        calling.call_endpoint(index, params, body, &["query".into()], &["body".into()])
    })
    .await?;
    let raw = answer.map_err(|error| match error {
        EndpointError::Invalid(problems) => ApiError::Invalid(problems),
        // Refused by device code as the client's mistake: about the body
        // when there is one, else the query.
        EndpointError::Failed(Failure::BadRequest { detail }) => {
            ApiError::invalid("value_error", vec![refused_at.into()], detail, Value::Null)
        }
        EndpointError::Failed(failure) => ApiError::device(&failure),
        EndpointError::NoSuchEndpoint => ApiError::NotFound(format!("no endpoint number {index}")),
    })?;
    let media_type = HeaderValue::from_str(raw.media_type()).map_err(|_| {
        ApiError::device(&Failure::error(
            "InvalidMediaType",
            format!(
                "the endpoint answered the media type {:?}, which cannot be sent as a Content-Type",
                raw.media_type()
            ),
        ))
    })?;
    Ok(([(header::CONTENT_TYPE, media_type)], raw.into_bytes()).into_response())
}

/// "`bins`, `scale`", or "none" for an endpoint without parameters.
fn parameter_list(endpoint: &EndpointInfo) -> String {
    let names: Vec<String> = endpoint.params().map(|(name, _, _)| format!("`{name}`")).collect();
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

/// The parameters as a JSON object, each query value read as its schema
/// says (`?bins=16` is the number 16 for an integer parameter, the text
/// "16" for a string one). A parameter whose schema is an array may be
/// given more than once; any other given twice is a 422. Values that do not
/// fit are kept as text for the schema check to report.
pub(crate) fn params_from_query(endpoint: &EndpointInfo, pairs: Vec<(String, String)>) -> Result<Value, ApiError> {
    let mut object = Map::new();
    for (name, text) in pairs {
        let schema = endpoint
            .params()
            .find(|(param, _, _)| *param == name)
            .map(|(_, schema, _)| schema);
        let Some(schema) = schema else {
            // Unknown: the schema check reports it as not permitted.
            object.insert(name, Value::String(text));
            continue;
        };
        if has_type(schema, "array") {
            let item = coerce(schema.get("items").unwrap_or(&Value::Null), &text);
            // Only ever inserted as an array, here.
            if let Value::Array(items) = object.entry(name).or_insert_with(|| Value::Array(Vec::new())) {
                items.push(item);
            }
            continue;
        }
        if object.contains_key(&name) {
            return Err(ApiError::invalid(
                "query_repeated",
                vec!["query".into(), name.as_str().into()],
                format!("`{name}` is given more than once; it takes one value"),
                Value::String(text),
            ));
        }
        let value = coerce(schema, &text);
        object.insert(name, value);
    }
    Ok(Value::Object(object))
}

/// Whether `schema` allows the JSON type `ty` (`"type": "x"` or `["x", ..]`).
fn has_type(schema: &Value, ty: &str) -> bool {
    match schema.get("type") {
        Some(Value::String(t)) => t == ty,
        Some(Value::Array(types)) => types.iter().any(|t| t.as_str() == Some(ty)),
        _ => false,
    }
}

/// A query value as the JSON its schema expects: text for a parameter that
/// may be a string, otherwise the text read as JSON (numbers, `true`,
/// `[1,2]`), or the text itself when it is not JSON.
fn coerce(schema: &Value, text: &str) -> Value {
    if has_type(schema, "string") {
        return Value::String(text.to_owned());
    }
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strings_stay_text_and_numbers_are_read() {
        assert_eq!(coerce(&json!({"type": "string"}), "16"), json!("16"));
        assert_eq!(coerce(&json!({"type": ["string", "null"]}), "null"), json!("null"));
        assert_eq!(coerce(&json!({"type": "integer"}), "16"), json!(16));
        assert_eq!(coerce(&json!({"type": "number"}), "1.5"), json!(1.5));
        assert_eq!(coerce(&json!({"type": "boolean"}), "true"), json!(true));
        // Not JSON: kept as text, so the schema check names the problem.
        assert_eq!(coerce(&json!({"type": "integer"}), "many"), json!("many"));
    }
}
