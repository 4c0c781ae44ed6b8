use super::*;
use crate::schema::Cell;
use proptest::prelude::*;

/// What a table-driven case expects.
enum Want {
    /// params, the status the connector applies itself (charges, payouts), row_target
    Ok(
        &'static [(&'static str, &'static str)],
        Option<&'static str>,
        u32,
    ),
    /// invalid-query whose message contains this
    Err(&'static str),
}
use Want::{Err as E, Ok as O};

const JAN1: &str = "1767225600"; // 2026-01-01T00:00:00Z
/// The same instant as a number, for the models of the property tests.
const JAN1_SECONDS: i64 = 1_767_225_600;

#[test]
fn table_of_queries() {
    let deep = format!("{}{}", "[".repeat(8000), "]".repeat(8000));
    let big = format!(
        r#"{{"list":"customers","x":"{}"}}"#,
        "a".repeat(MAX_DSL_BYTES)
    );
    let long_id = format!(
        r#"{{"list":"charges","filters":{{"customer":"cus_{}"}}}}"#,
        "a".repeat(300)
    );
    let cases: Vec<(&str, Want)> = vec![
        // --- valid ---
        (r#"{"list":"customers"}"#, O(&[], None, 1000)),
        (r#"  {"list":"customers"}  "#, O(&[], None, 1000)),
        (r#"{"list":"customers","limit":5}"#, O(&[], None, 5)),
        (r#"{"list":"customers","limit":5000}"#, O(&[], None, 1000)),
        (r#"{"list":"customers","limit":18446744073709551615}"#, O(&[], None, 1000)),
        (r#"{"list":"customers","filters":{}}"#, O(&[], None, 1000)),
        (r#"{"list":"customers","filters":{"created":1767225600}}"#, O(&[("created", JAN1)], None, 1000)),
        (r#"{"list":"customers","filters":{"created":0}}"#, O(&[("created", "0")], None, 1000)),
        (
            r#"{"list":"customers","filters":{"created":{"gte":"2026-01-01"}}}"#,
            O(&[("created[gte]", JAN1)], None, 1000),
        ),
        (
            r#"{"list":"customers","filters":{"created":{"lt":"2026-01-01T10:00:00Z"}}}"#,
            O(&[("created[lt]", "1767261600")], None, 1000),
        ),
        (
            r#"{"list":"customers","filters":{"created":{"gt":"2026-01-01T10:00:00+02:00"}}}"#,
            O(&[("created[gt]", "1767254400")], None, 1000),
        ),
        (
            r#"{"list":"customers","filters":{"created":{"gt":"2026-01-01t10:00:00.999-01:30"}}}"#,
            O(&[("created[gt]", "1767267000")], None, 1000),
        ),
        (
            r#"{"list":"customers","filters":{"created":{"gte":"2026-01-01t00:00:00z"}}}"#,
            O(&[("created[gte]", JAN1)], None, 1000),
        ),
        // A fraction of a second: `gt` and `lte` round down, `gte` and `lt` up — the whole seconds each
        // bound admits. No second lies between 00.5 and 00.9.
        (
            r#"{"list":"customers","filters":{"created":{"gte":"2026-01-01T00:00:00.5Z","lt":"2026-01-01T00:00:02.9Z"}}}"#,
            O(&[("created[gte]", "1767225601"), ("created[lt]", "1767225603")], None, 1000),
        ),
        (
            r#"{"list":"customers","filters":{"created":{"gt":"2026-01-01T00:00:00.5Z","lte":"2026-01-01T00:00:02.9Z"}}}"#,
            O(&[("created[gt]", JAN1), ("created[lte]", "1767225602")], None, 1000),
        ),
        (
            r#"{"list":"customers","filters":{"created":{"gte":"2026-01-01T00:00:00.000Z"}}}"#,
            O(&[("created[gte]", JAN1)], None, 1000),
        ),
        (
            r#"{"list":"customers","filters":{"created":{"gte":"2026-01-01T00:00:00.5Z","lte":"2026-01-01T00:00:00.9Z"}}}"#,
            E("the range is empty"),
        ),
        (
            r#"{"list":"customers","filters":{"created":{"lt":"2024-02-29"}}}"#,
            O(&[("created[lt]", "1709164800")], None, 1000),
        ),
        // A date is its first second: `lte` or `gt` of one would be off by (almost) a day, so it is
        // refused with the bound to write instead, the next day (across a leap day and a year's end).
        (
            r#"{"list":"customers","filters":{"created":{"lte":"2024-02-29"}}}"#,
            E("'lte': the string '2024-02-29' is that day's first second (00:00 UTC), so the rest of the day would be left out; write {\"lt\": \"2024-03-01\"} or a date-time"),
        ),
        (
            r#"{"list":"customers","filters":{"created":{"gt":"2025-12-31"}}}"#,
            E("'gt': the string '2025-12-31' is that day's first second (00:00 UTC), so the rest of the day would be kept; write {\"gte\": \"2026-01-01\"} or a date-time"),
        ),
        (
            r#"{"list":"invoices","filters":{"due_date":{"lte":"2026-02-28"}}}"#,
            E("write {\"lt\": \"2026-03-01\"}"),
        ),
        // The last day has no next one to name: its last second, which is accepted.
        (
            r#"{"list":"customers","filters":{"created":{"lte":"9999-12-31"}}}"#,
            E("write {\"lte\": \"9999-12-31T23:59:59Z\"} or a date-time"),
        ),
        // Nor one to be after: no bound to suggest (QA: the one suggested, `gt` the last second, was
        // itself refused as an empty range).
        (
            r#"{"list":"customers","filters":{"created":{"gt":"9999-12-31"}}}"#,
            E("so the rest of the day would be kept; there is no day after it to name: write a date-time"),
        ),
        (
            r#"{"list":"customers","filters":{"created":{"lte":"9999-12-31T23:59:59Z"}}}"#,
            O(&[("created[lte]", "253402300799")], None, 1000),
        ),
        (
            r#"{"list":"customers","filters":{"created":{"lte":"2024-02-29T00:00:00Z"}}}"#,
            O(&[("created[lte]", "1709164800")], None, 1000),
        ),
        (
            r#"{"list":"customers","filters":{"created":{"gte":"2000-02-29"}}}"#,
            O(&[("created[gte]", "951782400")], None, 1000),
        ),
        (
            r#"{"list":"customers","filters":{"created":{"gte":"1970-01-01T00:00:00Z"}}}"#,
            O(&[("created[gte]", "0")], None, 1000),
        ),
        (
            r#"{"list":"customers","filters":{"created":{"lte":5,"gte":5}}}"#,
            O(&[("created[gte]", "5"), ("created[lte]", "5")], None, 1000),
        ),
        (
            r#"{"list":"customers","filters":{"created":{"lt":"2026-02-01","gt":"2026-01-01T00:00:00Z"}}}"#,
            O(&[("created[gt]", JAN1), ("created[lt]", "1769904000")], None, 1000),
        ),
        (r#"{"list":"subscriptions"}"#, O(&[("status", "all")], None, 1000)),
        (r#"{"list":"subscriptions","filters":{"status":"active"}}"#, O(&[("status", "active")], None, 1000)),
        (r#"{"list":"subscriptions","filters":{"status":"all"}}"#, O(&[("status", "all")], None, 1000)),
        (
            r#"{"filters":{"collection_method":"send_invoice","status":"past_due","customer":"cus_QXg1o8vcGmoR32","created":{"gte":1}},"limit":10,"list":"subscriptions"}"#,
            O(
                &[
                    ("created[gte]", "1"),
                    ("customer", "cus_QXg1o8vcGmoR32"),
                    ("status", "past_due"),
                    ("collection_method", "send_invoice"),
                ],
                None,
                10,
            ),
        ),
        (
            r#"{"list":"subscriptions","filters":{"customer":"cus_A"}}"#,
            O(&[("customer", "cus_A"), ("status", "all")], None, 1000),
        ),
        (
            r#"{"list":"invoices","filters":{"subscription":"sub_1Pgc6rB7WZ01zgkWNy0Cn5nw","status":"paid"}}"#,
            O(&[("subscription", "sub_1Pgc6rB7WZ01zgkWNy0Cn5nw"), ("status", "paid")], None, 1000),
        ),
        (
            r#"{"list":"invoices","filters":{"collection_method":"charge_automatically","status":"uncollectible"}}"#,
            O(&[("status", "uncollectible"), ("collection_method", "charge_automatically")], None, 1000),
        ),
        (r#"{"list":"invoices","filters":{"status":"void"}}"#, O(&[("status", "void")], None, 1000)),
        (r#"{"list":"charges","filters":{"status":"failed"}}"#, O(&[], Some("failed"), 1000)),
        (
            r#"{"list":"charges","filters":{"status":"succeeded","customer":"cus_9"},"limit":1}"#,
            O(&[("customer", "cus_9")], Some("succeeded"), 1),
        ),
        // Applied by the connector: Stripe's payouts list takes no in_transit (and has answered it with every payout).
        (r#"{"list":"payouts","filters":{"status":"in_transit"}}"#, O(&[], Some("in_transit"), 1000)),
        (
            r#"{"list":"payouts","filters":{"arrival_date":{"gte":"2026-01-01"},"created":{"lt":"2026-01-01"}}}"#,
            O(&[("created[lt]", JAN1), ("arrival_date[gte]", JAN1)], None, 1000),
        ),
        // --- invalid: text and shape ---
        ("", E("not valid JSON")),
        ("   ", E("not valid JSON")),
        ("list customers", E("not valid JSON")),
        (r#"{"list":"customers"} x"#, E("not valid JSON")),
        (r#"{"list":"customers",}"#, E("not valid JSON")),
        ("[]", E("must be a JSON object")),
        (r#""customers""#, E("must be a JSON object")),
        ("null", E("must be a JSON object")),
        ("42", E("must be a JSON object")),
        (&deep, E("nests objects or arrays too deeply")),
        (
            r#"{"list":"customers","filters":{"created":{"gte":{"x":1}}}}"#,
            E("nests objects or arrays too deeply"),
        ),
        // A condition inside a measure, as SQL's FILTER (WHERE …) would have it: where it goes instead.
        (
            r#"{"list":"charges","measures":{"paid":{"sum":"amount","where":{"status":"succeeded"}}}}"#,
            E("a measure takes no condition (put it in filters, or group by its column)"),
        ),
        (&big, E("at most 16384 bytes")),
        (r#"{"list":"customers","list":"charges"}"#, E("duplicate key 'list'")),
        (
            r#"{"list":"invoices","filters":{"status":"paid","status":"void"}}"#,
            E("duplicate key 'status'"),
        ),
        // --- invalid: top-level keys ---
        (r#"{"list":"customers","delete":true}"#, E("unknown key 'delete' in the query: allowed keys are list, filters, limit")),
        (r#"{"list":"customers","expand":["data.customer"]}"#, E("unknown key 'expand'")),
        (r#"{"update":"customers"}"#, E("The DSL is read-only")),
        (r#"{"sql":"select 1"}"#, E("unknown key 'sql'")),
        (r#"{}"#, E("no 'list' key")),
        (r#"{"filters":{}}"#, E("no 'list' key")),
        (r#"{"list":"users"}"#, E("unknown table 'users' in 'list': allowed tables are: customers, subscriptions")),
        (r#"{"list":"Customers"}"#, E("unknown table 'Customers'")),
        (r#"{"list":["customers"]}"#, E("'list' must be a table name string")),
        (r#"{"list":null}"#, E("'list' must be a table name string")),
        // --- invalid: limit ---
        (r#"{"list":"customers","limit":0}"#, E("'limit' must be a whole number ≥ 1")),
        (r#"{"list":"customers","limit":-5}"#, E("got the integer -5")),
        (r#"{"list":"customers","limit":10.0}"#, E("got the number 10.0")),
        (r#"{"list":"customers","limit":1e3}"#, E("'limit' must be a whole number")),
        (r#"{"list":"customers","limit":"10"}"#, E("got the string '10'")),
        (r#"{"list":"customers","limit":true}"#, E("got the boolean true")),
        (r#"{"list":"customers","limit":null}"#, E("'limit' must be a whole number")),
        (r#"{"list":"customers","limit":-100000000000000000000000}"#, E("got the number -1000000000000000000000")),
        // --- invalid: filters ---
        (r#"{"list":"customers","filters":[]}"#, E("'filters' must be an object")),
        (r#"{"list":"customers","filters":null}"#, E("'filters' must be an object")),
        (
            r#"{"list":"customers","filters":{"email":"a@b.c"}}"#,
            E("unknown filter 'email' for table customers: allowed filters are: created"),
        ),
        (r#"{"list":"customers","filters":{"status":"active"}}"#, E("unknown filter 'status' for table customers")),
        (
            r#"{"list":"charges","filters":{"subscription":"sub_1"}}"#,
            E("unknown filter 'subscription' for table charges: allowed filters are: created, customer, status"),
        ),
        (r#"{"list":"payouts","filters":{"customer":"cus_1"}}"#, E("allowed filters are: created, arrival_date, status")),
        (r#"{"list":"subscriptions","filters":{"arrival_date":1}}"#, E("unknown filter 'arrival_date'")),
        (r#"{"list":"subscriptions","filters":{"status":"cancelled"}}"#, E("must be one of: active, all, canceled")),
        (r#"{"list":"subscriptions","filters":{"status":"ACTIVE"}}"#, E("got the string 'ACTIVE'")),
        (r#"{"list":"invoices","filters":{"status":"all"}}"#, E("must be one of: draft, open, paid, uncollectible, void")),
        (r#"{"list":"charges","filters":{"status":"paid"}}"#, E("must be one of: succeeded, pending, failed")),
        (r#"{"list":"payouts","filters":{"status":"completed"}}"#, E("must be one of: paid, pending, in_transit, canceled, failed")),
        (r#"{"list":"invoices","filters":{"collection_method":"auto"}}"#, E("must be one of: charge_automatically, send_invoice")),
        (r#"{"list":"invoices","filters":{"status":1}}"#, E("got the integer 1")),
        (r#"{"list":"charges","filters":{"customer":"cus_"}}"#, E("filter 'customer' for table charges must be a customer id")),
        (r#"{"list":"charges","filters":{"customer":"cust_123"}}"#, E("got the string 'cust_123'")),
        (r#"{"list":"charges","filters":{"customer":"cus_12/../x"}}"#, E("must be a customer id")),
        (r#"{"list":"charges","filters":{"customer":"cus_12&limit=1"}}"#, E("must be a customer id")),
        (r#"{"list":"charges","filters":{"customer":"cus_é"}}"#, E("must be a customer id")),
        (r#"{"list":"charges","filters":{"customer":123}}"#, E("got the integer 123")),
        (&long_id, E("at most 255 characters")),
        (r#"{"list":"invoices","filters":{"subscription":"cus_123"}}"#, E("must be a subscription id")),
        (r#"{"list":"invoices","filters":{"subscription":"sub_1\n"}}"#, E("must be a subscription id")),
        // --- invalid: ranges ---
        (r#"{"list":"customers","filters":{"created":-1}}"#, E("is negative")),
        (r#"{"list":"customers","filters":{"created":1.5}}"#, E("filter 'created' for table customers: got the number 1.5")),
        (r#"{"list":"customers","filters":{"created":"2026-01-01"}}"#, E("got the string '2026-01-01'")),
        (r#"{"list":"customers","filters":{"created":{}}}"#, E("the range object is empty")),
        (r#"{"list":"customers","filters":{"created":{"from":1}}}"#, E("unknown range key 'from': allowed keys are gt, gte, lt, lte")),
        (r#"{"list":"customers","filters":{"created":{"gt":1,"gte":2}}}"#, E("gt and gte together")),
        (r#"{"list":"customers","filters":{"created":{"lt":9,"lte":8}}}"#, E("lt and lte together")),
        // Not a refused date naming the lt that is already there.
        (r#"{"list":"customers","filters":{"created":{"lte":"2026-03-31","lt":"2026-04-01"}}}"#, E("lt and lte together")),
        (r#"{"list":"customers","filters":{"created":{"gte":10,"lt":10}}}"#, E("the range is empty")),
        (r#"{"list":"customers","filters":{"created":{"gte":"2026-02-01","lt":"2026-01-01"}}}"#, E("the range is empty")),
        (r#"{"list":"customers","filters":{"created":{"lt":0}}}"#, E("the range is empty")),
        (r#"{"list":"customers","filters":{"created":{"gt":"9999-12-31T23:59:59Z"}}}"#, E("the range is empty: no second is later than 9999-12-31T23:59:59Z")),
        (r#"{"list":"customers","filters":{"created":{"gt":253402300799}}}"#, E("the range is empty")),
        (r#"{"list":"customers","filters":{"created":{"gte":-3}}}"#, E("'gte': the integer -3 is negative")),
        (r#"{"list":"customers","filters":{"created":{"gte":1.0}}}"#, E("'gte': the number 1.0 is not written as an integer: give unix seconds without a decimal point or exponent")),
        (r#"{"list":"customers","filters":{"created":{"lt":1e3}}}"#, E("'lt': the number 1e3 is not written as an integer")),
        (r#"{"list":"customers","filters":{"created":{"gte":1767225600000000}}}"#, E("not milliseconds")),
        // Beyond 64 bits, still whole numbers: too late or negative, not "not written as an integer".
        (r#"{"list":"customers","filters":{"created":{"gte":176722560000000000000000}}}"#, E("is after 9999-12-31T23:59:59Z")),
        (r#"{"list":"customers","filters":{"created":-176722560000000000000000}}"#, E("is negative")),
        (r#"{"list":"customers","filters":{"created":{"gte":"yesterday"}}}"#, E("'yesterday' is not a valid date")),
        (r#"{"list":"customers","filters":{"created":{"gte":"1767225600"}}}"#, E("'1767225600' is unix seconds in quotes: write them as a JSON integer, without quotes")),
        (r#"{"list":"customers","filters":{"created":{"gte":"now-30d"}}}"#, E("dates are absolute (for \"30 days ago\" give that day's date)")),
        (r#"{"list":"customers","filters":{"created":{"gte":"2026-13-01"}}}"#, E("month 13 is not 01-12")),
        (r#"{"list":"customers","filters":{"created":{"gte":"2026-00-10"}}}"#, E("month 00 is not 01-12")),
        (r#"{"list":"customers","filters":{"created":{"gte":"2025-02-29"}}}"#, E("day 29 is not 01-28")),
        (r#"{"list":"customers","filters":{"created":{"gte":"1900-02-29"}}}"#, E("day 29 is not 01-28")),
        (r#"{"list":"customers","filters":{"created":{"gte":"2026-04-31"}}}"#, E("day 31 is not 01-30")),
        (r#"{"list":"customers","filters":{"created":{"gte":"2026-1-1"}}}"#, E("expected YYYY-MM-DD")),
        (r#"{"list":"customers","filters":{"created":{"gte":"2026-01-01T10:00:00"}}}"#, E("needs a UTC offset")),
        (r#"{"list":"customers","filters":{"created":{"gte":"2026-01-01T24:00:00Z"}}}"#, E("out of range")),
        (r#"{"list":"customers","filters":{"created":{"gte":"2026-01-01T23:59:60Z"}}}"#, E("out of range")),
        (r#"{"list":"customers","filters":{"created":{"gte":"2026-01-01T10:00:00+24:00"}}}"#, E("offset 24:00")),
        (r#"{"list":"customers","filters":{"created":{"gte":"2026-01-01T10:00:00+0200"}}}"#, E("the offset needs a colon: ±HH:MM, e.g. +02:00")),
        (r#"{"list":"customers","filters":{"created":{"gte":"2026-04-06T00:00Z"}}}"#, E("the seconds are missing: write HH:MM:SS")),
        (r#"{"list":"customers","filters":{"created":{"gte":"2026-04-06T00:00+02:00"}}}"#, E("the seconds are missing: write HH:MM:SS")),
        (r#"{"list":"customers","filters":{"created":{"gte":"2026-01-01T10:00:00+02"}}}"#, E("expected YYYY-MM-DD")),
        (r#"{"list":"charges","filters":{"created":{"gt":5,"lt":6}}}"#, E("the range is empty: no whole unix second is both ≥ 6 and ≤ 5 (gt and lt leave their own second out, and a fraction of a second is rounded to the second inside the range); widen the range, or bound it with gte and lte of whole seconds")),
        (r#"{"list":"charges","filters":{"created":{"gte":"2026-01-01T00:00:00.2Z","lte":"2026-01-01T00:00:00.8Z"}}}"#, E("widen the range, or bound it with gte and lte of whole seconds")),
        (r#"{"list":"charges","filters":{"created":{"gt":5,"lte":5}}}"#, E("check that the lower bound (gt/gte) is below the upper bound")),
        (r#"{"list":"customers","filters":{"created":{"gte":"2026-01-01T10:00:00.Z"}}}"#, E("followed by digits")),
        (r#"{"list":"customers","filters":{"created":{"gte":"2026-01-01 10:00:00Z"}}}"#, E("write T between the date and the time")),
        (r#"{"list":"customers","filters":{"created":{"gte":"1969-12-31"}}}"#, E("before 1970-01-01")),
        (r#"{"list":"customers","filters":{"created":{"gte":"1970-01-01T00:00:00+00:01"}}}"#, E("before 1970-01-01")),
        (r#"{"list":"customers","filters":{"created":{"gte":"2026-01-01Z"}}}"#, E("expected YYYY-MM-DD")),
        (r#"{"list":"customers","filters":{"created":{"gte":null}}}"#, E("neither an integer nor a date")),
        (r#"{"list":"customers","filters":{"created":{"gte":true}}}"#, E("'gte': the boolean true is neither")),
        (r#"{"list":"customers","filters":{"created":{"gte":[1]}}}"#, E("too deeply")),
        (r#"{"list":"payouts","filters":{"arrival_date":{"lte":"soon"}}}"#, E("filter 'arrival_date' for table payouts")),
    ];
    assert!(cases.len() >= 60);
    for (dsl, want) in &cases {
        let got = parse(dsl, DEFAULT_MAX_ROWS);
        let shown = &dsl[..dsl.len().min(120)];
        match (want, got) {
            (O(params, status, rows), Ok(q)) => {
                let expected: Vec<(String, String)> = params
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                assert_eq!(q.params, expected, "{shown}");
                let kept: Vec<String> = q.post_filters.iter().map(PostFilter::text).collect();
                let want: Vec<String> = status.iter().map(|s| format!("status {s}")).collect();
                assert_eq!(kept, want, "{shown}");
                assert_eq!(q.row_target, *rows, "{shown}");
            }
            (E(fragment), Err(e)) => {
                assert_eq!(e.kind(), "invalid-query", "{shown}");
                let msg = e.to_string();
                assert!(
                    msg.contains(fragment),
                    "{shown}\n  message: {msg}\n  wanted: {fragment}"
                );
            }
            (O(..), Err(e)) => panic!("{shown}: expected Ok, got {e}"),
            (E(fragment), Ok(q)) => panic!("{shown}: expected error {fragment:?}, got {q:?}"),
        }
    }
}

#[test]
fn quote_keeps_names_readable_and_escapes_what_would_not_be() {
    for (raw, shown) in [
        ("amount", "'amount'"),
        ("montant_reçu", "'montant_reçu'"),
        ("it's", r"'it\'s'"),
        (r"a\b", r"'a\\b'"),
        ("\u{1b}[31mred", r"'\u{1b}[31mred'"),
        ("line\nbreak", r"'line\nbreak'"),
    ] {
        assert_eq!(quote(raw), shown, "{raw:?}");
    }
    let long = "x".repeat(100);
    assert_eq!(quote(&long), format!("'{}…'", "x".repeat(64)));
    assert_eq!(quote(&"x".repeat(64)), format!("'{}'", "x".repeat(64)));
}

#[test]
fn max_rows_is_clamped_and_limit_applies() {
    let q = |dsl: &str, max: u32| parse(dsl, max).map(|q| q.row_target);
    assert_eq!(q(r#"{"list":"customers"}"#, 0), Ok(1));
    assert_eq!(q(r#"{"list":"customers"}"#, 250), Ok(250));
    assert_eq!(q(r#"{"list":"customers"}"#, u32::MAX), Ok(MAX_ROWS_LIMIT));
    assert_eq!(q(r#"{"list":"customers","limit":7}"#, 5), Ok(5));
    assert_eq!(q(r#"{"list":"customers","limit":7}"#, 50), Ok(7));
    // Any whole number above max-rows is max-rows, however many digits it has.
    assert_eq!(
        q(r#"{"list":"customers","limit":18446744073709551615}"#, 50),
        Ok(50)
    );
    assert_eq!(
        q(r#"{"list":"customers","limit":18446744073709551616}"#, 50),
        Ok(50)
    );
    assert_eq!(
        q(
            &format!(r#"{{"list":"customers","limit":{}}}"#, "9".repeat(400)),
            50
        ),
        Ok(50)
    );
}

#[test]
fn sort_few_sorts_like_sort() {
    for case in [
        vec![],
        vec!["b"],
        vec![
            "status=all",
            "created=[1,*]",
            "customer=cus_1",
            "created=[1,*]",
            "a",
        ],
        vec!["f", "e", "d", "c", "b", "a"],
    ] {
        let mut got: Vec<String> = case.iter().map(|s| s.to_string()).collect();
        let mut want = got.clone();
        sort_few(&mut got);
        want.sort();
        assert_eq!(got, want);
    }
}

#[test]
fn filter_keys_are_sorted_dsl_keys() {
    let q = parse(
        r#"{"list":"subscriptions","filters":{"status":"active","customer":"cus_1","created":{"gte":1}}}"#,
        10,
    )
    .unwrap();
    assert_eq!(q.filter_keys, vec!["created", "customer", "status"]);
    let q = parse(r#"{"list":"subscriptions"}"#, 10).unwrap();
    assert!(
        q.filter_keys.is_empty(),
        "the implicit status=all is not a DSL key"
    );
}

#[test]
fn keeps_filters_charges_by_status_only() {
    let q = parse(r#"{"list":"charges","filters":{"status":"failed"}}"#, 10).unwrap();
    let idx = schema::table_spec(Table::Charges)
        .column_index("status")
        .unwrap();
    let mut row = vec![Cell::Null; schema::table_spec(Table::Charges).columns.len()];
    assert!(!q.keeps(&row));
    row[idx] = Cell::Text("failed".into());
    assert!(q.keeps(&row));
    row[idx] = Cell::Text("succeeded".into());
    assert!(!q.keeps(&row));
    assert!(!q.keeps(&[]));
    let all = parse(r#"{"list":"charges"}"#, 10).unwrap();
    assert!(all.keeps(&row));
    // A payout's status too: the connector's, whatever Stripe's list would do with it.
    let payouts = parse(
        r#"{"list":"payouts","filters":{"status":"in_transit"}}"#,
        10,
    )
    .unwrap();
    let idx = schema::table_spec(Table::Payouts)
        .column_index("status")
        .unwrap();
    let mut row = vec![Cell::Null; schema::table_spec(Table::Payouts).columns.len()];
    row[idx] = Cell::Text("paid".into());
    assert!(!payouts.keeps(&row));
    row[idx] = Cell::Text("in_transit".into());
    assert!(payouts.keeps(&row));
    let invoices = parse(r#"{"list":"invoices","filters":{"status":"paid"}}"#, 10).unwrap();
    assert!(invoices.keeps(&[]));
}

#[test]
fn canonical_identifies_equivalent_queries() {
    let canon = |dsl: &str| parse(dsl, 1000).unwrap().canonical();
    let same = [
        (
            r#"{"list":"customers","filters":{"created":{"gte":"2026-01-01"}},"limit":10}"#,
            r#"{"limit":10,"filters":{"created":{"gte":1767225600}},"list":"customers"}"#,
        ),
        (
            r#"{"list":"customers","filters":{"created":{"gt":1767225599}}}"#,
            r#"{"list":"customers","filters":{"created":{"gte":"2026-01-01T01:00:00+01:00"}}}"#,
        ),
        (
            r#"{"list":"customers","filters":{"created":5}}"#,
            r#"{"list":"customers","filters":{"created":{"gte":5,"lte":5}}}"#,
        ),
        (
            r#"{"list":"customers","filters":{"created":{"lt":10}}}"#,
            r#"{"list":"customers","filters":{"created":{"lte":9}}}"#,
        ),
        (
            r#"{"list":"subscriptions"}"#,
            r#"{"list":"subscriptions","filters":{"status":"all"}}"#,
        ),
        (
            r#"{"list":"customers"}"#,
            r#"{"list":"customers","limit":1000}"#,
        ),
        (
            r#"{"list":"customers","limit":1000}"#,
            r#"{"list":"customers","limit":5000}"#,
        ),
        (
            r#"{"list":"subscriptions","filters":{"status":"active","customer":"cus_1"}}"#,
            r#"{"filters":{"customer":"cus_1","status":"active"},"list":"subscriptions"}"#,
        ),
    ];
    for (a, b) in same {
        assert_eq!(canon(a), canon(b), "{a} vs {b}");
    }
    let different = [
        (r#"{"list":"customers"}"#, r#"{"list":"charges"}"#),
        (
            r#"{"list":"customers"}"#,
            r#"{"list":"customers","limit":10}"#,
        ),
        (
            r#"{"list":"customers","filters":{"created":{"gte":5}}}"#,
            r#"{"list":"customers","filters":{"created":{"gt":5}}}"#,
        ),
        (
            r#"{"list":"customers","filters":{"created":{"gte":5}}}"#,
            r#"{"list":"customers","filters":{"created":{"lte":5}}}"#,
        ),
        (
            r#"{"list":"payouts","filters":{"created":{"gte":5}}}"#,
            r#"{"list":"payouts","filters":{"arrival_date":{"gte":5}}}"#,
        ),
        (
            r#"{"list":"charges"}"#,
            r#"{"list":"charges","filters":{"status":"failed"}}"#,
        ),
        (
            r#"{"list":"charges","filters":{"status":"pending"}}"#,
            r#"{"list":"charges","filters":{"status":"failed"}}"#,
        ),
        (
            r#"{"list":"subscriptions","filters":{"status":"active"}}"#,
            r#"{"list":"subscriptions"}"#,
        ),
        (
            r#"{"list":"invoices","filters":{"customer":"cus_1"}}"#,
            r#"{"list":"invoices","filters":{"customer":"cus_2"}}"#,
        ),
    ];
    for (a, b) in different {
        assert_ne!(canon(a), canon(b), "{a} vs {b}");
    }
}

// ---------------------------------------------------------------------------------------------
// Property tests.

pub(super) fn arb_json() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::String),
        prop::sample::select(vec![
            "customers",
            "subscriptions",
            "charges",
            "created",
            "status",
            "gte",
            "lt",
            "cus_1",
            "sub_2",
            "2026-01-01",
            "active",
            "paid",
            "failed",
            "all",
        ])
        .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(5, 48, 6, |inner| {
        let key = prop::sample::select(vec![
            "list",
            "filters",
            "limit",
            "created",
            "arrival_date",
            "customer",
            "subscription",
            "status",
            "collection_method",
            "gt",
            "gte",
            "lt",
            "lte",
            "delete",
            "x",
        ]);
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key, inner), 0..5).prop_map(|kv| {
                Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            }),
        ]
    })
}

/// Stripe's accepted list parameters per table at the pinned version (its API reference for each list
/// endpoint), restricted to what the DSL maps to. Written out independently of the catalogue, as an oracle.
fn stripe_accepts(table: Table, name: &str) -> bool {
    let (base, suffix) = match name.split_once('[') {
        Some((base, rest)) => (base, Some(rest)),
        None => (name, None),
    };
    let ranges: &[&str] = match table {
        Table::Payouts => &["created", "arrival_date"],
        _ => &["created"],
    };
    let plain: &[&str] = match table {
        Table::Customers | Table::Charges => &["customer"][..usize::from(table == Table::Charges)],
        Table::Subscriptions => &["customer", "status", "collection_method"],
        Table::Invoices => &["customer", "subscription", "status", "collection_method"],
        Table::Payouts => &["status"],
    };
    match suffix {
        Some(s) => ranges.contains(&base) && matches!(s, "gt]" | "gte]" | "lt]" | "lte]"),
        None => ranges.contains(&base) || plain.contains(&base),
    }
}

fn value_is_well_typed(table: Table, name: &str, value: &str) -> bool {
    let base = name.split('[').next().unwrap_or(name);
    let id = |prefix: &str| {
        value
            .strip_prefix(prefix)
            .is_some_and(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_alphanumeric()))
    };
    match base {
        "created" | "arrival_date" => value
            .parse::<i64>()
            .is_ok_and(|v| (0..=MAX_TIMESTAMP).contains(&v)),
        "customer" => id("cus_"),
        "subscription" => id("sub_"),
        "status" | "collection_method" => {
            schema::filter_values(table, base).is_some_and(|vals| vals.contains(&value))
        }
        _ => false,
    }
}

/// A DSL text that is often valid: random table, random subset of plausible filters and values.
fn arb_plausible_dsl() -> impl Strategy<Value = String> {
    let table = prop::sample::select(Table::ALL.to_vec());
    let value = prop_oneof![
        (0i64..=2_000_000_000).prop_map(|n| n.to_string()),
        Just(r#"{"gte":"2026-01-01"}"#.to_owned()),
        Just(r#"{"lt":"2026-01-01T10:00:00+02:00","gt":5}"#.to_owned()),
        (0i64..2_000_000_000, 0i64..2_000_000_000)
            .prop_map(|(a, b)| format!(r#"{{"gte":{a},"lte":{b}}}"#)),
        Just(r#""cus_Ab12""#.to_owned()),
        Just(r#""sub_Xy9""#.to_owned()),
        prop::sample::select(vec![
            "active",
            "all",
            "canceled",
            "paid",
            "open",
            "void",
            "succeeded",
            "failed",
            "in_transit",
            "pending",
            "send_invoice",
            "charge_automatically",
            "unknown",
        ])
        .prop_map(|s| format!("\"{s}\"")),
    ];
    let key = prop::sample::select(vec![
        "created",
        "arrival_date",
        "customer",
        "subscription",
        "status",
        "collection_method",
    ]);
    (
        table,
        prop::collection::vec((key, value), 0..5),
        prop::option::of(0u64..3000),
    )
        .prop_map(|(t, filters, limit)| {
            let mut seen = Vec::new();
            let body: Vec<String> = filters
                .into_iter()
                .filter(|(k, _)| {
                    let fresh = !seen.contains(k);
                    seen.push(*k);
                    fresh
                })
                .map(|(k, v)| format!("\"{k}\":{v}"))
                .collect();
            let limit = limit
                .map(|l| format!(r#","limit":{l}"#))
                .unwrap_or_default();
            format!(
                r#"{{"list":"{}","filters":{{{}}}{limit}}}"#,
                t.name(),
                body.join(",")
            )
        })
}

proptest! {
    #[test]
    fn arbitrary_json_never_panics(v in arb_json(), max in any::<u32>()) {
        let text = v.to_string();
        if let Err(e) = parse(&text, max) {
            prop_assert_eq!(e.kind(), "invalid-query");
        }
        let wrapped = format!(r#"{{"list":"customers","filters":{text}}}"#);
        let _ = parse(&wrapped, max);
    }

    #[test]
    fn arbitrary_strings_never_panic(s in "\\PC{0,64}", raw in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = parse(&s, 100);
        let _ = parse(&String::from_utf8_lossy(&raw), 100);
        let created = format!(r#"{{"list":"customers","filters":{{"created":{{"gte":{}}}}}}}"#,
            serde_json::Value::String(s.clone()));
        let _ = parse(&created, 100);
    }

    #[test]
    fn accepted_params_are_what_stripe_accepts(dsl in arb_plausible_dsl(), max in 1u32..5000) {
        if let Ok(q) = parse(&dsl, max) {
            for (name, value) in &q.params {
                prop_assert!(stripe_accepts(q.table, name), "{} not accepted by {}: {}", name, q.table.name(), dsl);
                prop_assert!(value_is_well_typed(q.table, name, value), "{}={} in {}", name, value, dsl);
            }
            prop_assert!(q.row_target >= 1 && q.row_target <= max);
            // Exactly the connector's own filters the query names are applied to the rows, in catalogue order.
            let own: Vec<&str> = schema::table_spec(q.table)
                .filters
                .iter()
                .filter(|f| f.by_connector && q.filter_keys.iter().any(|k| k == f.key))
                .map(|f| f.key)
                .collect();
            let kept: Vec<&str> = q.post_filters.iter().map(|f| f.key).collect();
            prop_assert_eq!(kept, own);
            if q.table == Table::Subscriptions {
                prop_assert_eq!(q.params.iter().filter(|(k, _)| k == "status").count(), 1);
            }
        }
    }

    /// Model: a table, an inclusive created range [lo, hi] (either may be open) and a limit. Each is
    /// written in a random but equivalent way; canonical() must agree exactly when the models agree.
    #[test]
    fn canonical_matches_the_meaning(
        a in canonical_model(), b in canonical_model(),
        spell_a in any::<[bool; 4]>(), spell_b in any::<[bool; 4]>(),
    ) {
        let qa = parse(&spell(&a, spell_a), 1000).unwrap();
        let qb = parse(&spell(&b, spell_b), 1000).unwrap();
        let qa2 = parse(&spell(&a, spell_b), 1000).unwrap();
        prop_assert_eq!(qa.canonical(), qa2.canonical());
        let same_meaning = a.0 == b.0 && a.1 == b.1 && a.2 == b.2 && a.3.min(1000) == b.3.min(1000);
        prop_assert_eq!(qa.canonical() == qb.canonical(), same_meaning);
    }
}

/// `accepted_params_are_what_stripe_accepts` checks what parses; this checks that a good share of what
/// it generates does parse (about a quarter: the generator also writes values a filter refuses), so that
/// property is about accepted queries and could not pass by refusing them all.
#[test]
fn a_quarter_of_plausible_queries_are_accepted() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, TestRunner};
    let mut runner = TestRunner::new(Config {
        rng_seed: proptest::test_runner::RngSeed::Fixed(20260422),
        ..Config::default()
    });
    let strategy = arb_plausible_dsl();
    let mut accepted = 0;
    for _ in 0..1000 {
        let dsl = strategy.new_tree(&mut runner).expect("a value").current();
        accepted += usize::from(parse(&dsl, 1000).is_ok());
    }
    println!("{accepted} of 1000 plausible queries accepted");
    assert!(
        accepted >= 200,
        "only {accepted} of 1000 plausible queries were accepted"
    );
}

type Model = (Table, Option<i64>, Option<i64>, u32);

fn canonical_model() -> impl Strategy<Value = Model> {
    // Days keep the date spelling possible; small offsets make neighbouring values collide often.
    let bound =
        prop::option::of((0i64..3, 0i64..3).prop_map(|(d, s)| JAN1_SECONDS + d * 86_400 + s));
    (
        prop::sample::select(vec![Table::Customers, Table::Charges]),
        bound.clone(),
        bound,
        999u32..1002,
    )
        .prop_filter("non-empty range", |(_, lo, hi, _)| match (lo, hi) {
            (Some(l), Some(h)) => l <= h,
            _ => true,
        })
}

/// Write a model as DSL text; `how` picks key order, gt vs gte, lt vs lte, dates vs integers.
fn spell(m: &Model, how: [bool; 4]) -> String {
    let (table, lo, hi, limit) = *m;
    let ts = |v: i64| -> String {
        if how[3] && v % 86_400 == 0 {
            // an equivalent date-time two hours ahead of UTC
            let days = (v - JAN1_SECONDS) / 86_400; // the model's bounds are within 2026-01-01..03
            format!("\"2026-01-{:02}T02:00:00+02:00\"", 1 + days)
        } else {
            v.to_string()
        }
    };
    let mut range = Vec::new();
    if let Some(lo) = lo {
        range.push(if how[1] {
            format!(r#""gt":{}"#, lo - 1)
        } else {
            format!(r#""gte":{}"#, ts(lo))
        });
    }
    if let Some(hi) = hi {
        range.push(if how[2] {
            format!(r#""lt":{}"#, hi + 1)
        } else {
            format!(r#""lte":{}"#, ts(hi))
        });
    }
    if how[0] {
        range.reverse();
    }
    let filters = if range.is_empty() {
        String::new()
    } else {
        format!(r#""filters":{{"created":{{{}}}}},"#, range.join(","))
    };
    if how[0] {
        format!(r#"{{"limit":{limit},{filters}"list":"{}"}}"#, table.name())
    } else {
        format!(r#"{{{filters}"list":"{}","limit":{limit}}}"#, table.name())
    }
}

#[test]
fn boolean_filters_are_applied_by_the_connector_to_the_rows() {
    let q = parse(
        r#"{"list":"charges","filters":{"disputed":true,"status":"succeeded","refunded":false}}"#,
        DEFAULT_MAX_ROWS,
    )
    .expect("valid");
    assert!(
        q.params.is_empty(),
        "nothing of them is sent to Stripe: {:?}",
        q.params
    );
    let kept: Vec<String> = q.post_filters.iter().map(PostFilter::text).collect();
    assert_eq!(
        kept,
        ["status succeeded", "refunded false", "disputed true"],
        "catalogue order"
    );
    assert!(q
        .canonical()
        .contains("#kept=status succeeded,refunded false,disputed true;"));
    // A row is kept when every filter matches its cell; a null never matches.
    let spec = schema::table_spec(Table::Charges);
    let row = |status: &str, refunded: Cell, disputed: Cell| {
        let mut row = vec![Cell::Null; spec.columns.len()];
        for (name, cell) in [
            ("status", Cell::Text(status.to_owned())),
            ("refunded", refunded),
            ("disputed", disputed),
        ] {
            row[spec.column_index(name).expect("a column")] = cell;
        }
        row
    };
    assert!(q.keeps(&row("succeeded", Cell::Boolean(false), Cell::Boolean(true))));
    assert!(!q.keeps(&row("failed", Cell::Boolean(false), Cell::Boolean(true))));
    assert!(!q.keeps(&row("succeeded", Cell::Boolean(true), Cell::Boolean(true))));
    assert!(!q.keeps(&row("succeeded", Cell::Boolean(false), Cell::Null)));

    let delinquent =
        parse(r#"{"list":"customers","filters":{"delinquent":true}}"#, 10).expect("valid");
    assert_eq!(delinquent.post_filters.len(), 1);
    assert_ne!(
        delinquent.canonical(),
        parse(r#"{"list":"customers","filters":{"delinquent":false}}"#, 10)
            .expect("valid")
            .canonical()
    );
    assert_ne!(
        delinquent.canonical(),
        parse(r#"{"list":"customers"}"#, 10)
            .expect("valid")
            .canonical()
    );
    for (value, got) in [
        (r#""true""#, "the string 'true'"),
        ("1", "the integer 1"),
        ("null", "null"),
    ] {
        let err = parse(
            &format!(r#"{{"list":"customers","filters":{{"delinquent":{value}}}}}"#),
            10,
        )
        .expect_err("not a boolean");
        assert_eq!(
            err.to_string(),
            format!(
                "filter 'delinquent' for table customers must be true or false (a JSON boolean); got {got}"
            )
        );
    }
}
