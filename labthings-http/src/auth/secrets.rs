//! The secrets of authentication (cargo feature `auth`): hashing passwords
//! with argon2, tokens with SHA-256, and making new tokens and salts from
//! the operating system's random number generator.

use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::{Argon2, PasswordHash};
use base64::Engine;
use sha2::{Digest, Sha256};

use super::Credential;

impl Credential {
    /// A bearer token given in clear (read from an environment variable or
    /// a file); only its SHA-256 is kept.
    pub fn token(token: &str) -> Self {
        Self::Token {
            sha256: Sha256::digest(token.as_bytes()).into(),
        }
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
