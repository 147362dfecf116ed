//! Everything a client call can fail with, as one enum to match on.

use serde::Deserialize;
use serde_json::Value;

/// One problem with an input, as the server lists it in a 422 answer
/// (`{"detail": [{"type", "loc", "msg", "input"}, ..]}`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct InputProblem {
    /// Machine-readable kind: `int_type`, `missing`, `extra_forbidden`, ...
    #[serde(rename = "type", default)]
    pub kind: String,
    /// Where: `body`, `query` or `path`, then the field.
    #[serde(default)]
    pub loc: Vec<Value>,
    /// What is wrong, for people.
    #[serde(default)]
    pub msg: String,
    /// The offending value.
    #[serde(default)]
    pub input: Value,
}

impl std::fmt::Display for InputProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let loc: Vec<String> = self
            .loc
            .iter()
            .map(|segment| match segment {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect();
        write!(f, "{}: {}", loc.join("."), self.msg)
    }
}

/// RFC 9457 problem details: how a server describes a failure of device
/// code (a failed invocation's `error`, the body of a 500).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
pub struct Problem {
    /// A short summary of the kind of problem (`InvocationCancelledError`, `Panic`, ...).
    #[serde(default)]
    pub title: String,
    /// What happened.
    #[serde(default)]
    pub detail: String,
    /// A URI naming the kind of problem.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// The HTTP status that fits it.
    #[serde(default)]
    pub status: Option<u16>,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.title.is_empty(), self.detail.is_empty()) {
            (false, false) => write!(f, "{}: {}", self.title, self.detail),
            (false, true) => f.write_str(&self.title),
            _ => f.write_str(&self.detail),
        }
    }
}

/// Why a client call failed. Nothing a server sends makes the client
/// panic: an answer it does not understand is a [`ClientError::Protocol`].
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// 422: the input (or value) does not fit its schema; every problem,
    /// with its location.
    #[error("invalid input: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Validation(Vec<InputProblem>),
    /// The device code failed: the invocation ended in `error`, or a read
    /// or write answered 500 with problem details.
    #[error("the device failed: {0}")]
    Device(Problem),
    /// The invocation was cancelled.
    #[error("the invocation was cancelled")]
    Cancelled,
    /// 404, or an affordance the Thing Description does not have.
    #[error("not found: {0}")]
    NotFound(String),
    /// 409: the hardware lock is held by a running invocation.
    #[error("busy: {0}")]
    Busy(String),
    /// 401 or 403: credentials are missing, wrong, or not enough.
    #[error("not allowed: {0}")]
    Unauthorized(String),
    /// Any other answer that is not a success.
    #[error("the server answered {status}: {message}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// The answer's `detail`, or its body.
        message: String,
    },
    /// The server did not answer within the connection's time limit.
    #[error("timed out: {0}")]
    TimedOut(String),
    /// An answer was larger than the connection's limits allow.
    #[error("too large: {0}")]
    TooLarge(String),
    /// The server could not be reached, or the connection broke.
    #[error("transport: {0}")]
    Transport(#[from] reqwest::Error),
    /// The server answered something this client cannot read (a TD
    /// without forms, a body that is not the JSON expected).
    #[error("unexpected answer: {0}")]
    Protocol(String),
    /// A typed client's Thing Description lacks what the type expects, or
    /// describes it with another schema; each difference is listed.
    #[error("the remote Thing does not match: {}", .0.join("; "))]
    Mismatch(Vec<String>),
}

/// The result of a client call.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;

impl ClientError {
    /// The error for a non-success answer with status `status` and body
    /// `body` (JSON or not).
    pub(crate) fn from_answer(status: u16, body: &[u8]) -> Self {
        let json: Option<Value> = serde_json::from_slice(body).ok();
        let detail_text = || match json.as_ref().and_then(|j| j.get("detail")) {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => String::from_utf8_lossy(body).chars().take(500).collect(),
        };
        match status {
            422 => {
                let problems = json
                    .as_ref()
                    .and_then(|j| j.get("detail"))
                    .and_then(|d| serde_json::from_value::<Vec<InputProblem>>(d.clone()).ok());
                match problems {
                    Some(problems) => Self::Validation(problems),
                    None => Self::Validation(vec![InputProblem {
                        kind: "value_error".into(),
                        loc: Vec::new(),
                        msg: detail_text(),
                        input: Value::Null,
                    }]),
                }
            }
            404 => Self::NotFound(detail_text()),
            409 => Self::Busy(detail_text()),
            401 | 403 => Self::Unauthorized(detail_text()),
            500 => match json.and_then(|j| serde_json::from_value::<Problem>(j).ok()) {
                Some(problem) if !problem.title.is_empty() || !problem.detail.is_empty() => Self::from_problem(problem),
                _ => Self::Status {
                    status,
                    message: String::from_utf8_lossy(body).chars().take(500).collect(),
                },
            },
            _ => Self::Status {
                status,
                message: detail_text(),
            },
        }
    }

    /// The error of a failed invocation's problem details: a cancellation
    /// is [`ClientError::Cancelled`], anything else [`ClientError::Device`].
    pub(crate) fn from_problem(problem: Problem) -> Self {
        if problem.title == "InvocationCancelledError" {
            Self::Cancelled
        } else {
            Self::Device(problem)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_become_the_error_a_user_matches() {
        let body = br#"{"detail":[{"type":"int_type","loc":["body","x"],"msg":"not an integer","input":"a"}]}"#;
        match ClientError::from_answer(422, body) {
            ClientError::Validation(problems) => {
                assert_eq!(problems.len(), 1);
                assert_eq!(problems[0].to_string(), "body.x: not an integer");
            }
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(ClientError::from_answer(409, br#"{"detail":"locked"}"#), ClientError::Busy(m) if m == "locked")
        );
        assert!(matches!(
            ClientError::from_answer(500, br#"{"title":"Panic","detail":"boom","type":"x","status":500}"#),
            ClientError::Device(p) if p.detail == "boom"
        ));
        // Not JSON at all: still an error, never a panic.
        assert!(matches!(
            ClientError::from_answer(502, b"\xff\xfe"),
            ClientError::Status { status: 502, .. }
        ));
        assert!(matches!(
            ClientError::from_answer(422, b"nonsense"),
            ClientError::Validation(_)
        ));
    }
}
