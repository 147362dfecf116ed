//! The W3C WoT Thing Description (TD 1.1) of a served Thing: its
//! affordances from the descriptor table, its forms from the HTTP binding
//! (`binding.rs`).

use labthings_core::ThingInstance;
use serde_json::{Map, Value, json};

use crate::binding::{Affordance, Endpoint, Form, endpoints, forms_of};

/// The TD 1.1 JSON-LD context.
pub const TD_CONTEXT: &str = "https://www.w3.org/2022/wot/td/v1.1";

/// The term under which an action's affordance declares the schema of its
/// intermediate results (each item of the invocation's `intermediate`
/// list). TD 1.1 has no such term; the `lt` prefix is declared in the
/// TD's `@context` as [`LABTHINGS_VOCABULARY`].
pub const INTERMEDIATE_TERM: &str = "lt:intermediate";

/// The IRI of this project's TD terms (only `lt:intermediate` so far).
pub const LABTHINGS_VOCABULARY: &str = "urn:labthings:td#";

/// The TD 1.0 JSON-LD context, which TD 1.1 documents may list first.
pub const TD_CONTEXT_V1: &str = "https://www.w3.org/2019/wot/td/v1";

/// The content type of every form: JSON in, JSON out.
pub const JSON: &str = "application/json";

/// Build the Thing Description of `thing`. `base` is the server's absolute
/// URL ending in `/` (taken from the request, so links work from where the
/// client stands); form `href`s are relative to it.
///
/// The result validates against the W3C TD 1.1 JSON Schema: the test suite
/// checks every TD the examples serve.
pub fn thing_description(thing: &ThingInstance, base: &str) -> Value {
    describe_thing(&endpoints([thing]), 0, thing, base)
}

/// The TD of `thing`, number `index` among the things `endpoints` binds.
pub(crate) fn describe_thing(endpoints: &[Endpoint], index: usize, thing: &ThingInstance, base: &str) -> Value {
    let forms = |affordance| -> Vec<Value> {
        forms_of(endpoints, index, affordance)
            .map(|(endpoint, form)| form_json(endpoint, form, base))
            .collect()
    };
    let mut td = Map::new();
    // TD 1.1's backward-compatible form: the 1.0 context, then the 1.1 one.
    // Clients that validate against the TD 1.0 schema (node-wot 0.9 does)
    // accept it, and so does the TD 1.1 schema.
    let mut context = vec![json!(TD_CONTEXT_V1), json!(TD_CONTEXT)];
    if thing.actions().iter().any(|a| a.intermediate_schema.is_some()) {
        context.push(json!({"lt": LABTHINGS_VOCABULARY}));
    }
    td.insert("@context".into(), context.into());
    td.insert("id".into(), format!("urn:labthings:{}", thing.name()).into());
    td.insert("title".into(), thing.title().into());
    if let Some(description) = thing.description() {
        td.insert("description".into(), description.into());
    }
    td.insert("base".into(), base.into());
    td.insert(
        "securityDefinitions".into(),
        json!({"no_security": {"description": "No security", "scheme": "nosec"}}),
    );
    td.insert("security".into(), "no_security".into());

    let mut properties = Map::new();
    for (p, property) in thing.properties().iter().enumerate() {
        let mut affordance = schema_object(&property.schema);
        describe(&mut affordance, property.name, property.title, property.description);
        affordance.insert("readOnly".into(), (!property.writable).into());
        affordance.insert("writeOnly".into(), false.into());
        // Data properties announce every change: observable over SSE.
        affordance.insert("observable".into(), property.observable().into());
        affordance.insert("forms".into(), forms(Affordance::Property(p)).into());
        properties.insert(property.name.into(), affordance.into());
    }
    td.insert("properties".into(), properties.into());

    let mut actions = Map::new();
    for (a, action) in thing.actions().iter().enumerate() {
        let mut affordance = Map::new();
        describe(&mut affordance, action.name, action.title, action.description);
        if action.has_input {
            let mut input = schema_object(&action.input_schema);
            // The generated struct's doc comment is for Rust readers, not WoT clients.
            input.remove("description");
            input.insert("title".into(), format!("{}_input", action.name).into());
            affordance.insert("input".into(), input.into());
        }
        if action.output_schema.get("type") != Some(&Value::from("null")) {
            let mut output = schema_object(&action.output_schema);
            output.insert("title".into(), format!("{}_output", action.name).into());
            affordance.insert("output".into(), output.into());
        }
        if let Some(intermediate) = &action.intermediate_schema {
            // Not a TD 1.1 term: declared under this project's own prefix
            // (INTERMEDIATE_TERM), which the TD's @context names.
            let mut schema = schema_object(intermediate);
            schema.insert("title".into(), format!("{}_intermediate", action.name).into());
            affordance.insert(INTERMEDIATE_TERM.into(), schema.into());
        }
        affordance.insert("safe".into(), false.into());
        affordance.insert("idempotent".into(), false.into());
        // The first invokeaction form answers with the output (binding.rs).
        affordance.insert("synchronous".into(), true.into());
        affordance.insert(
            "uriVariables".into(),
            json!({"id": {
                "type": "string",
                "format": "uuid",
                "description": "The id of an invocation (for queryaction and cancelaction)"
            }}),
        );
        affordance.insert("forms".into(), forms(Affordance::Action(a)).into());
        actions.insert(action.name.into(), affordance.into());
    }
    td.insert("actions".into(), actions.into());
    td.insert("forms".into(), forms(Affordance::Thing).into());
    td.insert(
        "schemaDefinitions".into(),
        json!({"invocation": invocation_schema(), "invocationList": {"type": "array", "items": invocation_schema()}}),
    );

    let mut events = Map::new();
    for (e, event) in thing.events().iter().enumerate() {
        let mut affordance = Map::new();
        describe(&mut affordance, event.name, event.title, event.description);
        affordance.insert("data".into(), schema_object(&event.schema).into());
        affordance.insert("forms".into(), forms(Affordance::Event(e)).into());
        events.insert(event.name.into(), affordance.into());
    }
    td.insert("events".into(), events.into());

    let mut links: Vec<Value> = (0..thing.streams().len())
        .flat_map(|s| forms_of(endpoints, index, Affordance::Stream(s)))
        .map(|(_, link)| {
            json!({"href": format!("{}{}", base_path(base), link.href), "type": "multipart/x-mixed-replace", "rel": "alternate"})
        })
        .collect();
    // Endpoints read with GET: a link each, so a person (and the panel)
    // finds them; what they answer is not described.
    links.extend(
        (0..thing.endpoints().len())
            .flat_map(|e| forms_of(endpoints, index, Affordance::Endpoint(e)))
            .map(|(_, link)| json!({"href": format!("{}{}", base_path(base), link.href), "rel": "item"})),
    );
    if !links.is_empty() {
        td.insert("links".into(), links.into());
    }
    Value::Object(td)
}

/// The path of `base` without its final `/`: empty for a server at the
/// root, `/lab` for one under a prefix (or behind a proxy whose public URL
/// has that path), which every absolute form path then starts with.
///
/// ```text
/// base_path("http://127.0.0.1:5000/") == ""
/// base_path("https://scope.example/lab/") == "/lab"
/// ```
fn base_path(base: &str) -> &str {
    let after_scheme = base.split_once("://").map_or(base, |(_, rest)| rest);
    after_scheme
        .find('/')
        .map_or("", |slash| &after_scheme[slash..])
        .trim_end_matches('/')
}

/// A form as TD JSON. Top-level forms are made absolute on `base`: not
/// every client resolves them against it.
fn form_json(endpoint: &Endpoint, form: &Form, base: &str) -> Value {
    let mut json = Map::new();
    let href = if form.affordance == Affordance::Thing {
        format!("{base}{}", form.href)
    } else {
        format!("{}{}", base_path(base), form.href)
    };
    json.insert("href".into(), href.into());
    json.insert("op".into(), form.ops.into());
    if let Some(subprotocol) = form.subprotocol {
        json.insert("subprotocol".into(), subprotocol.into());
    }
    if form.json {
        json.insert("contentType".into(), JSON.into());
    }
    if form.method_name {
        json.insert("htv:methodName".into(), endpoint.method.as_str().into());
    }
    if let Some(schema) = form.additional {
        json.insert(
            "additionalResponses".into(),
            json!([{"success": true, "contentType": JSON, "schema": schema}]),
        );
    }
    Value::Object(json)
}

/// The data schema of an invocation as `/action_invocations/{id}` answers it
/// (also used by the OpenAPI document).
pub fn invocation_schema() -> Value {
    let time = json!({"type": "string", "format": "date-time"});
    let nullable_time = json!({"oneOf": [time, {"type": "null"}]});
    json!({
        "type": "object",
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "status": {"type": "string", "enum": ["pending", "running", "completed", "cancelled", "error"]},
            "action": {"type": "string", "description": "The action's path, /{thing}/{action}"},
            "href": {"type": "string", "format": "uri"},
            "timeRequested": time,
            "timeStarted": nullable_time,
            "timeCompleted": nullable_time,
            "input": {"description": "The input, as given"},
            "output": {"description": "The output once completed: the action's output schema"},
            "log": {"type": "array", "items": {"type": "object"}},
            "error": {"description": "RFC 9457 problem details if the invocation failed or was cancelled"},
            "progress": {
                "type": "object",
                "description": "How far it is, once the action has said (absent before)",
                "properties": {
                    "fraction": {"type": "number", "minimum": 0, "maximum": 1},
                    "message": {"type": "string"},
                    "remainingSeconds": {"type": "number", "minimum": 0},
                    "remainingEstimated": {"type": "boolean", "description": "Whether the server estimated the time left from the rate so far"}
                },
                "required": ["fraction", "remainingEstimated"]
            },
            "intermediate": {"type": "array", "description": "The newest intermediate results, oldest first, for an action that reports them"},
            "links": {"type": "array", "items": {"type": "object"}}
        },
        "required": ["id", "status", "action", "href", "links"]
    })
}

/// A schema as a TD data schema object (a boolean schema `true` becomes `{}`).
fn schema_object(schema: &Value) -> Map<String, Value> {
    match td_data_schema(schema.clone()) {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// Keywords that describe a value rather than constrain it; they stay at the
/// top when a schema is split into `oneOf` branches.
const ANNOTATIONS: [&str; 7] = [
    "title",
    "description",
    "default",
    "unit",
    "readOnly",
    "writeOnly",
    "examples",
];

/// Rewrite JSON Schema that TD 1.1 data schemas cannot express into what
/// they can: a list of types (`Option<T>` gives `["integer", "null"]`) and
/// `anyOf` become `oneOf` branches, recursively.
pub fn td_data_schema(schema: Value) -> Value {
    let Value::Object(mut map) = schema else {
        return schema;
    };
    for key in ["properties", "$defs"] {
        if let Some(Value::Object(children)) = map.get_mut(key) {
            for child in children.values_mut() {
                *child = td_data_schema(child.take());
            }
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(child) = map.get_mut(key).filter(|c| c.is_object()) {
            *child = td_data_schema(child.take());
        }
    }
    if let Some(Value::Array(branches)) = map.remove("anyOf") {
        let branches = branches.into_iter().map(td_data_schema).collect();
        map.insert("oneOf".into(), Value::Array(branches));
    }
    if let Some(Value::Array(branches)) = map.get_mut("oneOf") {
        for branch in branches.iter_mut() {
            *branch = td_data_schema(branch.take());
        }
    }
    if let Some(Value::Array(types)) = map.get("type").cloned() {
        map.remove("type");
        let (annotations, constraints): (Map<String, Value>, Map<String, Value>) =
            map.into_iter().partition(|(k, _)| ANNOTATIONS.contains(&k.as_str()));
        let branches = types
            .into_iter()
            .map(|t| {
                let mut branch = if t == "null" { Map::new() } else { constraints.clone() };
                branch.insert("type".into(), t);
                Value::Object(branch)
            })
            .collect();
        let mut map = annotations;
        map.insert("oneOf".into(), Value::Array(branches));
        return Value::Object(map);
    }
    Value::Object(map)
}

/// Set an affordance's title and description from its doc comment.
fn describe(affordance: &mut Map<String, Value>, name: &str, title: Option<&str>, description: Option<&str>) {
    affordance.insert("title".into(), title.unwrap_or(name).into());
    match description {
        Some(description) => {
            affordance.insert("description".into(), description.into());
        }
        None => {
            affordance.remove("description");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::td_data_schema;
    use serde_json::json;

    #[test]
    fn type_lists_become_one_of() {
        let schema = json!({"type": ["integer", "null"], "format": "int64", "title": "z", "minimum": 0});
        assert_eq!(
            td_data_schema(schema),
            json!({"title": "z", "oneOf": [{"type": "integer", "format": "int64", "minimum": 0}, {"type": "null"}]})
        );
    }

    #[test]
    fn nested_any_of_becomes_one_of() {
        let schema = json!({"type": "object", "properties": {"a": {"anyOf": [{"type": "string"}, {"type": "null"}]}}});
        assert_eq!(
            td_data_schema(schema)["properties"]["a"],
            json!({"oneOf": [{"type": "string"}, {"type": "null"}]})
        );
    }
}
