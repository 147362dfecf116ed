//! Who may use the server: users, their credentials and their roles.
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
//! let auth = AuthConfig {
//!     users: vec![
//!         User::new("alice", Role::Operate, Credential::password("correct horse")),
//!         User::new("dashboard", Role::Observe, Credential::token("a long random token")),
//!     ],
//!     ..AuthConfig::default()
//! };
//! assert!(auth.enabled());
//! ```

mod check;
mod describe;
mod throttle;
mod verify;

pub(crate) use throttle::DEFAULT_BURST as DEFAULT_SIGN_IN_BURST;

pub(crate) use check::authenticate;
pub(crate) use describe::{secure_openapi, td_security};
pub(crate) use verify::Authenticator;

use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::{Argon2, PasswordHash};
use base64::Engine;
use sha2::{Digest, Sha256};

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
    /// A bearer token given in clear (read from an environment variable or
    /// a file); only its SHA-256 is kept.
    pub fn token(token: &str) -> Self {
        Self::Token {
            sha256: Sha256::digest(token.as_bytes()).into(),
        }
    }

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

    /// A password given in clear, hashed now with argon2 (for programs and
    /// tests; configuration files hold [`password_hash`](Self::password_hash)es).
    pub fn password(password: &str) -> Self {
        Self::Password {
            phc: hash_password(password),
        }
    }

    /// A password given as its argon2 hash (PHC string, as
    /// [`hash_password`] and `--hash-password` make it).
    pub fn password_hash(phc: &str) -> Result<Self, String> {
        let parsed = PasswordHash::new(phc.trim()).map_err(|e| format!("not a password hash in PHC format: {e}"))?;
        if !parsed.algorithm.as_str().starts_with("argon2") {
            return Err(format!(
                "the password hash uses `{}`; labthings takes argon2 hashes",
                parsed.algorithm
            ));
        }
        Ok(Self::Password {
            phc: phc.trim().to_owned(),
        })
    }

    /// `"bearer"` or `"basic"`: the HTTP scheme this credential is sent with.
    pub fn scheme(&self) -> &'static str {
        match self {
            Self::Token { .. } => "bearer",
            Self::Password { .. } => "basic",
        }
    }
}

/// One user of the server.
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// The users of a server, and what requests without credentials may do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthConfig {
    /// Who may use the server. Empty (the default): authentication is off
    /// and anyone who can reach the server may operate it, which the server
    /// allows only on a loopback address unless told
    /// [`insecure`](crate::ServerConfig::insecure).
    pub users: Vec<User>,
    /// With users configured, what a request without credentials may do:
    /// nothing (`None`, the default) or observe (`Some(Role::Observe)`, e.g.
    /// for a lab where anyone may watch but only operators drive).
    pub anonymous: Option<Role>,
}

impl AuthConfig {
    /// Whether credentials are checked (some user is configured).
    pub fn enabled(&self) -> bool {
        !self.users.is_empty()
    }
}

/// Hash `password` with argon2id and a fresh random salt, as a PHC string
/// for a configuration file's `password_hash`.
///
/// ```
/// let phc = labthings_http::auth::hash_password("correct horse");
/// assert!(phc.starts_with("$argon2id$"));
/// assert!(labthings_http::auth::Credential::password_hash(&phc).is_ok());
/// ```
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::encode_b64(&random_bytes::<16>()).and_then(|salt| {
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
    });
    match salt {
        Ok(phc) => phc,
        // A 16-byte salt and the default parameters are always valid.
        Err(e) => unreachable!("argon2 with its default parameters failed: {e}"),
    }
}

/// A new bearer token: 32 random bytes, URL-safe base64 (43 characters).
///
/// ```
/// let token = labthings_http::auth::new_token();
/// assert_eq!(token.len(), 43);
/// assert_ne!(token, labthings_http::auth::new_token());
/// ```
pub fn new_token() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// `N` bytes from the operating system's random number generator.
fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    if let Err(e) = getrandom::fill(&mut bytes) {
        // Without an entropy source no secret or salt can be made safely.
        panic!("the system's random number generator failed: {e}");
    }
    bytes
}

/// The hex SHA-256 of a token, as a configuration file's `token_sha256`.
///
/// ```
/// let hex = labthings_http::auth::token_sha256_hex("abc");
/// assert_eq!(&hex[..8], "ba7816bf");
/// ```
pub fn token_sha256_hex(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
