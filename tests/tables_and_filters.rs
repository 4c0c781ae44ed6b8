//! Issue 4 end to end: every filter of every table, through the built component and the emulator. Each
//! query checks the rows (each one satisfies the filter, and they are exactly the emulator's matching
//! objects, newest first) and the exact query string Stripe received (parameter order and encoding pinned).
//! Invalid queries are refused by the component before any request; every cell has its column's type.
//!
//! The tests share one compiled component and one emulator (compiling the component is the slow part of a
//! debug build) and take turns through a mutex, so each can check exactly the requests its query made.

use klairr_e2e::{config, emulator, keys, sandbox};
use klairr_host::emulator::{Emulator, Resource};
use klairr_host::sandbox::{wit, Sandbox, SandboxError};
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

/// 2026-01-01T00:00:00Z
const JAN_1_2026: i64 = 1_767_225_600;
/// 2026-03-01T00:00:00Z
const MAR_1_2026: i64 = 1_772_323_200;
/// 2026-04-01T00:00:00Z
const APR_1_2026: i64 = 1_775_001_600;
/// 2026-04-08T00:00:00Z
const APR_8_2026: i64 = 1_775_606_400;

struct World {
    emu: Emulator,
    sandbox: Sandbox,
}

/// The shared emulator and component, one test at a time (a failed test does not block the others).
fn world() -> MutexGuard<'static, World> {
    static WORLD: OnceLock<Mutex<World>> = OnceLock::new();
    WORLD
        .get_or_init(|| {
            let emu = emulator();
            let sandbox = sandbox(&emu);
            Mutex::new(World { emu, sandbox })
        })
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

/// A query's result and the query strings of the requests the emulator received for it, in order.
struct Ran {
    result: wit::QueryResult,
    queries: Vec<String>,
}

impl World {
    fn query(&self, dsl: &str) -> Ran {
        self.emu.clear_requests();
        let mut conn = self
            .sandbox
            .open(&config(keys::TEST_READ_ONLY, wit::Mode::Test))
            .expect("open");
        let result = conn
            .query(dsl)
            .unwrap_or_else(|e| panic!("{dsl} failed: {e}"));
        let requests = self.emu.requests();
        let path = format!("/v1/{}", result.table);
        for r in &requests {
            assert_eq!(
                (r.method.as_str(), r.path.as_str(), r.status),
                ("GET", path.as_str(), 200),
                "{dsl}: {r:?}"
            );
        }
        assert_eq!(
            result.requests as usize,
            requests.len(),
            "{dsl}: the result counts the requests made"
        );
        Ran {
            result,
            queries: requests.into_iter().map(|r| r.query).collect(),
        }
    }

    fn invalid(&self, dsl: &str) -> String {
        let mut conn = self
            .sandbox
            .open(&config(keys::TEST_READ_ONLY, wit::Mode::Test))
            .expect("open");
        match conn.query(dsl) {
            Err(SandboxError::Connector(f)) if f.kind() == "invalid-query" => f.to_string(),
            other => panic!("{dsl}: expected invalid-query, got {other:?}"),
        }
    }

    /// The ids of `resource`'s objects (newest first, as listed) whose stored JSON satisfies `keep`.
    fn expected(&self, resource: Resource, keep: impl Fn(&Value) -> bool) -> Vec<String> {
        self.emu
            .ids(resource)
            .into_iter()
            .filter(|id| keep(&self.object(resource, id)))
            .collect()
    }

    fn object(&self, resource: Resource, id: &str) -> Value {
        self.emu
            .object(resource, id)
            .unwrap_or_else(|| panic!("{} {id} is stored", resource.name()))
    }

    /// The stored objects of `resource`, newest first.
    fn objects(&self, resource: Resource) -> Vec<Value> {
        self.emu
            .ids(resource)
            .iter()
            .map(|id| self.object(resource, id))
            .collect()
    }
}

impl Ran {
    fn col(&self, name: &str) -> usize {
        self.result
            .columns
            .iter()
            .position(|c| c.name == name)
            .unwrap_or_else(|| panic!("{} has a column {name}", self.result.table))
    }

    fn ids(&self) -> Vec<String> {
        let i = self.col("id");
        self.result
            .rows
            .iter()
            .map(|r| text(&r[i]).expect("id").to_owned())
            .collect()
    }

    fn texts(&self, name: &str) -> Vec<Option<String>> {
        let i = self.col(name);
        self.result
            .rows
            .iter()
            .map(|r| text(&r[i]).map(str::to_owned))
            .collect()
    }

    fn ints(&self, name: &str) -> Vec<i64> {
        let i = self.col(name);
        self.result
            .rows
            .iter()
            .map(|r| match r[i] {
                wit::Cell::Integer(v) => v,
                ref c => panic!("{name}: {c:?}"),
            })
            .collect()
    }

    /// Every row's `name` column is the text `value`.
    fn all_text(&self, name: &str, value: &str) {
        for (id, v) in self.ids().iter().zip(self.texts(name)) {
            assert_eq!(v.as_deref(), Some(value), "{id}.{name}");
        }
    }

    /// Every row's timestamp `name` satisfies `ok`.
    fn all_int(&self, name: &str, ok: impl Fn(i64) -> bool) {
        for (id, v) in self.ids().iter().zip(self.ints(name)) {
            assert!(ok(v), "{id}.{name} = {v}");
        }
    }
}

fn text(cell: &wit::Cell) -> Option<&str> {
    match cell {
        wit::Cell::Text(s) => Some(s),
        wit::Cell::Null => None,
        other => panic!("expected text, got {other:?}"),
    }
}

fn int(v: &Value, key: &str) -> i64 {
    v[key]
        .as_i64()
        .unwrap_or_else(|| panic!("{key} of {}", v["id"]))
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v[key].as_str()
}

/// `expected` is non-empty (so the filter was tested against real matches) and is what the query returned.
fn assert_rows(ran: &Ran, expected: &[String]) {
    assert!(
        !expected.is_empty(),
        "pick a filter value that matches some of the emulator's data"
    );
    assert_eq!(ran.ids(), expected);
}

#[test]
fn customers_created_filter() {
    let w = world();
    let customers = w.objects(Resource::Customers);

    // A date is UTC midnight, sent as unix seconds with encoded brackets.
    let ran = w.query(r#"{"list":"customers","filters":{"created":{"gte":"2026-01-01"}}}"#);
    assert_eq!(ran.queries, ["created%5Bgte%5D=1767225600&limit=100"]);
    ran.all_int("created", |t| t >= JAN_1_2026);
    assert_rows(
        &ran,
        &w.expected(Resource::Customers, |c| int(c, "created") >= JAN_1_2026),
    );
    assert!(!ran.result.truncated);

    // An exact second.
    let t = int(&customers[3], "created");
    let ran = w.query(&format!(
        r#"{{"list":"customers","filters":{{"created":{t}}}}}"#
    ));
    assert_eq!(ran.queries, [format!("created={t}&limit=100")]);
    ran.all_int("created", |c| c == t);
    assert_rows(
        &ran,
        &w.expected(Resource::Customers, |c| int(c, "created") == t),
    );

    // Two bounds, written upper first: sent in the canonical gt, gte, lt, lte order.
    let (lo, hi) = (
        int(&customers[12], "created"),
        int(&customers[4], "created"),
    );
    let ran = w.query(&format!(
        r#"{{"list":"customers","filters":{{"created":{{"lte":{hi},"gt":{lo}}}}}}}"#
    ));
    assert_eq!(
        ran.queries,
        [format!(
            "created%5Bgt%5D={lo}&created%5Blte%5D={hi}&limit=100"
        )]
    );
    ran.all_int("created", |c| c > lo && c <= hi);
    assert_rows(
        &ran,
        &w.expected(Resource::Customers, |c| {
            (lo + 1..=hi).contains(&int(c, "created"))
        }),
    );

    // A date-time with an offset is converted to UTC; a limit below the matches truncates.
    let ran = w.query(
        r#"{"list":"customers","filters":{"created":{"lt":"2026-01-01T02:00:00+02:00"}},"limit":5}"#,
    );
    assert_eq!(ran.queries, ["created%5Blt%5D=1767225600&limit=5"]);
    ran.all_int("created", |c| c < JAN_1_2026);
    let before = w.expected(Resource::Customers, |c| int(c, "created") < JAN_1_2026);
    assert!(before.len() > 5, "{before:?}");
    assert_rows(&ran, &before[..5]);
    assert!(ran.result.truncated);
}

#[test]
fn subscriptions_without_a_status_filter_include_canceled_ones() {
    let w = world();
    let ran = w.query(r#"{"list":"subscriptions"}"#);
    assert_eq!(
        ran.queries,
        ["status=all&limit=100"],
        "no status filter → status=all, or Stripe would leave canceled subscriptions out"
    );
    assert_rows(&ran, &w.emu.ids(Resource::Subscriptions));
    let statuses: BTreeSet<String> = ran.texts("status").into_iter().flatten().collect();
    assert!(
        statuses.contains("canceled") && statuses.contains("active"),
        "{statuses:?}"
    );

    // Stripe's `ended` means canceled or incomplete_expired.
    let ran = w.query(r#"{"list":"subscriptions","filters":{"status":"ended"}}"#);
    assert_eq!(ran.queries, ["status=ended&limit=100"]);
    let ended = |s: &Value| matches!(str_of(s, "status"), Some("canceled" | "incomplete_expired"));
    assert_rows(&ran, &w.expected(Resource::Subscriptions, ended));
}

#[test]
fn subscriptions_filters() {
    let w = world();
    let subs = w.objects(Resource::Subscriptions);

    // created, with the status=all default after it.
    let ran = w.query(r#"{"list":"subscriptions","filters":{"created":{"gte":"2026-03-01"}}}"#);
    assert_eq!(
        ran.queries,
        ["created%5Bgte%5D=1772323200&status=all&limit=100"]
    );
    ran.all_int("created", |t| t >= MAR_1_2026);
    assert_rows(
        &ran,
        &w.expected(Resource::Subscriptions, |s| int(s, "created") >= MAR_1_2026),
    );

    // customer: the owner of a canceled subscription, so that the default status=all shows it too.
    let canceled = subs
        .iter()
        .find(|s| str_of(s, "status") == Some("canceled") && s["customer"].is_string())
        .expect("a canceled subscription");
    let cus = str_of(canceled, "customer").expect("customer");
    let ran = w.query(&format!(
        r#"{{"list":"subscriptions","filters":{{"customer":"{cus}"}}}}"#
    ));
    // An id needs no escaping: letters, digits and '_' go as they are.
    assert_eq!(
        ran.queries,
        [format!("customer={cus}&status=all&limit=100")]
    );
    ran.all_text("customer", cus);
    assert_rows(
        &ran,
        &w.expected(Resource::Subscriptions, |s| {
            str_of(s, "customer") == Some(cus)
        }),
    );
    assert!(ran.texts("status").contains(&Some("canceled".into())));

    // status
    for status in ["active", "canceled", "past_due"] {
        let ran = w.query(&format!(
            r#"{{"list":"subscriptions","filters":{{"status":"{status}"}}}}"#
        ));
        assert_eq!(ran.queries, [format!("status={status}&limit=100")]);
        ran.all_text("status", status);
        assert_rows(
            &ran,
            &w.expected(Resource::Subscriptions, |s| {
                str_of(s, "status") == Some(status)
            }),
        );
    }

    // collection_method
    let ran = w.query(r#"{"list":"subscriptions","filters":{"collection_method":"send_invoice"}}"#);
    assert_eq!(
        ran.queries,
        ["collection_method=send_invoice&status=all&limit=100"]
    );
    ran.all_text("collection_method", "send_invoice");
    assert_rows(
        &ran,
        &w.expected(Resource::Subscriptions, |s| {
            str_of(s, "collection_method") == Some("send_invoice")
        }),
    );

    // current_period_end, as Stripe filters it (the earliest item end, the column's value): the renewals
    // due before a cutoff among active subscriptions, and a second bound. A subscription without items
    // has no period and never matches.
    let mut ends: Vec<i64> = subs.iter().filter_map(period_end).collect();
    ends.sort_unstable();
    let cutoff = ends[ends.len() / 2];
    let ran = w.query(&format!(
        r#"{{"list":"subscriptions","filters":{{"status":"active","current_period_end":{{"lt":{cutoff}}}}}}}"#
    ));
    assert_eq!(
        ran.queries,
        [format!(
            "current_period_end%5Blt%5D={cutoff}&status=active&limit=100"
        )]
    );
    ran.all_int("current_period_end", |t| t < cutoff);
    assert_rows(
        &ran,
        &w.expected(Resource::Subscriptions, |s| {
            str_of(s, "status") == Some("active") && period_end(s).is_some_and(|t| t < cutoff)
        }),
    );
    let starts: Vec<i64> = subs.iter().filter_map(period_start).collect();
    let from = starts[starts.len() / 3];
    let ran = w.query(&format!(
        r#"{{"list":"subscriptions","filters":{{"current_period_start":{{"gte":{from}}},"current_period_end":{{"gte":{cutoff}}}}}}}"#
    ));
    assert_eq!(
        ran.queries,
        [format!(
            "current_period_start%5Bgte%5D={from}&current_period_end%5Bgte%5D={cutoff}&status=all&limit=100"
        )]
    );
    assert_rows(
        &ran,
        &w.expected(Resource::Subscriptions, |s| {
            period_start(s).is_some_and(|t| t >= from) && period_end(s).is_some_and(|t| t >= cutoff)
        }),
    );

    // All four at once, written in another order: sent in the canonical order.
    let s = subs
        .iter()
        .find(|s| str_of(s, "status") == Some("active") && s["customer"].is_string())
        .expect("an active subscription");
    let (cus, cm, created) = (
        str_of(s, "customer").expect("customer"),
        str_of(s, "collection_method").expect("collection_method"),
        int(s, "created"),
    );
    let ran = w.query(&format!(
        r#"{{"list":"subscriptions","limit":50,"filters":{{"collection_method":"{cm}","status":"active","customer":"{cus}","created":{{"lte":{created}}}}}}}"#
    ));
    assert_eq!(
        ran.queries,
        [format!(
            "created%5Blte%5D={created}&customer={cus}&status=active&collection_method={cm}&limit=50"
        )]
    );
    ran.all_int("created", |t| t <= created);
    ran.all_text("customer", cus);
    ran.all_text("status", "active");
    ran.all_text("collection_method", cm);
    assert_rows(
        &ran,
        &w.expected(Resource::Subscriptions, |x| {
            int(x, "created") <= created
                && str_of(x, "customer") == Some(cus)
                && str_of(x, "status") == Some("active")
                && str_of(x, "collection_method") == Some(cm)
        }),
    );
}

/// A subscription's current period from its items, as Stripe's list filters read it: the latest item
/// start and the earliest item end (`None` without items).
fn period_start(sub: &Value) -> Option<i64> {
    item_times(sub, "current_period_start").max()
}

fn period_end(sub: &Value) -> Option<i64> {
    item_times(sub, "current_period_end").min()
}

fn item_times<'a>(sub: &'a Value, key: &'a str) -> impl Iterator<Item = i64> + 'a {
    sub["items"]["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(move |item| item[key].as_i64())
}

/// `parent.subscription_details.subscription` of an invoice: the subscription that produced it.
fn invoice_subscription(inv: &Value) -> Option<&str> {
    inv["parent"]["subscription_details"]["subscription"].as_str()
}

#[test]
fn invoices_filters() {
    let w = world();
    let invoices = w.objects(Resource::Invoices);

    // created: a week given as two dates.
    let ran = w.query(
        r#"{"list":"invoices","filters":{"created":{"gte":"2026-04-01","lt":"2026-04-08"}}}"#,
    );
    assert_eq!(
        ran.queries,
        ["created%5Bgte%5D=1775001600&created%5Blt%5D=1775606400&limit=100"]
    );
    ran.all_int("created", |t| (APR_1_2026..APR_8_2026).contains(&t));
    assert_rows(
        &ran,
        &w.expected(Resource::Invoices, |i| {
            (APR_1_2026..APR_8_2026).contains(&int(i, "created"))
        }),
    );

    // customer
    let cus = invoices
        .iter()
        .find_map(|i| str_of(i, "customer"))
        .expect("an invoice with a customer");
    let ran = w.query(&format!(
        r#"{{"list":"invoices","filters":{{"customer":"{cus}"}}}}"#
    ));
    assert_eq!(ran.queries, [format!("customer={cus}&limit=100")]);
    ran.all_text("customer", cus);
    assert_rows(
        &ran,
        &w.expected(Resource::Invoices, |i| str_of(i, "customer") == Some(cus)),
    );

    // subscription
    let sub = invoices
        .iter()
        .find_map(invoice_subscription)
        .expect("an invoice produced by a subscription");
    let ran = w.query(&format!(
        r#"{{"list":"invoices","filters":{{"subscription":"{sub}"}}}}"#
    ));
    assert_eq!(ran.queries, [format!("subscription={sub}&limit=100")]);
    ran.all_text("subscription", sub);
    assert_rows(
        &ran,
        &w.expected(Resource::Invoices, |i| invoice_subscription(i) == Some(sub)),
    );

    // status
    for status in ["open", "void", "uncollectible"] {
        let ran = w.query(&format!(
            r#"{{"list":"invoices","filters":{{"status":"{status}"}}}}"#
        ));
        assert_eq!(ran.queries, [format!("status={status}&limit=100")]);
        ran.all_text("status", status);
        assert_rows(
            &ran,
            &w.expected(Resource::Invoices, |i| str_of(i, "status") == Some(status)),
        );
    }

    // collection_method
    let ran = w.query(r#"{"list":"invoices","filters":{"collection_method":"send_invoice"}}"#);
    assert_eq!(ran.queries, ["collection_method=send_invoice&limit=100"]);
    ran.all_text("collection_method", "send_invoice");
    assert_rows(
        &ran,
        &w.expected(Resource::Invoices, |i| {
            str_of(i, "collection_method") == Some("send_invoice")
        }),
    );

    // due_date: the overdue invoices (open, due before a date). Only send_invoice invoices have a due
    // date; the others never match a range.
    let open_dues: Vec<i64> = invoices
        .iter()
        .filter(|i| str_of(i, "status") == Some("open"))
        .filter_map(|i| i["due_date"].as_i64())
        .collect();
    assert!(
        invoices.iter().any(|i| i["due_date"].is_null()),
        "some invoices have no due date"
    );
    let today = open_dues
        .iter()
        .max()
        .expect("an open invoice with a due date")
        + 1;
    let ran = w.query(&format!(
        r#"{{"list":"invoices","filters":{{"status":"open","due_date":{{"lt":{today}}}}}}}"#
    ));
    assert_eq!(
        ran.queries,
        [format!("due_date%5Blt%5D={today}&status=open&limit=100")]
    );
    ran.all_text("status", "open");
    ran.all_int("due_date", |t| t < today);
    assert_rows(
        &ran,
        &w.expected(Resource::Invoices, |i| {
            str_of(i, "status") == Some("open") && i["due_date"].as_i64().is_some_and(|d| d < today)
        }),
    );
    // A date as the bound, every status.
    let ran = w.query(r#"{"list":"invoices","filters":{"due_date":{"gte":"2026-03-01"}}}"#);
    assert_eq!(ran.queries, ["due_date%5Bgte%5D=1772323200&limit=100"]);
    assert_rows(
        &ran,
        &w.expected(Resource::Invoices, |i| {
            i["due_date"].as_i64().is_some_and(|d| d >= MAR_1_2026)
        }),
    );

    // All five at once, from one paid subscription invoice.
    let inv = invoices
        .iter()
        .find(|i| str_of(i, "status") == Some("paid") && invoice_subscription(i).is_some())
        .expect("a paid subscription invoice");
    let (cus, sub, cm, created) = (
        str_of(inv, "customer").expect("customer"),
        invoice_subscription(inv).expect("subscription"),
        str_of(inv, "collection_method").expect("collection_method"),
        int(inv, "created"),
    );
    let ran = w.query(&format!(
        r#"{{"list":"invoices","filters":{{"status":"paid","subscription":"{sub}","collection_method":"{cm}","customer":"{cus}","created":{{"gte":{created}}}}}}}"#
    ));
    assert_eq!(
        ran.queries,
        [format!(
            "created%5Bgte%5D={created}&customer={cus}&subscription={sub}&status=paid&collection_method={cm}&limit=100"
        )]
    );
    ran.all_int("created", |t| t >= created);
    ran.all_text("customer", cus);
    ran.all_text("subscription", sub);
    ran.all_text("status", "paid");
    ran.all_text("collection_method", cm);
    assert_rows(
        &ran,
        &w.expected(Resource::Invoices, |i| {
            int(i, "created") >= created
                && str_of(i, "customer") == Some(cus)
                && invoice_subscription(i) == Some(sub)
                && str_of(i, "status") == Some("paid")
                && str_of(i, "collection_method") == Some(cm)
        }),
    );
}

#[test]
fn charges_filters_with_status_applied_by_the_connector() {
    let w = world();
    let charges = w.objects(Resource::Charges);
    let ids = w.emu.ids(Resource::Charges);
    assert!(
        ids.len() > 100,
        "more than one page of charges, to see the status scan page"
    );

    // created
    let t = int(&charges[20], "created");
    let ran = w.query(&format!(
        r#"{{"list":"charges","filters":{{"created":{{"gte":{t}}}}}}}"#
    ));
    assert_eq!(ran.queries, [format!("created%5Bgte%5D={t}&limit=100")]);
    ran.all_int("created", |c| c >= t);
    assert_rows(
        &ran,
        &w.expected(Resource::Charges, |c| int(c, "created") >= t),
    );

    // customer
    let cus = charges
        .iter()
        .find_map(|c| str_of(c, "customer"))
        .expect("a charge with a customer");
    let ran = w.query(&format!(
        r#"{{"list":"charges","filters":{{"customer":"{cus}"}}}}"#
    ));
    assert_eq!(ran.queries, [format!("customer={cus}&limit=100")]);
    ran.all_text("customer", cus);
    assert_rows(
        &ran,
        &w.expected(Resource::Charges, |c| str_of(c, "customer") == Some(cus)),
    );

    // status: never sent to Stripe (its charges list has no such parameter); every charge is read, in
    // full pages, and the others skipped. The first page shows more may be needed (up to the scan
    // bound), so the rest is read as two `created` windows at once, split at one second: the newer
    // after the first page's last charge, the older from its top.
    let ran = w.query(r#"{"list":"charges","filters":{"status":"failed"}}"#);
    assert_eq!(ran.queries.len(), 3, "{:?}", ran.queries);
    assert_eq!(ran.queries[0], "limit=100");
    let mut rest = ran.queries[1..].to_vec();
    rest.sort();
    let split = rest[0]
        .strip_prefix("created%5Bgte%5D=")
        .and_then(|r| r.split('&').next())
        .unwrap_or_else(|| panic!("a window after the first page: {rest:?}"));
    assert_eq!(
        rest,
        [
            format!(
                "created%5Bgte%5D={split}&limit=100&starting_after={}",
                ids[99]
            ),
            format!("created%5Blt%5D={split}&limit=100"),
        ]
    );
    ran.all_text("status", "failed");
    assert_rows(
        &ran,
        &w.expected(Resource::Charges, |c| str_of(c, "status") == Some("failed")),
    );
    assert!(!ran.result.truncated);

    // With a limit the pages stay full-size (most charges do not pass the filter), and the scan stops
    // once enough rows passed.
    let ran = w.query(r#"{"list":"charges","filters":{"status":"succeeded"},"limit":3}"#);
    assert_eq!(ran.queries, ["limit=100"]);
    ran.all_text("status", "succeeded");
    let succeeded = w.expected(Resource::Charges, |c| {
        str_of(c, "status") == Some("succeeded")
    });
    assert_rows(&ran, &succeeded[..3]);
    assert!(ran.result.truncated);

    // status with the filters Stripe does apply.
    let c = charges
        .iter()
        .find(|c| str_of(c, "status") == Some("succeeded") && c["customer"].is_string())
        .expect("a succeeded charge with a customer");
    let (cus, created) = (str_of(c, "customer").expect("customer"), int(c, "created"));
    let ran = w.query(&format!(
        r#"{{"list":"charges","filters":{{"status":"succeeded","customer":"{cus}","created":{{"lte":{created}}}}}}}"#
    ));
    assert_eq!(
        ran.queries,
        [format!(
            "created%5Blte%5D={created}&customer={cus}&limit=100"
        )]
    );
    ran.all_text("status", "succeeded");
    ran.all_text("customer", cus);
    ran.all_int("created", |t| t <= created);
    assert_rows(
        &ran,
        &w.expected(Resource::Charges, |x| {
            str_of(x, "status") == Some("succeeded")
                && str_of(x, "customer") == Some(cus)
                && int(x, "created") <= created
        }),
    );
}

#[test]
fn payouts_filters() {
    let w = world();
    let payouts = w.objects(Resource::Payouts);

    // created
    let ran =
        w.query(r#"{"list":"payouts","filters":{"created":{"lt":"2026-01-01"}},"limit":100}"#);
    assert_eq!(ran.queries, ["created%5Blt%5D=1767225600&limit=100"]);
    ran.all_int("created", |t| t < JAN_1_2026);
    assert_rows(
        &ran,
        &w.expected(Resource::Payouts, |p| int(p, "created") < JAN_1_2026),
    );

    // arrival_date: a date, an exact second, two bounds.
    let ran = w.query(r#"{"list":"payouts","filters":{"arrival_date":{"gte":"2026-03-01"}}}"#);
    assert_eq!(ran.queries, ["arrival_date%5Bgte%5D=1772323200&limit=100"]);
    ran.all_int("arrival_date", |t| t >= MAR_1_2026);
    assert_rows(
        &ran,
        &w.expected(Resource::Payouts, |p| int(p, "arrival_date") >= MAR_1_2026),
    );

    let at = int(&payouts[5], "arrival_date");
    let ran = w.query(&format!(
        r#"{{"list":"payouts","filters":{{"arrival_date":{at}}}}}"#
    ));
    assert_eq!(ran.queries, [format!("arrival_date={at}&limit=100")]);
    ran.all_int("arrival_date", |t| t == at);
    assert_rows(
        &ran,
        &w.expected(Resource::Payouts, |p| int(p, "arrival_date") == at),
    );

    let (lo, hi) = (
        int(&payouts[15], "arrival_date"),
        int(&payouts[2], "arrival_date"),
    );
    let ran = w.query(&format!(
        r#"{{"list":"payouts","filters":{{"arrival_date":{{"lt":{hi},"gte":{lo}}}}}}}"#
    ));
    assert_eq!(
        ran.queries,
        [format!(
            "arrival_date%5Bgte%5D={lo}&arrival_date%5Blt%5D={hi}&limit=100"
        )]
    );
    ran.all_int("arrival_date", |t| (lo..hi).contains(&t));
    assert_rows(
        &ran,
        &w.expected(Resource::Payouts, |p| {
            (lo..hi).contains(&int(p, "arrival_date"))
        }),
    );

    // status: applied by the connector, never sent (Stripe's list takes no in_transit, and the emulator
    // answers it as Stripe has been reported to: with every payout).
    for status in ["in_transit", "paid", "canceled"] {
        let ran = w.query(&format!(
            r#"{{"list":"payouts","filters":{{"status":"{status}"}}}}"#
        ));
        ran.all_text("status", status);
        assert_rows(
            &ran,
            &w.expected(Resource::Payouts, |p| str_of(p, "status") == Some(status)),
        );
        assert_eq!(ran.queries, ["limit=100"]);
    }

    // All three.
    let ran = w.query(&format!(
        r#"{{"list":"payouts","filters":{{"status":"paid","arrival_date":{{"lte":{hi}}},"created":{{"gt":"2025-06-01T00:00:00Z"}}}}}}"#
    ));
    let jun_1_2025 = 1_748_736_000;
    assert_eq!(
        ran.queries,
        [format!(
            "created%5Bgt%5D={jun_1_2025}&arrival_date%5Blte%5D={hi}&limit=100"
        )]
    );
    ran.all_text("status", "paid");
    ran.all_int("arrival_date", |t| t <= hi);
    ran.all_int("created", |t| t > jun_1_2025);
    assert_rows(
        &ran,
        &w.expected(Resource::Payouts, |p| {
            str_of(p, "status") == Some("paid")
                && int(p, "arrival_date") <= hi
                && int(p, "created") > jun_1_2025
        }),
    );
}

#[test]
fn invalid_queries_are_refused_before_any_request() {
    let w = world();
    w.emu.clear_requests();
    let cases: &[(&str, &str)] = &[
        (r#"{"list":"refunds"}"#, "unknown table 'refunds'"),
        (r#"{"list":"Customers"}"#, "unknown table 'Customers'"),
        (
            r#"{"list":"customers","filters":{"email":"a@example.com"}}"#,
            "unknown filter 'email' for table customers: allowed filters are: created",
        ),
        // Filters that exist, on a table that does not have them.
        (
            r#"{"list":"customers","filters":{"status":"active"}}"#,
            "unknown filter 'status' for table customers",
        ),
        (
            r#"{"list":"charges","filters":{"subscription":"sub_1Pgc6rB7WZ01zgkW"}}"#,
            "unknown filter 'subscription' for table charges: allowed filters are: created, customer, status",
        ),
        (
            r#"{"list":"payouts","filters":{"customer":"cus_QXg1o8vcGmoR32"}}"#,
            "unknown filter 'customer' for table payouts",
        ),
        (
            r#"{"list":"subscriptions","filters":{"arrival_date":{"gte":"2026-01-01"}}}"#,
            "unknown filter 'arrival_date' for table subscriptions",
        ),
        // expand, at the top or as a filter.
        (
            r#"{"list":"subscriptions","expand":["data.customer"]}"#,
            "unknown key 'expand'",
        ),
        (
            r#"{"list":"invoices","filters":{"expand":"data.customer"}}"#,
            "unknown filter 'expand' for table invoices",
        ),
        // Write verbs do not exist.
        (r#"{"delete":"customers"}"#, "unknown key 'delete'"),
        (
            r#"{"update":"customers","id":"cus_QXg1o8vcGmoR32"}"#,
            "unknown key 'update'",
        ),
        (
            r#"{"list":"charges","create":{"amount":100}}"#,
            "unknown key 'create'",
        ),
        // limit
        (r#"{"list":"customers","limit":0}"#, "'limit' must be a whole number ≥ 1"),
        (r#"{"list":"customers","limit":-5}"#, "'limit' must be a whole number ≥ 1"),
        (r#"{"list":"customers","limit":2.5}"#, "'limit' must be a whole number ≥ 1"),
        (r#"{"list":"customers","limit":10.0}"#, "'limit' must be a whole number ≥ 1"),
        (r#"{"list":"customers","limit":1e2}"#, "'limit' must be a whole number ≥ 1"),
        (r#"{"list":"customers","limit":"10"}"#, "'limit' must be a whole number ≥ 1"),
        // Values: an enum member, an id that would need escaping, ranges.
        (
            r#"{"list":"subscriptions","filters":{"status":"Active"}}"#,
            "filter 'status' for table subscriptions must be one of: active, all,",
        ),
        (
            r#"{"list":"charges","filters":{"status":"refunded"}}"#,
            "must be one of: succeeded, pending, failed",
        ),
        (
            r#"{"list":"invoices","filters":{"customer":"cus_1&limit=1"}}"#,
            "filter 'customer' for table invoices must be a customer id",
        ),
        (
            r#"{"list":"invoices","filters":{"subscription":"cus_QXg1o8vcGmoR32"}}"#,
            "filter 'subscription' for table invoices must be a subscription id",
        ),
        (
            r#"{"list":"customers","filters":{"created":"2026-01-01"}}"#,
            "a date goes inside a range object",
        ),
        (
            r#"{"list":"customers","filters":{"created":{"gte":"2026-02-30"}}}"#,
            "is not a valid date",
        ),
        (
            r#"{"list":"customers","filters":{"created":{"gte":1767225600000}}}"#,
            "not milliseconds",
        ),
        (
            r#"{"list":"customers","filters":{"created":{"gt":5,"gte":6}}}"#,
            "gt and gte together",
        ),
        (
            r#"{"list":"payouts","filters":{"arrival_date":{"gte":"2026-02-01","lt":"2026-01-01"}}}"#,
            "the range is empty",
        ),
        (r#"{"filters":{"created":1}}"#, "no 'list' key"),
        (r#"["customers"]"#, "must be a JSON object"),
        (r#"{"list":"customers""#, "not valid JSON"),
    ];
    for (dsl, wanted) in cases {
        let message = w.invalid(dsl);
        assert!(
            message.contains(wanted),
            "{dsl}: {message:?} lacks {wanted:?}"
        );
    }
    assert_eq!(w.emu.requests(), [], "an invalid query makes no request");
}

/// The JSON-free check of every cell: Integer for integer/amount/timestamp, Text for id/text/currency,
/// Boolean for boolean, Null only in a nullable column.
fn cell_fits(kind: wit::ColumnType, nullable: bool, cell: &wit::Cell) -> bool {
    use wit::ColumnType as T;
    match cell {
        wit::Cell::Null => nullable,
        wit::Cell::Integer(_) => matches!(kind, T::Integer | T::Amount | T::Timestamp),
        wit::Cell::Text(_) => matches!(kind, T::Id | T::Text | T::Currency),
        wit::Cell::Boolean(_) => matches!(kind, T::Boolean),
    }
}

#[test]
fn every_cell_has_its_columns_declared_type() {
    let w = world();
    let info = w.sandbox.describe().expect("describe");
    assert_eq!(info.tables.len(), Resource::ALL.len());
    for (spec, resource) in info.tables.iter().zip(Resource::ALL) {
        assert_eq!(spec.name, resource.name());
        // Every object of the table (subscriptions of every status), over as many pages as it takes.
        let ran = w.query(&format!(r#"{{"list":"{}"}}"#, spec.name));
        assert_eq!(ran.result.table, spec.name);
        assert_eq!(
            ran.result.columns, spec.columns,
            "{}: the result's columns are the catalogue's",
            spec.name
        );
        assert_rows(&ran, &w.emu.ids(resource));
        assert!(!ran.result.truncated, "{}", spec.name);

        let mut never_set: BTreeSet<&str> = spec.columns.iter().map(|c| c.name.as_str()).collect();
        for row in &ran.result.rows {
            assert_eq!(row.len(), spec.columns.len(), "{}: {row:?}", spec.name);
            for (cell, col) in row.iter().zip(&spec.columns) {
                assert!(
                    cell_fits(col.kind, col.nullable, cell),
                    "{}.{} ({:?}, nullable {}) = {cell:?}",
                    spec.name,
                    col.name,
                    col.kind,
                    col.nullable
                );
                if *cell != wit::Cell::Null {
                    never_set.remove(col.name.as_str());
                }
            }
        }
        // So that no column's type went unchecked: the data set gives each a value somewhere.
        assert!(
            never_set.is_empty(),
            "{}: columns null in every row: {never_set:?}",
            spec.name
        );
    }
}

#[test]
fn boolean_filters_are_applied_by_the_connector() {
    // delinquent, cancel_at_period_end, refunded and disputed: never sent to Stripe (its lists have no
    // such parameters); every object is read and the others skipped, so the rows are exactly the
    // stored objects whose field is that boolean (a null never matches).
    let w = world();
    let is = |v: &Value, key: &str, want: bool| v[key].as_bool() == Some(want);
    let cases: [(&str, Resource, &str, bool); 6] = [
        ("customers", Resource::Customers, "delinquent", true),
        ("customers", Resource::Customers, "delinquent", false),
        (
            "subscriptions",
            Resource::Subscriptions,
            "cancel_at_period_end",
            false,
        ),
        ("charges", Resource::Charges, "refunded", true),
        ("charges", Resource::Charges, "disputed", true),
        ("charges", Resource::Charges, "disputed", false),
    ];
    for (table, resource, key, want) in cases {
        let dsl = format!(r#"{{"list":"{table}","filters":{{"{key}":{want}}},"limit":1000}}"#);
        let ran = w.query(&dsl);
        for q in &ran.queries {
            assert!(
                !q.contains(key),
                "{dsl}: {key} is not Stripe's parameter: {q}"
            );
        }
        let i = ran.col(key);
        for row in &ran.result.rows {
            assert_eq!(row[i], wit::Cell::Boolean(want), "{dsl}");
        }
        assert_rows(&ran, &w.expected(resource, |o| is(o, key, want)));
        assert!(!ran.result.truncated, "{dsl}");
    }

    // No subscription of this data is set to cancel at period end: none is returned, not an error.
    let ran = w.query(r#"{"list":"subscriptions","filters":{"cancel_at_period_end":true}}"#);
    assert!(w
        .expected(Resource::Subscriptions, |s| is(
            s,
            "cancel_at_period_end",
            true
        ))
        .is_empty());
    assert!(ran.result.rows.is_empty() && !ran.result.truncated);

    // With another filter, both must match: refunded charges that failed are none, succeeded ones some.
    let ran = w.query(
        r#"{"list":"charges","filters":{"refunded":true,"status":"succeeded"},"limit":1000}"#,
    );
    assert_rows(
        &ran,
        &w.expected(Resource::Charges, |c| {
            is(c, "refunded", true) && str_of(c, "status") == Some("succeeded")
        }),
    );
    // A string is not a boolean.
    let err = w.invalid(r#"{"list":"customers","filters":{"delinquent":"yes"}}"#);
    assert!(
        err.contains("filter 'delinquent' for table customers must be true or false (a JSON boolean); got the string 'yes'"),
        "{err}"
    );
}

#[test]
fn the_currency_filter_of_every_table_is_applied_by_the_connector() {
    // No Stripe list filters currency: every object is read and those of other currencies skipped. A
    // code in any case is read in lower case, as Stripe writes it.
    let w = world();
    for (table, resource) in [
        ("customers", Resource::Customers),
        ("subscriptions", Resource::Subscriptions),
        ("invoices", Resource::Invoices),
        ("charges", Resource::Charges),
        ("payouts", Resource::Payouts),
    ] {
        let ran = w.query(&format!(
            r#"{{"list":"{table}","filters":{{"currency":"USD"}},"limit":1000}}"#
        ));
        for q in &ran.queries {
            assert!(
                !q.contains("currency"),
                "{table}: not Stripe's parameter: {q}"
            );
        }
        ran.all_text("currency", "usd");
        assert_rows(
            &ran,
            &w.expected(resource, |o| str_of(o, "currency") == Some("usd")),
        );
    }
    // `truncated` says whether another match follows, not whether other objects do: a limit equal to
    // the matches is the whole answer (the connector reads on to the list's end to know it).
    let eur = w.expected(Resource::Payouts, |p| str_of(p, "currency") == Some("eur"));
    assert!(!eur.is_empty());
    for (limit, truncated) in [
        (eur.len(), false),
        (eur.len() - 1, true),
        (eur.len() + 5, false),
    ] {
        if limit == 0 {
            continue;
        }
        let ran = w.query(&format!(
            r#"{{"list":"payouts","filters":{{"currency":"eur"}},"limit":{limit}}}"#
        ));
        assert_eq!(ran.ids(), eur[..limit.min(eur.len())].to_vec());
        assert_eq!(
            ran.result.truncated,
            truncated,
            "limit {limit} of {}",
            eur.len()
        );
    }

    // With a measure of money: still grouped by currency (one group here), and counted as one.
    let ran = w.query(
        r#"{"list":"charges","filters":{"currency":"eur"},"group_by":["currency"],"measures":{"n":"count"}}"#,
    );
    let eur = w.expected(Resource::Charges, |c| str_of(c, "currency") == Some("eur"));
    assert_eq!(
        ran.result.rows,
        vec![vec![
            wit::Cell::Text("eur".into()),
            wit::Cell::Integer(eur.len() as i64)
        ]]
    );
    for bad in [r#""dollars""#, r#""us""#, "840", r#""€ur""#] {
        let err = w.invalid(&format!(
            r#"{{"list":"charges","filters":{{"currency":{bad}}}}}"#
        ));
        assert!(
            err.contains("filter 'currency' for table charges must be a three-letter ISO 4217 currency code, e.g. usd (any case); got"),
            "{bad}: {err}"
        );
    }
}

/// Charges of a customer Stripe does not know are Stripe's error, as its reference documents ("If you
/// provide a non-existent customer ID, this call throws an error"), not an empty list: the connector says
/// so with Stripe's message, after one request.
#[test]
fn charges_of_a_customer_stripe_does_not_know_are_an_error_not_an_empty_list() {
    let w = world();
    w.emu.clear_requests();
    let mut conn = w
        .sandbox
        .open(&config(keys::TEST_READ_ONLY, wit::Mode::Test))
        .expect("open");
    let dsl = r#"{"list":"charges","filters":{"customer":"cus_DoesNotExist0"}}"#;
    match conn.query(dsl) {
        Err(SandboxError::Connector(f)) => {
            assert_eq!(f.kind(), "upstream", "{f}");
            assert!(
                f.to_string()
                    .contains("No such customer: 'cus_DoesNotExist0'"),
                "{f}"
            );
        }
        other => panic!("{dsl}: expected Stripe's error, got {other:?}"),
    }
    assert_eq!(w.emu.requests().len(), 1);
}
