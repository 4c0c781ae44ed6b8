//! Klairr's plugin host for connector components, with the Stripe connector built in.
//!
//! A connector is a WebAssembly component exporting `klairr:connector` (see `wit/`). The host compiles it
//! once, refuses it if it imports anything but wasi:io/clocks/random/cli/http, and runs each connection in
//! a fresh store with memory, time and concurrency limits. The component's HTTP requests go through
//! [`policy`]: only the origins its [`registry`] entry allows, optionally redirected to a loopback
//! emulator. Around it, [`service`] adds the result cache ([`cache`]) and shape-only memory ([`memory`]).
//!
//! Map:
//! - [`policy`]: pure network policy (allowlist, loopback redirect, timeout ceilings), table-tested.
//! - [`registry`]: the known connectors, their components and allowlists.
//! - [`sandbox`]: the wasmtime embedding: import checks, linker, limits, wasi:http hooks.
//! - [`cache`], [`memory`], [`service`]: result cache, shape memory, and the two around a connection.
//! - [`cli`], [`output`], [`demo`]: the `klairr-host` command line.
//! - [`emulator`]: the built-in loopback Stripe emulator (re-exported crate).

pub mod cache;
pub mod cli;
pub mod demo;
pub mod memory;
pub mod output;
pub mod policy;
pub mod registry;
pub mod sandbox;
pub mod service;

pub use klairr_stripe_emulator as emulator;
