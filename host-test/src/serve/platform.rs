//! The connectors of one `serve` process and their open connections.
//!
//! Each connector sits in a `Slot` holding its current loaded version. A call takes the version that
//! is current when it starts and finishes on it; a reload compiles, checks, pre-instantiates and
//! describes the new version first and only then swaps it in, so a broken version is refused while the
//! old one keeps serving. Connections remember the version their instance belongs to and reopen on the
//! current one (an offline `open`, no request) at their next call after a swap.
//!
//! Every connector loads into one [`SharedHost`] (one engine and epoch ticker) and answers through one
//! [`Answers`] (the shared result cache); each keeps its own request budget across versions.

mod call_token;
mod reload;
pub use reload::Reloaded;

use super::errors::ApiError;
use super::metrics::{labels, Metrics};
use crate::registry::{Connector, Registry};
use crate::sandbox::{
    wit, Connection, ConnectionConfig, DenialMark, OpenFailure, Sandbox, SandboxError,
    SandboxOptions,
};
use crate::sandbox::{Callers, SharedHost};
use crate::service::{Answer, Answers};
use call_token::CallToken;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Limits of the connection table.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// Connections open at once (each may hold up to the sandbox's memory limit).
    pub max_open: usize,
    /// A connection unused this long is closed.
    pub idle: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_open: 64,
            idle: Duration::from_secs(15 * 60),
        }
    }
}

/// One loaded version of a connector.
pub struct Loaded {
    pub sandbox: Sandbox,
    /// Counts from 1 per connector; bumped by every successful reload.
    pub version: u64,
    pub info: wit::ConnectorInfo,
}

struct Slot {
    connector: Mutex<Connector>,
    current: RwLock<Arc<Loaded>>,
}

impl Slot {
    fn current(&self) -> Arc<Loaded> {
        match self.current.read() {
            Ok(current) => current.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

/// An open connection of the API.
struct Open {
    connector: String,
    config: ConnectionConfig,
    /// Whose turn it is: calls on one connection queue here, on the event loop (see [`Platform::turn`]).
    turn: Arc<tokio::sync::Mutex<()>>,
    /// The instance, with the version it belongs to; `None` after a trap (reopened at the next call).
    instance: Mutex<Option<(u64, Connection)>>,
    last_used: Mutex<Instant>,
    /// Cancelled when the connection is closed: every instance it opens stops its call then (see
    /// [`Platform::disconnect`]).
    closed: CancellationToken,
}

impl Open {
    /// Unused for `idle` since its last call ended, and no call running or queued on it.
    fn expired(&self, idle: Duration) -> bool {
        let busy = self.turn.try_lock().is_err();
        !busy
            && self
                .last_used
                .lock()
                .map(|t| t.elapsed() >= idle)
                .unwrap_or(true)
    }
}

pub struct Platform {
    shared: SharedHost,
    options: SandboxOptions,
    slots: BTreeMap<String, Slot>,
    /// One reload at a time: each is checked against the other connectors' current manifests.
    reloading: Mutex<()>,
    answers: Arc<Answers>,
    open: Mutex<HashMap<String, Arc<Open>>>,
    /// Opens running their setup now: each holds a slot of `limits.max_open` until it is kept or fails,
    /// so opens past the limit are refused before their setup spends the credential's budget.
    opening: AtomicUsize,
    limits: ConnectionLimits,
    pub metrics: Arc<Metrics>,
    /// The parent of every connection's token, setups' included: cancelled when the host stops
    /// ([`Platform::stop_all`]).
    stopped: CancellationToken,
}

/// A slot held by an open during its setup (see [`Platform::opening`]); given back when dropped.
struct Opening<'a>(&'a AtomicUsize);

impl Drop for Opening<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Platform {
    /// Load every connector of `registry` into one shared host. Any that fails to load fails the start.
    pub fn load(
        registry: &Registry,
        options: SandboxOptions,
        answers: Arc<Answers>,
        limits: ConnectionLimits,
    ) -> Result<Platform, ApiError> {
        let shared = SharedHost::new(options.pool.clone(), Callers::Many)?;
        // One budget and one set of in-flight gates for every connector, each keyed by
        // the credential's fingerprint: a key given to two connectors that reach one API (two
        // manifests for one Stripe account) is still held to one budget, not one per connector.
        let gates = Arc::new(crate::sandbox::SharedGates::default());
        let mut slots = BTreeMap::new();
        for connector in registry.iter() {
            let loaded = load_version(&shared, connector, &options, Some(gates.clone()), 1)?;
            slots.insert(
                connector.name().to_owned(),
                Slot {
                    connector: Mutex::new(connector.clone()),
                    current: RwLock::new(Arc::new(loaded)),
                },
            );
        }
        let metrics = Metrics::starting_at_zero(slots.keys().map(String::as_str));
        Ok(Platform {
            shared,
            options,
            slots,
            reloading: Mutex::default(),
            answers,
            open: Mutex::default(),
            opening: Default::default(),
            limits,
            metrics: Arc::new(metrics),
            stopped: CancellationToken::new(),
        })
    }

    /// Stop every call still running, setups included, wherever it is: none sends a request after
    /// this (`Server::drain` when its time is up: the calls run on threads and a runtime of the
    /// shared host that outlive the server's own, and went on sending in a process that embeds it).
    pub fn stop_all(&self) {
        self.stopped.cancel();
    }

    pub fn shared(&self) -> &SharedHost {
        &self.shared
    }

    pub fn answers(&self) -> &Answers {
        &self.answers
    }

    fn slot(&self, name: &str) -> Result<&Slot, ApiError> {
        self.slots.get(name).ok_or_else(|| {
            let known = self.slots.keys().map(String::as_str).collect::<Vec<_>>().join(", ");
            // Never quoted back: errors end up in clients' and proxies' logs, and a name-shaped string
            // may still be a key pasted in the wrong field (a manifest's keys need not hold a `_`;
            // review). The caller has what it sent; the list is what helps.
            let message = if klairr_policy::manifest::is_connector_name(name) {
                format!("no connector has the name given: the connectors are {known}")
            } else {
                format!(
                    "the name given is not a connector's name (1 to 32 characters: a lower-case letter, then \
                     lower-case letters, digits or '-'): the connectors are {known}"
                )
            };
            ApiError::new("unknown-connector", message)
        })
    }

    /// Each connector's current version.
    pub fn connectors(&self) -> Vec<Arc<Loaded>> {
        self.slots.values().map(Slot::current).collect()
    }

    /// The current version of `name`.
    pub fn current(&self, name: &str) -> Result<Arc<Loaded>, ApiError> {
        Ok(self.slot(name)?.current())
    }

    /// Open a connection on `loaded` (the version its settings were checked against: a reload in
    /// between must not judge them again, review) and verify it (setup); add it to the table, unless
    /// `hung_up` is cancelled by then: the client that asked went away during the setup, and a
    /// connection whose id nobody learns would only hold a slot until it expired. Nothing is kept when
    /// either fails.
    pub fn connect(
        &self,
        connector: &str,
        loaded: Arc<Loaded>,
        config: ConnectionConfig,
        hung_up: &CancellationToken,
    ) -> Result<(String, wit::VerifyReport), ApiError> {
        self.expire_idle();
        let _slot = {
            let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
            let opening = self.opening.load(Ordering::SeqCst);
            if open.len() + opening >= self.limits.max_open {
                return Err(too_many(&open, opening, self.limits.idle));
            }
            // Taken under the lock of the table: two opens cannot both take the last slot.
            self.opening.fetch_add(1, Ordering::SeqCst);
            Opening(&self.opening)
        };
        // The connection's own token, and the setup's: a client that hangs up stops the setup wherever
        // it is (a component spinning in its open included), as it stops a query.
        let closed = self.stopped.child_token();
        let setup = CallToken::new(&closed, hung_up);
        let mut connection = match loaded.sandbox.open_reporting(&config, &setup.token) {
            Ok(connection) => connection,
            Err(failed) => {
                self.count_failed_opening(connector, &failed);
                return Err(failed.error.into());
            }
        };
        connection.cancel_with(setup.token.clone());
        let report = connection.verify();
        connection.cancel_with(closed.clone());
        drop(setup);
        self.count_call(connector, &connection, DenialMark::default(), &report);
        connection.wait_out_masking();
        let report = report?;
        let id = connection_id()?;
        let entry = Arc::new(Open {
            connector: connector.to_owned(),
            config,
            turn: Arc::default(),
            instance: Mutex::new(Some((loaded.version, connection))),
            last_used: Mutex::new(Instant::now()),
            closed,
        });
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        // Checked again: setups running at once may have filled the table since the first check.
        if open.len() >= self.limits.max_open {
            return Err(too_many(&open, 0, self.limits.idle));
        }
        if hung_up.is_cancelled() {
            return Err(ApiError::new(
                "invalid-request",
                "the client went away during the setup: the connection was closed",
            ));
        }
        open.insert(id.clone(), entry);
        self.metrics
            .set("klairr_open_connections", String::new(), open.len() as u64);
        Ok((id, report))
    }

    /// Close a connection; `None` when there was none with that id. A call running on it is stopped at
    /// once (answered `connection-closed`), wherever it is, and none of its requests goes on the wire
    /// after: closing a connection is how a client takes back a question it no longer wants answered,
    /// and the call's slots and open responses must not outlive it. Calls queued behind it find no
    /// connection (`unknown-connection`). The connection's turn is returned: once it is taken, every
    /// call of the connection has ended and its instance is gone (what the API's answer waits for).
    pub fn disconnect(&self, id: &str) -> Option<Arc<tokio::sync::Mutex<()>>> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let removed = open.remove(id);
        self.metrics
            .set("klairr_open_connections", String::new(), open.len() as u64);
        drop(open);
        let entry = removed?;
        entry.closed.cancel();
        Some(entry.turn.clone())
    }

    /// The queue of connection `id`'s calls: hold its lock to make a call. Awaited on the event loop,
    /// so that calls queued on one connection hold none of the threads every other connection's calls
    /// (and opens) run on.
    ///
    /// A connection idle for the limit is closed now, whenever the sweep ([`Platform::expire_idle`],
    /// every quarter of the limit) would have come: it answers no call past its time.
    pub fn turn(&self, id: &str) -> Result<Arc<tokio::sync::Mutex<()>>, ApiError> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let entry = open.get(id).ok_or_else(unknown_connection)?;
        if entry.expired(self.limits.idle) {
            open.remove(id);
            self.metrics
                .set("klairr_open_connections", String::new(), open.len() as u64);
            return Err(unknown_connection());
        }
        Ok(entry.turn.clone())
    }

    /// Run `dsl` on connection `id` (its turn held, see [`Platform::turn`]), on the connector's current
    /// version (reopening the instance after a swap or a trap), through the shared cache. The call
    /// stops, as when its connection is closed, once `hung_up` is cancelled (its client went away);
    /// the connection stays, and its next call opens a fresh instance.
    pub fn query(
        &self,
        id: &str,
        dsl: &str,
        hung_up: &CancellationToken,
    ) -> Result<Answer, ApiError> {
        let entry = self
            .open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
            .ok_or_else(unknown_connection)?;
        let started = Instant::now();
        let mut instance = entry.instance.lock().unwrap_or_else(|p| p.into_inner());
        *entry.last_used.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        let loaded = self.current(&entry.connector)?;
        // This call's own token: cancelled when the connection is closed or the client hangs up, from
        // the reopening of a stale instance (a component spinning there too) to the call's end.
        let call = CallToken::new(&entry.closed, hung_up);
        let stale = !matches!(&*instance, Some((version, _)) if *version == loaded.version);
        if stale {
            *instance = None;
            // A version swapped in may refuse what the old one took (its credential rules, say): the
            // query fails, and is counted as it fails.
            let reopened = loaded
                .sandbox
                .carried_over(&entry.config)
                .and_then(|config| {
                    loaded
                        .sandbox
                        .open_reporting(&config, &call.token)
                        .map_err(|failed| {
                            self.count_failed_opening(&entry.connector, &failed);
                            failed.error
                        })
                });
            let mut connection = match reopened {
                Ok(connection) => connection,
                Err(e) => {
                    self.record_query(&entry.connector, started, Err(&e));
                    return Err(e.into());
                }
            };
            connection.cancel_with(entry.closed.clone());
            *instance = Some((loaded.version, connection));
        }
        let Some((_, connection)) = instance.as_mut() else {
            return Err(ApiError::new("sandbox", "the connection has no instance"));
        };
        // A reopened instance's refusals (its opening's among them) are this query's.
        let denied_before = if stale {
            DenialMark::default()
        } else {
            connection.denial_mark()
        };
        connection.cancel_with(call.token.clone());
        let answer = self.answers.query(&loaded.sandbox, connection, dsl);
        drop(call);
        connection.cancel_with(entry.closed.clone());
        // Idle is counted from the end of the last call: a call longer than the idle limit does not
        // leave its connection to expire the moment it returns.
        *entry.last_used.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        self.count_call(&entry.connector, connection, denied_before, &answer);
        connection.wait_out_masking();
        // A call that ran the query (anything but an answer from the cache) read from the source, and
        // its instance's memory keeps what it read — pages, rows, freed but never cleared — for as
        // long as the instance lives: the connection's, up to `--idle-seconds`, far past the result's
        // TTL (review b2). It is dropped now, its memory with it; the next call opens a fresh one
        // offline, as after a trap.
        let read_rows = !matches!(&answer, Ok(a) if a.served.cached());
        if connection.is_discarded() || read_rows {
            // The instance is gone (whatever the call reported: a call stopped at its request ceiling
            // may then have run into its deadline); the connection is not: the next call opens a fresh
            // one, and dropping this one frees what its store held (responses left open among them).
            *instance = None;
        }
        let connector = entry.connector.as_str();
        self.record_query(connector, started, answer.as_ref());
        let answer = answer?;
        let cache = if answer.served.cached() {
            "klairr_cache_hits_total"
        } else {
            "klairr_cache_misses_total"
        };
        self.metrics
            .add(cache, labels(&[("connector", connector)]), 1);
        Ok(answer)
    }

    /// A query's outcome (`ok` or its error's kind) and how long it took.
    fn record_query(
        &self,
        connector: &str,
        started: Instant,
        outcome: Result<&Answer, &SandboxError>,
    ) {
        let outcome = match outcome {
            Ok(_) => "ok",
            Err(e) => e.kind(),
        };
        self.metrics.add(
            "klairr_queries_total",
            labels(&[("connector", connector), ("outcome", outcome)]),
            1,
        );
        self.metrics.observe(
            "klairr_query_duration_seconds",
            labels(&[("connector", connector)]),
            started.elapsed(),
        );
    }

    /// Requests, denials and traps of the call just made on `connection`. Requests as the host sent
    /// them, failed calls included (a setup refused for a key that can write still sent its probes); a
    /// cache hit sent none (its last call, `canonical-query`, sends nothing).
    fn count_call<T>(
        &self,
        connector: &str,
        connection: &Connection,
        denied_before: DenialMark,
        outcome: &Result<T, SandboxError>,
    ) {
        // A discarded instance made no call: its counts are the one before.
        if matches!(outcome, Err(SandboxError::Discarded)) {
            return;
        }
        let sent = connection.requests_sent();
        if sent > 0 {
            self.metrics.add(
                "klairr_upstream_requests_total",
                labels(&[("connector", connector)]),
                u64::from(sent),
            );
        }
        // The log is an audit trail, as the CLI's (`Connection::denial_log`), for the operator alone.
        for line in connection.operator_denial_log(connector, denied_before) {
            crate::log_line(format_args!("{line}"));
        }
        // Every call's since the mark: a query's canonical form is a call of its own.
        let denied = connection.denied_since(denied_before);
        if denied > 0 {
            self.metrics.add(
                "klairr_denials_total",
                labels(&[("connector", connector)]),
                denied,
            );
        }
        if matches!(
            outcome,
            Err(SandboxError::Trap(_) | SandboxError::Deadline { .. })
        ) {
            self.metrics
                .add("klairr_traps_total", labels(&[("connector", connector)]), 1);
        }
    }

    /// An opening that failed is counted as a call that failed: what its component tried that the
    /// policy refused is logged and counted (the credential's check included), and a trap or a deadline
    /// there is a trap (review: a component failing its check hid its attempts from both).
    fn count_failed_opening(&self, connector: &str, failed: &OpenFailure) {
        for line in failed.denial_log(connector) {
            crate::log_line(format_args!("{line}"));
        }
        if failed.denied() > 0 {
            self.metrics.add(
                "klairr_denials_total",
                labels(&[("connector", connector)]),
                failed.denied(),
            );
        }
        if matches!(
            failed.error,
            SandboxError::Trap(_) | SandboxError::Deadline { .. }
        ) {
            self.metrics
                .add("klairr_traps_total", labels(&[("connector", connector)]), 1);
        }
    }

    /// Close connections idle longer than the limit.
    pub fn expire_idle(&self) {
        let idle = self.limits.idle;
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        // A connection with a call running or queued is in use, however long it takes.
        open.retain(|_, entry| !entry.expired(idle));
        self.metrics
            .set("klairr_open_connections", String::new(), open.len() as u64);
    }

    /// How many connections are open.
    pub fn open_connections(&self) -> usize {
        self.open.lock().map(|o| o.len()).unwrap_or(0)
    }
}

/// Compile, check, pre-instantiate and describe one version: a version that cannot describe itself is
/// refused before it serves anyone.
fn load_version(
    shared: &SharedHost,
    connector: &Connector,
    options: &SandboxOptions,
    gates: Option<Arc<crate::sandbox::SharedGates>>,
    version: u64,
) -> Result<Loaded, ApiError> {
    let bytes = connector
        .component()
        .map_err(|e| ApiError::new("sandbox", e.to_string()))?;
    let mut options = options.clone();
    options.gates = gates;
    // Said with the connector and its file: `serve` loads many, and a reload names only one.
    let named = |e: SandboxError| {
        let e = ApiError::from(e);
        ApiError::new(
            &e.kind,
            format!(
                "connector {}, component {}: {}",
                connector.name(),
                connector.component_source(),
                e.message
            ),
        )
    };
    let sandbox =
        Sandbox::load_in(shared, &bytes, connector.manifest.clone(), options).map_err(named)?;
    let info = sandbox.describe().map_err(named)?;
    sandbox.check_reads().map_err(named)?;
    Ok(Loaded {
        sandbox,
        version,
        info,
    })
}

/// The table is full: `open` connections and `opening` more being set up. `Retry-After` is when the
/// connection unused longest expires if nobody uses it meanwhile (a second when all are being set up).
fn too_many(open: &HashMap<String, Arc<Open>>, opening: usize, idle: Duration) -> ApiError {
    let soonest = open
        .values()
        .map(|o| {
            // A connection with a call running or queued expires `idle` after that call ends, so not
            // before `idle` from now (review: one busy past the idle limit made this 1 s, again and again).
            if o.turn.try_lock().is_err() {
                return idle;
            }
            let used = *o.last_used.lock().unwrap_or_else(|p| p.into_inner());
            idle.saturating_sub(used.elapsed())
        })
        .min()
        .unwrap_or(Duration::ZERO);
    ApiError {
        retry_in: Some(soonest.as_secs_f64().ceil().max(1.0) as u64),
        ..ApiError::new(
            "too-many-connections",
            match open.len() + opening {
                1 => "1 connection is open or being set up, the most this host keeps (--max-connections 1): \
                      close it (DELETE /v1/connections/ID) or wait for it to expire"
                    .to_owned(),
                n => format!(
                    "{n} connections are open or being set up, the most this host keeps: close one (DELETE \
                     /v1/connections/ID) or wait for idle ones to expire"
                ),
            },
        )
    }
}

/// A random 128-bit id, as 32 hex digits. Without the OS's randomness no id is made (fail closed: an id
/// must not be guessable).
fn connection_id() -> Result<String, ApiError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| {
        ApiError::new(
            "sandbox",
            format!("could not draw a random connection id from the OS: {e}"),
        )
    })?;
    Ok(crate::cache::hex(&bytes))
}

fn unknown_connection() -> ApiError {
    ApiError::new(
        "unknown-connection",
        "no open connection has this id (closed, expired, or never opened): open one with POST /v1/connections",
    )
}
