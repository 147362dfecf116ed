//! The command-line options every example server takes: `--host` and `--port`.

/// Where to listen, read from `--host HOST` (default `127.0.0.1`) and
/// `--port PORT` (default 5000; 0 picks a free port).
///
/// ```
/// let args = labthings::cli::ServeArgs::parse_from(["--port", "0"]).unwrap();
/// assert_eq!(args.address(), "127.0.0.1:0");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeArgs {
    /// The interface to bind.
    pub host: String,
    /// The TCP port (0: any free port).
    pub port: u16,
}

impl Default for ServeArgs {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".to_owned(),
            port: 5000,
        }
    }
}

impl ServeArgs {
    /// Read the options of this process (`std::env::args`), or exit with a
    /// usage message if they are wrong.
    pub fn from_env() -> Self {
        match Self::parse_from(std::env::args().skip(1)) {
            Ok(args) => args,
            Err(message) => {
                eprintln!("{message}\nusage: [--host HOST] [--port PORT]");
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
                "--host" => parsed.host = value()?,
                "--port" => {
                    let v = value()?;
                    parsed.port = v.parse().map_err(|_| format!("--port: `{v}` is not a port number"))?;
                }
                "-h" | "--help" => return Err("labthings example server".to_owned()),
                other => return Err(format!("unknown option `{other}`")),
            }
        }
        Ok(parsed)
    }

    /// `host:port`, ready for [`Server::bind`](crate::Server).
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}
