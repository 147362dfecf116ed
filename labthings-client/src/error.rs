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
#[non_exhaustive]
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
    /// The server could not be reached (refused, no such host, no route),
    /// or the connection broke; what happened, with the address.
    #[error("transport: {0}")]
    Transport(String),
    /// HTTPS failed: the server's certificate is not trusted, not for its
    /// name, expired, or a CA file could not be read; what to do is said.
    #[error("TLS: {0}")]
    Tls(String),
    /// The server answered something this client cannot read (a TD
    /// without forms, a body that is not the JSON expected).
    #[error("unexpected answer: {0}")]
    Protocol(String),
    /// An event stream missed messages the server no longer keeps (the
    /// connection was away too long, or the server restarted): read the
    /// current state again. The stream goes on after this item.
    #[error("missed notifications: {0}")]
    Missed(String),
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
    /// is [`ClientError::Cancelled`]; the device refusing the input
    /// (`BadRequest`, status 422) is [`ClientError::Validation`] at `body`,
    /// as the same refusal answered to `?return=output` is, and the device
    /// being busy (`Busy`, status 409) is [`ClientError::Busy`]: a refusal
    /// reads the same whichever way the client waited for it. Anything else
    /// is [`ClientError::Device`].
    pub(crate) fn from_problem(problem: Problem) -> Self {
        match problem.status {
            _ if problem.title == "InvocationCancelledError" => Self::Cancelled,
            Some(422) => Self::Validation(vec![InputProblem {
                kind: "value_error".into(),
                loc: vec![Value::String("body".into())],
                msg: problem.detail,
                input: Value::Null,
            }]),
            Some(409) => Self::Busy(problem.detail),
            _ => Self::Device(problem),
        }
    }
}

/// The error a failed request to `url` means, saying what failed in words
/// a user can act on: a refused connection with its address, a
/// certificate that is not trusted or not for the server's name, plain
/// HTTP spoken to an HTTPS server or the reverse.
pub(crate) fn transport(error: &(dyn std::error::Error + 'static), connecting: bool, url: &str) -> ClientError {
    use labthings_tls::tokio_rustls::rustls;
    let parsed = url::Url::parse(url).ok();
    let origin = parsed
        .as_ref()
        .map_or_else(|| url.to_owned(), |u| u.origin().ascii_serialization());
    let address = parsed
        .as_ref()
        .and_then(|u| Some(format!("{}:{}", u.host_str()?, u.port_or_known_default()?)))
        .unwrap_or_else(|| origin.clone());
    let https = parsed.as_ref().is_some_and(|u| u.scheme() == "https");
    let chain = chain(error);
    if let Some(tls) = find::<rustls::Error>(error) {
        use rustls::CertificateError as C;
        let why = match tls {
            rustls::Error::InvalidCertificate(C::UnknownIssuer) => format!(
                "the certificate of {origin} is not trusted: no certificate authority this client trusts signed it \
                 (for a lab's own CA or a self-signed certificate, name the file: --cacert FILE, LABTHINGS_CACERT, \
                 or Connection::with_ca_file)"
            ),
            rustls::Error::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. }) => format!(
                "the certificate of {origin} is not valid for the name {} ({tls}); use the name the certificate \
                 was made for",
                parsed.as_ref().and_then(|u| u.host_str()).unwrap_or("asked for")
            ),
            rustls::Error::InvalidCertificate(
                C::Expired | C::ExpiredContext { .. } | C::NotValidYet | C::NotValidYetContext { .. },
            ) => format!(
                "the certificate of {origin} is out of its validity period ({tls}); is this computer's clock right?"
            ),
            rustls::Error::InvalidMessage(_) => format!(
                "{origin} did not answer the TLS handshake ({tls}): does it speak plain HTTP? try http:// instead of https://"
            ),
            other => format!("the TLS handshake with {origin} failed: {other}"),
        };
        return ClientError::Tls(why);
    }
    if find::<std::io::Error>(error).is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused) {
        return ClientError::Transport(format!(
            "connection refused at {address}: nothing is listening there (is the server running, on that port?)"
        ));
    }
    if connecting {
        return ClientError::Transport(format!("cannot connect to {address}: {chain}"));
    }
    if !https && (chain.contains("connection closed") || chain.contains("invalid HTTP")) {
        return ClientError::Transport(format!(
            "{origin} closed the connection without an HTTP answer ({chain}): does it speak HTTPS? try https:// \
             instead of http://"
        ));
    }
    ClientError::Transport(format!("{url}: {chain}"))
}

/// The first error of type `E` in `error`'s chain of sources, looking
/// inside I/O errors too (which keep what they wrap out of the chain, and
/// may wrap another I/O error).
fn find<'a, E: std::error::Error + 'static>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a E> {
    let mut next = Some(error);
    while let Some(current) = next {
        let mut layer = Some(current);
        while let Some(this) = layer {
            if let Some(found) = this.downcast_ref::<E>() {
                return Some(found);
            }
            layer = this
                .downcast_ref::<std::io::Error>()
                .and_then(std::io::Error::get_ref)
                .map(|inner| inner as &(dyn std::error::Error + 'static));
        }
        next = current.source();
    }
    None
}

/// Every message of `error`'s chain, outermost first, without repeats.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(current) = next {
        let text = current.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = current.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_reads_the_same_whether_the_client_waited_or_polled() {
        // `?return=output` answers the device's `BadRequest` as a 422; a
        // polled invocation carries it as problem details of status 422.
        let answered = ClientError::from_answer(
            422,
            br#"{"detail":[{"type":"value_error","loc":["body"],"msg":"the interlock is open","input":null}]}"#,
        );
        let polled = ClientError::from_problem(Problem {
            title: "BadRequest".into(),
            detail: "the interlock is open".into(),
            kind: Some("urn:labthings:problem:bad-request".into()),
            status: Some(422),
        });
        assert_eq!(answered.to_string(), "invalid input: body: the interlock is open");
        assert_eq!(polled.to_string(), answered.to_string());
        let busy = ClientError::from_problem(Problem {
            title: "Busy".into(),
            detail: "nothing is moving".into(),
            kind: Some("urn:labthings:problem:busy".into()),
            status: Some(409),
        });
        assert_eq!(
            busy.to_string(),
            ClientError::from_answer(409, br#"{"detail":"nothing is moving"}"#).to_string()
        );
    }

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
