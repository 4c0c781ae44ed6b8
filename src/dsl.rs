//! The query language: a tiny, read-only JSON DSL, validated against the catalogue in [`crate::schema`].
//!
//! ```text
//! {"list": "subscriptions", "filters": {"status": "active", "created": {"gte": "2026-01-01"}}, "limit": 100}
//! ```
//!
//! `list` (required) names one of the five tables; `filters` (optional) is an object of allow-listed keys
//! per table; `limit` (optional) is an integer ≥ 1. Nothing else exists: there is no verb to write, expand
//! or select with, so the grammar itself keeps the connector read-only.
//!
//! What comes out is a [`Query`]: Stripe list parameters whose values have all been validated (integers,
//! ids of `[0-9A-Za-z]`, enum members), so nothing an LLM writes can reach a URL path or a header — only
//! query values, which [`crate::stripe::list_path`] percent-encodes anyway.
//!
//! Parsing reads the text into a small tree with a depth-limited [`DeserializeSeed`]: deeper than the DSL
//! ever needs (top object → filters object → range object) is refused as soon as it is seen, so
//! `[[[[…` costs nothing, and a key repeated in one object is refused rather than silently resolved (JSON
//! parsers disagree on which copy wins, and a query must mean one thing).

use crate::error::ConnectorError;
use crate::schema::{self, Cell, Table};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// Longest DSL text accepted, in bytes. Real queries are well under 1 KiB.
pub const MAX_DSL_BYTES: usize = 16 * 1024;
/// Rows returned when neither `limit` nor the configuration says otherwise.
pub const DEFAULT_MAX_ROWS: u32 = 1000;
/// The highest `max-rows` a configuration may set.
pub const MAX_ROWS_LIMIT: u32 = 100_000;

/// Containers nest at most this deep: top-level object (1) → filters object (2) → range object (3).
const MAX_DEPTH: usize = 3;
/// No DSL object has more keys than this; more is refused before any duplicate check.
const MAX_KEYS_PER_OBJECT: usize = 32;
/// Longest id accepted for `customer` / `subscription` (Stripe ids are far shorter).
const MAX_ID_LEN: usize = 255;
/// 9999-12-31T23:59:59Z: the last second an RFC 3339 date can name; larger integers are refused too.
pub const MAX_TIMESTAMP: i64 = 253_402_300_799;

const TOP_LEVEL_KEYS: &str = "list, filters, limit";
const EXAMPLE: &str = r#"{"list": "subscriptions", "filters": {"status": "active"}, "limit": 100}"#;

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
    /// rows wanted = min(limit, max_rows); limit defaults to max_rows.
    pub row_target: u32,
    /// The DSL filter keys used, sorted (goes into the privacy-safe memory shape).
    pub filter_keys: Vec<String>,
}

impl Query {
    /// Canonical text: equal for equivalent queries (key order, `"2026-01-01"` vs `1767225600`, a bound
    /// written as a date or an integer, `gt: N` vs `gte: N+1`, an exact `created` vs an equal gte/lte
    /// pair), different otherwise; includes table, params, charge_status and row_target. Used as a cache
    /// key. Timestamp ranges are written as inclusive `[lo,hi]` (`*` for open), which is what makes
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
                None if RANGE_KEYS.contains(&name.as_str()) => (name.as_str(), "eq"),
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
            "{}?{}#charge_status={};rows={}",
            self.table.name(),
            parts.join("&"),
            self.charge_status.as_deref().unwrap_or("*"),
            self.row_target
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

/// Filters that are timestamp ranges.
const RANGE_KEYS: &[&str] = &["created", "arrival_date"];

/// Validate `dsl` against the catalogue. `max_rows` is the configuration's limit (already validated by
/// the caller; clamped to 1..=[`MAX_ROWS_LIMIT`] here all the same).
pub fn parse(dsl: &str, max_rows: u32) -> Result<Query, ConnectorError> {
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
    for (key, value) in entries {
        match key.as_str() {
            "list" => list = Some(value),
            "filters" => filters = Some(value),
            "limit" => limit = Some(value),
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
        charge_status: None,
        row_target,
        filter_keys: Vec::new(),
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
    if table == Table::Subscriptions && !query.params.iter().any(|(k, _)| k == "status") {
        // Stripe's default leaves canceled subscriptions out; "no status filter" means every status here.
        query.params.push(("status".to_owned(), "all".to_owned()));
    }
    Ok(query)
}

/// Validated filters of one query, gathered before the parameters are written in canonical order.
#[derive(Default)]
struct Filters {
    created: Option<Range>,
    arrival_date: Option<Range>,
    customer: Option<String>,
    subscription: Option<String>,
    status: Option<&'static str>,
    collection_method: Option<&'static str>,
}

/// A timestamp filter: an exact second, or bounds.
#[derive(Default)]
struct Range {
    exact: Option<i64>,
    gt: Option<i64>,
    gte: Option<i64>,
    lt: Option<i64>,
    lte: Option<i64>,
}

impl Range {
    fn push_params(&self, key: &str, params: &mut Vec<(String, String)>) {
        if let Some(v) = self.exact {
            params.push((key.to_owned(), v.to_string()));
        }
        for (op, v) in [
            ("gt", self.gt),
            ("gte", self.gte),
            ("lt", self.lt),
            ("lte", self.lte),
        ] {
            if let Some(v) = v {
                params.push((format!("{key}[{op}]"), v.to_string()));
            }
        }
    }
}

fn apply_filters(query: &mut Query, entries: Vec<(String, Json)>) -> Result<(), ConnectorError> {
    let table = query.table;
    let spec = schema::table_spec(table);
    let mut f = Filters::default();
    for (key, value) in entries {
        let Some(filter) = spec.filter(&key) else {
            return Err(invalid(format!(
                "unknown filter {} for table {}: allowed filters are: {}",
                quote(&key),
                table.name(),
                spec.filter_list()
            )));
        };
        match filter.key {
            "created" => f.created = Some(range(table, "created", &value)?),
            "arrival_date" => f.arrival_date = Some(range(table, "arrival_date", &value)?),
            "customer" => {
                f.customer = Some(object_id(
                    table,
                    "customer",
                    "cus_",
                    filter.accepts,
                    &value,
                )?)
            }
            "subscription" => {
                f.subscription = Some(object_id(
                    table,
                    "subscription",
                    "sub_",
                    filter.accepts,
                    &value,
                )?)
            }
            key @ ("status" | "collection_method") => {
                let allowed = schema::filter_values(table, key).unwrap_or(&[]);
                let chosen = match &value {
                    Json::Str(s) => allowed.iter().copied().find(|a| *a == s),
                    _ => None,
                };
                let Some(chosen) = chosen else {
                    return Err(invalid(format!(
                        "filter '{key}' for table {} must be one of: {}; got {}",
                        table.name(),
                        allowed.join(", "),
                        describe(&value)
                    )));
                };
                if key == "status" {
                    f.status = Some(chosen);
                } else {
                    f.collection_method = Some(chosen);
                }
            }
            // The catalogue has no other filter keys (tested); refuse rather than ignore if one appears.
            other => {
                return Err(invalid(format!(
                    "filter '{other}' for table {} is not supported by this connector version",
                    table.name()
                )))
            }
        }
        query.filter_keys.push(filter.key.to_owned());
    }
    sort_few(&mut query.filter_keys);

    let params = &mut query.params;
    if let Some(r) = &f.created {
        r.push_params("created", params);
    }
    if let Some(r) = &f.arrival_date {
        r.push_params("arrival_date", params);
    }
    if let Some(id) = f.customer {
        params.push(("customer".to_owned(), id));
    }
    if let Some(id) = f.subscription {
        params.push(("subscription".to_owned(), id));
    }
    if let Some(status) = f.status {
        if table == Table::Charges {
            query.charge_status = Some(status.to_owned());
        } else {
            params.push(("status".to_owned(), status.to_owned()));
        }
    }
    if let Some(method) = f.collection_method {
        params.push(("collection_method".to_owned(), method.to_owned()));
    }
    Ok(())
}

fn object_id(
    table: Table,
    key: &str,
    prefix: &str,
    accepts: &str,
    value: &Json,
) -> Result<String, ConnectorError> {
    if let Json::Str(s) = value {
        let valid = s.len() <= MAX_ID_LEN
            && s.strip_prefix(prefix).is_some_and(|rest| {
                !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric())
            });
        if valid {
            return Ok(s.clone());
        }
    }
    Err(invalid(format!(
        "filter '{key}' for table {} must be {accepts}, at most {MAX_ID_LEN} characters; got {}",
        table.name(),
        describe(value)
    )))
}

fn range(table: Table, key: &str, value: &Json) -> Result<Range, ConnectorError> {
    let wrong = |what: String| {
        invalid(format!(
            "filter '{key}' for table {}: {what}. Accepted: {}",
            table.name(),
            schema::RANGE_ACCEPTS
        ))
    };
    let entries = match value {
        Json::Int(_) => {
            let exact =
                timestamp(value).map_err(|why| wrong(format!("{} {why}", describe(value))))?;
            return Ok(Range {
                exact: Some(exact),
                ..Range::default()
            });
        }
        Json::Object(entries) => entries,
        Json::Str(_) => {
            return Err(wrong(format!(
                "got {}; a date goes inside a range object, e.g. for one whole day \
                 {{\"gte\": \"2026-01-01\", \"lt\": \"2026-01-02\"}}",
                describe(value)
            )))
        }
        other => return Err(wrong(format!("got {}", describe(other)))),
    };
    if entries.is_empty() {
        return Err(wrong(
            "the range object is empty: give at least one of gt, gte, lt, lte".into(),
        ));
    }
    let mut r = Range::default();
    for (op, bound) in entries {
        let slot = match op.as_str() {
            "gt" => &mut r.gt,
            "gte" => &mut r.gte,
            "lt" => &mut r.lt,
            "lte" => &mut r.lte,
            other => {
                return Err(wrong(format!(
                    "unknown range key {}: allowed keys are gt, gte, lt, lte",
                    quote(other)
                )))
            }
        };
        let v =
            timestamp(bound).map_err(|why| wrong(format!("'{op}': {} {why}", describe(bound))))?;
        *slot = Some(v);
    }
    if r.gt.is_some() && r.gte.is_some() {
        return Err(wrong(
            "gt and gte together: give only one lower bound".into(),
        ));
    }
    if r.lt.is_some() && r.lte.is_some() {
        return Err(wrong(
            "lt and lte together: give only one upper bound".into(),
        ));
    }
    // Inclusive bounds over integer seconds ≥ 0; an empty interval matches nothing and is surely a mistake.
    let lo = r.gt.map(|v| v + 1).or(r.gte).unwrap_or(0);
    let hi = r.lt.map(|v| v - 1).or(r.lte);
    if let Some(hi) = hi {
        if lo > hi {
            return Err(wrong(format!(
                "the range is empty: no unix second is both ≥ {lo} and ≤ {hi}; check that the lower bound \
                 (gt/gte) is below the upper bound (lt/lte)"
            )));
        }
    }
    Ok(r)
}

/// One timestamp value: integer unix seconds or an RFC 3339 date / date-time. `Err` says why not, as the
/// end of a sentence that starts with the value.
fn timestamp(value: &Json) -> Result<i64, String> {
    match value {
        Json::Int(n) if *n < 0 => Err("is negative: unix seconds start at 0 (1970-01-01)".into()),
        Json::Int(n) if *n > i128::from(MAX_TIMESTAMP) => Err(format!(
            "is after 9999-12-31T23:59:59Z ({MAX_TIMESTAMP}): give unix seconds, not milliseconds"
        )),
        // In range, so the conversion cannot fail; the fallback keeps this path panic-free anyway.
        Json::Int(n) => i64::try_from(*n).map_err(|_| "is out of range".into()),
        Json::Str(s) => parse_rfc3339(s).map_err(|why| format!("is not a valid date: {why}")),
        Json::Float(_) => Err("is not a whole number: unix seconds are integers".into()),
        _ => Err("is neither an integer nor a date string".into()),
    }
}

/// Parse `YYYY-MM-DD` (UTC midnight) or `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` into unix seconds,
/// flooring fractional seconds. Leap seconds (`:60`) are refused: unix time cannot name them.
fn parse_rfc3339(s: &str) -> Result<i64, String> {
    let b = s.as_bytes();
    let digits = |from: usize, len: usize| -> Option<i64> {
        let part = b.get(from..from + len)?;
        part.iter().try_fold(0i64, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
        })
    };
    let expected = "expected YYYY-MM-DD (e.g. 2026-01-01) or YYYY-MM-DDTHH:MM:SS with Z or an offset (e.g. 2026-01-01T10:00:00Z)";
    let (Some(year), Some(month), Some(day)) = (digits(0, 4), digits(5, 2), digits(8, 2)) else {
        return Err(expected.into());
    };
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return Err(expected.into());
    }
    if !(1..=12).contains(&month) {
        return Err(format!("month {month:02} is not 01-12"));
    }
    let last_day = days_in_month(year, month);
    if !(1..=last_day).contains(&day) {
        return Err(format!(
            "day {day:02} is not 01-{last_day:02} for {year:04}-{month:02}"
        ));
    }
    let midnight = days_from_civil(year, month, day) * 86_400;
    let seconds = if b.len() == 10 {
        midnight
    } else {
        if !matches!(b.get(10), Some(b'T' | b't')) {
            return Err(expected.into());
        }
        let (Some(hour), Some(minute), Some(second)) =
            (digits(11, 2), digits(14, 2), digits(17, 2))
        else {
            return Err(expected.into());
        };
        if b.get(13) != Some(&b':') || b.get(16) != Some(&b':') {
            return Err(expected.into());
        }
        if hour > 23 || minute > 59 || second > 59 {
            return Err(format!(
                "time {hour:02}:{minute:02}:{second:02} is out of range (hours 00-23, minutes and seconds 00-59)"
            ));
        }
        let mut i = 19;
        if b.get(i) == Some(&b'.') {
            let frac = b
                .get(i + 1..)
                .unwrap_or(&[])
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count();
            if frac == 0 {
                return Err("a '.' must be followed by digits of a second".into());
            }
            i += 1 + frac; // floored: the fraction only ever adds less than one second
        }
        let offset = match b.get(i) {
            Some(b'Z' | b'z') if b.len() == i + 1 => 0,
            Some(&sign @ (b'+' | b'-')) if b.len() == i + 6 && b.get(i + 3) == Some(&b':') => {
                let (Some(oh), Some(om)) = (digits(i + 1, 2), digits(i + 4, 2)) else {
                    return Err("the offset must be ±HH:MM, e.g. +02:00".into());
                };
                if oh > 23 || om > 59 {
                    return Err(format!(
                        "offset {oh:02}:{om:02} is out of range (at most 23:59)"
                    ));
                }
                let o = oh * 3600 + om * 60;
                if sign == b'+' {
                    o
                } else {
                    -o
                }
            }
            None => return Err("a date-time needs a UTC offset: end it with Z or ±HH:MM".into()),
            Some(_) => return Err(expected.into()),
        };
        midnight + hour * 3600 + minute * 60 + second - offset
    };
    if seconds < 0 {
        return Err("it is before 1970-01-01T00:00:00Z, where unix seconds start".into());
    }
    if seconds > MAX_TIMESTAMP {
        return Err("it is after 9999-12-31T23:59:59Z".into());
    }
    Ok(seconds)
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400); // [0, 399]
    let mp = (month + 9) % 12; // March = 0
    let doy = (153 * mp + 2) / 5 + day - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
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

/// `'key'`, shortened and escaped so that odd input cannot make a message unreadable.
fn quote(s: &str) -> String {
    const MAX: usize = 64;
    let short: String = s.chars().take(MAX).collect();
    let ellipsis = if short.len() < s.len() { "…" } else { "" };
    if short.chars().all(|c| !c.is_control() && c != '\'') {
        format!("'{short}{ellipsis}'")
    } else {
        format!("{short:?}{ellipsis}")
    }
}

fn describe(value: &Json) -> String {
    match value {
        Json::Null => "null".into(),
        Json::Bool(b) => format!("the boolean {b}"),
        // Written without i128 and f64 formatting, which would add code to the component for one message:
        // every integer serde_json reads fits an i64 or a u64, and its float formatter is linked anyway.
        Json::Int(n) => match i64::try_from(*n) {
            Ok(n) => format!("the integer {n}"),
            Err(_) => format!("the integer {}", u64::try_from(*n).unwrap_or(u64::MAX)),
        },
        Json::Float(f) => match serde_json::Number::from_f64(*f) {
            Some(n) => format!("the number {n}"),
            None => "a number that is not finite".into(),
        },
        Json::Str(s) => format!("the string {}", quote(s)),
        Json::Array => "an array".into(),
        Json::Object(_) => "an object".into(),
    }
}

// ---------------------------------------------------------------------------------------------------
// Reading the text: a tiny JSON tree, depth- and size-limited, duplicate keys refused.

/// Just enough of a JSON value for the DSL. Arrays are never valid, so their contents are not kept.
#[derive(Debug)]
enum Json {
    Null,
    Bool(bool),
    /// Any JSON integer (serde_json gives u64 or i64; both fit).
    Int(i128),
    /// A number with a fraction or exponent (`10.0`, `1e3`), or too large for 64 bits.
    Float(f64),
    Str(String),
    Array,
    /// Entries in document order, keys unique.
    Object(Vec<(String, Json)>),
}

fn read_json(text: &str) -> Result<Json, ConnectorError> {
    // A slice reader, as for Stripe's bodies: one copy of serde_json's parser in the component, not two.
    let mut de = serde_json::Deserializer::from_slice(text.as_bytes());
    let parsed = Node { depth: 1 }
        .deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v));
    parsed.map_err(|e| {
        if e.is_data() {
            // Our own refusals (depth, duplicates); serde_json appends the position.
            invalid(e.to_string())
        } else {
            invalid(format!(
                "the query is not valid JSON ({e}); a query looks like {EXAMPLE}"
            ))
        }
    })
}

/// Reads one value at nesting `depth` (the top-level value is at depth 1).
struct Node {
    depth: usize,
}

impl Node {
    fn enter<E: de::Error>(&self) -> Result<Node, E> {
        if self.depth > MAX_DEPTH {
            return Err(E::custom(format!(
                "the query nests objects or arrays too deeply: the DSL needs at most {MAX_DEPTH} levels \
                 (query object → filters object → range object such as {{\"gte\": \"2026-01-01\"}})"
            )));
        }
        Ok(Node {
            depth: self.depth + 1,
        })
    }
}

impl<'de> DeserializeSeed<'de> for Node {
    type Value = Json;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Json, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_none<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Int(i128::from(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Int(i128::from(v)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Json, E> {
        Ok(Json::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(Json::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Json, E> {
        Ok(Json::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        // Elements are read (the depth check must see them) and dropped: no DSL value is an array.
        let child = self.enter()?;
        while seq
            .next_element_seed(Node { depth: child.depth })?
            .is_some()
        {}
        Ok(Json::Array)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let child = self.enter()?;
        let mut entries: Vec<(String, Json)> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            if entries.len() == MAX_KEYS_PER_OBJECT {
                return Err(de::Error::custom(format!(
                    "an object in the query has more than {MAX_KEYS_PER_OBJECT} keys; the DSL's objects have a \
                     handful (top level: {TOP_LEVEL_KEYS})"
                )));
            }
            if entries.iter().any(|(k, _)| *k == key) {
                return Err(de::Error::custom(format!(
                    "duplicate key {} in the query: give each key once",
                    quote(&key)
                )));
            }
            let value = map.next_value_seed(Node { depth: child.depth })?;
            entries.push((key, value));
        }
        Ok(Json::Object(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What a table-driven case expects.
    enum Want {
        /// params, charge_status, row_target
        Ok(
            &'static [(&'static str, &'static str)],
            Option<&'static str>,
            u32,
        ),
        /// invalid-query whose message contains this
        Err(&'static str),
    }
    use Want::{Err as E, Ok as O};

    const JAN1: &str = "1767225600"; // 2026-01-01T00:00:00Z

    #[test]
    fn table_of_queries() {
        let deep = format!("{}{}", "[".repeat(8000), "]".repeat(8000));
        let big = format!(
            r#"{{"list":"customers","x":"{}"}}"#,
            "a".repeat(MAX_DSL_BYTES)
        );
        let long_id = format!(
            r#"{{"list":"charges","filters":{{"customer":"cus_{}"}}}}"#,
            "a".repeat(300)
        );
        let cases: Vec<(&str, Want)> = vec![
            // --- valid ---
            (r#"{"list":"customers"}"#, O(&[], None, 1000)),
            (r#"  {"list":"customers"}  "#, O(&[], None, 1000)),
            (r#"{"list":"customers","limit":5}"#, O(&[], None, 5)),
            (r#"{"list":"customers","limit":5000}"#, O(&[], None, 1000)),
            (r#"{"list":"customers","limit":18446744073709551615}"#, O(&[], None, 1000)),
            (r#"{"list":"customers","filters":{}}"#, O(&[], None, 1000)),
            (r#"{"list":"customers","filters":{"created":1767225600}}"#, O(&[("created", JAN1)], None, 1000)),
            (r#"{"list":"customers","filters":{"created":0}}"#, O(&[("created", "0")], None, 1000)),
            (
                r#"{"list":"customers","filters":{"created":{"gte":"2026-01-01"}}}"#,
                O(&[("created[gte]", JAN1)], None, 1000),
            ),
            (
                r#"{"list":"customers","filters":{"created":{"lt":"2026-01-01T10:00:00Z"}}}"#,
                O(&[("created[lt]", "1767261600")], None, 1000),
            ),
            (
                r#"{"list":"customers","filters":{"created":{"gt":"2026-01-01T10:00:00+02:00"}}}"#,
                O(&[("created[gt]", "1767254400")], None, 1000),
            ),
            (
                r#"{"list":"customers","filters":{"created":{"gt":"2026-01-01t10:00:00.999-01:30"}}}"#,
                O(&[("created[gt]", "1767267000")], None, 1000),
            ),
            (
                r#"{"list":"customers","filters":{"created":{"lte":"2024-02-29"}}}"#,
                O(&[("created[lte]", "1709164800")], None, 1000),
            ),
            (
                r#"{"list":"customers","filters":{"created":{"gte":"2000-02-29"}}}"#,
                O(&[("created[gte]", "951782400")], None, 1000),
            ),
            (
                r#"{"list":"customers","filters":{"created":{"gte":"1970-01-01T00:00:00Z"}}}"#,
                O(&[("created[gte]", "0")], None, 1000),
            ),
            (
                r#"{"list":"customers","filters":{"created":{"lte":5,"gte":5}}}"#,
                O(&[("created[gte]", "5"), ("created[lte]", "5")], None, 1000),
            ),
            (
                r#"{"list":"customers","filters":{"created":{"lt":"2026-02-01","gt":"2026-01-01"}}}"#,
                O(&[("created[gt]", JAN1), ("created[lt]", "1769904000")], None, 1000),
            ),
            (r#"{"list":"subscriptions"}"#, O(&[("status", "all")], None, 1000)),
            (r#"{"list":"subscriptions","filters":{"status":"active"}}"#, O(&[("status", "active")], None, 1000)),
            (r#"{"list":"subscriptions","filters":{"status":"all"}}"#, O(&[("status", "all")], None, 1000)),
            (
                r#"{"filters":{"collection_method":"send_invoice","status":"past_due","customer":"cus_QXg1o8vcGmoR32","created":{"gte":1}},"limit":10,"list":"subscriptions"}"#,
                O(
                    &[
                        ("created[gte]", "1"),
                        ("customer", "cus_QXg1o8vcGmoR32"),
                        ("status", "past_due"),
                        ("collection_method", "send_invoice"),
                    ],
                    None,
                    10,
                ),
            ),
            (
                r#"{"list":"subscriptions","filters":{"customer":"cus_A"}}"#,
                O(&[("customer", "cus_A"), ("status", "all")], None, 1000),
            ),
            (
                r#"{"list":"invoices","filters":{"subscription":"sub_1Pgc6rB7WZ01zgkWNy0Cn5nw","status":"paid"}}"#,
                O(&[("subscription", "sub_1Pgc6rB7WZ01zgkWNy0Cn5nw"), ("status", "paid")], None, 1000),
            ),
            (
                r#"{"list":"invoices","filters":{"collection_method":"charge_automatically","status":"uncollectible"}}"#,
                O(&[("status", "uncollectible"), ("collection_method", "charge_automatically")], None, 1000),
            ),
            (r#"{"list":"invoices","filters":{"status":"void"}}"#, O(&[("status", "void")], None, 1000)),
            (r#"{"list":"charges","filters":{"status":"failed"}}"#, O(&[], Some("failed"), 1000)),
            (
                r#"{"list":"charges","filters":{"status":"succeeded","customer":"cus_9"},"limit":1}"#,
                O(&[("customer", "cus_9")], Some("succeeded"), 1),
            ),
            (r#"{"list":"payouts","filters":{"status":"in_transit"}}"#, O(&[("status", "in_transit")], None, 1000)),
            (
                r#"{"list":"payouts","filters":{"arrival_date":{"gte":"2026-01-01"},"created":{"lt":"2026-01-01"}}}"#,
                O(&[("created[lt]", JAN1), ("arrival_date[gte]", JAN1)], None, 1000),
            ),
            // --- invalid: text and shape ---
            ("", E("not valid JSON")),
            ("   ", E("not valid JSON")),
            ("list customers", E("not valid JSON")),
            (r#"{"list":"customers"} x"#, E("not valid JSON")),
            (r#"{"list":"customers",}"#, E("not valid JSON")),
            ("[]", E("must be a JSON object")),
            (r#""customers""#, E("must be a JSON object")),
            ("null", E("must be a JSON object")),
            ("42", E("must be a JSON object")),
            (&deep, E("nests objects or arrays too deeply")),
            (
                r#"{"list":"customers","filters":{"created":{"gte":{"x":1}}}}"#,
                E("nests objects or arrays too deeply"),
            ),
            (&big, E("at most 16384 bytes")),
            (r#"{"list":"customers","list":"charges"}"#, E("duplicate key 'list'")),
            (
                r#"{"list":"invoices","filters":{"status":"paid","status":"void"}}"#,
                E("duplicate key 'status'"),
            ),
            // --- invalid: top-level keys ---
            (r#"{"list":"customers","delete":true}"#, E("unknown key 'delete' in the query: allowed keys are list, filters, limit")),
            (r#"{"list":"customers","expand":["data.customer"]}"#, E("unknown key 'expand'")),
            (r#"{"update":"customers"}"#, E("The DSL is read-only")),
            (r#"{"sql":"select 1"}"#, E("unknown key 'sql'")),
            (r#"{}"#, E("no 'list' key")),
            (r#"{"filters":{}}"#, E("no 'list' key")),
            (r#"{"list":"users"}"#, E("unknown table 'users' in 'list': allowed tables are: customers, subscriptions")),
            (r#"{"list":"Customers"}"#, E("unknown table 'Customers'")),
            (r#"{"list":["customers"]}"#, E("'list' must be a table name string")),
            (r#"{"list":null}"#, E("'list' must be a table name string")),
            // --- invalid: limit ---
            (r#"{"list":"customers","limit":0}"#, E("'limit' must be a whole number ≥ 1")),
            (r#"{"list":"customers","limit":-5}"#, E("got the integer -5")),
            (r#"{"list":"customers","limit":10.0}"#, E("got the number 10.0")),
            (r#"{"list":"customers","limit":1e3}"#, E("'limit' must be a whole number")),
            (r#"{"list":"customers","limit":"10"}"#, E("got the string '10'")),
            (r#"{"list":"customers","limit":true}"#, E("got the boolean true")),
            (r#"{"list":"customers","limit":null}"#, E("'limit' must be a whole number")),
            // --- invalid: filters ---
            (r#"{"list":"customers","filters":[]}"#, E("'filters' must be an object")),
            (r#"{"list":"customers","filters":null}"#, E("'filters' must be an object")),
            (
                r#"{"list":"customers","filters":{"email":"a@b.c"}}"#,
                E("unknown filter 'email' for table customers: allowed filters are: created"),
            ),
            (r#"{"list":"customers","filters":{"status":"active"}}"#, E("unknown filter 'status' for table customers")),
            (
                r#"{"list":"charges","filters":{"subscription":"sub_1"}}"#,
                E("unknown filter 'subscription' for table charges: allowed filters are: created, customer, status"),
            ),
            (r#"{"list":"payouts","filters":{"customer":"cus_1"}}"#, E("allowed filters are: created, arrival_date, status")),
            (r#"{"list":"subscriptions","filters":{"arrival_date":1}}"#, E("unknown filter 'arrival_date'")),
            (r#"{"list":"subscriptions","filters":{"status":"cancelled"}}"#, E("must be one of: active, all, canceled")),
            (r#"{"list":"subscriptions","filters":{"status":"ACTIVE"}}"#, E("got the string 'ACTIVE'")),
            (r#"{"list":"invoices","filters":{"status":"all"}}"#, E("must be one of: draft, open, paid, uncollectible, void")),
            (r#"{"list":"charges","filters":{"status":"paid"}}"#, E("must be one of: succeeded, pending, failed")),
            (r#"{"list":"payouts","filters":{"status":"completed"}}"#, E("must be one of: paid, pending, in_transit, canceled, failed")),
            (r#"{"list":"invoices","filters":{"collection_method":"auto"}}"#, E("must be one of: charge_automatically, send_invoice")),
            (r#"{"list":"invoices","filters":{"status":1}}"#, E("got the integer 1")),
            (r#"{"list":"charges","filters":{"customer":"cus_"}}"#, E("filter 'customer' for table charges must be a customer id")),
            (r#"{"list":"charges","filters":{"customer":"cust_123"}}"#, E("got the string 'cust_123'")),
            (r#"{"list":"charges","filters":{"customer":"cus_12/../x"}}"#, E("must be a customer id")),
            (r#"{"list":"charges","filters":{"customer":"cus_12&limit=1"}}"#, E("must be a customer id")),
            (r#"{"list":"charges","filters":{"customer":"cus_é"}}"#, E("must be a customer id")),
            (r#"{"list":"charges","filters":{"customer":123}}"#, E("got the integer 123")),
            (&long_id, E("at most 255 characters")),
            (r#"{"list":"invoices","filters":{"subscription":"cus_123"}}"#, E("must be a subscription id")),
            (r#"{"list":"invoices","filters":{"subscription":"sub_1\n"}}"#, E("must be a subscription id")),
            // --- invalid: ranges ---
            (r#"{"list":"customers","filters":{"created":-1}}"#, E("is negative")),
            (r#"{"list":"customers","filters":{"created":1.5}}"#, E("filter 'created' for table customers: got the number 1.5")),
            (r#"{"list":"customers","filters":{"created":"2026-01-01"}}"#, E("got the string '2026-01-01'")),
            (r#"{"list":"customers","filters":{"created":{}}}"#, E("the range object is empty")),
            (r#"{"list":"customers","filters":{"created":{"from":1}}}"#, E("unknown range key 'from': allowed keys are gt, gte, lt, lte")),
            (r#"{"list":"customers","filters":{"created":{"gt":1,"gte":2}}}"#, E("gt and gte together")),
            (r#"{"list":"customers","filters":{"created":{"lt":9,"lte":8}}}"#, E("lt and lte together")),
            (r#"{"list":"customers","filters":{"created":{"gte":10,"lt":10}}}"#, E("the range is empty")),
            (r#"{"list":"customers","filters":{"created":{"gt":"2026-02-01","lte":"2026-01-01"}}}"#, E("the range is empty")),
            (r#"{"list":"customers","filters":{"created":{"lt":0}}}"#, E("the range is empty")),
            (r#"{"list":"customers","filters":{"created":{"gte":-3}}}"#, E("'gte': the integer -3 is negative")),
            (r#"{"list":"customers","filters":{"created":{"gte":1.0}}}"#, E("'gte': the number 1.0 is not a whole number")),
            (r#"{"list":"customers","filters":{"created":{"gte":1767225600000000}}}"#, E("not milliseconds")),
            (r#"{"list":"customers","filters":{"created":{"gte":"yesterday"}}}"#, E("'yesterday' is not a valid date")),
            (r#"{"list":"customers","filters":{"created":{"gte":"2026-13-01"}}}"#, E("month 13 is not 01-12")),
            (r#"{"list":"customers","filters":{"created":{"gte":"2026-00-10"}}}"#, E("month 00 is not 01-12")),
            (r#"{"list":"customers","filters":{"created":{"gte":"2025-02-29"}}}"#, E("day 29 is not 01-28")),
            (r#"{"list":"customers","filters":{"created":{"gte":"1900-02-29"}}}"#, E("day 29 is not 01-28")),
            (r#"{"list":"customers","filters":{"created":{"gte":"2026-04-31"}}}"#, E("day 31 is not 01-30")),
            (r#"{"list":"customers","filters":{"created":{"gte":"2026-1-1"}}}"#, E("expected YYYY-MM-DD")),
            (r#"{"list":"customers","filters":{"created":{"gte":"2026-01-01T10:00:00"}}}"#, E("needs a UTC offset")),
            (r#"{"list":"customers","filters":{"created":{"gte":"2026-01-01T24:00:00Z"}}}"#, E("out of range")),
            (r#"{"list":"customers","filters":{"created":{"gte":"2026-01-01T23:59:60Z"}}}"#, E("out of range")),
            (r#"{"list":"customers","filters":{"created":{"gte":"2026-01-01T10:00:00+24:00"}}}"#, E("offset 24:00")),
            (r#"{"list":"customers","filters":{"created":{"gte":"2026-01-01T10:00:00+0200"}}}"#, E("expected YYYY-MM-DD")),
            (r#"{"list":"customers","filters":{"created":{"gte":"2026-01-01T10:00:00.Z"}}}"#, E("followed by digits")),
            (r#"{"list":"customers","filters":{"created":{"gte":"2026-01-01 10:00:00Z"}}}"#, E("expected YYYY-MM-DD")),
            (r#"{"list":"customers","filters":{"created":{"gte":"1969-12-31"}}}"#, E("before 1970-01-01")),
            (r#"{"list":"customers","filters":{"created":{"gte":"1970-01-01T00:00:00+00:01"}}}"#, E("before 1970-01-01")),
            (r#"{"list":"customers","filters":{"created":{"gte":"2026-01-01Z"}}}"#, E("expected YYYY-MM-DD")),
            (r#"{"list":"customers","filters":{"created":{"gte":null}}}"#, E("neither an integer nor a date")),
            (r#"{"list":"customers","filters":{"created":{"gte":true}}}"#, E("'gte': the boolean true is neither")),
            (r#"{"list":"customers","filters":{"created":{"gte":[1]}}}"#, E("too deeply")),
            (r#"{"list":"payouts","filters":{"arrival_date":{"lte":"soon"}}}"#, E("filter 'arrival_date' for table payouts")),
        ];
        assert!(cases.len() >= 60);
        for (dsl, want) in &cases {
            let got = parse(dsl, DEFAULT_MAX_ROWS);
            let shown = &dsl[..dsl.len().min(120)];
            match (want, got) {
                (O(params, status, rows), Ok(q)) => {
                    let expected: Vec<(String, String)> = params
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect();
                    assert_eq!(q.params, expected, "{shown}");
                    assert_eq!(q.charge_status.as_deref(), *status, "{shown}");
                    assert_eq!(q.row_target, *rows, "{shown}");
                }
                (E(fragment), Err(e)) => {
                    assert_eq!(e.kind(), "invalid-query", "{shown}");
                    let msg = e.to_string();
                    assert!(
                        msg.contains(fragment),
                        "{shown}\n  message: {msg}\n  wanted: {fragment}"
                    );
                }
                (O(..), Err(e)) => panic!("{shown}: expected Ok, got {e}"),
                (E(fragment), Ok(q)) => panic!("{shown}: expected error {fragment:?}, got {q:?}"),
            }
        }
    }

    #[test]
    fn deep_nesting_is_refused_at_the_fourth_level_whatever_the_length() {
        // Past the size limit on purpose: the depth check alone must stop this without recursing.
        let deep = format!("{}{}", "[".repeat(1_000_000), "]".repeat(1_000_000));
        let err = read_json(&deep).unwrap_err();
        assert!(err.to_string().contains("too deeply"), "{err}");
        let unclosed = "{\"a\":".repeat(1_000_000);
        assert!(read_json(&unclosed)
            .unwrap_err()
            .to_string()
            .contains("too deeply"));
        assert!(read_json(r#"{"a":{"b":{"c":1}}}"#).is_ok());
        assert!(read_json(r#"{"a":{"b":{"c":[]}}}"#).is_err());
    }

    #[test]
    fn max_rows_is_clamped_and_limit_applies() {
        let q = |dsl: &str, max: u32| parse(dsl, max).map(|q| q.row_target);
        assert_eq!(q(r#"{"list":"customers"}"#, 0), Ok(1));
        assert_eq!(q(r#"{"list":"customers"}"#, 250), Ok(250));
        assert_eq!(q(r#"{"list":"customers"}"#, u32::MAX), Ok(MAX_ROWS_LIMIT));
        assert_eq!(q(r#"{"list":"customers","limit":7}"#, 5), Ok(5));
        assert_eq!(q(r#"{"list":"customers","limit":7}"#, 50), Ok(7));
    }

    #[test]
    fn sort_few_sorts_like_sort() {
        for case in [
            vec![],
            vec!["b"],
            vec![
                "status=all",
                "created=[1,*]",
                "customer=cus_1",
                "created=[1,*]",
                "a",
            ],
            vec!["f", "e", "d", "c", "b", "a"],
        ] {
            let mut got: Vec<String> = case.iter().map(|s| s.to_string()).collect();
            let mut want = got.clone();
            sort_few(&mut got);
            want.sort();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn filter_keys_are_sorted_dsl_keys() {
        let q = parse(
            r#"{"list":"subscriptions","filters":{"status":"active","customer":"cus_1","created":{"gte":1}}}"#,
            10,
        )
        .unwrap();
        assert_eq!(q.filter_keys, vec!["created", "customer", "status"]);
        let q = parse(r#"{"list":"subscriptions"}"#, 10).unwrap();
        assert!(
            q.filter_keys.is_empty(),
            "the implicit status=all is not a DSL key"
        );
    }

    #[test]
    fn keeps_filters_charges_by_status_only() {
        let q = parse(r#"{"list":"charges","filters":{"status":"failed"}}"#, 10).unwrap();
        let idx = schema::table_spec(Table::Charges)
            .column_index("status")
            .unwrap();
        let mut row = vec![Cell::Null; schema::table_spec(Table::Charges).columns.len()];
        assert!(!q.keeps(&row));
        row[idx] = Cell::Text("failed".into());
        assert!(q.keeps(&row));
        row[idx] = Cell::Text("succeeded".into());
        assert!(!q.keeps(&row));
        assert!(!q.keeps(&[]));
        let all = parse(r#"{"list":"charges"}"#, 10).unwrap();
        assert!(all.keeps(&row));
        let payouts = parse(r#"{"list":"payouts","filters":{"status":"paid"}}"#, 10).unwrap();
        assert!(payouts.keeps(&[]));
    }

    #[test]
    fn date_arithmetic_matches_known_instants() {
        let cases = [
            ("1970-01-01", 0),
            ("1970-01-02", 86_400),
            ("2000-01-01", 946_684_800),
            ("2000-03-01", 951_868_800),
            ("2026-01-01", 1_767_225_600),
            ("2026-04-22T12:34:56Z", 1_776_861_296),
            ("2038-01-19T03:14:07Z", 2_147_483_647),
            ("2100-03-01", 4_107_542_400),
            ("9999-12-31T23:59:59Z", MAX_TIMESTAMP),
            ("2026-01-01T00:00:00.5Z", 1_767_225_600),
            ("2026-01-01T01:00:00+01:00", 1_767_225_600),
            ("2025-12-31T23:00:00-01:00", 1_767_225_600),
        ];
        for (text, want) in cases {
            assert_eq!(parse_rfc3339(text), Ok(want), "{text}");
        }
        // Every day of four centuries round-trips through consecutive day numbers.
        let mut expected = days_from_civil(1970, 1, 1);
        assert_eq!(expected, 0);
        for year in 1970..2400 {
            for month in 1..=12 {
                for day in 1..=days_in_month(year, month) {
                    assert_eq!(
                        days_from_civil(year, month, day),
                        expected,
                        "{year}-{month}-{day}"
                    );
                    expected += 1;
                }
            }
        }
    }

    #[test]
    fn canonical_identifies_equivalent_queries() {
        let canon = |dsl: &str| parse(dsl, 1000).unwrap().canonical();
        let same = [
            (
                r#"{"list":"customers","filters":{"created":{"gte":"2026-01-01"}},"limit":10}"#,
                r#"{"limit":10,"filters":{"created":{"gte":1767225600}},"list":"customers"}"#,
            ),
            (
                r#"{"list":"customers","filters":{"created":{"gt":1767225599}}}"#,
                r#"{"list":"customers","filters":{"created":{"gte":"2026-01-01T01:00:00+01:00"}}}"#,
            ),
            (
                r#"{"list":"customers","filters":{"created":5}}"#,
                r#"{"list":"customers","filters":{"created":{"gte":5,"lte":5}}}"#,
            ),
            (
                r#"{"list":"customers","filters":{"created":{"lt":10}}}"#,
                r#"{"list":"customers","filters":{"created":{"lte":9}}}"#,
            ),
            (
                r#"{"list":"subscriptions"}"#,
                r#"{"list":"subscriptions","filters":{"status":"all"}}"#,
            ),
            (
                r#"{"list":"customers"}"#,
                r#"{"list":"customers","limit":1000}"#,
            ),
            (
                r#"{"list":"customers","limit":1000}"#,
                r#"{"list":"customers","limit":5000}"#,
            ),
            (
                r#"{"list":"subscriptions","filters":{"status":"active","customer":"cus_1"}}"#,
                r#"{"filters":{"customer":"cus_1","status":"active"},"list":"subscriptions"}"#,
            ),
        ];
        for (a, b) in same {
            assert_eq!(canon(a), canon(b), "{a} vs {b}");
        }
        let different = [
            (r#"{"list":"customers"}"#, r#"{"list":"charges"}"#),
            (
                r#"{"list":"customers"}"#,
                r#"{"list":"customers","limit":10}"#,
            ),
            (
                r#"{"list":"customers","filters":{"created":{"gte":5}}}"#,
                r#"{"list":"customers","filters":{"created":{"gt":5}}}"#,
            ),
            (
                r#"{"list":"customers","filters":{"created":{"gte":5}}}"#,
                r#"{"list":"customers","filters":{"created":{"lte":5}}}"#,
            ),
            (
                r#"{"list":"payouts","filters":{"created":{"gte":5}}}"#,
                r#"{"list":"payouts","filters":{"arrival_date":{"gte":5}}}"#,
            ),
            (
                r#"{"list":"charges"}"#,
                r#"{"list":"charges","filters":{"status":"failed"}}"#,
            ),
            (
                r#"{"list":"charges","filters":{"status":"pending"}}"#,
                r#"{"list":"charges","filters":{"status":"failed"}}"#,
            ),
            (
                r#"{"list":"subscriptions","filters":{"status":"active"}}"#,
                r#"{"list":"subscriptions"}"#,
            ),
            (
                r#"{"list":"invoices","filters":{"customer":"cus_1"}}"#,
                r#"{"list":"invoices","filters":{"customer":"cus_2"}}"#,
            ),
        ];
        for (a, b) in different {
            assert_ne!(canon(a), canon(b), "{a} vs {b}");
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Property tests.

    fn arb_json() -> impl Strategy<Value = serde_json::Value> {
        use serde_json::Value;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            "\\PC{0,12}".prop_map(Value::String),
            prop::sample::select(vec![
                "customers",
                "subscriptions",
                "charges",
                "created",
                "status",
                "gte",
                "lt",
                "cus_1",
                "sub_2",
                "2026-01-01",
                "active",
                "paid",
                "failed",
                "all",
            ])
            .prop_map(|s| Value::String(s.to_owned())),
        ];
        leaf.prop_recursive(5, 48, 6, |inner| {
            let key = prop::sample::select(vec![
                "list",
                "filters",
                "limit",
                "created",
                "arrival_date",
                "customer",
                "subscription",
                "status",
                "collection_method",
                "gt",
                "gte",
                "lt",
                "lte",
                "delete",
                "x",
            ]);
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec((key, inner), 0..5).prop_map(|kv| {
                    Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
                }),
            ]
        })
    }

    /// Stripe's accepted list parameters per table (api-facts.md), restricted to what the DSL maps to.
    fn stripe_accepts(table: Table, name: &str) -> bool {
        let (base, suffix) = match name.split_once('[') {
            Some((base, rest)) => (base, Some(rest)),
            None => (name, None),
        };
        let ranges: &[&str] = match table {
            Table::Payouts => &["created", "arrival_date"],
            _ => &["created"],
        };
        let plain: &[&str] = match table {
            Table::Customers | Table::Charges => {
                &["customer"][..usize::from(table == Table::Charges)]
            }
            Table::Subscriptions => &["customer", "status", "collection_method"],
            Table::Invoices => &["customer", "subscription", "status", "collection_method"],
            Table::Payouts => &["status"],
        };
        match suffix {
            Some(s) => ranges.contains(&base) && matches!(s, "gt]" | "gte]" | "lt]" | "lte]"),
            None => ranges.contains(&base) || plain.contains(&base),
        }
    }

    fn value_is_well_typed(table: Table, name: &str, value: &str) -> bool {
        let base = name.split('[').next().unwrap_or(name);
        let id = |prefix: &str| {
            value
                .strip_prefix(prefix)
                .is_some_and(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_alphanumeric()))
        };
        match base {
            "created" | "arrival_date" => value
                .parse::<i64>()
                .is_ok_and(|v| (0..=MAX_TIMESTAMP).contains(&v)),
            "customer" => id("cus_"),
            "subscription" => id("sub_"),
            "status" | "collection_method" => {
                schema::filter_values(table, base).is_some_and(|vals| vals.contains(&value))
            }
            _ => false,
        }
    }

    /// A DSL text that is often valid: random table, random subset of plausible filters and values.
    fn arb_plausible_dsl() -> impl Strategy<Value = String> {
        let table = prop::sample::select(Table::ALL.to_vec());
        let value = prop_oneof![
            (0i64..=2_000_000_000).prop_map(|n| n.to_string()),
            Just(r#"{"gte":"2026-01-01"}"#.to_owned()),
            Just(r#"{"lt":"2026-01-01T10:00:00+02:00","gt":5}"#.to_owned()),
            (0i64..2_000_000_000, 0i64..2_000_000_000)
                .prop_map(|(a, b)| format!(r#"{{"gte":{a},"lte":{b}}}"#)),
            Just(r#""cus_Ab12""#.to_owned()),
            Just(r#""sub_Xy9""#.to_owned()),
            prop::sample::select(vec![
                "active",
                "all",
                "canceled",
                "paid",
                "open",
                "void",
                "succeeded",
                "failed",
                "in_transit",
                "pending",
                "send_invoice",
                "charge_automatically",
                "unknown",
            ])
            .prop_map(|s| format!("\"{s}\"")),
        ];
        let key = prop::sample::select(vec![
            "created",
            "arrival_date",
            "customer",
            "subscription",
            "status",
            "collection_method",
        ]);
        (
            table,
            prop::collection::vec((key, value), 0..5),
            prop::option::of(0u64..3000),
        )
            .prop_map(|(t, filters, limit)| {
                let mut seen = Vec::new();
                let body: Vec<String> = filters
                    .into_iter()
                    .filter(|(k, _)| {
                        let fresh = !seen.contains(k);
                        seen.push(*k);
                        fresh
                    })
                    .map(|(k, v)| format!("\"{k}\":{v}"))
                    .collect();
                let limit = limit
                    .map(|l| format!(r#","limit":{l}"#))
                    .unwrap_or_default();
                format!(
                    r#"{{"list":"{}","filters":{{{}}}{limit}}}"#,
                    t.name(),
                    body.join(",")
                )
            })
    }

    proptest! {
        #[test]
        fn arbitrary_json_never_panics(v in arb_json(), max in any::<u32>()) {
            let text = v.to_string();
            if let Err(e) = parse(&text, max) {
                prop_assert_eq!(e.kind(), "invalid-query");
            }
            let wrapped = format!(r#"{{"list":"customers","filters":{text}}}"#);
            let _ = parse(&wrapped, max);
        }

        #[test]
        fn arbitrary_strings_never_panic(s in "\\PC{0,64}", raw in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = parse(&s, 100);
            let _ = parse(&String::from_utf8_lossy(&raw), 100);
            let created = format!(r#"{{"list":"customers","filters":{{"created":{{"gte":{}}}}}}}"#,
                serde_json::Value::String(s.clone()));
            let _ = parse(&created, 100);
        }

        #[test]
        fn accepted_params_are_what_stripe_accepts(dsl in arb_plausible_dsl(), max in 1u32..5000) {
            if let Ok(q) = parse(&dsl, max) {
                for (name, value) in &q.params {
                    prop_assert!(stripe_accepts(q.table, name), "{} not accepted by {}: {}", name, q.table.name(), dsl);
                    prop_assert!(value_is_well_typed(q.table, name, value), "{}={} in {}", name, value, dsl);
                }
                prop_assert!(q.row_target >= 1 && q.row_target <= max);
                prop_assert_eq!(q.charge_status.is_some(), q.table == Table::Charges && q.filter_keys.iter().any(|k| k == "status"));
                if q.table == Table::Subscriptions {
                    prop_assert_eq!(q.params.iter().filter(|(k, _)| k == "status").count(), 1);
                }
            }
        }

        /// Model: a table, an inclusive created range [lo, hi] (either may be open) and a limit. Each is
        /// written in a random but equivalent way; canonical() must agree exactly when the models agree.
        #[test]
        fn canonical_matches_the_meaning(
            a in canonical_model(), b in canonical_model(),
            spell_a in any::<[bool; 4]>(), spell_b in any::<[bool; 4]>(),
        ) {
            let qa = parse(&spell(&a, spell_a), 1000).unwrap();
            let qb = parse(&spell(&b, spell_b), 1000).unwrap();
            let qa2 = parse(&spell(&a, spell_b), 1000).unwrap();
            prop_assert_eq!(qa.canonical(), qa2.canonical());
            let same_meaning = a.0 == b.0 && a.1 == b.1 && a.2 == b.2 && a.3.min(1000) == b.3.min(1000);
            prop_assert_eq!(qa.canonical() == qb.canonical(), same_meaning);
        }
    }

    type Model = (Table, Option<i64>, Option<i64>, u32);

    fn canonical_model() -> impl Strategy<Value = Model> {
        // Days keep the date spelling possible; small offsets make neighbouring values collide often.
        let bound =
            prop::option::of((0i64..3, 0i64..3).prop_map(|(d, s)| 1_767_225_600 + d * 86_400 + s));
        (
            prop::sample::select(vec![Table::Customers, Table::Charges]),
            bound.clone(),
            bound,
            999u32..1002,
        )
            .prop_filter("non-empty range", |(_, lo, hi, _)| match (lo, hi) {
                (Some(l), Some(h)) => l <= h,
                _ => true,
            })
    }

    /// Write a model as DSL text; `how` picks key order, gt vs gte, lt vs lte, dates vs integers.
    fn spell(m: &Model, how: [bool; 4]) -> String {
        let (table, lo, hi, limit) = *m;
        let ts = |v: i64| -> String {
            if how[3] && v % 86_400 == 0 {
                // an equivalent date-time two hours ahead of UTC
                let days = v / 86_400 - 20_454; // days since 2026-01-01
                format!("\"2026-01-{:02}T02:00:00+02:00\"", 1 + days)
            } else {
                v.to_string()
            }
        };
        let mut range = Vec::new();
        if let Some(lo) = lo {
            range.push(if how[1] {
                format!(r#""gt":{}"#, lo - 1)
            } else {
                format!(r#""gte":{}"#, ts(lo))
            });
        }
        if let Some(hi) = hi {
            range.push(if how[2] {
                format!(r#""lt":{}"#, hi + 1)
            } else {
                format!(r#""lte":{}"#, ts(hi))
            });
        }
        if how[0] {
            range.reverse();
        }
        let filters = if range.is_empty() {
            String::new()
        } else {
            format!(r#""filters":{{"created":{{{}}}}},"#, range.join(","))
        };
        if how[0] {
            format!(r#"{{"limit":{limit},{filters}"list":"{}"}}"#, table.name())
        } else {
            format!(r#"{{{filters}"list":"{}","limit":{limit}}}"#, table.name())
        }
    }
}
