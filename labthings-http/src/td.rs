//! The W3C WoT Thing Description (TD 1.1) of a served Thing: its
//! affordances from the descriptor table, its forms from the HTTP binding
//! (`binding.rs`).

use labthings_core::ThingInstance;
use labthings_td::{
    ActionAffordance, AdditionalResponse, EventAffordance, Form as TdForm, IndexMap, JSON, LABTHINGS_VOCABULARY, Link,
    Object, OneOrMany, PropertyAffordance, TD_CONTEXT, TD_CONTEXT_V1, ThingDescription, td_data_schema,
};
use serde_json::{Map, Value, json};

use crate::binding::{Affordance, Endpoint, Form, endpoints, forms_of};

/// Build the Thing Description of `thing`. `base` is the server's absolute
/// URL ending in `/` (taken from the request, so links work from where the
/// client stands); form `href`s are relative to it.
///
/// The result validates against the W3C TD 1.1 JSON Schema: the test suite
/// checks every TD the examples serve.
pub fn thing_description(thing: &ThingInstance, base: &str) -> ThingDescription {
    describe_thing(&endpoints([thing], false), 0, thing, base)
}

/// The TD of `thing`, number `index` among the things `endpoints` binds.
pub(crate) fn describe_thing(
    endpoints: &[Endpoint],
    index: usize,
    thing: &ThingInstance,
    base: &str,
) -> ThingDescription {
    let forms = |affordance| -> Vec<TdForm> {
        forms_of(endpoints, index, affordance)
            .map(|(endpoint, form)| td_form(endpoint, form, base))
            .collect()
    };
    // TD 1.1's backward-compatible form: the 1.0 context, then the 1.1 one.
    // Clients that validate against the TD 1.0 schema (node-wot 0.9 does)
    // accept it, and so does the TD 1.1 schema.
    let mut context = vec![json!(TD_CONTEXT_V1), json!(TD_CONTEXT)];
    if thing.simulated()
        || thing
            .actions()
            .iter()
            .any(|a| a.intermediate_schema.is_some() || a.approval)
    {
        context.push(json!({"lt": LABTHINGS_VOCABULARY}));
    }
    let mut security_definitions = Object::new();
    security_definitions.insert(
        "no_security".into(),
        json!({"description": "No security", "scheme": "nosec"}),
    );

    let mut properties = IndexMap::new();
    for (p, property) in thing.properties().iter().enumerate() {
        let mut schema = schema_object(&property.schema);
        describe(&mut schema, property.name, property.title, property.description);
        let affordance = PropertyAffordance {
            schema,
            read_only: !property.writable,
            write_only: false,
            // Data properties announce every change: observable over SSE.
            observable: property.observable(),
            forms: forms(Affordance::Property(p)),
        };
        properties.insert(property.name.to_owned(), affordance);
    }

    let mut actions = IndexMap::new();
    for (a, action) in thing.actions().iter().enumerate() {
        let input = action.has_input.then(|| {
            let mut input = schema_object(&action.input_schema);
            // The generated struct's doc comment is for Rust readers, not WoT clients.
            input.remove("description");
            input.insert("title".into(), format!("{}_input", action.name).into());
            Value::Object(input)
        });
        let output = (action.output_schema.get("type") != Some(&Value::from("null"))).then(|| {
            let mut output = schema_object(&action.output_schema);
            output.insert("title".into(), format!("{}_output", action.name).into());
            Value::Object(output)
        });
        // Not a TD 1.1 term: declared under this project's own prefix
        // (`lt:intermediate`), which the TD's @context names.
        let intermediate = action.intermediate_schema.as_ref().map(|intermediate| {
            let mut schema = schema_object(intermediate);
            schema.insert("title".into(), format!("{}_intermediate", action.name).into());
            Value::Object(schema)
        });
        let uri_variables = json!({"id": {
            "type": "string",
            "format": "uuid",
            "description": "The id of an invocation (for queryaction and cancelaction)"
        }});
        let affordance = ActionAffordance {
            title: Some(action.title.unwrap_or(action.name).to_owned()),
            description: action.description.map(str::to_owned),
            input,
            output,
            intermediate,
            safe: false,
            idempotent: false,
            // The first invokeaction form answers with the output (binding.rs).
            synchronous: Some(true),
            uri_variables: uri_variables.as_object().cloned(),
            forms: forms(Affordance::Action(a)),
            // `#[action(approval)]`: an agent's call (or a caller the
            // server's `[approval]` rules name) waits for an operator.
            extra: if action.approval {
                std::iter::once(("lt:approval".to_owned(), Value::Bool(true))).collect()
            } else {
                Object::new()
            },
        };
        actions.insert(action.name.to_owned(), affordance);
    }

    let mut events = IndexMap::new();
    for (e, event) in thing.events().iter().enumerate() {
        let affordance = EventAffordance {
            title: Some(event.title.unwrap_or(event.name).to_owned()),
            description: event.description.map(str::to_owned),
            data: Some(Value::Object(schema_object(&event.schema))),
            forms: forms(Affordance::Event(e)),
            extra: Object::new(),
        };
        events.insert(event.name.to_owned(), affordance);
    }

    let link = |href: &str, media_type: Option<&str>, rel: &str| Link {
        href: format!("{}{href}", base_path(base)),
        media_type: media_type.map(str::to_owned),
        rel: Some(rel.to_owned()),
        extra: Object::new(),
    };
    let mut links: Vec<Link> = (0..thing.streams().len())
        .flat_map(|s| forms_of(endpoints, index, Affordance::Stream(s)))
        .map(|(_, form)| link(&form.href, Some("multipart/x-mixed-replace"), "alternate"))
        .collect();
    // Endpoints read with GET: a link each, so a person (and the panel)
    // finds them; what they answer is not described beyond its media type
    // when that is known (a `Json<T>` answer).
    links.extend(thing.endpoints().iter().enumerate().flat_map(|(e, extra)| {
        let media_type = extra.output_schema.is_some().then_some("application/json");
        forms_of(endpoints, index, Affordance::Endpoint(e)).map(move |(_, form)| link(&form.href, media_type, "item"))
    }));
    let mut schema_definitions = Object::new();
    schema_definitions.insert("invocation".into(), invocation_schema());
    schema_definitions.insert(
        "invocationList".into(),
        json!({"type": "array", "items": invocation_schema()}),
    );

    ThingDescription {
        context: OneOrMany::Many(context),
        id: Some(format!("urn:labthings:{}", thing.name())),
        title: thing.title().to_owned(),
        description: thing.description().map(str::to_owned),
        base: Some(base.to_owned()),
        security_definitions,
        security: OneOrMany::One("no_security".into()),
        properties,
        actions,
        forms: forms(Affordance::Thing),
        schema_definitions: Some(schema_definitions),
        events,
        links,
        extra: simulated_marker(thing),
    }
}

/// `"lt:simulated": true` for a thing served simulated (no hardware).
fn simulated_marker(thing: &ThingInstance) -> Object {
    let mut extra = Object::new();
    if thing.simulated() {
        extra.insert("lt:simulated".into(), true.into());
    }
    extra
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

/// An HTTP form as a TD form. Top-level forms are made absolute on
/// `base`: not every client resolves them against it.
fn td_form(endpoint: &Endpoint, form: &Form, base: &str) -> TdForm {
    let href = if form.affordance == Affordance::Thing {
        format!("{base}{}", form.href)
    } else {
        format!("{}{}", base_path(base), form.href)
    };
    let mut td_form = TdForm::new(href, form.ops.iter().cloned());
    td_form.subprotocol = form.subprotocol.map(str::to_owned);
    td_form.content_type = form.json.then(|| JSON.to_owned());
    td_form.method_name = form.method_name.then(|| endpoint.method.as_str().to_owned());
    if let Some(schema) = form.additional {
        td_form.additional_responses.push(AdditionalResponse {
            success: Some(true),
            content_type: Some(JSON.to_owned()),
            schema: Some(schema.into()),
        });
    }
    td_form
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

/// When the HTTP forms need no credentials but another binding's forms
/// carry a scheme of their own (the MQTT broker's login), make that scheme
/// the TD's own and give the HTTP forms `no_security` explicitly: the same
/// meaning in TD 1.1, in the shape WoT clients can use. node-wot (0.8 and
/// 0.9) hands a form's own scheme the whole list of credentials its user
/// added, where a scheme of the TD's own gets the first one, so a login
/// on a form never reaches the broker; on the TD's own it does.
///
/// With users on both HTTP and the broker nothing moves: two schemes that
/// each need their own credentials cannot both be the TD's first (the
/// README's MQTT section says what a node-wot user adds then).
pub(crate) fn lift_binding_security(td: &mut ThingDescription) {
    const NONE: &str = "no_security";
    if td.security.iter().map(String::as_str).ne([NONE]) {
        return;
    }
    let mut own: Option<OneOrMany<String>> = None;
    for form in td.forms_mut() {
        match (&form.security, &own) {
            (None, _) => {}
            (Some(scheme), None) => own = Some(scheme.clone()),
            (Some(scheme), Some(seen)) if scheme == seen => {}
            // Schemes of several bindings: leave them on their forms.
            (Some(_), Some(_)) => return,
        }
    }
    let Some(own) = own else {
        return;
    };
    for form in td.forms_mut() {
        form.security = match form.security.take() {
            Some(_) => None,
            None => Some(OneOrMany::Many(vec![NONE.to_owned()])),
        };
    }
    td.security = own;
}
