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
use crate::sandbox::wit;
use crate::service::Served;
use serde::ser::{SerializeSeq, Serializer};
use serde::Serialize;

mod connectors;
mod csv;
mod human;
pub mod money;
mod ndjson;
mod select;

pub use self::csv::{minor_units_note, query_csv};
pub use connectors::{connectors_json, connectors_text, Listed};
pub use human::{
    cell_text, describe_text, query_text, query_text_columns, query_text_selected, setup_text,
    utc_datetime,
};
pub use ndjson::query_ndjson;
pub use select::{check_names, Selection, UnknownColumn};

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
struct MeasureJson<'a> {
    name: &'a str,
    columns: &'a [String],
    doc: &'a str,
}

/// What an aggregate may do with one table: `group_by` and `bucket_by` columns, and each measure's.
#[derive(Serialize)]
struct TableAggregateJson<'a> {
    group_by: &'a [String],
    bucket_by: &'a [String],
    measures: Vec<MeasureJson<'a>>,
}

#[derive(Serialize)]
struct TableJson<'a> {
    name: &'a str,
    doc: &'a str,
    columns: Vec<ColumnJson<'a>>,
    filters: Vec<FilterJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aggregate: Option<TableAggregateJson<'a>>,
}

#[derive(Serialize)]
struct AggregatesJson<'a> {
    doc: &'a str,
    buckets: &'a [String],
    default_max_scan: u32,
    max_scan_limit: u32,
}

/// A connector's catalogue as `--format json describe` (and `serve`'s `GET /v1/connectors`) prints it.
#[derive(Serialize)]
pub struct DescribeJson<'a> {
    connector: &'a str,
    api_version: &'a str,
    default_cache_ttl_seconds: u32,
    default_max_rows: u32,
    max_rows_limit: u32,
    query_doc: &'a str,
    tables: Vec<TableJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aggregates: Option<AggregatesJson<'a>>,
}

pub fn describe_json(info: &wit::ConnectorInfo) -> String {
    to_json(&describe_doc(info))
}

pub fn describe_doc(info: &wit::ConnectorInfo) -> DescribeJson<'_> {
    DescribeJson {
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
                aggregate: t.aggregate.as_ref().map(|a| TableAggregateJson {
                    group_by: &a.group_by,
                    bucket_by: &a.bucket_by,
                    measures: a
                        .measures
                        .iter()
                        .map(|m| MeasureJson {
                            name: &m.name,
                            columns: &m.columns,
                            doc: &m.doc,
                        })
                        .collect(),
                }),
            })
            .collect(),
        aggregates: info.aggregates.as_ref().map(|a| AggregatesJson {
            doc: &a.doc,
            buckets: &a.buckets,
            default_max_scan: a.default_max_scan,
            max_scan_limit: a.max_scan_limit,
        }),
    }
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
struct MeasureShapeJson<'a> {
    name: &'a str,
    kind: &'a str,
}

#[derive(Serialize)]
struct AggregateShapeJson<'a> {
    group_by: &'a [String],
    measures: Vec<MeasureShapeJson<'a>>,
}

#[derive(Serialize)]
struct ShapeJson<'a> {
    table: &'a str,
    columns: Vec<ShapeColumnJson<'a>>,
    row_count: u64,
    filter_keys: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    aggregate: Option<AggregateShapeJson<'a>>,
}

/// An aggregate's stats as `--format json` prints them.
#[derive(Serialize)]
struct AggregateJson {
    rows_scanned: u64,
    partial: bool,
    groups: u64,
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
    #[serde(skip_serializing_if = "Option::is_none")]
    aggregate: Option<AggregateJson>,
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

pub fn query_json(result: &wit::QueryResult, served: Served) -> String {
    to_json(&query_doc(result, served))
}

pub fn query_doc(result: &wit::QueryResult, served: Served) -> QueryJson<'_> {
    let cached = served.cached();
    QueryJson {
        table: &result.table,
        columns: shape_columns(&result.columns),
        rows: RowsJson(&result.rows),
        truncated: result.truncated,
        cache_ttl_seconds: served.cache_ttl_seconds(result),
        memory_shape: ShapeJson {
            table: &result.shape.table,
            columns: shape_columns(&result.shape.columns),
            row_count: result.shape.row_count,
            filter_keys: &result.shape.filter_keys,
            aggregate: result.shape.aggregate.as_ref().map(|a| AggregateShapeJson {
                group_by: &a.group_by,
                measures: a
                    .measures
                    .iter()
                    .map(|m| MeasureShapeJson {
                        name: &m.name,
                        kind: &m.kind,
                    })
                    .collect(),
            }),
        },
        // A cached answer made no request now.
        requests: if cached { 0 } else { result.requests },
        cached,
        scan_note: result.scan_note.as_deref(),
        aggregate: result.aggregate.map(|a| AggregateJson {
            rows_scanned: a.rows_scanned,
            partial: a.partial,
            groups: a.groups,
        }),
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

/// `1 row`, `2 rows`.
pub(crate) fn plural(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

fn to_json<T: Serialize>(value: &T) -> String {
    // Serialising these types cannot fail (no maps with non-string keys, no failing Serialize impls).
    serde_json::to_string(value).map_or_else(
        |e| format!(r#"{{"error":{{"kind":"sandbox","message":"could not render JSON: {e}"}}}}"#),
        escape_terminal_controls,
    )
}

/// JSON text with the characters a terminal would act on written as `\uXXXX` escapes: serde_json escapes
/// the C0 controls; this escapes DEL and the C1 controls (U+009B starts an escape sequence in some
/// terminals), the bidirectional marks, embeddings, overrides and isolates (they reorder what a terminal
/// shows), and the line and paragraph separators. Outside string literals JSON text has none of them, so
/// every one is inside a string, where the escape means the same: a JSON reader reads the same values.
pub(crate) fn escape_terminal_controls(json: String) -> String {
    // In UTF-8 each of them is DEL or starts with one of these bytes: most text has none, and is kept.
    if !json.bytes().any(|b| matches!(b, 0x7f | 0xc2 | 0xd8 | 0xe2)) {
        return json;
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if matches!(c, '\u{7f}'..='\u{9f}' | '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_controls_in_json_are_escaped_and_read_back_the_same() {
        let hostile = "A\u{9b}31mB\u{202e}C\u{85}D\u{2028}E\u{61c}F\u{2066}G\u{7f}H é € —";
        let text = error_json("upstream", hostile);
        for c in [
            '\u{9b}', '\u{202e}', '\u{85}', '\u{2028}', '\u{61c}', '\u{2066}', '\u{7f}',
        ] {
            assert!(!text.contains(c), "{c:?} escaped: {text}");
        }
        assert!(
            text.contains(r"A\u009b31mB\u202eC\u0085D\u2028E\u061cF\u2066G\u007fH é € —"),
            "{text}"
        );
        let v: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert_eq!(v["error"]["message"], hostile);
        // Text without them is kept as it is.
        assert_eq!(
            escape_terminal_controls("{\"a\":\"é € —\"}".into()),
            "{\"a\":\"é € —\"}"
        );
    }

    #[test]
    fn error_object_shape() {
        let v: serde_json::Value =
            serde_json::from_str(&error_json("invalid-key", "no \"key\"")).expect("json");
        assert_eq!(v["error"]["kind"], "invalid-key");
        assert_eq!(v["error"]["message"], "no \"key\"");
    }
}
