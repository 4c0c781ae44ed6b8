//! The HTTP API of `serve`, one function per route. Calls into connectors block (they run their own
//! runtime), so they run on tokio's blocking pool and never on the server's event loop.

use super::auth::Token;
use super::client_socket::ClientSocket;
use super::connection_body;
use super::errors::ApiError;
use super::metrics::labels;
use super::platform::Platform;
use crate::output;
use crate::policy::credential::Given;
use crate::policy::redact::{strip_control, SecretRuns};
use crate::sandbox::{max_rows_refusal, max_scan_refusal, wit, ConnectionConfig};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio_util::sync::{CancellationToken, DropGuard};

/// What every request handler shares.
pub struct State {
    pub platform: Arc<Platform>,
    pub token: Token,
    pub max_body_bytes: usize,
    /// How long a request's body may take to arrive (the head's limit is hyper's, set to the same).
    pub request_timeout: std::time::Duration,
    /// Set when a drain begins: new calls are refused with `shutting-down`.
    pub draining: AtomicBool,
    /// Cancelled when a drain begins (with `draining` set first): a query waiting for its connection's
    /// turn is answered `shutting-down` then, not when the call ahead of it ends (which may be never,
    /// within the drain: it was then cut off unanswered, having waited the whole drain).
    pub drain_begun: CancellationToken,
}

pub type Reply = Response<Full<Bytes>>;

fn json(status: StatusCode, body: String) -> Reply {
    let mut reply = Response::new(Full::new(Bytes::from(body)));
    *reply.status_mut() = status;
    reply.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    reply
}

/// A typed body as JSON. Serialising these types cannot fail (no maps with non-string keys).
fn typed<T: Serialize>(status: StatusCode, body: &T) -> Reply {
    match serde_json::to_string(body) {
        Ok(text) => json(status, text),
        Err(e) => error(&ApiError::new(
            "sandbox",
            format!("could not render JSON: {e}"),
        )),
    }
}

/// `GET /v1/connectors`: each connector's `describe`, as `--format json describe` prints it.
#[derive(Serialize)]
struct Connectors<'a> {
    connectors: Vec<Served<'a>>,
}

/// One connector of `GET /v1/connectors`: its catalogue, and which version of it serves now.
#[derive(Serialize)]
struct Served<'a> {
    #[serde(flatten)]
    describe: output::DescribeJson<'a>,
    loaded: LoadedVersion,
}

/// The version a connector serves: counted from 1, one more at each reload; the SHA-256 of its
/// component's bytes and of its manifest as validated (both part of every result-cache key).
#[derive(Serialize)]
struct LoadedVersion {
    version: u64,
    component_sha256: String,
    manifest_sha256: String,
}

impl LoadedVersion {
    fn new(version: u64, component: &[u8; 32], manifest: &[u8; 32]) -> LoadedVersion {
        LoadedVersion {
            version,
            component_sha256: crate::cache::hex(component),
            manifest_sha256: crate::cache::hex(manifest),
        }
    }
}

/// `201` of `POST /v1/connections`: the new id and the setup report (never the credential).
#[derive(Serialize)]
struct Created<'a> {
    id: &'a str,
    setup: output::SetupJson<'a>,
}

/// `POST /v1/connectors/{name}/reload`: which version now serves.
#[derive(Serialize)]
struct Reloaded<'a> {
    connector: &'a str,
    #[serde(flatten)]
    loaded: LoadedVersion,
}

fn error(e: &ApiError) -> Reply {
    use klairr_policy::redact::{cap, CONTEXT_ROOM, MESSAGE_CAP};
    let message = cap(&e.message, MESSAGE_CAP + CONTEXT_ROOM);
    let mut reply = json(e.status(), output::error_json(&e.kind, &message));
    if let Some(allow) = e.allow {
        reply.headers_mut().insert(
            hyper::header::ALLOW,
            hyper::header::HeaderValue::from_static(allow),
        );
    }
    if let Some(seconds) = e.retry_after() {
        reply
            .headers_mut()
            .insert(hyper::header::RETRY_AFTER, seconds.into());
    }
    // RFC 9110: a 401 names the scheme it wants (RFC 6750's, for the bearer token).
    if e.kind == "unauthorized" {
        reply.headers_mut().insert(
            hyper::header::WWW_AUTHENTICATE,
            hyper::header::HeaderValue::from_static("Bearer realm=\"klairr-host\""),
        );
    }
    reply
}

/// `204 No Content`: no body, so no content type either.
fn no_content() -> Reply {
    let mut reply = Response::new(Full::new(Bytes::new()));
    *reply.status_mut() = StatusCode::NO_CONTENT;
    reply
}

/// Answer one request; the route's name and status are counted.
pub async fn handle(state: Arc<State>, request: Request<Incoming>) -> Result<Reply, hyper::Error> {
    let (route, reply) = route(&state, request).await;
    let reply = reply.unwrap_or_else(|e| error(&e));
    state.platform.metrics.add(
        "klairr_http_requests_total",
        labels(&[("route", route), ("status", reply.status().as_str())]),
        1,
    );
    Ok(reply)
}

fn shutting_down() -> ApiError {
    ApiError::new(
        "shutting-down",
        "the host is draining and stops taking calls: retry on another replica or after the restart",
    )
}

async fn route(
    state: &Arc<State>,
    request: Request<Incoming>,
) -> (&'static str, Result<Reply, ApiError>) {
    // HEAD is GET without the body (hyper leaves it out): load balancers probe with it.
    let method = match request.method() {
        &Method::HEAD => Method::GET,
        other => other.clone(),
    };
    // HTTP/1.1 requires a Host header, and a request without one must be refused (RFC 9112, 3.2).
    if request.version() == hyper::Version::HTTP_11
        && !request.headers().contains_key(hyper::header::HOST)
    {
        return (
            "invalid-request",
            Err(ApiError::new(
                "invalid-request",
                "an HTTP/1.1 request needs a Host header (e.g. Host: 127.0.0.1)",
            )),
        );
    }
    let socket = request.extensions().get::<ClientSocket>().copied();
    let path = request.uri().path().to_owned();
    // One leading slash, as every path has: `//healthz` is not `/healthz` (an empty segment is no route).
    let segments: Vec<&str> = path.strip_prefix('/').unwrap_or(&path).split('/').collect();
    if segments == ["healthz"] {
        let reply = if method != Method::GET {
            Err(not_allowed(READS))
        } else if state.draining.load(Ordering::SeqCst) {
            // Not healthy for new work: a load balancer probing here stops sending it.
            Err(shutting_down())
        } else {
            Ok(json(StatusCode::OK, r#"{"ok":true}"#.into()))
        };
        return ("/healthz", reply);
    }
    // Exactly one Authorization header: with two, a proxy in front and this host could each read a
    // different one, so neither is believed.
    let mut authorizations = request
        .headers()
        .get_all(hyper::header::AUTHORIZATION)
        .iter();
    let (authorization, twice) = match (authorizations.next(), authorizations.next()) {
        (Some(only), None) => (Some(only.as_bytes()), false),
        (Some(_), Some(_)) => (None, true),
        _ => (None, false),
    };
    if !state.token.admits(authorization) {
        return (
            "unauthorized",
            Err(ApiError::new(
                "unauthorized",
                if twice {
                    "send one Authorization header, Authorization: Bearer $KLAIRR_HOST_TOKEN (with two, neither is believed)"
                } else {
                    "send Authorization: Bearer $KLAIRR_HOST_TOKEN"
                },
            )),
        );
    }
    if state.draining.load(Ordering::SeqCst) && segments != ["metrics"] {
        return ("shutting-down", Err(shutting_down()));
    }
    // An empty segment (`/v1/connections/`, `/v1/connections//query`) names no connection or
    // connector, whatever the method: checked before the routes that take one, which would read `""`
    // as a name or an id (and the body before that).
    if segments.contains(&"") {
        return ("not-found", Err(no_route()));
    }
    match (method.clone(), segments.as_slice()) {
        (Method::GET, ["metrics"]) => ("/metrics", Ok(metrics(state))),
        (Method::GET, ["v1", "connectors"]) => ("/v1/connectors", Ok(connectors(state))),
        (Method::POST, ["v1", "connectors", name, "reload"]) => {
            let name = (*name).to_owned();
            let platform = state.platform.clone();
            (
                "/v1/connectors/{name}/reload",
                blocking(move || reload(&platform, &name)).await,
            )
        }
        (Method::POST, ["v1", "connections"]) => {
            let body = match read_body(state, request).await {
                Ok(body) => body,
                Err(e) => return ("/v1/connections", Err(e)),
            };
            // A drain that began while the body arrived starts no setup (review: one whose head came
            // before SIGTERM and its body after ran a whole setup, ten requests of the key's budget).
            if state.draining.load(Ordering::SeqCst) {
                return ("/v1/connections", Err(shutting_down()));
            }
            let platform = state.platform.clone();
            // When the client goes away the setup ends without adding a connection nobody knows of.
            let (hung_up, client) = hang_up(socket);
            let reply = blocking(move || connect(&platform, &body, &hung_up)).await;
            client.disarm();
            ("/v1/connections", reply)
        }
        (Method::POST, ["v1", "connections", id, "query"]) => {
            let id = (*id).to_owned();
            let body = match read_body(state, request).await {
                Ok(body) => body,
                Err(e) => return ("/v1/connections/{id}/query", Err(e)),
            };
            let platform = state.platform.clone();
            // The connection's turn is awaited here, on the event loop: a queue of calls on one
            // connection must not hold the threads that every other connection's calls run on.
            // A drain that begins meanwhile answers it at once: it would start no call anyway.
            let turn = match platform.turn(&id) {
                Ok(turn) => tokio::select! {
                    biased;
                    turn = turn.lock_owned() => turn,
                    () = state.drain_begun.cancelled() => {
                        return ("/v1/connections/{id}/query", Err(shutting_down()));
                    }
                },
                Err(e) => return ("/v1/connections/{id}/query", Err(e)),
            };
            // A drain that began while this query waited its turn starts no new call (review: queued
            // queries each ran a call, spending the key's budget, after the drain had begun).
            if state.draining.load(Ordering::SeqCst) {
                return ("/v1/connections/{id}/query", Err(shutting_down()));
            }
            // When the client hangs up the call stops and sends nothing more (QA: it ran on and
            // spent the key's budget).
            let (hung_up, client) = hang_up(socket);
            let call = move || {
                let _turn = turn;
                query(&platform, &id, &body, &hung_up)
            };
            let reply = blocking(call).await;
            client.disarm();
            ("/v1/connections/{id}/query", reply)
        }
        (Method::DELETE, ["v1", "connections", id]) => {
            let reply = match state.platform.disconnect(id) {
                // Answered once the call it stopped has ended and its instance is gone: after the 204
                // nothing of the connection runs (its queued calls, ahead in the queue, find it gone).
                Some(turn) => {
                    drop(turn.lock().await);
                    Ok(no_content())
                }
                None => Err(ApiError::new(
                    "unknown-connection",
                    "no open connection has this id",
                )),
            };
            ("/v1/connections/{id}", reply)
        }
        // Another method on a route: counted under the route, as `/healthz`'s are.
        (_, ["metrics"]) => ("/metrics", Err(not_allowed(READS))),
        (_, ["v1", "connectors"]) => ("/v1/connectors", Err(not_allowed(READS))),
        (_, ["v1", "connections"]) => ("/v1/connections", Err(not_allowed("POST"))),
        (_, ["v1", "connectors", _, "reload"]) => {
            ("/v1/connectors/{name}/reload", Err(not_allowed("POST")))
        }
        (_, ["v1", "connections", _, "query"]) => {
            ("/v1/connections/{id}/query", Err(not_allowed("POST")))
        }
        (_, ["v1", "connections", _]) => ("/v1/connections/{id}", Err(not_allowed("DELETE"))),
        _ => ("not-found", Err(no_route())),
    }
}

fn no_route() -> ApiError {
    ApiError::new(
        "not-found",
        "no such route: see GET /v1/connectors, POST /v1/connections, POST /v1/connections/ID/query",
    )
}

/// What a route that reads takes, as `Allow` says it.
const READS: &str = "GET, HEAD";

/// 405, saying (and sending as `Allow`) the methods the route takes.
fn not_allowed(allow: &'static str) -> ApiError {
    ApiError {
        allow: Some(allow),
        ..ApiError::new(
            "method-not-allowed",
            format!("this route takes {} only", allow.replace(", ", " or ")),
        )
    }
}

/// A token cancelled when the guard is dropped with a request's future — hyper drops it when the
/// client's connection closes — or when `socket` shows the client gone (which hyper does not see with
/// a request pipelined behind this one), while the call it was handed runs elsewhere; the guard is
/// disarmed once the call has answered.
fn hang_up(socket: Option<ClientSocket>) -> (CancellationToken, HangUpGuard) {
    let hung_up = CancellationToken::new();
    let watch = socket.and_then(|socket| socket.watch(hung_up.clone()));
    let guard = HangUpGuard {
        dropped: Some(hung_up.clone().drop_guard()),
        watch,
    };
    (hung_up, guard)
}

/// See [`hang_up`]: the watch of the socket ends with the guard, disarmed or dropped.
struct HangUpGuard {
    dropped: Option<DropGuard>,
    watch: Option<tokio::task::JoinHandle<()>>,
}

impl HangUpGuard {
    /// The call has answered: the client leaving now stops nothing (the watch ends with the drop).
    fn disarm(mut self) {
        if let Some(dropped) = self.dropped.take() {
            dropped.disarm();
        }
    }
}

impl Drop for HangUpGuard {
    fn drop(&mut self) {
        if let Some(watch) = self.watch.take() {
            watch.abort();
        }
    }
}

/// Run a connector call on the blocking pool.
async fn blocking(
    f: impl FnOnce() -> Result<Reply, ApiError> + Send + 'static,
) -> Result<Reply, ApiError> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|_| {
        // Not the panic's text: it may quote anything the call held (review). The operator reads the
        // panic's own report on stderr.
        Err(ApiError::new(
            "sandbox",
            "the call failed inside the host (a panic; the operator's log has it)",
        ))
    })
}

/// The body, at most `max_body_bytes`, as UTF-8 (a leading byte order mark is dropped, as JSON parsers
/// may do and the CLI does). A declared length over the limit is refused before any of it is read.
async fn read_body(state: &State, request: Request<Incoming>) -> Result<String, ApiError> {
    let limit = state.max_body_bytes;
    let wait = state.request_timeout;
    let too_large = || {
        ApiError::new(
            "body-too-large",
            format!("request bodies are at most {limit} bytes"),
        )
    };
    let declared = request
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let collected = tokio::time::timeout(wait, Limited::new(request.into_body(), limit).collect())
        .await
        .map_err(|_| {
            ApiError::new(
                "request-timeout",
                format!(
                    "the body did not arrive within {} s: send it whole, at once (as many bytes as its \
                     Content-Length says, or its chunks through the last, empty one)",
                    wait.as_secs()
                ),
            )
        })?
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                too_large()
            } else {
                // A body that broke off or was framed wrongly (a bad chunk, fewer bytes than its
                // Content-Length): the request's fault, whatever its size.
                ApiError::new(
                    "invalid-request",
                    format!(
                        "the request body could not be read ({e}): send it whole (as many bytes as its \
                         Content-Length says, or well-formed chunks ending with an empty one)"
                    ),
                )
            }
        })?;
    let bytes = collected.to_bytes();
    let text = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(&bytes);
    String::from_utf8(text.to_vec())
        .map_err(|_| ApiError::new("invalid-request", "the body is not UTF-8 text"))
}

fn metrics(state: &State) -> Reply {
    let (hits, misses) = state.platform.answers().hits_and_misses();
    let mut text = state.platform.metrics.render();
    text.push_str(&format!(
        "# HELP klairr_cache_lookups_total Result-cache lookups of all connectors, by result (a miss whose query then failed included).\n# TYPE klairr_cache_lookups_total counter\nklairr_cache_lookups_total{{result=\"hit\"}} {hits}\nklairr_cache_lookups_total{{result=\"miss\"}} {misses}\n# HELP klairr_cache_bytes Bytes of results the shared cache holds.\n# TYPE klairr_cache_bytes gauge\nklairr_cache_bytes {}\n",
        state.platform.answers().cached_bytes()
    ));
    let mut reply = Response::new(Full::new(Bytes::from(text)));
    reply.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    reply
}

fn connectors(state: &State) -> Reply {
    let loaded = state.platform.connectors();
    let body = Connectors {
        connectors: loaded
            .iter()
            .map(|l| Served {
                describe: output::describe_doc(&l.info),
                loaded: LoadedVersion::new(
                    l.version,
                    &l.sandbox.component_sha256(),
                    &l.sandbox.manifest_sha256(),
                ),
            })
            .collect(),
    };
    typed(StatusCode::OK, &body)
}

/// A reload over HTTP is logged on stderr as a SIGHUP reload is (`serve`'s log is the process's stderr).
fn reload(platform: &Platform, name: &str) -> Result<Reply, ApiError> {
    let reloaded = platform.reload(name).inspect_err(|e| {
        if e.kind == "reload-refused" {
            crate::log_line(format_args!(
                "klairr-host: reload of {name} refused: {}",
                strip_control(&e.message)
            ));
        }
    })?;
    crate::log_line(format_args!(
        "klairr-host: reloaded {name}: version {} (POST /v1/connectors/{name}/reload)",
        reloaded.version
    ));
    let body = Reloaded {
        connector: &reloaded.connector,
        loaded: LoadedVersion::new(
            reloaded.version,
            &reloaded.component_sha256,
            &reloaded.manifest_sha256,
        ),
    };
    Ok(typed(StatusCode::OK, &body))
}

fn connect(
    platform: &Platform,
    body: &str,
    hung_up: &CancellationToken,
) -> Result<Reply, ApiError> {
    let request = connection_body::parse(body)?;
    let mode = match request.mode.as_deref().unwrap_or("test") {
        "test" => wit::Mode::Test,
        "live" => wit::Mode::Live,
        _ => {
            return Err(ApiError::new(
                "invalid-request",
                "mode must be \"test\" or \"live\"",
            ))
        }
    };
    // The credential may have been pasted into another field too (the connector's name, say): no
    // message quotes it back.
    // A value too short to be a key (`e`, or a bare `rk_test_`) is not masked: it would only garble the
    // message (every `e` of it), and the connector's rules refuse it anyway.
    let runs = SecretRuns::of_given(&request.credential);
    let masked = |e: ApiError| match &runs {
        Some(runs) => ApiError {
            message: runs.redact(&e.message).into_owned(),
            ..e
        },
        None => e,
    };
    let loaded = platform.current(&request.connector).map_err(masked)?;
    if let Some(why) = request
        .max_rows
        .and_then(|n| max_rows_refusal(&loaded.info, &request.connector, n))
    {
        return Err(ApiError::new("invalid-request", format!("max_rows {why}")));
    }
    if let Some(why) = request
        .max_scan
        .and_then(|n| max_scan_refusal(&loaded.info, &request.connector, n))
    {
        return Err(ApiError::new("invalid-request", format!("max_scan {why}")));
    }
    let ceiling = loaded.sandbox.manifest().calls.cache_ttl_ceiling_seconds;
    if request.cache_ttl_seconds.is_some_and(|t| t > ceiling) {
        return Err(ApiError::new(
            "invalid-request",
            format!(
                "cache_ttl_seconds must be 0 to {ceiling} for connector {}: a connection may lower the cache TTL, never raise it",
                request.connector
            ),
        ));
    }
    let config = ConnectionConfig {
        max_rows: request.max_rows,
        cache_ttl_seconds: request.cache_ttl_seconds,
        max_scan: request.max_scan,
        // A refusal names the field the key came in, not the CLI's environment variable.
        credential_given: Given::InField("credential"),
        ..ConnectionConfig::new(request.credential, mode)
    };
    let (id, report) = platform
        .connect(&request.connector, loaded, config, hung_up)
        .map_err(masked)?;
    let body = Created {
        id: &id,
        setup: output::setup_doc(&report),
    };
    Ok(typed(StatusCode::CREATED, &body))
}

fn query(
    platform: &Platform,
    id: &str,
    dsl: &str,
    hung_up: &CancellationToken,
) -> Result<Reply, ApiError> {
    let answer = platform.query(id, dsl, hung_up)?;
    Ok(json(
        StatusCode::OK,
        output::query_json(&answer.result, answer.served),
    ))
}
