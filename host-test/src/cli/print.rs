//! Printing a query result in the chosen format and columns, and the host's log of refused requests.

use super::args::{Cli, Format};
use super::failure::Failure;
use crate::output::{self, Selection};
use crate::policy::redact::strip_control;
use crate::sandbox::wit;
use crate::service::Served;
use std::io::Write;

/// A query result in the chosen format and columns. Machine formats other than JSON carry no footer:
/// truncation and the scan note go to stderr.
pub(super) fn print_result(
    cli: &Cli,
    result: &wit::QueryResult,
    served: Served,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<(), Failure> {
    let selection = match &cli.columns {
        None => Selection::all(result),
        Some(names) => {
            Selection::choose(result, names).map_err(|e| Failure::new("usage", e.to_string()))?
        }
    };
    // Machine formats print an amount as a bare number, which means nothing without its currency; a
    // table's amount cell carries the code itself.
    let selection = match cli.format {
        Format::Table => selection,
        Format::Json | Format::Csv | Format::Ndjson => {
            selection.with_currency_beside_amounts(result)
        }
    };
    let rendering =
        |e: String| Failure::new("sandbox", format!("could not render the result: {e}"));
    // A warning of the format's own, for stderr: CSV's amounts left in minor units.
    let mut format_note = None;
    let mut text = match cli.format {
        Format::Table => output::query_text_selected(result, served, &selection),
        Format::Json => match &cli.columns {
            None => output::query_json(result, served),
            Some(_) => output::query_json(&selection.project(result), served),
        },
        Format::Csv => {
            format_note = output::minor_units_note(result, &selection);
            output::query_csv(result, &selection).map_err(rendering)?
        }
        Format::Ndjson => output::query_ndjson(result, &selection).map_err(rendering)?,
    };
    if matches!(cli.format, Format::Table | Format::Json) && !text.ends_with('\n') {
        text.push('\n');
    }
    if matches!(cli.format, Format::Csv | Format::Ndjson) {
        match &result.aggregate {
            // An aggregate is cut short in two ways, told apart: groups left out, and a partial scan.
            Some(stats) => {
                if stats.groups > result.rows.len() as u64 {
                    let _ = writeln!(
                        stderr,
                        "klairr-host: truncated: {} groups found, the first {} printed; raise limit or --max-rows",
                        stats.groups,
                        result.rows.len()
                    );
                }
                if stats.partial {
                    let _ = writeln!(
                        stderr,
                        "klairr-host: partial: the scan stopped after {} rows, so every measure covers those rows only; narrow the filters or raise --max-scan",
                        stats.rows_scanned
                    );
                }
            }
            // A scan that stopped at its bound cannot tell whether the list goes on: its note says so.
            None if result.truncated && result.scan_note.is_some() => {
                let _ = writeln!(
                    stderr,
                    "klairr-host: truncated: the scan stopped at its bound, so more rows may match (see the note)"
                );
            }
            None if result.truncated => {
                let _ = writeln!(
                    stderr,
                    "klairr-host: truncated: the list goes on past the {} printed; raise limit or --max-rows",
                    match result.rows.len() {
                        1 => "1 row".to_owned(),
                        n => format!("{n} rows"),
                    }
                );
            }
            None => {}
        }
        if let Some(note) = &result.scan_note {
            let _ = writeln!(stderr, "klairr-host: note: {}", strip_control(note));
        }
        if let Some(note) = &format_note {
            let _ = writeln!(stderr, "klairr-host: note: {note}");
        }
    }
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(Failure::output)
}

/// The host's log of what its policy refused (already redacted), one line each on stderr.
pub(super) fn log_denials(stderr: &mut dyn Write, lines: Vec<String>) {
    for line in lines {
        let _ = writeln!(stderr, "{line}");
    }
}
