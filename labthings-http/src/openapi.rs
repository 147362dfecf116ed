//! The OpenAPI 3.1 document of a server, built from its things' descriptor
//! tables: every path the router serves, with input, output and error
//! schemas. Served at `/openapi.json` and rendered by the docs page.
//!
//! OpenAPI 3.1 schemas are JSON Schema 2020-12, which is what schemars
//! generates, so property, input and output schemas go in unchanged apart
//! from `$defs`, which move to `components/schemas`.

use std::sync::Arc;

use crate::td::invocation_schema;
use labthings_core::ThingInstance;
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
                503 => json!({
                    "description": "Not available in this state, or the server is busy or shutting down (then with Retry-After)",
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
    let mut paths = Map::new();
    let mut tags = Vec::new();
    for thing in things {
        let name = thing.name();
        tags.push(json!({"name": name, "description": thing.title()}));
        thing_paths(thing, &mut paths, &mut schemas);
    }
    server_paths(&mut paths);

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

/// The paths of one thing: TD, properties, actions, observation, events, streams.
fn thing_paths(thing: &ThingInstance, paths: &mut Map<String, Value>, schemas: &mut Schemas) {
    let name = thing.name();
    let tag = json!([name]);
    paths.insert(
        format!("/{name}/"),
        json!({"get": {
            "tags": tag, "operationId": format!("{name}_thing_description"),
            "summary": format!("The Thing Description of {name}"),
            "responses": {"200": json_response("The TD", component("ThingDescription"))}
        }}),
    );
    paths.insert(
        format!("/{name}/ws"),
        json!({"get": {
            "tags": tag, "operationId": format!("{name}_websocket"),
            "summary": "Observe properties and actions over a WebSocket",
            "description": "Upgrade to a WebSocket; send addPropertyObservation or addActionObservation messages.",
            "responses": {"101": {"description": "Switching to the WebSocket protocol"}}
        }}),
    );

    for property in thing.properties() {
        let schema = schemas.adopt(&format!("{name}_{}_", property.name), &property.schema);
        let mut get = Map::new();
        describe(
            &mut get,
            property.title.unwrap_or(property.name).to_owned(),
            property.description,
        );
        get.insert("tags".into(), tag.clone());
        get.insert("operationId".into(), format!("{name}_{}_read", property.name).into());
        let mut responses = Map::new();
        responses.insert("200".into(), json_response("The current value", schema.clone()));
        responses.extend(errors(&[500]));
        get.insert("responses".into(), responses.into());
        let mut item = Map::new();
        item.insert("get".into(), get.into());
        if property.writable {
            let mut responses = Map::new();
            responses.insert("201".into(), json_response("Written", json!({"type": "null"})));
            responses.extend(errors(&[400, 403, 408, 409, 413, 415, 422, 500]));
            item.insert(
                "put".into(),
                json!({
                    "tags": tag, "operationId": format!("{name}_{}_write", property.name),
                    "summary": format!("Write {}", property.name),
                    "requestBody": {"required": true, "content": {"application/json": {"schema": schema}}},
                    "responses": responses
                }),
            );
        }
        paths.insert(format!("/{name}/{}", property.name), item.into());
        if property.data && property.writable {
            paths.insert(
                format!("/{name}/{}/reset", property.name),
                json!({"post": {
                    "tags": tag, "operationId": format!("{name}_{}_reset", property.name),
                    "summary": format!("Reset {} to its default", property.name),
                    "responses": with_errors(&[409, 500], "200", json_response("Reset", json!({"type": "null"})))
                }}),
            );
        }
        if property.data {
            paths.insert(
                format!("/{name}/{}/observe", property.name),
                event_stream(
                    &tag,
                    format!("{name}_{}_observe", property.name),
                    "Each new value, as it changes",
                ),
            );
        }
    }

    for action in thing.actions() {
        let prefix = format!("{name}_{}_", action.name);
        let input = schemas.adopt(&prefix, &action.input_schema);
        let output = schemas.adopt(&prefix, &action.output_schema);
        let required = input
            .get("required")
            .and_then(Value::as_array)
            .is_some_and(|r| !r.is_empty());
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
        let mut responses = Map::new();
        responses.insert(
            "200".into(),
            json_response(
                "With return=output: the output, once the action has finished",
                output.clone(),
            ),
        );
        responses.insert(
            "201".into(),
            json!({
                "description": "The invocation (poll its href, or the Location header)",
                "headers": {"Location": {"schema": {"type": "string", "format": "uri"}}},
                "content": {"application/json": {"schema": {
                    "allOf": [component("Invocation"), {"properties": {"output": {"anyOf": [output, {"type": "null"}]}}}]
                }}}
            }),
        );
        responses.extend(errors(&[400, 403, 408, 409, 413, 415, 422, 500, 503]));
        post.insert("responses".into(), responses.into());
        paths.insert(
            format!("/{name}/{}", action.name),
            json!({
                "post": post,
                "get": {
                    "tags": tag, "operationId": format!("{name}_{}_invocations", action.name),
                    "summary": format!("Invocations of {}", action.name),
                    "parameters": page_parameters(),
                    "responses": with_errors(&[422], "200", listed())
                }
            }),
        );
    }

    for event in thing.events() {
        paths.insert(
            format!("/{name}/{}", event.name),
            event_stream(
                &tag,
                format!("{name}_{}_subscribe", event.name),
                event.description.unwrap_or("Each time the event is emitted"),
            ),
        );
    }
    for stream in thing.streams() {
        paths.insert(
            format!("/{name}/{}", stream.name),
            json!({"get": {
                "tags": tag, "operationId": format!("{name}_{}_stream", stream.name),
                "summary": stream.title.unwrap_or(stream.name),
                "responses": {"200": {
                    "description": "A live MJPEG stream: one JPEG part per frame",
                    "content": {"multipart/x-mixed-replace": {"schema": {"type": "string", "contentMediaType": "image/jpeg"}}}
                }}
            }}),
        );
    }
}

/// `responses` with one success answer and the error answers `codes`.
fn with_errors(codes: &[u16], status: &str, success: Value) -> Value {
    let mut responses = errors(codes);
    responses.insert(status.into(), success);
    Value::Object(responses)
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

/// A `GET` answering Server-Sent Events, one JSON `data:` message each.
fn event_stream(tag: &Value, operation_id: String, summary: &str) -> Value {
    json!({"get": {
        "tags": tag, "operationId": operation_id, "summary": summary,
        "responses": {"200": {
            "description": "Server-Sent Events: one unnamed `data:` message of JSON each",
            "content": {"text/event-stream": {"schema": {"type": "string"}}}
        }}
    }})
}

/// The paths every server has, whatever its things.
fn server_paths(paths: &mut Map<String, Value>) {
    let tag = json!(["server"]);
    let id = json!([{"name": "id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}}]);
    let text = |name: &str| json!({"name": name, "in": "query", "required": false, "schema": {"type": "string"}});
    let mut list_parameters = vec![text("thing"), text("action")];
    if let Value::Array(page) = page_parameters() {
        list_parameters.extend(page);
    }
    let with = |codes: &[u16], mut ok: Map<String, Value>| {
        ok.extend(errors(codes));
        Value::Object(ok)
    };
    let ok = |code: &str, response: Value| {
        let mut map = Map::new();
        map.insert(code.into(), response);
        map
    };
    paths.insert(
        "/things/".into(),
        json!({"get": {"tags": tag, "operationId": "things", "summary": "Each thing's name and URL",
            "responses": {"200": json_response("URLs by name",
                json!({"type": "object", "additionalProperties": {"type": "string", "format": "uri"}}))}}}),
    );
    paths.insert(
        "/thing_descriptions/".into(),
        json!({"get": {"tags": tag, "operationId": "thing_descriptions", "summary": "Every Thing Description by name",
            "responses": {"200": json_response("TDs by name",
                json!({"type": "object", "additionalProperties": component("ThingDescription")}))}}}),
    );
    paths.insert(
        "/action_invocations".into(),
        json!({"get": {"tags": tag, "operationId": "action_invocations", "summary": "Every invocation, oldest first",
            "parameters": list_parameters,
            "responses": with_errors(&[422], "200", listed())}}),
    );
    paths.insert(
        "/action_invocations/{id}".into(),
        json!({
            "get": {"tags": tag, "operationId": "invocation", "summary": "One invocation, whole",
                "parameters": id,
                "responses": with(&[404, 422], ok("200", json_response("The invocation", component("Invocation"))))},
            "delete": {"tags": tag, "operationId": "cancel_invocation", "summary": "Cancel a running invocation",
                "parameters": id,
                "responses": with(&[404, 422, 503], ok("200", json_response("Cancellation requested", json!({"type": "null"}))))}
        }),
    );
    paths.insert(
        "/action_invocations/{id}/output".into(),
        json!({"get": {"tags": tag, "operationId": "invocation_output", "summary": "The output of a completed invocation",
            "parameters": id,
            "responses": with(&[404, 422, 503], ok("200", json!({"description": "The output (JSON), or a blob's bytes with the blob's own media type",
                "content": {"application/json": {}, "*/*": {}}})))}}),
    );
    paths.insert(
        "/blob/{id}".into(),
        json!({"get": {"tags": tag, "operationId": "blob", "summary": "A blob output's bytes, with its media type",
            "parameters": id,
            "responses": with(&[404, 422], ok("200", json!({"description": "The bytes, with the blob's own media type",
                "content": {"*/*": {}}})))}}),
    );
    paths.insert(
        "/settings_warnings".into(),
        json!({"get": {"tags": tag, "operationId": "settings_warnings",
            "summary": "Problems found with settings files at start, by thing",
            "responses": {"200": json_response("Warnings by thing name (only things that have some)",
                json!({"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}}))}}}),
    );
    paths.insert(
        "/openapi.json".into(),
        json!({"get": {"tags": tag, "operationId": "openapi", "summary": "This document",
            "responses": {"200": json_response("OpenAPI 3.1", json!({"type": "object"}))}}}),
    );
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
