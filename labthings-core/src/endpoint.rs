//! Extra resources a Thing serves beside its affordances (`#[endpoint]`): a
//! raw download, a small HTML page, a CSV export. They are not in the Thing
//! Description's affordances (a WoT client cannot know what they mean); an
//! endpoint answers with bytes and their media type, a [`Raw`].

use std::fmt::Display;

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

/// What an `#[endpoint]` method may return: a [`Raw`], or a
/// `Result<Raw, E>` whose error (any `Display`) is the device's failure.
#[diagnostic::on_unimplemented(
    message = "an `#[endpoint]` returns `Raw` or `Result<Raw, E>`, not `{Self}`",
    label = "the bytes an endpoint answers, with their media type",
    note = "build one with `Raw::html(..)`, `Raw::text(..)` or `Raw::new(\"image/png\", bytes)`; for a typed JSON value, make the method an `#[action]` or a `#[property]`"
)]
pub trait EndpointOutput {
    /// The bytes, or the failure the device code reported.
    fn into_raw(self) -> Result<Raw, Failure>;
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

/// Why an endpoint call did not produce bytes.
#[derive(Debug)]
pub enum EndpointError {
    /// The thing has no endpoint with that number.
    NoSuchEndpoint,
    /// The parameters do not match the endpoint's parameter schema.
    Invalid(Vec<crate::validation::InputProblem>),
    /// The device code failed or panicked.
    Failed(Failure),
}
