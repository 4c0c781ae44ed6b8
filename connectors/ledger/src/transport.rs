//! The seams between the pure core and the outside world: [`Http`] sends one request at a time, [`Clock`]
//! sleeps between retries. In the component both are wasi (`component.rs`); in native unit tests they are
//! the fakes of `testing.rs`.

use std::fmt;
use std::time::Duration;

/// The ledger API's one origin. The component addresses every request here; the host decides whether it
/// leaves (and in tests delivers it to a loopback server instead).
pub const API_AUTHORITY: &str = "api.ledger.example";

/// The API version the connector parses, sent on every request (the manifest pins the header too).
pub const API_VERSION: &str = "2026-01-15";

/// The largest response body the connector reads: a 100-row page is a few tens of KiB.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// A `GET` to the ledger API: the connector only ever reads, so there is no method and no body. There is
/// no credential either: the host attaches it in the header its manifest names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// Path and percent-encoded query, e.g. `/v1/entries?limit=100`.
    pub path_and_query: String,
}

/// What came back: the status, the two headers the core reads, and the body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// `x-request-id`.
    pub request_id: Option<String>,
    /// `retry-after` in whole seconds, when present and numeric.
    pub retry_after: Option<Duration>,
    pub body: Vec<u8>,
}

/// A request that produced no response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransportError {
    /// The host's policy refused the request; its log says why. Never retried.
    Denied(String),
    /// Connecting or waiting took too long. Retried.
    Timeout(String),
    /// The connection failed or broke. Retried.
    Connection(String),
    /// The body exceeded [`MAX_BODY_BYTES`] (or the host's own cap). Never retried.
    BodyTooLarge {
        status: u16,
        request_id: Option<String>,
    },
}

impl TransportError {
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
            TransportError::BodyTooLarge { .. } => write!(
                f,
                "the ledger's response body is larger than the connector's {MAX_BODY_BYTES}-byte cap"
            ),
        }
    }
}

/// Sends requests: wasi:http in the component, a fake ledger in tests.
pub trait Http {
    fn send(&mut self, request: &Request) -> Result<Response, TransportError>;

    /// Tell whoever watches the call how far it has got (requests made, rows found). Only shown to a
    /// person; nothing by default.
    fn progress(&mut self, _requests: u32, _rows: u64) {}
}

/// Time and randomness for retries: wasi:clocks and wasi:random in the component, a fake in tests.
pub trait Clock {
    fn sleep(&mut self, duration: Duration);
    fn random_u64(&mut self) -> u64;
}
