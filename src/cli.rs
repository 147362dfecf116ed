//! The command-line options every example server takes (parsed by clap):
//! where to listen, a configuration file, `--insecure`, and two tools for
//! making credentials.

#[cfg(feature = "auth")]
use std::io::BufRead;
use std::path::PathBuf;

use clap::Parser;
#[cfg(feature = "auth")]
use labthings_http::auth;

/// The default interface: only this computer can connect.
pub const DEFAULT_HOST: &str = "127.0.0.1";
/// The default port.
pub const DEFAULT_PORT: u16 = 5000;

/// Where to listen and what to serve. Options given on the command line win
/// over the configuration file's `host` and `port`.
///
/// ```
/// use labthings::cli::ServeArgs;
/// let args = ServeArgs::parse_from(["--port", "0"]).unwrap();
/// assert_eq!(args.address(), "127.0.0.1:0");
/// assert_eq!(args.address_or(Some("0.0.0.0"), Some(8000)), "0.0.0.0:0");
/// assert!(!args.server_config().security.insecure);
/// assert!(ServeArgs::parse_from(["--port", "http"]).is_err());
/// assert!(ServeArgs::parse_from(["--fallback"]).unwrap().server_config().fallback);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Parser)]
#[command(about = "A labthings server", long_about = None)]
pub struct ServeArgs {
    /// The address to listen on (default 127.0.0.1: this computer only).
    #[arg(long)]
    pub host: Option<String>,
    /// The port to listen on (default 5000; 0 picks a free port).
    #[arg(long)]
    pub port: Option<u16>,
    /// A TOML configuration file: things, limits, security, TLS.
    #[arg(long, value_name = "FILE.toml")]
    pub config: Option<PathBuf>,
    /// Serve on an address other than loopback without credentials: anyone
    /// who can reach it may operate the instrument.
    #[arg(long)]
    pub insecure: bool,
    /// If a thing fails to start, keep serving a page that says which and
    /// why, instead of exiting (for an instrument run as a service).
    #[arg(long)]
    pub fallback: bool,
    /// Serve every thing of the configuration file simulated: the same
    /// Thing Descriptions (marked `lt:simulated`), no hardware.
    #[arg(long)]
    pub simulate: bool,
    /// Read a password from standard input, print its argon2 hash (for a
    /// user's `password_hash`) and exit.
    #[arg(long, exclusive = true)]
    pub hash_password: bool,
    /// Print a new random bearer token and its SHA-256 (for a user's
    /// `token_sha256`) and exit.
    #[arg(long, exclusive = true)]
    pub new_token: bool,
}

impl ServeArgs {
    /// Read the options of this process (`std::env::args`), or exit with a
    /// usage message if they are wrong. `--hash-password` and `--new-token`
    /// do their job and exit here.
    pub fn from_args() -> Self {
        let args = Self::parse();
        if let Some(code) = args.run_tools() {
            std::process::exit(code);
        }
        args
    }

    /// Do what `--hash-password` or `--new-token` asks, if either is given,
    /// and return the exit code; `None` when neither is. For a program that
    /// puts these options in a parser of its own (`#[command(flatten)]
    /// serve: ServeArgs`) and so does not call [`from_args`](Self::from_args).
    pub fn run_tools(&self) -> Option<i32> {
        if self.hash_password {
            return Some(print_password_hash());
        }
        if self.new_token {
            return Some(print_new_token());
        }
        None
    }

    /// Parse options from a list of arguments (without the program name).
    pub fn parse_from<I, S>(args: I) -> Result<Self, String>
    where
        I: IntoIterator<Item = S>,
        S: Into<std::ffi::OsString> + Clone,
    {
        let program = std::iter::once(std::ffi::OsString::from("labthings"));
        Self::try_parse_from(program.chain(args.into_iter().map(Into::into))).map_err(|e| e.to_string())
    }

    /// `host:port` from the command line or the defaults.
    pub fn address(&self) -> String {
        self.address_or(None, None)
    }

    /// `host:port`: the command line first, then `host`/`port` (e.g. from a
    /// configuration file), then the defaults.
    pub fn address_or(&self, host: Option<&str>, port: Option<u16>) -> String {
        let host = self.host.as_deref().or(host).unwrap_or(DEFAULT_HOST);
        let port = self.port.or(port).unwrap_or(DEFAULT_PORT);
        if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        }
    }

    /// The default server settings with what the command line changes.
    pub fn server_config(&self) -> crate::ServerConfig {
        crate::ServerConfig::default().with(|config| self.apply(config))
    }

    /// Apply what the command line changes to `config` (`--insecure`,
    /// `--fallback`, `--simulate`), over a configuration file's values: for
    /// [`config_file::load`](crate::http::config_file::load).
    pub fn apply(&self, config: &mut crate::ServerConfig) {
        config.security.insecure |= self.insecure;
        config.fallback |= self.fallback;
        config.simulate |= self.simulate;
    }
}

/// The whole `main` of a server program: do what `--hash-password` or
/// `--new-token` asks; otherwise build the server from `--config FILE`
/// (with the thing types of `catalog`, and its things built in code beside
/// those the file names), or from `catalog`'s things built in code alone,
/// with the command line's options applied; then serve it on the address
/// the command line (or the file) gives until Ctrl-C or SIGTERM, saying
/// `listening on …` once every thing has started. Any error (a file that
/// cannot be used, a busy port, a thing that fails to start) is printed as
/// one message naming what to fix, without a backtrace whatever
/// `RUST_BACKTRACE` says, and the program exits with status 1.
///
/// ```no_run
/// use labthings::cli::{ServeArgs, serve};
/// use labthings::prelude::*;
///
/// /// A lamp.
/// #[thing]
/// #[derive(Default)]
/// struct Lamp {
///     /// Whether it is on.
///     #[property]
///     on: DataProperty<bool>,
/// }
///
/// #[thing]
/// impl Lamp {}
///
/// #[tokio::main]
/// async fn main() -> std::process::ExitCode {
///     // `lamp` is served with or without a file; files may also name lamps.
///     let catalog = ThingCatalog::new().register_default::<Lamp>("Lamp").thing("lamp", Lamp::default());
///     serve(&ServeArgs::from_args(), &catalog).await
/// }
/// ```
pub async fn serve(args: &ServeArgs, catalog: &crate::ThingCatalog) -> std::process::ExitCode {
    serve_with(args, catalog, |config| catalog.build(config)).await
}

/// [`serve`], with `build` making the server when no configuration file is
/// given (a program whose things are wired in code).
pub async fn serve_with<E: std::fmt::Display>(
    args: &ServeArgs,
    catalog: &crate::ThingCatalog,
    build: impl FnOnce(crate::ServerConfig) -> Result<crate::Server, E>,
) -> std::process::ExitCode {
    if let Some(code) = args.run_tools() {
        return exit_code(code);
    }
    let (server, address) = match &args.config {
        Some(path) => match crate::http::config_file::load(path, catalog, |config| args.apply(config)) {
            Ok(configured) => {
                let address = args.address_or(configured.host.as_deref(), configured.port);
                (configured.server, address)
            }
            Err(error) => return failed(&error),
        },
        None => match build(args.server_config()) {
            Ok(server) => (server, args.address()),
            Err(error) => return failed(&error),
        },
    };
    match run(server, address).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => failed(&error),
    }
}

/// Run `server` as a program's server: set up logging with
/// [`init_tracing`](crate::init_tracing) if nothing else has, bind `address`, print
/// `listening on http://HOST:PORT` and the addresses of the control panel
/// and the API docs once every thing has started, and serve until Ctrl-C or
/// SIGTERM, then shut down as [`Listening::serve_until`](crate::http::Listening::serve_until)
/// says. A second Ctrl-C or SIGTERM during shutdown exits the process at
/// once (status 130), after the stop hooks if they finish within a second.
///
/// This is the application's part, and lives here rather than in the
/// library: [`Server::bind`](crate::Server::bind) and
/// [`Listening::serve_until`](crate::http::Listening::serve_until) print
/// nothing, install nothing global and never exit the process.
pub async fn run(server: crate::Server, address: impl tokio::net::ToSocketAddrs) -> std::io::Result<()> {
    crate::init_tracing();
    let stop_now = server.stop_now_handle();
    let listening = server.bind(address).await?;
    let url = listening.url();
    let shutdown = async move {
        crate::http::shutdown_signal().await;
        tokio::spawn(async move {
            crate::http::shutdown_signal().await;
            tracing::warn!("second stop signal: exiting now");
            stop_now.stop_now(std::time::Duration::from_secs(1));
            std::process::exit(130);
        });
    };
    // Said only once every thing has started: a supervisor or script that
    // waits for it can use the lab at once.
    let ready = move || {
        println!("listening on {url}");
        println!("  control panel  {url}/");
        println!("  API docs       {url}/docs/");
    };
    listening.serve_until_ready(shutdown, ready).await
}

/// Print `error` as one message (its causes after it, if its `{:#}` says
/// them) and give the exit status 1.
fn failed(error: &dyn std::fmt::Display) -> std::process::ExitCode {
    eprintln!("error: {error:#}");
    std::process::ExitCode::FAILURE
}

fn exit_code(code: i32) -> std::process::ExitCode {
    std::process::ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// What `--hash-password` and `--new-token` say in a program built without
/// the `auth` feature.
#[cfg(not(feature = "auth"))]
const NO_AUTH: &str = "this program was built without the `auth` feature of labthings: it has no users";

/// `--new-token`: a new token and its SHA-256; the exit code.
#[cfg(feature = "auth")]
fn print_new_token() -> i32 {
    let token = auth::new_token();
    println!("token (give it to the user; keep it secret): {token}");
    println!(
        "for the configuration file:  token_sha256 = \"{}\"",
        auth::token_sha256_hex(&token)
    );
    0
}

#[cfg(not(feature = "auth"))]
fn print_new_token() -> i32 {
    eprintln!("{NO_AUTH}");
    2
}

#[cfg(not(feature = "auth"))]
fn print_password_hash() -> i32 {
    eprintln!("{NO_AUTH}");
    2
}

/// `--hash-password`: hash the first line of standard input; the exit code.
#[cfg(feature = "auth")]
fn print_password_hash() -> i32 {
    eprintln!("type the password and press Enter (or pipe it in):");
    let mut line = String::new();
    if let Err(e) = std::io::stdin().lock().read_line(&mut line) {
        eprintln!("cannot read the password: {e}");
        return 1;
    }
    let password = line.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        eprintln!("an empty password protects nothing");
        return 1;
    }
    println!("password_hash = \"{}\"", auth::hash_password(password));
    0
}
