//! README.md's "## Query language and tables" section against the catalogue the component describes
//! (`klairr-host --format json describe`):
//! - every table has a `#### <table>` block, in describe's order, and no other `####` heading exists there;
//! - each block's column table (`| column | type | nullable | description |`) lists exactly describe's
//!   columns, in order, with their types and nullability;
//! - each block's filter table (`| filter | accepts | description |`) lists exactly describe's filter keys,
//!   in order;
//! - every lone `snake_case` word in backticks in the section is a table, column or filter describe has,
//!   a word of the DSL, or a value describe's filters accept, so the prose names nothing that is gone;
//! - every query in a ```json block of the section is accepted by the component and runs on the emulator.
//!
//! And README.md's "## Aggregates" section against describe's aggregate catalogue:
//! - its table (`| table | group by every column but | buckets on | sum, avg | min, max |`) lists, per
//!   table in describe's order, the columns that are no group key, the bucketable columns and the columns
//!   each measure accepts (describe's `count` and `count_distinct` take every column, as its prose
//!   says, and `sum`/`avg` and `min`/`max` accept the same columns, which is what lets one cell hold both);
//! - every lone `snake_case` word in backticks is a table, column, filter, measure, bucket, bucket column
//!   (`created_month`) or word of the DSL or its result;
//! - every query in its ```json blocks runs on the emulator as an aggregate.
//!
//! And the CLI section's table of the emulator's keys against the keys it accepts.
//!
//! On a mismatch the failure prints the block to paste, generated from describe by [`table_block`] or
//! [`aggregate_rows`].

use klairr_e2e::{config, emulator, keys, run_cli, sandbox};
use klairr_host::sandbox::wit;
use serde_json::Value;
use std::collections::BTreeSet;

const HEADING: &str = "## Query language and tables";
const AGGREGATES: &str = "## Aggregates";
/// Words of the query language (and of its result) that the section may put in backticks besides
/// describe's names: the DSL's keys and range operators, keys it refuses, the result's `truncated`, and
/// the column types.
#[rustfmt::skip]
const DSL_WORDS: &[&str] = &[
    "list", "filters", "limit", "gt", "gte", "lt", "lte", "group_by", "measures", "order_by", "true", "false", // the DSL
    "expand", "select", "delete", // refused keys
    "truncated", // the result
    "id", "text", "integer", "boolean", "timestamp", "amount", "currency", // column types
];

fn readme() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The section's text: from its heading to the next `## ` heading (or the end).
fn section(readme: &str) -> &str {
    section_named(readme, HEADING)
}

fn section_named<'r>(readme: &'r str, heading: &str) -> &'r str {
    let start = readme.find(&format!("\n{heading}\n")).unwrap_or_else(|| {
        panic!("README.md has no {heading:?} section; add it after the CLI section")
    }) + 1;
    let rest = &readme[start + heading.len()..];
    let end = rest
        .find("\n## ")
        .map_or(readme.len(), |i| start + heading.len() + i + 1);
    &readme[start..end]
}

/// `klairr-host --format json describe`, run once for all the tests here.
fn describe() -> &'static Value {
    static DESCRIBE: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    DESCRIBE.get_or_init(|| {
        let run = run_cli(&["--format", "json", "describe"], None);
        assert_eq!(run.code, 0, "{run:?}");
        run.json()
    })
}

fn tables(describe: &Value) -> &[Value] {
    describe["tables"].as_array().expect("tables")
}

fn list<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v[key].as_array().map_or(&[], Vec::as_slice)
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("{key} of {v}"))
}

/// One `#### table` block of the README section, as parsed.
#[derive(Debug, Default, PartialEq)]
struct DocTable {
    name: String,
    /// (name, type, nullable) as written: `id`, `id`, `no`.
    columns: Vec<(String, String, String)>,
    filters: Vec<String>,
}

/// The markdown of one table block, generated from describe: what the README should hold.
fn table_block(t: &Value) -> String {
    let cell = |text: &str| text.replace('|', "\\|");
    let mut out = format!("#### {}\n\n{}\n\n", s(t, "name"), s(t, "doc"));
    out.push_str("| column | type | nullable | description |\n|---|---|---|---|\n");
    for c in list(t, "columns") {
        let nullable = if c["nullable"] == true { "yes" } else { "no" };
        out.push_str(&format!(
            "| `{}` | {} | {nullable} | {} |\n",
            s(c, "name"),
            s(c, "type"),
            cell(s(c, "doc"))
        ));
    }
    out.push_str("\n| filter | accepts | description |\n|---|---|---|\n");
    for f in list(t, "filters") {
        let key = s(f, "key");
        let accepts = if matches!(key, "created" | "arrival_date") {
            "a timestamp range: unix seconds, or gt/gte/lt/lte of unix seconds or RFC 3339 dates (see Filters)".to_owned()
        } else {
            cell(s(f, "accepts"))
        };
        out.push_str(&format!(
            "| `{key}` | {accepts} | {} |\n",
            cell(s(f, "doc"))
        ));
    }
    out
}

/// The first cell of a markdown table row, without its backticks.
fn first_cells(line: &str) -> Vec<String> {
    line.trim()
        .trim_matches('|')
        .split(" | ")
        .map(|c| c.trim().trim_matches('`').to_owned())
        .collect()
}

fn parse(section: &str) -> Result<Vec<DocTable>, String> {
    #[derive(PartialEq)]
    enum In {
        Nothing,
        Columns,
        Filters,
    }
    let mut out: Vec<DocTable> = Vec::new();
    let mut inside = In::Nothing;
    for (n, line) in section.lines().enumerate() {
        if let Some(name) = line.strip_prefix("#### ") {
            out.push(DocTable {
                name: name.trim().to_owned(),
                ..DocTable::default()
            });
            inside = In::Nothing;
            continue;
        }
        if !line.starts_with('|') {
            if !line.trim().is_empty() {
                inside = In::Nothing;
            }
            continue;
        }
        let cells = first_cells(line);
        let first = cells[0].as_str();
        if first.starts_with("---") {
            continue;
        }
        let where_ = || format!("line {} of the section: {line:?}", n + 1);
        match first {
            "column" => {
                inside = In::Columns;
                continue;
            }
            "filter" => {
                inside = In::Filters;
                continue;
            }
            _ => {}
        }
        let Some(table) = out.last_mut() else {
            return Err(format!(
                "a table row before any `#### <table>` heading, {}",
                where_()
            ));
        };
        match inside {
            In::Columns => {
                if cells.len() < 3 {
                    return Err(format!(
                        "a column row needs name | type | nullable, {}",
                        where_()
                    ));
                }
                table
                    .columns
                    .push((first.to_owned(), cells[1].clone(), cells[2].clone()));
            }
            In::Filters => table.filters.push(first.to_owned()),
            In::Nothing => {
                return Err(format!(
                    "a table row outside a `| column | type | nullable | description |` or \
                     `| filter | accepts | description |` table, {}",
                    where_()
                ))
            }
        }
    }
    Ok(out)
}

fn expected(t: &Value) -> DocTable {
    DocTable {
        name: s(t, "name").to_owned(),
        columns: list(t, "columns")
            .iter()
            .map(|c| {
                let nullable = if c["nullable"] == true { "yes" } else { "no" };
                (
                    s(c, "name").to_owned(),
                    s(c, "type").to_owned(),
                    nullable.to_owned(),
                )
            })
            .collect(),
        filters: list(t, "filters")
            .iter()
            .map(|f| s(f, "key").to_owned())
            .collect(),
    }
}

fn how_to_fix(what: &str, block: &str) -> String {
    format!(
        "README.md section {HEADING:?} is out of date with `klairr-host --format json describe`: {what}.\n\
         Fix: make the README say what describe says (or, if the README is right, change src/schema/). \
         Generated from describe, to paste under `### Tables` (tables in describe's order):\n\n{block}"
    )
}

#[test]
fn readme_tables_columns_and_filters_match_describe() {
    let describe = describe();
    let readme = readme();
    let doc = parse(section(&readme)).unwrap_or_else(|e| {
        let all: String = tables(describe)
            .iter()
            .map(table_block)
            .collect::<Vec<_>>()
            .join("\n");
        panic!("{}", how_to_fix(&e, &all))
    });

    let want: Vec<&str> = tables(describe).iter().map(|t| s(t, "name")).collect();
    let have: Vec<&str> = doc.iter().map(|t| t.name.as_str()).collect();
    if have != want {
        let all: String = tables(describe)
            .iter()
            .map(table_block)
            .collect::<Vec<_>>()
            .join("\n");
        panic!(
            "{}",
            how_to_fix(
                &format!("its `#### <table>` blocks are {have:?}; describe has {want:?}"),
                &all
            )
        );
    }
    let mut what = Vec::new();
    let mut blocks = Vec::new();
    for (t, written) in tables(describe).iter().zip(&doc) {
        let wanted = expected(t);
        if *written == wanted {
            continue;
        }
        if let Some(d) = first_difference(&written.columns, &wanted.columns) {
            what.push(format!(
                "table {}: column (name, type, nullable) {d}",
                wanted.name
            ));
        }
        if let Some(d) = first_difference(&written.filters, &wanted.filters) {
            what.push(format!("table {}: filter {d}", wanted.name));
        }
        blocks.push(format!(
            "(replace the `#### {}` block)\n\n{}",
            wanted.name,
            table_block(t)
        ));
    }
    assert!(
        what.is_empty(),
        "{}",
        how_to_fix(&what.join("; "), &blocks.join("\n"))
    );
}

/// Where two lists first differ, in words: "3 is X in the README, Y in describe".
fn first_difference<T: std::fmt::Debug + PartialEq>(
    readme: &[T],
    describe: &[T],
) -> Option<String> {
    let at = (0..readme.len().max(describe.len())).find(|&i| readme.get(i) != describe.get(i))?;
    let show = |v: Option<&T>| v.map_or_else(|| "missing".to_owned(), |v| format!("{v:?}"));
    Some(format!(
        "{} is {} in the README, {} in describe",
        at + 1,
        show(readme.get(at)),
        show(describe.get(at))
    ))
}

/// `word` in backticks, where the whole of it is one lower-case identifier.
fn backticked_words(text: &str) -> BTreeSet<&str> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|w| {
            w.starts_with(|c: char| c.is_ascii_lowercase())
                && w.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        })
        .collect()
}

#[test]
fn readme_prose_names_only_what_describe_has() {
    let describe = describe();
    let readme = readme();
    let section = section(&readme);
    let mut known: BTreeSet<String> = DSL_WORDS.iter().map(|w| (*w).to_owned()).collect();
    for t in tables(describe) {
        known.insert(s(t, "name").to_owned());
        for c in list(t, "columns") {
            known.insert(s(c, "name").to_owned());
        }
        for f in list(t, "filters") {
            known.insert(s(f, "key").to_owned());
            // Values a filter accepts: "one of: active, all, …".
            if let Some(values) = s(f, "accepts").strip_prefix("one of: ") {
                known.extend(values.split(", ").map(str::to_owned));
            }
        }
    }
    let unknown: Vec<&str> = backticked_words(section)
        .into_iter()
        .filter(|w| !known.contains(*w))
        .collect();
    assert!(
        unknown.is_empty(),
        "README.md section {HEADING:?} names {unknown:?} in backticks, which `klairr-host --format json describe` \
         has as no table, column, filter or accepted value. Fix: remove or rename them in the README (or, for a \
         word of the query language itself, add it to DSL_WORDS in tests/readme_docs.rs)"
    );
}

/// The queries of the ```json blocks of `section`, one per line.
fn json_examples(section: &str) -> Vec<String> {
    let mut examples = Vec::new();
    let mut in_json = false;
    for line in section.lines() {
        match line.trim() {
            "```json" => in_json = true,
            "```" => in_json = false,
            q if in_json && !q.is_empty() => examples.push(q.to_owned()),
            _ => {}
        }
    }
    examples
}

#[test]
fn readme_example_queries_run() {
    let readme = readme();
    let section = section(&readme);
    let examples = json_examples(section);
    assert!(
        examples.len() >= 3,
        "README.md section {HEADING:?} should show example queries in a ```json block, one per line: {examples:?}"
    );
    let emu = emulator();
    let sandbox = sandbox(&emu);
    let mut conn = sandbox
        .open(&config(keys::TEST_READ_ONLY, wit::Mode::Test))
        .expect("open");
    for q in &examples {
        if let Err(e) = conn.query(q) {
            panic!(
                "README.md section {HEADING:?}: the example query {q} fails: {e}. Fix the example in the README"
            );
        }
    }
    assert!(!emu.requests().is_empty());
}

#[test]
fn the_checker_catches_a_stale_readme() {
    let describe = describe();
    let good: String = tables(describe)
        .iter()
        .map(table_block)
        .collect::<Vec<_>>()
        .join("\n");
    let good_section = format!("{HEADING}\n\nprose\n\n{good}");
    let parsed = parse(&good_section).expect("the generated blocks parse");
    let want: Vec<DocTable> = tables(describe).iter().map(expected).collect();
    assert_eq!(parsed, want, "the generator and the parser agree");

    // A column renamed, a type changed, a filter dropped: each is seen.
    for (from, to) in [
        ("| `mrr` | amount |", "| `monthly_revenue` | amount |"),
        ("| `mrr` | amount |", "| `mrr` | integer |"),
        (
            "| `arrival_date` | a timestamp",
            "| `arrival` | a timestamp",
        ),
    ] {
        assert!(good_section.contains(from), "{from}");
        let stale = parse(&good_section.replacen(from, to, 1)).expect("parses");
        assert_ne!(stale, want, "{from} → {to}");
    }
    // A row outside a column or filter table is refused.
    assert!(parse(&format!("{good_section}\n\nsome text\n| `x` | y |\n")).is_err());
    // Words in backticks are found whole.
    assert_eq!(
        backticked_words("`a_b` and `created[gte]` or `c` `X` `2.5`"),
        BTreeSet::from(["a_b", "c"])
    );
}

// ---- the Aggregates section ------------------------------------------------------------------------

/// A table's `aggregate` from describe.
fn aggregate_of(t: &Value) -> &Value {
    let a = &t["aggregate"];
    assert!(
        a.is_object(),
        "describe's table {} has no aggregate",
        s(t, "name")
    );
    a
}

fn names(list: &[Value]) -> Vec<String> {
    list.iter()
        .map(|v| v.as_str().expect("a name").to_owned())
        .collect()
}

/// The columns describe says `measure` accepts on table `t`.
fn measure_columns(t: &Value, measure: &str) -> Vec<String> {
    let m = list(aggregate_of(t), "measures")
        .iter()
        .find(|m| m["name"] == measure)
        .unwrap_or_else(|| panic!("table {}: no measure {measure}", s(t, "name")));
    names(list(m, "columns"))
}

/// One row of the README's aggregate table, as cells of names: table, not group keys, buckets, sum/avg,
/// min/max.
type AggregateRow = (String, Vec<String>, Vec<String>, Vec<String>, Vec<String>);

/// The rows describe makes: what the README's table should hold.
fn expected_aggregates(describe: &Value) -> Vec<AggregateRow> {
    tables(describe)
        .iter()
        .map(|t| {
            let a = aggregate_of(t);
            let columns: Vec<String> = list(t, "columns")
                .iter()
                .map(|c| s(c, "name").to_owned())
                .collect();
            let group_by = names(list(a, "group_by"));
            let not_keys = columns
                .iter()
                .filter(|c| !group_by.contains(c))
                .cloned()
                .collect();
            // What lets the README state these in its prose and merge them in one cell.
            assert_eq!(measure_columns(t, "count"), columns);
            assert_eq!(measure_columns(t, "count_distinct"), columns);
            assert_eq!(measure_columns(t, "sum"), measure_columns(t, "avg"));
            assert_eq!(measure_columns(t, "min"), measure_columns(t, "max"));
            (
                s(t, "name").to_owned(),
                not_keys,
                names(list(a, "bucket_by")),
                measure_columns(t, "sum"),
                measure_columns(t, "min"),
            )
        })
        .collect()
}

/// The markdown rows of the README's aggregate table, generated from describe.
fn aggregate_rows(describe: &Value) -> String {
    let cell = |names: &[String]| {
        if names.is_empty() {
            "—".to_owned()
        } else {
            names
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    expected_aggregates(describe)
        .iter()
        .map(|(t, not_keys, buckets, sums, mins)| {
            format!(
                "| `{t}` | {} | {} | {} | {} |\n",
                cell(not_keys),
                cell(buckets),
                cell(sums),
                cell(mins)
            )
        })
        .collect()
}

/// The rows of the section's `| table | group by every column but | …` table.
fn parse_aggregates(section: &str) -> Result<Vec<AggregateRow>, String> {
    let header = "| table | group by every column but | buckets on | sum, avg | min, max |";
    let at = section
        .find(header)
        .ok_or_else(|| format!("the section has no `{header}` table"))?;
    let cells = |cell: &str| -> Vec<String> {
        if cell.trim() == "—" {
            return Vec::new();
        }
        cell.split(", ")
            .map(|c| c.trim().trim_matches('`').to_owned())
            .collect()
    };
    let mut rows = Vec::new();
    for line in section[at..].lines().skip(2) {
        if !line.starts_with('|') {
            break;
        }
        let parts: Vec<&str> = line.trim().trim_matches('|').split(" | ").collect();
        let [table, not_keys, buckets, sums, mins] = parts[..] else {
            return Err(format!(
                "a row of the aggregate table needs five cells: {line:?}"
            ));
        };
        rows.push((
            table.trim().trim_matches('`').to_owned(),
            cells(not_keys),
            cells(buckets),
            cells(sums),
            cells(mins),
        ));
    }
    Ok(rows)
}

#[test]
fn readme_aggregate_table_matches_describe() {
    let describe = describe();
    let readme = readme();
    let section = section_named(&readme, AGGREGATES);
    let fix = |what: String| {
        format!(
            "README.md section {AGGREGATES:?} is out of date with `klairr-host --format json describe`: {what}.\n\
             Fix: the table's rows, generated from describe:\n\n{}",
            aggregate_rows(describe)
        )
    };
    let written = parse_aggregates(section).unwrap_or_else(|e| panic!("{}", fix(e)));
    let want = expected_aggregates(describe);
    if let Some(d) = first_difference(&written, &want) {
        panic!("{}", fix(format!("row {d}")));
    }
    // Describe's buckets are the README's, and its default and highest scan bound too.
    let aggregates = &describe["aggregates"];
    assert_eq!(
        names(list(aggregates, "buckets")),
        ["day", "week", "month", "quarter", "year"]
    );
    assert!(section.contains("BUCKET = day | week | month | quarter | year"));
    assert_eq!(aggregates["default_max_scan"], 100_000);
    assert_eq!(aggregates["max_scan_limit"], 1_000_000);
    let prose = section.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        prose.contains("100,000 unless the connection sets `--max-scan N` (1 to 1,000,000"),
        "README.md section {AGGREGATES:?} must state describe's default and highest max-scan"
    );
}

#[test]
fn readme_aggregates_prose_names_only_what_describe_has() {
    let describe = describe();
    let readme = readme();
    let section = section_named(&readme, AGGREGATES);
    // The words of the result and its stats, and the WIT records the contract paragraph names, besides
    // the DSL's.
    let mut known: BTreeSet<String> = DSL_WORDS
        .iter()
        .chain(&[
            "aggregate",
            "aggregates",
            "partial",
            "rows_scanned",
            "groups",
        ])
        .chain(&["config", "shape"])
        .map(|w| (*w).to_owned())
        .collect();
    let buckets = names(list(&describe["aggregates"], "buckets"));
    known.extend(buckets.iter().cloned());
    for t in tables(describe) {
        known.insert(s(t, "name").to_owned());
        for c in list(t, "columns") {
            known.insert(s(c, "name").to_owned());
        }
        for f in list(t, "filters") {
            known.insert(s(f, "key").to_owned());
        }
        let a = aggregate_of(t);
        for m in list(a, "measures") {
            known.insert(s(m, "name").to_owned());
        }
        for c in names(list(a, "bucket_by")) {
            known.extend(buckets.iter().map(|b| format!("{c}_{b}")));
        }
    }
    let unknown: Vec<&str> = backticked_words(section)
        .into_iter()
        .filter(|w| !known.contains(*w))
        .collect();
    assert!(
        unknown.is_empty(),
        "README.md section {AGGREGATES:?} names {unknown:?} in backticks, which describe has as no table, \
         column, filter, measure or bucket. Fix: remove or rename them in the README"
    );
}

#[test]
fn readme_aggregate_examples_run_as_aggregates() {
    let readme = readme();
    let examples = json_examples(section_named(&readme, AGGREGATES));
    assert!(examples.len() >= 3, "{examples:?}");
    let emu = emulator();
    let sandbox = sandbox(&emu);
    let mut conn = sandbox
        .open(&config(keys::TEST_READ_ONLY, wit::Mode::Test))
        .expect("open");
    for q in &examples {
        match conn.query(q) {
            Ok(r) => assert!(
                r.aggregate.is_some(),
                "README.md section {AGGREGATES:?}: {q} is not an aggregate"
            ),
            Err(e) => panic!("README.md section {AGGREGATES:?}: the example {q} fails: {e}"),
        }
    }
}

#[test]
fn the_aggregate_checker_catches_a_stale_table() {
    let describe = describe();
    let rows = aggregate_rows(describe);
    let good = format!(
        "{AGGREGATES}\n\n| table | group by every column but | buckets on | sum, avg | min, max |\n|---|---|---|---|---|\n{rows}"
    );
    let want = expected_aggregates(describe);
    assert_eq!(parse_aggregates(&good).expect("parses"), want);
    for (from, to) in [
        ("`email`, `name`, `description`", "`email`, `name`"),
        ("| `item_count`, `mrr` |", "| `item_count` |"),
        (
            "| `created`, `arrival_date` | `amount` |",
            "| `created` | `amount` |",
        ),
    ] {
        assert!(good.contains(from), "{from}");
        let stale = parse_aggregates(&good.replacen(from, to, 1)).expect("parses");
        assert_ne!(stale, want, "{from} → {to}");
    }
}

/// The CLI section's table of the emulator's keys names each key it accepts, once, with its mode.
#[test]
fn readme_lists_every_emulator_key() {
    let readme = readme();
    let rows: Vec<(&str, &str)> = readme
        .lines()
        .filter_map(|line| line.trim_start().strip_prefix("| `"))
        .filter_map(|row| {
            let (prefix, rest) = row.split_once("` | ")?;
            let mode = rest.split(' ').next()?;
            prefix.contains("KlairrEmulator").then_some((prefix, mode))
        })
        .collect();
    let grants = keys::all();
    assert_eq!(rows.len(), grants.len(), "README rows {rows:?}");
    // The prose before the table counts them too.
    let words = [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
        "eleven", "twelve",
    ];
    let said = format!("It accepts {} made-up keys", words[grants.len()]);
    assert!(
        readme.contains(&said),
        "README.md's CLI section should say \"{said}\" (the emulator accepts {} keys)",
        grants.len()
    );
    for grant in &grants {
        let matching: Vec<_> = rows
            .iter()
            .filter(|(p, _)| grant.key.starts_with(p))
            .collect();
        let mode = if grant.livemode { "live" } else { "test" };
        assert!(
            matches!(matching.as_slice(), [(_, m)] if *m == mode),
            "README.md's table of the emulator's keys: {}… ({mode}) is listed {matching:?}",
            &grant.key[..40]
        );
    }
}
