//! The Sangaboard Thing (crate `labthings-sangaboard`) driving a firmware
//! emulator over a real pseudo-terminal: the emulator
//! (`tests/sangaboard/emulator.py`) is built on the `sangaboard` Python
//! package's own `DummySangaboardDevice`, and first checked with that
//! package's real client class, so it answers what the real library
//! expects; then the Thing drives it over HTTP: moves, cancellation (the
//! motors stopped, the position read back), a server killed mid-move by a
//! signal (the motors stopped), a driver that died mid-move before ours
//! (its stray answers skipped, its motors stopped), and an unplugged board
//! (an error naming the port, not a hang; then reconnection).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::clients::{repo, setup};
use common::process::ServerProcess;
use labthings::Server;
use labthings_sangaboard::Sangaboard;
use serde_json::{Value, json};

/// The Python with the `sangaboard` package (`tests/interop/setup.sh`).
fn python() -> PathBuf {
    setup();
    repo().join(".venv-sangaboard/bin/python")
}

/// The emulator on a pseudo-terminal, reached through a symbolic link that
/// stays put across restarts (as `/dev/serial/by-id/` links do).
struct Emulator {
    dir: PathBuf,
    child: Option<Child>,
    /// The pseudo-terminal itself, `/dev/pts/N`.
    pty: String,
}

impl Emulator {
    fn start() -> Self {
        let dir = std::env::temp_dir().join(format!("labthings-sangaboard-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("a scratch folder");
        let mut emulator = Self {
            dir,
            child: None,
            pty: String::new(),
        };
        emulator.run();
        emulator
    }

    /// (Re)start the emulator process.
    fn run(&mut self) {
        let mut child = Command::new(python())
            .arg(repo().join("tests/sangaboard/emulator.py"))
            .arg("--link")
            .arg(self.link())
            .arg("--log")
            .arg(self.dir.join("commands.log"))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the emulator");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the emulator says its port");
        assert!(line.starts_with("/dev/"), "the emulator's port: {line:?}");
        self.pty = line.trim().to_owned();
        self.child = Some(child);
    }

    /// The emulator is unplugged: killed, its end of the port gone.
    fn unplug(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The port's stable name.
    fn link(&self) -> PathBuf {
        self.dir.join("sangaboard")
    }

    fn port(&self) -> String {
        self.link().to_string_lossy().into_owned()
    }

    /// Every line the board received, in order.
    fn commands(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("commands.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.unplug();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn serve(emulator: &Emulator) -> common::TestServer {
    common::start(
        Server::builder()
            .config(labthings::ServerConfig::default().with(|c| c.settings_dir = None))
            .thing("stage", Sangaboard::serial(emulator.port()))
            .build()
            .expect("build"),
    )
    .await
}

/// Invoke `action` with `input` and wait for its end.
async fn run(server: &common::TestServer, action: &str, input: Value) -> Value {
    let (status, invocation) = server.post(&format!("/stage/{action}"), input).await;
    assert_eq!(status, 201, "{invocation}");
    server.wait_finished(&invocation).await
}

#[test]
fn the_emulator_answers_what_the_sangaboard_package_expects() {
    let emulator = Emulator::start();
    let output = Command::new(python())
        .arg(repo().join("tests/sangaboard/check_emulator.py"))
        .arg(emulator.port())
        .output()
        .expect("run the check");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("emulator passed"),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let commands = emulator.commands();
    for sent in [
        "version",
        "list_modules",
        "board",
        "blocking_moves true",
        "mr 300 -200 100",
        "stop",
    ] {
        assert!(
            commands.iter().any(|c| c == sent),
            "the package sent `{sent}`: {commands:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_thing_moves_the_board_and_reads_back_where_it_is() {
    let emulator = Emulator::start();
    let server = serve(&emulator).await;
    assert_eq!(server.get("/stage/position").await.1, json!({"x": 0, "y": 0, "z": 0}));
    let (_, connection) = server.get("/stage/connection").await;
    assert!(
        connection
            .as_str()
            .is_some_and(|c| c.starts_with("Sangaboard Firmware v1.0.1 on ")),
        "{connection}"
    );
    let done = run(&server, "move_relative", json!({"x": 200, "y": -100})).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["output"], json!({"x": 200, "y": -100, "z": 0}));
    assert_eq!(server.get("/stage/position").await.1, done["output"]);
    let done = run(&server, "move_absolute", json!({"x": 50})).await;
    assert_eq!(done["output"], json!({"x": 50, "y": -100, "z": 0}), "{done}");
    let done = run(&server, "set_zero_position", json!({})).await;
    assert_eq!(done["output"], json!({"x": 0, "y": 0, "z": 0}), "{done}");
    let done = run(&server, "flash_led", json!({"number_of_flashes": 2, "dt": 0.05})).await;
    assert_eq!(done["status"], "completed", "{done}");
    // Nothing to abort: busy, 409, as the original answers.
    let (status, refused) = server.post("/stage/abort_move", json!({})).await;
    assert_eq!(status, 201, "{refused}");
    let refused = server.wait_finished(&refused).await;
    assert_eq!(refused["status"], "error", "nothing to abort: {refused}");
    assert_eq!(refused["error"]["status"], 409, "{refused}");
    assert_eq!(refused["error"]["type"], "urn:labthings:problem:busy", "{refused}");
    let (status, refused) = server.post("/stage/abort_move?return=output", json!({})).await;
    assert_eq!(status, 409, "{refused}");
    assert!(refused.to_string().contains("the stage is not moving"), "{refused}");
    let commands = emulator.commands();
    for sent in [
        "blocking_moves false",
        "mr 200 -100 0",
        "mr -150 0 0",
        "zero",
        "led_cc 0",
        "led_cc 0.32",
    ] {
        assert!(commands.iter().any(|c| c == sent), "sent `{sent}`: {commands:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_move_stops_the_motors_and_reads_the_position_back() {
    let emulator = Emulator::start();
    let server = serve(&emulator).await;
    // 20000 steps at the emulator's 1000 steps a second: 20 s unless stopped.
    let (_, moving) = server.post("/stage/move_relative", json!({"x": 20000})).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.get("/stage/position").await.1["x"].as_i64().unwrap_or(0) < 200 {
        assert!(Instant::now() < deadline, "the position is read during the move");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(server.get("/stage/moving").await.1, json!(true));
    let asked = Instant::now();
    assert_eq!(server.cancel_and_wait(&moving).await, 200);
    let ended = server.wait_finished(&moving).await;
    assert_eq!(ended["status"], "cancelled", "{ended}");
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "stopped at once: {:?}",
        asked.elapsed()
    );
    let commands = emulator.commands();
    let mr = commands
        .iter()
        .position(|c| c == "mr 20000 0 0")
        .expect("the move was sent");
    let stop = commands[mr..]
        .iter()
        .position(|c| c == "stop")
        .expect("the motors were stopped");
    assert!(
        commands[mr + stop..].iter().any(|c| c == "p?"),
        "the position read back after the stop: {commands:?}"
    );
    let (_, here) = server.get("/stage/position").await;
    let x = here["x"].as_i64().expect("x");
    assert!((200..20000).contains(&x), "stopped part-way: {here}");
    assert_eq!(server.get("/stage/moving").await.1, json!(false));
    // The board agrees: a move of 0 reads the same position back.
    let done = run(&server, "move_relative", json!({})).await;
    assert_eq!(done["output"], here, "{done}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unplugged_board_is_an_error_naming_the_port_and_it_reconnects() {
    let mut emulator = Emulator::start();
    let server = serve(&emulator).await;
    let done = run(&server, "move_relative", json!({"x": 10})).await;
    assert_eq!(done["status"], "completed", "{done}");
    emulator.unplug();
    let asked = Instant::now();
    let failed = run(&server, "move_relative", json!({"x": 10})).await;
    assert_eq!(failed["status"], "error", "{failed}");
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "not a hang: {:?}",
        asked.elapsed()
    );
    let (_, connection) = server.get("/stage/connection").await;
    let said = connection.as_str().unwrap_or_default();
    assert!(
        (said.starts_with("lost: ") || said.starts_with("not connected: ")) && said.contains(&emulator.port()),
        "{connection}"
    );
    // Still unplugged: each action fails at once, naming the port.
    let failed = run(&server, "set_zero_position", json!({})).await;
    assert_eq!(failed["status"], "error", "{failed}");
    let error = failed["log"].to_string() + &failed["error"].to_string();
    assert!(error.contains("sangaboard"), "the port is named: {failed}");
    // Plugged in again (a new board, at the same stable name): the next
    // action connects.
    emulator.run();
    let done = run(&server, "move_relative", json!({"x": 5})).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(
        done["output"],
        json!({"x": 5, "y": 0, "z": 0}),
        "a new board starts at 0: {done}"
    );
    let (_, connection) = server.get("/stage/connection").await;
    assert!(
        connection
            .as_str()
            .is_some_and(|c| c.starts_with("Sangaboard Firmware")),
        "{connection}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_driver_that_died_mid_move_leaves_answers_that_are_skipped_and_motors_that_are_stopped() {
    let emulator = Emulator::start();
    // Another driver (a server killed by SIGTERM, say) asked for blocking
    // moves, started a long one and died without reading a word: the board
    // owes it a `done` for `blocking_moves` now and one when the move ends.
    {
        let mut port = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&emulator.pty)
            .expect("open the port as the old driver");
        port.write_all(b"blocking_moves true\nmr 30000 0 0\n").expect("write");
    }
    std::thread::sleep(Duration::from_millis(300));
    let server = serve(&emulator).await;
    let (_, connection) = server.get("/stage/connection").await;
    assert!(
        connection
            .as_str()
            .is_some_and(|c| c.starts_with("Sangaboard Firmware v1")),
        "the stray `done` is not taken for the version: {connection}"
    );
    let commands = emulator.commands();
    let connected = commands.iter().position(|c| c == "version").expect("our handshake");
    assert!(
        commands[connected..].iter().any(|c| c == "stop"),
        "the old driver's move is stopped: {commands:?}"
    );
    let (_, here) = server.get("/stage/position").await;
    let x = here["x"].as_i64().expect("x");
    assert!((1..30000).contains(&x), "stopped part-way: {here}");
    let done = run(&server, "move_relative", json!({"x": 100})).await;
    assert_eq!(done["output"]["x"], json!(x + 100), "{done}");
}

#[test]
fn a_server_stopped_by_a_signal_mid_move_stops_the_motors() {
    for signal in ["INT", "TERM"] {
        let emulator = Emulator::start();
        let mut server = ServerProcess::start("sangaboard", &["--serial", &emulator.port()]);
        let client = reqwest::blocking::Client::new();
        let started: Value = client
            .post(server.at("/stage/move_relative"))
            .json(&json!({"x": 20000}))
            .send()
            .and_then(|r| r.json())
            .expect("start a move");
        assert_eq!(
            started["status"].as_str().map(|s| s != "error"),
            Some(true),
            "{started}"
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while !emulator.commands().iter().any(|c| c == "mr 20000 0 0") {
            assert!(Instant::now() < deadline, "the move was sent");
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(300));
        server.signal(signal);
        assert!(
            server.wait_exit(Instant::now(), Duration::from_secs(15)).is_some(),
            "SIG{signal}: the server exits"
        );
        let commands = emulator.commands();
        let mr = commands.iter().position(|c| c == "mr 20000 0 0").expect("the move");
        assert!(
            commands[mr..].iter().any(|c| c == "stop"),
            "SIG{signal}: the motors were told to stop: {commands:?}\n{}",
            server.stderr()
        );
    }
}

/// The TD at `url`, with where it is served replaced by `URL`.
fn td_at(server: &ServerProcess, path: &str) -> Value {
    let text = reqwest::blocking::get(server.at(path))
        .and_then(|r| r.text())
        .expect("the TD");
    serde_json::from_str(&text.replace(&server.at(""), "URL")).expect("JSON")
}

/// `td` without the simulation marker (and the `lt` context it brings).
fn unmarked(mut td: Value) -> Value {
    assert_eq!(td["lt:simulated"], json!(true), "marked simulated: {td}");
    if let Some(td) = td.as_object_mut() {
        td.remove("lt:simulated");
    }
    if let Some(context) = td["@context"].as_array_mut() {
        context.retain(|c| c.get("lt").is_none());
    }
    td
}

#[test]
fn the_example_serves_a_simulated_board_with_the_same_description() {
    let emulator = Emulator::start();
    let real = ServerProcess::start("sangaboard", &["--serial", &emulator.port()]);
    let simulated = ServerProcess::start("sangaboard", &["--simulate"]);
    let real_td = td_at(&real, "/stage/");
    assert!(real_td.get("lt:simulated").is_none(), "{real_td}");
    assert_eq!(unmarked(td_at(&simulated, "/stage/")), real_td);
    let connection: Value = reqwest::blocking::get(simulated.at("/stage/connection"))
        .and_then(|r| r.json())
        .expect("connection");
    assert_eq!(connection, json!("simulated"));
}

/// Start the mock lab from a configuration file whose stage is a
/// Sangaboard on `port`, with `args` after `--config`.
fn mock_lab_on(port: &str, args: &[&str]) -> ServerProcess {
    let dir = common::process::scratch_dir();
    let file = format!(
        "settings_dir = \"settings\"\n\n[things.stage]\ntype = \"Sangaboard\"\nconfig = {{ port = \"{port}\" }}\n\n\
         [things.camera]\ntype = \"Camera\"\nconfig = {{ exposure_ms = 0.01 }}\n\n[things.autofocus]\ntype = \"Autofocus\"\n"
    );
    std::fs::write(dir.join("lab.toml"), file).expect("write the configuration");
    let mut all = vec!["--config", "lab.toml"];
    all.extend_from_slice(args);
    ServerProcess::start_in(dir, "mock_lab", &all, &[])
}

/// Run the autofocus's scan and wait for its end.
fn scan(server: &ServerProcess) -> Value {
    let client = reqwest::blocking::Client::new();
    let started: Value = client
        .post(server.at("/autofocus/scan"))
        .json(&json!({"range": 60, "step": 20}))
        .send()
        .and_then(|r| r.json())
        .expect("start the scan");
    let href = started["href"].as_str().expect("an href").to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now: Value = client.get(&href).send().and_then(|r| r.json()).expect("poll");
        if ["completed", "cancelled", "error"].contains(&now["status"].as_str().unwrap_or("")) {
            return now;
        }
        assert!(Instant::now() < deadline, "the scan did not end: {now}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_mock_labs_autofocus_drives_the_sangaboard_through_its_trait_typed_slot() {
    let emulator = Emulator::start();
    let lab = mock_lab_on(&emulator.port(), &[]);
    let done = scan(&lab);
    assert_eq!(done["status"], "completed", "{done}");
    // The mock camera is sharpest at z = 40: -60, -40, ..., 60, then back to 40.
    assert_eq!(done["output"], json!(40), "{done}");
    let commands = emulator.commands();
    for sent in ["mr 0 0 -60", "mr 0 0 20", "mr 0 0 -40"] {
        assert!(
            commands.iter().any(|c| c == sent),
            "the board was told `{sent}`: {commands:?}"
        );
    }
    let position: Value = reqwest::blocking::get(lab.at("/stage/position"))
        .and_then(|r| r.json())
        .expect("position");
    assert_eq!(position, json!({"x": 0, "y": 0, "z": 40}));
    let real_td = td_at(&lab, "/stage/");
    drop(lab);

    // The same file with --simulate: no port is opened, the same scan runs,
    // and the stage's TD is the same apart from its marker.
    let before = emulator.commands().len();
    let simulated = mock_lab_on(&emulator.port(), &["--simulate"]);
    let done = scan(&simulated);
    assert_eq!(done["output"], json!(40), "{done}");
    assert_eq!(unmarked(td_at(&simulated, "/stage/")), real_td);
    let connection: Value = reqwest::blocking::get(simulated.at("/stage/connection"))
        .and_then(|r| r.json())
        .expect("connection");
    assert_eq!(connection, json!("simulated"));
    assert_eq!(emulator.commands().len(), before, "nothing was sent to the board");
}
