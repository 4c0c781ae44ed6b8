//! The fakes every unit test shares: one clock ([`FakeClock`]), one way to answer requests from a
//! function ([`Replies`]), and a fake Stripe list with irregular creation times ([`FakeStripe`]) that
//! answers `limit`, `starting_after` and `created[gt|gte|lt|lte]` like Stripe and can overlap requests
//! with latency, so the pager's concurrency is tested without a network.

use crate::schema::Table;
use crate::transport::{Clock, Completion, Http, Request, Response, Ticket, TransportError};
use std::cell::Cell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

/// The fake time shared by a [`FakeClock`] and the fakes that take time to answer.
pub type Time = Rc<Cell<Duration>>;

/// A clock that moves only when slept on (or when a fake with latency answers), records every sleep,
/// and hands out scripted random numbers.
pub struct FakeClock {
    pub time: Time,
    pub sleeps: Vec<Duration>,
    /// Random numbers handed out first, then `random` forever.
    pub randoms: VecDeque<u64>,
    pub random: u64,
}

impl FakeClock {
    pub fn new() -> Self {
        FakeClock {
            time: Rc::new(Cell::new(Duration::from_secs(1000))),
            sleeps: Vec::new(),
            randoms: VecDeque::new(),
            random: u64::MAX / 2,
        }
    }
}

impl Clock for FakeClock {
    fn sleep(&mut self, duration: Duration) {
        self.sleeps.push(duration);
        self.time.set(self.time.get() + duration);
    }
    fn now(&mut self) -> Duration {
        self.time.get()
    }
    fn random_u64(&mut self) -> u64 {
        self.randoms.pop_front().unwrap_or(self.random)
    }
}

/// Answers one request.
pub trait Serve {
    fn serve(&mut self, request: &Request) -> Result<Response, TransportError>;
}

impl<F: FnMut(&Request) -> Result<Response, TransportError>> Serve for F {
    fn serve(&mut self, request: &Request) -> Result<Response, TransportError> {
        self(request)
    }
}

/// An [`Http`] that answers each request as it starts (with `serve`) and hands the outcomes back in
/// the order the requests started, each after `latency` of fake time.
pub struct Replies<S> {
    pub serve: S,
    /// Requests started.
    pub started: u32,
    done: VecDeque<Completion>,
    next: u32,
    /// Each outcome advances this time by this much when it is collected.
    pub latency: Option<(Time, Duration)>,
    /// The most requests ever started and not yet collected at once.
    pub most_outstanding: usize,
}

impl<S: Serve> Replies<S> {
    pub fn new(serve: S) -> Self {
        Replies {
            serve,
            started: 0,
            done: VecDeque::new(),
            next: 0,
            latency: None,
            most_outstanding: 0,
        }
    }
}

impl<S: Serve> Http for Replies<S> {
    fn start(&mut self, request: &Request) -> Ticket {
        self.started += 1;
        self.next += 1;
        let ticket = Ticket(self.next);
        let outcome = self.serve.serve(request);
        self.done.push_back((ticket, outcome));
        self.most_outstanding = self.most_outstanding.max(self.done.len());
        ticket
    }
    fn wait_any(&mut self, _timeout: Option<Duration>) -> Option<Completion> {
        let done = self.done.pop_front()?;
        if let Some((time, latency)) = &self.latency {
            time.set(time.get() + *latency);
        }
        Some(done)
    }
    fn cancel(&mut self, ticket: Ticket) {
        self.done.retain(|(t, _)| *t != ticket);
    }
}

/// A response with `status` and `body`, and `req_<n>` as its Request-Id.
pub fn response(status: u16, body: &str, n: u32) -> Response {
    Response {
        status,
        request_id: Some(format!("req_{n}")),
        body: body.as_bytes().to_vec(),
        ..Response::default()
    }
}

/// One object of a [`FakeStripe`] list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Obj {
    pub id: String,
    pub created: i64,
    /// A charge's status (the connector filters charges by status itself).
    pub status: &'static str,
}

/// Replaces a request's answer: gets the request's number (0-based) and its path and query.
pub type Fault = Box<dyn FnMut(u32, &str) -> Option<Result<Response, TransportError>>>;

/// One Stripe list endpoint in memory, answering like Stripe: objects newest first (`created`
/// descending, ties in a fixed order), `limit`, `starting_after` (an unknown id is a 400),
/// `created` / `created[gt|gte|lt|lte]`; every other parameter is accepted and ignored. Requests
/// overlap: each completes `latency` (plus a pseudo-random share of `jitter`) after it started, so
/// completions can come back out of order. Counts requests and the most ever outstanding.
pub struct FakeStripe {
    pub table: Table,
    /// Newest first.
    pub objects: Vec<Obj>,
    pub time: Time,
    pub latency: Duration,
    pub jitter: Duration,
    /// Every request's path and query, in the order they started.
    pub requests: Vec<String>,
    /// When each request started, and when its answer was due.
    pub times: Vec<(Duration, Duration)>,
    pub max_in_flight: usize,
    /// The host's rate budget, when set: at most this many request starts in any one second (a request
    /// the budget holds back starts later, as the host delays it).
    pub budget: Option<usize>,
    pub fault: Option<Fault>,
    /// Every progress report the pager made: requests so far, rows found so far.
    pub progress: Vec<(u32, u64)>,
    outstanding: Vec<(Ticket, Duration, Result<Response, TransportError>)>,
    next: u32,
    rng: u64,
}

impl FakeStripe {
    /// A list of `objects` (any order: they are sorted newest first, ties kept in the given order).
    pub fn new(table: Table, mut objects: Vec<Obj>, time: &Time) -> Self {
        // A stable sort keeps the given order within one second: Stripe's own order for ties.
        objects.sort_by_key(|o| std::cmp::Reverse(o.created));
        FakeStripe {
            table,
            objects,
            time: time.clone(),
            latency: Duration::ZERO,
            jitter: Duration::ZERO,
            requests: Vec::new(),
            times: Vec::new(),
            max_in_flight: 0,
            budget: None,
            fault: None,
            progress: Vec::new(),
            outstanding: Vec::new(),
            next: 0,
            rng: 0x9E37_79B9_7F4A_7C15,
        }
    }

    /// Answers take `latency` plus up to `jitter` more, so that they complete out of order.
    pub fn with_latency(mut self, latency: Duration, jitter: Duration) -> Self {
        self.latency = latency;
        self.jitter = jitter;
        self
    }

    /// At most `per_second` request starts in any one second, as the host's budget paces them.
    pub fn with_budget(mut self, per_second: usize) -> Self {
        self.budget = Some(per_second);
        self
    }

    /// Another sequence of jitters.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        self
    }

    /// What Stripe would answer to `path_and_query`.
    pub fn answer(&self, path_and_query: &str) -> Response {
        let n = self.requests.len() as u32;
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        if path != self.table.list_path() {
            return response(
                404,
                r#"{"error":{"message":"Unrecognized request URL"}}"#,
                n,
            );
        }
        let mut limit = 10usize;
        let mut after: Option<String> = None;
        let mut lo = i64::MIN;
        let mut hi = i64::MAX; // inclusive
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let key = decode(k);
            let value = decode(v);
            let int = || value.parse::<i64>().expect("integer parameter");
            match key.as_str() {
                "limit" => limit = value.parse().expect("limit"),
                "starting_after" => after = Some(value),
                "created" => (lo, hi) = (lo.max(int()), hi.min(int())),
                "created[gt]" => lo = lo.max(int() + 1),
                "created[gte]" => lo = lo.max(int()),
                "created[lt]" => hi = hi.min(int() - 1),
                "created[lte]" => hi = hi.min(int()),
                _ => {}
            }
        }
        assert!(
            (1..=100).contains(&limit),
            "limit {limit} in {path_and_query}"
        );
        let start = match &after {
            None => 0,
            Some(id) => match self.objects.iter().position(|o| &o.id == id) {
                Some(i) => i + 1,
                None => {
                    return response(
                        400,
                        r#"{"error":{"type":"invalid_request_error","message":"No such object"}}"#,
                        n,
                    )
                }
            },
        };
        let mut page: Vec<&Obj> = self.objects[start..]
            .iter()
            .filter(|o| (lo..=hi).contains(&o.created))
            .take(limit + 1)
            .collect();
        let has_more = page.len() > limit;
        page.truncate(limit);
        let data: Vec<String> = page.iter().map(|o| object_json(self.table, o)).collect();
        let body = format!(
            r#"{{"object":"list","url":"{}","has_more":{has_more},"data":[{}]}}"#,
            self.table.list_path(),
            data.join(",")
        );
        response(200, &body, n)
    }

    fn random(&mut self) -> u64 {
        // xorshift64*: deterministic, good enough to shuffle completion times.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

impl Http for FakeStripe {
    fn progress(&mut self, requests: u32, rows: u64) {
        self.progress.push((requests, rows));
    }

    fn start(&mut self, request: &Request) -> Ticket {
        let n = self.requests.len() as u32;
        let path = request.path_and_query.clone();
        let outcome = match self.fault.as_mut().and_then(|f| f(n, &path)) {
            Some(outcome) => outcome,
            None => Ok(self.answer(&path)),
        };
        self.requests.push(path);
        let jitter = match self.jitter.as_nanos() as u64 {
            0 => 0,
            j => self.random() % j,
        };
        // The budget: the start waits until the request `per_second` starts back is a second old.
        let starts_at = match self.budget {
            Some(per_second) if self.times.len() >= per_second => {
                let earlier = self.times[self.times.len() - per_second].0;
                self.time.get().max(earlier + Duration::from_secs(1))
            }
            _ => self.time.get(),
        };
        // First come, first started: the host's budget queue keeps the order.
        let starts_at = self
            .times
            .last()
            .map_or(starts_at, |(last, _)| starts_at.max(*last));
        let done_at = starts_at + self.latency + Duration::from_nanos(jitter);
        self.times.push((starts_at, done_at));
        self.next += 1;
        let ticket = Ticket(self.next);
        self.outstanding.push((ticket, done_at, outcome));
        self.max_in_flight = self.max_in_flight.max(self.outstanding.len());
        ticket
    }

    fn wait_any(&mut self, timeout: Option<Duration>) -> Option<Completion> {
        let (i, done_at) = self
            .outstanding
            .iter()
            .enumerate()
            .map(|(i, (_, at, _))| (i, *at))
            .min_by_key(|(_, at)| *at)?;
        let now = self.time.get();
        if let Some(t) = timeout {
            if now + t < done_at {
                self.time.set(now + t);
                return None;
            }
        }
        self.time.set(now.max(done_at));
        let (ticket, _, outcome) = self.outstanding.remove(i);
        Some((ticket, outcome))
    }

    fn cancel(&mut self, ticket: Ticket) {
        self.outstanding.retain(|(t, _, _)| *t != ticket);
    }
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// The smallest object of `table` the connector reads at the pinned version.
pub fn object_json(table: Table, o: &Obj) -> String {
    let (id, c) = (&o.id, o.created);
    match table {
        Table::Customers => {
            format!(r#"{{"id":"{id}","object":"customer","created":{c},"livemode":false}}"#)
        }
        Table::Subscriptions => format!(
            r#"{{"id":"{id}","object":"subscription","status":"active","collection_method":"charge_automatically","currency":"usd","created":{c},"start_date":{c},"cancel_at_period_end":false,"livemode":false}}"#
        ),
        Table::Invoices => format!(
            r#"{{"id":"{id}","object":"invoice","collection_method":"charge_automatically","currency":"usd","total":0,"amount_due":0,"amount_paid":0,"amount_remaining":0,"created":{c},"period_start":{c},"period_end":{c},"attempt_count":0,"livemode":false}}"#
        ),
        Table::Charges => format!(
            r#"{{"id":"{id}","object":"charge","created":{c},"amount":100,"amount_captured":100,"amount_refunded":0,"currency":"usd","status":"{}","paid":true,"captured":true,"refunded":false,"disputed":false,"livemode":false}}"#,
            o.status
        ),
        Table::Payouts => format!(
            r#"{{"id":"{id}","object":"payout","created":{c},"arrival_date":{c},"amount":1,"currency":"usd","status":"paid","type":"bank_account","method":"standard","automatic":true,"livemode":false}}"#
        ),
    }
}

/// The shape of an irregular account: how objects arrive over time.
#[derive(Clone, Copy, Debug)]
pub struct Irregular {
    /// Objects in all.
    pub objects: usize,
    /// Per mille of objects that start a burst (up to `max_burst` objects in one second).
    pub burst_per_mille: u32,
    pub max_burst: u32,
    /// Per mille of gaps that are a quiet stretch of up to three weeks.
    pub quiet_per_mille: u32,
    /// The usual gap between two objects, in seconds (drawn from 0..=2×this).
    pub mean_gap: i64,
    pub seed: u64,
    /// Per mille of charges that failed (the rest succeeded).
    pub failed_per_mille: u32,
}

impl Irregular {
    /// `objects` objects created over time with bursts, quiet weeks and ties, newest first.
    pub fn objects(&self, prefix: &str) -> Vec<Obj> {
        let mut rng = self.seed.wrapping_mul(2).wrapping_add(1);
        let mut next = move || {
            rng ^= rng >> 12;
            rng ^= rng << 25;
            rng ^= rng >> 27;
            rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
        };
        let mut out = Vec::with_capacity(self.objects);
        let mut t: i64 = 1_780_000_000;
        while out.len() < self.objects {
            let roll = (next() % 1000) as u32;
            let same_second = if roll < self.burst_per_mille {
                1 + (next() % u64::from(self.max_burst.max(1))) as usize
            } else {
                1
            };
            for _ in 0..same_second.min(self.objects - out.len()) {
                let failed = ((next() % 1000) as u32) < self.failed_per_mille;
                out.push(Obj {
                    id: format!("{prefix}_{:06}", out.len()),
                    created: t,
                    status: if failed { "failed" } else { "succeeded" },
                });
            }
            let gap = if ((next() % 1000) as u32) < self.quiet_per_mille {
                (next() % (21 * 86_400)) as i64
            } else {
                (next() % (2 * self.mean_gap.max(0) as u64 + 1)) as i64
            };
            t -= gap;
        }
        out
    }
}
