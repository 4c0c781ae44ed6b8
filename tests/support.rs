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
    let entry = registry::stripe();
    let base = LoopbackBase::parse(&emulator.base_url()).expect("loopback base");
    Sandbox::load(
        entry.component,
        entry.policy().redirect_to(base),
        SandboxLimits::default(),
    )
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
