//! What the two fuzz targets share: the accepted/rejected tally printed when libFuzzer exits, the checks
//! every error message must pass, and the DSL text a validated query is rebuilt into for the round trip.
//!
//! The issue asks for the share of accepted inputs (≥ 10%): a fuzzer that only ever feeds the parsers
//! garbage exercises the refusal paths and nothing else. `fuzz/run.sh` greps the `fuzz share:` line.

pub mod mutate;

use klairr_stripe::aggregate::ResultColumn;
use klairr_stripe::dsl::Query;
use klairr_stripe::schema::Cell;
use mutate::Tokens;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Once, OnceLock};

/// What one input did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The parser returned `Ok` (and every check on the value held).
    Accepted,
    /// The parser returned a typed error (and its message passed [`check_message`]).
    Rejected,
    /// Not an input of this target (e.g. not UTF-8 for the DSL): the parser was not called.
    Skipped,
}

static TARGET: OnceLock<&'static str> = OnceLock::new();
static INPUTS: AtomicU64 = AtomicU64::new(0);
static ACCEPTED: AtomicU64 = AtomicU64::new(0);
static SKIPPED: AtomicU64 = AtomicU64::new(0);
static REGISTER: Once = Once::new();

extern "C" {
    // libc's atexit: libFuzzer ends a `-runs=N` session (and a corpus replay) with exit(0), which runs it.
    fn atexit(callback: extern "C" fn()) -> i32;
}

extern "C" fn print_share() {
    eprintln!("{}", share_line());
}

/// `fuzz share: dsl_parse: 1000000 inputs, 240000 accepted (24.0%), 300 skipped`.
pub fn share_line() -> String {
    let inputs = INPUTS.load(Ordering::Relaxed);
    let accepted = ACCEPTED.load(Ordering::Relaxed);
    let skipped = SKIPPED.load(Ordering::Relaxed);
    // Share of every input libFuzzer executed, skipped ones included in the denominator.
    let percent = if inputs == 0 {
        0.0
    } else {
        accepted as f64 * 100.0 / inputs as f64
    };
    format!(
        "fuzz share: {}: {inputs} inputs, {accepted} accepted ({percent:.1}%), {skipped} skipped",
        TARGET.get().copied().unwrap_or("?")
    )
}

/// Count one input of `target`; the first call arranges for [`share_line`] to be printed at exit.
pub fn count(target: &'static str, outcome: Outcome) {
    REGISTER.call_once(|| {
        let _ = TARGET.set(target);
        // SAFETY: `print_share` is a plain `extern "C" fn()` that only reads atomics and writes stderr.
        let registered = unsafe { atexit(print_share) };
        assert_eq!(registered, 0, "atexit refused the share printer");
    });
    INPUTS.fetch_add(1, Ordering::Relaxed);
    match outcome {
        Outcome::Accepted => {
            ACCEPTED.fetch_add(1, Ordering::Relaxed);
        }
        Outcome::Skipped => {
            SKIPPED.fetch_add(1, Ordering::Relaxed);
        }
        Outcome::Rejected => {}
    }
}

/// Longest error message accepted from either parser: the host caps what it prints at 1 KiB (issue 8),
/// and a guest message longer than that would be cut mid-sentence.
pub const MAX_MESSAGE_BYTES: usize = 1024;

fn clean(message: &str) -> bool {
    message.len() <= MAX_MESSAGE_BYTES && !message.chars().any(char::is_control)
}

/// A message shown to a user must say something, fit [`MAX_MESSAGE_BYTES`] and hold no control
/// characters: escape sequences from hostile input must not reach a terminal through it, and a hostile
/// body must not make it megabytes long.
pub fn check_message(what: &str, message: &str, input: &[u8]) {
    assert!(
        !message.trim().is_empty(),
        "{what}: empty error message for input {:?}",
        String::from_utf8_lossy(input)
    );
    assert!(
        clean(message),
        "{what}: error message of {} bytes (at most {MAX_MESSAGE_BYTES}, no control characters) for a {}-byte input: {message:.300?}",
        message.len(),
        input.len()
    );
}

/// The DSL text of a validated query: `parse(dsl_of(q), m)` must give `q` back (same table, parameters,
/// charge status, row target and aggregate). [`Query::canonical`] is a cache key (`customers?created=[5,*]#…`), not
/// DSL, so the round trip goes through this instead.
///
/// Only called after the target checked that every parameter value is `[0-9A-Za-z_]`, so no value needs
/// JSON escaping.
pub fn dsl_of(q: &Query) -> String {
    let mut filters: Vec<String> = Vec::new();
    // Range bounds of one key go into one object: ("created", ["\"gte\":5", "\"lt\":9"]).
    let mut ranges: Vec<(&str, Vec<String>)> = Vec::new();
    for (name, value) in &q.params {
        if let Some((base, op)) = name.strip_suffix(']').and_then(|n| n.split_once('[')) {
            let bound = format!("\"{op}\":{value}");
            match ranges.iter_mut().find(|(b, _)| *b == base) {
                Some((_, bounds)) => bounds.push(bound),
                None => ranges.push((base, vec![bound])),
            }
        } else if matches!(
            name.as_str(),
            "created" | "arrival_date" | "due_date" | "current_period_start" | "current_period_end"
        ) {
            filters.push(format!("\"{name}\":{value}"));
        } else {
            filters.push(format!("\"{name}\":\"{value}\""));
        }
    }
    for (base, bounds) in ranges {
        filters.push(format!("\"{base}\":{{{}}}", bounds.join(",")));
    }
    for f in &q.post_filters {
        filters.push(match &f.value {
            Cell::Text(v) => format!("\"{}\":\"{v}\"", f.key),
            Cell::Boolean(b) => format!("\"{}\":{b}", f.key),
            other => panic!("the DSL made a post-filter of {other:?}"),
        });
    }
    // Names in an aggregate are catalogue names and `[a-z][a-z0-9_]*` output names: no escaping.
    let aggregate = q.aggregate.as_ref().map_or_else(String::new, |a| {
        let groups: Vec<String> = a
            .group_by
            .iter()
            .map(|g| match g.bucket {
                None => format!("\"{}\"", g.column.name),
                Some(b) => format!("{{\"{}\":\"{}\"}}", g.column.name, b.name()),
            })
            .collect();
        let measures: Vec<String> = a
            .measures
            .iter()
            .map(|m| match m.column {
                None => format!("\"{}\":\"{}\"", m.name, m.func.name()),
                Some(c) => format!("\"{}\":{{\"{}\":\"{}\"}}", m.name, m.func.name(), c.name),
            })
            .collect();
        let order: Vec<String> = a
            .order_by
            .iter()
            .map(|o| {
                let name = match o.column {
                    ResultColumn::Group(i) => a.group_by[i].name(),
                    ResultColumn::Measure(i) => a.measures[i].name.clone(),
                };
                let direction = if o.descending { "desc" } else { "asc" };
                format!("{{\"{name}\":\"{direction}\"}}")
            })
            .collect();
        let order_by = if order.is_empty() {
            String::new()
        } else {
            format!(",\"order_by\":[{}]", order.join(","))
        };
        format!(
            ",\"group_by\":[{}],\"measures\":{{{}}}{order_by}",
            groups.join(","),
            measures.join(",")
        )
    });
    format!(
        "{{\"list\":\"{}\",\"filters\":{{{}}},\"limit\":{}{aggregate}}}",
        q.table.name(),
        filters.join(","),
        q.row_target
    )
}

const TABLES: &[&str] = &[
    r#""customers""#,
    r#""subscriptions""#,
    r#""invoices""#,
    r#""charges""#,
    r#""payouts""#,
];
const STATUSES: &[&str] = &[
    r#""active""#,
    r#""all""#,
    r#""canceled""#,
    r#""ended""#,
    r#""incomplete""#,
    r#""incomplete_expired""#,
    r#""past_due""#,
    r#""paused""#,
    r#""trialing""#,
    r#""unpaid""#,
    r#""draft""#,
    r#""open""#,
    r#""paid""#,
    r#""uncollectible""#,
    r#""void""#,
    r#""succeeded""#,
    r#""pending""#,
    r#""failed""#,
    r#""in_transit""#,
];
const METHODS: &[&str] = &[r#""charge_automatically""#, r#""send_invoice""#];
const CUSTOMERS: &[&str] = &[
    r#""cus_QXg1o8vcGmoR32""#,
    r#""cus_A""#,
    r#""cus_""#,
    r#""cus_1/../x""#,
];
const SUBSCRIPTIONS: &[&str] = &[
    r#""sub_1Pgc6rB7WZ01zgkWNy0Cn5nw""#,
    r#""sub_9""#,
    r#""sub_""#,
];
const BOUNDS: &[&str] = &[
    r#""2026-01-01""#,
    r#""2024-02-29""#,
    r#""1970-01-01""#,
    r#""9999-12-31""#,
    r#""2026-01-01T10:00:00Z""#,
    r#""2026-01-01T10:00:00+02:00""#,
    r#""2026-01-01t23:59:59.999-01:30""#,
    r#""9999-12-31T23:59:59-23:59""#,
    r#""1970-01-01T00:00:00+00:01""#,
    "0",
    "1",
    "1767225600",
    "1798761600",
    "253402300799",
    "253402300800",
];
const RANGES: &[&str] = &[
    "1767225600",
    "0",
    r#"{"gte":"2026-01-01"}"#,
    r#"{"gt":1767225600,"lte":1798761600}"#,
    r#"{"lt":"2026-04-01"}"#,
    r#"{"gte":"2026-03-01","lt":"2026-04-01"}"#,
    r#"{"gte":0,"lte":253402300799}"#,
];
const FILTERS: &[&str] = &[
    "{}",
    r#"{"created":{"gte":"2026-01-01"}}"#,
    r#"{"status":"active"}"#,
    r#"{"status":"paid","created":{"lt":"2026-04-01"}}"#,
    r#"{"customer":"cus_QXg1o8vcGmoR32"}"#,
    r#"{"subscription":"sub_1Pgc6rB7WZ01zgkWNy0Cn5nw"}"#,
    r#"{"collection_method":"send_invoice"}"#,
    r#"{"arrival_date":{"gte":"2026-01-01"}}"#,
];
const GROUP_BYS: &[&str] = &[
    "[]",
    r#"["currency"]"#,
    r#"["status","currency"]"#,
    r#"[{"created":"month"},"currency"]"#,
    r#"[{"created":"week"}]"#,
    r#"[{"paid_at":"quarter"},"customer"]"#,
    r#"[{"arrival_date":"year"},"method"]"#,
    r#"["email"]"#,
    r#"[{"currency":"day"}]"#,
];
const MEASURES: &[&str] = &[
    r#"{"n":"count"}"#,
    r#"{"n":"count","amount":{"sum":"amount"}}"#,
    r#"{"mrr":{"sum":"mrr"},"subscriptions":"count"}"#,
    r#"{"mean":{"avg":"total"},"first":{"min":"created"},"last":{"max":"paid_at"}}"#,
    r#"{"customers":{"count_distinct":"customer"}}"#,
    r#"{"balance":{"sum":"balance"}}"#,
    r#"{"x":{"median":"amount"}}"#,
    "{}",
];
const MEASURE_NAMES: &[&str] = &[
    r#""count""#,
    r#"{"sum":"amount"}"#,
    r#"{"avg":"mrr"}"#,
    r#"{"min":"created"}"#,
    r#"{"max":"total"}"#,
    r#"{"count_distinct":"status"}"#,
    r#"{"sum":"status"}"#,
];
const LIMITS: &[&str] = &[
    "1",
    "5",
    "100",
    "1000",
    "5000",
    "100001",
    "18446744073709551615",
    "0",
];

/// What DSL queries are made of (src/dsl/, src/schema/), for [`mutate::mutate_json`]. Some keys and
/// values are wrong on purpose: the refusals need exercising too.
pub const DSL_TOKENS: Tokens = Tokens {
    keys: &[
        "list",
        "filters",
        "limit",
        "created",
        "arrival_date",
        "due_date",
        "current_period_end",
        "delinquent",
        "disputed",
        "currency",
        "customer",
        "subscription",
        "status",
        "collection_method",
        "gt",
        "gte",
        "lt",
        "lte",
        "expand",
        "email",
        "group_by",
        "measures",
        "order_by",
        "n",
        "amount",
        "sum",
        "count_distinct",
        "",
    ],
    values: &[
        r#""customers""#,
        r#""active""#,
        r#""in_transit""#,
        r#""send_invoice""#,
        r#""cus_QXg1o8vcGmoR32""#,
        r#""sub_x""#,
        r#""2026-01-01""#,
        r#""2026-01-01T10:00:00+02:00""#,
        "0",
        "1",
        "1767225600",
        "253402300800",
        "18446744073709551615",
        "-1",
        "1.0",
        "1e3",
        "null",
        "true",
        "[]",
        "{}",
        r#"{"gte":"2026-01-01"}"#,
        r#"{"status":"active"}"#,
        r#"["currency"]"#,
        r#"{"n":"count"}"#,
        r#""month""#,
        r#""count""#,
        r#""desc""#,
        r#"[{"n":"desc"}]"#,
    ],
    fits: &[
        ("list", TABLES),
        ("limit", LIMITS),
        ("filters", FILTERS),
        ("status", STATUSES),
        ("collection_method", METHODS),
        ("customer", CUSTOMERS),
        ("subscription", SUBSCRIPTIONS),
        ("created", RANGES),
        ("arrival_date", RANGES),
        ("due_date", RANGES),
        ("delinquent", BOOLS),
        ("currency", &[r#""usd""#, r#""EUR""#, r#""us""#]),
        ("disputed", BOOLS),
        ("current_period_end", RANGES),
        ("gt", BOUNDS),
        ("gte", BOUNDS),
        ("lt", BOUNDS),
        ("lte", BOUNDS),
        ("group_by", GROUP_BYS),
        ("measures", MEASURES),
        ("order_by", ORDERS),
        ("n", MEASURE_NAMES),
        ("amount", MEASURE_NAMES),
        ("sum", &[r#""amount""#, r#""mrr""#, r#""total""#, r#""status""#]),
        ("count_distinct", &[r#""customer""#, r#""email""#]),
    ],
    text: true,
};

const ORDERS: &[&str] = &[
    r#"[{"n":"desc"}]"#,
    r#"[{"amount":"asc"},{"currency":"desc"}]"#,
    r#"[{"currency":"desc"}]"#,
    r#"{"n":"desc"}"#,
];
const BOOLS: &[&str] = &["true", "false"];
const INTS: &[&str] = &[
    "0",
    "1",
    "-1",
    "1234567890",
    "9223372036854775807",
    "-9223372036854775808",
    "null",
];
const IDS: &[&str] = &[
    r#""cus_1""#,
    r#""sub_1""#,
    r#""in_1""#,
    r#""ch_1""#,
    r#""po_1""#,
    r#""""#,
];
const REFS: &[&str] = &[
    r#""cus_1""#,
    "null",
    r#"{"id":"cus_2","object":"customer"}"#,
    r#"{"object":"customer"}"#,
];

/// What Stripe list pages are made of (src/rows.rs), for [`mutate::mutate_json`].
pub const PAGE_TOKENS: Tokens = Tokens {
    keys: &[
        "object",
        "data",
        "has_more",
        "url",
        "id",
        "livemode",
        "created",
        "customer",
        "status",
        "amount",
        "currency",
        "items",
        "price",
        "recurring",
        "interval",
        "interval_count",
        "unit_amount",
        "quantity",
        "current_period_start",
        "current_period_end",
        "parent",
        "subscription_details",
        "subscription",
        "status_transitions",
        "paid_at",
        "total",
        "lines",
        "address",
        "country",
        "email",
        "name",
        "type",
        "arrival_date",
        "destination",
        "outcome",
        "payment_intent",
        "balance_transaction",
        "",
    ],
    values: &[
        "null",
        "true",
        "0",
        "-1",
        "1234567890",
        "9223372036854775808",
        "1.5",
        "1e3",
        r#""""#,
        r#""list""#,
        r#""cus_1""#,
        r#""usd""#,
        r#""active""#,
        r#""month""#,
        "[]",
        "{}",
        r#"{"id":"cus_1","object":"customer"}"#,
        r#"{"type":"subscription_details","subscription_details":{"subscription":"sub_1"}}"#,
        r#"{"interval":"month","interval_count":1}"#,
        r#"{"object":"list","data":[],"has_more":false}"#,
    ],
    fits: &[
        ("id", IDS),
        (
            "object",
            &[
                r#""list""#,
                r#""customer""#,
                r#""subscription""#,
                r#""charge""#,
            ],
        ),
        ("has_more", BOOLS),
        ("livemode", BOOLS),
        ("delinquent", BOOLS),
        ("captured", BOOLS),
        ("paid", BOOLS),
        ("refunded", BOOLS),
        ("disputed", BOOLS),
        ("automatic", BOOLS),
        ("cancel_at_period_end", BOOLS),
        ("created", INTS),
        ("amount", INTS),
        ("amount_due", INTS),
        ("amount_paid", INTS),
        ("total", INTS),
        ("balance", INTS),
        ("unit_amount", INTS),
        ("quantity", INTS),
        (
            "interval_count",
            &["1", "3", "12", "0", "-1", "9223372036854775807"],
        ),
        ("current_period_start", INTS),
        ("current_period_end", INTS),
        ("arrival_date", INTS),
        ("paid_at", INTS),
        ("customer", REFS),
        ("subscription", REFS),
        ("payment_intent", REFS),
        ("balance_transaction", REFS),
        ("destination", REFS),
        ("currency", &[r#""usd""#, r#""eur""#, r#""jpy""#, "null"]),
        (
            "interval",
            &[
                r#""day""#,
                r#""week""#,
                r#""month""#,
                r#""year""#,
                r#""decade""#,
            ],
        ),
        (
            "status",
            &[
                r#""active""#,
                r#""paid""#,
                r#""succeeded""#,
                r#""in_transit""#,
                r#""new_status""#,
            ],
        ),
        ("email", &[r#""a@example.com""#, "null"]),
        ("name", &[r#""Zo\u00eb \u001b[31m""#, "null"]),
    ],
    text: false,
};
