//! `GET /{thing}/{stream}`: a live MJPEG stream as `multipart/x-mixed-replace`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, on};
use bytes::Bytes;
use labthings_core::ThingInstance;
use labthings_core::stream::Latest;
use tokio_util::sync::CancellationToken;

use super::query_problem;
use crate::error::ApiError;
use crate::state::AppState;

const BOUNDARY: &str = "frame";

/// The highest `max_fps` a viewer may ask for, and the lowest.
const FPS_RANGE: std::ops::RangeInclusive<f64> = 0.1..=240.0;

/// The query of a stream: an optional frame-rate cap for this viewer.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct StreamQuery {
    /// At most this many frames a second to this viewer.
    max_fps: Option<f64>,
}

/// Serve stream number `index` of `thing` on `method`.
pub(crate) fn handler(thing: &Arc<ThingInstance>, index: usize, method: MethodFilter) -> MethodRouter<Arc<AppState>> {
    let thing = thing.clone();
    on(
        method,
        move |State(state): State<Arc<AppState>>, query: Result<Query<StreamQuery>, QueryRejection>| async move {
            let Query(query) = query.map_err(|rejection| query_problem(&rejection, "max_fps"))?;
            let gap = match query.max_fps {
                None => Duration::ZERO,
                Some(fps) if FPS_RANGE.contains(&fps) => Duration::from_secs_f64(1.0 / fps),
                Some(fps) => {
                    return Err(ApiError::invalid(
                        "less_than_equal",
                        vec!["query".into(), "max_fps".into()],
                        format!(
                            "max_fps must be between {} and {} frames a second",
                            FPS_RANGE.start(),
                            FPS_RANGE.end()
                        ),
                        fps.into(),
                    ));
                }
            };
            serve(thing, index, gap, state.closing.clone()).await
        },
    )
}

/// The header of the multipart part holding a frame of `len` bytes.
fn part_head(len: usize) -> Bytes {
    Bytes::from(format!(
        "--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len}\r\n\r\n"
    ))
}

/// Each viewer waits for the next frame only when it has sent the previous
/// one (and, with `max_fps`, when `gap` has passed since), and then gets the
/// newest: slow viewers skip frames, nothing queues. A frame's JPEG is
/// shared, not copied, between viewers: each part is its header, the frame's
/// bytes and a line end. The stream ends when the device code stops it or
/// the server starts shutting down (`closing`).
async fn serve(
    thing: Arc<ThingInstance>,
    index: usize,
    gap: Duration,
    closing: CancellationToken,
) -> Result<Response, ApiError> {
    let stream = thing
        .stream(index)
        .ok_or_else(|| ApiError::NotFound("no such stream".to_owned()))?;
    let frames = stream.subscribe();
    // State: the receiver, whether the current frame is still unsent (true
    // only at the start, so a new viewer gets a picture at once), and when
    // the last frame was sent.
    let parts = futures_util::stream::unfold(
        (frames, true, None::<Instant>),
        move |(mut frames, mut unsent, sent_at)| async move {
            loop {
                if let Some(sent_at) = sent_at {
                    tokio::time::sleep_until((sent_at + gap).into()).await;
                }
                if !unsent {
                    // The sender is dropped only with the Thing: then the stream ends.
                    frames.changed().await.ok()?;
                }
                unsent = false;
                let latest = frames.borrow_and_update().clone();
                match latest {
                    Latest::Frame(frame) => {
                        let part = [part_head(frame.jpeg.len()), frame.jpeg, Bytes::from_static(b"\r\n")];
                        let part = futures_util::stream::iter(part.map(Ok::<_, std::convert::Infallible>));
                        // Only a capped viewer keeps the time: an uncapped one
                        // waits on no timer between frames.
                        let sent_at = (!gap.is_zero()).then(Instant::now);
                        return Some((part, (frames, false, sent_at)));
                    }
                    Latest::Stopped => return None,
                    Latest::Waiting => {}
                }
            }
        },
    );
    let parts = futures_util::StreamExt::flatten(parts);
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
