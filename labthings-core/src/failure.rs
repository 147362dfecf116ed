//! Why device code did not produce a value ([`Failure`]), and the errors
//! device code returns that mean something to the framework ([`BadRequest`],
//! [`Busy`], [`Cancelled`]).

use std::any::{Any, type_name};
use std::fmt::Display;

use crate::cancel::Cancelled;

/// Why device code did not produce a value.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Failure {
    /// The code stopped because it was cancelled ([`Cancelled`]).
    Cancelled,
    /// The code refused the request as a client mistake ([`BadRequest`]):
    /// reported as the client's mistake, not as a failure of the device.
    BadRequest {
        /// Why the request was refused.
        detail: String,
    },
    /// The device cannot do it in its present state ([`Busy`]): nothing to
    /// abort, a stage that is homing. Not a failure of the device, and not
    /// a mistake in the request; the same request may succeed later.
    Busy {
        /// What state stands in the way.
        detail: String,
    },
    /// The code returned an error or panicked.
    Error {
        /// A short name for the kind of error (the error type's name, or `Panic`).
        title: String,
        /// The error's message.
        detail: String,
    },
}

impl Failure {
    /// A failure with the given title and detail.
    pub fn error(title: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::Error {
            title: title.into(),
            detail: detail.into(),
        }
    }

    /// The failure for a caught panic payload.
    pub fn from_panic(payload: &(dyn Any + Send)) -> Self {
        let message = if let Some(s) = payload.downcast_ref::<&str>() {
            (*s).to_owned()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "(no message)".to_owned()
        };
        // A panic is a bug in the device code: its message (and the file and
        // line the panic hook printed) are for the server's log, not for
        // clients. Kept out of invocation logs, which clients read.
        tracing::error!(target: PANIC_TARGET, "device code panicked: {message}");
        Self::error("Panic", "the device code panicked; the server's log has its message")
    }

    /// The human-readable message.
    pub fn detail(&self) -> String {
        match self {
            Failure::Cancelled => Cancelled.to_string(),
            Failure::BadRequest { detail } | Failure::Busy { detail } | Failure::Error { detail, .. } => detail.clone(),
        }
    }
}

/// The log target of the record a caught panic leaves in the server's log.
pub const PANIC_TARGET: &str = "labthings::panic";

impl Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Cancelled => Display::fmt(&Cancelled, f),
            Failure::BadRequest { detail } => write!(f, "BadRequest: {detail}"),
            Failure::Busy { detail } => write!(f, "Busy: {detail}"),
            Failure::Error { title, detail } => write!(f, "{title}: {detail}"),
        }
    }
}

/// The error device code returns to refuse a request that is the client's
/// mistake: a value out of the hardware's range, a target beyond its travel.
/// A setter returning it refuses the write as a schema violation would; an
/// action returning it ends as `error`, marked as the client's mistake
/// ([`Failure::BadRequest`]). Protocol bindings answer it as a client error
/// (the HTTP binding: 422).
///
/// ```
/// use labthings_core::BadRequest;
/// fn set_exposure(ms: f64) -> Result<(), BadRequest> {
///     if !(0.01..=10_000.0).contains(&ms) {
///         return Err(BadRequest::new(format!("exposure {ms} ms is outside 0.01..=10000 ms")));
///     }
///     Ok(())
/// }
/// assert!(set_exposure(1e9).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRequest(String);

impl BadRequest {
    /// Refuse with `message`, which the client sees.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl Display for BadRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadRequest {}

/// The error device code returns when the device cannot do what is asked in
/// its present state -- an abort with nothing moving, a move while the stage
/// homes: answered as `409 Conflict` (an action invoked with
/// `?return=output`, a write, an endpoint), and an invocation that returns
/// it ends as `error` with a problem of status 409.
///
/// ```
/// use labthings_core::Busy;
/// fn abort(moving: bool) -> Result<(), Busy> {
///     if !moving {
///         return Err(Busy::new("the stage is not moving"));
///     }
///     Ok(())
/// }
/// assert_eq!(abort(false).unwrap_err().to_string(), "the stage is not moving");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Busy(String);

impl Busy {
    /// Refuse with `message`, which the client sees.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl Display for Busy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Busy {}

/// The last path segment of a type's name, without generics:
/// `alloc::string::String` → `String`.
fn short_type_name<T: ?Sized>() -> &'static str {
    let full = type_name::<T>();
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base)
}

/// Turn an error returned by device code into a [`Failure`]; [`Cancelled`]
/// (also inside a boxed error) becomes [`Failure::Cancelled`].
pub fn to_failure<E: Display + 'static>(error: E) -> Failure {
    let any: &dyn Any = &error;
    if any.is::<Cancelled>() {
        return Failure::Cancelled;
    }
    if let Some(bad) = any.downcast_ref::<BadRequest>() {
        return Failure::BadRequest { detail: bad.0.clone() };
    }
    if let Some(busy) = any.downcast_ref::<Busy>() {
        return Failure::Busy { detail: busy.0.clone() };
    }
    if let Some(boxed) = any.downcast_ref::<Box<dyn std::error::Error + Send + Sync>>() {
        if boxed.is::<Cancelled>() {
            return Failure::Cancelled;
        }
        if let Some(bad) = boxed.downcast_ref::<BadRequest>() {
            return Failure::BadRequest { detail: bad.0.clone() };
        }
        if let Some(busy) = boxed.downcast_ref::<Busy>() {
            return Failure::Busy { detail: busy.0.clone() };
        }
        // The concrete type is erased; "Box" would tell nobody anything.
        return Failure::error("Error", error.to_string());
    }
    Failure::error(short_type_name::<E>(), error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_errors_become_busy_failures_also_boxed() {
        let busy = Failure::Busy {
            detail: "not moving".into(),
        };
        assert_eq!(to_failure(Busy::new("not moving")), busy);
        let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(Busy::new("not moving"));
        assert_eq!(to_failure(boxed), busy);
        assert_eq!(busy.to_string(), "Busy: not moving");
    }

    #[test]
    fn cancelled_errors_become_cancelled_failures() {
        assert_eq!(to_failure(Cancelled), Failure::Cancelled);
        let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(Cancelled);
        assert_eq!(to_failure(boxed), Failure::Cancelled);
    }

    #[test]
    fn other_errors_keep_their_type_name_and_message() {
        let failure = to_failure(String::from("motor stalled"));
        assert_eq!(failure, Failure::error("String", "motor stalled"));
        let boxed: Box<dyn std::error::Error + Send + Sync> = "beyond travel".into();
        assert_eq!(to_failure(boxed), Failure::error("Error", "beyond travel"));
    }
}
