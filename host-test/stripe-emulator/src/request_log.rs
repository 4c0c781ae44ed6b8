//! What the emulator keeps or sends of each request it answered: every one for tests and benches
//! ([`RequestLog::Keep`]), a bounded stream for a long-running emulator's `--log`
//! ([`RequestLog::Send`]), or nothing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One request as the emulator saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedRequest {
    /// When its head arrived: the instant the rate limiter counted it at.
    pub arrived: Instant,
    /// The endpoint as Stripe's rate limits count it, e.g. `GET /v1/customers` or
    /// `GET /v1/customers/{id}`; None for a URL that names no endpoint.
    pub endpoint: Option<String>,
    pub method: String,
    pub path: String,
    /// raw query string after '?', exactly as received (may be empty)
    pub query: String,
    pub host: Option<String>,
    /// The `Content-Length` header as sent, if any: some proxies refuse a POST without one (411).
    pub content_length: Option<String>,
    pub stripe_version: Option<String>,
    /// the redacted form only, e.g. "rk_test_…0000", or None if no Authorization header; never store the full key
    pub key_hint: Option<String>,
    pub status: u16,
    /// For a 429 of the rate limits: which limit refused it, as Stripe's `Stripe-Rate-Limited-Reason`
    /// header says (`endpoint-rate`, `global-rate`).
    pub rate_limited: Option<&'static str>,
}

/// What the emulator does with each request it answered.
#[derive(Clone, Debug, Default)]
pub enum RequestLog {
    /// Keep every request for [`crate::Emulator::requests`] and the counts built on it (tests, benches).
    #[default]
    Keep,
    /// Send each one here as it is answered and keep none: a long-running emulator's log would
    /// otherwise grow without end (`klairr-host emulator --log` prints them). The channel's bound
    /// is what may wait for a slow reader; a request answered while it is full is not sent but
    /// counted ([`Logged::missed_before`], [`LogReceiver::missed`]), so the reader can say how many
    /// it missed.
    Send(LogSender),
    /// Keep none and send none.
    Off,
}

/// Where a [`RequestLog::Send`] emulator sends what it answered: a bounded channel and a count of
/// what did not fit.
#[derive(Clone, Debug)]
pub struct LogSender {
    to: SyncSender<Logged>,
    dropped: Arc<AtomicU64>,
}

/// One answered request as a [`LogSender`] sends it.
#[derive(Clone, Debug)]
pub struct Logged {
    /// Requests answered just before this one and not sent: the reader was `bound` behind.
    pub missed_before: u64,
    pub request: RecordedRequest,
}

/// The reading end of a [`LogSender`]. It ends (`Disconnected`) once every sender is gone.
#[derive(Debug)]
pub struct LogReceiver {
    from: Receiver<Logged>,
    dropped: Arc<AtomicU64>,
}

impl LogReceiver {
    /// The next request answered, waiting at most `timeout` for one.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Logged, RecvTimeoutError> {
        self.from.recv_timeout(timeout)
    }

    /// What is waiting, without waiting.
    pub fn try_iter(&self) -> impl Iterator<Item = Logged> + '_ {
        self.from.try_iter()
    }

    /// Requests not sent since the last one that was (and so reset): for a reader that caught up
    /// with no request after the gap to carry the count.
    pub fn missed(&self) -> u64 {
        self.dropped.swap(0, Ordering::Relaxed)
    }
}

impl LogSender {
    /// A sender whose reader may fall `bound` requests behind, and its receiving end.
    pub fn bounded(bound: usize) -> (LogSender, LogReceiver) {
        let (to, from) = std::sync::mpsc::sync_channel(bound);
        let dropped = Arc::<AtomicU64>::default();
        let receiver = LogReceiver {
            from,
            dropped: dropped.clone(),
        };
        (LogSender { to, dropped }, receiver)
    }

    /// Sends without waiting: an answer never waits for its log line. What did not fit is counted
    /// and the count rides on the next request that does.
    pub(crate) fn send(&self, request: RecordedRequest) {
        let missed_before = self.dropped.swap(0, Ordering::Relaxed);
        let logged = Logged {
            missed_before,
            request,
        };
        match self.to.try_send(logged) {
            Err(TrySendError::Full(_)) => {
                self.dropped.fetch_add(missed_before + 1, Ordering::Relaxed);
            }
            // A watcher that went away stops nothing: the request was answered.
            Ok(()) | Err(TrySendError::Disconnected(_)) => {}
        }
    }
}
