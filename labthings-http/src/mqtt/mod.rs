//! The W3C WoT MQTT binding: a second binding of the same affordances, on
//! an existing broker (Eclipse Mosquitto), opt-in by configuration.
//!
//! `binding.rs` is the table of topics and their TD forms; `run.rs` the
//! connection that publishes and listens; `outbox.rs` what waits for the
//! broker; `replies.rs` the response topics
//! clients asked for; `config.rs` how to reach the broker. Topics, under the prefix (`labthings/{client_id}` by default):
//!
//! | topic | carries |
//! | --- | --- |
//! | `{prefix}/status` | `online`, or `offline` (retained; also the Last Will) |
//! | `{prefix}/{thing}/td` | the thing's TD (retained) |
//! | `{prefix}/{thing}/properties/{name}` | each value of an observable property (retained) |
//! | `{prefix}/{thing}/properties/{name}/set` | new values, published by clients |
//! | `{prefix}/{thing}/actions/{name}` | inputs, published by clients: each starts an invocation |
//! | `{prefix}/{thing}/actions/{name}/invocations` | the invocation's JSON at each change |
//! | `{prefix}/{thing}/events/{name}` | each event's payload |
//!
//! An invocation published with an MQTT 5 response topic also gets its
//! updates there, with the client's correlation data (`replies.rs`).
//! `mqtts://` brokers are reached over TLS (`crate::tls::client_config`).

mod binding;
mod config;
mod outbox;
mod replies;
mod run;

pub use config::MqttConfig;
pub(crate) use run::spawn;

use serde_json::{Value, json};

use crate::state::AppState;

/// The TD's name for the broker's login.
const MQTT_SECURITY: &str = "mqtt_sc";

/// Add the MQTT forms of thing number `index` to its TD `td` (after the
/// HTTP ones), and the `mqv` prefix to its context.
pub(crate) fn add_forms(td: &mut Value, state: &AppState, index: usize) {
    let Some(config) = &state.config.mqtt else {
        return;
    };
    let Some(thing) = state.lab.things().get(index) else {
        return;
    };
    let topics = binding::topics(&config.prefix(), state.lab.things());
    if let Some(context) = td.get_mut("@context").and_then(Value::as_array_mut) {
        context.push(json!({"mqv": "http://www.example.org/mqtt-binding#"}));
    }
    // A broker the server logs in to wants its clients to log in too: the
    // MQTT forms say so, with a basic scheme of their own (the HTTP forms
    // keep the server's).
    let login = config.username.is_some();
    if login && let Some(definitions) = td.get_mut("securityDefinitions").and_then(Value::as_object_mut) {
        definitions.insert(
            MQTT_SECURITY.into(),
            json!({"scheme": "basic", "description": "a user name and password of the MQTT broker"}),
        );
    }
    let mut extend = |kind: &str, name: &str, affordance: binding::Affordance| {
        let mut forms = binding::forms(&topics, index, affordance, &config.broker);
        if login {
            for form in &mut forms {
                form["security"] = json!([MQTT_SECURITY]);
            }
        }
        if let Some(list) = td
            .get_mut(kind)
            .and_then(|k| k.get_mut(name))
            .and_then(|a| a.get_mut("forms"))
            .and_then(Value::as_array_mut)
        {
            list.extend(forms);
        }
    };
    for (p, property) in thing.properties().iter().enumerate() {
        extend("properties", property.name, binding::Affordance::Property(p));
    }
    for (a, action) in thing.actions().iter().enumerate() {
        extend("actions", action.name, binding::Affordance::Action(a));
    }
    for (e, event) in thing.events().iter().enumerate() {
        extend("events", event.name, binding::Affordance::Event(e));
    }
}
