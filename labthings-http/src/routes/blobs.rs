//! Downloading blob outputs: `/blob/{id}` and `/action_invocations/{id}/output`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, on};
use labthings_core::blob::{BlobContent, BlobData};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::binding::{BLOBS, Route, ServerKind};
use crate::error::ApiError;
use crate::openapi::{id_parameter, object};
use crate::state::AppState;

/// `GET /blob/{id}`: a blob's bytes.
pub(crate) struct Blob;

impl ServerKind for Blob {
    const ERRORS: &'static [u16] = &[404, 422];

    fn path() -> String {
        format!("/{BLOBS}/{{id}}")
    }

    fn handler(method: MethodFilter) -> Route {
        on(method, get)
    }

    fn operation() -> Map<String, Value> {
        object(
            json!({"tags": ["server"], "operationId": "blob", "summary": "A blob output's bytes, with its media type",
            "parameters": id_parameter(),
            "responses": {"200": {"description": "The bytes, with the blob's own media type", "content": {"*/*": {}}}}}),
        )
    }
}

/// `GET /blob/{id}`: a blob's bytes, while its invocation is retained.
async fn get(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|e| {
        ApiError::invalid(
            "uuid_parsing",
            vec!["path".into(), "blob_id".into()],
            format!("Input should be a valid UUID, {e}"),
            Value::from(id.as_str()),
        )
    })?;
    let blob = state
        .lab
        .manager()
        .blob(id)
        .ok_or_else(|| ApiError::NotFound(format!("No blob found with ID {id}")))?;
    serve(blob).await
}

/// The response that streams `blob` with its media type and length. Bytes
/// in memory are shared, not copied; files are read in chunks.
pub(crate) async fn serve(blob: Arc<BlobData>) -> Result<Response, ApiError> {
    let body = match blob.content() {
        BlobContent::Bytes(bytes) => Body::from(bytes.clone()),
        BlobContent::File { path, .. } => {
            let file = tokio::fs::File::open(path)
                .await
                .map_err(|e| ApiError::NotFound(format!("the blob's file is gone: {e}")))?;
            Body::from_stream(tokio_util::io::ReaderStream::new(file))
        }
        // Another server holds it (an input's link, never kept as an
        // output here): that server serves it.
        BlobContent::Remote(remote) => {
            return Ok(axum::response::Redirect::temporary(remote.href()).into_response());
        }
    };
    let mut response = body.into_response();
    let headers = response.headers_mut();
    if let Ok(media_type) = HeaderValue::from_str(blob.media_type()) {
        headers.insert(header::CONTENT_TYPE, media_type);
    }
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(blob.len()));
    Ok(response)
}
