//! Checking JSON input against a JSON Schema and reporting every problem.
//!
//! Each problem names its kind, its location in the input, a message and
//! the offending value (`type`, `loc`, `msg`, `input`), so a client is told
//! every wrong field at once.

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

/// `body.x: Input should be a valid integer` (the location, then the
/// message), as one line for logs and error chains.
///
/// ```
/// use labthings_core::InputProblem;
/// let problem = InputProblem::new("int_type", vec!["body".into(), "x".into()], "not an integer", serde_json::json!("a"));
/// assert_eq!(problem.to_string(), "body.x: not an integer");
/// ```
impl std::fmt::Display for InputProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.loc_path(), self.msg)
    }
}

/// Every problem of a list, `; ` between them.
pub(crate) fn problem_list(problems: &[InputProblem]) -> String {
    problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
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
    ///
    /// At most [`MAX_PROBLEMS`] are described; if there are more, a last
    /// problem of type `too_many_errors` says how many were left out, so an
    /// answer stays small whatever the input.
    pub fn problems(&self, instance: &Value, prefix: &[LocSegment]) -> Vec<InputProblem> {
        if self.inner.is_valid(instance) {
            return Vec::new();
        }
        let mut problems = Vec::new();
        let mut left_out = 0_usize;
        for error in self.inner.iter_errors(instance) {
            if problems.len() >= MAX_PROBLEMS {
                left_out = left_out.saturating_add(match error.kind() {
                    ValidationErrorKind::AdditionalProperties { unexpected } => unexpected.len(),
                    _ => 1,
                });
                continue;
            }
            left_out = left_out.saturating_add(describe(&error, prefix, &mut problems));
        }
        if problems.len() > MAX_PROBLEMS {
            left_out = left_out.saturating_add(problems.len() - MAX_PROBLEMS);
            problems.truncate(MAX_PROBLEMS);
        }
        if left_out > 0 {
            problems.push(InputProblem::new(
                "too_many_errors",
                prefix.to_vec(),
                format!("{left_out} more problems were found and are not listed; fix the ones above first"),
                Value::Null,
            ));
        }
        problems
    }
}

/// Turn every number with no fractional part written as a float (`1.0`)
/// into an integer (`1`), in place.
///
/// JSON Schema counts `1.0` as an `integer`, and LabThings-FastAPI (pydantic)
/// accepts it for an `int` field, but serde refuses a float for an integer
/// type. Inputs are normalized this way after validation and before
/// decoding, so schema and decoder agree. Float fields are unaffected: serde
/// reads the integer `1` as `1.0`.
///
/// ```
/// use labthings_core::validation::integral_floats_as_integers;
/// let mut value = serde_json::json!({"x": 1.0, "y": [2.0, 2.5]});
/// integral_floats_as_integers(&mut value);
/// assert_eq!(value, serde_json::json!({"x": 1, "y": [2, 2.5]}));
/// ```
pub fn integral_floats_as_integers(value: &mut Value) {
    match value {
        Value::Number(number) => {
            if let Some(float) = number.as_f64().filter(|_| number.is_f64())
                && float.fract() == 0.0
            {
                // Exact: the range checks keep the conversion lossless.
                if (-9_007_199_254_740_992.0..=9_007_199_254_740_992.0).contains(&float) {
                    #[allow(clippy::cast_possible_truncation)]
                    let integer = float as i64;
                    *value = Value::from(integer);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_floats_as_integers),
        Value::Object(map) => map.values_mut().for_each(integral_floats_as_integers),
        _ => {}
    }
}

/// The most problems described in one answer.
pub const MAX_PROBLEMS: usize = 20;

/// The longest echo of a bad input kept in a problem, in bytes of JSON.
pub const MAX_ECHO_BYTES: usize = 256;

/// `value` itself if its JSON is at most [`MAX_ECHO_BYTES`] long, else a
/// string holding the start of its JSON and saying it was cut (finding that
/// out costs at most that many bytes of serialization).
pub fn bounded_echo(value: &Value) -> Value {
    struct Capped(Vec<u8>);
    impl std::io::Write for Capped {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.0.len() + buf.len() > MAX_ECHO_BYTES {
                let room = MAX_ECHO_BYTES - self.0.len();
                self.0.extend_from_slice(&buf[..room]);
                return Err(std::io::Error::other("long"));
            }
            self.0.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut capped = Capped(Vec::with_capacity(MAX_ECHO_BYTES));
    if serde_json::to_writer(&mut capped, value).is_ok() {
        return value.clone();
    }
    let start = String::from_utf8_lossy(&capped.0);
    Value::String(format!("{start}... (cut: too long to echo)"))
}

/// Describe `error` into `out`; returns how many problems it held that were
/// not described (more unknown fields than [`MAX_PROBLEMS`]).
fn describe(error: &ValidationError<'_>, prefix: &[LocSegment], out: &mut Vec<InputProblem>) -> usize {
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
                bounded_echo(instance),
            ));
        }
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            let room = MAX_PROBLEMS.saturating_sub(out.len());
            for name in unexpected.iter().take(room) {
                let value = instance.get(name).map_or(Value::Null, bounded_echo);
                out.push(InputProblem::new(
                    "extra_forbidden",
                    at(name),
                    "Extra inputs are not permitted",
                    value,
                ));
            }
            return unexpected.len().saturating_sub(room);
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
                bounded_echo(instance),
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
            let mut message = error.to_string();
            if message.len() > MAX_ECHO_BYTES {
                let mut cut = MAX_ECHO_BYTES;
                while !message.is_char_boundary(cut) {
                    cut -= 1;
                }
                message.truncate(cut);
                message.push_str("... (cut)");
            }
            out.push(InputProblem::new(code, loc, message, bounded_echo(instance)));
        }
    }
    0
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
