//! Setup's write probes that the host sends itself (`probe = { …, sent_by = "host" }` in a manifest):
//! for resources the connector never touches, whose write access a credential should not have either
//! (Stripe's refunds, transfers, webhook endpoints, …). A component's own probes cover what it reads;
//! these cover what it does not, and no component can leave them out.
//!
//! They go out during the verification call, once the component's verification is done, through the
//! same hooks as a component's requests — the manifest's rules, the request ceiling, the in-flight
//! limit, the budget, the pool, the credential attached by the host — so their answers are recorded
//! and judged with the component's (`klairr_policy::probes`). Each is the rule's literal path on the
//! manifest's first origin with an empty body (`Content-Length: 0`), sent at once beside the others;
//! a temporary failure (a rate limit, a server error, a timeout) is tried again, at most [`ATTEMPTS`]
//! times in all.

use super::hooks::PolicyHooks;
use klairr_policy::manifest::Manifest;
use std::time::Duration;
use wasmtime_wasi_http::{Error, WasiBody};

/// How many times one probe is sent at most.
const ATTEMPTS: u32 = 3;
/// The wait before the first retry when the upstream names none; doubled for the next.
const FIRST_WAIT: Duration = Duration::from_millis(500);
/// The longest wait before a retry, whatever `Retry-After` says.
const LONGEST_WAIT: Duration = Duration::from_secs(5);

/// One probe the host sends: its method, URL and `Host` header.
#[derive(Clone, Debug)]
pub(super) struct HostProbe {
    method: http::Method,
    url: String,
    /// The origin's, as a client names it (no port when it is the scheme's): the request keeps it when
    /// a `--redirect` delivers it elsewhere, as a component's does.
    host: String,
}

impl HostProbe {
    fn request(&self) -> Option<http::Request<WasiBody>> {
        use http_body_util::BodyExt;
        let empty = http_body_util::Empty::new()
            .map_err(|never| match never {})
            .boxed_unsync();
        http::Request::builder()
            .method(self.method.clone())
            .uri(&self.url)
            .header(http::header::HOST, &self.host)
            // Said, not left out: hyper sends no length for an empty body, and a proxy may answer a
            // POST without one 411 (as Google's front end does), which would fail every key.
            .header(http::header::CONTENT_LENGTH, "0")
            .body(empty)
            .ok()
    }
}

/// The probes of `manifest` the host sends, in manifest order.
pub(super) fn of(manifest: &Manifest) -> Vec<HostProbe> {
    let Some(origin) = manifest.network.origins.first() else {
        return Vec::new();
    };
    let host = if origin.port == origin.scheme.default_port() {
        origin.host.clone()
    } else {
        format!("{}:{}", origin.host, origin.port)
    };
    manifest
        .requests
        .iter()
        .filter(|rule| rule.host_probe().is_some())
        .filter_map(|rule| {
            Some(HostProbe {
                method: http::Method::from_bytes(rule.method.as_bytes()).ok()?,
                url: format!("{origin}{}", rule.path.literal()?),
                host: host.clone(),
            })
        })
        .collect()
}

/// The resources of the probes the host sends: what the connector never reads.
pub(super) fn resources(manifest: &Manifest) -> Vec<String> {
    manifest
        .requests
        .iter()
        .filter_map(|rule| rule.host_probe())
        .map(|p| p.resource.clone())
        .collect()
}

/// Send every probe, and again those that met a temporary failure. What they got is recorded by the
/// hooks, as for any request under a probe rule; a probe never answered is judged unproven.
pub(super) async fn send(hooks: &mut PolicyHooks, probes: &[HostProbe]) {
    let mut pending: Vec<&HostProbe> = probes.iter().collect();
    for attempt in 0..ATTEMPTS {
        let mut sent = tokio::task::JoinSet::new();
        for (i, probe) in pending.iter().enumerate() {
            let Some(request) = probe.request() else {
                continue;
            };
            let answer = Box::into_pin(hooks.send_host_probe(request));
            sent.spawn(async move {
                // The status and the wait it asks for; the body is dropped unread, which frees its
                // open-response slot.
                let retry = match answer.await {
                    Ok((response, _)) => retry_after(&response, attempt),
                    // Refused by the manifest's rules: it would be again.
                    Err(Error::HttpRequestDenied) => None,
                    Err(_) => Some(backoff(attempt)),
                };
                (i, retry)
            });
        }
        let mut again = Vec::new();
        let mut wait = Duration::ZERO;
        while let Some(joined) = sent.join_next().await {
            if let Ok((i, Some(retry))) = joined {
                again.push(pending[i]);
                wait = wait.max(retry);
            }
        }
        if again.is_empty() || attempt + 1 == ATTEMPTS {
            return;
        }
        // The call's deadline bounds this wait, as it bounds the whole call.
        tokio::time::sleep(wait).await;
        pending = again;
    }
}

/// The wait before sending again a probe that got `response`, if its status is a temporary failure
/// worth another try: a timeout, a lock conflict, a rate limit, a server error (not a 401: the
/// credential was not accepted, and will not be).
fn retry_after(response: &http::Response<WasiBody>, attempt: u32) -> Option<Duration> {
    let status = response.status().as_u16();
    if !matches!(status, 408 | 409 | 429 | 500..=599) {
        return None;
    }
    let named = response
        .headers()
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    Some(named.unwrap_or_else(|| backoff(attempt)).min(LONGEST_WAIT))
}

fn backoff(attempt: u32) -> Duration {
    (FIRST_WAIT * 2u32.saturating_pow(attempt)).min(LONGEST_WAIT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use klairr_policy::manifest::ProbeSender;

    #[test]
    fn the_host_sends_only_its_own_probes_as_their_paths_are_written() {
        let stripe = Manifest::stripe();
        let probes = of(&stripe);
        let component_probes = stripe
            .requests
            .iter()
            .filter(|r| {
                r.probe
                    .as_ref()
                    .is_some_and(|p| p.sent_by == ProbeSender::Component)
            })
            .count();
        assert_eq!(component_probes, 5, "the connector's own five");
        assert!(!probes.is_empty());
        for probe in &probes {
            assert!(
                probe.url.starts_with("https://api.stripe.com:443/v1/"),
                "{probe:?}"
            );
            assert!(probe.url.contains("_klairr_probe_"), "{probe:?}");
            assert_eq!(probe.host, "api.stripe.com");
            assert_ne!(probe.method, http::Method::GET);
        }
    }

    #[test]
    fn temporary_failures_wait_as_told_within_bounds() {
        let answer = |status: u16, retry: Option<&str>| {
            use http_body_util::BodyExt;
            let mut response = http::Response::builder().status(status);
            if let Some(r) = retry {
                response = response.header("retry-after", r);
            }
            response
                .body(
                    http_body_util::Empty::new()
                        .map_err(|never| match never {})
                        .boxed_unsync(),
                )
                .expect("a response")
        };
        assert_eq!(retry_after(&answer(403, None), 0), None);
        assert_eq!(retry_after(&answer(404, None), 0), None);
        assert_eq!(retry_after(&answer(401, None), 0), None);
        assert_eq!(
            retry_after(&answer(429, Some("2")), 0),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            retry_after(&answer(503, Some("3600")), 0),
            Some(LONGEST_WAIT)
        );
        assert_eq!(
            retry_after(&answer(500, None), 1),
            Some(Duration::from_secs(1))
        );
        assert_eq!(backoff(30), LONGEST_WAIT);
    }
}
