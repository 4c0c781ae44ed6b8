//! Output formats end to end: the CLI (in-process, exactly what the binary runs) against the emulator,
//! with customers whose names and balances try to mislead or break each format — zero- and
//! three-decimal currencies, an unknown code, no currency, a comma, a quote, a newline, a terminal
//! escape and a spreadsheet formula.

use klairr_e2e::{emulator_with, keys, run_cli, CliRun};
use klairr_host::emulator::{Emulator, EmulatorConfig, FixtureCustomer};

const ESC: char = '\u{1b}';

/// Name, currency, balance (minor units) of the five newest customers, newest first.
const FIXTURES: [(&str, Option<&str>, i64); 5] = [
    ("Acme, Inc. \"Quoted\"", Some("jpy"), 1200),
    (
        "=HYPERLINK(\"http://evil.example\",\"x\")",
        Some("kwd"),
        1_234_567,
    ),
    ("Line one\nLine two", Some("usd"), -1234),
    ("Esc \u{1b}[31mred\u{1b}[0m", None, 500),
    ("Unknown Currency Co", Some("xyz"), 500),
];

fn emulator() -> Emulator {
    emulator_with(EmulatorConfig {
        fixture_customers: FIXTURES
            .iter()
            .map(|(name, currency, balance)| FixtureCustomer {
                name: (*name).to_owned(),
                currency: currency.map(str::to_owned),
                balance: *balance,
            })
            .collect(),
        ..EmulatorConfig::default()
    })
}

const FIVE_NEWEST: &str = r#"{"list":"customers","limit":5}"#;

fn query(emu: &Emulator, args: &[&str], dsl: &str) -> CliRun {
    let base = emu.base_url();
    let mut all = vec!["--stripe-base", base.as_str(), "--compile-cache", "off"];
    all.extend_from_slice(args);
    all.extend(["query", dsl]);
    run_cli(&all, Some(keys::TEST_READ_ONLY))
}

#[test]
fn the_table_shows_amounts_in_major_units_with_their_currency() {
    let emu = emulator();
    let run = query(&emu, &[], FIVE_NEWEST);
    assert_eq!(run.code, 0, "{run:?}");
    for cell in [
        "1,200 JPY",
        "1,234.567 KWD",
        "-12.34 USD",
        "500 (no currency)",
        "500 XYZ (minor units)",
    ] {
        assert!(run.stdout.contains(cell), "{cell}: {}", run.stdout);
    }
    assert!(!run.stdout.contains("1234567"), "{}", run.stdout);
    assert!(!run.stdout.contains(ESC), "no escape reaches the terminal");
    // Right-aligned: the JPY cell ends where the KWD cell ends.
    let end = |cell: &str| {
        run.stdout
            .lines()
            .find_map(|l| l.find(cell).map(|at| l[..at + cell.len()].chars().count()))
            .expect("cell")
    };
    assert_eq!(end("1,200 JPY"), end("1,234.567 KWD"), "{}", run.stdout);
}

fn read_csv(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header = reader
        .headers()
        .expect("header")
        .iter()
        .map(str::to_owned)
        .collect();
    let rows = reader
        .records()
        .map(|r| r.expect("record").iter().map(str::to_owned).collect())
        .collect();
    (header, rows)
}

#[test]
fn csv_round_trips_through_a_csv_parser_and_neutralises_formulas() {
    let emu = emulator();
    let run = query(&emu, &["--format", "csv"], FIVE_NEWEST);
    assert_eq!(run.code, 0, "{run:?}");
    // 45 customers matched, 5 were asked for: said on stderr, never inside the CSV. So are the amounts
    // a CSV number cannot mark as minor units: an unknown code's and a currency-less row's.
    assert!(run.stderr.contains("truncated"), "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "klairr-host: note: amounts in \"xyz\" are in minor units (their currencies' decimals \
             are not known); amounts in 1 row without a currency are in minor units\n"
        ),
        "{}",
        run.stderr
    );
    let (header, rows) = read_csv(&run.stdout);
    let col = |name: &str| header.iter().position(|h| h == name).expect(name);
    assert_eq!(rows.len(), 5);
    let (name, balance, currency, created) =
        (col("name"), col("balance"), col("currency"), col("created"));
    let got: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|r| (r[name].as_str(), r[balance].as_str(), r[currency].as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("Acme, Inc. \"Quoted\"", "1200", "jpy"),
            (
                "'=HYPERLINK(\"http://evil.example\",\"x\")",
                "1234.567",
                "kwd"
            ),
            ("Line one\nLine two", "-12.34", "usd"),
            ("Esc red", "500", ""),
            ("Unknown Currency Co", "500", "xyz"),
        ]
    );
    for row in &rows {
        assert_eq!(row.len(), header.len());
        // RFC 3339 UTC.
        let at = &row[created];
        assert!(
            at.len() == 20 && at.ends_with('Z') && at.as_bytes()[10] == b'T',
            "{at}"
        );
    }
    assert!(!run.stdout.contains(ESC));
}

#[test]
fn machine_formats_keep_the_currency_beside_an_amount_the_columns_left_alone() {
    let emu = emulator();
    let run = query(
        &emu,
        &["--format", "csv", "--columns", "name,balance,id"],
        FIVE_NEWEST,
    );
    assert_eq!(run.code, 0, "{run:?}");
    let (header, rows) = read_csv(&run.stdout);
    assert_eq!(header, ["name", "balance", "currency", "id"]);
    assert_eq!(rows[1][1..3], ["1234.567".to_owned(), "kwd".to_owned()]);
    // NDJSON as well (JSON: `columns_choose_and_order_what_every_format_prints`); a currency named
    // elsewhere stays where it was named.
    let run = query(
        &emu,
        &["--format", "ndjson", "--columns", "id,balance"],
        FIVE_NEWEST,
    );
    assert_eq!(run.code, 0, "{run:?}");
    let first = run.stdout.lines().next().expect("a row");
    assert_eq!(
        first,
        r#"{"id":"cus_fixture_0000","balance":1200,"currency":"jpy"}"#
    );
    let run = query(
        &emu,
        &["--format", "ndjson", "--columns", "currency,id,balance"],
        FIVE_NEWEST,
    );
    let first = run.stdout.lines().next().expect("a row");
    assert_eq!(
        first,
        r#"{"currency":"jpy","id":"cus_fixture_0000","balance":1200}"#
    );
}

#[test]
fn ndjson_is_one_typed_object_per_row() {
    let emu = emulator();
    let run = query(
        &emu,
        &[
            "--format",
            "ndjson",
            "--columns",
            "id,name,balance,currency,delinquent",
        ],
        FIVE_NEWEST,
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(!run.stdout.contains(ESC), "JSON escapes control characters");
    let lines: Vec<(&str, serde_json::Value)> = run
        .stdout
        .lines()
        .map(|l| {
            (
                l,
                serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")),
            )
        })
        .collect();
    assert_eq!(lines.len(), 5);
    for ((text, line), (name, currency, balance)) in lines.iter().zip(FIXTURES) {
        let obj = line.as_object().expect("object");
        assert_eq!(obj.len(), 5);
        // Keys in the order --columns gave them.
        let at: Vec<usize> = [
            "\"id\":",
            "\"name\":",
            "\"balance\":",
            "\"currency\":",
            "\"delinquent\":",
        ]
        .iter()
        .map(|k| text.find(k).expect("key"))
        .collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{text}");
        assert_eq!(obj["name"], name, "the name exactly as Stripe holds it");
        assert_eq!(obj["balance"], balance, "minor units, as in --format json");
        assert_eq!(obj["currency"].as_str(), currency);
        assert_eq!(obj["delinquent"], false);
    }
}

#[test]
fn truncation_and_notes_go_to_stderr_in_row_formats() {
    let emu = emulator();
    for format in ["csv", "ndjson"] {
        let run = query(&emu, &["--format", format, "--max-rows", "3"], FIVE_NEWEST);
        assert_eq!(run.code, 0, "{run:?}");
        assert!(
            run.stderr.contains(
                "klairr-host: truncated: the list goes on past the 3 rows printed; raise limit or --max-rows"
            ),
            "{format}: {}",
            run.stderr
        );
        assert!(
            !run.stdout.contains("truncated"),
            "{format}: {}",
            run.stdout
        );
    }
    // All 45 customers: nothing more matched, so nothing is said about it; CSV only notes the amounts
    // it leaves in minor units, NDJSON (minor units throughout, as JSON) nothing at all.
    let all = r#"{"list":"customers","limit":1000}"#;
    let run = query(&emu, &["--format", "csv"], all);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr
            .starts_with("klairr-host: note: amounts in \"xyz\" are in minor units"),
        "{}",
        run.stderr
    );
    assert_eq!(read_csv(&run.stdout).1.len(), 45);
    let run = query(&emu, &["--format", "ndjson"], all);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    assert_eq!(run.stdout.lines().count(), 45);
}

#[test]
fn csv_neutralises_a_formula_behind_stripped_controls_or_spaces() {
    // What each name must become in the spreadsheet: the trigger an escape sequence, DEL or leading
    // whitespace hid is still neutralised; an `=` inside a name is not a formula.
    let names = [
        (
            "\u{1b}[0m=HYPERLINK(\"http://evil.example\",\"x\")",
            "'=HYPERLINK(\"http://evil.example\",\"x\")",
        ),
        ("\u{7f}+1+1", "'+1+1"),
        ("  @SUM(A1:A9)", "'  @SUM(A1:A9)"),
        ("\t-2+3", "' -2+3"),
        ("Jane = Doe", "Jane = Doe"),
    ];
    let emu = emulator_with(EmulatorConfig {
        fixture_customers: names
            .iter()
            .map(|(name, _)| FixtureCustomer {
                name: (*name).to_owned(),
                currency: Some("eur".to_owned()),
                balance: -250,
            })
            .collect(),
        ..EmulatorConfig::default()
    });
    let run = query(
        &emu,
        &["--format", "csv", "--columns", "name,balance"],
        FIVE_NEWEST,
    );
    assert_eq!(run.code, 0, "{run:?}");
    let (header, rows) = read_csv(&run.stdout);
    assert_eq!(header, ["name", "balance", "currency"]);
    let got: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    let want: Vec<&str> = names.iter().map(|(_, cell)| *cell).collect();
    assert_eq!(got, want);
    for row in &rows {
        assert_eq!(
            row[1..],
            ["-2.50", "eur"],
            "a negative amount stays a number"
        );
    }
    assert!(!run
        .stdout
        .chars()
        .any(|c| c.is_control() && c != '\r' && c != '\n'));
}

#[test]
fn columns_is_refused_where_no_query_result_is_printed() {
    let run = run_cli(
        &["--compile-cache", "off", "--columns", "id", "describe"],
        None,
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(
        run.stderr
            .contains("error (usage): --columns chooses the columns of a query result"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_emulator_refuses_the_flags_of_a_connector_it_does_not_run() {
    // Before the command or after it: the same flags, the same refusal.
    for (before, after) in [
        (&["--max-rows", "5"][..], &[][..]),
        (&[], &["--max-rows", "5"]),
        (&["--stripe-base", "http://127.0.0.1:9"], &[]),
        (
            &["--mode", "live"],
            &["--memory-file", "/tmp/klairr-never-written"],
        ),
    ] {
        let mut args = vec!["--compile-cache", "off"];
        args.extend_from_slice(before);
        args.extend_from_slice(&["emulator", "--port", "0"]);
        args.extend_from_slice(after);
        let run = run_cli(&args, None);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(run.stdout.is_empty(), "nothing served: {}", run.stdout);
        let named: Vec<&str> = before
            .iter()
            .chain(after)
            .copied()
            .filter(|f| f.starts_with("--"))
            .collect();
        assert!(
            run.stderr.contains(&format!(
                "error (usage): the emulator stands in for Stripe's API and runs no connector: leave out {}",
                named.join(", ")
            )),
            "{}",
            run.stderr
        );
    }
}

/// The long flags `klairr-host <args> --help` lists.
fn flags_in_help(args: &[&str]) -> Vec<String> {
    let mut args = args.to_vec();
    args.push("--help");
    let run = run_cli(&args, None);
    assert_eq!(run.code, 0, "{run:?}");
    run.stdout
        .split_whitespace()
        .filter(|word| word.starts_with("--"))
        .map(|word| word.trim_end_matches([',', '.']).to_owned())
        .collect()
}

#[test]
fn each_commands_help_lists_only_the_shared_flags_it_takes() {
    let query = flags_in_help(&["query"]);
    for flag in [
        "--max-rows",
        "--mode",
        "--stripe-base",
        "--columns",
        "--format",
    ] {
        assert!(
            query.iter().any(|f| f == flag),
            "query takes {flag}: {query:?}"
        );
    }
    // (command, flags it refuses, flags it takes)
    let cases: [(&str, &[&str], &[&str]); 6] = [
        (
            "emulator",
            &[
                "--max-rows",
                "--mode",
                "--stripe-base",
                "--redirect",
                "--memory-file",
                "--columns",
                "--call-timeout",
                "--compile-cache",
            ],
            &["--port", "--latency-ms", "--format"],
        ),
        (
            "serve",
            &[
                "--connector",
                "--component",
                "--mode",
                "--max-rows",
                "--max-scan",
                "--cache-ttl",
                "--columns",
            ],
            &["--listen", "--connectors", "--stripe-base", "--memory-file"],
        ),
        (
            "demo",
            &["--mode", "--stripe-base", "--redirect", "--columns"],
            &["--max-rows", "--format"],
        ),
        (
            "describe",
            &[
                "--columns",
                "--mode",
                "--max-rows",
                "--max-scan",
                "--cache-ttl",
            ],
            &[
                "--connector",
                "--component",
                "--format",
                "--call-timeout",
                "--stripe-base",
                "--memory-file",
            ],
        ),
        (
            "connectors",
            &["--columns", "--mode", "--max-rows", "--cache-ttl"],
            &["--connectors", "--format", "--redirect"],
        ),
        (
            "setup",
            &["--columns", "--max-rows", "--max-scan", "--cache-ttl"],
            &["--mode", "--connector", "--stripe-base", "--format"],
        ),
    ];
    for (command, refused, taken) in cases {
        let listed = flags_in_help(&[command]);
        for flag in refused {
            assert!(
                !listed.iter().any(|f| f == flag),
                "{command} --help lists {flag}: {listed:?}"
            );
        }
        for flag in taken {
            assert!(
                listed.iter().any(|f| f == flag),
                "{command} --help leaves out {flag}: {listed:?}"
            );
        }
    }
}

/// Flags that set up a connection's reads change nothing where no rows are read: refused, named, before
/// anything is loaded or sent, rather than quietly ignored.
#[test]
fn commands_that_read_no_rows_refuse_the_flags_of_reads() {
    let cases: [(&[&str], &str); 4] = [
        (
            &["--max-rows", "5", "--mode", "live", "describe"],
            "error (usage): describe opens no connection (no mode, no rows): leave out --mode, --max-rows; `query` takes such flags (and `setup` takes --mode)",
        ),
        (
            &["connectors", "--cache-ttl", "60"],
            "error (usage): connectors opens no connection (no mode, no rows): leave out --cache-ttl; `query` takes such flags (and `setup` takes --mode)",
        ),
        (
            &["--max-scan", "10", "setup", "--max-rows", "3"],
            "error (usage): setup proves the credential and returns no rows: leave out --max-rows, --max-scan; only `query` takes such flags",
        ),
        (
            &["--format", "csv", "serve"],
            "error (usage): --format csv prints query results; serve prints --format table, json or ndjson",
        ),
    ];
    for (args, message) in cases {
        let mut all = vec![
            "--compile-cache",
            "off",
            "--stripe-base",
            "http://127.0.0.1:9",
        ];
        all.extend(args);
        let run = run_cli(&all, Some("rk_test_51FixtureKeyForRefusalsOnly"));
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(run.stdout.is_empty(), "{args:?}: {}", run.stdout);
        assert!(run.stderr.contains(message), "{args:?}: {}", run.stderr);
    }
}

#[test]
fn the_demo_refuses_the_flags_of_an_emulator_key_or_connector_of_your_own() {
    let run = run_cli(
        &[
            "--compile-cache",
            "off",
            "--mode",
            "live",
            "--stripe-base",
            "http://127.0.0.1:9",
            "--connector",
            "stripe",
            "demo",
        ],
        None,
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stdout.is_empty(), "no demo ran: {}", run.stdout);
    assert!(
        run.stderr.contains(
            "error (usage): the demo runs the built-in stripe connector on its own emulator and reads it with its test key: leave out --mode, --stripe-base, --connector"
        ),
        "{}",
        run.stderr
    );
    // Nor does its help offer them (QA read `--connector` there).
    let help = run_cli(&["demo", "--help"], None);
    assert_eq!(help.code, 0, "{help:?}");
    for flag in [
        "--mode",
        "--stripe-base",
        "--redirect",
        "--connector ",
        "--connectors",
    ] {
        assert!(!help.stdout.contains(flag), "{flag}: {}", help.stdout);
    }
    assert!(help.stdout.contains("--component"), "{}", help.stdout);
}

/// A shared flag given before the command and again after it is refused, as it is given twice on one
/// side: clap took the last one, so a script passing `--format json` got CSV from `query --format csv`.
#[test]
fn a_flag_given_before_and_after_the_command_is_refused() {
    for args in [
        &["--format", "json", "query", "--format", "csv", "{}"][..],
        &["--format=json", "query", "--format=csv", "{}"],
        &["--columns", "id", "query", "--columns", "name", "{}"],
        &["--max-rows", "5", "describe", "--max-rows", "6"],
    ] {
        let run = run_cli(args, None);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        let said = format!("{}{}", run.stdout, run.stderr);
        assert!(
            said.contains("cannot be used multiple times"),
            "{args:?}: {said}"
        );
    }
    // Nothing after `--` is a flag: a query may be anything there.
    let run = run_cli(&["--format", "json", "query", "--", "--format"], None);
    assert!(
        !format!("{}{}", run.stdout, run.stderr).contains("multiple times"),
        "{run:?}"
    );
}

#[test]
fn columns_choose_and_order_what_every_format_prints() {
    let emu = emulator();
    let run = query(
        &emu,
        &["--format", "json", "--columns", "balance,id"],
        FIVE_NEWEST,
    );
    assert_eq!(run.code, 0, "{run:?}");
    let doc = run.json();
    let names: Vec<&str> = doc["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .map(|c| c["name"].as_str().expect("name"))
        .collect();
    // The amount's currency, left out, comes right after it: a bare 1200 could be cents or yen.
    assert_eq!(names, ["balance", "currency", "id"]);
    assert_eq!(
        doc["rows"][0],
        serde_json::json!([1200, "jpy", "cus_fixture_0000"])
    );

    let run = query(&emu, &["--columns", "id,balance"], FIVE_NEWEST);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("1,200 JPY"), "{}", run.stdout);
    assert!(!run.stdout.contains("Acme"), "{}", run.stdout);
}

#[test]
fn an_unknown_column_is_a_usage_error_naming_the_tables_columns() {
    let emu = emulator();
    for format in ["table", "csv", "ndjson", "json"] {
        let run = query(
            &emu,
            &["--format", format, "--columns", "id,amount_due"],
            FIVE_NEWEST,
        );
        assert_eq!(run.code, 2, "{format}: {run:?}");
        let message = if format == "json" {
            run.json()["error"]["message"]
                .as_str()
                .expect("message")
                .to_owned()
        } else {
            assert!(run.stdout.is_empty(), "{format}: {}", run.stdout);
            run.stderr.clone()
        };
        assert!(message.contains("no column \"amount_due\""), "{message}");
        assert!(
            message.contains("the columns of this customers result are: id, created, email, name"),
            "{message}"
        );
    }
}

/// What `--columns` gets wrong on its own — a name twice, an empty name — is refused before the query
/// runs: not one request. (A name the result lacks can only be known from the result.)
#[test]
fn a_repeated_or_empty_column_is_refused_before_any_request() {
    let emu = emulator();
    for (columns, problem) in [
        ("id,id", "\"id\" is named twice"),
        ("id, id", "\"id\" is named twice"),
        ("id,,balance", "an empty column name"),
        ("", "an empty column name"),
    ] {
        let run = query(&emu, &["--columns", columns], FIVE_NEWEST);
        assert_eq!(run.code, 2, "{columns:?}: {run:?}");
        assert!(run.stderr.contains(problem), "{columns:?}: {}", run.stderr);
    }
    // Given twice, like any other flag: refused, not merged.
    let run = query(&emu, &["--columns", "id", "--columns", "name"], FIVE_NEWEST);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("cannot be used multiple times"),
        "{}",
        run.stderr
    );
    assert!(emu.requests().is_empty(), "nothing was sent");
}

#[test]
fn csv_is_for_query_results_only() {
    let emu = emulator();
    let base = emu.base_url();
    let run = run_cli(
        &[
            "--stripe-base",
            &base,
            "--compile-cache",
            "off",
            "--format",
            "csv",
            "describe",
        ],
        None,
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("--format csv prints query results"),
        "{}",
        run.stderr
    );
    // NDJSON's one line is the JSON document.
    let run = run_cli(
        &[
            "--stripe-base",
            &base,
            "--compile-cache",
            "off",
            "--format",
            "ndjson",
            "describe",
        ],
        None,
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout.lines().count(), 1);
    assert!(run.json()["tables"].is_array());
}

/// `klairr-host` run with `args` and its standard output on `/dev/full`: every write to it fails.
fn with_stdout_full(args: &[&str]) -> std::process::Output {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    std::process::Command::new(env!("CARGO_BIN_EXE_klairr-host-under-test"))
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(full)
        .output()
        .expect("klairr-host runs")
}

/// Standard output that cannot be written (a full disk) is the `output` kind, exit 1, said on stderr —
/// under `--format json` too, where the error object would have gone to the stdout that failed.
#[test]
fn output_that_cannot_be_written_is_said_on_stderr() {
    for (format, want) in [
        ("table", "error (output): could not write the output"),
        (
            "json",
            r#"{"error":{"kind":"output","message":"could not write the output"#,
        ),
    ] {
        let run = with_stdout_full(&["--compile-cache", "off", "--format", format, "describe"]);
        assert_eq!(run.status.code(), Some(1), "{format}: {run:?}");
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(stderr.contains(want), "{format}: {stderr}");
    }
}

/// The emulator's banner (its address and keys) that cannot be written is the same `output` failure as
/// any command's, not a `sandbox` one: the emulator stops at once, exit 1, and says so on stderr.
#[test]
fn emulator_whose_banner_cannot_be_written_is_an_output_failure() {
    for (format, want) in [
        ("table", "error (output): could not write the output"),
        (
            "json",
            r#"{"error":{"kind":"output","message":"could not write the output"#,
        ),
    ] {
        let run = with_stdout_full(&["--format", format, "emulator", "--port", "0"]);
        assert_eq!(run.status.code(), Some(1), "{format}: {run:?}");
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(stderr.contains(want), "{format}: {stderr}");
    }
}

/// `--help` and `--version` that cannot be written are the `output` failure; under `--format json` it
/// is said as the error object (on stderr, stdout being what failed), as every other failure is.
#[test]
fn help_that_cannot_be_written_under_json_is_the_error_object() {
    for asked in ["--help", "--version"] {
        let run = with_stdout_full(&["--format", "json", asked]);
        assert_eq!(run.status.code(), Some(1), "{asked}: {run:?}");
        let stderr = String::from_utf8_lossy(&run.stderr);
        let error: serde_json::Value = serde_json::from_str(stderr.trim())
            .unwrap_or_else(|e| panic!("{asked}: stderr is not one JSON object ({e}): {stderr}"));
        assert_eq!(error["error"]["kind"], "output", "{asked}: {stderr}");
    }
}
