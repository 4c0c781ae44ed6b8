//! The validated query and its canonical text (the result cache's key).

use super::sort_few;
use crate::aggregate::Aggregate;
use crate::prelude::*;
use crate::schema::{self, Cell, FilterKind, Table};

/// A validated query, ready for the pager.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    pub table: Table,
    /// Stripe query parameters derived from the filters, NOT percent-encoded ([`crate::stripe::list_path`]
    /// encodes), in a canonical order, e.g. `("created[gte]","1767225600")`, `("status","all")`. Never
    /// `limit`/`starting_after`.
    pub params: Vec<(String, String)>,
    /// charges only: status applied by the connector after fetching (Stripe has no such parameter).
    pub charge_status: Option<String>,
    /// rows wanted = min(limit, max_rows); limit defaults to max_rows. For an aggregate: groups.
    pub row_target: u32,
    /// The DSL filter keys used, sorted (goes into the privacy-safe memory shape).
    pub filter_keys: Vec<String>,
    /// Set when the query has `measures`: the rows are read up to its scan bound and folded into groups.
    pub aggregate: Option<Aggregate>,
}

impl Query {
    /// Canonical text: equal for equivalent queries (key order, `"2026-01-01"` vs `1767225600`, a bound
    /// written as a date or an integer, `gt: N` vs `gte: N+1`, an exact `created` vs an equal gte/lte
    /// pair), different otherwise; includes table, params, charge_status and row_target, and an
    /// aggregate's group columns, measures and scan bound. Used as a cache key. Timestamp ranges are written as inclusive `[lo,hi]` (`*` for open), which is what makes
    /// equivalent spellings meet.
    pub fn canonical(&self) -> String {
        // (name, lo, hi) for range parameters; plain "name=value" for the others.
        let mut ranges: Vec<(&str, Option<i64>, Option<i64>)> = Vec::new();
        let mut parts: Vec<String> = Vec::new();
        for (name, value) in &self.params {
            let bound = name
                .strip_suffix(']')
                .and_then(|n| n.split_once('['))
                .filter(|(_, op)| matches!(*op, "gt" | "gte" | "lt" | "lte"));
            let (base, op) = match bound {
                Some((base, op)) => (base, op),
                None if is_range_filter(name) => (name.as_str(), "eq"),
                None => {
                    parts.push(format!("{name}={value}"));
                    continue;
                }
            };
            let Ok(v) = value.parse::<i64>() else {
                // Not produced by `parse`; keep it verbatim so that it still distinguishes queries.
                parts.push(format!("{name}={value}"));
                continue;
            };
            let idx = match ranges.iter().position(|r| r.0 == base) {
                Some(i) => i,
                None => {
                    ranges.push((base, None, None));
                    ranges.len() - 1
                }
            };
            let r = &mut ranges[idx];
            let (lo, hi) = match op {
                "gt" => (v.checked_add(1), None),
                "gte" => (Some(v), None),
                "lt" => (None, v.checked_sub(1)),
                "lte" => (None, Some(v)),
                _ => (Some(v), Some(v)),
            };
            if let Some(lo) = lo {
                r.1 = Some(r.1.map_or(lo, |cur| cur.max(lo)));
            }
            if let Some(hi) = hi {
                r.2 = Some(r.2.map_or(hi, |cur| cur.min(hi)));
            }
        }
        let show = |b: Option<i64>| b.map_or_else(|| "*".to_owned(), |v| v.to_string());
        for (base, lo, hi) in ranges {
            parts.push(format!("{base}=[{},{}]", show(lo), show(hi)));
        }
        sort_few(&mut parts);
        format!(
            "{}?{}#charge_status={};rows={}{}",
            self.table.name(),
            parts.join("&"),
            self.charge_status.as_deref().unwrap_or("*"),
            self.row_target,
            self.aggregate
                .as_ref()
                .map_or_else(String::new, Aggregate::canonical)
        )
    }

    /// Post-filter for a projected row (charges status); true for other tables.
    pub fn keeps(&self, row: &[Cell]) -> bool {
        match (&self.charge_status, self.table) {
            (Some(wanted), Table::Charges) => schema::table_spec(Table::Charges)
                .column_index("status")
                .and_then(|i| row.get(i))
                .is_some_and(|cell| matches!(cell, Cell::Text(s) if s == wanted)),
            _ => true,
        }
    }
}

/// Whether `key` is a timestamp filter of any table in the catalogue (`created`, `arrival_date`), whose
/// exact value `key=N` reads as the range `[N,N]`.
fn is_range_filter(key: &str) -> bool {
    schema::tables()
        .iter()
        .flat_map(|t| t.filters)
        .any(|f| f.key == key && f.kind == FilterKind::Range)
}
