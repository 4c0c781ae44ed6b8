//! The wasmtime embedding: load a connector component, check what it imports, link only the WASI
//! interfaces a connector may use, and run its exports in a fresh, limited store per connection.
//!
//! What a component gets:
//! - `wasi:io`, `wasi:clocks`, `wasi:random`, `wasi:cli` (an empty environment, no arguments, no stdin,
//!   stdout/stderr captured in memory up to [`SandboxLimits::guest_output_bytes`]),
//! - `wasi:http` whose every request passes the connector's [`NetworkPolicy`].
//!
//! What it does not get: `wasi:filesystem` and `wasi:sockets` are never linked, and any import outside
//! [`ALLOWED_IMPORT_PREFIXES`] is refused at load time with an error naming it.
//!
//! ```no_run
//! use klairr_host::{registry, sandbox::{Sandbox, SandboxLimits}};
//! use klairr_host::sandbox::wit::{Config, Mode};
//!
//! let entry = registry::stripe();
//! let sandbox = Sandbox::load(entry.component, entry.policy(), SandboxLimits::default())?;
//! let info = sandbox.describe()?;
//! println!("{} pinned to {}", info.name, info.api_version);
//! let mut conn = sandbox.open(&Config {
//!     api_key: std::env::var("STRIPE_API_KEY")?, mode: Mode::Test, max_rows: None, cache_ttl_seconds: None,
//! })?;
//! let result = conn.query(r#"{"list":"customers","limit":5}"#)?;
//! println!("{} rows", result.rows.len());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::policy::{Decision, NetworkPolicy, Origin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wasmtime::component::{Component, HasData, Linker, ResourceAny, ResourceTable};
use wasmtime::{Config as EngineConfig, Engine, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::cli::{WasiCli, WasiCliView as _};
use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView as _};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::random::{WasiRandom, WasiRandomView as _};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "klairr:connector/plugin",
        with: {
            "wasi:http": wasmtime_wasi_http::p2::bindings::http,
            "wasi:io": wasmtime_wasi::p2::bindings::sync::io,
            "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
        },
        require_store_data_send: true,
        additional_derives: [PartialEq],
    });
}

/// The WIT types of `klairr:connector/types`, as the host sees them.
pub use bindings::klairr::connector::types as wit;
use bindings::PluginPre;

/// The interfaces a connector component may import. Everything else is refused at load.
pub const ALLOWED_IMPORT_PREFIXES: &[&str] = &[
    "wasi:io/",
    "wasi:clocks/",
    "wasi:random/",
    "wasi:cli/",
    "wasi:http/types@",
    "wasi:http/outgoing-handler@",
    "klairr:connector/types@",
];

/// The export every connector must provide.
pub const CONNECTOR_EXPORT: &str = "klairr:connector/connector@0.1.0";

/// Where requests that pass the policy are delivered.
#[derive(Clone, Default)]
pub enum Upstream {
    /// Over the network with wasmtime-wasi-http's sender (TLS for https). The default.
    #[default]
    Network,
    /// To an in-process handler, with no socket at all: benchmarks use it to measure the guest's own work.
    InProcess(InProcessHandler),
}

/// Answers a request in-process: gets the request line and headers, returns the whole response.
pub type InProcessHandler =
    Arc<dyn Fn(&http::request::Parts) -> http::Response<bytes::Bytes> + Send + Sync>;

/// Resource limits of one connection's store.
#[derive(Clone, Debug)]
pub struct SandboxLimits {
    /// The most linear memory one guest memory may grow to.
    pub memory_bytes: usize,
    /// Wall-clock bound of one call into the guest (open, verify, query), enforced by epoch interruption
    /// whenever the guest runs. Waits inside HTTP are bounded separately by the policy's timeouts.
    pub call_timeout: Duration,
    /// How many outgoing requests one connection may have in flight at once.
    pub max_concurrent_requests: usize,
    /// Bytes of guest stdout/stderr kept (each).
    pub guest_output_bytes: usize,
    /// Resource handles a guest may hold at once.
    pub max_resources: usize,
}

impl Default for SandboxLimits {
    fn default() -> Self {
        SandboxLimits {
            memory_bytes: 256 << 20,
            call_timeout: Duration::from_secs(600),
            max_concurrent_requests: 4,
            guest_output_bytes: 64 << 10,
            max_resources: 10_000,
        }
    }
}

/// How often the epoch advances; the unit of [`SandboxLimits::call_timeout`].
const EPOCH_TICK: Duration = Duration::from_millis(50);

/// Everything that can go wrong in the host around a connector.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("could not load the connector component: {0}")]
    Load(String),
    #[error("the component imports {}, which connectors may not use (allowed: wasi:io, wasi:clocks, wasi:random, wasi:cli, wasi:http)", .0.join(", "))]
    ForbiddenImports(Vec<String>),
    #[error("the component does not export {CONNECTOR_EXPORT}: it is not a Klairr connector")]
    NotAConnector,
    #[error("the connector crashed or hit a sandbox limit: {0}")]
    Trap(String),
    #[error("{0}")]
    Connector(ConnectorFailure),
}

/// A `connector-error` returned by the guest, with its stable kind name.
#[derive(Debug, Clone)]
pub struct ConnectorFailure(pub wit::ConnectorError);

impl ConnectorFailure {
    pub fn kind(&self) -> &'static str {
        use wit::ConnectorError as E;
        match &self.0 {
            E::SecretKeyRejected(_) => "secret-key-rejected",
            E::InvalidKey(_) => "invalid-key",
            E::ModeMismatch(_) => "mode-mismatch",
            E::OverPermissioned(_) => "over-permissioned",
            E::MissingPermission(_) => "missing-permission",
            E::InvalidQuery(_) => "invalid-query",
            E::RateLimited(_) => "rate-limited",
            E::Upstream(_) => "upstream",
            E::Network(_) => "network",
        }
    }
}

impl std::fmt::Display for ConnectorFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use wit::ConnectorError as E;
        let upstream = |f: &mut std::fmt::Formatter<'_>, prefix: &str, u: &wit::UpstreamError| {
            write!(f, "{prefix}{}", u.message)?;
            let mut details = Vec::new();
            if let Some(s) = u.status {
                details.push(format!("HTTP {s}"));
            }
            if let Some(c) = &u.code {
                details.push(format!("code {c}"));
            }
            if let Some(r) = &u.request_id {
                details.push(format!("request {r}"));
            }
            if !details.is_empty() {
                write!(f, " ({})", details.join(", "))?;
            }
            Ok(())
        };
        match &self.0 {
            E::SecretKeyRejected(m)
            | E::InvalidKey(m)
            | E::ModeMismatch(m)
            | E::InvalidQuery(m)
            | E::Network(m) => f.write_str(m),
            E::OverPermissioned(r) => write!(
                f,
                "this key can write to {}: Klairr only accepts read-only keys; create a restricted key with Read on the five resources and None everywhere else",
                r.join(", ")
            ),
            E::MissingPermission(r) => write!(
                f,
                "this key is missing Read permission on {}: edit the restricted key in the Stripe Dashboard and grant Read on them",
                r.join(", ")
            ),
            E::RateLimited(u) => upstream(f, "rate limited: ", u),
            E::Upstream(u) => upstream(f, "", u),
        }
    }
}

/// Refuse imports outside the allowlist, naming every one of them.
pub fn check_imports<'a>(imports: impl IntoIterator<Item = &'a str>) -> Result<(), SandboxError> {
    let forbidden: Vec<String> = imports
        .into_iter()
        .filter(|name| !ALLOWED_IMPORT_PREFIXES.iter().any(|p| name.starts_with(p)))
        .map(str::to_owned)
        .collect();
    if forbidden.is_empty() {
        Ok(())
    } else {
        Err(SandboxError::ForbiddenImports(forbidden))
    }
}

/// A loaded, checked and pre-linked connector. Compile once per process; open many connections.
pub struct Sandbox {
    engine: Engine,
    pre: PluginPre<StoreState>,
    policy: Arc<NetworkPolicy>,
    upstream: Upstream,
    limits: SandboxLimits,
    imports: Vec<String>,
    ticker_stop: Arc<AtomicBool>,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

impl Sandbox {
    /// Compile `component` (binary or text), check its imports and exports, and link it.
    pub fn load(
        component: &[u8],
        policy: NetworkPolicy,
        limits: SandboxLimits,
    ) -> Result<Sandbox, SandboxError> {
        Sandbox::load_with_upstream(component, policy, limits, Upstream::Network)
    }

    /// [`Sandbox::load`], delivering allowed requests to `upstream`.
    pub fn load_with_upstream(
        component: &[u8],
        policy: NetworkPolicy,
        limits: SandboxLimits,
        upstream: Upstream,
    ) -> Result<Sandbox, SandboxError> {
        let mut config = EngineConfig::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        let engine = Engine::new(&config).map_err(|e| SandboxError::Load(format!("{e:#}")))?;
        let component = Component::new(&engine, component)
            .map_err(|e| SandboxError::Load(format!("not a valid WebAssembly component: {e:#}")))?;

        let ty = component.component_type();
        let imports: Vec<String> = ty
            .imports(&engine)
            .map(|(name, _)| name.to_owned())
            .collect();
        check_imports(imports.iter().map(String::as_str))?;
        if !ty
            .exports(&engine)
            .any(|(name, _)| name == CONNECTOR_EXPORT)
        {
            return Err(SandboxError::NotAConnector);
        }

        let linker = connector_linker(&engine).map_err(|e| SandboxError::Load(format!("{e:#}")))?;
        let pre = linker
            .instantiate_pre(&component)
            .and_then(PluginPre::new)
            .map_err(|e| SandboxError::Load(format!("{e:#}")))?;

        let ticker_stop = Arc::new(AtomicBool::new(false));
        spawn_epoch_ticker(engine.clone(), ticker_stop.clone());
        Ok(Sandbox {
            engine,
            pre,
            policy: Arc::new(policy),
            upstream,
            limits,
            imports,
            ticker_stop,
        })
    }

    /// The component's imports, as checked at load.
    pub fn imports(&self) -> &[String] {
        &self.imports
    }

    pub fn policy(&self) -> &NetworkPolicy {
        &self.policy
    }

    /// Call `describe` in a throwaway store.
    pub fn describe(&self) -> Result<wit::ConnectorInfo, SandboxError> {
        let (mut store, plugin) = self.instantiate()?;
        plugin
            .klairr_connector_connector()
            .call_describe(&mut store)
            .map_err(trap)
    }

    /// Open a connection (offline checks only) in a fresh store.
    pub fn open(&self, config: &wit::Config) -> Result<Connection, SandboxError> {
        let (mut store, plugin) = self.instantiate()?;
        let opened = plugin
            .klairr_connector_connector()
            .connection()
            .call_open(&mut store, config)
            .map_err(trap)?
            .map_err(|e| SandboxError::Connector(ConnectorFailure(e)))?;
        Ok(Connection {
            store,
            plugin,
            handle: opened,
            call_timeout: self.limits.call_timeout,
        })
    }

    fn instantiate(&self) -> Result<(Store<StoreState>, bindings::Plugin), SandboxError> {
        let stdout = MemoryOutputPipe::new(self.limits.guest_output_bytes);
        let stderr = MemoryOutputPipe::new(self.limits.guest_output_bytes);
        let wasi = WasiCtx::builder()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let mut table = ResourceTable::new();
        table.set_max_capacity(self.limits.max_resources);
        let state = StoreState {
            wasi,
            http: WasiHttpCtx::new(),
            table,
            hooks: PolicyHooks {
                policy: self.policy.clone(),
                upstream: self.upstream.clone(),
                in_flight: Arc::new(tokio::sync::Semaphore::new(
                    self.limits.max_concurrent_requests,
                )),
                denied: Arc::default(),
            },
            limits: StoreLimitsBuilder::new()
                .memory_size(self.limits.memory_bytes)
                .instances(64)
                .memories(8)
                .tables(64)
                .trap_on_grow_failure(true)
                .build(),
            stdout,
            stderr,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        set_deadline(&mut store, self.limits.call_timeout);
        let plugin = self.pre.instantiate(&mut store).map_err(trap)?;
        Ok((store, plugin))
    }
}

/// One open connection: its own store, instance and `connection` resource.
pub struct Connection {
    store: Store<StoreState>,
    plugin: bindings::Plugin,
    handle: ResourceAny,
    call_timeout: Duration,
}

impl Connection {
    /// Setup verification (the read and over-permission probes).
    pub fn verify(&mut self) -> Result<wit::VerifyReport, SandboxError> {
        set_deadline(&mut self.store, self.call_timeout);
        let guest = self.plugin.klairr_connector_connector().connection();
        guest
            .call_verify(&mut self.store, self.handle)
            .map_err(trap)?
            .map_err(|e| SandboxError::Connector(ConnectorFailure(e)))
    }

    /// The canonical form of a query (for the result cache). Makes no request.
    pub fn canonical_query(&mut self, query: &str) -> Result<String, SandboxError> {
        set_deadline(&mut self.store, self.call_timeout);
        let guest = self.plugin.klairr_connector_connector().connection();
        guest
            .call_canonical_query(&mut self.store, self.handle, query)
            .map_err(trap)?
            .map_err(|e| SandboxError::Connector(ConnectorFailure(e)))
    }

    /// Run a query.
    pub fn query(&mut self, query: &str) -> Result<wit::QueryResult, SandboxError> {
        set_deadline(&mut self.store, self.call_timeout);
        let guest = self.plugin.klairr_connector_connector().connection();
        guest
            .call_query(&mut self.store, self.handle, query)
            .map_err(trap)?
            .map_err(|e| SandboxError::Connector(ConnectorFailure(e)))
    }

    /// What the guest wrote to stdout and stderr (capped).
    pub fn guest_output(&self) -> String {
        let data = self.store.data();
        let mut out = String::from_utf8_lossy(&data.stdout.contents()).into_owned();
        out.push_str(&String::from_utf8_lossy(&data.stderr.contents()));
        out
    }

    /// Requests the policy denied on this connection, with the reason (for the host's log).
    pub fn denied_requests(&self) -> Vec<String> {
        self.store
            .data()
            .hooks
            .denied
            .lock()
            .map(|d| d.clone())
            .unwrap_or_default()
    }
}

fn set_deadline(store: &mut Store<StoreState>, timeout: Duration) {
    let ticks = (timeout.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64;
    store.set_epoch_deadline(ticks);
    store.epoch_deadline_trap();
}

fn trap(e: wasmtime::Error) -> SandboxError {
    SandboxError::Trap(format!("{e:#}"))
}

fn spawn_epoch_ticker(engine: Engine, stop: Arc<AtomicBool>) {
    std::thread::Builder::new()
        .name("klairr-epoch".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
            }
        })
        .ok();
}

/// The linker, interface by interface. Deliberately absent: wasi:filesystem, wasi:sockets.
fn connector_linker(engine: &Engine) -> wasmtime::Result<Linker<StoreState>> {
    use wasmtime_wasi::p2::bindings::{cli, clocks, random, sync};
    type T = StoreState;
    let mut linker = Linker::<T>::new(engine);
    let l = &mut linker;

    wasmtime_wasi::p2::bindings::io::error::add_to_linker::<T, HasTable>(l, |t| &mut t.table)?;
    sync::io::poll::add_to_linker::<T, HasTable>(l, |t| &mut t.table)?;
    sync::io::streams::add_to_linker::<T, HasTable>(l, |t| &mut t.table)?;

    clocks::wall_clock::add_to_linker::<T, WasiClocks>(l, T::clocks)?;
    clocks::monotonic_clock::add_to_linker::<T, WasiClocks>(l, T::clocks)?;

    random::random::add_to_linker::<T, WasiRandom>(l, T::random)?;
    random::insecure::add_to_linker::<T, WasiRandom>(l, T::random)?;
    random::insecure_seed::add_to_linker::<T, WasiRandom>(l, T::random)?;

    cli::exit::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::environment::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::stdin::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::stdout::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::stderr::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_input::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_output::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_stdin::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_stdout::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_stderr::add_to_linker::<T, WasiCli>(l, T::cli)?;

    wasmtime_wasi_http::p2::add_only_http_to_linker_sync(l)?;
    // klairr:connector/types has no functions; the instance only carries types.
    l.instance("klairr:connector/types@0.1.0")?;
    Ok(linker)
}

struct HasTable;
impl HasData for HasTable {
    type Data<'a> = &'a mut ResourceTable;
}

/// Per-store state. One store per connection, so nothing leaks between connections.
struct StoreState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: PolicyHooks,
    limits: StoreLimits,
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
}

impl WasiView for StoreState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for StoreState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// wasi:http hooks: every outgoing request passes the network policy and the concurrency cap.
struct PolicyHooks {
    policy: Arc<NetworkPolicy>,
    upstream: Upstream,
    in_flight: Arc<tokio::sync::Semaphore>,
    denied: Arc<Mutex<Vec<String>>>,
}

type ResponseFuture = Box<
    dyn std::future::Future<
            Output = wasmtime_wasi_http::Result<(
                http::Response<wasmtime_wasi_http::WasiBody>,
                Box<dyn std::future::Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
            )>,
        > + Send,
>;

impl PolicyHooks {
    fn deny(&self, reason: String, error: wasmtime_wasi_http::Error) -> ResponseFuture {
        if let Ok(mut d) = self.denied.lock() {
            d.push(reason);
        }
        Box::new(async move { Err(error) })
    }
}

impl WasiHttpHooks for PolicyHooks {
    fn send_request(
        &mut self,
        mut request: http::Request<wasmtime_wasi_http::WasiBody>,
        options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: Box<dyn std::future::Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> ResponseFuture {
        use wasmtime_wasi_http::Error;
        let uri = request.uri();
        let decision = self
            .policy
            .decide(uri.scheme_str(), uri.authority().map(|a| a.as_str()));
        let target: Origin = match decision {
            Decision::Send(origin) => origin,
            Decision::Deny(reason) => return self.deny(reason, Error::HttpRequestDenied),
        };
        let Ok(permit) = self.in_flight.clone().try_acquire_owned() else {
            return self.deny(
                "too many concurrent requests on one connection".into(),
                Error::ConnectionLimitReached,
            );
        };
        let path_and_query = uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
            .to_owned();
        let rewritten = http::Uri::builder()
            .scheme(target.scheme.as_str())
            .authority(format!("{}:{}", target.host, target.port))
            .path_and_query(path_and_query)
            .build();
        match rewritten {
            Ok(u) => *request.uri_mut() = u,
            Err(e) => {
                return self.deny(
                    format!("could not address {target}: {e}"),
                    Error::HttpRequestUriInvalid,
                )
            }
        }
        let t = self.policy.timeouts.clamp(
            options.and_then(|o| o.connect_timeout),
            options.and_then(|o| o.first_byte_timeout),
            options.and_then(|o| o.between_bytes_timeout),
        );
        let options = wasmtime_wasi_http::RequestOptions {
            connect_timeout: Some(t.connect),
            first_byte_timeout: Some(t.first_byte),
            between_bytes_timeout: Some(t.between_bytes),
        };
        if let Upstream::InProcess(handler) = &self.upstream {
            use http_body_util::BodyExt;
            let (parts, _body) = request.into_parts();
            let response = handler(&parts).map(|b| {
                http_body_util::Full::new(b)
                    .map_err(|never| match never {})
                    .boxed_unsync()
            });
            return Box::new(async move {
                let done: Box<
                    dyn std::future::Future<Output = wasmtime_wasi_http::Result<()>> + Send,
                > = Box::new(async move {
                    drop(permit);
                    Ok(())
                });
                Ok((response, done))
            });
        }
        Box::new(async move {
            use http_body_util::BodyExt;
            let (response, io) =
                wasmtime_wasi_http::default_send_request(request, Some(options)).await?;
            let io: Box<dyn std::future::Future<Output = wasmtime_wasi_http::Result<()>> + Send> =
                Box::new(async move {
                    let result = io.await;
                    drop(permit);
                    result
                });
            Ok((response.map(BodyExt::boxed_unsync), io))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_allowlist() {
        assert!(check_imports([
            "wasi:io/poll@0.2.12",
            "wasi:http/outgoing-handler@0.2.12",
            "wasi:http/types@0.2.12",
            "wasi:cli/environment@0.2.3",
            "wasi:random/insecure-seed@0.2.12",
            "wasi:clocks/monotonic-clock@0.2.0",
            "klairr:connector/types@0.1.0",
        ])
        .is_ok());
        for bad in [
            "wasi:filesystem/preopens@0.2.12",
            "wasi:filesystem/types@0.2.12",
            "wasi:sockets/tcp@0.2.12",
            "wasi:sockets/ip-name-lookup@0.2.12",
            "wasi:http/incoming-handler@0.2.12",
            "acme:evil/exfiltrate",
            "wasi:iox/poll@0.2.0",
        ] {
            match check_imports(["wasi:io/poll@0.2.12", bad]) {
                Err(SandboxError::ForbiddenImports(names)) => {
                    assert_eq!(names, vec![bad.to_owned()])
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
    }
}

/// The wasi:http hook on its own, driven like wasmtime-wasi-http drives it, without a component.
#[cfg(test)]
mod hook_tests {
    use super::*;
    use crate::policy::LoopbackBase;
    use http_body_util::BodyExt;

    type Sent = Arc<Mutex<Vec<String>>>;

    fn hooks(policy: NetworkPolicy, max_in_flight: usize) -> (PolicyHooks, Sent) {
        let seen: Sent = Arc::default();
        let record = seen.clone();
        let upstream = Upstream::InProcess(Arc::new(move |parts: &http::request::Parts| {
            if let Ok(mut s) = record.lock() {
                s.push(parts.uri.to_string());
            }
            http::Response::new(bytes::Bytes::from_static(b"{}"))
        }));
        let hooks = PolicyHooks {
            policy: Arc::new(policy),
            upstream,
            in_flight: Arc::new(tokio::sync::Semaphore::new(max_in_flight)),
            denied: Arc::default(),
        };
        (hooks, seen)
    }

    fn request(uri: &str) -> http::Request<wasmtime_wasi_http::WasiBody> {
        let body = http_body_util::Empty::<bytes::Bytes>::new()
            .map_err(|never| match never {})
            .boxed_unsync();
        http::Request::get(uri).body(body).expect("request")
    }

    fn send(hooks: &mut PolicyHooks, uri: &str) -> ResponseFuture {
        hooks.send_request(request(uri), None, Box::new(async { Ok(()) }))
    }

    fn run<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    fn stripe_policy() -> NetworkPolicy {
        NetworkPolicy::new(vec![
            Origin::parse("https://api.stripe.com:443").expect("origin")
        ])
    }

    #[test]
    fn other_hosts_are_denied_before_anything_is_sent() {
        let (mut hooks, seen) = hooks(stripe_policy(), 4);
        for uri in [
            "https://evil.example/v1/customers",
            "http://api.stripe.com/v1/customers",
            "https://api.stripe.com:8443/v1/customers",
            "https://127.0.0.1/v1/customers",
        ] {
            let outcome = run(Box::into_pin(send(&mut hooks, uri)));
            assert!(
                matches!(outcome, Err(wasmtime_wasi_http::Error::HttpRequestDenied)),
                "{uri}"
            );
        }
        assert!(seen.lock().expect("lock").is_empty(), "nothing was sent");
        assert_eq!(hooks.denied.lock().expect("lock").len(), 4);
    }

    #[test]
    fn allowed_requests_are_redirected_to_the_loopback_base_only() {
        let base = LoopbackBase::parse("http://127.0.0.1:12111").expect("base");
        let (mut hooks, seen) = hooks(stripe_policy().redirect_to(base), 4);
        let outcome = run(Box::into_pin(send(
            &mut hooks,
            "https://api.stripe.com/v1/customers?limit=1",
        )));
        assert!(outcome.is_ok());
        assert_eq!(
            seen.lock().expect("lock").as_slice(),
            ["http://127.0.0.1:12111/v1/customers?limit=1"]
        );
    }

    #[test]
    fn concurrent_requests_beyond_the_cap_are_refused_until_one_finishes() {
        let (mut hooks, _seen) = hooks(stripe_policy(), 2);
        let uri = "https://api.stripe.com/v1/customers";
        let first = send(&mut hooks, uri);
        let second = send(&mut hooks, uri);
        let third = send(&mut hooks, uri);
        let (first, _second, third) = run(async {
            (
                Box::into_pin(first).await,
                Box::into_pin(second).await,
                Box::into_pin(third).await,
            )
        });
        assert!(matches!(
            third,
            Err(wasmtime_wasi_http::Error::ConnectionLimitReached)
        ));
        // Finishing the first request's body releases its slot.
        let (_response, done) = first.expect("first is sent");
        run(Box::into_pin(done)).expect("body done");
        let fourth = run(Box::into_pin(send(&mut hooks, uri)));
        assert!(fourth.is_ok(), "a slot was freed");
    }
}
