//! The OpenAPI 3.1 document of a server, built from its things' descriptor
//! tables: every path the router serves, with input, output and error
//! schemas. Served at `/openapi.json` and rendered by the docs page.
//!
//! OpenAPI 3.1 schemas are JSON Schema 2020-12, which is what schemars
//! generates, so property, input and output schemas go in unchanged apart
//! from `$defs`, which move to `components/schemas`.

use std::sync::Arc;

use crate::binding::{self, Endpoint};
use crate::td::invocation_schema;
use labthings_core::ThingInstance;
use schemars::JsonSchema;
use serde_json::{Map, Value, json};

/// A reference to a shared schema in `components/schemas`.
pub(crate) fn component(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// A JSON response with `schema`.
pub(crate) fn json_response(description: &str, schema: Value) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema}}})
}

/// The error responses a request of this kind can get, by status code.
pub(crate) fn errors(codes: &[u16]) -> Map<String, Value> {
    codes
        .iter()
        .map(|code| {
            let response = match code {
                400 => json_response("The request or its body could not be read", component("Detail")),
                404 => json_response("Nothing is served here, or no such invocation", component("Detail")),
                405 => json_response("The path does not take this method", component("Detail")),
                409 => json_response(
                    "A hardware lock is held by a running invocation, or the device is busy",
                    component("Detail"),
                ),
                408 => json_response("The body did not arrive in time", component("Detail")),
                403 => json_response("A page from another origin may not do this", component("Detail")),
                413 => json_response("The body is larger than the server's limit", component("Detail")),
                415 => json_response("The body is not sent as JSON", component("Detail")),
                422 => json_response(
                    "The input does not fit its schema; every problem is listed",
                    component("HTTPValidationError"),
                ),
                500 => json!({
                    "description": "Device code failed, or the invocation was cancelled",
                    "content": {"application/problem+json": {"schema": component("ProblemDetails")}}
                }),
                504 => json_response(
                    "Device code did not answer within its time limit (the thing and the affordance are named)",
                    component("Detail"),
                ),
                503 => json!({
                    "description": "Not available in this state, or the server, the thing or its device is busy, not answering or shutting down (then with Retry-After)",
                    "headers": {"Retry-After": {"schema": {"type": "integer"}}},
                    "content": {"application/json": {"schema": component("Detail")}}
                }),
                _ => json!({"description": "Error"}),
            };
            (code.to_string(), response)
        })
        .collect()
}

/// Prepares schemas for the document: `$schema` dropped, `$defs` moved to
/// `components/schemas` under a prefix so things cannot collide.
pub(crate) struct Schemas {
    components: Map<String, Value>,
}

impl Schemas {
    pub(crate) fn adopt(&mut self, prefix: &str, schema: &Value) -> Value {
        let mut schema = schema.clone();
        if let Value::Object(map) = &mut schema {
            map.remove("$schema");
            if let Some(Value::Object(defs)) = map.remove("$defs") {
                for (name, def) in defs {
                    let def = retarget(def, prefix);
                    self.components.insert(format!("{prefix}{name}"), def);
                }
            }
        }
        retarget(schema, prefix)
    }
}

/// Rewrite `#/$defs/NAME` references to `#/components/schemas/{prefix}NAME`.
fn retarget(value: Value, prefix: &str) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(key, value)| match (key.as_str(), value) {
                    ("$ref", Value::String(target)) => {
                        let target = match target.strip_prefix("#/$defs/") {
                            Some(name) => format!("#/components/schemas/{prefix}{name}"),
                            None => target,
                        };
                        (key, Value::String(target))
                    }
                    (_, value) => (key, retarget(value, prefix)),
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(|v| retarget(v, prefix)).collect()),
        other => other,
    }
}

/// A summary and description from a doc comment's title and body.
pub(crate) fn describe(operation: &mut Map<String, Value>, summary: String, description: Option<&str>) {
    operation.insert("summary".into(), summary.into());
    if let Some(description) = description {
        operation.insert("description".into(), description.into());
    }
}

/// The OpenAPI 3.1 document for `things`, served from `base` (the server's
/// absolute URL, ending in `/`).
///
/// ```
/// use labthings_http::openapi::openapi_document;
/// let document = openapi_document(&[], "http://127.0.0.1:5000/");
/// assert_eq!(document["openapi"], "3.1.0");
/// assert_eq!(document["servers"][0]["url"], "http://127.0.0.1:5000");
/// assert!(document["paths"]["/action_invocations/{id}"]["delete"].is_object());
/// ```
pub fn openapi_document(things: &[Arc<ThingInstance>], base: &str) -> Value {
    document(things, &binding::endpoints(things.iter().map(|t| &**t), false), base)
}

/// The OpenAPI document of `endpoints`, listed for `things`.
pub(crate) fn document(things: &[Arc<ThingInstance>], endpoints: &[Endpoint], base: &str) -> Value {
    let mut schemas = Schemas { components: Map::new() };
    let tags: Vec<Value> = things
        .iter()
        .map(|thing| json!({"name": thing.name(), "description": thing.title()}))
        .collect();
    let mut paths = Map::new();
    for endpoint in endpoints.iter().filter(|e| e.documented) {
        let mut operation = endpoint.operation(things, &mut schemas);
        let responses = operation.entry("responses").or_insert_with(|| json!({}));
        if let Value::Object(responses) = responses {
            for (code, response) in errors(endpoint.errors) {
                responses.entry(code).or_insert(response);
            }
        }
        let item = paths.entry(endpoint.path.clone()).or_insert_with(|| json!({}));
        if let Value::Object(item) = item {
            item.insert(endpoint.method.as_str().to_ascii_lowercase(), operation.into());
        }
    }

    let mut components = schemas.components;
    components.insert("Invocation".into(), invocation_schema());
    components.insert(
        "Detail".into(),
        json!({"type": "object", "properties": {"detail": {"type": "string"}}, "required": ["detail"]}),
    );
    components.insert(
        "ValidationError".into(),
        json!({
            "type": "object",
            "properties": {
                "type": {"type": "string", "description": "The kind of problem, e.g. int_type, missing"},
                "loc": {"type": "array", "items": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
                        "description": "Where: body, query or path, then the field"},
                "msg": {"type": "string"},
                "input": {"description": "The offending value"}
            },
            "required": ["type", "loc", "msg"]
        }),
    );
    components.insert(
        "HTTPValidationError".into(),
        json!({"type": "object", "properties": {"detail": {"type": "array", "items": component("ValidationError")}}}),
    );
    components.insert(
        "ProblemDetails".into(),
        json!({
            "type": "object",
            "description": "RFC 9457 problem details",
            "properties": {
                "type": {"type": "string"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string"},
                "instance": {"type": ["string", "null"]}
            }
        }),
    );
    components.insert(
        "ThingDescription".into(),
        json!({"type": "object", "description": "A W3C WoT Thing Description (TD 1.1)"}),
    );

    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "labthings",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Every thing this server serves: its properties, actions and invocations. \
                            Each thing's W3C Thing Description is at /{thing}/."
        },
        "servers": [{"url": base.trim_end_matches('/')}],
        "tags": tags,
        "paths": paths,
        "components": {"schemas": components}
    })
}

/// A JSON object's map (an empty one for anything else): for operations
/// written with `json!`.
pub(crate) fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// The OpenAPI query parameters of the query struct `T`, from its JSON
/// Schema: one per property, its doc comment as the description, required
/// when the struct requires it. Handlers read the same struct
/// ([`crate::routes::Params`]), so the two cannot disagree.
pub(crate) fn query_parameters<T: JsonSchema>() -> Value {
    // Each parameter's schema whole (no `$ref`).
    let root = schemars::generate::SchemaSettings::draft2020_12()
        .with(|settings| settings.inline_subschemas = true)
        .into_generator()
        .into_root_schema_for::<T>();
    let required: Vec<&str> = root
        .get("required")
        .and_then(Value::as_array)
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(Value::Object(properties)) = root.get("properties") else {
        return Value::Array(Vec::new());
    };
    let parameters = properties
        .iter()
        .map(|(name, schema)| {
            let mut schema = schema.clone();
            let mut parameter = json!({"name": name, "in": "query", "required": required.contains(&name.as_str())});
            if let Value::Object(map) = &mut schema {
                if let Some(description) = map.remove("description") {
                    parameter["description"] = description;
                }
                // An optional field's schema allows `null`; a query
                // parameter is absent instead.
                if let Some(Value::Array(types)) = map.get_mut("type") {
                    types.retain(|t| t != "null");
                    if let [only] = types.as_slice() {
                        let only = only.clone();
                        map.insert("type".into(), only);
                    }
                }
            }
            parameter["schema"] = schema;
            parameter
        })
        .collect();
    Value::Array(parameters)
}

/// The names of the query parameters of `T`, for the error that lists
/// them.
pub(crate) fn query_names<T: JsonSchema>() -> Vec<String> {
    match query_parameters::<T>() {
        Value::Array(parameters) => parameters
            .iter()
            .filter_map(|p| p["name"].as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// The `{id}` path parameter of an invocation or a blob.
pub(crate) fn id_parameter() -> Value {
    json!([{"name": "id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}}])
}

/// The answer of invocation lists: a page of invocation summaries.
pub(crate) fn listed() -> Value {
    json!({
        "description": "Summaries, oldest first (no input, output, log or error)",
        "headers": {
            "X-Total-Count": {"description": "How many there are in all", "schema": {"type": "integer"}},
            "Link": {"description": "The next page, when there is one", "schema": {"type": "string"}}
        },
        "content": {"application/json": {"schema": {"type": "array", "items": component("Invocation")}}}
    })
}

/// An operation answering Server-Sent Events, one JSON `data:` message each.
pub(crate) fn event_stream(tag: &Value, operation_id: String, summary: &str) -> Map<String, Value> {
    object(json!({
        "tags": tag, "operationId": operation_id, "summary": summary,
        "parameters": [{
            "name": "Last-Event-ID", "in": "header", "required": false,
            "description": "The `id:` of the last message received: a client that reconnects \
                            is first sent what it missed (or one `gap` message when that is no longer kept)",
            "schema": {"type": "string"}
        }],
        "responses": {"200": {
            "description": "Server-Sent Events: one unnamed `data:` message of JSON each, with its `id:`",
            "content": {"text/event-stream": {"schema": {"type": "string"}}}
        }}
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query of two parameters.
    #[derive(serde::Deserialize, JsonSchema)]
    #[allow(dead_code)]
    struct Query {
        /// Which one.
        name: String,
        /// How many at most.
        #[schemars(range(max = 10))]
        limit: Option<u8>,
    }

    #[test]
    fn query_parameters_come_from_the_struct_the_handler_reads() {
        assert_eq!(
            query_parameters::<Query>(),
            json!([
                {"name": "name", "in": "query", "required": true, "description": "Which one.",
                 "schema": {"type": "string"}},
                {"name": "limit", "in": "query", "required": false, "description": "How many at most.",
                 "schema": {"type": "integer", "format": "uint8", "minimum": 0, "maximum": 10}}
            ])
        );
        assert_eq!(query_names::<Query>(), ["name", "limit"]);
    }

    #[test]
    fn defs_move_to_components_and_refs_follow_them() {
        let mut schemas = Schemas { components: Map::new() };
        let schema = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {"next": {"$ref": "#/$defs/Node"}},
            "$defs": {"Node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/Node"}}}}
        });
        let adopted = schemas.adopt("chain_", &schema);
        assert_eq!(
            adopted,
            json!({"type": "object", "properties": {"next": {"$ref": "#/components/schemas/chain_Node"}}})
        );
        assert_eq!(
            schemas.components["chain_Node"]["properties"]["next"]["$ref"],
            "#/components/schemas/chain_Node"
        );
    }
}
