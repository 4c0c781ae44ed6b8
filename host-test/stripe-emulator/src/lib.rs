//! A loopback HTTP/1.1 server that behaves like Stripe's API at version 2026-04-22.dahlia for
//! what Klairr's Stripe connector uses: the five list endpoints (customers, subscriptions,
//! invoices, charges, payouts), retrieving one object, and the write endpoints the setup check
//! probes with. It serves a seeded, deterministic data set, checks made-up restricted keys
//! ([`keys`]) and their permissions, answers with Stripe's error shapes, records every request
//! (with the key redacted) and can inject faults ([`Fault`]).
//!
//! It binds `127.0.0.1` only, serves on its own thread with its own tokio runtime (callers are
//! plain sync code), and reads or writes nothing else. Every connection is served by its own
//! task, with HTTP/1.1 keep-alive; latency is an asynchronous wait, so requests in flight wait
//! together (8 requests at 250 ms on 8 connections take about 250 ms, not 2 s).
//!
//! ```no_run
//! use klairr_stripe_emulator::{keys, Emulator, EmulatorConfig};
//! let emu = Emulator::start(EmulatorConfig::default())?;
//! println!("Stripe emulator on {} (try key {})", emu.base_url(), keys::TEST_READ_ONLY);
//! emu.wait(); // serve until the process is killed
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! Behaviour worth knowing:
//! - Lists are newest first by `created`, ties broken by `id` descending; `starting_after` /
//!   `ending_before` are positions in that order, so a cursor walk returns every object once.
//!   Filters (`created[gte]`, `created[lt]`, ...) only skip objects in that one order, so the
//!   objects of one second come in the same order with or without a `created` filter: paging
//!   whole-second `created` windows newest first and concatenating them gives exactly the plain
//!   cursor's list. [`Timeline::Irregular`] makes seconds that hold hundreds of objects.
//! - Rate limits ([`RateLimit`], off by default) answer Stripe's 429 `rate_limit` error with a
//!   `Stripe-Rate-Limited-Reason` header; the request log ([`RecordedRequest`]) keeps each
//!   request's start time, endpoint and status, so tests can count starts per window
//!   ([`Emulator::max_starts_in_any_window`]).
//! - Subscriptions without `status` leave out `canceled` ones (like Stripe); `status=ended`
//!   means `canceled` or `incomplete_expired`; `status=all` means every status.
//! - `expand[]=data.customer` (lists of subscriptions, invoices, charges) and `expand[]=customer`
//!   (retrieving one of them) are served; any other expansion is a 400 "This property cannot be
//!   expanded".
//! - Write endpoints never mutate: with write permission they answer 200 with the stored object,
//!   or 404 `resource_missing` for an id that does not exist.

#![recursion_limit = "512"]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};

mod data;
mod jsonw;
mod limiter;
mod request_log;
mod rng;
mod router;
mod shared;

#[cfg(test)]
mod tests;

use router::{Req, Router};
use shared::Shared;

pub use data::Timeline;
pub use limiter::{max_in_any_window, RateLimit};
pub use request_log::{LogReceiver, LogSender, Logged, RecordedRequest, RequestLog};

/// The five Stripe resources the connector reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Resource {
    Customers,
    Subscriptions,
    Invoices,
    Charges,
    Payouts,
}

impl Resource {
    /// All five, in table order.
    pub const ALL: [Resource; 5] = [
        Resource::Customers,
        Resource::Subscriptions,
        Resource::Invoices,
        Resource::Charges,
        Resource::Payouts,
    ];

    /// The URL segment / table name: `customers`, `subscriptions`, ...
    pub fn name(self) -> &'static str {
        match self {
            Resource::Customers => "customers",
            Resource::Subscriptions => "subscriptions",
            Resource::Invoices => "invoices",
            Resource::Charges => "charges",
            Resource::Payouts => "payouts",
        }
    }

    /// The singular Stripe object name: `customer`, `subscription`, ... (as in `rak_customer_read`).
    pub fn singular(self) -> &'static str {
        match self {
            Resource::Customers => "customer",
            Resource::Subscriptions => "subscription",
            Resource::Invoices => "invoice",
            Resource::Charges => "charge",
            Resource::Payouts => "payout",
        }
    }

    /// The resource whose [`name`](Resource::name) is `name`.
    pub fn from_name(name: &str) -> Option<Resource> {
        Resource::ALL.into_iter().find(|r| r.name() == name)
    }
}

/// Resources the connector never reads whose write endpoints the emulator knows (the host's own
/// setup probes): (the URL's name, Stripe's permission name). Each answers an update of one object,
/// `POST /v1/<name>/{id}` (`POST /v1/checkout/sessions/{id}` for checkout sessions): 403 without the
/// permission, else 404 `resource_missing` (it holds none of them).
pub const WRITE_ELSEWHERE: [(&str, &str); 15] = [
    ("refunds", "refund"),
    ("transfers", "transfer"),
    ("credit_notes", "credit_note"),
    ("payment_intents", "payment_intent"),
    ("disputes", "dispute"),
    ("payment_methods", "payment_method"),
    ("checkout_sessions", "checkout_session"),
    ("webhook_endpoints", "webhook"),
    ("products", "product"),
    ("prices", "price"),
    ("coupons", "coupon"),
    ("promotion_codes", "promotion_code"),
    ("tax_rates", "tax_rate"),
    ("payment_links", "payment_link"),
    ("setup_intents", "setup_intent"),
];

/// What one API key may do.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyGrant {
    pub key: String,
    pub livemode: bool,
    pub read: BTreeSet<Resource>,
    pub write: BTreeSet<Resource>,
    /// Resources of [`WRITE_ELSEWHERE`] (by name) the key may write.
    pub write_elsewhere: BTreeSet<&'static str>,
}

impl std::fmt::Debug for KeyGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyGrant")
            .field("key", &router::mask(&self.key, "…"))
            .field("livemode", &self.livemode)
            .field("read", &self.read)
            .field("write", &self.write)
            .field("write_elsewhere", &self.write_elsewhere)
            .finish()
    }
}

/// Well-known made-up keys (never real Stripe keys) the emulator accepts by default.
pub mod keys {
    use super::{KeyGrant, Resource};
    use std::collections::BTreeSet;

    /// Restricted, test mode: read all five.
    pub const TEST_READ_ONLY: &str = "rk_test_51KlairrEmulatorReadOnlyAllFive0000OX9YIMtCFIPzgNZpBdfdYfkM51ZFfOwBsRhae56YuHqQG0EYn1YGqDVPsFf50000";
    /// Restricted, live mode: read all five.
    pub const LIVE_READ_ONLY: &str = "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";
    /// Restricted, test mode: read all five and write customers.
    pub const TEST_WRITE_CUSTOMERS: &str = "rk_test_51KlairrEmulatorWritesCustomers000siOWP6ASVORCbQYT1t5aLqZHK7q2BMxKTHAywYV1Kkb5OIakcaaFlEStGCFqGs000";
    /// Restricted, test mode: read all five and write invoices.
    pub const TEST_WRITE_INVOICES: &str = "rk_test_51KlairrEmulatorWritesInvoices0000whhXJz7gftJmEMB6IVYqkHvTWU9XAp1fND4nC493wz0lLLVbcHFMmOfzeyJYH0000";
    /// Restricted, test mode: read customers, subscriptions and charges only.
    pub const TEST_NO_INVOICES_PAYOUTS: &str = "rk_test_51KlairrEmulatorNoInvoicesPayoutsGlucpIucguFt7ekZ0XdODMDcHGNuAtmn6BpX1bhF9vwmg0tkMgOUhYvhpMASnSouts";
    /// Restricted, test mode: write customers (and read them), read subscriptions, invoices and
    /// charges, not payouts: both of setup's faults at once.
    pub const TEST_WRITE_CUSTOMERS_NO_PAYOUTS: &str = "rk_test_51KlairrEmulatorNoPayoutsWritesCustomersu8jzPde0IgxLd6GncfBAepfJBd0Kh8oOOL8dKLzdocJ2isAjIhKtJ0R0000";
    /// Restricted, test mode: read all five, and write refunds and webhook endpoints, which the
    /// connector never reads.
    pub const TEST_WRITE_REFUNDS_WEBHOOKS: &str = "rk_test_51KlairrEmulatorWritesRefundsWebhooksKy9Pf34qY6Nb3wWD25RQ4F5ZR3qa7yEeeby3abP3E2Zs8IQ9Y7aJZqhB6b0000";
    /// Secret, test mode: full read and write, as Stripe would.
    pub const TEST_SECRET: &str = "sk_test_51KlairrEmulatorSecretKeyFullAccess006FvU76ZOoSFjavXz8v2UhTo19Wy5Sp2GMfXY9l26TNSZnY16rh7suW0rmlss00";
    /// Secret, live mode: full read and write.
    pub const LIVE_SECRET: &str = "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";

    fn set(rs: &[Resource]) -> BTreeSet<Resource> {
        rs.iter().copied().collect()
    }

    fn grant(key: &str, livemode: bool, read: &[Resource], write: &[Resource]) -> KeyGrant {
        KeyGrant {
            key: key.to_string(),
            livemode,
            read: set(read),
            write: set(write),
            write_elsewhere: BTreeSet::new(),
        }
    }

    /// A secret key writes everything.
    fn secret(key: &str, livemode: bool) -> KeyGrant {
        KeyGrant {
            write_elsewhere: super::WRITE_ELSEWHERE
                .iter()
                .map(|(name, _)| *name)
                .collect(),
            ..grant(key, livemode, &Resource::ALL, &Resource::ALL)
        }
    }

    /// A key of this mode that reads all five and writes nothing: a read-only key of the caller's own.
    pub fn read_only(key: &str, livemode: bool) -> KeyGrant {
        grant(key, livemode, &Resource::ALL, &[])
    }

    /// Every key above with its grant.
    pub fn all() -> Vec<KeyGrant> {
        use Resource::*;
        let all = &Resource::ALL;
        vec![
            grant(TEST_READ_ONLY, false, all, &[]),
            grant(LIVE_READ_ONLY, true, all, &[]),
            grant(TEST_WRITE_CUSTOMERS, false, all, &[Customers]),
            grant(TEST_WRITE_INVOICES, false, all, &[Invoices]),
            grant(
                TEST_NO_INVOICES_PAYOUTS,
                false,
                &[Customers, Subscriptions, Charges],
                &[],
            ),
            grant(
                TEST_WRITE_CUSTOMERS_NO_PAYOUTS,
                false,
                &[Customers, Subscriptions, Invoices, Charges],
                &[Customers],
            ),
            KeyGrant {
                write_elsewhere: ["refunds", "webhook_endpoints"].into(),
                ..grant(TEST_WRITE_REFUNDS_WEBHOOKS, false, all, &[])
            },
            secret(TEST_SECRET, false),
            secret(LIVE_SECRET, true),
        ]
    }
}

/// How to build and serve the emulator.
#[derive(Clone, Debug)]
pub struct EmulatorConfig {
    /// Seed of the data set: the same seed and counts give byte-identical objects.
    pub seed: u64,
    pub customers: usize,
    pub subscriptions: usize,
    pub invoices: usize,
    pub charges: usize,
    pub payouts: usize,
    /// How creation times spread over the two years ([`Timeline::Regular`] by default).
    pub timeline: Timeline,
    /// Latency added to every response (see [`Emulator::set_latency`]); none by default.
    pub latency: Duration,
    /// Stripe's rate limits to enforce (see [`Emulator::set_rate_limit`]); none by default.
    pub rate_limit: Option<RateLimit>,
    /// The keys the emulator accepts; any other is a 401.
    pub keys: Vec<KeyGrant>,
    /// Customers added to the generated ones, exactly as given (tests of what a name or an amount
    /// can do to an output format); none by default, so generated data sets stay as they are.
    pub fixture_customers: Vec<FixtureCustomer>,
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// What becomes of each answered request ([`RequestLog::Keep`] by default).
    pub request_log: RequestLog,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            seed: 42,
            customers: 40,
            subscriptions: 60,
            invoices: 120,
            charges: 150,
            payouts: 30,
            timeline: Timeline::Regular,
            latency: Duration::ZERO,
            rate_limit: None,
            keys: keys::all(),
            fixture_customers: Vec::new(),
            port: 0,
            request_log: RequestLog::Keep,
        }
    }
}

/// A customer with the name, currency and balance a test needs. Its id is `cus_fixture_NNNN` (its
/// position in [`EmulatorConfig::fixture_customers`]) and the fixtures are the newest customers, in the
/// order given (each a minute older than the one before).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FixtureCustomer {
    pub name: String,
    /// Lowercase ISO code, as Stripe writes it; `None` for a customer never billed.
    pub currency: Option<String>,
    /// Minor units of `currency`.
    pub balance: i64,
}

/// A fault to inject into the next matching responses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// A Stripe-shaped error with this status (`api_error` for 5xx, `invalid_request_error` for
    /// 429 with Stripe's rate-limit or lock-timeout message, ...), `code` as given, and the
    /// `Stripe-Should-Retry` / `Retry-After` headers when set.
    Status {
        status: u16,
        should_retry: Option<bool>,
        retry_after: Option<u64>,
        code: Option<String>,
    },
    /// A 200 whose body is truncated JSON (the first half of the real page).
    BrokenJson,
    /// Wait this long before answering normally.
    Latency(Duration),
    /// 200 with has_more:true and the same page again (cursor does not advance)
    HasMoreLoop,
    /// data:[] with has_more:true
    EmptyPageHasMore,
    /// a 200 body of that many bytes
    OversizedBody(usize),
}

/// A running emulator. Dropping it (or [`Emulator::shutdown`]) stops the server and frees the port.
pub struct Emulator {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("addr", &self.addr)
            .finish()
    }
}

fn build_shared(config: &EmulatorConfig, salt: u64) -> Shared {
    let store = data::Store::generate(config);
    let keys: HashMap<String, KeyGrant> = config
        .keys
        .iter()
        .map(|g| (g.key.clone(), g.clone()))
        .collect();
    let shared = Shared::new(Router { store, keys }, salt, config.request_log.clone());
    shared.set_latency(config.latency);
    shared.set_rate_limit(config.rate_limit);
    shared
}

impl Emulator {
    /// Generate the data, bind 127.0.0.1:`config.port` and serve on a thread of its own.
    /// Returns once the socket is listening.
    pub fn start(config: EmulatorConfig) -> std::io::Result<Emulator> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", config.port))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(build_shared(
            &config,
            config.seed ^ (u64::from(addr.port()) << 48),
        ));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let listener = {
            let _guard = runtime.enter();
            tokio::net::TcpListener::from_std(listener)?
        };
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let served = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("stripe-emulator".into())
            .spawn(move || {
                runtime.block_on(async move {
                    loop {
                        tokio::select! {
                            _ = &mut stopped => break,
                            accepted = listener.accept() => match accepted {
                                Ok((stream, _)) => {
                                    let _ = stream.set_nodelay(true);
                                    let shared = Arc::clone(&served);
                                    tokio::spawn(serve_connection(stream, shared));
                                }
                                Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
                            },
                        }
                    }
                });
                // Dropping the runtime here cancels open connections; the listener is gone.
            })?;
        Ok(Emulator {
            addr,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Every request so far, in the order they were answered (their starts are in
    /// [`RecordedRequest::arrived`]).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests()
    }

    /// Forget the requests so far (and the in-flight peak).
    pub fn clear_requests(&self) {
        self.shared.clear_requests()
    }

    /// The most request starts in any window of `window` among the logged requests whose
    /// endpoint starts with `endpoint_prefix`: `"GET /v1/customers"` counts that list endpoint
    /// together with `GET /v1/customers/{id}` (a stricter count than Stripe's, which counts
    /// them apart); `""` counts every request. Refused requests count too: they were started.
    pub fn max_starts_in_any_window(&self, endpoint_prefix: &str, window: Duration) -> usize {
        let starts: Vec<Instant> = self
            .requests()
            .iter()
            .filter(|r| match &r.endpoint {
                Some(e) => e.starts_with(endpoint_prefix),
                None => endpoint_prefix.is_empty(),
            })
            .map(|r| r.arrived)
            .collect();
        max_in_any_window(&starts, window)
    }

    /// For every endpoint in the log, the most request starts in any window of `window`.
    pub fn max_starts_per_endpoint(&self, window: Duration) -> BTreeMap<String, usize> {
        let mut starts: BTreeMap<String, Vec<Instant>> = BTreeMap::new();
        for r in self.requests() {
            if let Some(e) = r.endpoint {
                starts.entry(e).or_default().push(r.arrived);
            }
        }
        starts
            .into_iter()
            .map(|(e, t)| (e, max_in_any_window(&t, window)))
            .collect()
    }

    /// The most requests in flight at once over the sockets (from a request's start until its
    /// response is handed to the connection), since the start or [`Emulator::clear_requests`].
    pub fn peak_in_flight(&self) -> usize {
        self.shared.peak_in_flight()
    }

    /// Enforce `limit` from now on (`None`: no limits), with empty windows.
    pub fn set_rate_limit(&self, limit: Option<RateLimit>) {
        self.shared.set_rate_limit(limit)
    }

    /// Apply `fault` to the next `times` requests whose path starts with `path_prefix` ("" = any).
    /// Faults are consumed in the order they were pushed.
    pub fn push_fault(&self, path_prefix: &str, fault: Fault, times: usize) {
        self.shared.push_fault(path_prefix, fault, times)
    }

    /// Latency added to every response from now on (`Duration::ZERO` to stop).
    pub fn set_latency(&self, d: Duration) {
        self.shared.set_latency(d)
    }

    /// The ids of one table with their `created`, newest first (the order the list endpoint
    /// serves them in): tests find crowded seconds and window edges here.
    pub fn created(&self, resource: Resource) -> Vec<(String, i64)> {
        self.shared
            .router
            .store
            .table(resource)
            .objs
            .iter()
            .map(|o| (o.id.clone(), o.created))
            .collect()
    }

    /// The ids of one table, newest first (the order the list endpoint serves them in).
    pub fn ids(&self, resource: Resource) -> Vec<String> {
        self.shared
            .router
            .store
            .table(resource)
            .objs
            .iter()
            .map(|o| o.id.clone())
            .collect()
    }

    /// One stored object as test mode serves it (`livemode: false`), or None.
    pub fn object(&self, resource: Resource, id: &str) -> Option<serde_json::Value> {
        let t = self.shared.router.store.table(resource);
        let o = &t.objs[*t.index.get(id)?];
        serde_json::from_str(&o.json).ok()
    }

    /// Block serving until the process is killed.
    pub fn wait(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// Stop serving and free the port (also done on drop).
    pub fn shutdown(self) {}
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// For the CLI's `emulator` command: serve until the process is killed (blocking). Prints
/// nothing; to print the address first, use [`Emulator::start`] then [`Emulator::wait`].
pub fn serve_forever(config: EmulatorConfig) -> std::io::Result<()> {
    Emulator::start(config)?.wait();
    Ok(())
}

async fn serve_connection(stream: tokio::net::TcpStream, shared: Arc<Shared>) {
    let io = hyper_util::rt::TokioIo::new(stream);
    let service = hyper::service::service_fn(move |req| handle(Arc::clone(&shared), req));
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(io, service)
        .await;
}

fn header(req: &Request<Incoming>, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let r = Req {
        method: req.method().as_str().to_string(),
        path: req.uri().path().to_string(),
        query: req.uri().query().unwrap_or("").to_string(),
        host: header(&req, "host").or_else(|| req.uri().authority().map(|a| a.to_string())),
        content_length: header(&req, "content-length"),
        stripe_version: header(&req, "stripe-version"),
        authorization: header(&req, "authorization"),
    };
    // The request starts when its head arrives; it is in flight until its response is handed
    // over, latency included.
    let _in_flight = shared.in_flight();
    let admission = shared.admit(&r);
    // Read (and ignore) any form body, so keep-alive connections stay in step.
    let _ = Limited::new(req.into_body(), 1 << 20).collect().await;
    let (resp, delay) = shared.answer(&r, admission);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let mut out = Response::new(Full::new(Bytes::from(resp.body)));
    *out.status_mut() =
        StatusCode::from_u16(resp.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = out.headers_mut();
    let mut set = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(HeaderName::from_static(name), v);
        }
    };
    set("content-type", "application/json".into());
    set("request-id", shared.request_id());
    set(
        "stripe-version",
        r.stripe_version
            .unwrap_or_else(|| "2026-04-22.dahlia".into()),
    );
    if let Some(b) = resp.should_retry {
        set("stripe-should-retry", b.to_string());
    }
    if let Some(s) = resp.retry_after {
        set("retry-after", s.to_string());
    }
    if let Some(reason) = resp.rate_limited {
        set("stripe-rate-limited-reason", reason.to_string());
    }
    Ok(out)
}
