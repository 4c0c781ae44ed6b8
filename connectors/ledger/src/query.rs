//! The query language: `{"list": TABLE, "filters": {KEY: VALUE, …}, "limit": N}`, read into typed serde
//! structs (unknown keys refused, each filter checked against its table), its canonical form (the host's
//! cache key) and the API request it becomes.
//!
//! Time filters are normalised to the half-open range the API takes (`created_gte`, `created_lt`), so
//! `{"gt": 9}`, `{"gte": 10}` and `10` as a lower bound all meet in the same canonical text.

use crate::error::ConnectorError;
use crate::schema::{Table, TableSpec};
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use std::fmt;

/// How a query is written, for `describe`.
pub const QUERY_DOC: &str = "A query is one JSON object: {\"list\": TABLE, \"filters\": {KEY: VALUE, ...}, \"limit\": N}. \
`list` is required and names one of the tables; `filters` and `limit` are optional; no other key exists (the language is read-only). \
Each table accepts only its own filters. `created` is an integer of unix seconds for one exact second, or an object of gt/gte/lt/lte \
whose values are unix seconds or UTC dates (\"2026-01-01\", its first second: for gte and lt) or date-times (\"2026-01-01T10:00:00Z\"). \
`limit` is an integer >= 1; a query returns at most min(limit, max_rows) rows, newest first, and says when it was truncated. \
Example: {\"list\": \"entries\", \"filters\": {\"account\": \"acc_1\", \"created\": {\"gte\": \"2026-01-01\"}}, \"limit\": 100}";

/// The longest query text read: a query is a line of JSON.
pub const MAX_QUERY_BYTES: usize = 16 * 1024;

/// 9999-12-31T23:59:59Z: the last second a date can name.
pub const MAX_TIMESTAMP: i64 = klairr_calendar::LAST_SECOND;

/// A validated query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    pub table: Table,
    /// `acc_…`, entries only.
    pub account: Option<String>,
    /// Lower-case ISO 4217.
    pub currency: Option<String>,
    /// `created >= gte`, unix seconds.
    pub created_gte: Option<i64>,
    /// `created < lt`, unix seconds.
    pub created_lt: Option<i64>,
    /// Rows wanted: min(limit, max_rows).
    pub row_target: u32,
    /// The filter keys used, sorted (for the memory shape).
    pub filter_keys: Vec<String>,
}

impl Query {
    /// Equal for equivalent queries, different otherwise: table, filters in a fixed order with the time
    /// range as `[gte,lt)` (`*` when open), and the row target.
    pub fn canonical(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        if let Some(a) = &self.account {
            parts.push(format!("account={a}"));
        }
        if self.created_gte.is_some() || self.created_lt.is_some() {
            let show = |b: Option<i64>| b.map_or_else(|| "*".to_owned(), |v| v.to_string());
            parts.push(format!(
                "created=[{},{})",
                show(self.created_gte),
                show(self.created_lt)
            ));
        }
        if let Some(c) = &self.currency {
            parts.push(format!("currency={c}"));
        }
        format!(
            "{}?{}#rows={}",
            self.table.name(),
            parts.join("&"),
            self.row_target
        )
    }

    /// The list request for one page of `limit` objects after `cursor` (as the API gave it).
    pub fn page_path(&self, limit: u32, cursor: Option<&str>) -> String {
        let mut path = format!("{}?limit={limit}", self.table.path());
        // Account ids and currencies are validated to letters, digits and '_': nothing to encode.
        if let Some(a) = &self.account {
            path.push_str(&format!("&account={a}"));
        }
        if let Some(c) = &self.currency {
            path.push_str(&format!("&currency={c}"));
        }
        if let Some(t) = self.created_gte {
            path.push_str(&format!("&created_gte={t}"));
        }
        if let Some(t) = self.created_lt {
            path.push_str(&format!("&created_lt={t}"));
        }
        if let Some(c) = cursor {
            path.push_str("&cursor=");
            path.push_str(&percent_encode(c));
        }
        path
    }
}

/// Everything but unreserved characters (RFC 3986) percent-encoded.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Parse and validate `text` for a connection that returns at most `max_rows` rows.
pub fn parse(text: &str, max_rows: u32) -> Result<Query, ConnectorError> {
    if text.len() > MAX_QUERY_BYTES {
        return Err(ConnectorError::invalid_query(format!(
            "the query is {} bytes; a query is one small JSON object of at most {MAX_QUERY_BYTES} bytes",
            text.len()
        )));
    }
    let raw: RawQuery = serde_json::from_str(text).map_err(|e| {
        let said = e.to_string();
        if ["group_by", "measures"]
            .iter()
            .any(|key| said.starts_with(&format!("unknown field `{key}`")))
        {
            return ConnectorError::invalid_query(
                "this connector answers list queries only: it computes no aggregates (no group_by, no \
                 measures); list the rows and total them, e.g. {\"list\": \"entries\", \"limit\": 1000}",
            );
        }
        ConnectorError::invalid_query(format!(
            "not a valid query: {}. Write {{\"list\": \"entries\", \"filters\": {{…}}, \"limit\": N}}",
            said
        ))
    })?;
    let table = Table::from_name(&raw.list).ok_or_else(|| {
        ConnectorError::invalid_query(format!(
            "there is no table {:?}: list one of {}",
            shown(&raw.list),
            Table::ALL.map(Table::name).join(", ")
        ))
    })?;
    let spec = table.spec();
    let filters = raw.filters.unwrap_or_default();
    if let Some(key) = filters.unknown.first() {
        return Err(no_such_filter(spec, key));
    }
    let mut query = Query {
        table,
        account: None,
        currency: None,
        created_gte: None,
        created_lt: None,
        row_target: max_rows,
        filter_keys: Vec::new(),
    };
    if let Some(account) = filters.account {
        if !spec.has_filter("account") {
            return Err(no_such_filter(spec, "account"));
        }
        let body = account.strip_prefix("acc_").unwrap_or_default();
        if body.is_empty() || body.len() > 64 || !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(ConnectorError::invalid_query(format!(
                "filter account {:?} is not an account id: write acc_ followed by 1 to 64 letters and digits, \
                 as the accounts table lists them",
                shown(&account)
            )));
        }
        query.account = Some(account);
        query.filter_keys.push("account".into());
    }
    if let Some(currency) = filters.currency {
        if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(ConnectorError::invalid_query(format!(
                "filter currency {:?} is not a currency code: write three letters, e.g. \"eur\"",
                shown(&currency)
            )));
        }
        query.currency = Some(currency.to_ascii_lowercase());
        query.filter_keys.push("currency".into());
    }
    if let Some(created) = filters.created {
        let (gte, lt) = created.range()?;
        // A bound left out is the first or past the last second a row can have: `lt: 0` is as empty
        // as `gte: 10, lt: 10`.
        let (lo, hi) = (gte.unwrap_or(0), lt.unwrap_or(MAX_TIMESTAMP + 1));
        if lo >= hi {
            return Err(ConnectorError::invalid_query(format!(
                "filter created is an empty range (from {lo} up to but not including {hi}; rows are created \
                 from 0 to {MAX_TIMESTAMP}): no row can match; widen it"
            )));
        }
        query.created_gte = gte;
        query.created_lt = lt;
        query.filter_keys.push("created".into());
    }
    query.filter_keys.sort_unstable();
    if let Some(Limit(limit)) = raw.limit {
        if limit < 1 {
            return Err(ConnectorError::invalid_query(format!(
                "limit {limit} is out of range: write an integer of at least 1 (at most {max_rows} rows are \
                 returned on this connection)"
            )));
        }
        query.row_target = u32::try_from(limit).unwrap_or(u32::MAX).min(max_rows);
    }
    Ok(query)
}

fn no_such_filter(spec: &TableSpec, key: &str) -> ConnectorError {
    ConnectorError::invalid_query(format!(
        "{} has no filter {:?}: its filters are {}",
        spec.table.name(),
        shown(key),
        spec.filter_keys().join(", ")
    ))
}

/// A value from the query in a message: at most 64 characters.
fn shown(text: &str) -> String {
    let mut s: String = text.chars().take(64).collect();
    if s.len() < text.len() {
        s.push('…');
    }
    s
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuery {
    list: String,
    #[serde(default)]
    limit: Option<Limit>,
    #[serde(default)]
    filters: Option<RawFilters>,
}

/// `limit` as written: any whole number, however large (past 64 bits too: it is then more than any
/// connection returns, and clamped like any other).
struct Limit(i64);

impl<'de> Deserialize<'de> for Limit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Limit;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a whole number")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Limit, E> {
                Ok(Limit(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Limit, E> {
                Ok(Limit(i64::try_from(v).unwrap_or(i64::MAX)))
            }
        }
        d.deserialize_any(V)
    }
}

/// The filters of every table; which ones a table accepts is checked after the table is known.
#[derive(Default)]
struct RawFilters {
    account: Option<String>,
    currency: Option<String>,
    created: Option<TimeFilter>,
    /// Keys no table has, in the order given (their values are skipped).
    unknown: Vec<String>,
}

impl<'de> Deserialize<'de> for RawFilters {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawFilters;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of filters, e.g. {\"currency\": \"eur\"}")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawFilters, A::Error> {
                let mut out = RawFilters::default();
                let mut seen: Vec<String> = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    if seen.contains(&key) {
                        return Err(de::Error::custom(format!(
                            "filter {:?} is given twice: give each filter once",
                            shown(&key)
                        )));
                    }
                    match key.as_str() {
                        "account" => out.account = Some(map.next_value()?),
                        "currency" => out.currency = Some(map.next_value()?),
                        "created" => out.created = Some(map.next_value()?),
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                            out.unknown.push(key.clone());
                        }
                    }
                    seen.push(key);
                }
                Ok(out)
            }
        }
        d.deserialize_map(V)
    }
}

/// A point in time as written: unix seconds or an RFC 3339 UTC date / date-time.
#[derive(Clone, Debug, PartialEq, Eq)]
enum TimePoint {
    /// Wide enough for any whole number JSON gives (a `u64` past `i64`), so that a refusal quotes it.
    Seconds(i128),
    Text(String),
}

impl TimePoint {
    fn seconds(&self, op: &str) -> Result<i64, ConnectorError> {
        let fail =
            |why: String| ConnectorError::invalid_query(format!("filter created.{op}: {why}"));
        let written = match self {
            TimePoint::Seconds(v) => *v,
            TimePoint::Text(t) => parse_date(t)
                .map_err(|why| fail(format!("{:?} {why}", shown(t))))?
                .into(),
        };
        let Some(v) = i64::try_from(written)
            .ok()
            .filter(|v| (0..=MAX_TIMESTAMP).contains(v))
        else {
            return Err(fail(format!(
                "{written} is out of range: write unix seconds from 0 to {MAX_TIMESTAMP} (year 9999)"
            )));
        };
        // A date is its first second: `lte` of one would leave out the rest of the day and `gt` keep
        // it, silently (the Stripe connector refuses the same, in the same words).
        if let (TimePoint::Text(day), "lte" | "gt") = (self, op) {
            if day.len() == 10 {
                let instead = match klairr_calendar::day_after(v) {
                    Some((y, m, d)) => {
                        let op = if op == "lte" { "lt" } else { "gte" };
                        format!("\"{op}\": \"{y:04}-{m:02}-{d:02}\"")
                    }
                    None => format!("\"{op}\": \"{day}T23:59:59Z\""),
                };
                return Err(fail(format!(
                    "{:?} is that day's first second (00:00 UTC), so the rest of the day would be {}; \
                     write {{{instead}}} or a date-time",
                    shown(day),
                    if op == "lte" { "left out" } else { "kept" },
                )));
            }
        }
        Ok(v)
    }
}

impl<'de> Deserialize<'de> for TimePoint {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(PointVisitor)
    }
}

struct PointVisitor;

impl Visitor<'_> for PointVisitor {
    type Value = TimePoint;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unix seconds (a whole number) or a date \"YYYY-MM-DD\"")
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<TimePoint, E> {
        Ok(TimePoint::Seconds(v.into()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<TimePoint, E> {
        Ok(TimePoint::Seconds(v.into()))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<TimePoint, E> {
        Ok(TimePoint::Text(v.to_owned()))
    }
}

/// `created`: one exact second, or bounds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct TimeFilter {
    exact: Option<TimePoint>,
    gt: Option<TimePoint>,
    gte: Option<TimePoint>,
    lt: Option<TimePoint>,
    lte: Option<TimePoint>,
}

impl TimeFilter {
    /// `[gte, lt)` in unix seconds. Two lower (or two upper) bounds are refused, as Stripe's connector
    /// refuses them: one of them is surely not what was meant.
    fn range(&self) -> Result<(Option<i64>, Option<i64>), ConnectorError> {
        if self.gt.is_some() && self.gte.is_some() {
            return Err(ConnectorError::invalid_query(
                "filter created: gt and gte together: give only one lower bound",
            ));
        }
        if self.lt.is_some() && self.lte.is_some() {
            return Err(ConnectorError::invalid_query(
                "filter created: lt and lte together: give only one upper bound",
            ));
        }
        let mut lo: Option<i64> = None;
        let mut hi: Option<i64> = None;
        let mut raise = |v: i64| lo = Some(lo.map_or(v, |cur| cur.max(v)));
        if let Some(e) = &self.exact {
            raise(e.seconds("exact")?);
        }
        if let Some(b) = &self.gt {
            raise(b.seconds("gt")? + 1);
        }
        if let Some(b) = &self.gte {
            raise(b.seconds("gte")?);
        }
        let mut lower = |v: i64| hi = Some(hi.map_or(v, |cur| cur.min(v)));
        if let Some(e) = &self.exact {
            lower(e.seconds("exact")? + 1);
        }
        if let Some(b) = &self.lt {
            lower(b.seconds("lt")?);
        }
        if let Some(b) = &self.lte {
            lower(b.seconds("lte")? + 1);
        }
        Ok((lo, hi))
    }
}

impl<'de> Deserialize<'de> for TimeFilter {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TimeFilter;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "unix seconds, a date \"YYYY-MM-DD\", or an object of gt/gte/lt/lte (e.g. {\"gte\": \"2026-01-01\"})",
                )
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<TimeFilter, E> {
                PointVisitor.visit_i64(v).map(TimeFilter::exact)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<TimeFilter, E> {
                PointVisitor.visit_u64(v).map(TimeFilter::exact)
            }
            // A date alone would mean its first second only, and quietly match almost nothing: a
            // date goes inside a range, as with Stripe's connector.
            fn visit_str<E: de::Error>(self, v: &str) -> Result<TimeFilter, E> {
                Err(E::custom(format!(
                    "created {:?}: a single value is one exact second in unix seconds; a date goes inside a range, \
                     e.g. for one whole day {{\"gte\": \"2026-01-01\", \"lt\": \"2026-01-02\"}}",
                    shown(v)
                )))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TimeFilter, A::Error> {
                let mut out = TimeFilter::default();
                while let Some(op) = map.next_key::<String>()? {
                    let slot = match op.as_str() {
                        "gt" => &mut out.gt,
                        "gte" => &mut out.gte,
                        "lt" => &mut out.lt,
                        "lte" => &mut out.lte,
                        _ => {
                            return Err(de::Error::custom(format!(
                                "created has no bound {:?}: write gt, gte, lt or lte",
                                shown(&op)
                            )))
                        }
                    };
                    if slot.is_some() {
                        return Err(de::Error::custom(format!(
                            "created.{op} is given twice: give each bound once"
                        )));
                    }
                    *slot = Some(map.next_value()?);
                }
                if out == TimeFilter::default() {
                    return Err(de::Error::custom(
                        "created is an empty object: give at least one of gt, gte, lt, lte",
                    ));
                }
                Ok(out)
            }
        }
        d.deserialize_any(V)
    }
}

impl TimeFilter {
    fn exact(at: TimePoint) -> TimeFilter {
        TimeFilter {
            exact: Some(at),
            ..TimeFilter::default()
        }
    }
}

/// `YYYY-MM-DD` (midnight UTC) or `YYYY-MM-DDTHH:MM:SSZ`, as unix seconds.
fn parse_date(text: &str) -> Result<i64, String> {
    const EXPECTED: &str =
        "is not a date: write YYYY-MM-DD (e.g. 2026-01-01) or YYYY-MM-DDTHH:MM:SSZ in UTC";
    let b = text.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        b.get(from..from + len)?.iter().try_fold(0i64, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
        })
    };
    let sep = |at: usize, c: u8| b.get(at) == Some(&c);
    let (Some(year), Some(month), Some(day)) = (num(0, 4), num(5, 2), num(8, 2)) else {
        return Err(EXPECTED.into());
    };
    if !sep(4, b'-') || !sep(7, b'-') || !(1..=12).contains(&month) {
        return Err(EXPECTED.into());
    }
    if !(1..=klairr_calendar::days_in_month(year, month)).contains(&day) {
        return Err(format!("has no day {day:02} in {year:04}-{month:02}"));
    }
    let midnight = klairr_calendar::days_from_civil(year, month, day) * klairr_calendar::DAY;
    match b.len() {
        10 => Ok(midnight),
        20 if sep(10, b'T') && sep(13, b':') && sep(16, b':') && sep(19, b'Z') => {
            let (Some(h), Some(m), Some(s)) = (num(11, 2), num(14, 2), num(17, 2)) else {
                return Err(EXPECTED.into());
            };
            if h > 23 || m > 59 || s > 59 {
                return Err("has a time out of range (00:00:00 to 23:59:59)".into());
            }
            Ok(midnight + h * 3600 + m * 60 + s)
        }
        _ => Err(EXPECTED.into()),
    }
}

#[cfg(test)]
#[path = "query_tests.rs"]
mod tests;
