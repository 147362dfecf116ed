//! Checking presented credentials against the configured users.

use std::collections::HashMap;
use std::sync::Arc;

use argon2::password_hash::Output;
use argon2::{Algorithm, Argon2, Block, Params, PasswordHash, Version};
use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use super::{AuthConfig, Credential, Role, hash_password};

/// Verified password credentials kept, so that a client sending Basic on
/// every request pays for argon2 once, not per request.
const VERIFIED_CACHE: usize = 256;

/// Argon2 verifications at once (each takes tens of milliseconds and 19 MiB):
/// a client guessing passwords cannot take every core or much memory. They
/// run on this many threads of their own, kept for the server's life: the
/// allocator keeps a freed 19 MiB block for the thread that used it, so
/// hashes on ever-new blocking threads left the server hundreds of MB
/// larger for good.
const HASHING_AT_ONCE: usize = 2;

/// What checking credentials found.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// They prove this user.
    User(Identity),
    /// They prove nothing.
    Refused,
    /// Too many failed or costly attempts from this address or for this
    /// user name: wait this long.
    SlowDown(std::time::Duration),
}

/// Who a request is from, once its credentials are checked.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    /// The user's name (`anonymous` without credentials).
    pub(crate) name: Arc<str>,
    role: Role,
    /// The things an `Operate` user may operate; `None` for all.
    things: Option<Arc<[String]>>,
    /// A user who presented credentials (not the anonymous identity).
    signed_in: bool,
}

impl Identity {
    fn new(name: &str, role: Role, things: Option<&[String]>) -> Self {
        Self {
            name: name.into(),
            role,
            things: things.map(Into::into),
            signed_in: true,
        }
    }

    /// Who this is to the lab, as a caller through the HTTP binding.
    pub(crate) fn caller(&self) -> labthings_core::Caller {
        let caller = if self.signed_in {
            labthings_core::Caller::user(&self.name, Some(self.role.as_str()), "http")
        } else {
            labthings_core::Caller::anonymous("http").with_role(self.role.as_str())
        };
        match &self.things {
            Some(things) => caller.only_on(things),
            None => caller,
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
    /// The threads argon2 runs on.
    hashers: labthings_core::pool::ThreadPool,
    /// Failed and costly attempts, per address and user name.
    pub(crate) throttle: super::throttle::Throttle,
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
    pub(crate) fn new(config: &AuthConfig, sign_in_burst: u32) -> Result<Self, crate::BuildError> {
        Self::checked(config, sign_in_burst).map_err(|message| crate::BuildError::invalid("auth.users", message))
    }

    /// [`new`](Self::new), its error said in words.
    fn checked(config: &AuthConfig, sign_in_burst: u32) -> Result<Self, String> {
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
            anonymous: config.anonymous.filter(|_| config.enabled()).map(|role| Identity {
                signed_in: false,
                ..Identity::new("anonymous", role, None)
            }),
            decoy,
            verified: Mutex::new(HashMap::new()),
            hashing: Semaphore::new(HASHING_AT_ONCE),
            hashers: labthings_core::pool::ThreadPool::new(HASHING_AT_ONCE, std::time::Duration::from_secs(24 * 3600)),
            throttle: super::throttle::Throttle::new(sign_in_burst),
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

    /// The user `presented` proves to be, or `None` if it proves nothing
    /// (no throttle: for tests of what proves whom).
    #[cfg(test)]
    pub(crate) async fn verify(&self, presented: Presented) -> Option<Identity> {
        match self.check(presented, std::net::Ipv4Addr::LOCALHOST.into()).await {
            Verdict::User(identity) => Some(identity),
            _ => None,
        }
    }

    /// What `presented`, sent from `address`, proves. A remembered password
    /// or a known token passes at once; a password to hash counts against
    /// the address's and the user name's allowance first, and a wrong token
    /// after.
    pub(crate) async fn check(&self, presented: Presented, address: std::net::IpAddr) -> Verdict {
        match presented {
            Presented::Bearer(token) => match self.tokens.get(&<[u8; 32]>::from(Sha256::digest(token.as_bytes()))) {
                Some(identity) => Verdict::User(identity.clone()),
                None => self.failed(address, None),
            },
            Presented::Basic { user, password } => self.check_password(user, password, address).await,
        }
    }

    /// A request refused for its credentials: `Refused`, or `SlowDown` once
    /// the address has failed too often.
    pub(crate) fn failed(&self, address: std::net::IpAddr, user: Option<&str>) -> Verdict {
        match self.throttle.attempt(address, user) {
            Ok(()) => Verdict::Refused,
            Err(wait) => {
                self.throttle.said(address, user);
                Verdict::SlowDown(wait)
            }
        }
    }

    /// A request refused for having no credentials: `Refused`, or
    /// `SlowDown` past the (larger) allowance of such requests.
    pub(crate) fn missing(&self, address: std::net::IpAddr) -> Verdict {
        match self.throttle.without_credentials(address) {
            Ok(()) => Verdict::Refused,
            Err(wait) => {
                self.throttle.said(address, None);
                Verdict::SlowDown(wait)
            }
        }
    }

    async fn check_password(&self, user: String, password: String, address: std::net::IpAddr) -> Verdict {
        let key: [u8; 32] = {
            let mut hasher = Sha256::new();
            hasher.update(user.as_bytes());
            hasher.update([0]);
            hasher.update(password.as_bytes());
            hasher.finalize().into()
        };
        if let Some(identity) = self.verified.lock().get(&key) {
            return Verdict::User(identity.clone());
        }
        let (phc, identity) = match self.passwords.get(&user) {
            Some((phc, identity)) => (phc.clone(), Some(identity.clone())),
            None => match self.decoy.clone() {
                Some(decoy) => (decoy, None),
                None => return self.failed(address, Some("")),
            },
        };
        // Every unknown name shares one allowance, so the map stays small.
        let name = if identity.is_some() { user.as_str() } else { "" };
        if let Err(wait) = self.throttle.attempt(address, Some(name)) {
            self.throttle.said(address, Some(name));
            return Verdict::SlowDown(wait);
        }
        let Ok(_permit) = self.hashing.acquire().await else {
            return Verdict::Refused;
        };
        let (sender, answer) = tokio::sync::oneshot::channel();
        let queued = self.hashers.run(move || {
            let matches = BLOCKS.with_borrow_mut(|blocks| verify_argon2(&phc, password.as_bytes(), blocks));
            let _ = sender.send(matches);
        });
        let matches = queued.is_ok() && answer.await.unwrap_or(false);
        let Some(identity) = identity.filter(|_| matches) else {
            return Verdict::Refused;
        };
        let mut verified = self.verified.lock();
        if verified.len() >= VERIFIED_CACHE
            && let Some(evicted) = verified.keys().next().copied()
        {
            verified.remove(&evicted);
        }
        verified.insert(key, identity.clone());
        Verdict::User(identity)
    }
}

thread_local! {
    /// The working memory of argon2 on a hashing thread, made once and used
    /// for every check there (argon2 would allocate it for each).
    static BLOCKS: std::cell::RefCell<Vec<Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Whether `password` matches the argon2 hash `phc`, computed in `blocks`
/// (grown to the hash's memory cost the first time).
fn verify_argon2(phc: &str, password: &[u8], blocks: &mut Vec<Block>) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (Algorithm::try_from(hash.algorithm), Params::try_from(&hash)) else {
        return false;
    };
    let version = match hash.version {
        Some(version) => match Version::try_from(version) {
            Ok(version) => version,
            Err(_) => return false,
        },
        None => Version::default(),
    };
    let (Some(salt), Some(expected)) = (hash.salt, hash.hash) else {
        return false;
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let needed = params.block_count();
    if blocks.len() < needed {
        blocks.resize(needed, Block::new());
    }
    let mut out = vec![0u8; expected.len()];
    let hashed = Argon2::new(algorithm, version, params).hash_password_into_with_memory(
        password,
        salt,
        &mut out,
        &mut blocks[..needed],
    );
    // Output's comparison takes the same time wherever the bytes differ.
    hashed.is_ok() && Output::new(&out).is_ok_and(|out| out == expected)
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
            ..AuthConfig::default()
        };
        Authenticator::new(&config, 0).expect("valid users")
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
            ..AuthConfig::default()
        };
        assert!(Authenticator::new(&same_name, 0).is_err_and(|e| e.to_string().contains("two users")));
        let same_token = AuthConfig {
            users: vec![
                User::new("a", Role::Operate, Credential::token("1")),
                User::new("b", Role::Observe, Credential::token("1")),
            ],
            anonymous: None,
            ..AuthConfig::default()
        };
        assert!(Authenticator::new(&same_token, 0).is_err_and(|e| e.to_string().contains("same token")));
        let colon = AuthConfig {
            users: vec![User::new("a:b", Role::Operate, Credential::token("1"))],
            anonymous: None,
            ..AuthConfig::default()
        };
        assert!(Authenticator::new(&colon, 0).is_err());
    }

    #[test]
    fn argon2_in_reused_memory_matches_only_the_password() {
        let phc = hash_password("alice's password");
        let mut blocks = Vec::new();
        assert!(verify_argon2(&phc, b"alice's password", &mut blocks));
        let size = blocks.len();
        assert!(size > 0);
        assert!(!verify_argon2(&phc, b"alice's passwort", &mut blocks));
        assert!(
            verify_argon2(&phc, b"alice's password", &mut blocks),
            "the memory is reused as it was left"
        );
        assert_eq!(blocks.len(), size, "and not grown again");
        assert!(!verify_argon2("$argon2id$garbage", b"x", &mut blocks));
    }

    #[test]
    fn token_hashes_parse() {
        let hex = crate::auth::token_sha256_hex("bob's token");
        assert_eq!(Credential::token_sha256(&hex), Ok(Credential::token("bob's token")));
        assert!(Credential::token_sha256("abc").is_err());
        assert!(Credential::password_hash("$2b$12$notargon").is_err());
    }
}
