//! The seams between a connector's pure core and the outside world: [`Http`] moves requests, [`Clock`]
//! tells and passes time.
//!
//! The core builds [`Request`]s and reads [`Response`]s. An [`Http`] starts requests and hands back the
//! next one that completes, so several can be outstanding at once; a plain [`Http::send`] does one at a
//! time on top of that. A [`Clock`] sleeps, reads a monotonic clock and draws random numbers (retry
//! jitter), so tests control time and the component sleeps through `wasi:clocks` instead of spinning. In
//! a component both are wasi (`component.rs`); in native unit tests they are each connector's fakes.

use crate::prelude::*;
use core::fmt;
use core::time::Duration;

/// The HTTP methods a connector uses. Writes exist only for setup's over-permission probes.
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

/// A request to the connector's API. The scheme and authority are fixed by the connector; only the
/// method, path and query vary, and only the core builds them. There is no credential here: the host
/// holds it and attaches it to each request its manifest allows (WIT `klairr:connector@0.2.0`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    /// Path and percent-encoded query, e.g. `/v1/customers?limit=100`.
    pub path_and_query: String,
}

impl Request {
    /// A `GET` of `path_and_query`.
    pub fn get(path_and_query: impl Into<String>) -> Request {
        Request {
            method: Method::Get,
            path_and_query: path_and_query.into(),
        }
    }
}

/// What came back: status, the headers a core reads, and the body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// The API's request id header (Stripe's `Request-Id`, the ledger's `x-request-id`).
    pub request_id: Option<String>,
    /// Whether the API said to retry (Stripe's `Stripe-Should-Retry`), when it said so.
    pub should_retry: Option<bool>,
    /// `Retry-After`, in seconds, when present and numeric ([`retry_after`]).
    pub retry_after: Option<Duration>,
    pub body: Vec<u8>,
}

/// A `Retry-After` header's value as a wait: whole seconds. A number too large for 64 bits is the
/// longest wait there is (a core caps every wait at its own ceiling), not no wait; anything else
/// (an HTTP date, a negative number) is no `Retry-After`.
pub fn retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)))
}

/// A `Content-Length` header's value: the body's declared size in bytes. A number too large for 64 bits
/// is the largest there is (over any cap), not unknown — and 64 bits, not `usize`: a component's `usize`
/// is 32 bits, and a declared 5 GB must be refused at once, not waited for.
pub fn content_length(value: &str) -> Option<u64> {
    let value = value.trim();
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(value.parse().unwrap_or(u64::MAX))
}

/// A should-retry header's value (Stripe's `Stripe-Should-Retry`): `true` or `false` in any case (header
/// values are compared so by every HTTP client); anything else says nothing, and the connector's own
/// rules decide.
pub fn should_retry(value: &str) -> Option<bool> {
    let value = value.trim();
    if value.eq_ignore_ascii_case("true") {
        Some(true)
    } else if value.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// A request that did not produce a response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransportError {
    /// The host's policy refused the request (`HttpRequestDenied`); the message says so, and the host's
    /// log says why. Never retried.
    Denied(String),
    /// Connecting, or waiting for the response, took too long. Retried.
    Timeout(String),
    /// The connection failed or broke. Retried.
    Connection(String),
    /// The response body exceeded the connector's cap of `limit` bytes (or the host's own). Never
    /// retried; connectors report it as an `upstream` error with the response's status and request id.
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

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransportError::Denied(m) => f.write_str(m),
            TransportError::Timeout(m) => write!(f, "timed out: {m}"),
            TransportError::Connection(m) => write!(f, "connection failed: {m}"),
            TransportError::BodyTooLarge { limit, .. } => write!(
                f,
                "the response body is larger than the connector's {limit}-byte cap"
            ),
        }
    }
}

impl core::error::Error for TransportError {}

/// Names one started request until its outcome has been collected with [`Http::wait_any`]. Chosen by
/// the [`Http`] implementation; unique among the requests it has outstanding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ticket(pub u32);

/// One outcome of a started request.
pub type Completion = (Ticket, Result<Response, TransportError>);

/// Starts requests and collects their outcomes, in whatever order they complete. Implemented over
/// wasi:http in a component and by fakes in tests.
pub trait Http {
    /// Start `request`. A failure to start (the host refusing it, say) is not returned here: it is the
    /// ticket's outcome, collected by [`Http::wait_any`] like any other.
    fn start(&mut self, request: &Request) -> Ticket;

    /// Wait until a started request completes and return its outcome with the whole body (up to the
    /// connector's cap). `None` when nothing is outstanding, or when `timeout` passed first.
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

/// Time and randomness for retries: wasi:clocks and wasi:random in a component, a fake in tests.
pub trait Clock {
    /// Block for `duration`.
    fn sleep(&mut self, duration: Duration);
    /// A monotonic clock reading; only differences matter.
    fn now(&mut self) -> Duration;
    /// A random number, for retry jitter.
    fn random_u64(&mut self) -> u64;
}

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

/// An [`Http`] for fakes that answer at once: each request's outcome is computed when it starts and
/// collected, in start order, by [`Http::wait_any`].
#[derive(Default)]
pub struct Immediate {
    next: u32,
    done: alloc::collections::VecDeque<Completion>,
}

impl Immediate {
    /// Record `outcome` as the next request's and return its ticket.
    pub fn answer(&mut self, outcome: Result<Response, TransportError>) -> Ticket {
        self.next = self.next.wrapping_add(1);
        let ticket = Ticket(self.next);
        self.done.push_back((ticket, outcome));
        ticket
    }

    /// The oldest outcome not collected yet.
    pub fn wait_any(&mut self) -> Option<Completion> {
        self.done.pop_front()
    }

    /// Forget `ticket`'s outcome.
    pub fn cancel(&mut self, ticket: Ticket) {
        self.done.retain(|(t, _)| *t != ticket);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers each request with its path as the body.
    #[derive(Default)]
    struct Echo(Immediate);

    impl Http for Echo {
        fn start(&mut self, request: &Request) -> Ticket {
            let body = request.path_and_query.clone().into_bytes();
            self.0.answer(Ok(Response {
                status: 200,
                body,
                ..Response::default()
            }))
        }
        fn wait_any(&mut self, _timeout: Option<Duration>) -> Option<Completion> {
            self.0.wait_any()
        }
        fn cancel(&mut self, ticket: Ticket) {
            self.0.cancel(ticket)
        }
    }

    #[test]
    fn a_retry_after_is_whole_seconds_and_a_huge_one_the_longest_wait() {
        assert_eq!(retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(retry_after(" 30 "), Some(Duration::from_secs(30)));
        assert_eq!(
            retry_after("99999999999999999999"),
            Some(Duration::from_secs(u64::MAX))
        );
        for ignored in ["", "-5", "1.5", "Wed, 21 Oct 2015 07:28:00 GMT", "+3"] {
            assert_eq!(retry_after(ignored), None, "{ignored:?}");
        }
    }

    #[test]
    fn a_content_length_is_64_bit_and_a_huge_one_the_largest() {
        assert_eq!(content_length("8388609"), Some(8_388_609));
        assert_eq!(content_length("5000000000"), Some(5_000_000_000));
        assert_eq!(content_length("99999999999999999999999"), Some(u64::MAX));
        for unknown in ["", "-1", "1e3", "12 34", "0x10"] {
            assert_eq!(content_length(unknown), None, "{unknown:?}");
        }
    }

    #[test]
    fn should_retry_is_true_or_false_in_any_case_and_nothing_else() {
        for yes in ["true", "True", "TRUE", " true "] {
            assert_eq!(should_retry(yes), Some(true), "{yes:?}");
        }
        for no in ["false", "False", "FALSE"] {
            assert_eq!(should_retry(no), Some(false), "{no:?}");
        }
        for neither in ["", "1", "0", "maybe", "yes"] {
            assert_eq!(should_retry(neither), None, "{neither:?}");
        }
    }

    #[test]
    fn send_waits_for_its_own_request_and_counting_counts_starts() {
        let mut echo = Echo::default();
        let mut counting = Counting::new(&mut echo);
        let cancelled = counting.start(&Request::get("/a"));
        counting.cancel(cancelled);
        let reply = counting.send(&Request::get("/b")).expect("answered");
        assert_eq!(reply.body, b"/b");
        assert_eq!(counting.sent(), 2);
        assert_eq!(counting.wait_any(None), None);
    }

    #[test]
    fn only_timeouts_and_broken_connections_are_retried() {
        let too_large = TransportError::BodyTooLarge {
            limit: 10,
            status: 200,
            request_id: None,
        };
        assert_eq!(
            too_large.to_string(),
            "the response body is larger than the connector's 10-byte cap"
        );
        assert!(!too_large.is_retryable());
        assert!(!TransportError::Denied("no".into()).is_retryable());
        assert!(TransportError::Timeout("t".into()).is_retryable());
        assert!(TransportError::Connection("c".into()).is_retryable());
    }
}
