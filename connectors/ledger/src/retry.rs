//! One GET to the ledger API with retries, and what a final failure means.
//!
//! Retried: 429 and 5xx answers, timeouts and broken connections — at most [`RetryPolicy::attempts`]
//! tries per request, waiting an exponential backoff with jitter (at least `retry-after`, capped), and at
//! most [`RetryPolicy::wait_budget`] of waiting per call. Never retried: the host's denial, a body over the
//! cap, and every other status. A final failure maps to the contract's kinds: 401 → `invalid-key`, 403 →
//! `missing-permission` (the table), 429 → `rate-limited`, anything else → `upstream` (status, code and
//! request id quoted), no response → `network`.

use crate::api;
use crate::error::ConnectorError;
use crate::schema::Table;
use crate::transport::{Clock, Http, Request, Response, TransportError};
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries per request, the first included.
    pub attempts: u32,
    /// The first backoff; doubled on each retry up to `max_backoff`.
    pub base: Duration,
    pub max_backoff: Duration,
    /// The longest `retry-after` honoured.
    pub max_retry_after: Duration,
    /// The most time one call spends waiting between tries.
    pub wait_budget: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            base: Duration::from_millis(200),
            max_backoff: Duration::from_secs(4),
            max_retry_after: Duration::from_secs(20),
            wait_budget: Duration::from_secs(30),
        }
    }
}

/// Sends the requests of one call, counting them and the time spent waiting.
pub struct Caller<'a, H: Http + ?Sized, C: Clock + ?Sized> {
    pub http: &'a mut H,
    clock: &'a mut C,
    policy: RetryPolicy,
    /// Requests started, retries included.
    pub requests: u32,
    waited: Duration,
    /// Names the key in messages (the host's hint, `lk_test_…abcd`).
    hint: &'a str,
}

impl<'a, H: Http + ?Sized, C: Clock + ?Sized> Caller<'a, H, C> {
    pub fn new(http: &'a mut H, clock: &'a mut C, policy: RetryPolicy, hint: &'a str) -> Self {
        Caller {
            http,
            clock,
            policy,
            requests: 0,
            waited: Duration::ZERO,
            hint,
        }
    }

    /// GET `path_and_query` (a list of `table`) until it succeeds, retries run out, or it fails for good.
    pub fn get(&mut self, table: Table, path_and_query: &str) -> Result<Response, ConnectorError> {
        let request = Request::get(path_and_query);
        let mut attempt = 1;
        loop {
            self.requests = self.requests.saturating_add(1);
            // Only what is worth another try gets past this match.
            let outcome = match self.http.send(&request) {
                Ok(r) if (200..300).contains(&r.status) => return Ok(r),
                Ok(r) if r.status == 429 || (500..600).contains(&r.status) => Ok(r),
                Ok(r) => return Err(self.final_status(table, &r)),
                Err(e) if e.is_retryable() => Err(e),
                Err(e) => return Err(transport(&e)),
            };
            let retry_after = outcome.as_ref().ok().and_then(|r| r.retry_after);
            let wait = self.backoff(attempt, retry_after);
            if attempt >= self.policy.attempts || self.waited + wait > self.policy.wait_budget {
                return match outcome {
                    Ok(r) => Err(self.final_status(table, &r)),
                    Err(e) => Err(transport(&e)),
                };
            }
            self.clock.sleep(wait);
            self.waited += wait;
            attempt += 1;
        }
    }

    /// `base * 2^(attempt-1)` capped, with jitter in its upper half; at least `retry-after` (capped).
    fn backoff(&mut self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let exp = self
            .policy
            .base
            .saturating_mul(1u32 << (attempt - 1).min(16))
            .min(self.policy.max_backoff);
        let half = exp / 2;
        let span = u64::try_from(half.as_millis()).unwrap_or(u64::MAX).max(1);
        let jittered = half + Duration::from_millis(self.clock.random_u64() % span);
        jittered.max(
            retry_after
                .unwrap_or_default()
                .min(self.policy.max_retry_after),
        )
    }

    fn final_status(&self, table: Table, response: &Response) -> ConnectorError {
        let upstream = api::upstream_error(response);
        match response.status {
            401 => ConnectorError::InvalidKey(format!(
                "the ledger does not accept the key {} (HTTP 401: {}): check that it is a current read key \
                 of this ledger, or create a new one",
                self.hint, upstream.message
            )),
            403 => ConnectorError::MissingPermission(vec![table.name().to_owned()]),
            429 => ConnectorError::RateLimited(upstream),
            _ => ConnectorError::Upstream(upstream),
        }
    }
}

fn transport(e: &TransportError) -> ConnectorError {
    match e {
        TransportError::Denied(m) => ConnectorError::Network(format!(
            "{m}: the request is outside this connector's manifest"
        )),
        TransportError::BodyTooLarge {
            limit,
            status,
            request_id,
        } => ConnectorError::upstream(
            format!("the ledger's response body is larger than the connector's {limit}-byte cap"),
            Some(*status),
            request_id.as_deref(),
        ),
        TransportError::Timeout(_) | TransportError::Connection(_) => {
            ConnectorError::Network(format!("the ledger could not be reached: {e}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{FakeClock, Scripted};
    use crate::transport::MAX_BODY_BYTES;

    fn reply(status: u16) -> Result<Response, TransportError> {
        Ok(Response {
            status,
            request_id: Some(format!("req_{status}")),
            should_retry: None,
            retry_after: None,
            body: br#"{"data":[],"next_cursor":null}"#.to_vec(),
        })
    }

    fn run(
        replies: Vec<Result<Response, TransportError>>,
    ) -> (Result<Response, ConnectorError>, u32, FakeClock) {
        let mut http = Scripted::new(replies);
        let mut clock = FakeClock::default();
        let mut caller = Caller::new(
            &mut http,
            &mut clock,
            RetryPolicy::default(),
            "lk_test_…abcd",
        );
        let out = caller.get(Table::Entries, "/v1/entries?limit=1");
        let requests = caller.requests;
        (out, requests, clock)
    }

    #[test]
    fn success_is_one_request() {
        let (out, requests, clock) = run(vec![reply(200)]);
        assert_eq!(out.map(|r| r.status), Ok(200));
        assert_eq!(requests, 1);
        assert!(clock.slept.is_empty());
    }

    #[test]
    fn rate_limits_and_outages_are_retried_with_growing_waits() {
        let broken = Err(TransportError::Connection("reset".into()));
        let (out, requests, clock) = run(vec![reply(429), reply(503), broken, reply(200)]);
        assert_eq!(out.map(|r| r.status), Ok(200));
        assert_eq!(requests, 4);
        assert_eq!(clock.slept.len(), 3);
        for (i, wait) in clock.slept.iter().enumerate() {
            let full = Duration::from_millis(200 << i);
            assert!(*wait >= full / 2 && *wait <= full, "try {i}: {wait:?}");
        }
    }

    #[test]
    fn retry_after_is_honoured_up_to_a_cap() {
        let mut slow = reply(429).expect("reply");
        slow.retry_after = Some(Duration::from_secs(3));
        let mut absurd = slow.clone();
        absurd.retry_after = Some(Duration::from_secs(86_400));
        let (out, _, clock) = run(vec![Ok(slow), Ok(absurd), reply(200)]);
        assert!(out.is_ok());
        assert_eq!(clock.slept[0], Duration::from_secs(3));
        assert_eq!(clock.slept[1], Duration::from_secs(20), "capped");
    }

    #[test]
    fn exhausted_retries_end_typed() {
        let (out, requests, _) = run(vec![reply(429); 4]);
        match out {
            Err(ConnectorError::RateLimited(u)) => {
                assert_eq!(u.status, Some(429));
                assert_eq!(u.request_id.as_deref(), Some("req_429"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(requests, 4, "four tries, no more");

        let (out, _, _) = run(vec![reply(500); 4]);
        assert_eq!(out.map_err(|e| e.kind()), Err("upstream"));

        let timeouts = vec![Err(TransportError::Timeout("first byte".into())); 4];
        let (out, _, _) = run(timeouts);
        let e = out.expect_err("no response");
        assert_eq!(e.kind(), "network");
        assert!(e.to_string().contains("could not be reached"), "{e}");
    }

    #[test]
    fn the_wait_budget_ends_retries_early() {
        let mut slow = reply(503).expect("reply");
        slow.retry_after = Some(Duration::from_secs(20));
        let (out, requests, clock) = run(vec![Ok(slow.clone()), Ok(slow.clone()), Ok(slow)]);
        assert_eq!(out.map_err(|e| e.kind()), Err("upstream"));
        assert_eq!(requests, 2, "a second 20 s wait would pass the 30 s budget");
        assert_eq!(clock.slept, [Duration::from_secs(20)]);
    }

    #[test]
    fn final_statuses_map_to_their_kinds_without_retrying() {
        for (status, kind) in [
            (401, "invalid-key"),
            (403, "missing-permission"),
            (400, "upstream"),
            (404, "upstream"),
        ] {
            let (out, requests, clock) = run(vec![reply(status), reply(200)]);
            let e = out.expect_err("refused");
            assert_eq!(e.kind(), kind, "{status}: {e}");
            assert_eq!(requests, 1, "{status} is not retried");
            assert!(clock.slept.is_empty());
        }
        let (out, _, _) = run(vec![reply(401)]);
        let message = out.expect_err("401").to_string();
        assert!(message.contains("lk_test_…abcd"), "{message}");
        let (out, _, _) = run(vec![reply(403)]);
        assert_eq!(
            out.expect_err("403"),
            ConnectorError::MissingPermission(vec!["entries".into()])
        );
        let denied = Err(TransportError::Denied(
            "the host's policy refused the request".into(),
        ));
        let (out, requests, _) = run(vec![denied, reply(200)]);
        assert_eq!(out.map_err(|e| e.kind()), Err("network"));
        assert_eq!(requests, 1, "a denial is never retried");
        let big = Err(TransportError::BodyTooLarge {
            limit: MAX_BODY_BYTES,
            status: 200,
            request_id: Some("req_big".into()),
        });
        let (out, requests, _) = run(vec![big, reply(200)]);
        assert_eq!(
            out.map_err(|e| e.to_string()),
            Err("ledger error: the ledger's response body is larger than the connector's 4194304-byte cap (HTTP 200, request req_big)".into())
        );
        assert_eq!(requests, 1, "a body over the cap is never retried");
    }
}
