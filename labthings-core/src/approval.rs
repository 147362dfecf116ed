//! Who asks a lab to act ([`Caller`]), and which calls wait for an operator
//! before they run ([`ApprovalPolicy`], [`Approval`]).
//!
//! An action marked `#[action(approval)]`, or named by a rule of the
//! policy, does not start when a caller the policy names invokes it: the
//! invocation stays `pending`, its [`Approval`] `awaiting`, until an
//! operator other than the caller approves it ([`Lab::approve`](crate::Lab::approve)),
//! rejects it, or its time runs out. Calls through an agent binding (the
//! MCP binding, `mcp`) always wait for the marked actions.
//!
//! ```
//! use labthings_core::approval::{ApprovalPolicy, ApprovalRule, Caller};
//!
//! let policy = ApprovalPolicy::default().rule(ApprovalRule::default().users(["robot"]).actions(["stage.*"]));
//! let robot = Caller::user("robot", Some("operate"), "http");
//! let alice = Caller::user("alice", Some("operate"), "http");
//! let agent = Caller::user("claude", Some("operate"), "mcp");
//! // `stage.move_to` is not marked: only the robot's calls wait.
//! assert!(policy.needs_approval(&robot, "stage", "move_to", false));
//! assert!(!policy.needs_approval(&alice, "stage", "move_to", false));
//! assert!(!policy.needs_approval(&agent, "stage", "move_to", false));
//! // A marked action waits when an agent calls it.
//! assert!(policy.needs_approval(&agent, "laser", "fire", true));
//! assert!(!policy.needs_approval(&alice, "laser", "fire", true));
//! ```

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

/// The bindings whose callers are agents: a marked action always waits for
/// approval when called through one of them.
pub const AGENT_BINDINGS: &[&str] = &["mcp"];

/// Who asks: the name a binding knows them by, the role it gave them, and
/// the binding they came through (`http`, `mqtt`, `mcp`, `test`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    name: Arc<str>,
    role: Option<Arc<str>>,
    binding: &'static str,
    user: bool,
    /// The things an `operate` caller may operate; `None` for all.
    things: Option<Arc<[String]>>,
}

impl Caller {
    /// A caller the binding could not tell apart from any other (a server
    /// without users, an MQTT client): named `anonymous`.
    pub fn anonymous(binding: &'static str) -> Self {
        Self {
            name: "anonymous".into(),
            role: None,
            binding,
            user: false,
            things: None,
        }
    }

    /// A signed-in user `name` with `role` (`observe`, `operate`).
    pub fn user(name: &str, role: Option<&str>, binding: &'static str) -> Self {
        Self {
            name: name.into(),
            role: role.map(Into::into),
            binding,
            user: true,
            things: None,
        }
    }

    /// The same caller with `role` (`observe`, `operate`): an anonymous
    /// caller on a server whose `[auth]` gives anonymous callers a role.
    pub fn with_role(mut self, role: &str) -> Self {
        self.role = Some(role.into());
        self
    }

    /// The same caller, allowed to operate only `things`.
    pub fn only_on(mut self, things: &[String]) -> Self {
        self.things = Some(things.into());
        self
    }

    /// Whether the caller may operate `thing` (invoke its actions, write
    /// its properties): any caller where the binding gave no role (a
    /// server without users), an `operate` caller where it may.
    pub fn may_operate(&self, thing: &str) -> bool {
        match self.role.as_deref() {
            None => true,
            Some("operate") => self
                .things
                .as_ref()
                .is_none_or(|things| things.iter().any(|t| t == thing)),
            Some(_) => false,
        }
    }

    /// The name (`anonymous` when unknown).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The role the binding gave, if any.
    pub fn role(&self) -> Option<&str> {
        self.role.as_deref()
    }

    /// The binding the call came through.
    pub fn binding(&self) -> &'static str {
        self.binding
    }

    /// Whether the caller signed in as a user of the server.
    pub fn is_user(&self) -> bool {
        self.user
    }

    /// Whether the caller is an agent (came through an agent binding).
    pub fn is_agent(&self) -> bool {
        AGENT_BINDINGS.contains(&self.binding)
    }

    /// The same caller, as seen through another binding.
    pub fn through(mut self, binding: &'static str) -> Self {
        self.binding = binding;
        self
    }
}

/// Which calls wait for an operator, and for how long: the `[approval]`
/// table of a configuration file (`timeout_s`, `[[approval.rules]]`; an
/// unknown key is an error).
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ApprovalPolicy {
    /// How long a call waits before it ends as expired (default 300 s).
    #[serde(rename = "timeout_s", with = "crate::seconds")]
    pub timeout: Duration,
    /// Who waits for what, beyond the built-in rule (agents wait for the
    /// actions marked `#[action(approval)]`).
    pub rules: Vec<ApprovalRule>,
}

impl Default for ApprovalPolicy {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(300),
            rules: Vec::new(),
        }
    }
}

/// One rule of an [`ApprovalPolicy`]: calls by the callers it names (any
/// of `users`, `roles`, `bindings`; all empty names everyone) of the
/// actions it names wait for approval.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ApprovalRule {
    /// User names.
    pub users: Vec<String>,
    /// Roles (`observe`, `operate`).
    pub roles: Vec<String>,
    /// Bindings (`http`, `mqtt`, `mcp`).
    pub bindings: Vec<String>,
    /// `thing.action` patterns, `*` matching any run of characters; empty
    /// names the actions marked `#[action(approval)]`.
    pub actions: Vec<String>,
}

impl ApprovalRule {
    /// The rule naming these users too.
    pub fn users<S: Into<String>>(mut self, users: impl IntoIterator<Item = S>) -> Self {
        self.users.extend(users.into_iter().map(Into::into));
        self
    }

    /// The rule naming these roles too.
    pub fn roles<S: Into<String>>(mut self, roles: impl IntoIterator<Item = S>) -> Self {
        self.roles.extend(roles.into_iter().map(Into::into));
        self
    }

    /// The rule naming these bindings too.
    pub fn bindings<S: Into<String>>(mut self, bindings: impl IntoIterator<Item = S>) -> Self {
        self.bindings.extend(bindings.into_iter().map(Into::into));
        self
    }

    /// The rule covering these `thing.action` patterns too.
    pub fn actions<S: Into<String>>(mut self, actions: impl IntoIterator<Item = S>) -> Self {
        self.actions.extend(actions.into_iter().map(Into::into));
        self
    }

    /// Whether the rule names `caller`.
    fn names(&self, caller: &Caller) -> bool {
        let everyone = self.users.is_empty() && self.roles.is_empty() && self.bindings.is_empty();
        everyone
            || (caller.is_user() && self.users.iter().any(|u| u == caller.name()))
            || caller.role().is_some_and(|role| self.roles.iter().any(|r| r == role))
            || self.bindings.iter().any(|b| b == caller.binding())
    }

    /// Whether the rule covers `thing`'s `action` (`marked`: it is marked
    /// `#[action(approval)]`).
    fn covers(&self, thing: &str, action: &str, marked: bool) -> bool {
        if self.actions.is_empty() {
            return marked;
        }
        let full = format!("{thing}.{action}");
        self.actions.iter().any(|pattern| glob(pattern, &full))
    }
}

impl ApprovalPolicy {
    /// The policy with `rule` added.
    pub fn rule(mut self, rule: ApprovalRule) -> Self {
        self.rules.push(rule);
        self
    }

    /// The policy with calls waiting `timeout` at most.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Whether `caller`'s call of `thing`'s `action` waits for approval
    /// (`marked`: the action is marked `#[action(approval)]`).
    pub fn needs_approval(&self, caller: &Caller, thing: &str, action: &str, marked: bool) -> bool {
        (marked && caller.is_agent())
            || self
                .rules
                .iter()
                .any(|rule| rule.names(caller) && rule.covers(thing, action, marked))
    }
}

/// Whether `text` matches `pattern`, whose `*`s match any run of characters.
fn glob(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        // No `*`: the whole text must have been the pattern.
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// Where a call that waits for approval is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalState {
    /// Waiting for an operator; the invocation is `pending`.
    Awaiting,
    /// An operator approved it; it ran (or is running).
    Approved,
    /// An operator rejected it; it ended with an error and never ran.
    Rejected,
    /// Nobody decided in time; it ended with an error and never ran.
    Expired,
}

impl ApprovalState {
    /// The name on the wire (`awaiting`, `approved`, `rejected`, `expired`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Awaiting => "awaiting",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Expired => "expired",
        }
    }
}

/// The approval record of an invocation that needed one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Approval {
    /// Where it is.
    pub state: ApprovalState,
    /// Who asked, and through which binding.
    pub caller: String,
    /// The binding the call came through.
    pub binding: &'static str,
    /// Who approved or rejected it.
    pub decided_by: Option<String>,
    /// When it expires unless decided.
    pub deadline: DateTime<Utc>,
}

/// Why an approval or rejection was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApprovalError {
    /// No invocation has that id.
    #[error("no invocation {0}")]
    NotFound(uuid::Uuid),
    /// The invocation is not waiting for approval.
    #[error("the invocation is not awaiting approval (its approval is {0})")]
    NotAwaiting(&'static str),
    /// The one who asked may not decide their own call.
    #[error("user `{0}` asked for this call and may not approve or reject it; another operator must")]
    OwnCall(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_like_shell_patterns() {
        assert!(glob("*", "stage.move"));
        assert!(glob("stage.*", "stage.move"));
        assert!(!glob("stage.*", "camera.snap"));
        assert!(glob("*.home", "stage.home"));
        assert!(glob("st*ge.m*e", "stage.move"));
        assert!(glob("stage.move", "stage.move"));
        assert!(!glob("stage.move", "stage.moves"));
        assert!(!glob("a*a", "a"));
    }

    #[test]
    fn rules_name_users_roles_and_bindings() {
        let policy = ApprovalPolicy::default().rule(ApprovalRule::default().roles(["operate"]).actions(["*"]));
        assert!(policy.needs_approval(&Caller::user("a", Some("operate"), "http"), "t", "x", false));
        assert!(!policy.needs_approval(&Caller::user("a", Some("observe"), "http"), "t", "x", false));
        // An anonymous caller is not a user named "anonymous".
        let policy = ApprovalPolicy::default().rule(ApprovalRule::default().users(["anonymous"]).actions(["*"]));
        assert!(!policy.needs_approval(&Caller::anonymous("http"), "t", "x", false));
    }
}
