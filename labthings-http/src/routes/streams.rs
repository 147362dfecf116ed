//! `GET /{thing}/{stream}`: a live MJPEG stream as `multipart/x-mixed-replace`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, on};
use bytes::Bytes;
use labthings_core::ThingInstance;
use labthings_core::stream::Latest;
use serde_json::{Map, Value, json};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::Params;
use crate::binding::{Affordance, Form, Route, ThingKind, form};
use crate::error::ApiError;
use crate::openapi::{Schemas, object, query_parameters};
use crate::state::AppState;

const BOUNDARY: &str = "frame";

/// The lowest `max_fps` a viewer may ask for.
const FPS_LOWEST: f64 = 0.1;
/// The highest `max_fps` a viewer may ask for.
const FPS_HIGHEST: f64 = 240.0;

/// The query of a stream: an optional frame-rate cap for this viewer. The
/// OpenAPI document lists it from its schema, range included.
#[derive(Debug, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct StreamQuery {
    /// At most this many frames a second to this viewer; without it, every frame the viewer is ready for.
    #[schemars(range(min = FPS_LOWEST, max = FPS_HIGHEST))]
    max_fps: Option<f64>,
}

/// `GET /{thing}/{stream}`: a live MJPEG stream (a TD link).
pub(crate) struct Stream;

impl ThingKind for Stream {
    const ERRORS: &'static [u16] = &[422];

    fn path(thing: &str, stream: &str) -> String {
        format!("/{thing}/{stream}")
    }

    fn forms(_: &ThingInstance, t: usize, item: usize, path: &str) -> Vec<Form> {
        vec![form(t, Affordance::Stream(item), path.to_owned(), &[])]
    }

    fn handler(thing: &Arc<ThingInstance>, index: usize, method: MethodFilter) -> Route {
        let thing = thing.clone();
        on(
            method,
            move |State(state): State<Arc<AppState>>, Params(query): Params<StreamQuery>| async move {
                let gap = match query.max_fps {
                    None => Duration::ZERO,
                    Some(fps) if (FPS_LOWEST..=FPS_HIGHEST).contains(&fps) => Duration::from_secs_f64(1.0 / fps),
                    Some(fps) => {
                        return Err(ApiError::invalid(
                            "less_than_equal",
                            vec!["query".into(), "max_fps".into()],
                            format!("max_fps must be between {FPS_LOWEST} and {FPS_HIGHEST} frames a second"),
                            fps.into(),
                        ));
                    }
                };
                serve(thing, index, gap, state.closing.clone()).await
            },
        )
    }

    fn operation(thing: &ThingInstance, index: usize, _: &mut Schemas) -> Map<String, Value> {
        let Some(stream) = thing.streams().get(index) else {
            return Map::new();
        };
        let name = thing.name();
        object(json!({
            "tags": [name], "operationId": format!("{name}_{}_stream", stream.name),
            "summary": stream.title.unwrap_or(stream.name),
            "parameters": query_parameters::<StreamQuery>(),
            "responses": {"200": {
                "description": "A live MJPEG stream: one JPEG part per frame",
                "content": {"multipart/x-mixed-replace": {"schema": {"type": "string", "contentMediaType": "image/jpeg"}}}
            }}
        }))
    }
}

/// The header of the multipart part holding a frame of `len` bytes.
fn part_head(len: usize) -> Bytes {
    Bytes::from(format!(
        "--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len}\r\n\r\n"
    ))
}

/// A viewer's multipart body; it ends when the device code stops the stream
/// or the server starts shutting down (`closing`).
async fn serve(
    thing: Arc<ThingInstance>,
    index: usize,
    gap: Duration,
    closing: CancellationToken,
) -> Result<Response, ApiError> {
    let stream = thing
        .stream(index)
        .ok_or_else(|| ApiError::NotFound("no such stream".to_owned()))?;
    let parts = parts(stream.subscribe(), gap);
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

/// The body chunks of one viewer of `frames`. The viewer waits for the next
/// frame only when it has sent the previous one (and, with `max_fps`, when
/// `gap` has passed since), and then gets the newest: slow viewers skip
/// frames, nothing queues. A frame's JPEG is shared, not copied, between
/// viewers: each part is its header, the frame's own bytes and a line end.
fn parts(
    frames: watch::Receiver<Latest>,
    gap: Duration,
) -> impl futures_util::Stream<Item = Result<Bytes, std::convert::Infallible>> {
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
                        let part = futures_util::stream::iter(part.map(Ok));
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
    futures_util::StreamExt::flatten(parts)
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;
    use labthings_core::stream::MjpegStream;

    use super::*;

    /// The regression test of "no copy per viewer": every viewer's body
    /// carries the very buffer device code pushed.
    #[tokio::test]
    async fn every_viewer_is_handed_the_pushed_bytes_themselves() {
        let stream = MjpegStream::new();
        let mut viewers: Vec<_> = (0..3)
            .map(|_| Box::pin(parts(stream.subscribe(), Duration::ZERO)))
            .collect();
        let mut jpeg = vec![0x55u8; 100_000];
        jpeg[..2].copy_from_slice(&[0xFF, 0xD8]);
        jpeg[99_998..].copy_from_slice(&[0xFF, 0xD9]);
        let jpeg = Bytes::from(jpeg);
        stream.push(jpeg.clone()).expect("a JPEG");
        for viewer in &mut viewers {
            let mut chunks = Vec::new();
            for _ in 0..3 {
                match viewer.next().await {
                    Some(Ok(chunk)) => chunks.push(chunk),
                    other => panic!("a part's three chunks, got {other:?}"),
                }
            }
            assert_eq!(chunks[0], part_head(100_000));
            assert_eq!(chunks[1].as_ptr(), jpeg.as_ptr(), "the frame itself, not a copy");
            assert_eq!(chunks[1].len(), jpeg.len());
            assert_eq!(&chunks[2][..], b"\r\n");
        }
    }
}
