//! `--format ndjson`: one JSON object per row, `{"column": value, …}` with values typed as in
//! `--format json` (ids, text and currencies strings; integers, amounts in minor units and timestamps
//! in unix seconds numbers; booleans; null), for streaming into other tools. Nothing else goes to
//! stdout: truncation and notes are the CLI's lines on stderr.

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

/// One line per row, each a JSON object. serde_json escapes the C0 controls; DEL, the C1 controls (one of
/// them, U+009B, starts an escape sequence in some terminals) and the bidirectional overrides are
/// escaped here too, so streaming the output to a terminal cannot drive it or reorder what it shows.
/// The values are the same: `\u009b` is what a JSON reader reads back.
pub fn query_ndjson(result: &wit::QueryResult, selection: &Selection) -> Result<String, String> {
    let mut out = String::new();
    for row in &result.rows {
        let line = serde_json::to_string(&RowObject {
            result,
            selection,
            row,
        })
        .map_err(|e| e.to_string())?;
        escape_terminal_controls(&line, &mut out);
        out.push('\n');
    }
    Ok(out)
}

/// Copy JSON text, writing the characters a terminal would act on as `\uXXXX` escapes. Outside string
/// literals JSON text has none of them, so every one is inside a string, where the escape means the same.
fn escape_terminal_controls(json: &str, out: &mut String) {
    for c in json.chars() {
        if matches!(c, '\u{7f}'..='\u{9f}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
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
