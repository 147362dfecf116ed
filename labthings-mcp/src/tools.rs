//! The tools and resources a caller is offered, made from each thing's
//! Thing Description as the server serves it (so an affordance is in the
//! MCP binding exactly when it is in the TD), and a tool's name read back.
//!
//! | tool | for | input | structured result |
//! | --- | --- | --- | --- |
//! | `thing.action` | each action (operators) | the TD's `input` | `{"output": ..}` (the TD's `output`) |
//! | `thing.get-property` | each readable property | none | `{"value": ..}` |
//! | `thing.set-property` | each writable property (operators) | `{"value": ..}` | none |
//!
//! An action name cannot hold `-`, so the property tools never clash with
//! an action's.

use std::sync::Arc;

use labthings_core::Caller;
use labthings_core::companion::Host;
use labthings_td::ThingDescription;
use rmcp::model::{JsonObject, Resource, Tool, ToolAnnotations};
use serde_json::{Value, json};

/// What a tool name names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// Action number `.1` of thing number `.0`.
    Action(usize, usize),
    /// Read property number `.1` of thing number `.0`.
    Get(usize, usize),
    /// Write property number `.1` of thing number `.0`.
    Set(usize, usize),
}

/// The MIME type of a Thing Description.
pub(crate) const TD_MEDIA_TYPE: &str = "application/td+json";

/// The tool `name` names, if any (whether the caller may use it is not
/// asked here).
pub(crate) fn target(host: &dyn Host, name: &str) -> Option<Target> {
    let things = host.lab().things();
    things.iter().enumerate().find_map(|(t, thing)| {
        let rest = name.strip_prefix(thing.name())?.strip_prefix('.')?;
        let property = |p: &str| thing.properties().iter().position(|info| info.name == p);
        if let Some(p) = rest.strip_prefix("get-") {
            return property(p).map(|p| Target::Get(t, p));
        }
        if let Some(p) = rest.strip_prefix("set-") {
            return property(p).map(|p| Target::Set(t, p));
        }
        thing
            .actions()
            .iter()
            .position(|a| a.name == rest)
            .map(|a| Target::Action(t, a))
    })
}

/// `value` as a JSON object, or an empty object schema.
fn object(value: Value) -> Arc<JsonObject> {
    match value {
        Value::Object(map) => Arc::new(map),
        _ => Arc::new(JsonObject::new()),
    }
}

/// An object schema with one property, `key`, of `schema`.
fn wrapped(key: &str, schema: Value, required: bool) -> Arc<JsonObject> {
    let required = if required { json!([key]) } else { json!([]) };
    object(json!({"type": "object", "properties": {key: schema}, "required": required}))
}

/// The tools `caller` may use: every readable property of every thing,
/// and, for a caller who may operate a thing, its actions and writable
/// properties. A tool whose calls wait for approval says so.
pub(crate) fn list(host: &dyn Host, caller: &Caller) -> Vec<Tool> {
    let lab = host.lab();
    let mut tools = Vec::new();
    for (t, thing) in lab.things().iter().enumerate() {
        let Some(td) = host.thing_description(t) else { continue };
        let operate = caller.may_operate(thing.name());
        for (a, info) in thing.actions().iter().enumerate() {
            let Some(action) = td.actions.get(info.name) else {
                continue;
            };
            if !operate {
                continue;
            }
            let mut description = action
                .description
                .clone()
                .or_else(|| action.title.clone())
                .unwrap_or_default();
            if lab.needs_approval(thing, a, caller) {
                description.push_str(
                    "\n\nThis call waits for a human operator's approval before it runs; \
                     the result comes once it has been approved and has run, or says why not.",
                );
            }
            let input = action
                .input
                .clone()
                .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
            let mut tool = Tool::new(format!("{}.{}", thing.name(), info.name), description, object(input))
                .with_annotations(
                    ToolAnnotations::new()
                        .read_only(action.safe)
                        .destructive(!action.safe && !action.idempotent),
                );
            if let Some(title) = &action.title {
                tool = tool.with_title(title.clone());
            }
            if let Some(output) = &action.output {
                tool = tool.with_raw_output_schema(wrapped("output", output.clone(), true));
            }
            tools.push(tool);
        }
        for info in thing.properties() {
            let Some(property) = td.properties.get(info.name) else {
                continue;
            };
            let schema = Value::Object(property.schema.clone());
            let what = property
                .title()
                .map(str::to_owned)
                .unwrap_or_else(|| info.name.to_owned());
            if !property.write_only {
                tools.push(
                    Tool::new(
                        format!("{}.get-{}", thing.name(), info.name),
                        format!("Read the property `{}` of `{}`: {what}", info.name, thing.name()),
                        object(json!({"type": "object", "properties": {}})),
                    )
                    .with_raw_output_schema(wrapped("value", schema.clone(), true))
                    .with_annotations(ToolAnnotations::new().read_only(true)),
                );
            }
            if !property.read_only && operate {
                tools.push(
                    Tool::new(
                        format!("{}.set-{}", thing.name(), info.name),
                        format!("Write the property `{}` of `{}`: {what}", info.name, thing.name()),
                        wrapped("value", schema, true),
                    )
                    .with_annotations(ToolAnnotations::new().read_only(false).destructive(false)),
                );
            }
        }
    }
    tools
}

/// Each thing's TD as a resource, at the URL the HTTP server serves it.
pub(crate) fn resources(host: &dyn Host) -> Vec<Resource> {
    let things = host.lab().things();
    (0..things.len())
        .filter_map(|t| {
            let td = host.thing_description(t)?;
            let mut resource = Resource::new(td_uri(host, things[t].name()), things[t].name().to_owned())
                .with_title(format!("Thing Description of `{}`", things[t].name()))
                .with_description(td.description.clone().unwrap_or_else(|| td.title.clone()));
            resource.mime_type = Some(TD_MEDIA_TYPE.to_owned());
            Some(resource)
        })
        .collect()
}

/// Where thing `name`'s TD is served.
pub(crate) fn td_uri(host: &dyn Host, name: &str) -> String {
    format!("{}{name}/", host.base_url())
}

/// The TD the resource at `uri` is, if any.
pub(crate) fn td_at(host: &dyn Host, uri: &str) -> Option<ThingDescription> {
    let things = host.lab().things();
    let t = things.iter().position(|thing| td_uri(host, thing.name()) == uri)?;
    host.thing_description(t)
}
