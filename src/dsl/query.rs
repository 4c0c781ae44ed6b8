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
    /// Filters the connector applies to the rows after fetching (Stripe's list has no such parameter), in
    /// the catalogue's filter order: a row is kept when every one matches ([`Query::keeps`]).
    pub post_filters: Vec<PostFilter>,
    /// rows wanted = min(limit, max_rows); limit defaults to max_rows. For an aggregate: groups.
    pub row_target: u32,
    /// The connection's max_rows (clamped): what a larger `limit` cannot go past.
    pub max_rows: u32,
    /// The connection's max-scan (clamped): the most objects any scan of this query reads, an
    /// aggregate's or a list's under a filter the connector applies ([`Query::list_scan_bound`]).
    pub max_scan: u32,
    /// The DSL filter keys used, sorted (goes into the privacy-safe memory shape).
    pub filter_keys: Vec<String>,
    /// Set when the query has `measures`: the rows are read up to its scan bound and folded into groups.
    pub aggregate: Option<Aggregate>,
}

/// A filter applied by the connector: the row's cell of `column` (the filter's key) must equal `value`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostFilter {
    pub key: &'static str,
    /// The column's index in the table's rows.
    pub column: usize,
    pub value: Cell,
}

impl PostFilter {
    /// `key value`, e.g. `status failed`, for notes and the canonical text.
    pub fn text(&self) -> String {
        let value = match &self.value {
            Cell::Text(s) => s.as_str(),
            Cell::Boolean(true) => "true",
            Cell::Boolean(false) => "false",
            // The DSL makes text and booleans only.
            Cell::Integer(_) | Cell::Null => "?",
        };
        format!("{} {value}", self.key)
    }
}

impl Query {
    /// Canonical text: equal for equivalent queries (key order, `"2026-01-01"` vs `1767225600`, a bound
    /// written as a date or an integer, `gt: N` vs `gte: N+1`, an exact `created` vs an equal gte/lte
    /// pair), different otherwise; includes table, params, post-filters and row_target, and an
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
        let kept: Vec<String> = self.post_filters.iter().map(PostFilter::text).collect();
        // A list the connector filters reads up to its scan bound, which the connection's max-scan
        // may lower: part of what its answer is.
        let scan = if self.post_filters.is_empty() || self.aggregate.is_some() {
            0
        } else {
            self.list_scan_bound()
        };
        format!(
            "{}?{}#kept={};rows={};scan={scan}{}",
            self.table.name(),
            parts.join("&"),
            kept.join(","),
            self.row_target,
            self.aggregate
                .as_ref()
                .map_or_else(String::new, Aggregate::canonical)
        )
    }

    /// How many objects a list read under a filter the connector applies looks at at most: the rule of
    /// [`crate::pager::scan_bound`] for its row target, within the connection's max-scan (which a
    /// manifest may lower: QA saw a list read 2.5 times a manifest's `max_scan_rows`).
    pub fn list_scan_bound(&self) -> u64 {
        crate::pager::scan_bound(self.row_target).min(u64::from(self.max_scan))
    }

    /// Whether a projected row passes the connector's own filters (true without any).
    pub fn keeps(&self, row: &[Cell]) -> bool {
        self.post_filters
            .iter()
            .all(|f| row.get(f.column) == Some(&f.value))
    }
}

/// Whether `key` is a timestamp filter of any table in the catalogue (`created`, `due_date`, …), whose
/// exact value `key=N` reads as the range `[N,N]`.
fn is_range_filter(key: &str) -> bool {
    schema::tables()
        .iter()
        .flat_map(|t| t.filters)
        .any(|f| f.key == key && f.kind == FilterKind::Range)
}
