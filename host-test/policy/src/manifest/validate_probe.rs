//! Validating a request rule's `probe` (one of setup's write probes, judged by the host:
//! `crate::probes`): what setup calls its resource, and the statuses that mean "refused"; and its
//! `reads` (a resource setup must prove readable through it).

use super::raw::RawProbe;
use super::validate::{show, Cx};
use super::{During, ManifestError, PathTemplate, ProbeSender, WriteProbe};

/// A write probe: a resource named as an identifier, the 4xx statuses (never 429, which says nothing
/// about permissions) that mean the credential may not write there, and who sends it. One the host
/// sends is sent as the rule's `path` is written, without a body: that path names one object.
pub(super) fn probe(
    cx: &Cx<'_>,
    i: usize,
    raw: RawProbe,
    path: &PathTemplate,
    body: bool,
) -> Result<WriteProbe, ManifestError> {
    let field = |name: &str| format!("requests[{i}].probe.{name}");
    resource_name(cx, field("resource"), &raw.resource)?;
    let sent_by = match raw.sent_by.as_deref() {
        None | Some("component") => ProbeSender::Component,
        Some("host") => ProbeSender::Host,
        Some(other) => {
            return Err(cx.err(
                field("sent_by"),
                format!(
                    "{} is not who sends a probe: write \"component\" (the default: the connector sends it while \
                     it verifies a credential) or \"host\" (the host sends it itself, as the rule's path is written)",
                    show(other)
                ),
            ))
        }
    };
    if sent_by == ProbeSender::Host {
        if path.literal().is_none() {
            return Err(cx.err(
                format!("requests[{i}].path"),
                format!(
                    "the host sends this probe as its path is written, so the path names one object: write \
                     an id no real object can have in place of the parameter (e.g. /v1/refunds/re_klairr_probe_host), \
                     not {}",
                    show(path.as_str())
                ),
            ));
        }
        if body {
            return Err(cx.err(
                format!("requests[{i}].body"),
                "the host sends its probes without a body: remove body = true",
            ));
        }
    }
    if raw.refused.is_empty() {
        return Err(cx.err(
            field("refused"),
            "no status is a refusal: list the statuses the upstream refuses a write with (e.g. [403])",
        ));
    }
    let mut refused = Vec::with_capacity(raw.refused.len());
    for (j, status) in raw.refused.into_iter().enumerate() {
        match u16::try_from(status) {
            Ok(s) if (400..500).contains(&s) && !crate::probes::temporary(s) => refused.push(s),
            _ => {
                return Err(cx.err(
                    format!("requests[{i}].probe.refused[{j}]"),
                    format!(
                        "{status} is not a refusal: a refused write is a 4xx status other than 401, 408, 409 \
                         and 429 (a temporary failure says nothing about permissions), e.g. 403"
                    ),
                ))
            }
        }
    }
    Ok(WriteProbe {
        resource: raw.resource,
        refused,
        sent_by,
    })
}

/// A rule's `reads`: the resource setup must prove readable through it, named as setup names it. Only a
/// `GET` reads.
pub(super) fn reads(
    cx: &Cx<'_>,
    i: usize,
    method: &str,
    during: During,
    resource: String,
) -> Result<String, ManifestError> {
    let field = format!("requests[{i}].reads");
    resource_name(cx, field.clone(), &resource)?;
    if method != "GET" {
        return Err(cx.err(
            field,
            format!("a {method} does not read: put reads on the GET rule that lists the resource"),
        ));
    }
    // Setup proves what queries will read: a read allowed only during setup proves nothing of them.
    if during == During::Verify {
        return Err(cx.err(
            field,
            "this rule applies only while setup runs, so no query reads through it: put reads on the rule \
             queries use (during = \"always\")",
        ));
    }
    Ok(resource)
}

/// A resource as setup names it: lower case letters, digits and _, starting with a letter.
fn resource_name(cx: &Cx<'_>, field: String, r: &str) -> Result<(), ManifestError> {
    let identifier = !r.is_empty()
        && r.len() <= 64
        && r.starts_with(|c: char| c.is_ascii_lowercase())
        && r.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if identifier {
        return Ok(());
    }
    Err(cx.err(
        field,
        format!(
            "{} is not a resource name: write what setup calls it, lower case letters, digits and _ (e.g. \"customers\")",
            show(r)
        ),
    ))
}
