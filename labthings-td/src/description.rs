//! A whole Thing Description.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{ActionAffordance, EventAffordance, Form, Object, OneOrMany, PropertyAffordance};

/// A Thing Description: who the Thing is, its affordances and their forms,
/// the security schemes its forms need, and links to related resources.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThingDescription {
    /// The JSON-LD context: the TD vocabulary and any prefixes the TD's
    /// terms use (`{"mqv": …}`).
    #[serde(rename = "@context", default)]
    pub context: OneOrMany<Value>,
    /// Its identifier (a URN for ours: `urn:labthings:stage`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// A human-readable name.
    #[serde(default)]
    pub title: String,
    /// What it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The URL relative `href`s are resolved against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    /// The security schemes its forms may name, by name (each a TD
    /// security scheme object: `{"scheme": "bearer", …}`).
    #[serde(rename = "securityDefinitions", default)]
    pub security_definitions: Object,
    /// The schemes every form needs unless it names its own.
    #[serde(default)]
    pub security: OneOrMany<String>,
    /// Its properties, in declaration order.
    #[serde(default)]
    pub properties: IndexMap<String, PropertyAffordance>,
    /// Its actions.
    #[serde(default)]
    pub actions: IndexMap<String, ActionAffordance>,
    /// Forms that act on the whole Thing (`readallproperties`,
    /// `queryallactions`, …).
    #[serde(default, deserialize_with = "crate::lenient::skip_bad")]
    pub forms: Vec<Form>,
    /// Data schemas that forms name (`additionalResponses`).
    #[serde(rename = "schemaDefinitions", default, skip_serializing_if = "Option::is_none")]
    pub schema_definitions: Option<Object>,
    /// Its events.
    #[serde(default)]
    pub events: IndexMap<String, EventAffordance>,
    /// Related resources (a camera stream, a page).
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::lenient::skip_bad"
    )]
    pub links: Vec<Link>,
    /// Terms this model does not name, as written.
    #[serde(flatten)]
    pub extra: Object,
}

impl ThingDescription {
    /// Every form: the Thing's own, then each property's, action's and
    /// event's, for changing them all alike (a security term, a base).
    pub fn forms_mut(&mut self) -> impl Iterator<Item = &mut Form> {
        let properties = self.properties.values_mut().flat_map(|p| p.forms.iter_mut());
        let actions = self.actions.values_mut().flat_map(|a| a.forms.iter_mut());
        let events = self.events.values_mut().flat_map(|e| e.forms.iter_mut());
        properties.chain(actions).chain(events).chain(self.forms.iter_mut())
    }

    /// The TD as JSON, exactly as it serialises.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// A link to a resource related to the Thing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Link {
    /// Where it is.
    pub href: String,
    /// Its media type (`multipart/x-mixed-replace` for a camera stream).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// How it relates (`alternate`, `item`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rel: Option<String>,
    /// Terms this model does not name, as written.
    #[serde(flatten)]
    pub extra: Object,
}

#[cfg(test)]
mod tests {
    use super::ThingDescription;
    use serde_json::json;

    #[test]
    fn a_td_reads_and_writes_back_unchanged() {
        let td = json!({
            "@context": ["https://www.w3.org/2019/wot/td/v1", "https://www.w3.org/2022/wot/td/v1.1", {"mqv": "x#"}],
            "id": "urn:labthings:stage",
            "title": "Stage",
            "base": "http://127.0.0.1:5000/",
            "securityDefinitions": {"no_security": {"description": "No security", "scheme": "nosec"}},
            "security": "no_security",
            "properties": {"position": {"type": "array", "title": "position", "readOnly": true,
                "writeOnly": false, "observable": true, "forms": [
                    {"href": "/stage/position", "op": ["readproperty"], "contentType": "application/json"},
                    {"href": "mqtt://b/stage/position", "op": ["readproperty"], "mqv:retain": true, "security": ["mqtt_sc"]}
                ]}},
            "actions": {"home": {"title": "home", "safe": false, "idempotent": false, "forms": [
                {"href": "/stage/home", "op": "invokeaction", "htv:methodName": "POST",
                 "additionalResponses": [{"success": true, "contentType": "application/json", "schema": "invocation"}]}
            ], "x:own": 1}},
            "forms": [{"href": "http://127.0.0.1:5000/stage/", "op": ["readallproperties"]}],
            "schemaDefinitions": {"invocation": {"type": "object"}},
            "events": {"moved": {"title": "moved", "data": {"type": "null"}, "forms": []}},
            "links": [{"href": "/camera/stream", "type": "multipart/x-mixed-replace", "rel": "alternate"}]
        });
        let typed: ThingDescription = serde_json::from_value(td.clone()).expect("a TD");
        assert_eq!(typed.to_json().to_string(), td.to_string());
    }

    #[test]
    fn a_form_without_href_is_left_out_not_fatal() {
        let typed: ThingDescription = serde_json::from_value(json!({
            "title": "T",
            "properties": {"p": {"forms": [{"op": "readproperty"}, {"href": "/p"}]}}
        }))
        .expect("a TD");
        assert_eq!(typed.properties["p"].forms.len(), 1);
        assert_eq!(typed.properties["p"].forms[0].href, "/p");
    }
}
