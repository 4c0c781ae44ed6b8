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
/// [`IDLE`], with room to spare.
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
    /// where other connectors may be given the same credential (see [`CredentialWindows`]): the start
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
    /// (see [`Slowdown`]), unless that request started while the upstream still counted starts
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
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::Arc;

    const A: CredentialId = [1; 32];
    const B: CredentialId = [2; 32];
    const CUSTOMERS: &str = "GET /v1/customers";
    const INVOICES: &str = "GET /v1/invoices";

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn limits(per_endpoint: u32, per_credential: u32) -> Limits {
        Limits {
            per_endpoint,
            per_credential,
        }
    }

    #[test]
    fn a_429_halves_the_pace_until_quiet_seconds_restore_it() {
        let budget = RequestBudget::new();
        let t0 = Instant::now();
        let l = limits(20, 100);
        // Full pace: 20 starts at once.
        let starts: Vec<Duration> = (0..20)
            .map(|_| budget.reserve(A, l, CUSTOMERS, t0) - t0)
            .collect();
        assert_eq!(starts, [Duration::ZERO; 20]);
        // All twenty refused for their rate by the upstream: one signal, one halving.
        for _ in 0..20 {
            budget.rate_limited(A, t0, t0 + ms(100));
        }
        assert_eq!(budget.slowdown(A), 2);
        assert_eq!(budget.slowdown(B), 1, "another credential is not slowed");
        // From a fresh second on, ten starts a second on that endpoint.
        let t1 = t0 + ms(1500);
        let starts: Vec<Duration> = (0..20)
            .map(|_| budget.reserve(A, l, CUSTOMERS, t1) - t1)
            .collect();
        assert_eq!(starts[..10], [Duration::ZERO; 10]);
        assert_eq!(starts[10..], [WINDOW; 10]);
        // A 429 of a request started within a second of the halving is still the old pace's.
        budget.rate_limited(A, t0 + ms(1000), t1);
        assert_eq!(budget.slowdown(A), 2);
        // One started later says the halving was not enough: it halves again.
        budget.rate_limited(A, t1, t1 + ms(10));
        assert_eq!(budget.slowdown(A), 4);
        // Each quiet RECOVERY doubles the pace again, down to none.
        let mut t = t1 + ms(10);
        for want in [2, 1] {
            t += RECOVERY;
            budget.reserve(A, l, INVOICES, t);
            assert_eq!(budget.slowdown(A), want);
        }
    }

    /// Starts queued at the old pace are the old pace's, however far ahead; a slowdown long quiet
    /// has recovered before a new 429 counts (review).
    #[test]
    fn a_429_counts_against_the_pace_its_request_was_given() {
        let budget = RequestBudget::new();
        let t0 = Instant::now();
        let l = limits(5, 100);
        // Twenty at once, five a second: queued up to three seconds ahead.
        let last = (0..20)
            .map(|_| budget.reserve(A, l, CUSTOMERS, t0))
            .max()
            .expect("starts");
        assert_eq!(last, t0 + 3 * WINDOW);
        budget.rate_limited(A, t0, t0 + ms(100));
        assert_eq!(budget.slowdown(A), 2);
        // Refused at 2 s and at 3.5 s: still the old pace's starts, or the upstream's memory of them.
        budget.rate_limited(A, t0 + 2 * WINDOW, t0 + ms(2100));
        budget.rate_limited(A, t0 + ms(3500), t0 + ms(3600));
        assert_eq!(budget.slowdown(A), 2);
        // Ten quiet seconds later a 429 finds the pace recovered: halved once, not twice.
        let later = t0 + 14 * WINDOW;
        budget.rate_limited(A, later, later);
        assert_eq!(budget.slowdown(A), 2);
    }

    #[test]
    fn a_slowdown_has_a_floor_and_outlives_an_idle_pause() {
        let budget = RequestBudget::new();
        let mut t = Instant::now();
        budget.reserve(A, limits(25, 25), CUSTOMERS, t);
        for _ in 0..10 {
            t += WINDOW;
            budget.rate_limited(A, t, t);
        }
        assert_eq!(budget.slowdown(A), MAX_SLOWDOWN);
        // Idle windows are dropped, but a slowdown is not forgotten before it has recovered.
        let t1 = t + ms(1500);
        budget.reserve(B, limits(25, 25), CUSTOMERS, t1);
        assert_eq!(budget.slowdown(A), MAX_SLOWDOWN);
        // 25 / 32 is still one start a second, never none.
        assert_eq!(budget.reserve(A, limits(25, 25), CUSTOMERS, t1), t1);
        assert_eq!(
            budget.reserve(A, limits(25, 25), CUSTOMERS, t1),
            t1 + WINDOW
        );
    }

    #[test]
    fn twenty_five_at_once_with_twenty_per_endpoint() {
        let budget = RequestBudget::new();
        let t0 = Instant::now();
        let starts: Vec<Duration> = (0..25)
            .map(|_| budget.reserve(A, limits(20, 100), CUSTOMERS, t0) - t0)
            .collect();
        assert_eq!(starts[..20], [Duration::ZERO; 20]);
        // The 21st starts exactly one second after the first, and so do the rest of that burst.
        assert_eq!(starts[20..], [WINDOW; 5]);
    }

    #[test]
    fn a_margin_keeps_the_next_burst_that_much_later() {
        let budget = RequestBudget::with_margin(ms(100));
        let t0 = Instant::now();
        let starts: Vec<Duration> = (0..25)
            .map(|_| budget.reserve(A, limits(20, 100), CUSTOMERS, t0) - t0)
            .collect();
        assert_eq!(starts[..20], [Duration::ZERO; 20]);
        assert_eq!(starts[20..], [ms(1100); 5]);
        // The margin is bounded, so windows are still dropped once idle.
        let wide = RequestBudget::with_margin(Duration::from_secs(10));
        wide.reserve(A, limits(1, 1), CUSTOMERS, t0);
        assert_eq!(
            wide.reserve(A, limits(1, 1), CUSTOMERS, t0),
            t0 + WINDOW + MAX_MARGIN
        );
    }

    #[test]
    fn endpoints_share_the_credential_window() {
        let budget = RequestBudget::new();
        let t0 = Instant::now();
        let l = limits(10, 3);
        let got: Vec<Duration> = [CUSTOMERS, INVOICES, CUSTOMERS, INVOICES, CUSTOMERS]
            .iter()
            .map(|e| budget.reserve(A, l, e, t0) - t0)
            .collect();
        assert_eq!(got, [ms(0), ms(0), ms(0), ms(1000), ms(1000)]);
    }

    #[test]
    fn endpoints_have_their_own_windows() {
        let budget = RequestBudget::new();
        let t0 = Instant::now();
        let l = limits(2, 10);
        let got: Vec<Duration> = [
            CUSTOMERS, CUSTOMERS, INVOICES, INVOICES, CUSTOMERS, INVOICES,
        ]
        .iter()
        .map(|e| budget.reserve(A, l, e, t0) - t0)
        .collect();
        assert_eq!(got, [ms(0), ms(0), ms(0), ms(0), ms(1000), ms(1000)]);
    }

    #[test]
    fn credentials_are_independent() {
        let budget = RequestBudget::new();
        let t0 = Instant::now();
        let l = limits(1, 1);
        assert_eq!(budget.reserve(A, l, CUSTOMERS, t0), t0);
        assert_eq!(budget.reserve(B, l, CUSTOMERS, t0), t0);
        assert_eq!(budget.reserve(A, l, CUSTOMERS, t0), t0 + WINDOW);
        assert_eq!(budget.reserve(B, l, INVOICES, t0), t0 + WINDOW);
    }

    #[test]
    fn credential_limit_below_endpoint_limit() {
        let budget = RequestBudget::new();
        let t0 = Instant::now();
        let l = limits(20, 5);
        let got: Vec<Duration> = (0..12)
            .map(|i| {
                let endpoint = if i % 2 == 0 { CUSTOMERS } else { INVOICES };
                budget.reserve(A, l, endpoint, t0) - t0
            })
            .collect();
        let want: Vec<Duration> = [0; 5]
            .into_iter()
            .chain([1000; 5])
            .chain([2000; 2])
            .map(ms)
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn windows_slide_rather_than_reset_each_second() {
        let budget = RequestBudget::new();
        let t0 = Instant::now();
        let l = limits(2, 100);
        let at = |arrival: u64| budget.reserve(A, l, CUSTOMERS, t0 + ms(arrival)) - t0;
        assert_eq!(at(0), ms(0));
        assert_eq!(at(500), ms(500));
        assert_eq!(at(900), ms(1000)); // the 2nd most recent start is at 0
        assert_eq!(at(1200), ms(1500)); // ... at 500
        assert_eq!(at(1600), ms(2000)); // ... at 1000
        assert_eq!(at(3100), ms(3100)); // idle: no wait
    }

    #[test]
    fn no_idle_gaps_under_budget() {
        let budget = RequestBudget::new();
        let t0 = Instant::now();
        let l = limits(10, 10);
        // One every 100 ms is exactly 10 per second: never a wait.
        for i in 0..50 {
            let arrival = t0 + ms(100 * i);
            assert_eq!(
                budget.reserve(A, l, CUSTOMERS, arrival),
                arrival,
                "request {i}"
            );
        }
        // Twice that rate: the 11th of a burst waits for the first to leave the window, no longer.
        let t1 = t0 + Duration::from_secs(10);
        let got: Vec<Duration> = (0..14)
            .map(|i| budget.reserve(A, l, CUSTOMERS, t1 + ms(50 * i)) - t1)
            .collect();
        let want: Vec<Duration> = (0..10)
            .map(|i| ms(50 * i))
            .chain((0..4).map(|i| ms(1000 + 50 * i)))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn later_arrivals_queue_behind_waiting_ones() {
        let budget = RequestBudget::new();
        let t0 = Instant::now();
        let l = limits(1, 1);
        assert_eq!(budget.reserve(A, l, CUSTOMERS, t0), t0);
        assert_eq!(budget.reserve(A, l, CUSTOMERS, t0), t0 + WINDOW);
        assert_eq!(budget.reserve(A, l, CUSTOMERS, t0 + ms(500)), t0 + ms(2000));
        // With room in the window, a later arrival still never starts before one already waiting.
        let budget = RequestBudget::new();
        let l = limits(1, 5);
        assert_eq!(budget.reserve(A, l, CUSTOMERS, t0), t0);
        assert_eq!(budget.reserve(A, l, CUSTOMERS, t0), t0 + WINDOW);
        assert_eq!(budget.reserve(A, l, INVOICES, t0 + ms(10)), t0 + WINDOW);
    }

    #[test]
    fn zero_limits_are_treated_as_one() {
        let budget = RequestBudget::new();
        let t0 = Instant::now();
        assert_eq!(budget.reserve(A, limits(0, 0), CUSTOMERS, t0), t0);
        assert_eq!(budget.reserve(A, limits(0, 0), CUSTOMERS, t0), t0 + WINDOW);
    }

    #[test]
    fn idle_windows_are_pruned() {
        let budget = RequestBudget::new();
        let t0 = Instant::now();
        let l = limits(5, 10);
        for i in 0..2000u32 {
            let mut credential = [0u8; 32];
            credential[..4].copy_from_slice(&i.to_le_bytes());
            budget.reserve(credential, l, CUSTOMERS, t0);
            budget.reserve(credential, l, INVOICES, t0);
        }
        assert_eq!(budget.tracked(), (2000, 4000));
        // Still within the idle margin: kept.
        budget.reserve(A, l, CUSTOMERS, t0 + ms(1500));
        assert_eq!(budget.tracked(), (2001, 4001));
        // Long idle: only the credential in use now remains.
        budget.reserve(B, l, CUSTOMERS, t0 + ms(3600));
        assert_eq!(budget.tracked(), (1, 1));
        // Within a live credential, an idle endpoint window goes too.
        let t1 = t0 + ms(3600);
        budget.reserve(B, l, INVOICES, t1 + ms(1500));
        assert_eq!(budget.tracked(), (1, 2));
        budget.reserve(B, l, INVOICES, t1 + ms(2500));
        assert_eq!(budget.tracked(), (1, 1));
    }

    #[test]
    fn windows_with_future_starts_are_not_pruned() {
        let budget = RequestBudget::new();
        let t0 = Instant::now();
        let l = limits(1, 1);
        for i in 0..5 {
            assert_eq!(budget.reserve(A, l, CUSTOMERS, t0), t0 + WINDOW * i);
        }
        // Queue reaches t0 + 4 s; a sweep at t0 + 3 s must keep it.
        budget.reserve(B, l, CUSTOMERS, t0 + ms(3000));
        assert_eq!(
            budget.reserve(A, l, CUSTOMERS, t0 + ms(3000)),
            t0 + ms(5000)
        );
    }

    #[test]
    fn shared_across_threads() {
        let budget = Arc::new(RequestBudget::new());
        let t0 = Instant::now();
        let l = limits(5, 5);
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let budget = Arc::clone(&budget);
                std::thread::spawn(move || {
                    (0..10)
                        .map(|_| budget.reserve(A, l, CUSTOMERS, t0))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all = Vec::new();
        for handle in handles {
            match handle.join() {
                Ok(starts) => all.extend(starts),
                Err(_) => panic!("a reserving thread panicked"),
            }
        }
        all.sort();
        let want: Vec<Instant> = (0..8).flat_map(|s| [t0 + WINDOW * s; 5]).collect();
        assert_eq!(all, want);
    }

    #[test]
    fn debug_shows_counts() {
        let budget = RequestBudget::default();
        budget.reserve(A, limits(1, 1), CUSTOMERS, Instant::now());
        assert_eq!(
            format!("{budget:?}"),
            "RequestBudget { credentials: 1, endpoint_windows: 1 }"
        );
    }

    /// At most `limit` of `starts` in any one-second interval; it suffices to look at the intervals that
    /// begin at a start.
    fn max_in_any_window(starts: &[Duration]) -> usize {
        starts
            .iter()
            .map(|&s| starts.iter().filter(|&&t| t >= s && t < s + WINDOW).count())
            .max()
            .unwrap_or(0)
    }

    proptest! {
        #[test]
        fn starts_respect_both_windows_and_are_earliest(
            per_endpoint in 1u32..6,
            per_credential in 1u32..8,
            mut arrivals in proptest::collection::vec((0u64..4000, 0usize..2, 0usize..3), 1..60),
        ) {
            const ENDPOINTS: [&str; 3] = [CUSTOMERS, INVOICES, "GET /v1/charges"];
            arrivals.sort_by_key(|a| a.0);
            let budget = RequestBudget::new();
            let t0 = Instant::now();
            let l = limits(per_endpoint, per_credential);
            // (credential, endpoint, start) as offsets from t0.
            let mut done: Vec<(usize, usize, Duration)> = Vec::new();
            for &(arrival, cred, ep) in &arrivals {
                let arrival = ms(arrival);
                let mut credential = [0u8; 32];
                credential[0] = u8::try_from(cred).unwrap_or(u8::MAX);
                let start = budget.reserve(credential, l, ENDPOINTS[ep], t0 + arrival) - t0;
                prop_assert!(start >= arrival);

                // Brute-force oracle: the earliest instant that is no earlier than the arrival and the
                // latest start in either window, and finds fewer than the limit of starts in the second
                // before it (inclusive), in both windows. It is one of the arrival, a start, or a start + 1 s.
                let same_cred: Vec<Duration> =
                    done.iter().filter(|d| d.0 == cred).map(|d| d.2).collect();
                let same_ep: Vec<Duration> =
                    done.iter().filter(|d| d.0 == cred && d.1 == ep).map(|d| d.2).collect();
                let fits = |c: Duration, prior: &[Duration], limit: u32| {
                    prior.iter().all(|&s| s <= c)
                        && prior.iter().filter(|&&s| s + WINDOW > c).count() < limit as usize
                };
                let oracle = std::iter::once(arrival)
                    .chain(same_cred.iter().flat_map(|&s| [s, s + WINDOW]))
                    .filter(|&c| c >= arrival)
                    .filter(|&c| fits(c, &same_cred, per_credential) && fits(c, &same_ep, per_endpoint))
                    .min();
                prop_assert_eq!(Some(start), oracle);
                done.push((cred, ep, start));
            }
            for cred in 0..2 {
                let starts: Vec<Duration> = done.iter().filter(|d| d.0 == cred).map(|d| d.2).collect();
                prop_assert!(starts.windows(2).all(|w| w[0] <= w[1]), "FIFO per credential");
                prop_assert!(max_in_any_window(&starts) <= per_credential as usize);
                for ep in 0..3 {
                    let starts: Vec<Duration> =
                        done.iter().filter(|d| d.0 == cred && d.1 == ep).map(|d| d.2).collect();
                    prop_assert!(max_in_any_window(&starts) <= per_endpoint as usize);
                }
            }
        }
    }

    /// QA: a second manifest with lower limits, given the same key in `serve`, held the first
    /// connector behind its own queue (~5x slower). Its requests now wait only for what the key's
    /// windows hold, at the largest limits of the two.
    #[test]
    fn a_stricter_connector_does_not_hold_back_another_given_the_same_key() {
        let budget = RequestBudget::new();
        let t0 = Instant::now();
        let strict = limits(4, 6);
        let roomy = limits(24, 24);
        let queued: Vec<Duration> = (0..12)
            .map(|_| budget.reserve_for(A, "strict", strict, CUSTOMERS, t0) - t0)
            .collect();
        // Its own limits: four a second on the endpoint, queued up to two seconds ahead.
        assert_eq!(queued[..4], [Duration::ZERO; 4]);
        assert_eq!(queued[11], 2 * WINDOW);
        // The roomy one starts at once, on the same endpoint and on another, up to the key's 24 a
        // second with the strict one's starts counted.
        let later = ms(10);
        let on_customers: Vec<Duration> = (0..20)
            .map(|_| budget.reserve_for(A, "roomy", roomy, CUSTOMERS, t0 + later) - t0)
            .collect();
        assert_eq!(on_customers, [later; 20]);
        // 4 + 20 starts in the first second, and the strict one's next four at 1 s: the next start of
        // the key is a second after the roomy twenty.
        let next = budget.reserve_for(A, "roomy", roomy, INVOICES, t0 + later) - t0;
        assert_eq!(next, later + WINDOW);
    }

    proptest! {
        /// Two connectors with limits of their own on one credential: each keeps its own limits
        /// (first come, first served among its own requests), both together the larger limits, and
        /// every start is the earliest those rules allow.
        #[test]
        fn connectors_sharing_a_key_keep_their_own_limits_and_together_the_largest(
            own in proptest::collection::vec((1u32..6, 1u32..8), 2),
            mut arrivals in proptest::collection::vec((0u64..1500, 0usize..2, 0usize..2), 1..50),
        ) {
            const NAMES: [&str; 2] = ["one", "two"];
            const ENDPOINTS: [&str; 2] = [CUSTOMERS, INVOICES];
            arrivals.sort_by_key(|a| a.0);
            let budget = RequestBudget::new();
            let t0 = Instant::now();
            let l: Vec<Limits> = own.iter().map(|&(e, c)| limits(e, c)).collect();
            // (connector, endpoint, start) as offsets from t0.
            let mut done: Vec<(usize, usize, Duration)> = Vec::new();
            let mut seen = [false; 2];
            for &(arrival, who, ep) in &arrivals {
                seen[who] = true;
                let arrival = ms(arrival);
                let start = budget.reserve_for(A, NAMES[who], l[who], ENDPOINTS[ep], t0 + arrival) - t0;
                // The key's limits: the largest of the connectors that have asked so far.
                let key = |f: fn(&Limits) -> u32| {
                    (0..2).filter(|&i| seen[i]).map(|i| f(&l[i])).max().unwrap_or(1) as usize
                };
                let (key_endpoint, key_credential) = (key(|l| l.per_endpoint), key(|l| l.per_credential));
                let mine: Vec<Duration> = done.iter().filter(|d| d.0 == who).map(|d| d.2).collect();
                let mine_here: Vec<Duration> =
                    done.iter().filter(|d| d.0 == who && d.1 == ep).map(|d| d.2).collect();
                let all: Vec<Duration> = done.iter().map(|d| d.2).collect();
                let all_here: Vec<Duration> = done.iter().filter(|d| d.1 == ep).map(|d| d.2).collect();
                let with = |prior: &[Duration], c: Duration| {
                    let mut v = prior.to_vec();
                    v.push(c);
                    v
                };
                // Brute force: the earliest candidate (the arrival, a start, a start + 1 s) at or after
                // the arrival and its own connector's latest start that keeps every limit.
                let oracle = std::iter::once(arrival)
                    .chain(all.iter().flat_map(|&s| [s, s + WINDOW]))
                    .filter(|&c| c >= arrival && mine.iter().all(|&s| s <= c))
                    .filter(|&c| {
                        max_in_any_window(&with(&mine, c)) <= l[who].per_credential as usize
                            && max_in_any_window(&with(&mine_here, c)) <= l[who].per_endpoint as usize
                            && max_in_any_window(&with(&all, c)) <= key_credential
                            && max_in_any_window(&with(&all_here, c)) <= key_endpoint
                    })
                    .min();
                prop_assert_eq!(Some(start), oracle);
                done.push((who, ep, start));
            }
        }
    }
}
