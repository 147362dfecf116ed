//! Who may use the server: users, their credentials and their roles.
//!
//! Checking credentials needs the cargo feature `auth` (on by default: argon2,
//! SHA-256, a rate limiter); without it the types below still describe
//! users, but a server given any refuses to build, naming the feature.
//!
//! Authentication is off until at least one [`User`] is configured; then
//! every request except the control panel's and the API docs' static pages
//! and `/openapi.json` needs credentials:
//!
//! - a **bearer token** (`Authorization: Bearer TOKEN`; for GET requests,
//!   which browsers cannot give headers for WebSockets, event streams and
//!   images, also `?access_token=TOKEN`). The server keeps only its SHA-256:
//!   a token is 256 random bits ([`new_token`]), so a slow hash adds nothing.
//! - a **user name and password** (HTTP Basic). The server keeps only the
//!   password's argon2 hash ([`hash_password`]).
//!
//! Each user has a [`Role`]: [`Observe`](Role::Observe) reads (properties,
//! TDs, invocations, observation, streams, blobs); [`Operate`](Role::Operate)
//! also writes, invokes and cancels, on every thing or only on those it
//! names. A request without valid credentials is answered 401 with
//! `WWW-Authenticate`; one whose role does not allow it, 403. The TD's
//! `securityDefinitions` and the OpenAPI document's `securitySchemes` say
//! which schemes are accepted.
//!
//! ```
//! use labthings_http::auth::{AuthConfig, Credential, Role, User};
//! let auth = AuthConfig::for_users(vec![
//!     User::new("alice", Role::Operate, Credential::password("correct horse")),
//!     User::new("dashboard", Role::Observe, Credential::token("a long random token")),
//! ])
//! .with_anonymous(Some(Role::Observe));
//! assert!(auth.enabled());
//! assert!(!AuthConfig::default().enabled());
//! ```

#[cfg(feature = "auth")]
mod check;
mod describe;
mod entry;
#[cfg(not(feature = "auth"))]
mod off;
#[cfg(feature = "auth")]
mod secrets;
#[cfg(feature = "auth")]
mod throttle;
#[cfg(feature = "auth")]
mod verify;

#[cfg(feature = "auth")]
pub(crate) use check::authenticate;
pub(crate) use describe::{secure_openapi, td_security};
#[cfg(not(feature = "auth"))]
pub(crate) use off::Authenticator;
#[cfg(feature = "auth")]
pub use secrets::{hash_password, new_token, token_sha256_hex};
#[cfg(feature = "auth")]
pub(crate) use verify::Authenticator;

/// How many failed sign-ins one client address and one user name may make
/// at once before they are slowed down (`ServerConfig::sign_in_burst`).
pub(crate) const DEFAULT_SIGN_IN_BURST: u32 = 10;

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Read properties, TDs and invocations; observe; watch streams;
    /// download blobs.
    Observe,
    /// Everything `Observe` may, and write properties, invoke actions,
    /// cancel invocations.
    Operate,
}

impl Role {
    /// `"observe"` or `"operate"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Observe => "observe",
            Self::Operate => "operate",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "observe" => Ok(Self::Observe),
            "operate" => Ok(Self::Operate),
            other => Err(format!("unknown role `{other}`: use `observe` or `operate`")),
        }
    }
}

/// How a user proves who they are. Only hashes are kept.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// A bearer token, kept as the SHA-256 of its UTF-8 bytes.
    Token {
        /// SHA-256 of the token.
        sha256: [u8; 32],
    },
    /// A password for HTTP Basic, kept as an argon2 hash in the PHC string
    /// format (`$argon2id$v=19$m=...`).
    Password {
        /// The PHC string.
        phc: String,
    },
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Hashes only, but they still stay out of logs.
        match self {
            Self::Token { .. } => f.write_str("Token(..)"),
            Self::Password { .. } => f.write_str("Password(..)"),
        }
    }
}

impl Credential {
    /// A bearer token given as the hex SHA-256 of the token (what
    /// `--new-token` prints for a configuration file).
    pub fn token_sha256(hex: &str) -> Result<Self, String> {
        let hex = hex.trim();
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err("a token's SHA-256 is 64 hexadecimal digits".to_owned());
        }
        let mut sha256 = [0u8; 32];
        for (byte, pair) in sha256.iter_mut().zip(hex.as_bytes().chunks(2)) {
            let pair = std::str::from_utf8(pair).map_err(|e| e.to_string())?;
            *byte = u8::from_str_radix(pair, 16).map_err(|e| e.to_string())?;
        }
        Ok(Self::Token { sha256 })
    }

    /// `"bearer"` or `"basic"`: the HTTP scheme this credential is sent with.
    pub fn scheme(&self) -> &'static str {
        match self {
            Self::Token { .. } => "bearer",
            Self::Password { .. } => "basic",
        }
    }
}

/// One user of the server (in a configuration file, one `[[auth.users]]`
/// table).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "entry::UserEntry")]
pub struct User {
    /// The name the audit log shows (and, for a password, the Basic user name).
    pub name: String,
    /// What the user may do.
    pub role: Role,
    /// For an `Operate` user: the things they may operate (observe the
    /// rest); `None` for all.
    pub things: Option<Vec<String>>,
    /// How they prove it.
    pub credential: Credential,
}

impl User {
    /// A user who may do what `role` allows on every thing.
    pub fn new(name: &str, role: Role, credential: Credential) -> Self {
        Self {
            name: name.to_owned(),
            role,
            things: None,
            credential,
        }
    }

    /// Let the user operate only `things` (and observe the others).
    pub fn only_on(mut self, things: &[&str]) -> Self {
        self.things = Some(things.iter().map(|t| (*t).to_owned()).collect());
        self
    }
}

/// The users of a server, what requests without credentials may do, and
/// how fast a client may guess: the `[auth]` table of a configuration file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct AuthConfig {
    /// Who may use the server. Empty (the default): authentication is off
    /// and anyone who can reach the server may operate it, which the server
    /// allows only on a loopback address unless told
    /// [`insecure`](crate::config::Security::insecure).
    pub users: Vec<User>,
    /// With users configured, what a request without credentials may do:
    /// nothing (`None`, the default) or observe (`Some(Role::Observe)`, e.g.
    /// for a lab where anyone may watch but only operators drive).
    #[serde(deserialize_with = "observe_only")]
    pub anonymous: Option<Role>,
    /// Failed or unremembered sign-ins one client address (an IPv6 /64),
    /// and one user name, may make at once (default 10); past it, one a
    /// second per address and one every two seconds per user name, and
    /// further attempts answer 429 with `Retry-After` without checking
    /// anything. 0 turns the limit off.
    pub sign_in_burst: u32,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            users: Vec::new(),
            anonymous: None,
            sign_in_burst: DEFAULT_SIGN_IN_BURST,
        }
    }
}

/// `anonymous = "observe"`: requests without credentials may only observe.
fn observe_only<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Role>, D::Error> {
    let name = <String as serde::Deserialize>::deserialize(deserializer)?;
    match name.parse::<Role>() {
        Ok(Role::Observe) => Ok(Some(Role::Observe)),
        _ => Err(serde::de::Error::custom(format!(
            "`{name}`: requests without credentials may only `observe`"
        ))),
    }
}

impl AuthConfig {
    /// Credentials checked for `users`; a request without them may do
    /// nothing; the default sign-in limit.
    pub fn for_users(users: Vec<User>) -> Self {
        Self {
            users,
            ..Self::default()
        }
    }

    /// This configuration with what a request without credentials may do:
    /// nothing (`None`) or observe (`Some(Role::Observe)`).
    pub fn with_anonymous(mut self, anonymous: Option<Role>) -> Self {
        self.anonymous = anonymous;
        self
    }

    /// Whether credentials are checked (some user is configured).
    pub fn enabled(&self) -> bool {
        !self.users.is_empty()
    }
}
