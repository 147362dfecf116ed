//! Documents that depend only on the served things and the base URL a
//! request was made with (a TD, the TD listing, the OpenAPI document):
//! built once and served as bytes until a request with another base URL
//! comes, which rebuilds it. One entry each, so a client varying `Host`
//! costs rebuilds, never memory.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use parking_lot::Mutex;
use serde_json::Value;

use crate::error::ApiError;

/// The serialized document for the base URL it was last asked with.
#[derive(Debug, Default)]
pub(crate) struct ByBase(Mutex<Option<(String, Bytes)>>);

impl ByBase {
    /// The document for `base` as a JSON response, made by `make` (outside
    /// the lock) when the cached one is for another base or there is none.
    pub(crate) fn response(&self, base: &str, make: impl FnOnce() -> Value) -> Result<Response, ApiError> {
        let cached = match &*self.0.lock() {
            Some((cached_base, bytes)) if cached_base == base => Some(bytes.clone()),
            _ => None,
        };
        let bytes = match cached {
            Some(bytes) => bytes,
            None => {
                let json = serde_json::to_vec(&make())
                    .map_err(|e| ApiError::BadBody(format!("could not serialize the document: {e}")))?;
                let bytes = Bytes::from(json);
                *self.0.lock() = Some((base.to_owned(), bytes.clone()));
                bytes
            }
        };
        Ok((
            [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
            bytes,
        )
            .into_response())
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use serde_json::json;

    use super::ByBase;

    #[test]
    fn a_document_is_made_once_per_base_url() {
        let cache = ByBase::default();
        let made = Cell::new(0);
        let make = || {
            made.set(made.get() + 1);
            json!({"n": made.get()})
        };
        for base in ["http://a/", "http://a/", "http://b/", "http://b/", "http://a/"] {
            assert!(cache.response(base, make).is_ok());
        }
        assert_eq!(made.get(), 3, "made for a, for b, and for a again");
    }
}
