//! `labthings`: drive any Web of Things Thing from the shell, through its
//! Thing Description (`labthings-client`'s dynamic client).
//!
//! ```text
//! labthings describe http://127.0.0.1:5000/stage/
//! labthings get      http://127.0.0.1:5000/stage/ position
//! labthings set      http://127.0.0.1:5000/stage/ step_delay_ms 5
//! labthings invoke   http://127.0.0.1:5000/stage/ move_relative x=100 y=-50
//! labthings watch    http://127.0.0.1:5000/stage/ position
//! labthings list     http://127.0.0.1:5000/stage/
//! labthings approve  http://127.0.0.1:5000/action_invocations/ID
//! labthings export   http://127.0.0.1:5000/ --thing stage --since 2026-12-07T00:00:00Z
//! labthings mcp      http://127.0.0.1:5000/stage/ http://127.0.0.1:5000/camera/
//! labthings --cacert lab.crt --user alice get https://scope-1.lab:5000/stage/ position
//! ```
//!
//! Output is for people unless `--json` is given. Exit status: 0 done, 1 the
//! server or the Thing refused or failed, 2 a usage mistake, 130 an
//! invocation cancelled with Ctrl-C.

mod describe;
mod export;
mod invoke;
mod mcp;
mod terminal;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use labthings_client::{ClientError, Connection, StreamExt, ThingClient};
use serde_json::Value;

/// Drive a Web of Things Thing (a labthings or LabThings-FastAPI server, or
/// any TD with HTTP forms) from the command line.
#[derive(Parser)]
#[command(name = "labthings", version)]
struct Cli {
    /// Print JSON instead of text for people.
    #[arg(long, global = true)]
    json: bool,
    /// A bearer token, for a server with users configured. It is sent only
    /// to the origin (scheme, host, port) of the URL given.
    #[arg(long, global = true, env = "LABTHINGS_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// A user name, for a server with users configured: the password is
    /// read from LABTHINGS_PASSWORD, or asked for on the terminal (never
    /// given on the command line). Sent only to the origin of the URL
    /// given; use it over HTTPS.
    #[arg(
        long,
        global = true,
        env = "LABTHINGS_USER",
        value_name = "NAME",
        conflicts_with = "token"
    )]
    user: Option<String>,
    /// Trust the certificate authorities in this PEM file besides the
    /// system's: a lab's own CA, or an HTTPS server's self-signed
    /// certificate.
    #[arg(long, global = true, env = "LABTHINGS_CACERT", value_name = "FILE")]
    cacert: Option<std::path::PathBuf>,
    /// Send the credentials to this origin too (when a Thing Description
    /// points at another server of the same lab); may be repeated.
    #[arg(long = "allow-origin", global = true, value_name = "URL")]
    allow_origins: Vec<String>,
    /// Seconds to wait for each answer of the server.
    #[arg(long, global = true, env = "LABTHINGS_TIMEOUT", default_value_t = 30.0)]
    timeout: f64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The Thing Description as a readable summary.
    Describe {
        /// The Thing's URL, e.g. http://127.0.0.1:5000/stage/
        url: String,
    },
    /// Read a property.
    Get {
        /// The Thing's URL.
        url: String,
        /// The property's name.
        property: String,
    },
    /// Write a property: VALUE is JSON (`5`, `true`, `[1,2]`), or text.
    Set {
        /// The Thing's URL.
        url: String,
        /// The property's name.
        property: String,
        /// The new value.
        value: String,
    },
    /// Run an action, showing its status and log as they arrive; Ctrl-C
    /// cancels it.
    Invoke {
        /// The Thing's URL.
        url: String,
        /// The action's name.
        action: String,
        /// The input: one JSON object, or `name=value` pairs (each value
        /// JSON, or text).
        input: Vec<String>,
    },
    /// Print each new value of a property, or each payload of an event.
    Watch {
        /// The Thing's URL.
        url: String,
        /// A property's or an event's name.
        name: String,
        /// Stop after this many (default: until Ctrl-C).
        #[arg(long)]
        count: Option<u64>,
    },
    /// The Thing's invocations the server keeps.
    List {
        /// The Thing's URL.
        url: String,
    },
    /// Serve the Things at these URLs to an AI agent as a local MCP server
    /// over stdio (tools `thing.action`, `thing.get-property`,
    /// `thing.set-property`), driving their HTTP forms: for a server with
    /// no MCP binding of its own.
    Mcp {
        /// The Things' URLs.
        #[arg(required = true)]
        urls: Vec<String>,
    },
    /// Approve an invocation that awaits an operator (not your own call).
    Approve {
        /// The invocation's URL (its `href`).
        invocation: String,
    },
    /// Reject an invocation that awaits an operator: it ends without running.
    Reject {
        /// The invocation's URL (its `href`).
        invocation: String,
    },
    /// Save the server's record of invocations (`[records]`): a folder with,
    /// per invocation, `record.json` (everything recorded, with the states of
    /// the things when it started), `invocation.json` and its blob files; or
    /// Bluesky event-model documents (`--format event-model`).
    Export {
        /// The server's URL, e.g. http://127.0.0.1:5000/
        server: String,
        #[command(flatten)]
        filter: export::Filter,
        /// `archive` (a folder) or `event-model` (one JSON file).
        #[arg(long, default_value = "archive")]
        format: String,
        /// Where: a folder for `archive` (default `labthings-records`), a
        /// file for `event-model` (default: standard output).
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {}", terminal::clean(&error.to_string()));
            if let ClientError::Validation(problems) = &error {
                for problem in problems.iter().take(20) {
                    eprintln!("  - {}", terminal::clean(&problem.to_string()));
                }
            }
            ExitCode::FAILURE
        }
    }
}

/// The connection the options ask for, its credentials sent to the
/// origins of `urls` only.
fn connection(cli: &Cli, urls: &[&str]) -> Result<Connection, ClientError> {
    let timeout = std::time::Duration::try_from_secs_f64(cli.timeout)
        .map_err(|_| ClientError::Protocol(format!("--timeout {}: not a number of seconds", cli.timeout)))?;
    let mut connection = Connection::new().with_timeout(timeout);
    if let Some(file) = &cli.cacert {
        connection = connection.with_ca_file(file)?;
    }
    let password = match &cli.user {
        Some(user) => Some(password(user)?),
        None => None,
    };
    for url in urls {
        if let Some(token) = &cli.token {
            connection = connection.with_token_for(token.clone(), url);
        }
        if let (Some(user), Some(password)) = (&cli.user, &password) {
            connection = connection.with_password_for(user.clone(), password.clone(), url);
        }
    }
    for origin in &cli.allow_origins {
        connection = connection.allow_credentials_to(origin);
    }
    Ok(connection)
}

/// `POST {invocation}/{decision}` (`approve` or `reject`), saying how it went.
async fn decide(cli: &Cli, invocation: &str, decision: &str) -> Result<ExitCode, ClientError> {
    let connection = connection(cli, &[invocation])?;
    let url = format!("{}/{decision}", invocation.trim_end_matches('/'));
    let (status, body) = connection.request(labthings_client::Method::POST, &url, None).await?;
    let answer: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if !(200..300).contains(&status) {
        let detail = answer["detail"]
            .as_str()
            .map_or_else(|| String::from_utf8_lossy(&body).into_owned(), str::to_owned);
        return Err(ClientError::Status {
            status,
            message: detail,
        });
    }
    if cli.json {
        print_json(&answer);
    } else {
        let state = answer["approval"]["state"].as_str().unwrap_or("decided");
        println!(
            "{}: {state}",
            terminal::clean(answer["action"].as_str().unwrap_or(invocation))
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn run(cli: Cli) -> Result<ExitCode, ClientError> {
    let url = match &cli.command {
        Command::Describe { url }
        | Command::Get { url, .. }
        | Command::Set { url, .. }
        | Command::Invoke { url, .. }
        | Command::Watch { url, .. }
        | Command::List { url } => url.clone(),
        Command::Approve { invocation } => return decide(&cli, invocation, "approve").await,
        Command::Reject { invocation } => return decide(&cli, invocation, "reject").await,
        Command::Export {
            server,
            filter,
            format,
            out,
        } => {
            let connection = connection(&cli, &[server])?;
            export::run(&connection, server, filter, format, out.clone()).await?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::Mcp { urls } => {
            let all: Vec<&str> = urls.iter().map(String::as_str).collect();
            let connection = connection(&cli, &all)?;
            let mut things = Vec::new();
            for url in urls {
                things.push(ThingClient::connect(url, connection.clone()).await?);
            }
            return mcp::serve(things).await;
        }
    };
    let thing = ThingClient::connect(&url, connection(&cli, &[&url])?).await?;
    match cli.command {
        Command::Describe { .. } => {
            if cli.json {
                print_json(&thing.description().raw);
            } else {
                print!("{}", terminal::clean(&describe::summary(thing.description())));
            }
        }
        Command::Get { property, .. } => {
            let value: Value = thing.read_property(&property).await?;
            print_value(&value, cli.json);
        }
        Command::Set { property, value, .. } => {
            thing.write_property(&property, &json_or_text(&value)).await?;
            if cli.json {
                print_json(&Value::Null);
            } else {
                println!("{property} = {}", terminal::clean(&value));
            }
        }
        Command::Invoke { action, input, .. } => {
            let input = invoke::input(&input)?;
            return invoke::run(&thing, &action, &input, cli.json).await;
        }
        Command::Watch { name, count, .. } => {
            let is_property = thing.description().property(&name).is_ok();
            let mut stream = if is_property {
                thing.observe_property::<Value>(&name).await?
            } else {
                thing.subscribe_event::<Value>(&name).await?
            };
            let mut seen: u64 = 0;
            while count.is_none_or(|count| seen < count) {
                tokio::select! {
                    next = stream.next() => match next {
                        // The stream resumed after a break, but the server no
                        // longer kept everything sent meanwhile: say so, go on.
                        Some(Err(ClientError::Missed(message))) => {
                            eprintln!("warning: {message}");
                            continue;
                        }
                        Some(value) => print_value(&value?, cli.json),
                        None => break,
                    },
                    _ = tokio::signal::ctrl_c() => break,
                }
                seen = seen.saturating_add(1);
            }
        }
        Command::Approve { .. } | Command::Reject { .. } | Command::Mcp { .. } | Command::Export { .. } => {}
        Command::List { .. } => {
            let invocations = thing.invocations().await?;
            if cli.json {
                let list: Vec<Value> = invocations
                    .iter()
                    .map(|i| serde_json::json!({"id": i.id, "action": i.action, "status": i.status.to_string(), "timeRequested": i.time_requested}))
                    .collect();
                print_json(&Value::Array(list));
            } else if invocations.is_empty() {
                println!("no invocations");
            } else {
                for i in invocations {
                    let line = format!(
                        "{:<36}  {:<10}  {}  {}",
                        i.id.as_deref().unwrap_or("-"),
                        i.status,
                        i.time_requested.as_deref().unwrap_or(""),
                        i.action.as_deref().unwrap_or("")
                    );
                    println!("{}", terminal::clean(&line));
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The password of `user`: from `LABTHINGS_PASSWORD`, else asked for on
/// the terminal without echo.
fn password(user: &str) -> Result<String, ClientError> {
    if let Ok(password) = std::env::var("LABTHINGS_PASSWORD") {
        return Ok(password);
    }
    rpassword::prompt_password(format!("password for {user}: ")).map_err(|e| {
        ClientError::Protocol(format!(
            "--user {user}: no password: set LABTHINGS_PASSWORD, or run in a terminal to be asked ({e})"
        ))
    })
}

/// `text` as JSON if it is JSON (`5`, `true`, `"a"`, `[1]`), else as a string.
fn json_or_text(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

fn print_json(value: &Value) {
    println!("{}", serde_json::to_string(value).unwrap_or_default());
}

/// A value for people: text as it is, anything else as indented JSON
/// (control characters escaped, long lines cut; see `terminal`).
fn print_value(value: &Value, json: bool) {
    match value {
        Value::String(text) if !json => println!("{}", terminal::clean(text)),
        _ if json => print_json(value),
        _ => println!(
            "{}",
            terminal::clean(&serde_json::to_string_pretty(value).unwrap_or_default())
        ),
    }
}
