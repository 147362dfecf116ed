//! Live MJPEG streams (a camera's preview): device code pushes JPEG frames,
//! every viewer gets the newest frame whenever it is ready for one.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::watch;

/// The latest JPEG frame of a live stream, shared with any number of viewers.
///
/// Each viewer only ever sees the newest frame when it is ready for the next
/// one: a slow viewer skips frames instead of queueing them, and a viewer
/// that disconnects costs nothing. Expose it with
/// `#[stream] fn preview(&self) -> &MjpegStream`.
///
/// ```
/// use labthings_core::MjpegStream;
/// let stream = MjpegStream::new();
/// let mut viewer = stream.subscribe();
/// stream.push(vec![0xFF, 0xD8, 0xFF, 0xD9]);
/// assert_eq!(viewer.borrow_and_update().as_deref(), Some(&[0xFF, 0xD8, 0xFF, 0xD9][..]));
/// ```
///
/// Clones share the stream, so a capture thread can hold one.
#[derive(Debug, Clone)]
pub struct MjpegStream {
    frames: Arc<watch::Sender<Option<Bytes>>>,
}

impl Default for MjpegStream {
    fn default() -> Self {
        Self::new()
    }
}

impl MjpegStream {
    /// A stream with no frame yet.
    pub fn new() -> Self {
        Self {
            frames: Arc::new(watch::Sender::new(None)),
        }
    }

    /// Publish a JPEG frame, replacing the previous one.
    pub fn push(&self, jpeg: impl Into<Bytes>) {
        self.frames.send_replace(Some(jpeg.into()));
    }

    /// Watch the frames (for the server's stream endpoint).
    pub fn subscribe(&self) -> watch::Receiver<Option<Bytes>> {
        self.frames.subscribe()
    }

    /// How many viewers are connected (device code may skip encoding frames
    /// when nobody watches).
    pub fn viewers(&self) -> usize {
        self.frames.receiver_count()
    }
}
