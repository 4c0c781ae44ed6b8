//! The guest SDK: what the Klairr connectors (`src/`, `connectors/ledger/`) share, in one place.
//!
//! - [`error`]: the typed errors of the WIT contract and how an upstream error reads;
//! - [`transport`]: the [`transport::Http`] and [`transport::Clock`] seams between a pure core and the
//!   outside world, and what crosses them;
//! - [`catalogue`]: columns, cells and table specs, what `describe` returns;
//! - [`key`]: the mode a key and a connection run in;
//! - [`config`]: what a connection is opened with, and how its limits are read;
//! - `component` (wasm32 only): the `klairr:connector@0.2.0` types generated once, the conversions from
//!   the core types above, and the wasi:http / wasi:clocks implementations of the seams.
//!
//! No dependencies natively: every byte here ships in every component.
#![cfg_attr(target_arch = "wasm32", no_std)]

extern crate alloc;

/// What `std`'s prelude brings, from `alloc`: for `wasm32` this crate is built without `std`, so that a
/// connector built without it (the Stripe one) can use it; one built with `std` (the ledger) links it as
/// usual.
mod prelude {
    pub use alloc::borrow::ToOwned;
    pub use alloc::format;
    pub use alloc::string::{String, ToString};
    pub use alloc::vec::Vec;
}

pub mod catalogue;
pub mod config;
pub mod error;
pub mod key;
pub mod transport;

#[cfg(target_arch = "wasm32")]
pub mod component;
