//! The query language: a tiny, read-only JSON DSL, validated against the catalogue in [`crate::schema`].
//!
//! ```text
//! {"list": "subscriptions", "filters": {"status": "active", "created": {"gte": "2026-01-01"}}, "limit": 100}
//! ```
//!
//! `list` (required) names one of the five tables; `filters` (optional) is an object of allow-listed keys
//! per table; `limit` (optional) is an integer ≥ 1; `measures` (optional) makes the query an aggregate,
//! with `group_by` (optional) its group columns (`aggregate.rs`, README "Aggregates"). Nothing else
//! exists: there is no verb to write, expand or select with, so the grammar itself keeps the connector
//! read-only.
//!
//! What comes out is a [`Query`]: Stripe list parameters whose values have all been validated (integers,
//! ids of `[0-9A-Za-z]`, enum members), so nothing an LLM writes can reach a URL path or a header — only
//! query values, which [`crate::stripe::list_path`] percent-encodes anyway.
//!
//! Parsing reads the text into a small tree with a depth-limited `DeserializeSeed` (`json.rs`): deeper than the DSL
//! ever needs (top object → filters object → range object) is refused as soon as it is seen, so
//! `[[[[…` costs nothing, and a key repeated in one object is refused rather than silently resolved (JSON
//! parsers disagree on which copy wins, and a query must mean one thing).
//!
//! Here: `parse` (the top-level keys) and the messages' wording; `query.rs`: the [`Query`] and its canonical
//! text; `filters.rs`: the `filters` object and timestamp ranges; `aggregate.rs`: `group_by` and
//! `measures`; `time.rs`: RFC 3339 dates and the calendar; `json.rs`: the JSON tree reader.

use crate::prelude::*;
mod aggregate;
mod filters;
mod json;
mod query;
#[cfg(test)]
mod tests;
mod time;

use crate::aggregate::{DEFAULT_MAX_SCAN, MAX_SCAN_LIMIT};
use crate::error::ConnectorError;
use crate::schema::{self, Table};
use filters::{apply_defaults, apply_filters};
use json::{read_json, Json};

pub use query::{PostFilter, Query};
pub use time::MAX_TIMESTAMP;

/// Longest DSL text accepted, in bytes. Real queries are well under 1 KiB.
pub const MAX_DSL_BYTES: usize = 16 * 1024;
/// Rows returned when neither `limit` nor the configuration says otherwise.
pub const DEFAULT_MAX_ROWS: u32 = 1000;
/// The highest `max-rows` a configuration may set.
pub const MAX_ROWS_LIMIT: u32 = 100_000;

const TOP_LEVEL_KEYS: &str = "list, filters, limit, group_by, measures, order_by";
const EXAMPLE: &str = r#"{"list": "subscriptions", "filters": {"status": "active"}, "limit": 100}"#;

/// Validate `dsl` against the catalogue. `max_rows` is the configuration's limit (already validated by
/// the caller; clamped to 1..=[`MAX_ROWS_LIMIT`] here all the same). An aggregate reads at most
/// [`DEFAULT_MAX_SCAN`] rows ([`parse_with`] sets another bound).
pub fn parse(dsl: &str, max_rows: u32) -> Result<Query, ConnectorError> {
    parse_with(dsl, max_rows, DEFAULT_MAX_SCAN)
}

/// [`parse`] for a connection whose scans (an aggregate's, a list's under a filter the connector
/// applies) read at most `max_scan` rows (clamped to 1..=[`MAX_SCAN_LIMIT`]).
pub fn parse_with(dsl: &str, max_rows: u32, max_scan: u32) -> Result<Query, ConnectorError> {
    if dsl.len() > MAX_DSL_BYTES {
        return Err(invalid(format!(
            "the query is {} bytes long; at most {MAX_DSL_BYTES} bytes are accepted. A query looks like {EXAMPLE}",
            dsl.len()
        )));
    }
    let root = read_json(dsl)?;
    let Json::Object(entries) = root else {
        return Err(invalid(format!(
            "the query must be a JSON object like {EXAMPLE}; got {}",
            describe(&root)
        )));
    };

    let (mut list, mut filters, mut limit) = (None, None, None);
    let (mut group_by, mut measures, mut order_by) = (None, None, None);
    for (key, value) in entries {
        match key.as_str() {
            "list" => list = Some(value),
            "filters" => filters = Some(value),
            "limit" => limit = Some(value),
            "group_by" => group_by = Some(value),
            "measures" => measures = Some(value),
            "order_by" => order_by = Some(value),
            other => {
                return Err(invalid(format!(
                    "unknown key {} in the query: allowed keys are {TOP_LEVEL_KEYS}. The DSL is read-only: it can \
                     only list rows of a table, e.g. {EXAMPLE}",
                    quote(other)
                )))
            }
        }
    }

    let table = match list {
        None => {
            return Err(invalid(format!(
            "the query has no 'list' key: name the table to read, one of: {}. Example: {EXAMPLE}",
            table_names()
        )))
        }
        Some(Json::Str(name)) => Table::from_name(&name).ok_or_else(|| {
            invalid(format!(
                "unknown table {} in 'list': allowed tables are: {}",
                quote(&name),
                table_names()
            ))
        })?,
        Some(other) => {
            return Err(invalid(format!(
                "'list' must be a table name string, one of: {}; got {}",
                table_names(),
                describe(&other)
            )))
        }
    };

    let max_rows = max_rows.clamp(1, MAX_ROWS_LIMIT);
    let row_target = match limit {
        None => max_rows,
        // `n` ≥ 1 here, and the minimum with a u32 fits a u32.
        Some(Json::Int(n)) if n >= 1 => u32::try_from(n.min(i128::from(max_rows))).unwrap_or(max_rows),
        // A whole number beyond 64 bits is larger than max-rows too.
        Some(ref big) if big.huge_integer() == Some(false) => max_rows,
        Some(other) => {
            return Err(invalid(format!(
                "'limit' must be a whole number ≥ 1 written without a decimal point or exponent (rows returned = \
                 min(limit, max-rows = {max_rows})); got {}",
                describe(&other)
            )))
        }
    };

    let mut query = Query {
        table,
        params: Vec::new(),
        post_filters: Vec::new(),
        row_target,
        max_rows,
        max_scan: max_scan.clamp(1, MAX_SCAN_LIMIT),
        filter_keys: Vec::new(),
        aggregate: None,
    };
    match filters {
        None => {}
        Some(Json::Object(entries)) => apply_filters(&mut query, entries)?,
        Some(other) => {
            return Err(invalid(format!(
                "'filters' must be an object of filter keys, e.g. {{\"created\": {{\"gte\": \"2026-01-01\"}}}}; \
                 allowed filters for table {} are: {}; got {}",
                table.name(),
                schema::table_spec(table).filter_list(),
                describe(&other)
            )))
        }
    }
    apply_defaults(&mut query);
    query.aggregate = match (measures, group_by, order_by) {
        (Some(measures), group_by, order_by) => Some(aggregate::aggregate(
            table,
            group_by,
            measures,
            order_by,
            max_scan.clamp(1, MAX_SCAN_LIMIT),
            query.filter_keys.iter().any(|k| k == "currency"),
        )?),
        (None, Some(_), _) => {
            return Err(invalid(format!(
                "'group_by' needs 'measures': say what to compute per group, e.g. \
                 {{\"list\": \"{}\", \"group_by\": [\"currency\"], \"measures\": {{\"n\": \"count\"}}}}",
                table.name()
            )))
        }
        (None, None, Some(_)) => {
            return Err(invalid(format!(
                "'order_by' sorts the groups of an aggregate, so it needs 'measures', e.g. {{\"list\": \"{}\", \
                 \"group_by\": [\"currency\"], \"measures\": {{\"n\": \"count\"}}, \"order_by\": [{{\"n\": \"desc\"}}]}}; \
                 the rows of a list come newest first, as Stripe lists them",
                table.name()
            )))
        }
        (None, None, None) => None,
    };
    Ok(query)
}

/// Sorts the handful of strings of one query (its parameters or filter keys). An insertion sort: the
/// general-purpose `sort_unstable` is several KB of component for lists this short.
fn sort_few(items: &mut [String]) {
    for i in 1..items.len() {
        let mut j = i;
        while j > 0 && items[j - 1] > items[j] {
            items.swap(j - 1, j);
            j -= 1;
        }
    }
}

fn invalid(msg: String) -> ConnectorError {
    ConnectorError::InvalidQuery(msg)
}

fn table_names() -> String {
    let names: Vec<&str> = Table::ALL.iter().map(|t| t.name()).collect();
    names.join(", ")
}

/// `'key'`, shortened, with control characters, quotes and backslashes escaped (`\u{1b}`, `\'`) so that
/// odd input cannot make a message unreadable. Not `{:?}`: `str`'s `Debug` brings Unicode tables into
/// the component for nothing a user needs here.
fn quote(s: &str) -> String {
    const MAX: usize = 64;
    let mut quoted = String::with_capacity(s.len().min(MAX) + 8);
    quoted.push('\'');
    let mut chars = s.chars();
    for c in chars.by_ref().take(MAX) {
        if c.is_control() || c == '\'' || c == '\\' {
            quoted.extend(c.escape_default());
        } else {
            quoted.push(c);
        }
    }
    if chars.next().is_some() {
        quoted.push('…');
    }
    quoted.push('\'');
    quoted
}

fn describe(value: &Json) -> String {
    match value {
        Json::Null => "null".into(),
        Json::Bool(b) => format!("the boolean {b}"),
        // Written without i128 formatting, which would add code to the component for one message: every
        // integer the reader gives fits an i64 or a u64.
        Json::Int(n) => match i64::try_from(*n) {
            Ok(n) => format!("the integer {n}"),
            Err(_) => format!("the integer {}", u64::try_from(*n).unwrap_or(u64::MAX)),
        },
        // As written (never evaluated, so no float code in the component), shortened like a quote.
        Json::Float(text) => match text.get(..24) {
            Some(start) if text.len() > 24 => format!("the number {start}…"),
            _ => format!("the number {text}"),
        },
        Json::Str(s) => format!("the string {}", quote(s)),
        Json::Array(_) => "an array".into(),
        // Its size, which is what an entry of one key each is most often wrong in (QA).
        Json::Object(o) if o.is_empty() => "an empty object".into(),
        Json::Object(o) if o.len() > 1 => format!("an object of {} keys", o.len()),
        Json::Object(_) => "an object".into(),
    }
}
