//! Shared helpers for the end-to-end tests: the built Stripe component, loaded by the klairr host, talking
//! over loopback HTTP to the built-in emulator. Host tests are plain `#[test]`s: wasmtime-wasi-http's
//! sync bindings run their own tokio runtime and must not be called from inside another one.

use klairr_host::cli::{self, Io};
use klairr_host::emulator::{Emulator, EmulatorConfig};
use klairr_host::policy::LoopbackBase;
use klairr_host::registry;
use klairr_host::sandbox::{wit, Sandbox, SandboxLimits};

pub use klairr_host::emulator::keys;

/// An emulator with the default data set.
pub fn emulator() -> Emulator {
    emulator_with(EmulatorConfig::default())
}

pub fn emulator_with(config: EmulatorConfig) -> Emulator {
    Emulator::start(config).expect("the emulator starts on loopback")
}

/// The built-in Stripe component, with api.stripe.com redirected to `emulator`.
pub fn sandbox(emulator: &Emulator) -> Sandbox {
    sandbox_with(emulator, SandboxLimits::default())
}

/// [`sandbox`] with other limits.
pub fn sandbox_with(emulator: &Emulator, limits: SandboxLimits) -> Sandbox {
    let entry = registry::stripe();
    let base = LoopbackBase::parse(&emulator.base_url()).expect("loopback base");
    Sandbox::load(entry.component, entry.policy().redirect_to(base), limits)
        .expect("the Stripe component loads")
}

pub fn config(key: &str, mode: wit::Mode) -> wit::Config {
    wit::Config {
        api_key: key.to_owned(),
        mode,
        max_rows: None,
        cache_ttl_seconds: None,
    }
}

/// What one CLI run printed.
#[derive(Debug)]
pub struct CliRun {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl CliRun {
    /// stdout parsed as the one JSON object `--format json` promises.
    pub fn json(&self) -> serde_json::Value {
        assert_eq!(
            self.stdout.lines().count(),
            1,
            "exactly one line of JSON: {:?}",
            self.stdout
        );
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {:?}", self.stdout))
    }
}

/// Run `klairr-host ARGS` in-process (the binary's `main` calls exactly this) with STRIPE_API_KEY = `key`.
pub fn run_cli(args: &[&str], key: Option<&str>) -> CliRun {
    run_cli_with_stdin(args, key, "")
}

pub fn run_cli_with_stdin(args: &[&str], key: Option<&str>, stdin: &str) -> CliRun {
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    let mut input = stdin.as_bytes();
    let code = cli::run(
        std::iter::once("klairr-host").chain(args.iter().copied()),
        Io {
            api_key: key.map(str::to_owned),
            stdin: &mut input,
            stdout: &mut stdout,
            stderr: &mut stderr,
        },
    );
    CliRun {
        code,
        stdout: String::from_utf8(stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(stderr).expect("utf-8 stderr"),
    }
}

// ---- helpers added for keys_and_setup.rs and paging_retries_privacy.rs ----------------------------

/// The five tables, in the connector's order.
pub const TABLES: [&str; 5] = [
    "customers",
    "subscriptions",
    "invoices",
    "charges",
    "payouts",
];

/// The stable kind of a connector error; panics (naming it) on any other sandbox error.
pub fn error_kind(err: &klairr_host::sandbox::SandboxError) -> &'static str {
    match err {
        klairr_host::sandbox::SandboxError::Connector(f) => f.kind(),
        other => panic!("expected a connector error, got {other:?}"),
    }
}

/// The upstream error (status, code, Request-Id) inside a `rate-limited` or `upstream` error.
pub fn upstream_of(err: &klairr_host::sandbox::SandboxError) -> &wit::UpstreamError {
    use klairr_host::sandbox::{ConnectorFailure, SandboxError};
    match err {
        SandboxError::Connector(ConnectorFailure(
            wit::ConnectorError::Upstream(u) | wit::ConnectorError::RateLimited(u),
        )) => u,
        other => panic!("expected an upstream or rate-limited error, got {other:?}"),
    }
}

/// The value of query parameter `name` in a raw query string (as sent, still percent-encoded).
pub fn param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query_params(query)
        .into_iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// `a=1&b=2` → `[("a","1"),("b","2")]`, in order.
pub fn query_params(query: &str) -> Vec<(&str, &str)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .collect()
}

/// The position of column `name`.
pub fn column_index(columns: &[wit::Column], name: &str) -> usize {
    columns
        .iter()
        .position(|c| c.name == name)
        .unwrap_or_else(|| panic!("no column {name}"))
}

/// A text cell's value; panics on anything else.
pub fn text(cell: &wit::Cell) -> &str {
    match cell {
        wit::Cell::Text(s) => s,
        other => panic!("expected text, got {other:?}"),
    }
}

/// A fresh, empty directory of this process under the system temp dir.
pub fn temp_dir(label: &str) -> std::path::PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "klairr-e2e-{label}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Panics when `text` contains `key` (trimmed), or its body after the `rk_test_`-style prefix when that
/// body alone would identify it (12+ characters). Keys too short to mean anything are not checked.
pub fn assert_no_key(key: &str, text: &str, context: &str) {
    let key = key.trim();
    if key.len() < 8 {
        return;
    }
    assert!(
        !text.contains(key),
        "{context}: the key {key:?} leaked into {text:?}"
    );
    let body = ["rk_test_", "rk_live_", "sk_test_", "sk_live_", "sk_org_"]
        .iter()
        .find_map(|p| key.strip_prefix(p));
    if let Some(body) = body.filter(|b| b.len() >= 12) {
        assert!(
            !text.contains(body),
            "{context}: the body of key {key:?} leaked into {text:?}"
        );
    }
}
