//! Aggregates computed inside the component: group the rows a query matches and measure each group, so
//! that only the group rows leave the sandbox (README, "Aggregates").
//!
//! A query with `measures` ([`crate::dsl`] reads and validates it into an [`Aggregate`]) is paged like a
//! list query up to its scan bound ([`crate::pager::scan`]); each row is cut down to the columns the
//! aggregate uses ([`project`]) and folded into its group as soon as the pager knows it
//! belongs to the result (`fold.rs`, [`Folder`]). Here: the measures, the group keys and the result's
//! columns; `bucket.rs`: calendar buckets of timestamps.

use crate::prelude::*;
mod bucket;
mod fold;
#[cfg(test)]
mod tests;

use crate::schema::{self, Cell, Column, ColumnSpec, ColumnType, Table};

pub use bucket::Bucket;
pub use fold::{Folder, Grouped};

/// Rows an aggregate reads at most unless the connection sets `max-scan`.
pub const DEFAULT_MAX_SCAN: u32 = 100_000;
/// The highest `max-scan` a connection may set.
pub const MAX_SCAN_LIMIT: u32 = 1_000_000;
/// Measures one query may ask for at most.
pub const MAX_MEASURES: usize = 8;
/// Group columns one query may have at most.
pub const MAX_GROUP_COLUMNS: usize = 4;
/// Groups one aggregate may find at most (before `limit`): the component holds them all until the scan
/// ends, so more is an error that says to group by fewer or coarser columns.
pub const MAX_GROUPS: usize = 100_000;

/// How aggregate queries are written, for `describe`.
pub const AGGREGATE_DOC: &str = "An aggregate query is a list query with \"measures\": {NAME: MEASURE, ...} and optionally \
\"group_by\": [COLUMN or {TIMESTAMP_COLUMN: BUCKET}, ...]. MEASURE is \"count\" (rows) or {\"count\"|\"sum\"|\"avg\"|\"min\"|\"max\"|\"count_distinct\": COLUMN}; \
each table lists the columns every measure accepts. NAME matches [a-z][a-z0-9_]{0,63} and differs from the group columns. \
A bucket column is named COLUMN_BUCKET (created_month) and holds the unix second its bucket starts at (UTC; weeks are ISO weeks from Monday). \
Money is never added or compared across currencies: sum, avg, min, max and count_distinct of an amount column (and an amount column as group key) need the table's currency column in group_by. \
Nulls are skipped ({\"count\": COLUMN} counts the rows a measure of COLUMN covers); over no values count and count_distinct are 0, sum, avg, min and max null; avg is an integer rounded half away from zero; a sum over 64 bits is an error. \
The result has the group columns in group_by order, then the measures in the order written; one row per group ordered by the group values ascending \
(text in UTF-8 byte order, false before true, nulls last), one row of totals without group_by. \
\"order_by\": [{COLUMN: \"asc\"|\"desc\"}, ...] sorts the groups by result columns (measures or group columns) instead, first key first, nulls last either way, ties in group order \
(a group whose key is null, such as charges without a customer, ranks like any other); \
an amount sorts only after the currency ([{\"currency\": \"asc\"}, {NAME: \"desc\"}]: each currency's groups, largest first). \
limit keeps the first groups in the result's order: the ten largest are order_by [{NAME: \"desc\"}] with limit 10 (without order_by, limit keeps the first in group order, not the largest); \
the ten largest amounts of one currency also filter it ({\"currency\": \"usd\"}; order_by still starts with the currency), as limit would otherwise keep the first currency's. \
The connector reads the rows itself, at most max-scan of them (the connection's own, else default_max_scan; up to max_scan_limit; with a filter the connector applies, every row it looks at counts); a scan that stops there is partial, says so, and its result is truncated. \
At most 8 measures and 4 group columns. Example: {\"list\": \"subscriptions\", \"filters\": {\"status\": \"active\"}, \"group_by\": [\"currency\"], \
\"measures\": {\"subscriptions\": \"count\", \"mrr_known\": {\"count\": \"mrr\"}, \"mrr\": {\"sum\": \"mrr\"}}, \"order_by\": [{\"subscriptions\": \"desc\"}]} \
(mrr_known: the subscriptions whose mrr is known, so in the sum; a metered one has none).";

/// What a measure computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Func {
    Count,
    Sum,
    Avg,
    Min,
    Max,
    CountDistinct,
}

impl Func {
    pub const ALL: [Func; 6] = [
        Func::Count,
        Func::Sum,
        Func::Avg,
        Func::Min,
        Func::Max,
        Func::CountDistinct,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Func::Count => "count",
            Func::Sum => "sum",
            Func::Avg => "avg",
            Func::Min => "min",
            Func::Max => "max",
            Func::CountDistinct => "count_distinct",
        }
    }

    pub fn from_name(name: &str) -> Option<Func> {
        Func::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Whether this measure takes a column of type `kind` (`count` takes any, or none).
    pub fn accepts(self, kind: ColumnType) -> bool {
        use ColumnType::{Amount, Integer, Timestamp};
        match self {
            Func::Count | Func::CountDistinct => true,
            Func::Sum | Func::Avg => matches!(kind, Integer | Amount),
            Func::Min | Func::Max => matches!(kind, Integer | Amount | Timestamp),
        }
    }

    /// What the columns it accepts are, in words (for messages).
    pub fn accepts_text(self) -> &'static str {
        match self {
            Func::Count => "any column, or none (write \"count\")",
            Func::Sum | Func::Avg => "an integer or amount column",
            Func::Min | Func::Max => "an integer, amount or timestamp column",
            Func::CountDistinct => "any column",
        }
    }

    pub fn doc(self) -> &'static str {
        match self {
            Func::Count => "Rows in the group, written \"count\"; {\"count\": COLUMN} counts those where COLUMN is not null.",
            Func::Sum => "Sum of the column's values; null over no values (every one null); over 64 bits is an error.",
            Func::Avg => "Mean of the column's values, an integer rounded half away from zero; null over no values.",
            Func::Min => "Smallest value of the column; null over no values.",
            Func::Max => "Largest value of the column; null over no values.",
            Func::CountDistinct => "Number of distinct values of the column; 0 over no values.",
        }
    }

    /// Whether the measure of an amount column is itself money (a sum, mean, minimum or maximum).
    fn is_money(self) -> bool {
        matches!(self, Func::Sum | Func::Avg | Func::Min | Func::Max)
    }
}

/// One group column: a column as it is, or a timestamp column's bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupKey {
    pub column: &'static ColumnSpec,
    pub bucket: Option<Bucket>,
}

impl GroupKey {
    /// The table's currency column as it is (what a measure or an order of money needs first).
    pub fn is_currency(&self) -> bool {
        self.bucket.is_none() && self.column.kind == ColumnType::Currency
    }

    /// An amount column as it is: a group value that is money.
    pub fn is_money(&self) -> bool {
        self.bucket.is_none() && needs_currency(None, self.column)
    }

    /// Its column name in the result: the column's, or `created_month` for a bucket.
    pub fn name(&self) -> String {
        match self.bucket {
            None => self.column.name.to_owned(),
            Some(b) => format!("{}_{}", self.column.name, b.name()),
        }
    }
}

/// One measure: its output name, what it computes and over which column (none for `count`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Measure {
    pub name: String,
    pub func: Func,
    pub column: Option<&'static ColumnSpec>,
}

/// One key of `order_by`: a column of the result, and which way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Order {
    pub column: ResultColumn,
    pub descending: bool,
}

/// A column of an aggregate's result: a group column or a measure, by position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResultColumn {
    Group(usize),
    Measure(usize),
}

impl Measure {
    /// A sum, mean, minimum or maximum of an amount column: a measure of money.
    pub fn is_money(&self) -> bool {
        self.column
            .is_some_and(|c| c.kind == ColumnType::Amount && self.func.is_money())
    }
}

/// A validated aggregate of one table's matching rows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Aggregate {
    pub table: Table,
    pub group_by: Vec<GroupKey>,
    /// In the order the query wrote them.
    pub measures: Vec<Measure>,
    /// How the groups are sorted before `limit`, first key first; ties (and an empty list) in group
    /// order.
    pub order_by: Vec<Order>,
    /// Rows read at most ([`DEFAULT_MAX_SCAN`] or the connection's `max-scan`).
    pub max_scan: u32,
}

impl Aggregate {
    /// The table's column indices the aggregate reads, ascending and each once: a row is cut down to
    /// these before it is kept ([`project`]).
    pub fn used(&self) -> Vec<usize> {
        let reads = |name: &str| {
            self.group_by.iter().any(|g| g.column.name == name)
                || self
                    .measures
                    .iter()
                    .any(|m| m.column.is_some_and(|c| c.name == name))
        };
        // In the table's column order: ascending without a sort (several KB of component).
        schema::table_spec(self.table)
            .columns
            .iter()
            .enumerate()
            .filter(|(_, c)| reads(c.name))
            .map(|(i, _)| i)
            .collect()
    }

    /// The result's columns: the group columns in `group_by` order, then the measures as written.
    pub fn columns(&self) -> Vec<Column> {
        let groups = self.group_by.iter().map(|g| Column {
            name: g.name(),
            kind: g.column.kind,
            nullable: g.column.nullable,
            doc: match g.bucket {
                None => g.column.doc.to_owned(),
                Some(b) => format!(
                    "{}, by {}: the unix second (UTC) the {} starts at.",
                    g.column.name,
                    b.name(),
                    b.name()
                ),
            },
        });
        let measures = self.measures.iter().map(|m| {
            let (kind, nullable) = match (m.func, m.column) {
                (Func::Count | Func::CountDistinct, _) | (_, None) => (ColumnType::Integer, false),
                (Func::Sum | Func::Avg | Func::Min | Func::Max, Some(c)) => (c.kind, true),
            };
            Column {
                name: m.name.clone(),
                kind,
                nullable,
                doc: match m.column {
                    None => "Rows in the group.".to_owned(),
                    Some(c) => format!("{} of {}.", m.func.name(), c.name),
                },
            }
        });
        groups.chain(measures).collect()
    }

    /// The aggregate's part of the query's canonical text: group columns and measures in their order
    /// (both are the result's column order), the scan bound, and the sort when there is one.
    pub fn canonical(&self) -> String {
        let groups: Vec<String> = self
            .group_by
            .iter()
            .map(|g| match g.bucket {
                None => g.column.name.to_owned(),
                Some(b) => format!("{}@{}", g.column.name, b.name()),
            })
            .collect();
        let measures: Vec<String> = self
            .measures
            .iter()
            .map(|m| match m.column {
                None => format!("{}:{}", m.name, m.func.name()),
                Some(c) => format!("{}:{}({})", m.name, m.func.name(), c.name),
            })
            .collect();
        let mut text = format!(
            ";group={};measures={};scan={}",
            groups.join(","),
            measures.join(","),
            self.max_scan
        );
        // By position (`m0` the first measure, `g1` the second group column), as the result has them.
        for (i, order) in self.order_by.iter().enumerate() {
            text.push_str(if i == 0 { ";order=" } else { "," });
            let (kind, at) = match order.column {
                ResultColumn::Group(at) => ('g', at),
                ResultColumn::Measure(at) => ('m', at),
            };
            text.push(kind);
            // One digit: at most MAX_MEASURES measures and MAX_GROUP_COLUMNS group columns.
            text.push(char::from_digit(at as u32, 10).unwrap_or('?'));
            text.push(if order.descending { '-' } else { '+' });
        }
        text
    }

    /// The measure names and what each computes, for the memory shape.
    pub fn shape(&self) -> AggregateShape {
        AggregateShape {
            group_by: self.group_by.iter().map(GroupKey::name).collect(),
            measures: self
                .measures
                .iter()
                .map(|m| (m.name.clone(), m.func.name()))
                .collect(),
        }
    }
}

/// The cells of `row` (a whole row of the table) at the column indices `used` ([`Aggregate::used`]:
/// ascending, each once), in that order.
pub fn project(used: &[usize], mut row: Vec<Cell>) -> Vec<Cell> {
    used.iter()
        .map(|&i| row.get_mut(i).map_or(Cell::Null, core::mem::take))
        .collect()
}

/// What may be remembered about an aggregate: its group columns and measures, never a value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AggregateShape {
    pub group_by: Vec<String>,
    /// (output name, measure) in the query's order.
    pub measures: Vec<(String, &'static str)>,
}

/// What an aggregate may do with one table, for `describe`: the columns it may group by as they are,
/// those it may bucket, and the columns each measure accepts.
pub struct TableAggregates {
    pub group_by: Vec<&'static str>,
    pub bucket_by: Vec<&'static str>,
    pub measures: Vec<(Func, Vec<&'static str>)>,
}

/// [`TableAggregates`] of `table`, from its catalogue entry.
pub fn table_aggregates(table: Table) -> TableAggregates {
    let columns = schema::table_spec(table).columns;
    let names = |keep: &dyn Fn(&ColumnSpec) -> bool| -> Vec<&'static str> {
        columns.iter().filter(|c| keep(c)).map(|c| c.name).collect()
    };
    TableAggregates {
        group_by: names(&|c| !c.personal),
        bucket_by: names(&|c| c.kind == ColumnType::Timestamp),
        measures: Func::ALL
            .into_iter()
            .map(|f| (f, names(&|c| f.accepts(c.kind))))
            .collect(),
    }
}

/// The table's currency column, which every measure of money needs as a group column.
pub fn currency_column(table: Table) -> Option<&'static ColumnSpec> {
    schema::table_spec(table)
        .columns
        .iter()
        .find(|c| c.kind == ColumnType::Currency)
}

/// Whether a measure (or a group column) of `column` adds or compares money and so needs the currency
/// column among the group columns: any but a count of rows (`count_distinct` compares: 100 usd and
/// 100 eur are not one value).
pub fn needs_currency(func: Option<Func>, column: &ColumnSpec) -> bool {
    column.kind == ColumnType::Amount && func != Some(Func::Count)
}
