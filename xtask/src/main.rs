//! This repository's own tasks, run as `cargo xtask TASK`:
//!
//! - `cargo xtask test [ARGS]`: install what the tests drive our servers
//!   with, saying what first (`tests/interop/setup.sh`: node modules and
//!   Python venvs inside the repository, the Mosquitto broker unpacked into
//!   `.tools/`, and Debian's chromium, curl, mosquitto-clients and the
//!   broker's libraries through apt-get), then run every test
//!   (`cargo test --workspace --locked ARGS`).
//! - `cargo xtask setup`: only the installing.
//! - `cargo xtask check`: say what is missing, installing nothing.
//! - `cargo xtask guide`: build the guide (`guide/`, an mdBook) into
//!   `target/guide/`, first installing mdBook into `.tools/mdbook/` with
//!   `cargo install` if it is not there (saying so). Its Rust examples are
//!   tested by `cargo test`, as doc tests of the `labthings` crate.
//!
//! Plain `cargo test` installs nothing: a test that needs a missing tool
//! fails, naming `cargo xtask test`.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let task = args.next();
    let rest: Vec<String> = args.collect();
    let outcome = match task.as_deref() {
        Some("test") => setup().and_then(|()| run(cargo().args(["test", "--workspace", "--locked"]).args(&rest))),
        Some("setup") => setup(),
        Some("check") => run(Command::new("bash")
            .arg(root().join("tests/interop/setup.sh"))
            .arg("--check")),
        Some("guide") => guide(),
        _ => {
            eprintln!(
                "usage: cargo xtask test [ARGS]   install what the tests need (saying what), then run every test\n       \
                 cargo xtask setup         only install\n       \
                 cargo xtask check         say what is missing, installing nothing\n       \
                 cargo xtask guide         build the guide into target/guide/ (installing mdBook into .tools/ first)"
            );
            return ExitCode::from(2);
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The repository's root (this crate is one of its folders).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// The cargo that runs this task.
fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(root());
    command
}

/// Install what is missing, having said what.
fn setup() -> Result<(), String> {
    run(Command::new("bash").arg(root().join("tests/interop/setup.sh")))
}

/// The mdBook release the guide is built with.
const MDBOOK_VERSION: &str = "0.5.4";

/// Build the guide with mdBook, installed into `.tools/mdbook/` if missing.
fn guide() -> Result<(), String> {
    let tools = root().join(".tools/mdbook");
    let mdbook = tools.join("bin/mdbook");
    let installed = Command::new(&mdbook)
        .arg("--version")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains(MDBOOK_VERSION));
    if !installed {
        eprintln!(
            "xtask: installing mdBook {MDBOOK_VERSION} into {} (cargo install; a few minutes)",
            tools.display()
        );
        run(cargo()
            .args(["install", "mdbook", "--version", MDBOOK_VERSION, "--locked", "--quiet"])
            .args(["--no-default-features", "--features", "search", "--root"])
            .arg(&tools))?;
    }
    run(Command::new(&mdbook).arg("build").arg(root().join("guide")))
}

/// Run `command` to the end; an error naming it unless it succeeds.
fn run(command: &mut Command) -> Result<(), String> {
    let status = command
        .status()
        .map_err(|e| format!("could not run {:?}: {e}", command.get_program()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{:?} failed ({status})", command.get_program()))
    }
}
