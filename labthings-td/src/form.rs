//! A form: how to perform some operations on an affordance with one
//! protocol.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Object, OneOrMany, Operation};

/// One form of an affordance (or of the whole Thing).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Form {
    /// The target: relative to the TD's `base` or absolute; may be a URI
    /// template (`/action_invocations/{id}`).
    pub href: String,
    /// The operations the form performs.
    #[serde(default)]
    pub op: OneOrMany<Operation>,
    /// A subprotocol (`sse` for Server-Sent Events, `websocket`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subprotocol: Option<String>,
    /// The content type of what is sent and answered.
    #[serde(rename = "contentType", default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// The HTTP method (`htv:methodName`) when it is not the binding's
    /// default for the operation.
    #[serde(rename = "htv:methodName", default, skip_serializing_if = "Option::is_none")]
    pub method_name: Option<String>,
    /// Other answers the form may give on success.
    #[serde(
        rename = "additionalResponses",
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::lenient::skip_bad"
    )]
    pub additional_responses: Vec<AdditionalResponse>,
    /// Terms of the form's protocol binding (`mqv:controlPacket`,
    /// `mqv:retain`, …) and any others, as written.
    #[serde(flatten)]
    pub extra: Object,
    /// The security schemes of this form, when they are not the TD's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security: Option<OneOrMany<String>>,
}

impl Form {
    /// A form to `href` performing `ops`, with nothing else said.
    pub fn new(href: impl Into<String>, ops: impl IntoIterator<Item = Operation>) -> Self {
        Self {
            href: href.into(),
            op: OneOrMany::Many(ops.into_iter().collect()),
            subprotocol: None,
            content_type: None,
            method_name: None,
            additional_responses: Vec::new(),
            extra: Object::new(),
            security: None,
        }
    }

    /// Whether the form performs `op`.
    pub fn does(&self, op: &Operation) -> bool {
        self.op.contains(op)
    }

    /// Whether every operation of the form only reads (see
    /// [`Operation::only_reads`]); `false` for a form of none.
    pub fn only_reads(&self) -> bool {
        let mut ops = self.op.iter().peekable();
        ops.peek().is_some() && ops.all(Operation::only_reads)
    }

    /// The HTTP method for `op`: the form's `htv:methodName`, else the WoT
    /// HTTP binding's default for the operation.
    pub fn method_for<'a>(&'a self, op: &Operation) -> &'a str {
        self.method_name.as_deref().unwrap_or_else(|| op.default_method())
    }
}

/// An answer a form may give besides its default one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdditionalResponse {
    /// Whether the answer is a success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success: Option<bool>,
    /// Its content type.
    #[serde(rename = "contentType", default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Its data schema (a `schemaDefinitions` name, or a schema).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Value>,
}
