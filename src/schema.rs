//! The connector's catalogue: the five canonical tables, their typed columns and their filters.
//! `describe` returns exactly this, so an LLM can write valid queries from it alone.

/// A column's type. Mirrors `klairr:connector/types.column-type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ColumnType {
    /// A Stripe object id (`cus_…`), as text.
    Id,
    Text,
    Integer,
    Boolean,
    /// Unix seconds.
    Timestamp,
    /// Integer minor units of the row's `currency`.
    Amount,
    /// Lower-case ISO 4217 code.
    Currency,
}

impl ColumnType {
    pub fn as_str(self) -> &'static str {
        match self {
            ColumnType::Id => "id",
            ColumnType::Text => "text",
            ColumnType::Integer => "integer",
            ColumnType::Boolean => "boolean",
            ColumnType::Timestamp => "timestamp",
            ColumnType::Amount => "amount",
            ColumnType::Currency => "currency",
        }
    }
}

/// One typed value of a row. Mirrors `klairr:connector/types.cell`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cell {
    Null,
    Text(String),
    Integer(i64),
    Boolean(bool),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ColumnSpec {
    pub name: &'static str,
    pub kind: ColumnType,
    pub nullable: bool,
    pub doc: &'static str,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FilterSpec {
    pub key: &'static str,
    /// What values are accepted, e.g. `"one of: active, canceled, …"` or a range description.
    pub accepts: &'static str,
    pub doc: &'static str,
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableSpec {
    pub table: Table,
    pub doc: &'static str,
    pub columns: &'static [ColumnSpec],
    pub filters: &'static [FilterSpec],
}
