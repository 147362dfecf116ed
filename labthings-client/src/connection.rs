//! One HTTP connection pool and its credentials, shared by every client
//! made from it and by their invocation handles.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{ClientError, Result};

/// How to reach a server: an HTTP client (keeping connections open) and,
/// where the server requires one, a bearer token sent with every request.
#[derive(Clone, Debug)]
pub struct Connection {
    http: reqwest::Client,
    token: Option<Arc<str>>,
}

impl Default for Connection {
    fn default() -> Self {
        Self::new()
    }
}

impl Connection {
    /// A connection without credentials.
    pub fn new() -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Self { http, token: None }
    }

    /// The same, sending `Authorization: Bearer {token}` with every request
    /// (a server with users configured; `labthings-server --new-token`
    /// makes one).
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(Arc::from(token.into()));
        self
    }

    fn request(&self, method: Method, url: &str) -> reqwest::RequestBuilder {
        let request = self.http.request(method, url);
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Send a request with an optional JSON body; the status and body of a
    /// success, or the error the answer means.
    pub(crate) async fn send(&self, method: Method, url: &str, body: Option<&Value>) -> Result<(u16, Bytes)> {
        let mut request = self
            .request(method, url)
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await?;
        if (200..300).contains(&status) {
            Ok((status, bytes))
        } else {
            Err(ClientError::from_answer(status, &bytes))
        }
    }

    /// GET `url` and decode its JSON as `T`.
    pub(crate) async fn get_json<T: DeserializeOwned>(&self, url: &str) -> Result<T> {
        let (_, body) = self.send(Method::GET, url, None).await?;
        decode(&body, url)
    }

    /// GET `url` as a raw response (for downloads), failing on a non-success.
    pub(crate) async fn get_raw(&self, url: &str) -> Result<reqwest::Response> {
        let response = self.request(Method::GET, url).send().await?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            Ok(response)
        } else {
            let body = response.bytes().await?;
            Err(ClientError::from_answer(status, &body))
        }
    }

    /// Open a Server-Sent Events stream at `url`: each message's `data`
    /// decoded as `T`. The stream ends when the server closes it.
    pub(crate) async fn events<T: DeserializeOwned + Send + 'static>(
        &self,
        url: &str,
    ) -> Result<BoxStream<'static, Result<T>>> {
        use eventsource_stream::Eventsource;
        let response = self
            .request(Method::GET, url)
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .send()
            .await?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            let body = response.bytes().await?;
            return Err(ClientError::from_answer(status, &body));
        }
        let url = url.to_owned();
        let stream = response.bytes_stream().eventsource().map(move |event| match event {
            Ok(event) => serde_json::from_str::<T>(&event.data).map_err(|e| {
                ClientError::Protocol(format!(
                    "an event from {url} is not the JSON expected ({e}): {}",
                    event.data
                ))
            }),
            Err(e) => Err(ClientError::Protocol(format!("the event stream from {url} broke: {e}"))),
        });
        Ok(stream.boxed())
    }
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
