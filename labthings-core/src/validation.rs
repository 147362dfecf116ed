//! Checking JSON input against a JSON Schema and reporting every problem.
//!
//! Problems are reported in the shape FastAPI clients know (`type`, `loc`,
//! `msg`, `input`), so a 422 response lists each wrong field with its location.

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::paths::LocationSegment;
use jsonschema::{JsonType, ValidationError};
use serde::Serialize;
use serde_json::Value;

/// One step of a problem's location: an object key or an array index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum LocSegment {
    /// An object key (or a fixed word such as `body`).
    Key(String),
    /// An array index (or a byte offset for malformed JSON).
    Index(usize),
}

impl From<&str> for LocSegment {
    fn from(key: &str) -> Self {
        Self::Key(key.to_owned())
    }
}

/// One problem with an input, as FastAPI reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InputProblem {
    /// Machine-readable kind, e.g. `int_type`, `missing`, `extra_forbidden`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Where the problem is, starting with where the input came from (`body`, `path`).
    pub loc: Vec<LocSegment>,
    /// What is wrong, for people.
    pub msg: String,
    /// The offending value.
    pub input: Value,
}

impl InputProblem {
    /// A problem at `loc` of the given kind.
    pub fn new(kind: &'static str, loc: Vec<LocSegment>, msg: impl Into<String>, input: Value) -> Self {
        Self {
            kind,
            loc,
            msg: msg.into(),
            input,
        }
    }

    /// The location as one dotted path, e.g. `body.settings.0.gain`.
    ///
    /// ```
    /// use labthings_core::{InputProblem, LocSegment};
    /// let problem = InputProblem::new("int_type", vec!["body".into(), "by".into()], "not an integer", "x".into());
    /// assert_eq!(problem.loc_path(), "body.by");
    /// # let _ = LocSegment::Index(0);
    /// ```
    pub fn loc_path(&self) -> String {
        self.loc
            .iter()
            .map(|segment| match segment {
                LocSegment::Key(key) => key.clone(),
                LocSegment::Index(index) => index.to_string(),
            })
            .collect::<Vec<_>>()
            .join(".")
    }

    /// The problem for a body that is not JSON at all.
    pub fn invalid_json(error: &serde_json::Error, byte_offset: usize) -> Self {
        Self::new(
            "json_invalid",
            vec!["body".into(), LocSegment::Index(byte_offset)],
            format!("JSON decode error: {error}"),
            Value::Object(Default::default()),
        )
    }
}

/// A compiled JSON Schema.
pub struct Validator {
    inner: jsonschema::Validator,
}

impl std::fmt::Debug for Validator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Validator").finish_non_exhaustive()
    }
}

/// A schema that could not be compiled (a bug in a type's `JsonSchema` impl).
#[derive(Debug, thiserror::Error)]
#[error("invalid JSON Schema: {0}")]
pub struct SchemaError(String);

impl Validator {
    /// Compile `schema`.
    pub fn new(schema: &Value) -> Result<Self, SchemaError> {
        jsonschema::validator_for(schema)
            .map(|inner| Self { inner })
            .map_err(|e| SchemaError(e.to_string()))
    }

    /// Every problem with `instance`, each located below `prefix`
    /// (e.g. `["body"]`). Empty if valid.
    pub fn problems(&self, instance: &Value, prefix: &[LocSegment]) -> Vec<InputProblem> {
        if self.inner.is_valid(instance) {
            return Vec::new();
        }
        let mut problems = Vec::new();
        for error in self.inner.iter_errors(instance) {
            describe(&error, prefix, &mut problems);
        }
        problems
    }
}

fn describe(error: &ValidationError<'_>, prefix: &[LocSegment], out: &mut Vec<InputProblem>) {
    let mut loc = prefix.to_vec();
    for segment in error.instance_path() {
        loc.push(match segment {
            LocationSegment::Property(key) => LocSegment::Key(key.into_owned()),
            LocationSegment::Index(i) => LocSegment::Index(i),
        });
    }
    let instance: &Value = error.instance();
    let at = |key: &str| {
        let mut l = loc.clone();
        l.push(LocSegment::Key(key.to_owned()));
        l
    };
    match error.kind() {
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            out.push(InputProblem::new(
                "missing",
                at(name),
                "Field required",
                instance.clone(),
            ));
        }
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            for name in unexpected {
                let value = instance.get(name).cloned().unwrap_or(Value::Null);
                out.push(InputProblem::new(
                    "extra_forbidden",
                    at(name),
                    "Extra inputs are not permitted",
                    value,
                ));
            }
        }
        ValidationErrorKind::Type { kind } => {
            let expected = match kind {
                TypeKind::Single(t) => *t,
                TypeKind::Multiple(set) => set.iter().find(|t| *t != JsonType::Null).unwrap_or(JsonType::Null),
            };
            let (code, noun) = type_problem(expected, instance);
            out.push(InputProblem::new(
                code,
                loc,
                format!("Input should be {noun}"),
                instance.clone(),
            ));
        }
        other => {
            let code = match other {
                ValidationErrorKind::Minimum { .. } => "greater_than_equal",
                ValidationErrorKind::Maximum { .. } => "less_than_equal",
                ValidationErrorKind::ExclusiveMinimum { .. } => "greater_than",
                ValidationErrorKind::ExclusiveMaximum { .. } => "less_than",
                ValidationErrorKind::MinItems { .. } => "too_short",
                ValidationErrorKind::MaxItems { .. } => "too_long",
                ValidationErrorKind::MinLength { .. } => "string_too_short",
                ValidationErrorKind::MaxLength { .. } => "string_too_long",
                ValidationErrorKind::Enum { .. } => "enum",
                ValidationErrorKind::Constant { .. } => "literal_error",
                ValidationErrorKind::Pattern { .. } => "string_pattern_mismatch",
                _ => "value_error",
            };
            out.push(InputProblem::new(code, loc, error.to_string(), instance.clone()));
        }
    }
}

/// Pydantic's error code and wording for a value of the wrong type.
fn type_problem(expected: JsonType, got: &Value) -> (&'static str, &'static str) {
    let parsing = got.is_string();
    match expected {
        JsonType::Integer if parsing => ("int_parsing", "a valid integer, unable to parse string as an integer"),
        JsonType::Integer if got.is_f64() => ("int_from_float", "a valid integer, got a number with a fractional part"),
        JsonType::Integer => ("int_type", "a valid integer"),
        JsonType::Number if parsing => ("float_parsing", "a valid number, unable to parse string as a number"),
        JsonType::Number => ("float_type", "a valid number"),
        JsonType::String => ("string_type", "a valid string"),
        JsonType::Boolean if parsing => ("bool_parsing", "a valid boolean, unable to interpret input"),
        JsonType::Boolean => ("bool_type", "a valid boolean"),
        JsonType::Array => ("list_type", "a valid list"),
        JsonType::Object => ("dict_type", "a valid dictionary or object"),
        JsonType::Null => ("none_required", "None"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn validator() -> Validator {
        Validator::new(&json!({
            "type": "object",
            "properties": {"by": {"type": "integer"}, "name": {"type": "string"}},
            "required": ["name"],
            "additionalProperties": false
        }))
        .expect("schema compiles")
    }

    #[test]
    fn lists_every_problem_with_its_location() {
        let problems = validator().problems(&json!({"by": "x", "extra": 1}), &["body".into()]);
        let mut kinds: Vec<_> = problems.iter().map(|p| (p.kind, p.loc.clone())).collect();
        kinds.sort_by_key(|(k, _)| *k);
        assert_eq!(
            kinds,
            vec![
                ("extra_forbidden", vec!["body".into(), "extra".into()]),
                ("int_parsing", vec!["body".into(), "by".into()]),
                ("missing", vec!["body".into(), "name".into()]),
            ]
        );
    }

    #[test]
    fn valid_input_has_no_problems() {
        assert!(validator().problems(&json!({"name": "a", "by": 2}), &[]).is_empty());
    }
}
