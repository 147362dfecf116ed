//! This repository's own tasks, run as `cargo xtask TASK`:
//!
//! - `cargo xtask test [ARGS]`: install what the tests drive our servers
//!   with, saying what first (`tests/interop/setup.sh`: node modules and
//!   Python venvs inside the repository, the Mosquitto broker unpacked into
//!   `.tools/`, and Debian's chromium, curl, mosquitto-clients and the
//!   broker's libraries through apt-get; `cargo fetch`: every package
//!   `Cargo.lock` names, for every platform), then run every test
//!   (`cargo test --workspace --locked ARGS`).
//! - `cargo xtask setup`: only the installing.
//! - `cargo xtask check`: say what is missing, installing nothing.
//! - `cargo xtask deny`: check what we depend on with cargo-deny
//!   (`deny.toml`: one version of each crate but the listed exceptions,
//!   crates.io only, and the RustSec advisories), first installing
//!   cargo-deny into `.tools/cargo-deny/` if it is not there. When the
//!   advisory database cannot be fetched, that is said, not hidden.
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
        Some("deny") => deny(),
        _ => {
            eprintln!(
                "usage: cargo xtask test [ARGS]   install what the tests need (saying what), then run every test\n       \
                 cargo xtask setup         only install\n       \
                 cargo xtask check         say what is missing, installing nothing\n       \
                 cargo xtask deny          check dependencies with cargo-deny (installing it into .tools/ first)\n       \
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

/// Install what is missing, having said what; and download every package
/// `Cargo.lock` names, for every platform (`tests/msrv.rs` reads their
/// manifests offline).
fn setup() -> Result<(), String> {
    run(Command::new("bash").arg(root().join("tests/interop/setup.sh")))?;
    run(cargo().args(["fetch", "--locked"]))
}

/// The cargo-deny release `cargo xtask deny` runs.
const CARGO_DENY_VERSION: &str = "0.20.2";

/// `tool` (a crate of that name whose binary is `bin`) at `version`, in
/// `.tools/{tool}/`, installed with `cargo install` first if missing.
fn tool(tool: &str, bin: &str, version: &str, features: &[&str]) -> Result<PathBuf, String> {
    let home = root().join(".tools").join(tool);
    let binary = home.join("bin").join(bin);
    let installed = Command::new(&binary)
        .arg("--version")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains(version));
    if !installed {
        eprintln!(
            "xtask: installing {tool} {version} into {} (cargo install; a few minutes)",
            home.display()
        );
        let mut install = cargo();
        // Unoptimised (these tools do little work here, and a debug build
        // takes half the time), with one target folder for every tool, so
        // the crates they share are built once.
        install.args([
            "install",
            tool,
            "--version",
            version,
            "--locked",
            "--quiet",
            "--debug",
            "--root",
        ]);
        install.arg(&home);
        install.arg("--target-dir").arg(root().join("target/tools"));
        if !features.is_empty() {
            install.args(["--no-default-features", "--features", &features.join(",")]);
        }
        run(&mut install)?;
    }
    Ok(binary)
}

/// cargo-deny's checks: bans and sources must pass; advisories must pass
/// when the database can be had, and say so loudly when it cannot.
fn deny() -> Result<(), String> {
    let deny = tool("cargo-deny", "cargo-deny", CARGO_DENY_VERSION, &[])?;
    run(Command::new(&deny)
        .current_dir(root())
        .args(["check", "bans", "sources"]))?;
    let advisories = Command::new(&deny)
        .current_dir(root())
        .args(["check", "advisories"])
        .output()
        .map_err(|e| format!("could not run cargo-deny: {e}"))?;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&advisories.stdout),
        String::from_utf8_lossy(&advisories.stderr)
    );
    if advisories.status.success() {
        eprintln!("{}", said.trim());
        eprintln!(
            "xtask: advisories checked against the RustSec database as of {}",
            database_date()
        );
        return Ok(());
    }
    if said.contains("Could not resolve host") || said.contains("unable to access") {
        eprintln!(
            "xtask: ADVISORIES NOT CHECKED: the RustSec advisory database cannot be fetched from this machine \
             (github.com is not reachable). Bans and sources were checked. Run `cargo xtask deny` where GitHub \
             is reachable, or as CONTRIBUTING.md says with a copy of the database."
        );
        return Ok(());
    }
    eprintln!("{said}");
    Err("cargo-deny found advisories that deny.toml does not answer".to_owned())
}

/// When the newest advisory of the database cargo-deny used was committed.
fn database_date() -> String {
    let dbs = root().join("target/advisory-dbs");
    let newest = std::fs::read_dir(&dbs)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.join(".git").exists())
        .filter_map(|path| {
            let out = Command::new("git")
                .arg("-C")
                .arg(&path)
                .args(["log", "-1", "--format=%cI"])
                .output()
                .ok()?;
            Some(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        })
        .max();
    newest.unwrap_or_else(|| "an unknown date".to_owned())
}

/// The mdBook release the guide is built with.
const MDBOOK_VERSION: &str = "0.5.4";

/// Build the guide with mdBook, installed into `.tools/mdbook/` if missing.
fn guide() -> Result<(), String> {
    let mdbook = tool("mdbook", "mdbook", MDBOOK_VERSION, &["search"])?;
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
