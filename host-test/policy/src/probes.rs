//! Setup's write probes, judged by the host: whatever a component reports, setup passes only if every
//! probe rule of the manifest (a rule with `probe = { resource, refused }`) was tried during the
//! verification and the upstream refused it.
//!
//! The host sees every answer a probe gets (the status of each request sent under a probe rule), so it
//! needs no word of the component's. Any answer other than a refusal or a temporary failure (401, 408,
//! 409, 429, 5xx: [`temporary`]) means the credential may write there ([`ProbeVerdict::CanWrite`]): a success is a write that went
//! through, and Stripe's 404 `resource_missing` says the credential passed the permission check and only
//! the object was missing. A probe never answered, or whose last answer is a temporary failure, proves
//! nothing ([`ProbeVerdict::Unproven`]). A component that reports success over either is overruled.
//!
//! Reads alike ([`judge_reads`]): a rule with `reads = "customers"` must have been answered with a
//! success during the verification. A 403 is the credential refused that read ([`ReadVerdict::CannotRead`]);
//! never answered, or only with a temporary failure or another status, proves nothing.

use crate::manifest::Manifest;

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
        match judge_one(&probe.refused, &statuses) {
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

fn judge_one(refused: &[u16], statuses: &[u16]) -> One {
    // Any answer other than a refusal or a temporary failure got past the permission check: a success
    // is a write that went through, a missing object or a bad request one that could have.
    if statuses
        .iter()
        .any(|s| !refused.contains(s) && !temporary(*s))
    {
        return One::CanWrite;
    }
    match statuses.last() {
        None => One::Unproven(
            "never answered: the component did not send it, or it failed on the way".into(),
        ),
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
mod tests {
    use super::*;

    fn stripe() -> Manifest {
        Manifest::stripe()
    }

    /// The index of the probe rule of `resource` in Stripe's manifest.
    fn rule(m: &Manifest, resource: &str) -> usize {
        m.requests
            .iter()
            .position(|r| r.probe.as_ref().is_some_and(|p| p.resource == resource))
            .expect("a probe rule")
    }

    const RESOURCES: [&str; 5] = [
        "customers",
        "subscriptions",
        "invoices",
        "charges",
        "payouts",
    ];

    /// Every probe of Stripe's manifest answered `every` (in order), then the customers probe `customers`.
    fn answers(m: &Manifest, every: &[u16], customers: &[u16]) -> Vec<ProbeAnswer> {
        let mut all = Vec::new();
        for &status in every {
            all.extend(RESOURCES.iter().map(|r| ProbeAnswer {
                rule: rule(m, r),
                status,
            }));
        }
        all.extend(customers.iter().map(|&status| ProbeAnswer {
            rule: rule(m, "customers"),
            status,
        }));
        all
    }

    #[test]
    fn stripes_manifest_has_one_probe_per_table_refused_with_403() {
        let m = stripe();
        for r in RESOURCES {
            let probe = m.requests[rule(&m, r)].probe.as_ref().expect("a probe");
            assert_eq!(probe.refused, [403], "{r}");
        }
    }

    #[test]
    fn the_verdict_of_each_probe_is_its_answers() {
        let m = stripe();
        let endpoints: Vec<String> = RESOURCES
            .iter()
            .map(|r| m.requests[rule(&m, r)].endpoint())
            .collect();
        let customers_unproven = |why: &str| {
            ProbeVerdict::Unproven(vec![format!(
                "no refusal of the write probe DELETE /v1/customers/{{id}} ({why})"
            )])
        };
        let never = "never answered: the component did not send it, or it failed on the way";
        // (every probe's answers, then more answers of the customers probe) → verdict
        let table: Vec<(Vec<u16>, Vec<u16>, ProbeVerdict)> = vec![
            (vec![403], vec![], ProbeVerdict::Refused(endpoints.clone())),
            // A rate limit or an outage, then the refusal: refused.
            (
                vec![429, 403],
                vec![],
                ProbeVerdict::Refused(endpoints.clone()),
            ),
            (
                vec![503, 403],
                vec![],
                ProbeVerdict::Refused(endpoints.clone()),
            ),
            // Refused, then a success: the write went through.
            (
                vec![403],
                vec![200],
                ProbeVerdict::CanWrite(vec!["customers".into()]),
            ),
            (
                vec![403],
                vec![204],
                ProbeVerdict::CanWrite(vec!["customers".into()]),
            ),
            // Stripe's answer to a credential that may write: the object is missing.
            (
                vec![403],
                vec![404],
                ProbeVerdict::CanWrite(vec!["customers".into()]),
            ),
            (
                vec![403],
                vec![400],
                ProbeVerdict::CanWrite(vec!["customers".into()]),
            ),
            (
                vec![200],
                vec![],
                ProbeVerdict::CanWrite(RESOURCES.map(String::from).to_vec()),
            ),
            (
                vec![404, 403],
                vec![],
                ProbeVerdict::CanWrite(RESOURCES.map(String::from).to_vec()),
            ),
            // A lock conflict or a timeout, then the refusal: refused.
            (
                vec![409, 403],
                vec![],
                ProbeVerdict::Refused(endpoints.clone()),
            ),
            (
                vec![408, 403],
                vec![],
                ProbeVerdict::Refused(endpoints.clone()),
            ),
            // Not a status that says "refused" (a redirect, one no server sends): the write may have
            // gone through.
            (
                vec![403],
                vec![600],
                ProbeVerdict::CanWrite(vec!["customers".into()]),
            ),
            (
                vec![403],
                vec![302],
                ProbeVerdict::CanWrite(vec!["customers".into()]),
            ),
            // Only temporary failures at the end: nothing proven.
            (
                vec![403],
                vec![429],
                customers_unproven("last answered HTTP 429"),
            ),
            (
                vec![403],
                vec![500],
                customers_unproven("last answered HTTP 500"),
            ),
            (
                vec![403],
                vec![401],
                customers_unproven("last answered HTTP 401"),
            ),
        ];
        for (every, customers, want) in table {
            assert_eq!(
                judge(&m, &answers(&m, &every, &customers)),
                want,
                "{every:?} then {customers:?}"
            );
        }
        // A probe never sent proves nothing; a write elsewhere outweighs it.
        let mut missing = answers(&m, &[403], &[]);
        missing.retain(|a| a.rule != rule(&m, "customers"));
        assert_eq!(judge(&m, &missing), customers_unproven(never));
        missing.push(ProbeAnswer {
            rule: rule(&m, "payouts"),
            status: 200,
        });
        assert_eq!(
            judge(&m, &missing),
            ProbeVerdict::CanWrite(vec!["payouts".into()])
        );
        assert_eq!(judge(&m, &[]), {
            let all: Vec<String> = endpoints
                .iter()
                .map(|e| format!("no refusal of the write probe {e} ({never})"))
                .collect();
            ProbeVerdict::Unproven(all)
        });
    }

    #[test]
    fn a_manifest_without_probes_has_nothing_to_prove() {
        let mut m = stripe();
        for r in &mut m.requests {
            r.probe = None;
        }
        assert_eq!(judge(&m, &[]), ProbeVerdict::Refused(vec![]));
    }

    /// The index of the read rule of `resource` in Stripe's manifest.
    fn read_rule(m: &Manifest, resource: &str) -> usize {
        m.requests
            .iter()
            .position(|r| r.reads.as_deref() == Some(resource))
            .expect("a read rule")
    }

    #[test]
    fn stripes_manifest_reads_each_table_through_its_list() {
        let m = stripe();
        for r in RESOURCES {
            let rule = &m.requests[read_rule(&m, r)];
            assert_eq!(rule.endpoint(), format!("GET /v1/{r}"));
        }
    }

    #[test]
    fn the_verdict_of_each_read_is_its_answers() {
        let m = stripe();
        let every = |statuses: &[u16]| -> Vec<ProbeAnswer> {
            statuses
                .iter()
                .flat_map(|&status| RESOURCES.iter().map(move |r| (r, status)))
                .map(|(r, status)| ProbeAnswer {
                    rule: read_rule(&m, r),
                    status,
                })
                .collect()
        };
        let all = || RESOURCES.map(String::from).to_vec();
        let invoices = |status: u16| ProbeAnswer {
            rule: read_rule(&m, "invoices"),
            status,
        };
        // (answers) → verdict
        let table: Vec<(Vec<ProbeAnswer>, ReadVerdict)> = vec![
            (every(&[200]), ReadVerdict::Readable(all())),
            // A rate limit or an outage, then the read: readable.
            (every(&[429, 200]), ReadVerdict::Readable(all())),
            (every(&[503, 200]), ReadVerdict::Readable(all())),
            // A success proves the read, whatever came after it.
            (
                [every(&[200]), vec![invoices(403)]].concat(),
                ReadVerdict::Readable(all()),
            ),
            // The permission missing on one resource: that one is named.
            (
                every(&[200])
                    .into_iter()
                    .filter(|a| a.rule != read_rule(&m, "invoices"))
                    .chain([invoices(403)])
                    .collect(),
                ReadVerdict::CannotRead(vec!["invoices".into()]),
            ),
            (every(&[403]), ReadVerdict::CannotRead(all())),
            (every(&[429, 403]), ReadVerdict::CannotRead(all())),
            // Only temporary failures, or a status that proves nothing: unproven.
            (
                every(&[200])
                    .into_iter()
                    .filter(|a| a.rule != read_rule(&m, "invoices"))
                    .chain([invoices(429)])
                    .collect(),
                ReadVerdict::Unproven(vec![
                    "no successful read of GET /v1/invoices (last answered HTTP 429)".into(),
                ]),
            ),
            (
                every(&[200])
                    .into_iter()
                    .filter(|a| a.rule != read_rule(&m, "invoices"))
                    .chain([invoices(404)])
                    .collect(),
                ReadVerdict::Unproven(vec![
                    "no successful read of GET /v1/invoices (last answered HTTP 404)".into(),
                ]),
            ),
            (
                every(&[200])
                    .into_iter()
                    .filter(|a| a.rule != read_rule(&m, "invoices"))
                    .collect(),
                ReadVerdict::Unproven(vec![
                    "no successful read of GET /v1/invoices (never answered: the component did not send it, or it failed on the way)".into(),
                ]),
            ),
        ];
        for (answers, want) in table {
            assert_eq!(judge_reads(&m, &answers), want, "{answers:?}");
        }
        // Answers to a write probe say nothing about reads.
        let probe = ProbeAnswer {
            rule: rule(&m, "customers"),
            status: 200,
        };
        assert!(matches!(judge_reads(&m, &[probe]), ReadVerdict::Unproven(u) if u.len() == 5));
    }

    #[test]
    fn a_manifest_without_reads_has_nothing_to_prove() {
        let mut m = stripe();
        for r in &mut m.requests {
            r.reads = None;
        }
        assert_eq!(judge_reads(&m, &[]), ReadVerdict::Readable(vec![]));
    }
}
