//! Reading a JSON request body with a size limit.

use axum::body::Body;
use axum::http::{HeaderMap, header};
use labthings_core::{InputProblem, LocSegment};
use serde_json::Value;

use crate::error::ApiError;

/// Read the whole body (at most `limit` bytes) and parse it as JSON. An empty
/// body is `null`. A body must say it is JSON (`Content-Type:
/// application/json` or `+json`), else 415: browsers send other types
/// cross-origin without asking first, JSON they do not.
/// A client that takes longer than `timeout` to send it gets a 408.
pub(crate) async fn read_json(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    timeout: std::time::Duration,
) -> Result<Value, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let content_type = headers.get(header::CONTENT_TYPE).map(|v| v.to_str().unwrap_or("?"));
    if let Some(content_type) = content_type
        && !is_json(content_type)
    {
        return Err(ApiError::UnsupportedMediaType(content_type.chars().take(100).collect()));
    }
    let bytes = tokio::time::timeout(timeout, axum::body::to_bytes(body, limit))
        .await
        .map_err(|_| ApiError::Timeout(timeout))?
        .map_err(|e| {
            let too_large = std::error::Error::source(&e).is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            if too_large {
                ApiError::PayloadTooLarge { limit }
            } else {
                ApiError::BadBody(e.to_string())
            }
        })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    if content_type.is_none() {
        return Err(ApiError::UnsupportedMediaType("(none)".to_owned()));
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        let offset = byte_offset(&bytes, e.line(), e.column());
        ApiError::Invalid(vec![InputProblem::new(
            "json_invalid",
            vec!["body".into(), LocSegment::Index(offset)],
            format!("JSON decode error: {e}"),
            Value::Object(Default::default()),
        )])
    })
}

/// Whether a `Content-Type` is JSON: `application/json` or any `+json`
/// type, with or without parameters.
fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// The byte offset of a 1-based line and column, as FastAPI reports it.
fn byte_offset(bytes: &[u8], line: usize, column: usize) -> usize {
    let line_start: usize = bytes
        .split(|b| *b == b'\n')
        .take(line.saturating_sub(1))
        .map(|l| l.len() + 1)
        .sum();
    (line_start + column.saturating_sub(1)).min(bytes.len())
}

#[cfg(test)]
mod tests {
    use super::byte_offset;

    #[test]
    fn json_media_types() {
        for yes in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/td+json",
        ] {
            assert!(super::is_json(yes), "{yes}");
        }
        for no in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "json",
        ] {
            assert!(!super::is_json(no), "{no}");
        }
    }

    #[test]
    fn offsets_count_earlier_lines() {
        assert_eq!(byte_offset(b"{\n  x", 2, 3), 4);
        assert_eq!(byte_offset(b"{x", 1, 2), 1);
    }
}
