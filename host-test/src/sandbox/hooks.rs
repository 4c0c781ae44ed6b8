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
//! credential header: it is forbidden to it, like `proxy-authorization`), waits for an in-flight slot,
//! takes a connection from the sandbox's keep-alive pool (`pool.rs`; a new one's TLS handshake
//! included), waits for the request budget (waiting, never failing: the budget counts the request once
//! it can go on the wire), and sends, with timeouts clamped to the manifest's ceilings and to the time
//! left before the call's deadline. Response bodies are capped at the manifest's size; the slot goes
//! back when the response head arrives. A denied request gets `HttpRequestDenied`; the reason goes to
//! the connection's log, redacted.

use klairr_policy::budget::{CredentialId, Limits};
use klairr_policy::credential::Credential;
use klairr_policy::manifest::Manifest;
use klairr_policy::origin::NetworkPolicy;
use klairr_policy::probes::ProbeAnswer;
use klairr_policy::redact::SecretRuns;
use klairr_policy::request_rules::{self, Phase};

use std::future::Future;
use std::sync::{Arc, Mutex};

use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use wasmtime_wasi_http::{Error, ForbiddenHeaderFilter, WasiBody, WasiHttpHooks};

use super::pool::{Pool, Ready};

mod admission;
mod capped_body;
mod denials;
mod gates;
mod sending;
use admission::Admitted;
use capped_body::CappedBody;
pub(crate) use denials::{denial_lines, reveals, Refusals, ENCODED_CREDENTIAL};
pub use gates::{SharedGates, OPEN_RESPONSES_PER_IN_FLIGHT};
use sending::{budget_start, clear_to_send, stopped, stopped_before};

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
    /// Requests of this call the policy refused.
    pub(crate) denied: u32,
}

impl CallState {
    pub(crate) fn new(phase: Phase, timeout: Duration, ceiling: u32) -> CallState {
        CallState {
            phase,
            deadline: Instant::now() + timeout,
            ceiling,
            sent: 0,
            denied: 0,
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
    /// Why requests were denied, for the host's log: the first `denials::MAX_LOG_LINES` of the
    /// store's, recorded as they are during a call and masked once it has returned
    /// ([`PolicyHooks::mask_denials`]).
    pub(crate) log: Vec<String>,
    /// Why this call's first refused request was, whether or not the log had room for it: what the
    /// call's error names (a long-lived `serve` connection fills its log).
    pub(crate) first_denial: Option<String>,
    /// Requests refused over the store's life, every call's: what metrics and the log's "more" line
    /// count since a mark (`Connection::denial_mark`), across the calls of one answer.
    pub(crate) denied_total: u64,
    /// Lines of `log` masked so far, and whether `first_denial` is ([`PolicyHooks::mask_denials`]).
    masked: usize,
    first_masked: bool,
    /// Until when the work on the last call's refusals is padded ([`PolicyHooks::mask_denials`]).
    pad_until: Option<Instant>,
    /// The answers setup's write probes and reads got during this call (a verification), as they came:
    /// the host judges setup from these, not from the component's report (`klairr_policy::probes`).
    pub(crate) probe_answers: Arc<Mutex<Vec<ProbeAnswer>>>,
    /// This store's responses held open ([`OPEN_RESPONSES_PER_IN_FLIGHT`]).
    open_responses: Arc<tokio::sync::Semaphore>,
    /// Cancelled when the connection is given up (`Connection::cancel_with`): a request not yet on the
    /// wire then never goes, and one waiting for its answer stops waiting.
    pub(crate) cancel: CancellationToken,
    /// This call's own: a child of `cancel`, cancelled when the call returns, however it ends. A request
    /// a call left behind (its future kept past the call, still waiting for a slot, a connection or the
    /// budget) never goes on the wire after it: it would go out uncounted, outside the call's phase (a
    /// write probe after setup) and past what the next call's ceiling allows.
    call_cancel: CancellationToken,
    /// Cancelled when this call reaches its request ceiling: the call is then stopped wherever it is
    /// (a component that ignores the denial and keeps asking, or waits, would otherwise run on until
    /// its deadline). A fresh one per call.
    pub(crate) ceiling_reached: CancellationToken,
    /// Requests of this call that went on the wire. `call.sent` counts those admitted (the ceiling's
    /// count), some of which may still wait for a slot or the budget when the call ends; this counts
    /// what the upstream can have seen (reports and metrics).
    pub(crate) on_the_wire: Arc<std::sync::atomic::AtomicU32>,
    /// Set while the host itself sends one of its setup probes ([`PolicyHooks::send_host_probe`]): a
    /// rule with `sent_by = "host"` admits the host's request only, and the host's request only that
    /// rule (review: a component could send the host's probes itself, its answers judged as the
    /// host's; and a host probe shadowed by an earlier rule went out judged under that one).
    host_probe: bool,
}

pub(super) type BodyDone = Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>;
pub(super) type ResponseFuture = Box<
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
        let open_responses = Arc::new(tokio::sync::Semaphore::new(
            manifest
                .network
                .max_in_flight
                .saturating_mul(OPEN_RESPONSES_PER_IN_FLIGHT),
        ));
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
            first_denial: None,
            denied_total: 0,
            masked: 0,
            first_masked: false,
            pad_until: None,
            probe_answers: Arc::default(),
            open_responses,
            on_the_wire: Arc::default(),
            cancel: CancellationToken::new(),
            call_cancel: CancellationToken::new(),
            ceiling_reached: CancellationToken::new(),
            host_probe: false,
        }
    }

    /// Send one of setup's probes that the host sends itself (`host_probes`), through every hook a
    /// component's request goes through.
    pub(super) fn send_host_probe(&mut self, request: http::Request<WasiBody>) -> ResponseFuture {
        self.host_probe = true;
        let sent = self.send_request(request, None, Box::new(async { Ok(()) }));
        self.host_probe = false;
        sent
    }

    /// Start `call` with a fresh record: an answer to an earlier call's request never counts for this
    /// one, nor does an earlier call's ceiling. Returns the token cancelled when this call asks past its
    /// ceiling.
    pub(crate) fn begin_call(&mut self, call: CallState) -> CancellationToken {
        self.call = call;
        self.probe_answers = Default::default();
        self.first_denial = None;
        self.first_masked = false;
        self.on_the_wire = Default::default();
        self.ceiling_reached = CancellationToken::new();
        self.call_cancel.cancel();
        self.call_cancel = self.cancel.child_token();
        self.ceiling_reached.clone()
    }

    /// The token [`PolicyHooks::end_call`] cancels, for whoever ends the call where it ends.
    pub(crate) fn call_over(&self) -> CancellationToken {
        self.call_cancel.clone()
    }

    /// The call has returned: what it asked for and left waiting is not sent (see `call_cancel`).
    pub(crate) fn end_call(&self) {
        self.call_cancel.cancel();
    }

    /// Whether this call asked for a request past its ceiling.
    pub(crate) fn ceiling_hit(&self) -> bool {
        self.ceiling_reached.is_cancelled()
    }
}

/// The most a guest may write to an outgoing body in one `write` (see `p2_outgoing_body_chunk_size`).
pub(crate) const OUTGOING_BODY_CHUNK_BYTES: usize = 4 << 10;

impl WasiHttpHooks for PolicyHooks {
    fn forbidden_header_filter(&mut self) -> ForbiddenHeaderFilter {
        self.forbidden.clone()
    }

    // What a guest writes to an outgoing body waits in the host until the request is sent, and a
    // request may never be sent: wasmtime's default buffers two 1 MiB chunks per body, so a guest
    // holding thousands of unsent requests kept gigabytes outside its memory limit. A body the manifest
    // allows is small (none is ever sent for Stripe): 4 KiB chunks, one buffered.
    fn p2_outgoing_body_buffer_chunks(&mut self) -> usize {
        1
    }

    fn p2_outgoing_body_chunk_size(&mut self) -> usize {
        OUTGOING_BODY_CHUNK_BYTES
    }

    fn send_request(
        &mut self,
        mut request: http::Request<WasiBody>,
        options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: BodyDone,
    ) -> ResponseFuture {
        // The call is being stopped (it asked past its ceiling; the stop lands at its next wait or epoch
        // tick): what it asks for meanwhile is refused without a word, not logged or counted as a
        // denial each (QA: a flood logged 150).
        if self.ceiling_hit() {
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        let Admitted {
            target,
            endpoint,
            body_allowed,
            probe_rule,
        } = match self.admit(&request) {
            Ok(admitted) => admitted,
            Err(reason) => return self.deny(reason),
        };
        let probe_answers = self.probe_answers.clone();
        let open_responses = self.open_responses.clone();
        let on_the_wire = self.on_the_wire.clone();
        let connection_closed = self.cancel.clone();
        let cancel = self.call_cancel.clone();
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
        let connector = self.manifest.name.clone();
        let max_body = self.manifest.network.max_response_bytes;
        let deadline = self.call.deadline;
        let ceilings = self.network.timeouts;
        let upstream = self.upstream.clone();
        let pool = self.pool.clone();
        let stop = cancel.clone();
        let on_wire = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let put_on_wire = on_wire.clone();
        let send = async move {
            // The slot first, then the connection, then the budget: a request that waited for a slot
            // cannot start in a second the budget already filled, and the budget counts the instant
            // the request can go on the wire, not one before a TLS handshake of unknown length (with a
            // handshake counted in, the first requests of a burst would reach the upstream late and
            // crowd into the same second as the next burst). Before the slot, an open-response slot: a
            // request waits for one of its connection's held responses to finish before it takes an
            // in-flight slot, so a component holding every response it gets cannot hold more.
            let open = open_responses
                .acquire_owned()
                .await
                .map_err(|_| Error::InternalError(Some("open-response gate closed".into())))?;
            // Then one of the host's, which every connection shares (`gates::MAX_OPEN_RESPONSES`).
            let open_here = gates
                .open_responses
                .clone()
                .acquire_owned()
                .await
                .map_err(|_| Error::InternalError(Some("open-response gate closed".into())))?;
            let open = (open, open_here);
            let permit = gates
                .in_flight(credential.id, &connector, max_in_flight)
                .acquire()
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
            let start = budget_start(&gates, credential.id, &connector, limits, &endpoint).await;
            let last_start = Arc::new(std::sync::Mutex::new(start));

            let remaining = clear_to_send(deadline, &cancel, &connection_closed)?;
            put_on_wire.store(true, std::sync::atomic::Ordering::Relaxed);
            on_the_wire.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
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
                    // A request the server closed a kept-alive connection under is resent once on a
                    // fresh one: a request of its own to the upstream, so it takes a budget start of
                    // its own, once that connection is ready, and is stopped as any request not on the
                    // wire yet (review: it went out uncounted, two starts within one second under a
                    // budget of one).
                    let resend = sending::resend_gate(sending::Resend {
                        gates: gates.clone(),
                        id: credential.id,
                        connector: connector.clone(),
                        limits,
                        endpoint: endpoint.clone(),
                        deadline,
                        call: cancel.clone(),
                        connection: connection_closed.clone(),
                        on_the_wire: on_the_wire.clone(),
                        last_start: last_start.clone(),
                    });
                    // The response head (a resent request on a fresh connection included): bounded
                    // here as a whole, on top of the pool's per-step timeouts.
                    let head = (t.connect + t.first_byte).min(remaining);
                    let sent = ready.send_gated(request, Some(options), Some(resend));
                    let (response, done) = tokio::time::timeout(head, sent)
                        .await
                        .map_err(|_| Error::ConnectionTimeout)??;
                    let done: BodyDone = Box::new(async move {
                        done.await;
                        Ok(())
                    });
                    (response.map(BodyExt::boxed_unsync), done)
                }
            };
            // Too many requests, though within this host's budget: another client spends the same
            // upstream budget. The credential's pace is held down until the 429s stop.
            if response.status() == http::StatusCode::TOO_MANY_REQUESTS {
                let start = last_start.lock().map_or(start, |last| *last);
                gates
                    .budget
                    .rate_limited(credential.id, start, Instant::now());
            }
            if let Some(rule) = probe_rule {
                if let Ok(mut answers) = probe_answers.lock() {
                    answers.push(ProbeAnswer {
                        rule,
                        status: response.status().as_u16(),
                    });
                }
            }
            // The request is no longer in flight once its answer has begun: the slot goes back now
            // (handed out with the answer and dropped by whoever takes it, or with the answer if the
            // component gave the request up), not when the guest has read the body, so a guest that
            // waits for several heads before reading any body (a fan-out) does not wedge its own later
            // requests. The body keeps its open-response slot until it is read to the end or dropped;
            // it stays bounded by the cap, the between-bytes timeout and the call's deadline.
            use http_body_util::BodyExt;
            let response = response.map(|body| {
                CappedBody {
                    inner: body,
                    limit: max_body,
                    seen: 0,
                    open: Some(open),
                }
                .boxed_unsync()
            });
            Ok((response, io, permit))
        };
        // A request runs on a task of its own, which could outlive the call that made it: once the
        // call has returned, or the connection is closed, it stops wherever it waits.
        let closed_for = self.cancel.clone();
        let given_up = on_wire.clone();
        let request = async move {
            tokio::select! {
                biased;
                () = stopped_before(stop, closed_for.clone(), on_wire) => Err(stopped(&closed_for)),
                sent = send => sent,
            }
        };
        // wasmtime aborts the task it runs this future on when the component drops the request's
        // future. A request not on the wire yet stops there; one already sent runs on, in a task of
        // its own, until its answer's head arrives (its in-flight slot given back then, the answer
        // dropped unread), as any request does: the upstream is still working on it. Aborted with it,
        // it gave its slot back at once, and a component that dropped each request once sent kept
        // 24 in flight at the upstream under a limit of 8 (red team).
        Box::new(async move {
            let task = tokio::spawn(request);
            let _abort = AbortUnlessSent {
                task: task.abort_handle(),
                on_wire: given_up,
            };
            let (response, io, in_flight) = task.await.unwrap_or_else(|e| {
                Err(Error::InternalError(Some(format!(
                    "the request's task ended: {e}"
                ))))
            })?;
            drop(in_flight);
            Ok((response, io))
        })
    }
}

/// Aborts a request's task when the future waiting for it is dropped, unless the request is already
/// on the wire (see the end of `send_request`).
struct AbortUnlessSent {
    task: tokio::task::AbortHandle,
    on_wire: Arc<std::sync::atomic::AtomicBool>,
}

impl Drop for AbortUnlessSent {
    fn drop(&mut self) {
        if !self.on_wire.load(std::sync::atomic::Ordering::Relaxed) {
            self.task.abort();
        }
    }
}

/// The hook on its own, driven the way wasmtime-wasi-http drives it, without a component.
#[cfg(test)]
mod tests;
