//! The interoperability matrix: every client against every server
//! configuration, each cell a real client (ours or one nobody here wrote)
//! against a real server on a socket.
//!
//! Servers: the bench over {HTTP, HTTPS with a self-signed certificate} ×
//! {no users, a bearer token, a user name and password, anonymous
//! observers beside a password user} × {at the root, under the
//! `api_prefix` `/lab`}. Clients: the typed client `#[thing]` generates,
//! the dynamic client, the `labthings` command line, Eclipse Thingweb
//! node-wot 0.9.2, LabThings-FastAPI 0.3.0's `ThingClient`, and curl. Each
//! cell writes `count` = 40, reads it back, invokes `increment` by 2 and
//! checks the answer is 42, with the credentials and the certificate given
//! the way that client documents. The matrix is printed (and kept in
//! `target/tmp/interop-matrix.md`, which `.ci/run` prints at the end of
//! the run); every cell must pass. (MQTT's rows -- each broker set-up ×
//! mosquitto_pub/sub, node-wot's MQTT client, MQTT 5 request/response --
//! are `every_mqtt_client_against_every_broker_setup` in `tests/mqtt.rs`.)

mod common;

#[allow(dead_code, unreachable_pub)]
#[path = "../benches/servers/bench.rs"]
mod bench;

use std::path::{Path, PathBuf};

use labthings::client::{Connection, ThingClient};
use labthings::{AuthConfig, Credential, Role, Server, ServerConfig, TlsConfig, User};
use serde_json::{Value, json};

const PASSWORD: &str = "the operator's password";
const TOKEN: &str = "a-bearer-token-for-the-matrix-0123456789";

/// How a server checks who is calling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Users {
    /// Nobody is asked.
    None,
    /// One user with a token.
    Bearer,
    /// One user with a password.
    Basic,
    /// One user with a password; anyone may observe.
    Anonymous,
}

impl Users {
    fn label(self) -> &'static str {
        match self {
            Self::None => "no users",
            Self::Bearer => "bearer",
            Self::Basic => "basic",
            Self::Anonymous => "anonymous observers",
        }
    }

    fn config(self) -> AuthConfig {
        let user = match self {
            Self::None => return AuthConfig::default(),
            Self::Bearer => User::new("script", Role::Operate, Credential::token(TOKEN)),
            Self::Basic | Self::Anonymous => User::new("operator", Role::Operate, Credential::password(PASSWORD)),
        };
        AuthConfig::for_users(vec![user]).with_anonymous((self == Self::Anonymous).then_some(Role::Observe))
    }

    /// The credentials as the interop scripts take them.
    fn credentials(self) -> Value {
        match self {
            Self::None => Value::Null,
            Self::Bearer => json!({"token": TOKEN}),
            Self::Basic | Self::Anonymous => json!({"username": "operator", "password": PASSWORD}),
        }
    }
}

/// One server of the matrix, serving until the test ends.
struct Served {
    /// The bench's TD URL.
    bench: String,
    /// The certificate to trust, for HTTPS.
    cacert: Option<PathBuf>,
    users: Users,
}

async fn serve(tls: Option<(&Path, &Path)>, users: Users, prefix: &str) -> Served {
    let config = ServerConfig::default().with(|c| {
        c.settings_dir = None;
        c.api_prefix = prefix.to_owned();
        c.auth = users.config();
        c.tls = tls.map(|(cert, key)| TlsConfig::new(cert.to_owned(), key.to_owned()));
    });
    let listening = Server::builder()
        .config(config)
        .thing("bench", bench::Bench::default())
        .build()
        .expect("build the bench")
        .bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listening.local_addr().expect("an address").port();
    tokio::spawn(listening.serve_until(std::future::pending::<()>()));
    let scheme = if tls.is_some() { "https" } else { "http" };
    Served {
        bench: format!("{scheme}://localhost:{port}{prefix}/bench/"),
        cacert: tls.map(|(cert, _)| cert.to_owned()),
        users,
    }
}

/// The `labthings` binary, built beside this test by `cargo test --workspace`.
fn cli_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's path");
    let debug = exe.parent().and_then(Path::parent).expect("target/debug");
    debug.join(format!("labthings{}", std::env::consts::EXE_SUFFIX))
}

fn expect(what: &str, got: impl std::fmt::Display, wanted: &str) -> Result<(), String> {
    let got = got.to_string();
    if got.trim() == wanted {
        Ok(())
    } else {
        Err(format!("{what}: {got:?}, not {wanted}"))
    }
}

/// Our connection for `served`: its certificate and credentials.
fn connection(served: &Served) -> Result<Connection, String> {
    let mut connection = Connection::new();
    if let Some(cert) = &served.cacert {
        connection = connection.with_ca_file(cert).map_err(|e| e.to_string())?;
    }
    Ok(match served.users {
        Users::None => connection,
        Users::Bearer => connection.with_token(TOKEN),
        Users::Basic | Users::Anonymous => connection.with_password("operator", PASSWORD),
    })
}

async fn typed(served: &Served) -> Result<(), String> {
    let bench = bench::BenchClient::connect_with(&served.bench, connection(served)?)
        .await
        .map_err(|e| e.to_string())?;
    bench.set_count(40).await.map_err(|e| e.to_string())?;
    expect("count", bench.count().await.map_err(|e| e.to_string())?, "40")?;
    expect(
        "increment",
        bench.increment().by(2).await.map_err(|e| e.to_string())?,
        "42",
    )?;
    expect("count", bench.count().await.map_err(|e| e.to_string())?, "42")
}

async fn dynamic(served: &Served) -> Result<(), String> {
    let bench = ThingClient::connect(&served.bench, connection(served)?)
        .await
        .map_err(|e| e.to_string())?;
    bench.write_property("count", &40).await.map_err(|e| e.to_string())?;
    let count: i64 = bench.read_property("count").await.map_err(|e| e.to_string())?;
    expect("count", count, "40")?;
    let output: i64 = bench
        .call_action("increment", &json!({"by": 2}))
        .await
        .map_err(|e| e.to_string())?;
    expect("increment", output, "42")?;
    let count: i64 = bench.read_property("count").await.map_err(|e| e.to_string())?;
    expect("count", count, "42")
}

async fn cli(served: &Served) -> Result<(), String> {
    let binary = cli_binary();
    let mut global: Vec<String> = Vec::new();
    let mut env: Vec<(&str, String)> = Vec::new();
    if let Some(cert) = &served.cacert {
        global.extend(["--cacert".to_owned(), cert.to_string_lossy().into_owned()]);
    }
    match served.users {
        Users::None => {}
        Users::Bearer => global.extend(["--token".to_owned(), TOKEN.to_owned()]),
        Users::Basic | Users::Anonymous => {
            global.extend(["--user".to_owned(), "operator".to_owned()]);
            env.push(("LABTHINGS_PASSWORD", PASSWORD.to_owned()));
        }
    }
    let call = |command: &[&str]| {
        let mut args: Vec<&str> = global.iter().map(String::as_str).collect();
        args.extend_from_slice(command);
        args.iter().map(|a| (*a).to_owned()).collect::<Vec<String>>()
    };
    let url = served.bench.as_str();
    for (command, wanted) in [
        (call(&["set", url, "count", "40"]), None),
        (call(&["get", url, "count"]), Some("40")),
        (call(&["--json", "invoke", url, "increment", "by=2"]), Some("42")),
        (call(&["get", url, "count"]), Some("42")),
    ] {
        let args: Vec<&str> = command.iter().map(String::as_str).collect();
        let out = common::clients::run_cell(&binary, &args, &env).await?;
        if let Some(wanted) = wanted {
            expect(&args.join(" "), out.lines().last().unwrap_or(""), wanted)?;
        }
    }
    Ok(())
}

/// The environment the interop scripts read the credentials and the
/// certificate from.
fn script_env(served: &Served) -> Vec<(&'static str, String)> {
    let mut env = vec![("LABTHINGS_CREDENTIALS", served.users.credentials().to_string())];
    if let Some(cert) = &served.cacert {
        let cert = cert.to_string_lossy().into_owned();
        env.push(("NODE_EXTRA_CA_CERTS", cert.clone()));
        env.push(("LABTHINGS_CACERT", cert));
    }
    env
}

async fn node_wot(served: &Served) -> Result<(), String> {
    let script = common::clients::repo().join("tests/interop/matrix_wot.mjs");
    let out = common::clients::run_cell(
        Path::new("node"),
        &[script.to_str().unwrap_or_default(), &served.bench],
        &script_env(served),
    )
    .await?;
    expect("node-wot", out.lines().last().unwrap_or(""), "cell passed")
}

async fn thing_client(served: &Served) -> Result<(), String> {
    let python = common::clients::repo().join(".venv-original/bin/python");
    let script = common::clients::repo().join("tests/interop/matrix_thing_client.py");
    let out = common::clients::run_cell(
        &python,
        &[script.to_str().unwrap_or_default(), &served.bench],
        &script_env(served),
    )
    .await?;
    expect("ThingClient", out.lines().last().unwrap_or(""), "cell passed")
}

async fn curl(served: &Served) -> Result<(), String> {
    let mut base: Vec<String> = vec!["--silent".into(), "--show-error".into(), "--fail-with-body".into()];
    if let Some(cert) = &served.cacert {
        base.extend(["--cacert".to_owned(), cert.to_string_lossy().into_owned()]);
    }
    match served.users {
        Users::None => {}
        Users::Bearer => base.extend(["-H".to_owned(), format!("Authorization: Bearer {TOKEN}")]),
        Users::Basic | Users::Anonymous => base.extend(["-u".to_owned(), format!("operator:{PASSWORD}")]),
    }
    let json = ["-H".to_owned(), "Content-Type: application/json".to_owned()];
    let count = format!("{}count", served.bench);
    let increment = format!("{}increment?return=output", served.bench);
    let steps: [(Vec<String>, Option<&str>); 4] = [
        (
            [
                &json[..],
                &["-X".into(), "PUT".into(), "-d".into(), "40".into(), count.clone()],
            ]
            .concat(),
            None,
        ),
        (vec![count.clone()], Some("40")),
        (
            [&json[..], &["-d".into(), "{\"by\": 2}".into(), increment]].concat(),
            Some("42"),
        ),
        (vec![count], Some("42")),
    ];
    for (args, wanted) in steps {
        let all: Vec<&str> = base.iter().chain(args.iter()).map(String::as_str).collect();
        let out = common::clients::run_cell(Path::new("curl"), &all, &[]).await?;
        if let Some(wanted) = wanted {
            expect(&format!("curl {}", args.join(" ")), out, wanted)?;
        }
    }
    Ok(())
}

const CLIENTS: [&str; 6] = [
    "typed client",
    "dynamic client",
    "labthings CLI",
    "node-wot 0.9.2",
    "ThingClient 0.3.0",
    "curl",
];

async fn cell(client: usize, served: &Served) -> Result<(), String> {
    match client {
        0 => typed(served).await,
        1 => dynamic(served).await,
        2 => cli(served).await,
        3 => node_wot(served).await,
        4 => thing_client(served).await,
        _ => curl(served).await,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_client_against_every_server_configuration() {
    common::clients::setup();
    assert!(
        cli_binary().exists(),
        "{} is built by `cargo test --workspace` (the README's test command)",
        cli_binary().display()
    );
    let dir = std::env::temp_dir().join(format!("labthings-matrix-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    let (cert, key) = common::self_signed(&dir, &["localhost", "127.0.0.1"]);
    let mut rows: Vec<(String, Vec<Result<(), String>>)> = Vec::new();
    for https in [false, true] {
        for users in [Users::None, Users::Bearer, Users::Basic, Users::Anonymous] {
            for prefix in ["", "/lab"] {
                let tls = https.then_some((cert.as_path(), key.as_path()));
                let served = serve(tls, users, prefix).await;
                let mut cells = Vec::new();
                for client in 0..CLIENTS.len() {
                    cells.push(cell(client, &served).await);
                }
                let label = format!(
                    "{} / {} / {}",
                    if https { "HTTPS" } else { "HTTP" },
                    users.label(),
                    if prefix.is_empty() { "root" } else { prefix }
                );
                rows.push((label, cells));
            }
        }
    }
    // The matrix, as a Markdown table, then each failure in full.
    let mut table = format!(
        "| server \\ client | {} |\n|---|{}\n",
        CLIENTS.join(" | "),
        "---|".repeat(CLIENTS.len())
    );
    let mut failures = Vec::new();
    for (label, cells) in &rows {
        let marks: Vec<&str> = cells.iter().map(|c| if c.is_ok() { "pass" } else { "FAIL" }).collect();
        table.push_str(&format!("| {label} | {} |\n", marks.join(" | ")));
        for (client, cell) in cells.iter().enumerate() {
            if let Err(why) = cell {
                failures.push(format!("{label} × {}: {why}", CLIENTS[client]));
            }
        }
    }
    let cells: usize = rows.iter().map(|(_, c)| c.len()).sum();
    table.push_str(&format!("\n{} of {cells} cells passed\n", cells - failures.len()));
    println!("{table}");
    // cargo test shows a passing test's output only with --nocapture: the
    // table is also kept where `.ci/run` prints it at the end of the run.
    let kept = Path::new(env!("CARGO_TARGET_TMPDIR")).join("interop-matrix.md");
    std::fs::write(&kept, &table).expect("keep the matrix");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{table}\n{}", failures.join("\n"));
}
