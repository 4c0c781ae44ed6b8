//! One store's state: the WASI context a connector sees (no environment, no arguments, no stdin,
//! captured stdout/stderr), its wasi:http context with the policy hooks, and its limiter. One store per
//! instance, so nothing is shared between connections but what the host shares on purpose (the budget).

use super::hooks::PolicyHooks;
use super::limits::{SandboxLimits, StoreLimiter};
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

pub(crate) struct StoreState {
    pub(crate) wasi: WasiCtx,
    pub(crate) http: WasiHttpCtx,
    pub(crate) table: ResourceTable,
    pub(crate) hooks: PolicyHooks,
    pub(crate) limiter: StoreLimiter,
    pub(crate) stdout: MemoryOutputPipe,
    pub(crate) stderr: MemoryOutputPipe,
}

impl StoreState {
    pub(crate) fn new(limits: &SandboxLimits, hooks: PolicyHooks) -> StoreState {
        let stdout = MemoryOutputPipe::new(limits.guest_output_bytes);
        let stderr = MemoryOutputPipe::new(limits.guest_output_bytes);
        let wasi = WasiCtx::builder()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let mut table = ResourceTable::new();
        table.set_max_capacity(limits.max_resources);
        StoreState {
            wasi,
            http: WasiHttpCtx::new(),
            table,
            hooks,
            limiter: StoreLimiter::new(limits),
            stdout,
            stderr,
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
