//! The one seam between the pure core and the outside world.
//!
//! The core builds [`Request`]s and reads [`Response`]s; an implementation of [`Transport`] moves them.
//! In the component that is `wasi:http/outgoing-handler` (see `component.rs`); in native unit tests it is
//! a scripted fake. Sleeping, the clock and randomness (for retry jitter) go through the same trait so that
//! tests control time and the component sleeps through `wasi:clocks` instead of spinning.

use std::time::Duration;

/// The HTTP methods the connector ever uses. Writes exist only for setup's over-permission probes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Delete => "DELETE",
        }
    }
}

/// A request to the Stripe API. The scheme and authority are fixed (`https://api.stripe.com`, see
/// [`crate::stripe`]); only the path and query vary, and only the core builds them. There is no credential
/// here: the host holds the key and attaches `Authorization: Bearer …` to each request its manifest allows
/// (WIT `klairr:connector@0.2.0`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    /// Path and percent-encoded query, e.g. `/v1/customers?limit=100`.
    pub path_and_query: String,
}

/// What came back: status, the headers the core reads, and the body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// `Request-Id`.
    pub request_id: Option<String>,
    /// `Stripe-Should-Retry`: `Some(true)`/`Some(false)` when present.
    pub should_retry: Option<bool>,
    /// `Retry-After`, in seconds, when present and numeric.
    pub retry_after: Option<Duration>,
    pub body: Vec<u8>,
}

/// A request that did not produce a response.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// The host's policy refused the request (`HttpRequestDenied`); the message says so, and the host's
    /// log says why. Never retried.
    #[error("{0}")]
    Denied(String),
    /// Connecting, or waiting for the response, took too long. Retried.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The connection failed or broke. Retried.
    #[error("connection failed: {0}")]
    Connection(String),
    /// The response body exceeded the connector's cap. Never retried; reported as an `upstream` error
    /// with the response's status and `Request-Id`.
    #[error("Stripe's response body is larger than the connector's {limit}-byte cap")]
    BodyTooLarge {
        limit: usize,
        status: u16,
        request_id: Option<String>,
    },
}

impl TransportError {
    /// Whether trying again could help.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            TransportError::Timeout(_) | TransportError::Connection(_)
        )
    }
}

/// Moves requests and measures time. Implemented over wasi:http in the component and by fakes in tests.
pub trait Transport {
    /// Send one request and read the whole response (up to [`MAX_BODY_BYTES`]).
    fn send(&mut self, request: &Request) -> Result<Response, TransportError>;
    /// Block for `duration` (wasi:clocks in the component).
    fn sleep(&mut self, duration: Duration);
    /// A monotonic clock reading; only differences matter.
    fn now(&mut self) -> Duration;
    /// A random number, for retry jitter.
    fn random_u64(&mut self) -> u64;
}

/// The largest response body the connector reads. A 100-object page of the biggest table is well under
/// 1 MiB at the pinned version; 8 MiB leaves room for expanded objects and still bounds guest memory.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// Counts the requests that went out through a transport: reported to users (`requests` in results and
/// the setup report) and asserted on by tests.
pub struct Counting<'t, T: Transport + ?Sized> {
    inner: &'t mut T,
    sent: u32,
}

impl<'t, T: Transport + ?Sized> Counting<'t, T> {
    pub fn new(inner: &'t mut T) -> Self {
        Counting { inner, sent: 0 }
    }

    /// Requests sent so far, retries included.
    pub fn sent(&self) -> u32 {
        self.sent
    }
}

impl<T: Transport + ?Sized> Transport for Counting<'_, T> {
    fn send(&mut self, request: &Request) -> Result<Response, TransportError> {
        self.sent = self.sent.saturating_add(1);
        self.inner.send(request)
    }
    fn sleep(&mut self, duration: Duration) {
        self.inner.sleep(duration)
    }
    fn now(&mut self) -> Duration {
        self.inner.now()
    }
    fn random_u64(&mut self) -> u64 {
        self.inner.random_u64()
    }
}
