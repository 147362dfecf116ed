//! One HTTP connection pool and its credentials, shared by every client
//! made from it and by their invocation handles.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use http_body_util::{BodyDataStream, BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{ClientError, Result};

/// The HTTP client of a connection: HTTP/1.1 over TCP, or over TLS for
/// `https://` URLs.
type Http = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// The bytes of an answer as they arrive.
pub(crate) type Parts = BodyDataStream<Incoming>;

/// How many redirects a request follows at most.
const MAX_REDIRECTS: usize = 5;

/// How to reach a server: an HTTP client (keeping connections open;
/// HTTPS through rustls, trusting the system's certificate authorities
/// plus a CA file the user names), where the server requires them
/// credentials (a bearer token, or a user name and password), and the
/// bounds every request keeps: a time limit, and the largest answer read.
///
/// The credentials go only to the origin (scheme, host and port) they were
/// given for: the first URL this connection asks for, or the one named with
/// [`with_token_for`](Self::with_token_for) or
/// [`with_password_for`](Self::with_password_for). A Thing Description
/// whose forms point at another origin does not get them, unless the user
/// allows that origin with [`allow_credentials_to`](Self::allow_credentials_to).
///
/// ```
/// use labthings_client::Connection;
/// use std::time::Duration;
/// let connection = Connection::new()
///     .with_token_for("a-long-random-token", "http://127.0.0.1:5000/stage/")
///     .with_timeout(Duration::from_secs(5));
/// assert!(connection.sends_credentials_to("http://127.0.0.1:5000/camera/"));
/// assert!(!connection.sends_credentials_to("http://127.0.0.1:5202/stage/"));
///
/// // A lab's own certificate authority (or a server's self-signed
/// // certificate): trusted besides the system's.
/// let error = Connection::new().with_ca_file("no-such-lab-ca.pem").unwrap_err();
/// assert!(error.to_string().contains("no-such-lab-ca.pem"));
/// ```
#[derive(Clone, Debug)]
pub struct Connection {
    /// The HTTP client, or why none could be made (the error of every
    /// request then).
    http: std::result::Result<Http, Arc<str>>,
    credentials: Option<Credentials>,
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

/// What a connection proves who it is with.
#[derive(Clone)]
enum Credentials {
    /// `Authorization: Bearer {token}`.
    Bearer(Arc<str>),
    /// `Authorization: Basic` with a user name and password.
    Basic { user: Arc<str>, password: Arc<str> },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret itself.
        match self {
            Self::Bearer(_) => f.write_str("Bearer(..)"),
            Self::Basic { user, .. } => write!(f, "Basic({user:?}, ..)"),
        }
    }
}

/// The HTTP client of a connection: HTTP/1.1, HTTPS with `tls`.
fn http_client(tls: labthings_tls::tokio_rustls::rustls::ClientConfig) -> Http {
    let mut tcp = HttpConnector::new();
    tcp.enforce_http(false);
    tcp.set_connect_timeout(Some(Duration::from_secs(10)));
    tcp.set_nodelay(true);
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(tcp);
    Client::builder(TokioExecutor::new()).build(connector)
}

/// A TLS configuration trusting the system's authorities and those of
/// `ca_file`; with none at all (a machine without them, no file) it still
/// speaks TLS, and each server's certificate is then refused as not
/// trusted, which the error says.
fn tls_config(
    ca_file: Option<&std::path::Path>,
) -> std::result::Result<labthings_tls::tokio_rustls::rustls::ClientConfig, String> {
    labthings_tls::client_config_trusting(labthings_tls::Trust::new(ca_file)?, None)
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
        let http = tls_config(None).map(http_client).map_err(Arc::from);
        Self {
            http,
            credentials: None,
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
        self.credentials = Some(Credentials::Bearer(Arc::from(token.into())));
        self.token_origin = Arc::new(OnceLock::new());
        self
    }

    /// The same, sending the token to the origin of `url` only.
    pub fn with_token_for(self, token: impl Into<String>, url: &str) -> Self {
        self.with_token(token).bound_to(url)
    }

    /// The same, sending a user name and password (HTTP Basic) instead of
    /// a token, to the origin of the first URL it asks for. Basic sends the
    /// password itself with every request: use it over HTTPS.
    pub fn with_password(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.credentials = Some(Credentials::Basic {
            user: Arc::from(user.into()),
            password: Arc::from(password.into()),
        });
        self.token_origin = Arc::new(OnceLock::new());
        self
    }

    /// The same, sending the user name and password to the origin of `url` only.
    pub fn with_password_for(self, user: impl Into<String>, password: impl Into<String>, url: &str) -> Self {
        self.with_password(user, password).bound_to(url)
    }

    /// Bind the credentials to the origin of `url`.
    fn bound_to(self, url: &str) -> Self {
        if let Some(origin) = origin_of(url) {
            let _ = self.token_origin.set(origin);
        }
        self
    }

    /// Trust the certificate authorities in the PEM file `path` besides the
    /// system's: a lab's own CA, or the self-signed certificate of a
    /// server (`[tls]` of a labthings server). The file is read now; an
    /// error names it and says what is wrong.
    pub fn with_ca_file(mut self, path: impl AsRef<std::path::Path>) -> Result<Self> {
        let tls = tls_config(Some(path.as_ref())).map_err(ClientError::Tls)?;
        self.http = Ok(http_client(tls));
        Ok(self)
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
        self.credentials.is_some() && self.credentials_for(url)
    }

    fn credentials_for(&self, url: &str) -> bool {
        let Some(origin) = origin_of(url) else { return false };
        let bound = self.token_origin.get_or_init(|| origin.clone());
        *bound == origin || self.trusted.contains(&origin)
    }

    /// The `Authorization` header for `url`, where the credentials may go;
    /// whether they were held back.
    fn authorization(&self, url: &str) -> (Option<HeaderValue>, bool) {
        let Some(credentials) = &self.credentials else {
            return (None, false);
        };
        if !self.credentials_for(url) {
            return (None, true);
        }
        let value = match credentials {
            Credentials::Bearer(token) => format!("Bearer {token}"),
            Credentials::Basic { user, password } => {
                use base64::Engine;
                let pair = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
                format!("Basic {pair}")
            }
        };
        // A token or password with a line break cannot be a header: sent
        // without, the server's 401 says so.
        (HeaderValue::from_str(&value).ok(), false)
    }

    /// Send `method` to `url` with the header `accept` and `body` (JSON),
    /// following redirects (credentials only where they may go), and wait
    /// at most the time limit for the answer's head; the answer, and
    /// whether credentials were held back from its URL.
    async fn answer(
        &self,
        method: Method,
        url: &str,
        accept: &'static str,
        body: Option<(&'static str, Bytes)>,
        extra: Option<&(header::HeaderName, HeaderValue)>,
    ) -> Result<(Response<Incoming>, bool, String)> {
        let http = self.http.as_ref().map_err(|e| ClientError::Tls(e.to_string()))?;
        let mut method = method;
        let mut body = body;
        let mut url = url.to_owned();
        for _ in 0..=MAX_REDIRECTS {
            let uri: hyper::Uri = url
                .parse()
                .map_err(|e| ClientError::Protocol(format!("{url} is not a URL: {e}")))?;
            let (authorization, held_back) = self.authorization(&url);
            let mut request = Request::builder()
                .method(method.clone())
                .uri(uri)
                .header(header::ACCEPT, accept);
            if let Some(value) = authorization {
                request = request.header(header::AUTHORIZATION, value);
            }
            if let Some((name, value)) = extra {
                request = request.header(name, value);
            }
            if let Some((media_type, _)) = &body {
                request = request.header(header::CONTENT_TYPE, *media_type);
            }
            let request = request
                .body(Full::new(body.as_ref().map(|(_, b)| b.clone()).unwrap_or_default()))
                .map_err(|e| ClientError::Protocol(format!("cannot make a request to {url}: {e}")))?;
            let response = match tokio::time::timeout(self.timeout, http.request(request)).await {
                Ok(sent) => sent.map_err(|e| crate::error::transport(&e, e.is_connect(), &url))?,
                Err(_) => return Err(self.timed_out(&url)),
            };
            let status = response.status().as_u16();
            let location = response
                .headers()
                .get(header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .and_then(|l| url::Url::parse(&url).ok()?.join(l).ok());
            match (status, location) {
                (301..=303 | 307 | 308, Some(next)) => {
                    // 303 (and, as browsers do, 301 and 302) turn into a
                    // GET without a body; 307 and 308 repeat the request.
                    if matches!(status, 301..=303) && method != Method::HEAD {
                        method = Method::GET;
                        body = None;
                    }
                    url = next.to_string();
                }
                _ => return Ok((response, held_back, url)),
            }
        }
        Err(ClientError::Protocol(format!(
            "{url}: more than {MAX_REDIRECTS} redirects"
        )))
    }

    fn timed_out(&self, url: &str) -> ClientError {
        ClientError::TimedOut(format!("{url} did not answer within {} s", self.timeout.as_secs_f64()))
    }

    /// The error a non-success `response` means (its body read up to the
    /// error limit), saying so when the token was held back.
    async fn refusal(&self, response: Response<Incoming>, url: &str, held_back: bool) -> ClientError {
        let status = response.status().as_u16();
        // What the server asks for (`Bearer realm="labthings", Basic ...`).
        let challenge: Vec<String> = response
            .headers()
            .get_all(header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect();
        let body = match self.body(response, self.limits.error, url, true).await {
            Ok(body) => body,
            Err(e) => return e,
        };
        match ClientError::from_answer(status, &body) {
            ClientError::Unauthorized(why) if held_back => ClientError::Unauthorized(format!(
                "{why} (the credentials were not sent to {}: they were given for {}; allow that origin with \
                 `allow_credentials_to` or `--allow-origin`)",
                origin_of(url).unwrap_or_default(),
                self.token_origin.get().map_or("another origin", String::as_str)
            )),
            ClientError::Unauthorized(why) if status == 401 => {
                let sent = match &self.credentials {
                    None => "no credentials were sent".to_owned(),
                    Some(Credentials::Bearer(_)) => "the token sent was not accepted".to_owned(),
                    Some(Credentials::Basic { user, .. }) => {
                        format!("the user name {user:?} and password sent were not accepted")
                    }
                };
                let asks = if challenge.is_empty() {
                    String::new()
                } else {
                    format!("; the server asks for: {}", challenge.join(", "))
                };
                ClientError::Unauthorized(format!("{why} ({sent}{asks})"))
            }
            other => other,
        }
    }

    /// The body of `response`, at most `limit` bytes (`cut`: the first
    /// `limit` bytes of a longer one; else longer is an error), each part
    /// within the time limit.
    async fn body(&self, response: Response<Incoming>, limit: usize, url: &str, cut: bool) -> Result<Bytes> {
        let too_large = || ClientError::TooLarge(format!("the answer from {url} is larger than {limit} bytes"));
        let length = response
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|l| l.to_str().ok()?.parse::<u64>().ok());
        if !cut && length.is_some_and(|n| n > limit as u64) {
            return Err(too_large());
        }
        let mut body = Vec::new();
        let mut parts = response.into_body().into_data_stream();
        while let Some(chunk) = self.next_part(&mut parts, url).await? {
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
        let body = match body {
            Some(body) => Some((
                "application/json",
                Bytes::from(serde_json::to_vec(body).map_err(|e| {
                    ClientError::Protocol(format!("the body for {url} cannot be written as JSON: {e}"))
                })?),
            )),
            None => None,
        };
        self.exchange(method, url, body, limit).await
    }

    /// Send `method` to `url` with `body` (its media type and bytes); the
    /// status and body of a success (at most `limit` bytes), or the error
    /// the answer means.
    async fn exchange(
        &self,
        method: Method,
        url: &str,
        body: Option<(&'static str, Bytes)>,
        limit: usize,
    ) -> Result<(u16, Bytes)> {
        let (response, url) = self.accepted(method, url, "application/json", body).await?;
        let status = response.status().as_u16();
        Ok((status, self.body(response, limit, &url, false).await?))
    }

    /// [`answer`](Self::answer), when it is a success (2xx): the answer and
    /// the URL it came from; any other answer is the error it means.
    async fn accepted(
        &self,
        method: Method,
        url: &str,
        accept: &'static str,
        body: Option<(&'static str, Bytes)>,
    ) -> Result<(Response<Incoming>, String)> {
        self.accepted_with(method, url, accept, body, None).await
    }

    /// [`accepted`](Self::accepted), sending one more header.
    async fn accepted_with(
        &self,
        method: Method,
        url: &str,
        accept: &'static str,
        body: Option<(&'static str, Bytes)>,
        extra: Option<&(header::HeaderName, HeaderValue)>,
    ) -> Result<(Response<Incoming>, String)> {
        let (response, held_back, url) = self.answer(method, url, accept, body, extra).await?;
        if response.status().is_success() {
            Ok((response, url))
        } else {
            Err(self.refusal(response, &url, held_back).await)
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

    /// Send a document of its own to `url` and read the answer, within
    /// this connection's credentials, trust and limits: `method` (PUT, GET,
    /// DELETE, ...), the body's media type and bytes if any; the status and
    /// body of a success, or the error the answer means. For what the
    /// Thing's forms do not cover (registering a TD with a directory).
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), labthings_client::ClientError> {
    /// use labthings_client::{Connection, Method};
    /// let connection = Connection::new();
    /// let td = br#"{"title": "stage"}"#.to_vec();
    /// let (status, _) = connection
    ///     .request(Method::PUT, "http://tdd.lab:8081/things/urn:stage", Some(("application/td+json", td.into())))
    ///     .await?;
    /// assert!(status == 201 || status == 204);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn request(
        &self,
        method: Method,
        url: &str,
        body: Option<(&'static str, Bytes)>,
    ) -> Result<(u16, Bytes)> {
        self.exchange(method, url, body, self.limits.answer).await
    }

    /// GET `url` for its bytes (a blob, a file), at most `limit` of them:
    /// a larger answer is [`ClientError::TooLarge`] as soon as it passes
    /// the limit, without reading the rest.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), labthings_client::ClientError> {
    /// let connection = labthings_client::Connection::new();
    /// let jpeg = connection.download("http://scope.lab:5000/blob/67e55044-10b1-426f-9247-bb680e5fe0c8", 16 << 20).await?;
    /// assert!(jpeg.starts_with(&[0xFF, 0xD8]));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn download(&self, url: &str, limit: usize) -> Result<Bytes> {
        let mut parts = self.get_raw(url).await?;
        let mut bytes = Vec::new();
        while let Some(part) = self.next_part(&mut parts, url).await? {
            if bytes.len().saturating_add(part.len()) > limit {
                return Err(ClientError::TooLarge(format!(
                    "the blob at {url} is larger than {limit} bytes"
                )));
            }
            bytes.extend_from_slice(&part);
        }
        Ok(Bytes::from(bytes))
    }

    /// GET `url` for its bytes as they arrive (for downloads), failing on a
    /// non-success.
    pub(crate) async fn get_raw(&self, url: &str) -> Result<Parts> {
        let (response, _) = self.accepted(Method::GET, url, "*/*", None).await?;
        Ok(response.into_body().into_data_stream())
    }

    /// The next part of an answer, within the time limit.
    pub(crate) async fn next_part(&self, parts: &mut Parts, url: &str) -> Result<Option<Bytes>> {
        match tokio::time::timeout(self.timeout, parts.next()).await {
            Err(_) => Err(self.timed_out(url)),
            Ok(None) => Ok(None),
            Ok(Some(part)) => Ok(Some(part.map_err(|e| crate::error::transport(&e, false, url))?)),
        }
    }

    /// Open a Server-Sent Events stream at `url`, resuming after the
    /// message `last_event_id` if given: its events as they are parsed, a
    /// line longer than the event limit ending it with an error.
    pub(crate) async fn open_events(&self, url: &str, last_event_id: Option<&str>) -> Result<EventParts> {
        use eventsource_stream::Eventsource;
        let extra = last_event_id
            .and_then(|id| HeaderValue::from_str(id).ok())
            .map(|id| (header::HeaderName::from_static("last-event-id"), id));
        let (response, _) = self
            .accepted_with(Method::GET, url, "text/event-stream", None, extra.as_ref())
            .await?;
        let lines = bounded_lines(response.into_body().into_data_stream(), self.limits.event);
        Ok(lines.eventsource().boxed())
    }

    /// The largest event this connection reads, in bytes.
    pub(crate) fn event_limit(&self) -> usize {
        self.limits.event
    }
}

/// An event stream's events as they are parsed.
pub(crate) type EventParts =
    BoxStream<'static, std::result::Result<eventsource_stream::Event, eventsource_stream::EventStreamError<PartError>>>;

/// Why an event stream's bytes stopped.
#[derive(Debug)]
pub(crate) enum PartError {
    /// A line was longer than the limit.
    LineTooLong,
    /// The connection broke.
    Broken(hyper::Error),
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
    parts: impl futures_util::Stream<Item = std::result::Result<Bytes, hyper::Error>> + Send + 'static,
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
