//! The interaction affordances of a TD: properties, actions, events.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Form, Object};

/// A property: its data schema (with its `title` and `description`), how
/// it may be used, and its forms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PropertyAffordance {
    /// The data schema keywords (`type`, `minimum`, `items`, …) together
    /// with `title` and `description`, in the order they were written.
    #[serde(flatten)]
    pub schema: Object,
    /// Whether it can only be read.
    #[serde(rename = "readOnly", default)]
    pub read_only: bool,
    /// Whether it can only be written.
    #[serde(rename = "writeOnly", default)]
    pub write_only: bool,
    /// Whether its changes can be observed.
    #[serde(default)]
    pub observable: bool,
    /// Its forms, preferred first.
    #[serde(default, deserialize_with = "crate::lenient::skip_bad")]
    pub forms: Vec<Form>,
}

impl PropertyAffordance {
    /// Its `title`, if it has one.
    pub fn title(&self) -> Option<&str> {
        self.schema.get("title").and_then(Value::as_str)
    }
}

/// An action: its input and output schemas, how it behaves, its forms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionAffordance {
    /// A human-readable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// What it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The data schema of its input, if it takes one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Value>,
    /// The data schema of its output, if it gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// The data schema of its intermediate results: a labthings term
    /// (`lt:intermediate`), declared in the TD's `@context`.
    #[serde(rename = "lt:intermediate", default, skip_serializing_if = "Option::is_none")]
    pub intermediate: Option<Value>,
    /// Whether it only reads.
    #[serde(default)]
    pub safe: bool,
    /// Whether calling it twice does what calling it once does.
    #[serde(default)]
    pub idempotent: bool,
    /// Whether its (first) form answers with the output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synchronous: Option<bool>,
    /// The variables of its forms' URI templates.
    #[serde(rename = "uriVariables", default, skip_serializing_if = "Option::is_none")]
    pub uri_variables: Option<Object>,
    /// Its forms, preferred first.
    #[serde(default, deserialize_with = "crate::lenient::skip_bad")]
    pub forms: Vec<Form>,
    /// Terms this model does not name, as written.
    #[serde(flatten)]
    pub extra: Object,
}

/// An event: the schema of its data and its forms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventAffordance {
    /// A human-readable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// What it tells.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The data schema of each notification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    /// Its forms, preferred first.
    #[serde(default, deserialize_with = "crate::lenient::skip_bad")]
    pub forms: Vec<Form>,
    /// Terms this model does not name, as written.
    #[serde(flatten)]
    pub extra: Object,
}
