//! Output for people: tables on a terminal. Every string that came from a component or an upstream has
//! its control characters stripped; amounts are shown in major units with their currency (`money.rs`);
//! timestamps as UTC dates.

use super::money;
use super::select::Selection;
use super::{mode_name, plural};
use crate::memory::column_type_name;
use crate::policy::redact::strip_control;
use crate::sandbox::wit;
use crate::service::Served;
use comfy_table::{
    presets::UTF8_FULL_CONDENSED, CellAlignment, ColumnConstraint, ContentArrangement, Table, Width,
};

/// A table that fits the terminal by wrapping only the columns [`keep_whole`] leaves free.
pub(super) fn new_table() -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    t
}

/// Never wrap column `at`: an id, an amount or a date split over two lines is misread (or cannot be
/// copied), so such a column keeps its width even when the table then runs past the terminal's edge;
/// only free text (names, emails, docs) wraps.
fn keep_whole(t: &mut Table, at: usize) {
    if let Some(column) = t.column_mut(at) {
        column.set_constraint(ColumnConstraint::ContentWidth);
    }
}

/// The narrowest a wrapping column gets: text squeezed to a few characters a line is unreadable, so
/// past this the table runs wider than the terminal instead (and says so).
const NARROWEST_TEXT: u16 = 16;

/// Let free-text column `at` wrap, but not below [`NARROWEST_TEXT`]. A column whose header and cells
/// are all that narrow already is kept whole instead: a lower boundary is also a width, and would pad a
/// column of country codes to sixteen characters.
fn wrap_text(t: &mut Table, at: usize) {
    let widest = t.column_max_content_widths().get(at).copied().unwrap_or(0);
    if widest <= NARROWEST_TEXT {
        keep_whole(t, at);
    } else if let Some(column) = t.column_mut(at) {
        column.set_constraint(ColumnConstraint::LowerBoundary(Width::Fixed(
            NARROWEST_TEXT,
        )));
    }
}

/// Whether the rendered table runs past the width it was laid out for, in terminal columns as
/// comfy-table lays them out: a zero-width space takes none, a CJK character two.
fn wider_than(table: &str, width: Option<u16>) -> bool {
    use unicode_width::UnicodeWidthStr;
    width.is_some_and(|w| table.lines().any(|l| l.width() > usize::from(w)))
}

/// A string from a component or upstream, safe for a terminal.
pub(super) fn clean(text: &str) -> String {
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
        for at in 0..3 {
            keep_whole(&mut cols, at);
        }
        out.push_str(&cols.to_string());
        out.push('\n');
        let mut filters = new_table();
        filters.set_header(["filter", "accepts", "doc"]);
        for f in &t.filters {
            filters.add_row([clean(&f.key), clean(&f.accepts), clean(&f.doc)]);
        }
        keep_whole(&mut filters, 0);
        out.push_str(&filters.to_string());
        out.push('\n');
        if let Some(a) = &t.aggregate {
            out.push_str(&format!(
                "aggregates: group_by {}; buckets on {}\n",
                clean(&a.group_by.join(", ")),
                clean(&a.bucket_by.join(", "))
            ));
            let mut measures = new_table();
            measures.set_header(["measure", "columns", "doc"]);
            for m in &a.measures {
                let columns = if m.columns.is_empty() {
                    "(none)".to_owned()
                } else {
                    m.columns.join(", ")
                };
                measures.add_row([clean(&m.name), clean(&columns), clean(&m.doc)]);
            }
            keep_whole(&mut measures, 0);
            out.push_str(&measures.to_string());
            out.push('\n');
        }
    }
    if let Some(a) = &info.aggregates {
        out.push_str(&format!(
            "\nAggregates (buckets: {}; max-scan {} by default, up to {}):\n{}\n",
            clean(&a.buckets.join(", ")),
            a.default_max_scan,
            a.max_scan_limit,
            clean(&a.doc)
        ));
    }
    out
}

pub fn setup_text(report: &wit::VerifyReport) -> String {
    let probes = if report.write_probes_refused.is_empty() {
        "no write probes (this connector's setup makes none)".to_owned()
    } else {
        format!(
            "every write probe was refused ({})",
            clean(&report.write_probes_refused.join(", "))
        )
    };
    format!(
        "✔ key accepted ({} mode): reads {}; {probes}; {}\n",
        mode_name(report.mode),
        clean(&report.readable.join(", ")),
        plural(u64::from(report.requests), "request")
    )
}

pub fn query_text(result: &wit::QueryResult, served: Served) -> String {
    query_text_selected(result, served, &Selection::all(result))
}

/// [`query_text`] showing only the named columns (in that order); names the table does not have are
/// left out. The footer says how many columns were left out.
pub fn query_text_columns(result: &wit::QueryResult, served: Served, only: &[&str]) -> String {
    let mut selection = Selection::all(result);
    selection.shown = only
        .iter()
        .filter_map(|n| result.columns.iter().position(|c| c.name == *n))
        .collect();
    query_text_selected(result, served, &selection)
}

/// The result as a table of the selected columns, with a footer: rows, requests, truncation, cache.
pub fn query_text_selected(
    result: &wit::QueryResult,
    served: Served,
    selection: &Selection,
) -> String {
    query_text_within(result, served, selection, None)
}

/// [`query_text_selected`] laid out for a terminal `width` columns wide (`None`: the real terminal's
/// width when stdout is one, else unbounded).
fn query_text_within(
    result: &wit::QueryResult,
    served: Served,
    selection: &Selection,
    width: Option<u16>,
) -> String {
    let shown = &selection.shown;
    let mut t = new_table();
    t.set_header(shown.iter().map(|&i| clean(&result.columns[i].name)));
    for row in &result.rows {
        let currency = selection.currency_of(row);
        t.add_row(shown.iter().map(|&i| match row.get(i) {
            Some(cell) => cell_text(cell, result.columns[i].kind, currency),
            None => String::new(),
        }));
    }
    for (at, &i) in shown.iter().enumerate() {
        let kind = result.columns[i].kind;
        // Numbers line up on the right, as in a ledger.
        if matches!(kind, wit::ColumnType::Amount | wit::ColumnType::Integer) {
            if let Some(column) = t.column_mut(at) {
                column.set_cell_alignment(CellAlignment::Right);
            }
        }
        if kind == wit::ColumnType::Text {
            wrap_text(&mut t, at);
        } else {
            keep_whole(&mut t, at);
        }
    }
    if let Some(width) = width {
        t.set_width(width);
    }
    let table = t.to_string();
    let too_wide = wider_than(&table, t.width());
    let source = if served.cached() {
        "served from the result cache, 0 requests".to_owned()
    } else {
        plural(u64::from(result.requests), "request")
    };
    let returned = result.rows.len() as u64;
    let mut out = match result.aggregate {
        None => {
            let mut out = format!(
                "{table}\n{} from {}",
                plural(returned, "row"),
                clean(&result.table)
            );
            if result.truncated {
                out.push_str(truncated_list(result.scan_note.is_some()));
            }
            out
        }
        // An aggregate says apart what it left out: groups past `limit`, rows past its scan bound.
        Some(a) => {
            let mut out = format!(
                "{table}\n{} from {}, {} scanned",
                plural(returned, "group"),
                clean(&result.table),
                plural(a.rows_scanned, "row")
            );
            if a.groups > returned {
                out.push_str(&format!(
                    " (truncated: {} found; raise limit or --max-rows)",
                    plural(a.groups, "group")
                ));
            }
            if a.partial {
                out.push_str(" (partial: the scan stopped at its bound, see the note)");
            }
            out
        }
    };
    out.push_str(&format!(
        "; {source}; cache TTL {} s\n",
        served.cache_ttl_seconds(result)
    ));
    if shown.len() < result.columns.len() {
        out.push_str(&format!(
            "({} of {} columns shown; `--columns` chooses them)\n",
            shown.len(),
            result.columns.len()
        ));
    }
    if too_wide {
        out.push_str(
            "(wider than the terminal: ids, amounts and dates are never wrapped; `--columns` chooses fewer columns)\n",
        );
    }
    if let Some(note) = &result.scan_note {
        out.push_str(&format!("note: {}\n", clean(note)));
    }
    out
}

/// The footer's word on a truncated list: the list goes on, or — when a scan stopped at its bound, which
/// its note explains — more rows may match.
fn truncated_list(stopped_at_bound: bool) -> &'static str {
    if stopped_at_bound {
        " (truncated: the scan stopped at its bound, so more rows may match; see the note)"
    } else {
        " (truncated: the list goes on; raise limit or --max-rows)"
    }
}

/// The most characters of one text cell a table shows: a longer one is read whole in json, csv or
/// ndjson, and laying it out in a table takes time that grows with its square (QA: minutes for a
/// cell of 100,000 characters).
pub const TABLE_CELL_CHARS: usize = 2000;

/// `text` cut to [`TABLE_CELL_CHARS`], saying how much was left out.
fn shortened(text: String) -> String {
    match text.char_indices().nth(TABLE_CELL_CHARS) {
        None => text,
        Some((cut, _)) => {
            let more = text[cut..].chars().count();
            format!(
                "{}… [{more} more characters: --format json shows it whole]",
                &text[..cut]
            )
        }
    }
}

/// Cells for people: timestamps as UTC date-times, amounts in major units with their row's currency
/// (`money.rs`), the rest as is.
pub fn cell_text(cell: &wit::Cell, kind: wit::ColumnType, currency: Option<&str>) -> String {
    match cell {
        wit::Cell::Null => String::new(),
        wit::Cell::Text(t) => shortened(clean(t)),
        wit::Cell::Boolean(b) => b.to_string(),
        wit::Cell::Integer(i) if kind == wit::ColumnType::Timestamp => utc_datetime(*i),
        wit::Cell::Integer(i) if kind == wit::ColumnType::Amount => {
            clean(&money::amount_cell(*i, currency))
        }
        wit::Cell::Integer(i) => i.to_string(),
    }
}

/// `YYYY-MM-DD HH:MM` (UTC) for unix seconds.
pub fn utc_datetime(secs: i64) -> String {
    let (year, month, day, hour, minute, _) = klairr_calendar::civil_from_unix(secs);
    format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::select::tests::charges;

    #[test]
    fn utc_datetimes() {
        assert_eq!(utc_datetime(0), "1970-01-01 00:00");
        assert_eq!(utc_datetime(1_767_225_600), "2026-01-01 00:00");
        assert_eq!(utc_datetime(951_782_400), "2000-02-29 00:00");
        assert_eq!(utc_datetime(1_767_225_600 + 3_660), "2026-01-01 01:01");
    }

    #[test]
    fn an_amount_cell_stands_alone_even_without_its_currency_column() {
        let r = charges();
        let s = Selection::choose(&r, &["id".to_owned(), "amount".to_owned()]).expect("valid");
        let text = query_text_selected(&r, Served::Fresh, &s);
        assert!(text.contains("4,211.00 EUR"), "{text}");
        assert!(!text.contains("421100"), "{text}");
        assert!(text.contains("(2 of 4 columns shown"), "{text}");
    }

    #[test]
    fn setup_says_which_write_probes_were_refused_or_that_there_were_none() {
        let mut report = wit::VerifyReport {
            mode: wit::Mode::Test,
            readable: vec!["entries".into(), "accounts".into()],
            write_probes_refused: vec![],
            requests: 2,
        };
        assert_eq!(
            setup_text(&report),
            "✔ key accepted (test mode): reads entries, accounts; no write probes (this connector's setup makes none); 2 requests\n"
        );
        report.write_probes_refused = vec!["DELETE /v1/customers/cus_x_y".into()];
        assert!(setup_text(&report)
            .contains("every write probe was refused (DELETE /v1/customers/cus_x_y)"));
    }

    /// A nullable column of the result.
    fn column(name: &str, kind: wit::ColumnType) -> wit::Column {
        wit::Column {
            name: name.into(),
            kind,
            nullable: true,
            doc: String::new(),
        }
    }

    #[test]
    fn in_a_narrow_terminal_only_free_text_wraps() {
        use wit::ColumnType::*;
        let mut r = charges();
        r.columns = vec![
            column("id", Id),
            column("amount", Amount),
            column("currency", Currency),
            column("created", Timestamp),
            column("description", Text),
            column("customer", Id),
        ];
        r.rows = vec![vec![
            wit::Cell::Text("ch_3PqRsTuVwXyZ012345678901".into()),
            wit::Cell::Integer(123_456_789),
            wit::Cell::Text("usd".into()),
            wit::Cell::Integer(1_767_225_600),
            wit::Cell::Text("Annual plan for the whole finance team, billed yearly".into()),
            wit::Cell::Text("cus_QwErTyUiOpAsDfGh".into()),
        ]];
        let text = query_text_within(&r, Served::Fresh, &Selection::all(&r), Some(80));
        assert!(text.contains("wider than the terminal"), "{text}");
        for whole in [
            "ch_3PqRsTuVwXyZ012345678901",
            "1,234,567.89 USD",
            "2026-01-01 00:00",
            "cus_QwErTyUiOpAsDfGh",
        ] {
            assert!(text.contains(whole), "{whole} is split:\n{text}");
        }
        assert!(
            !text.contains("Annual plan for the whole finance team, billed yearly"),
            "the description is the column that wraps:\n{text}"
        );
        assert!(
            text.contains("for the whole"),
            "but not to a few letters a line:\n{text}"
        );

        // The same row with fewer columns fits: nothing is said, and still only the text wraps.
        let s = Selection::choose(
            &r,
            &[
                "id".to_owned(),
                "amount".to_owned(),
                "description".to_owned(),
            ],
        )
        .expect("valid");
        let text = query_text_within(&r, Served::Fresh, &s, Some(80));
        assert!(!text.contains("wider than the terminal"), "{text}");
        assert!(text.contains("1,234,567.89 USD"), "{text}");
        assert!(!text.contains("the whole finance team"), "{text}");
        assert!(text.contains("finance team, billed yearly"), "{text}");
        let widest = text.lines().map(|l| l.chars().count()).max();
        assert!(widest <= Some(80), "{text}");

        // A zero-width space in the text takes no column: a table that fits is not said to be wider
        // (QA: counted as a character, it made every full-width table "wider than the terminal").
        r.rows[0][4] = wit::Cell::Text(
            "Annual plan for the whole\u{200b} finance team, billed yearly, renewed in January"
                .into(),
        );
        let text = query_text_within(&r, Served::Fresh, &s, Some(80));
        assert!(!text.contains("wider than the terminal"), "{text}");
    }

    #[test]
    fn a_long_text_cell_is_cut_in_a_table_saying_where_it_is_whole() {
        let long = "b".repeat(200_000);
        let shown = cell_text(&wit::Cell::Text(long), wit::ColumnType::Text, None);
        assert!(
            shown.starts_with(&"b".repeat(TABLE_CELL_CHARS))
                && shown.ends_with("… [198000 more characters: --format json shows it whole]"),
            "{}",
            &shown[TABLE_CELL_CHARS - 5..]
        );
        let short = "é".repeat(TABLE_CELL_CHARS);
        assert_eq!(
            cell_text(&wit::Cell::Text(short.clone()), wit::ColumnType::Text, None),
            short
        );
    }

    #[test]
    fn short_text_columns_are_neither_padded_nor_split() {
        use wit::ColumnType::*;
        let mut r = charges();
        r.columns = vec![
            column("id", Id),
            column("address_country", Text),
            column("tax_exempt", Text),
        ];
        r.rows = vec![vec![
            wit::Cell::Text("cus_QwErTyUiOpAsDfGh".into()),
            wit::Cell::Text("US".into()),
            wit::Cell::Text("none".into()),
        ]];
        let text = query_text_within(&r, Served::Fresh, &Selection::all(&r), Some(60));
        assert!(text.contains("┆ address_country ┆ tax_exempt │"), "{text}");
        assert!(text.contains("┆ US              ┆ none       │"), "{text}");
        assert!(!text.contains("wider than the terminal"), "{text}");
    }

    /// A text cell is cut at `TABLE_CELL_CHARS` in a table, and so is a row's currency code where the
    /// row's amount cells repeat it: one long "currency" (a cell may hold 1 MiB) widened the unwrapped
    /// amount columns to its length and padded every other row to it (review: 30 MB of table for 262 KB
    /// of text).
    #[test]
    fn a_huge_currency_code_does_not_widen_the_amount_columns() {
        use wit::ColumnType::*;
        let mut r = charges();
        r.columns = vec![column("id", Id), column("currency", Currency)];
        for name in ["total", "amount_due", "amount_paid", "amount_remaining"] {
            r.columns.push(column(name, Amount));
        }
        let row = |code: &str| {
            let mut row = vec![wit::Cell::Text("in_1".into()), wit::Cell::Text(code.into())];
            row.extend((0..4).map(|_| wit::Cell::Integer(100)));
            row
        };
        let code = "x".repeat(256 << 10);
        r.rows = vec![row(&code)];
        r.rows.extend((0..99).map(|_| row("usd")));
        let text = query_text_within(&r, Served::Fresh, &Selection::all(&r), Some(120));
        // The code's first 2,000 characters, wrapped in its own column, and 99 short rows.
        assert!(text.len() < 1 << 20, "{} bytes of table", text.len());
    }
}
