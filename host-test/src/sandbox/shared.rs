//! What every connector in one host process shares: one wasmtime [`Engine`] with its epoch ticker, one
//! async runtime for the guests' HTTP, one keep-alive connection pool, and one fingerprint secret (so the
//! shared result cache knows a credential by the same fingerprint whichever connector version ran).
//!
//! A [`super::Sandbox`] loaded on its own makes a `SharedHost` of its own; a platform (`serve`, the
//! `connectors` command) makes one and loads every connector, and every reloaded version, into it.
//!
//! # Who drives the guests' HTTP
//! A call runs its guest on the calling thread, inside the runtime's `block_on`. Where the HTTP runs
//! (the pool's connections, wasi:http's send tasks) depends on [`Callers`]:
//! - [`Callers::One`] (a command, a test, a benchmark): a current-thread runtime, so the calling thread
//!   drives the connections itself whenever the guest waits. A request then costs no hand-off between
//!   threads: an empty page's round trip through the sandbox is ~17 µs instead of ~72 µs with worker
//!   threads (`--bench guest_page`, `page_0/component`). Calls from several threads still work, one
//!   thread driving the HTTP at a time.
//! - [`Callers::Many`] (`serve`): two worker threads drive every call's connections, so a guest busy
//!   decoding a large page on one thread never holds up another call's requests.

use super::error::SandboxError;
use super::pool::{Pool, PoolOptions};
use crate::cache::Fingerprinter;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use wasmtime::{Config as EngineConfig, Engine};

/// How often the epoch advances: the granularity at which a spinning guest yields and is checked
/// against its deadline.
const EPOCH_TICK: Duration = Duration::from_millis(50);

/// The process-wide parts of the wasmtime embedding; cheap to clone.
#[derive(Clone)]
pub struct SharedHost {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    runtime: Arc<GuestRuntime>,
    pool: Pool,
    fingerprinter: Fingerprinter,
    ticker_stop: Arc<AtomicBool>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

/// Who calls into the guests of a [`SharedHost`]: see the module docs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Callers {
    /// One call at a time: the calling thread drives the guest's HTTP itself.
    #[default]
    One,
    /// Calls from many threads at once: worker threads drive the HTTP.
    Many,
}

impl SharedHost {
    /// One engine (component model, epoch interruption), its ticker thread, a runtime for `callers`
    /// and a connection pool with `pool`'s settings.
    pub fn new(pool: PoolOptions, callers: Callers) -> Result<SharedHost, SandboxError> {
        let mut config = EngineConfig::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        let engine = Engine::new(&config).map_err(|e| SandboxError::Load(format!("{e:#}")))?;
        let runtime = match callers {
            Callers::One => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build(),
            Callers::Many => tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("klairr-host")
                .enable_all()
                .build(),
        }
        .map_err(|e| SandboxError::Load(format!("could not start the host's runtime: {e}")))?;
        let pool = Pool::new(pool).map_err(|e| SandboxError::Load(e.to_string()))?;
        let ticker_stop = Arc::new(AtomicBool::new(false));
        spawn_epoch_ticker(engine.clone(), ticker_stop.clone());
        Ok(SharedHost {
            inner: Arc::new(Inner {
                engine,
                runtime: Arc::new(GuestRuntime(Some(runtime))),
                pool,
                fingerprinter: Fingerprinter::random(),
                ticker_stop,
            }),
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    pub(super) fn runtime(&self) -> &Arc<GuestRuntime> {
        &self.inner.runtime
    }

    pub(super) fn pool(&self) -> &Pool {
        &self.inner.pool
    }

    pub(super) fn fingerprinter(&self) -> &Fingerprinter {
        &self.inner.fingerprinter
    }

    /// Whether two handles are the same shared host (tests: one engine for all connectors).
    pub fn same_as(&self, other: &SharedHost) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

/// The runtime the guests' HTTP runs on. Dropping it never blocks: its last handle may go away on a
/// thread of another runtime (`serve`'s), where tokio refuses a blocking shutdown. Nothing runs on it
/// between calls, so there is nothing to wait for.
pub(super) struct GuestRuntime(Option<tokio::runtime::Runtime>);

impl GuestRuntime {
    pub(super) fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        match &self.0 {
            Some(runtime) => runtime.block_on(future),
            // Only `drop` empties it, and nothing can call this after.
            None => unreachable!("the guest runtime is used after drop"),
        }
    }
}

impl Drop for GuestRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// The ticker holds only a clone of the engine and a stop flag: it ends within one tick of the last
/// `SharedHost` handle going away.
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
