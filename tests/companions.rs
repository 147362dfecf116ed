//! A program's own companion (`ServerBuilder::companion`), run beside the
//! server from the same list as the MQTT binding and discovery: its forms
//! are in every TD the server serves, it starts after the things have
//! started (seeing the server as its `Host`) and stops after they have
//! stopped, and one that cannot start is left out while the server serves.

mod common;

use std::sync::Arc;

use common::start;
use labthings::core::companion::{AffordanceRef, Companion, Host, Running};
use labthings::prelude::*;
use labthings::td::{Form, Operation};
use labthings::{Server, ThingInstance};
use parking_lot::Mutex;
use serde_json::json;

/// What happened, in order.
type Journal = Arc<Mutex<Vec<String>>>;

/// A lamp that writes its start and stop in the journal.
#[thing]
struct Lamp {
    journal: Journal,
    /// Whether it is on.
    #[property]
    on: DataProperty<bool>,
}

#[thing]
impl Lamp {
    #[on_start]
    fn switch_on(&self) {
        self.journal.lock().push("lamp started".into());
    }

    #[on_stop]
    fn switch_off(&self) {
        self.journal.lock().push("lamp stopped".into());
    }

    /// Flash once.
    #[action]
    fn flash(&self) {}
}

/// A binding of its own: a form per property, and a journal of what the
/// server told it.
struct Beacon {
    journal: Journal,
}

impl Companion for Beacon {
    fn name(&self) -> &'static str {
        "beacon"
    }

    fn forms(&self, things: &[Arc<ThingInstance>], thing: usize, affordance: AffordanceRef) -> Vec<Form> {
        let name = things[thing].name();
        match affordance {
            AffordanceRef::Property(0) => vec![Form::new(format!("beacon://lab/{name}/on"), [Operation::ReadProperty])],
            _ => Vec::new(),
        }
    }

    fn start(&self, host: Arc<dyn Host>) -> Result<Running, String> {
        let td = host.thing_description(0).ok_or("no thing 0")?;
        let forms = td.properties.get("on").map_or(0, |on| on.forms.len());
        self.journal.lock().push(format!(
            "beacon started at {} with {} things, {forms} forms for `on`",
            host.base_url(),
            host.lab().things().len()
        ));
        let journal = self.journal.clone();
        Ok(Running::new(move || async move {
            journal.lock().push("beacon stopped".into())
        }))
    }
}

/// A companion that cannot start.
struct Broken;

impl Companion for Broken {
    fn name(&self) -> &'static str {
        "broken"
    }

    fn start(&self, _: Arc<dyn Host>) -> Result<Running, String> {
        Err("no hardware for it".into())
    }
}

#[tokio::test]
async fn a_companion_adds_forms_starts_after_the_things_and_stops_after_them() {
    let journal = Journal::default();
    let server = Server::builder()
        .config(common::test_config())
        .thing(
            "lamp",
            Lamp {
                journal: journal.clone(),
                on: DataProperty::new(false),
            },
        )
        .companion(Broken)
        .companion(Beacon {
            journal: journal.clone(),
        })
        .build()
        .expect("build");
    let served = start(server).await;

    let (status, td) = served.get("/lamp/").await;
    assert_eq!(status, 200);
    let forms = td["properties"]["on"]["forms"].as_array().expect("forms");
    assert_eq!(
        forms.last().expect("a form")["href"],
        "beacon://lab/lamp/on",
        "the companion's form follows the HTTP ones"
    );
    let (_, listing) = served.get("/thing_descriptions/").await;
    assert_eq!(listing["lamp"], td, "the listing holds the same TD");
    // The broken companion is left out; the server serves its things.
    let (status, _) = served.post("/lamp/flash", json!({})).await;
    assert_eq!(status, 201);

    let url = served.url.clone();
    drop(served);
    for _ in 0..100 {
        if journal.lock().len() >= 4 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let http_forms = forms.len() - 1;
    assert_eq!(
        *journal.lock(),
        vec![
            "lamp started".to_owned(),
            format!(
                "beacon started at {url}/ with 1 things, {} forms for `on`",
                http_forms + 1
            ),
            "lamp stopped".to_owned(),
            "beacon stopped".to_owned(),
        ]
    );
}
