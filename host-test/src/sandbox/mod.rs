//! The wasmtime embedding: load a connector component under its manifest, check what it imports and
//! exports, and run its exports in fresh, limited stores whose every request passes the host's policy.
//!
//! What a component gets:
//! - `wasi:io`, `wasi:clocks`, `wasi:random`, `wasi:cli` (an empty environment, no arguments, no stdin,
//!   stdout/stderr captured in memory up to [`SandboxLimits::guest_output_bytes`]),
//! - `wasi:http`, whose every request passes the manifest's rules (`hooks`).
//!
//! What it does not get: `wasi:filesystem` and `wasi:sockets` are never linked (`linker`), and it never
//! holds the credential: [`Sandbox::open`] checks the credential against the manifest, lets the component
//! judge it in a throwaway instance that can make no request, and opens the connection in a fresh
//! instance that only knows the mode and a hint; the host attaches the credential to allowed requests.
//!
//! Every call runs under one wall-clock deadline ([`SandboxLimits::call_timeout`]) that also ends waits
//! inside the host (clocks, HTTP futures, TLS handshakes, slow bodies); a guest that spins yields at each
//! epoch tick and is trapped at the deadline. Whoever owns a connection may also stop its call at once
//! ([`Connection::cancel_with`]: `serve`, when the connection is closed). A trap, a deadline or a
//! cancellation discards the instance. What comes back is checked and redacted before anyone sees it
//! ([`crate::returned`]).
//!
//! ```no_run
//! use klairr_host::registry;
//! use klairr_host::sandbox::{ConnectionConfig, Sandbox, SandboxOptions};
//! use klairr_host::sandbox::wit::Mode;
//!
//! let stripe = registry::Connector::stripe();
//! let sandbox = Sandbox::load(registry::STRIPE_COMPONENT, stripe.manifest, SandboxOptions::default())?;
//! let info = sandbox.describe()?;
//! println!("{} pinned to {}", info.name, info.api_version);
//! let mut conn = sandbox.open(&ConnectionConfig::new(std::env::var("STRIPE_API_KEY")?, Mode::Test))?;
//! let result = conn.query(r#"{"list":"customers","limit":5}"#)?;
//! println!("{} rows", result.rows.len());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod caller_text;
pub mod compile_cache;
mod config;
mod connection;
mod error;
mod hooks;
mod host_probes;
mod instance;
mod limits;
mod linker;
mod open;
mod permissions;
pub mod pool;
mod progress;
mod shared;
mod store;

pub use compile_cache::CompileCache;
pub use config::{ConnectionConfig, SandboxOptions};
pub use connection::{Connection, DenialMark};
pub use error::{ConnectorFailure, SandboxError, REFUSALS};
pub use hooks::{InProcessHandler, SharedGates, Upstream, OPEN_RESPONSES_PER_IN_FLIGHT};
pub use instance::CallDeadline;
pub use limits::SandboxLimits;
pub use linker::{check_exports, check_imports, ALLOWED_IMPORT_PREFIXES, CONNECTOR_EXPORT};
pub use open::{max_rows_refusal, max_scan_refusal, OpenFailure};
pub use permissions::PermissionFailure;
pub(crate) use permissions::{capitalised, shown_name};
pub use pool::{Pool, PoolOptions};
pub use progress::{Progress, ProgressSink};
pub use shared::{Callers, SharedHost};

use crate::returned;
use hooks::{ConnectionCredential, PolicyHooks};
use instance::Instance;
use klairr_policy::manifest::{ComponentSource, Manifest};
use klairr_policy::origin::NetworkPolicy;
use klairr_policy::request_rules::Phase;
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Instant;
use store::StoreState;
use tokio_util::sync::CancellationToken;
use wasmtime::{Store, UpdateDeadline};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit/connector-0.2.0",
        world: "klairr:connector/plugin",
        with: {
            "wasi:http": wasmtime_wasi_http::p2::bindings::http,
            "wasi:io": wasmtime_wasi::p2::bindings::io,
            "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
        },
        exports: { default: async },
        require_store_data_send: true,
        additional_derives: [PartialEq],
    });
}

/// The WIT types of `klairr:connector/types`, as the host sees them.
pub use bindings::klairr::connector::types as wit;
use bindings::PluginPre;

/// The most rows the host lets one query return, whatever a component's catalogue claims.
pub const ROW_TARGET_LIMIT: u32 = 100_000;

/// The SHA-256 of what the host enforces of `manifest`: every field as validated, in its derived `Debug`
/// form (stable within the process, which is as long as a cache entry lives). Comments and layout do not
/// count, nor where the file is (its path, the component's path: the component's own SHA-256 is the
/// other half of a cache key), so the same rules give the same digest in any directory.
fn enforced_sha256(manifest: &Manifest) -> [u8; 32] {
    let mut enforced = manifest.clone();
    enforced.source.clear();
    if let ComponentSource::Path(path) = &mut enforced.component {
        *path = path.file_name().map(PathBuf::from).unwrap_or_default();
    }
    Sha256::digest(format!("{enforced:?}")).into()
}

/// A `reads` that names no table of the connector proves nothing about its tables (a typo, or another
/// connector's manifest): [`SandboxError::ReadsNoTable`], naming each.
fn check_reads(
    manifest: &Manifest,
    catalogue: &returned::CatalogueNames,
) -> Result<(), SandboxError> {
    let strangers: Vec<String> = manifest
        .requests
        .iter()
        .filter_map(|r| r.reads.as_deref())
        .filter(|r| !catalogue.is_table(r))
        .map(str::to_owned)
        .collect();
    if strangers.is_empty() {
        Ok(())
    } else {
        Err(SandboxError::ReadsNoTable {
            reads: strangers,
            tables: catalogue.tables().map(str::to_owned).collect(),
        })
    }
}

/// A loaded, checked and pre-linked connector under its manifest. Compile once; open many connections.
pub struct Sandbox {
    shared: SharedHost,
    pre: PluginPre<StoreState>,
    manifest: Arc<Manifest>,
    network: Arc<NetworkPolicy>,
    upstream: Upstream,
    limits: SandboxLimits,
    imports: Vec<String>,
    gates: Arc<SharedGates>,
    component_sha256: [u8; 32],
    manifest_sha256: [u8; 32],
    info: OnceLock<wit::ConnectorInfo>,
    /// The catalogue's names, what a result's shape may name (see [`returned::CatalogueNames`]).
    names: OnceLock<Arc<returned::CatalogueNames>>,
}

impl Sandbox {
    /// Compile `component` (binary or text), check its imports and exports, and link it under `manifest`,
    /// in a [`SharedHost`] of its own.
    pub fn load(
        component: &[u8],
        manifest: Manifest,
        options: SandboxOptions,
    ) -> Result<Sandbox, SandboxError> {
        let shared = SharedHost::new(options.pool.clone(), Callers::One)?;
        Sandbox::load_in(&shared, component, manifest, options)
    }

    /// [`Sandbox::load`] into `shared`: its engine, epoch ticker, runtime, pool and fingerprint secret.
    pub fn load_in(
        shared: &SharedHost,
        component: &[u8],
        manifest: Manifest,
        options: SandboxOptions,
    ) -> Result<Sandbox, SandboxError> {
        let engine = shared.engine();
        let component_sha256: [u8; 32] = Sha256::digest(component).into();
        let component = options.compile_cache.load_or_compile(engine, component)?;

        let ty = component.component_type();
        let imports: Vec<String> = ty
            .imports(engine)
            .map(|(name, _)| name.to_owned())
            .collect();
        check_imports(imports.iter().map(String::as_str))?;
        let exports: Vec<String> = ty
            .exports(engine)
            .map(|(name, _)| name.to_owned())
            .collect();
        check_exports(exports.iter().map(String::as_str))?;

        let linker =
            linker::connector_linker(engine).map_err(|e| SandboxError::Load(format!("{e:#}")))?;
        let pre = linker
            .instantiate_pre(&component)
            .and_then(PluginPre::new)
            .map_err(|e| SandboxError::InvalidComponent(format!("{e:#}")))?;

        let manifest_sha256 = enforced_sha256(&manifest);
        let mut network = manifest.network.policy();
        if let Some(base) = options.redirect {
            network = network.redirect_to(base);
        }
        for redirect in &options.redirects {
            network = network.redirect(redirect);
        }
        Ok(Sandbox {
            shared: shared.clone(),
            pre,
            manifest: Arc::new(manifest),
            network: Arc::new(network),
            upstream: options.upstream,
            limits: options.limits,
            imports,
            gates: options.gates.unwrap_or_default(),
            component_sha256,
            manifest_sha256,
            info: OnceLock::new(),
            names: OnceLock::new(),
        })
    }

    /// The shared host this sandbox runs in.
    pub fn shared(&self) -> &SharedHost {
        &self.shared
    }

    /// The budget and in-flight gates of this sandbox's connections (a reload passes them on).
    pub fn gates(&self) -> Arc<SharedGates> {
        self.gates.clone()
    }

    /// The SHA-256 of the component's bytes as loaded: part of every result-cache key, so a swapped
    /// component never serves its predecessor's results.
    pub fn component_sha256(&self) -> [u8; 32] {
        self.component_sha256
    }

    /// The SHA-256 of the manifest as validated: part of every result-cache key too, so a reload that
    /// changes a rule (a table's path, an origin, a pinned header) never serves results fetched under
    /// the old one.
    pub fn manifest_sha256(&self) -> [u8; 32] {
        self.manifest_sha256
    }

    /// The component's imports, as checked at load.
    pub fn imports(&self) -> &[String] {
        &self.imports
    }

    /// The manifest this component runs under.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Call `describe` in a throwaway instance (no request possible); the catalogue is checked.
    pub fn describe(&self) -> Result<wit::ConnectorInfo, SandboxError> {
        let by = Instant::now() + self.limits.call_timeout;
        self.describe_until(&CancellationToken::new(), by)
    }

    /// [`Sandbox::describe`], stopped once `stop` is cancelled and at `by` at the latest.
    fn describe_until(
        &self,
        stop: &CancellationToken,
        by: Instant,
    ) -> Result<wit::ConnectorInfo, SandboxError> {
        let mut instance = self.instantiate(None, stop, by)?;
        let plugin = instance.plugin()?;
        let info = instance.call(Phase::Offline, 0, move |store| {
            Box::pin(async move {
                plugin
                    .klairr_connector_connector()
                    .call_describe(store)
                    .await
            })
        })?;
        let mut info = returned::check_info(info)?;
        // What the host will do, not what the component claims: it runs as the manifest's connector, its
        // results are cached no longer than the manifest's ceiling, and no query returns more rows than
        // the host's limit.
        info.name = self.manifest.name.clone();
        info.default_cache_ttl_seconds = info
            .default_cache_ttl_seconds
            .min(self.manifest.calls.cache_ttl_ceiling_seconds);
        info.max_rows_limit = info.max_rows_limit.min(ROW_TARGET_LIMIT);
        info.default_max_rows = info.default_max_rows.min(info.max_rows_limit);
        // Nor does an aggregate read more than the manifest's `max_scan_rows`: `--max-scan` above it is
        // refused, and a connection that gives none is told the smaller default (the request ceiling,
        // `CallLimits::scan_ceiling`, holds a component that reads on regardless).
        if let Some(aggregates) = info.aggregates.as_mut() {
            aggregates.max_scan_limit = aggregates
                .max_scan_limit
                .min(self.manifest.calls.max_scan_rows);
            aggregates.default_max_scan =
                aggregates.default_max_scan.min(aggregates.max_scan_limit);
        }
        Ok(info)
    }

    /// Whether every `reads` of the manifest names a table of the component's catalogue (see
    /// `check_reads`): `serve` asks at load and at each reload, so that such a version is refused
    /// before it serves, rather than fail each setup.
    pub fn check_reads(&self) -> Result<(), SandboxError> {
        check_reads(&self.manifest, &*self.catalogue_names()?)
    }

    /// The catalogue's names, from `describe` once per sandbox.
    fn catalogue_names(&self) -> Result<Arc<returned::CatalogueNames>, SandboxError> {
        if let Some(names) = self.names.get() {
            return Ok(names.clone());
        }
        let names = Arc::new(returned::CatalogueNames::of(self.info()?));
        Ok(self.names.get_or_init(|| names).clone())
    }

    /// The catalogue, from `describe` once per sandbox.
    fn info(&self) -> Result<&wit::ConnectorInfo, SandboxError> {
        self.info_until(
            &CancellationToken::new(),
            Instant::now() + self.limits.call_timeout,
        )
    }

    /// [`Sandbox::info`], its `describe` (the first time) stopped once `stop` is cancelled and at `by`
    /// at the latest: an opening's, which its first `describe` is part of.
    fn info_until(
        &self,
        stop: &CancellationToken,
        by: Instant,
    ) -> Result<&wit::ConnectorInfo, SandboxError> {
        if let Some(info) = self.info.get() {
            return Ok(info);
        }
        let info = self.describe_until(stop, by)?;
        Ok(self.info.get_or_init(|| info))
    }

    /// A fresh instance in its own store, its calls stopped once `stop` is cancelled and, until the
    /// caller lifts it ([`Instance::opened_by`]), at `by` at the latest.
    fn instantiate(
        &self,
        credential: Option<Arc<ConnectionCredential>>,
        stop: &CancellationToken,
        by: Instant,
    ) -> Result<Instance, SandboxError> {
        let mut hooks = PolicyHooks::new(
            self.manifest.clone(),
            self.network.clone(),
            self.upstream.clone(),
            credential,
            self.gates.clone(),
            self.shared.pool().clone(),
        );
        // A child: discarding the instance cancels its own token, not the caller's.
        hooks.cancel = stop.child_token();
        let mut store = Store::new(self.shared.engine(), StoreState::new(&self.limits, hooks));
        store.limiter(|s| &mut s.limiter);
        store.set_hostcall_fuel(self.limits.hostcall_fuel);
        store.set_max_component_handles(self.limits.component_handles);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|ctx| {
            if Instant::now() >= ctx.data().hooks.call.deadline {
                wasmtime::bail!("the call's deadline passed while the connector was running");
            }
            Ok(UpdateDeadline::Yield(1))
        });
        let mut instance = Instance {
            store,
            plugin: None,
            runtime: self.shared.runtime().clone(),
            timeout: self.limits.call_timeout,
            opened_by: Some(by),
            discarded: false,
        };
        let pre = self.pre.clone();
        let plugin = instance.call(Phase::Offline, 0, move |store| {
            Box::pin(async move { pre.instantiate_async(store).await })
        })?;
        instance.plugin = Some(Arc::new(plugin));
        Ok(instance)
    }
}

#[cfg(test)]
mod tests {
    /// A call begins only once the padding of the last one's refusals is over, whoever called in
    /// between: a component timed the gap between `open` (its refusals masked after it) and the call
    /// after, which the caller does not always wait out (`serve`'s setup calls `verify` at once).
    #[test]
    fn a_call_begins_only_after_the_last_ones_refusals_are_padded() {
        use super::{Sandbox, SandboxOptions};
        use crate::sandbox::ConnectionConfig;
        use std::time::{Duration, Instant};
        let sandbox = Sandbox::load(
            crate::registry::STRIPE_COMPONENT,
            klairr_policy::manifest::Manifest::stripe(),
            SandboxOptions::default(),
        )
        .expect("the Stripe component loads");
        let key = format!("rk_test_{}", "Ab12".repeat(25));
        let mut connection = sandbox
            .open(&ConnectionConfig::new(key, super::wit::Mode::Test))
            .expect("opens offline");
        let pad = Duration::from_millis(300);
        connection.instance.store.data_mut().hooks.pad_for(pad);
        let started = Instant::now();
        // Refused inside the component, before any request: the call itself takes a millisecond.
        assert!(connection.query("not a query").is_err());
        assert!(
            started.elapsed() >= pad,
            "began after {:?}",
            started.elapsed()
        );
    }

    /// The manifest's digest is of what the host enforces: the same rules give the same digest wherever
    /// the file is (QA found it differ between two directories), a comment changes nothing, a rule does.
    #[test]
    fn the_manifest_digest_is_of_its_rules_not_of_where_it_is() {
        use klairr_policy::manifest::{Manifest, STRIPE_TOML};
        use std::path::Path;
        let text = STRIPE_TOML.replace("builtin:stripe", "stripe.wasm");
        let parse = |text: &str, dir: &str| {
            let source = format!("{dir}/stripe.toml");
            Manifest::parse(text, &source, Some(Path::new(dir))).expect("valid")
        };
        let here = super::enforced_sha256(&parse(&text, "/srv/a"));
        assert_eq!(here, super::enforced_sha256(&parse(&text, "/srv/b")));
        let commented = format!("# reviewed\n{text}");
        assert_eq!(here, super::enforced_sha256(&parse(&commented, "/srv/a")));
        let narrowed = text.replace("per_endpoint = 24", "per_endpoint = 20");
        assert_ne!(narrowed, text);
        assert_ne!(here, super::enforced_sha256(&parse(&narrowed, "/srv/a")));
    }
}
