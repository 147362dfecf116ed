//! The OpenAPI 3.1 document of a server, built from its things' descriptor
//! tables: every path the router serves, with input, output and error
//! schemas. Served at `/openapi.json` and rendered by the docs page.
//!
//! OpenAPI 3.1 schemas are JSON Schema 2020-12, which is what schemars
//! generates, so property, input and output schemas go in unchanged apart
//! from `$defs`, which move to `components/schemas`.

use std::sync::Arc;

use crate::binding::{self, OnServer, OnThing, Serves};
use crate::td::invocation_schema;
use labthings_core::{ActionInfo, ThingInstance};
use serde_json::{Map, Value, json};

/// A reference to a shared schema in `components/schemas`.
fn component(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// A JSON response with `schema`.
fn json_response(description: &str, schema: Value) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema}}})
}

/// The error responses a request of this kind can get, by status code.
fn errors(codes: &[u16]) -> Map<String, Value> {
    codes
        .iter()
        .map(|code| {
            let response = match code {
                400 => json_response("The request or its body could not be read", component("Detail")),
                404 => json_response("Nothing is served here, or no such invocation", component("Detail")),
                405 => json_response("The path does not take this method", component("Detail")),
                409 => json_response("A hardware lock is held by a running invocation", component("Detail")),
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
struct Schemas {
    components: Map<String, Value>,
}

impl Schemas {
    fn adopt(&mut self, prefix: &str, schema: &Value) -> Value {
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
fn describe(operation: &mut Map<String, Value>, summary: String, description: Option<&str>) {
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
    let mut schemas = Schemas { components: Map::new() };
    let tags: Vec<Value> = things
        .iter()
        .map(|thing| json!({"name": thing.name(), "description": thing.title()}))
        .collect();
    let mut paths = Map::new();
    for endpoint in binding::endpoints(things.iter().map(|t| &**t))
        .iter()
        .filter(|e| e.documented)
    {
        let mut operation = match endpoint.serves {
            Serves::Server(what) => server_operation(what),
            Serves::Thing(index, what) => match things.get(index) {
                Some(thing) => thing_operation(thing, what, &mut schemas),
                None => Map::new(),
            },
        };
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

/// The operation (without its error answers, which the binding lists) of
/// a thing's endpoint that serves `what`.
fn thing_operation(thing: &ThingInstance, what: OnThing, schemas: &mut Schemas) -> Map<String, Value> {
    let name = thing.name();
    let tag = json!([name]);
    let object = |value: Value| match value {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    match what {
        OnThing::ThingDescription => object(json!({
            "tags": tag, "operationId": format!("{name}_thing_description"),
            "summary": format!("The Thing Description of {name}"),
            "responses": {"200": json_response("The TD", component("ThingDescription"))}
        })),
        OnThing::WebSocket => object(json!({
            "tags": tag, "operationId": format!("{name}_websocket"),
            "summary": "Observe properties and actions over a WebSocket",
            "description": "Upgrade to a WebSocket; send addPropertyObservation or addActionObservation messages.",
            "responses": {"101": {"description": "Switching to the WebSocket protocol"}}
        })),
        OnThing::ReadProperty(p) => {
            let Some(property) = thing.properties().get(p) else {
                return Map::new();
            };
            let schema = schemas.adopt(&format!("{name}_{}_", property.name), &property.schema);
            let mut get = Map::new();
            describe(
                &mut get,
                property.title.unwrap_or(property.name).to_owned(),
                property.description,
            );
            get.insert("tags".into(), tag);
            get.insert("operationId".into(), format!("{name}_{}_read", property.name).into());
            get.insert(
                "responses".into(),
                json!({"200": json_response("The current value", schema)}),
            );
            get
        }
        OnThing::WriteProperty(p) => {
            let Some(property) = thing.properties().get(p) else {
                return Map::new();
            };
            let schema = schemas.adopt(&format!("{name}_{}_", property.name), &property.schema);
            object(json!({
                "tags": tag, "operationId": format!("{name}_{}_write", property.name),
                "summary": format!("Write {}", property.name),
                "requestBody": {"required": true, "content": {"application/json": {"schema": schema}}},
                "responses": {"201": json_response("Written", json!({"type": "null"}))}
            }))
        }
        OnThing::ResetProperty(p) => {
            let Some(property) = thing.properties().get(p) else {
                return Map::new();
            };
            object(json!({
                "tags": tag, "operationId": format!("{name}_{}_reset", property.name),
                "summary": format!("Reset {} to its default", property.name),
                "responses": {"200": json_response("Reset", json!({"type": "null"}))}
            }))
        }
        OnThing::ObserveProperty(p) => {
            let Some(property) = thing.properties().get(p) else {
                return Map::new();
            };
            event_stream(
                &tag,
                format!("{name}_{}_observe", property.name),
                "Each new value, as it changes",
            )
        }
        OnThing::InvokeAction(a) => {
            let Some(action) = thing.actions().get(a) else {
                return Map::new();
            };
            invoke_operation(name, &tag, action, schemas)
        }
        OnThing::ActionInvocations(a) => {
            let Some(action) = thing.actions().get(a) else {
                return Map::new();
            };
            object(json!({
                "tags": tag, "operationId": format!("{name}_{}_invocations", action.name),
                "summary": format!("Invocations of {}", action.name),
                "parameters": page_parameters(),
                "responses": {"200": listed()}
            }))
        }
        OnThing::SubscribeEvent(e) => {
            let Some(event) = thing.events().get(e) else {
                return Map::new();
            };
            event_stream(
                &tag,
                format!("{name}_{}_subscribe", event.name),
                event.description.unwrap_or("Each time the event is emitted"),
            )
        }
        OnThing::Stream(s) => {
            let Some(stream) = thing.streams().get(s) else {
                return Map::new();
            };
            let (lowest, highest) = (
                *crate::routes::streams::FPS_RANGE.start(),
                *crate::routes::streams::FPS_RANGE.end(),
            );
            object(json!({
                "tags": tag, "operationId": format!("{name}_{}_stream", stream.name),
                "summary": stream.title.unwrap_or(stream.name),
                "parameters": [{"name": "max_fps", "in": "query", "required": false,
                    "description": format!("At most this many frames a second to this viewer ({lowest} to {highest}); without it, every frame the viewer is ready for"),
                    "schema": {"type": "number", "minimum": lowest, "maximum": highest}}],
                "responses": {"200": {
                    "description": "A live MJPEG stream: one JPEG part per frame",
                    "content": {"multipart/x-mixed-replace": {"schema": {"type": "string", "contentMediaType": "image/jpeg"}}}
                }}
            }))
        }
        OnThing::Endpoint(e) => {
            let Some(endpoint) = thing.endpoints().get(e) else {
                return Map::new();
            };
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
            operation.insert("tags".into(), tag);
            operation.insert(
                "operationId".into(),
                format!("{name}_{}_endpoint", endpoint.name).into(),
            );
            operation.insert("parameters".into(), parameters.into());
            operation.insert(
                "responses".into(),
                json!({"200": {
                    "description": "The bytes the endpoint answers, of the media type its Content-Type names",
                    "content": {"*/*": {"schema": {}}}
                }}),
            );
            operation
        }
    }
}

/// The operation of invoking `action`: input, both answers (`?return=`).
fn invoke_operation(name: &str, tag: &Value, action: &ActionInfo, schemas: &mut Schemas) -> Map<String, Value> {
    let prefix = format!("{name}_{}_", action.name);
    let input = schemas.adopt(&prefix, &action.input_schema);
    let output = schemas.adopt(&prefix, &action.output_schema);
    let required = input
        .get("required")
        .and_then(Value::as_array)
        .is_some_and(|r| !r.is_empty());
    let mut invocation_properties = json!({"output": {"anyOf": [output, {"type": "null"}]}});
    if let Some(intermediate) = &action.intermediate_schema {
        invocation_properties["intermediate"] = json!({"type": "array", "items": schemas.adopt(&prefix, intermediate)});
    }
    let mut post = Map::new();
    describe(
        &mut post,
        action.title.unwrap_or(action.name).to_owned(),
        action.description,
    );
    post.insert("tags".into(), tag.clone());
    post.insert("operationId".into(), format!("{name}_{}_invoke", action.name).into());
    post.insert(
        "parameters".into(),
        json!([{
            "name": "return", "in": "query", "required": false,
            "description": "invocation (default): answer 201 at once with the invocation. \
                            output: wait until the action finishes and answer 200 with its output.",
            "schema": {"type": "string", "enum": ["invocation", "output"], "default": "invocation"}
        }]),
    );
    if action.has_input {
        // With nothing required, no body and `null` mean "all defaults".
        let body = if required {
            input
        } else {
            json!({"anyOf": [input, {"type": "null"}]})
        };
        post.insert(
            "requestBody".into(),
            json!({"required": required, "content": {"application/json": {"schema": body}}}),
        );
    }
    post.insert(
        "responses".into(),
        json!({
            "200": json_response("With return=output: the output, once the action has finished", output.clone()),
            "201": {
                "description": "The invocation (poll its href, or the Location header)",
                "headers": {"Location": {"schema": {"type": "string", "format": "uri"}}},
                "content": {"application/json": {"schema": {
                    "allOf": [component("Invocation"), {"properties": invocation_properties}]
                }}}
            }
        }),
    );
    post
}

/// The `?offset=&limit=` parameters of invocation lists.
fn page_parameters() -> Value {
    json!([
        {"name": "offset", "in": "query", "required": false, "description": "Skip this many of the oldest",
         "schema": {"type": "integer", "minimum": 0, "maximum": 4_294_967_295_u64}},
        {"name": "limit", "in": "query", "required": false,
         "description": "At most this many (the server caps it, 1000 by default)",
         "schema": {"type": "integer", "minimum": 0, "maximum": 4_294_967_295_u64}}
    ])
}

/// A page of invocation summaries.
fn listed() -> Value {
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
fn event_stream(tag: &Value, operation_id: String, summary: &str) -> Map<String, Value> {
    let operation = json!({
        "tags": tag, "operationId": operation_id, "summary": summary,
        "responses": {"200": {
            "description": "Server-Sent Events: one unnamed `data:` message of JSON each",
            "content": {"text/event-stream": {"schema": {"type": "string"}}}
        }}
    });
    match operation {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// The operation of one of the server's own endpoints.
fn server_operation(what: OnServer) -> Map<String, Value> {
    let tag = json!(["server"]);
    let id = json!([{"name": "id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}}]);
    let text = |name: &str| json!({"name": name, "in": "query", "required": false, "schema": {"type": "string"}});
    let operation = match what {
        OnServer::Things => json!({"tags": tag, "operationId": "things", "summary": "Each thing's name and URL",
            "responses": {"200": json_response("URLs by name",
                json!({"type": "object", "additionalProperties": {"type": "string", "format": "uri"}}))}}),
        OnServer::ThingDescriptions => json!({"tags": tag, "operationId": "thing_descriptions",
            "summary": "Every Thing Description by name",
            "responses": {"200": json_response("TDs by name",
                json!({"type": "object", "additionalProperties": component("ThingDescription")}))}}),
        OnServer::AllInvocations => {
            let mut parameters = vec![text("thing"), text("action")];
            if let Value::Array(page) = page_parameters() {
                parameters.extend(page);
            }
            json!({"tags": tag, "operationId": "action_invocations", "summary": "Every invocation, oldest first",
                "parameters": parameters, "responses": {"200": listed()}})
        }
        OnServer::Invocation => json!({"tags": tag, "operationId": "invocation", "summary": "One invocation, whole",
            "parameters": id,
            "responses": {"200": json_response("The invocation", component("Invocation"))}}),
        OnServer::CancelInvocation => json!({"tags": tag, "operationId": "cancel_invocation",
            "summary": "Cancel a running invocation", "parameters": id,
            "responses": {"200": json_response("Cancellation requested", json!({"type": "null"}))}}),
        OnServer::InvocationOutput => json!({"tags": tag, "operationId": "invocation_output",
            "summary": "The output of a completed invocation", "parameters": id,
            "responses": {"200": {"description": "The output (JSON), or a blob's bytes with the blob's own media type",
                "content": {"application/json": {}, "*/*": {}}}}}),
        OnServer::ObserveInvocation => {
            let mut operation = event_stream(
                &tag,
                "observe_invocation".to_owned(),
                "The whole invocation now, again each time it changes (status, progress, intermediate results; a few \
                 times a second at most), and when it has finished; then the stream ends",
            );
            operation.insert("parameters".into(), id.clone());
            Value::Object(operation)
        }
        OnServer::Blob => {
            json!({"tags": tag, "operationId": "blob", "summary": "A blob output's bytes, with its media type",
            "parameters": id,
            "responses": {"200": {"description": "The bytes, with the blob's own media type", "content": {"*/*": {}}}}})
        }
        OnServer::SettingsWarnings => json!({"tags": tag, "operationId": "settings_warnings",
            "summary": "Problems found with settings files at start, by thing",
            "responses": {"200": json_response("Warnings by thing name (only things that have some)",
                json!({"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}}))}}),
        OnServer::OpenApi => json!({"tags": tag, "operationId": "openapi", "summary": "This document",
            "responses": {"200": json_response("OpenAPI 3.1", json!({"type": "object"}))}}),
    };
    match operation {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
