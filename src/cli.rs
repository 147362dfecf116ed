//! The command-line options every example server takes: `--host`, `--port`
//! and `--config`.

use std::path::PathBuf;

/// The default interface: only this computer can connect.
pub const DEFAULT_HOST: &str = "127.0.0.1";
/// The default port.
pub const DEFAULT_PORT: u16 = 5000;

/// Where to listen and what to serve, read from `--host HOST` (default
/// `127.0.0.1`), `--port PORT` (default 5000; 0 picks a free port) and
/// `--config FILE` (a TOML file, see
/// [`labthings_http::config_file`](crate::http::config_file)). Options given
/// on the command line win over the file's `host` and `port`.
///
/// ```
/// let args = labthings::cli::ServeArgs::parse_from(["--port", "0"]).unwrap();
/// assert_eq!(args.address(), "127.0.0.1:0");
/// assert_eq!(args.address_or(Some("0.0.0.0"), Some(8000)), "0.0.0.0:0");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServeArgs {
    /// `--host`, if given.
    pub host: Option<String>,
    /// `--port`, if given.
    pub port: Option<u16>,
    /// `--config`, if given.
    pub config: Option<PathBuf>,
}

impl ServeArgs {
    /// Read the options of this process (`std::env::args`), or exit with a
    /// usage message if they are wrong.
    pub fn from_env() -> Self {
        match Self::parse_from(std::env::args().skip(1)) {
            Ok(args) => args,
            Err(message) => {
                eprintln!("{message}\nusage: [--host HOST] [--port PORT] [--config FILE.toml]");
                std::process::exit(2);
            }
        }
    }

    /// Parse options from a list of arguments (without the program name).
    pub fn parse_from<I, S>(args: I) -> Result<Self, String>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut parsed = Self::default();
        let mut args = args.into_iter().map(Into::into);
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((flag, value)) => (flag.to_owned(), Some(value.to_owned())),
                None => (arg, None),
            };
            let mut value = || {
                inline
                    .clone()
                    .or_else(|| args.next())
                    .ok_or(format!("{flag} needs a value"))
            };
            match flag.as_str() {
                "--host" => parsed.host = Some(value()?),
                "--port" => {
                    let v = value()?;
                    parsed.port = Some(v.parse().map_err(|_| format!("--port: `{v}` is not a port number"))?);
                }
                "--config" => parsed.config = Some(PathBuf::from(value()?)),
                "-h" | "--help" => return Err("a labthings server".to_owned()),
                other => return Err(format!("unknown option `{other}`")),
            }
        }
        Ok(parsed)
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
}
