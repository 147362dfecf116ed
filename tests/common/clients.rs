//! Running clients nobody here wrote (node-wot, the original's ThingClient,
//! Chromium, openapi-spec-validator) against our servers.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

/// How long one client may take for its whole suite.
const SUITE_TIMEOUT: Duration = Duration::from_secs(300);

/// The repository root.
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Check, once per test binary, that the clients and tools the tests drive
/// our servers with are installed (`tests/interop/setup.sh --check`, which
/// installs nothing); if any is missing, fail naming what and the command
/// that installs it (`cargo xtask test`). Tests never install anything.
pub fn setup() {
    static SETUP: OnceLock<Result<(), String>> = OnceLock::new();
    let result = SETUP.get_or_init(|| {
        let output = std::process::Command::new("bash")
            .arg(repo().join("tests/interop/setup.sh"))
            .arg("--check")
            .output()
            .map_err(|e| format!("could not run bash: {e}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "this test drives our servers with tools that are not installed; `cargo xtask test` installs them \
                 (saying what first) and runs every test:\n{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    });
    if let Err(message) = result {
        panic!("{message}");
    }
}

/// Run a client to the end; fail the test with its output unless it passes.
pub async fn run_client(program: PathBuf, args: &[&str]) -> String {
    run_client_with(program, args, &[]).await
}

/// [`run_client`] with environment variables `env`.
pub async fn run_client_with(program: PathBuf, args: &[&str], env: &[(&str, &str)]) -> String {
    let child = tokio::process::Command::new(&program)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(repo())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("could not start {}: {e}", program.display()));
    let output = tokio::time::timeout(SUITE_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{} did not finish within {SUITE_TIMEOUT:?}", program.display()))
        .expect("wait for the client");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{} failed ({}):\n{stdout}\n{stderr}",
        program.display(),
        output.status,
    );
    // Ajv inside node-wot warns about every `format` it does not know, as
    // it did for schemars' "uint64", "uint32", ... in our schemas before they
    // kept to the formats JSON Schema defines. node-wot 0.9.2 itself prints
    // 44 such lines for its own TD schema (`#/definitions/anyUri`) as soon as
    // it is imported, whatever it talks to; those are not ours.
    let ours: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains("unknown format") && !line.contains("\"#/definitions/anyUri\""))
        .collect();
    assert!(
        ours.is_empty(),
        "{} warned about our schemas:\n{}",
        program.display(),
        ours.join("\n")
    );
    println!("{stdout}");
    stdout
}

/// Run `program` with `args` and `env` (and no `LABTHINGS_TOKEN` from the
/// outside), at most 60 s: its stdout, or what failed -- one cell of an
/// interoperability matrix, which must not stop the others.
pub async fn run_cell(program: &Path, args: &[&str], env: &[(&str, String)]) -> Result<String, String> {
    let output = tokio::process::Command::new(program)
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env_remove("LABTHINGS_TOKEN")
        .current_dir(repo())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(std::time::Duration::from_secs(60), output)
        .await
        .map_err(|_| format!("{} took more than 60 s", program.display()))?
        .map_err(|e| format!("could not run {}: {e}", program.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if output.status.success() {
        Ok(stdout)
    } else {
        Err(format!(
            "{}: {}{}",
            output.status,
            stdout.trim(),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}
