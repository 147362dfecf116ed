//! Running the `labthings` binary, shared by the CLI's tests.

use tokio::process::Command;

/// Run `labthings ARGS` with the environment variables `env` (and none of
/// the caller's `LABTHINGS_*` credentials): (exit status, stdout, stderr).
pub(crate) async fn labthings_with(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_labthings"))
        .args(args)
        .env_remove("LABTHINGS_TOKEN")
        .env_remove("LABTHINGS_USER")
        .env_remove("LABTHINGS_PASSWORD")
        .env_remove("LABTHINGS_CACERT")
        .envs(env.iter().copied())
        .output()
        .await
        .expect("run labthings");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}
