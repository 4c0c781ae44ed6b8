//! Which failures are retried, how long to wait, and when to give up.
//!
//! One [`Retrier`] is created per query (or per `verify`) and every request of that query goes through
//! it: [`Retrier::send`] one at a time, [`Retrier::send_all`] several at once (setup's probes), the
//! pager's overlapping pages through [`Retrier::judge`]. It retries:
//!
//! - transport failures that may be transient ([`TransportError::Timeout`], [`TransportError::Connection`]);
//!   a request the host refused ([`TransportError::Denied`]) fails at once as [`ConnectorError::Network`],
//!   a body over the cap ([`TransportError::BodyTooLarge`]) at once as [`ConnectorError::Upstream`]
//!   quoting the status and `Request-Id`;
//! - `409 Conflict`, every `429` (`rate_limit`, `lock_timeout` or no code at all) and every `5xx`;
//! - any other non-2xx response that Stripe marks `Stripe-Should-Retry: true`.
//!
//! `Stripe-Should-Retry: false` always wins: such a response is never retried. A 2xx response is never
//! retried, whatever its headers say.
//!
//! **Unlike Stripe's own SDKs, a plain `429` is retried and `Retry-After` is honoured.** The SDKs retry
//! only `lock_timeout` 429s and ignore `Retry-After`, which is the known pain point of paging large lists
//! at 25 requests/s in test mode; a connector that pages thousands of rows must survive the rate limiter.
//!
//! # Waiting
//! The n-th retry (n = 1, 2, …) waits `base = min(initial_backoff × 2ⁿ⁻¹, max_backoff)` with *equal
//! jitter*: `base/2 + random(0..=base/2)`, and never less than `initial_backoff`. With the defaults
//! (0.5 s, 5 s cap) that is 0.5 s, 0.5–1 s, 1–2 s, 2–4 s, 2.5–5 s. A `Retry-After` header raises the wait
//! to at least its value, capped at [`RetryPolicy::max_retry_after`]. Sleeping goes through
//! [`Clock::sleep`] (wasi:clocks in the component) or, in the pager, by
//! doing other work meanwhile: never a busy loop.
//!
//! # Giving up
//! - After [`RetryPolicy::max_attempts`] attempts of one request.
//! - When the next wait would take the query past its [`RetryPolicy::total_budget`]: the time this query
//!   has lost to failed attempts and waits, summed over every `send` of the same `Retrier`. The check is
//!   made *before* sleeping, so the retrier stops at once instead of sleeping into a wait it cannot finish.
//!   Successful requests are not charged: a 100 000-row query legitimately takes minutes of paging, and its
//!   length is bounded by its row cap, not here.
//!
//! # What `send` returns
//! - `Ok(response)` for every response that is not retried: 2xx, 4xx other than 409/429, and any status
//!   (429 and 5xx included) that came with `Stripe-Should-Retry: false`. The caller reads the status and
//!   turns non-2xx into an error, e.g. with [`error_for_response`], which keeps the status, Stripe's code
//!   and the `Request-Id`.
//! - `Err` when retrying was given up: a last `429` → [`ConnectorError::RateLimited`], another status →
//!   [`ConnectorError::Upstream`] (both quoting status, code and `Request-Id` via
//!   [`crate::stripe::upstream_error`]), a transport failure → [`ConnectorError::Network`]. Every such
//!   message says how many attempts were made.

use crate::error::{ConnectorError, UpstreamError};
use crate::prelude::*;
use crate::stripe::upstream_error;
use crate::transport::{Clock, Http, Request, Response, Ticket, TransportError};
use core::time::Duration;

/// How hard to try.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per request, the first one included (so 5 = up to 4 retries). 0 is treated as 1.
    pub max_attempts: u32,
    /// Wait before the first retry; doubles with each retry.
    pub initial_backoff: Duration,
    /// Upper bound of the exponential backoff (before `Retry-After` is considered).
    pub max_backoff: Duration,
    /// Upper bound for a `Retry-After` header: a longer one is waited only this long.
    pub max_retry_after: Duration,
    /// Time one query may lose to failed attempts and waits, across all of its requests.
    pub total_budget: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(30),
            total_budget: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `retry` (1-based), before `Retry-After`, for a random draw `random`.
    /// Always within [`RetryPolicy::backoff_bounds`].
    pub fn backoff(&self, retry: u32, random: u64) -> Duration {
        let base = self.base_backoff(retry);
        let half = base / 2;
        // base/2 + random fraction of the other half (u128: no overflow for any Duration).
        let half_nanos = (base - half).as_nanos();
        let jitter_nanos = half_nanos * u128::from(random) / u128::from(u64::MAX);
        let jitter = duration_from_nanos(jitter_nanos);
        (half + jitter).max(self.initial_backoff.min(base))
    }

    /// The smallest and largest wait [`RetryPolicy::backoff`] can choose for retry number `retry`.
    pub fn backoff_bounds(&self, retry: u32) -> (Duration, Duration) {
        let base = self.base_backoff(retry);
        ((base / 2).max(self.initial_backoff.min(base)), base)
    }

    /// `min(initial_backoff × 2^(retry-1), max_backoff)`.
    fn base_backoff(&self, retry: u32) -> Duration {
        let factor = 1u32 << retry.saturating_sub(1).min(31);
        self.initial_backoff
            .checked_mul(factor)
            .unwrap_or(Duration::MAX)
            .min(self.max_backoff)
    }
}

fn duration_from_nanos(nanos: u128) -> Duration {
    let secs = nanos / 1_000_000_000;
    let sub = (nanos % 1_000_000_000) as u32;
    Duration::new(u64::try_from(secs).unwrap_or(u64::MAX), sub)
}

/// Sends the requests of one query with retries, tracking the query's retry-time budget.
#[derive(Clone, Debug)]
pub struct Retrier {
    policy: RetryPolicy,
    /// Time lost so far to failed attempts and waits, over every `send`.
    spent: Duration,
}

/// Whether one outcome is retried.
enum Verdict {
    /// Hand it to the caller as is.
    Final,
    /// Try again (after waiting).
    Retry,
}

fn verdict_for_response(response: &Response) -> Verdict {
    if (200..300).contains(&response.status) {
        return Verdict::Final;
    }
    match response.should_retry {
        Some(false) => Verdict::Final,
        Some(true) => Verdict::Retry,
        None if matches!(response.status, 409 | 429 | 500..=599) => Verdict::Retry,
        None => Verdict::Final,
    }
}

impl Retrier {
    /// A retrier for one query (or one `verify`); its budget starts empty.
    pub fn new(policy: RetryPolicy) -> Self {
        Retrier {
            policy,
            spent: Duration::ZERO,
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// Time this query has lost to failed attempts and waits so far.
    pub fn spent(&self) -> Duration {
        self.spent
    }

    /// Send `request`, retrying as described in the module docs. `Ok` for every response that is not
    /// retried (check its status); `Err` when retries are exhausted or the failure is final.
    /// [`Retrier::send_all`] of one request.
    pub fn send<H: Http + ?Sized, C: Clock + ?Sized>(
        &mut self,
        http: &mut H,
        clock: &mut C,
        request: &Request,
    ) -> Result<Response, ConnectorError> {
        self.send_all(http, clock, core::slice::from_ref(request))
            .pop()
            .unwrap_or_else(|| Err(lost()))
    }

    /// Send every one of `requests` at once, each retried as [`Retrier::send`] retries one, in rounds:
    /// those a round's answers say to retry go out again together after the longest of their waits.
    /// The outcomes, in the order of `requests`.
    pub fn send_all<H: Http + ?Sized, C: Clock + ?Sized>(
        &mut self,
        http: &mut H,
        clock: &mut C,
        requests: &[Request],
    ) -> Vec<Result<Response, ConnectorError>> {
        let mut outcomes: Vec<Option<Result<Response, ConnectorError>>> =
            requests.iter().map(|_| None).collect();
        // (request, attempts made) of those to send in the next round: all of them first.
        let mut round: Vec<(usize, u32)> = (0..requests.len()).map(|i| (i, 0)).collect();
        while !round.is_empty() {
            let started = clock.now();
            let mut flying: Vec<(Ticket, usize, u32)> = round
                .drain(..)
                .map(|(i, attempts)| (http.start(&requests[i]), i, attempts + 1))
                .collect();
            let mut wait = Duration::ZERO;
            while !flying.is_empty() {
                // None: the transport lost what was outstanding (each is then a network error).
                let Some((ticket, outcome)) = http.wait_any(None) else {
                    break;
                };
                let Some(at) = flying.iter().position(|f| f.0 == ticket) else {
                    continue;
                };
                let (_, i, attempts) = flying.swap_remove(at);
                let took = clock.now().saturating_sub(started);
                match self.judge(clock, &requests[i], attempts, took, outcome) {
                    Attempt::Done(result) => outcomes[i] = Some(result),
                    Attempt::RetryAfter(w) => {
                        wait = wait.max(w);
                        round.push((i, attempts));
                    }
                }
            }
            if !round.is_empty() {
                clock.sleep(wait);
            }
        }
        outcomes
            .into_iter()
            .map(|outcome| outcome.unwrap_or_else(|| Err(lost())))
            .collect()
    }

    /// Judge attempt number `attempts` (1-based) of `request`, which took `took` and ended in `outcome`:
    /// hand it to the caller, or retry it after a wait (already charged to the budget: the caller only
    /// waits, by sleeping or by doing other work, and then starts the request again). The pager judges
    /// each of its overlapping requests here, [`Retrier::send_all`] each of its rounds' answers. Never
    /// inlined: its callers share one copy in the component.
    #[inline(never)]
    pub fn judge<C: Clock + ?Sized>(
        &mut self,
        clock: &mut C,
        request: &Request,
        attempts: u32,
        took: Duration,
        outcome: Result<Response, TransportError>,
    ) -> Attempt {
        let verdict = match &outcome {
            Ok(response) => verdict_for_response(response),
            Err(err) if err.is_retryable() => Verdict::Retry,
            Err(_) => Verdict::Final,
        };
        let result = match (verdict, outcome) {
            (Verdict::Final, Ok(response)) => Ok(response),
            (
                Verdict::Final,
                Err(TransportError::BodyTooLarge {
                    limit,
                    status,
                    request_id,
                }),
            ) => Err(ConnectorError::Upstream(UpstreamError {
                status: Some(status),
                code: None,
                message: format!(
                    "{} {}: Stripe's response body is larger than the connector's {limit}-byte cap \
                     (not retried)",
                    request.method.as_str(),
                    endpoint(request),
                ),
                request_id,
            })),
            (Verdict::Final, Err(err)) => Err(ConnectorError::Network(format!(
                "{} {}: {err} (not retried: trying again cannot help)",
                request.method.as_str(),
                endpoint(request)
            ))),
            (Verdict::Retry, outcome) => {
                self.charge(took);
                if attempts >= self.policy.max_attempts.max(1) {
                    let why = format!("gave up after {attempts} {}", plural(attempts));
                    Err(exhausted(request, &outcome, &why))
                } else {
                    let retry_after = outcome.as_ref().ok().and_then(|r| r.retry_after);
                    let wait = self.wait_before_retry(attempts, retry_after, clock);
                    let remaining = self.policy.total_budget.saturating_sub(self.spent);
                    if wait > remaining {
                        let why = format!(
                            "gave up after {attempts} {}: waiting {} more would exceed this query's {} retry budget",
                            plural(attempts),
                            seconds(wait),
                            seconds(self.policy.total_budget)
                        );
                        Err(exhausted(request, &outcome, &why))
                    } else {
                        self.charge(wait);
                        return Attempt::RetryAfter(wait);
                    }
                }
            }
        };
        Attempt::Done(result)
    }

    /// The wait before retry number `retry`: jittered backoff, raised to a (capped) `Retry-After`.
    fn wait_before_retry<C: Clock + ?Sized>(
        &self,
        retry: u32,
        retry_after: Option<Duration>,
        clock: &mut C,
    ) -> Duration {
        let backoff = self.policy.backoff(retry, clock.random_u64());
        match retry_after {
            Some(after) => backoff.max(after.min(self.policy.max_retry_after)),
            None => backoff,
        }
    }

    fn charge(&mut self, lost: Duration) {
        self.spent = self.spent.saturating_add(lost);
    }
}

/// A request whose outcome the transport never gave back.
fn lost() -> ConnectorError {
    ConnectorError::Network("the request was lost before it completed".into())
}

/// What [`Retrier::judge`] decided about one attempt.
#[derive(Debug)]
pub enum Attempt {
    /// Final: a response that is not retried (check its status), or the error retrying ended in.
    Done(Result<Response, ConnectorError>),
    /// Start the request again after this wait.
    RetryAfter(Duration),
}

fn plural(attempts: u32) -> &'static str {
    if attempts == 1 {
        "attempt"
    } else {
        "attempts"
    }
}

/// `d` in seconds with one decimal, e.g. "2.5 s", rounded half up. Integer arithmetic on u64s: formatting
/// an `f64` with a precision (or a u128) would link more formatting code into the component for one message.
fn seconds(d: Duration) -> String {
    let tenths = (d.subsec_nanos() + 50_000_000) / 100_000_000; // 0..=10
    format!(
        "{}.{} s",
        d.as_secs().saturating_add(u64::from(tenths / 10)),
        tenths % 10
    )
}

/// The path without its query string: names the endpoint without repeating filter values.
fn endpoint(request: &Request) -> &str {
    let path = request.path_and_query.as_str();
    path.split_once('?').map_or(path, |(p, _)| p)
}

/// The error for a request whose retries were given up; `why` says how many attempts were made.
fn exhausted(
    request: &Request,
    last: &Result<Response, TransportError>,
    why: &str,
) -> ConnectorError {
    let method = request.method.as_str();
    let endpoint = endpoint(request);
    match last {
        Ok(response) => {
            let mut err = upstream_error(response);
            err.message = format!("{} ({method} {endpoint}; {why})", err.message);
            if response.status == 429 {
                ConnectorError::RateLimited(err)
            } else {
                ConnectorError::Upstream(err)
            }
        }
        Err(transport) => {
            ConnectorError::Network(format!("{method} {endpoint}: {transport} ({why})"))
        }
    }
}

/// The error for a non-2xx response that [`Retrier::send`] returned without retrying: `429` →
/// [`ConnectorError::RateLimited`], anything else → [`ConnectorError::Upstream`], both with status,
/// Stripe's code and message, and the `Request-Id`.
pub fn error_for_response(response: &Response) -> ConnectorError {
    let err: UpstreamError = upstream_error(response);
    if response.status == 429 {
        ConnectorError::RateLimited(err)
    } else {
        ConnectorError::Upstream(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{FakeClock, Replies, Serve};
    use crate::transport::Method;
    use alloc::collections::VecDeque;
    use proptest::prelude::*;

    #[test]
    fn seconds_show_one_decimal() {
        let ms = Duration::from_millis;
        assert_eq!(seconds(Duration::ZERO), "0.0 s");
        assert_eq!(seconds(ms(500)), "0.5 s");
        assert_eq!(seconds(ms(2_449)), "2.4 s");
        assert_eq!(seconds(ms(2_450)), "2.5 s");
        assert_eq!(seconds(ms(9_960)), "10.0 s");
        assert_eq!(seconds(Duration::from_secs(60)), "60.0 s");
        assert_eq!(
            seconds(Duration::new(u64::MAX, 0)),
            "18446744073709551615.0 s"
        );
    }

    /// Queued outcomes, then one outcome forever (a storm).
    struct Outcomes {
        queue: VecDeque<Result<Response, TransportError>>,
        then: Option<Result<Response, TransportError>>,
    }

    impl Serve for Outcomes {
        fn serve(&mut self, _request: &Request) -> Result<Response, TransportError> {
            match self.queue.pop_front() {
                Some(o) => o,
                None => self.then.clone().expect("script ran out of responses"),
            }
        }
    }

    /// A scripted upstream and the shared fake clock (advanced by sleeps and, optionally, by each send).
    struct Script {
        http: Replies<Outcomes>,
        clock: FakeClock,
    }

    impl Script {
        fn new(outcomes: Vec<Result<Response, TransportError>>) -> Self {
            Script {
                http: Replies::new(Outcomes {
                    queue: outcomes.into(),
                    then: None,
                }),
                clock: FakeClock::new(),
            }
        }
        fn storm(outcome: Result<Response, TransportError>) -> Self {
            let mut s = Script::new(Vec::new());
            s.http.serve.then = Some(outcome);
            s
        }
        fn send_latency(&mut self, latency: Duration) {
            self.http.latency = Some((self.clock.time.clone(), latency));
        }
    }

    fn resp(status: u16) -> Response {
        let body = match status {
            200..=299 => br#"{"object":"list","data":[]}"#.to_vec(),
            429 => br#"{"error":{"type":"invalid_request_error","code":"rate_limit","message":"Request rate limit exceeded."}}"#.to_vec(),
            409 => br#"{"error":{"type":"invalid_request_error","code":"lock_timeout","message":"Conflict."}}"#.to_vec(),
            _ => br#"{"error":{"type":"api_error","message":"Something went wrong on Stripe's end."}}"#.to_vec(),
        };
        Response {
            status,
            request_id: Some(format!("req_{status}")),
            body,
            ..Default::default()
        }
    }

    fn with_should_retry(mut r: Response, v: bool) -> Response {
        r.should_retry = Some(v);
        r
    }

    fn get() -> Request {
        Request {
            method: Method::Get,
            path_and_query: "/v1/customers?limit=100&email=secret%40example.com".into(),
        }
    }

    fn run(script: &mut Script, policy: &RetryPolicy) -> Result<Response, ConnectorError> {
        let mut retrier = Retrier::new(policy.clone());
        retrier.send(&mut script.http, &mut script.clock, &get())
    }

    fn assert_sleeps_in_bounds(policy: &RetryPolicy, sleeps: &[Duration]) {
        for (i, s) in sleeps.iter().enumerate() {
            let (lo, hi) = policy.backoff_bounds(i as u32 + 1);
            assert!(
                lo <= *s && *s <= hi,
                "sleep {i}: {s:?} not in {lo:?}..={hi:?}"
            );
        }
    }

    #[test]
    fn send_all_starts_every_request_at_once_and_keeps_their_order() {
        // Three endpoints: one fine, one refused once with 429 then fine, one in a 503 storm.
        let mut refused_once = false;
        let serve = move |r: &Request| {
            Ok(match r.path_and_query.as_str() {
                "/v1/payouts?limit=1" if !refused_once => {
                    refused_once = true;
                    resp(429)
                }
                "/v1/charges?limit=1" => resp(503),
                _ => resp(200),
            })
        };
        let mut http = Replies::new(serve);
        let mut clock = FakeClock::new();
        let requests: Vec<Request> = ["customers", "charges", "payouts"]
            .iter()
            .map(|table| Request {
                method: Method::Get,
                path_and_query: format!("/v1/{table}?limit=1"),
            })
            .collect();
        let mut retrier = Retrier::new(RetryPolicy::default());
        let outcomes = retrier.send_all(&mut http, &mut clock, &requests);
        assert_eq!(outcomes.len(), 3);
        assert_eq!(outcomes[0].as_ref().map(|r| r.status), Ok(200));
        let storm = outcomes[1].as_ref().expect_err("the storm is given up on");
        assert!(
            storm
                .to_string()
                .contains("GET /v1/charges; gave up after 5 attempts"),
            "{storm}"
        );
        assert_eq!(outcomes[2].as_ref().map(|r| r.status), Ok(200));
        // All three were out at once; then 1 + 4 retries of charges and 1 of payouts.
        assert_eq!(http.most_outstanding, 3);
        assert_eq!(http.started, 3 + 4 + 1);
        // The retries' waits overlap: payouts' retry went out with charges' first, so the clock slept
        // only charges' four waits.
        assert_eq!(clock.sleeps.len(), 4, "{:?}", clock.sleeps);
        assert_sleeps_in_bounds(&RetryPolicy::default(), &clock.sleeps);
    }

    #[test]
    fn send_all_of_nothing_sends_nothing() {
        let mut http = Replies::new(|_: &Request| Ok(resp(200)));
        let mut clock = FakeClock::new();
        let mut retrier = Retrier::new(RetryPolicy::default());
        assert!(retrier.send_all(&mut http, &mut clock, &[]).is_empty());
        assert_eq!(http.started, 0);
    }

    #[test]
    fn default_policy_matches_the_design() {
        let p = RetryPolicy::default();
        assert_eq!(p.max_attempts, 5);
        assert_eq!(p.initial_backoff, Duration::from_millis(500));
        assert_eq!(p.max_backoff, Duration::from_secs(5));
        let bounds: Vec<_> = (1..=6).map(|n| p.backoff_bounds(n)).collect();
        let ms = |a: u64, b: u64| (Duration::from_millis(a), Duration::from_millis(b));
        assert_eq!(
            bounds,
            vec![
                ms(500, 500),
                ms(500, 1000),
                ms(1000, 2000),
                ms(2000, 4000),
                ms(2500, 5000),
                ms(2500, 5000)
            ]
        );
    }

    #[test]
    fn three_leading_429s_with_should_retry_true_then_success() {
        let r429 = || Ok(with_should_retry(resp(429), true));
        let mut s = Script::new(vec![r429(), r429(), r429(), Ok(resp(200))]);
        let policy = RetryPolicy::default();
        let got = run(&mut s, &policy).expect("success after retries");
        assert_eq!(got.status, 200);
        assert_eq!(s.http.started, 4);
        assert_eq!(s.clock.sleeps.len(), 3);
        assert_sleeps_in_bounds(&policy, &s.clock.sleeps);
        assert_eq!(s.clock.sleeps[0], Duration::from_millis(500));
    }

    #[test]
    fn should_retry_false_is_never_retried() {
        for status in [500, 503, 429, 409] {
            let mut s = Script::new(vec![
                Ok(with_should_retry(resp(status), false)),
                Ok(resp(200)),
            ]);
            let got = run(&mut s, &RetryPolicy::default()).expect("returned to the caller");
            assert_eq!(got.status, status);
            assert_eq!(
                got.request_id.as_deref(),
                Some(format!("req_{status}").as_str())
            );
            assert_eq!(s.http.started, 1);
            assert!(s.clock.sleeps.is_empty());
            let err = error_for_response(&got);
            assert_eq!(
                err.kind(),
                if status == 429 {
                    "rate-limited"
                } else {
                    "upstream"
                }
            );
            assert!(err.to_string().contains(&format!("req_{status}")), "{err}");
        }
    }

    #[test]
    fn should_retry_true_retries_a_status_not_otherwise_retried() {
        let mut s = Script::new(vec![Ok(with_should_retry(resp(400), true)), Ok(resp(200))]);
        assert_eq!(
            run(&mut s, &RetryPolicy::default()).expect("ok").status,
            200
        );
        assert_eq!(s.http.started, 2);
    }

    #[test]
    fn success_is_never_retried_even_when_marked() {
        let mut s = Script::new(vec![Ok(with_should_retry(resp(200), true))]);
        assert_eq!(
            run(&mut s, &RetryPolicy::default()).expect("ok").status,
            200
        );
        assert_eq!(s.http.started, 1);
    }

    #[test]
    fn ordinary_client_errors_are_returned_untouched() {
        for status in [400, 401, 403, 404] {
            let mut s = Script::new(vec![Ok(resp(status))]);
            assert_eq!(
                run(&mut s, &RetryPolicy::default()).expect("ok").status,
                status
            );
            assert_eq!(s.http.started, 1);
        }
    }

    #[test]
    fn rate_limit_storm_gives_up_within_attempts_and_budget() {
        let policy = RetryPolicy::default();
        let mut s = Script::storm(Ok(resp(429)));
        s.send_latency(Duration::from_millis(200));
        let start = s.clock.time.get();
        let err = run(&mut s, &policy).expect_err("storm");
        assert_eq!(s.http.started, policy.max_attempts);
        assert_eq!(s.clock.sleeps.len() as u32, policy.max_attempts - 1);
        assert!(s.clock.time.get() - start <= policy.total_budget);
        let ConnectorError::RateLimited(up) = &err else {
            panic!("{err:?}")
        };
        assert_eq!(up.status, Some(429));
        assert_eq!(up.code.as_deref(), Some("rate_limit"));
        assert_eq!(up.request_id.as_deref(), Some("req_429"));
        let msg = err.to_string();
        assert!(msg.contains("gave up after 5 attempts"), "{msg}");
        assert!(msg.contains("req_429") && msg.contains("HTTP 429"), "{msg}");
        assert!(msg.contains("GET /v1/customers"), "{msg}");
        assert!(
            !msg.contains("secret%40example.com"),
            "query string leaked: {msg}"
        );
    }

    #[test]
    fn lock_timeout_and_conflict_are_retried() {
        let mut lock = resp(429);
        lock.body = br#"{"error":{"type":"invalid_request_error","code":"lock_timeout","message":"locked"}}"#.to_vec();
        let mut s = Script::new(vec![Ok(lock), Ok(resp(409)), Ok(resp(200))]);
        assert_eq!(
            run(&mut s, &RetryPolicy::default()).expect("ok").status,
            200
        );
        assert_eq!(s.http.started, 3);
    }

    #[test]
    fn retry_after_is_honoured_and_capped() {
        let mut r = resp(429);
        r.retry_after = Some(Duration::from_secs(7));
        let mut s = Script::new(vec![Ok(r), Ok(resp(200))]);
        run(&mut s, &RetryPolicy::default()).expect("ok");
        assert_eq!(s.clock.sleeps, vec![Duration::from_secs(7)]);

        let mut r = resp(503);
        r.retry_after = Some(Duration::from_secs(3600));
        let mut s = Script::new(vec![Ok(r), Ok(resp(200))]);
        run(&mut s, &RetryPolicy::default()).expect("ok");
        assert_eq!(s.clock.sleeps, vec![Duration::from_secs(30)]);

        // Past 64 bits (the transport reads it as the longest wait there is): the cap too.
        let mut r = resp(503);
        r.retry_after = klairr_connector_sdk::transport::retry_after("99999999999999999999");
        let mut s = Script::new(vec![Ok(r), Ok(resp(200))]);
        run(&mut s, &RetryPolicy::default()).expect("ok");
        assert_eq!(s.clock.sleeps, vec![Duration::from_secs(30)]);

        // A Retry-After shorter than the backoff does not shorten the backoff.
        let mut r = resp(429);
        r.retry_after = Some(Duration::from_millis(1));
        let mut s = Script::new(vec![Ok(resp(429)), Ok(r), Ok(resp(200))]);
        s.clock.random = u64::MAX;
        run(&mut s, &RetryPolicy::default()).expect("ok");
        assert_eq!(s.clock.sleeps[1], Duration::from_secs(1));
    }

    #[test]
    fn retry_after_beyond_the_budget_stops_at_once() {
        let policy = RetryPolicy {
            total_budget: Duration::from_secs(20),
            ..RetryPolicy::default()
        };
        let mut r = resp(429);
        r.retry_after = Some(Duration::from_secs(25));
        let mut s = Script::storm(Ok(r));
        let err = run(&mut s, &policy).expect_err("over budget");
        assert_eq!(s.http.started, 1);
        assert!(
            s.clock.sleeps.is_empty(),
            "must not sleep into a wait it cannot finish"
        );
        assert_eq!(err.kind(), "rate-limited");
        let msg = err.to_string();
        assert!(
            msg.contains("gave up after 1 attempt:") && msg.contains("retry budget"),
            "{msg}"
        );
    }

    #[test]
    fn server_error_then_success() {
        let mut s = Script::new(vec![Ok(resp(502)), Ok(resp(500)), Ok(resp(200))]);
        assert_eq!(
            run(&mut s, &RetryPolicy::default()).expect("ok").status,
            200
        );
        assert_eq!(s.http.started, 3);
        assert_eq!(s.clock.sleeps.len(), 2);
    }

    #[test]
    fn server_error_storm_is_upstream_with_the_last_request_id() {
        let mut s = Script::new(vec![Ok(resp(500)), Ok(resp(500)), Ok(resp(500))]);
        s.http.serve.then = Some(Ok(resp(503)));
        let err = run(&mut s, &RetryPolicy::default()).expect_err("storm");
        let ConnectorError::Upstream(up) = &err else {
            panic!("{err:?}")
        };
        assert_eq!(up.status, Some(503));
        assert_eq!(up.request_id.as_deref(), Some("req_503"));
        assert!(
            err.to_string().contains("gave up after 5 attempts"),
            "{err}"
        );
    }

    #[test]
    fn connection_errors_and_timeouts_are_retried() {
        let mut s = Script::new(vec![
            Err(TransportError::Connection("reset".into())),
            Err(TransportError::Timeout("30 s".into())),
            Ok(resp(200)),
        ]);
        assert_eq!(
            run(&mut s, &RetryPolicy::default()).expect("ok").status,
            200
        );
        assert_eq!(s.http.started, 3);

        let mut s = Script::storm(Err(TransportError::Connection("refused".into())));
        let err = run(&mut s, &RetryPolicy::default()).expect_err("storm");
        assert_eq!(err.kind(), "network");
        assert!(
            err.to_string().contains("gave up after 5 attempts"),
            "{err}"
        );
    }

    #[test]
    fn denied_and_oversized_bodies_are_final() {
        for (e, kind) in [
            (
                TransportError::Denied("api.stripe.com is not allowed".into()),
                "network",
            ),
            (
                TransportError::BodyTooLarge {
                    limit: 8,
                    status: 200,
                    request_id: Some("req_big".into()),
                },
                "upstream",
            ),
        ] {
            let mut s = Script::new(vec![Err(e), Ok(resp(200))]);
            let err = run(&mut s, &RetryPolicy::default()).expect_err("final");
            assert_eq!(err.kind(), kind);
            if kind == "upstream" {
                assert!(
                    matches!(&err, ConnectorError::Upstream(u) if u.request_id.as_deref() == Some("req_big") && u.status == Some(200)),
                    "{err:?}"
                );
            }
            assert_eq!(s.http.started, 1);
            assert!(s.clock.sleeps.is_empty());
            assert!(err.to_string().contains("not retried"), "{err}");
        }
    }

    #[test]
    fn zero_attempts_means_one() {
        let policy = RetryPolicy {
            max_attempts: 0,
            ..RetryPolicy::default()
        };
        let mut s = Script::storm(Ok(resp(500)));
        let err = run(&mut s, &policy).expect_err("one attempt");
        assert_eq!(s.http.started, 1);
        assert!(err.to_string().contains("gave up after 1 attempt"), "{err}");
    }

    #[test]
    fn budget_is_shared_by_every_send_of_a_query() {
        let policy = RetryPolicy {
            total_budget: Duration::from_secs(10),
            ..RetryPolicy::default()
        };
        let req = get();
        // Every page needs three retries first: 0.5 + 1 + 2 = 3.5 s (random = max) of waiting each.
        let page = || vec![Ok(resp(429)), Ok(resp(429)), Ok(resp(429)), Ok(resp(200))];
        let mut s = Script::new(page().into_iter().chain(page()).chain(page()).collect());
        s.clock.random = u64::MAX;
        s.send_latency(Duration::from_millis(100));
        let start = s.clock.time.get();
        let mut retrier = Retrier::new(policy.clone());
        assert_eq!(
            retrier
                .send(&mut s.http, &mut s.clock, &req)
                .expect("page 1")
                .status,
            200
        );
        assert_eq!(
            retrier
                .send(&mut s.http, &mut s.clock, &req)
                .expect("page 2")
                .status,
            200
        );
        let err = retrier
            .send(&mut s.http, &mut s.clock, &req)
            .expect_err("page 3 runs out of budget");
        assert_eq!(err.kind(), "rate-limited");
        assert!(
            retrier.spent() <= policy.total_budget,
            "{:?}",
            retrier.spent()
        );
        let slept: Duration = s.clock.sleeps.iter().sum();
        assert!(slept <= policy.total_budget, "{slept:?}");
        // Only the failed attempts and waits are charged, not the successful pages.
        assert!(s.clock.time.get() - start > retrier.spent());
    }

    #[test]
    fn successful_requests_do_not_use_the_budget() {
        let policy = RetryPolicy {
            total_budget: Duration::from_secs(1),
            ..RetryPolicy::default()
        };
        let req = get();
        let mut s = Script::storm(Ok(resp(200)));
        s.send_latency(Duration::from_secs(5));
        let mut retrier = Retrier::new(policy.clone());
        for _ in 0..20 {
            retrier.send(&mut s.http, &mut s.clock, &req).expect("ok");
        }
        assert_eq!(retrier.spent(), Duration::ZERO);
    }

    proptest! {
        #[test]
        fn jitter_stays_within_bounds(retry in 1u32..40, random in any::<u64>()) {
            let p = RetryPolicy::default();
            let (lo, hi) = p.backoff_bounds(retry);
            let d = p.backoff(retry, random);
            prop_assert!(lo <= d && d <= hi, "{:?} not in {:?}..={:?}", d, lo, hi);
            prop_assert!(d >= p.initial_backoff && d <= p.max_backoff);
        }

        #[test]
        fn odd_policies_never_panic(
            initial_ms in 0u64..100_000,
            max_ms in 0u64..100_000,
            retry in any::<u32>(),
            random in any::<u64>(),
        ) {
            let p = RetryPolicy {
                initial_backoff: Duration::from_millis(initial_ms),
                max_backoff: Duration::from_millis(max_ms),
                ..RetryPolicy::default()
            };
            let (lo, hi) = p.backoff_bounds(retry);
            let d = p.backoff(retry, random);
            prop_assert!(lo <= d && d <= hi);
        }

        #[test]
        fn every_sleep_is_a_jittered_backoff(randoms in proptest::collection::vec(any::<u64>(), 4)) {
            let policy = RetryPolicy::default();
            let mut s = Script::storm(Ok(resp(500)));
            s.clock.randoms = randoms.clone().into();
            let err = run(&mut s, &policy);
            prop_assert!(err.is_err());
            prop_assert_eq!(s.clock.sleeps.len(), 4);
            for (i, d) in s.clock.sleeps.iter().enumerate() {
                let retry = i as u32 + 1;
                let (lo, hi) = policy.backoff_bounds(retry);
                prop_assert!(lo <= *d && *d <= hi);
                prop_assert_eq!(*d, policy.backoff(retry, randoms[i]));
            }
        }
    }
}
