//! The typed clients `#[thing]` generates (the `client` feature), driving
//! the mock lab over real sockets: every property and action of the
//! stage, camera and autofocus, a cancelled invocation, observation, an
//! event, a blob, and each kind of error.

mod common;

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/mock_lab.rs"]
mod mock_lab;

use std::time::Duration;

use common::{TestServer, start, start_thing};
use labthings::ServerConfig;
use labthings::client::{ClientError, StreamExt};
use labthings::prelude::*;
use mock_lab::{AutofocusClient, CameraClient, StageClient};

async fn lab() -> TestServer {
    start(
        mock_lab::builder()
            .config(ServerConfig::default().with(|c| c.settings_dir = None))
            .thing("stage", mock_lab::Stage::default())
            .thing("camera", mock_lab::Camera::default())
            .thing("autofocus", mock_lab::Autofocus::default())
            .build()
            .expect("build"),
    )
    .await
}

/// Wait for the next item of a stream, at most 10 s.
async fn next<T>(stream: &mut labthings::client::BoxStream<'static, Result<T, ClientError>>) -> T {
    tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("an item within 10 s")
        .expect("the stream goes on")
        .expect("a value")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_property_and_action_of_the_stage_in_its_own_types() {
    let server = lab().await;
    let stage = StageClient::connect(&server.at("/stage/")).await.expect("connect");
    let position: [i64; 3] = stage.position().await.expect("position");
    assert_eq!(position, [0, 0, 0]);
    stage
        .set_step_delay_ms(0)
        .await
        .expect("write a getter/setter property");
    assert_eq!(stage.step_delay_ms().await.expect("read it"), 0);
    stage.set_steps_per_um(2.5).await.expect("write a data property");
    assert_eq!(stage.steps_per_um().await.expect("read it"), 2.5);

    // Parameters with defaults are optional; the call is awaited for its output.
    let moved: [i64; 3] = stage.move_relative(10).y(5).await.expect("move");
    assert_eq!(moved, [10, 5, 0]);
    assert_eq!(stage.move_absolute(1, 2, 3).await.expect("move"), [1, 2, 3]);
    assert_eq!(stage.home().await.expect("home"), [0, 0, 0]);
    assert_eq!(stage.position().await.expect("position"), [0, 0, 0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_started_invocation_has_a_status_a_log_and_can_be_cancelled() {
    let server = lab().await;
    let stage = StageClient::connect(&server.at("/stage/")).await.expect("connect");
    stage.set_step_delay_ms(20).await.expect("slow");
    let mut invocation = stage.move_relative(1000).start().await.expect("start");
    assert!(invocation.id().is_some(), "our server has invocations");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while invocation.status().await.expect("status") != labthings::client::Status::Running {
        assert!(std::time::Instant::now() < deadline, "it starts running");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let log = invocation.log().await.expect("log");
    assert!(
        log.iter().any(|r| r.message.contains("moving by [1000, 0, 0]")),
        "{log:?}"
    );
    // The handle says how far the move is, and the time left.
    let progress = loop {
        if let Some(p) = invocation.progress().await.expect("progress")
            && p.fraction > 0.0
        {
            break p;
        }
        assert!(std::time::Instant::now() < deadline, "the move reports progress");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(progress.fraction < 1.0, "{progress:?}");
    assert!(
        progress.remaining_estimated && progress.remaining_seconds.is_some(),
        "{progress:?}"
    );
    invocation.cancel().await.expect("cancel");
    match invocation.await {
        Err(ClientError::Cancelled) => {}
        other => panic!("expected Cancelled, got {other:?}"),
    }
    let stopped = stage.position().await.expect("position")[0];
    assert!(stopped < 1000, "stopped part way: {stopped}");

    // A finished invocation awaited for its typed output.
    stage.set_step_delay_ms(0).await.expect("fast");
    let invocation = stage.move_relative(1).start().await.expect("start");
    assert_eq!(invocation.await.expect("output")[0], stopped + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observation_events_and_blobs() {
    let server = lab().await;
    let stage = StageClient::connect(&server.at("/stage/")).await.expect("connect");
    let camera = CameraClient::connect(&server.at("/camera/")).await.expect("connect");

    let mut positions = stage.observe_position().await.expect("observe");
    stage.set_step_delay_ms(0).await.expect("fast");
    stage.move_relative(3).await.expect("move");
    let mut last = [0; 3];
    while last != [3, 0, 0] {
        last = next(&mut positions).await;
    }

    let mut frames = camera.frame_acquired().await.expect("subscribe");
    camera.set_exposure_ms(0.01).await.expect("short exposures");
    let means: Vec<f64> = camera.acquire().count(2).await.expect("acquire");
    assert_eq!(means.len(), 2);
    let first: mock_lab::FrameInfo = next(&mut frames).await;
    assert!(first.frame >= 1 && (100.0..107.0).contains(&first.mean), "{first:?}");

    let blob = camera.snap().await.expect("snap");
    assert_eq!(blob.media_type, "image/jpeg");
    // A blob output passed back as an input: the link the client got.
    let info = camera.measure_image(blob.clone()).await.expect("measure");
    assert_eq!((info.width, info.height), (320, 240));
    assert!(camera.frames_acquired().await.expect("a polled getter") >= 3);
    let bytes = camera.thing().download(&blob).await.expect("download");
    assert_eq!(&bytes[..2], b"\xFF\xD8", "a JPEG");
    let file = std::env::temp_dir().join(format!("labthings-snap-{}.jpg", std::process::id()));
    let written = camera.thing().save(&blob, &file).await.expect("save");
    assert_eq!(written, bytes.len() as u64);
    assert_eq!(std::fs::read(&file).expect("the file"), bytes);
    let _ = std::fs::remove_file(&file);

    let temperature: f64 = camera.sensor_temperature().await.expect("a polled getter");
    assert!((25.0..35.0).contains(&temperature), "{temperature}");
    let state = camera.lab_state().await.expect("lab state");
    assert!(state.contains_key("stage"), "{state:?}");

    let autofocus = AutofocusClient::connect(&server.at("/autofocus/"))
        .await
        .expect("connect");
    assert_eq!(autofocus.best_z().await.expect("best_z"), None);
    let best = autofocus.scan().range(20).step(10).await.expect("scan");
    assert_eq!(autofocus.best_z().await.expect("best_z"), Some(best));
}

/// A thing whose action fails, for the device-error kind.
#[thing]
#[derive(Default)]
struct Faulty;

#[thing]
impl Faulty {
    /// Always fails.
    #[action]
    fn fail(&self) -> Result<u32, std::io::Error> {
        Err(std::io::Error::other("the motor driver is not answering"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_kind_of_error_is_its_own_variant() {
    let server = lab().await;
    let stage = StageClient::connect(&server.at("/stage/")).await.expect("connect");
    match stage.move_relative(10_000_000).await {
        Err(ClientError::Validation(problems)) => {
            assert_eq!(
                problems[0].loc,
                [serde_json::json!("body"), serde_json::json!("x")],
                "{problems:?}"
            );
        }
        other => panic!("expected Validation, got {other:?}"),
    }
    match stage.set_step_delay_ms(5000).await {
        Err(ClientError::Validation(problems)) => assert!(!problems.is_empty()),
        other => panic!("expected Validation, got {other:?}"),
    }

    // 409: the camera takes one acquisition at a time.
    let camera = CameraClient::connect(&server.at("/camera/")).await.expect("connect");
    camera.set_exposure_ms(200.0).await.expect("slow exposures");
    let running = camera.acquire().count(50).start().await.expect("start");
    match camera.acquire().count(1).await {
        Err(ClientError::Busy(message)) => assert!(!message.is_empty()),
        other => panic!("expected Busy, got {other:?}"),
    }
    running.cancel().await.expect("cancel");

    // The type does not match the remote Thing.
    match StageClient::connect(&server.at("/camera/")).await {
        Err(ClientError::Mismatch(problems)) => {
            assert!(
                problems.iter().any(|p| p == "property `position` is missing"),
                "{problems:?}"
            );
            assert!(
                problems.iter().any(|p| p == "action `move_relative` is missing"),
                "{problems:?}"
            );
        }
        other => panic!("expected Mismatch, got {other:?}"),
    }
    match StageClient::connect(&server.at("/microscope/")).await {
        Err(ClientError::NotFound(_)) => {}
        other => panic!("expected NotFound, got {other:?}"),
    }

    let faulty = start_thing("faulty", Faulty).await;
    let client = FaultyClient::connect(&faulty.at("/faulty/")).await.expect("connect");
    match client.fail().await {
        Err(ClientError::Device(problem)) => assert_eq!(problem.detail, "the motor driver is not answering"),
        other => panic!("expected Device, got {other:?}"),
    }
    drop(faulty);

    // Nothing listens there any more.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        listener.local_addr().expect("its address").port()
    };
    match StageClient::connect(&format!("http://127.0.0.1:{closed}/stage/")).await {
        Err(ClientError::Transport(_)) => {}
        other => panic!("expected Transport, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_twenty_line_example_drives_the_mock_lab() {
    let server = lab().await;
    let url = server.url.clone();
    let (code, out, err) =
        tokio::task::spawn_blocking(move || common::process::run_example("drive_mock_lab", &[&url], ""))
            .await
            .expect("joined");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("moved from [0, 0, 0] to [100, -50, 0]"), "{out}");
    assert!(out.contains("3 frames, mean intensities ["), "{out}");
    assert!(out.contains("a image/jpeg picture of "), "{out}");
}

/// Labels samples.
#[thing]
#[derive(Default)]
pub struct Labeller {
    /// The current label.
    #[property]
    pub label: DataProperty<String>,
}

#[thing]
impl Labeller {
    /// Label `count` samples `prefix`-1, `prefix`-2, ...
    #[action]
    fn label_all(&self, prefix: String, #[default(String::from("-"))] separator: String, count: u32) -> Vec<String> {
        (1..=count).map(|i| format!("{prefix}{separator}{i}")).collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_is_passed_as_str() {
    let server = start_thing("labeller", Labeller::default()).await;
    let labeller = LabellerClient::connect(&server.at("/labeller/"))
        .await
        .expect("connect");
    // `&str` arguments and setters, as a caller has them at hand.
    labeller.set_label("plate A").await.expect("write");
    assert_eq!(labeller.label().await.expect("read"), "plate A");
    let labels = labeller.label_all("well", 2).separator("_").await.expect("call");
    assert_eq!(labels, ["well_1", "well_2"]);
}
