//! Klairr's ledger connector: the second connector of the platform, reading a (fake) ledger API at
//! `https://api.ledger.example` — accounts with their balances, and the entries posted to them.
//!
//! Built for `wasm32-wasip2` this crate is a WebAssembly component exporting
//! `klairr:connector/connector@0.2.0` (the same `wit/connector-0.2.0/` world as the Stripe connector), run
//! by `klairr-host` under its own manifest, `connectors/ledger/ledger.toml`. Everything except
//! `component` is a pure core with no wasi types, unit-tested natively; it talks to the world only through
//! [`transport::Http`] and [`transport::Clock`].
//!
//! Map of the modules:
//! - [`key`]: the offline verdict on a key (`lk_test_…`/`lk_live_…`; write keys `lkw_…` refused).
//! - [`schema`]: the two tables, their typed columns and filters (what `describe` returns).
//! - [`query`]: the JSON query language, its canonical form and the API request it becomes.
//! - [`api`]: the API's pages and errors as typed serde structs, projected to rows.
//! - [`retry`]: one request with retries, and what a final failure means.
//! - [`pager`]: reads a list up to the row target by following `next_cursor`.
//! - [`connection`]: ties it together: describe, open, verify, canonical-query, query.
//! - `component` (wasm32 only): the exports, through the guest SDK's bindings and wasi:http transport
//!   (`klairr_connector_sdk::component`).

pub mod api;
pub mod connection;
pub mod error;
pub mod key;
pub mod pager;
pub mod query;
pub mod retry;
pub mod schema;
#[cfg(test)]
mod testing;
pub mod transport;

#[cfg(target_arch = "wasm32")]
mod component;
