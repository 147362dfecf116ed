//! One HTTP connection pool and its credentials, shared by every client
//! made from it and by their invocation handles.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{ClientError, Result};

/// How to reach a server: an HTTP client (keeping connections open), where
/// the server requires one a bearer token, and the bounds every request
/// keeps: a time limit, and the largest answer read.
///
/// The token goes only to the origin (scheme, host and port) it was given
/// for: the first URL this connection asks for, or the one named with
/// [`with_token_for`](Self::with_token_for). A Thing Description whose
/// forms point at another origin does not get it, unless the user allows
/// that origin with [`allow_credentials_to`](Self::allow_credentials_to).
///
/// ```
/// use labthings_client::Connection;
/// use std::time::Duration;
/// let connection = Connection::new()
///     .with_token_for("a-long-random-token", "http://127.0.0.1:5000/stage/")
///     .with_timeout(Duration::from_secs(5));
/// assert!(connection.sends_credentials_to("http://127.0.0.1:5000/camera/"));
/// assert!(!connection.sends_credentials_to("http://127.0.0.1:5202/stage/"));
/// ```
#[derive(Clone, Debug)]
pub struct Connection {
    http: reqwest::Client,
    token: Option<Arc<str>>,
    /// The origin the token is for, once known.
    token_origin: Arc<OnceLock<String>>,
    /// Other origins the user allows the token to go to.
    trusted: Arc<Vec<String>>,
    timeout: Duration,
    limits: Limits,
}

/// The largest answers a [`Connection`] reads, in bytes: past them the
/// request fails with [`ClientError::TooLarge`] instead of taking the
/// client's memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// A Thing Description (16 MiB).
    pub description: usize,
    /// Any other answer: a value, an invocation, a list (64 MiB).
    pub answer: usize,
    /// One Server-Sent Event (1 MiB).
    pub event: usize,
    /// The body of an error answer; longer is cut (64 KiB).
    pub error: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            description: 16 << 20,
            answer: 64 << 20,
            event: 1 << 20,
            error: 64 << 10,
        }
    }
}

impl Default for Connection {
    fn default() -> Self {
        Self::new()
    }
}

/// The origin (`scheme://host:port`) of `url`, if it is a URL.
fn origin_of(url: &str) -> Option<String> {
    url::Url::parse(url).ok().map(|url| url.origin().ascii_serialization())
}

impl Connection {
    /// A connection without credentials, waiting at most 30 s for each
    /// answer, with the default [`Limits`].
    pub fn new() -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Self {
            http,
            token: None,
            token_origin: Arc::new(OnceLock::new()),
            trusted: Arc::new(Vec::new()),
            timeout: Duration::from_secs(30),
            limits: Limits::default(),
        }
    }

    /// The same, sending `Authorization: Bearer {token}` to the origin of
    /// the first URL it asks for (a server with users configured;
    /// `--new-token` of any labthings server makes one).
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(Arc::from(token.into()));
        self.token_origin = Arc::new(OnceLock::new());
        self
    }

    /// The same, sending the token to the origin of `url` only.
    pub fn with_token_for(mut self, token: impl Into<String>, url: &str) -> Self {
        self = self.with_token(token);
        if let Some(origin) = origin_of(url) {
            let _ = self.token_origin.set(origin);
        }
        self
    }

    /// Send the token to the origin of `url` too (a lab whose things are
    /// served by several servers that share their users).
    pub fn allow_credentials_to(mut self, url: &str) -> Self {
        if let Some(origin) = origin_of(url) {
            Arc::make_mut(&mut self.trusted).push(origin);
        }
        self
    }

    /// Wait at most `timeout` for each answer (and for each part of a
    /// download) instead of 30 s.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Read answers up to these sizes instead of the defaults.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The answer sizes this connection reads.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Whether a request to `url` would carry the token (there is one, and
    /// `url` is of its origin or of one allowed).
    pub fn sends_credentials_to(&self, url: &str) -> bool {
        self.token.is_some() && self.credentials_for(url)
    }

    fn credentials_for(&self, url: &str) -> bool {
        let Some(origin) = origin_of(url) else { return false };
        let bound = self.token_origin.get_or_init(|| origin.clone());
        *bound == origin || self.trusted.contains(&origin)
    }

    /// A request to `url`, with the token where it may go; whether a token
    /// was held back.
    fn request(&self, method: Method, url: &str) -> (reqwest::RequestBuilder, bool) {
        let request = self.http.request(method, url);
        match &self.token {
            Some(token) if self.credentials_for(url) => (request.bearer_auth(token), false),
            Some(_) => (request, true),
            None => (request, false),
        }
    }

    /// Send `request` and wait at most the time limit for the answer's head.
    async fn answer(&self, request: reqwest::RequestBuilder, url: &str) -> Result<reqwest::Response> {
        match tokio::time::timeout(self.timeout, request.send()).await {
            Ok(sent) => Ok(sent?),
            Err(_) => Err(self.timed_out(url)),
        }
    }

    fn timed_out(&self, url: &str) -> ClientError {
        ClientError::TimedOut(format!("{url} did not answer within {} s", self.timeout.as_secs_f64()))
    }

    /// The error a non-success `response` means (its body read up to the
    /// error limit), saying so when the token was held back.
    async fn refusal(&self, response: reqwest::Response, url: &str, held_back: bool) -> ClientError {
        let status = response.status().as_u16();
        let body = match self.body(response, self.limits.error, url, true).await {
            Ok(body) => body,
            Err(e) => return e,
        };
        match ClientError::from_answer(status, &body) {
            ClientError::Unauthorized(why) if held_back => ClientError::Unauthorized(format!(
                "{why} (the token was not sent to {}: it was given for {}; allow that origin with \
                 `allow_credentials_to` or `--allow-origin`)",
                origin_of(url).unwrap_or_default(),
                self.token_origin.get().map_or("another origin", String::as_str)
            )),
            other => other,
        }
    }

    /// The body of `response`, at most `limit` bytes (`cut`: the first
    /// `limit` bytes of a longer one; else longer is an error), each part
    /// within the time limit.
    async fn body(&self, response: reqwest::Response, limit: usize, url: &str, cut: bool) -> Result<Bytes> {
        let too_large = || ClientError::TooLarge(format!("the answer from {url} is larger than {limit} bytes"));
        if !cut && response.content_length().is_some_and(|n| n > limit as u64) {
            return Err(too_large());
        }
        let mut body = Vec::new();
        let mut chunks = response.bytes_stream();
        loop {
            let chunk = match tokio::time::timeout(self.timeout, chunks.next()).await {
                Err(_) => return Err(self.timed_out(url)),
                Ok(None) => break,
                Ok(Some(chunk)) => chunk?,
            };
            if body.len().saturating_add(chunk.len()) > limit {
                if cut {
                    body.extend_from_slice(&chunk[..limit - body.len()]);
                    break;
                }
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Bytes::from(body))
    }

    /// Send a request with an optional JSON body; the status and body of a
    /// success, or the error the answer means.
    pub(crate) async fn send(&self, method: Method, url: &str, body: Option<&Value>) -> Result<(u16, Bytes)> {
        self.send_within(method, url, body, self.limits.answer).await
    }

    async fn send_within(&self, method: Method, url: &str, body: Option<&Value>, limit: usize) -> Result<(u16, Bytes)> {
        let (request, held_back) = self.request(method, url);
        let mut request = request.header(reqwest::header::ACCEPT, "application/json");
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = self.answer(request, url).await?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            Ok((status, self.body(response, limit, url, false).await?))
        } else {
            Err(self.refusal(response, url, held_back).await)
        }
    }

    /// GET `url` and decode its JSON as `T`.
    pub(crate) async fn get_json<T: DeserializeOwned>(&self, url: &str) -> Result<T> {
        let (_, body) = self.send(Method::GET, url, None).await?;
        decode(&body, url)
    }

    /// GET the Thing Description at `url` (within the description limit).
    pub(crate) async fn get_description(&self, url: &str) -> Result<Value> {
        let (_, body) = self
            .send_within(Method::GET, url, None, self.limits.description)
            .await?;
        decode(&body, url)
    }

    /// GET `url` as a raw response (for downloads), failing on a non-success.
    pub(crate) async fn get_raw(&self, url: &str) -> Result<reqwest::Response> {
        let (request, held_back) = self.request(Method::GET, url);
        let response = self.answer(request, url).await?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            Ok(response)
        } else {
            Err(self.refusal(response, url, held_back).await)
        }
    }

    /// The next part of a download, within the time limit.
    pub(crate) async fn next_part(
        &self,
        parts: &mut (impl futures_util::Stream<Item = reqwest::Result<Bytes>> + Unpin),
        url: &str,
    ) -> Result<Option<Bytes>> {
        match tokio::time::timeout(self.timeout, parts.next()).await {
            Err(_) => Err(self.timed_out(url)),
            Ok(None) => Ok(None),
            Ok(Some(part)) => Ok(Some(part?)),
        }
    }

    /// Open a Server-Sent Events stream at `url`: each message's `data`
    /// decoded as `T`. The stream ends when the server closes it; a line
    /// longer than the event limit ends it with an error.
    pub(crate) async fn events<T: DeserializeOwned + Send + 'static>(
        &self,
        url: &str,
    ) -> Result<BoxStream<'static, Result<T>>> {
        use eventsource_stream::Eventsource;
        let (request, held_back) = self.request(Method::GET, url);
        let request = request.header(reqwest::header::ACCEPT, "text/event-stream");
        let response = self.answer(request, url).await?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(self.refusal(response, url, held_back).await);
        }
        let url = url.to_owned();
        let limit = self.limits.event;
        let lines = bounded_lines(response.bytes_stream(), limit);
        let stream = lines.eventsource().map(move |event| match event {
            Ok(event) => serde_json::from_str::<T>(&event.data).map_err(|e| {
                let data: String = event.data.chars().take(200).collect();
                ClientError::Protocol(format!("an event from {url} is not the JSON expected ({e}): {data}"))
            }),
            Err(eventsource_stream::EventStreamError::Transport(PartError::LineTooLong)) => Err(ClientError::TooLarge(
                format!("the event stream from {url} sent a line longer than {limit} bytes"),
            )),
            Err(e) => Err(ClientError::Protocol(format!("the event stream from {url} broke: {e}"))),
        });
        Ok(stream.boxed())
    }
}

/// Why an event stream's bytes stopped.
#[derive(Debug)]
enum PartError {
    /// A line was longer than the limit.
    LineTooLong,
    /// The connection broke.
    Broken(reqwest::Error),
}

impl std::fmt::Display for PartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::LineTooLong => f.write_str("a line longer than the limit"),
            Self::Broken(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for PartError {}

/// `parts` as they come, ending with [`PartError::LineTooLong`] once a line
/// (the bytes since the last line break) passes `limit`: an endless line
/// cannot grow the parser's buffer without bound.
fn bounded_lines(
    parts: impl futures_util::Stream<Item = reqwest::Result<Bytes>> + Send + 'static,
    limit: usize,
) -> impl futures_util::Stream<Item = std::result::Result<Bytes, PartError>> + Send + 'static {
    let mut line = 0usize;
    let mut over = false;
    parts
        .map(move |part| {
            let part = part.map_err(PartError::Broken)?;
            match part.iter().rposition(|b| *b == b'\n' || *b == b'\r') {
                Some(last) => line = part.len() - last - 1,
                None => line = line.saturating_add(part.len()),
            }
            if line > limit {
                Err(PartError::LineTooLong)
            } else {
                Ok(part)
            }
        })
        .take_while(move |part| {
            let go_on = !over;
            over |= part.is_err();
            std::future::ready(go_on)
        })
}

/// Decode a JSON body as `T`, naming `url` when it does not fit.
pub(crate) fn decode<T: DeserializeOwned>(body: &[u8], url: &str) -> Result<T> {
    // An empty body is JSON `null` (a write's answer, for some servers).
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"null"
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| {
        let text: String = String::from_utf8_lossy(body).chars().take(200).collect();
        ClientError::Protocol(format!("the answer from {url} is not the JSON expected ({e}): {text}"))
    })
}
