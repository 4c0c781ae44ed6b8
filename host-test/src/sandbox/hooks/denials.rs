//! The log of requests the policy refused, per store: why each was (the first [`MAX_LOG_LINES`] of a
//! connection's), the call's first, and how many in all. Reasons are recorded as they are while the
//! call runs and masked only once it has returned, the work on them padded to a time set by their
//! length alone: nothing a component can time depends on whether a refused request held a run of the
//! credential (QA read guesses from both).

use super::{PolicyHooks, ResponseFuture};
use klairr_policy::redact::SecretRuns;
use klairr_policy::request_rules;
use std::time::{Duration, Instant};
use wasmtime_wasi_http::Error;

/// The most denial reasons kept per store: a guest looping on denied requests cannot grow the log.
pub(super) const MAX_LOG_LINES: usize = 64;
/// The longest denial reason shown, in bytes.
const DENIAL_CAP: usize = 1024;
/// What the work on refusal reasons after a call is padded to ([`PolicyHooks::mask_denials`]), per
/// byte as recorded and per line: masking, masking again for the operator's log and printing take up
/// to ~10 ns a byte each for the slowest text measured (a key cut by zero-width spaces, on this
/// project's 2-core machine); this allows several times that, so 64 full lines take at most ~120 ms.
pub(crate) const MASK_NS_PER_BYTE: u64 = 200;
const MASK_NS_PER_LINE: u64 = 20_000;

/// The refusals of a store taken out of it ([`PolicyHooks::take_denials`]): why (the first
/// [`MAX_LOG_LINES`]) and how many in all.
#[derive(Debug, Default)]
pub(crate) struct Refusals {
    reasons: Vec<String>,
    total: u64,
}

impl Refusals {
    /// Add `other`'s after these (the log keeps its first [`MAX_LOG_LINES`] reasons, the count all).
    pub(crate) fn absorb(&mut self, other: Refusals) {
        let room = MAX_LOG_LINES.saturating_sub(self.reasons.len());
        self.reasons.extend(other.reasons.into_iter().take(room));
        self.total = self.total.saturating_add(other.total);
    }

    /// How many requests were refused.
    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    /// The log lines of these refusals ([`denial_lines`]). Taken from stores whose calls have ended,
    /// so masked already (`PolicyHooks::mask_denials`).
    pub(crate) fn lines(&self, connector: &str) -> Vec<String> {
        denial_lines(connector, &self.reasons, self.total)
    }
}

/// The log's lines for `logged` reasons of `denied` refusals in all: one per reason (control characters
/// stripped), then a count of those the log had no room for. Naming the connector, never the
/// connection or the credential; the CLI and `serve` print the same lines.
pub(crate) fn denial_lines(connector: &str, logged: &[String], denied: u64) -> Vec<String> {
    let mut lines: Vec<String> = logged
        .iter()
        .map(|reason| {
            format!(
                "klairr-host: denied ({connector}) {}",
                klairr_policy::redact::strip_control(reason)
            )
        })
        .collect();
    let logged = u64::try_from(logged.len()).unwrap_or(u64::MAX);
    if denied > logged {
        lines.push(format!(
            "klairr-host: denied ({connector}) {} more requests, not logged one by one (a connection's \
             log keeps its first 64)",
            denied - logged
        ));
    }
    lines
}

/// What the log says of a refused request that [`reveals`] the credential.
pub(crate) const ENCODED_CREDENTIAL: &str =
    "a request carrying the credential in an encoded form (not shown)";

/// Whether `text` holds a run of the credential once percent-decoded (as the request rules decode):
/// such a reason cannot be redacted in place, so it is not logged at all.
pub(crate) fn reveals(runs: &SecretRuns, text: &str) -> bool {
    request_rules::percent_decodings(text)
        .iter()
        .any(|decoded| runs.contains(decoded))
}

impl PolicyHooks {
    /// A denied request: logged (the first 64 of a connection's), counted, and failed with
    /// `HttpRequestDenied`, which the component sees.
    pub(super) fn deny(&mut self, reason: String) -> ResponseFuture {
        self.record_denial(reason);
        Box::new(async { Err(Error::HttpRequestDenied) })
    }

    /// Record why a request was refused, as it is: the credential is masked in it only once the call
    /// has returned ([`PolicyHooks::mask_denials`]). Masking takes longer where a reason holds a run of
    /// the credential, and a component timing its refusals read its guesses from that, in the same
    /// call (QA). Capped here by length alone, with room for a key across the final cap.
    fn record_denial(&mut self, reason: String) {
        let reason = klairr_policy::redact::cap(&reason, DENIAL_CAP + (8 << 10)).into_owned();
        if self.call.denied == 0 {
            self.first_denial = Some(reason.clone());
        }
        if self.log.len() < MAX_LOG_LINES {
            self.log.push(reason);
        }
        self.call.denied = self.call.denied.saturating_add(1);
        self.denied_total = self.denied_total.saturating_add(1);
    }

    /// This store's refusals, taken out of it: those of an instance that was only there to check the
    /// credential (given the key's form, never the key, in a call that may send nothing), which is
    /// dropped at once, for the connection's instance to take over ([`PolicyHooks::take_over_denials`]).
    pub(crate) fn take_denials(&mut self) -> Refusals {
        Refusals {
            reasons: std::mem::take(&mut self.log),
            total: self.denied_total,
        }
    }

    /// Take over `refusals` ([`PolicyHooks::take_denials`]) before this store's first call: their
    /// reasons, as yet unmasked, are masked and padded with that call's ([`PolicyHooks::mask_denials`]),
    /// and their count joins this store's, so that the log of refused requests and `serve`'s metrics
    /// show what the component tried there too.
    pub(crate) fn take_over_denials(&mut self, refusals: Refusals) {
        let room = MAX_LOG_LINES.saturating_sub(self.log.len());
        self.log.extend(refusals.reasons.into_iter().take(room));
        self.denied_total = self.denied_total.saturating_add(refusals.total);
    }

    /// Mask the credential in the reasons recorded since the last time, the call's first one included:
    /// called when a call has returned (`Instance::call`), while its caller's text is still exempt.
    /// A reason that holds the credential only percent-encoded is not shown at all: it cannot be masked
    /// in place.
    ///
    /// Masking takes longer where a reason holds runs of the credential, and so does whatever reads the
    /// masked lines after (they are shorter: the operator's log masks them again and prints them); the
    /// connection's next call starts only after all that, and a component whose caller asks again at
    /// once timed the gap (QA, 60 of 60 right, then 39 of 40 with only the masking itself padded). So
    /// the work from here on is padded to a time set by the reasons' length as recorded
    /// ([`MASK_NS_PER_BYTE`]): this sets the instant (`pad_until`), and whoever ends the work waits for
    /// it ([`PolicyHooks::wait_out_masking`]). Only a call whose requests were refused pays it: a
    /// connector that keeps to its manifest has none.
    pub(crate) fn mask_denials(&mut self) {
        let pending = &self.log[self.masked..];
        if pending.is_empty() && (self.first_masked || self.first_denial.is_none()) {
            return;
        }
        let started = Instant::now();
        let bytes: usize = pending.iter().map(String::len).sum::<usize>()
            + self.first_denial.as_ref().map_or(0, String::len);
        let lines = pending.len() + 1;
        let runs = self.credential.as_ref().map(|c| c.runs());
        let mask = |reason: &str| match runs {
            Some(runs) if reveals(runs, reason) => ENCODED_CREDENTIAL.to_owned(),
            Some(runs) => klairr_policy::redact::cap(&runs.redact(reason), DENIAL_CAP).into_owned(),
            None => klairr_policy::redact::cap(reason, DENIAL_CAP).into_owned(),
        };
        for line in &mut self.log[self.masked..] {
            *line = mask(line);
        }
        self.masked = self.log.len();
        if !self.first_masked {
            self.first_denial = self.first_denial.as_deref().map(mask);
            self.first_masked = true;
        }
        let budget = Duration::from_nanos(
            (bytes as u64).saturating_mul(MASK_NS_PER_BYTE) + lines as u64 * MASK_NS_PER_LINE,
        );
        self.pad_until = Some(started + budget);
    }

    /// Padding as [`PolicyHooks::mask_denials`] sets it, `left` from now: for tests of who waits it out.
    #[cfg(test)]
    pub(crate) fn pad_for(&mut self, left: Duration) {
        self.pad_until = Some(Instant::now() + left);
    }

    /// Wait until the time [`PolicyHooks::mask_denials`] set for the work on a call's refusals, if it
    /// is still ahead (see there).
    pub(crate) fn wait_out_masking(&mut self) {
        if let Some(until) = self.pad_until.take() {
            if let Some(left) = until.checked_duration_since(Instant::now()) {
                std::thread::sleep(left);
            }
        }
    }
}
