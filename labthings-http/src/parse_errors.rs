//! JSON bodies for the answers hyper writes by itself.
//!
//! When a request cannot be parsed at all (a bad request line, a duplicate
//! `Content-Length`, too many or too large headers, a URI too long), hyper
//! answers `400`, `431` or `414` with an empty body and closes the
//! connection; no handler of ours runs. Every error we send carries a JSON
//! body naming the problem, so the connection's writes pass through
//! [`JsonParseErrors`], which recognises exactly that automatic answer
//! (an error status, `connection: close`, `content-length: 0`, nothing
//! else) and gives it a `{"detail": …}` body.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A connection whose automatic parse-error answers get a JSON body.
#[derive(Debug)]
pub(crate) struct JsonParseErrors<T> {
    inner: T,
    /// The rewritten answer, still to be written from `sent` on.
    pending: Vec<u8>,
    sent: usize,
}

impl<T> JsonParseErrors<T> {
    pub(crate) fn new(inner: T) -> Self {
        Self {
            inner,
            pending: Vec::new(),
            sent: 0,
        }
    }
}

/// What the automatic answer's status means, for its body.
fn detail(status: &[u8]) -> &'static str {
    match status {
        b"431" => "the request's headers are too large or too many (at most 100 headers of 400 KiB in all)",
        b"414" => "the request's URI is too long",
        _ => {
            "the request is not valid HTTP/1.1: its request line, a header, or its framing (e.g. two Content-Length headers) could not be parsed"
        }
    }
}

/// The automatic answer `head` rewritten with a JSON body, if it is one.
fn rewrite(head: &[u8]) -> Option<Vec<u8>> {
    const EMPTY: &[u8] = b"\r\nconnection: close\r\ncontent-length: 0\r\n";
    let status = head.strip_prefix(b"HTTP/1.1 ")?.get(..3)?;
    if !(status.starts_with(b"4") || status.starts_with(b"5")) || !head.ends_with(b"\r\n\r\n") {
        return None;
    }
    let at = head.windows(EMPTY.len()).position(|w| w == EMPTY)?;
    let body = serde_json::json!({ "detail": detail(status) }).to_string();
    let mut answer = Vec::with_capacity(head.len() + body.len() + 64);
    answer.extend_from_slice(&head[..at]);
    answer.extend_from_slice(
        format!(
            "\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
            body.len()
        )
        .as_bytes(),
    );
    answer.extend_from_slice(&head[at + EMPTY.len()..]);
    answer.extend_from_slice(body.as_bytes());
    Some(answer)
}

impl<T: AsyncWrite + Unpin> JsonParseErrors<T> {
    /// Write out what is left of a rewritten answer.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.pending.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.pending.clear();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }

    /// Take `buf` as written if it is an automatic answer (queueing its
    /// rewrite); `None` to pass it through.
    fn take_rewritten(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Option<Poll<io::Result<usize>>> {
        let answer = rewrite(buf)?;
        self.pending = answer;
        self.sent = 0;
        Some(match self.poll_drain(cx) {
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            // The rest goes out on the next write, flush or shutdown.
            _ => Poll::Ready(Ok(buf.len())),
        })
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for JsonParseErrors<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for JsonParseErrors<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        ready!(self.poll_drain(cx))?;
        if let Some(done) = self.take_rewritten(cx, buf) {
            return done;
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_drain(cx))?;
        let mut filled = bufs.iter().filter(|b| !b.is_empty());
        if let (Some(only), None) = (filled.next(), filled.next())
            && let Some(done) = self.take_rewritten(cx, only)
        {
            return done;
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_automatic_answer_is_rewritten() {
        let head = b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\ndate: Wed, 25 Nov 2026 19:23:02 GMT\r\n\r\n";
        let answer = String::from_utf8(rewrite(head).expect("rewritten")).expect("text");
        let (head, body) = answer.split_once("\r\n\r\n").expect("a body");
        assert!(head.contains("content-type: application/json"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let body: serde_json::Value = serde_json::from_str(body).expect("JSON");
        assert!(body["detail"].as_str().is_some_and(|d| d.contains("headers")));
        // Our own answers (a body, or a success) pass through untouched.
        assert!(rewrite(b"HTTP/1.1 201 Created\r\ncontent-length: 4\r\n\r\nnull").is_none());
        assert!(rewrite(b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 0\r\n\r\n").is_none());
        assert!(
            rewrite(b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n").is_none()
        );
    }
}
