//! The seams between the pure core and the outside world: [`Http`] moves requests, [`Clock`] tells and
//! passes time — the SDK's ([`klairr_connector_sdk::transport`]).
//!
//! The core builds [`Request`]s and reads [`Response`]s. An [`Http`] starts requests and hands back the
//! next one that completes, so several can be outstanding at once (the pager overlaps pages, see
//! `pager/run.rs`); a plain [`Http::send`] does one at a time on top of that. In the component both are
//! the SDK's wasi ones (see `component.rs`); in native unit tests they are the shared fakes of
//! `testing.rs`. Requests go to `https://api.stripe.com` ([`crate::stripe`]); there is no credential in
//! them: the host holds the key and attaches `Authorization: Bearer …` to each request its manifest
//! allows (WIT `klairr:connector@0.2.0`).

pub use klairr_connector_sdk::transport::{
    Clock, Completion, Counting, Http, Method, Request, Response, Ticket, TransportError,
};

/// The largest response body the connector reads. A 100-object page of the biggest table is well under
/// 1 MiB at the pinned version; 8 MiB leaves room for expanded objects and still bounds guest memory.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;
