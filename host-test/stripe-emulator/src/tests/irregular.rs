//! Irregular creation times: what the data set holds, and that paging whole-second `created`
//! windows newest first gives exactly what one plain cursor gives.

use std::collections::BTreeMap;

use super::{ids, req, shared, walk, Store};
use crate::data::NOW;
use crate::shared::Shared;
use crate::{keys, EmulatorConfig, Resource, Timeline};

const DAY: i64 = 86_400;

fn irregular(n: usize, seed: u64) -> EmulatorConfig {
    EmulatorConfig {
        seed,
        customers: n,
        subscriptions: n,
        invoices: n,
        charges: n,
        payouts: n,
        timeline: Timeline::Irregular,
        ..EmulatorConfig::default()
    }
}

/// Objects per second, for one table.
fn per_second(s: &Store, r: Resource) -> BTreeMap<i64, usize> {
    let mut per: BTreeMap<i64, usize> = BTreeMap::new();
    for o in &s.table(r).objs {
        *per.entry(o.created).or_default() += 1;
    }
    per
}

/// The second holding the most objects, and how many.
fn most_crowded(s: &Store, r: Resource) -> (i64, usize) {
    per_second(s, r)
        .into_iter()
        .max_by_key(|&(t, n)| (n, t))
        .unwrap_or((0, 0))
}

/// Is there a burst: at least `least` objects within `span` seconds, spread so that no one second
/// holds more than 70% of them (a crowded second alone is not a burst)?
fn has_burst(per: &BTreeMap<i64, usize>, span: i64, least: usize) -> bool {
    per.keys().any(|&t0| {
        let (sum, max) = per
            .range(t0..t0 + span)
            .fold((0, 0), |(sum, max), (_, &n)| (sum + n, max.max(n)));
        sum >= least && max * 10 <= sum * 7
    })
}

#[test]
fn irregular_tables_have_crowded_seconds_bursts_and_quiet_weeks() {
    let s = Store::generate(&irregular(3000, 42));
    let regular = Store::generate(&EmulatorConfig {
        timeline: Timeline::Regular,
        ..irregular(3000, 42)
    });
    for r in Resource::ALL {
        let objs = &s.table(r).objs;
        assert_eq!(objs.len(), 3000, "{}", r.name());
        // More than a page of 100 in one second, but not a thousand (the sizes are bounded so a
        // crowded second takes a few sequential pages, not dozens).
        let (second, crowded) = most_crowded(&s, r);
        assert!(
            (101..=400).contains(&crowded),
            "{}: {crowded} objects at {second}",
            r.name()
        );
        // Several crowded seconds, not one.
        let per = per_second(&s, r);
        assert!(
            per.values().filter(|&&n| n >= 30).count() >= 3,
            "{}",
            r.name()
        );
        // A burst: over a hundred objects within 8 seconds.
        assert!(has_burst(&per, 8, 100), "{}: no burst", r.name());
        // Quiet weeks: among objects older than 30 days, gaps of six days and more.
        let old: Vec<i64> = objs
            .iter()
            .map(|o| o.created)
            .filter(|&c| c < NOW - 30 * DAY)
            .collect();
        let quiet = old.windows(2).filter(|w| w[0] - w[1] >= 6 * DAY).count();
        assert!(quiet >= 5, "{}: {quiet} quiet stretches", r.name());
        // About two years.
        let oldest = objs.last().map_or(NOW, |o| o.created);
        assert!(oldest < NOW - 600 * DAY, "{}", r.name());
        assert!(objs.iter().all(|o| o.created < NOW), "{}", r.name());
        // The regular timeline of the same size has none of it.
        let (_, regular_crowded) = most_crowded(&regular, r);
        assert!(regular_crowded <= 5, "{}: {regular_crowded}", r.name());
        assert!(!has_burst(&per_second(&regular, r), 8, 100), "{}", r.name());
    }
    // Deterministic per seed and counts.
    let again = Store::generate(&irregular(3000, 42));
    let other = Store::generate(&irregular(3000, 43));
    for r in Resource::ALL {
        let json =
            |s: &Store| -> Vec<String> { s.table(r).objs.iter().map(|o| o.json.clone()).collect() };
        assert_eq!(json(&s), json(&again), "{}", r.name());
        assert_ne!(json(&s), json(&other), "{}", r.name());
    }
}

#[test]
fn irregular_objects_still_follow_their_customers() {
    let s = Store::generate(&irregular(2000, 9));
    let customers = s.table(Resource::Customers);
    for r in [Resource::Subscriptions, Resource::Charges] {
        let mut checked = 0;
        for o in &s.table(r).objs {
            let Some(c) = o.f.customer.as_deref() else {
                continue;
            };
            if let Some(&i) = customers.index.get(c) {
                assert!(
                    o.created > customers.objs[i].created,
                    "{} {} before its customer",
                    r.name(),
                    o.id
                );
                checked += 1;
            }
        }
        assert!(checked > 1000, "{}: {checked}", r.name());
    }
}

/// Only what paging needs from a list page (serde skips the rest without building it).
#[derive(serde::Deserialize)]
struct Page {
    data: Vec<Id>,
    has_more: bool,
}

#[derive(serde::Deserialize)]
struct Id {
    id: String,
}

/// The ids of a whole list, following `starting_after` 100 at a time.
fn walk_ids(s: &Shared, r: Resource, extra: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    loop {
        let mut q = format!("/v1/{}?limit=100", r.name());
        for part in [
            extra.to_string(),
            out.last()
                .map(|id| format!("starting_after={id}"))
                .unwrap_or_default(),
        ] {
            if !part.is_empty() {
                q.push('&');
                q.push_str(&part);
            }
        }
        let (resp, _) = s.respond(&req("GET", Some(keys::TEST_READ_ONLY), &q));
        assert_eq!(resp.status, 200, "{q}");
        let page: Page = serde_json::from_slice(&resp.body).expect("a list page");
        assert!(
            page.data.len() == 100 || !page.has_more,
            "{q}: a page with has_more is full"
        );
        out.extend(page.data.into_iter().map(|o| o.id));
        if !page.has_more {
            return out;
        }
    }
}

/// The ids of `r` (with `extra` filters) paged in whole-second windows split at `edges`, newest
/// window first: `[edges[0], ∞)`, `[edges[1], edges[0])`, ..., `(-∞, edges[last])`. The bounds
/// are written in every form Stripe takes (`gte`/`gt`, `lt`/`lte`).
fn windowed(s: &Shared, r: Resource, extra: &str, edges: &[i64]) -> Vec<String> {
    let mut edges = edges.to_vec();
    edges.sort_unstable_by(|a, b| b.cmp(a));
    edges.dedup();
    let mut out = Vec::new();
    for i in 0..=edges.len() {
        let upper = i.checked_sub(1).map(|j| edges[j]);
        let lower = edges.get(i).copied();
        let mut q: Vec<String> = Vec::new();
        if let Some(lo) = lower {
            q.push(if i % 2 == 0 {
                format!("created[gte]={lo}")
            } else {
                format!("created[gt]={}", lo - 1)
            });
        }
        if let Some(hi) = upper {
            q.push(if i % 3 == 0 {
                format!("created[lt]={hi}")
            } else {
                format!("created[lte]={}", hi - 1)
            });
        }
        if !extra.is_empty() {
            q.push(extra.to_string());
        }
        out.extend(walk_ids(s, r, &q.join("&")));
    }
    out
}

#[test]
fn created_windows_concatenate_to_the_plain_cursor() {
    // A 300-object second among the customers; the other tables (bigger objects, slower to
    // page in a debug build) still have seconds of more than a page.
    let s = shared(&EmulatorConfig {
        customers: 2700,
        ..irregular(1300, 42)
    });
    for r in Resource::ALL {
        let extra = if r == Resource::Subscriptions {
            "status=all"
        } else {
            ""
        };
        let plain = walk_ids(&s, r, extra);
        assert_eq!(
            plain.len(),
            s.router.store.table(r).objs.len(),
            "{}",
            r.name()
        );
        if r == Resource::Customers {
            assert_eq!(plain, ids(&walk(&s, keys::TEST_READ_ONLY, r, extra, 100)));
            assert!(most_crowded(&s.router.store, r).1 >= 250);
        }
        let store = &s.router.store;
        let (t, crowded) = most_crowded(store, r);
        assert!(crowded > 100, "{}: {crowded}", r.name());
        let times: Vec<i64> = store.table(r).objs.iter().map(|o| o.created).collect();
        let median = times[times.len() / 2];
        let plans: [&[i64]; 5] = [
            // The crowded second is a window of its own.
            &[t + 1, t],
            // It is the oldest second of a window, then the newest.
            &[t + 7, t, t - 3],
            &[t + 1, t - 100_000, median],
            // Edges everywhere, at seconds with objects and without.
            &[
                times[10],
                times[300],
                times[301],
                t + 1,
                t,
                median,
                median + 1,
                times[times.len() - 100],
            ],
            // One open window each way.
            &[median],
        ];
        for edges in plans {
            assert_eq!(
                windowed(&s, r, extra, edges),
                plain,
                "{} split at {edges:?}",
                r.name()
            );
        }
    }
    // Other filters combine with the windows the same way.
    let (t, _) = most_crowded(&s.router.store, Resource::Invoices);
    for (r, extra) in [
        (Resource::Invoices, "status=paid"),
        (Resource::Subscriptions, "collection_method=send_invoice"),
        (Resource::Subscriptions, "status=active"),
        (Resource::Payouts, "status=paid"),
    ] {
        let plain = walk_ids(&s, r, extra);
        assert!(plain.len() > 100, "{} {extra}", r.name());
        assert_eq!(
            windowed(&s, r, extra, &[t + 1, t, t - 5 * DAY]),
            plain,
            "{} {extra}",
            r.name()
        );
    }
}

#[test]
fn a_crowded_second_pages_in_id_order_with_either_cursor() {
    let s = shared(&irregular(2600, 5));
    let (t, crowded) = most_crowded(&s.router.store, Resource::Customers);
    let want: Vec<String> = s
        .router
        .store
        .table(Resource::Customers)
        .objs
        .iter()
        .filter(|o| o.created == t)
        .map(|o| o.id.clone())
        .collect();
    assert_eq!(want.len(), crowded);
    let mut sorted = want.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(want, sorted, "ties are ordered by id, descending");
    for (extra, limit) in [
        (format!("created={t}"), 100),
        (format!("created[gte]={t}&created[lte]={t}"), 7),
        (format!("created[gt]={}&created[lt]={}", t - 1, t + 1), 100),
    ] {
        let got = ids(&walk(
            &s,
            keys::TEST_READ_ONLY,
            Resource::Customers,
            &extra,
            limit,
        ));
        assert_eq!(got, want, "{extra}");
    }
    // Backwards with `ending_before`, inside the second and across its newer edge.
    assert!(want.len() > 150);
    let newer: Vec<String> = s
        .router
        .store
        .table(Resource::Customers)
        .objs
        .iter()
        .filter(|o| o.created >= t)
        .map(|o| o.id.clone())
        .collect();
    let at = newer.len() - want.len() + 5;
    for (extra, before, page, more) in [
        (format!("created={t}"), &want[150], &want[50..150], true),
        (
            format!("created[gte]={t}&created[lte]={t}"),
            &want[5],
            &want[..5],
            false,
        ),
        (
            format!("created[gte]={t}"),
            &want[5],
            &newer[at - 100..at],
            true,
        ),
    ] {
        let target = format!("/v1/customers?limit=100&{extra}&ending_before={before}");
        let (status, v) = super::get(&s, &target);
        assert_eq!(status, 200, "{target}");
        assert_eq!(ids(v["data"].as_array().expect("data")), page, "{target}");
        assert_eq!(v["has_more"], more, "{target}");
    }
}
