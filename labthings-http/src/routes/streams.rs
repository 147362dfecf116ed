//! `GET /{thing}/{stream}`: a live MJPEG stream as `multipart/x-mixed-replace`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, on};
use bytes::{BufMut, Bytes, BytesMut};
use labthings_core::ThingInstance;
use tokio_util::sync::CancellationToken;

use crate::error::ApiError;
use crate::state::AppState;

const BOUNDARY: &str = "frame";

/// Serve stream number `index` of `thing` on `method`.
pub(crate) fn handler(thing: &Arc<ThingInstance>, index: usize, method: MethodFilter) -> MethodRouter<Arc<AppState>> {
    let thing = thing.clone();
    on(method, move |State(state): State<Arc<AppState>>| {
        serve(thing, index, state.closing.clone())
    })
}

/// One multipart part holding a JPEG frame.
fn part(frame: &Bytes) -> Bytes {
    let head = format!(
        "--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
        frame.len()
    );
    let mut part = BytesMut::with_capacity(head.len() + frame.len() + 2);
    part.put_slice(head.as_bytes());
    part.put_slice(frame);
    part.put_slice(b"\r\n");
    part.freeze()
}

/// Each client waits for the next frame only when it has sent the previous
/// one, and then gets the newest: slow clients skip frames, nothing queues.
/// The stream ends when the server starts shutting down (`closing`).
async fn serve(thing: Arc<ThingInstance>, index: usize, closing: CancellationToken) -> Result<Response, ApiError> {
    let stream = thing
        .stream(index)
        .ok_or_else(|| ApiError::NotFound("no such stream".to_owned()))?;
    let frames = stream.subscribe();
    // State: the receiver, and whether the current frame is still unsent
    // (true only at the start, so a new client gets a picture at once).
    let parts = futures_util::stream::unfold((frames, true), |(mut frames, mut unsent)| async move {
        loop {
            if !unsent {
                // The sender is dropped only with the Thing: then the stream ends.
                frames.changed().await.ok()?;
            }
            unsent = false;
            let frame = frames.borrow_and_update().clone();
            if let Some(frame) = frame {
                return Some((Ok::<_, std::convert::Infallible>(part(&frame)), (frames, false)));
            }
        }
    });
    let parts = futures_util::StreamExt::take_until(parts, closing.cancelled_owned());
    let mut response = Body::from_stream(parts).into_response();
    let content_type = format!("multipart/x-mixed-replace; boundary={BOUNDARY}");
    if let Ok(value) = HeaderValue::from_str(&content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}
