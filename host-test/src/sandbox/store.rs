//! One store's state: the WASI context a connector sees (no environment, no arguments, no stdin,
//! captured stdout/stderr), its wasi:http context with the policy hooks, and its limiter. One store per
//! instance, so nothing is shared between connections but what the host shares on purpose (the budget).

use super::hooks::PolicyHooks;
use super::limits::{SandboxLimits, StoreLimiter};
use std::future::Future;
use std::pin::Pin;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// The most a wasi:http `fields` resource holds (wasmtime's in-memory measure, not the wire size).
pub(crate) const FIELD_SIZE_LIMIT: usize = 16 << 10;

pub(crate) struct StoreState {
    pub(crate) wasi: WasiCtx,
    pub(crate) http: WasiHttpCtx,
    pub(crate) table: ResourceTable,
    pub(crate) hooks: PolicyHooks,
    pub(crate) limiter: StoreLimiter,
    pub(crate) stdout: MemoryOutputPipe,
    pub(crate) stderr: MemoryOutputPipe,
    /// Who watches this instance's calls, if anyone.
    pub(crate) progress: Option<super::progress::ProgressSink>,
}

impl StoreState {
    pub(crate) fn new(limits: &SandboxLimits, hooks: PolicyHooks) -> StoreState {
        let stdout = MemoryOutputPipe::new(limits.guest_output_bytes);
        let stderr = MemoryOutputPipe::new(limits.guest_output_bytes);
        let wasi = WasiCtx::builder()
            .stdout(CappedOutput::new(&stdout, limits.guest_output_bytes))
            .stderr(CappedOutput::new(&stderr, limits.guest_output_bytes))
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        // Fields live in the host for as long as the guest holds them: 16 KiB each (wasmtime's default
        // is 128 KiB, times the resource handles a guest may hold). A connector's headers are a few.
        let mut http = WasiHttpCtx::new();
        http.set_field_size_limit(FIELD_SIZE_LIMIT);
        let mut table = ResourceTable::new();
        table.set_max_capacity(limits.max_resources);
        StoreState {
            wasi,
            http,
            table,
            hooks,
            limiter: StoreLimiter::new(limits),
            stdout,
            stderr,
            progress: None,
        }
    }

    /// What the guest wrote to stdout and stderr (each capped), unredacted.
    pub(crate) fn output(&self) -> String {
        let mut out = String::from_utf8_lossy(&self.stdout.contents()).into_owned();
        out.push_str(&String::from_utf8_lossy(&self.stderr.contents()));
        out
    }
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

/// Captured guest output that traps the guest once it has filled its cap: an output flood ends the call as
/// a sandbox error (README, "Any trap … output flood"). A plain [`MemoryOutputPipe`] reports a full buffer
/// as a closed stream, which a guest can ignore and keep running past.
struct CappedOutput {
    pipe: MemoryOutputPipe,
    capacity: usize,
}

impl CappedOutput {
    fn new(pipe: &MemoryOutputPipe, capacity: usize) -> CappedOutput {
        CappedOutput {
            pipe: pipe.clone(),
            capacity,
        }
    }
}

impl IsTerminal for CappedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CappedOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(CappedOutput::new(&self.pipe, self.capacity))
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        // Only wasi:cli 0.2 is linked (linker.rs), which uses `p2_stream`.
        Box::new(self.pipe.clone())
    }
}

impl OutputStream for CappedOutput {
    fn write(&mut self, bytes: bytes::Bytes) -> Result<(), StreamError> {
        // Writing past the capacity is already a trap in the pipe.
        self.pipe.write(bytes)
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        self.pipe.flush()
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        match self.pipe.check_write() {
            Err(StreamError::Closed) => Err(StreamError::Trap(wasmtime::format_err!(
                "output limit: the connector filled the sandbox's {} KiB of captured stdout or stderr",
                self.capacity >> 10
            ))),
            other => other,
        }
    }
}

impl Pollable for CappedOutput {
    // `Pollable` is an `async_trait`; this is its desugared signature. Memory is always ready.
    fn ready<'a, 'b>(&'a mut self) -> Pin<Box<dyn Future<Output = ()> + Send + 'b>>
    where
        'a: 'b,
        Self: 'b,
    {
        Box::pin(async {})
    }
}
