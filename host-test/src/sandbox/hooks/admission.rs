//! Whether a request a component (or the host, for its own setup probes) asks for may leave: the call's
//! phase, the origin against the allowlist, the manifest's request rules, who may send a host probe, and
//! the call's request ceiling — everything decided before a byte is sent (see the parent module's list).

use super::PolicyHooks;
use klairr_policy::origin::{Decision, Origin};
use klairr_policy::request_rules::{self, Phase, RequestView};
use wasmtime_wasi_http::WasiBody;

impl PolicyHooks {
    /// Everything that decides whether the request may leave; `Ok` carries what sending needs.
    pub(super) fn admit(&mut self, request: &http::Request<WasiBody>) -> Result<Admitted, String> {
        if self.call.phase == Phase::Offline {
            // Quote nothing of the request: while the component judges a credential it holds one the
            // host has not accepted yet, and may have put it in the URL.
            return Err(
                "a request during a call that may make none (only verify and query reach the network)"
                    .into(),
            );
        }
        let uri = request.uri();
        let shown = format!("{} {}", request.method(), uri);
        let target = match self
            .network
            .decide(uri.scheme_str(), uri.authority().map(|a| a.as_str()))
        {
            Decision::Send(origin) => origin,
            Decision::Deny(reason) => return Err(format!("{shown}: {reason}")),
        };
        let path_and_query = uri.path_and_query().map_or("/", |p| p.as_str());
        let headers: Vec<(&str, &[u8])> = request
            .headers()
            .iter()
            .filter(|(name, _)| *name != http::header::HOST)
            .map(|(name, value)| (name.as_str(), value.as_bytes()))
            .collect();
        let content_length = match request.headers().get(http::header::CONTENT_LENGTH) {
            None => None,
            Some(v) => Some(
                v.to_str()
                    .ok()
                    .and_then(|s| s.trim().parse::<u64>().ok())
                    .ok_or_else(|| format!("{shown}: unreadable content-length"))?,
            ),
        };
        let view = RequestView {
            method: request.method().as_str(),
            path_and_query,
            headers: &headers,
            content_length,
        };
        let allowed = request_rules::check(&self.manifest, &view, self.call.phase)
            .map_err(|denial| format!("{shown}: {denial}"))?;
        let hosts_rule = allowed.rule.host_probe().is_some();
        if hosts_rule && !self.host_probe {
            return Err(format!(
                "{shown}: {} is one of the write probes the host sends itself during setup: a component \
                 may not send it",
                allowed.endpoint
            ));
        }
        if self.host_probe && !hosts_rule {
            return Err(format!(
                "{shown}: the host's own setup probe matched {}, not its own rule",
                allowed.endpoint
            ));
        }
        if self.call.sent >= self.call.ceiling {
            self.ceiling_reached.cancel();
            return Err(format!(
                "{shown}: the call's ceiling of {} requests is reached",
                self.call.ceiling
            ));
        }
        self.call.sent += 1;
        // Setup is judged from the answers of its write probes and, during a verification, of its reads.
        let judged = allowed.rule.probe.is_some()
            || (allowed.rule.reads.is_some() && self.call.phase == Phase::Verify);
        let probe_rule = judged
            .then(|| {
                self.manifest
                    .requests
                    .iter()
                    .position(|r| std::ptr::eq(r, allowed.rule))
            })
            .flatten();
        Ok(Admitted {
            target,
            endpoint: allowed.endpoint,
            body_allowed: allowed.rule.body,
            probe_rule,
        })
    }
}

/// What [`PolicyHooks::admit`] found out about a request it lets leave.
pub(super) struct Admitted {
    pub(super) target: Origin,
    /// The rule's endpoint (`GET /v1/customers`): the budget's unit.
    pub(super) endpoint: String,
    pub(super) body_allowed: bool,
    /// The index of the rule in the manifest when setup judges its answers (a write probe, or a rule
    /// that `reads` a resource, during a verification).
    pub(super) probe_rule: Option<usize>,
}
