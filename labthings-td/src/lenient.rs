//! Reading lists a server may fill with entries this model cannot read: a
//! form without `href` is left out rather than refusing the whole TD.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// Deserialize a list, leaving out each entry that does not read as `T`.
pub(crate) fn skip_bad<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    let values = Option::<Value>::deserialize(deserializer)?;
    Ok(match values {
        Some(Value::Array(list)) => list
            .into_iter()
            .filter_map(|v| serde_json::from_value(v).ok())
            .collect(),
        _ => Vec::new(),
    })
}
