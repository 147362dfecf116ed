//! Who sent a request, as the lab sees callers: the signed-in user the
//! credential check found (it puts a [`Caller`] in the request's
//! extensions), or, on a server without users, `anonymous`.

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use labthings_core::Caller;

/// The caller of a request, for handlers: `CallerOf(caller)`.
pub(crate) struct CallerOf(pub(crate) Caller);

impl<S: Send + Sync> FromRequestParts<S> for CallerOf {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<Caller>()
                .cloned()
                .unwrap_or_else(|| Caller::anonymous("http")),
        ))
    }
}
