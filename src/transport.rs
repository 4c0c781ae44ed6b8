//! The seams between the pure core and the outside world: [`Http`] moves requests, [`Clock`] tells and
//! passes time.
//!
//! The core builds [`Request`]s and reads [`Response`]s. An [`Http`] starts requests and hands back the
//! next one that completes, so several can be outstanding at once (the pager overlaps pages, see
//! `pager/run.rs`); a plain [`Http::send`] does one at a time on top of that. A [`Clock`] sleeps, reads a
//! monotonic clock and draws random numbers (retry jitter), so tests control time and the component
//! sleeps through `wasi:clocks` instead of spinning. In the component both are wasi (see
//! `component.rs`); in native unit tests they are the shared fakes of `testing.rs`.

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

/// Names one started request until its outcome has been collected with [`Http::wait_any`]. Chosen by
/// the [`Http`] implementation; unique among the requests it has outstanding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ticket(pub u32);

/// One outcome of a started request.
pub type Completion = (Ticket, Result<Response, TransportError>);

/// Starts requests and collects their outcomes, in whatever order they complete. Implemented over
/// wasi:http in the component and by fakes in tests.
pub trait Http {
    /// Start `request`. A failure to start (the host refusing it, say) is not returned here: it is the
    /// ticket's outcome, collected by [`Http::wait_any`] like any other.
    fn start(&mut self, request: &Request) -> Ticket;

    /// Wait until a started request completes and return its outcome with the whole body (up to
    /// [`MAX_BODY_BYTES`]). `None` when nothing is outstanding, or when `timeout` passed first.
    fn wait_any(&mut self, timeout: Option<Duration>) -> Option<Completion>;

    /// Give up on an outstanding request; its outcome is never returned.
    fn cancel(&mut self, ticket: Ticket);

    /// Tell whoever watches the call how far it has got: requests made, rows found. Only shown to a
    /// person (the host's progress bar); nothing by default.
    fn progress(&mut self, _requests: u32, _rows: u64) {}

    /// Send one request and wait for its outcome. Only for callers with nothing else outstanding.
    fn send(&mut self, request: &Request) -> Result<Response, TransportError> {
        let ticket = self.start(request);
        loop {
            match self.wait_any(None) {
                Some((done, outcome)) if done == ticket => return outcome,
                // Another caller's request: not ours to take, and there is no other caller.
                Some(_) => continue,
                None => {
                    return Err(TransportError::Connection(
                        "the request was lost before it completed".into(),
                    ))
                }
            }
        }
    }
}

/// Time and randomness for retries: wasi:clocks and wasi:random in the component, a fake in tests.
pub trait Clock {
    /// Block for `duration`.
    fn sleep(&mut self, duration: Duration);
    /// A monotonic clock reading; only differences matter.
    fn now(&mut self) -> Duration;
    /// A random number, for retry jitter.
    fn random_u64(&mut self) -> u64;
}

/// The largest response body the connector reads. A 100-object page of the biggest table is well under
/// 1 MiB at the pinned version; 8 MiB leaves room for expanded objects and still bounds guest memory.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// Counts the requests started through an [`Http`]: reported to users (`requests` in results and the
/// setup report) and asserted on by tests.
pub struct Counting<'t, H: Http + ?Sized> {
    inner: &'t mut H,
    sent: u32,
}

impl<'t, H: Http + ?Sized> Counting<'t, H> {
    pub fn new(inner: &'t mut H) -> Self {
        Counting { inner, sent: 0 }
    }

    /// Requests started so far, retries included.
    pub fn sent(&self) -> u32 {
        self.sent
    }
}

impl<H: Http + ?Sized> Http for Counting<'_, H> {
    fn start(&mut self, request: &Request) -> Ticket {
        self.sent = self.sent.saturating_add(1);
        self.inner.start(request)
    }
    fn wait_any(&mut self, timeout: Option<Duration>) -> Option<Completion> {
        self.inner.wait_any(timeout)
    }
    fn cancel(&mut self, ticket: Ticket) {
        self.inner.cancel(ticket)
    }
}
