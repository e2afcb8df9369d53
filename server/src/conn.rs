//! The connection layer: an HTTP/1.1 accept loop (hyper) with a header-read deadline, TCP_NODELAY, JSON
//! bodies for the errors hyper answers by itself, and graceful shutdown.
//!
//! * A client that does not finish a request's headers within `header_timeout` of the request's first byte
//!   (of the connection's start, for the first request) is disconnected (slowloris). An idle keep-alive
//!   connection between requests is closed after `idle_timeout`, a separate setting whose default (75 s)
//!   outlasts any load balancer's idle timeout (ALB: 60 s by default), so the balancer, not the server,
//!   closes idle connections and never sends a request on one the server just closed (a 502). See
//!   `Tracked`; hyper's own header timeout also counts idle time, so it is not used.
//! * A chunked body whose chunk sizes add up to more than `max_body_bytes` fails its read as soon as the size
//!   line arrives (`BodyOverLimit`), so the router answers 413 `body_too_large` at once instead of waiting
//!   for data that may never come (a chunk size of 2^64−1).
//! * A connection that opens with the HTTP/2 preface (h2c with prior knowledge) gets an HTTP/2 `GOAWAY`
//!   frame with the error code `HTTP_1_1_REQUIRED` (RFC 9113 §7), which HTTP/2 clients understand, instead
//!   of a silent close.
//! * hyper answers a malformed request line or header (400), an overlong URI (414) and an oversized
//!   header block (431) itself, with an empty body, before the router sees anything. `JsonErrors` turns
//!   those into the same `{"error", "error_type"}` bodies as every other error ([`ErrorType`]).
//! * At most `max_connections` connections are served at once; one more is answered 503 `busy` and closed
//!   at once (see `refuse`), so descriptors and per-connection buffers stay bounded.
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
    /// The largest body a chunked request may announce (`--max-body-bytes`).
    pub max_body_bytes: usize,
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
                let io = TokioIo::new(JsonErrors::new(Tracked::new(tcp, settings)));
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

/// The read error a chunked body gets when its chunk sizes add up to more than the body limit; the router
/// finds it in the body's error chain ([`is_body_over_limit`]) and answers 413 `body_too_large`.
#[derive(Debug, thiserror::Error)]
#[error("the chunked body announces more than {limit} bytes")]
pub(crate) struct BodyOverLimit {
    /// The limit, in bytes.
    pub limit: usize,
}

/// True when `e`'s chain holds a [`BodyOverLimit`] (through hyper's I/O error).
pub(crate) fn is_body_over_limit(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err.is::<BodyOverLimit>()
            || err
                .downcast_ref::<std::io::Error>()
                .and_then(std::io::Error::get_ref)
                .is_some_and(|inner| inner.is::<BodyOverLimit>())
        {
            return true;
        }
        cur = err.source();
    }
    false
}

/// Where a chunked body's framing is (RFC 9112 §7.1), as far as its size is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Reading a chunk-size line: the size's hex digits so far.
    Size { n: u64 },
    /// In a chunk extension, up to the end of the size line; `n` is the chunk's size.
    Ext { n: u64 },
    /// In a chunk's data: `left` bytes to go.
    Data { left: u64 },
    /// After a chunk's data, up to its line end.
    AfterData,
    /// The last chunk, or framing hyper will refuse by itself: nothing more to follow.
    Done,
}

/// The most head bytes kept to find `Transfer-Encoding: chunked`; a larger head is not followed (hyper
/// refuses heads far smaller than this anyway).
const HEAD_KEPT: usize = 16 << 10;

/// The start of the HTTP/2 connection preface.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n";

/// The answer to an HTTP/2 preface: an empty SETTINGS frame (a server's preface) and a GOAWAY frame, last
/// stream 0, error code `HTTP_1_1_REQUIRED` (0xd), with a debug text.
fn h2_goaway() -> Vec<u8> {
    let debug = b"this server speaks HTTP/1.1 only";
    let mut out = vec![0, 0, 0, 0x4, 0, 0, 0, 0, 0];
    let len = 8 + debug.len();
    out.extend_from_slice(&[
        (len >> 16) as u8,
        (len >> 8) as u8,
        len as u8,
        0x7,
        0,
        0,
        0,
        0,
        0,
    ]);
    out.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0xd]);
    out.extend_from_slice(debug);
    out
}

/// A connection as the server follows it from the bytes that pass (see the module docs): read deadlines by
/// request phase, a chunked body's announced size, and an HTTP/2 preface.
///
/// Deadlines: a request's headers must arrive within `header_timeout` of its first byte, and an idle
/// keep-alive connection may wait `idle_timeout` for the next request. A passed deadline fails the read with
/// `TimedOut`, which ends the connection. The phase follows the bytes: the blank line ending a header block
/// starts the body, a response (any write but an interim `1xx`) starts idling, the first byte after that
/// starts the next request's headers.
pub(crate) struct Tracked<T> {
    inner: T,
    settings: ConnSettings,
    phase: Phase,
    deadline: Pin<Box<tokio::time::Sleep>>,
    /// No byte read yet on this connection.
    fresh: bool,
    /// The current request's head so far (up to [`HEAD_KEPT`] bytes).
    head: Vec<u8>,
    /// The current chunked body's framing, and the bytes its chunks announced so far.
    chunk: Option<(Chunk, u64)>,
    /// A chunked body went over the limit: the error is due on the next read (`Some(true)`), or was given.
    over: Option<bool>,
    /// An answer of our own (the HTTP/2 GOAWAY) still being written; hyper's writes are dropped after it.
    own: Vec<u8>,
    own_written: usize,
}

impl<T> Tracked<T> {
    /// Wraps a connection just accepted: its first request's headers are due within `header_timeout`.
    pub fn new(inner: T, settings: ConnSettings) -> Self {
        Self {
            inner,
            settings,
            phase: Phase::Head { matched: 0 },
            deadline: Box::pin(tokio::time::sleep(settings.header_timeout)),
            fresh: true,
            head: Vec::new(),
            chunk: None,
            over: None,
            own: Vec::new(),
            own_written: 0,
        }
    }

    fn due_in(&mut self, d: Duration) {
        let at = tokio::time::Instant::now() + d;
        self.deadline.as_mut().reset(at);
    }

    /// Follows the bytes just read. Returns how many of them hyper may see now: all, unless a chunked body
    /// went over the limit in a read that also held its head (the head goes first, the error on the next
    /// read, so the router sees the request and answers it).
    fn saw(&mut self, bytes: &[u8]) -> usize {
        if bytes.is_empty() {
            return 0;
        }
        if self.phase == Phase::Idle {
            self.phase = Phase::Head { matched: 0 };
            self.head.clear();
            self.chunk = None;
            self.due_in(self.settings.header_timeout);
        }
        let mut at = 0;
        if let Phase::Head { mut matched } = self.phase {
            const END: &[u8] = b"\r\n\r\n";
            while at < bytes.len() {
                let b = bytes[at];
                at += 1;
                matched = if b == END[matched] {
                    matched + 1
                } else if b == b'\r' {
                    1
                } else {
                    0
                };
                if matched == END.len() {
                    break;
                }
            }
            let room = HEAD_KEPT.saturating_sub(self.head.len());
            self.head.extend_from_slice(&bytes[..at.min(room)]);
            if matched < END.len() {
                self.phase = Phase::Head { matched };
                return bytes.len();
            }
            self.phase = Phase::Body;
            self.chunk = is_chunked(&self.head).then_some((Chunk::Size { n: 0 }, 0));
        }
        let head_end = at;
        if self.follow_chunks(&bytes[at..]) {
            self.over = Some(true);
            return head_end;
        }
        bytes.len()
    }

    /// Follows a chunked body's bytes; true when its chunks announce more than the limit.
    fn follow_chunks(&mut self, bytes: &[u8]) -> bool {
        let Some((mut state, mut total)) = self.chunk else {
            return false;
        };
        let limit = self.settings.max_body_bytes as u64;
        let mut i = 0;
        while i < bytes.len() && state != Chunk::Done {
            let b = bytes[i];
            i += 1;
            state = match state {
                Chunk::Size { n } => match (b as char).to_digit(16) {
                    Some(d) => {
                        let n = n.saturating_mul(16).saturating_add(u64::from(d));
                        if total.saturating_add(n) > limit {
                            self.chunk = None;
                            return true;
                        }
                        Chunk::Size { n }
                    }
                    None if b == b'\n' => end_of_size(n, &mut total),
                    None if matches!(b, b';' | b' ' | b'\t' | b'\r') => Chunk::Ext { n },
                    None => Chunk::Done,
                },
                Chunk::Ext { n } if b == b'\n' => end_of_size(n, &mut total),
                Chunk::Ext { n } => Chunk::Ext { n },
                Chunk::Data { left } => {
                    let take = (left - 1).min((bytes.len() - i) as u64);
                    i += take as usize;
                    match left - 1 - take {
                        0 => Chunk::AfterData,
                        left => Chunk::Data { left },
                    }
                }
                Chunk::AfterData if b == b'\n' => Chunk::Size { n: 0 },
                other => other,
            };
        }
        self.chunk = Some((state, total));
        false
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

/// The end of a chunk-size line: the last chunk, or the data of a chunk of `n` bytes.
fn end_of_size(n: u64, total: &mut u64) -> Chunk {
    *total = total.saturating_add(n);
    if n == 0 {
        Chunk::Done
    } else {
        Chunk::Data { left: n }
    }
}

/// True when a request head says `Transfer-Encoding: ... chunked`.
fn is_chunked(head: &[u8]) -> bool {
    const NAME: &[u8] = b"transfer-encoding:";
    head.split(|&b| b == b'\n').any(|line| {
        line.len() > NAME.len()
            && line[..NAME.len()].eq_ignore_ascii_case(NAME)
            && line[NAME.len()..]
                .windows(7)
                .any(|w| w.eq_ignore_ascii_case(b"chunked"))
    })
}

impl<T: AsyncWrite + Unpin> Tracked<T> {
    /// Writes what is left of our own answer.
    fn drain_own(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        write_rest(&mut self.inner, &self.own, &mut self.own_written, cx)
    }

    /// The read error of a chunked body over the limit (see [`BodyOverLimit`]); later reads see the end.
    fn over_limit(&mut self) -> std::io::Error {
        self.over = Some(false);
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            BodyOverLimit {
                limit: self.settings.max_body_bytes,
            },
        )
    }
}

/// Writes `buf[*written..]` to `inner`, advancing `written`, until all of it is out.
fn write_rest<T: AsyncWrite + Unpin>(
    inner: &mut T,
    buf: &[u8],
    written: &mut usize,
    cx: &mut Context<'_>,
) -> Poll<std::io::Result<()>> {
    while *written < buf.len() {
        let n = ready!(Pin::new(&mut *inner).poll_write(cx, &buf[*written..]))?;
        if n == 0 {
            return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
        }
        *written += n;
    }
    Poll::Ready(Ok(()))
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncRead for Tracked<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        if !this.own.is_empty() {
            // our answer is out (or going out): hyper sees the end of the connection
            let _ = this.drain_own(cx)?;
            return Poll::Ready(Ok(()));
        }
        match this.over {
            Some(true) => return Poll::Ready(Err(this.over_limit())),
            Some(false) => return Poll::Ready(Ok(())),
            None => {}
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let got = &buf.filled()[before..];
                if std::mem::take(&mut this.fresh) && got.starts_with(H2_PREFACE) {
                    tracing::debug!("HTTP/2 preface on an HTTP/1.1 server: answered GOAWAY");
                    this.own = h2_goaway();
                    buf.set_filled(before);
                    let _ = this.drain_own(cx)?;
                    return Poll::Ready(Ok(()));
                }
                let keep = this.saw(got);
                if keep < buf.filled().len() - before {
                    buf.set_filled(before + keep);
                    if keep == 0 {
                        return Poll::Ready(Err(this.over_limit()));
                    }
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                if this.phase != Phase::Body && this.deadline.as_mut().poll(cx).is_ready() {
                    let what = if this.phase == Phase::Idle {
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

impl<T: AsyncWrite + Unpin> AsyncWrite for Tracked<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if !self.own.is_empty() {
            ready!(self.drain_own(cx))?;
            return Poll::Ready(Ok(buf.len()));
        }
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
        if !self.own.is_empty() {
            ready!(self.drain_own(cx))?;
            return Poll::Ready(Ok(bufs.iter().map(|b| b.len()).sum()));
        }
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
        ready!(self.drain_own(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        ready!(self.drain_own(cx))?;
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
pub(crate) struct JsonErrors<T> {
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
        write_rest(&mut self.inner, &self.pending, &mut self.written, cx)
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
    fn a_chunked_body_is_found_in_any_case_and_only_in_its_header() {
        let head =
            |h: &str| format!("POST /predict HTTP/1.1\r\nhost: x\r\n{h}\r\n\r\n").into_bytes();
        assert!(is_chunked(&head("Transfer-Encoding: chunked")));
        assert!(is_chunked(&head("TRANSFER-ENCODING: gzip, ChUnKeD")));
        assert!(!is_chunked(&head("X-Transfer-Encoding: chunked")));
        assert!(!is_chunked(&head("x-note: transfer-encoding: chunked")));
        assert!(!is_chunked(&head("transfer-encoding: gzip")));
        assert!(!is_chunked(&head("transfer-encoding:")));
    }

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
