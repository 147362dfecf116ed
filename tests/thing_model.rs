//! The Thing model over real HTTP: data properties, schema constraints,
//! settings that survive a restart, lifecycle hooks, things that use things,
//! and hardware locks.

mod common;

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/mock_lab.rs"]
mod mock_lab;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use common::{TestServer, assert_valid_td, start, start_thing};
use labthings::prelude::*;
use labthings::{Server, ServerConfig};
use parking_lot::Mutex;
use serde_json::{Value, json};

/// A fresh, empty settings folder for one test.
fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("labthings-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a scratch folder");
    dir
}

fn config_in(dir: &std::path::Path) -> ServerConfig {
    common::test_config().with(in_dir(dir))
}

/// Keep settings in `dir` (over what a configuration file says), and the
/// record of invocations inside it (not beside it), so removing `dir`
/// leaves nothing behind.
fn in_dir(dir: &std::path::Path) -> impl Fn(&mut ServerConfig) + '_ {
    move |c| {
        c.settings_dir = Some(dir.to_owned());
        c.records.dir = Some(dir.join("records"));
    }
}

async fn lab(dir: &std::path::Path) -> TestServer {
    start(mock_lab::build(config_in(dir)).expect("the mock lab builds")).await
}

/// Illumination modes, to check enums in schemas (and `#[model]` with
/// serde's own attributes).
#[model]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum Mode {
    Brightfield,
    Fluorescence,
}

/// A nested settings struct.
#[model]
#[derive(Debug, Clone, PartialEq)]
struct Roi {
    x: u32,
    y: u32,
    size: Option<u32>,
}

/// A microscope with typed settings.
#[thing]
struct Microscope {
    /// Illumination mode.
    #[property(setting)]
    mode: DataProperty<Mode>,
    /// Region of interest.
    #[property(setting)]
    roi: DataProperty<Roi>,
    /// Free-text notes.
    #[property]
    notes: DataProperty<Vec<String>>,
    gain: Mutex<u32>,
    /// How many times `count` ran: set by device code, read-only to clients.
    #[property(read_only)]
    counter: DataProperty<u64>,
}

impl Default for Microscope {
    fn default() -> Self {
        Self {
            mode: DataProperty::new(Mode::Brightfield),
            roi: DataProperty::new(Roi { x: 0, y: 0, size: None }),
            notes: DataProperty::default(),
            gain: Mutex::new(1),
            counter: DataProperty::new(0),
        }
    }
}

#[thing]
impl Microscope {
    /// Analogue gain, 1 to 16 (a getter/setter pair that is also a setting).
    #[property(setting, minimum = 1, maximum = 16)]
    fn gain(&self) -> u32 {
        *self.gain.lock()
    }

    fn set_gain(&self, value: u32) {
        *self.gain.lock() = value;
    }

    /// Count once.
    #[action]
    fn count(&self) -> u64 {
        self.counter.update(|c| {
            *c += 1;
            *c
        })
    }
}

fn microscope_server(dir: &std::path::Path) -> Server {
    Server::builder()
        .config(config_in(dir))
        .thing("scope", Microscope::default())
        .build()
        .expect("build")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_properties_read_write_reset_and_device_updates() {
    let dir = scratch_dir("data");
    let server = start(microscope_server(&dir)).await;
    assert_eq!(server.get("/scope/mode").await, (200, json!("brightfield")));
    assert_eq!(
        server.put("/scope/mode", json!("fluorescence")).await,
        (201, Value::Null)
    );
    assert_eq!(server.get("/scope/mode").await, (200, json!("fluorescence")));
    let (status, body) = server.put("/scope/mode", json!("darkfield")).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(server.post("/scope/mode/reset", Value::Null).await, (200, Value::Null));
    assert_eq!(server.get("/scope/mode").await, (200, json!("brightfield")));

    let roi = json!({"x": 5, "y": 6, "size": 100});
    assert_eq!(server.put("/scope/roi", roi.clone()).await.0, 201);
    assert_eq!(server.get("/scope/roi").await, (200, roi));
    let (status, body) = server.put("/scope/roi", json!({"x": -1, "y": 0})).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(server.put("/scope/notes", json!(["a", "b"])).await.0, 201);
    assert_eq!(server.get("/scope/notes").await, (200, json!(["a", "b"])));

    // Device code sets a read-only data property; readers see it at once.
    let (_, invocation) = server.post("/scope/count", Value::Null).await;
    server.wait_finished(&invocation).await;
    assert_eq!(server.get("/scope/counter").await, (200, json!(1)));
    assert_eq!(server.put("/scope/counter", json!(5)).await.0, 405);
    assert_eq!(server.post("/scope/counter/reset", Value::Null).await.0, 404);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemas_carry_constraints_enums_nesting_and_units() {
    let dir = scratch_dir("schemas");
    let server = start(microscope_server(&dir)).await;
    let (_, td) = server.get("/scope/").await;
    assert_valid_td(&td);
    let properties = &td["properties"];
    assert_eq!(properties["mode"]["enum"], json!(["brightfield", "fluorescence"]));
    assert_eq!(properties["mode"]["default"], "brightfield");
    assert_eq!(properties["roi"]["properties"]["x"]["type"], "integer");
    assert!(
        properties["roi"]["properties"]["size"]["oneOf"].is_array(),
        "{}",
        properties["roi"]
    );
    assert_eq!(properties["notes"]["items"]["type"], "string");
    assert_eq!(properties["gain"]["minimum"], 1);
    assert_eq!(properties["gain"]["maximum"], 16);
    assert_eq!(properties["counter"]["readOnly"], true);
    let (status, body) = server.put("/scope/gain", json!(17)).await;
    assert_eq!(status, 422);
    assert_eq!(body["detail"][0]["type"], "less_than_equal");

    // A second server beside the first: settings (and records) of its own.
    let lab = lab(&dir.join("lab")).await;
    let (_, stage) = lab.get("/stage/").await;
    assert_valid_td(&stage);
    assert_eq!(stage["properties"]["steps_per_um"]["unit"], "steps/um");
    assert_eq!(stage["properties"]["steps_per_um"]["default"], 1.0);
    let (_, camera) = lab.get("/camera/").await;
    assert_valid_td(&camera);
    let count = &camera["actions"]["acquire"]["input"]["properties"]["count"];
    assert_eq!(count["minimum"], 1);
    assert_eq!(count["maximum"], 1000);
    assert_eq!(count["description"], "How many frames to take");
    let (_, autofocus) = lab.get("/autofocus/").await;
    assert_valid_td(&autofocus);
    let (status, body) = lab.post("/camera/acquire", json!({"count": 0})).await;
    assert_eq!(status, 422);
    assert_eq!(body["detail"][0]["type"], "greater_than_equal");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_survive_a_restart() {
    let dir = scratch_dir("restart");
    {
        let server = start(microscope_server(&dir)).await;
        assert_eq!(server.put("/scope/mode", json!("fluorescence")).await.0, 201);
        assert_eq!(server.put("/scope/gain", json!(8)).await.0, 201);
        assert_eq!(server.put("/scope/notes", json!(["not a setting"])).await.0, 201);
    }
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("scope.json")).expect("saved")).expect("JSON");
    assert_eq!(saved["mode"], "fluorescence");
    assert_eq!(saved["gain"], 8);
    assert!(saved.get("notes").is_none(), "only settings are saved: {saved}");

    // A new server with new device objects reads them back.
    let server = start(microscope_server(&dir)).await;
    assert_eq!(server.get("/scope/mode").await, (200, json!("fluorescence")));
    assert_eq!(server.get("/scope/gain").await, (200, json!(8)));
    assert_eq!(server.get("/scope/notes").await, (200, json!([])));
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_settings_file_the_original_wrote_is_converted_on_first_start_and_kept() {
    let dir = scratch_dir("original-settings");
    // LabThings-FastAPI 0.3.0 itself writes dir/stage/Settings-Stage.json.
    common::clients::setup();
    let python = common::clients::repo().join(".venv-original/bin/python");
    let script = common::clients::repo().join("tests/interop/original_settings.py");
    let written = common::clients::run_client(
        python,
        &[
            script.to_str().expect("a UTF-8 path"),
            dir.to_str().expect("a UTF-8 path"),
            "2.5",
        ],
    )
    .await;
    let original = dir.join("stage").join("Settings-Stage.json");
    assert!(
        written.contains("Settings-Stage.json") && original.exists(),
        "{written}"
    );
    let original_text = std::fs::read_to_string(&original).expect("the original's file");
    {
        let server = lab(&dir).await;
        assert_eq!(
            server.get("/stage/steps_per_um").await,
            (200, json!(2.5)),
            "the calibration is not reset"
        );
        let ours: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("stage.json")).expect("converted")).expect("JSON");
        assert_eq!(ours["steps_per_um"], 2.5, "{ours}");
        assert_eq!(server.put("/stage/steps_per_um", json!(3.0)).await.0, 201);
    }
    assert_eq!(
        std::fs::read_to_string(&original).expect("kept"),
        original_text,
        "the old file is left as it was"
    );
    // From now on ours is read: the change made here survives.
    let server = lab(&dir).await;
    assert_eq!(server.get("/stage/steps_per_um").await, (200, json!(3.0)));
    let _ = std::fs::remove_dir_all(dir);
}

fn bad_copies(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("settings folder")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("scope.json.bad-"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_settings_file_gives_defaults_and_is_kept() {
    let dir = scratch_dir("truncated");
    std::fs::write(dir.join("scope.json"), "{\"mode\": \"fluores").expect("write");
    let server = start(microscope_server(&dir)).await;
    assert_eq!(server.get("/scope/mode").await, (200, json!("brightfield")));
    let copies = bad_copies(&dir);
    assert_eq!(copies.len(), 1, "{copies:?}");
    let kept = std::fs::read_to_string(dir.join(&copies[0])).expect("copy");
    assert_eq!(kept, "{\"mode\": \"fluores");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mistyped_setting_keeps_the_valid_fields() {
    let dir = scratch_dir("mistyped");
    std::fs::write(
        dir.join("scope.json"),
        r#"{"mode": "fluorescence", "gain": "high", "roi": {"x": 1}}"#,
    )
    .expect("write");
    let server = start(microscope_server(&dir)).await;
    assert_eq!(
        server.get("/scope/mode").await,
        (200, json!("fluorescence")),
        "the valid field is kept"
    );
    assert_eq!(
        server.get("/scope/gain").await,
        (200, json!(1)),
        "the mistyped field is the default"
    );
    assert_eq!(
        server.get("/scope/roi").await.1["x"],
        0,
        "the incomplete field is the default"
    );
    assert_eq!(bad_copies(&dir).len(), 1);
    let rewritten: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("scope.json")).expect("file")).expect("JSON");
    assert_eq!(rewritten["gain"], 1);
    assert_eq!(rewritten["mode"], "fluorescence");
    let _ = std::fs::remove_dir_all(dir);
}

/// A thing with hooks.
#[thing]
struct Hooked {
    name: &'static str,
    journal: Arc<Mutex<Vec<String>>>,
    fail_start: bool,
}

#[thing]
impl Hooked {
    /// The thing's name.
    #[property]
    fn label(&self) -> String {
        self.name.to_owned()
    }

    #[on_start]
    fn open(&self) -> Result<(), String> {
        if self.fail_start {
            return Err("no controller on /dev/ttyUSB0".to_owned());
        }
        self.journal.lock().push(format!("start {}", self.name));
        Ok(())
    }

    #[on_stop]
    fn close(&self) {
        self.journal.lock().push(format!("stop {}", self.name));
    }
}

/// Serve `server` on a free port until `stop` is sent: its URL, the
/// sender, and the serving task (to see how `serve_until` ended).
async fn serve_in_background(
    server: Server,
) -> (
    String,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let listening = server.bind("127.0.0.1:0").await.expect("bind");
    let url = listening.url();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(listening.serve_until(async move {
        let _ = stopped.await;
    }));
    (url, stop, serving)
}

fn hooked(name: &'static str, journal: &Arc<Mutex<Vec<String>>>, fail_start: bool) -> Hooked {
    Hooked {
        name,
        journal: journal.clone(),
        fail_start,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_hooks_run_before_serving_and_stop_hooks_on_shutdown() {
    let journal = Arc::new(Mutex::new(Vec::new()));
    let server = Server::builder()
        .config(common::test_config())
        .thing("a", hooked("a", &journal, false))
        .thing("b", hooked("b", &journal, false))
        .build()
        .expect("build");
    let (url, stop, serving) = serve_in_background(server).await;
    let response = reqwest::get(format!("{url}/a/label")).await.expect("GET");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        *journal.lock(),
        ["start a", "start b"],
        "both started before the first answer"
    );
    let _ = stop.send(());
    let served = tokio::time::timeout(Duration::from_secs(10), serving).await;
    assert!(matches!(served, Ok(Ok(Ok(())))), "{served:?}");
    assert_eq!(*journal.lock(), ["start a", "start b", "stop b", "stop a"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_start_hook_stops_the_others_and_names_the_thing() {
    let journal = Arc::new(Mutex::new(Vec::new()));
    let server = Server::builder()
        .config(common::test_config())
        .thing("a", hooked("a", &journal, false))
        .thing("stage", hooked("stage", &journal, true))
        .thing("c", hooked("c", &journal, false))
        .build()
        .expect("build");
    let listening = server.bind("127.0.0.1:0").await.expect("bind");
    let result = listening.serve_until(std::future::pending()).await;
    let message = result.expect_err("the server must not start").to_string();
    assert!(
        message.contains("`stage`") && message.contains("/dev/ttyUSB0"),
        "{message}"
    );
    assert_eq!(*journal.lock(), ["start a", "stop a"], "c never started; a was stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_fallback_a_failed_start_is_served_as_a_page_saying_why() {
    let journal = Arc::new(Mutex::new(Vec::new()));
    let server = Server::builder()
        .config(ServerConfig::default().with(|c| {
            c.fallback = true;
            c.settings_dir = None;
        }))
        .thing("a", hooked("a", &journal, false))
        .thing("stage", hooked("stage", &journal, true))
        .build()
        .expect("build");
    let (url, stop, serving) = serve_in_background(server).await;
    let client = reqwest::Client::new();
    let page = client
        .get(format!("{url}/"))
        .header("accept", "text/html")
        .send()
        .await
        .expect("GET /");
    assert_eq!(page.status().as_u16(), 503);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/html")
    );
    let html = page.text().await.expect("a page");
    assert!(html.contains("`stage`") && html.contains("/dev/ttyUSB0"), "{html}");
    let (status, body) = common::read(client.get(format!("{url}/a/label")).send().await.expect("GET")).await;
    assert_eq!(status, 503, "nothing else is served: {body}");
    assert!(body["detail"].as_str().is_some_and(|d| d.contains("`stage`")), "{body}");
    assert_eq!(*journal.lock(), ["start a", "stop a"], "the started thing was stopped");
    // The fallback page passes the same host check as the lab it stands in for.
    let forged = client
        .get(format!("{url}/"))
        .header("host", "attacker.example")
        .send()
        .await
        .expect("GET");
    assert_eq!(forged.status().as_u16(), 421);
    let _ = stop.send(());
    let served = tokio::time::timeout(Duration::from_secs(10), serving).await;
    assert!(
        matches!(served, Ok(Ok(Ok(())))),
        "the fallback ends on shutdown: {served:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autofocus_drives_the_stage_and_camera_through_slots() {
    let dir = scratch_dir("autofocus");
    let server = lab(&dir).await;
    assert_eq!(server.put("/stage/step_delay_ms", json!(0)).await.0, 201);
    assert_eq!(server.put("/camera/exposure_ms", json!(0.01)).await.0, 201);
    let (status, invocation) = server.post("/autofocus/scan", json!({"range": 60, "step": 10})).await;
    assert_eq!(status, 201, "{invocation}");
    let done = server.wait_finished(&invocation).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["output"], 40, "the mock focal plane is at z = 40");
    assert_eq!(server.get("/stage/position").await.1, json!([0, 0, 40]));
    assert_eq!(server.get("/autofocus/best_z").await.1, json!(40));
    let messages: Vec<&str> = done["log"]
        .as_array()
        .expect("log")
        .iter()
        .filter_map(|r| r["message"].as_str())
        .collect();
    assert!(
        messages.iter().any(|m| m.starts_with("axis 2 moved")),
        "stage logs land here: {messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.starts_with("frame 1 of 1")),
        "camera logs land here: {messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.starts_with("z = 40: sharpness")),
        "{messages:?}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_an_autofocus_scan_stops_the_stage_it_is_moving() {
    let dir = scratch_dir("autofocus-cancel");
    let server = lab(&dir).await;
    assert_eq!(server.put("/stage/step_delay_ms", json!(20)).await.0, 201);
    // The first move of the scan is 5,000 steps down: 100 s at 20 ms a step.
    let (_, scan) = server
        .post("/autofocus/scan", json!({"range": 5000, "step": 1000}))
        .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while server.get("/stage/position").await.1 == json!([0, 0, 0]) {
        assert!(std::time::Instant::now() < deadline, "the scan never moved the stage");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let href = scan["href"].as_str().expect("href");
    assert_eq!(
        server
            .client
            .delete(href)
            .send()
            .await
            .expect("DELETE")
            .status()
            .as_u16(),
        200
    );
    let done = server.wait_finished(&scan).await;
    assert_eq!(done["status"], "cancelled", "{done}");
    // The stage's move, called through the slot, stopped with the scan.
    let stopped_at = server.get("/stage/position").await.1;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        server.get("/stage/position").await.1,
        stopped_at,
        "the stage kept moving"
    );
    let z = stopped_at[2].as_i64().unwrap_or(0);
    assert!(z > -5000 && z < 0, "stopped part-way down: {stopped_at}");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lab_state_holds_each_things_state_properties() {
    let dir = scratch_dir("lab-state");
    let server = lab(&dir).await;
    assert_eq!(server.put("/camera/exposure_ms", json!(12.5)).await.0, 201);
    let (status, state) = server.post("/camera/lab_state?return=output", json!({})).await;
    assert_eq!(status, 200, "{state}");
    assert_eq!(state["stage"], json!({"position": [0, 0, 0], "steps_per_um": 1.0}));
    assert_eq!(state["camera"], json!({"exposure_ms": 12.5}));
    // The autofocus marks nothing: its data properties.
    assert_eq!(state["autofocus"], json!({"best_z": null}));
    let _ = std::fs::remove_dir_all(dir);
}

/// Work split over helper threads.
#[thing]
#[derive(Default)]
struct Splitter {}

#[thing]
impl Splitter {
    /// Start two helpers that log and wait for cancellation; report what
    /// they saw.
    #[action]
    fn split(&self) -> Result<Vec<bool>, Cancelled> {
        let helpers: Vec<_> = (0..2)
            .map(|n| {
                labthings::context::spawn(format!("helper-{n}"), move || {
                    tracing::info!("helper {n} started");
                    // The invocation's hook: a cancel of the action wakes it.
                    CancelHook::current().sleep(Duration::from_secs(30)).is_err()
                })
                .expect("a helper thread")
            })
            .collect();
        let seen = helpers.into_iter().map(|h| h.join().unwrap_or(false)).collect();
        CancelHook::current().check()?;
        Ok(seen)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helper_threads_inherit_the_invocations_log_and_cancellation() {
    let server = start_thing("splitter", Splitter::default()).await;
    let (_, invocation) = server.post("/splitter/split", json!({})).await;
    let href = invocation["href"].as_str().expect("href").to_owned();
    // Wait until both helpers have logged, then cancel.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, now) = server.get(&href.replace(&server.url, "")).await;
        if now["log"].as_array().is_some_and(|log| log.len() >= 2) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the helpers' log lines did not land: {now}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let started = std::time::Instant::now();
    assert_eq!(
        server
            .client
            .delete(&href)
            .send()
            .await
            .expect("DELETE")
            .status()
            .as_u16(),
        200
    );
    let done = server.wait_finished(&invocation).await;
    assert!(started.elapsed() < Duration::from_secs(5), "the helpers did not wake");
    assert_eq!(done["status"], "cancelled", "{done}");
    let mut messages: Vec<&str> = done["log"]
        .as_array()
        .expect("log")
        .iter()
        .filter_map(|r| r["message"].as_str())
        .collect();
    messages.sort();
    assert_eq!(messages, ["helper 0 started", "helper 1 started"]);
}

#[test]
fn unfilled_and_ambiguous_slots_fail_the_build_clearly() {
    let missing = mock_lab::builder()
        .thing("stage", mock_lab::Stage::default())
        .thing("autofocus", mock_lab::Autofocus::default())
        .build()
        .expect_err("no camera")
        .to_string();
    assert!(
        missing.contains("autofocus") && missing.contains("camera") && missing.contains("Camera"),
        "{missing}"
    );

    let ambiguous = mock_lab::builder()
        .thing("stage", mock_lab::Stage::default())
        .thing("left", mock_lab::Camera::default())
        .thing("right", mock_lab::Camera::default())
        .thing("autofocus", mock_lab::Autofocus::default())
        .build()
        .expect_err("two cameras")
        .to_string();
    assert!(
        ambiguous.contains("left") && ambiguous.contains("right") && ambiguous.contains(".connect"),
        "{ambiguous}"
    );

    mock_lab::builder()
        .thing("stage", mock_lab::Stage::default())
        .thing("left", mock_lab::Camera::default())
        .thing("right", mock_lab::Camera::default())
        .thing("autofocus", mock_lab::Autofocus::default())
        .connect("autofocus", "camera", "right")
        .build()
        .expect("an explicit connection resolves it");

    let wrong = mock_lab::builder()
        .thing("stage", mock_lab::Stage::default())
        .thing("camera", mock_lab::Camera::default())
        .thing("autofocus", mock_lab::Autofocus::default())
        .connect("autofocus", "camera", "stage")
        .build()
        .expect_err("a stage is not a camera")
        .to_string();
    assert!(wrong.contains("Camera"), "{wrong}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_action_waits_pending_and_can_be_cancelled_while_waiting() {
    let dir = scratch_dir("lock-wait");
    let server = lab(&dir).await;
    assert_eq!(server.put("/stage/step_delay_ms", json!(5)).await.0, 201);
    let (_, first) = server.post("/stage/move_relative", json!({"x": 2000})).await;
    let (_, second) = server.post("/stage/move_relative", json!({"x": 1})).await;
    let (_, third) = server.post("/stage/move_relative", json!({"y": 1, "x": 0})).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let second_id = second["id"].as_str().expect("id");
    let third_id = third["id"].as_str().expect("id");
    let (_, now) = server.get(&format!("/action_invocations/{second_id}")).await;
    assert_eq!(now["status"], "pending", "waits for the stage: {now}");
    assert_eq!(now["timeStarted"], Value::Null);

    // Cancel the waiting second one: it ends cancelled without having run.
    assert_eq!(server.delete(&format!("/action_invocations/{second_id}")).await.0, 200);
    let second = server.wait_finished(&second).await;
    assert_eq!(second["status"], "cancelled");
    assert_eq!(second["timeStarted"], Value::Null);
    // Stop the first; the third then gets the lock and runs.
    let first_id = first["id"].as_str().expect("id");
    assert_eq!(server.delete(&format!("/action_invocations/{first_id}")).await.0, 200);
    assert_eq!(server.wait_finished(&first).await["status"], "cancelled");
    let third = server
        .wait_finished(&json!({"href": server.at(&format!("/action_invocations/{third_id}"))}))
        .await;
    assert_eq!(third["status"], "completed");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejecting_action_answers_409_while_busy() {
    let dir = scratch_dir("lock-reject");
    let server = lab(&dir).await;
    let (status, first) = server.post("/camera/acquire", json!({"count": 100})).await;
    assert_eq!(status, 201);
    let (status, body) = server.post("/camera/acquire", json!({"count": 1})).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains(first["id"].as_str().unwrap_or("?"))),
        "{body}"
    );
    let (_, all) = server.get("/camera/acquire").await;
    assert_eq!(
        all.as_array().map(Vec::len),
        Some(1),
        "the refused call made no invocation"
    );
    let id = first["id"].as_str().expect("id");
    assert_eq!(server.delete(&format!("/action_invocations/{id}")).await.0, 200);
    server.wait_finished(&first).await;
    let (status, again) = server.post("/camera/acquire", json!({"count": 1})).await;
    assert_eq!(status, 201, "free again: {again}");
    let _ = std::fs::remove_dir_all(dir);
}

/// A heater.
#[thing]
#[derive(Default)]
struct Heater {
    /// Target temperature.
    #[property(lock, unit = "degC")]
    setpoint: DataProperty<f64>,
}

#[thing]
impl Heater {
    /// Bake for a while, holding the server-wide lock.
    #[action(lock = "server")]
    fn bake(&self, cancel: CancelHook) -> Result<(), Cancelled> {
        cancel.sleep(Duration::from_secs(60))
    }

    /// Ramp slowly (holds the heater's lock).
    #[action(lock)]
    fn ramp(&self, cancel: CancelHook) -> Result<(), Cancelled> {
        loop {
            cancel.sleep(Duration::from_secs(60))?;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_property_refuses_writes_while_the_lock_is_held() {
    let server = start_thing("heater", Heater::default()).await;
    assert_eq!(server.put("/heater/setpoint", json!(20.0)).await.0, 201);
    let (_, ramp) = server.post("/heater/ramp", Value::Null).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (status, body) = server.put("/heater/setpoint", json!(90.0)).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(server.get("/heater/setpoint").await.1, json!(20.0));
    let id = ramp["id"].as_str().expect("id");
    server.delete(&format!("/action_invocations/{id}")).await;
    server.wait_finished(&ramp).await;
    assert_eq!(server.put("/heater/setpoint", json!(90.0)).await.0, 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_configuration_file_builds_the_lab() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/mock_lab.toml");
    let dir = scratch_dir("config-file");
    let configured =
        labthings::http::config_file::load(&path, &mock_lab::catalog(), in_dir(&dir)).expect("the example file loads");
    assert_eq!(configured.host.as_deref(), Some("127.0.0.1"));
    assert_eq!(configured.port, Some(5000));
    let server = start(configured.server).await;
    assert_eq!(server.get("/stage/step_delay_ms").await, (200, json!(5)));
    assert_eq!(server.get("/camera/exposure_ms").await, (200, json!(10.0)));
    let (_, things) = server.get("/things/").await;
    assert_eq!(things.as_object().map(|t| t.len()), Some(4), "{things}");
    assert_eq!(server.get("/thermometer/averaging").await, (200, json!(1)));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_configuration_files_limits_reach_the_server() {
    let dir = scratch_dir("limits");
    let path = dir.join("lab.toml");
    std::fs::write(
        &path,
        "[invocations]\ndefault_lock = \"server\"\nretention_s = 2.5\nmax_retained = 7\nmax_active = 3\n\
         log_bytes = 4096\nprogress_per_second = 4\n\n[things.stage]\ntype = \"Stage\"\n",
    )
    .expect("write");
    let configured =
        labthings::http::config_file::load(&path, &mock_lab::catalog(), in_dir(&dir)).expect("the file loads");
    let manager = configured.server.manager().config().clone();
    assert_eq!(manager.default_lock, labthings::core::LockScope::Server);
    assert_eq!(manager.retention, Duration::from_millis(2500));
    assert_eq!(manager.max_retained, 7);
    assert_eq!(manager.max_active, 3);
    assert_eq!(manager.log_bytes, 4096);
    assert_eq!(manager.progress_per_second, 4);
    // A lock that does not exist is named with its key.
    std::fs::write(&path, "[invocations]\ndefault_lock = \"global\"\n").expect("write");
    let error = labthings::http::config_file::load(&path, &mock_lab::catalog(), in_dir(&dir))
        .map(|_| ())
        .expect_err("an unknown lock");
    assert!(error.to_string().contains("default_lock"), "{error}");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configuration_files_security_table_reaches_the_server() {
    let dir = scratch_dir("security");
    let path = dir.join("lab.toml");
    std::fs::write(
        &path,
        "[security]\nallowed_hosts = [\"scope.lab.example\"]\nallowed_origins = [\"https://app.lab.example\"]\n\
         cors = {}\n\n[things.stage]\ntype = \"Stage\"\n",
    )
    .expect("write");
    let configured =
        labthings::http::config_file::load(&path, &mock_lab::catalog(), in_dir(&dir)).expect("the file loads");
    let server = start(configured.server).await;
    let response = server
        .client
        .put(server.at("/stage/step_delay_ms"))
        .header("host", "scope.lab.example")
        .header("origin", "https://app.lab.example")
        .json(&json!(3))
        .send()
        .await
        .expect("PUT");
    assert_eq!(response.status(), 201);
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "https://app.lab.example"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn bad_configuration_files_name_the_key() {
    let dir = scratch_dir("bad-config");
    let cases = [
        (
            "things.stage.config.step_delay_ms",
            "[things.stage]\ntype = \"Stage\"\nconfig = { step_delay_ms = \"fast\" }\n",
        ),
        (
            "things.stage.config",
            "[things.stage]\ntype = \"Stage\"\nconfig = { speed = 3 }\n",
        ),
        ("things.robot.type", "[things.robot]\ntype = \"Robot\"\n"),
        (
            "things.camera",
            "[things.camera]\ntype = \"Camera\"\nconfig = { exposure_ms = -1.0 }\n",
        ),
        ("port", "port = \"eighty\"\n"),
        ("invocations.retention_s", "[invocations]\nretention_s = -1\n"),
        ("limits.max_threads", "[limits]\nmax_threads = 4\n"),
        (
            "things.autofocus.config",
            "[things.autofocus]\ntype = \"Autofocus\"\nconfig = { x = 1 }\n",
        ),
    ];
    for (index, (key, text)) in cases.iter().enumerate() {
        let path = dir.join(format!("case{index}.toml"));
        std::fs::write(&path, text).expect("write");
        let error = labthings::http::config_file::load(&path, &mock_lab::catalog(), in_dir(&dir))
            .expect_err("a bad file")
            .to_string();
        assert!(error.contains(key), "case {index}: `{error}` should name `{key}`");
        assert!(error.contains(&format!("case{index}.toml")), "names the file: {error}");
    }
    let missing = labthings::http::config_file::load(&dir.join("nope.toml"), &mock_lab::catalog(), in_dir(&dir))
        .expect_err("no file")
        .to_string();
    assert!(missing.contains("nope.toml"), "{missing}");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_fallback_a_configuration_or_a_thing_that_cannot_be_built_is_served_as_a_page() {
    let dir = scratch_dir("fallback-config");
    let cases = [
        // Not TOML at all.
        ("syntax", "[things.stage\n", "(syntax)"),
        // A key of the wrong type.
        (
            "key",
            "[things.stage]\ntype = \"Stage\"\nconfig = { step_delay_ms = \"fast\" }\n",
            "things.stage.config.step_delay_ms",
        ),
        // A thing whose construction fails: a Sangaboard with no port.
        (
            "construction",
            "[things.stage]\ntype = \"Sangaboard\"\n",
            "needs `port`",
        ),
        // A server that cannot be built: the autofocus has no camera.
        (
            "build",
            "[things.stage]\ntype = \"Stage\"\n[things.autofocus]\ntype = \"Autofocus\"\n",
            "Camera",
        ),
    ];
    for (name, text, says) in cases {
        let path = dir.join(format!("{name}.toml"));
        std::fs::write(&path, text).expect("write");
        let refused = labthings::http::config_file::load(&path, &mock_lab::catalog(), in_dir(&dir))
            .expect_err("without the fallback, the error stops the program")
            .to_string();
        assert!(refused.contains(says), "{name}: {refused}");
        let configured = labthings::http::config_file::load(&path, &mock_lab::catalog(), |c| {
            c.settings_dir = None;
            c.fallback = true;
        })
        .expect("with the fallback, a server that says why");
        let (url, stop, serving) = serve_in_background(configured.server).await;
        let client = reqwest::Client::new();
        let page = client
            .get(format!("{url}/"))
            .header("accept", "text/html")
            .send()
            .await
            .expect("GET /");
        assert_eq!(page.status().as_u16(), 503, "{name}");
        let html = page.text().await.expect("a page");
        assert!(
            html.contains(&format!("{name}.toml")),
            "{name}: the file is named: {html}"
        );
        let (status, body) = common::read(client.get(format!("{url}/things")).send().await.expect("GET")).await;
        assert_eq!(status, 503, "{name}: {body}");
        let _ = stop.send(());
        let served = tokio::time::timeout(Duration::from_secs(10), serving).await;
        assert!(matches!(served, Ok(Ok(Ok(())))), "{name}: ends on shutdown: {served:?}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// A detector whose gain is one of a few steps.
#[thing]
#[derive(Default)]
struct Detector {
    /// The gain: 1, 2, 4 or 8; a write is rounded to the nearest step.
    #[property(on_set = "nearest_gain", minimum = 1.0, maximum = 8.0)]
    gain: DataProperty<f64>,
    /// The dark offset, from a calibration.
    #[property(minimum = -10, maximum = 10)]
    offset: DataProperty<i64>,
}

impl Detector {
    /// The `on_set` check of `gain`: round to a step, refuse a value
    /// halfway between two.
    fn nearest_gain(&self, gain: f64) -> Result<f64, BadRequest> {
        let steps = [1.0_f64, 2.0, 4.0, 8.0];
        let mut by_distance: Vec<(f64, f64)> = steps.iter().map(|s| ((s - gain).abs(), *s)).collect();
        by_distance.sort_by(|a, b| a.0.total_cmp(&b.0));
        if by_distance[0].0 == by_distance[1].0 {
            return Err(BadRequest::new(format!(
                "gain {gain} is halfway between {} and {}: say which",
                by_distance[0].1, by_distance[1].1
            )));
        }
        Ok(by_distance[0].1)
    }
}

#[thing]
impl Detector {
    /// Store a measured dark offset, held to the property's schema.
    #[action]
    fn calibrate(&self, measured: i64) -> Result<i64, BadRequest> {
        self.offset.try_set(measured)?;
        Ok(measured)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_property_write_is_checked_and_adjusted_by_its_on_set_hook() {
    let server = start_thing("detector", Detector::default()).await;
    let gain = server.at("/detector/gain");
    let changes = server
        .client
        .get(format!("{gain}/observe"))
        .send()
        .await
        .expect("observe");
    // Adjusted: 3.3 is stored, and announced, as 4.
    assert_eq!(server.put("/detector/gain", json!(3.3)).await.0, 201);
    assert_eq!(server.get("/detector/gain").await.1, json!(4.0));
    let mut changes = changes;
    let mut first = String::new();
    // The stream's `latest` message, then the change.
    while first.matches("data:").count() < 2 {
        let chunk = tokio::time::timeout(Duration::from_secs(5), changes.chunk())
            .await
            .expect("a change within 5 s")
            .expect("the stream")
            .expect("a chunk");
        first.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(
        first.contains("data: 4.0") && !first.contains("3.3"),
        "observers are told the stored value: {first:?}"
    );
    // Refused by the hook: 422 naming its rule; the value stays.
    let (status, refused) = server.put("/detector/gain", json!(3.0)).await;
    assert_eq!(status, 422, "{refused}");
    assert!(refused.to_string().contains("halfway between 2 and 4"), "{refused}");
    assert_eq!(server.get("/detector/gain").await.1, json!(4.0));
    // The schema comes first: the hook never sees a value beyond it.
    let (status, refused) = server.put("/detector/gain", json!(9.0)).await;
    assert_eq!(status, 422, "{refused}");
    assert!(refused.to_string().contains("maximum"), "{refused}");

    // try_set from device code: held to the schema like a client's write.
    let (_, calibrated) = server.post("/detector/calibrate", json!({"measured": 5})).await;
    assert_eq!(server.wait_finished(&calibrated).await["status"], "completed");
    assert_eq!(server.get("/detector/offset").await.1, json!(5));
    let (_, refused) = server.post("/detector/calibrate", json!({"measured": 50})).await;
    let refused = server.wait_finished(&refused).await;
    assert_eq!(refused["status"], "error", "{refused}");
    assert_eq!(refused["error"]["status"], 422, "{refused}");
    assert!(
        refused["error"]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("50") && d.contains("maximum")),
        "{refused}"
    );
    assert_eq!(
        server.get("/detector/offset").await.1,
        json!(5),
        "the old value is kept"
    );
}

/// A laser on a serial port, with no simulated mode.
#[thing]
#[derive(Default)]
struct Laser {
    /// What it was told when it was built: its name, whether its data
    /// folder is there, the application's wavelength.
    #[property(read_only)]
    built_with: DataProperty<Value>,
}

#[thing]
impl Laser {}

/// The laser's `config`.
#[model]
#[derive(Debug, Default)]
struct LaserConfig {
    /// Its serial port.
    port: Option<String>,
}

impl FromConfig for Laser {
    type Config = LaserConfig;

    fn from_config(_config: LaserConfig, env: &ThingEnv) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let folder = env.data_folder.as_ref().map(|f| (f.is_dir(), f.ends_with(&env.name)));
        let wavelength = env.application_config.as_ref().map(|c| c["wavelength_nm"].clone());
        Ok(Self {
            built_with: DataProperty::new(json!({"name": env.name, "folder": folder, "wavelength": wavelength})),
        })
    }
}

#[test]
fn simulating_serves_each_thing_simulated_or_refuses_the_types_that_cannot_be() {
    let dir = scratch_dir("simulate");
    let catalog = || mock_lab::catalog().register::<Laser>("Laser");
    let load = |text: &str, simulate: bool| {
        let path = dir.join("lab.toml");
        std::fs::write(&path, text).expect("write");
        labthings::http::config_file::load(&path, &catalog(), |c| {
            c.settings_dir = None;
            c.simulate |= simulate;
        })
    };
    // `simulate = true` on one thing: a Sangaboard without a port.
    let served = load("[things.stage]\ntype = \"Sangaboard\"\nsimulate = true\n", false).expect("a simulated stage");
    drop(served);
    // Without it, the port is needed, and the error says so.
    let error = load("[things.stage]\ntype = \"Sangaboard\"\n", false)
        .expect_err("no port")
        .to_string();
    assert!(
        error.contains("things.stage") && error.contains("needs `port`"),
        "{error}"
    );
    // Everything simulated (--simulate): a type with no simulated mode is
    // refused rather than reach the hardware, naming the thing.
    let error = load("[things.laser]\ntype = \"Laser\"\n", true)
        .expect_err("a laser cannot be simulated")
        .to_string();
    assert!(
        error.contains("things.laser.simulate") && error.contains("has no simulated mode"),
        "{error}"
    );
    let served = load("[things.laser]\ntype = \"Laser\"\n", false).expect("a real laser");
    drop(served);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thing_built_from_a_file_knows_its_name_data_folder_and_the_application_config() {
    let dir = scratch_dir("thing-env");
    let path = dir.join("lab.toml");
    std::fs::write(
        &path,
        "[application_config]\nwavelength_nm = 405\n\n[things.uv_laser]\ntype = \"Laser\"\n",
    )
    .expect("write");
    let catalog = mock_lab::catalog().register::<Laser>("Laser");
    let configured = labthings::http::config_file::load(&path, &catalog, in_dir(&dir)).expect("loads");
    let server = start(configured.server).await;
    assert_eq!(
        server.get("/uv_laser/built_with").await.1,
        json!({"name": "uv_laser", "folder": [true, true], "wavelength": 405})
    );
    assert!(dir.join("uv_laser").is_dir(), "its data folder: settings_dir/uv_laser/");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_lock_is_shared_between_things() {
    let server = start(
        Server::builder()
            .config(common::test_config())
            .thing("left", Heater::default())
            .thing("right", Heater::default())
            .build()
            .expect("build"),
    )
    .await;
    let (_, left) = server.post("/left/bake", Value::Null).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (_, right) = server.post("/right/bake", Value::Null).await;
    let (_, ramp) = server.post("/right/ramp", Value::Null).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(server.status(&right).await, "pending");
    assert_eq!(
        server.status(&ramp).await,
        "running",
        "the thing lock is not the server lock"
    );
    server.cancel_and_wait(&left).await;
    for _ in 0..200 {
        if server.status(&right).await == "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(server.status(&right).await, "running");
    for invocation in [&right, &ramp] {
        server
            .delete(&format!(
                "/action_invocations/{}",
                invocation["id"].as_str().unwrap_or_default()
            ))
            .await;
    }
}

/// A device with one slow reading.
#[thing]
#[derive(Default)]
struct Sluggish {
    entered: std::sync::atomic::AtomicBool,
    released: Mutex<bool>,
    wake: parking_lot::Condvar,
    /// A stored value.
    #[property]
    level: DataProperty<u8>,
}

#[thing]
impl Sluggish {
    /// Blocks until released (at most 20 s).
    #[property]
    fn slow(&self) -> u8 {
        self.entered.store(true, std::sync::atomic::Ordering::SeqCst);
        let mut released = self.released.lock();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !*released {
            if self.wake.wait_until(&mut released, deadline).timed_out() {
                break;
            }
        }
        1
    }

    /// Another getter: device code too, but unrelated.
    #[property]
    fn other(&self) -> u8 {
        2
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_getter_does_not_block_readers_of_other_properties() {
    let device = Arc::new(Sluggish::default());
    let server = start(
        Server::builder()
            .config(common::test_config())
            .shared_thing("dev", device.clone())
            .build()
            .expect("build"),
    )
    .await;
    let slow = tokio::spawn({
        let (client, url) = (server.client.clone(), server.at("/dev/slow"));
        async move { client.get(url).send().await.map(|r| r.status().as_u16()) }
    });
    while !device.entered.load(std::sync::atomic::Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The slow getter is inside device code now; other reads and writes go on.
    for _ in 0..3 {
        assert_eq!(server.get("/dev/other").await, (200, json!(2)));
        assert_eq!(server.put("/dev/level", json!(9)).await.0, 201);
        assert_eq!(server.get("/dev/level").await, (200, json!(9)));
    }
    assert!(!slow.is_finished(), "the slow read is still blocked");
    *device.released.lock() = true;
    device.wake.notify_all();
    assert_eq!(slow.await.ok().and_then(Result::ok), Some(200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_setting_that_cannot_be_saved_is_refused_and_left_unchanged() {
    let dir = scratch_dir("unsaveable");
    let server = start(microscope_server(&dir)).await;
    assert_eq!(server.put("/scope/gain", json!(4)).await.0, 201);
    // A folder where the file must go: the rename fails, as a full or
    // read-only disk would make it fail.
    std::fs::remove_file(dir.join("scope.json")).expect("remove the file");
    std::fs::create_dir_all(dir.join("scope.json").join("blocker")).expect("block the file");
    let (status, problem) = server.put("/scope/gain", json!(9)).await;
    assert_eq!(status, 500, "{problem}");
    let detail = problem["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("`gain`") && detail.contains("not changed"),
        "the answer names the setting and why: {problem}"
    );
    assert!(
        !detail.contains(&*dir.to_string_lossy()),
        "where the server keeps its files is for its log: {problem}"
    );
    assert_eq!(problem["title"], "SettingNotSaved");
    assert_eq!(
        server.get("/scope/gain").await,
        (200, json!(4)),
        "the old value is kept"
    );
    // Data settings too: the value stays as it was.
    let (status, _) = server.put("/scope/mode", json!("fluorescence")).await;
    assert_eq!(status, 500);
    assert_eq!(server.get("/scope/mode").await, (200, json!("brightfield")));
    // Once the disk is fixed, writes are saved again.
    std::fs::remove_dir_all(dir.join("scope.json")).expect("unblock");
    assert_eq!(server.put("/scope/gain", json!(9)).await.0, 201);
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("scope.json")).expect("saved")).expect("JSON");
    assert_eq!(saved["gain"], 9);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_writes_are_cleaned_and_file_problems_are_kept_for_the_operator() {
    let dir = scratch_dir("leftovers");
    for n in 0..24 {
        std::fs::write(dir.join(format!("scope.json.tmp-{n}")), "{\"gain\": ").expect("leftover");
    }
    std::fs::write(dir.join("scope.json"), "{\"gain\": \"high\"}").expect("mistyped");
    let server = microscope_server(&dir);
    let leftovers = std::fs::read_dir(&dir)
        .expect("dir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .count();
    assert_eq!(
        leftovers, 0,
        "temporary files of interrupted writes are removed at start"
    );
    let warnings = server.things()[0].settings_warnings();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("`gain`") && w.contains("scope.json")),
        "the problem is kept to be logged and shown: {warnings:?}"
    );
    let server = start(server).await;
    let (status, shown) = server.get("/settings_warnings").await;
    assert_eq!(status, 200);
    assert!(
        shown["scope"][0].as_str().is_some_and(|w| w.contains("`gain`")),
        "{shown}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_setting_writes_leave_the_newest_value_on_disk() {
    let dir = scratch_dir("concurrent");
    let server = Arc::new(start(microscope_server(&dir)).await);
    let mut writers = Vec::new();
    for n in 1..=16_u64 {
        let server = server.clone();
        writers.push(tokio::spawn(async move { server.put("/scope/gain", json!(n)).await.0 }));
    }
    for writer in writers {
        assert_eq!(writer.await.expect("joined"), 201);
    }
    let (_, in_memory) = server.get("/scope/gain").await;
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("scope.json")).expect("saved")).expect("JSON");
    assert_eq!(saved["gain"], in_memory, "the file holds the value the server serves");
    let _ = std::fs::remove_dir_all(dir);
}

/// Schema keywords beyond `minimum` and `maximum`.
#[thing]
struct Labeller {
    /// A sample label: two capitals, then digits.
    #[property(min_length = 3, max_length = 8, pattern = "^[A-Z]{2}[0-9]+$")]
    label: DataProperty<String>,
    /// A gain strictly between 0 and 10, in steps of 0.5.
    #[property(exclusive_minimum = 0.0, exclusive_maximum = 10.0, multiple_of = 0.5)]
    gain: DataProperty<f64>,
}

impl Default for Labeller {
    fn default() -> Self {
        Self {
            label: DataProperty::new("AB1".to_owned()),
            gain: DataProperty::new(1.0),
        }
    }
}

#[thing]
impl Labeller {
    /// Print `text` on `copies` labels (an even number, for two-up sheets).
    #[action]
    fn print(
        &self,
        #[param(min_length = 1, max_length = 4, pattern = "^[a-z]+$")] text: String,
        #[param(exclusive_minimum = 0, multiple_of = 2)] copies: u32,
    ) -> String {
        text.repeat(copies as usize)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exclusive_bounds_multiples_lengths_and_patterns_are_declared_and_enforced() {
    let server = start_thing("labeller", Labeller::default()).await;
    let (_, td) = server.get("/labeller/").await;
    assert_valid_td(&td);
    let label = &td["properties"]["label"];
    assert_eq!(
        (&label["minLength"], &label["maxLength"], &label["pattern"]),
        (&json!(3), &json!(8), &json!("^[A-Z]{2}[0-9]+$"))
    );
    let gain = &td["properties"]["gain"];
    assert_eq!(
        (
            &gain["exclusiveMinimum"],
            &gain["exclusiveMaximum"],
            &gain["multipleOf"]
        ),
        (&json!(0.0), &json!(10.0), &json!(0.5))
    );
    let input = &td["actions"]["print"]["input"]["properties"];
    assert_eq!(input["text"]["pattern"], "^[a-z]+$");
    assert_eq!(input["text"]["maxLength"], 4);
    assert_eq!(input["copies"]["exclusiveMinimum"], 0);
    assert_eq!(input["copies"]["multipleOf"], 2);

    // Writes: each keyword refuses with its own problem type, and the value stays.
    for (value, kind) in [
        (json!("ab12"), "string_pattern_mismatch"),
        (json!("AB"), "string_too_short"),
        (json!("AB1234567"), "string_too_long"),
    ] {
        let (status, body) = server.put("/labeller/label", value.clone()).await;
        assert_eq!(status, 422, "{value}: {body}");
        assert_eq!(body["detail"][0]["type"], kind, "{value}: {body}");
    }
    assert_eq!(server.get("/labeller/label").await, (200, json!("AB1")));
    assert_eq!(server.put("/labeller/label", json!("CD42")).await.0, 201);
    for value in [json!(0.0), json!(10.0), json!(0.75)] {
        let (status, body) = server.put("/labeller/gain", value.clone()).await;
        assert_eq!(status, 422, "{value}: {body}");
    }
    assert_eq!(server.put("/labeller/gain", json!(9.5)).await.0, 201);
    assert_eq!(server.get("/labeller/gain").await, (200, json!(9.5)));

    // Inputs: the same keywords on parameters.
    for input in [
        json!({"text": "ab", "copies": 3}),
        json!({"text": "ab", "copies": 0}),
        json!({"text": "AB", "copies": 2}),
        json!({"text": "abcde", "copies": 2}),
    ] {
        let (status, body) = server.post("/labeller/print", input.clone()).await;
        assert_eq!(status, 422, "{input}: {body}");
    }
    let (status, output) = server
        .post("/labeller/print?return=output", json!({"text": "ab", "copies": 2}))
        .await;
    assert_eq!((status, output), (200, json!("abab")));
}

/// An oven whose actions say nothing about locks, but one.
#[thing]
#[derive(Default)]
struct Oven {}

#[thing]
impl Oven {
    /// Heat until cancelled (no lock declared: the server's default).
    #[action]
    fn heat(&self, cancel: CancelHook) -> Result<(), Cancelled> {
        cancel.sleep(Duration::from_secs(60))
    }

    /// Read the thermocouple: opts out of the default lock.
    #[action(lock = "none")]
    fn peek(&self) -> u32 {
        180
    }

    /// Take the server-wide lock for a block of device code only, while a
    /// flag is set.
    #[action(lock = "none")]
    fn calibrate(&self, cancel: CancelHook) -> Result<(), Cancelled> {
        let _held = labthings::context::hold_server_lock()?;
        cancel.sleep(Duration::from_secs(60))
    }

    /// Refused while anything holds the server lock.
    #[action(lock = "server", when_busy = "reject")]
    fn door(&self) -> u32 {
        1
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_wide_default_lock_covers_actions_that_do_not_opt_out() {
    let server = start(
        Server::builder()
            .config(common::test_config().with(|c| {
                c.invocations.default_lock = labthings::core::LockScope::Server;
                c.settings_dir = None;
            }))
            .thing("left", Oven::default())
            .thing("right", Oven::default())
            .build()
            .expect("build"),
    )
    .await;
    let (_, left) = server.post("/left/heat", Value::Null).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (_, right) = server.post("/right/heat", Value::Null).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(server.status(&left).await, "running");
    assert_eq!(
        server.status(&right).await,
        "pending",
        "one default-locked action at a time"
    );
    let (status, peek) = server.post("/right/peek?return=output", Value::Null).await;
    assert_eq!((status, peek), (200, json!(180)), "lock = \"none\" opts out");
    server.cancel_and_wait(&left).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while server.status(&right).await != "running" {
        assert!(std::time::Instant::now() < deadline, "the waiting action never ran");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.cancel_and_wait(&right).await;

    // Without the default, the same actions run side by side.
    let free = start(
        Server::builder()
            .config(common::test_config())
            .thing("left", Oven::default())
            .thing("right", Oven::default())
            .build()
            .expect("build"),
    )
    .await;
    let (_, a) = free.post("/left/heat", Value::Null).await;
    let (_, b) = free.post("/right/heat", Value::Null).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        (free.status(&a).await, free.status(&b).await),
        (json!("running"), json!("running"))
    );
    for invocation in [&a, &b] {
        free.cancel_and_wait(invocation).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_code_holds_the_server_lock_for_a_block() {
    let server = start_thing("oven", Oven::default()).await;
    assert_eq!(
        server.post("/oven/door?return=output", Value::Null).await.0,
        200,
        "free"
    );
    let (_, calibrating) = server.post("/oven/calibrate", Value::Null).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (status, body) = server.post("/oven/door", Value::Null).await;
    assert_eq!(status, 409, "the block holds the server lock: {body}");
    server.cancel_and_wait(&calibrating).await;
    assert_eq!(
        server.post("/oven/door?return=output", Value::Null).await.0,
        200,
        "released with the block"
    );
}

/// A filter wheel some microscopes have.
#[thing]
#[derive(Default)]
struct FilterWheel {
    /// The filter in the light path.
    #[property]
    filter: DataProperty<u8>,
}

#[thing]
impl FilterWheel {}

/// A rig of several cameras and maybe a filter wheel, with a main camera.
#[thing]
#[derive(Default)]
struct Rig {
    /// The filter wheel, if this rig has one.
    #[slot]
    wheel: OptionalSlot<FilterWheel>,
    /// Every camera of the rig, by name.
    #[slot]
    cameras: ThingSlots<mock_lab::Camera>,
    /// The camera previews come from: `main` unless connected otherwise.
    #[slot(default = "main")]
    main: ThingSlot<mock_lab::Camera>,
}

#[thing]
impl Rig {
    /// What the rig found when it was built.
    #[property]
    fn inventory(&self) -> Value {
        json!({
            "wheel": self.wheel.get().map(|w| w.filter.get()),
            "cameras": self.cameras.names(),
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn optional_slots_slots_of_every_thing_and_default_names() {
    // No wheel, two cameras: the optional slot stays empty, the map holds
    // both, and the default picks `main` among two.
    let server = start(
        Server::builder()
            .config(common::test_config())
            .thing("rig", Rig::default())
            .thing("main", mock_lab::Camera::default())
            .thing("side", mock_lab::Camera::default())
            .build()
            .expect("builds without a wheel"),
    )
    .await;
    assert_eq!(
        server.get("/rig/inventory").await,
        (200, json!({"wheel": null, "cameras": ["main", "side"]}))
    );
    let rig = start(
        Server::builder()
            .config(common::test_config())
            .thing("rig", Rig::default())
            .thing("main", mock_lab::Camera::default())
            .thing("wheel", FilterWheel::default())
            .build()
            .expect("builds with a wheel"),
    )
    .await;
    assert_eq!(
        rig.get("/rig/inventory").await,
        (200, json!({"wheel": 0, "cameras": ["main"]}))
    );
    // The default must be served, and be a camera.
    let missing = Server::builder()
        .config(common::test_config())
        .thing("rig", Rig::default())
        .thing("left", mock_lab::Camera::default())
        .build()
        .expect_err("no camera is called main")
        .to_string();
    assert!(missing.contains("default `main` is not served"), "{missing}");
    let wrong = Server::builder()
        .config(common::test_config())
        .thing("rig", Rig::default())
        .thing("left", mock_lab::Camera::default())
        .thing("main", FilterWheel::default())
        .build()
        .expect_err("main is a filter wheel")
        .to_string();
    assert!(
        wrong.contains("its default names a thing that is not a `mock_lab::Camera`"),
        "{wrong}"
    );
    // A connection overrides the default; a slot of every camera takes none.
    Server::builder()
        .config(common::test_config())
        .thing("rig", Rig::default())
        .thing("left", mock_lab::Camera::default())
        .connect("rig", "main", "left")
        .build()
        .expect("connected explicitly");
    let all = Server::builder()
        .config(common::test_config())
        .thing("rig", Rig::default())
        .thing("main", mock_lab::Camera::default())
        .connect("rig", "cameras", "main")
        .build()
        .expect_err("a slot of every camera is not connected by hand")
        .to_string();
    assert!(all.contains("every served"), "{all}");
}
