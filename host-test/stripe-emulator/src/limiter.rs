//! Stripe's rate limits, as sliding windows over request starts, and the window arithmetic the
//! request log's helpers share with them.
//!
//! Stripe measures its limits per account and mode: 25 requests per second on each endpoint
//! (an endpoint is a method and a path template: `GET /v1/customers` and
//! `GET /v1/customers/{id}` are two), and globally 25 per second in test mode and 100 in live
//! mode (<https://docs.stripe.com/rate-limits>). Every emulator key belongs to one account, so
//! keys of the same mode share their windows.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Which limits the emulator enforces (none by default). Limits count request starts in any
/// sliding window of [`window`](RateLimit::window); a request over a limit is answered with
/// Stripe's 429 and does not count itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// At most this many starts per endpoint, account and mode in any window (Stripe: 25).
    pub endpoint: Option<u32>,
    /// At most this many starts on all endpoints of the test-mode account (Stripe: 25).
    pub account_test: Option<u32>,
    /// At most this many starts on all endpoints of the live-mode account (Stripe: 100).
    pub account_live: Option<u32>,
    /// The window's length (Stripe: one second).
    pub window: Duration,
}

impl RateLimit {
    /// Stripe's per-endpoint limit alone: 25 starts per endpoint in any second, test or live.
    pub const ENDPOINT: RateLimit = RateLimit {
        endpoint: Some(25),
        account_test: None,
        account_live: None,
        window: Duration::from_secs(1),
    };

    /// Stripe's per-endpoint limit and its global limits: 25 per endpoint, 25 for the whole
    /// test-mode account and 100 for the whole live-mode account, in any second.
    pub const STRIPE: RateLimit = RateLimit {
        endpoint: Some(25),
        account_test: Some(25),
        account_live: Some(100),
        window: Duration::from_secs(1),
    };
}

/// Which limit refused a request: the value of Stripe's `Stripe-Rate-Limited-Reason` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    Endpoint,
    Account,
}

impl Refusal {
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Refusal::Endpoint => "endpoint-rate",
            Refusal::Account => "global-rate",
        }
    }
}

/// The starts admitted in the current window, per (mode, endpoint) and per mode.
#[derive(Default)]
pub(crate) struct Limiter {
    limit: Option<RateLimit>,
    endpoints: HashMap<(bool, String), VecDeque<Instant>>,
    accounts: HashMap<bool, VecDeque<Instant>>,
}

/// Drop the starts that left the window ending at `now`; is there room for one more?
fn room(starts: &mut VecDeque<Instant>, now: Instant, window: Duration, limit: u32) -> bool {
    while starts
        .front()
        .is_some_and(|&t| now.saturating_duration_since(t) >= window)
    {
        starts.pop_front();
    }
    starts.len() < limit as usize
}

impl Limiter {
    /// Enforce `limit` from now on, with empty windows.
    pub(crate) fn set(&mut self, limit: Option<RateLimit>) {
        *self = Limiter {
            limit,
            ..Limiter::default()
        };
    }

    /// Admit (and count) a start at `now` on `endpoint` in the given mode, or say which limit
    /// refuses it. Callers take `now` under the same lock, so starts are counted in order.
    pub(crate) fn admit(&mut self, live: bool, endpoint: &str, now: Instant) -> Option<Refusal> {
        let limit = self.limit?;
        let window = limit.window;
        let account_limit = if live {
            limit.account_live
        } else {
            limit.account_test
        };
        let key = (live, endpoint.to_string());
        if let Some(n) = limit.endpoint {
            if !room(
                self.endpoints.entry(key.clone()).or_default(),
                now,
                window,
                n,
            ) {
                return Some(Refusal::Endpoint);
            }
        }
        if let Some(n) = account_limit {
            if !room(self.accounts.entry(live).or_default(), now, window, n) {
                return Some(Refusal::Account);
            }
        }
        if limit.endpoint.is_some() {
            self.endpoints.entry(key).or_default().push_back(now);
        }
        if account_limit.is_some() {
            self.accounts.entry(live).or_default().push_back(now);
        }
        None
    }
}

/// The most instants in any half-open window `[t, t + window)`: the same count a limit of
/// that window applies. `times` may come in any order.
pub fn max_in_any_window(times: &[Instant], window: Duration) -> usize {
    let mut sorted = times.to_vec();
    sorted.sort_unstable();
    let mut best = 0;
    let mut first = 0;
    for (last, &t) in sorted.iter().enumerate() {
        while t.saturating_duration_since(sorted[first]) >= window {
            first += 1;
        }
        best = best.max(last + 1 - first);
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn windows_slide_and_refusals_do_not_count() {
        let mut l = Limiter::default();
        let t0 = Instant::now();
        assert_eq!(
            l.admit(false, "GET /v1/customers", t0),
            None,
            "off by default"
        );
        l.set(Some(RateLimit::ENDPOINT));
        for i in 0..25 {
            assert_eq!(
                l.admit(false, "GET /v1/customers", t0 + i * MS),
                None,
                "{i}"
            );
        }
        assert_eq!(
            l.admit(false, "GET /v1/customers", t0 + 30 * MS),
            Some(Refusal::Endpoint)
        );
        // Another endpoint, or the other mode, has its own window.
        assert_eq!(l.admit(false, "GET /v1/charges", t0 + 30 * MS), None);
        assert_eq!(l.admit(true, "GET /v1/customers", t0 + 30 * MS), None);
        // 999 ms after the first start the window still holds 25; at 1000 ms one has left.
        assert_eq!(
            l.admit(false, "GET /v1/customers", t0 + 999 * MS),
            Some(Refusal::Endpoint)
        );
        assert_eq!(l.admit(false, "GET /v1/customers", t0 + 1000 * MS), None);
        assert_eq!(
            l.admit(false, "GET /v1/customers", t0 + 1000 * MS),
            Some(Refusal::Endpoint),
            "the refused ones did not count, the admitted one did"
        );
    }

    #[test]
    fn account_limits_span_endpoints_per_mode() {
        let mut l = Limiter::default();
        l.set(Some(RateLimit::STRIPE));
        let t0 = Instant::now();
        for i in 0..25u32 {
            let endpoint = if i % 2 == 0 {
                "GET /v1/customers"
            } else {
                "GET /v1/charges"
            };
            assert_eq!(l.admit(false, endpoint, t0 + i * MS), None);
        }
        assert_eq!(
            l.admit(false, "GET /v1/invoices", t0 + 40 * MS),
            Some(Refusal::Account)
        );
        assert_eq!(Refusal::Account.reason(), "global-rate");
        // Live mode: 100 overall, still 25 per endpoint.
        let names = [
            "customers",
            "charges",
            "invoices",
            "payouts",
            "subscriptions",
        ];
        let mut admitted = 0;
        for i in 0..125u32 {
            let endpoint = format!("GET /v1/{}", names[i as usize % 5]);
            if l.admit(true, &endpoint, t0 + i * MS).is_none() {
                admitted += 1;
            }
        }
        assert_eq!(admitted, 100);
        assert_eq!(
            l.admit(true, "GET /v1/customers/{id}", t0 + 200 * MS),
            Some(Refusal::Account)
        );
        l.set(None);
        assert_eq!(l.admit(true, "GET /v1/customers", t0 + 200 * MS), None);
    }

    #[test]
    fn window_counts() {
        let t0 = Instant::now();
        let at = |ms: &[u64]| -> Vec<Instant> {
            ms.iter().map(|&m| t0 + Duration::from_millis(m)).collect()
        };
        let w = Duration::from_secs(1);
        assert_eq!(max_in_any_window(&[], w), 0);
        assert_eq!(max_in_any_window(&at(&[5]), w), 1);
        assert_eq!(max_in_any_window(&at(&[0, 999, 1000, 1500, 1998]), w), 4);
        assert_eq!(max_in_any_window(&at(&[1998, 0, 1500, 999, 1000]), w), 4);
        assert_eq!(max_in_any_window(&at(&[0, 1000, 2000, 3000]), w), 1);
    }
}
