//! The minimum supported Rust version (`rust-version` in the workspace's
//! `Cargo.toml`) holds for what we depend on: no package in `Cargo.lock`
//! declares that it needs a newer compiler. (Our own code is held to it by
//! clippy's `incompatible_msrv` lint, which CI runs with `-D warnings`; this
//! machine has one toolchain, so no older compiler builds the workspace
//! here: see CONTRIBUTING.md.)

use std::process::Command;

/// `1.89` or `1.89.0` as numbers to compare.
fn version(text: &str) -> (u64, u64, u64) {
    let mut parts = text.split('.').map(|p| p.parse::<u64>().unwrap_or(0));
    (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    )
}

#[test]
fn no_dependency_needs_a_newer_compiler_than_the_msrv() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked", "--offline"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo metadata");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).expect("cargo metadata's JSON");
    let msrv = env!("CARGO_PKG_RUST_VERSION");
    assert!(!msrv.is_empty(), "the workspace states no rust-version");
    // Older than the toolchain that builds it: a user on last year's Rust
    // can still depend on us.
    let rustc = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .arg("--version")
        .output()
        .expect("run rustc --version");
    let rustc = String::from_utf8_lossy(&rustc.stdout).into_owned();
    let toolchain = rustc.split_whitespace().nth(1).unwrap_or_default();
    assert!(
        version(msrv) < version(toolchain),
        "the MSRV {msrv} is not older than this toolchain ({rustc})"
    );
    let packages = metadata["packages"].as_array().expect("packages");
    assert!(
        packages.len() > 100,
        "only {} packages: is the lock file read?",
        packages.len()
    );
    let too_new: Vec<String> = packages
        .iter()
        .filter_map(|package| {
            let needs = package["rust_version"].as_str()?;
            (version(needs) > version(msrv)).then(|| {
                format!(
                    "{} {} needs Rust {needs}",
                    package["name"].as_str().unwrap_or("?"),
                    package["version"].as_str().unwrap_or("?")
                )
            })
        })
        .collect();
    assert!(
        too_new.is_empty(),
        "the MSRV is {msrv}, but:\n{}\n(raise rust-version in Cargo.toml, and in the README, or pin an older version)",
        too_new.join("\n")
    );
}
