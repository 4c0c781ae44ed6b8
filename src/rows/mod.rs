//! Stripe list pages at the pinned version (2026-04-22.dahlia) projected to typed rows.
//!
//! One `json_object!` struct per table names exactly the fields a row needs; everything else in
//! Stripe's (large) objects is skipped by the reader (`crate::json`) without being built, and unknown fields are ignored so
//! that additions to the API never break a page. Column order is [`crate::schema`]'s: each projection names
//! its cells after the catalogue's columns (`row!`), checked when the crate compiles.
//!
//! Rules that hold for every table:
//! - a field the catalogue marks nullable may be absent or `null` → [`Cell::Null`];
//! - a non-nullable field (Stripe always sends it at this version) that is absent, `null` or of the wrong
//!   type, and a wrong-typed nullable field, make the page fail with [`RowError::WrongType`] naming the
//!   table, the field and the object;
//! - expandable references (`customer`, `payment_intent`, …) give the id whether Stripe sent the id or the
//!   expanded object (`expandable.rs`);
//! - enum-like fields (`status`, `type`, …) are open strings: values added by later versions pass through.
//!
//! Parsing is one pass of the reader over the body. Only when it fails is the body read a second time, object
//! by object and with the same structs, to find out which field of which object is wrong (see
//! `diagnose.rs`); no generic JSON tree is ever built.
//!
//! One file per table (`customers.rs`, `subscriptions.rs`, `invoices.rs`, `charges.rs`, `payouts.rs`): the
//! fields read and the projection to a row.

use crate::prelude::*;
mod charges;
mod customers;
mod diagnose;
mod expandable;
mod invoices;
mod payouts;
mod subscriptions;
#[cfg(test)]
mod tests;

use crate::json_object::json_object;
use crate::schema::{Cell, Table};
use charges::Charge;
use customers::Customer;
use diagnose::diagnose;
use expandable::Expandable;
use invoices::Invoice;
use payouts::Payout;
use subscriptions::Subscription;

/// One page of a Stripe list, projected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page {
    /// Rows in Stripe's order (newest first), columns in [`crate::schema`] order.
    pub rows: Vec<Vec<Cell>>,
    pub has_more: bool,
    /// id of the last object in `data` (the next `starting_after`).
    pub last_id: Option<String>,
    /// `livemode` of every object on the page (`None` when `data` is empty). Objects that disagree among
    /// themselves make the page [`RowError::Malformed`].
    pub livemode: Option<bool>,
}

/// Why a page could not be projected. Messages name what is wrong; they never contain row values other
/// than object ids.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RowError {
    /// The body is not JSON, or not a Stripe list envelope.
    #[error("Stripe sent a list page the connector cannot read: {0}")]
    Malformed(String),
    /// A field has the wrong type (or a field Stripe always sends is missing): named, e.g.
    /// "invoices: field 'total' of in_123 is not an integer".
    #[error("Stripe sent an object the connector cannot read: {0}")]
    WrongType(String),
}

/// Project one page of `table` from a Stripe list response body.
pub fn parse_page(table: Table, body: &[u8]) -> Result<Page, RowError> {
    match table {
        Table::Customers => page::<Customer>(table, body),
        Table::Subscriptions => page::<Subscription>(table, body),
        Table::Invoices => page::<Invoice>(table, body),
        Table::Charges => page::<Charge>(table, body),
        Table::Payouts => page::<Payout>(table, body),
    }
}

/// A Stripe object that becomes one row.
trait Project: crate::json::Decode {
    fn livemode(&self) -> bool;
    fn into_row(self) -> Vec<Cell>;
}

json_object! {
    struct Envelope<T> {
        /// `"list"` when present; checked so that a single object or an error body is never read as a page.
        object: Option<String>,
        data: Vec<T>,
        has_more: bool,
    }
}

fn page<T: Project>(table: Table, body: &[u8]) -> Result<Page, RowError> {
    let envelope: Envelope<T> = match crate::json::from_slice(body) {
        Ok(envelope) => envelope,
        Err(e) => return Err(diagnose(table, body, &e, check::<T>)),
    };
    // Only this much is per table; the checks below are one function for all five.
    let objects = envelope
        .data
        .into_iter()
        .map(|o| (o.livemode(), o.into_row()))
        .collect();
    assemble(table, envelope.object, objects, envelope.has_more)
}

/// The page from its objects, each as (livemode, row): the envelope's and the objects' checks.
fn assemble(
    table: Table,
    object: Option<String>,
    objects: Vec<(bool, Vec<Cell>)>,
    has_more: bool,
) -> Result<Page, RowError> {
    if let Some(object) = object.as_deref().filter(|o| *o != "list") {
        return Err(not_a_list(table, object));
    }
    let mut livemode = None;
    for (mode, row) in &objects {
        match livemode {
            None => livemode = Some(*mode),
            Some(first) if first != *mode => return Err(mixed_modes(table, row_id(row), *mode)),
            Some(_) => {}
        }
    }
    let last_id = objects.last().map(|(_, row)| row_id(row).to_owned());
    let rows = objects.into_iter().map(|(_, row)| row).collect();
    Ok(Page {
        rows,
        has_more,
        last_id,
        livemode,
    })
}

/// A row's id: its first cell, the `id` column of every table.
fn row_id(row: &[Cell]) -> &str {
    match row.first() {
        Some(Cell::Text(id)) => id,
        _ => "",
    }
}

// The error paths below are shared by the five tables rather than copied into each `page::<T>`: every KB
// of the component ships in every load.

#[cold]
#[inline(never)]
fn not_a_list(table: Table, object: &str) -> RowError {
    let object = safe_id(object).unwrap_or("something else");
    RowError::Malformed(format!(
        "{}: expected a list (\"object\": \"list\"), got \"object\": \"{object}\"",
        table.name()
    ))
}

#[cold]
#[inline(never)]
fn mixed_modes(table: Table, id: &str, livemode: bool) -> RowError {
    let id = safe_id(id).unwrap_or("an object");
    RowError::Malformed(format!(
        "{}: the page mixes live-mode and test-mode objects ({id} has livemode {livemode})",
        table.name()
    ))
}

/// Messages quote an object's id only when it looks like one (a Stripe id: letters, digits and `_`,
/// at most 64 characters). Anything else in a response — control characters, megabytes, a customer's
/// email where an id should be — never reaches a message.
fn safe_id(id: &str) -> Option<&str> {
    (!id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        .then_some(id)
}

/// Whether one object of the page parses as a `T` (the diagnosis's question, asked per object).
fn check<T: Project>(object: &[u8]) -> Result<(), crate::json::Error> {
    crate::json::from_slice::<T>(object).map(drop)
}

// ---------------------------------------------------------------------------------------------------
// Cells.

/// A row of `table`, each cell written next to the name of its column: `row![Table::Payouts; "id" =>
/// Cell::Text(self.id), …]`. The names must be the catalogue's columns in [`crate::schema`] order, which
/// the compiler checks (a constant assertion), so a projection cannot drift from the schema; what runs is
/// the plain `vec![cells…]`, at no cost in size or speed.
macro_rules! row {
    ($table:expr; $($column:literal => $cell:expr),+ $(,)?) => {{
        const _: () = assert!(
            $crate::schema::columns_are($table, &[$($column),+]),
            concat!(
                "the cells of ", stringify!($table),
                " are not named after the catalogue's columns in order (src/schema/columns.rs)"
            )
        );
        vec![$($cell),+]
    }};
}
use row;

fn text(v: Option<String>) -> Cell {
    v.map_or(Cell::Null, Cell::Text)
}
fn int(v: Option<i64>) -> Cell {
    v.map_or(Cell::Null, Cell::Integer)
}
fn boolean(v: Option<bool>) -> Cell {
    v.map_or(Cell::Null, Cell::Boolean)
}
fn id(v: Option<Expandable>) -> Cell {
    v.map_or(Cell::Null, |e| Cell::Text(e.0))
}
