//! Issue 11 end to end: aggregates computed inside the component, through the built component, the host
//! and the emulator. Every aggregate is compared with what this file computes itself from the plain list
//! results of the same emulator data (every measure, every bucket, nulls, empty results, several
//! currencies, `limit`, the scan bound and its partial flag); invalid aggregates make no request; the CLI
//! prints aggregates in every format and remembers only their shapes.
//!
//! The tests share one compiled component and one emulator and take turns through a mutex, so each can
//! count exactly the requests its queries made.

use klairr_e2e::{
    emulator_with, keys, run_cli, run_cli_with_env, stripe_copy_connectors_dir, temp_dir, CliRun,
};
use klairr_host::emulator::{Emulator, EmulatorConfig, FixtureCustomer};
use klairr_host::registry;
use klairr_host::registry::STRIPE_COMPONENT;
use klairr_host::sandbox::{wit, ConnectionConfig, Sandbox, SandboxError};
use klairr_host::service::Service;
use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

const DAY: i64 = 86_400;
/// 2026-01-01T00:00:00Z, a Thursday.
const JAN_1_2026: i64 = 1_767_225_600;
/// Monday 2025-12-29: the start of the ISO week (2026-W01) that holds 2026-01-01.
const WEEK_OF_JAN_1_2026: i64 = 1_766_966_400;
/// Monday 2024-12-30: the start of 2025-W01.
const WEEK_OF_JAN_1_2025: i64 = 1_735_516_800;
/// 2025-01-01T00:00:00Z
const JAN_1_2025: i64 = 1_735_689_600;

struct World {
    emu: Emulator,
    sandbox: Sandbox,
}

/// Enough objects for many pages, several currencies, every status and two year boundaries (the
/// emulator spreads them over the two years before 2026-04-15), and customers never billed (no
/// currency).
fn data() -> EmulatorConfig {
    let unbilled = |name: &str, balance| FixtureCustomer {
        name: name.to_owned(),
        currency: None,
        balance,
    };
    EmulatorConfig {
        customers: 200,
        subscriptions: 400,
        invoices: 900,
        charges: 2500,
        payouts: 150,
        fixture_customers: vec![unbilled("Never Billed", 0), unbilled("Credit Only", -500)],
        ..EmulatorConfig::default()
    }
}

fn world() -> MutexGuard<'static, World> {
    static WORLD: OnceLock<Mutex<World>> = OnceLock::new();
    WORLD
        .get_or_init(|| {
            let emu = emulator_with(data());
            let sandbox = klairr_e2e::sandbox(&emu);
            Mutex::new(World { emu, sandbox })
        })
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

fn connection(max_rows: Option<u32>, max_scan: Option<u32>) -> ConnectionConfig {
    ConnectionConfig {
        max_rows,
        max_scan,
        ..ConnectionConfig::new(keys::TEST_READ_ONLY, wit::Mode::Test)
    }
}

impl World {
    /// Every row a list query of `table` with `filters` (JSON) returns, newest first, and the columns.
    fn list(&self, table: &str, filters: &str) -> (Vec<wit::Column>, Vec<Vec<wit::Cell>>) {
        let dsl = format!(r#"{{"list":"{table}","filters":{filters},"limit":100000}}"#);
        let mut conn = self
            .sandbox
            .open(&connection(Some(100_000), None))
            .expect("open");
        let r = conn.query(&dsl).unwrap_or_else(|e| panic!("{dsl}: {e}"));
        assert!(!r.truncated, "{dsl}: the whole list");
        assert!(r.aggregate.is_none());
        (r.columns, r.rows)
    }

    /// An aggregate's result, and the requests the emulator saw for it.
    fn aggregate(&self, dsl: &str, max_scan: Option<u32>) -> (wit::QueryResult, usize) {
        self.emu.clear_requests();
        let mut conn = self
            .sandbox
            .open(&connection(None, max_scan))
            .expect("open");
        let r = conn.query(dsl).unwrap_or_else(|e| panic!("{dsl}: {e}"));
        let requests = self.emu.requests().len();
        assert_eq!(r.requests as usize, requests, "{dsl}");
        (r, requests)
    }
}

// ---- the oracle: aggregates computed here from list rows -------------------------------------------

/// One aggregate, written once: the DSL is made from it and so is the expected result.
struct Spec<'a> {
    table: &'a str,
    filters: &'a str,
    /// Column, and bucket.
    group_by: &'a [(&'a str, Option<&'a str>)],
    /// Output name, measure, column.
    measures: &'a [(&'a str, &'a str, Option<&'a str>)],
    limit: Option<u32>,
}

impl Spec<'_> {
    fn dsl(&self) -> String {
        let groups: Vec<String> = self
            .group_by
            .iter()
            .map(|(c, b)| match b {
                None => format!("\"{c}\""),
                Some(b) => format!("{{\"{c}\":\"{b}\"}}"),
            })
            .collect();
        let measures: Vec<String> = self
            .measures
            .iter()
            .map(|(name, m, c)| match c {
                None => format!("\"{name}\":\"{m}\""),
                Some(c) => format!("\"{name}\":{{\"{m}\":\"{c}\"}}"),
            })
            .collect();
        let limit = self
            .limit
            .map_or(String::new(), |l| format!(",\"limit\":{l}"));
        format!(
            r#"{{"list":"{}","filters":{},"group_by":[{}],"measures":{{{}}}{limit}}}"#,
            self.table,
            self.filters,
            groups.join(","),
            measures.join(",")
        )
    }
}

/// A group value as this file sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum V {
    Int(i64),
    Bool(bool),
    Text(String),
    Null,
}

fn value(cell: &wit::Cell) -> V {
    match cell {
        wit::Cell::Null => V::Null,
        wit::Cell::Text(s) => V::Text(s.clone()),
        wit::Cell::Integer(i) => V::Int(*i),
        wit::Cell::Boolean(b) => V::Bool(*b),
    }
}

fn cell(v: &V) -> wit::Cell {
    match v {
        V::Null => wit::Cell::Null,
        V::Text(s) => wit::Cell::Text(s.clone()),
        V::Int(i) => wit::Cell::Integer(*i),
        V::Bool(b) => wit::Cell::Boolean(*b),
    }
}

/// The README's order: ascending, text by UTF-8 bytes, nulls last.
fn order(a: &V, b: &V) -> Ordering {
    match (a, b) {
        (V::Null, V::Null) => Ordering::Equal,
        (V::Null, _) => Ordering::Greater,
        (_, V::Null) => Ordering::Less,
        (V::Int(x), V::Int(y)) => x.cmp(y),
        (V::Bool(x), V::Bool(y)) => x.cmp(y),
        (V::Text(x), V::Text(y)) => x.as_bytes().cmp(y.as_bytes()),
        (x, y) => panic!("one column holds {x:?} and {y:?}"),
    }
}

/// The first second of `bucket` holding `t`, found by walking the calendar (not by the component's
/// arithmetic).
fn bucket_start(t: i64, bucket: &str) -> i64 {
    let (year, month, day, ..) = klairr_calendar::civil_from_unix(t);
    let first = match bucket {
        "day" => klairr_calendar::days_from_civil(year, month, day),
        "week" => {
            // Back to the Monday: 1970-01-04 (day 3) was a Sunday.
            let mut d = klairr_calendar::days_from_civil(year, month, day);
            while (d - 3).rem_euclid(7) != 1 {
                d -= 1;
            }
            d
        }
        "month" => klairr_calendar::days_from_civil(year, month, 1),
        "quarter" => {
            let first_month = [1, 1, 1, 4, 4, 4, 7, 7, 7, 10, 10, 10][(month - 1) as usize];
            klairr_calendar::days_from_civil(year, first_month, 1)
        }
        "year" => klairr_calendar::days_from_civil(year, 1, 1),
        other => panic!("bucket {other}"),
    };
    first * DAY
}

/// Every group of `spec` over `rows` (a list result with `columns`), in result order.
fn expected(
    spec: &Spec<'_>,
    columns: &[wit::Column],
    rows: &[Vec<wit::Cell>],
) -> Vec<Vec<wit::Cell>> {
    let at = |name: &str| {
        columns
            .iter()
            .position(|c| c.name == name)
            .unwrap_or_else(|| panic!("no column {name}"))
    };
    let mut groups: Vec<(Vec<V>, Vec<&Vec<wit::Cell>>)> = Vec::new();
    for row in rows {
        let key: Vec<V> = spec
            .group_by
            .iter()
            .map(|(c, b)| match (value(&row[at(c)]), b) {
                (V::Int(t), Some(b)) => V::Int(bucket_start(t, b)),
                (v, _) => v,
            })
            .collect();
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, members)) => members.push(row),
            None => groups.push((key, vec![row])),
        }
    }
    if spec.group_by.is_empty() && groups.is_empty() {
        groups.push((Vec::new(), Vec::new()));
    }
    groups.sort_by(|(a, _), (b, _)| {
        a.iter()
            .zip(b)
            .map(|(x, y)| order(x, y))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    });
    groups
        .into_iter()
        .map(|(key, members)| {
            let mut out: Vec<wit::Cell> = key.iter().map(cell).collect();
            for (_, measure, column) in spec.measures {
                let values: Vec<V> = match column {
                    None => Vec::new(),
                    Some(c) => members
                        .iter()
                        .map(|r| value(&r[at(c)]))
                        .filter(|v| *v != V::Null)
                        .collect(),
                };
                let ints: Vec<i64> = values
                    .iter()
                    .filter_map(|v| match v {
                        V::Int(i) => Some(*i),
                        _ => None,
                    })
                    .collect();
                out.push(match *measure {
                    "count" if column.is_none() => wit::Cell::Integer(members.len() as i64),
                    // A column's count: the rows where it is not null.
                    "count" => wit::Cell::Integer(values.len() as i64),
                    // Over no values unknown, as in SQL.
                    "sum" if ints.is_empty() => wit::Cell::Null,
                    "sum" => wit::Cell::Integer(
                        i64::try_from(ints.iter().map(|&i| i128::from(i)).sum::<i128>())
                            .expect("the test data's sums fit"),
                    ),
                    // f64 rounds half away from zero, as the README says the mean is rounded.
                    "avg" if ints.is_empty() => wit::Cell::Null,
                    "avg" => wit::Cell::Integer(
                        (ints.iter().map(|&i| i as f64).sum::<f64>() / ints.len() as f64).round()
                            as i64,
                    ),
                    "min" => ints
                        .iter()
                        .min()
                        .map_or(wit::Cell::Null, |m| wit::Cell::Integer(*m)),
                    "max" => ints
                        .iter()
                        .max()
                        .map_or(wit::Cell::Null, |m| wit::Cell::Integer(*m)),
                    "count_distinct" => {
                        let distinct: BTreeSet<String> =
                            values.iter().map(|v| format!("{v:?}")).collect();
                        wit::Cell::Integer(distinct.len() as i64)
                    }
                    other => panic!("measure {other}"),
                });
            }
            out
        })
        .collect()
}

/// Runs `spec` as an aggregate and checks it against the oracle over the list's rows: its columns, its
/// rows (the first `limit` groups), its group count, that it scanned every row, and `truncated`.
fn check(world: &World, spec: &Spec<'_>) -> wit::QueryResult {
    let (columns, rows) = world.list(spec.table, spec.filters);
    let want = expected(spec, &columns, &rows);
    let dsl = spec.dsl();
    let (r, _) = world.aggregate(&dsl, None);
    let names: Vec<String> = r.columns.iter().map(|c| c.name.clone()).collect();
    let mut want_names: Vec<String> = spec
        .group_by
        .iter()
        .map(|(c, b)| b.map_or_else(|| (*c).to_owned(), |b| format!("{c}_{b}")))
        .collect();
    want_names.extend(spec.measures.iter().map(|(n, ..)| (*n).to_owned()));
    assert_eq!(names, want_names, "{dsl}");
    let limit = spec.limit.map_or(1000, |l| l as usize);
    assert_eq!(r.rows, want[..want.len().min(limit)].to_vec(), "{dsl}");
    let stats = r.aggregate.expect("aggregate stats");
    assert_eq!(stats.groups, want.len() as u64, "{dsl}");
    assert!(!stats.partial, "{dsl}");
    // Everything matching was read (a post-filtered scan reads the others too).
    if !spec.filters.contains("\"status\"") || spec.table != "charges" {
        assert_eq!(stats.rows_scanned, rows.len() as u64, "{dsl}");
    }
    assert_eq!(r.truncated, want.len() > limit, "{dsl}");
    assert_eq!(r.table, spec.table);
    assert_eq!(r.shape.row_count, r.rows.len() as u64);
    r
}

// ---- every measure, on every table ----------------------------------------------------------------

#[test]
fn every_measure_on_every_table_matches_the_list_rows() {
    let w = world();
    let specs = [
        Spec {
            table: "customers",
            filters: "{}",
            group_by: &[("currency", None)],
            measures: &[
                ("n", "count", None),
                ("balance", "sum", Some("balance")),
                ("mean_balance", "avg", Some("balance")),
                ("lowest", "min", Some("balance")),
                ("highest", "max", Some("balance")),
                ("countries", "count_distinct", Some("address_country")),
                ("emails", "count_distinct", Some("email")),
                ("last", "max", Some("created")),
            ],
            limit: None,
        },
        Spec {
            table: "subscriptions",
            filters: "{}",
            group_by: &[("currency", None), ("status", None)],
            measures: &[
                ("n", "count", None),
                ("mrr", "sum", Some("mrr")),
                ("mean_mrr", "avg", Some("mrr")),
                ("items", "sum", Some("item_count")),
                ("mean_items", "avg", Some("item_count")),
                ("customers", "count_distinct", Some("customer")),
                ("latest_end", "max", Some("current_period_end")),
                ("earliest_trial_end", "min", Some("trial_end")),
            ],
            limit: None,
        },
        Spec {
            table: "invoices",
            filters: r#"{"status":"paid"}"#,
            group_by: &[("currency", None), ("collection_method", None)],
            measures: &[
                ("n", "count", None),
                ("total", "sum", Some("total")),
                ("mean_paid", "avg", Some("amount_paid")),
                ("smallest", "min", Some("amount_due")),
                ("largest", "max", Some("amount_remaining")),
                ("tries", "sum", Some("attempt_count")),
                ("first_paid", "min", Some("paid_at")),
                ("reasons", "count_distinct", Some("billing_reason")),
            ],
            limit: None,
        },
        Spec {
            table: "charges",
            filters: r#"{"created":{"gte":"2025-01-01"}}"#,
            group_by: &[("currency", None), ("status", None), ("refunded", None)],
            measures: &[
                ("n", "count", None),
                ("amount", "sum", Some("amount")),
                ("captured", "sum", Some("amount_captured")),
                ("refunded_amount", "sum", Some("amount_refunded")),
                ("mean", "avg", Some("amount")),
                ("customers", "count_distinct", Some("customer")),
                ("codes", "count_distinct", Some("failure_code")),
            ],
            limit: None,
        },
        Spec {
            table: "payouts",
            filters: "{}",
            group_by: &[("currency", None), ("method", None), ("status", None)],
            measures: &[
                ("n", "count", None),
                ("amount", "sum", Some("amount")),
                ("mean", "avg", Some("amount")),
                ("smallest", "min", Some("amount")),
                ("largest", "max", Some("amount")),
                ("last_arrival", "max", Some("arrival_date")),
                ("destinations", "count_distinct", Some("destination")),
            ],
            limit: None,
        },
    ];
    for spec in &specs {
        let r = check(&w, spec);
        assert!(r.rows.len() >= 2, "{}: several groups", spec.dsl());
    }
}

#[test]
fn active_mrr_by_currency_has_one_row_per_currency_never_added_across_them() {
    let w = world();
    let spec = Spec {
        table: "subscriptions",
        filters: r#"{"status":"active"}"#,
        group_by: &[("currency", None)],
        measures: &[
            ("subscriptions", "count", None),
            ("mrr", "sum", Some("mrr")),
        ],
        limit: None,
    };
    let r = check(&w, &spec);
    assert!(r.rows.len() >= 3, "several currencies: {:?}", r.rows);
    let kinds: Vec<wit::ColumnType> = r.columns.iter().map(|c| c.kind).collect();
    assert_eq!(
        kinds,
        [
            wit::ColumnType::Currency,
            wit::ColumnType::Integer,
            wit::ColumnType::Amount
        ]
    );
    // Without the currency the sum is refused, before any request.
    w.emu.clear_requests();
    let mut conn = w.sandbox.open(&connection(None, None)).expect("open");
    match conn.query(
        r#"{"list":"subscriptions","filters":{"status":"active"},"measures":{"mrr":{"sum":"mrr"}}}"#,
    ) {
        Err(SandboxError::Connector(f)) => {
            assert_eq!(f.kind(), "invalid-query");
            assert!(f.to_string().contains("Add \"currency\" to group_by"), "{f}");
        }
        other => panic!("{other:?}"),
    }
    assert!(w.emu.requests().is_empty());
}

#[test]
fn totals_without_group_by_and_nulls_skipped() {
    let w = world();
    // mrr is null for subscriptions with a tiered price: count counts them, sum and avg skip them,
    // and a count of mrr says how many rows a measure of mrr covered.
    let (columns, rows) = w.list("subscriptions", "{}");
    let mrr = columns.iter().position(|c| c.name == "mrr").expect("mrr");
    assert!(
        rows.iter().any(|r| r[mrr] == wit::Cell::Null),
        "the data has null mrr"
    );
    let r = check(
        &w,
        &Spec {
            table: "subscriptions",
            filters: "{}",
            group_by: &[],
            measures: &[
                ("n", "count", None),
                ("with_mrr", "count", Some("mrr")),
                ("ids", "count_distinct", Some("id")),
                // Nulls skipped by count_distinct too (of mrr it needs the currency: see the DSL's tests).
                ("trial_end_values", "count_distinct", Some("trial_end")),
                ("trial_ends", "min", Some("trial_end")),
                ("items", "sum", Some("item_count")),
            ],
            limit: None,
        },
    );
    let non_null = rows.iter().filter(|r| r[mrr] != wit::Cell::Null).count();
    assert!(non_null < rows.len() && non_null > 0);
    assert_eq!(
        r.rows[0][..2],
        [
            wit::Cell::Integer(rows.len() as i64),
            wit::Cell::Integer(non_null as i64)
        ]
    );
    // A nullable group column: customers never billed have no currency, their group comes last.
    let r = check(
        &w,
        &Spec {
            table: "customers",
            filters: "{}",
            group_by: &[("currency", None), ("delinquent", None)],
            measures: &[("n", "count", None), ("balance", "sum", Some("balance"))],
            limit: None,
        },
    );
    let last = r.rows.last().expect("groups");
    assert_eq!(last[0], wit::Cell::Null, "the null currency sorts last");
}

#[test]
fn empty_results_have_their_values_over_nothing() {
    let w = world();
    let future = r#"{"created":{"gte":"2030-01-01"}}"#;
    let totals = check(
        &w,
        &Spec {
            table: "invoices",
            filters: future,
            group_by: &[],
            measures: &[
                ("n", "count", None),
                ("tries", "sum", Some("attempt_count")),
                ("mean", "avg", Some("attempt_count")),
                ("first", "min", Some("created")),
                ("last", "max", Some("paid_at")),
                ("customers", "count_distinct", Some("customer")),
            ],
            limit: None,
        },
    );
    assert_eq!(
        totals.rows,
        vec![vec![
            wit::Cell::Integer(0),
            wit::Cell::Null,
            wit::Cell::Null,
            wit::Cell::Null,
            wit::Cell::Null,
            wit::Cell::Integer(0)
        ]]
    );
    assert_eq!(
        totals.aggregate.map(|a| (a.groups, a.rows_scanned)),
        Some((1, 0))
    );
    let grouped = check(
        &w,
        &Spec {
            table: "charges",
            filters: future,
            group_by: &[("currency", None)],
            measures: &[("n", "count", None), ("amount", "sum", Some("amount"))],
            limit: None,
        },
    );
    assert!(grouped.rows.is_empty());
    assert!(!grouped.truncated);
}

// ---- buckets ----------------------------------------------------------------------------------------

#[test]
fn every_bucket_matches_the_calendar_across_year_boundaries() {
    let w = world();
    // The oracle's own calendar walk, pinned: 2026-01-01 (a Thursday) is in the week from Monday
    // 2025-12-29; 2025-01-01 (a Wednesday) in the week from Monday 2024-12-30.
    assert_eq!(bucket_start(JAN_1_2026 + 3600, "week"), WEEK_OF_JAN_1_2026);
    assert_eq!(bucket_start(JAN_1_2025, "week"), WEEK_OF_JAN_1_2025);
    for bucket in ["day", "week", "month", "quarter", "year"] {
        let r = check(
            &w,
            &Spec {
                table: "charges",
                filters: "{}",
                group_by: &[("created", Some(bucket))],
                measures: &[
                    ("n", "count", None),
                    ("first", "min", Some("created")),
                    ("last", "max", Some("created")),
                    ("currencies", "count_distinct", Some("currency")),
                ],
                limit: Some(1000),
            },
        );
        if bucket == "week" {
            // The week that spans New Year is one group, named by its Monday in the old year, holding
            // charges from both years.
            for (monday, new_year) in [
                (WEEK_OF_JAN_1_2026, JAN_1_2026),
                (WEEK_OF_JAN_1_2025, JAN_1_2025),
            ] {
                let row = r
                    .rows
                    .iter()
                    .find(|row| row[0] == wit::Cell::Integer(monday))
                    .unwrap_or_else(|| panic!("a week from {monday}"));
                let (wit::Cell::Integer(first), wit::Cell::Integer(last)) = (&row[2], &row[3])
                else {
                    panic!("{row:?}")
                };
                assert!(
                    *first < new_year && *last >= new_year,
                    "week {monday}: charges from {first} to {last} on both sides of {new_year}"
                );
            }
        }
        if bucket == "quarter" {
            for row in &r.rows {
                let wit::Cell::Integer(start) = row[0] else {
                    panic!("{row:?}")
                };
                let (_, month, day, hour, ..) = klairr_calendar::civil_from_unix(start);
                assert!(
                    [1, 4, 7, 10].contains(&month) && day == 1 && hour == 0,
                    "{start}"
                );
            }
            assert!(r.rows.len() >= 8, "two years of quarters: {}", r.rows.len());
        }
    }
    // A nullable timestamp: unpaid invoices have no paid_at and make the last group.
    let r = check(
        &w,
        &Spec {
            table: "invoices",
            filters: "{}",
            group_by: &[("paid_at", Some("month")), ("currency", None)],
            measures: &[("n", "count", None), ("paid", "sum", Some("amount_paid"))],
            limit: None,
        },
    );
    assert_eq!(r.rows.last().map(|row| &row[0]), Some(&wit::Cell::Null));
}

#[test]
fn the_issues_example_failed_charges_per_month_and_currency() {
    let w = world();
    check(
        &w,
        &Spec {
            table: "charges",
            filters: r#"{"status":"failed","created":{"gte":"2025-06-01"}}"#,
            group_by: &[("created", Some("month")), ("currency", None)],
            measures: &[("n", "count", None), ("amount", "sum", Some("amount"))],
            limit: None,
        },
    );
}

// ---- limit and the scan bound -------------------------------------------------------------------------

#[test]
fn limit_caps_the_groups_and_says_how_many_there_were() {
    let w = world();
    let spec = Spec {
        table: "charges",
        filters: "{}",
        group_by: &[("currency", None), ("status", None)],
        measures: &[("n", "count", None), ("amount", "sum", Some("amount"))],
        limit: Some(3),
    };
    let r = check(&w, &spec);
    assert_eq!(r.rows.len(), 3);
    assert!(r.truncated);
    let stats = r.aggregate.expect("stats");
    assert!(stats.groups > 3 && !stats.partial, "{stats:?}");
    assert!(
        r.scan_note.is_none(),
        "more groups is not an incomplete scan"
    );
}

#[test]
fn the_scan_bound_makes_a_partial_result_over_the_newest_rows() {
    let w = world();
    let spec = Spec {
        table: "charges",
        filters: "{}",
        group_by: &[("currency", None)],
        measures: &[("n", "count", None), ("amount", "sum", Some("amount"))],
        limit: None,
    };
    let (columns, rows) = w.list("charges", "{}");
    for bound in [1, 250, 777] {
        let (r, requests) = w.aggregate(&spec.dsl(), Some(bound));
        let newest = &rows[..bound as usize];
        assert_eq!(r.rows, expected(&spec, &columns, newest), "bound {bound}");
        let stats = r.aggregate.expect("stats");
        assert_eq!(
            (stats.rows_scanned, stats.partial),
            (u64::from(bound), true),
            "bound {bound}"
        );
        assert!(r.truncated);
        let note = r.scan_note.expect("a note");
        assert!(
            note.contains(&format!(
                "its bound (max-scan {bound}) with more charges following"
            )) && note.contains(&format!(
                "covers the {bound} {} read only",
                if bound == 1 { "row" } else { "rows" }
            )) && note.contains("created range"),
            "{note}"
        );
        // About what one cursor reading that many rows needs.
        assert!(
            requests <= (bound as usize).div_ceil(100) * 5 / 4 + 3,
            "{requests}"
        );
    }
    // A bound the data fits in is not partial.
    let (r, _) = w.aggregate(&spec.dsl(), Some(rows.len() as u32));
    let stats = r.aggregate.expect("stats");
    assert_eq!(
        (stats.rows_scanned, stats.partial),
        (rows.len() as u64, false)
    );
    assert!(!r.truncated && r.scan_note.is_none());

    // With the status the connector filters itself, the bound counts the charges looked at.
    let failed = Spec {
        filters: r#"{"status":"failed"}"#,
        ..spec
    };
    let status = columns
        .iter()
        .position(|c| c.name == "status")
        .expect("status");
    let looked_at: Vec<Vec<wit::Cell>> = rows[..900]
        .iter()
        .filter(|r| r[status] == wit::Cell::Text("failed".into()))
        .cloned()
        .collect();
    assert!(!looked_at.is_empty());
    let (r, _) = w.aggregate(&failed.dsl(), Some(900));
    assert_eq!(r.rows, expected(&failed, &columns, &looked_at));
    let stats = r.aggregate.expect("stats");
    assert_eq!((stats.rows_scanned, stats.partial), (900, true));
}

/// A manifest's `max_scan_rows` bounds what an aggregate reads: `--max-scan` above it is refused before
/// anything runs, `describe` says so, and a connection that gives none reads that many rows at most and
/// says its answer is partial (QA: a manifest saying 500 let an aggregate read 2,000, unrefused); so
/// does a list's scan under a filter the connector applies.
#[test]
fn a_manifests_max_scan_rows_bounds_what_an_aggregate_or_a_filtered_list_reads() {
    let w = world();
    let (dir, _) = stripe_copy_connectors_dir("aggregates-max-scan", "narrow", STRIPE_COMPONENT);
    let manifest = dir.join("narrow.toml");
    let text = std::fs::read_to_string(&manifest).expect("manifest");
    let narrowed = text
        .replace("max_scan_rows = 1000000", "max_scan_rows = 500")
        .replace("min_scan_rows = 1000", "min_scan_rows = 100");
    assert_ne!(narrowed, text);
    std::fs::write(&manifest, narrowed).expect("write");
    let base = w.emu.base_url();
    let dir_arg = dir.to_str().expect("utf-8 path");
    let run = |args: &[&str]| {
        let mut all = vec![
            "--connectors",
            dir_arg,
            "--connector",
            "narrow",
            "--stripe-base",
            &base,
            "--compile-cache",
            "off",
            "--format",
            "json",
        ];
        all.extend_from_slice(args);
        run_cli_with_env(&all, &[("NARROW_API_KEY", keys::TEST_READ_ONLY)], "")
    };
    let described = run(&["describe"]);
    assert_eq!(described.code, 0, "{described:?}");
    let aggregates = &described.json()["aggregates"];
    assert_eq!(
        (
            &aggregates["max_scan_limit"],
            &aggregates["default_max_scan"]
        ),
        (&serde_json::json!(500), &serde_json::json!(500)),
        "{aggregates}"
    );
    let dsl = r#"{"list":"charges","group_by":["currency"],"measures":{"n":"count"}}"#;
    let refused = run(&["--max-scan", "2000", "query", dsl]);
    assert_eq!(refused.code, 2, "{refused:?}");
    let error = &refused.json()["error"];
    assert_eq!(error["kind"], "usage", "{error}");
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("must be 1 to 500")),
        "{error}"
    );
    let bounded = run(&["query", dsl]);
    assert_eq!(bounded.code, 0, "{bounded:?}");
    let answer = bounded.json();
    assert_eq!(
        (
            &answer["aggregate"]["rows_scanned"],
            &answer["aggregate"]["partial"]
        ),
        (&serde_json::json!(500), &serde_json::json!(true)),
        "{answer}"
    );
    // Neither the note nor the doc names a bound of the component's own that this manifest lowers:
    // the user is pointed at describe's figures, which are the manifest's.
    let note = answer["scan_note"].as_str().unwrap_or_default();
    assert!(
        note.contains("max-scan 500") && note.contains("max_scan_limit") && !note.contains("00000"),
        "{answer}"
    );
    let doc = aggregates["doc"].as_str().unwrap_or_default();
    assert!(
        doc.contains("default_max_scan") && !doc.contains("00000"),
        "{doc}"
    );
    // A list under a filter the connector applies stops there too (QA: it read 2.5 times the
    // manifest's bound, under the request ceiling), with a note that says what holds it.
    let listed = run(&[
        "query",
        r#"{"list":"charges","filters":{"status":"failed"},"limit":100}"#,
    ]);
    assert_eq!(listed.code, 0, "{listed:?}");
    let answer = listed.json();
    let note = answer["scan_note"].as_str().unwrap_or_default();
    assert!(
        note.starts_with("scanned 500 charges and found ")
            && note
                .contains("stopped at the scan bound of 500 objects (the connection's max-scan)"),
        "{answer}"
    );
    assert_eq!(answer["truncated"], serde_json::json!(true), "{answer}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_request_ceiling_follows_the_scan_bound_not_max_rows() {
    // 6,000 charges: 60 pages, more than the 50 requests a 10-row list query may make.
    let emu = emulator_with(EmulatorConfig {
        charges: 6000,
        ..EmulatorConfig::default()
    });
    let ceiling = registry::Connector::stripe()
        .manifest
        .calls
        .query_ceiling(10);
    assert!(ceiling < 60, "{ceiling}");
    let base = emu.base_url();
    let dsl = r#"{"list":"charges","group_by":["currency"],"measures":{"n":"count"}}"#;
    let run = run_cli(
        &[
            "--stripe-base",
            &base,
            "--compile-cache",
            "off",
            "--max-rows",
            "10",
            "--format",
            "json",
            "query",
            dsl,
        ],
        Some(keys::TEST_READ_ONLY),
    );
    assert_eq!(run.code, 0, "{run:?}");
    let v = run.json();
    assert_eq!(v["aggregate"]["rows_scanned"], 6000);
    assert_eq!(v["aggregate"]["partial"], false);
    let total: i64 = v["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r[1].as_i64().expect("count"))
        .sum();
    assert_eq!(total, 6000);
    assert!(v["requests"].as_u64().expect("requests") > u64::from(ceiling));
}

// ---- refusals -------------------------------------------------------------------------------------------

#[test]
fn invalid_aggregates_make_no_request() {
    let w = world();
    let base = w.emu.base_url();
    for dsl in [
        r#"{"list":"charges","measures":{"n":{"median":"amount"}}}"#,
        r#"{"list":"charges","measures":{"n":{"sum":"no_such_column"}}}"#,
        r#"{"list":"charges","group_by":["currency"],"measures":{"n":{"sum":"status"}}}"#,
        r#"{"list":"charges","group_by":[{"currency":"month"}],"measures":{"n":"count"}}"#,
        r#"{"list":"customers","group_by":["email"],"measures":{"n":"count"}}"#,
        r#"{"list":"charges","measures":{"n":"count","n":"count"}}"#,
        r#"{"list":"charges","measures":{"Total":"count"}}"#,
        r#"{"list":"charges","group_by":["status"],"measures":{"status":"count"}}"#,
        r#"{"list":"charges","group_by":["a","b","c","d","e"],"measures":{"n":"count"}}"#,
        r#"{"list":"charges","measures":{"a":"count","b":"count","c":"count","d":"count","e":"count","f":"count","g":"count","h":"count","i":"count"}}"#,
        r#"{"list":"charges","measures":{"amount":{"sum":"amount"}}}"#,
        r#"{"list":"charges","group_by":["status"]}"#,
    ] {
        w.emu.clear_requests();
        let run = run_cli(
            &[
                "--stripe-base",
                &base,
                "--compile-cache",
                "off",
                "--format",
                "json",
                "query",
                dsl,
            ],
            Some(keys::TEST_READ_ONLY),
        );
        assert_eq!(run.code, 2, "{dsl}: {run:?}");
        assert_eq!(run.json()["error"]["kind"], "invalid-query", "{dsl}");
        assert!(w.emu.requests().is_empty(), "{dsl} made a request");
    }
    // --max-scan outside 1..=1,000,000 is a usage error, before anything runs.
    for bad in ["0", "1000001"] {
        let run = run_cli(
            &[
                "--stripe-base",
                &base,
                "--max-scan",
                bad,
                "query",
                r#"{"list":"charges","measures":{"n":"count"}}"#,
            ],
            Some(keys::TEST_READ_ONLY),
        );
        assert_eq!(run.code, 2, "{bad}: {run:?}");
    }
}

// ---- the CLI, the cache and memory ----------------------------------------------------------------------

fn cli(w: &World, args: &[&str], dsl: &str) -> CliRun {
    let base = w.emu.base_url();
    let mut all = vec!["--stripe-base", base.as_str(), "--compile-cache", "off"];
    all.extend_from_slice(args);
    all.extend(["query", dsl]);
    run_cli(&all, Some(keys::TEST_READ_ONLY))
}

const MRR_BY_CURRENCY: &str = r#"{"list":"subscriptions","filters":{"status":"active"},"group_by":["currency"],"measures":{"subscriptions":"count","mrr":{"sum":"mrr"}}}"#;

#[test]
fn every_format_prints_aggregates_with_amounts_in_their_currency() {
    let w = world();
    let json = cli(&w, &["--format", "json"], MRR_BY_CURRENCY);
    assert_eq!(json.code, 0, "{json:?}");
    let v = json.json();
    assert_eq!(v["table"], "subscriptions");
    assert_eq!(v["columns"][0]["name"], "currency");
    assert_eq!(v["columns"][2]["type"], "amount");
    assert_eq!(v["aggregate"]["partial"], false);
    assert_eq!(v["memory_shape"]["aggregate"]["group_by"][0], "currency");
    // The measures as a set, sorted by name: `mrr` before `subscriptions`.
    assert_eq!(v["memory_shape"]["aggregate"]["measures"][0]["kind"], "sum");
    let rows = v["rows"].as_array().expect("rows");
    let usd = rows.iter().find(|r| r[0] == "usd").expect("a usd group");
    let cents = usd[2].as_i64().expect("mrr");

    let table = cli(&w, &[], MRR_BY_CURRENCY);
    assert_eq!(table.code, 0, "{table:?}");
    let major = format!("{}.{:02} USD", group_thousands(cents / 100), cents % 100);
    assert!(table.stdout.contains(&major), "{major}: {}", table.stdout);
    assert!(
        table
            .stdout
            .contains(&format!("{} groups from subscriptions", rows.len())),
        "{}",
        table.stdout
    );

    let csv = cli(&w, &["--format", "csv"], MRR_BY_CURRENCY);
    assert_eq!(csv.code, 0, "{csv:?}");
    assert!(
        csv.stdout.starts_with("currency,subscriptions,mrr\r\n"),
        "{}",
        csv.stdout
    );
    assert!(
        csv.stdout.contains(&format!(
            "usd,{},{}.{:02}\r\n",
            usd[1],
            cents / 100,
            cents % 100
        )),
        "{}",
        csv.stdout
    );
    let ndjson = cli(&w, &["--format", "ndjson"], MRR_BY_CURRENCY);
    assert_eq!(ndjson.code, 0, "{ndjson:?}");
    assert_eq!(ndjson.stdout.lines().count(), rows.len());

    // A partial scan says so in the table's footer and, for CSV, on stderr.
    let partial = cli(&w, &["--max-scan", "5"], MRR_BY_CURRENCY);
    assert_eq!(partial.code, 0, "{partial:?}");
    assert!(
        partial.stdout.contains("5 rows scanned"),
        "{}",
        partial.stdout
    );
    assert!(partial.stdout.contains("partial"), "{}", partial.stdout);
    let partial_csv = cli(&w, &["--max-scan", "5", "--format", "csv"], MRR_BY_CURRENCY);
    assert!(partial_csv.stderr.contains("--max-scan"), "{partial_csv:?}");
    assert!(
        partial_csv
            .stderr
            .contains("klairr-host: partial: the scan stopped after 5 rows"),
        "{partial_csv:?}"
    );
    assert!(
        !partial_csv.stderr.contains("the list goes on"),
        "{partial_csv:?}"
    );
    // Groups left out are told apart from a partial scan.
    let one_group = MRR_BY_CURRENCY.replacen('{', r#"{"limit":1,"#, 1);
    let cut = cli(&w, &["--format", "ndjson"], &one_group);
    assert_eq!(cut.code, 0, "{cut:?}");
    assert_eq!(cut.stdout.lines().count(), 1);
    assert!(
        cut.stderr.contains(&format!(
            "{} groups found, the first 1 printed; raise limit or --max-rows",
            rows.len()
        )),
        "{cut:?}"
    );
    assert!(!cut.stderr.contains("partial"), "{cut:?}");
}

fn group_thousands(n: i64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[test]
fn memory_keeps_the_shape_of_an_aggregate_and_none_of_its_values() {
    let w = world();
    let dir = temp_dir("aggregate-memory");
    let file = dir.join("memory.jsonl");
    let file_arg = file.to_string_lossy().into_owned();
    let run = cli(
        &w,
        &["--format", "json", "--memory-file", &file_arg],
        MRR_BY_CURRENCY,
    );
    assert_eq!(run.code, 0, "{run:?}");
    let v = run.json();
    let memory = std::fs::read_to_string(&file).expect("memory file");
    let record: serde_json::Value = serde_json::from_str(memory.trim()).expect("one JSON line");
    assert_eq!(record["table"], "subscriptions");
    assert_eq!(
        record["row_count"],
        v["rows"].as_array().expect("rows").len()
    );
    assert_eq!(
        record["aggregate"],
        serde_json::json!({"group_by": ["currency"], "measures": [
            {"name": "mrr", "kind": "sum"}, {"name": "subscriptions", "kind": "count"}]})
    );
    // No group value (currency codes) and no measure value (the MRR sums, all far above any count the
    // record holds) is in it.
    for row in v["rows"].as_array().expect("rows") {
        let currency = row[0].as_str().expect("a currency");
        assert!(
            !memory.contains(&format!("\"{currency}\"")),
            "{currency}: {memory}"
        );
        let mrr = row[2].as_i64().expect("mrr");
        if mrr > 10_000 {
            assert!(!memory.contains(&mrr.to_string()), "{mrr}: {memory}");
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn equivalent_aggregates_are_one_cache_entry() {
    let w = world();
    let stripe = registry::Connector::stripe();
    let sandbox = Sandbox::load(
        registry::STRIPE_COMPONENT,
        stripe.manifest,
        klairr_e2e::redirect_to(&w.emu, Default::default()),
    )
    .expect("load");
    let service = Service::new(sandbox, None);
    let mut session = service.open(&connection(None, None)).expect("open");
    let first = session.query(MRR_BY_CURRENCY).expect("first");
    assert!(!first.served.cached());
    let same = session
        .query(r#"{"measures":{"subscriptions":"count","mrr":{"sum":"mrr"}},"group_by":["currency"],"list":"subscriptions","filters":{"status":"active"}}"#)
        .expect("the same aggregate");
    assert!(
        same.served.cached(),
        "keys in another order: one cache entry"
    );
    assert_eq!(same.result.rows, first.result.rows);
    let other = session
        .query(r#"{"list":"subscriptions","filters":{"status":"active"},"group_by":["currency"],"measures":{"mrr":{"sum":"mrr"},"subscriptions":"count"}}"#)
        .expect("measures in another order");
    assert!(
        !other.served.cached(),
        "the measures' order is the columns' order"
    );
}

#[test]
fn the_demo_answers_active_mrr_by_currency() {
    let run = run_cli(&["--format", "json", "demo"], None);
    assert_eq!(run.code, 0, "{run:?}");
    let v = run.json();
    let answer = v["queries"]
        .as_array()
        .expect("queries")
        .iter()
        .find(|q| q["title"] == "Active MRR by currency")
        .expect("the demo asks for active MRR by currency");
    let result = &answer["result"];
    assert_eq!(result["aggregate"]["partial"], false);
    // The demo's emulator is the default one: the same data, listed and added up here.
    let emu = emulator_with(EmulatorConfig::default());
    let sandbox = klairr_e2e::sandbox(&emu);
    let mut conn = sandbox
        .open(&connection(Some(100_000), None))
        .expect("open");
    let list = conn
        .query(r#"{"list":"subscriptions","filters":{"status":"active"}}"#)
        .expect("list");
    let spec = Spec {
        table: "subscriptions",
        filters: r#"{"status":"active"}"#,
        group_by: &[("currency", None)],
        measures: &[
            ("subscriptions", "count", None),
            ("mrr_known", "count", Some("mrr")),
            ("mrr", "sum", Some("mrr")),
        ],
        limit: None,
    };
    let want: Vec<serde_json::Value> = expected(&spec, &list.columns, &list.rows)
        .iter()
        .map(|row| {
            serde_json::Value::Array(
                row.iter()
                    .map(|c| match c {
                        wit::Cell::Text(s) => serde_json::json!(s),
                        wit::Cell::Integer(i) => serde_json::json!(i),
                        other => panic!("{other:?}"),
                    })
                    .collect(),
            )
        })
        .collect();
    assert!(want.len() >= 2, "several currencies");
    // What the sum leaves out shows: a metered subscription has no mrr.
    assert!(
        want.iter().any(|row| row[1] != row[2]),
        "a group whose mrr_known is below its count: {want:?}"
    );
    assert_eq!(result["rows"], serde_json::Value::Array(want));
}

#[test]
fn order_by_with_limit_answers_a_top_n_question() {
    // "Our five biggest customers by charge volume": sorted inside the component over every group, then
    // cut to five; compared with the oracle's groups sorted here (a stable sort: ties keep group order).
    let w = world();
    let spec = Spec {
        table: "charges",
        filters: "{}",
        group_by: &[("currency", None), ("customer", None)],
        measures: &[("volume", "sum", Some("amount")), ("n", "count", None)],
        limit: None,
    };
    let (columns, rows) = w.list(spec.table, spec.filters);
    let mut want = expected(&spec, &columns, &rows);
    // Each currency's groups, largest volume first (amounts of two currencies are never compared).
    want.sort_by(|a, b| {
        order(&value(&a[0]), &value(&b[0])).then_with(|| match (value(&a[2]), value(&b[2])) {
            (V::Int(x), V::Int(y)) => y.cmp(&x),
            (x, y) => order(&x, &y),
        })
    });
    assert!(want.len() > 5, "enough groups to cut: {}", want.len());
    let base = spec.dsl();
    let dsl = format!(
        r#"{},"order_by":[{{"currency":"asc"}},{{"volume":"desc"}}],"limit":5}}"#,
        &base[..base.len() - 1]
    );
    let (r, _) = w.aggregate(&dsl, None);
    assert_eq!(r.rows, want[..5].to_vec(), "{dsl}");
    assert!(r.truncated, "more groups than five");
    let stats = r.aggregate.expect("stats");
    assert_eq!(stats.groups, want.len() as u64);
    assert!(!stats.partial);
    // Without order_by the same limit keeps the first five in group order: another answer.
    let unordered = format!(r#"{},"limit":5}}"#, &base[..base.len() - 1]);
    let (plain, _) = w.aggregate(&unordered, None);
    assert_ne!(plain.rows, r.rows);

    // Ascending, by a group column then a measure, through the CLI's JSON: the same oracle.
    let dsl = format!(
        r#"{},"order_by":[{{"currency":"desc"}},{{"n":"asc"}}]}}"#,
        &base[..base.len() - 1]
    );
    let (r, _) = w.aggregate(&dsl, None);
    let mut want = expected(&spec, &columns, &rows);
    want.sort_by(|a, b| {
        order(&value(&b[0]), &value(&a[0])).then_with(|| order(&value(&a[3]), &value(&b[3])))
    });
    // A null currency stays last although currency is sorted descending.
    want.sort_by_key(|row| matches!(row[0], wit::Cell::Null));
    assert_eq!(r.rows, want, "{dsl}");
}
