//! Setup's write probes, judged by the host: whatever a component reports, setup passes only if every
//! probe rule of the manifest (a rule with `probe = { resource, refused }`) was tried during the
//! verification and the upstream refused it.
//!
//! The host sees every answer a probe gets (the status of each request sent under a probe rule), so it
//! needs no word of the component's. Any answer other than a refusal or a temporary failure (401, 408,
//! 409, 429, 5xx: `temporary`) means the credential may write there ([`ProbeVerdict::CanWrite`]): a success is a write that went
//! through, and Stripe's 404 `resource_missing` says the credential passed the permission check and only
//! the object was missing. A probe never answered, or whose last answer is a temporary failure, proves
//! nothing ([`ProbeVerdict::Unproven`]). A component that reports success over either is overruled.
//!
//! Reads alike ([`judge_reads`]): a rule with `reads = "customers"` must have been answered with a
//! success during the verification. A 403 is the credential refused that read ([`ReadVerdict::CannotRead`]);
//! never answered, or only with a temporary failure or another status, proves nothing.

use crate::manifest::{Manifest, ProbeSender, WriteProbe};

/// One answer to a request sent under a probe rule: the rule's index in the manifest and the status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeAnswer {
    pub rule: usize,
    pub status: u16,
}

/// What the answers of one verification prove.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProbeVerdict {
    /// Every probe was refused: the rules' endpoints (`DELETE /v1/customers/{id}`), in manifest order.
    Refused(Vec<String>),
    /// These resources (the probes' `resource`) accepted a write, or may have.
    CanWrite(Vec<String>),
    /// These probes proved nothing: each as its endpoint and what it got.
    Unproven(Vec<String>),
}

/// Judge the `answers` one verification's probes got, in the order they came.
pub fn judge(manifest: &Manifest, answers: &[ProbeAnswer]) -> ProbeVerdict {
    let (mut refused, mut can_write, mut unproven) = (Vec::new(), Vec::new(), Vec::new());
    for (i, rule) in manifest.requests.iter().enumerate() {
        let Some(probe) = &rule.probe else {
            continue;
        };
        let statuses: Vec<u16> = answers
            .iter()
            .filter(|a| a.rule == i)
            .map(|a| a.status)
            .collect();
        match judge_one(probe, &statuses) {
            One::Refused => refused.push(rule.endpoint()),
            One::CanWrite => can_write.push(probe.resource.clone()),
            One::Unproven(why) => unproven.push(format!(
                "no refusal of the write probe {} ({why})",
                rule.endpoint()
            )),
        }
    }
    if !can_write.is_empty() {
        ProbeVerdict::CanWrite(can_write)
    } else if !unproven.is_empty() {
        ProbeVerdict::Unproven(unproven)
    } else {
        ProbeVerdict::Refused(refused)
    }
}

enum One {
    Refused,
    CanWrite,
    Unproven(String),
}

/// A status that says nothing about permissions, after which a request may be tried again: a 401
/// (the credential was not read), a timeout or a lock conflict (408, 409: Stripe's `lock_timeout`), a
/// rate limit, a server error. A manifest's `refused` statuses are never one of these.
pub(crate) fn temporary(status: u16) -> bool {
    matches!(status, 401 | 408 | 409 | 429 | 500..=599)
}

fn judge_one(probe: &WriteProbe, statuses: &[u16]) -> One {
    let refused = &probe.refused;
    // Any answer other than a refusal or a temporary failure got past the permission check: a success
    // is a write that went through, a missing object or a bad request one that could have.
    if statuses
        .iter()
        .any(|s| !refused.contains(s) && !temporary(*s))
    {
        return One::CanWrite;
    }
    match statuses.last() {
        None => One::Unproven(match probe.sent_by {
            ProbeSender::Component => {
                "never answered: the component did not send it, or it failed on the way".into()
            }
            ProbeSender::Host => "never answered: the host's request failed on the way".into(),
        }),
        Some(s) if refused.contains(s) => One::Refused,
        Some(s) => One::Unproven(format!("last answered HTTP {s}")),
    }
}

/// What the answers of one verification prove about its reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadVerdict {
    /// Every read rule was answered with a success: their resources, in manifest order.
    Readable(Vec<String>),
    /// The upstream refused these resources' reads (403): the credential lacks the permission.
    CannotRead(Vec<String>),
    /// These reads proved nothing: each as its endpoint and what it got.
    Unproven(Vec<String>),
}

/// Judge the `answers` one verification's read rules (`reads = "…"`) got, in the order they came.
pub fn judge_reads(manifest: &Manifest, answers: &[ProbeAnswer]) -> ReadVerdict {
    let (mut readable, mut refused, mut unproven) = (Vec::new(), Vec::new(), Vec::new());
    for (i, rule) in manifest.requests.iter().enumerate() {
        let Some(resource) = &rule.reads else {
            continue;
        };
        // One success proves the read; a 403 with none is the permission missing.
        let (mut read, mut forbidden, mut last) = (false, false, None);
        for s in answers.iter().filter(|a| a.rule == i).map(|a| a.status) {
            read |= (200..300).contains(&s);
            forbidden |= s == 403;
            last = Some(s);
        }
        if read {
            readable.push(resource.clone());
        } else if forbidden {
            refused.push(resource.clone());
        } else {
            let why = match last {
                None => "never answered: the component did not send it, or it failed on the way"
                    .to_owned(),
                Some(s) => format!("last answered HTTP {s}"),
            };
            unproven.push(format!("no successful read of {} ({why})", rule.endpoint()));
        }
    }
    if !refused.is_empty() {
        ReadVerdict::CannotRead(refused)
    } else if !unproven.is_empty() {
        ReadVerdict::Unproven(unproven)
    } else {
        ReadVerdict::Readable(readable)
    }
}

#[cfg(test)]
mod tests;
