//! The `klairr:connector/progress` import: a connector tells the host how far a long call has got
//! (requests made, rows found), and the host hands that to whoever watches the call — the CLI's progress
//! bar on a terminal, nobody otherwise.
//!
//! The numbers come from the component, so they are only ever shown, never trusted: they change nothing
//! about the call, its budget or its result. A report costs the host one callback, however often a
//! component reports; what the watcher draws, and how often, is the watcher's business.

use super::store::StoreState;
use std::sync::Arc;
use wasmtime::component::{HasData, Linker};

/// How far a call has got, as its connector reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Requests made so far in the call, retries included.
    pub requests: u32,
    /// Rows of the result found so far.
    pub rows: u64,
}

/// Who watches a connection's calls (see [`super::Connection::watch`]).
pub type ProgressSink = Arc<dyn Fn(Progress) + Send + Sync>;

impl super::bindings::klairr::connector::progress::Host for StoreState {
    fn report(&mut self, requests: u32, rows: u64) {
        if let Some(sink) = &self.progress {
            sink(Progress { requests, rows });
        }
    }
}

struct HasProgress;
impl HasData for HasProgress {
    type Data<'a> = &'a mut StoreState;
}

/// Give the linker the progress import.
pub(super) fn add_to_linker(linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
    super::bindings::klairr::connector::progress::add_to_linker::<StoreState, HasProgress>(
        linker,
        |state| state,
    )
}
