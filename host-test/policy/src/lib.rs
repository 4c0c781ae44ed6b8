//! What the Klairr host lets a connector component do, as pure data and decisions — no wasmtime, no I/O
//! beyond reading a manifest file — so every rule is table-tested on its own.
//!
//! Map:
//! - [`origin`]: origins (`scheme://host:port`), the loopback redirect, timeout ceilings.
//! - [`credential`]: the credential is the host's: refused prefixes, the host's own verdict on a key, the
//!   header it attaches, a hint (`rk_live_…abcd`) that is all anything else ever shows.
//! - [`key_shapes`]: what looks like a key by its form alone, hidden from text the operator supplies (no
//!   guess of the key is told right or wrong).
//! - [`manifest`]: the connector manifest (TOML): what one connector may reach, how, how fast, with which
//!   credential; validated at load with errors that name the field and what to write.
//! - [`request_rules`]: one outgoing request against the manifest's rules: method, canonical path, query
//!   parameters, headers, body, the credential never in the URL.
//! - [`budget`]: request starts per second per credential and endpoint; over budget a request waits.
//! - [`probes`]: setup's write probes judged from the answers the host saw, not from the component's report.
//! - [`redact`]: the credential (any 12-character run of it) out of text, control characters out of what a
//!   terminal shows, long messages capped.

pub mod bounded_file;
pub mod budget;
pub mod credential;
pub mod key_shapes;
pub mod manifest;
pub mod origin;
pub mod probes;
pub mod redact;
pub mod request_rules;
