//! The seams between the pure core and the outside world, the SDK's ([`klairr_connector_sdk::transport`]):
//! [`Http`] sends requests (the ledger's core one at a time, with [`Http::send`]), [`Clock`] sleeps between
//! retries. The ledger only reads: every [`Request`] is a `GET`, and carries no credential (the host
//! attaches it in the header its manifest names). In the component both are the SDK's wasi ones
//! (`component.rs`); in native unit tests they are the fakes of `testing.rs`.

pub use klairr_connector_sdk::transport::{
    Clock, Completion, Http, Request, Response, Ticket, TransportError,
};

/// The ledger API's one origin. The component addresses every request here; the host decides whether it
/// leaves (and in tests delivers it to a loopback server instead).
pub const API_AUTHORITY: &str = "api.ledger.example";

/// The API version the connector parses, sent on every request (the manifest pins the header too).
pub const API_VERSION: &str = "2026-01-15";

/// The largest response body the connector reads: a 100-row page is a few tens of KiB.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
