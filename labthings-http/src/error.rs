//! The one error type of the HTTP layer, and how each kind becomes a response.
//!
//! Validation problems are answered as FastAPI does (422, `{"detail": [..]}`);
//! everything else carries `{"detail": "..."}`, and failures of device code
//! are RFC 9457 problem details.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use labthings_core::{Failure, InputProblem, LocSegment};
use serde_json::{Value, json};

/// Everything a handler can answer instead of success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 422: the input does not fit its schema; every problem is listed.
    #[error("invalid input")]
    Invalid(Vec<InputProblem>),
    /// 404 with a message naming what was not found.
    #[error("{0}")]
    NotFound(String),
    /// 405: the path exists but not with this method.
    #[error("method {0} is not allowed here")]
    MethodNotAllowed(String),
    /// 413: the body is larger than the configured limit.
    #[error("request body larger than {limit} bytes")]
    PayloadTooLarge {
        /// The configured limit in bytes.
        limit: usize,
    },
    /// 400: the body could not be read at all.
    #[error("could not read the request body: {0}")]
    BadBody(String),
    /// 409: the hardware lock is held by a running invocation.
    #[error("{0}")]
    Conflict(String),
    /// 503: the request is understood but cannot be served in this state
    /// (no output yet, already finished).
    #[error("{0}")]
    Unavailable(String),
    /// 500: device code failed; answered as problem details.
    #[error("{0}")]
    Device(Failure),
}

impl ApiError {
    /// A 422 for a single problem.
    pub fn invalid(kind: &'static str, loc: Vec<LocSegment>, msg: impl Into<String>, input: Value) -> Self {
        Self::Invalid(vec![InputProblem::new(kind, loc, msg, input)])
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BadBody(_) => StatusCode::BAD_REQUEST,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Device(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = match &self {
            Self::Invalid(problems) => json!({ "detail": problems }),
            Self::Device(failure) => {
                let (title, detail) = match failure {
                    Failure::Error { title, detail } => (title.clone(), detail.clone()),
                    Failure::Cancelled => ("Cancelled".to_owned(), failure.detail()),
                };
                let mut response = axum::Json(json!({
                    "type": "about:blank",
                    "title": title,
                    "status": status.as_u16(),
                    "detail": detail,
                    "instance": null,
                }))
                .into_response();
                *response.status_mut() = status;
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/problem+json"),
                );
                return response;
            }
            other => json!({ "detail": other.to_string() }),
        };
        (status, axum::Json(body)).into_response()
    }
}
