//! Klairr's plugin host for connector components, with the Stripe connector built in.
//!
//! A connector is a manifest plus a WebAssembly component exporting `klairr:connector@0.2.0` (see
//! `wit/connector-0.2.0/`). The host compiles the component once, refuses it if it imports anything but
//! wasi:io/clocks/random/cli/http or exports another contract version, and runs each connection in a
//! fresh, limited store. Everything the component does outside its own memory is decided by the host from
//! the manifest ([`policy`]): which requests leave, with which credential, how fast, until when; and what
//! comes back is checked ([`returned`]). Around it, [`service`] adds the result cache ([`cache`]) and
//! shape-only memory ([`memory`]).
//!
//! Map:
//! - [`policy`] (the `klairr-policy` crate): manifests, request rules, credentials, budget, redaction —
//!   pure and table-tested.
//! - [`registry`]: the known connectors: the built-in Stripe one and `--connectors DIR` manifests.
//! - [`sandbox`]: the wasmtime embedding: import/export checks, linker, limits, deadlines, wasi:http hooks.
//! - [`returned`]: checks and redaction of everything a component returns.
//! - [`cache`], [`memory`], [`service`]: result cache, shape memory, and the two around a connection.
//! - [`serve`]: the long-running host: many connectors, one shared engine and cache, an HTTP API, hot
//!   swap, metrics.
//! - [`cli`], [`output`], [`demo`]: the `klairr-host` command line.
//! - [`emulator`]: the built-in loopback Stripe emulator (re-exported crate; with the default `demo`
//!   feature, like [`demo`]).

// `println!`/`eprintln!` panic when their stream is closed (`klairr-host … | head`): the host writes
// through `log_line` and the command's own writers instead.
#![deny(clippy::print_stdout, clippy::print_stderr)]

/// One line on the process's stderr: a warning, or a line of `serve`'s log. Never panics: a stderr whose
/// reader went away (`2>&1 | head`) loses the line, where `eprintln!` would abort the command with a
/// panic.
/// Every credential the command's environment holds ([`mask_log_lines`]) is masked in it, but for what
/// the command line says (`cli::CommandLine`: the caller's own text, shown alike whether or not it
/// matches): a warning may quote a path or a variable, and a key can be pasted anywhere.
pub(crate) fn log_line(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut text = line.to_string();
    {
        // Written, not read: the exemption below is the masks' state until it is dropped, and two lines
        // at once must not end each other's.
        let masks = LOG_MASKS.write().unwrap_or_else(|p| p.into_inner());
        let written: Vec<&str> = masks.written.texts().collect();
        for runs in &masks.credentials {
            let _exempt = runs.caller_wrote(&written);
            text = runs.redact(&text).into_owned();
        }
        text = masks.written.hide_key_like(&text);
    }
    // A spinner drawn on stderr is taken off the screen while the line is written.
    progress_bar::write_beside(|| {
        let _ = writeln!(std::io::stderr(), "{text}");
    });
}

/// What [`log_line`] masks: the credentials, and what the command line says.
struct LogMasks {
    credentials: Vec<klairr_policy::redact::SecretRuns>,
    written: cli::CommandLine,
}

/// Set by the CLI once it has read its command line, for the rest of the process.
static LOG_MASKS: std::sync::RwLock<LogMasks> = std::sync::RwLock::new(LogMasks {
    credentials: Vec::new(),
    written: cli::CommandLine::empty(),
});

pub(crate) fn mask_log_lines(
    credentials: Vec<klairr_policy::redact::SecretRuns>,
    written: cli::CommandLine,
) {
    *LOG_MASKS.write().unwrap_or_else(|p| p.into_inner()) = LogMasks {
        credentials,
        written,
    };
}

pub mod cache;
pub mod cli;
#[cfg(feature = "demo")]
pub mod demo;
pub mod memory;
pub mod output;
#[cfg(unix)]
mod own_file;
pub mod progress_bar;
pub mod registry;
pub mod returned;
pub mod sandbox;
pub mod serve;
pub mod service;
mod signal_action;

pub use klairr_policy as policy;
#[cfg(feature = "demo")]
pub use klairr_stripe_emulator as emulator;
