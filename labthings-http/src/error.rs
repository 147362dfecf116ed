//! The one error type of the HTTP layer, and how each kind becomes a response.
//!
//! Validation problems are answered as FastAPI does (422, `{"detail": [..]}`);
//! everything else carries `{"detail": "..."}`, and failures of device code
//! are RFC 9457 problem details.
//!
//! Every error response also carries the problem in its HTTP/1 reason phrase
//! (`HTTP/1.1 422 Unprocessable Entity: by: invalid type ...`): some clients,
//! node-wot among them, report only the status line to their user.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper::ext::ReasonPhrase;
use labthings_core::device::DeviceCallError;
use labthings_core::{Failure, InputProblem, LocSegment, PropertyError, PropertyWriteError};
use serde_json::{Value, json};

use crate::render::ProblemDetails;

/// Everything a handler can answer instead of success.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// 422: the input does not fit its schema; every problem is listed.
    #[error("invalid input")]
    Invalid(Vec<InputProblem>),
    /// 404 with a message naming what was not found.
    #[error("{0}")]
    NotFound(String),
    /// 405: the path exists but not with this method; says why.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// 413: the body is larger than the configured limit.
    #[error("request body larger than {limit} bytes")]
    PayloadTooLarge {
        /// The configured limit in bytes.
        limit: usize,
    },
    /// 415: the body is not declared as JSON.
    #[error("the body must be JSON, sent with `Content-Type: application/json`; got {0}")]
    UnsupportedMediaType(String),
    /// 400: the body could not be read at all.
    #[error("could not read the request body: {0}")]
    BadBody(String),
    /// 400: the request is malformed in a way that is not about its body.
    #[error("{0}")]
    BadRequest(String),
    /// 408: the client took longer than the configured time to send the body.
    #[error("the request body was not received within {0:?}")]
    Timeout(std::time::Duration),
    /// 503 with `Retry-After`: the server is busy (too many invocations) or
    /// shutting down.
    #[error("{detail}")]
    TryLater {
        /// What is wrong.
        detail: String,
        /// Seconds to wait before trying again.
        retry_after_secs: u32,
    },
    /// 429 with `Retry-After`: too many failed sign-ins from this address
    /// or for this user name.
    #[error("{detail}")]
    TooManyRequests {
        /// What is wrong.
        detail: String,
        /// Seconds to wait before trying again.
        retry_after_secs: u32,
    },
    /// 401 with `WWW-Authenticate`: the request has no valid credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: a browser page from another origin may not do this, or the
    /// user's role does not allow it.
    #[error("{0}")]
    Forbidden(String),
    /// 421: the request's `Host` is not one this server answers to.
    #[error("{0}")]
    MisdirectedRequest(String),
    /// 409: the hardware lock is held by a running invocation, or the
    /// device is busy ([`labthings_core::Busy`]).
    #[error("{0}")]
    Conflict(String),
    /// 503: the request is understood but cannot be served in this state
    /// (no output yet, already finished).
    #[error("{0}")]
    Unavailable(String),
    /// 504: device code did not answer within its time limit (names the
    /// thing and the affordance).
    #[error("{0}")]
    DeviceTimeout(String),
    /// 500: device code failed (or its invocation was cancelled); answered
    /// as problem details.
    #[error("{}: {}", .0.title, .0.detail)]
    Device(ProblemDetails),
}

impl ApiError {
    /// A 422 for problems found in the request body: each location is
    /// prefixed with `body`, as FastAPI's clients expect.
    pub fn invalid_body(problems: Vec<InputProblem>) -> Self {
        Self::Invalid(
            problems
                .into_iter()
                .map(|mut problem| {
                    problem.loc.insert(0, "body".into());
                    problem
                })
                .collect(),
        )
    }

    /// A 422 for a single problem.
    pub fn invalid(kind: &'static str, loc: Vec<LocSegment>, msg: impl Into<String>, input: Value) -> Self {
        Self::Invalid(vec![InputProblem::new(kind, loc, msg, input)])
    }

    /// A 500 for a failure of device code, a 422 when the device code
    /// refused the request as the client's mistake ([`labthings_core::BadRequest`]),
    /// a 409 when the device cannot do it in its present state
    /// ([`labthings_core::Busy`]).
    pub fn device(failure: &Failure) -> Self {
        match failure {
            Failure::BadRequest { detail } => Self::refused(detail, Value::Null),
            Failure::Busy { detail } => Self::Conflict(detail.clone()),
            other => Self::Device(ProblemDetails::from_failure(other)),
        }
    }

    /// The 422 for a request that device code refused, echoing `input`.
    pub fn refused(detail: &str, input: Value) -> Self {
        Self::invalid("value_error", vec!["body".into()], detail, input)
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BadBody(_) | Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::MisdirectedRequest(_) => StatusCode::MISDIRECTED_REQUEST,
            Self::TryLater { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::DeviceTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            Self::Device(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// A property read, write or reset that did not happen: 404 for no such
/// property, 422 for a value that does not fit (each problem listed), 405
/// for a read-only one, 409 while its lock is held, the device's failure,
/// or 504/503 when the device does not answer.
impl From<PropertyError> for ApiError {
    fn from(e: PropertyError) -> Self {
        match e {
            PropertyError::Write(PropertyWriteError::Invalid(problems)) => Self::invalid_body(problems),
            PropertyError::Write(PropertyWriteError::Failed(failure)) | PropertyError::Read(failure) => {
                Self::device(&failure)
            }
            PropertyError::Write(PropertyWriteError::ReadOnly) => {
                Self::MethodNotAllowed("the property is read-only: it can be read, not written".to_owned())
            }
            e @ PropertyError::Write(PropertyWriteError::Busy) => Self::Conflict(e.to_string()),
            PropertyError::Device(e) => e.into(),
            e => Self::NotFound(e.to_string()),
        }
    }
}

impl From<DeviceCallError> for ApiError {
    fn from(e: DeviceCallError) -> Self {
        match e {
            DeviceCallError::TimedOut { .. } => Self::DeviceTimeout(e.to_string()),
            DeviceCallError::Stuck { .. } => Self::TryLater {
                detail: e.to_string(),
                retry_after_secs: 10,
            },
            DeviceCallError::NotRun { .. } => Self::Device(ProblemDetails::from_failure(&Failure::error(
                "DeviceCallError",
                e.to_string(),
            ))),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut response = match &self {
            Self::Invalid(problems) => (status, axum::Json(json!({ "detail": problems }))).into_response(),
            Self::Device(problem) => {
                let mut response = (
                    status,
                    axum::Json(json!({
                        "type": problem.kind.as_deref().unwrap_or("about:blank"),
                        "title": problem.title,
                        "status": status.as_u16(),
                        "detail": problem.detail,
                        "instance": null,
                    })),
                )
                    .into_response();
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/problem+json"),
                );
                response
            }
            other => (status, axum::Json(json!({ "detail": other.to_string() }))).into_response(),
        };
        if let Self::TryLater { retry_after_secs, .. } | Self::TooManyRequests { retry_after_secs, .. } = &self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
        }
        if let Ok(reason) = ReasonPhrase::try_from(reason_phrase(status, &self.summary())) {
            response.extensions_mut().insert(reason);
        }
        response
    }
}

impl ApiError {
    /// One line naming the problem, for the reason phrase.
    fn summary(&self) -> String {
        match self {
            Self::Invalid(problems) => problems
                .iter()
                .map(|p| format!("{}: {}", p.loc_path(), p.msg))
                .collect::<Vec<_>>()
                .join("; "),
            other => other.to_string(),
        }
    }
}

/// The longest reason phrase we send; longer summaries are cut.
const MAX_REASON: usize = 200;

/// `"{canonical reason}: {summary}"`, reduced to what a reason phrase may
/// hold (visible ASCII and spaces; anything else becomes `?`).
fn reason_phrase(status: StatusCode, summary: &str) -> String {
    let canonical = status.canonical_reason().unwrap_or("Error");
    let mut phrase: String = format!("{canonical}: {summary}")
        .chars()
        .map(|c| if c == ' ' || c.is_ascii_graphic() { c } else { '?' })
        .collect();
    if phrase.len() > MAX_REASON {
        phrase.truncate(MAX_REASON - 3);
        phrase.push_str("...");
    }
    phrase
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_phrases_are_single_visible_ascii_lines() {
        let phrase = reason_phrase(StatusCode::INTERNAL_SERVER_ERROR, "stage jammed\r\nat 5 \u{b5}m");
        assert_eq!(phrase, "Internal Server Error: stage jammed??at 5 ?m");
        assert!(ReasonPhrase::try_from(phrase).is_ok());
        let long = reason_phrase(StatusCode::NOT_FOUND, &"x".repeat(500));
        assert_eq!(long.len(), MAX_REASON);
        assert!(long.ends_with("..."));
    }
}
