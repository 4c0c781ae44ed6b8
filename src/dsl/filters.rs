//! The `filters` object: each key checked against the table's catalogue entry, then written as Stripe
//! list parameters in canonical order.

use super::json::Json;
use super::time::{parse_rfc3339, MAX_TIMESTAMP};
use super::{describe, invalid, quote, sort_few, PostFilter, Query};
use crate::error::ConnectorError;
use crate::prelude::*;
use crate::schema::{self, Cell, FilterKind, Table};
use alloc::borrow::Cow;

/// Longest id accepted for `customer` / `subscription` (Stripe ids are far shorter).
const MAX_ID_LEN: usize = 255;

/// One validated filter value, kept until the parameters are written in canonical order.
enum Given {
    Range(Range),
    Id(String),
    Value(&'static str),
    Boolean(bool),
    Currency(String),
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

/// Reads the `filters` object of a query of `query.table`: each key must be one of the table's filters in
/// the catalogue, whose [`FilterKind`] says how its value is read. The parameters are then written in the
/// catalogue's filter order, which is the canonical order of [`Query::params`].
pub(super) fn apply_filters(
    query: &mut Query,
    entries: Vec<(String, Json)>,
) -> Result<(), ConnectorError> {
    let table = query.table;
    let spec = schema::table_spec(table);
    // One slot per filter of the table, in the catalogue's order; the JSON reader refuses repeated keys.
    let mut given: Vec<Option<Given>> = spec.filters.iter().map(|_| None).collect();
    for (key, value) in entries {
        let Some(slot) = spec.filters.iter().position(|f| f.key == key) else {
            return Err(invalid(format!(
                "unknown filter {} for table {}: allowed filters are: {}",
                quote(&key),
                table.name(),
                spec.filter_list()
            )));
        };
        let filter = &spec.filters[slot];
        // Ranges and ids say themselves what is wrong; the other kinds share one message.
        let read = match filter.kind {
            FilterKind::Range => Some(Given::Range(range(table, filter.key, &value)?)),
            FilterKind::Id { prefix } => Some(Given::Id(object_id(
                table,
                filter.key,
                prefix,
                filter.accepts,
                &value,
            )?)),
            FilterKind::OneOf(allowed) => match &value {
                Json::Str(s) => allowed.iter().copied().find(|a| *a == s).map(Given::Value),
                _ => None,
            },
            FilterKind::Currency => match &value {
                Json::Str(code)
                    if code.len() == 3 && code.bytes().all(|b| b.is_ascii_alphabetic()) =>
                {
                    Some(Given::Currency(code.to_ascii_lowercase()))
                }
                _ => None,
            },
            FilterKind::Boolean => match value {
                Json::Bool(b) => Some(Given::Boolean(b)),
                _ => None,
            },
        };
        let Some(read) = read else {
            return Err(invalid(format!(
                "filter '{}' for table {} must be {}; got {}",
                filter.key,
                table.name(),
                filter.accepts,
                describe(&value)
            )));
        };
        given[slot] = Some(read);
        query.filter_keys.push(filter.key.to_owned());
    }
    sort_few(&mut query.filter_keys);

    for (filter, value) in spec.filters.iter().zip(given) {
        let key = filter.key;
        match value {
            None => {}
            Some(Given::Range(r)) => r.push_params(key, &mut query.params),
            Some(Given::Id(id)) => query.params.push((key.to_owned(), id)),
            // A connector-side filter names a column of its table (a schema test says so).
            Some(given) if filter.by_connector => {
                let value = match given {
                    Given::Value(v) => Cell::Text(v.to_owned()),
                    Given::Boolean(b) => Cell::Boolean(b),
                    Given::Currency(code) => Cell::Text(code),
                    Given::Range(_) | Given::Id(_) => Cell::Null,
                };
                query.post_filters.push(PostFilter {
                    key,
                    column: spec.column_index(key).unwrap_or(usize::MAX),
                    value,
                });
            }
            Some(Given::Boolean(b)) => query.params.push((key.to_owned(), b.to_string())),
            Some(Given::Currency(code)) => query.params.push((key.to_owned(), code)),
            Some(Given::Value(v)) => query.params.push((key.to_owned(), v.to_owned())),
        }
    }
    Ok(())
}

/// Sends the catalogue's defaults for filters the query does not give (subscriptions `status=all`:
/// Stripe's own default leaves canceled subscriptions out; "no status filter" means every status here).
/// Written after the given filters' parameters.
pub(super) fn apply_defaults(query: &mut Query) {
    for filter in schema::table_spec(query.table).filters {
        if let Some(value) = filter.default {
            if !query.params.iter().any(|(k, _)| k == filter.key) {
                query.params.push((filter.key.to_owned(), value.to_owned()));
            }
        }
    }
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
    let wrong = |what: &str| {
        invalid(format!(
            "filter '{key}' for table {}: {what}. Accepted: {}",
            table.name(),
            schema::RANGE_ACCEPTS
        ))
    };
    // A whole number is an exact second (beyond 64 bits too: `timestamp` then refuses it for its size).
    let whole = matches!(value, Json::Int(_)) || value.huge_integer().is_some();
    let entries = match value {
        _ if whole => {
            let exact = timestamp(value, false)
                .map_err(|why| wrong(&format!("{} {why}", describe(value))))?;
            return Ok(Range {
                exact: Some(exact),
                ..Range::default()
            });
        }
        Json::Object(entries) => entries,
        Json::Str(_) => {
            return Err(wrong(&format!(
                "got {}; a date goes inside a range object, e.g. for one whole day \
                 {{\"gte\": \"2026-01-01\", \"lt\": \"2026-01-02\"}}",
                describe(value)
            )))
        }
        other => return Err(wrong(&format!("got {}", describe(other)))),
    };
    if entries.is_empty() {
        return Err(wrong(
            "the range object is empty: give at least one of gt, gte, lt, lte",
        ));
    }
    let mut r = Range::default();
    // Said after both bounds of one side are refused together: the bound it names may be the other.
    let mut bare_date = None;
    // A fraction of a second is rounded to the second inside the range: bounds less than a second
    // apart may hold no whole one, however they are ordered.
    let mut fraction = false;
    for (op, bound) in entries {
        fraction |= matches!(bound, Json::Str(t) if t.contains('.'));
        let slot = match op.as_str() {
            "gt" => &mut r.gt,
            "gte" => &mut r.gte,
            "lt" => &mut r.lt,
            "lte" => &mut r.lte,
            other => {
                return Err(wrong(&format!(
                    "unknown range key {}: allowed keys are gt, gte, lt, lte",
                    quote(other)
                )))
            }
        };
        // `gte` and `lt` of a date-time with a fraction of a second bound at the next whole second.
        let v = timestamp(bound, matches!(op.as_str(), "gte" | "lt"))
            .map_err(|why| wrong(&format!("'{op}': {} {why}", describe(bound))))?;
        // A date is its first second, so `lte` of a date leaves out the rest of that day and `gt` keeps
        // it: "up to March 31" and "after January 1" written so would be wrong by a day, silently. The
        // whole day is `lt` the next one; after it, `gte` the next one.
        if let (Json::Str(day), "lte" | "gt") = (bound, op.as_str()) {
            if day.len() == 10 {
                let instead = match (klairr_calendar::day_after(v), op.as_str()) {
                    (Some((y, m, d)), _) => {
                        let op = if op == "lte" { "lt" } else { "gte" };
                        format!("write {{\"{op}\": \"{y:04}-{m:02}-{d:02}\"}} or a date-time")
                    }
                    // No next day to name: up to the last day is up to its last second, and after it
                    // there is nothing (a suggestion of an empty range would itself be refused).
                    (None, "lte") => {
                        format!("write {{\"lte\": \"{day}T23:59:59Z\"}} or a date-time")
                    }
                    (None, _) => "there is no day after it to name: write a date-time".into(),
                };
                bare_date.get_or_insert_with(|| {
                    format!(
                        "'{op}': {} is that day's first second (00:00 UTC), so the rest of the day would be {}; \
                         {instead}",
                        describe(bound),
                        if op == "lte" { "left out" } else { "kept" },
                    )
                });
            }
        }
        *slot = Some(v);
    }
    if r.gt.is_some() && r.gte.is_some() {
        return Err(wrong("gt and gte together: give only one lower bound"));
    }
    if r.lt.is_some() && r.lte.is_some() {
        return Err(wrong("lt and lte together: give only one upper bound"));
    }
    if let Some(why) = bare_date {
        return Err(wrong(&why));
    }
    // Inclusive bounds over integer seconds ≥ 0; an empty interval matches nothing and is surely a mistake.
    // Without an upper bound the last second a bound may name is the limit: `gt` of it is empty too.
    let lo = r.gt.map(|v| v + 1).or(r.gte).unwrap_or(0);
    let hi = r.lt.map(|v| v - 1).or(r.lte);
    if lo > hi.unwrap_or(MAX_TIMESTAMP) {
        // Bounds written in order with no whole second between them (gt 5 and lt 6): the order is
        // not what to check.
        let in_order =
            fraction || matches!((r.gt.or(r.gte), r.lt.or(r.lte)), (Some(a), Some(b)) if a < b);
        return Err(wrong(&match hi {
            Some(hi) if in_order => format!(
                "the range is empty: no whole unix second is both ≥ {lo} and ≤ {hi} (gt and lt leave their \
                 own second out, and a fraction of a second is rounded to the second inside the range); \
                 widen the range, or bound it with gte and lte of whole seconds to keep them"
            ),
            Some(hi) => format!(
                "the range is empty: no unix second is both ≥ {lo} and ≤ {hi}; check that the lower bound \
                 (gt/gte) is below the upper bound (lt/lte)"
            ),
            None => format!(
                "the range is empty: no second is later than 9999-12-31T23:59:59Z ({MAX_TIMESTAMP}), the \
                 last one a bound may name"
            ),
        }));
    }
    Ok(r)
}

/// One timestamp value: integer unix seconds or an RFC 3339 date / date-time, a fraction of a second
/// rounded up when `round_up`, else down. `Err` says why not, as the end of a sentence that starts with
/// the value.
fn timestamp(value: &Json, round_up: bool) -> Result<i64, Cow<'static, str>> {
    match value {
        Json::Int(n) if *n < 0 => Err("is negative: unix seconds start at 0 (1970-01-01)".into()),
        Json::Int(n) if *n > i128::from(MAX_TIMESTAMP) => Err(format!(
            "is after 9999-12-31T23:59:59Z ({MAX_TIMESTAMP}): give unix seconds, not milliseconds"
        )
        .into()),
        // In range, so the conversion cannot fail; the fallback keeps this path panic-free anyway.
        Json::Int(n) => i64::try_from(*n).map_err(|_| "is out of range".into()),
        // Unix seconds in quotes (QA: told only that it was no valid date).
        Json::Str(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            Err("is unix seconds in quotes: write them as a JSON integer, without quotes".into())
        }
        Json::Str(s) => {
            parse_rfc3339(s, round_up).map_err(|why| {
                format!("is not a valid date: {why}; dates are absolute (for \"30 days ago\" give that day's date)").into()
            })
        }
        Json::Float(_) => match value.huge_integer() {
            Some(true) => Err("is negative: unix seconds start at 0 (1970-01-01)".into()),
            Some(false) => Err(format!(
                "is after 9999-12-31T23:59:59Z ({MAX_TIMESTAMP}): give unix seconds, not milliseconds"
            )
            .into()),
            None => Err(
                "is not written as an integer: give unix seconds without a decimal point or exponent"
                    .into(),
            ),
        },
        _ => Err("is neither an integer nor a date string".into()),
    }
}
