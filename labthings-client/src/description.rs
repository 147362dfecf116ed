//! A W3C WoT Thing Description (TD 1.1) as a client reads it: each
//! affordance with its schema and its HTTP forms (href, operations,
//! method, subprotocol), resolved against the TD's `base`.

use serde_json::{Map, Value};
use url::Url;

use crate::error::{ClientError, Result};

/// One form: how to perform some operations on an affordance over HTTP.
#[derive(Debug, Clone, PartialEq)]
pub struct Form {
    /// The target, resolved against the TD's `base` (a URI template's
    /// `{..}` variables are kept as written).
    pub href: String,
    /// The WoT operations (`readproperty`, `invokeaction`, ...).
    pub ops: Vec<String>,
    /// `htv:methodName`, if the form gives one.
    pub method: Option<String>,
    /// `subprotocol` (`sse` for Server-Sent Events).
    pub subprotocol: Option<String>,
    /// Whether the form declares an additional success response (ours
    /// does for the form that answers with an invocation rather than the
    /// output).
    pub additional_response: bool,
}

impl Form {
    /// Whether the form performs `op`.
    pub fn does(&self, op: &str) -> bool {
        self.ops.iter().any(|o| o == op)
    }

    /// The request method for `op`: the form's `htv:methodName`, else the
    /// WoT HTTP binding's default for the operation.
    pub fn method_for(&self, op: &str) -> reqwest::Method {
        if let Some(method) = &self.method
            && let Ok(method) = method.parse()
        {
            return method;
        }
        match op {
            "writeproperty" | "writeallproperties" | "writemultipleproperties" => reqwest::Method::PUT,
            "invokeaction" => reqwest::Method::POST,
            "cancelaction" => reqwest::Method::DELETE,
            _ => reqwest::Method::GET,
        }
    }
}

/// One property, action or event.
#[derive(Debug, Clone, PartialEq)]
pub struct Affordance {
    /// Its name (its key in the TD).
    pub name: String,
    /// Its whole TD entry (schema keywords, `title`, `input`, `output`, ...).
    pub description: Value,
    /// Its forms, in the TD's order (clients prefer the first that fits).
    pub forms: Vec<Form>,
}

impl Affordance {
    /// The first form that performs `op`, if any; with `subprotocol`, only
    /// a form of that subprotocol, without, only a form of none.
    pub fn form(&self, op: &str, subprotocol: Option<&str>) -> Option<&Form> {
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
    /// `base`, or against `url` when it has none.
    pub fn parse(raw: Value, url: &Url) -> Result<Self> {
        let Some(td) = raw.as_object() else {
            return Err(ClientError::Protocol(format!(
                "{url} is not a Thing Description: it is not a JSON object"
            )));
        };
        let base = match td.get("base").and_then(Value::as_str) {
            Some(base) => url
                .join(base)
                .map_err(|e| ClientError::Protocol(format!("the TD's base {base:?} is not a URL: {e}")))?,
            None => url.clone(),
        };
        let title = td.get("title").and_then(Value::as_str).unwrap_or("").to_owned();
        let affordances = |key: &str| -> Vec<Affordance> {
            td.get(key)
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .map(|(name, description)| Affordance {
                    name: name.clone(),
                    forms: forms(description.get("forms"), &base),
                    description: description.clone(),
                })
                .collect()
        };
        Ok(Self {
            title,
            properties: affordances("properties"),
            actions: affordances("actions"),
            events: affordances("events"),
            forms: forms(td.get("forms"), &base),
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

/// The forms of a `forms` array, each href resolved against `base`.
fn forms(forms: Option<&Value>, base: &Url) -> Vec<Form> {
    forms
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .filter_map(|form| read_form(form, base))
        .collect()
}

fn read_form(form: &Map<String, Value>, base: &Url) -> Option<Form> {
    let href = form.get("href")?.as_str()?;
    let ops = match form.get("op") {
        Some(Value::String(op)) => vec![op.clone()],
        Some(Value::Array(ops)) => ops.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        _ => Vec::new(),
    };
    Some(Form {
        href: resolve(base, href),
        ops,
        method: form.get("htv:methodName").and_then(Value::as_str).map(str::to_owned),
        subprotocol: form.get("subprotocol").and_then(Value::as_str).map(str::to_owned),
        additional_response: form.get("additionalResponses").is_some(),
    })
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
            position.form("readproperty", None).map(|f| f.href.as_str()),
            Some("http://127.0.0.1:5000/stage/position")
        );
        let home = td.action("home").expect("home");
        assert_eq!(home.forms[1].href, "http://127.0.0.1:5000/action_invocations/{id}");
        assert_eq!(home.forms[0].method_for("invokeaction"), reqwest::Method::POST);
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
