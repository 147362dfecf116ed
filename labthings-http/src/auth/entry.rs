//! A user as a configuration file gives it (`[[auth.users]]`): a name, a
//! role, and exactly one of the credential keys. Secrets themselves never
//! sit in the file: a password only as its argon2 hash, a token as its
//! SHA-256 or read from an environment variable or a file.

use std::path::PathBuf;

use serde::Deserialize;

use super::User;
#[cfg(feature = "auth")]
use super::{Credential, Role};

/// One `[[auth.users]]` table: a name, a role, and exactly one of the
/// credential keys. Secrets themselves never sit in the file: a password
/// only as its argon2 hash, a token as its SHA-256 or read from an
/// environment variable or a file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(not(feature = "auth"), allow(dead_code))]
pub(super) struct UserEntry {
    name: String,
    role: String,
    things: Option<Vec<String>>,
    password_hash: Option<String>,
    token_sha256: Option<String>,
    token_env: Option<String>,
    token_file: Option<PathBuf>,
}

impl UserEntry {
    /// Without the `auth` feature no user can be checked: refused, naming it.
    #[cfg(not(feature = "auth"))]
    fn user(self, key: &str) -> Result<User, (String, String)> {
        let _ = key;
        Err((
            String::new(),
            crate::features::missing("auth", "check users' credentials"),
        ))
    }

    /// The user, or the key and message of what is wrong.
    #[cfg(feature = "auth")]
    fn user(self, key: &str) -> Result<User, (String, String)> {
        let role: Role = self.role.parse().map_err(|e| (format!("{key}.role"), e))?;
        let credential = match (self.password_hash, self.token_sha256, self.token_env, self.token_file) {
            (Some(phc), None, None, None) => {
                Credential::password_hash(&phc).map_err(|e| (format!("{key}.password_hash"), e))?
            }
            (None, Some(hex), None, None) => {
                Credential::token_sha256(&hex).map_err(|e| (format!("{key}.token_sha256"), e))?
            }
            (None, None, Some(variable), None) => {
                let token = read_secret("token", Some(&variable), None).map_err(|e| (format!("{key}.token_env"), e))?;
                secret_token(&token).map_err(|e| (format!("{key}.token_env"), format!("{variable}: {e}")))?
            }
            (None, None, None, Some(path)) => {
                let token = read_secret("token", None, Some(&path)).map_err(|e| (format!("{key}.token_file"), e))?;
                secret_token(&token).map_err(|e| (format!("{key}.token_file"), format!("{}: {e}", path.display())))?
            }
            _ => {
                return Err((
                    key.to_owned(),
                    "give exactly one of password_hash, token_sha256, token_env, token_file".to_owned(),
                ));
            }
        };
        if self.things.is_some() && role != Role::Operate {
            return Err((
                format!("{key}.things"),
                "`things` limits what an operate user may operate; an observe user observes every thing".to_owned(),
            ));
        }
        Ok(User {
            name: self.name,
            role,
            things: self.things,
            credential,
        })
    }
}

/// The shortest token accepted from the environment or a file: a guessable
/// token would make the credentials pointless.
#[cfg(feature = "auth")]
const MIN_TOKEN_LEN: usize = 16;

/// A token or password from where the configuration says
/// ([`labthings_core::secret`]: one rule for every secret); the message of
/// a failure without the key, which the caller adds.
#[cfg(feature = "auth")]
fn read_secret(what: &str, env: Option<&str>, file: Option<&std::path::Path>) -> Result<String, String> {
    match labthings_core::secret::read_secret(what, env, file) {
        Ok(Some(secret)) => Ok(secret),
        Ok(None) => Err(format!("no {what} given")),
        Err(labthings_core::secret::SecretError::NotSet { variable, .. }) => {
            Err(format!("the environment variable {variable} is not set"))
        }
        Err(labthings_core::secret::SecretError::Unreadable { path, source, .. }) => {
            Err(format!("cannot read {}: {source}", path.display()))
        }
        Err(other) => Err(other.to_string()),
    }
}

/// A token read from the environment or a file, as a credential; too
/// short a token is refused.
#[cfg(feature = "auth")]
fn secret_token(token: &str) -> Result<Credential, String> {
    let token = token.trim();
    if token.chars().count() < MIN_TOKEN_LEN {
        return Err(format!(
            "a token has at least {MIN_TOKEN_LEN} characters (`--new-token` makes one)"
        ));
    }
    Ok(Credential::token(token))
}

impl TryFrom<UserEntry> for User {
    type Error = String;

    /// The user, or what is wrong, naming the key (`token_env: ...`).
    fn try_from(entry: UserEntry) -> Result<Self, String> {
        entry.user("").map_err(|(key, message)| {
            let key = key.trim_start_matches('.');
            if key.is_empty() {
                message
            } else {
                format!("{key}: {message}")
            }
        })
    }
}
