//! Shared helpers for the end-to-end tests: the built Stripe component, loaded by the klairr host, talking
//! over loopback HTTP to the built-in emulator; the ledger connector and its loopback API. Host tests are
//! plain `#[test]`s: wasmtime-wasi-http's sync bindings run their own tokio runtime and must not be called
//! from inside another one.

use klairr_host::cli::{self, Io};
use klairr_host::emulator::{Emulator, EmulatorConfig};
use klairr_host::policy::origin::LoopbackBase;
use klairr_host::registry;
use klairr_host::sandbox::{wit, ConnectionConfig, Sandbox, SandboxLimits, SandboxOptions};

pub use klairr_host::emulator::keys;

#[path = "hostile_upstream.rs"]
pub mod hostile_upstream;

#[path = "hostile_support.rs"]
pub mod hostile_support;

#[path = "ledger_api.rs"]
pub mod ledger_api;

/// The built ledger connector component (`connectors/ledger`, for `wasm32-wasip2`).
pub fn ledger_component() -> &'static str {
    env!("KLAIRR_LEDGER_COMPONENT")
}

/// The ledger connector's manifest in the repository (`connectors/ledger/ledger.toml`).
pub fn ledger_manifest_source() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../connectors/ledger/ledger.toml")
}

/// A fresh connectors directory holding a copy of `ledger.toml` and the built `klairr_ledger.wasm` it
/// names, as a user would install them: what `--connectors DIR` and `Manifest::load` read.
pub fn ledger_connectors_dir() -> std::path::PathBuf {
    let dir = temp_dir("connectors");
    std::fs::copy(ledger_manifest_source(), dir.join("ledger.toml")).expect("copy ledger.toml");
    std::fs::copy(ledger_component(), dir.join("klairr_ledger.wasm"))
        .expect("copy the ledger component");
    dir
}

/// A fresh connectors directory with a copy of Stripe's manifest named `name`, its component at
/// `<dir>/<name>.wasm` holding `component`: the directory, and the component's path.
pub fn stripe_copy_connectors_dir(
    label: &str,
    name: &str,
    component: &[u8],
) -> (std::path::PathBuf, std::path::PathBuf) {
    copy_connectors_dir(
        label,
        name,
        component,
        klairr_host::policy::manifest::STRIPE_TOML,
    )
}

/// [`stripe_copy_connectors_dir`] for the hostile component, whose setup sends one of Stripe's five
/// write probes and reads nothing: its manifest keeps the probe rules but not their `probe` verdicts,
/// nor the list rules' `reads`, so that opening a connection (which verifies) succeeds and a test can
/// reach the calls it is about.
pub fn hostile_connectors_dir(label: &str, name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let manifest: String = klairr_host::policy::manifest::STRIPE_TOML
        .lines()
        .filter(|line| !line.starts_with("probe = ") && !line.starts_with("reads = "))
        .map(|line| format!("{line}\n"))
        .collect();
    copy_connectors_dir(label, name, &hostile_component(), &manifest)
}

fn copy_connectors_dir(
    label: &str,
    name: &str,
    component: &[u8],
    manifest: &str,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = temp_dir(label);
    let wasm = dir.join(format!("{name}.wasm"));
    std::fs::write(&wasm, component).expect("write component");
    let manifest = manifest
        .replace("name = \"stripe\"", &format!("name = \"{name}\""))
        // Each connector reads a credential variable of its own.
        .replace(
            "env = \"STRIPE_API_KEY\"",
            &format!(
                "env = \"{}_API_KEY\"",
                name.to_ascii_uppercase().replace('-', "_")
            ),
        )
        .replace(
            "component = \"builtin:stripe\"",
            &format!("component = \"{name}.wasm\""),
        );
    std::fs::write(dir.join(format!("{name}.toml")), manifest).expect("write manifest");
    (dir, wasm)
}

/// The hostile test component (`tests/hostile-guest`): it does what its query's script says.
pub fn hostile_component() -> Vec<u8> {
    std::fs::read(env!("KLAIRR_HOSTILE_COMPONENT")).expect("the hostile component is built")
}

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
    let stripe = registry::Connector::stripe();
    Sandbox::load(
        registry::STRIPE_COMPONENT,
        stripe.manifest,
        redirect_to(emulator, limits),
    )
    .expect("the Stripe component loads")
}

/// Sandbox options that send the manifest's origins to `emulator`.
pub fn redirect_to(emulator: &Emulator, limits: SandboxLimits) -> SandboxOptions {
    SandboxOptions {
        redirect: Some(LoopbackBase::parse(&emulator.base_url()).expect("loopback base")),
        limits,
        ..SandboxOptions::default()
    }
}

pub fn config(key: &str, mode: wit::Mode) -> ConnectionConfig {
    ConnectionConfig::new(key, mode)
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
    let env: Vec<(&str, &str)> = key.map(|k| ("STRIPE_API_KEY", k)).into_iter().collect();
    run_cli_with_env(args, &env, stdin)
}

/// Run `klairr-host ARGS` in-process with exactly these environment variables visible to it.
pub fn run_cli_with_env(args: &[&str], env: &[(&str, &str)], stdin: &str) -> CliRun {
    let lookup = |name: &str| {
        env.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| std::ffi::OsString::from(v))
    };
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    let mut input = stdin.as_bytes();
    let code = cli::run(
        std::iter::once("klairr-host").chain(args.iter().copied()),
        Io {
            env: &lookup,
            stdin: &mut input,
            stdout: &mut stdout,
            stderr: &mut stderr,
            stderr_is_terminal: false,
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

/// The stable kind of a credential or connector error; panics (naming it) on any other sandbox error.
pub fn error_kind(err: &klairr_host::sandbox::SandboxError) -> &'static str {
    use klairr_host::sandbox::SandboxError;
    match err {
        SandboxError::Connector(_)
        | SandboxError::Permissions { .. }
        | SandboxError::Credential(_) => err.kind(),
        other => panic!("expected a connector or credential error, got {other:?}"),
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
/// The `id` column of a result, in order.
pub fn ids(result: &wit::QueryResult) -> Vec<String> {
    let id = column_index(&result.columns, "id");
    result
        .rows
        .iter()
        .map(|r| text(&r[id]).to_owned())
        .collect()
}

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

/// What of a Stripe key is secret, as the README's "The sandbox and the manifest" says: a body that
/// names its account (`51` and the 15 further characters of the account's id, then at least 32
/// characters) is secret after that name only, since the ids of the account's objects repeat it; any
/// other key is secret whole.
pub fn secret_of(key: &str) -> &str {
    const NAME: usize = "51".len() + 15;
    let Some(body) = ["rk_test_", "rk_live_"]
        .iter()
        .find_map(|prefix| key.strip_prefix(prefix))
    else {
        return key;
    };
    match body.get(NAME..) {
        Some(secret) if body.starts_with("51") && secret.len() >= 32 => secret,
        _ => key,
    }
}

/// Panics when `text` contains any 12-character run of `key`'s secret part ([`secret_of`], trimmed): the
/// host redacts every such run, so a leak of part of a key is a leak. Keys shorter than 12 characters are
/// checked whole.
pub fn assert_no_key(key: &str, text: &str, context: &str) {
    let key = secret_of(key.trim());
    if key.len() < 8 {
        return;
    }
    if key.len() < 12 {
        assert!(
            !text.contains(key),
            "{context}: the key {key:?} leaked into {text:?}"
        );
        return;
    }
    // In any case: a host name is lower-cased on its way into a message, and a key is no safer so. And
    // as a reader sees it: a key cut by characters no one sees (a BEL, an escape sequence, a zero-width
    // space, raw or JSON-escaped) reads whole.
    let key = key.to_ascii_lowercase();
    for text in [
        text.to_ascii_lowercase(),
        seen(text, false).to_ascii_lowercase(),
        seen(text, true).to_ascii_lowercase(),
    ] {
        for start in 0..=key.len() - 12 {
            let run = &key[start..start + 12];
            assert!(
                !text.contains(run),
                "{context}: {run:?}, 12 characters of the key (in any case, as a reader sees it), \
                 leaked into {text:?}"
            );
        }
    }
}

/// `text` as a reader sees it: escapes decoded — JSON's (`\uXXXX`, `\t`, …) and Rust's `Debug`
/// (`\u{200b}`), which a message may quote a component's text in — then CSI escape sequences, control
/// characters and zero-width characters taken out. With `drop_finals`, a two-character escape
/// sequence (`ESC 7`) goes whole, as a terminal takes it; without, only its ESC, as a program that drops
/// control characters does.
fn seen(text: &str, drop_finals: bool) -> String {
    let mut decoded = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('\\') {
        decoded.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (c, len) = match after.as_bytes().first() {
            Some(b'u') if after.as_bytes().get(1) == Some(&b'{') => match after.find('}') {
                Some(close) => (
                    u32::from_str_radix(&after[2..close], 16)
                        .ok()
                        .and_then(char::from_u32),
                    close + 1,
                ),
                None => (None, 1),
            },
            Some(b'u') => (
                after
                    .get(1..5)
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .and_then(char::from_u32),
                5,
            ),
            Some(b't') => (Some('\t'), 1),
            Some(b'n') => (Some('\n'), 1),
            Some(b'r') => (Some('\r'), 1),
            Some(b'0') => (Some('\0'), 1),
            _ => (None, 0),
        };
        match c {
            Some(c) => {
                decoded.push(c);
                rest = &after[len..];
            }
            None => {
                decoded.push('\\');
                rest = after;
            }
        }
    }
    decoded.push_str(rest);
    let invisible = |c: char| {
        c.is_control()
            || matches!(c, '\u{ad}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2064}' | '\u{feff}')
    };
    let mut out = String::with_capacity(decoded.len());
    let mut chars = decoded.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            // CSI: parameters and intermediates, then one final byte.
            chars.next();
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        } else if c == '\u{1b}'
            && drop_finals
            && chars.peek().is_some_and(|f| ('0'..='~').contains(f))
        {
            chars.next();
        } else if !invisible(c) {
            out.push(c);
        }
    }
    out
}

/// The most of `arrivals` within any one `window` (say, request starts in any 1-second window).
pub fn max_in_window(arrivals: &[std::time::Instant], window: std::time::Duration) -> usize {
    let mut sorted = arrivals.to_vec();
    sorted.sort_unstable();
    let mut first = 0;
    let mut best = 0;
    for (last, t) in sorted.iter().enumerate() {
        while *t - sorted[first] >= window {
            first += 1;
        }
        best = best.max(last - first + 1);
    }
    best
}
