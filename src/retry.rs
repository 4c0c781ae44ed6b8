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
//! The n-th retry (n = 1, 2, …) waits `base = min(initial_backoff × 2ⁿ, max_backoff)` with *equal
//! jitter*: `base/2 + random(0..=base/2)`, and never less than `initial_backoff`. With the defaults
//! (0.5 s, 5 s cap) that is 0.5–1 s, 1–2 s, 2–4 s, 2.5–5 s, 2.5–5 s: the first retry is jittered too,
//! so requests refused together are not sent together again (QA: four setup probes refused at once
//! came back within half a millisecond when the first wait was a flat 0.5 s). A `Retry-After` header raises the wait
//! to at least its value, capped at [`RetryPolicy::max_retry_after`]. Sleeping goes through
//! [`Clock::sleep`] (wasi:clocks in the component) or, in the pager, by
//! doing other work meanwhile: never a busy loop.
//!
//! # Giving up
//! - After [`RetryPolicy::max_attempts`] attempts of one request.
//! - When the next wait would take the query past its [`RetryPolicy::total_budget`]: the time this query
//!   has lost to failed attempts and waits, over every `send` of the same `Retrier`. Waits of requests
//!   outstanding at once (the pager's, a round of probes) overlap: the query loses their union, so
//!   eight requests refused together and waiting a second each cost one second, not eight. A failed
//!   attempt is charged whole.
//!   The check is made *before* sleeping, so the retrier stops at once instead of sleeping into a wait
//!   it cannot finish.
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

    /// `min(initial_backoff × 2^retry, max_backoff)`.
    fn base_backoff(&self, retry: u32) -> Duration {
        let factor = 1u32 << retry.min(31);
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
    /// The end of the latest wait charged (the clock's time): requests refused together wait
    /// together, and the query loses the union of their waits, not their sum. A failed attempt is
    /// charged whole: a stuck request costs its time whatever else waits meanwhile.
    waited_until: Duration,
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
            waited_until: Duration::ZERO,
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

    /// Send every one of `requests` at once, each retried as [`Retrier::send`] retries one, after its
    /// own jittered wait: retries of requests refused together do not go out together again (QA: four
    /// setup probes refused by a rate limit another client filled came back in lockstep, and one ran
    /// out of attempts). The outcomes, in the order of `requests`.
    pub fn send_all<H: Http + ?Sized, C: Clock + ?Sized>(
        &mut self,
        http: &mut H,
        clock: &mut C,
        requests: &[Request],
    ) -> Vec<Result<Response, ConnectorError>> {
        let mut outcomes: Vec<Option<Result<Response, ConnectorError>>> =
            requests.iter().map(|_| None).collect();
        // (request, attempts made, not before): all of them at once first.
        let mut waiting: Vec<(usize, u32, Duration)> = (0..requests.len())
            .map(|i| (i, 0, Duration::ZERO))
            .collect();
        // (ticket, request, attempt number, started).
        let mut flying: Vec<(Ticket, usize, u32, Duration)> = Vec::new();
        loop {
            let now = clock.now();
            // Those due, in the order they were given or refused.
            waiting.retain(|&(i, attempts, due)| {
                let start = due <= now;
                if start {
                    flying.push((http.start(&requests[i]), i, attempts + 1, now));
                }
                !start
            });
            let next = waiting.iter().map(|w| w.2).min();
            if flying.is_empty() {
                let Some(due) = next else { break };
                clock.sleep(due.saturating_sub(now));
                continue;
            }
            // None: time to start a retry, or the transport lost what was outstanding (each is
            // then a network error).
            let Some((ticket, outcome)) = http.wait_any(next.map(|due| due.saturating_sub(now)))
            else {
                if next.is_some() {
                    continue;
                }
                break;
            };
            let Some(at) = flying.iter().position(|f| f.0 == ticket) else {
                continue;
            };
            let (_, i, attempts, started) = flying.swap_remove(at);
            let took = clock.now().saturating_sub(started);
            match self.judge(clock, &requests[i], attempts, took, outcome) {
                Attempt::Done(result) => outcomes[i] = Some(result),
                Attempt::RetryAfter(w) => waiting.push((i, attempts, clock.now() + w)),
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
                let now = clock.now();
                self.spent = self.spent.saturating_add(took);
                if attempts >= self.policy.max_attempts.max(1) {
                    let why = format!("gave up after {attempts} {}", plural(attempts));
                    Err(exhausted(request, &outcome, &why))
                } else {
                    let retry_after = outcome.as_ref().ok().and_then(|r| r.retry_after);
                    let wait = self.wait_before_retry(attempts, retry_after, clock);
                    let remaining = self.policy.total_budget.saturating_sub(self.spent);
                    // Only the part of the wait no other request's already covers is lost.
                    if self.uncharged_wait(now, wait) > remaining {
                        let why = format!(
                            "gave up after {attempts} {}: waiting {} more would exceed this call's {} retry budget",
                            plural(attempts),
                            seconds(wait),
                            seconds(self.policy.total_budget)
                        );
                        Err(exhausted(request, &outcome, &why))
                    } else {
                        self.charge_wait(now, wait);
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

    /// Charge a wait from `now`: only the part no earlier wait already covers. Waits are judged in
    /// the clock's order, so the end of the latest one is all that needs remembering.
    fn charge_wait(&mut self, now: Duration, wait: Duration) {
        self.spent = self.spent.saturating_add(self.uncharged_wait(now, wait));
        self.waited_until = self.waited_until.max(now + wait);
    }

    /// What [`Retrier::charge_wait`] would add.
    fn uncharged_wait(&self, now: Duration, wait: Duration) -> Duration {
        (now + wait).saturating_sub(now.max(self.waited_until))
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
mod tests;
