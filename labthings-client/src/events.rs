//! Server-Sent Events streams that resume: when the connection breaks (or
//! goes silent), the client connects again and sends the `id:` of the last
//! message it received as `Last-Event-ID`, as a browser's `EventSource`
//! does; the server then sends what was missed, in order, or says that
//! the gap is too old ([`ClientError::Missed`]).

use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use serde::de::DeserializeOwned;

use crate::connection::{Connection, EventParts, PartError};
use crate::error::{ClientError, Result};

/// A stream silent this long is taken as broken (a server sends a comment
/// every 15 s at least), and resumed.
const SILENCE: Duration = Duration::from_secs(45);

/// The first wait before connecting again; it doubles after each failure
/// up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);

/// The longest wait between two attempts to connect again.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// How long a broken stream is tried again before it ends with the error.
const GIVE_UP_AFTER: Duration = Duration::from_secs(30);

/// One resuming stream's state.
struct Resuming {
    connection: Connection,
    url: String,
    /// The `id:` of the last message received (none yet: the server gives
    /// none, and a stream without one cannot resume).
    last_id: Option<String>,
    /// The connection's events, when connected.
    current: Option<EventParts>,
    ended: bool,
}

/// Open the SSE stream at `url`: each message's `data` decoded as `T`.
///
/// A stream whose messages carry ids resumes after a break (trying again
/// for 30 s, waiting longer after each failure); one whose server gives no
/// ids ends where the server closes it. A `gap` message (the server no
/// longer keeps what was missed) is a [`ClientError::Missed`] item, after
/// which the stream goes on; a line longer than the event limit ends it
/// with [`ClientError::TooLarge`].
pub(crate) async fn open<T: DeserializeOwned + Send + 'static>(
    connection: &Connection,
    url: &str,
) -> Result<BoxStream<'static, Result<T>>> {
    let first = connection.open_events(url, None).await?;
    let state = Resuming {
        connection: connection.clone(),
        url: url.to_owned(),
        last_id: None,
        current: Some(first),
        ended: false,
    };
    Ok(futures_util::stream::unfold(state, |mut state| async move {
        let item = state.next::<T>().await?;
        Some((item, state))
    })
    .boxed())
}

impl Resuming {
    /// The next item; `None` once the stream has ended.
    async fn next<T: DeserializeOwned>(&mut self) -> Option<Result<T>> {
        loop {
            if self.ended {
                return None;
            }
            let Some(current) = self.current.as_mut() else {
                match reconnect(&self.connection, &self.url, self.last_id.as_deref()).await {
                    Ok(events) => self.current = Some(events),
                    Err(e) => {
                        self.ended = true;
                        return Some(Err(e));
                    }
                }
                continue;
            };
            // Anything that is not an event or a reason to end is a break:
            // the connection failed, the server closed it, or it went silent.
            match tokio::time::timeout(SILENCE, current.next()).await {
                Ok(Some(Ok(event))) => {
                    if !event.id.is_empty() {
                        self.last_id = Some(event.id.clone());
                    }
                    match event.event.as_str() {
                        "message" => return Some(self.decode(&event.data)),
                        "gap" => return Some(Err(ClientError::Missed(format!("{}: {}", self.url, event.data)))),
                        // Other named events (the server's `latest`, which
                        // only carries the id to resume from) are not data.
                        _ => continue,
                    }
                }
                Ok(Some(Err(eventsource_stream::EventStreamError::Transport(PartError::LineTooLong)))) => {
                    self.ended = true;
                    return Some(Err(ClientError::TooLarge(format!(
                        "the event stream from {} sent a line longer than {} bytes",
                        self.url,
                        self.connection.event_limit()
                    ))));
                }
                Ok(Some(Err(eventsource_stream::EventStreamError::Transport(PartError::Broken(_)))))
                | Ok(None)
                | Err(_) => {}
                Ok(Some(Err(e))) => {
                    self.ended = true;
                    return Some(Err(ClientError::Protocol(format!(
                        "the event stream from {} is not Server-Sent Events: {e}",
                        self.url
                    ))));
                }
            }
            self.current = None;
            if self.last_id.is_none() {
                // Nothing to resume from: the stream ends as the server ended it.
                self.ended = true;
                return None;
            }
        }
    }

    fn decode<T: DeserializeOwned>(&self, data: &str) -> Result<T> {
        serde_json::from_str::<T>(data).map_err(|e| {
            let data: String = data.chars().take(200).collect();
            ClientError::Protocol(format!(
                "an event from {} is not the JSON expected ({e}): {data}",
                self.url
            ))
        })
    }
}

/// Connect again, sending the last id; tried again with longer waits
/// until [`GIVE_UP_AFTER`], except when the server refuses the stream
/// outright (not found, not allowed).
async fn reconnect(connection: &Connection, url: &str, last_id: Option<&str>) -> Result<EventParts> {
    let started = tokio::time::Instant::now();
    let mut wait = FIRST_BACKOFF;
    loop {
        tokio::time::sleep(wait).await;
        match connection.open_events(url, last_id).await {
            Ok(events) => return Ok(events),
            Err(e @ (ClientError::NotFound(_) | ClientError::Unauthorized(_) | ClientError::Tls(_))) => {
                return Err(e);
            }
            Err(e) if started.elapsed() >= GIVE_UP_AFTER => return Err(e),
            Err(_) => {}
        }
        wait = (wait * 2).min(MAX_BACKOFF);
    }
}
