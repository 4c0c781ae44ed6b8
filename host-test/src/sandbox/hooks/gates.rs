//! What the stores of one sandbox (and, in `serve`, of every connector) share on purpose: the request
//! budget and the in-flight gates, both per credential; and the bound on the responses one store may
//! hold open.

use klairr_policy::budget::{CredentialId, RequestBudget};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What one sandbox's stores share on purpose: the request budget and the in-flight gates, both per
/// credential. In the CLI one sandbox is one host process, so the budget is per host process.
pub struct SharedGates {
    pub(super) budget: RequestBudget,
    /// Responses held open by all the stores together ([`MAX_OPEN_RESPONSES`]).
    pub(super) open_responses: Arc<tokio::sync::Semaphore>,
    /// Requests from their start until their response head (the manifest's `max_in_flight`).
    in_flight: Mutex<HashMap<CredentialId, InFlightGates>>,
}

/// The in-flight gates of one credential. Connectors given the same key (`serve`) may declare different
/// limits: each connector's requests take a slot of a gate of its own, sized by its manifest's limit, so
/// none has more in flight than its manifest allows, and then one of the key's gate, sized by the
/// largest limit asked for while it is in use, so that together they never have more in flight than
/// one manifest allows. A reload that changes a connector's limit gives its new version a gate of the
/// new size (calls of the old version finish on the old one), never another connector's.
struct InFlightGates {
    key: Arc<tokio::sync::Semaphore>,
    key_size: usize,
    /// By connector name and limit.
    own: HashMap<(String, usize), Arc<tokio::sync::Semaphore>>,
}

impl InFlightGates {
    fn new(limit: usize) -> InFlightGates {
        InFlightGates {
            key: Arc::new(tokio::sync::Semaphore::new(limit)),
            key_size: limit,
            own: HashMap::new(),
        }
    }

    /// Whether anyone but this table still holds one of the gates.
    fn in_use(&self) -> bool {
        Arc::strong_count(&self.key) > 1 || self.own.values().any(|g| Arc::strong_count(g) > 1)
    }
}

/// The two gates a request passes, in this order (every request takes them in the same order, so
/// none waits for a slot while holding one another is waiting for).
pub(super) struct InFlightSlots {
    pub(super) own: Arc<tokio::sync::Semaphore>,
    pub(super) key: Arc<tokio::sync::Semaphore>,
}

impl InFlightSlots {
    /// A slot of both gates; held until the response head.
    pub(super) async fn acquire(self) -> Result<InFlightPermit, tokio::sync::AcquireError> {
        let own = self.own.acquire_owned().await?;
        let key = self.key.acquire_owned().await?;
        Ok(InFlightPermit {
            _own: own,
            _key: key,
        })
    }
}

/// A request's place in flight: both gates' slots, given back together when dropped.
pub(super) struct InFlightPermit {
    _own: tokio::sync::OwnedSemaphorePermit,
    _key: tokio::sync::OwnedSemaphorePermit,
}

/// How many responses one connection (one store) may hold open at once, per request its connector may
/// have in flight. A response whose body is not read to the end holds its connection (a socket) until
/// the guest drops it: without a bound, a component that never reads bodies would open a connection per
/// request, up to its call's request ceiling (thousands for a large aggregate), and starve the host of
/// file descriptors. Four times the in-flight limit leaves room for a component that waits for several
/// heads before reading their bodies; past it, a new request waits for one of its own bodies to finish.
/// Per connection, not per credential: a component holding its own responses must not stall the other
/// connections that use the same key.
pub const OPEN_RESPONSES_PER_IN_FLIGHT: usize = 4;

/// How many responses all the stores sharing these gates (one CLI process; every connector and
/// connection of `serve`) may hold open at once. [`OPEN_RESPONSES_PER_IN_FLIGHT`] bounds one
/// connection, but `serve` keeps 64 open: a component keeping every response it gets in each held
/// 2,048 upstream sockets (review), twice the 1,024 descriptors a process is commonly given, which
/// `serve` also needs for its 256 clients, its memory file and its compile cache. Past this, a request
/// waits for a response of any connection to finish (within its call's deadline), as it waits for one
/// of its own past the per-connection bound; a component that reads its bodies gives its slots back
/// within a request's time.
pub const MAX_OPEN_RESPONSES: usize = 256;

/// How much more than a second the budget keeps between a start and the N-th start after it. The budget
/// counts the instants requests are ready to go on the wire (their connection made, TLS included); the
/// upstream sees them later, by a delay that varies with scheduling and the network (tens of
/// milliseconds for a burst, more on a loaded machine). Without the margin, a burst of N and the next
/// burst a second later can land in one of the upstream's seconds (a flood of 150 showed up to 28
/// arrivals in one second under a budget of 20).
const ARRIVAL_MARGIN: Duration = Duration::from_millis(100);

impl Default for SharedGates {
    fn default() -> Self {
        SharedGates {
            budget: RequestBudget::with_margin(ARRIVAL_MARGIN),
            open_responses: Arc::new(tokio::sync::Semaphore::new(MAX_OPEN_RESPONSES)),
            in_flight: Mutex::default(),
        }
    }
}

impl SharedGates {
    /// The gates a request of `connector`, whose manifest allows `limit` in flight, passes for the
    /// credential `id` (see [`InFlightGates`]).
    pub(super) fn in_flight(
        &self,
        id: CredentialId,
        connector: &str,
        limit: usize,
    ) -> InFlightSlots {
        // A panic elsewhere while the lock was held leaves the gates as they were: they are still the
        // ones every request shares (a fresh gate per request would bound nothing, review).
        let mut gates = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        // Gates nobody holds any more are dropped, so a long-running host stays bounded.
        gates.retain(|_, gates| gates.in_use());
        let gates = gates.entry(id).or_insert_with(|| InFlightGates::new(limit));
        if limit > gates.key_size {
            gates.key.add_permits(limit - gates.key_size);
            gates.key_size = limit;
        }
        let own = gates
            .own
            .entry((connector.to_owned(), limit))
            .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(limit)))
            .clone();
        InFlightSlots {
            own,
            key: gates.key.clone(),
        }
    }
}
