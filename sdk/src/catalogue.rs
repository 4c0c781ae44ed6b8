//! The catalogue types: what `describe` returns about a connector and its tables, and the typed values
//! of a row. Each connector lists its own tables, columns and filters with these.

use crate::prelude::*;
/// A column's type. Mirrors `klairr:connector/types.column-type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ColumnType {
    /// An object id of the API (`cus_…`, `acc_…`), as text.
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
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Cell {
    #[default]
    Null,
    Text(String),
    Integer(i64),
    Boolean(bool),
}

/// A column of a table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ColumnSpec {
    pub name: &'static str,
    pub kind: ColumnType,
    pub nullable: bool,
    pub doc: &'static str,
    /// Free text about a person (an email, a name, a description someone typed): never a group key of
    /// an aggregate, whose group values leave the component as they are.
    pub personal: bool,
}

impl ColumnSpec {
    /// A column that says nothing about a person.
    pub const fn new(
        name: &'static str,
        kind: ColumnType,
        nullable: bool,
        doc: &'static str,
    ) -> ColumnSpec {
        ColumnSpec {
            name,
            kind,
            nullable,
            doc,
            personal: false,
        }
    }
}

/// A column of a query's result: one of its table's columns, or one a query names (an aggregate's
/// group column or measure). Mirrors `klairr:connector/types.column`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub kind: ColumnType,
    pub nullable: bool,
    pub doc: String,
}

impl From<&ColumnSpec> for Column {
    fn from(c: &ColumnSpec) -> Column {
        Column {
            name: c.name.to_owned(),
            kind: c.kind,
            nullable: c.nullable,
            doc: c.doc.to_owned(),
        }
    }
}

/// A connector's table: its name in queries and results.
pub trait Table: Copy + 'static {
    fn name(self) -> &'static str;
}

/// What `describe` says of one filter of a table; each connector's filter spec adds what it needs to
/// read and send it.
pub trait Filter: 'static {
    /// The filter as `describe` shows it: key, accepted values, doc.
    fn described(&self) -> FilterSpec;
}

/// A filter that needs nothing beyond what `describe` says of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FilterSpec {
    pub key: &'static str,
    /// What values are accepted, in words an LLM can act on.
    pub accepts: &'static str,
    pub doc: &'static str,
}

impl Filter for FilterSpec {
    fn described(&self) -> FilterSpec {
        *self
    }
}

/// One table of the catalogue: `T` names it, `F` is the connector's filter spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableSpec<T: 'static, F: 'static> {
    pub table: T,
    pub doc: &'static str,
    pub columns: &'static [ColumnSpec],
    pub filters: &'static [F],
}

impl<T, F: Filter> TableSpec<T, F> {
    /// The filter spec for `key`, if this table accepts it.
    pub fn filter(&self, key: &str) -> Option<&'static F> {
        self.filters.iter().find(|f| f.described().key == key)
    }

    pub fn has_filter(&self, key: &str) -> bool {
        self.filter(key).is_some()
    }

    /// The filter keys, in catalogue order.
    pub fn filter_keys(&self) -> Vec<&'static str> {
        self.filters.iter().map(|f| f.described().key).collect()
    }

    /// `created, customer, …`: the filter keys, for messages that list what is allowed.
    pub fn filter_list(&self) -> String {
        self.filter_keys().join(", ")
    }

    /// Position of the column called `name` in every row of this table.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }
}

/// How a connector's aggregates are written and bounded, for `describe`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AggregateInfo {
    pub doc: &'static str,
    /// The time buckets a query may group by.
    pub buckets: Vec<&'static str>,
    pub default_max_scan: u32,
    pub max_scan_limit: u32,
}

/// What `describe` returns: everything an LLM needs to write valid queries. `S` is the connector's
/// table spec.
pub struct ConnectorInfo<S: 'static> {
    pub name: &'static str,
    pub api_version: &'static str,
    pub default_cache_ttl_seconds: u32,
    pub default_max_rows: u32,
    pub max_rows_limit: u32,
    pub query_doc: &'static str,
    pub tables: &'static [S],
    /// `None` for a connector that computes no aggregates.
    pub aggregates: Option<AggregateInfo>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    struct Flt(&'static str);

    impl Filter for Flt {
        fn described(&self) -> FilterSpec {
            FilterSpec {
                key: self.0,
                accepts: "anything",
                doc: "a filter",
            }
        }
    }

    const SPEC: TableSpec<(), Flt> = TableSpec {
        table: (),
        doc: "a table",
        columns: &[
            ColumnSpec::new("id", ColumnType::Id, false, "the id"),
            ColumnSpec::new("created", ColumnType::Timestamp, false, "when"),
        ],
        filters: &[Flt("created"), Flt("currency")],
    };

    #[test]
    fn table_specs_find_their_filters_and_columns() {
        assert_eq!(SPEC.filter("currency"), Some(&Flt("currency")));
        assert!(SPEC.has_filter("created"));
        assert!(!SPEC.has_filter("status"));
        assert_eq!(SPEC.filter_keys(), ["created", "currency"]);
        assert_eq!(SPEC.filter_list(), "created, currency");
        assert_eq!(SPEC.column_index("created"), Some(1));
        assert_eq!(SPEC.column_index("nope"), None);
        assert!(!SPEC.columns[0].personal);
        let column = Column::from(&SPEC.columns[1]);
        assert_eq!(
            (column.name.as_str(), column.kind.as_str()),
            ("created", "timestamp")
        );
    }
}
