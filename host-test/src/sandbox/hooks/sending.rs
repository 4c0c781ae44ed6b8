//! How an admitted request waits for its turn and when it stops: a budget start counted once its
//! connection is ready (a resend on a fresh connection takes one of its own), and a stop at its call's
//! end while it is not on the wire yet, at its connection's close whatever it is doing.

use super::SharedGates;
use crate::sandbox::pool::ResendGate;
use klairr_policy::budget::{CredentialId, Limits};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use wasmtime_wasi_http::Error;

/// The instant the budget lets a request of `endpoint` start, waited for: counted when the request
/// can go on the wire, its connection ready (see `send_request`).
pub(super) async fn budget_start(
    gates: &SharedGates,
    id: CredentialId,
    connector: &str,
    limits: Limits,
    endpoint: &str,
) -> Instant {
    let now = Instant::now();
    let start = gates
        .budget
        .reserve_for(id, connector, limits, endpoint, now);
    // Only a request over budget waits: a timer for an instant already past still waits for the
    // timer driver's next tick (about a millisecond), on every request.
    if start > now {
        tokio::time::sleep_until(start.into()).await;
    }
    start
}

/// Resolves when a request must stop: once its call has ended, if it is not on the wire yet; once its
/// connection is closed, whatever it is doing. A request already sent when its call ends is let finish
/// (its answer unread, its slots given back), so that it reaches the upstream whole and every request
/// counted as sent is one the upstream saw. Polled in the request's own task, before the request's
/// future each time, so the flag cannot change between the two.
pub(super) async fn stopped_before(
    call: CancellationToken,
    connection: CancellationToken,
    on_wire: Arc<AtomicBool>,
) {
    call.cancelled().await;
    if on_wire.load(Ordering::Relaxed) {
        connection.cancelled().await;
    }
}

/// What a request stopped before its answer fails with: its connection was closed (`connection`
/// cancelled), or the call that made it returned (a later call holding its future reads this).
pub(super) fn stopped(connection: &CancellationToken) -> Error {
    Error::InternalError(Some(if connection.is_cancelled() {
        "the connection was closed".into()
    } else {
        "the call that made this request had returned".into()
    }))
}

/// The last checks before the wire, once the budget's wait is over: the call's deadline not passed
/// (the time left is returned), and neither the call ended nor the connection closed while the request
/// waited — a request stopped so sends nothing.
pub(super) fn clear_to_send(
    deadline: Instant,
    call: &CancellationToken,
    connection: &CancellationToken,
) -> Result<Duration, Error> {
    let remaining = deadline.saturating_duration_since(Instant::now());
    if remaining.is_zero() {
        return Err(Error::ConnectionTimeout);
    }
    if call.is_cancelled() {
        return Err(stopped(connection));
    }
    Ok(remaining)
}

/// What a resend on a fresh connection needs of its request ([`resend_gate`]).
pub(super) struct Resend {
    pub(super) gates: Arc<SharedGates>,
    pub(super) id: CredentialId,
    pub(super) connector: String,
    pub(super) limits: Limits,
    pub(super) endpoint: String,
    /// The call's deadline.
    pub(super) deadline: Instant,
    /// The call's cancellation, and the connection's.
    pub(super) call: CancellationToken,
    pub(super) connection: CancellationToken,
    /// The store's count of requests sent.
    pub(super) on_the_wire: Arc<AtomicU32>,
    /// The request's latest budget start, for a 429's slowdown.
    pub(super) last_start: Arc<Mutex<Instant>>,
}

/// The pool's resend of a request the server closed a kept-alive connection under, as one request of
/// its own to the upstream: a budget start once the fresh connection is ready, stopped as any request
/// not on the wire yet, and counted as sent when the server may have read the first try (review: it
/// went out uncounted, two arrivals 0.4 s apart under a budget of one a second).
pub(super) fn resend_gate(r: Resend) -> ResendGate {
    Box::new(move |maybe_read| {
        Box::pin(async move {
            let start = budget_start(&r.gates, r.id, &r.connector, r.limits, &r.endpoint).await;
            clear_to_send(r.deadline, &r.call, &r.connection)?;
            if let Ok(mut last) = r.last_start.lock() {
                *last = start;
            }
            if maybe_read {
                r.on_the_wire.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        })
    })
}
