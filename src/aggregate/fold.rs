//! Folding rows into groups: one accumulator per measure per group, groups kept in their result order
//! (a `BTreeMap` on the group values), and the result rows made from them.

use super::{Aggregate, Func, ResultColumn, MAX_GROUPS};
use crate::error::ConnectorError;
use crate::prelude::*;
use crate::schema::Cell;
use alloc::collections::{BTreeMap, BTreeSet};
use core::cmp::Reverse;

/// One group value. The derived order is the result's: within a column every value has the same
/// variant (the column's type) or is null, and `Null` comes last. Text compares as bytes (UTF-8 byte
/// order), booleans false before true. The `Rev…` variants hold the values of a descending `order_by`
/// key, so that sorting the groups is the group map again ([`Folder::finish`]), its nulls still last.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Int(i64),
    Bool(bool),
    Text(String),
    RevInt(Reverse<i64>),
    RevBool(Reverse<bool>),
    RevText(Reverse<String>),
    Null,
}

impl Key {
    fn of(cell: Cell) -> Key {
        match cell {
            Cell::Null => Key::Null,
            Cell::Text(s) => Key::Text(s),
            Cell::Integer(i) => Key::Int(i),
            Cell::Boolean(b) => Key::Bool(b),
        }
    }

    fn into_cell(self) -> Cell {
        match self {
            Key::Null => Cell::Null,
            Key::Text(s) => Cell::Text(s),
            Key::Int(i) => Cell::Integer(i),
            Key::Bool(b) | Key::RevBool(Reverse(b)) => Cell::Boolean(b),
            Key::RevInt(Reverse(i)) => Cell::Integer(i),
            Key::RevText(Reverse(s)) => Cell::Text(s),
        }
    }
}

/// A measure's running state in one group.
#[derive(Clone, Debug)]
enum Acc {
    Count(u64),
    /// In 128 bits, whatever order the values come in: only the group's whole sum must fit 64 bits
    /// (checked by [`Acc::cell`]'s callers), not each partial sum on the way (1,000,000 rows of 64-bit values
    /// cannot leave 128 bits).
    /// None until a value is added: a sum over no values is unknown (null), as SQL's SUM, not 0
    /// (QA: "0.00 GBP" of MRR for subscriptions whose MRR is unknown read as real zero MRR).
    Sum(Option<i128>),
    /// The sum in 128 bits: a mean of 64-bit values always fits 64 bits, their sum may not.
    Avg {
        sum: i128,
        n: u64,
    },
    Min(Option<i64>),
    Max(Option<i64>),
    Distinct(BTreeSet<Key>),
}

impl Acc {
    fn new(func: Func) -> Acc {
        match func {
            Func::Count => Acc::Count(0),
            Func::Sum => Acc::Sum(None),
            Func::Avg => Acc::Avg { sum: 0, n: 0 },
            Func::Min => Acc::Min(None),
            Func::Max => Acc::Max(None),
            Func::CountDistinct => Acc::Distinct(BTreeSet::new()),
        }
    }

    /// Add one row's value ([`ROW`] for a `count` of no column).
    fn add(&mut self, value: Cell) {
        match (self, value) {
            // Nulls are skipped by every measure: `{"count": COLUMN}` counts the values a measure of
            // COLUMN covers.
            (_, Cell::Null) => {}
            (Acc::Count(n), _) => *n += 1,
            (Acc::Distinct(set), value) => {
                set.insert(Key::of(value));
            }
            // No fold reaches 2^64 rows, so 128 bits hold any sum of 64-bit values.
            (Acc::Sum(sum), Cell::Integer(v)) => *sum = Some(sum.unwrap_or(0) + i128::from(v)),
            (Acc::Avg { sum, n }, Cell::Integer(v)) => {
                *sum += i128::from(v);
                *n += 1;
            }
            (Acc::Min(m), Cell::Integer(v)) => *m = Some(m.map_or(v, |m| m.min(v))),
            (Acc::Max(m), Cell::Integer(v)) => *m = Some(m.map_or(v, |m| m.max(v))),
            // The DSL only accepts integer-valued columns for these; a row that breaks its catalogue
            // type never gets here (the page decoder refuses it).
            _ => {}
        }
    }

    /// A sum that does not fit 64 bits (which [`Folder::finish`] refuses).
    fn overflows(&self) -> bool {
        matches!(self, Acc::Sum(Some(s)) if i64::try_from(*s).is_err())
    }

    fn cell(&self) -> Cell {
        match *self {
            Acc::Count(n) => Cell::Integer(saturate(n)),
            // Refused by `finish` when it does not fit (`overflows`).
            Acc::Sum(s) => s.map_or(Cell::Null, |s| Cell::Integer(s as i64)),
            Acc::Avg { sum, n } => match n {
                0 => Cell::Null,
                n => Cell::Integer(mean(sum, n)),
            },
            Acc::Min(m) | Acc::Max(m) => m.map_or(Cell::Null, Cell::Integer),
            Acc::Distinct(ref set) => Cell::Integer(saturate(set.len() as u64)),
        }
    }
}

fn saturate(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// `sum / n` rounded half away from zero. The mean of `n` values of `i64` is itself within `i64`.
pub(super) fn mean(sum: i128, n: u64) -> i64 {
    let n = i128::from(n);
    let (q, r) = (sum / n, sum % n);
    let q = if 2 * r.abs() >= n {
        q + sum.signum()
    } else {
        q
    };
    i64::try_from(q).unwrap_or(if q < 0 { i64::MIN } else { i64::MAX })
}

/// What a `count` of no column sees of each row: a value, so every row counts.
const ROW: Cell = Cell::Boolean(true);

/// Where the aggregate's values are in a projected row ([`super::project`]).
struct Slots {
    /// Per group column: its position, and its bucket.
    groups: Vec<(usize, Option<super::Bucket>)>,
    /// Per measure: its position (none for a `count` of no column).
    measures: Vec<Option<usize>>,
}

/// Folds projected rows into the groups of one [`Aggregate`].
pub struct Folder<'a> {
    aggregate: &'a Aggregate,
    slots: Slots,
    groups: BTreeMap<Vec<Key>, Vec<Acc>>,
    rows: u64,
}

/// The rows of an aggregate's result and how many groups there were.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grouped {
    /// At most `limit` groups, in group order: the group values, then the measures.
    pub rows: Vec<Vec<Cell>>,
    /// Groups found (before `limit`).
    pub groups: u64,
    /// Rows folded.
    pub rows_folded: u64,
}

impl<'a> Folder<'a> {
    /// A folder for rows projected to `used` ([`Aggregate::used`]).
    pub fn new(aggregate: &'a Aggregate, used: &[usize]) -> Folder<'a> {
        let spec = crate::schema::table_spec(aggregate.table);
        let slot = |name: &str| {
            let column = spec.column_index(name);
            used.iter().position(|&u| Some(u) == column)
        };
        let slots = Slots {
            groups: aggregate
                .group_by
                .iter()
                .map(|g| (slot(g.column.name).unwrap_or(usize::MAX), g.bucket))
                .collect(),
            measures: aggregate
                .measures
                .iter()
                .map(|m| m.column.and_then(|c| slot(c.name)))
                .collect(),
        };
        Folder {
            aggregate,
            slots,
            groups: BTreeMap::new(),
            rows: 0,
        }
    }

    /// Fold one projected row into its group.
    pub fn fold(&mut self, row: Vec<Cell>) -> Result<(), ConnectorError> {
        let cell = |i: usize| row.get(i).cloned().unwrap_or(Cell::Null);
        let key: Vec<Key> = self
            .slots
            .groups
            .iter()
            .map(|&(i, bucket)| match (cell(i), bucket) {
                (Cell::Integer(t), Some(b)) => Key::Int(b.start(t)),
                (value, _) => Key::of(value),
            })
            .collect();
        if !self.groups.contains_key(&key) && self.groups.len() >= MAX_GROUPS {
            return Err(ConnectorError::invalid_query(format!(
                "the aggregate found more than {MAX_GROUPS} groups in {}; group by fewer columns or a coarser \
                 bucket, or narrow the filters",
                self.aggregate.table.name()
            )));
        }
        let measures = &self.aggregate.measures;
        let accs = self
            .groups
            .entry(key)
            .or_insert_with(|| measures.iter().map(|m| Acc::new(m.func)).collect());
        for (acc, slot) in accs.iter_mut().zip(&self.slots.measures) {
            acc.add(slot.map_or(ROW, cell));
        }
        self.rows += 1;
        Ok(())
    }

    /// The result: the first `limit` groups in the aggregate's order (`order_by`, then group order).
    /// Without group columns there is always one row, of totals, even over no rows. An `invalid-query`
    /// error when a sum in one of them (in any group, with `order_by`) does not fit 64 bits.
    pub fn finish(mut self, limit: u32) -> Result<Grouped, ConnectorError> {
        if self.aggregate.group_by.is_empty() && self.groups.is_empty() {
            let measures = &self.aggregate.measures;
            self.groups.insert(
                Vec::new(),
                measures.iter().map(|m| Acc::new(m.func)).collect(),
            );
        }
        let groups = self.groups.len() as u64;
        // Noted on the way rather than checked in a pass of its own: the group map is walked once
        // (twice with `order_by`).
        let mut overflowing = None;
        let order_by = &self.aggregate.order_by;
        let sorted = if order_by.is_empty() {
            self.groups
        } else {
            // The same map, keyed by the sort values first and the group values after them (ties in
            // group order): no sort of its own in the component. Every group is ordered, so a sum too
            // big for 64 bits is refused in whichever group it is.
            let mut sorted = BTreeMap::new();
            for (key, accs) in self.groups {
                if let Some(i) = accs.iter().position(Acc::overflows) {
                    overflowing = Some(i);
                }
                let mut by: Vec<Key> = order_by
                    .iter()
                    .map(|order| {
                        let value = match order.column {
                            ResultColumn::Group(i) => key.get(i).cloned(),
                            ResultColumn::Measure(i) => accs.get(i).map(|a| Key::of(a.cell())),
                        };
                        match value.unwrap_or(Key::Null) {
                            Key::Int(i) if order.descending => Key::RevInt(Reverse(i)),
                            Key::Bool(b) if order.descending => Key::RevBool(Reverse(b)),
                            Key::Text(s) if order.descending => Key::RevText(Reverse(s)),
                            value => value,
                        }
                    })
                    .collect();
                by.extend(key);
                // Keys are unique (they end in the group's); `entry` is the code the fold already has.
                sorted.entry(by).or_insert(accs);
            }
            sorted
        };
        let sort_keys = order_by.len();
        let rows = sorted
            .into_iter()
            .take(limit as usize)
            .map(|(key, accs)| {
                key.into_iter()
                    .skip(sort_keys)
                    .map(Key::into_cell)
                    .chain(accs.into_iter().enumerate().map(|(i, acc)| {
                        if acc.overflows() {
                            overflowing = Some(i);
                        }
                        acc.cell()
                    }))
                    .collect()
            })
            .collect();
        if let Some(measure) = overflowing.and_then(|i| self.aggregate.measures.get(i)) {
            return Err(ConnectorError::invalid_query(format!(
                "the measure {} (sum of {}) does not fit in 64 bits in one of the groups: narrow the filters \
                 or group by more columns",
                measure.name,
                measure.column.map_or("rows", |c| c.name)
            )));
        }
        Ok(Grouped {
            rows,
            groups,
            rows_folded: self.rows,
        })
    }
}
