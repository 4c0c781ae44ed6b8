//! The line the host holds: every request a component makes through `wasi:http/outgoing-handler` comes
//! here, and only what the connector's manifest allows leaves — for any component, hostile ones included.
//!
//! In order, before a byte is sent:
//! 1. the call's phase: `describe`, `check-credential`, `open` and `canonical-query` may make no request;
//! 2. the origin (scheme, host, port) against the manifest's allowlist, with the loopback redirect;
//! 3. method, canonical path, query parameters, headers and body against the manifest's request rules
//!    (`klairr_policy::request_rules`), the credential never in the URL or a header the guest set;
//! 4. the per-call request ceiling derived from the row target.
//!
//! Then the host attaches the pinned headers and the credential itself (the guest cannot set the
//! credential header: it is forbidden to it, like `proxy-authorization`), waits for an in-flight slot and
//! for the request budget (waiting, never failing), and sends through the sandbox's keep-alive pool
//! (`pool.rs`) with timeouts clamped to the manifest's ceilings and to the time left before the call's
//! deadline — the TLS handshake included. Response bodies are capped at the manifest's size; the slot is
//! held until the body is done. A denied request gets `HttpRequestDenied`; the reason goes to the
//! connection's log, redacted.

use klairr_policy::budget::{CredentialId, Limits, RequestBudget};
use klairr_policy::credential::Credential;
use klairr_policy::manifest::Manifest;
use klairr_policy::origin::{Decision, NetworkPolicy, Origin};
use klairr_policy::redact::SecretRuns;
use klairr_policy::request_rules::{self, Phase, RequestView};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use wasmtime_wasi_http::{Error, ForbiddenHeaderFilter, WasiBody, WasiHttpHooks};

use super::pool::{Pool, Ready};

/// Where requests that pass the policy are delivered.
#[derive(Clone, Default)]
pub enum Upstream {
    /// Over the network through the sandbox's keep-alive connection pool (TLS for https). The default.
    #[default]
    Network,
    /// To an in-process handler, with no socket at all: benchmarks use it to measure the guest's own work.
    InProcess(InProcessHandler),
}

/// Where one allowed request goes: the in-process handler, or a pooled connection already made.
enum Route {
    InProcess(InProcessHandler),
    Network(Ready),
}

/// Answers a request in-process: gets the request line and headers, returns the whole response.
pub type InProcessHandler =
    Arc<dyn Fn(&http::request::Parts) -> http::Response<bytes::Bytes> + Send + Sync>;

/// What one sandbox's stores share on purpose: the request budget and the in-flight gates, both per
/// credential. In the CLI one sandbox is one host process, so the budget is per host process.
pub struct SharedGates {
    budget: RequestBudget,
    in_flight: Mutex<HashMap<CredentialId, Arc<tokio::sync::Semaphore>>>,
}

/// How much more than a second the budget keeps between a start and the N-th start after it. The budget
/// counts the instants requests are ready to go on the wire (their connection made, TLS included); the
/// upstream sees them later, by a delay that varies with scheduling and the network (tens of
/// milliseconds for a burst, more on a loaded machine). Without the margin, a burst of N and the next
/// burst a second later can land in one of the upstream's seconds (a flood of 150 showed up to 28
/// arrivals in one second under a budget of 20).
const ARRIVAL_MARGIN: Duration = Duration::from_millis(100);

impl Default for SharedGates {
    fn default() -> Self {
        SharedGates {
            budget: RequestBudget::with_margin(ARRIVAL_MARGIN),
            in_flight: Mutex::default(),
        }
    }
}

impl SharedGates {
    fn in_flight(&self, id: CredentialId, limit: usize) -> Arc<tokio::sync::Semaphore> {
        let Ok(mut gates) = self.in_flight.lock() else {
            // A poisoned lock means a panic elsewhere; a fresh gate still bounds this request.
            return Arc::new(tokio::sync::Semaphore::new(limit));
        };
        // Gates nobody holds any more are dropped, so a long-running host stays bounded.
        gates.retain(|_, gate| Arc::strong_count(gate) > 1);
        gates
            .entry(id)
            .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(limit)))
            .clone()
    }
}

/// The credential of one connection, as the hooks need it.
pub(crate) struct ConnectionCredential {
    pub(crate) credential: Credential,
    pub(crate) id: CredentialId,
}

impl ConnectionCredential {
    /// The runs of the credential that count as the credential, indexed once when it was accepted.
    pub(crate) fn runs(&self) -> &SecretRuns {
        self.credential.runs()
    }
}

/// What the hooks know about the call in progress; the connection resets it before each call.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CallState {
    pub(crate) phase: Phase,
    pub(crate) deadline: Instant,
    /// Most requests this call may make.
    pub(crate) ceiling: u32,
    /// Requests this call made (allowed ones; denied ones are not sent).
    pub(crate) sent: u32,
    pub(crate) ceiling_hit: bool,
}

impl CallState {
    pub(crate) fn new(phase: Phase, timeout: Duration, ceiling: u32) -> CallState {
        CallState {
            phase,
            deadline: Instant::now() + timeout,
            ceiling,
            sent: 0,
            ceiling_hit: false,
        }
    }
}

/// wasi:http hooks of one store.
pub(crate) struct PolicyHooks {
    manifest: Arc<Manifest>,
    network: Arc<NetworkPolicy>,
    upstream: Upstream,
    credential: Option<Arc<ConnectionCredential>>,
    gates: Arc<SharedGates>,
    /// The sandbox's connections, shared by all its stores like the gates.
    pool: Pool,
    forbidden: ForbiddenHeaderFilter,
    pub(crate) call: CallState,
    /// Why requests were denied, for the host's log (redacted).
    pub(crate) log: Vec<String>,
}

/// The most denial reasons kept per store: a guest looping on denied requests cannot grow the log.
const MAX_LOG_LINES: usize = 64;

type BodyDone = Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>;
type ResponseFuture = Box<
    dyn Future<Output = wasmtime_wasi_http::Result<(http::Response<WasiBody>, BodyDone)>> + Send,
>;

impl PolicyHooks {
    pub(crate) fn new(
        manifest: Arc<Manifest>,
        network: Arc<NetworkPolicy>,
        upstream: Upstream,
        credential: Option<Arc<ConnectionCredential>>,
        gates: Arc<SharedGates>,
        pool: Pool,
    ) -> PolicyHooks {
        let mut names: Vec<http::HeaderName> = [
            manifest.credential.header.as_str(),
            "authorization",
            "proxy-authorization",
        ]
        .into_iter()
        .chain(manifest.headers.refused.iter().map(String::as_str))
        .filter_map(|n| http::HeaderName::from_bytes(n.as_bytes()).ok())
        .collect();
        names.dedup();
        let forbidden: ForbiddenHeaderFilter = Arc::new(move |name| {
            wasmtime_wasi_http::DEFAULT_FORBIDDEN_HEADERS.contains(name) || names.contains(name)
        });
        PolicyHooks {
            manifest,
            network,
            upstream,
            credential,
            gates,
            pool,
            forbidden,
            call: CallState::new(Phase::Offline, Duration::from_secs(1), 0),
            log: Vec::new(),
        }
    }

    fn deny(&mut self, reason: String) -> ResponseFuture {
        let reason = match &self.credential {
            Some(c) if reveals(c.runs(), &reason) => {
                "a request carrying the credential in an encoded form (not shown)".to_owned()
            }
            Some(c) => c.runs().redact(&reason).into_owned(),
            None => reason,
        };
        if self.log.len() < MAX_LOG_LINES {
            self.log
                .push(klairr_policy::redact::cap(&reason, 1024).into_owned());
        }
        Box::new(async { Err(Error::HttpRequestDenied) })
    }

    /// Everything that decides whether the request may leave; `Ok` carries what sending needs.
    fn admit(
        &mut self,
        request: &http::Request<WasiBody>,
    ) -> Result<(Origin, String, bool), String> {
        if self.call.phase == Phase::Offline {
            // Quote nothing of the request: while the component judges a credential it holds one the
            // host has not accepted yet, and may have put it in the URL.
            return Err(
                "a request during a call that may make none (only verify and query reach the network)"
                    .into(),
            );
        }
        let uri = request.uri();
        let shown = format!("{} {}", request.method(), uri);
        let target = match self
            .network
            .decide(uri.scheme_str(), uri.authority().map(|a| a.as_str()))
        {
            Decision::Send(origin) => origin,
            Decision::Deny(reason) => return Err(format!("{shown}: {reason}")),
        };
        let path_and_query = uri.path_and_query().map_or("/", |p| p.as_str());
        let headers: Vec<(&str, &[u8])> = request
            .headers()
            .iter()
            .filter(|(name, _)| *name != http::header::HOST)
            .map(|(name, value)| (name.as_str(), value.as_bytes()))
            .collect();
        let content_length = match request.headers().get(http::header::CONTENT_LENGTH) {
            None => None,
            Some(v) => Some(
                v.to_str()
                    .ok()
                    .and_then(|s| s.trim().parse::<u64>().ok())
                    .ok_or_else(|| format!("{shown}: unreadable content-length"))?,
            ),
        };
        let view = RequestView {
            method: request.method().as_str(),
            path_and_query,
            headers: &headers,
            content_length,
        };
        let credential = self.credential.as_ref().map(|c| &c.credential);
        let allowed = request_rules::check(&self.manifest, &view, self.call.phase, credential)
            .map_err(|denial| format!("{shown}: {denial}"))?;
        if self.call.sent >= self.call.ceiling {
            self.call.ceiling_hit = true;
            return Err(format!(
                "{shown}: the call's ceiling of {} requests is reached",
                self.call.ceiling
            ));
        }
        self.call.sent += 1;
        Ok((target, allowed.endpoint, allowed.rule.body))
    }
}

impl WasiHttpHooks for PolicyHooks {
    fn forbidden_header_filter(&mut self) -> ForbiddenHeaderFilter {
        self.forbidden.clone()
    }

    fn send_request(
        &mut self,
        mut request: http::Request<WasiBody>,
        options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: BodyDone,
    ) -> ResponseFuture {
        let (target, endpoint, body_allowed) = match self.admit(&request) {
            Ok(admitted) => admitted,
            Err(reason) => return self.deny(reason),
        };
        let Some(credential) = self.credential.clone() else {
            return self.deny("no credential is attached to this instance".into());
        };

        // Address the target (the requested origin, or its loopback stand-in); Host stays the original.
        let path_and_query = request
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        match http::Uri::builder()
            .scheme(target.scheme.as_str())
            .authority(format!("{}:{}", target.host, target.port))
            .path_and_query(path_and_query)
            .build()
        {
            Ok(uri) => *request.uri_mut() = uri,
            Err(e) => return self.deny(format!("could not address {target}: {e}")),
        }
        for (name, value) in request_rules::host_headers(&self.manifest, &credential.credential) {
            let (Ok(name), Ok(value)) = (
                http::HeaderName::from_bytes(name.as_bytes()),
                http::HeaderValue::from_str(&value),
            ) else {
                return self.deny(format!("the manifest's header {name} cannot be sent"));
            };
            request.headers_mut().insert(name, value);
        }
        if !body_allowed {
            // A rule without a body sends none, whatever the guest streams.
            use http_body_util::BodyExt;
            *request.body_mut() = http_body_util::Empty::new()
                .map_err(|never| match never {})
                .boxed_unsync();
        }

        let gates = self.gates.clone();
        let limits = Limits {
            per_endpoint: self.manifest.budget.per_endpoint,
            per_credential: self
                .manifest
                .budget
                .per_credential(credential.credential.mode()),
        };
        let max_in_flight = self.manifest.network.max_in_flight;
        let max_body = self.manifest.network.max_response_bytes;
        let deadline = self.call.deadline;
        let ceilings = self.network.timeouts;
        let upstream = self.upstream.clone();
        let pool = self.pool.clone();
        Box::new(async move {
            // The slot first, then the connection, then the budget: a request that waited for a slot
            // cannot start in a second the budget already filled, and the budget counts the instant
            // the request can go on the wire, not one before a TLS handshake of unknown length (with a
            // handshake counted in, the first requests of a burst would reach the upstream late and
            // crowd into the same second as the next burst).
            let permit = gates
                .in_flight(credential.id, max_in_flight)
                .acquire_owned()
                .await
                .map_err(|_| Error::InternalError(Some("in-flight gate closed".into())))?;
            let t = ceilings.clamp(
                options.and_then(|o| o.connect_timeout),
                options.and_then(|o| o.first_byte_timeout),
                options.and_then(|o| o.between_bytes_timeout),
            );
            let left = || match deadline.saturating_duration_since(Instant::now()) {
                remaining if remaining.is_zero() => Err(Error::ConnectionTimeout),
                remaining => Ok(remaining),
            };
            let route = match upstream {
                Upstream::InProcess(handler) => Route::InProcess(handler),
                Upstream::Network => {
                    // TCP and TLS within the connect timeout, bounded here as a whole too.
                    let connect = t.connect.min(left()?);
                    let ready =
                        tokio::time::timeout(connect, pool.ready(request.uri(), Some(connect)))
                            .await
                            .map_err(|_| Error::ConnectionTimeout)??;
                    Route::Network(ready)
                }
            };
            let now = Instant::now();
            let start = gates.budget.reserve(credential.id, limits, &endpoint, now);
            // Only a request over budget waits: a timer for an instant already past still waits for
            // the timer driver's next tick (about a millisecond), on every request.
            if start > now {
                tokio::time::sleep_until(start.into()).await;
            }

            let remaining = left()?;
            let options = wasmtime_wasi_http::RequestOptions {
                connect_timeout: Some(t.connect.min(remaining)),
                first_byte_timeout: Some(t.first_byte.min(remaining)),
                between_bytes_timeout: Some(t.between_bytes.min(remaining)),
            };
            let (response, io): (http::Response<WasiBody>, BodyDone) = match route {
                Route::InProcess(handler) => {
                    use http_body_util::BodyExt;
                    let (parts, _body) = request.into_parts();
                    let response = handler(&parts).map(|b| {
                        http_body_util::Full::new(b)
                            .map_err(|never| match never {})
                            .boxed_unsync()
                    });
                    (response, Box::new(async { Ok(()) }))
                }
                Route::Network(ready) => {
                    use http_body_util::BodyExt;
                    // The response head (a resent request on a fresh connection included): bounded
                    // here as a whole, on top of the pool's per-step timeouts.
                    let head = (t.connect + t.first_byte).min(remaining);
                    let (response, done) =
                        tokio::time::timeout(head, ready.send(request, Some(options)))
                            .await
                            .map_err(|_| Error::ConnectionTimeout)??;
                    let done: BodyDone = Box::new(async move {
                        done.await;
                        Ok(())
                    });
                    (response.map(BodyExt::boxed_unsync), done)
                }
            };
            // The request is no longer in flight once its answer has begun: the slot goes back now, not
            // when the guest has read the body, so a guest that waits for every head before reading any
            // body (a legitimate fan-out) cannot wedge its own later requests. Bodies stay bounded by the
            // cap, the between-bytes timeout and the call's deadline.
            drop(permit);
            use http_body_util::BodyExt;
            let response = response.map(|body| {
                CappedBody {
                    inner: body,
                    limit: max_body,
                    seen: 0,
                }
                .boxed_unsync()
            });
            Ok((response, io))
        })
    }
}

/// Whether `text` holds a run of the credential once percent-decoded (up to three times, as the request
/// rules decode): such a reason cannot be redacted in place, so it is not logged at all.
fn reveals(runs: &SecretRuns, text: &str) -> bool {
    let mut decoded = text.to_owned();
    for _ in 0..3 {
        let next = percent_encoding::percent_decode_str(&decoded)
            .decode_utf8_lossy()
            .into_owned();
        if next == decoded {
            break;
        }
        if runs.contains(&next) {
            return true;
        }
        decoded = next;
    }
    false
}

/// A response body that fails once it exceeds the manifest's size, whatever the upstream declared.
struct CappedBody {
    inner: WasiBody,
    limit: u64,
    seen: u64,
}

impl http_body::Body for CappedBody {
    type Data = bytes::Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.seen = this.seen.saturating_add(data.len() as u64);
                    if this.seen > this.limit {
                        return Poll::Ready(Some(Err(Error::HttpResponseBodySize(Some(
                            this.limit,
                        )))));
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The hook on its own, driven the way wasmtime-wasi-http drives it, without a component.
#[cfg(test)]
mod tests {
    use super::super::pool::test_server::{Behaviour, Server};
    use super::super::pool::PoolOptions;
    use super::*;
    use http_body_util::BodyExt;
    use klairr_policy::credential::Mode;
    use klairr_policy::origin::LoopbackBase;

    const KEY: &str = "rk_test_51KlairrHookTestKeyXq7Lm2Nv9Rt4Wp8Zs3Bk6Yd1Hf5Jc0Gu2Ea7Ti9Oq4Vx6Ln3Mr8Sw1Pz5Kb0Dy7Fh2Cg9Uj4Qe6Ia1000";

    type Seen = Arc<Mutex<Vec<http::request::Parts>>>;

    fn hooks_with(manifest: Manifest, redirect: Option<&str>) -> (PolicyHooks, Seen) {
        let seen: Seen = Arc::default();
        let record = seen.clone();
        let upstream = Upstream::InProcess(Arc::new(move |parts: &http::request::Parts| {
            if let Ok(mut s) = record.lock() {
                s.push(parts.clone());
            }
            http::Response::new(bytes::Bytes::from_static(b"{}"))
        }));
        let pool = Pool::new(PoolOptions::default()).expect("pool");
        (hooks_on(manifest, redirect, upstream, pool), seen)
    }

    fn hooks_on(
        manifest: Manifest,
        redirect: Option<&str>,
        upstream: Upstream,
        pool: Pool,
    ) -> PolicyHooks {
        let mut network = manifest.network.policy();
        if let Some(base) = redirect {
            network = network.redirect_to(LoopbackBase::parse(base).expect("base"));
        }
        let credential = manifest
            .credential
            .accept(KEY, Mode::Test)
            .expect("a valid test key");
        let attached = Arc::new(ConnectionCredential {
            credential,
            id: [7; 32],
        });
        let mut hooks = PolicyHooks::new(
            Arc::new(manifest),
            Arc::new(network),
            upstream,
            Some(attached),
            Arc::default(),
            pool,
        );
        hooks.call = CallState::new(Phase::Query, Duration::from_secs(30), 100);
        hooks
    }

    fn hooks() -> (PolicyHooks, Seen) {
        hooks_with(Manifest::stripe(), None)
    }

    fn request(method: &str, uri: &str, headers: &[(&str, &str)]) -> http::Request<WasiBody> {
        let body = http_body_util::Full::new(bytes::Bytes::from_static(b"email=x@evil.example"))
            .map_err(|never| match never {})
            .boxed_unsync();
        let mut builder = http::Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(body).expect("request")
    }

    fn send(hooks: &mut PolicyHooks, request: http::Request<WasiBody>) -> ResponseFuture {
        hooks.send_request(request, None, Box::new(async { Ok(()) }))
    }

    fn run<T>(f: impl Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    fn outcome(hooks: &mut PolicyHooks, request: http::Request<WasiBody>) -> bool {
        run(Box::into_pin(send(hooks, request))).is_ok()
    }

    const LIST: &str = "https://api.stripe.com/v1/customers?limit=1";

    #[test]
    fn denied_requests_never_reach_the_upstream_and_the_log_says_why() {
        let (mut hooks, seen) = hooks();
        let cases = [
            ("POST", "https://api.stripe.com/v1/customers"),
            (
                "DELETE",
                "https://api.stripe.com/v1/customers/cus_RealId123",
            ),
            ("GET", "https://evil.example/v1/customers"),
            ("GET", "http://api.stripe.com/v1/customers"),
            (
                "GET",
                "https://api.stripe.com/v1/customers?expand%5B%5D=data",
            ),
            ("GET", "https://api.stripe.com/v1/../v1/customers"),
        ];
        for (method, uri) in cases {
            assert!(
                !outcome(&mut hooks, request(method, uri, &[])),
                "{method} {uri}"
            );
        }
        assert!(seen.lock().expect("lock").is_empty(), "nothing was sent");
        assert_eq!(hooks.log.len(), cases.len(), "{:?}", hooks.log);
        assert_eq!(hooks.call.sent, 0);
    }

    #[test]
    fn the_host_attaches_the_credential_and_pinned_headers_at_the_redirected_origin() {
        let (mut hooks, seen) = hooks_with(Manifest::stripe(), Some("http://127.0.0.1:12111"));
        assert!(outcome(&mut hooks, request("GET", LIST, &[])));
        let sent = seen.lock().expect("lock");
        let parts = &sent[0];
        assert_eq!(
            parts.uri.to_string(),
            "http://127.0.0.1:12111/v1/customers?limit=1"
        );
        assert_eq!(
            parts
                .headers
                .get_all("authorization")
                .iter()
                .collect::<Vec<_>>(),
            [format!("Bearer {KEY}").as_str()]
        );
        assert_eq!(parts.headers["stripe-version"], "2026-04-22.dahlia");
        assert_eq!(hooks.call.sent, 1);
    }

    #[test]
    fn the_guest_cannot_set_the_credential_header() {
        let (mut hooks, _seen) = hooks();
        let forbidden = hooks.forbidden_header_filter();
        for name in [
            "authorization",
            "proxy-authorization",
            "stripe-account",
            "host",
        ] {
            let name = http::HeaderName::from_static(name);
            assert!(forbidden(&name), "{name}");
        }
        assert!(!forbidden(&http::HeaderName::from_static("accept")));
    }

    #[test]
    fn offline_calls_may_send_nothing_and_their_log_quotes_nothing() {
        let (mut hooks, seen) = hooks();
        hooks.call = CallState::new(Phase::Offline, Duration::from_secs(5), 100);
        let leak = format!("https://api.stripe.com/v1/customers?leak={KEY}");
        assert!(!outcome(&mut hooks, request("GET", &leak, &[])));
        assert!(seen.lock().expect("lock").is_empty());
        assert!(!hooks.log[0].contains("leak"), "{:?}", hooks.log);
    }

    #[test]
    fn a_credential_in_the_url_is_denied_and_not_logged_even_encoded() {
        let (mut hooks, seen) = hooks();
        let encoded: String = KEY.bytes().map(|b| format!("%{b:02X}")).collect();
        for uri in [
            format!("https://api.stripe.com/v1/customers?starting_after={KEY}"),
            format!("https://api.stripe.com/v1/customers?starting_after={encoded}"),
        ] {
            assert!(!outcome(&mut hooks, request("GET", &uri, &[])), "{uri}");
        }
        assert!(seen.lock().expect("lock").is_empty());
        for line in &hooks.log {
            for start in 0..KEY.len() - 12 {
                assert!(!line.contains(&KEY[start..start + 12]), "{line}");
            }
            assert!(!line.contains(&encoded[..36]), "{line}");
        }
    }

    #[test]
    fn the_per_call_ceiling_stops_the_next_request() {
        let (mut hooks, seen) = hooks();
        hooks.call = CallState::new(Phase::Query, Duration::from_secs(30), 2);
        assert!(outcome(&mut hooks, request("GET", LIST, &[])));
        assert!(outcome(&mut hooks, request("GET", LIST, &[])));
        assert!(!outcome(&mut hooks, request("GET", LIST, &[])));
        assert!(hooks.call.ceiling_hit);
        assert_eq!(seen.lock().expect("lock").len(), 2);
    }

    #[test]
    fn over_the_in_flight_limit_a_request_waits_until_a_slot_frees() {
        let mut manifest = Manifest::stripe();
        manifest.network.max_in_flight = 1;
        let (mut hooks, seen) = hooks_with(manifest, None);
        // Another request of the same credential holds the only slot.
        let gate = hooks.gates.in_flight([7; 32], 1);
        let held = gate.clone().try_acquire_owned().expect("the slot");
        let waiting = send(&mut hooks, request("GET", LIST, &[]));
        run(async move {
            let mut waiting = Box::into_pin(waiting);
            let waited = tokio::time::timeout(Duration::from_millis(200), waiting.as_mut()).await;
            assert!(waited.is_err(), "the request waited for a slot");
            drop(held);
            let (_response, _body_done) = waiting
                .await
                .expect("sent once the slot is free, not refused");
        });
        assert_eq!(seen.lock().expect("lock").len(), 1);
    }

    #[test]
    fn a_slot_frees_when_the_answer_begins_not_when_the_body_is_read() {
        let mut manifest = Manifest::stripe();
        manifest.network.max_in_flight = 1;
        let (mut hooks, seen) = hooks_with(manifest, None);
        let first = send(&mut hooks, request("GET", LIST, &[]));
        let second = send(&mut hooks, request("GET", LIST, &[]));
        run(async move {
            // The first's head is in, its body unread: the second still goes (a fan-out that waits for
            // every head before reading any body must not wedge itself).
            let (_first, _first_body) = Box::into_pin(first).await.expect("first is sent");
            let second = tokio::time::timeout(Duration::from_secs(5), Box::into_pin(second)).await;
            assert!(matches!(second, Ok(Ok(_))), "the second was sent");
        });
        assert_eq!(seen.lock().expect("lock").len(), 2);
    }

    #[test]
    fn over_budget_a_request_waits_for_the_next_second() {
        let mut manifest = Manifest::stripe();
        manifest.budget.per_endpoint = 2;
        let (mut hooks, seen) = hooks_with(manifest, None);
        let started = Instant::now();
        for _ in 0..3 {
            assert!(outcome(&mut hooks, request("GET", LIST, &[])));
        }
        assert!(
            started.elapsed() >= Duration::from_millis(990),
            "the third of 2/s waited: {:?}",
            started.elapsed()
        );
        assert_eq!(seen.lock().expect("lock").len(), 3);
    }

    // ---- over the network, through the pool -------------------------------------------------------

    /// Hooks sending over the network to `server` (the Stripe origin redirected to its https base), with
    /// a pool trusting the server's certificate.
    fn network_hooks(manifest: Manifest, server: &Server) -> (PolicyHooks, Pool) {
        let pool = Pool::new(PoolOptions {
            extra_roots: vec![server.root.clone()],
            ..PoolOptions::default()
        })
        .expect("pool");
        let hooks = hooks_on(
            manifest,
            Some(&server.base()),
            Upstream::Network,
            pool.clone(),
        );
        (hooks, pool)
    }

    /// A page request as wasmtime-wasi-http hands it over: Host set to the guest's authority.
    fn page() -> http::Request<WasiBody> {
        request("GET", LIST, &[("host", "api.stripe.com")])
    }

    /// Drive a request the way wasmtime-wasi-http does: the head, the body-done future on a task of its
    /// own, then the body.
    async fn exchange(sent: ResponseFuture) -> Result<bytes::Bytes, Error> {
        let (response, done) = Box::into_pin(sent).await?;
        let done = tokio::spawn(Box::into_pin(done));
        let body = response.into_body().collect().await?.to_bytes();
        let _ = done.await;
        Ok(body)
    }

    const SMALL: Behaviour = Behaviour::KeepAlive {
        delay: Duration::ZERO,
        body: 2,
    };

    /// The budget counts a request when it can go on the wire. Three pages at once under a budget of
    /// two a second, to a server whose TLS handshakes take 600 ms: counted before the handshake, the
    /// first two would reach the server at ~0.6 s and the third (counted at 1.1 s, on a connection
    /// they freed) at ~1.1 s, three in one of the server's seconds.
    #[tokio::test]
    async fn the_budget_counts_a_start_once_its_connection_is_ready() {
        let server = Server::start(Behaviour::SlowHandshake {
            delay: Duration::from_millis(600),
        })
        .await;
        let mut manifest = Manifest::stripe();
        manifest.budget.per_endpoint = 2;
        let (mut hooks, _pool) = network_hooks(manifest, &server);
        let pages: Vec<_> = (0..3)
            .map(|_| tokio::spawn(exchange(send(&mut hooks, page()))))
            .collect();
        for page in pages {
            assert_eq!(&page.await.expect("joined").expect("answered")[..], b"xx");
        }
        let mut arrived: Vec<Instant> = server.requests().iter().map(|r| r.at).collect();
        arrived.sort();
        assert_eq!(arrived.len(), 3);
        let spread = arrived[2] - arrived[0];
        assert!(
            spread >= Duration::from_secs(1),
            "three arrivals within {spread:?} under a budget of two a second"
        );
    }

    #[tokio::test]
    async fn pages_share_one_tls_connection_to_the_redirected_origin_with_the_original_host() {
        let server = Server::start(SMALL).await;
        let (mut hooks, pool) = network_hooks(Manifest::stripe(), &server);
        for _ in 0..10 {
            let body = exchange(send(&mut hooks, page())).await.expect("answered");
            assert_eq!(&body[..], b"xx");
        }
        assert_eq!(server.accepts(), 1, "TCP connections");
        assert_eq!(server.handshakes(), 1, "TLS handshakes");
        assert_eq!(pool.stats().reused, 9);
        let seen = server.requests();
        assert_eq!(seen.len(), 10);
        let bearer = format!("Bearer {KEY}");
        for request in seen {
            assert_eq!(request.target, "/v1/customers?limit=1");
            assert_eq!(request.host.as_deref(), Some("api.stripe.com"));
            assert_eq!(request.authorization.as_deref(), Some(bearer.as_str()));
        }
    }

    #[tokio::test]
    async fn concurrent_pages_open_at_most_the_in_flight_count_of_connections_then_reuse_them() {
        let server = Server::start(Behaviour::KeepAlive {
            delay: Duration::from_millis(50),
            body: 2,
        })
        .await;
        let mut manifest = Manifest::stripe();
        manifest.network.max_in_flight = 3;
        let (mut hooks, pool) = network_hooks(manifest, &server);
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..9 {
            set.spawn(exchange(send(&mut hooks, page())));
        }
        while let Some(joined) = set.join_next().await {
            joined.expect("task").expect("answered");
        }
        assert_eq!(server.requests().len(), 9);
        assert_eq!(server.accepts(), 3, "one connection per in-flight slot");
        assert_eq!(server.handshakes(), 3);
        assert_eq!(pool.stats().reused, 6);
    }

    #[tokio::test]
    async fn the_body_cap_holds_on_pooled_connections_and_a_cut_body_frees_its_slot() {
        // Many frames, so the cap cuts the body before its end (a body whose last frame arrived
        // whole leaves its connection clean and reusable, whatever the cap says about it).
        let server = Server::start(Behaviour::KeepAlive {
            delay: Duration::ZERO,
            body: 256 * 1024,
        })
        .await;
        let mut manifest = Manifest::stripe();
        manifest.network.max_response_bytes = 1024;
        manifest.network.max_in_flight = 1;
        let (mut hooks, _pool) = network_hooks(manifest, &server);
        for attempt in 0..2 {
            // The second waits for the only slot: it gets it because the cut body is done.
            let result =
                tokio::time::timeout(Duration::from_secs(5), exchange(send(&mut hooks, page())))
                    .await
                    .unwrap_or_else(|_| panic!("attempt {attempt} got no slot"));
            assert!(
                matches!(result, Err(Error::HttpResponseBodySize(Some(1024)))),
                "{result:?}"
            );
        }
        assert_eq!(server.accepts(), 2, "a cut connection is not reused");
    }

    #[tokio::test]
    async fn a_stalled_tls_handshake_ends_at_the_manifests_connect_ceiling() {
        let server = Server::start(Behaviour::SilentHandshake).await;
        let mut manifest = Manifest::stripe();
        manifest.network.timeouts.connect = Duration::from_millis(300);
        let (mut hooks, _pool) = network_hooks(manifest, &server);
        let started = Instant::now();
        let result =
            tokio::time::timeout(Duration::from_secs(10), exchange(send(&mut hooks, page())))
                .await
                .expect("no hang");
        assert!(
            matches!(result, Err(Error::ConnectionTimeout)),
            "{result:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(server.handshakes(), 0);
    }
}
