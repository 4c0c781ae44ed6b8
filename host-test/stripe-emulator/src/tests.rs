//! Tests of the data set and the router without sockets, and a few through a real loopback socket.

use std::collections::{BTreeSet, HashSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::router::{Req, Resp};
use crate::shared::Shared;
use crate::{build_shared, keys, Emulator, EmulatorConfig, Fault, Resource};

mod irregular;
mod limits;

const ALL_KEYS: &[&str] = &[
    keys::TEST_READ_ONLY,
    keys::LIVE_READ_ONLY,
    keys::TEST_WRITE_CUSTOMERS,
    keys::TEST_WRITE_INVOICES,
    keys::TEST_NO_INVOICES_PAYOUTS,
    keys::TEST_WRITE_CUSTOMERS_NO_PAYOUTS,
    keys::TEST_WRITE_REFUNDS_WEBHOOKS,
    keys::TEST_SECRET,
    keys::LIVE_SECRET,
];

fn shared(cfg: &EmulatorConfig) -> Shared {
    build_shared(cfg, 7)
}

fn default_shared() -> Shared {
    shared(&EmulatorConfig::default())
}

fn req(method: &str, key: Option<&str>, target: &str) -> Req {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    Req {
        method: method.into(),
        path: path.into(),
        query: query.into(),
        host: Some("api.stripe.com".into()),
        content_length: None,
        stripe_version: Some("2026-04-22.dahlia".into()),
        authorization: key.map(|k| format!("Bearer {k}")),
    }
}

fn call(s: &Shared, method: &str, key: Option<&str>, target: &str) -> (Resp, Value) {
    let (resp, _) = s.respond(&req(method, key, target));
    let v = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
    (resp, v)
}

fn get(s: &Shared, target: &str) -> (u16, Value) {
    let (r, v) = call(s, "GET", Some(keys::TEST_READ_ONLY), target);
    (r.status, v)
}

fn err_of(v: &Value) -> (&str, Option<&str>, Option<&str>, &str) {
    let e = &v["error"];
    (
        e["type"].as_str().unwrap_or(""),
        e["code"].as_str(),
        e["param"].as_str(),
        e["message"].as_str().unwrap_or(""),
    )
}

/// Every object of a list, following `starting_after`; checks has_more on the way.
fn walk(s: &Shared, key: &str, r: Resource, extra: &str, limit: usize) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..100_000 {
        let mut q = format!("/v1/{}?limit={limit}", r.name());
        if !extra.is_empty() {
            q.push('&');
            q.push_str(extra);
        }
        if let Some(a) = &after {
            q.push_str(&format!("&starting_after={a}"));
        }
        let (resp, v) = call(s, "GET", Some(key), &q);
        assert_eq!(resp.status, 200, "{q}: {v}");
        assert_eq!(v["object"], "list");
        assert_eq!(v["url"], format!("/v1/{}", r.name()));
        let data = v["data"].as_array().expect("data").clone();
        assert!(data.len() <= limit);
        let more = v["has_more"].as_bool().expect("has_more");
        if more {
            assert_eq!(data.len(), limit, "a page with has_more is full");
        }
        after = data
            .last()
            .map(|o| o["id"].as_str().unwrap_or("").to_string());
        out.extend(data);
        if !more {
            return out;
        }
    }
    panic!("walk did not end");
}

fn all_objects(s: &Shared, r: Resource) -> Vec<Value> {
    let t = s.router.store.table(r);
    t.objs
        .iter()
        .map(|o| serde_json::from_str(&o.json).expect("stored json parses"))
        .collect()
}

fn ids(v: &[Value]) -> Vec<String> {
    v.iter()
        .map(|o| o["id"].as_str().unwrap_or("").to_string())
        .collect()
}

/// The filter served by the emulator equals the predicate applied to every object.
fn check_filter(
    s: &Shared,
    r: Resource,
    query: &str,
    base: &str,
    pred: impl Fn(&Value) -> bool,
) -> usize {
    let extra = if base.is_empty() {
        query.to_string()
    } else {
        format!("{query}&{base}")
    };
    let got = ids(&walk(s, keys::TEST_READ_ONLY, r, &extra, 100));
    let want: Vec<String> = ids(&all_objects(s, r)
        .into_iter()
        .filter(|o| pred(o))
        .collect::<Vec<_>>());
    assert_eq!(got, want, "{} ?{extra}", r.name());
    got.len()
}

// ---------------------------------------------------------------- data

#[test]
fn same_seed_same_bytes_other_seed_other_data() {
    let a = Store::generate(&EmulatorConfig::default());
    let b = Store::generate(&EmulatorConfig::default());
    let c = Store::generate(&EmulatorConfig {
        seed: 43,
        ..EmulatorConfig::default()
    });
    for r in Resource::ALL {
        let ja: Vec<&str> = a.table(r).objs.iter().map(|o| o.json.as_str()).collect();
        let jb: Vec<&str> = b.table(r).objs.iter().map(|o| o.json.as_str()).collect();
        let jc: Vec<&str> = c.table(r).objs.iter().map(|o| o.json.as_str()).collect();
        assert_eq!(ja, jb, "{}", r.name());
        assert_ne!(ja, jc, "{}", r.name());
    }
}

use crate::data::Store;

/// A stable digest (FNV-1a) of every stored object of `s`, per table.
fn fingerprint(s: &Store) -> Vec<String> {
    Resource::ALL
        .iter()
        .map(|&r| {
            let t = s.table(r);
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            for o in &t.objs {
                let line = format!(
                    "{}|{}|{}|{:?}|{:?}|{:?}|{}\n",
                    o.id, o.created, o.json, o.live_at, o.customer_span, o.f, t.index[&o.id]
                );
                for b in line.bytes() {
                    h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
                }
            }
            format!("{} {} {h:016x}", r.name(), t.objs.len())
        })
        .collect()
}

#[test]
fn regular_data_sets_stay_byte_identical() {
    // End-to-end tests and demos rely on these exact objects: a change to a generator that
    // moves a single byte of a regular data set shows here (update the digests only on purpose).
    let big = EmulatorConfig {
        seed: 7,
        customers: 3000,
        subscriptions: 2500,
        invoices: 4000,
        charges: 3500,
        payouts: 900,
        ..EmulatorConfig::default()
    };
    assert_eq!(
        fingerprint(&Store::generate(&EmulatorConfig::default())),
        [
            "customers 40 77533904b1aa7b73",
            "subscriptions 60 1f294de50952fe89",
            "invoices 120 2dd876eff1c51c2e",
            "charges 150 3d6653424cc7364e",
            "payouts 30 be00ac1fafa5a375",
        ]
    );
    assert_eq!(
        fingerprint(&Store::generate(&big)),
        [
            "customers 3000 0a1d42951ac82acf",
            "subscriptions 2500 c2f9afe0247e00e9",
            "invoices 4000 b1a30a90fbbfc32c",
            "charges 3500 71cb98193eae96f4",
            "payouts 900 c7f51a201893ff91",
        ]
    );
}

#[test]
fn counts_follow_the_config_and_ids_are_unique() {
    let cfg = EmulatorConfig {
        customers: 13,
        subscriptions: 17,
        invoices: 19,
        charges: 23,
        payouts: 29,
        ..EmulatorConfig::default()
    };
    let s = Store::generate(&cfg);
    let want = [13, 17, 19, 23, 29];
    let mut seen = HashSet::new();
    for (r, n) in Resource::ALL.into_iter().zip(want) {
        assert_eq!(s.table(r).objs.len(), n);
        for o in &s.table(r).objs {
            assert!(seen.insert(o.id.clone()), "duplicate id {}", o.id);
        }
    }
    let empty = Store::generate(&EmulatorConfig {
        customers: 0,
        subscriptions: 0,
        invoices: 0,
        charges: 0,
        payouts: 0,
        ..EmulatorConfig::default()
    });
    assert!(Resource::ALL
        .iter()
        .all(|r| empty.table(*r).objs.is_empty()));
    // Objects that reference customers still work without any customer.
    let orphans = Store::generate(&EmulatorConfig {
        customers: 0,
        ..EmulatorConfig::default()
    });
    assert_eq!(orphans.table(Resource::Subscriptions).objs.len(), 60);
}

#[test]
fn generates_and_serves_ten_thousand_per_table() {
    let cfg = EmulatorConfig {
        customers: 10_000,
        subscriptions: 10_000,
        invoices: 10_000,
        charges: 10_000,
        payouts: 10_000,
        ..EmulatorConfig::default()
    };
    // Speed is measured by `examples/throughput.rs`, not asserted here: this checks the large set is whole.
    let s = Store::generate(&cfg);
    assert_eq!(s.table(Resource::Charges).objs.len(), 10_000);
    // A page of 100 is a splice of pre-serialised strings.
    let sh = Shared::new(
        crate::router::Router {
            store: s,
            keys: keys::all()
                .into_iter()
                .map(|g| (g.key.clone(), g))
                .collect(),
        },
        1,
        crate::RequestLog::Keep,
    );
    for _ in 0..50 {
        let (r, _) = sh.respond(&req(
            "GET",
            Some(keys::LIVE_READ_ONLY),
            "/v1/invoices?limit=100&starting_after=in_x",
        ));
        assert_eq!(r.status, 400);
        let (r, _) = sh.respond(&req(
            "GET",
            Some(keys::LIVE_READ_ONLY),
            "/v1/charges?limit=100",
        ));
        assert_eq!(r.status, 200);
    }
}

#[test]
fn shapes_follow_the_pinned_version() {
    let s = default_shared();
    let customers: HashSet<String> = ids(&all_objects(&s, Resource::Customers))
        .into_iter()
        .collect();
    let subs = all_objects(&s, Resource::Subscriptions);
    let sub_ids: HashSet<String> = ids(&subs).into_iter().collect();
    for c in all_objects(&s, Resource::Customers) {
        assert_eq!(c["object"], "customer");
        assert!(c["id"].as_str().unwrap_or("").starts_with("cus_"));
        assert!(c["address"].is_null() || c["address"]["country"].is_string());
        assert!(["none", "exempt", "reverse"].contains(&c["tax_exempt"].as_str().unwrap_or("")));
        for k in [
            "created",
            "email",
            "name",
            "description",
            "currency",
            "balance",
            "delinquent",
            "livemode",
            "metadata",
        ] {
            assert!(c.get(k).is_some(), "customer.{k}");
        }
    }
    let mut multi_period = false;
    let mut null_amount = false;
    for sub in &subs {
        assert_eq!(sub["object"], "subscription");
        assert!(
            sub.get("current_period_start").is_none(),
            "removed in basil"
        );
        assert!(sub.get("current_period_end").is_none(), "removed in basil");
        assert!(customers.contains(sub["customer"].as_str().unwrap_or("")));
        let items = sub["items"]["data"].as_array().expect("items");
        assert!(!items.is_empty());
        let ends: BTreeSet<i64> = items
            .iter()
            .map(|i| i["current_period_end"].as_i64().unwrap_or(0))
            .collect();
        multi_period |= ends.len() > 1;
        for i in items {
            assert!(i["id"].as_str().unwrap_or("").starts_with("si_"));
            assert!(i["current_period_start"].as_i64() < i["current_period_end"].as_i64());
            assert!(i["price"]["recurring"]["interval"].is_string());
            null_amount |= i["price"]["unit_amount"].is_null();
        }
        for k in [
            "status",
            "collection_method",
            "currency",
            "created",
            "start_date",
            "trial_end",
            "cancel_at_period_end",
            "cancel_at",
            "canceled_at",
            "ended_at",
        ] {
            assert!(sub.get(k).is_some(), "subscription.{k}");
        }
        match sub["status"].as_str() {
            Some("canceled") => assert!(sub["canceled_at"].is_i64() && sub["ended_at"].is_i64()),
            Some("incomplete_expired") => assert!(sub["ended_at"].is_i64()),
            Some("trialing") => assert!(sub["trial_end"].as_i64() > Some(crate::data::NOW)),
            _ => assert!(sub["ended_at"].is_null()),
        }
    }
    assert!(
        multi_period,
        "some multi-item subscriptions have items with different periods"
    );
    assert!(null_amount, "some prices have no unit_amount");
    let mut one_off = false;
    for inv in all_objects(&s, Resource::Invoices) {
        assert_eq!(inv["object"], "invoice");
        assert!(
            inv.get("subscription").is_none(),
            "moved to parent in basil"
        );
        assert!(customers.contains(inv["customer"].as_str().unwrap_or("")));
        if inv["parent"].is_null() {
            one_off = true;
        } else {
            assert_eq!(inv["parent"]["type"], "subscription_details");
            assert!(sub_ids.contains(
                inv["parent"]["subscription_details"]["subscription"]
                    .as_str()
                    .unwrap_or("")
            ));
        }
        let (due, paid, rem) = (
            inv["amount_due"].as_i64(),
            inv["amount_paid"].as_i64(),
            inv["amount_remaining"].as_i64(),
        );
        assert_eq!(due.zip(paid).map(|(d, p)| d - p), rem);
        assert_eq!(
            inv["status"] == "paid",
            inv["status_transitions"]["paid_at"].is_i64()
        );
        assert_eq!(inv["status"] == "draft", inv["number"].is_null());
    }
    assert!(one_off);
    for ch in all_objects(&s, Resource::Charges) {
        assert!(ch.get("invoice").is_none(), "removed in basil");
        assert!(ch["outcome"]["type"].is_string());
        assert_eq!(ch["status"] == "failed", ch["failure_code"].is_string());
        assert_eq!(ch["status"] == "succeeded", ch["paid"] == true);
    }
    for po in all_objects(&s, Resource::Payouts) {
        assert!(po["arrival_date"].as_i64() >= po["created"].as_i64());
        assert!(po["destination"]
            .as_str()
            .is_some_and(|d| d.starts_with("ba_") || d.starts_with("card_")));
    }
    // Every status appears, even with the default small counts.
    for (r, want) in [
        (
            Resource::Subscriptions,
            &[
                "active",
                "trialing",
                "past_due",
                "canceled",
                "unpaid",
                "incomplete",
                "incomplete_expired",
                "paused",
            ][..],
        ),
        (
            Resource::Invoices,
            &["draft", "open", "paid", "uncollectible", "void"][..],
        ),
        (Resource::Charges, &["succeeded", "pending", "failed"][..]),
        (
            Resource::Payouts,
            &["paid", "pending", "in_transit", "canceled", "failed"][..],
        ),
    ] {
        let have: HashSet<String> = all_objects(&s, r)
            .iter()
            .map(|o| o["status"].as_str().unwrap_or("").to_string())
            .collect();
        for w in want {
            assert!(have.contains(*w), "{} has no {w}", r.name());
        }
    }
}

#[test]
fn newest_first_with_ties_by_id() {
    let s = shared(&EmulatorConfig {
        customers: 2000,
        ..EmulatorConfig::default()
    });
    let objs = &s.router.store.table(Resource::Customers).objs;
    let mut ties = 0;
    for w in objs.windows(2) {
        assert!(w[0].created >= w[1].created);
        if w[0].created == w[1].created {
            ties += 1;
            assert!(w[0].id > w[1].id);
        }
    }
    assert!(ties > 0, "the data set has ties to exercise the order");
}

// ---------------------------------------------------------------- pagination

#[test]
fn starting_after_walk_returns_every_object_once() {
    let s = shared(&EmulatorConfig {
        customers: 250,
        subscriptions: 301,
        invoices: 222,
        charges: 199,
        payouts: 100,
        ..EmulatorConfig::default()
    });
    for r in Resource::ALL {
        let extra = if r == Resource::Subscriptions {
            "status=all"
        } else {
            ""
        };
        for limit in [1, 7, 100] {
            let got = ids(&walk(&s, keys::TEST_READ_ONLY, r, extra, limit));
            let want = ids(&all_objects(&s, r));
            assert_eq!(got, want, "{} limit {limit}", r.name());
        }
    }
}

#[test]
fn default_limit_and_ending_before() {
    let s = default_shared();
    let (st, v) = get(&s, "/v1/charges");
    assert_eq!(st, 200);
    assert_eq!(v["data"].as_array().map(Vec::len), Some(10));
    assert_eq!(v["has_more"], true);
    let all = ids(&all_objects(&s, Resource::Charges));
    // The page before all[25] is all[15..25], newest first; more exist before it.
    let (_, v) = get(&s, &format!("/v1/charges?ending_before={}", all[25]));
    assert_eq!(
        ids(v["data"].as_array().expect("data")),
        all[15..25].to_vec()
    );
    assert_eq!(v["has_more"], true);
    let (_, v) = get(
        &s,
        &format!("/v1/charges?limit=100&ending_before={}", all[5]),
    );
    assert_eq!(ids(v["data"].as_array().expect("data")), all[..5].to_vec());
    assert_eq!(v["has_more"], false);
    let (_, v) = get(
        &s,
        &format!("/v1/charges?starting_after={}", all[all.len() - 1]),
    );
    assert_eq!(v["data"], serde_json::json!([]));
    assert_eq!(v["has_more"], false);
}

/// Stripe's charges list: "If you provide a non-existent customer ID, this call throws an error."
#[test]
fn charges_of_a_customer_that_does_not_exist_are_an_error() {
    let s = default_shared();
    let (st, v) = get(&s, "/v1/charges?customer=cus_DoesNotExist0&limit=3");
    assert_eq!(st, 400);
    assert_eq!(
        err_of(&v),
        (
            "invalid_request_error",
            Some("resource_missing"),
            Some("customer"),
            "No such customer: 'cus_DoesNotExist0'"
        )
    );
}

#[test]
fn cursor_errors() {
    let s = default_shared();
    let (st, v) = get(&s, "/v1/customers?starting_after=cus_a&ending_before=cus_b");
    assert_eq!(st, 400);
    assert_eq!(err_of(&v).0, "invalid_request_error");
    assert_eq!(err_of(&v).1, Some("parameters_exclusive"));
    let (st, v) = get(&s, "/v1/customers?starting_after=cus_DoesNotExist0");
    assert_eq!(st, 400);
    assert_eq!(
        err_of(&v),
        (
            "invalid_request_error",
            Some("resource_missing"),
            Some("starting_after"),
            "No such customer: 'cus_DoesNotExist0'"
        )
    );
    let sub = s.router.store.table(Resource::Subscriptions).objs[0]
        .id
        .clone();
    let (st, v) = get(&s, &format!("/v1/customers?ending_before={sub}"));
    assert_eq!(st, 400);
    assert_eq!(err_of(&v).2, Some("ending_before"));
}

// ---------------------------------------------------------------- parameters and filters

#[test]
fn limit_bounds() {
    let s = default_shared();
    for (q, msg) in [
        ("0", "This value must be greater than or equal to 1."),
        ("-3", "This value must be greater than or equal to 1."),
        ("101", "This value must be less than or equal to 100."),
        ("abc", "Invalid integer: abc"),
        ("1.5", "Invalid integer: 1.5"),
    ] {
        let (st, v) = get(&s, &format!("/v1/payouts?limit={q}"));
        assert_eq!(st, 400, "limit={q}");
        assert_eq!(
            err_of(&v),
            (
                "invalid_request_error",
                Some("parameter_invalid_integer"),
                Some("limit"),
                msg
            )
        );
    }
    for n in [1, 30, 100] {
        let (st, v) = get(&s, &format!("/v1/payouts?limit={n}"));
        assert_eq!(st, 200);
        assert_eq!(v["data"].as_array().map(Vec::len), Some(n.min(30)));
    }
    let (st, v) = get(&s, "/v1/payouts?limit=");
    assert_eq!(st, 400);
    assert_eq!(err_of(&v).1, Some("parameter_invalid_empty"));
}

#[test]
fn unknown_parameters_are_rejected() {
    let s = default_shared();
    for (target, param) in [
        ("/v1/charges?status=succeeded", "status"),
        ("/v1/customers?customer=cus_x", "customer"),
        ("/v1/customers?foo=1", "foo"),
        ("/v1/customers?created[foo]=1", "created[foo]"),
        ("/v1/customers?created%5Bfoo%5D=1", "created[foo]"),
        ("/v1/payouts?due_date=1", "due_date"),
        ("/v1/invoices?arrival_date[gte]=1", "arrival_date[gte]"),
        ("/v1/subscriptions?email=a@example.com", "email"),
        ("/v1/invoices?limit[x]=2", "limit[x]"),
        ("/v1/charges?customer[x]=cus_a", "customer[x]"),
        ("/v1/customers?expand=data", "expand"),
        (
            "/v1/subscriptions?automatic_tax[x]=true",
            "automatic_tax[x]",
        ),
    ] {
        let (st, v) = get(&s, target);
        assert_eq!(st, 400, "{target}");
        assert_eq!(
            err_of(&v),
            (
                "invalid_request_error",
                Some("parameter_unknown"),
                Some(param),
                format!("Received unknown parameter: {param}").as_str()
            ),
            "{target}"
        );
    }
    // Every list parameter Stripe documents for these endpoints is accepted (the charges list by a customer
    // that exists: of one that does not, Stripe's reference documents an error).
    let customer = all_objects(&s, Resource::Customers)[0]["id"]
        .as_str()
        .expect("a customer id")
        .to_owned();
    let charges = format!(
        "/v1/charges?created[gte]=1&customer={customer}&payment_intent=pi_a&transfer_group=g"
    );
    for target in [
        "/v1/customers?created=1&email=x@example.com&test_clock=clock_1",
        "/v1/subscriptions?created[gt]=1&current_period_start[gte]=1&current_period_end[lt]=2000000000&customer=cus_a&customer_account=acct_1&plan=price_a&price=price_a&test_clock=clock_1&automatic_tax[enabled]=false&collection_method=send_invoice&status=all",
        "/v1/invoices?created[lte]=2000000000&due_date[gt]=1&customer=cus_a&customer_account=acct_1&subscription=sub_a&status=paid&collection_method=charge_automatically",
        charges.as_str(),
        "/v1/payouts?created[lt]=2000000000&arrival_date[gte]=1&destination=ba_a&status=paid",
    ] {
        let (st, v) = get(&s, target);
        assert_eq!(st, 200, "{target}: {v}");
    }
}

#[test]
fn invalid_values() {
    let s = default_shared();
    for (target, param, code) in [
        (
            "/v1/subscriptions?status=bogus",
            "status",
            Some("parameter_invalid"),
        ),
        (
            "/v1/invoices?status=active",
            "status",
            Some("parameter_invalid"),
        ),
        (
            "/v1/invoices?collection_method=cash",
            "collection_method",
            Some("parameter_invalid"),
        ),
        (
            "/v1/customers?created=yesterday",
            "created",
            Some("parameter_invalid_integer"),
        ),
        (
            "/v1/customers?created[gte]=1.5",
            "created[gte]",
            Some("parameter_invalid_integer"),
        ),
        (
            "/v1/subscriptions?automatic_tax[enabled]=maybe",
            "automatic_tax[enabled]",
            None,
        ),
        (
            "/v1/charges?customer=",
            "customer",
            Some("parameter_invalid_empty"),
        ),
    ] {
        let (st, v) = get(&s, target);
        assert_eq!(st, 400, "{target}");
        let (t, c, p, _) = err_of(&v);
        assert_eq!(
            (t, c, p),
            ("invalid_request_error", code, Some(param)),
            "{target}"
        );
    }
}

fn i(v: &Value, k: &str) -> i64 {
    v[k].as_i64().unwrap_or(i64::MIN)
}

#[test]
fn filters_on_every_endpoint() {
    let s = shared(&EmulatorConfig {
        customers: 120,
        subscriptions: 300,
        invoices: 400,
        charges: 400,
        payouts: 200,
        ..EmulatorConfig::default()
    });
    let cus = all_objects(&s, Resource::Customers);
    let mid = i(&cus[cus.len() / 2], "created");
    let email = cus
        .iter()
        .find_map(|c| c["email"].as_str())
        .unwrap_or("")
        .to_string();

    use Resource::*;
    // customers
    assert!(
        check_filter(&s, Customers, &format!("created[gte]={mid}"), "", |o| i(
            o, "created"
        )
            >= mid)
            > 0
    );
    check_filter(&s, Customers, &format!("created[gt]={mid}"), "", |o| {
        i(o, "created") > mid
    });
    check_filter(&s, Customers, &format!("created[lt]={mid}"), "", |o| {
        i(o, "created") < mid
    });
    check_filter(
        &s,
        Customers,
        &format!("created[lte]={mid}&created[gte]={}", mid - 86_400 * 90),
        "",
        |o| i(o, "created") <= mid && i(o, "created") >= mid - 86_400 * 90,
    );
    assert!(
        check_filter(&s, Customers, &format!("created={mid}"), "", |o| i(
            o, "created"
        ) == mid)
            >= 1
    );
    assert_eq!(
        check_filter(&s, Customers, &format!("email={email}"), "", |o| o["email"]
            == email.as_str()),
        1
    );
    assert_eq!(
        check_filter(&s, Customers, "test_clock=clock_1", "", |_| false),
        0
    );

    // subscriptions: the default leaves canceled out; ended = canceled + incomplete_expired.
    assert!(check_filter(&s, Subscriptions, "", "", |o| o["status"] != "canceled") > 0);
    check_filter(&s, Subscriptions, "status=all", "", |_| true);
    check_filter(&s, Subscriptions, "status=ended", "", |o| {
        o["status"] == "canceled" || o["status"] == "incomplete_expired"
    });
    for st in [
        "active",
        "canceled",
        "incomplete",
        "incomplete_expired",
        "past_due",
        "paused",
        "trialing",
        "unpaid",
    ] {
        assert!(
            check_filter(&s, Subscriptions, &format!("status={st}"), "", |o| o
                ["status"]
                == st)
                > 0,
            "{st}"
        );
    }
    let sub_cus = all_objects(&s, Subscriptions)[3]["customer"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        check_filter(
            &s,
            Subscriptions,
            &format!("customer={sub_cus}"),
            "status=all",
            |o| o["customer"] == sub_cus.as_str()
        ) > 0
    );
    check_filter(&s, Subscriptions, &format!("customer={sub_cus}"), "", |o| {
        o["customer"] == sub_cus.as_str() && o["status"] != "canceled"
    });
    for cm in ["charge_automatically", "send_invoice"] {
        assert!(
            check_filter(
                &s,
                Subscriptions,
                &format!("collection_method={cm}"),
                "status=all",
                |o| o["collection_method"] == cm
            ) > 0
        );
    }
    let now = crate::data::NOW;
    check_filter(
        &s,
        Subscriptions,
        &format!("created[lt]={}", now - 86_400 * 200),
        "status=all",
        |o| i(o, "created") < now - 86_400 * 200,
    );
    let items = |o: &Value, k: &str| -> Vec<i64> {
        o["items"]["data"]
            .as_array()
            .map(|a| a.iter().map(|it| i(it, k)).collect())
            .unwrap_or_default()
    };
    let pe = now + 86_400 * 10;
    assert!(
        check_filter(
            &s,
            Subscriptions,
            &format!("current_period_end[gt]={pe}"),
            "status=all",
            |o| {
                items(o, "current_period_end")
                    .into_iter()
                    .min()
                    .unwrap_or(0)
                    > pe
            }
        ) > 0
    );
    let ps = now - 86_400 * 10;
    check_filter(
        &s,
        Subscriptions,
        &format!("current_period_start[gte]={ps}"),
        "status=all",
        |o| {
            items(o, "current_period_start")
                .into_iter()
                .max()
                .unwrap_or(0)
                >= ps
        },
    );
    let price = all_objects(&s, Subscriptions)[0]["items"]["data"][0]["price"]["id"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let has_price = |o: &Value| {
        o["items"]["data"]
            .as_array()
            .is_some_and(|a| a.iter().any(|it| it["price"]["id"] == price.as_str()))
    };
    assert!(
        check_filter(
            &s,
            Subscriptions,
            &format!("price={price}"),
            "status=all",
            has_price
        ) > 0
    );
    check_filter(
        &s,
        Subscriptions,
        &format!("plan={price}"),
        "status=all",
        has_price,
    );
    check_filter(
        &s,
        Subscriptions,
        "automatic_tax[enabled]=false",
        "status=all",
        |_| true,
    );
    check_filter(
        &s,
        Subscriptions,
        "automatic_tax[enabled]=true",
        "status=all",
        |_| false,
    );

    // invoices
    for st in ["draft", "open", "paid", "uncollectible", "void"] {
        assert!(
            check_filter(&s, Invoices, &format!("status={st}"), "", |o| o["status"]
                == st)
                > 0,
            "{st}"
        );
    }
    let inv = all_objects(&s, Invoices);
    let inv_cus = inv[0]["customer"].as_str().unwrap_or("").to_string();
    assert!(
        check_filter(&s, Invoices, &format!("customer={inv_cus}"), "", |o| o
            ["customer"]
            == inv_cus.as_str())
            > 0
    );
    let inv_sub = inv
        .iter()
        .find_map(|o| o["parent"]["subscription_details"]["subscription"].as_str())
        .unwrap_or("")
        .to_string();
    assert!(
        check_filter(&s, Invoices, &format!("subscription={inv_sub}"), "", |o| o
            ["parent"]["subscription_details"]["subscription"]
            == inv_sub.as_str())
            > 0
    );
    for cm in ["charge_automatically", "send_invoice"] {
        assert!(
            check_filter(&s, Invoices, &format!("collection_method={cm}"), "", |o| o
                ["collection_method"]
                == cm)
                > 0
        );
    }
    assert!(
        check_filter(&s, Invoices, &format!("due_date[lte]={now}"), "", |o| o
            ["due_date"]
            .as_i64()
            .is_some_and(|d| d <= now))
            > 0
    );
    check_filter(
        &s,
        Invoices,
        &format!("created[gt]={mid}&status=paid"),
        "",
        |o| i(o, "created") > mid && o["status"] == "paid",
    );

    // charges
    let ch = all_objects(&s, Charges);
    let ch_cus = ch
        .iter()
        .find_map(|o| o["customer"].as_str())
        .unwrap_or("")
        .to_string();
    assert!(
        check_filter(&s, Charges, &format!("customer={ch_cus}"), "", |o| o
            ["customer"]
            == ch_cus.as_str())
            > 0
    );
    let pi = ch
        .iter()
        .find_map(|o| o["payment_intent"].as_str())
        .unwrap_or("")
        .to_string();
    assert_eq!(
        check_filter(&s, Charges, &format!("payment_intent={pi}"), "", |o| o
            ["payment_intent"]
            == pi.as_str()),
        1
    );
    check_filter(
        &s,
        Charges,
        &format!("created[gte]={mid}&created[lt]={now}"),
        "",
        |o| i(o, "created") >= mid && i(o, "created") < now,
    );
    assert_eq!(
        check_filter(&s, Charges, "transfer_group=group_1", "", |_| false),
        0
    );
    assert!(
        ch.iter().any(|o| o["customer"].is_null()),
        "some charges have no customer"
    );

    // payouts: `in_transit`, which Stripe's list does not document, is answered with every payout, as
    // reported of Stripe.
    let po = all_objects(&s, Payouts);
    assert_eq!(
        check_filter(&s, Payouts, "status=in_transit", "", |_| true),
        po.len()
    );
    assert!(po.iter().any(|o| o["status"] != "in_transit"));
    for st in ["paid", "pending", "canceled", "failed"] {
        assert!(
            check_filter(&s, Payouts, &format!("status={st}"), "", |o| o["status"]
                == st)
                > 0,
            "{st}"
        );
    }
    assert_eq!(check_filter(&s, Payouts, "status=bogus", "", |_| false), 0);
    let ad = i(&po[po.len() / 3], "arrival_date");
    assert!(
        check_filter(&s, Payouts, &format!("arrival_date[gte]={ad}"), "", |o| i(
            o,
            "arrival_date"
        )
            >= ad)
            > 0
    );
    check_filter(&s, Payouts, &format!("arrival_date={ad}"), "", |o| {
        i(o, "arrival_date") == ad
    });
    let dest = po[0]["destination"].as_str().unwrap_or("").to_string();
    assert!(
        check_filter(&s, Payouts, &format!("destination={dest}"), "", |o| o
            ["destination"]
            == dest.as_str())
            > 0
    );
    check_filter(&s, Payouts, &format!("created[lte]={mid}"), "", |o| {
        i(o, "created") <= mid
    });
}

#[test]
fn percent_encoded_and_plus_encoded_queries() {
    let s = default_shared();
    let cus = all_objects(&s, Resource::Customers);
    let t = i(&cus[10], "created");
    let (st, a) = get(&s, &format!("/v1/customers?limit=100&created%5Bgte%5D={t}"));
    assert_eq!(st, 200);
    let (_, b) = get(&s, &format!("/v1/customers?limit=100&created[gte]={t}"));
    assert_eq!(a, b);
    assert!(a["data"].as_array().map_or(0, Vec::len) >= 11);
    let (st, v) = get(
        &s,
        "/v1/subscriptions?status=all&expand%5B%5D=data.customer",
    );
    assert_eq!(st, 200);
    assert_eq!(v["data"][0]["customer"]["object"], "customer");
}

#[test]
fn expand_customer() {
    let s = default_shared();
    for r in [
        Resource::Subscriptions,
        Resource::Invoices,
        Resource::Charges,
    ] {
        let (resp, v) = call(
            &s,
            "GET",
            Some(keys::LIVE_READ_ONLY),
            &format!("/v1/{}?limit=100&expand[]=data.customer", r.name()),
        );
        assert_eq!(resp.status, 200);
        for o in v["data"].as_array().expect("data") {
            let c = &o["customer"];
            assert!(
                c.is_null() || (c["object"] == "customer" && c["livemode"] == true),
                "{c}"
            );
            assert_eq!(o["livemode"], true);
        }
    }
    let (st, v) = get(&s, "/v1/customers?expand[]=data.customer");
    assert_eq!(st, 400);
    assert_eq!(err_of(&v).2, Some("expand[]"));
    let (st, _) = get(&s, "/v1/charges?expand[0]=data.balance_transaction");
    assert_eq!(st, 400);
    let id = s.router.store.table(Resource::Invoices).objs[0].id.clone();
    let (st, v) = get(&s, &format!("/v1/invoices/{id}?expand[]=customer"));
    assert_eq!(st, 200);
    assert_eq!(v["customer"]["object"], "customer");
}

// ---------------------------------------------------------------- auth, permissions, routing

#[test]
fn unauthenticated_requests_get_401() {
    let s = default_shared();
    let (r, v) = call(&s, "GET", None, "/v1/customers");
    assert_eq!(r.status, 401);
    assert_eq!(err_of(&v).0, "invalid_request_error");
    assert!(err_of(&v).3.starts_with("You did not provide an API key."));
    let bad = "rk_test_51ThisKeyIsNotKnownToTheEmulatorXYZabcd";
    let (r, v) = call(&s, "GET", Some(bad), "/v1/customers?limit=1");
    assert_eq!(r.status, 401);
    assert_eq!(
        err_of(&v),
        (
            "invalid_request_error",
            None,
            None,
            "Invalid API Key provided: rk_test_****abcd"
        )
    );
    assert!(!String::from_utf8_lossy(&r.body).contains(bad));
    let (r, v) = call(&s, "GET", Some("short"), "/v1/customers");
    assert_eq!(r.status, 401);
    assert_eq!(err_of(&v).3, "Invalid API Key provided: ****");
    // Unknown URLs need a valid key first, then 404.
    let (r, _) = call(&s, "GET", Some(bad), "/v1/foo");
    assert_eq!(r.status, 401);
}

#[test]
fn unrecognized_urls_get_404() {
    let s = default_shared();
    for (m, p) in [
        ("GET", "/v1/foo"),
        ("GET", "/v1/customers/"),
        ("POST", "/v1/customers"),
        ("DELETE", "/v1/charges/ch_x"),
        ("DELETE", "/v1/payouts/po_x"),
        ("POST", "/v1/charges/ch_x/refund"),
        ("GET", "/v2/customers"),
        ("GET", "/"),
    ] {
        let (r, v) = call(&s, m, Some(keys::TEST_SECRET), p);
        assert_eq!(r.status, 404, "{m} {p}");
        let (t, c, _, msg) = err_of(&v);
        assert_eq!((t, c), ("invalid_request_error", None));
        assert!(
            msg.starts_with(&format!("Unrecognized request URL ({m}: {p}).")),
            "{msg}"
        );
    }
}

fn write_target(r: Resource, id: &str) -> (&'static str, String) {
    match r {
        Resource::Charges => ("POST", format!("/v1/charges/{id}/capture")),
        Resource::Payouts => ("POST", format!("/v1/payouts/{id}/cancel")),
        _ => ("DELETE", format!("/v1/{}/{id}", r.name())),
    }
}

fn status_of(s: &Shared, key: &str, path: &str, method: &str) -> u16 {
    call(s, method, Some(key), path).0.status
}

#[test]
fn permission_model_for_every_key() {
    let s = default_shared();
    let grants = keys::all();
    assert_eq!(grants.len(), ALL_KEYS.len());
    for g in &grants {
        assert!(ALL_KEYS.contains(&g.key.as_str()));
        let rest = &g.key[8..];
        assert!(rest.len() >= 16 && rest.bytes().all(|b| b.is_ascii_alphanumeric()));
        for r in Resource::ALL {
            let (resp, v) = call(
                &s,
                "GET",
                Some(&g.key),
                &format!("/v1/{}?limit=1", r.name()),
            );
            let can_read = g.read.contains(&r) || g.write.contains(&r);
            if can_read {
                assert_eq!(resp.status, 200, "{:?} {}", g, r.name());
                assert_eq!(v["data"][0]["livemode"], g.livemode);
            } else {
                assert_eq!(resp.status, 403, "{:?} {}", g, r.name());
                let (t, c, _, msg) = err_of(&v);
                assert_eq!((t, c), ("invalid_request_error", None));
                assert!(
                    msg.contains(&format!("'rak_{}_read'", r.singular())),
                    "{msg}"
                );
                assert!(msg.contains(crate::router::ACCOUNT));
                assert!(msg.starts_with("The provided key 'rk_test_***"), "{msg}");
            }
            // Over-permission probe on an id that cannot exist.
            let prefix = match r {
                Resource::Customers => "cus",
                Resource::Subscriptions => "sub",
                Resource::Invoices => "in",
                Resource::Charges => "ch",
                Resource::Payouts => "po",
            };
            let ghost = format!("{prefix}_KlairrProbeDoesNotExist");
            let (m, p) = write_target(r, &ghost);
            let (resp, v) = call(&s, m, Some(&g.key), &p);
            if g.write.contains(&r) {
                assert_eq!(resp.status, 404, "{:?} {m} {p}", g);
                assert_eq!(
                    err_of(&v),
                    (
                        "invalid_request_error",
                        Some("resource_missing"),
                        Some("id"),
                        format!("No such {}: '{ghost}'", r.singular()).as_str()
                    )
                );
                let real = s.router.store.table(r).objs[0].id.clone();
                let (m, p) = write_target(r, &real);
                let (resp, v) = call(&s, m, Some(&g.key), &p);
                assert_eq!(resp.status, 200);
                assert_eq!(v["id"], real.as_str());
                assert_eq!(v["livemode"], g.livemode);
            } else {
                assert_eq!(resp.status, 403, "{:?} {m} {p}", g);
                assert!(err_of(&v)
                    .3
                    .contains(&format!("'rak_{}_write'", r.singular())));
            }
        }
        // The resources the connector never reads: an update of one object is refused without the
        // permission, and missing with it (the host's own setup probes).
        for (name, singular) in crate::WRITE_ELSEWHERE {
            let p = match name {
                "checkout_sessions" => "/v1/checkout/sessions/cs_klairr_probe_host".to_owned(),
                _ => format!("/v1/{name}/x_klairr_probe_host"),
            };
            let (resp, v) = call(&s, "POST", Some(&g.key), &p);
            if g.write_elsewhere.contains(name) {
                assert_eq!(resp.status, 404, "{:?} {p}", g);
                assert_eq!(err_of(&v).1, Some("resource_missing"));
            } else {
                assert_eq!(resp.status, 403, "{:?} {p}", g);
                assert!(err_of(&v).3.contains(&format!("'rak_{singular}_write'")));
            }
            assert_eq!(
                crate::router::endpoint("POST", &p).as_deref(),
                Some(
                    format!(
                        "POST {}",
                        p.replace("x_klairr_probe_host", "{id}")
                            .replace("cs_klairr_probe_host", "{id}")
                    )
                    .as_str()
                )
            );
        }
    }
    assert_eq!(
        status_of(
            &s,
            keys::TEST_WRITE_REFUNDS_WEBHOOKS,
            "/v1/refunds/re_x",
            "POST"
        ),
        404
    );
    assert_eq!(
        status_of(
            &s,
            keys::TEST_WRITE_REFUNDS_WEBHOOKS,
            "/v1/transfers/tr_x",
            "POST"
        ),
        403
    );
    assert_eq!(
        status_of(
            &s,
            keys::TEST_READ_ONLY,
            "/v1/webhook_endpoints/we_x",
            "POST"
        ),
        403
    );
    // The README's key matrix ("Keys and setup"), spelled out.
    let status = |k: &str, t: &str, m: &str| call(&s, m, Some(k), t).0.status;
    assert_eq!(
        status(keys::TEST_READ_ONLY, "/v1/customers/cus_x", "DELETE"),
        403
    );
    assert_eq!(
        status(keys::TEST_WRITE_CUSTOMERS, "/v1/customers/cus_x", "DELETE"),
        404
    );
    assert_eq!(
        status(keys::TEST_WRITE_INVOICES, "/v1/customers/cus_x", "DELETE"),
        403
    );
    assert_eq!(
        status(keys::TEST_WRITE_INVOICES, "/v1/invoices/in_x", "DELETE"),
        404
    );
    assert_eq!(
        status(
            keys::TEST_NO_INVOICES_PAYOUTS,
            "/v1/invoices?limit=1",
            "GET"
        ),
        403
    );
    assert_eq!(
        status(keys::TEST_NO_INVOICES_PAYOUTS, "/v1/payouts?limit=1", "GET"),
        403
    );
    assert_eq!(
        status(keys::TEST_SECRET, "/v1/payouts/po_x/cancel", "POST"),
        404
    );
    // Writes never mutate.
    let before = ids(&walk(&s, keys::TEST_SECRET, Resource::Customers, "", 100));
    assert_eq!(before, ids(&all_objects(&s, Resource::Customers)));
}

#[test]
fn retrieve_one_object() {
    let s = default_shared();
    let id = s.router.store.table(Resource::Payouts).objs[3].id.clone();
    let (st, v) = get(&s, &format!("/v1/payouts/{id}"));
    assert_eq!(st, 200);
    assert_eq!(v["id"], id.as_str());
    let (st, v) = get(&s, "/v1/payouts/po_nope");
    assert_eq!(st, 404);
    assert_eq!(err_of(&v).1, Some("resource_missing"));
    let (r, _) = call(
        &s,
        "GET",
        Some(keys::TEST_NO_INVOICES_PAYOUTS),
        &format!("/v1/payouts/{id}"),
    );
    assert_eq!(r.status, 403);
    let (st, v) = get(&s, &format!("/v1/payouts/{id}?foo=1"));
    assert_eq!(st, 400);
    assert_eq!(err_of(&v).1, Some("parameter_unknown"));
}

#[test]
fn livemode_follows_the_key_everywhere() {
    let s = default_shared();
    for (key, live) in [
        (keys::LIVE_READ_ONLY, true),
        (keys::TEST_READ_ONLY, false),
        (keys::LIVE_SECRET, true),
    ] {
        for r in Resource::ALL {
            let extra = if r == Resource::Subscriptions {
                "status=all"
            } else {
                ""
            };
            for o in walk(&s, key, r, extra, 100) {
                assert_eq!(o["livemode"], live);
                if r == Resource::Subscriptions {
                    for it in o["items"]["data"].as_array().expect("items") {
                        assert_eq!(it["price"]["livemode"], live);
                    }
                }
            }
        }
    }
    // Live and test serve the same objects otherwise.
    let t = walk(&s, keys::TEST_READ_ONLY, Resource::Invoices, "", 100);
    let l = walk(&s, keys::LIVE_READ_ONLY, Resource::Invoices, "", 100);
    let strip = |v: &Value| {
        v.to_string()
            .replace("\"livemode\":true", "\"livemode\":false")
    };
    assert_eq!(
        t.iter().map(strip).collect::<Vec<_>>(),
        l.iter().map(strip).collect::<Vec<_>>()
    );
}

// ---------------------------------------------------------------- faults, log, masking

#[test]
fn faults_are_consumed_in_order_and_by_prefix() {
    let s = default_shared();
    s.push_fault(
        "/v1/charges",
        Fault::Status {
            status: 429,
            should_retry: Some(true),
            retry_after: Some(2),
            code: Some("rate_limit".into()),
        },
        2,
    );
    s.push_fault(
        "/v1/charges",
        Fault::Status {
            status: 500,
            should_retry: Some(false),
            retry_after: None,
            code: None,
        },
        1,
    );
    s.push_fault("", Fault::Latency(Duration::from_millis(3)), 1);
    // A request to another path takes the "" fault only.
    let (r, d) = s.respond(&req(
        "GET",
        Some(keys::TEST_READ_ONLY),
        "/v1/customers?limit=1",
    ));
    assert_eq!(r.status, 200);
    assert_eq!(d, Duration::from_millis(3));
    for _ in 0..2 {
        let (r, v) = call(&s, "GET", Some(keys::TEST_READ_ONLY), "/v1/charges?limit=1");
        assert_eq!(r.status, 429);
        assert_eq!((r.should_retry, r.retry_after), (Some(true), Some(2)));
        assert_eq!(err_of(&v).1, Some("rate_limit"));
        assert!(err_of(&v)
            .3
            .starts_with("Testmode request rate limit exceeded."));
    }
    let (r, v) = call(&s, "GET", Some(keys::TEST_READ_ONLY), "/v1/charges?limit=1");
    assert_eq!(r.status, 500);
    assert_eq!(r.should_retry, Some(false));
    assert_eq!(err_of(&v).0, "api_error");
    let (r, _) = call(&s, "GET", Some(keys::TEST_READ_ONLY), "/v1/charges?limit=1");
    assert_eq!((r.status, r.should_retry), (200, None));
    let statuses: Vec<u16> = s.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![200, 429, 429, 500, 200]);
    // Live keys get the live message; lock_timeout its own.
    s.push_fault(
        "",
        Fault::Status {
            status: 429,
            should_retry: None,
            retry_after: None,
            code: Some("lock_timeout".into()),
        },
        1,
    );
    s.push_fault(
        "",
        Fault::Status {
            status: 429,
            should_retry: None,
            retry_after: None,
            code: None,
        },
        1,
    );
    let (_, v) = call(&s, "GET", Some(keys::LIVE_READ_ONLY), "/v1/charges");
    assert!(err_of(&v)
        .3
        .starts_with("This object cannot be accessed right now"));
    let (_, v) = call(&s, "GET", Some(keys::LIVE_READ_ONLY), "/v1/charges");
    assert!(err_of(&v).3.starts_with("Request rate limit exceeded."));
    assert_eq!(err_of(&v).1, None);
}

#[test]
fn paging_faults() {
    let s = default_shared();
    let all = ids(&all_objects(&s, Resource::Customers));
    s.push_fault("/v1/customers", Fault::HasMoreLoop, 3);
    for _ in 0..3 {
        let (r, v) = call(
            &s,
            "GET",
            Some(keys::TEST_READ_ONLY),
            &format!("/v1/customers?limit=5&starting_after={}", all[4]),
        );
        assert_eq!(r.status, 200);
        assert_eq!(v["has_more"], true);
        assert_eq!(
            ids(v["data"].as_array().expect("data")),
            all[..5].to_vec(),
            "the same page again"
        );
    }
    s.push_fault("/v1/customers", Fault::EmptyPageHasMore, 1);
    let (_, v) = get(&s, "/v1/customers?limit=5");
    assert_eq!(v["data"], serde_json::json!([]));
    assert_eq!(v["has_more"], true);
    assert_eq!(v["url"], "/v1/customers");
    s.push_fault("/v1/customers", Fault::BrokenJson, 1);
    let (r, _) = s.respond(&req("GET", Some(keys::TEST_READ_ONLY), "/v1/customers"));
    assert_eq!(r.status, 200);
    assert!(serde_json::from_slice::<Value>(&r.body).is_err());
    assert!(r.body.starts_with(b"{\"object\":\"list\""));
    for n in [0, 5, 1000, 3 << 20] {
        s.push_fault("/v1/customers", Fault::OversizedBody(n), 1);
        let (r, _) = s.respond(&req("GET", Some(keys::TEST_READ_ONLY), "/v1/customers"));
        assert_eq!((r.status, r.body.len()), (200, n));
    }
    let (st, v) = get(&s, "/v1/customers?limit=5");
    assert_eq!((st, v["has_more"].clone()), (200, Value::Bool(true)));
    assert_eq!(ids(v["data"].as_array().expect("data")), all[..5].to_vec());
}

#[test]
fn request_log_records_redacted_requests() {
    let s = default_shared();
    let _ = call(
        &s,
        "GET",
        Some(keys::TEST_READ_ONLY),
        "/v1/customers?limit=1&created%5Bgte%5D=5",
    );
    let _ = call(
        &s,
        "DELETE",
        Some(keys::TEST_WRITE_CUSTOMERS),
        "/v1/customers/cus_x",
    );
    let _ = call(&s, "GET", None, "/v1/charges");
    let log = s.requests();
    assert_eq!(log.len(), 3);
    assert_eq!(log[0].method, "GET");
    assert_eq!(log[0].path, "/v1/customers");
    assert_eq!(log[0].query, "limit=1&created%5Bgte%5D=5");
    assert_eq!(log[0].host.as_deref(), Some("api.stripe.com"));
    assert_eq!(log[0].stripe_version.as_deref(), Some("2026-04-22.dahlia"));
    assert_eq!(log[0].key_hint.as_deref(), Some("rk_test_…0000"));
    assert_eq!(log[0].status, 200);
    assert_eq!(
        (log[1].status, log[1].key_hint.as_deref()),
        (404, Some("rk_test_…s000"))
    );
    assert_eq!((log[2].status, log[2].key_hint.as_deref()), (401, None));
    s.clear_requests();
    assert!(s.requests().is_empty());
}

#[test]
fn no_response_or_log_entry_contains_a_full_key() {
    let s = default_shared();
    let stranger = "rk_live_51StrangerKeyThatNobodyGrantedAtAll9876";
    let mut keys_used: Vec<&str> = ALL_KEYS.to_vec();
    keys_used.push(stranger);
    s.push_fault(
        "",
        Fault::Status {
            status: 403,
            should_retry: None,
            retry_after: None,
            code: None,
        },
        1,
    );
    s.push_fault(
        "",
        Fault::Status {
            status: 401,
            should_retry: None,
            retry_after: None,
            code: None,
        },
        1,
    );
    for key in &keys_used {
        for target in [
            "/v1/customers?limit=2".to_string(),
            "/v1/invoices?limit=2".to_string(),
            "/v1/payouts?limit=2".to_string(),
            format!("/v1/customers?starting_after={key}"),
            format!("/v1/customers?{key}=1"),
            format!("/v1/subscriptions?status={key}"),
            format!("/v1/{key}"),
            format!("/v1/customers/{key}"),
        ] {
            for m in ["GET", "DELETE"] {
                let (r, _) = s.respond(&req(m, Some(key), &target));
                let body = String::from_utf8_lossy(&r.body);
                assert!(!body.contains(key), "{m} {target} -> {body}");
            }
        }
    }
    let log = format!("{:?}", s.requests());
    for key in &keys_used {
        assert!(!log.contains(key), "the request log holds {key}");
        assert!(log.contains(&crate::router::mask(key, "…")));
    }
    assert!(!format!("{:?}", keys::all()).contains(keys::TEST_READ_ONLY));
}

#[test]
fn masks() {
    use crate::router::mask;
    assert_eq!(mask(keys::TEST_READ_ONLY, "****"), "rk_test_****0000");
    assert_eq!(mask(keys::LIVE_SECRET, "…"), "sk_live_…ss00");
    assert_eq!(
        mask("sk_org_live_abcdefghijklmnopqrstuv", "…"),
        "sk_org_…stuv"
    );
    assert_eq!(mask("rk_test_abc", "****"), "rk_test_****");
    assert_eq!(mask("nonsense", "…"), "…");
    assert_eq!(mask("", "…"), "…");
}

#[test]
fn request_ids_are_unique() {
    let s = default_shared();
    let ids: HashSet<String> = (0..10_000).map(|_| s.request_id()).collect();
    assert_eq!(ids.len(), 10_000);
    assert!(ids.iter().all(|i| i.starts_with("req_") && i.len() == 18));
}

// ---------------------------------------------------------------- through a real socket

struct Http {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Http {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("json body")
    }
}

fn http(port: u16, method: &str, target: &str, key: Option<&str>) -> Http {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let auth = key
        .map(|k| format!("Authorization: Bearer {k}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "{method} {target} HTTP/1.1\r\nHost: api.stripe.com\r\nStripe-Version: 2026-04-22.dahlia\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    s.write_all(head.as_bytes()).expect("write");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("head end");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .expect("status");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Http {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

#[test]
fn serves_over_loopback() {
    let emu = Emulator::start(EmulatorConfig::default()).expect("start");
    assert!(emu.base_url().starts_with("http://127.0.0.1:"));
    assert_eq!(emu.base_url(), format!("http://127.0.0.1:{}", emu.port()));
    let port = emu.port();
    let r = http(
        port,
        "GET",
        "/v1/customers?limit=3&created%5Bgte%5D=0",
        Some(keys::TEST_READ_ONLY),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("stripe-version"), Some("2026-04-22.dahlia"));
    let v = r.json();
    assert_eq!(v["data"].as_array().map(Vec::len), Some(3));
    assert_eq!(
        ids(v["data"].as_array().expect("data")),
        emu.ids(Resource::Customers)[..3].to_vec()
    );
    let first = emu.ids(Resource::Customers)[0].clone();
    assert_eq!(
        emu.object(Resource::Customers, &first)
            .map(|o| o["id"].clone()),
        Some(Value::String(first))
    );

    let mut req_ids = HashSet::new();
    assert!(req_ids.insert(r.header("request-id").expect("request-id").to_string()));
    for (m, t, k, st) in [
        (
            "GET",
            "/v1/payouts?limit=1",
            Some(keys::TEST_NO_INVOICES_PAYOUTS),
            403,
        ),
        ("GET", "/v1/payouts?limit=1", None, 401),
        (
            "DELETE",
            "/v1/customers/cus_nope",
            Some(keys::TEST_WRITE_CUSTOMERS),
            404,
        ),
        ("GET", "/v1/nope", Some(keys::TEST_READ_ONLY), 404),
        (
            "GET",
            "/v1/charges?status=paid",
            Some(keys::TEST_READ_ONLY),
            400,
        ),
    ] {
        let r = http(port, m, t, k);
        assert_eq!(r.status, st, "{m} {t}");
        assert!(r.json()["error"]["message"].is_string());
        assert_eq!(r.header("content-type"), Some("application/json"));
        let id = r.header("request-id").expect("request-id");
        assert!(id.starts_with("req_"));
        assert!(req_ids.insert(id.to_string()), "request ids are unique");
    }

    emu.push_fault(
        "/v1/invoices",
        Fault::Status {
            status: 503,
            should_retry: Some(true),
            retry_after: Some(1),
            code: None,
        },
        1,
    );
    let r = http(port, "GET", "/v1/invoices", Some(keys::TEST_READ_ONLY));
    assert_eq!(r.status, 503);
    assert_eq!(r.header("stripe-should-retry"), Some("true"));
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(r.json()["error"]["type"], "api_error");
    let r = http(port, "GET", "/v1/invoices", Some(keys::TEST_READ_ONLY));
    assert_eq!((r.status, r.header("stripe-should-retry")), (200, None));

    emu.push_fault("", Fault::OversizedBody(2 << 20), 1);
    let r = http(port, "GET", "/v1/charges", Some(keys::TEST_READ_ONLY));
    assert_eq!(r.body.len(), 2 << 20);

    emu.set_latency(Duration::from_millis(60));
    let t = Instant::now();
    let r = http(
        port,
        "GET",
        "/v1/charges?limit=1",
        Some(keys::TEST_READ_ONLY),
    );
    assert_eq!(r.status, 200);
    assert!(t.elapsed() >= Duration::from_millis(60));
    emu.set_latency(Duration::ZERO);

    let log = emu.requests();
    assert_eq!(log.len(), 10);
    assert_eq!(log[0].query, "limit=3&created%5Bgte%5D=0");
    assert_eq!(log[0].host.as_deref(), Some("api.stripe.com"));
    assert_eq!(log[0].stripe_version.as_deref(), Some("2026-04-22.dahlia"));
    assert_eq!(log[2].key_hint, None);
    emu.clear_requests();
    assert!(emu.requests().is_empty());

    emu.shutdown();
    // The port is free again.
    let again = Emulator::start(EmulatorConfig {
        port,
        ..EmulatorConfig::default()
    })
    .expect("port freed");
    assert_eq!(again.port(), port);
    drop(again);
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "nothing listens after drop"
    );
}

#[test]
fn keep_alive_and_parallel_clients() {
    let emu = Emulator::start(EmulatorConfig {
        charges: 1000,
        ..EmulatorConfig::default()
    })
    .expect("start");
    let port = emu.port();
    // Two requests on one keep-alive connection, the first with a form body.
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let a = format!("POST /v1/charges/ch_nope/capture HTTP/1.1\r\nHost: api.stripe.com\r\nAuthorization: Bearer {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 11\r\n\r\namount=1000", keys::TEST_SECRET);
    let b = format!("GET /v1/charges?limit=1 HTTP/1.1\r\nHost: api.stripe.com\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n", keys::TEST_SECRET);
    s.write_all(a.as_bytes()).expect("write");
    s.write_all(b.as_bytes()).expect("write");
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read");
    assert!(raw.starts_with("HTTP/1.1 404"));
    assert_eq!(raw.matches("HTTP/1.1 ").count(), 2);
    assert!(raw.contains("HTTP/1.1 200"));

    let walkers: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(move || {
                let mut got = 0;
                let mut after = String::new();
                loop {
                    let r = http(
                        port,
                        "GET",
                        &format!("/v1/charges?limit=100{after}"),
                        Some(keys::TEST_READ_ONLY),
                    );
                    let v = r.json();
                    let data = v["data"].as_array().expect("data").clone();
                    got += data.len();
                    if v["has_more"] != true {
                        return got;
                    }
                    after = format!(
                        "&starting_after={}",
                        data.last().and_then(|o| o["id"].as_str()).unwrap_or("")
                    );
                }
            })
        })
        .collect();
    for w in walkers {
        assert_eq!(w.join().expect("walker"), 1000);
    }
}

#[test]
fn a_log_reader_that_falls_behind_is_told_how_many_it_missed() {
    let (to, from) = crate::LogSender::bounded(2);
    let sh = Shared::new(
        crate::router::Router {
            store: Store::generate(&EmulatorConfig::default()),
            keys: keys::all()
                .into_iter()
                .map(|g| (g.key.clone(), g))
                .collect(),
        },
        1,
        crate::RequestLog::Send(to),
    );
    // Nobody reads while five requests are answered: two wait, three are counted.
    for _ in 0..5 {
        let (r, _) = sh.respond(&req(
            "GET",
            Some(keys::TEST_READ_ONLY),
            "/v1/customers?limit=1",
        ));
        assert_eq!(r.status, 200, "an answer never waits for its log line");
    }
    let waiting: Vec<u64> = from.try_iter().map(|l| l.missed_before).collect();
    assert_eq!(waiting, [0, 0]);
    // With room again, the next one carries the count of those that did not fit, in their place.
    sh.respond(&req("GET", Some(keys::TEST_READ_ONLY), "/v1/customers"));
    let next: Vec<(u64, String)> = from
        .try_iter()
        .map(|l| (l.missed_before, l.request.query))
        .collect();
    assert_eq!(next, [(3, String::new())]);
    assert_eq!(from.missed(), 0, "counted once");
    // A gap no request follows is there for a reader that caught up to ask.
    for _ in 0..4 {
        sh.respond(&req("GET", Some(keys::TEST_READ_ONLY), "/v1/customers"));
    }
    assert_eq!(from.try_iter().count(), 2);
    assert_eq!(from.missed(), 2);
    assert_eq!(from.missed(), 0);
}

/// Stripe bills a subscription's period once (another invoice in it is an update's), and marks a
/// zero-total invoice paid when it is finalized, with no attempt to charge.
#[test]
fn each_subscription_period_is_invoiced_once_and_zero_invoices_are_paid() {
    let s = default_shared();
    let mut periods = std::collections::BTreeMap::<(String, i64), Vec<String>>::new();
    let mut zero_unpaid = Vec::new();
    let invoices = all_objects(&s, Resource::Invoices);
    for o in &invoices {
        let id = o["id"].as_str().unwrap_or("").to_string();
        let reason = o["billing_reason"].as_str().unwrap_or("");
        let sub = o["parent"]["subscription_details"]["subscription"].as_str();
        if let Some(sub) = sub.filter(|_| reason != "subscription_update") {
            let start = o["lines"]["data"][0]["period"]["start"]
                .as_i64()
                .unwrap_or(-1);
            periods
                .entry((sub.to_string(), start))
                .or_default()
                .push(id.clone());
        }
        let paid_without_attempts = o["status"] == "paid" && o["attempt_count"] == 0;
        if o["total"] == 0 && o["status"] != "draft" && !paid_without_attempts {
            zero_unpaid.push(format!(
                "{id} {} attempts {}",
                o["status"], o["attempt_count"]
            ));
        }
    }
    let twice: Vec<_> = periods.iter().filter(|(_, v)| v.len() > 1).collect();
    assert!(
        twice.is_empty() && zero_unpaid.is_empty(),
        "{} of {} subscription periods invoiced more than once (e.g. {:?}); zero-total invoices not paid: {:?}",
        twice.len(),
        periods.len(),
        twice.first(),
        zero_unpaid
    );
    assert!(
        periods.len() > 20,
        "subscriptions are invoiced: {}",
        periods.len()
    );
    for status in ["paid", "open", "draft", "void", "uncollectible"] {
        assert!(
            invoices.iter().any(|o| o["status"] == status),
            "no {status} invoice"
        );
    }
}
