//! What a sandbox is loaded with besides its component and manifest ([`SandboxOptions`]), and what a
//! connection is opened with ([`ConnectionConfig`]).

use super::compile_cache::CompileCache;
use super::hooks::SharedGates;
use super::limits::SandboxLimits;
use super::pool::PoolOptions;
use super::{wit, Upstream};
use klairr_policy::credential::Given;
use klairr_policy::origin::{LoopbackBase, Redirect};
use std::sync::Arc;

/// How a sandbox is set up besides its component and manifest.
#[derive(Clone, Default)]
pub struct SandboxOptions {
    /// Deliver requests for every one of the manifest's origins to this loopback server instead (tests,
    /// the demo).
    pub redirect: Option<LoopbackBase>,
    /// Deliver one origin's requests to a loopback server (`--redirect ORIGIN=BASE`); redirects of
    /// origins the manifest does not allow change nothing.
    pub redirects: Vec<Redirect>,
    pub limits: SandboxLimits,
    pub upstream: Upstream,
    /// The keep-alive connection pool's settings ([`super::pool`]); extra TLS roots only for tests and benches.
    /// Used by [`super::Sandbox::load`]; a sandbox loaded into a [`super::SharedHost`] uses the host's pool.
    pub pool: PoolOptions,
    /// Where compiled components are cached ([`super::compile_cache`]); off unless asked for.
    pub compile_cache: CompileCache,
    /// The request budget and in-flight gates to run under, keyed by the credential's fingerprint:
    /// `serve` gives every connector the same ones (a key is held to one budget whichever connector
    /// uses it), and a reloaded version keeps them, so a swap never resets the budget. `None`: fresh
    /// ones.
    pub gates: Option<Arc<SharedGates>>,
}

/// What a caller opens a connection with. The credential stays in the host.
#[derive(Clone)]
pub struct ConnectionConfig {
    pub credential: String,
    pub mode: wit::Mode,
    pub max_rows: Option<u32>,
    pub cache_ttl_seconds: Option<u32>,
    /// The most rows an aggregate query reads (the connector's default when `None`).
    pub max_scan: Option<u32>,
    /// Where the credential was given (the manifest's environment variable unless said otherwise), so
    /// that a refusal says where to correct it.
    pub credential_given: Given,
}

impl ConnectionConfig {
    pub fn new(credential: impl Into<String>, mode: wit::Mode) -> ConnectionConfig {
        ConnectionConfig {
            credential: credential.into(),
            mode,
            max_rows: None,
            cache_ttl_seconds: None,
            max_scan: None,
            credential_given: Given::InEnv,
        }
    }
}

impl std::fmt::Debug for ConnectionConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionConfig")
            .field("credential", &"[redacted]")
            .field("mode", &self.mode)
            .field("max_rows", &self.max_rows)
            .field("cache_ttl_seconds", &self.cache_ttl_seconds)
            .field("max_scan", &self.max_scan)
            .field("credential_given", &self.credential_given)
            .finish()
    }
}
