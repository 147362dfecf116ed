//! Slots typed by a trait (`ThingSlot<dyn FocusStage>`), filled by any
//! Thing the builder is told provides it; and the start order slots give:
//! a thing starts after the things its slots hold and stops before them,
//! and things that hold each other are refused when the server is built.

mod common;

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/mock_lab.rs"]
mod mock_lab;

use labthings::prelude::*;
use labthings::testing::TestLab;
use labthings_sangaboard::Sangaboard;
use parking_lot::Mutex;
use serde_json::json;

#[test]
fn the_autofocus_uses_whichever_stage_provides_its_trait() {
    // The mock stage, and a (simulated) Sangaboard: the same autofocus.
    for stage in ["mock", "sangaboard"] {
        let builder = TestLab::builder()
            .provides::<mock_lab::Stage, dyn mock_lab::FocusStage>(|stage| stage)
            .provides::<Sangaboard, dyn mock_lab::FocusStage>(|stage| stage);
        let builder = match stage {
            "mock" => builder.thing("stage", mock_lab::Stage::default()),
            _ => builder.thing("stage", Sangaboard::simulated_at(100_000.0)),
        };
        let lab = builder
            .thing("camera", mock_lab::Camera::default())
            .thing("autofocus", mock_lab::Autofocus::default())
            .build()
            .expect("the lab builds");
        if stage == "mock" {
            lab.write("stage", "step_delay_ms", json!(0)).expect("a valid delay");
        }
        lab.write("camera", "exposure_ms", json!(0.01))
            .expect("a valid exposure");
        let scan = lab.call("autofocus", "scan", json!({"range": 60, "step": 20}));
        assert_eq!(scan.status, labthings::InvocationStatus::Completed, "{stage}: {scan:?}");
        // The mock camera is sharpest at z = 40; the scan from 0 measures
        // -60, -40, ..., 60 and moves to the sharpest.
        assert_eq!(scan.output, Some(json!(40)), "{stage}: {scan:?}");
        let z = match stage {
            "mock" => lab.read("stage", "position").expect("position")[2].clone(),
            _ => lab.read("stage", "position").expect("position")["z"].clone(),
        };
        assert_eq!(z, json!(40), "{stage}: the stage itself moved");
    }
}

#[test]
fn a_trait_slot_nobody_provides_says_how_to_provide_it() {
    let refused = Server::builder()
        .config(common::test_config())
        .thing("stage", mock_lab::Stage::default())
        .thing("camera", mock_lab::Camera::default())
        .thing("autofocus", mock_lab::Autofocus::default())
        .build()
        .expect_err("the stage is not said to provide FocusStage")
        .to_string();
    assert!(
        refused.contains("`autofocus` needs a `dyn FocusStage` for its slot `stage`")
            && refused.contains(".provides::<TheType, dyn FocusStage>"),
        "{refused}"
    );
    // An explicit connection to a thing that does not provide it is refused too.
    let wrong = mock_lab::builder()
        .thing("stage", mock_lab::Stage::default())
        .thing("camera", mock_lab::Camera::default())
        .thing("autofocus", mock_lab::Autofocus::default())
        .connect("autofocus", "stage", "camera")
        .build()
        .expect_err("a camera is not a stage")
        .to_string();
    assert!(wrong.contains("needs a `dyn FocusStage`"), "{wrong}");
}

/// What the hooks of the things below did, in order.
static HOOKS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// A microscope that needs a stage and a camera.
#[thing]
#[derive(Default)]
struct Microscope {
    #[slot]
    stage: ThingSlot<Motors>,
    #[slot]
    camera: ThingSlot<Sensor>,
}

#[thing]
impl Microscope {
    #[on_start]
    fn start(&self) {
        assert!(self.stage.get().on.lock().to_owned(), "the stage started first");
        HOOKS.lock().push("microscope started".into());
    }

    #[on_stop]
    fn stop(&self) {
        HOOKS.lock().push("microscope stopped".into());
    }
}

/// Motors, which need the power supply.
#[thing]
#[derive(Default)]
struct Motors {
    #[slot]
    power: ThingSlot<Power>,
    on: Mutex<bool>,
}

#[thing]
impl Motors {
    #[on_start]
    fn start(&self) {
        *self.on.lock() = true;
        HOOKS.lock().push("motors started".into());
    }

    #[on_stop]
    fn stop(&self) {
        HOOKS.lock().push("motors stopped".into());
    }
}

/// A camera sensor.
#[thing]
#[derive(Default)]
struct Sensor {}

#[thing]
impl Sensor {
    #[on_start]
    fn start(&self) {
        HOOKS.lock().push("sensor started".into());
    }

    #[on_stop]
    fn stop(&self) {
        HOOKS.lock().push("sensor stopped".into());
    }
}

/// The power supply.
#[thing]
#[derive(Default)]
struct Power {}

#[thing]
impl Power {
    #[on_start]
    fn start(&self) {
        HOOKS.lock().push("power started".into());
    }

    #[on_stop]
    fn stop(&self) {
        HOOKS.lock().push("power stopped".into());
    }
}

#[test]
fn things_start_after_what_their_slots_hold_and_stop_before_it() {
    // Listed in the worst order: each before what it needs.
    let lab = TestLab::builder()
        .thing("microscope", Microscope::default())
        .thing("motors", Motors::default())
        .thing("sensor", Sensor::default())
        .thing("power", Power::default())
        .build()
        .expect("the lab builds and starts");
    drop(lab);
    let hooks = HOOKS.lock().clone();
    let at = |what: &str| {
        hooks
            .iter()
            .position(|h| h == what)
            .unwrap_or_else(|| panic!("{what}: {hooks:?}"))
    };
    assert!(at("power started") < at("motors started"), "{hooks:?}");
    assert!(at("motors started") < at("microscope started"), "{hooks:?}");
    assert!(at("sensor started") < at("microscope started"), "{hooks:?}");
    assert!(at("microscope stopped") < at("motors stopped"), "{hooks:?}");
    assert!(at("microscope stopped") < at("sensor stopped"), "{hooks:?}");
    assert!(at("motors stopped") < at("power stopped"), "{hooks:?}");
    // The listing keeps the order the things were given in.
    let listed = Server::builder()
        .config(common::test_config())
        .thing("microscope", Microscope::default())
        .thing("motors", Motors::default())
        .thing("sensor", Sensor::default())
        .thing("power", Power::default())
        .build()
        .expect("builds");
    drop(listed);
}

/// Two things that hold each other.
#[thing]
#[derive(Default)]
struct Ping {
    #[slot]
    pong: ThingSlot<Pong>,
}

#[thing]
impl Ping {}

/// The other.
#[thing]
#[derive(Default)]
struct Pong {
    #[slot]
    ping: ThingSlot<Ping>,
}

#[thing]
impl Pong {}

#[test]
fn things_that_hold_each_other_are_refused_naming_the_circle() {
    let refused = Server::builder()
        .config(common::test_config())
        .thing("ping", Ping::default())
        .thing("pong", Pong::default())
        .build()
        .expect_err("a circle")
        .to_string();
    assert!(
        refused.contains("`ping` → `pong` → `ping`") && refused.contains("none can start first"),
        "{refused}"
    );
}
