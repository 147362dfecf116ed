//! The `main` of a server program (`labthings::cli::serve_with`, which the
//! examples use): mistakes print one message and exit with status 1, never
//! a `Debug` dump or a backtrace (even with `RUST_BACKTRACE=1`); a
//! program's own flags beside the standard ones keep `--new-token`
//! working; and things built in code are served beside those a
//! configuration file names.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::process::{ServerProcess, example_binary, scratch_dir};
use labthings::http::config_file;
use labthings::prelude::*;

/// Run example `name` with `args` in a scratch folder, with
/// `RUST_BACKTRACE=1`: (exit code, stdout, stderr). Each case here ends at
/// once; one still running after 60 s (a server that ignored its options)
/// is killed and fails the test.
fn run(name: &str, args: &[&str]) -> (i32, String, String) {
    let dir = scratch_dir();
    let mut child = Command::new(example_binary(name))
        .args(args)
        .current_dir(&dir)
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the example");
    let read = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_string(&mut text);
            }
            text
        })
    };
    let stdout = read(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let stderr = read(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the example") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`{name} {}` was still running after 60 s", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = std::fs::remove_dir_all(dir);
    (
        status.code().unwrap_or(-1),
        stdout.join().unwrap_or_default(),
        stderr.join().unwrap_or_default(),
    )
}

/// Neither a `Debug` dump nor a backtrace.
fn assert_one_message(stderr: &str) {
    for debug in ["stack backtrace", "Custom {", "Invalid {", "kind:", "Error: "] {
        assert!(!stderr.contains(debug), "{debug:?} in:\n{stderr}");
    }
}

#[test]
fn a_busy_port_is_one_message_and_status_1() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let port = taken.local_addr().expect("its address").port().to_string();
    let (code, _, stderr) = run("mock_lab", &["--port", &port]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(&format!("error: cannot listen on 127.0.0.1:{port}")) && stderr.contains("--port 0"),
        "{stderr}"
    );
    assert_one_message(&stderr);
}

#[test]
fn a_wrong_configuration_file_is_one_message_naming_the_file_and_the_key() {
    let dir = scratch_dir();
    let file = dir.join("lab.toml");
    std::fs::write(
        &file,
        "[things.stage]\ntype = \"Stage\"\nconfig = { step_delay_ms = \"fast\" }\n",
    )
    .expect("write the file");
    let path = file.display().to_string();
    let (code, _, stderr) = run("mock_lab", &["--config", &path, "--port", "0"]);
    let _ = std::fs::remove_dir_all(dir);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("error: ")
            && stderr.contains("lab.toml")
            && stderr.contains("things.stage.config.step_delay_ms"),
        "{stderr}"
    );
    assert_one_message(&stderr);
}

#[test]
fn a_programs_own_flags_keep_the_standard_tools() {
    // The Sangaboard example adds `--serial` (required unless
    // `--simulate`) to the standard options; `--new-token` still works alone.
    let (code, stdout, stderr) = run("sangaboard", &["--new-token"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("token_sha256 = \""), "{stdout}");
}

/// A lamp.
#[thing]
#[derive(Default)]
struct Lamp {
    /// Whether it is on.
    #[property]
    on: DataProperty<bool>,
}

#[thing]
impl Lamp {}

#[test]
fn things_built_in_code_are_served_beside_those_a_file_names() {
    let catalog = ThingCatalog::new()
        .register_default::<Lamp>("Lamp")
        .thing("desk", Lamp::default());
    let dir = scratch_dir();
    let file = dir.join("lab.toml");
    std::fs::write(
        &file,
        "settings_dir = \"settings\"\n[things.ceiling]\ntype = \"Lamp\"\n",
    )
    .expect("write");
    let configured = config_file::load(&file, &catalog, |_| ()).expect("the file and the code together");
    let mut names: Vec<&str> = configured.server.things().iter().map(|t| t.name()).collect();
    names.sort_unstable();
    assert_eq!(names, ["ceiling", "desk"]);

    // Alone, without a file.
    let alone = catalog
        .build(ServerConfig::default().with(|c| c.settings_dir = None))
        .expect("built");
    assert_eq!(alone.things().len(), 1);

    // A file that names the same thing is refused, naming it.
    std::fs::write(&file, "[things.desk]\ntype = \"Lamp\"\n").expect("write");
    let error = config_file::load(&file, &catalog, |_| ()).expect_err("`desk` twice");
    assert!(error.to_string().contains("desk"), "{error}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_smallest_example_serves_its_thing() {
    let server = ServerProcess::start("hello_thing", &[]);
    let client = reqwest::blocking::Client::new();
    let td: serde_json::Value = client
        .get(server.at("/greeter/"))
        .send()
        .and_then(|r| r.json())
        .expect("the TD");
    assert_eq!(td["title"], "Greets whoever asks.");
    let greeting: String = client
        .post(server.at("/greeter/greet?return=output"))
        .json(&serde_json::json!({"name": "Ada"}))
        .send()
        .and_then(|r| r.json())
        .expect("the greeting");
    assert_eq!(greeting, "Hello, Ada!");
    let refused = client
        .post(server.at("/greeter/greet"))
        .json(&serde_json::json!({"name": ""}))
        .send()
        .expect("an answer");
    assert_eq!(refused.status().as_u16(), 422);
}

#[test]
fn a_server_from_its_configuration_file_alone() {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/from_config.toml");
    let path = file.display().to_string();
    let server = ServerProcess::start("from_config", &["--config", &path]);
    let client = reqwest::blocking::Client::new();
    let things: serde_json::Value = client
        .get(server.at("/things/"))
        .send()
        .and_then(|r| r.json())
        .expect("the things");
    let mut names: Vec<&str> = things
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    names.sort_unstable();
    assert_eq!(names, ["bench_lamp", "heater", "hood_lamp"], "{things}");
    // The file's max_c (70) reached the heater.
    let refused = client
        .put(server.at("/heater/setpoint"))
        .json(&80.0)
        .send()
        .expect("an answer");
    assert_eq!(refused.status().as_u16(), 422);
    let accepted = client
        .put(server.at("/heater/setpoint"))
        .json(&65.0)
        .send()
        .expect("an answer");
    assert_eq!(accepted.status().as_u16(), 201);
    drop(server);

    let (code, _, stderr) = run("from_config", &["--port", "0"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("give --config FILE.toml"), "{stderr}");
}
