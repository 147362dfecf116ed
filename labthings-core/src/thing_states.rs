//! The state of every thing of a lab at one moment ([`ThingStates`]), as an
//! invocation's record keeps it: taken when the invocation starts, as
//! metadata for its data.
//!
//! A recording lab takes it at every invocation's start, and the store
//! writes it into the invocation's row as it is. So it is held as that JSON
//! text: written once, straight from the things' properties, in one
//! allocation that the invocation and its records share (a record made
//! from the invocation copies no tree of JSON values, and the row's JSON
//! takes the text as it is).
//!
//! ```
//! use labthings_core::thing_states::ThingStates;
//! use serde_json::json;
//!
//! let states = ThingStates::from_map(json!({"stage": {"position": [0, 0, 0]}}).as_object().unwrap());
//! assert_eq!(states.as_json(), r#"{"stage":{"position":[0,0,0]}}"#);
//! assert_eq!(states.to_map()["stage"]["position"], json!([0, 0, 0]));
//! assert!(ThingStates::default().is_empty());
//! ```

use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// The state of every thing of a lab at one moment, by thing name: a JSON
/// object (each thing's state an object of its state properties), shared,
/// not copied, when cloned. The default names no thing.
#[derive(Clone, Default)]
pub struct ThingStates(Option<Arc<RawValue>>);

/// The text of no states.
const EMPTY: &str = "{}";

impl ThingStates {
    /// The states `map` holds.
    pub fn from_map(map: &Map<String, Value>) -> Self {
        if map.is_empty() {
            return Self::default();
        }
        Self(serde_json::value::to_raw_value(map).ok().map(Arc::from))
    }

    /// The states a JSON object's text holds; `None` when `json` is not a
    /// JSON object.
    pub fn from_json(json: String) -> Option<Self> {
        if !json.trim_start().starts_with('{') {
            return None;
        }
        RawValue::from_string(json).ok().map(|raw| Self(Some(Arc::from(raw))))
    }

    /// Its JSON text.
    pub fn as_json(&self) -> &str {
        self.0.as_deref().map_or(EMPTY, RawValue::get)
    }

    /// Whether it names no thing.
    pub fn is_empty(&self) -> bool {
        self.as_json()
            .bytes()
            .filter(|b| !b.is_ascii_whitespace())
            .eq(EMPTY.bytes())
    }

    /// Each thing's state, by name.
    pub fn to_map(&self) -> Map<String, Value> {
        serde_json::from_str(self.as_json()).unwrap_or_default()
    }
}

impl std::fmt::Debug for ThingStates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_json())
    }
}

/// Equal when they hold the same states, however the text is spaced.
impl PartialEq for ThingStates {
    fn eq(&self, other: &Self) -> bool {
        self.as_json() == other.as_json() || self.to_map() == other.to_map()
    }
}

impl Serialize for ThingStates {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Some(raw) => raw.serialize(serializer),
            None => Map::new().serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for ThingStates {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Map::<String, Value>::deserialize(deserializer).map(|map| Self::from_map(&map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn states_read_back_as_they_were_written() {
        let map = json!({"stage": {"position": [1, 2, 3]}, "camera": {"exposure": 0.5}});
        let states = ThingStates::from_map(map.as_object().expect("an object"));
        assert_eq!(serde_json::to_value(&states).expect("serializes"), map);
        let again: ThingStates = serde_json::from_value(map.clone()).expect("deserializes");
        assert_eq!(again, states);
        let from_text: ThingStates = serde_json::from_str(
            r#"{ "stage": {"position": [1,2,3]},
            "camera": {"exposure": 0.5} }"#,
        )
        .expect("deserializes");
        assert_eq!(from_text, states, "spacing does not matter");
        assert_ne!(ThingStates::default(), states);
        assert!(!states.is_empty());
    }

    #[test]
    fn only_an_object_is_states() {
        assert!(ThingStates::from_json("[1, 2]".into()).is_none());
        assert!(ThingStates::from_json("{\"stage\": ".into()).is_none());
        let states = ThingStates::from_json("{\"stage\": {}}".into()).expect("an object");
        assert_eq!(states.to_map()["stage"], json!({}));
        assert!(serde_json::from_str::<ThingStates>("3").is_err());
    }
}
