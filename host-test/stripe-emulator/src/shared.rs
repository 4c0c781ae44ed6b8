//! Everything a connection handler needs around the [`Router`]: Stripe's rate limits, injected
//! faults, latency, the request log and request ids. Free of sockets, like the router.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::limiter::{Limiter, RateLimit, Refusal};
use crate::router::{bearer, endpoint, error, mask, ListMode, Req, Resp, Router, ACCOUNT};
use crate::{Fault, RecordedRequest, RequestLog};

struct FaultEntry {
    prefix: String,
    fault: Fault,
    left: usize,
}

/// A request's start, counted the moment its head arrived.
pub(crate) struct Admission {
    arrived: Instant,
    endpoint: Option<String>,
    /// The rate limit that refused it, if one did.
    refused: Option<Refusal>,
}

/// Router + rate limits + faults + request log + latency: everything a connection handler needs.
pub(crate) struct Shared {
    pub router: Router,
    limiter: Mutex<Limiter>,
    faults: Mutex<VecDeque<FaultEntry>>,
    log: Mutex<Vec<RecordedRequest>>,
    request_log: RequestLog,
    latency_ns: AtomicU64,
    next_id: AtomicU64,
    salt: u64,
    in_flight: AtomicUsize,
    peak_in_flight: AtomicUsize,
}

/// One request in flight, from its start until its response is handed to the connection.
pub(crate) struct InFlight<'a>(&'a Shared);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    pub(crate) fn new(router: Router, salt: u64, request_log: RequestLog) -> Shared {
        Shared {
            router,
            limiter: Mutex::new(Limiter::default()),
            faults: Mutex::new(VecDeque::new()),
            log: Mutex::new(Vec::new()),
            request_log,
            latency_ns: AtomicU64::new(0),
            next_id: AtomicU64::new(1),
            salt,
            in_flight: AtomicUsize::new(0),
            peak_in_flight: AtomicUsize::new(0),
        }
    }

    /// Enforce `limit` from now on (`None`: no limits), with empty windows.
    pub(crate) fn set_rate_limit(&self, limit: Option<RateLimit>) {
        lock(&self.limiter).set(limit);
    }

    /// Count one more request in flight until the returned guard drops.
    pub(crate) fn in_flight(&self) -> InFlight<'_> {
        let now = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak_in_flight.fetch_max(now, Ordering::Relaxed);
        InFlight(self)
    }

    /// The most requests in flight at once since the start or [`Shared::clear_requests`].
    pub(crate) fn peak_in_flight(&self) -> usize {
        self.peak_in_flight.load(Ordering::Relaxed)
    }

    pub(crate) fn push_fault(&self, prefix: &str, fault: Fault, times: usize) {
        if times > 0 {
            lock(&self.faults).push_back(FaultEntry {
                prefix: prefix.to_string(),
                fault,
                left: times,
            });
        }
    }

    pub(crate) fn set_latency(&self, d: Duration) {
        self.latency_ns.store(
            u64::try_from(d.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    pub(crate) fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.log).clone()
    }

    pub(crate) fn clear_requests(&self) {
        lock(&self.log).clear();
        self.peak_in_flight
            .store(self.in_flight.load(Ordering::Relaxed), Ordering::Relaxed);
    }

    /// A unique `req_…` id (SplitMix64 is a bijection, so distinct counters give distinct ids).
    pub(crate) fn request_id(&self) -> String {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        format!(
            "req_{}",
            crate::rng::base62(crate::rng::splitmix(n ^ self.salt), 14)
        )
    }

    fn take_fault(&self, path: &str) -> Option<Fault> {
        let mut faults = lock(&self.faults);
        let i = faults.iter().position(|f| path.starts_with(&f.prefix))?;
        let entry = &mut faults[i];
        entry.left -= 1;
        let fault = entry.fault.clone();
        if entry.left == 0 {
            faults.remove(i);
        }
        Some(fault)
    }

    /// Count a request's start, from its head alone (before its body is read): the time and the
    /// limiter's verdict are taken under the limiter's lock, so starts are timed and counted in
    /// the order they are admitted. Requests Stripe could not attribute to the account (no key,
    /// an unknown key) or that name no endpoint are not counted.
    pub(crate) fn admit(&self, req: &Req) -> Admission {
        let endpoint = endpoint(&req.method, &req.path);
        let grant = req
            .authorization
            .as_deref()
            .and_then(|h| self.router.keys.get(bearer(h)));
        let mut limiter = lock(&self.limiter);
        let arrived = Instant::now();
        let refused = match (grant, &endpoint) {
            (Some(g), Some(e)) => limiter.admit(g.livemode, e, arrived),
            _ => None,
        };
        Admission {
            arrived,
            endpoint,
            refused,
        }
    }

    /// Admit and answer one request; returns the response and how long to wait before sending
    /// it (the socket-free path the tests drive).
    #[cfg(test)]
    pub(crate) fn respond(&self, req: &Req) -> (Resp, Duration) {
        let admission = self.admit(req);
        self.answer(req, admission)
    }

    /// Answer an admitted request: Stripe's 429 if a rate limit refused it (no fault is used
    /// up), else the next matching fault or the router's answer. Logs it; returns the response
    /// and how long to wait before sending it.
    pub(crate) fn answer(&self, req: &Req, admission: Admission) -> (Resp, Duration) {
        let mut delay = Duration::from_nanos(self.latency_ns.load(Ordering::Relaxed));
        let key = req.authorization.as_deref().map(bearer);
        let fault = match admission.refused {
            Some(_) => None,
            None => self.take_fault(&req.path),
        };
        let mut resp = match fault {
            None => match admission.refused {
                Some(refusal) => rate_limited(refusal, key.is_some_and(|k| k.contains("_test_"))),
                None => self.router.route(req, ListMode::default()),
            },
            Some(Fault::Latency(d)) => {
                delay += d;
                self.router.route(req, ListMode::default())
            }
            Some(Fault::HasMoreLoop) => self.router.route(req, ListMode { loop_page: true }),
            Some(Fault::EmptyPageHasMore) => {
                let url = serde_json::to_string(&req.path).unwrap_or_else(|_| "\"\"".into());
                Resp::ok(
                    format!("{{\"object\":\"list\",\"data\":[],\"has_more\":true,\"url\":{url}}}")
                        .into_bytes(),
                )
            }
            Some(Fault::BrokenJson) => {
                let full = self.router.route(req, ListMode::default());
                let mut body = if full.status == 200 && full.body.len() > 2 {
                    full.body
                } else {
                    b"{\"object\":\"list\",\"data\":[{\"id\":\"cus_".to_vec()
                };
                let cut = (body.len() / 2).max(1);
                body.truncate(cut);
                Resp::ok(body)
            }
            Some(Fault::OversizedBody(n)) => Resp::ok(oversized(n)),
            Some(Fault::Status {
                status,
                should_retry,
                retry_after,
                code,
            }) => {
                let test = key.is_some_and(|k| k.contains("_test_"));
                let mut r = status_error(status, code.as_deref(), test);
                r.should_retry = should_retry;
                r.retry_after = retry_after;
                r
            }
        };
        if resp.status != 200 {
            if let Some(k) = key.filter(|k| k.len() >= 8) {
                scrub(&mut resp.body, k);
            }
        }
        // Path and query are logged as received, except that a key pasted into them is masked.
        let clean = |s: &str| match key.filter(|k| k.len() >= 8 && s.contains(*k)) {
            Some(k) => s.replace(k, &mask(k, "****")),
            None => s.to_string(),
        };
        let recorded = RecordedRequest {
            method: req.method.clone(),
            path: clean(&req.path),
            query: clean(&req.query),
            host: req.host.clone(),
            content_length: req.content_length.clone(),
            stripe_version: req.stripe_version.clone(),
            key_hint: key.map(|k| mask(k, "…")),
            status: resp.status,
            arrived: admission.arrived,
            endpoint: admission.endpoint,
            rate_limited: resp.rate_limited,
        };
        match &self.request_log {
            RequestLog::Keep => lock(&self.log).push(recorded),
            RequestLog::Send(to) => to.send(recorded),
            RequestLog::Off => {}
        }
        (resp, delay)
    }
}

/// Replace every occurrence of `key` in `body` with its mask.
fn scrub(body: &mut Vec<u8>, key: &str) {
    let k = key.as_bytes();
    if body.windows(k.len()).any(|w| w == k) {
        let text = String::from_utf8_lossy(body).replace(key, &mask(key, "****"));
        *body = text.into_bytes();
    }
}

/// A valid-looking 200 list body of exactly `n` bytes (spaces when `n` is too small for JSON).
fn oversized(n: usize) -> Vec<u8> {
    let head = b"{\"object\":\"list\",\"data\":[],\"has_more\":false,\"url\":\"/v1/oversized\",\"padding\":\"";
    let tail = b"\"}";
    if n < head.len() + tail.len() {
        return vec![b' '; n];
    }
    let mut out = Vec::with_capacity(n);
    out.extend_from_slice(head);
    out.resize(n - tail.len(), b'x');
    out.extend_from_slice(tail);
    out
}

fn status_error(status: u16, code: Option<&str>, test: bool) -> Resp {
    let (typ, message) = match (status, code) {
        (429, Some("lock_timeout")) => ("invalid_request_error", "This object cannot be accessed right now because another API request or Stripe process is currently accessing it. If you see this error intermittently, retry the request. If you see this error frequently and are making multiple concurrent requests to a single object, make your requests serially or at a lower rate.".to_string()),
        (429, _) => (
            "invalid_request_error",
            format!(
                "{}equest rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.",
                if test { "Testmode r" } else { "R" }
            ),
        ),
        (409, _) => ("idempotency_error", "There is currently another in-progress request using this Idempotent Key (that probably means you submitted twice, and the other request is still going through). Please retry your request at a later time.".to_string()),
        (401, _) => ("invalid_request_error", "Invalid API Key provided: ****".to_string()),
        (403, _) => ("invalid_request_error", format!("The provided key does not have the required permissions for this endpoint on account '{ACCOUNT}'.")),
        (404, _) => ("invalid_request_error", "No such object.".to_string()),
        (s, _) if s >= 500 => ("api_error", "An unknown error occurred".to_string()),
        _ => ("invalid_request_error", format!("Simulated error (HTTP {status}).")),
    };
    error(status, typ, code, &message, None)
}

/// Stripe's answer to a request over a rate limit: 429, `rate_limit`, the header naming the
/// limit, and neither `Stripe-Should-Retry` nor `Retry-After` (Stripe sends neither on a 429).
fn rate_limited(refusal: Refusal, test: bool) -> Resp {
    let mut r = status_error(429, Some("rate_limit"), test);
    r.rate_limited = Some(refusal.reason());
    r
}
