//! Checking presented credentials against the configured users.

use std::collections::HashMap;
use std::sync::Arc;

use argon2::password_hash::PasswordVerifier;
use argon2::{Argon2, PasswordHash};
use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use super::{AuthConfig, Credential, Role, hash_password};

/// Verified password credentials kept, so that a client sending Basic on
/// every request pays for argon2 once, not per request.
const VERIFIED_CACHE: usize = 256;

/// Argon2 verifications at once (each takes tens of milliseconds and 19 MiB):
/// a client guessing passwords cannot take every core or much memory.
const HASHING_AT_ONCE: usize = 2;

/// Who a request is from, once its credentials are checked.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    /// The user's name (`anonymous` without credentials).
    pub(crate) name: Arc<str>,
    role: Role,
    /// The things an `Operate` user may operate; `None` for all.
    things: Option<Arc<[String]>>,
}

impl Identity {
    fn new(name: &str, role: Role, things: Option<&[String]>) -> Self {
        Self {
            name: name.into(),
            role,
            things: things.map(Into::into),
        }
    }

    /// Whether this identity may do what needs `needed` on `thing` (the
    /// thing the request is about, if any).
    pub(crate) fn may(&self, needed: Role, thing: Option<&str>) -> bool {
        match needed {
            Role::Observe => true,
            Role::Operate => {
                self.role == Role::Operate
                    && match &self.things {
                        None => true,
                        Some(things) => thing.is_some_and(|t| things.iter().any(|allowed| allowed == t)),
                    }
            }
        }
    }

    /// `observe`, `operate`, or `operate on [..]`, for messages.
    pub(crate) fn describe_role(&self) -> String {
        match (&self.things, self.role) {
            (Some(things), Role::Operate) => format!("operate on {things:?}"),
            (_, role) => role.as_str().to_owned(),
        }
    }
}

/// Credentials as a request presents them.
pub(crate) enum Presented {
    /// `Authorization: Bearer TOKEN` or `?access_token=TOKEN`.
    Bearer(String),
    /// `Authorization: Basic base64(user:password)`.
    Basic {
        /// The user name.
        user: String,
        /// The password.
        password: String,
    },
}

/// The configured users, prepared for lookups.
pub(crate) struct Authenticator {
    tokens: HashMap<[u8; 32], Identity>,
    passwords: HashMap<String, (String, Identity)>,
    anonymous: Option<Identity>,
    /// A hash to verify against for unknown user names, so that a wrong
    /// name takes as long as a wrong password.
    decoy: Option<String>,
    verified: Mutex<HashMap<[u8; 32], Identity>>,
    hashing: Semaphore,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("tokens", &self.tokens.len())
            .field("passwords", &self.passwords.len())
            .field("anonymous", &self.anonymous)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// Prepare `config`; two users with one name, or one token, are an error.
    pub(crate) fn new(config: &AuthConfig) -> Result<Self, String> {
        let mut tokens = HashMap::new();
        let mut passwords = HashMap::new();
        let mut names = std::collections::HashSet::new();
        for user in &config.users {
            if user.name.is_empty() || user.name.contains(':') {
                return Err(format!(
                    "`{}` cannot name a user: a name is not empty and has no `:`",
                    user.name
                ));
            }
            if !names.insert(user.name.as_str()) {
                return Err(format!("two users are named `{}`", user.name));
            }
            let identity = Identity::new(&user.name, user.role, user.things.as_deref());
            match &user.credential {
                Credential::Token { sha256 } => {
                    if tokens.insert(*sha256, identity).is_some() {
                        return Err(format!("user `{}` has the same token as another user", user.name));
                    }
                }
                Credential::Password { phc } => {
                    passwords.insert(user.name.clone(), (phc.clone(), identity));
                }
            }
        }
        let decoy = (!passwords.is_empty()).then(|| hash_password("labthings decoy"));
        Ok(Self {
            tokens,
            passwords,
            anonymous: config
                .anonymous
                .filter(|_| config.enabled())
                .map(|role| Identity::new("anonymous", role, None)),
            decoy,
            verified: Mutex::new(HashMap::new()),
            hashing: Semaphore::new(HASHING_AT_ONCE),
        })
    }

    /// Whether credentials are checked at all.
    pub(crate) fn enabled(&self) -> bool {
        !self.tokens.is_empty() || !self.passwords.is_empty()
    }

    /// Whether some user has a bearer token.
    pub(crate) fn has_tokens(&self) -> bool {
        !self.tokens.is_empty()
    }

    /// Whether some user has a password.
    pub(crate) fn has_passwords(&self) -> bool {
        !self.passwords.is_empty()
    }

    /// Who a request without credentials is, if it may do anything.
    pub(crate) fn anonymous(&self) -> Option<&Identity> {
        self.anonymous.as_ref()
    }

    /// The user `presented` proves to be, or `None` if it proves nothing.
    pub(crate) async fn verify(&self, presented: Presented) -> Option<Identity> {
        match presented {
            Presented::Bearer(token) => self
                .tokens
                .get(&<[u8; 32]>::from(Sha256::digest(token.as_bytes())))
                .cloned(),
            Presented::Basic { user, password } => self.verify_password(user, password).await,
        }
    }

    async fn verify_password(&self, user: String, password: String) -> Option<Identity> {
        let key: [u8; 32] = {
            let mut hasher = Sha256::new();
            hasher.update(user.as_bytes());
            hasher.update([0]);
            hasher.update(password.as_bytes());
            hasher.finalize().into()
        };
        if let Some(identity) = self.verified.lock().get(&key) {
            return Some(identity.clone());
        }
        let (phc, identity) = match self.passwords.get(&user) {
            Some((phc, identity)) => (phc.clone(), Some(identity.clone())),
            None => (self.decoy.clone()?, None),
        };
        let _permit = self.hashing.acquire().await.ok()?;
        let matches = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&phc)
                .is_ok_and(|hash| Argon2::default().verify_password(password.as_bytes(), &hash).is_ok())
        })
        .await
        .unwrap_or(false);
        let identity = identity.filter(|_| matches)?;
        let mut verified = self.verified.lock();
        if verified.len() >= VERIFIED_CACHE
            && let Some(evicted) = verified.keys().next().copied()
        {
            verified.remove(&evicted);
        }
        verified.insert(key, identity.clone());
        Some(identity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::User;

    fn authenticator() -> Authenticator {
        let config = AuthConfig {
            users: vec![
                User::new("alice", Role::Operate, Credential::password("alice's password")),
                User::new("bob", Role::Operate, Credential::token("bob's token")).only_on(&["camera"]),
                User::new("carol", Role::Observe, Credential::token("carol's token")),
            ],
            anonymous: None,
        };
        Authenticator::new(&config).expect("valid users")
    }

    fn basic(user: &str, password: &str) -> Presented {
        Presented::Basic {
            user: user.into(),
            password: password.into(),
        }
    }

    #[tokio::test]
    async fn credentials_prove_users_and_roles_limit_them() {
        let auth = authenticator();
        let alice = auth.verify(basic("alice", "alice's password")).await.expect("alice");
        assert_eq!(&*alice.name, "alice");
        assert!(alice.may(Role::Operate, Some("stage")));
        // From the cache, the second time.
        assert!(auth.verify(basic("alice", "alice's password")).await.is_some());
        assert!(auth.verify(basic("alice", "wrong")).await.is_none());
        assert!(auth.verify(basic("mallory", "alice's password")).await.is_none());
        assert!(
            auth.verify(Presented::Bearer("alice's password".into()))
                .await
                .is_none()
        );

        let bob = auth.verify(Presented::Bearer("bob's token".into())).await.expect("bob");
        assert!(bob.may(Role::Operate, Some("camera")));
        assert!(!bob.may(Role::Operate, Some("stage")));
        assert!(!bob.may(Role::Operate, None));
        assert!(bob.may(Role::Observe, Some("stage")));

        let carol = auth
            .verify(Presented::Bearer("carol's token".into()))
            .await
            .expect("carol");
        assert!(carol.may(Role::Observe, Some("stage")));
        assert!(!carol.may(Role::Operate, Some("stage")));
        assert!(auth.anonymous().is_none());
    }

    #[test]
    fn duplicate_names_and_tokens_are_refused() {
        let same_name = AuthConfig {
            users: vec![
                User::new("a", Role::Operate, Credential::token("1")),
                User::new("a", Role::Observe, Credential::token("2")),
            ],
            anonymous: None,
        };
        assert!(Authenticator::new(&same_name).is_err_and(|e| e.contains("two users")));
        let same_token = AuthConfig {
            users: vec![
                User::new("a", Role::Operate, Credential::token("1")),
                User::new("b", Role::Observe, Credential::token("1")),
            ],
            anonymous: None,
        };
        assert!(Authenticator::new(&same_token).is_err_and(|e| e.contains("same token")));
        let colon = AuthConfig {
            users: vec![User::new("a:b", Role::Operate, Credential::token("1"))],
            anonymous: None,
        };
        assert!(Authenticator::new(&colon).is_err());
    }

    #[test]
    fn token_hashes_parse() {
        let hex = crate::auth::token_sha256_hex("bob's token");
        assert_eq!(Credential::token_sha256(&hex), Ok(Credential::token("bob's token")));
        assert!(Credential::token_sha256("abc").is_err());
        assert!(Credential::password_hash("$2b$12$notargon").is_err());
    }
}
