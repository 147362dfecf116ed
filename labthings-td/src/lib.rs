//! The W3C Web of Things Thing Description (TD 1.1) as Rust types.
//!
//! One model for everyone who writes or reads a TD in labthings: the
//! server builds one from a Thing's descriptor table, each binding (HTTP,
//! MQTT, …) contributes its [`Form`]s, the authentication layer sets the
//! security terms, and the client reads the TDs of any server (ours or
//! another WoT server) into the same types.
//!
//! Serialised with serde, a [`ThingDescription`] gives the JSON the server
//! serves, keys in the order its fields are declared; terms this model does
//! not name are kept in each type's `extra` map, so a TD read and written
//! again loses nothing.
//!
//! ```
//! use labthings_td::{Form, Operation, ThingDescription};
//!
//! let td: ThingDescription = serde_json::from_value(serde_json::json!({
//!     "@context": "https://www.w3.org/2022/wot/td/v1.1",
//!     "title": "Stage",
//!     "securityDefinitions": {"nosec_sc": {"scheme": "nosec"}},
//!     "security": "nosec_sc",
//!     "properties": {"position": {"type": "array", "readOnly": true,
//!         "forms": [{"href": "/stage/position", "op": "readproperty"}]}}
//! }))?;
//! let position = &td.properties["position"];
//! assert!(position.read_only);
//! let form: &Form = position.forms.first().expect("one form");
//! assert!(form.does(&Operation::ReadProperty));
//! assert_eq!(form.method_for(&Operation::ReadProperty), "GET");
//! # Ok::<(), serde_json::Error>(())
//! ```

mod affordance;
mod description;
mod form;
mod lenient;
mod one_or_many;
mod operation;
mod schema;

pub use affordance::{ActionAffordance, EventAffordance, PropertyAffordance};
pub use description::{Link, ThingDescription};
pub use form::{AdditionalResponse, Form};
pub use indexmap::IndexMap;
pub use one_or_many::OneOrMany;
pub use operation::Operation;
pub use schema::td_data_schema;

/// The TD 1.1 JSON-LD context.
pub const TD_CONTEXT: &str = "https://www.w3.org/2022/wot/td/v1.1";

/// The TD 1.0 JSON-LD context, which TD 1.1 documents may list first.
pub const TD_CONTEXT_V1: &str = "https://www.w3.org/2019/wot/td/v1";

/// The IRI of labthings' own TD terms, declared in a TD's `@context` under
/// the prefix `lt` when the TD uses one: only `lt:intermediate` so far (see
/// [`ActionAffordance::intermediate`]).
pub const LABTHINGS_VOCABULARY: &str = "urn:labthings:td#";

/// The content type of JSON forms and responses.
pub const JSON: &str = "application/json";

/// A JSON object: the schema keywords and extra terms the model keeps as
/// they were written.
pub type Object = serde_json::Map<String, serde_json::Value>;
