//! A W3C WoT Thing Description (TD 1.1) as a client reads it: each
//! affordance with its schema and its HTTP forms (href, operations,
//! method, subprotocol), resolved against the TD's `base`.

pub use labthings_td::Form;
use labthings_td::Operation;
use serde_json::Value;
use url::Url;

use crate::error::{ClientError, Result};

/// One property, action or event.
#[derive(Debug, Clone, PartialEq)]
pub struct Affordance {
    /// Its name (its key in the TD).
    pub name: String,
    /// Its whole TD entry (schema keywords, `title`, `input`, `output`, ...).
    pub description: Value,
    /// Its forms, in the TD's order (clients prefer the first that fits),
    /// each `href` resolved against the TD's `base`.
    pub forms: Vec<Form>,
}

impl Affordance {
    /// The first form that performs `op`, if any; with `subprotocol`, only
    /// a form of that subprotocol, without, only a form of none.
    pub fn form(&self, op: &Operation, subprotocol: Option<&str>) -> Option<&Form> {
        self.forms
            .iter()
            .find(|f| f.does(op) && f.subprotocol.as_deref() == subprotocol)
    }

    /// `title`, if the TD gives one.
    pub fn title(&self) -> Option<&str> {
        self.description.get("title").and_then(Value::as_str)
    }

    /// Whether the TD marks it `readOnly`.
    pub fn read_only(&self) -> bool {
        self.description
            .get("readOnly")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    /// Whether the TD marks it `observable`.
    pub fn observable(&self) -> bool {
        self.description
            .get("observable")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }
}

/// A Thing Description, read.
#[derive(Debug, Clone)]
pub struct ThingDescription {
    /// The TD as the server sent it.
    pub raw: Value,
    /// The TD as typed values, every form's `href` resolved.
    pub typed: labthings_td::ThingDescription,
    /// Its `title`.
    pub title: String,
    /// Its properties, in the TD's order.
    pub properties: Vec<Affordance>,
    /// Its actions.
    pub actions: Vec<Affordance>,
    /// Its events.
    pub events: Vec<Affordance>,
    /// Its top-level forms (`queryallactions`, ...).
    pub forms: Vec<Form>,
}

impl ThingDescription {
    /// Read `raw`, fetched from `url`: hrefs are resolved against the TD's
    /// `base`, or against `url` when it has none. A form that cannot be
    /// read (no `href`) is left out; a TD whose parts have the wrong types
    /// is refused, naming the part.
    pub fn parse(raw: Value, url: &Url) -> Result<Self> {
        if !raw.is_object() {
            return Err(ClientError::Protocol(format!(
                "{url} is not a Thing Description: it is not a JSON object"
            )));
        }
        let mut typed: labthings_td::ThingDescription = serde_json::from_value(raw.clone())
            .map_err(|e| ClientError::Protocol(format!("{url} is not a Thing Description: {e}")))?;
        let base = match typed.base.as_deref() {
            Some(base) => url
                .join(base)
                .map_err(|e| ClientError::Protocol(format!("the TD's base {base:?} is not a URL: {e}")))?,
            None => url.clone(),
        };
        for form in typed.forms_mut() {
            form.href = resolve(&base, &form.href);
        }
        Ok(Self {
            title: typed.title.clone(),
            properties: typed.properties.iter().map(|(n, a)| entry(n, a, &a.forms)).collect(),
            actions: typed.actions.iter().map(|(n, a)| entry(n, a, &a.forms)).collect(),
            events: typed.events.iter().map(|(n, a)| entry(n, a, &a.forms)).collect(),
            forms: typed.forms.clone(),
            typed,
            raw,
        })
    }

    /// Property `name`.
    pub fn property(&self, name: &str) -> Result<&Affordance> {
        find(&self.properties, name, "property", &self.title)
    }

    /// Action `name`.
    pub fn action(&self, name: &str) -> Result<&Affordance> {
        find(&self.actions, name, "action", &self.title)
    }

    /// Event `name`.
    pub fn event(&self, name: &str) -> Result<&Affordance> {
        find(&self.events, name, "event", &self.title)
    }
}

fn find<'a>(list: &'a [Affordance], name: &str, what: &str, title: &str) -> Result<&'a Affordance> {
    list.iter().find(|a| a.name == name).ok_or_else(|| {
        let known: Vec<&str> = list.iter().map(|a| a.name.as_str()).collect();
        ClientError::NotFound(format!(
            "{title:?} has no {what} `{name}`; its {what} names are: {}",
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        ))
    })
}

/// An affordance of the typed TD as the client keeps it.
fn entry<A: serde::Serialize>(name: &str, affordance: &A, forms: &[Form]) -> Affordance {
    Affordance {
        name: name.to_owned(),
        description: serde_json::to_value(affordance).unwrap_or(Value::Null),
        forms: forms.to_vec(),
    }
}

/// `href` resolved against `base`, with any `{..}` template variables kept
/// as written (URL parsing would escape the braces).
fn resolve(base: &Url, href: &str) -> String {
    const OPEN: &str = "__labthings_open__";
    const CLOSE: &str = "__labthings_close__";
    let escaped = href.replace('{', OPEN).replace('}', CLOSE);
    match base.join(&escaped) {
        Ok(url) => url.as_str().replace(OPEN, "{").replace(CLOSE, "}"),
        Err(_) => href.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn forms_are_resolved_against_the_base_and_templates_kept() {
        let url = Url::parse("http://127.0.0.1:5000/stage/").expect("a URL");
        let td = ThingDescription::parse(
            json!({
                "title": "Stage",
                "base": "http://127.0.0.1:5000/",
                "properties": {"position": {"type": "array", "readOnly": true,
                    "forms": [{"href": "/stage/position", "op": "readproperty"}]}},
                "actions": {"home": {"forms": [
                    {"href": "/stage/home?return=output", "op": ["invokeaction"], "htv:methodName": "POST"},
                    {"href": "/action_invocations/{id}", "op": ["queryaction"]}
                ]}}
            }),
            &url,
        )
        .expect("a TD");
        let position = td.property("position").expect("position");
        assert!(position.read_only());
        assert_eq!(
            position.form(&Operation::ReadProperty, None).map(|f| f.href.as_str()),
            Some("http://127.0.0.1:5000/stage/position")
        );
        let home = td.action("home").expect("home");
        assert_eq!(home.forms[1].href, "http://127.0.0.1:5000/action_invocations/{id}");
        assert_eq!(home.forms[0].method_for(&Operation::InvokeAction), "POST");
        match td.property("speed") {
            Err(ClientError::NotFound(message)) => assert!(message.contains("position"), "{message}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn anything_but_an_object_is_refused() {
        let url = Url::parse("http://h/").expect("a URL");
        assert!(matches!(
            ThingDescription::parse(json!([1]), &url),
            Err(ClientError::Protocol(_))
        ));
    }
}
