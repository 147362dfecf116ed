//! A Thing Description as a summary for people.

use std::fmt::Write;

use labthings_client::ThingDescription;
use serde_json::Value;

/// The title, then each property (type, unit, read-only, observable),
/// action (parameters and output) and event, one line each.
pub(crate) fn summary(td: &ThingDescription) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", td.title);
    if let Some(description) = td.raw.get("description").and_then(Value::as_str)
        && description != td.title
    {
        let _ = writeln!(out, "  {}", first_line(description));
    }
    if !td.properties.is_empty() {
        let _ = writeln!(out, "\nproperties:");
        for p in &td.properties {
            let mut flags = Vec::new();
            if p.read_only() {
                flags.push("read-only");
            }
            if p.observable() {
                flags.push("observable");
            }
            let unit = p
                .description
                .get("unit")
                .and_then(Value::as_str)
                .map(|u| format!(" [{u}]"))
                .unwrap_or_default();
            let flags = if flags.is_empty() {
                String::new()
            } else {
                format!(" ({})", flags.join(", "))
            };
            let _ = writeln!(
                out,
                "  {:<24} {}{unit}{flags}  {}",
                p.name,
                type_of(&p.description),
                p.title().map(first_line).unwrap_or_default()
            );
        }
    }
    if !td.actions.is_empty() {
        let _ = writeln!(out, "\nactions:");
        for a in &td.actions {
            let params = a
                .description
                .get("input")
                .and_then(|i| i.get("properties"))
                .and_then(Value::as_object)
                .map(|props| {
                    props
                        .iter()
                        .map(|(name, schema)| match schema.get("default") {
                            Some(default) => format!("{name}: {} = {default}", type_of(schema)),
                            None => format!("{name}: {}", type_of(schema)),
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            let output = a
                .description
                .get("output")
                .map(type_of)
                .unwrap_or_else(|| "null".into());
            let _ = writeln!(
                out,
                "  {}({params}) -> {output}  {}",
                a.name,
                a.title().map(first_line).unwrap_or_default()
            );
        }
    }
    if !td.events.is_empty() {
        let _ = writeln!(out, "\nevents:");
        for e in &td.events {
            let data = e.description.get("data").map(type_of).unwrap_or_else(|| "any".into());
            let _ = writeln!(
                out,
                "  {:<24} {data}  {}",
                e.name,
                e.title().map(first_line).unwrap_or_default()
            );
        }
    }
    out
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

/// A schema's type for people: `integer`, `array of integer`, `object`, ...
fn type_of(schema: &Value) -> String {
    match schema.get("type") {
        Some(Value::String(t)) if t == "array" => match schema.get("items") {
            Some(items) => format!("array of {}", type_of(items)),
            None => "array".into(),
        },
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(types)) => types.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" | "),
        _ if schema.get("enum").is_some() => "enum".into(),
        _ if schema.get("const").is_some() => "constant".into(),
        // `Option<u8>` and other unions: each choice, `integer | null`.
        _ => match ["oneOf", "anyOf"].iter().find_map(|key| schema.get(*key)?.as_array()) {
            Some(choices) if !choices.is_empty() => choices.iter().map(type_of).collect::<Vec<_>>().join(" | "),
            _ => "any".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::type_of;
    use serde_json::json;

    #[test]
    fn a_union_names_each_choice() {
        let optional = json!({"oneOf": [{"type": "integer", "minimum": 0}, {"type": "null"}]});
        assert_eq!(type_of(&optional), "integer | null");
        assert_eq!(
            type_of(&json!({"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "number"}}]})),
            "string | array of number"
        );
        assert_eq!(type_of(&json!({"type": ["integer", "null"]})), "integer | null");
        assert_eq!(type_of(&json!({})), "any");
    }
}
