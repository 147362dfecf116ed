//! The README's "A first Thing" is a program a newcomer pastes into
//! a new project: build exactly its `Cargo.toml` and `src/main.rs` as a
//! crate of its own (outside this workspace), run it, and drive it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The code block that follows `<!-- own-thing: NAME -->` in the README.
fn readme_block(readme: &str, name: &str) -> String {
    let marker = format!("<!-- own-thing: {name} -->");
    let after = &readme[readme.find(&marker).unwrap_or_else(|| panic!("{marker} in the README"))..];
    let fence = after.find("```").expect("a code block after the marker");
    let body_start = fence + after[fence..].find('\n').expect("the fence line ends") + 1;
    let body_len = after[body_start..].find("\n```").expect("the code block ends");
    after[body_start..body_start + body_len + 1].to_owned()
}

/// The workspace's `target` folder (`target/debug/deps/this-test` → `target`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    exe.ancestors().nth(3).expect("the target folder").to_path_buf()
}

#[test]
fn the_readme_example_builds_and_serves_as_a_crate_of_its_own() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).expect("read the README");
    let manifest = readme_block(&readme, "Cargo.toml");
    let main = readme_block(&readme, "src/main.rs");
    // The one line a newcomer adapts: where they cloned labthings.
    let dependency = "labthings = { path = \"../labthings\" }";
    assert!(manifest.contains(dependency), "{manifest}");
    let manifest = manifest.replace(
        dependency,
        &format!("labthings = {{ path = {:?} }}", root.display().to_string()),
    );
    assert!(
        !manifest.contains("serde") && !manifest.contains("schemars") && !manifest.contains("tracing"),
        "a device crate depends on labthings and tokio only:\n{manifest}"
    );

    let dir = std::env::temp_dir().join(format!("labthings-own-thing-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(dir.join("src")).expect("make the crate's folder");
    std::fs::write(dir.join("Cargo.toml"), format!("{manifest}\n[workspace]\n")).expect("write Cargo.toml");
    std::fs::write(dir.join("src/main.rs"), &main).expect("write main.rs");
    // The workspace's lock file pins the same versions, so the build needs
    // no registry and shares this workspace's compiled dependencies.
    std::fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock")).expect("copy Cargo.lock");
    let target = target_dir().join("readme-crate");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args(["build", "--offline", "--quiet"])
        .env("CARGO_TARGET_DIR", &target)
        .current_dir(&dir)
        .output()
        .expect("run cargo build");
    assert!(
        output.status.success(),
        "the README's crate does not build:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // It serves what the README says it serves, on a free port given with
    // the standard `--port` option.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = Command::new(target.join("debug/hello-lab"))
        .args(["--port", &port.to_string()])
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run the README's program");
    let client = reqwest::blocking::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let td: Value = loop {
        if let Ok(response) = client.get(format!("{base}/greeter/")).send() {
            break response.json().expect("the TD is JSON");
        }
        assert!(Instant::now() < deadline, "the README's program did not start");
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = client
        .post(format!("{base}/greeter/greet?return=output"))
        .json(&json!({"name": "Ada"}))
        .send()
        .and_then(|r| r.json::<Value>());
    let refused = client
        .post(format!("{base}/greeter/greet?return=output"))
        .json(&json!({"name": ""}))
        .send()
        .map(|r| (r.status().as_u16(), r.text().unwrap_or_default()));
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    let (status, body) = refused.expect("an answer to an empty name");
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("name"), "the 422 names the field: {body}");
    assert_eq!(td["title"], "Greets whoever asks.");
    assert_eq!(output.expect("the greeting"), json!("Hello, Ada!"));
}
