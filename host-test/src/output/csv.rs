//! `--format csv`: RFC 4180 with a header row, for spreadsheets. Amounts are plain decimal major units
//! (`4211.00`: no separators, no code) with the currency column beside them; timestamps RFC 3339 UTC;
//! booleans `true`/`false`; nulls empty. The `csv` crate quotes what needs quoting (separators, quotes,
//! newlines).
//!
//! A spreadsheet runs a cell that starts with `=`, `+`, `-` or `@` as a formula (OWASP, "CSV
//! Injection"): text cells starting with one of those, or with a tab or carriage return, get a leading
//! `'`, which spreadsheets show as text (a trigger behind stripped controls or leading whitespace
//! counts: see `formula_like`). Numbers are written as numbers and never changed, so a negative amount
//! stays a number. Control characters other than newlines are stripped from text, as in every other
//! human format.
//!
//! An amount whose currency's decimals are unknown, or whose row has no currency, stays in minor units;
//! a number cannot say so, so [`minor_units_note`] does, on stderr.

use super::money;
use super::select::Selection;
use crate::policy::redact::{is_default_ignorable, strip_control};
use crate::sandbox::wit;

/// The result as CSV (header row, then one record per row).
pub fn query_csv(result: &wit::QueryResult, selection: &Selection) -> Result<String, String> {
    let mut out = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    let header: Vec<String> = selection
        .shown
        .iter()
        .map(|&i| text_field(&result.columns[i].name))
        .collect();
    out.write_record(&header).map_err(|e| e.to_string())?;
    for row in &result.rows {
        let currency = selection.currency_of(row);
        let record: Vec<String> = selection
            .shown
            .iter()
            .map(|&i| match row.get(i) {
                Some(cell) => field(cell, result.columns[i].kind, currency),
                None => String::new(),
            })
            .collect();
        out.write_record(&record).map_err(|e| e.to_string())?;
    }
    let bytes = out.into_inner().map_err(|e| e.to_string())?;
    String::from_utf8(bytes).map_err(|e| e.to_string())
}

/// How many unknown currency codes [`minor_units_note`] names before it stops listing them.
const CODES_NAMED: usize = 5;

/// What the cells cannot say: amounts written in minor units because the table in `money.rs` does not
/// know their currency's decimals, or because their row has no currency (the table format says so in
/// each cell; a CSV number has no room for it). `None` when every printed amount is in major units.
pub fn minor_units_note(result: &wit::QueryResult, selection: &Selection) -> Option<String> {
    let amounts: Vec<usize> = selection
        .shown
        .iter()
        .copied()
        .filter(|&i| result.columns[i].kind == wit::ColumnType::Amount)
        .collect();
    let mut unknown: Vec<String> = Vec::new();
    let mut without_currency = 0usize;
    for row in &result.rows {
        // Zero is zero in any unit: only other amounts can be misread.
        if !amounts
            .iter()
            .any(|&i| matches!(row.get(i), Some(wit::Cell::Integer(n)) if *n != 0))
        {
            continue;
        }
        match selection.currency_of(row) {
            None => without_currency += 1,
            Some(code) if money::decimals(code).is_none() => {
                // A component's text: no control characters, and short, whatever it holds.
                let code: String = strip_control(code).chars().take(12).collect();
                if !unknown.contains(&code) {
                    unknown.push(code);
                }
            }
            Some(_) => {}
        }
    }
    let mut parts = Vec::new();
    if !unknown.is_empty() {
        let mut named = unknown
            .iter()
            .take(CODES_NAMED)
            .map(|c| format!("{c:?}"))
            .collect::<Vec<_>>()
            .join(", ");
        if unknown.len() > CODES_NAMED {
            named.push_str(&format!(" and {} more", unknown.len() - CODES_NAMED));
        }
        parts.push(format!(
            "amounts in {named} are in minor units (their currencies' decimals are not known)"
        ));
    }
    if without_currency > 0 {
        parts.push(format!(
            "amounts in {without_currency} row{} without a currency are in minor units",
            if without_currency == 1 { "" } else { "s" }
        ));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

fn field(cell: &wit::Cell, kind: wit::ColumnType, currency: Option<&str>) -> String {
    match cell {
        wit::Cell::Null => String::new(),
        wit::Cell::Boolean(b) => b.to_string(),
        wit::Cell::Integer(i) if kind == wit::ColumnType::Timestamp => rfc3339(*i),
        // An amount in a currency Stripe's table does not know (or without one) stays in minor units:
        // the currency column beside it says which.
        wit::Cell::Integer(i) if kind == wit::ColumnType::Amount => {
            match currency.and_then(money::decimals) {
                Some(d) => money::major_units(*i, d, false),
                None => i.to_string(),
            }
        }
        wit::Cell::Integer(i) => i.to_string(),
        wit::Cell::Text(t) => text_field(t),
    }
}

/// Text safe for a spreadsheet: control characters stripped (newlines kept: the writer quotes them),
/// a formula trigger at the start neutralised.
fn text_field(text: &str) -> String {
    let kept: String = text
        .split('\n')
        .map(|line| strip_control(line).into_owned())
        .collect::<Vec<_>>()
        .join("\n");
    if formula_like(text, &kept) {
        format!("'{kept}")
    } else {
        kept
    }
}

/// Whether a spreadsheet could run the cell as a formula. The trigger is looked for in what is written
/// (`kept`), not only in what came in: stripping a leading escape sequence or DEL must not uncover an
/// `=`; and past leading whitespace, since importers may trim it (Google Sheets does by default), and
/// characters drawn as nothing (a zero-width space, a byte-order mark, a soft hyphen), which a reader
/// cannot see in front of it. A tab or carriage return at the start of the original is a trigger of its
/// own (OWASP), though stripping turns it into a space.
fn formula_like(original: &str, kept: &str) -> bool {
    original.starts_with(['\t', '\r'])
        || kept
            .trim_start_matches(|c: char| c.is_whitespace() || is_default_ignorable(c))
            .starts_with(['=', '+', '-', '@'])
}

/// `2026-01-01T00:00:00Z` for unix seconds.
fn rfc3339(secs: i64) -> String {
    let (year, month, day, hour, minute, second) = klairr_calendar::civil_from_unix(secs);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::select::tests::charges;

    #[test]
    fn amounts_are_decimal_major_units_beside_their_currency() {
        let mut r = charges();
        r.rows.push(vec![
            wit::Cell::Text("ch_2".into()),
            wit::Cell::Integer(-1234),
            wit::Cell::Text("usd".into()),
            wit::Cell::Text("succeeded".into()),
        ]);
        let csv = query_csv(&r, &Selection::all(&r)).expect("csv");
        assert_eq!(
            csv,
            "id,amount,currency,status\r\nch_1,4211.00,eur,failed\r\nch_2,-12.34,usd,succeeded\r\n"
        );
    }

    #[test]
    fn amounts_left_in_minor_units_are_said() {
        let mut r = charges();
        assert_eq!(minor_units_note(&r, &Selection::all(&r)), None);
        for currency in [
            wit::Cell::Text("xyz".into()),
            wit::Cell::Text("xyz".into()),
            wit::Cell::Text("a\u{1b}[31mbc".into()),
            wit::Cell::Null,
        ] {
            let mut row = r.rows[0].clone();
            row[2] = currency;
            r.rows.push(row);
        }
        let note = minor_units_note(&r, &Selection::all(&r)).expect("said");
        assert_eq!(
            note,
            "amounts in \"xyz\", \"abc\" are in minor units (their currencies' decimals are not \
             known); amounts in 1 row without a currency are in minor units"
        );
        // Only printed amounts count, and zero in any currency is zero.
        let s = Selection::choose(&r, &["id".to_owned(), "currency".to_owned()]).expect("valid");
        assert_eq!(minor_units_note(&r, &s), None);
        for row in &mut r.rows {
            row[1] = wit::Cell::Integer(0);
        }
        assert_eq!(minor_units_note(&r, &Selection::all(&r)), None);
    }

    #[test]
    fn formulas_are_neutralised_and_numbers_left_alone() {
        for (text, want) in [
            ("=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")"),
            ("+1", "'+1"),
            ("-2", "'-2"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("a\u{1b}[31mb", "ab"),
            ("two\nlines", "two\nlines"),
            ("plain", "plain"),
        ] {
            assert_eq!(text_field(text), want, "{text:?}");
        }
        // A trigger behind what is stripped or trimmed: still neutralised.
        for (text, want) in [
            ("\u{1b}[0m=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")"),
            ("\u{7f}=1+1", "'=1+1"),
            ("\u{202e}@SUM(A1)", "'@SUM(A1)"),
            ("  =1+1", "'  =1+1"),
            ("\n-2", "'\n-2"),
            // Drawn as nothing: a zero-width space, a byte-order mark, a soft hyphen, a word joiner.
            ("\u{200b}=1+1", "'\u{200b}=1+1"),
            ("\u{feff}=1+1", "'\u{feff}=1+1"),
            ("\u{ad}+1", "'\u{ad}+1"),
            ("\u{2060} @x", "'\u{2060} @x"),
            ("a=1", "a=1"),
        ] {
            assert_eq!(text_field(text), want, "{text:?}");
        }
        // A leading tab or carriage return: neutralised, and no control character left.
        for text in ["\tx", "\rx"] {
            let field = text_field(text);
            assert!(field.starts_with('\''), "{field:?}");
            assert!(!field.chars().any(char::is_control), "{field:?}");
        }
        assert_eq!(
            field(&wit::Cell::Integer(-5), wit::ColumnType::Integer, None),
            "-5"
        );
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_767_225_600 + 3_661), "2026-01-01T01:01:01Z");
    }
}
