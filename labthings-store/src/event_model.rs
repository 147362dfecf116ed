//! A record as Bluesky event-model documents, so facility tools that read
//! Bluesky's documents (databroker, Tiled's importers, suitcases) can take
//! a lab's results: a `start` (the call, who asked, the input and the
//! states of every thing when it started), a `primary` stream with an
//! `event` per intermediate result, an `output` stream with the output,
//! and a `stop` saying how it ended.
//!
//! Each document is `[name, document]`, as Bluesky's callbacks receive them.
//! Blob outputs appear as their links; their bytes are files of the
//! archive export.
//!
//! ```
//! use labthings_core::record::Record;
//! use labthings_core::{Invocation, log::LogBuffer};
//! use std::time::Duration;
//! let invocation = Invocation::new("stage", "home", serde_json::json!({}), Duration::ZERO, LogBuffer::new(10));
//! invocation.start();
//! invocation.finish(Ok(serde_json::json!([0, 0, 0])));
//! let documents = labthings_store::event_model::documents(&Record::of(&invocation));
//! let names: Vec<&str> = documents.iter().filter_map(|d| d[0].as_str()).collect();
//! assert_eq!(names, ["start", "descriptor", "event", "stop"]);
//! ```

use chrono::{DateTime, Utc};
use labthings_core::InvocationStatus;
use labthings_core::failure::Failure;
use labthings_core::record::Record;
use serde_json::{Map, Value, json};

/// Seconds since the Unix epoch, as event-model's times are.
fn epoch(t: DateTime<Utc>) -> f64 {
    // Microseconds fit an f64 exactly for the next few hundred years.
    t.timestamp_micros() as f64 / 1e6
}

/// The broad JSON type event-model names for `value`.
fn dtype(value: &Value) -> &'static str {
    match value {
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::Array(_) => "array",
        Value::String(_) | Value::Null | Value::Object(_) => "string",
    }
}

/// The shape event-model gives `value`: `[]` for a scalar, its length for
/// an array (nested arrays by their first element).
fn shape(value: &Value) -> Vec<Value> {
    let mut shape = Vec::new();
    let mut at = value;
    while let Value::Array(items) = at {
        shape.push(Value::from(items.len()));
        match items.first() {
            Some(first) => at = first,
            None => break,
        }
    }
    shape
}

/// A key event-model accepts: no `.` or `/`.
fn key(name: &str) -> String {
    name.replace(['.', '/'], "_")
}

/// `value` as an event's data: an object's fields, or else one field
/// `name`. A field that is itself an object (which event-model's types do
/// not include) is its JSON text.
fn data_of(value: &Value, name: &str) -> Map<String, Value> {
    let flat = |v: &Value| match v {
        Value::Object(_) => Value::String(v.to_string()),
        other => other.clone(),
    };
    match value {
        Value::Object(fields) => fields.iter().map(|(k, v)| (key(k), flat(v))).collect(),
        other => Map::from_iter([(key(name), flat(other))]),
    }
}

/// A descriptor of the stream `name` whose events hold `first`'s keys.
fn descriptor(record: &Record, run_start: &str, name: &str, first: &Map<String, Value>, time: f64) -> Value {
    let source = format!("labthings:{}.{}/{name}", record.thing, record.action);
    let data_keys: Map<String, Value> = first
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                json!({"dtype": dtype(v), "shape": shape(v), "source": source}),
            )
        })
        .collect();
    json!({
        "uid": format!("{run_start}-{name}"),
        "run_start": run_start,
        "time": time,
        "name": name,
        "data_keys": data_keys,
    })
}

/// An event of the stream whose descriptor is `descriptor_uid`.
fn event(descriptor_uid: &str, seq_num: usize, data: Map<String, Value>, time: f64) -> Value {
    let timestamps: Map<String, Value> = data.keys().map(|k| (k.clone(), json!(time))).collect();
    json!({
        "uid": format!("{descriptor_uid}-{seq_num}"),
        "descriptor": descriptor_uid,
        "seq_num": seq_num,
        "time": time,
        "data": data,
        "timestamps": timestamps,
    })
}

/// `record` as event-model documents, each `[name, document]`.
pub fn documents(record: &Record) -> Vec<Value> {
    let run_start = record.id.to_string();
    let started = record.started.unwrap_or(record.requested);
    let ended = record.completed.unwrap_or(started);
    let mut start = json!({
        "uid": run_start,
        "time": epoch(record.requested),
        "plan_name": format!("{}.{}", record.thing, record.action),
        "thing": record.thing,
        "action": record.action,
        "input": record.input,
        "user": record.caller.as_ref().map_or("anonymous", |c| c.name.as_str()),
        "thing_states": record.thing_states,
    });
    if let Some(caller) = &record.caller {
        start["binding"] = json!(caller.binding);
    }
    let mut documents = vec![json!(["start", start])];
    let mut num_events = Map::new();
    if let Some(first) = record.intermediate.first() {
        let first = data_of(first, "value");
        let descriptor = descriptor(record, &run_start, "primary", &first, epoch(started));
        let uid = descriptor["uid"].as_str().unwrap_or_default().to_owned();
        documents.push(json!(["descriptor", descriptor]));
        for (i, value) in record.intermediate.iter().enumerate() {
            let time = record.intermediate_times.get(i).copied().unwrap_or(started);
            documents.push(json!([
                "event",
                event(&uid, i + 1, data_of(value, "value"), epoch(time))
            ]));
        }
        num_events.insert("primary".into(), json!(record.intermediate.len()));
    }
    if let Some(output) = &record.output {
        let data = data_of(output, "output");
        let descriptor = descriptor(record, &run_start, "output", &data, epoch(ended));
        let uid = descriptor["uid"].as_str().unwrap_or_default().to_owned();
        documents.push(json!(["descriptor", descriptor]));
        documents.push(json!(["event", event(&uid, 1, data, epoch(ended))]));
        num_events.insert("output".into(), json!(1));
    }
    let (exit_status, reason) = match (&record.status, &record.error) {
        (InvocationStatus::Completed, _) => ("success", String::new()),
        (InvocationStatus::Cancelled, _) | (_, Some(Failure::Cancelled)) => ("abort", "cancelled".to_owned()),
        (_, Some(failure)) => ("fail", failure.to_string()),
        (status, None) => ("fail", format!("ended {status}")),
    };
    documents.push(json!(["stop", {
        "uid": format!("{run_start}-stop"),
        "run_start": run_start,
        "time": epoch(ended),
        "exit_status": exit_status,
        "reason": reason,
        "num_events": num_events,
    }]));
    documents
}
