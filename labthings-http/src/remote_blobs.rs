//! Blobs of other servers an action's input may link to (`[[remote_blobs]]`):
//! a camera server's picture handed to an analysis server's action, say.
//! Only servers the configuration names are trusted; a link to any other
//! is refused (422) before the action starts, and nothing is fetched from
//! it. A trusted blob is fetched when device code reads it
//! (`Blob::read_bytes`), with the credentials configured for its server
//! (sent to that origin only), at most `max_bytes`, each part of the
//! answer within `timeout_s`.
//!
//! ```
//! use labthings_http::{RemoteBlobSource, ServerConfig};
//! let config: ServerConfig = toml::from_str(
//!     r#"
//!     [[remote_blobs]]
//!     url = "http://camera.lab:5000/"
//!     token_file = "camera.token"
//!     max_bytes = 16777216
//!     "#,
//! )?;
//! assert_eq!(config.remote_blobs[0].url, "http://camera.lab:5000/");
//! assert_eq!(config.remote_blobs[0].max_bytes, 16 << 20);
//! assert_eq!(RemoteBlobSource::new("http://other.lab:5000/").max_bytes, 64 << 20);
//! # Ok::<(), toml::de::Error>(())
//! ```

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// One server whose blobs action inputs may link to: a `[[remote_blobs]]`
/// table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RemoteBlobSource {
    /// Links under this URL are accepted (`http://camera.lab:5000/`): the
    /// same scheme, host and port, and a path that begins with this one's
    /// (a link elsewhere on that server is refused).
    pub url: String,
    /// The environment variable holding a bearer token for that server
    /// (never the token itself in the file).
    #[serde(default)]
    pub token_env: Option<String>,
    /// A file holding a bearer token for that server (its first line).
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// A user name to sign in with (HTTP Basic), its password in
    /// `password_env` or `password_file`.
    #[serde(default)]
    pub username: Option<String>,
    /// The environment variable holding `username`'s password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// A file holding `username`'s password (its first line).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// A CA certificate (PEM) trusted for that server's HTTPS, beside the
    /// system's.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The largest blob fetched, in bytes (default 64 MiB); a larger one
    /// fails the read, and with it the action, saying so.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: usize,
    /// How long a fetch waits for the server to answer, and then for each
    /// part of the blob (default 30 s).
    #[serde(default = "default_timeout", rename = "timeout_s", with = "labthings_core::seconds")]
    pub timeout: Duration,
}

fn default_max_bytes() -> usize {
    64 << 20
}

fn default_timeout() -> Duration {
    Duration::from_secs(30)
}

impl RemoteBlobSource {
    /// Trust the blobs under `url`, without credentials, with the default
    /// limits.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            token_env: None,
            token_file: None,
            username: None,
            password_env: None,
            password_file: None,
            ca_file: None,
            max_bytes: default_max_bytes(),
            timeout: default_timeout(),
        }
    }

    /// This source changed by `change`.
    pub fn with(mut self, change: impl FnOnce(&mut Self)) -> Self {
        change(&mut self);
        self
    }
}

#[cfg(feature = "remote-blobs")]
pub(crate) use trusted::TrustedServers;

#[cfg(feature = "remote-blobs")]
mod trusted {
    use std::sync::Arc;

    use bytes::Bytes;
    use labthings_client::Connection;
    use labthings_core::blob::RemoteBlobs;
    use url::Url;

    use super::RemoteBlobSource;

    /// The servers of `[[remote_blobs]]`, checked and with their
    /// credentials read: what the lab asks whether a link is trusted and
    /// fetches it through.
    #[derive(Debug)]
    pub(crate) struct TrustedServers {
        servers: Vec<Arc<Trusted>>,
    }

    /// One trusted server, ready to fetch from.
    struct Trusted {
        base: Url,
        credentials: Option<Credentials>,
        source: RemoteBlobSource,
    }

    enum Credentials {
        Token(String),
        Password { user: String, password: String },
    }

    impl std::fmt::Debug for Trusted {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            // Never the secret.
            f.debug_struct("Trusted")
                .field("base", &self.base.as_str())
                .field("credentials", &self.credentials.is_some())
                .finish_non_exhaustive()
        }
    }

    impl TrustedServers {
        /// Check each source (a URL without user name, query or fragment,
        /// over HTTP or HTTPS; at most one kind of credential, each
        /// readable), reading the credentials now, so a mistake stops the
        /// build rather than the first action that reads a blob.
        pub(crate) fn new(sources: &[RemoteBlobSource]) -> Result<Self, crate::BuildError> {
            let servers = sources
                .iter()
                .enumerate()
                .map(|(index, source)| {
                    trusted(source).map(Arc::new).map_err(|e| {
                        crate::BuildError::invalid(
                            "remote_blobs",
                            format!("remote_blobs[{index}] ({}): {e}", source.url),
                        )
                    })
                })
                .collect::<Result<_, _>>()?;
            Ok(Self { servers })
        }

        /// The server `href` is under, if any.
        fn server_of(&self, href: &str) -> Option<&Arc<Trusted>> {
            let href = Url::parse(href).ok()?;
            self.servers.iter().find(|server| server.covers(&href))
        }
    }

    fn trusted(source: &RemoteBlobSource) -> Result<Trusted, String> {
        let mut base = Url::parse(&source.url).map_err(|e| format!("not a URL: {e}"))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err("only http:// and https:// servers are fetched from".to_owned());
        }
        if !base.username().is_empty() || base.password().is_some() {
            return Err("give credentials in token_env/token_file or username/password_env, not in the URL".to_owned());
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err("a server's URL has no query or fragment".to_owned());
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let credentials = match (token(source)?, &source.username) {
            (Some(_), Some(_)) => return Err("give a token or a user name, not both".to_owned()),
            (Some(token), None) => Some(Credentials::Token(token)),
            (None, Some(user)) => Some(Credentials::Password {
                user: user.clone(),
                password: secret(
                    "password",
                    source.password_env.as_deref(),
                    source.password_file.as_ref(),
                )?
                .ok_or("username needs password_env or password_file")?,
            }),
            (None, None) => None,
        };
        if credentials.is_none() && (source.password_env.is_some() || source.password_file.is_some()) {
            return Err("a password needs a username".to_owned());
        }
        if let Some(ca) = &source.ca_file {
            // Read now, so a wrong path stops the build.
            Connection::new()
                .with_ca_file(ca)
                .map_err(|e| format!("ca_file {}: {e}", ca.display()))?;
        }
        if source.max_bytes == 0 {
            return Err("max_bytes must be at least 1".to_owned());
        }
        Ok(Trusted {
            base,
            credentials,
            source: source.clone(),
        })
    }

    fn token(source: &RemoteBlobSource) -> Result<Option<String>, String> {
        secret("token", source.token_env.as_deref(), source.token_file.as_ref())
    }

    /// A secret from the environment variable `env` or the first line of
    /// `file` (one of them at most).
    /// The secret `what` from where the source says (one rule for every
    /// secret of a configuration: `labthings_core::secret`).
    fn secret(what: &str, env: Option<&str>, file: Option<&std::path::PathBuf>) -> Result<Option<String>, String> {
        labthings_core::secret::read_secret(what, env, file.map(std::path::PathBuf::as_path)).map_err(|e| e.to_string())
    }

    impl Trusted {
        /// Whether `href` is on this server, under its path, with no
        /// credentials of its own.
        fn covers(&self, href: &Url) -> bool {
            href.origin() == self.base.origin()
                && href.username().is_empty()
                && href.password().is_none()
                && href.path().starts_with(self.base.path())
        }

        /// Fetch `href` with this server's credentials (bound to its
        /// origin) and limits.
        async fn download(&self, href: &str) -> Result<Bytes, String> {
            let mut connection = Connection::new().with_timeout(self.source.timeout);
            if let Some(ca) = &self.source.ca_file {
                connection = connection
                    .with_ca_file(ca)
                    .map_err(|e| format!("ca_file {}: {e}", ca.display()))?;
            }
            connection = match &self.credentials {
                Some(Credentials::Token(token)) => connection.with_token_for(token.as_str(), self.base.as_str()),
                Some(Credentials::Password { user, password }) => {
                    connection.with_password_for(user.as_str(), password.as_str(), self.base.as_str())
                }
                None => connection,
            };
            connection
                .download(href, self.source.max_bytes)
                .await
                .map_err(|e| format!("could not fetch the blob {href}: {e}"))
        }
    }

    impl RemoteBlobs for TrustedServers {
        fn trusts(&self, href: &str) -> bool {
            self.server_of(href).is_some()
        }

        /// Fetched on a thread of its own with a runtime of its own, so
        /// device code may read a blob from any thread, on a runtime or
        /// not.
        fn fetch(&self, href: &str) -> Result<Bytes, String> {
            let server = self
                .server_of(href)
                .ok_or_else(|| format!("{href} is not on a server this one trusts"))?
                .clone();
            let href = href.to_owned();
            std::thread::Builder::new()
                .name("labthings-blob-fetch".into())
                .spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| format!("could not start fetching {href}: {e}"))?;
                    runtime.block_on(server.download(&href))
                })
                .map_err(|e| format!("could not start fetching: {e}"))?
                .join()
                .map_err(|_| "fetching the blob failed unexpectedly".to_owned())?
        }
    }
}
