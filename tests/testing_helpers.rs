//! The testing helpers users test their own device code with
//! (`labthings::testing`), on the mock lab: no server, no sockets.

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/mock_lab.rs"]
mod mock_lab;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use labthings::InvocationStatus;
use labthings::core::Failure;
use labthings::prelude::*;
use labthings::testing::{InvocationScope, TestLab};
use serde_json::json;

fn mock_lab() -> TestLab {
    let lab = TestLab::builder()
        .provides::<mock_lab::Stage, dyn mock_lab::FocusStage>(|stage| stage)
        .thing("stage", mock_lab::Stage::default())
        .thing("camera", mock_lab::Camera::default())
        .thing("autofocus", mock_lab::Autofocus::default())
        .build()
        .expect("the mock lab builds");
    lab.write("stage", "step_delay_ms", json!(0)).expect("a valid delay");
    lab.write("camera", "exposure_ms", json!(0.01))
        .expect("a valid exposure");
    lab
}

#[test]
fn actions_are_called_as_the_server_calls_them_with_slots_filled() {
    let lab = mock_lab();
    let done = lab.call("autofocus", "scan", json!({"range": 60, "step": 10}));
    assert_eq!(done.status, InvocationStatus::Completed, "{:?}", done.error);
    assert_eq!(done.output, Some(json!(40)), "the mock focal plane is at z = 40");
    assert!(
        done.log.iter().any(|r| r.message.starts_with("axis 2 moved")),
        "{:?}",
        done.log
    );
    assert_eq!(lab.read("stage", "position"), Ok(json!([0, 0, 40])));
    assert_eq!(
        lab.get::<mock_lab::Autofocus>("autofocus").map(|a| a.best_z.get()),
        Some(Some(40))
    );
    // Input is checked as a client's would be.
    let refused = lab.call("stage", "move_relative", json!({"x": "far"}));
    assert_eq!(refused.status, InvocationStatus::Error);
    assert!(
        matches!(&refused.error, Some(Failure::BadRequest { detail }) if detail.contains("body.x") || detail.contains("x")),
        "{:?}",
        refused.error
    );
    assert!(lab.call("stage", "fly", json!({})).error.is_some());
}

#[test]
fn a_started_action_can_be_cancelled() {
    let lab = mock_lab();
    lab.write("stage", "step_delay_ms", json!(20)).expect("a valid delay");
    let invocation = lab
        .start("stage", "move_relative", json!({"x": 1000}))
        .expect("started");
    std::thread::sleep(Duration::from_millis(100));
    invocation.request_cancel();
    assert_eq!(invocation.wait(Duration::from_secs(10)), InvocationStatus::Cancelled);
    let x = lab.read("stage", "position").expect("readable")[0]
        .as_i64()
        .unwrap_or(0);
    assert!(x > 0 && x < 1000, "stopped part-way: {x}");
}

#[test]
fn device_methods_run_directly_in_a_scope_with_a_cancel_hook_and_a_log() {
    let stage = mock_lab::Stage::default();
    let scope = InvocationScope::new();
    let hook = scope.cancel_hook();
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        hook.cancel();
    });
    let moved = scope.run(|| stage.move_relative(1000, 0, 0, &scope.handle()));
    canceller.join().expect("the canceller");
    assert!(moved.is_err(), "cancelled part-way");
    let x = stage.position.get()[0];
    assert!(x > 0 && x < 1000, "{x}");
    // The move reported how far it got: one step in a thousand each.
    let progress = scope.progress().expect("progress reported");
    assert_eq!(progress.fraction, x as f64 / 1000.0);
    let log = scope.log();
    assert_eq!(log[0].message, "moving by [1000, 0, 0]", "{log:?}");
}

static STOPPED: AtomicBool = AtomicBool::new(false);

/// Records that it was stopped.
#[thing]
#[derive(Default)]
struct Recorder {}

#[thing]
impl Recorder {
    /// Note the stop.
    #[on_stop]
    fn close(&self) {
        STOPPED.store(true, Ordering::SeqCst);
    }
}

#[test]
fn dropping_the_lab_runs_the_stop_hooks() {
    let lab = TestLab::builder()
        .thing("recorder", Recorder::default())
        .build()
        .expect("builds");
    assert!(!STOPPED.load(Ordering::SeqCst));
    drop(lab);
    assert!(STOPPED.load(Ordering::SeqCst));
}

#[test]
fn async_device_code_runs_without_a_server_or_a_runtime() {
    // No tokio runtime here: the async hooks, getters and actions are driven
    // by one of their own.
    let lab = TestLab::builder()
        .thing("thermometer", mock_lab::Thermometer::default())
        .build()
        .expect("the thermometer starts");
    assert_eq!(
        lab.read("thermometer", "identity"),
        Ok(json!("MOCK-THERMO,SN 0042,1.0"))
    );
    assert!(lab.read("thermometer", "temperature").is_ok_and(|t| t.is_f64()));
    let done = lab.call("thermometer", "record", json!({"count": 3, "interval_ms": 1}));
    assert_eq!(done.status, InvocationStatus::Completed, "{:?}", done.error);
    assert_eq!(done.output.as_ref().and_then(|o| o.as_array()).map(Vec::len), Some(3));
    assert_eq!(done.log.len(), 3, "{:?}", done.log);
}

#[tokio::test(flavor = "current_thread")]
async fn async_device_code_runs_from_a_single_threaded_tokio_test() {
    // A user's #[tokio::test]: this thread is the runtime's only one, so the
    // async getters cannot be driven on it.
    let lab = TestLab::builder()
        .thing("thermometer", mock_lab::Thermometer::default())
        .build()
        .expect("the thermometer starts");
    assert!(lab.read("thermometer", "temperature").is_ok_and(|t| t.is_f64()));
    assert_eq!(lab.write("thermometer", "averaging", json!(2)), Ok(()));
    // An async action runs on the lab's runtime while this thread waits.
    let done = lab.call("thermometer", "record", json!({"count": 2, "interval_ms": 1}));
    assert_eq!(done.status, InvocationStatus::Completed, "{:?}", done.error);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_device_code_runs_from_a_multi_threaded_tokio_test() {
    let lab = TestLab::builder()
        .thing("thermometer", mock_lab::Thermometer::default())
        .build()
        .expect("the thermometer starts");
    assert!(lab.read("thermometer", "temperature").is_ok_and(|t| t.is_f64()));
}

/// `TestLab::read` and `write` go through the lab's own calls (`Lab::read`,
/// `Lab::write`), so a refused write says why as a server would, not as a
/// Rust `Debug` string.
#[test]
fn refused_writes_say_why_in_words() {
    let lab = mock_lab();
    let read_only = lab
        .write("stage", "position", json!([1, 2, 3]))
        .expect_err("position is read-only");
    assert_eq!(read_only, "the property is read-only");
    let invalid = lab
        .write("stage", "step_delay_ms", json!("slow"))
        .expect_err("not a number");
    assert!(invalid.starts_with("the value does not fit: "), "{invalid}");
    assert!(!invalid.contains("InputProblem"), "{invalid}");
    let missing = lab.read("stage", "speed").expect_err("no such property");
    assert!(
        matches!(&missing, Failure::BadRequest { detail } if detail.contains("speed")),
        "{missing:?}"
    );
}

/// Logs at every level.
#[thing]
#[derive(Default)]
struct Chatty {}

#[thing]
impl Chatty {
    /// Logs a debug and an info record; its log keeps debug records.
    #[action(log_level = "debug")]
    fn verbose(&self) {
        tracing::debug!("a debug detail");
        tracing::info!("an info line");
    }

    /// Logs the same; its log keeps what the configuration says.
    #[action]
    fn plain(&self) {
        tracing::debug!("a debug detail");
        tracing::info!("an info line");
    }

    /// Logs the same; its log keeps warnings and errors only.
    #[action(log_level = "warning")]
    fn terse(&self) {
        tracing::info!("an info line");
        tracing::warn!("a warning");
    }
}

/// The level names of what `action` logged.
fn levels(lab: &TestLab, action: &str) -> Vec<&'static str> {
    let done = lab.call("chatty", action, serde_json::Value::Null);
    assert_eq!(done.status, InvocationStatus::Completed, "{:?}", done.error);
    done.log.iter().map(|r| r.levelname).collect()
}

#[test]
fn an_invocation_log_keeps_debug_records_when_its_action_or_the_configuration_asks() {
    let lab = TestLab::builder()
        .thing("chatty", Chatty::default())
        .build()
        .expect("builds");
    assert_eq!(levels(&lab, "verbose"), ["DEBUG", "INFO"]);
    assert_eq!(levels(&lab, "plain"), ["INFO"], "info by default, as the original");
    assert_eq!(levels(&lab, "terse"), ["WARNING"]);
    drop(lab);
    let lab = TestLab::builder()
        .config(labthings::core::ManagerConfig::default().with(|c| c.log_level = labthings::core::LogLevel::Debug))
        .thing("chatty", Chatty::default())
        .build()
        .expect("builds");
    assert_eq!(levels(&lab, "plain"), ["DEBUG", "INFO"], "the configuration asks");
    assert_eq!(levels(&lab, "terse"), ["WARNING"], "the action's own level wins");
}
