//! Credentials as an operator sets them up: the mock lab as its own process,
//! users in a configuration file with secrets from the environment and a
//! file, the credential tools (`--hash-password`, `--new-token`), the audit
//! log on stderr, and the refusal to listen beyond loopback without users.

mod common;

use std::process::Command;

use common::process::{ServerProcess, example_binary, run_example, scratch_dir};
use serde_json::json;

/// Run `mock_lab` with `args` and `stdin` to the end: (exit code, stdout, stderr).
fn run_mock_lab(args: &[&str], stdin: &str) -> (i32, String, String) {
    run_example("mock_lab", args, stdin)
}

/// The value of `key = "..."` in a line the credential tools print.
fn quoted_after<'a>(text: &'a str, key: &str) -> &'a str {
    let start = text
        .find(&format!("{key} = \""))
        .unwrap_or_else(|| panic!("{key} in {text}"))
        + key.len()
        + 4;
    let end = text[start..].find('"').expect("a closing quote") + start;
    &text[start..end]
}

#[test]
fn a_lab_secured_from_its_configuration_file_checks_and_audits_every_user() {
    // The operator makes the credentials with the server's own tools.
    let (code, hashed, _) = run_mock_lab(&["--hash-password"], "alice's password\n");
    assert_eq!(code, 0, "{hashed}");
    let password_hash = quoted_after(&hashed, "password_hash").to_owned();
    assert!(password_hash.starts_with("$argon2id$"), "{hashed}");
    assert!(!hashed.contains("alice's password"));
    let (code, made, _) = run_mock_lab(&["--new-token"], "");
    assert_eq!(code, 0, "{made}");
    let token = made
        .lines()
        .find_map(|l| l.strip_prefix("token (give it to the user; keep it secret): "))
        .expect("a token line")
        .to_owned();
    let token_sha256 = quoted_after(&made, "token_sha256").to_owned();
    let env_token = "bob-token-from-the-environment-0123";
    let file_token = "carol-token-from-a-file-0123456789";

    let dir = scratch_dir();
    std::fs::write(dir.join("carol.token"), format!("{file_token}\n")).expect("write the token file");
    let config = format!(
        r#"
settings_dir = "settings"
[things.stage]
type = "Stage"
config = {{ step_delay_ms = 1 }}
[things.camera]
type = "Camera"
[things.autofocus]
type = "Autofocus"

[[auth.users]]
name = "alice"
role = "operate"
password_hash = "{password_hash}"

[[auth.users]]
name = "bob"
role = "operate"
things = ["camera"]
token_env = "BOB_TOKEN"

[[auth.users]]
name = "carol"
role = "observe"
token_file = "carol.token"

[[auth.users]]
name = "dave"
role = "operate"
token_sha256 = "{token_sha256}"
"#
    );
    std::fs::write(dir.join("lab.toml"), config).expect("write the configuration");
    let lab = ServerProcess::start_in(dir, "mock_lab", &["--config", "lab.toml"], &[("BOB_TOKEN", env_token)]);
    let client = reqwest::blocking::Client::new();
    enum By<'a> {
        Nobody,
        Token(&'a str),
        Password(&'a str),
    }
    let requests = [
        ("GET", "/stage/position", By::Nobody, None, 401),
        ("GET", "/stage/position", By::Token(file_token), None, 200),
        (
            "PUT",
            "/stage/step_delay_ms",
            By::Token(file_token),
            Some(json!(3)),
            403,
        ),
        (
            "PUT",
            "/stage/step_delay_ms",
            By::Password("alice's password"),
            Some(json!(3)),
            201,
        ),
        (
            "PUT",
            "/camera/exposure_ms",
            By::Token(env_token),
            Some(json!(4.0)),
            201,
        ),
        ("POST", "/stage/home", By::Token(env_token), Some(json!({})), 403),
        (
            "POST",
            "/stage/home?return=output",
            By::Token(&token),
            Some(json!({})),
            200,
        ),
        ("GET", "/stage/position", By::Password("wrong password"), None, 401),
    ];
    for (method, path, by, body, expected) in requests {
        let mut request = client.request(method.parse().expect("a method"), lab.at(path));
        request = match by {
            By::Nobody => request,
            By::Token(token) => request.bearer_auth(token),
            By::Password(password) => request.basic_auth("alice", Some(password)),
        };
        if let Some(body) = body {
            request = request.json(&body);
        }
        let status = request.send().expect("a response").status().as_u16();
        assert_eq!(status, expected, "{method} {path}");
    }

    let log = lab.stderr();
    let audit: Vec<&str> = log.lines().filter(|l| l.contains("labthings::audit")).collect();
    for (user, request) in [
        ("alice", "method=PUT path=\"/stage/step_delay_ms\" status=201"),
        ("bob", "method=PUT path=\"/camera/exposure_ms\" status=201"),
        ("dave", "method=POST path=\"/stage/home\" status=200"),
    ] {
        assert!(
            audit
                .iter()
                .any(|l| l.contains(&format!("user=\"{user}\"")) && l.contains(request)),
            "audit of {user} {request}:\n{log}"
        );
    }
    assert!(
        log.lines()
            .any(|l| l.contains("user=\"carol\"") && l.contains("role does not allow")),
        "{log}"
    );
    assert!(
        log.lines()
            .any(|l| l.contains("user=\"bob\"") && l.contains("path=\"/stage/home\"")),
        "{log}"
    );
    assert!(log.contains("without valid credentials"), "{log}");
    for secret in [
        "alice's password",
        "wrong password",
        env_token,
        file_token,
        token.as_str(),
        password_hash.as_str(),
    ] {
        assert!(!log.contains(secret), "the log holds a secret: {secret}\n{log}");
    }
}

#[test]
fn without_users_the_lab_refuses_to_listen_beyond_loopback_unless_told() {
    let (code, stdout, stderr) = run_mock_lab(&["--host", "0.0.0.0", "--port", "0"], "");
    assert_ne!(code, 0, "{stdout}");
    assert!(!stdout.contains("listening on"), "{stdout}");
    for hint in ["refusing to serve on 0.0.0.0", "[[auth.users]]", "--insecure"] {
        assert!(stderr.contains(hint), "{stderr}");
    }
    let insecure = ServerProcess::start("mock_lab", &["--host", "0.0.0.0", "--insecure"]);
    assert!(insecure.url.starts_with("http://0.0.0.0:"), "{}", insecure.url);
    // A bad configuration of users is an error naming the key, not a server.
    let dir = scratch_dir();
    std::fs::write(
        dir.join("lab.toml"),
        "[[auth.users]]\nname = \"x\"\nrole = \"operate\"\ntoken_env = \"NO_SUCH_VARIABLE_HERE\"\n",
    )
    .expect("write");
    let output = Command::new(example_binary("mock_lab"))
        .args(["--config", "lab.toml", "--port", "0"])
        .current_dir(&dir)
        .env_remove("NO_SUCH_VARIABLE_HERE")
        .output()
        .expect("run mock_lab");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("auth.users[0]: token_env") && stderr.contains("NO_SUCH_VARIABLE_HERE"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(dir);
}
