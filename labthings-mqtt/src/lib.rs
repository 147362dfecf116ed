//! The W3C WoT MQTT binding of [labthings](https://crates.io/crates/labthings):
//! a second binding of the same affordances, on an existing broker (Eclipse
//! Mosquitto), opt-in by configuration. A server runs it as a
//! [`Companion`]: it starts actions, reads and writes through the same core
//! calls as HTTP ([`Lab::invoke`](labthings_core::Lab::invoke), the device
//! runtime), and publishes the TDs the server serves.
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
//! `mqtts://` brokers are reached over TLS (`tls.rs`).
//!
//! ```
//! use labthings_mqtt::{Mqtt, MqttConfig};
//! let binding = Mqtt::new(MqttConfig::new("mqtt://127.0.0.1:1883", "lab2")).expect("a usable broker address");
//! # let _ = binding;
//! assert!(Mqtt::new(MqttConfig::new("http://127.0.0.1", "lab2")).is_err());
//! ```

mod binding;
mod config;
mod outbox;
mod replies;
mod run;

use std::sync::Arc;

pub use config::MqttConfig;
use labthings_core::ThingInstance;
use labthings_core::companion::{AffordanceRef, Companion, Host, Running};
use labthings_td::{Form, OneOrMany};
use serde_json::{Value, json};

/// The MQTT binding of a server, made from its [`MqttConfig`].
#[derive(Debug, Clone)]
pub struct Mqtt {
    config: MqttConfig,
}

impl Mqtt {
    /// The binding `config` describes, or why a server should refuse to
    /// start with it (a broker address that is not `mqtt://` or
    /// `mqtts://`, a client id MQTT cannot carry).
    pub fn new(config: MqttConfig) -> Result<Self, String> {
        config.check()?;
        Ok(Self { config })
    }
}

impl Companion for Mqtt {
    fn name(&self) -> &'static str {
        "MQTT binding"
    }

    fn forms(&self, things: &[Arc<ThingInstance>], thing: usize, affordance: AffordanceRef) -> Vec<Form> {
        let affordance = match affordance {
            AffordanceRef::Property(p) => binding::Affordance::Property(p),
            AffordanceRef::Action(a) => binding::Affordance::Action(a),
            AffordanceRef::Event(e) => binding::Affordance::Event(e),
            _ => return Vec::new(),
        };
        let topics = binding::topics(&self.config.prefix(), things);
        let mut forms = binding::forms(&topics, thing, affordance, &self.config.broker);
        // A broker the server logs in to wants its clients to log in too:
        // the MQTT forms say so, with a basic scheme of their own (the HTTP
        // forms keep the server's).
        if self.config.username.is_some() {
            for form in &mut forms {
                form.security = Some(OneOrMany::Many(vec![MQTT_SECURITY.to_owned()]));
            }
        }
        forms
    }

    fn context(&self) -> Option<Value> {
        Some(json!({"mqv": "http://www.example.org/mqtt-binding#"}))
    }

    fn security_definitions(&self) -> Vec<(String, Value)> {
        match self.config.username {
            Some(_) => vec![(
                MQTT_SECURITY.to_owned(),
                json!({"scheme": "basic", "description": "a user name and password of the MQTT broker"}),
            )],
            None => Vec::new(),
        }
    }

    fn start(&self, host: Arc<dyn Host>) -> Result<Running, String> {
        let binding = run::spawn(host, &self.config)?;
        Ok(Running::new(move || binding.stop()))
    }
}

/// The TD's name for the broker's login.
const MQTT_SECURITY: &str = "mqtt_sc";
