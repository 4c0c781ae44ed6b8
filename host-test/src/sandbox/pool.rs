//! The host's HTTP/1.1 client: keep-alive connections per origin, shared by every store of a
//! [`Sandbox`](super::Sandbox), so that the pages of a query and the queries of a process reuse
//! connections and pay the TCP and TLS handshakes once per connection, not once per request
//! (wasmtime-wasi-http's `default_send_request` opens a connection for every request).
//!
//! It sends what it is given and nothing else: the policy in `hooks.rs` decides which origins (and
//! which requests) reach it, so it adds no network capability. It keeps the default sender's guarantees
//! and its error codes, so the guest sees the same `wasi:http` errors as before:
//! - TCP connect and TLS handshake together within the connect timeout (`ConnectionTimeout`); a refused
//!   or unresolvable address is `Error::Connect`, a TLS failure `Error::Tls`, a bad server name
//!   `Error::InvalidDnsNameError`, exactly as the default sender reports them;
//! - the response head within the first-byte timeout (`ConnectionReadTimeout`);
//! - each body frame within the between-bytes timeout of the previous one (`ConnectionReadTimeout`);
//! - TLS with rustls, ring and the webpki roots, plus [`PoolOptions::extra_roots`] for tests and
//!   benchmarks only (set through `SandboxOptions`, never from the command line).
//!
//! A connection goes back to the pool only once its response body has been read to the end; a body
//! dropped, cut (the hooks' size cap) or timed out closes its connection. [`BodyDone`] resolves when
//! the body is done either way. Until then the connection is the request's: the hooks bound how many
//! such open responses one connection (one store) may hold (`hooks::OPEN_RESPONSES_PER_IN_FLIGHT`).
//!
//! A kept-alive connection can be closed by the server at any moment, and a request can cross the close.
//! Such a request is resent once on a fresh connection when that is safe: always when hyper hands it
//! back unsent (nothing reached the wire), and for a `GET` without a body when the connection closed
//! before any byte of an answer (a server closing an idle connection does not process what arrives
//! on it). Anything else surfaces the error to the guest, which decides about retries itself.

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody};

pub use rustls::pki_types::CertificateDer;

#[cfg(test)]
pub(crate) mod test_server;

/// Idle connections kept per origin by default: above the Stripe manifest's in-flight limit (8), so a
/// burst of concurrent pages finds its connections again.
pub const DEFAULT_MAX_IDLE_PER_ORIGIN: usize = 16;

/// How long an idle connection is kept by default: below the idle timeouts servers commonly use
/// (60–75 s), so the pool rarely offers a connection the server is about to close.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// What a timeout the guest did not ask for defaults to, as in wasmtime-wasi-http's default sender
/// (the hooks always pass all three, clamped to the manifest's ceilings).
const UNSET_TIMEOUT: Duration = Duration::from_secs(600);

/// How the pool connects and how many connections it keeps.
#[derive(Clone, Debug)]
pub struct PoolOptions {
    /// Trust anchors added to the webpki roots, for tests and benchmarks that serve TLS on loopback with
    /// a certificate of their own. Set only through `SandboxOptions`: no command-line flag reaches it.
    pub extra_roots: Vec<CertificateDer<'static>>,
    /// Idle connections kept per origin; 0 turns keep-alive off (a fresh connection per request).
    pub max_idle_per_origin: usize,
    /// An idle connection older than this is closed rather than reused.
    pub idle_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions {
            extra_roots: Vec::new(),
            max_idle_per_origin: DEFAULT_MAX_IDLE_PER_ORIGIN,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
        }
    }
}

/// Why a pool could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error(
        "extra root certificate #{index} in PoolOptions is not a usable trust anchor ({reason}): \
         pass a DER-encoded X.509 certificate of a CA or a self-signed server"
    )]
    Root { index: usize, reason: String },
    #[error("the TLS client cannot be configured with rustls and ring: {0}")]
    Tls(String),
}

/// What the pool has done since it was made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// TCP connections opened.
    pub connections: u64,
    /// TLS handshakes completed.
    pub tls_handshakes: u64,
    /// Requests sent on a connection that had served an earlier one.
    pub reused: u64,
    /// Requests resent on a fresh connection after a kept-alive one turned out closed.
    pub retried: u64,
}

/// Keep-alive HTTP/1.1 connections per origin. Cloning shares the pool.
#[derive(Clone)]
pub struct Pool {
    shared: Arc<Shared>,
}

struct Shared {
    tls: tokio_rustls::TlsConnector,
    max_idle: usize,
    idle_timeout: Duration,
    idle: Mutex<HashMap<Key, Vec<Idle>>>,
    connections: AtomicU64,
    tls_handshakes: AtomicU64,
    reused: AtomicU64,
    retried: AtomicU64,
}

/// An origin as the pool keys it: TLS or not, and `host:port` with the scheme's port filled in.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    tls: bool,
    authority: String,
}

impl Key {
    fn of(uri: &http::Uri) -> Result<Key, Error> {
        let authority = uri.authority().ok_or(Error::HttpRequestUriInvalid)?;
        let tls = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(Error::HttpRequestUriInvalid),
        };
        let authority = match authority.port() {
            Some(_) => authority.to_string(),
            None => format!("{authority}:{}", if tls { 443 } else { 80 }),
        };
        Ok(Key { tls, authority })
    }
}

/// One HTTP/1.1 connection: the handle requests are sent through, and its I/O task.
struct Conn {
    sender: http1::SendRequest<WasiBody>,
    /// Aborted when the connection is dropped in the middle of an exchange (a timeout, a body dropped
    /// or cut), so that no task keeps a socket to a server that stalls; `None` once released cleanly.
    driver: Option<tokio::task::AbortHandle>,
}

impl Conn {
    /// Let the connection finish on its own (it closes once idle without a sender).
    fn release(mut self) {
        self.driver = None;
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if let Some(driver) = self.driver.take() {
            driver.abort();
        }
    }
}

struct Idle {
    conn: Conn,
    since: Instant,
}

/// Where a connection goes when its response body ends.
struct Home {
    shared: Arc<Shared>,
    key: Key,
    conn: Conn,
}

trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}

impl Pool {
    /// A pool trusting the webpki roots and `options.extra_roots`.
    pub fn new(options: PoolOptions) -> Result<Pool, PoolError> {
        let mut roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.into(),
        };
        for (index, root) in options.extra_roots.into_iter().enumerate() {
            roots.add(root).map_err(|e| PoolError::Root {
                index,
                reason: e.to_string(),
            })?;
        }
        // ring explicitly, as wasmtime-wasi-http builds rustls: no process-wide default provider needed.
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| PoolError::Tls(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Pool {
            shared: Arc::new(Shared {
                tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
                max_idle: options.max_idle_per_origin,
                idle_timeout: options.idle_timeout,
                idle: Mutex::default(),
                connections: AtomicU64::new(0),
                tls_handshakes: AtomicU64::new(0),
                reused: AtomicU64::new(0),
                retried: AtomicU64::new(0),
            }),
        })
    }

    /// What the pool has done so far.
    pub fn stats(&self) -> PoolStats {
        let s = &self.shared;
        PoolStats {
            connections: s.connections.load(Ordering::Relaxed),
            tls_handshakes: s.tls_handshakes.load(Ordering::Relaxed),
            reused: s.reused.load(Ordering::Relaxed),
            retried: s.retried.load(Ordering::Relaxed),
        }
    }

    /// Send `request` (an absolute `http` or `https` URI) on an idle connection to its origin, or a new
    /// one, with `options`' timeouts (600 s each when unset, as the default sender). The response head
    /// comes back with its body, and a [`BodyDone`] that resolves once the body is done.
    /// [`Pool::ready`] then [`Ready::send`], for a caller with nothing to do in between.
    ///
    /// Runs in a tokio runtime: each connection's I/O is a task of the runtime this is called in.
    pub async fn send(
        &self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
    ) -> Result<(http::Response<PooledBody>, BodyDone), Error> {
        let ready = self
            .ready(request.uri(), options.and_then(|o| o.connect_timeout))
            .await?;
        ready.send(request, options).await
    }

    /// A connection to `uri`'s origin ready for one request: an idle one, or a new one (TCP, and TLS
    /// for https, within `connect_timeout`). The hooks take the request budget's start only once they
    /// hold one, so that a slow handshake does not push the request's arrival past the start the
    /// budget counted.
    pub async fn ready(
        &self,
        uri: &http::Uri,
        connect_timeout: Option<Duration>,
    ) -> Result<Ready, Error> {
        let key = Key::of(uri)?;
        let connect_timeout = connect_timeout.unwrap_or(UNSET_TIMEOUT);
        let (conn, reused) = match self.shared.take_ready(&key, connect_timeout).await {
            Some(conn) => (conn, true),
            None => (self.shared.connect(&key, connect_timeout).await?, false),
        };
        Ok(Ready {
            shared: self.shared.clone(),
            key,
            conn,
            reused,
            connect_timeout,
        })
    }
}

/// A connection of the pool, ready for one request (see [`Pool::ready`]).
pub struct Ready {
    shared: Arc<Shared>,
    key: Key,
    conn: Conn,
    /// It served an earlier request (so the server may have closed it since).
    reused: bool,
    /// For the fresh connection a resent request goes on.
    connect_timeout: Duration,
}

/// What a request resent on a fresh connection waits for once that connection is ready, before it goes
/// on the wire again: the caller's budget and cancellation, since the upstream counts the resend as a
/// request of its own. Told whether the server may have read the first try (it closed the connection
/// before answering) or never got it (the request came back unsent). `Err` sends nothing and is the
/// send's error.
pub type ResendGate = Box<
    dyn FnOnce(bool) -> std::pin::Pin<Box<dyn Future<Output = Result<(), Error>> + Send>> + Send,
>;

impl Ready {
    /// Send `request` on this connection, to this connection's origin (the request's own authority is
    /// used only for its Host header), with `options`' first-byte and between-bytes timeouts. A request
    /// the server closed a kept-alive connection under is resent once on a fresh one, at once.
    pub async fn send(
        self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
    ) -> Result<(http::Response<PooledBody>, BodyDone), Error> {
        self.send_gated(request, options, None).await
    }

    /// [`Ready::send`], a resend going out only once `before_resend` lets it (the sandbox's hooks: a
    /// budget start of its own, the connection's cancellation).
    pub async fn send_gated(
        self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        mut before_resend: Option<ResendGate>,
    ) -> Result<(http::Response<PooledBody>, BodyDone), Error> {
        let pick = |t: Option<Duration>| t.unwrap_or(UNSET_TIMEOUT);
        let first_byte_timeout = pick(options.and_then(|o| o.first_byte_timeout));
        let between_bytes_timeout = pick(options.and_then(|o| o.between_bytes_timeout));
        let Ready {
            shared,
            key,
            mut conn,
            reused,
            connect_timeout,
        } = self;
        if reused {
            shared.reused.fetch_add(1, Ordering::Relaxed);
        }

        let (mut parts, body) = request.into_parts();
        if !parts.headers.contains_key(http::header::HOST) {
            // wasmtime-wasi-http sets Host to the guest's authority (kept when the hooks redirect);
            // a direct caller's request gets its own authority.
            if let Some(host) = parts
                .uri
                .authority()
                .and_then(|a| http::HeaderValue::from_str(a.as_str()).ok())
            {
                parts.headers.insert(http::header::HOST, host);
            }
        }
        // The request line is origin-form: scheme and authority go only to a proxy.
        let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        parts.uri = http::Uri::builder()
            .path_and_query(path_and_query)
            .build()
            .map_err(|_| Error::HttpRequestUriInvalid)?;
        // A GET without a body can be rebuilt and sent again; nothing else is resent once it left.
        let resendable =
            (parts.method == http::Method::GET && body.is_end_stream()).then(|| parts.clone());
        let mut request = http::Request::from_parts(parts, body);

        // A request is resent at most once, and on a fresh connection: a server that closed one idle
        // connection has likely closed the others of the same age.
        let mut resent = false;
        loop {
            let (unsent, error) = match tokio::time::timeout(
                first_byte_timeout,
                conn.sender.try_send_request(request),
            )
            .await
            {
                Err(_) => return Err(Error::ConnectionReadTimeout),
                Ok(Ok(response)) => {
                    let home = Home { shared, key, conn };
                    return Ok(PooledBody::wrap(response, home, between_bytes_timeout));
                }
                Ok(Err(mut failed)) => (failed.take_message(), failed.into_error()),
            };
            // Only a connection that served an earlier request can have been closed under us; a fresh
            // one failing is the server's answer.
            if reused && !resent {
                let again = match (unsent, &resendable) {
                    (Some(unsent), _) => Some((unsent, false)),
                    (None, Some(parts)) if closed_before_answer(&error) => {
                        Some((http::Request::from_parts(parts.clone(), empty_body()), true))
                    }
                    _ => None,
                };
                if let Some((again, maybe_read)) = again {
                    shared.retried.fetch_add(1, Ordering::Relaxed);
                    request = again;
                    resent = true;
                    conn = shared.connect(&key, connect_timeout).await?;
                    if let Some(gate) = before_resend.take() {
                        gate(maybe_read).await?;
                    }
                    continue;
                }
            }
            return Err(Error::Hyper(error));
        }
    }
}

impl Shared {
    /// The most recently used idle connection to `key` that is still open and not past the idle
    /// timeout, once it is ready for a request.
    async fn take_ready(&self, key: &Key, wait: Duration) -> Option<Conn> {
        while let Some(mut conn) = self.take_idle(key) {
            // The connection's task may still be finishing the previous exchange: `ready` waits for
            // it, and fails if the server closed the connection meanwhile.
            if let Ok(Ok(())) = tokio::time::timeout(wait, conn.sender.ready()).await {
                return Some(conn);
            }
        }
        None
    }

    fn take_idle(&self, key: &Key) -> Option<Conn> {
        // A poisoned lock (a panic elsewhere) only costs the reuse: a new connection is opened.
        let mut idle = self.idle.lock().ok()?;
        let list = idle.get_mut(key)?;
        let now = Instant::now();
        while let Some(entry) = list.pop() {
            if now.duration_since(entry.since) < self.idle_timeout && !entry.conn.sender.is_closed()
            {
                return Some(entry.conn);
            }
        }
        None
    }

    /// Keep `conn` for the next request to `key`, dropping expired and closed ones and the oldest
    /// above the limit.
    fn put_idle(&self, key: Key, conn: Conn) {
        if self.max_idle == 0 || conn.sender.is_closed() {
            conn.release();
            return;
        }
        let Ok(mut idle) = self.idle.lock() else {
            conn.release();
            return;
        };
        let now = Instant::now();
        let list = idle.entry(key).or_default();
        list.retain(|e| {
            now.duration_since(e.since) < self.idle_timeout && !e.conn.sender.is_closed()
        });
        while list.len() >= self.max_idle {
            list.remove(0).conn.release();
        }
        list.push(Idle { conn, since: now });
    }

    /// A new connection to `key`: TCP, then TLS for https, both within `timeout`.
    async fn connect(&self, key: &Key, timeout: Duration) -> Result<Conn, Error> {
        let deadline = tokio::time::Instant::now() + timeout;
        let tcp = match tokio::time::timeout_at(deadline, TcpStream::connect(&key.authority)).await
        {
            Ok(Ok(tcp)) => tcp,
            Ok(Err(e)) => return Err(Error::Connect(e)),
            Err(_) => return Err(Error::ConnectionTimeout),
        };
        // Requests and answers are small and the connection stays open: Nagle's algorithm would hold a
        // request back waiting for an acknowledgement. Best effort: a socket without it still works.
        let _ = tcp.set_nodelay(true);
        self.connections.fetch_add(1, Ordering::Relaxed);
        let io: Box<dyn Stream> = if key.tls {
            let name = server_name(&key.authority)?;
            let tls = tokio::time::timeout_at(deadline, self.tls.connect(name, tcp))
                .await
                .map_err(|_| Error::ConnectionTimeout)?
                .map_err(Error::Tls)?;
            self.tls_handshakes.fetch_add(1, Ordering::Relaxed);
            Box::new(tls)
        } else {
            Box::new(tcp)
        };
        let (sender, connection) = http1::Builder::new()
            .handshake(TokioIo::new(io))
            .await
            .map_err(Error::Hyper)?;
        // The connection's own error, if any, reaches the request or body using it; nothing to add.
        let driver = tokio::spawn(async move {
            let _ = connection.await;
        })
        .abort_handle();
        Ok(Conn {
            sender,
            driver: Some(driver),
        })
    }
}

/// Whether a request may have been written but the connection closed before any byte of an answer:
/// the mark of a kept-alive connection the server closed as the request crossed it.
fn closed_before_answer(error: &hyper::Error) -> bool {
    use std::error::Error as _;
    if error.is_incomplete_message() || error.is_canceled() {
        return true;
    }
    let mut source = error.source();
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            return matches!(
                io.kind(),
                ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof
            );
        }
        source = cause.source();
    }
    false
}

/// The TLS server name of `host:port`: an IP address (bracketed for IPv6) or a DNS name, as
/// wasmtime-wasi-http's default sender derives it.
fn server_name(authority: &str) -> Result<rustls::pki_types::ServerName<'static>, Error> {
    use rustls::pki_types::ServerName;
    if let Ok(addr) = authority.parse::<std::net::SocketAddr>() {
        return Ok(ServerName::from(addr.ip()));
    }
    let host = authority
        .split_once(':')
        .map_or(authority, |(host, _)| host);
    ServerName::try_from(host)
        .map(|name| name.to_owned())
        .map_err(Error::InvalidDnsNameError)
}

fn empty_body() -> WasiBody {
    use http_body_util::BodyExt;
    http_body_util::Empty::new()
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// A response body from the pool: each frame within the between-bytes timeout of the previous one
/// (as the default sender's `IncomingResponseBody`), and its connection back in the pool once the body
/// has been read to the end.
pub struct PooledBody {
    incoming: Incoming,
    between_bytes: Duration,
    timer: Pin<Box<tokio::time::Sleep>>,
    /// The connection, until the body ends (back to the pool) or fails (closed).
    home: Option<Home>,
    /// Fired, or dropped, when the body is done: what [`BodyDone`] waits for.
    done: Option<tokio::sync::oneshot::Sender<()>>,
}

/// Resolves once a response body is done: read to the end, failed, or dropped.
pub struct BodyDone(tokio::sync::oneshot::Receiver<()>);

impl Future for BodyDone {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // A dropped sender (the body failed or was dropped) is done too.
        Pin::new(&mut self.0).poll(cx).map(|_| ())
    }
}

impl PooledBody {
    fn wrap(
        response: http::Response<Incoming>,
        home: Home,
        between_bytes: Duration,
    ) -> (http::Response<PooledBody>, BodyDone) {
        // Tokio's timers take no zero duration kindly; a nanosecond is as good as zero.
        let between_bytes = between_bytes.max(Duration::from_nanos(1));
        let (done, waiter) = tokio::sync::oneshot::channel();
        let response = response.map(|incoming| {
            let mut body = PooledBody {
                incoming,
                between_bytes,
                timer: Box::pin(tokio::time::sleep(between_bytes)),
                home: Some(home),
                done: Some(done),
            };
            // No body at all (HEAD, 204, `content-length: 0`): nobody may ever poll for its end.
            if body.incoming.is_end_stream() {
                body.finish();
            }
            body
        });
        (response, BodyDone(waiter))
    }

    /// The body was read to the end: the connection goes back to the pool, then the body is done
    /// (in that order, so a request waiting for the in-flight slot finds the connection idle).
    fn finish(&mut self) {
        if let Some(home) = self.home.take() {
            home.shared.put_idle(home.key, home.conn);
        }
        if let Some(done) = self.done.take() {
            let _ = done.send(());
        }
    }

    /// The body failed: its connection is closed, and the body is done.
    fn fail(&mut self) {
        self.home = None;
        self.done = None;
    }
}

impl Body for PooledBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.incoming).poll_frame(cx) {
            Poll::Ready(None) => {
                this.finish();
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => {
                this.fail();
                let e = if e.is_timeout() {
                    Error::HttpResponseTimeout
                } else {
                    Error::Hyper(e)
                };
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(Some(Ok(frame))) => {
                let next = tokio::time::Instant::now() + this.between_bytes;
                this.timer.as_mut().reset(next);
                if this.incoming.is_end_stream() {
                    this.finish();
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => {
                ready!(this.timer.as_mut().poll(cx));
                this.fail();
                Poll::Ready(Some(Err(Error::ConnectionReadTimeout)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming.size_hint()
    }
}

#[cfg(test)]
mod tests;
