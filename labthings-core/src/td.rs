//! The W3C WoT Thing Description (TD 1.1) of a served Thing.

use serde_json::{Map, Value, json};

use crate::registry::ThingInstance;

/// The TD 1.1 JSON-LD context.
pub const TD_CONTEXT: &str = "https://www.w3.org/2022/wot/td/v1.1";

/// The content type of every form: JSON in, JSON out.
pub const JSON: &str = "application/json";

/// Build the Thing Description of `thing`. `base` is the server's absolute
/// URL ending in `/` (taken from the request, so links work from where the
/// client stands); form `href`s are relative to it.
///
/// The result validates against the W3C TD 1.1 JSON Schema: the test suite
/// checks every TD the examples serve.
pub fn thing_description(thing: &ThingInstance, base: &str) -> Value {
    let mut td = Map::new();
    td.insert("@context".into(), TD_CONTEXT.into());
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
    for property in thing.properties() {
        let mut affordance = schema_object(&property.schema);
        describe(&mut affordance, property.name, property.title, property.description);
        affordance.insert("readOnly".into(), (!property.writable).into());
        affordance.insert("writeOnly".into(), false.into());
        let ops: &[&str] = if property.writable {
            &["readproperty", "writeproperty"]
        } else {
            &["readproperty"]
        };
        affordance.insert(
            "forms".into(),
            json!([{"href": format!("/{}/{}", thing.name(), property.name), "op": ops, "contentType": JSON}]),
        );
        properties.insert(property.name.into(), affordance.into());
    }
    td.insert("properties".into(), properties.into());

    let mut actions = Map::new();
    for action in thing.actions() {
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
        affordance.insert("safe".into(), false.into());
        affordance.insert("idempotent".into(), false.into());
        affordance.insert(
            "forms".into(),
            json!([{
                "href": format!("/{}/{}", thing.name(), action.name),
                "op": ["invokeaction"],
                "contentType": JSON,
                "htv:methodName": "POST"
            }]),
        );
        actions.insert(action.name.into(), affordance.into());
    }
    td.insert("actions".into(), actions.into());
    Value::Object(td)
}

/// A schema as a JSON object (a boolean schema `true` becomes `{}`).
fn schema_object(schema: &Value) -> Map<String, Value> {
    schema.as_object().cloned().unwrap_or_default()
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
