//! The OpenAPI document tells the truth: schemathesis (PyPI), which nobody
//! here wrote, generates requests from the mock lab's `/openapi.json` (with
//! a fixed seed and budget, `tests/interop/schemathesis.toml`) and checks
//! every answer against the document: statuses, content types, schemas,
//! no server errors, and that invalid input is refused and valid input
//! accepted. Any failure it reports fails this test.

mod common;

use std::process::Command;

use common::clients::{repo, setup};
use common::process::ServerProcess;

#[test]
fn schemathesis_finds_no_failure_in_the_mock_labs_openapi_document() {
    setup();
    let lab = ServerProcess::start("mock_lab", &[]);
    // A scratch working folder: schemathesis keeps a cache of past failures
    // in `.schemathesis/` there, and each run must start from nothing.
    let scratch = std::env::temp_dir().join(format!("labthings-schemathesis-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&scratch).expect("a scratch folder");
    let output = Command::new(repo().join(".venv-schemathesis/bin/schemathesis"))
        .current_dir(&scratch)
        .arg("--config-file")
        .arg(repo().join("tests/interop/schemathesis.toml"))
        .args(["run", &lab.at("/openapi.json"), "--seed", "1", "--no-color"])
        // Live streams never end; they are tested in tests/live.rs.
        .args(["--exclude-path-regex", "(/ws$|/observe$|/preview$|/frame_acquired$)"])
        .output()
        .expect("run schemathesis (`cargo xtask test` installs it)");
    let _ = std::fs::remove_dir_all(&scratch);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary: String = stdout
        .lines()
        .rev()
        .take(30)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join("\n");
    println!("{summary}");
    assert!(
        output.status.success(),
        "schemathesis reported failures:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("generated"), "schemathesis ran test cases:\n{stdout}");
}
