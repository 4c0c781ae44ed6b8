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

/// The connector's tables, which its component probes.
const TABLES: [&str; 5] = [
    "customers",
    "subscriptions",
    "invoices",
    "charges",
    "payouts",
];

/// The resource of every probe of `m`, the component's and the host's, in manifest order.
fn every_resource(m: &Manifest) -> Vec<String> {
    m.requests
        .iter()
        .filter_map(|r| Some(r.probe.as_ref()?.resource.clone()))
        .collect()
}

/// Every probe of Stripe's manifest answered `every` (in order), then the customers probe `customers`.
fn answers(m: &Manifest, every: &[u16], customers: &[u16]) -> Vec<ProbeAnswer> {
    let mut all = Vec::new();
    for &status in every {
        all.extend(every_resource(m).iter().map(|r| ProbeAnswer {
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
    for r in TABLES {
        let probe = m.requests[rule(&m, r)].probe.as_ref().expect("a probe");
        assert_eq!(probe.refused, [403], "{r}");
        assert_eq!(probe.sent_by, ProbeSender::Component, "{r}");
    }
    // And the host's own, on resources the connector never reads.
    let host: Vec<String> = every_resource(&m)
        .into_iter()
        .filter(|r| !TABLES.contains(&r.as_str()))
        .collect();
    assert_eq!(host.len(), 15, "{host:?}");
    for r in &host {
        let rule = &m.requests[rule(&m, r)];
        let probe = rule.probe.as_ref().expect("a probe");
        assert_eq!(
            (probe.refused.as_slice(), probe.sent_by),
            (&[403][..], ProbeSender::Host),
            "{r}"
        );
        assert!(
            rule.path
                .literal()
                .is_some_and(|p| p.contains("_klairr_probe_")),
            "{r}"
        );
    }
}

/// A probe the host sends that was never answered says so, not that the component left it out.
#[test]
fn a_host_probe_never_answered_says_the_host_could_not_send_it() {
    let m = stripe();
    let mut answered = answers(&m, &[403], &[]);
    answered.retain(|a| a.rule != rule(&m, "refunds"));
    assert_eq!(
        judge(&m, &answered),
        ProbeVerdict::Unproven(vec![
            "no refusal of the write probe POST /v1/refunds/re_klairr_probe_host (never answered: the host's request failed on the way)".into()
        ])
    );
}

#[test]
fn the_verdict_of_each_probe_is_its_answers() {
    let m = stripe();
    let endpoints: Vec<String> = every_resource(&m)
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
            ProbeVerdict::CanWrite(every_resource(&m)),
        ),
        (
            vec![404, 403],
            vec![],
            ProbeVerdict::CanWrite(every_resource(&m)),
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
        let host = "never answered: the host's request failed on the way";
        let all: Vec<String> = endpoints
            .iter()
            .map(|e| {
                let why = if e.contains("_klairr_probe_host") {
                    host
                } else {
                    never
                };
                format!("no refusal of the write probe {e} ({why})")
            })
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
    for r in TABLES {
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
            .flat_map(|&status| TABLES.iter().map(move |r| (r, status)))
            .map(|(r, status)| ProbeAnswer {
                rule: read_rule(&m, r),
                status,
            })
            .collect()
    };
    let all = || TABLES.map(String::from).to_vec();
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
