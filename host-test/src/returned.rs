//! What comes back from a component is checked before anyone sees it — the host does not take the
//! guest's word for anything it prints, caches or remembers.
//!
//! - Results: every column a catalogue identifier, one cell per column of the column's type (null only
//!   where the column is nullable), no more rows than the connection asked for; the request count is the
//!   host's own; the cache TTL clamped to the manifest's ceiling and the connection's setting.
//! - Aggregate results: the columns are the shape's group columns then its measures, each measure one of
//!   the contract's kinds, no more rows than groups found; `truncated` set whenever the scan was partial
//!   or groups were left out.
//! - Memory shapes: identifiers (`[a-z][a-z0-9_]{0,63}`) and counts only. A table or column is one of
//!   the connector's catalogue ([`CatalogueNames`]) or a name the caller wrote in the query (an object
//!   key, such as a measure's name; never a string value, which may be a customer's id or email): one
//!   named otherwise refuses the result. A filter key is one of the result table's catalogue filters;
//!   any other is dropped. A component sees rows and the query's values; it cannot dress either up as a
//!   name and have the host keep it.
//! - Every string a component hands back (cells, notes, errors, upstream messages, reports) has the
//!   credential — any 12-character run of it — redacted, and messages are capped at 1 KiB.
//!
//! A result that breaks the contract is refused as a whole (`Malformed`): fail closed.

use crate::sandbox::{wit, CallDeadline, SandboxError};
use klairr_policy::redact::{cap, is_identifier, SecretRuns, MESSAGE_CAP};

mod catalogue;
pub use catalogue::{check_info, CatalogueNames};

/// What a query's result is checked against.
pub struct Expect<'a> {
    /// The most rows the connection may return.
    pub max_rows: u32,
    /// The most seconds the result may be cached.
    pub ttl_ceiling: u32,
    /// Requests the host sent for this call.
    pub requests: u32,
    pub runs: &'a SecretRuns,
    /// The names the result and its shape may use besides those the caller wrote.
    pub catalogue: &'a CatalogueNames,
    /// The names the caller wrote: the query's object keys (`sandbox::caller_text::caller_names`).
    pub names_written: &'a [String],
    /// The call's deadline: the checks stop there ([`CallDeadline`] says why).
    pub deadline: CallDeadline,
}

impl Expect<'_> {
    fn wrote(&self, name: &str) -> bool {
        self.names_written.iter().any(|t| t == name)
    }

    fn knows(&self, name: &str) -> bool {
        self.catalogue.names.contains(name) || self.wrote(name)
    }

    fn filters(&self, table: &str, key: &str) -> bool {
        self.catalogue
            .filters
            .get(table)
            .is_some_and(|keys| keys.contains(key))
    }
}

/// The most columns a table may have; far above any real catalogue, low enough to bound the checks.
const MAX_COLUMNS: usize = 512;
/// Catalogue docs are long-form text meant for an LLM; bounded all the same.
const DOC_CAP: usize = 4096;

/// The most bytes of one text cell: far above any value a finance source holds, low enough that
/// reading it for the credential (several views of it in turn) stays small beside the host.
pub const MAX_CELL_BYTES: usize = 1 << 20;

/// How many bytes of cells are checked between two looks at the call's deadline: a look costs ~25 ns,
/// 64 KiB of text at least ~20 µs to check, ~10 ms at its slowest.
const CHECKED_BETWEEN_LOOKS: usize = 64 << 10;

/// How much of a long message is read for the credential before it is capped at `limit`: every key
/// that could show within `limit` bytes lies inside it whole (a credential is at most 4,096 bytes), and
/// a megabyte of message is not read whole only to be cut to a kilobyte.
const BEFORE_CAP: usize = 8 << 10;

fn text(s: String, runs: Option<&SecretRuns>, limit: usize) -> String {
    redacted_head(&s, runs, limit)
}

/// At most `limit` bytes of `text`, redacted before it is cut (a key across the cut is hidden whole),
/// reading only the head that can show (see [`BEFORE_CAP`]).
fn redacted_head(text: &str, runs: Option<&SecretRuns>, limit: usize) -> String {
    let head = cap(text, limit + BEFORE_CAP);
    let redacted = match runs {
        Some(r) => std::borrow::Cow::Owned(r.redact(&head).into_owned()),
        None => head,
    };
    cap(&redacted, limit).into_owned()
}

fn malformed(message: String) -> SandboxError {
    SandboxError::Malformed(message)
}

/// A component's text quoted in a message, at most `limit` bytes of it: redacted *before* it is escaped.
/// Escaping writes a zero-width space or a BEL as plain ASCII (`\u{200b}`, `\u{7}`), where the
/// redaction of the finished message could no longer see the key they cut.
fn quoted(text: &str, runs: Option<&SecretRuns>, limit: usize) -> String {
    format!("{:?}", redacted_head(text, runs, limit))
}

/// `name` must be an identifier; `runs` once the connection holds a credential (a result, a report).
fn identifier(what: &str, name: &str, runs: Option<&SecretRuns>) -> Result<(), SandboxError> {
    if is_identifier(name) {
        Ok(())
    } else {
        Err(malformed(format!(
            "{what} {} is not an identifier ([a-z][a-z0-9_]{{0,63}})",
            quoted(name, runs, 80)
        )))
    }
}

fn check_columns(
    columns: &mut [wit::Column],
    runs: Option<&SecretRuns>,
) -> Result<(), SandboxError> {
    if columns.len() > MAX_COLUMNS {
        return Err(malformed(format!(
            "{} columns, more than {MAX_COLUMNS}",
            columns.len()
        )));
    }
    for i in 0..columns.len() {
        identifier("column", &columns[i].name, runs)?;
        // A name is how a reader, `--columns` and memory tell the columns apart.
        if columns[..i].iter().any(|c| c.name == columns[i].name) {
            return Err(malformed(format!(
                "column {} is named twice",
                columns[i].name
            )));
        }
        let c = &mut columns[i];
        c.doc = text(std::mem::take(&mut c.doc), None, DOC_CAP);
    }
    Ok(())
}

/// The measures the contract knows (`measure-shape.kind`).
pub const MEASURE_KINDS: [&str; 6] = ["count", "sum", "avg", "min", "max", "count_distinct"];

/// A connector's error: every message redacted and capped; resource lists keep identifiers only.
pub fn check_error(e: wit::ConnectorError, runs: Option<&SecretRuns>) -> wit::ConnectorError {
    use wit::ConnectorError as E;
    let m = |s: String| text(s, runs, MESSAGE_CAP);
    // An identifier may still be a run of the key (`rk_live_51hq`): such a name is left out too, as
    // written and as a message shows it, its first letter capitalised (review: `fghjkl5zq0wr` was no
    // run of a key holding `Fghjkl5zq0wr`, and was shown so).
    let names = |list: Vec<String>| -> Vec<String> {
        list.into_iter()
            .filter(|n| {
                is_identifier(n)
                    && !runs.is_some_and(|r| {
                        r.contains(n)
                            || r.contains(&crate::sandbox::capitalised(n))
                            || r.contains(&crate::sandbox::shown_name(n))
                    })
            })
            .take(64)
            .collect()
    };
    let upstream = |u: wit::UpstreamError| wit::UpstreamError {
        status: u.status,
        code: u.code.map(|c| text(c, runs, 128)),
        message: m(u.message),
        request_id: u.request_id.map(|r| text(r, runs, 128)),
    };
    match e {
        E::SecretKeyRejected(s) => E::SecretKeyRejected(m(s)),
        E::InvalidKey(s) => E::InvalidKey(m(s)),
        E::ModeMismatch(s) => E::ModeMismatch(m(s)),
        E::InvalidQuery(s) => E::InvalidQuery(m(s)),
        E::Network(s) => E::Network(m(s)),
        E::OverPermissioned(list) => E::OverPermissioned(names(list)),
        E::MissingPermission(list) => E::MissingPermission(names(list)),
        E::RateLimited(u) => E::RateLimited(upstream(u)),
        E::Upstream(u) => E::Upstream(upstream(u)),
    }
}

/// The setup report: readable tables are identifiers; probe descriptions redacted and capped; the
/// request count is the host's.
pub fn check_report(
    mut report: wit::VerifyReport,
    runs: &SecretRuns,
    requests: u32,
) -> Result<wit::VerifyReport, SandboxError> {
    for table in &report.readable {
        identifier("readable table", table, Some(runs))?;
    }
    report.write_probes_refused = report
        .write_probes_refused
        .into_iter()
        .take(64)
        .map(|p| text(p, Some(runs), 256))
        .collect();
    report.requests = requests;
    Ok(report)
}

/// A canonical query is a cache key: bounded, and used as the component wrote it. The cache keeps only
/// a SHA-256 of it and never prints it, so nothing of it is shown; and masking the credential in it would
/// make two keys one exactly when a guess was a run of the credential, which a component sees as a
/// cache hit (QA rebuilt a key so, a character at a time).
pub fn check_canonical(canonical: String) -> Result<String, SandboxError> {
    if canonical.len() > 64 << 10 {
        return Err(malformed(format!(
            "a canonical query of {} bytes (at most 64 KiB)",
            canonical.len()
        )));
    }
    Ok(canonical)
}

/// What a result holds in memory, for the cache's bound: every block the allocator gives its lists and
/// its text (`block` below), its columns included (their docs too: review weighed 512 columns of 4 KiB
/// docs, or 100,000 rows of no cells, at 1 KiB). Weighed as the component returned it, before the credential
/// is masked in it: a weight that shrank where a guess was a run of the credential would change what the
/// shared cache evicts, which another call of the component can see (QA read right guesses so).
pub fn weight(result: &wit::QueryResult) -> usize {
    use std::mem::size_of_val;
    let text = |s: &str| block(s.len());
    let rows: usize = block(size_of_val(result.rows.as_slice()))
        + result
            .rows
            .iter()
            .map(|row| {
                block(size_of_val(row.as_slice()))
                    + row
                        .iter()
                        .map(|c| match c {
                            wit::Cell::Text(t) => text(t),
                            _ => 0,
                        })
                        .sum::<usize>()
            })
            .sum::<usize>();
    let columns = |columns: &[wit::Column], docs: bool| {
        block(size_of_val(columns))
            + columns
                .iter()
                .map(|c| text(&c.name) + if docs { text(&c.doc) } else { 0 })
                .sum::<usize>()
    };
    // The memory shape repeats the columns, without their docs; the rest (the table's name, the `Arc`
    // the cache keeps it in, a scan note) is small and bounded.
    rows + columns(&result.columns, true) + columns(&result.shape.columns, false) + 1024
}

/// The bytes the allocator takes for a block of `n`: glibc's malloc adds an 8-byte header, rounds to 16
/// and gives 32 at least, and maps a large block (128 KiB and more) in whole pages. Text alone
/// undercounted: a one-byte cell takes 56 bytes (its 24-byte cell and a 32-byte block) and was weighed
/// 25, so a cache of such results held twice its bound (`tests/cache_weight.rs` measures the allocator).
fn block(n: usize) -> usize {
    match n {
        0 => 0,
        n if n >= 128 << 10 => (n + 16).next_multiple_of(4096),
        n => (n + 8).max(32).next_multiple_of(16),
    }
}

fn cell_fits(cell: &wit::Cell, column: &wit::Column) -> bool {
    use wit::{Cell, ColumnType as T};
    match (cell, column.kind) {
        (Cell::Null, _) => column.nullable,
        (Cell::Text(_), T::Id | T::Text | T::Currency) => true,
        (Cell::Integer(_), T::Integer | T::Timestamp | T::Amount) => true,
        (Cell::Boolean(_), T::Boolean) => true,
        _ => false,
    }
}

fn cell_kind(cell: &wit::Cell) -> &'static str {
    match cell {
        wit::Cell::Null => "null",
        wit::Cell::Text(_) => "text",
        wit::Cell::Integer(_) => "an integer",
        wit::Cell::Boolean(_) => "a boolean",
    }
}

/// A query result, checked and redacted (see the module docs).
pub fn check_query(
    mut result: wit::QueryResult,
    expect: &Expect<'_>,
) -> Result<wit::QueryResult, SandboxError> {
    identifier("table", &result.table, Some(expect.runs))?;
    if !expect.catalogue.tables.contains(&result.table) && !expect.wrote(&result.table) {
        return Err(malformed(format!(
            "table {} is neither one of its catalogue's tables nor written in the query",
            quoted(&result.table, Some(expect.runs), 80)
        )));
    }
    check_columns(&mut result.columns, Some(expect.runs))?;
    if let Some(c) = result.columns.iter().find(|c| !expect.knows(&c.name)) {
        return Err(malformed(format!(
            "column {} is neither in its catalogue nor written in the query",
            quoted(&c.name, Some(expect.runs), 80)
        )));
    }
    // A catalogue's column has the catalogue's type: the memory shape keeps types, and a type the
    // component chose would be a few bits of its choosing in each (review). A name the query wrote
    // (a measure's) has whatever type its measure gives.
    for c in result.columns.iter().filter(|c| !expect.wrote(&c.name)) {
        let kinds = expect
            .catalogue
            .kinds
            .get(&c.name)
            .map_or(&[][..], Vec::as_slice);
        if !kinds.contains(&c.kind) {
            let listed: Vec<&str> = kinds
                .iter()
                .map(|k| crate::memory::column_type_name(*k))
                .collect();
            return Err(malformed(format!(
                "column {} is {} where its catalogue has {}",
                quoted(&c.name, Some(expect.runs), 80),
                crate::memory::column_type_name(c.kind),
                if listed.is_empty() {
                    "no such column".to_owned()
                } else {
                    listed.join(" or ")
                }
            )));
        }
    }
    if result.rows.len() as u64 > u64::from(expect.max_rows) {
        return Err(malformed(format!(
            "{} rows, more than the {} the connection asked for",
            result.rows.len(),
            expect.max_rows
        )));
    }
    let mut unlooked = 0;
    for (r, row) in result.rows.iter_mut().enumerate() {
        if row.len() != result.columns.len() {
            return Err(malformed(format!(
                "row {r} has {} cells for {} columns",
                row.len(),
                result.columns.len()
            )));
        }
        for (cell, column) in row.iter_mut().zip(&result.columns) {
            if !cell_fits(cell, column) {
                return Err(malformed(format!(
                    "row {r}, column {}: {} in a{} {} column",
                    column.name,
                    cell_kind(cell),
                    if column.nullable { "" } else { " non-nullable" },
                    crate::memory::column_type_name(column.kind)
                )));
            }
            if let wit::Cell::Text(t) = cell {
                if t.len() > MAX_CELL_BYTES {
                    return Err(malformed(format!(
                        "row {r}, column {}: a text of {} bytes, more than the {} a cell may hold",
                        column.name,
                        t.len(),
                        MAX_CELL_BYTES
                    )));
                }
                if let std::borrow::Cow::Owned(clean) = expect.runs.redact(t) {
                    *t = clean;
                }
                unlooked += t.len();
            }
            // Every cell counts a little: a million empty ones take time too.
            unlooked += 8;
            if unlooked >= CHECKED_BETWEEN_LOOKS {
                expect.deadline.check()?;
                unlooked = 0;
            }
        }
    }
    result.scan_note = result
        .scan_note
        .map(|n| text(n, Some(expect.runs), MESSAGE_CAP));
    result.cache_ttl_seconds = result.cache_ttl_seconds.min(expect.ttl_ceiling);
    result.requests = expect.requests;
    let aggregate = check_aggregate(&mut result, expect.runs)?;
    // The shape is rebuilt from what the host checked: identifiers and counts only, as sets (sorted,
    // once each) where their order says nothing the memory needs, so that a component cannot spell a
    // value in the order or the repetition of names it may use (QA wrote an email into memory as a
    // list of one-letter filter keys). Filter keys are those of the table the caller wrote.
    let mut columns: Vec<wit::Column> = result
        .columns
        .iter()
        .map(|c| wit::Column {
            doc: String::new(),
            ..c.clone()
        })
        .collect();
    columns.sort_by(|a, b| a.name.cmp(&b.name));
    let mut filter_keys: Vec<String> = std::mem::take(&mut result.shape.filter_keys)
        .into_iter()
        .filter(|k| expect.filters(&result.table, k) && expect.wrote(k))
        .collect();
    filter_keys.sort();
    filter_keys.dedup();
    result.shape = wit::Shape {
        table: result.table.clone(),
        columns,
        row_count: result.rows.len() as u64,
        filter_keys,
        aggregate,
    };
    Ok(result)
}

/// An aggregate result's stats and shape, against its columns and rows: both present or both absent;
/// the columns exactly the group columns then the measures; measure kinds the contract's; no more rows
/// than groups. `truncated` is set when the scan was partial or groups were left out. Returns the
/// shape's aggregate part, rebuilt from checked names.
fn check_aggregate(
    result: &mut wit::QueryResult,
    runs: &SecretRuns,
) -> Result<Option<wit::AggregateShape>, SandboxError> {
    let (stats, shape) = match (result.aggregate, result.shape.aggregate.take()) {
        (None, None) => return Ok(None),
        (Some(stats), Some(shape)) => (stats, shape),
        (Some(_), None) => {
            return Err(malformed(
                "an aggregate result without the aggregate part of its shape".into(),
            ))
        }
        (None, Some(_)) => {
            return Err(malformed(
                "a shape with an aggregate part on a result without aggregate stats".into(),
            ))
        }
    };
    let written: Vec<&str> = shape
        .group_by
        .iter()
        .map(String::as_str)
        .chain(shape.measures.iter().map(|m| m.name.as_str()))
        .collect();
    let columns: Vec<&str> = result.columns.iter().map(|c| c.name.as_str()).collect();
    if written != columns {
        return Err(malformed(format!(
            "an aggregate's columns {} are not its group columns then its measures {}",
            quoted(&columns.join(","), Some(runs), 200),
            quoted(&written.join(","), Some(runs), 200)
        )));
    }
    if let Some(m) = shape
        .measures
        .iter()
        .find(|m| !MEASURE_KINDS.contains(&m.kind.as_str()))
    {
        return Err(malformed(format!(
            "measure {} is of kind {}, not one of {}",
            quoted(&m.name, Some(runs), 80),
            quoted(&m.kind, Some(runs), 40),
            MEASURE_KINDS.join(", ")
        )));
    }
    let returned = result.rows.len() as u64;
    if stats.groups < returned {
        return Err(malformed(format!(
            "an aggregate of {} groups returned {returned} rows",
            stats.groups
        )));
    }
    result.truncated |= stats.partial || stats.groups > returned;
    // Sets, as the columns are (`check_query`): the group columns too. Their order is the
    // component's to choose (any result may come back as an aggregate of catalogue names), and kept
    // as it chose, it spelled a value in memory as the order of filter keys once did (review).
    let mut shape = shape;
    shape.group_by.sort();
    shape.measures.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Some(shape))
}

#[cfg(test)]
mod tests;
