//! Extra resources a Thing serves beside its affordances (`#[endpoint]`): a
//! raw download, a small HTML page, a CSV export, or a typed JSON answer to
//! a JSON request. They are not in the Thing Description's affordances (a
//! WoT client cannot know what they mean); an endpoint answers with bytes
//! and their media type, a [`Raw`], or with a typed value as JSON, a
//! [`Json`]. A [`Json`] parameter is the request's body.

use std::fmt::Display;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::Serialize;

use crate::failure::{Failure, to_failure};

/// Bytes with their media type: what an `#[endpoint]` method returns.
///
/// ```
/// use labthings_core::endpoint::Raw;
/// let page = Raw::html("<h1>Stage</h1>");
/// assert_eq!(page.media_type(), "text/html; charset=utf-8");
/// assert_eq!(page.bytes(), b"<h1>Stage</h1>");
/// let csv = Raw::new("text/csv", "x,y\n1,2\n");
/// assert_eq!(csv.media_type(), "text/csv");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Raw {
    media_type: String,
    bytes: Vec<u8>,
}

impl Raw {
    /// `bytes` of the media type `media_type` (`image/jpeg`, `text/csv`, ...).
    pub fn new(media_type: impl Into<String>, bytes: impl Into<Vec<u8>>) -> Self {
        Self {
            media_type: media_type.into(),
            bytes: bytes.into(),
        }
    }

    /// An HTML page (`text/html; charset=utf-8`).
    pub fn html(page: impl Into<String>) -> Self {
        Self::new("text/html; charset=utf-8", page.into())
    }

    /// Plain text (`text/plain; charset=utf-8`).
    pub fn text(text: impl Into<String>) -> Self {
        Self::new("text/plain; charset=utf-8", text.into())
    }

    /// The media type.
    pub fn media_type(&self) -> &str {
        &self.media_type
    }

    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The bytes, taken out.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

/// A typed JSON value: as an `#[endpoint]`'s return type, the answer
/// (`application/json`, its schema in the OpenAPI document); as one of its
/// parameters, the request's JSON body (checked against `T`'s schema before
/// the method runs, its schema in the OpenAPI document too).
///
/// ```
/// use labthings_core::endpoint::{EndpointOutput, Json};
/// let raw = Json(vec![1, 2, 3]).into_raw().expect("serialisable");
/// assert_eq!(raw.media_type(), "application/json");
/// assert_eq!(raw.bytes(), b"[1,2,3]");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Json<T>(pub T);

impl<T> Json<T> {
    /// The value, taken out.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Json<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

/// What an `#[endpoint]` method may return: a [`Raw`] or a [`Json`], or a
/// `Result` of either whose error (any `Display`) is the device's failure.
#[diagnostic::on_unimplemented(
    message = "an `#[endpoint]` returns `Raw`, `Json<T>` or a `Result` of either, not `{Self}`",
    label = "what an endpoint answers: bytes with their media type, or a typed value as JSON",
    note = "build one with `Raw::html(..)`, `Raw::text(..)` or `Raw::new(\"image/png\", bytes)`; for a typed value, return `Json<T>` (`-> Json<Vec<u32>>`, answered as `Json(value)`)"
)]
pub trait EndpointOutput {
    /// The bytes, or the failure the device code reported.
    fn into_raw(self) -> Result<Raw, Failure>;

    /// The JSON Schema of the answer, when it is a typed JSON value.
    fn output_schema(generator: &mut SchemaGenerator) -> Option<Schema> {
        let _ = generator;
        None
    }
}

impl EndpointOutput for Raw {
    fn into_raw(self) -> Result<Raw, Failure> {
        Ok(self)
    }
}

impl<E: Display + 'static> EndpointOutput for Result<Raw, E> {
    fn into_raw(self) -> Result<Raw, Failure> {
        self.map_err(to_failure)
    }
}

impl<T: Serialize + JsonSchema> EndpointOutput for Json<T> {
    fn into_raw(self) -> Result<Raw, Failure> {
        let bytes = serde_json::to_vec(&self.0).map_err(|error| {
            Failure::error(
                "SerializationError",
                format!("the endpoint's answer cannot be written as JSON: {error}"),
            )
        })?;
        Ok(Raw::new("application/json", bytes))
    }

    fn output_schema(generator: &mut SchemaGenerator) -> Option<Schema> {
        Some(generator.root_schema_for::<T>())
    }
}

impl<T: Serialize + JsonSchema, E: Display + 'static> EndpointOutput for Result<Json<T>, E> {
    fn into_raw(self) -> Result<Raw, Failure> {
        self.map_err(to_failure)?.into_raw()
    }

    fn output_schema(generator: &mut SchemaGenerator) -> Option<Schema> {
        Json::<T>::output_schema(generator)
    }
}

/// Why an endpoint call did not produce bytes.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    /// The thing has no endpoint with that number.
    #[error("the thing has no such endpoint")]
    NoSuchEndpoint,
    /// The parameters or the body do not match the endpoint's schemas.
    #[error("the request does not fit the endpoint: {}", crate::validation::problem_list(.0))]
    Invalid(Vec<crate::validation::InputProblem>),
    /// The device code failed or panicked.
    #[error("the endpoint failed: {0}")]
    Failed(Failure),
}
