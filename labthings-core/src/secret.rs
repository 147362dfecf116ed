//! Secrets a configuration names by where they are, never by value: an
//! environment variable or a file. One rule for every secret (a user's
//! token, the MQTT broker's password, another server's token): exactly one
//! place, which must exist; a file's first line; surrounding whitespace
//! dropped; empty is an error.
//!
//! ```
//! use labthings_core::secret::{SecretError, read_secret};
//!
//! let file = std::env::temp_dir().join(format!("secret-{}", std::process::id()));
//! std::fs::write(&file, "s3cret-token-0123456789 \nignored second line\n").unwrap();
//! assert_eq!(read_secret("token", None, Some(&file)).unwrap().as_deref(), Some("s3cret-token-0123456789"));
//! assert_eq!(read_secret("token", None, None).unwrap(), None);
//! assert!(matches!(
//!     read_secret("token", Some("LABTHINGS_NO_SUCH_VARIABLE"), None),
//!     Err(SecretError::NotSet { .. })
//! ));
//! # std::fs::remove_file(&file).unwrap();
//! ```

use std::path::{Path, PathBuf};

/// Why a secret could not be read. The messages name where it was looked
/// for, never the secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// Both an environment variable and a file were named.
    #[error("give {what}_env or {what}_file, not both")]
    Both {
        /// What the secret is (`token`, `password`).
        what: String,
    },
    /// The environment variable is not set (or not Unicode).
    #[error("{what}_env names the environment variable {variable}, which is not set")]
    NotSet {
        /// What the secret is.
        what: String,
        /// The variable's name.
        variable: String,
    },
    /// The file cannot be read.
    #[error("{what}_file: cannot read {}: {source}", .path.display())]
    Unreadable {
        /// What the secret is.
        what: String,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The variable or the file's first line holds nothing but whitespace.
    #[error("the {what} is empty")]
    Empty {
        /// What the secret is.
        what: String,
    },
}

/// The secret `what` (`token`, `password`) from the environment variable
/// `env` or the first line of `file`, whichever is given, trimmed; `None`
/// when neither is.
pub fn read_secret(what: &str, env: Option<&str>, file: Option<&Path>) -> Result<Option<String>, SecretError> {
    let value = match (env, file) {
        (Some(_), Some(_)) => return Err(SecretError::Both { what: what.to_owned() }),
        (Some(variable), None) => std::env::var(variable).map_err(|_| SecretError::NotSet {
            what: what.to_owned(),
            variable: variable.to_owned(),
        })?,
        (None, Some(path)) => std::fs::read_to_string(path)
            .map_err(|source| SecretError::Unreadable {
                what: what.to_owned(),
                path: path.to_owned(),
                source,
            })?
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned(),
        (None, None) => return Ok(None),
    };
    let value = value.trim();
    if value.is_empty() {
        return Err(SecretError::Empty { what: what.to_owned() });
    }
    Ok(Some(value.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_rule_for_every_secret() {
        let dir = std::env::temp_dir().join(format!("labthings-secret-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("works");
        let two_lines = dir.join("two-lines");
        std::fs::write(&two_lines, "  first\r\nsecond\n").expect("works");
        assert_eq!(
            read_secret("token", None, Some(&two_lines)).expect("works").as_deref(),
            Some("first")
        );
        let blank = dir.join("blank");
        std::fs::write(&blank, " \n").expect("works");
        assert!(matches!(
            read_secret("password", None, Some(&blank)),
            Err(SecretError::Empty { .. })
        ));
        let missing = dir.join("missing");
        let error = read_secret("password", None, Some(&missing)).expect_err("refused");
        assert!(error.to_string().starts_with("password_file: cannot read "), "{error}");
        assert!(matches!(
            read_secret("token", Some("PATH"), Some(&two_lines)),
            Err(SecretError::Both { .. })
        ));
        let error = read_secret("token", Some("LABTHINGS_SURELY_UNSET_VARIABLE"), None).expect_err("refused");
        assert_eq!(
            error.to_string(),
            "token_env names the environment variable LABTHINGS_SURELY_UNSET_VARIABLE, which is not set"
        );
        std::fs::remove_dir_all(&dir).expect("works");
    }
}
