//! The connection layer: an HTTP/1.1 accept loop (hyper) with a header-read deadline, TCP_NODELAY, JSON
//! bodies for the errors hyper answers by itself, and graceful shutdown.
//!
//! * A client that does not finish a request's headers within `header_timeout` of the request's first byte
//!   (of the connection's start, for the first request) is disconnected (slowloris). An idle keep-alive
//!   connection between requests is closed after `idle_timeout`, a separate setting whose default (75 s)
//!   outlasts any load balancer's idle timeout (ALB: 60 s by default), so the balancer, not the server,
//!   closes idle connections and never sends a request on one the server just closed (a 502). See
//!   [`Deadlines`]; hyper's own header timeout also counts idle time, so it is not used.
//! * hyper answers a malformed request line or header (400), an overlong URI (414) and an oversized
//!   header block (431) itself, with an empty body, before the router sees anything. [`JsonErrors`] turns
//!   those into the same `{"error", "error_type"}` bodies as every other error ([`ErrorType`]).
//! * At most `max_connections` connections are served at once; one more is answered 503 `busy` and closed
//!   at once (see [`refuse`]), so descriptors and per-connection buffers stay bounded.
//! * On shutdown: stop accepting, let in-flight requests finish (idle keep-alive connections close), and
//!   return after at most `drain`.

use std::future::Future;
use std::io::IoSlice;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;

use crate::error::{ApiError, ErrorType};

/// Connection settings.
#[derive(Debug, Clone, Copy)]
pub struct ConnSettings {
    /// Deadline for a client to send a request's headers, from the request's first byte.
    pub header_timeout: Duration,
    /// How long a keep-alive connection may wait, idle, for its next request.
    pub idle_timeout: Duration,
    /// How long in-flight requests may take to finish after shutdown starts.
    pub drain: Duration,
    /// Connections open at once; one more is answered 503 `busy` and closed.
    pub max_connections: usize,
}

/// Serves `app` on `listener` until `shutdown` resolves, then drains (see the module docs).
///
/// # Errors
/// An I/O error from the listener that is not about one connection.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    settings: ConnSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(None)
        .keep_alive(true);
    let open = std::sync::Arc::new(tokio::sync::Semaphore::new(
        settings
            .max_connections
            .clamp(1, tokio::sync::Semaphore::MAX_PERMITS),
    ));
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (tcp, _) = match accepted {
                    Ok(c) => c,
                    // per-connection failures (reset before accept, too many open files) must not stop the server
                    Err(e) => {
                        tracing::debug!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        continue;
                    }
                };
                let Ok(slot) = open.clone().try_acquire_owned() else {
                    tokio::spawn(refuse(tcp, settings.max_connections));
                    continue;
                };
                if let Err(e) = tcp.set_nodelay(true) {
                    tracing::debug!(error = %e, "could not set TCP_NODELAY");
                }
                let io = TokioIo::new(JsonErrors::new(Deadlines::new(tcp, settings)));
                let svc = TowerToHyperService::new(app.clone());
                let conn = http.serve_connection(io, svc);
                let watched = graceful.watch(conn);
                tokio::spawn(async move {
                    let _slot = slot;
                    if let Err(e) = watched.await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("drained; exiting"),
        () = tokio::time::sleep(settings.drain) => {
            tracing::warn!(drain_s = settings.drain.as_secs_f64(), "drain deadline reached with requests still open; exiting");
        }
    }
    Ok(())
}

/// Answers a connection over the limit with a 503 `busy` JSON response (within a second, so a client that
/// does not read cannot hold the task) and closes it, without reading its request.
async fn refuse(mut tcp: tokio::net::TcpStream, limit: usize) {
    use tokio::io::AsyncWriteExt;
    tracing::debug!(limit, "connection refused: at the connection limit");
    let e = ApiError::Busy(format!(
        "the server has its limit of {limit} connections open"
    ));
    let (status, error_type) = e.kind();
    let body = error_type.body(&e.to_string());
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        tcp.write_all(head.as_bytes()).await?;
        tcp.write_all(&body).await?;
        tcp.shutdown().await
    })
    .await;
}

/// Where a connection is in its current request, as seen from the bytes that pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Reading a request's headers: `matched` bytes of the blank line that ends them seen so far.
    Head { matched: usize },
    /// Headers read; the router bounds the body and the handler.
    Body,
    /// A response was written; waiting for the next request.
    Idle,
}

/// Read deadlines by request phase: a request's headers must arrive within `header_timeout` of its first
/// byte, and an idle keep-alive connection may wait `idle_timeout` for the next request. A passed deadline
/// fails the read with `TimedOut`, which ends the connection. The phase follows the bytes: the blank line
/// ending a header block starts the body, a response (any write but an interim `1xx`) starts idling, the
/// first byte after that starts the next request's headers.
pub struct Deadlines<T> {
    inner: T,
    settings: ConnSettings,
    phase: Phase,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl<T> Deadlines<T> {
    /// Wraps a connection just accepted: its first request's headers are due within `header_timeout`.
    pub fn new(inner: T, settings: ConnSettings) -> Self {
        Self {
            inner,
            settings,
            phase: Phase::Head { matched: 0 },
            deadline: Box::pin(tokio::time::sleep(settings.header_timeout)),
        }
    }

    fn due_in(&mut self, d: Duration) {
        let at = tokio::time::Instant::now() + d;
        self.deadline.as_mut().reset(at);
    }

    /// Follows the bytes just read.
    fn saw(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if self.phase == Phase::Idle {
            self.phase = Phase::Head { matched: 0 };
            self.due_in(self.settings.header_timeout);
        }
        if let Phase::Head { mut matched } = self.phase {
            const END: &[u8] = b"\r\n\r\n";
            for &b in bytes {
                matched = if b == END[matched] {
                    matched + 1
                } else if b == b'\r' {
                    1
                } else {
                    0
                };
                if matched == END.len() {
                    self.phase = Phase::Body;
                    return;
                }
            }
            self.phase = Phase::Head { matched };
        }
    }

    /// Follows a response being written. The idle deadline is registered with the writing task (the
    /// connection's), which may not read again before it fires.
    fn wrote(&mut self, first: &[u8], cx: &mut Context<'_>) {
        if !first.is_empty() && !first.starts_with(b"HTTP/1.1 1") && self.phase != Phase::Idle {
            self.phase = Phase::Idle;
            self.due_in(self.settings.idle_timeout);
            let _ = self.deadline.as_mut().poll(cx);
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Deadlines<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let this = &mut *self;
                this.saw(&buf.filled()[before..]);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                if self.phase != Phase::Body && self.deadline.as_mut().poll(cx).is_ready() {
                    let what = if self.phase == Phase::Idle {
                        "idle keep-alive connection closed"
                    } else {
                        "request headers not received in time"
                    };
                    return Poll::Ready(Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        what,
                    )));
                }
                Poll::Pending
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Deadlines<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.wrote(buf, cx);
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            let first = bufs
                .iter()
                .find(|b| !b.is_empty())
                .map_or(&[][..], |b| &b[..]);
            self.wrote(first, cx);
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The JSON response for one of hyper's own error responses, if `head` is one: a 400, 414 or 431 with an
/// empty body (the router's errors always have a body).
fn replacement(head: &[u8]) -> Option<Vec<u8>> {
    let status = head.strip_prefix(b"HTTP/1.1 ")?.get(..3)?;
    let t = match status {
        b"400" => ErrorType::BadRequest,
        b"414" => ErrorType::UriTooLong,
        b"431" => ErrorType::HeadersTooLarge,
        _ => return None,
    };
    let end = head.windows(4).position(|w| w == b"\r\n\r\n")?;
    let lower = head[..end].to_ascii_lowercase();
    const NEEDLE: &[u8] = b"\r\ncontent-length:";
    let at = lower.windows(NEEDLE.len()).position(|w| w == NEEDLE)? + NEEDLE.len();
    let value: Vec<u8> = lower[at..]
        .iter()
        .copied()
        .take_while(|&c| c != b'\r')
        .collect();
    if value.trim_ascii() != b"0" {
        return None;
    }
    let message = match t {
        ErrorType::UriTooLong => "the request target is too long",
        ErrorType::HeadersTooLarge => "the request headers are too large",
        _ => "malformed HTTP request",
    };
    let body = t.body(message);
    let mut out = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        t.status().as_u16(),
        t.status().canonical_reason().unwrap_or(""),
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(&body);
    Some(out)
}

/// A connection whose writes pass through unchanged, except hyper's own empty-bodied error responses,
/// which become JSON (see [`replacement`]).
pub struct JsonErrors<T> {
    inner: T,
    /// A replacement response still being written.
    pending: Vec<u8>,
    written: usize,
}

impl<T> JsonErrors<T> {
    /// Wraps a connection.
    pub fn new(inner: T) -> Self {
        Self {
            inner,
            pending: Vec::new(),
            written: 0,
        }
    }
}

impl<T: AsyncWrite + Unpin> JsonErrors<T> {
    fn drain_pending(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        while self.written < self.pending.len() {
            let n =
                ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for JsonErrors<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for JsonErrors<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        ready!(self.drain_pending(cx))?;
        if let Some(r) = replacement(buf) {
            self.pending = r;
            self.written = 0;
            // hyper's response is "written"; ours goes out on the next write, flush or shutdown
            let _ = self.drain_pending(cx)?;
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        ready!(self.drain_pending(cx))?;
        if let Some(first) = bufs.iter().find(|b| !b.is_empty())
            && let Some(r) = replacement(first)
        {
            self.pending = r;
            self.written = 0;
            let _ = self.drain_pending(cx)?;
            return Poll::Ready(Ok(bufs.iter().map(|b| b.len()).sum()));
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        ready!(self.drain_pending(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        ready!(self.drain_pending(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hypers_empty_error_responses_are_replaced() {
        let hyper_400 = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        let r = replacement(hyper_400).unwrap();
        let text = String::from_utf8(r).unwrap();
        assert!(text.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{text}");
        assert!(
            text.ends_with(r#"{"error":"malformed HTTP request","error_type":"bad_request"}"#),
            "{text}"
        );
        assert!(
            replacement(
                b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\n\r\n"
            )
            .is_some()
        );
        // the router's own errors carry a body and pass through
        assert!(replacement(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 61\r\n\r\n{}").is_none());
        assert!(replacement(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").is_none());
        assert!(replacement(b"{\"label\":1}").is_none());
    }
}
