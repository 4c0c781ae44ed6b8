//! Fuzz `klairr_stripe::rows::parse_page`, the decoder of every list page Stripe (or whatever answers in
//! its place) sends back.
//!
//! The first byte picks the table (`'0'..'4'` → customers, subscriptions, invoices, charges, payouts, in
//! `Table::ALL` order; any byte works, modulo 5); the rest is the response body. Per input:
//! - a refusal is a `RowError` whose message names the table and passes `check_message`;
//! - an accepted page has one cell per column, each of its column's type (null only where the catalogue
//!   allows it), `last_id` = the last row's id, and `livemode` set exactly when there are rows.

#![no_main]

use klairr_stripe::rows::{parse_page, Page, RowError};
use klairr_stripe::schema::{table_spec, Cell, ColumnType as K, Table};
use klairr_stripe_fuzz::mutate::{mutate_json, Rng};
use klairr_stripe_fuzz::{check_message, count, Outcome, PAGE_TOKENS};
use libfuzzer_sys::{fuzz_mutator, fuzz_target};
use serde::de::IgnoredAny;

const TARGET: &str = "page_decode";

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        count(TARGET, Outcome::Skipped);
        return;
    };
    let table = Table::ALL[table_of(selector)];
    match parse_page(table, body) {
        Ok(page) => {
            check_page(table, &page, body);
            count(TARGET, Outcome::Accepted);
        }
        Err(e) => {
            check_error(table, &e, body);
            count(TARGET, Outcome::Rejected);
        }
    }
});

/// A valid page of each table, in `Table::ALL` order (table byte included), that the mutator starts
/// over from (one time in two) when the current body is not even JSON.
const STARTS: [&[u8]; 5] = [
    include_bytes!("../seeds/page_decode/customers-limit1.json"),
    include_bytes!("../seeds/page_decode/subscriptions-limit1.json"),
    include_bytes!("../seeds/page_decode/invoices-limit1.json"),
    include_bytes!("../seeds/page_decode/charges-limit1.json"),
    include_bytes!("../seeds/page_decode/payouts-limit1.json"),
];

fn table_of(selector: u8) -> usize {
    usize::from(selector.wrapping_sub(b'0')) % Table::ALL.len()
}

// The body is mutated as JSON; the table byte is kept, and changed on one mutation in sixteen (a page of
// one table offered as another). Whether the body is JSON is checked without building anything, as
// the decoder's own first pass does.
fuzz_mutator!(|data: &mut [u8], size: usize, max_size: usize, seed: u32| {
    let mut rng = Rng::new(seed ^ 0x5bd1_e995);
    if size == 0 || max_size < 2 || rng.chance(16) {
        return libfuzzer_sys::fuzzer_mutate(data, size, max_size);
    }
    let broken = serde_json::from_slice::<IgnoredAny>(&data[1..size]).is_err();
    let restart = (broken && rng.chance(2)).then(|| &STARTS[table_of(data[0])][1..]);
    1 + mutate_json(
        &mut data[1..],
        size - 1,
        max_size - 1,
        seed,
        &PAGE_TOKENS,
        restart,
    )
});

fn check_error(table: Table, e: &RowError, body: &[u8]) {
    let (RowError::Malformed(detail) | RowError::WrongType(detail)) = e;
    let prefix = format!("{}: ", table.name());
    assert!(
        detail.starts_with(&prefix),
        "the message does not name the table {}: {e}",
        table.name()
    );
    check_message("page", &e.to_string(), body);
}

fn check_page(table: Table, page: &Page, body: &[u8]) {
    let spec = table_spec(table);
    for row in &page.rows {
        assert_eq!(
            row.len(),
            spec.columns.len(),
            "{}: row {row:?}",
            table.name()
        );
        for (cell, col) in row.iter().zip(spec.columns) {
            let ok = match (cell, col.kind) {
                (Cell::Null, _) => col.nullable,
                (Cell::Text(_), K::Id | K::Text | K::Currency) => true,
                (Cell::Integer(_), K::Integer | K::Timestamp | K::Amount) => true,
                (Cell::Boolean(_), K::Boolean) => true,
                _ => false,
            };
            assert!(
                ok,
                "{}.{} ({}, nullable {}) = {cell:?} from {:?}",
                table.name(),
                col.name,
                col.kind.as_str(),
                col.nullable,
                String::from_utf8_lossy(body)
            );
        }
    }
    let last_id = page.rows.last().map(|row| match &row[0] {
        Cell::Text(id) => id.clone(),
        other => panic!("{}: id cell {other:?}", table.name()),
    });
    assert_eq!(page.last_id, last_id, "{}: last_id", table.name());
    assert_eq!(
        page.livemode.is_some(),
        !page.rows.is_empty(),
        "{}: livemode {:?} with {} rows",
        table.name(),
        page.livemode,
        page.rows.len()
    );
}
