//! JSON Schema as a TD data schema: what TD 1.1 cannot express rewritten
//! into what it can.

use serde_json::{Map, Value};

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
