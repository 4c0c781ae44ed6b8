//! Fuzz `klairr_stripe::dsl::parse`, the only parser of text an LLM writes.
//!
//! Per input (UTF-8 only; other bytes can never arrive through the WIT `string` the DSL comes in):
//! - a refusal is `ConnectorError::InvalidQuery` with a readable message (`check_message`);
//! - acceptance does not depend on the configured `max-rows`, which only bounds the row target;
//! - an accepted query only holds parameter values of `[0-9A-Za-z_]` (nothing reaches a URL unescaped);
//! - it round-trips: the DSL rebuilt from it (`dsl_of`) parses to the same query and canonical text.

#![no_main]

use klairr_stripe::dsl::{parse, Query, DEFAULT_MAX_ROWS, MAX_ROWS_LIMIT};
use klairr_stripe::error::ConnectorError;
use klairr_stripe_fuzz::mutate::{mutate_json, Rng};
use klairr_stripe_fuzz::{check_message, count, dsl_of, Outcome, DSL_TOKENS};
use libfuzzer_sys::{fuzz_mutator, fuzz_target};

const TARGET: &str = "dsl_parse";

/// The second `max-rows` an input is parsed with, chosen by its length: both ends of the clamp and
/// values around them.
const MAX_ROWS: [u32; 8] = [
    0,
    1,
    7,
    DEFAULT_MAX_ROWS,
    99_999,
    MAX_ROWS_LIMIT,
    MAX_ROWS_LIMIT + 1,
    u32::MAX,
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        count(TARGET, Outcome::Skipped);
        return;
    };
    let max_rows = MAX_ROWS[data.len() % MAX_ROWS.len()];
    let default = parse(text, DEFAULT_MAX_ROWS);
    let other = parse(text, max_rows);
    match (default, other) {
        (Ok(q), Ok(r)) => {
            check_query(text, &q, DEFAULT_MAX_ROWS);
            check_query(text, &r, max_rows);
            assert_eq!(
                (q.table, &q.params, &q.post_filters, &q.filter_keys, &q.aggregate),
                (r.table, &r.params, &r.post_filters, &r.filter_keys, &r.aggregate),
                "max-rows {max_rows} changed the query {text:?}"
            );
            let bound = max_rows.clamp(1, MAX_ROWS_LIMIT);
            if q.row_target < DEFAULT_MAX_ROWS {
                // `limit` was below the default, so it is known: the other target is min(limit, bound).
                assert_eq!(
                    r.row_target,
                    q.row_target.min(bound),
                    "{text:?} with max-rows {max_rows}"
                );
            }
            count(TARGET, Outcome::Accepted);
        }
        (Err(e), Err(f)) => {
            check_error(text, &e);
            check_error(text, &f);
            count(TARGET, Outcome::Rejected);
        }
        (q, r) => panic!(
            "{text:?}: max-rows {DEFAULT_MAX_ROWS} gave {q:?} but max-rows {max_rows} gave {r:?}"
        ),
    }
});

/// Valid queries the mutator starts over from (one time in two) when the current input is refused.
const STARTS: &[&str] = &[
    r#"{"list":"customers"}"#,
    r#"{"list":"subscriptions","filters":{"status":"active","created":{"gte":"2026-01-01"}},"limit":100}"#,
    r#"{"list":"invoices","filters":{"status":"open","collection_method":"send_invoice","customer":"cus_A"}}"#,
    r#"{"list":"charges","filters":{"status":"failed","created":{"gte":"2026-03-01","lt":"2026-04-01"}}}"#,
    r#"{"list":"payouts","filters":{"arrival_date":{"gte":"2026-04-01T00:00:00Z"},"status":"in_transit"}}"#,
    r#"{"limit":10,"list":"invoices","filters":{"subscription":"sub_9","created":1767225600}}"#,
    r#"{"list":"subscriptions","filters":{"status":"active"},"group_by":["currency"],"measures":{"subscriptions":"count","mrr":{"sum":"mrr"}}}"#,
    r#"{"list":"charges","filters":{"status":"failed"},"group_by":[{"created":"month"},"currency"],"measures":{"n":"count","amount":{"sum":"amount"}}}"#,
];

fuzz_mutator!(|data: &mut [u8], size: usize, max_size: usize, seed: u32| {
    let refused =
        std::str::from_utf8(&data[..size]).map_or(true, |t| parse(t, DEFAULT_MAX_ROWS).is_err());
    let mut rng = Rng::new(seed ^ 0x5bd1_e995);
    let restart = (refused && rng.chance(2)).then(|| rng.pick(STARTS).as_bytes());
    mutate_json(data, size, max_size, seed, &DSL_TOKENS, restart)
});

fn check_error(text: &str, e: &ConnectorError) {
    let ConnectorError::InvalidQuery(message) = e else {
        panic!(
            "{text:?} was refused with {} (not invalid-query): {e}",
            e.kind()
        );
    };
    check_message("dsl", message, text.as_bytes());
    assert_eq!(
        &e.to_string(),
        message,
        "InvalidQuery displays its message as is"
    );
}

fn check_query(text: &str, q: &Query, max_rows: u32) {
    let bound = max_rows.clamp(1, MAX_ROWS_LIMIT);
    assert!(
        (1..=bound).contains(&q.row_target),
        "{text:?}: row target {} outside 1..={bound}",
        q.row_target
    );
    for (name, value) in &q.params {
        assert!(
            !value.is_empty()
                && value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_'),
            "{text:?}: parameter {name} = {value:?} is not [0-9A-Za-z_]+"
        );
        assert!(
            name.bytes()
                .all(|b| b.is_ascii_lowercase() || b"_[]".contains(&b)),
            "{text:?}: parameter name {name:?}"
        );
    }
    let canonical = q.canonical();
    assert_eq!(
        canonical,
        q.clone().canonical(),
        "canonical text is not deterministic"
    );

    let rebuilt = dsl_of(q);
    let again = parse(&rebuilt, max_rows).unwrap_or_else(|e| {
        panic!("{text:?} was accepted, but its rebuilt form {rebuilt:?} is refused: {e}")
    });
    let mut want = q.params.clone();
    let mut got = again.params.clone();
    want.sort();
    got.sort();
    assert_eq!(
        (q.table, want, &q.post_filters, q.row_target, &q.aggregate),
        (again.table, got, &again.post_filters, again.row_target, &again.aggregate),
        "{text:?} → {rebuilt:?} is another query"
    );
    assert_eq!(
        again.canonical(),
        canonical,
        "{text:?} → {rebuilt:?} changed the canonical text"
    );
}
