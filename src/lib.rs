//! Klairr's Stripe connector.
//!
//! Built for `wasm32-wasip2` this crate is a WebAssembly component exporting
//! `klairr:connector/connector@0.2.0` (see `wit/connector-0.2.0/`). Everything except `component` is a
//! pure core with no wasi types — keys, the query DSL, Stripe request building, row projection, paging and
//! retries — so it is unit-tested natively. The core talks to the world only through
//! [`transport::Http`] and [`transport::Clock`].
//!
//! For `wasm32` the crate is built without `std` (`core` and `alloc`, through `prelude`): the component
//! then imports no `wasi:cli` (stdio, environment, exit) and is ~16 KB smaller; `component` names its
//! allocator, its `cabi_realloc` and what a panic does. Natively it links `std` as usual.
//!
//! Map of the modules:
//! - [`key`]: restricted-key checks that run before any request (the host runs them through
//!   `check-credential`; connections never see the key), and the hint that names a key in messages.
//! - [`schema`]: the five canonical tables, their columns and filters (what `describe` returns).
//! - [`dsl`]: the JSON query language, validated against the schema.
//! - [`aggregate`]: group-by and measures computed inside the component, so only group rows leave it.
//! - [`stripe`]: the pinned API version, list request paths, Stripe's error bodies.
//! - `json`: the component's one JSON reader (a small pull reader; serde_json is only a test reference).
//! - `json_object`: the `json_object!` macro, typed structs read from JSON objects by that reader.
//! - [`rows`]: typed structs for Stripe's objects at the pinned version, projected to rows.
//! - [`retry`]: which failures are retried, and how long to wait.
//! - [`pager`]: reads a list up to the row target through several `created` windows at once, exactly as
//!   one `starting_after` cursor would, with guards against loops.
//! - [`verify`]: setup's read and over-permission probes.
//! - [`connection`]: ties it together: open, verify, query.
//! - `component` (wasm32 only): the exports, through the guest SDK's bindings and wasi:http transport
//!   (`klairr_connector_sdk::component`).
#![cfg_attr(target_arch = "wasm32", no_std)]

extern crate alloc;

/// What `std`'s prelude brings, from `alloc`, imported by every module: the same items whether the
/// crate is built with `std` (natively) or without (`wasm32`).
mod prelude {
    pub use alloc::borrow::ToOwned;
    pub use alloc::boxed::Box;
    pub use alloc::string::{String, ToString};
    pub use alloc::vec::Vec;
    pub use alloc::{format, vec};
}

pub mod aggregate;
pub mod connection;
pub mod dsl;
pub mod error;
mod json;
mod json_object;
pub mod key;
pub mod pager;
pub mod retry;
pub mod rows;
pub mod schema;
pub mod stripe;
#[cfg(test)]
mod testing;
pub mod transport;
pub mod verify;

#[cfg(target_arch = "wasm32")]
mod component;
