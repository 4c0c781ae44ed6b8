//! Rendering for the CLI: the `--format json` contract (the README's CLI section) and human tables.
//!
//! Table mode is for terminals: every string that came from a component or an upstream (names, docs,
//! notes, probe descriptions) has its control characters stripped, so no escape sequence reaches the
//! terminal. JSON escapes them by construction.
//!
//! JSON: exactly one object on stdout. Rows are arrays aligned with `columns`; ids, text and currencies
//! are strings; integers, amounts and timestamps (unix seconds) are JSON integers; booleans are booleans;
//! missing values are null. Failures are `{"error":{"kind":"…","message":"…"}}`.

use crate::memory::column_type_name;
use crate::policy::redact::strip_control;
use crate::sandbox::wit;
use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};
use serde::ser::{SerializeSeq, Serializer};
use serde::Serialize;

#[derive(Serialize)]
struct ColumnJson<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    nullable: bool,
    #[serde(skip_serializing_if = "str::is_empty")]
    doc: &'a str,
}

fn column_json(c: &wit::Column, with_doc: bool) -> ColumnJson<'_> {
    ColumnJson {
        name: &c.name,
        kind: column_type_name(c.kind),
        nullable: c.nullable,
        doc: if with_doc { &c.doc } else { "" },
    }
}

#[derive(Serialize)]
struct FilterJson<'a> {
    key: &'a str,
    accepts: &'a str,
    doc: &'a str,
}

#[derive(Serialize)]
struct TableJson<'a> {
    name: &'a str,
    doc: &'a str,
    columns: Vec<ColumnJson<'a>>,
    filters: Vec<FilterJson<'a>>,
}

#[derive(Serialize)]
struct DescribeJson<'a> {
    connector: &'a str,
    api_version: &'a str,
    default_cache_ttl_seconds: u32,
    default_max_rows: u32,
    max_rows_limit: u32,
    query_doc: &'a str,
    tables: Vec<TableJson<'a>>,
}

pub fn describe_json(info: &wit::ConnectorInfo) -> String {
    let doc = DescribeJson {
        connector: &info.name,
        api_version: &info.api_version,
        default_cache_ttl_seconds: info.default_cache_ttl_seconds,
        default_max_rows: info.default_max_rows,
        max_rows_limit: info.max_rows_limit,
        query_doc: &info.query_doc,
        tables: info
            .tables
            .iter()
            .map(|t| TableJson {
                name: &t.name,
                doc: &t.doc,
                columns: t.columns.iter().map(|c| column_json(c, true)).collect(),
                filters: t
                    .filters
                    .iter()
                    .map(|f| FilterJson {
                        key: &f.key,
                        accepts: &f.accepts,
                        doc: &f.doc,
                    })
                    .collect(),
            })
            .collect(),
    };
    to_json(&doc)
}

#[derive(Serialize)]
/// The setup report as `--format json` prints it.
pub struct SetupJson<'a> {
    ok: bool,
    mode: &'static str,
    readable: &'a [String],
    write_probes_refused: &'a [String],
    requests: u32,
}

pub fn mode_name(mode: wit::Mode) -> &'static str {
    match mode {
        wit::Mode::Live => "live",
        wit::Mode::Test => "test",
    }
}

pub fn setup_doc(report: &wit::VerifyReport) -> SetupJson<'_> {
    SetupJson {
        ok: true,
        mode: mode_name(report.mode),
        readable: &report.readable,
        write_probes_refused: &report.write_probes_refused,
        requests: report.requests,
    }
}

pub fn setup_json(report: &wit::VerifyReport) -> String {
    to_json(&setup_doc(report))
}

/// Rows serialised straight from the WIT result, without an intermediate JSON tree.
struct RowsJson<'a>(&'a [Vec<wit::Cell>]);
struct RowJson<'a>(&'a [wit::Cell]);

impl Serialize for RowsJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for row in self.0 {
            seq.serialize_element(&RowJson(row))?;
        }
        seq.end()
    }
}

impl Serialize for RowJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for cell in self.0 {
            match cell {
                wit::Cell::Null => seq.serialize_element(&())?,
                wit::Cell::Text(t) => seq.serialize_element(t)?,
                wit::Cell::Integer(i) => seq.serialize_element(i)?,
                wit::Cell::Boolean(b) => seq.serialize_element(b)?,
            }
        }
        seq.end()
    }
}

#[derive(Serialize)]
struct ShapeColumnJson<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct ShapeJson<'a> {
    table: &'a str,
    columns: Vec<ShapeColumnJson<'a>>,
    row_count: u64,
    filter_keys: &'a [String],
}

#[derive(Serialize)]
/// A query result as `--format json` prints it (rows streamed from the WIT result, no JSON tree).
pub struct QueryJson<'a> {
    table: &'a str,
    columns: Vec<ShapeColumnJson<'a>>,
    rows: RowsJson<'a>,
    truncated: bool,
    cache_ttl_seconds: u32,
    memory_shape: ShapeJson<'a>,
    requests: u32,
    cached: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    scan_note: Option<&'a str>,
}

fn shape_columns(columns: &[wit::Column]) -> Vec<ShapeColumnJson<'_>> {
    columns
        .iter()
        .map(|c| ShapeColumnJson {
            name: &c.name,
            kind: column_type_name(c.kind),
        })
        .collect()
}

pub fn query_json(result: &wit::QueryResult, cached: bool) -> String {
    to_json(&query_doc(result, cached))
}

pub fn query_doc(result: &wit::QueryResult, cached: bool) -> QueryJson<'_> {
    QueryJson {
        table: &result.table,
        columns: shape_columns(&result.columns),
        rows: RowsJson(&result.rows),
        truncated: result.truncated,
        cache_ttl_seconds: result.cache_ttl_seconds,
        memory_shape: ShapeJson {
            table: &result.shape.table,
            columns: shape_columns(&result.shape.columns),
            row_count: result.shape.row_count,
            filter_keys: &result.shape.filter_keys,
        },
        // A cached answer made no request now.
        requests: if cached { 0 } else { result.requests },
        cached,
        scan_note: result.scan_note.as_deref(),
    }
}

#[derive(Serialize)]
struct ErrorJson<'a> {
    error: ErrorBody<'a>,
}
#[derive(Serialize)]
struct ErrorBody<'a> {
    kind: &'a str,
    message: &'a str,
}

pub fn error_json(kind: &str, message: &str) -> String {
    to_json(&ErrorJson {
        error: ErrorBody { kind, message },
    })
}

fn to_json<T: Serialize>(value: &T) -> String {
    // Serialising these types cannot fail (no maps with non-string keys, no failing Serialize impls).
    serde_json::to_string(value).unwrap_or_else(|e| {
        format!(r#"{{"error":{{"kind":"sandbox","message":"could not render JSON: {e}"}}}}"#)
    })
}

// ---- human output --------------------------------------------------------------------------------

fn new_table() -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    t
}

/// A string from a component or upstream, safe for a terminal.
fn clean(text: &str) -> String {
    strip_control(text).into_owned()
}

pub fn describe_text(info: &wit::ConnectorInfo) -> String {
    let mut out = format!(
        "connector {}  ·  API {}  ·  results cached at most {} s  ·  max rows {} (up to {})\n\n{}\n",
        clean(&info.name),
        clean(&info.api_version),
        info.default_cache_ttl_seconds,
        info.default_max_rows,
        info.max_rows_limit,
        clean(&info.query_doc)
    );
    for t in &info.tables {
        out.push_str(&format!("\n{} — {}\n", clean(&t.name), clean(&t.doc)));
        let mut cols = new_table();
        cols.set_header(["column", "type", "nullable", "doc"]);
        for c in &t.columns {
            cols.add_row([
                clean(&c.name),
                column_type_name(c.kind).to_owned(),
                if c.nullable { "yes" } else { "no" }.to_owned(),
                clean(&c.doc),
            ]);
        }
        out.push_str(&cols.to_string());
        out.push('\n');
        let mut filters = new_table();
        filters.set_header(["filter", "accepts", "doc"]);
        for f in &t.filters {
            filters.add_row([clean(&f.key), clean(&f.accepts), clean(&f.doc)]);
        }
        out.push_str(&filters.to_string());
        out.push('\n');
    }
    out
}

pub fn setup_text(report: &wit::VerifyReport) -> String {
    format!(
        "✔ key accepted ({} mode): reads {}; every write probe was refused ({}); {}\n",
        mode_name(report.mode),
        clean(&report.readable.join(", ")),
        clean(&report.write_probes_refused.join(", ")),
        plural(u64::from(report.requests), "request")
    )
}

fn plural(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

pub fn query_text(result: &wit::QueryResult, cached: bool) -> String {
    query_text_columns(result, cached, None)
}

/// [`query_text`] showing only the named columns (in that order) when `only` is given; the footer says
/// how many columns were left out.
pub fn query_text_columns(
    result: &wit::QueryResult,
    cached: bool,
    only: Option<&[&str]>,
) -> String {
    let shown: Vec<usize> = match only {
        None => (0..result.columns.len()).collect(),
        Some(names) => names
            .iter()
            .filter_map(|n| result.columns.iter().position(|c| c.name == *n))
            .collect(),
    };
    let mut t = new_table();
    t.set_header(shown.iter().map(|&i| clean(&result.columns[i].name)));
    for row in &result.rows {
        t.add_row(shown.iter().map(|&i| match row.get(i) {
            Some(cell) => cell_text(cell, result.columns[i].kind),
            None => String::new(),
        }));
    }
    let source = if cached {
        "served from the result cache, 0 requests".to_owned()
    } else {
        plural(u64::from(result.requests), "request")
    };
    let mut out = format!(
        "{t}\n{} from {}",
        plural(result.rows.len() as u64, "row"),
        clean(&result.table)
    );
    if result.truncated {
        out.push_str(" (truncated: more rows matched; raise limit or --max-rows)");
    }
    out.push_str(&format!(
        "; {source}; cache TTL {} s\n",
        result.cache_ttl_seconds
    ));
    if shown.len() < result.columns.len() {
        out.push_str(&format!(
            "({} of {} columns shown; `klairr-host query` prints them all)\n",
            shown.len(),
            result.columns.len()
        ));
    }
    if let Some(note) = &result.scan_note {
        out.push_str(&format!("note: {}\n", clean(note)));
    }
    out
}

/// Cells for humans: timestamps as UTC date-times, the rest as is.
pub fn cell_text(cell: &wit::Cell, kind: wit::ColumnType) -> String {
    match cell {
        wit::Cell::Null => String::new(),
        wit::Cell::Text(t) => clean(t),
        wit::Cell::Boolean(b) => b.to_string(),
        wit::Cell::Integer(i) if kind == wit::ColumnType::Timestamp => utc_datetime(*i),
        wit::Cell::Integer(i) => i.to_string(),
    }
}

/// `YYYY-MM-DD HH:MM` (UTC) for unix seconds, via the civil-from-days algorithm.
pub fn utc_datetime(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_datetimes() {
        assert_eq!(utc_datetime(0), "1970-01-01 00:00");
        assert_eq!(utc_datetime(1_767_225_600), "2026-01-01 00:00");
        assert_eq!(utc_datetime(951_782_400), "2000-02-29 00:00");
        assert_eq!(utc_datetime(1_767_225_600 + 3_660), "2026-01-01 01:01");
    }

    #[test]
    fn error_object_shape() {
        let v: serde_json::Value =
            serde_json::from_str(&error_json("invalid-key", "no \"key\"")).expect("json");
        assert_eq!(v["error"]["kind"], "invalid-key");
        assert_eq!(v["error"]["message"], "no \"key\"");
    }
}
