//! The connector's catalogue: the five canonical tables, their typed columns and their filters.
//! `describe` returns exactly this, so an LLM can write valid queries from it alone.
//!
//! Here: the types, the tables and lookups; `columns.rs`: each table's columns; `filters.rs`: each table's
//! filters and the values they accept.

mod columns;
mod filters;
#[cfg(test)]
mod tests;

use columns::{
    CHARGE_COLUMNS, CUSTOMER_COLUMNS, INVOICE_COLUMNS, PAYOUT_COLUMNS, SUBSCRIPTION_COLUMNS,
};
use filters::{
    CHARGE_FILTERS, CUSTOMER_FILTERS, INVOICE_FILTERS, PAYOUT_FILTERS, SUBSCRIPTION_FILTERS,
};

pub use filters::{
    BOOLEAN_ACCEPTS, CHARGE_STATUSES, COLLECTION_METHODS, CURRENCY_ACCEPTS, INVOICE_STATUSES,
    PAYOUT_STATUSES, RANGE_ACCEPTS, SUBSCRIPTION_STATUSES,
};

pub use klairr_connector_sdk::catalogue::{Cell, Column, ColumnSpec, ColumnType};

/// A filter of one table: everything the DSL ([`crate::dsl`]) needs to read it and write it as Stripe list
/// parameters, and what `describe` says about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FilterSpec {
    pub key: &'static str,
    pub kind: FilterKind,
    /// What values are accepted, e.g. `"one of: active, canceled, …"` or a range description.
    pub accepts: &'static str,
    pub doc: &'static str,
    /// Applied by the connector to the projected rows instead of being sent to Stripe, whose list has no
    /// such parameter: the row's cell of the column named like the filter must equal the value (the
    /// query carries it in [`crate::dsl::Query::post_filters`]).
    pub by_connector: bool,
    /// Sent to Stripe when the query has no such filter (subscriptions `status=all`: Stripe on its own
    /// would leave canceled subscriptions out).
    pub default: Option<&'static str>,
}

/// How a filter's value is read and sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FilterKind {
    /// A timestamp ([`RANGE_ACCEPTS`]): integer unix seconds for an exact match, sent as `key=N`, or an
    /// object of `gt`/`gte`/`lt`/`lte` bounds, sent as `key[gte]=N` and so on.
    Range,
    /// A Stripe object id: `prefix` then letters and digits only.
    Id { prefix: &'static str },
    /// One of these values, sent as given.
    OneOf(&'static [&'static str]),
    /// A JSON boolean (`true` or `false`).
    Boolean,
    /// A three-letter ISO 4217 code in any case, read in lower case (how Stripe writes currencies).
    Currency,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    Customers,
    Subscriptions,
    Invoices,
    Charges,
    Payouts,
}

impl Table {
    pub const ALL: [Table; 5] = [
        Table::Customers,
        Table::Subscriptions,
        Table::Invoices,
        Table::Charges,
        Table::Payouts,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Table::Customers => "customers",
            Table::Subscriptions => "subscriptions",
            Table::Invoices => "invoices",
            Table::Charges => "charges",
            Table::Payouts => "payouts",
        }
    }

    pub fn from_name(name: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The Stripe list endpoint, e.g. `/v1/customers`.
    pub fn list_path(self) -> &'static str {
        match self {
            Table::Customers => "/v1/customers",
            Table::Subscriptions => "/v1/subscriptions",
            Table::Invoices => "/v1/invoices",
            Table::Charges => "/v1/charges",
            Table::Payouts => "/v1/payouts",
        }
    }
}

/// One table of the catalogue: its columns and its filters.
pub type TableSpec = klairr_connector_sdk::catalogue::TableSpec<Table, FilterSpec>;

impl klairr_connector_sdk::catalogue::Table for Table {
    fn name(self) -> &'static str {
        Table::name(self)
    }
}

impl klairr_connector_sdk::catalogue::Filter for FilterSpec {
    /// What `describe` shows; the rest (kind, post-filter, default) is how this connector reads it.
    fn described(&self) -> klairr_connector_sdk::catalogue::FilterSpec {
        let FilterSpec {
            key, accepts, doc, ..
        } = *self;
        klairr_connector_sdk::catalogue::FilterSpec { key, accepts, doc }
    }
}

/// The enumeration a filter accepts, or `None` for filters that are ranges, ids or booleans.
pub fn filter_values(table: Table, key: &str) -> Option<&'static [&'static str]> {
    match table_spec(table).filter(key)?.kind {
        FilterKind::OneOf(values) => Some(values),
        FilterKind::Range | FilterKind::Id { .. } | FilterKind::Boolean | FilterKind::Currency => {
            None
        }
    }
}

static TABLES: [TableSpec; 5] = [
    TableSpec {
        table: Table::Customers,
        doc: "Customers of the Stripe account, newest first: contact details, billing currency, credit balance, delinquency.",
        columns: CUSTOMER_COLUMNS,
        filters: CUSTOMER_FILTERS,
    },
    TableSpec {
        table: Table::Subscriptions,
        doc: "Subscriptions of every status (canceled included unless filtered), newest first, with billing period and list-price monthly recurring revenue (mrr).",
        columns: SUBSCRIPTION_COLUMNS,
        filters: SUBSCRIPTION_FILTERS,
    },
    TableSpec {
        table: Table::Invoices,
        doc: "Invoices, newest first: amounts due/paid/remaining, status, the subscription that produced them, when paid.",
        columns: INVOICE_COLUMNS,
        filters: INVOICE_FILTERS,
    },
    TableSpec {
        table: Table::Charges,
        doc: "Charges (card and other payments), newest first: amounts charged/captured/refunded, status, failure reason, dispute flag.",
        columns: CHARGE_COLUMNS,
        filters: CHARGE_FILTERS,
    },
    TableSpec {
        table: Table::Payouts,
        doc: "Payouts from the Stripe balance to bank accounts or cards, newest first: amount, status, expected arrival date.",
        columns: PAYOUT_COLUMNS,
        filters: PAYOUT_FILTERS,
    },
];

/// The whole catalogue, in [`Table::ALL`] order.
pub fn tables() -> &'static [TableSpec] {
    &TABLES
}

/// The spec of one table.
pub const fn table_spec(t: Table) -> &'static TableSpec {
    // TABLES is in Table::ALL order, which is the enum's declaration order (checked by a test).
    &TABLES[t as usize]
}

/// Whether `names` are `table`'s column names, in order. A `const fn` so that each projection in
/// [`crate::rows`] is checked against the catalogue when the crate compiles: the column order is declared
/// here once, and a row that names its cells differently does not build.
pub(crate) const fn columns_are(table: Table, names: &[&str]) -> bool {
    let columns = table_spec(table).columns;
    if columns.len() != names.len() {
        return false;
    }
    let mut i = 0;
    while i < names.len() {
        let (a, b) = (columns[i].name.as_bytes(), names[i].as_bytes());
        if a.len() != b.len() {
            return false;
        }
        let mut j = 0;
        while j < a.len() {
            if a[j] != b[j] {
                return false;
            }
            j += 1;
        }
        i += 1;
    }
    true
}
