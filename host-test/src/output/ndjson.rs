//! `--format ndjson`: one JSON object per row, `{"column": value, …}` with values typed as in
//! `--format json` (ids, text and currencies strings; integers, amounts in minor units and timestamps
//! in unix seconds numbers; booleans; null), for streaming into other tools. Nothing else goes to
//! stdout: truncation and notes are the CLI's lines on stderr.

use super::escape_terminal_controls;
use super::select::Selection;
use crate::sandbox::wit;
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

struct RowObject<'a> {
    result: &'a wit::QueryResult,
    selection: &'a Selection,
    row: &'a [wit::Cell],
}

impl Serialize for RowObject<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.selection.shown.len()))?;
        for &i in &self.selection.shown {
            let name = &self.result.columns[i].name;
            match self.row.get(i).unwrap_or(&wit::Cell::Null) {
                wit::Cell::Null => map.serialize_entry(name, &())?,
                wit::Cell::Text(t) => map.serialize_entry(name, t)?,
                wit::Cell::Integer(n) => map.serialize_entry(name, n)?,
                wit::Cell::Boolean(b) => map.serialize_entry(name, b)?,
            }
        }
        map.end()
    }
}

/// One line per row, each a JSON object, terminal controls escaped (`escape_terminal_controls`):
/// streaming the output to a terminal cannot drive it or reorder what it shows.
pub fn query_ndjson(result: &wit::QueryResult, selection: &Selection) -> Result<String, String> {
    let mut out = String::new();
    for row in &result.rows {
        let line = serde_json::to_string(&RowObject {
            result,
            selection,
            row,
        })
        .map_err(|e| e.to_string())?;
        out.push_str(&escape_terminal_controls(line));
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::select::tests::charges;

    #[test]
    fn terminal_controls_are_escaped_and_read_back_the_same() {
        let mut r = charges();
        let hostile = "a\u{9b}31mb\u{202e}c\u{7f}d";
        r.rows[0][3] = wit::Cell::Text(hostile.into());
        let s = Selection::choose(&r, &["status".to_owned()]).expect("valid");
        let line = query_ndjson(&r, &s).expect("ndjson");
        assert_eq!(line, "{\"status\":\"a\\u009b31mb\\u202ec\\u007fd\"}\n");
        let back: serde_json::Value = serde_json::from_str(&line).expect("JSON");
        assert_eq!(back["status"], hostile);
    }

    #[test]
    fn one_typed_object_per_row_in_the_chosen_order() {
        let r = charges();
        let s = Selection::choose(&r, &["amount".to_owned(), "id".to_owned()]).expect("valid");
        assert_eq!(
            query_ndjson(&r, &s).expect("ndjson"),
            "{\"amount\":421100,\"id\":\"ch_1\"}\n"
        );
    }
}
