//! How fast a connector may call upstream: request *starts* per second, per credential and per
//! (credential, endpoint). Over budget a request is not refused; it is handed a later start and waits.
//!
//! Both limits are sliding windows: at most N starts in *any* one-second interval `[t, t + 1 s)`, not per
//! calendar second (a fixed bucket would allow 2N starts across a bucket edge). Stripe's own limits are
//! per account and per endpoint, which is why there are two kinds of window; a credential is identified
//! by the host's fingerprint of it ([`CredentialId`]), so the credential itself never sits in this table.
//!
//! Pure: the caller passes the time in and sleeps until the instant it gets back, so every rule here is
//! tested with made-up clocks.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use klairr_policy::budget::{Limits, RequestBudget};
//!
//! let budget = RequestBudget::new();
//! let limits = Limits { per_endpoint: 2, per_credential: 25 };
//! let credential = [7u8; 32]; // the host's fingerprint of the credential
//! let now = Instant::now();
//! assert_eq!(budget.reserve(credential, limits, "GET /v1/customers", now), now);
//! // Another endpoint has its own window (and shares the roomy credential one).
//! assert_eq!(budget.reserve(credential, limits, "GET /v1/invoices", now), now);
//! assert_eq!(budget.reserve(credential, limits, "GET /v1/customers", now), now);
//! // A third start on customers would make three there in one second: it waits a second.
//! let third = budget.reserve(credential, limits, "GET /v1/customers", now);
//! assert_eq!(third, now + Duration::from_secs(1));
//! // First come, first served within the credential: a later request on any endpoint starts no
//! // earlier than one already waiting.
//! assert_eq!(budget.reserve(credential, limits, "GET /v1/invoices", now), third);
//! ```

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The host's HMAC fingerprint of a credential, never the credential itself.
pub type CredentialId = [u8; 32];

/// The length of every window: the limits are starts per second.
pub const WINDOW: Duration = Duration::from_secs(1);

/// How long a window must have been idle before it is dropped. Past one span (a second plus the margin) a
/// window no longer constrains anything (see [`RequestBudget::reserve`]); the extra second keeps that true
/// for a caller whose `now` was read a little before another caller's.
const IDLE: Duration = Duration::from_secs(2);

/// The largest margin [`RequestBudget::with_margin`] takes: a window plus its margin must stay within
/// `IDLE`, with room to spare.
pub const MAX_MARGIN: Duration = Duration::from_millis(500);

/// Starts per second for one credential. The manifest's `[budget]` gives them (`per_endpoint`, and
/// `per_credential_test`/`per_credential_live` by the credential's mode). A limit of 0 is treated as 1:
/// the manifest refuses 0, and a request must be able to start eventually.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Limits {
    /// Starts per second on one endpoint (`"GET /v1/customers"`) with one credential.
    pub per_endpoint: u32,
    /// Starts per second with one credential, all endpoints together.
    pub per_credential: u32,
}

/// The starts handed out in one window: the most recent ones only (at most the limit), in non-decreasing
/// order because starts are handed out first come, first served.
#[derive(Default)]
struct Window {
    starts: VecDeque<Instant>,
}

impl Window {
    /// The earliest start this window allows next: no earlier than its latest start (FIFO), and at least
    /// `span` (a second, plus the budget's margin) after the `limit`-th most recent start, so that no
    /// one-second interval holds more than `limit` starts. With fewer than `limit` starts recorded every older start is at least a second
    /// before the latest (see [`Window::record`]), so there is nothing more to check.
    fn earliest(&self, limit: usize, span: Duration) -> Option<Instant> {
        let latest = self.starts.back().copied()?;
        let nth = self
            .starts
            .len()
            .checked_sub(limit)
            .and_then(|i| self.starts.get(i))
            // `Instant + 1 s` only overflows for an instant centuries ahead, which no clock hands out.
            .and_then(|nth| nth.checked_add(span));
        Some(nth.map_or(latest, |nth| nth.max(latest)))
    }

    /// Record a start (>= every start already here) and forget all but the `limit` most recent: each one
    /// forgotten is the previous `limit`-th most recent, which is at least a second before `start`, so it
    /// can share no one-second interval with this or any later start.
    fn record(&mut self, start: Instant, limit: usize) {
        self.starts.push_back(start);
        while self.starts.len() > limit {
            self.starts.pop_front();
        }
    }

    /// Idle long enough that it no longer constrains any start from `now` on.
    fn is_idle(&self, now: Instant) -> bool {
        idle_after(self.starts.back(), now)
    }
}

/// Whether a window whose latest start is `latest` no longer constrains any start from `now` on.
fn idle_after(latest: Option<&Instant>, now: Instant) -> bool {
    latest.is_none_or(|&latest| {
        now.checked_duration_since(latest)
            .is_some_and(|d| d >= IDLE)
    })
}

/// The starts of every connector given one credential, in order of their instants however they were
/// handed out. A connector held back by its own lower limits reserves starts ahead of time; another
/// connector's requests may take the free instants before them (first come, first served across
/// connectors would queue the faster one behind the slower one's waits: QA saw a connector slowed ~5x by
/// a stricter manifest given the same key).
#[derive(Default)]
struct Calendar {
    /// Sorted; none older than [`IDLE`] before the latest reservation's `now`.
    starts: VecDeque<Instant>,
}

impl Calendar {
    /// The earliest instant >= `from` at which one more start leaves no interval of `span` holding
    /// more than `limit` starts: every run of `limit + 1` consecutive starts, the new one among them,
    /// must span at least `span`.
    fn earliest_from(&self, from: Instant, limit: usize, span: Duration) -> Instant {
        let starts = &self.starts;
        let mut t = from;
        'search: loop {
            // Where `t` would go: after every start at or before it.
            let p = starts.partition_point(|&s| s <= t);
            // The runs that end at `t`: the `limit`-th start before it must be `span` earlier.
            if let Some(&first) = p.checked_sub(limit).and_then(|i| starts.get(i)) {
                if let Some(need) = first.checked_add(span).filter(|&need| t < need) {
                    t = need;
                    continue 'search;
                }
            }
            // The runs that go on past `t` end at a start after it: too short a run cannot be
            // mended by moving `t` within its gap, only by moving it past the run's end.
            for k in (p + 1).saturating_sub(limit)..=p {
                let Some(&last) = starts.get(k + limit - 1) else {
                    break;
                };
                let first = if k < p { starts[k] } else { t };
                if last.saturating_duration_since(first) < span {
                    t = last;
                    continue 'search;
                }
            }
            return t;
        }
    }

    fn insert(&mut self, start: Instant) {
        let p = self.starts.partition_point(|&s| s <= start);
        self.starts.insert(p, start);
    }

    /// Forget the starts that no start from `now` on can share an interval with.
    fn forget_before(&mut self, now: Instant) {
        while self
            .starts
            .front()
            .is_some_and(|&s| now.checked_duration_since(s).is_some_and(|d| d >= IDLE))
        {
            self.starts.pop_front();
        }
    }

    fn is_idle(&self, now: Instant) -> bool {
        idle_after(self.starts.back(), now)
    }
}

/// One connector's own windows under a credential: its manifest's limits hold for its own starts.
#[derive(Default)]
struct OwnWindows {
    all: Window,
    endpoints: HashMap<String, Window>,
}

/// One credential's windows. Connectors given the same key (`serve`) may declare different limits:
/// each connector's starts keep its own limits in windows of its own, and all of them together keep
/// the largest limits of the connectors using the key, so that the key never goes faster than one
/// manifest allows (as the in-flight gates do).
#[derive(Default)]
struct CredentialWindows {
    /// Every connector's starts.
    all: Calendar,
    /// Every connector's starts, per endpoint.
    endpoints: HashMap<String, Calendar>,
    /// By connector name and its limits (a reload that changes them starts windows of its own).
    own: HashMap<(String, Limits), OwnWindows>,
    /// Set while the upstream has lately refused this credential for its rate.
    slowdown: Option<Slowdown>,
}

/// A credential held below its limits because the upstream answered 429 anyway: another process, or
/// another client of the same account, spends the same upstream budget, which this host cannot see.
/// Its limits are divided by `divisor` (2, 4, … up to [`MAX_SLOWDOWN`]); the divisor halves again
/// after each [`RECOVERY`] without a 429, so the pace climbs back step by step (as TCP's does after a
/// loss), and two hosts sharing an account settle below its limit instead of failing each other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Slowdown {
    divisor: u32,
    /// When the divisor halves next, if no 429 comes first.
    next_step: Instant,
    /// 429s of requests started before this do not double it again: a second after the last start
    /// reserved at the old pace, when the upstream's one-second windows no longer hold any of them
    /// (a burst of requests in flight all refused at once is one signal, not eight).
    settles: Instant,
}

/// The most a credential is slowed down: a limit of 25 a second becomes 1.
pub const MAX_SLOWDOWN: u32 = 32;

/// How long a slowed-down credential goes without a 429 before its pace doubles again.
pub const RECOVERY: Duration = Duration::from_secs(2);

impl CredentialWindows {
    /// `limit` divided by the slowdown's divisor, never below 1.
    fn slowed(&self, limit: usize) -> usize {
        let divisor = self
            .slowdown
            .map_or(1, |s| usize::try_from(s.divisor).unwrap_or(usize::MAX));
        (limit / divisor.max(1)).max(1)
    }

    /// A pace held down climbs back one step per quiet [`RECOVERY`], however long ago they passed.
    fn recover(&mut self, now: Instant) {
        if let Some(slowdown) = self.slowdown.as_mut() {
            while slowdown.divisor > 1 && now >= slowdown.next_step {
                slowdown.divisor /= 2;
                slowdown.next_step += RECOVERY;
            }
        }
        self.slowdown = self.slowdown.filter(|s| s.divisor > 1);
    }
}

struct State {
    credentials: HashMap<CredentialId, CredentialWindows>,
    /// When the next sweep of idle windows is due (at most one sweep per second, so its cost is
    /// amortised over the requests that created the windows).
    next_prune: Option<Instant>,
}

impl State {
    fn prune(&mut self, now: Instant) {
        if self.next_prune.is_some_and(|due| now < due) {
            return;
        }
        self.credentials.retain(|_, windows| {
            // Every start is recorded in `all` too, so an idle credential has only idle endpoints.
            // A slowdown is kept until it has recovered: a query started after a pause would
            // otherwise meet the other client at full pace again.
            windows.recover(now);
            if windows.all.is_idle(now) && windows.slowdown.is_none() {
                return false;
            }
            windows.endpoints.retain(|_, window| !window.is_idle(now));
            windows.own.retain(|_, own| {
                own.endpoints.retain(|_, window| !window.is_idle(now));
                !own.all.is_idle(now)
            });
            true
        });
        self.next_prune = now.checked_add(WINDOW);
    }
}

/// The request budget of one host: shared by every connector instance it runs (`&self` methods behind a
/// mutex; wrap it in an `Arc`). Memory stays bounded on a long-running host: windows idle for more than a
/// couple of seconds are dropped, each connector's own window keeps at most its limit of starts, and a
/// credential's shared windows keep the starts of the last couple of seconds and those reserved ahead.
pub struct RequestBudget {
    state: Mutex<State>,
    /// [`WINDOW`] plus the margin: how far apart a start and the `limit`-th start after it are.
    span: Duration,
}

impl Default for RequestBudget {
    fn default() -> Self {
        RequestBudget::new()
    }
}

impl fmt::Debug for RequestBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (credentials, endpoints) = self.tracked();
        f.debug_struct("RequestBudget")
            .field("credentials", &credentials)
            .field("endpoint_windows", &endpoints)
            .finish()
    }
}

impl RequestBudget {
    /// An empty budget: nothing has started yet.
    pub fn new() -> RequestBudget {
        RequestBudget::with_margin(Duration::ZERO)
    }

    /// An empty budget that keeps `margin` (at most [`MAX_MARGIN`]) more than a second between a start and
    /// the `limit`-th start after it. The limits hold for the instants the caller starts at; the upstream
    /// sees each request a little later, by a delay that varies (scheduling, connection setup). The margin
    /// absorbs that variation, so the upstream's own one-second windows also hold at most the limit.
    pub fn with_margin(margin: Duration) -> RequestBudget {
        RequestBudget {
            state: Mutex::new(State {
                credentials: HashMap::new(),
                next_prune: None,
            }),
            span: WINDOW + margin.min(MAX_MARGIN),
        }
    }

    /// Reserve the earliest start >= `now` at which one more request on `endpoint` keeps both windows
    /// (the credential's, and the credential's on this endpoint) within their limits: at most N starts in
    /// ANY 1-second window. Record it and return it; the caller sleeps until then (a request reserved and
    /// then abandoned still counts, which only errs on the slow side). Starts within a window are handed
    /// out in non-decreasing order (FIFO: a later caller never overtakes one already waiting), so checking
    /// the N-th previous start suffices. Windows idle for more than a second are pruned (bounded memory).
    ///
    /// `endpoint` is the rule's endpoint, `"GET /v1/customers"` (`RequestRule::endpoint`), not the concrete
    /// path, so `/v1/customers/cus_1` and `/v1/customers/cus_2` share a window.
    pub fn reserve(
        &self,
        credential: CredentialId,
        limits: Limits,
        endpoint: &str,
        now: Instant,
    ) -> Instant {
        self.reserve_for(credential, "", limits, endpoint, now)
    }

    /// [`RequestBudget::reserve`] for a request of `connector`, whose manifest's limits are `limits`,
    /// where other connectors may be given the same credential (see `CredentialWindows`): the start
    /// keeps this connector's own limits (first come, first served among its own requests) and, with
    /// every other connector's starts, the largest limits of the connectors using the credential. A
    /// connector with lower limits never holds back one with higher limits beyond what they spend
    /// together.
    pub fn reserve_for(
        &self,
        credential: CredentialId,
        connector: &str,
        limits: Limits,
        endpoint: &str,
        now: Instant,
    ) -> Instant {
        // The state is consistent between statements (nothing here panics midway), so a poisoned lock
        // — another thread panicked while holding it — still guards valid data.
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.prune(now);
        let windows = state.credentials.entry(credential).or_default();
        windows.recover(now);
        let largest = windows
            .own
            .keys()
            .map(|(_, l)| *l)
            .fold(limits, |a, b| Limits {
                per_endpoint: a.per_endpoint.max(b.per_endpoint),
                per_credential: a.per_credential.max(b.per_credential),
            });
        let own_limits = (
            windows.slowed(limit(limits.per_credential)),
            windows.slowed(limit(limits.per_endpoint)),
        );
        let key_limits = (
            windows.slowed(limit(largest.per_credential)),
            windows.slowed(limit(largest.per_endpoint)),
        );
        let own = windows
            .own
            .entry((connector.to_owned(), limits))
            .or_default();
        let own_endpoint = own.endpoints.entry(endpoint.to_owned()).or_default();
        let own_start = [
            own.all.earliest(own_limits.0, self.span),
            own_endpoint.earliest(own_limits.1, self.span),
        ]
        .into_iter()
        .flatten()
        .fold(now, Instant::max);
        let key_endpoint = windows.endpoints.entry(endpoint.to_owned()).or_default();
        windows.all.forget_before(now);
        key_endpoint.forget_before(now);
        // The first instant both of the key's windows allow, from the first the connector's own do.
        let mut start = own_start;
        loop {
            let all = windows.all.earliest_from(start, key_limits.0, self.span);
            let both = key_endpoint.earliest_from(all, key_limits.1, self.span);
            if both == all {
                start = both;
                break;
            }
            start = both;
        }
        own_endpoint.record(start, own_limits.1);
        own.all.record(start, own_limits.0);
        key_endpoint.insert(start);
        windows.all.insert(start);
        start
    }

    /// The upstream answered 429 to a request of `credential` started at `started`: halve its pace
    /// (see `Slowdown`), unless that request started while the upstream still counted starts
    /// reserved before the last halving. Starts reserved
    /// before now keep their instants; the starts reserved from now on are spaced for the lower pace.
    pub fn rate_limited(&self, credential: CredentialId, started: Instant, now: Instant) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let windows = state.credentials.entry(credential).or_default();
        // Quiet steps already due count first (review: a stale divisor was doubled).
        windows.recover(now);
        // Starts already reserved keep the old pace, however far ahead they are queued.
        let settles = windows.all.starts.back().map_or(now, |&last| last.max(now)) + WINDOW;
        match windows.slowdown.as_mut() {
            // Only a 429 to a request started once the upstream no longer counts the old pace
            // says the halving was not enough.
            Some(slowdown) if started < slowdown.settles => {}
            Some(slowdown) => {
                slowdown.divisor = (slowdown.divisor * 2).min(MAX_SLOWDOWN);
                slowdown.settles = settles;
                slowdown.next_step = now + RECOVERY;
            }
            None => {
                windows.slowdown = Some(Slowdown {
                    divisor: 2,
                    next_step: now + RECOVERY,
                    settles,
                });
            }
        }
    }

    /// How many times slower than its limits `credential` is held now (1: not at all).
    pub fn slowdown(&self, credential: CredentialId) -> u32 {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state
            .credentials
            .get(&credential)
            .and_then(|w| w.slowdown)
            .map_or(1, |s| s.divisor)
    }

    /// (credentials, endpoint windows) currently tracked: for the host's diagnostics and the tests.
    pub fn tracked(&self) -> (usize, usize) {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let endpoints = state.credentials.values().map(|c| c.endpoints.len()).sum();
        (state.credentials.len(), endpoints)
    }
}

fn limit(n: u32) -> usize {
    usize::try_from(n.max(1)).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests;
