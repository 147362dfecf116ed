//! Without the cargo feature `auth`: nothing to check credentials with, so
//! a server given users refuses to build, saying which feature it needs,
//! and every request is served as on a server without users.

use super::AuthConfig;

/// The stand-in for the credential checker: never enabled.
#[derive(Debug)]
pub(crate) struct Authenticator;

impl Authenticator {
    /// `config` without users, or why not.
    pub(crate) fn new(config: &AuthConfig, _sign_in_burst: u32) -> Result<Self, crate::BuildError> {
        if config.enabled() {
            return Err(crate::BuildError::MissingFeature {
                feature: "auth",
                cannot: "check users' credentials",
            });
        }
        Ok(Self)
    }

    /// Never: no credentials are checked.
    pub(crate) fn enabled(&self) -> bool {
        false
    }

    /// No user has a token.
    pub(crate) fn has_tokens(&self) -> bool {
        false
    }

    /// No user has a password.
    pub(crate) fn has_passwords(&self) -> bool {
        false
    }

    /// Nobody is anonymous where nobody is checked.
    pub(crate) fn anonymous(&self) -> Option<&()> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{Credential, Role, User};

    #[test]
    fn users_need_the_feature() {
        let users = AuthConfig {
            users: vec![User::new("alice", Role::Operate, Credential::Token { sha256: [0; 32] })],
            anonymous: None,
            ..AuthConfig::default()
        };
        let error = Authenticator::new(&users, 10).expect_err("users without the feature");
        assert!(error.contains("without the `auth` feature"), "{error}");
        assert!(
            !Authenticator::new(&AuthConfig::default(), 10)
                .expect("no users")
                .enabled()
        );
    }
}
