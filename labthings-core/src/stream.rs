//! Live MJPEG streams (a camera's preview): device code pushes JPEG frames,
//! every viewer gets the newest frame whenever it is ready for one, and
//! device code can take a still from the stream or look at its recent frames.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use parking_lot::{Condvar, Mutex};
use tokio::sync::watch;

/// How many recent frames a stream keeps unless told otherwise.
pub const DEFAULT_BUFFER: usize = 10;

/// One frame of a stream: the JPEG, when it was pushed, and its number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The JPEG data (cheap to clone: the bytes are shared, not copied).
    pub jpeg: Bytes,
    /// When device code pushed it.
    pub timestamp: DateTime<Utc>,
    /// Frames pushed before this one since the stream was made or reset.
    pub number: u64,
}

/// What viewers of a stream see: nothing yet, the newest frame, or the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Latest {
    /// No frame has been pushed since the stream was made or reset.
    Waiting,
    /// The newest frame.
    Frame(Frame),
    /// The stream was stopped: viewers' connections end.
    Stopped,
}

/// Why a frame was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The data does not start with a JPEG start-of-image marker
    /// (`FF D8`) and end with an end-of-image marker (`FF D9`).
    #[error(
        "an MJPEG stream takes JPEG frames, which start with FF D8 and end with FF D9; this one ({len} bytes) starts \
         with {head} and ends with {tail}: encode the image as JPEG first"
    )]
    NotJpeg {
        /// Its length in bytes.
        len: usize,
        /// Its first two bytes, in hex.
        head: String,
        /// Its last two bytes, in hex.
        tail: String,
    },
    /// The stream was stopped; [`MjpegStream::reset`] starts it again.
    #[error("the stream is stopped: reset it before pushing frames")]
    Stopped,
}

/// A live MJPEG stream, shared with any number of viewers.
///
/// Each viewer only ever sees the newest frame when it is ready for the next
/// one: a slow viewer skips frames instead of queueing them, and a viewer
/// that disconnects costs nothing. The stream also keeps its most recent
/// frames ([`DEFAULT_BUFFER`], or [`MjpegStream::with_buffer`]) with their
/// timestamps, and device code can wait for the next frame
/// ([`grab_frame`](MjpegStream::grab_frame)), e.g. to take a still or to
/// use its size as a sharpness measure. Declare it on the Thing's struct:
/// `#[stream] preview: MjpegStream`.
///
/// ```
/// use std::time::Duration;
/// use labthings_core::MjpegStream;
/// let stream = MjpegStream::new();
/// stream.push(vec![0xFF, 0xD8, 0xFF, 0xD9]).expect("a JPEG");
/// assert_eq!(stream.recent_frames()[0].jpeg.as_ref(), &[0xFF, 0xD8, 0xFF, 0xD9]);
/// assert!(stream.push(b"not a jpeg".to_vec()).is_err());
/// // Nothing else is pushed, so waiting for the next frame times out.
/// assert!(stream.grab_frame(Duration::from_millis(1)).is_none());
/// ```
///
/// Clones share the stream, so a capture thread can hold one.
#[derive(Debug, Clone)]
pub struct MjpegStream {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// What viewers watch.
    latest: watch::Sender<Latest>,
    /// The recent frames, oldest first, and the number of the next frame.
    buffer: Mutex<Buffer>,
    /// Woken on each frame and on stop, for [`MjpegStream::grab_frame`].
    arrived: Condvar,
}

#[derive(Debug)]
struct Buffer {
    frames: VecDeque<Frame>,
    capacity: usize,
    next_number: u64,
    stopped: bool,
}

impl Default for MjpegStream {
    fn default() -> Self {
        Self::new()
    }
}

impl MjpegStream {
    /// A stream with no frame yet that keeps its [`DEFAULT_BUFFER`] most
    /// recent frames.
    pub fn new() -> Self {
        Self::with_buffer(DEFAULT_BUFFER)
    }

    /// A stream that keeps its `frames` most recent frames (at least one).
    pub fn with_buffer(frames: usize) -> Self {
        let capacity = frames.max(1);
        Self {
            inner: Arc::new(Inner {
                latest: watch::Sender::new(Latest::Waiting),
                buffer: Mutex::new(Buffer {
                    frames: VecDeque::with_capacity(capacity),
                    capacity,
                    next_number: 0,
                    stopped: false,
                }),
                arrived: Condvar::new(),
            }),
        }
    }

    /// Publish a JPEG frame: viewers get it, the buffer keeps it, and
    /// [`grab_frame`](Self::grab_frame) callers wake. Data that is not a
    /// JPEG is refused and nothing changes.
    pub fn push(&self, jpeg: impl Into<Bytes>) -> Result<(), FrameError> {
        let jpeg = jpeg.into();
        check_jpeg(&jpeg)?;
        let frame = {
            let mut buffer = self.inner.buffer.lock();
            if buffer.stopped {
                return Err(FrameError::Stopped);
            }
            let frame = Frame {
                jpeg,
                timestamp: Utc::now(),
                number: buffer.next_number,
            };
            buffer.next_number = buffer.next_number.saturating_add(1);
            if buffer.frames.len() == buffer.capacity {
                buffer.frames.pop_front();
            }
            buffer.frames.push_back(frame.clone());
            frame
        };
        self.inner.arrived.notify_all();
        self.inner.latest.send_replace(Latest::Frame(frame));
        Ok(())
    }

    /// Wait at most `timeout` for the next frame pushed after this call
    /// (device code: take a still from the live stream). `None` if none
    /// came in time, or the stream is stopped.
    pub fn grab_frame(&self, timeout: Duration) -> Option<Frame> {
        let deadline = Instant::now() + timeout;
        let mut buffer = self.inner.buffer.lock();
        let after = buffer.next_number;
        loop {
            if buffer.stopped {
                return None;
            }
            if buffer.next_number > after {
                return buffer.frames.iter().find(|f| f.number >= after).cloned();
            }
            if self.inner.arrived.wait_until(&mut buffer, deadline).timed_out() {
                return None;
            }
        }
    }

    /// The size in bytes of the next frame, waiting at most `timeout` for
    /// it. A JPEG of a sharper image is larger, so autofocus code can use
    /// it as a sharpness measure, as the original's does.
    pub fn next_frame_size(&self, timeout: Duration) -> Option<usize> {
        self.grab_frame(timeout).map(|frame| frame.jpeg.len())
    }

    /// The frames the stream keeps, oldest first.
    pub fn recent_frames(&self) -> Vec<Frame> {
        self.inner.buffer.lock().frames.iter().cloned().collect()
    }

    /// Stop the stream: every viewer's connection ends, pushes are refused
    /// and [`grab_frame`](Self::grab_frame) callers wake with `None`, until
    /// [`reset`](Self::reset).
    pub fn stop(&self) {
        self.inner.buffer.lock().stopped = true;
        self.inner.arrived.notify_all();
        self.inner.latest.send_replace(Latest::Stopped);
    }

    /// Empty the buffer, number frames from 0 again and accept pushes (a
    /// stopped stream starts again; new viewers wait for the next frame).
    pub fn reset(&self) {
        {
            let mut buffer = self.inner.buffer.lock();
            buffer.frames.clear();
            buffer.next_number = 0;
            buffer.stopped = false;
        }
        self.inner.latest.send_replace(Latest::Waiting);
    }

    /// Whether [`stop`](Self::stop) was called (and not [`reset`](Self::reset) since).
    pub fn is_stopped(&self) -> bool {
        self.inner.buffer.lock().stopped
    }

    /// Watch the newest frame (for a binding's stream endpoint).
    pub fn subscribe(&self) -> watch::Receiver<Latest> {
        self.inner.latest.subscribe()
    }

    /// How many viewers are connected (device code may skip encoding frames
    /// when nobody watches).
    pub fn viewers(&self) -> usize {
        self.inner.latest.receiver_count()
    }
}

/// Refuse data that is not framed as a JPEG (SOI `FF D8` ... EOI `FF D9`).
fn check_jpeg(data: &[u8]) -> Result<(), FrameError> {
    let head = data.get(..2);
    let tail = data.len().checked_sub(2).and_then(|start| data.get(start..));
    if head == Some(&[0xFF, 0xD8][..]) && tail == Some(&[0xFF, 0xD9][..]) && data.len() >= 4 {
        return Ok(());
    }
    let hex = |bytes: Option<&[u8]>| match bytes {
        Some(b) => b.iter().map(|x| format!("{x:02X}")).collect::<Vec<_>>().join(" "),
        None => "nothing".to_owned(),
    };
    Err(FrameError::NotJpeg {
        len: data.len(),
        head: hex(head),
        tail: hex(tail),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const JPEG: [u8; 5] = [0xFF, 0xD8, 0x01, 0xFF, 0xD9];

    #[test]
    fn the_buffer_keeps_the_newest_frames_numbered_with_timestamps() {
        let stream = MjpegStream::with_buffer(3);
        for _ in 0..5 {
            stream.push(JPEG.to_vec()).expect("a JPEG");
        }
        let frames = stream.recent_frames();
        assert_eq!(frames.iter().map(|f| f.number).collect::<Vec<_>>(), vec![2, 3, 4]);
        assert!(frames.windows(2).all(|w| w[0].timestamp <= w[1].timestamp));
    }

    #[test]
    fn non_jpeg_data_is_refused_and_changes_nothing() {
        let stream = MjpegStream::new();
        for bad in [
            &b""[..],
            &[0xFF, 0xD8][..],
            &[0xFF, 0xD9, 0xFF, 0xD8][..],
            &b"\x89PNG\r\n"[..],
        ] {
            let error = stream.push(bad.to_vec()).expect_err("not a JPEG");
            assert!(error.to_string().contains("FF D8"), "{error}");
        }
        assert!(stream.recent_frames().is_empty());
        assert_eq!(*stream.subscribe().borrow(), Latest::Waiting);
    }

    #[test]
    fn grab_frame_waits_for_the_next_frame_not_the_last() {
        let stream = MjpegStream::new();
        stream.push(JPEG.to_vec()).expect("a JPEG");
        let pusher = stream.clone();
        let thread = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            pusher.push(vec![0xFF, 0xD8, 0x02, 0x02, 0xFF, 0xD9]).expect("a JPEG");
        });
        let frame = stream.grab_frame(Duration::from_secs(10)).expect("the next frame");
        assert_eq!(frame.number, 1);
        assert_eq!(stream.next_frame_size(Duration::from_millis(1)), None, "no third frame");
        thread.join().expect("the pusher");
    }

    #[test]
    fn stop_ends_viewers_and_grabs_until_reset() {
        let stream = MjpegStream::new();
        let viewer = stream.subscribe();
        let grabber = {
            let stream = stream.clone();
            std::thread::spawn(move || stream.grab_frame(Duration::from_secs(10)))
        };
        std::thread::sleep(Duration::from_millis(50));
        stream.stop();
        assert_eq!(grabber.join().expect("the grabber"), None);
        assert_eq!(*viewer.borrow(), Latest::Stopped);
        assert_eq!(stream.push(JPEG.to_vec()), Err(FrameError::Stopped));
        stream.reset();
        stream.push(JPEG.to_vec()).expect("pushes are accepted again");
        assert_eq!(stream.recent_frames()[0].number, 0);
    }
}
