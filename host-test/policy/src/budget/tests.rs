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
