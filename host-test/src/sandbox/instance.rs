//! One instance in its own store, and the way every call into it is made: under the call's deadline, its
//! connection's cancellation and its request ceiling, with a trap, a deadline, a cancellation or a
//! request past the ceiling discarding the instance, and trap messages reduced to their cause.

use super::bindings;
use super::error::SandboxError;
use super::hooks::CallState;
use super::store::StoreState;
use klairr_policy::redact::SecretRuns;
use klairr_policy::request_rules::Phase;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use wasmtime::Store;

/// One instance in its own store, and the way every call into it is made.
pub(super) struct Instance {
    pub(super) store: Store<StoreState>,
    pub(super) plugin: Option<Arc<bindings::Plugin>>,
    pub(super) runtime: Arc<super::shared::GuestRuntime>,
    pub(super) timeout: Duration,
    /// The latest any call may end, whatever `timeout` leaves it: set while the instance is being
    /// made and opened, so that opening a connection — several calls — keeps to one `timeout` in all.
    pub(super) opened_by: Option<Instant>,
    pub(super) discarded: bool,
}

/// How a call's run ended: by itself (or at its deadline), or stopped from outside it.
enum Stopped<T> {
    Not(T),
    /// The connection was given up.
    Cancelled,
    /// The call asked for a request past its ceiling.
    AtTheCeiling,
}

pub(super) type CallFuture<'a, R> =
    std::pin::Pin<Box<dyn Future<Output = wasmtime::Result<R>> + 'a>>;

impl Instance {
    /// Run one call under the deadline and the cancellation. A trap, a deadline or a cancellation
    /// discards the instance.
    pub(super) fn call<R>(
        &mut self,
        phase: Phase,
        ceiling: u32,
        f: impl for<'a> FnOnce(&'a mut Store<StoreState>) -> CallFuture<'a, R>,
    ) -> Result<R, SandboxError> {
        if self.discarded {
            return Err(SandboxError::Discarded);
        }
        // Whatever the last call's refusals still owe their padding is waited out before this one
        // begins, wherever the caller went in between: the component times the gap between its
        // calls (`PolicyHooks::mask_denials`).
        self.store.data_mut().hooks.wait_out_masking();
        let mut state = CallState::new(phase, self.timeout, ceiling);
        if let Some(by) = self.opened_by {
            state.deadline = state.deadline.min(by);
        }
        let ceiling_reached = self.store.data_mut().hooks.begin_call(state);
        // Checked after the reset: a call that never started sent nothing, whatever the last one did.
        // Cancelled when whoever owns the connection gives it up (`serve`, when it is closed): the
        // call running stops at once, wherever it is (spinning in the guest, waiting in the host), and
        // so do its requests, which the hooks hold to the same token.
        let cancel: CancellationToken = self.store.data().hooks.cancel.clone();
        if cancel.is_cancelled() {
            self.discard();
            return Err(SandboxError::Cancelled);
        }
        let deadline = self.store.data().hooks.call.deadline;
        let call_over = self.store.data().hooks.call_over();
        let runtime = self.runtime.clone();
        let outcome = {
            let fut = f(&mut self.store);
            // Dropping the call's future stops it wherever it is: a spinning guest yields to this
            // select at every epoch tick (see the store's epoch callback), and a guest waiting in the
            // host (a clock, an HTTP future, a body) is waiting on this future. Its store cannot be
            // entered again, so the instance is discarded, as after a deadline.
            runtime.block_on(async move {
                let stopped = tokio::select! {
                    biased;
                    () = cancel.cancelled() => Stopped::Cancelled,
                    () = ceiling_reached.cancelled() => Stopped::AtTheCeiling,
                    outcome = tokio::time::timeout_at(deadline.into(), fut) => Stopped::Not(outcome),
                };
                // Ended here, before the runtime hands back: `serve`'s requests run on worker threads,
                // and one whose wait ended between the two would otherwise still go out (review).
                call_over.cancel();
                stopped
            })
        };
        // However it ended, nothing the call left waiting goes out after it (`PolicyHooks::end_call`);
        // and its refusals are masked now that the component no longer runs to time them.
        self.store.data().hooks.end_call();
        self.store.data_mut().hooks.mask_denials();
        let outcome = match outcome {
            Stopped::Not(outcome) => outcome,
            Stopped::Cancelled => {
                self.discard();
                return Err(SandboxError::Cancelled);
            }
            // The connection names the ceiling and the call (`Connection::finish`, from the hooks'
            // `ceiling_hit`); this only says the call did not end by itself.
            Stopped::AtTheCeiling => {
                self.discard();
                return Err(SandboxError::Trap(
                    "stopped at the call's request ceiling".to_owned(),
                ));
            }
        };
        match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(trap)) => {
                self.discard();
                if Instant::now() >= deadline {
                    Err(self.deadline_error())
                } else if trap.downcast_ref::<wasmtime::Trap>().is_none()
                    && trap.root_cause().downcast_ref::<std::io::Error>().is_some()
                {
                    // The operating system refused the host (QA: under `ulimit -f` the memory
                    // image could not be made, reported as the connector's crash).
                    Err(SandboxError::HostResources(
                        klairr_policy::redact::cap(&trap_message(&trap), 1024).into_owned(),
                    ))
                } else {
                    let message = trap_message(&trap);
                    let message = match past_hostcall_fuel(&message, self.store.hostcall_fuel()) {
                        Some(said) => said,
                        None => message,
                    };
                    Err(SandboxError::Trap(
                        klairr_policy::redact::cap(&message, 1024).into_owned(),
                    ))
                }
            }
            Err(_elapsed) => {
                self.discard();
                Err(self.deadline_error())
            }
        }
    }

    /// The deadline of the last call, which also bounds the host's checks of what it returned (see
    /// [`CallDeadline`]).
    pub(super) fn last_deadline(&self) -> CallDeadline {
        CallDeadline {
            at: self.store.data().hooks.call.deadline,
            seconds: self.timeout.as_secs(),
        }
    }

    /// The instance answers no call again, and none of the requests its last call left (on tasks of
    /// their own until the store is dropped) goes on the wire: a request still waiting for a slot the
    /// others free as they end would otherwise go out after the call failed, uncounted.
    pub(super) fn discard(&mut self) {
        self.discarded = true;
        self.store.data().hooks.cancel.cancel();
    }

    pub(super) fn plugin(&self) -> Result<Arc<bindings::Plugin>, SandboxError> {
        self.plugin.clone().ok_or(SandboxError::Discarded)
    }

    fn deadline_error(&self) -> SandboxError {
        self.last_deadline().error()
    }
}

/// A call's deadline, as the host's checks of its result see it. What a component returns is read in
/// full for the credential after the call (`returned::check_query`), and text made to be read slowly
/// (escape sequences and invisible characters, read in each of the ways a reader could see them) costs
/// the host ~150 ms a MiB: the 64 MiB a call may return would keep it busy for seconds after the call
/// ended. Those checks look at this deadline as they go, so that a call costs the host no more time
/// than its deadline, whatever it returns.
#[derive(Clone, Copy)]
pub struct CallDeadline {
    at: Instant,
    seconds: u64,
}

impl CallDeadline {
    /// `Deadline` once it has passed.
    pub fn check(&self) -> Result<(), SandboxError> {
        if Instant::now() >= self.at {
            Err(self.error())
        } else {
            Ok(())
        }
    }

    fn error(&self) -> SandboxError {
        SandboxError::Deadline {
            seconds: self.seconds,
        }
    }

    /// A deadline `after` from now, for tests of the checks.
    #[cfg(test)]
    pub fn after(after: std::time::Duration) -> CallDeadline {
        CallDeadline {
            at: Instant::now() + after,
            seconds: after.as_secs(),
        }
    }
}

/// A trap's chain of causes without its wasm backtrace: a stack overflow's backtrace alone fills the
/// message cap and hides the cause, and its frames (`<wasm function 109>`) tell a user nothing.
fn trap_message(trap: &wasmtime::Error) -> String {
    let backtrace = trap
        .downcast_ref::<wasmtime::WasmBacktrace>()
        .map(ToString::to_string);
    let causes: Vec<String> = trap
        .chain()
        .map(ToString::to_string)
        .filter(|cause| Some(cause) != backtrace.as_ref())
        .collect();
    causes.join(": ")
}

/// wasmtime's words for a call that handed the host more than its hostcall fuel (`hostcall_fuel` in
/// [`super::SandboxLimits`]) allows.
const HOSTCALL_FUEL_EXHAUSTED: &str = "fuel allocated for hostcalls has been exhausted";

/// A trap past the hostcall fuel, told as what happened and what to ask instead (review: a result of
/// 3,000 rows with 70 KB descriptions was told only in wasmtime's words, as if the connector had
/// crashed); `None` for any other trap.
fn past_hostcall_fuel(message: &str, fuel: usize) -> Option<String> {
    message.contains(HOSTCALL_FUEL_EXHAUSTED).then(|| {
        format!(
            "{message}: the connector handed the host more than the {} MiB one call may carry (a \
             result of many long rows, say): ask for fewer rows (a smaller limit or --max-rows)",
            fuel >> 20
        )
    })
}

/// Host errors quote guest text (trap messages): redact the credential from them.
pub(super) fn redact_error(e: SandboxError, runs: &SecretRuns) -> SandboxError {
    match e {
        SandboxError::Trap(m) => SandboxError::Trap(runs.redact(&m).into_owned()),
        // The same chain of causes as a trap's: redacted the same way.
        SandboxError::HostResources(m) => SandboxError::HostResources(runs.redact(&m).into_owned()),
        SandboxError::Malformed(m) => SandboxError::Malformed(runs.redact(&m).into_owned()),
        other => other,
    }
}
