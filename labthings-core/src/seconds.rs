//! Durations in configuration files, written as seconds (a number, whole or
//! not: `retention_s = 300`, `invoke_wait_s = 0.05`), for serde's `with`.
//!
//! ```
//! use std::time::Duration;
//! #[derive(serde::Deserialize)]
//! struct Limits {
//!     #[serde(rename = "wait_s", with = "labthings_core::seconds")]
//!     wait: Duration,
//! }
//! let limits: Limits = serde_json::from_str(r#"{"wait_s": 0.25}"#).expect("seconds");
//! assert_eq!(limits.wait, Duration::from_millis(250));
//! assert!(serde_json::from_str::<Limits>(r#"{"wait_s": -1}"#).is_err());
//! ```

use std::collections::HashMap;
use std::time::Duration;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serializer};

/// Read a number of seconds; a negative, infinite or too large one is an
/// error that says so.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let value = f64::deserialize(deserializer)?;
    Duration::try_from_secs_f64(value).map_err(|_| D::Error::custom(format!("{value} is not a duration in seconds")))
}

/// Write a duration as seconds.
pub fn serialize<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(duration.as_secs_f64())
}

/// Durations in seconds by name (`timeouts_s = { "camera.capture" = 120 }`).
pub mod by_name {
    use super::*;

    /// Read a table of seconds.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<HashMap<String, Duration>, D::Error> {
        let table = HashMap::<String, f64>::deserialize(deserializer)?;
        table
            .into_iter()
            .map(|(name, value)| {
                Duration::try_from_secs_f64(value)
                    .map(|duration| (name.clone(), duration))
                    .map_err(|_| D::Error::custom(format!("{name}: {value} is not a duration in seconds")))
            })
            .collect()
    }

    /// Write a table of seconds.
    pub fn serialize<S: Serializer>(table: &HashMap<String, Duration>, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(table.iter().map(|(name, d)| (name, d.as_secs_f64())))
    }
}
