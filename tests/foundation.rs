//! The foundation end to end: the built component, loaded by the host, lists Stripe rows from the
//! emulator through the host's network policy; the sandbox refuses what a connector must not have.

use klairr_e2e::{config, emulator, keys, run_cli, sandbox};
use klairr_host::emulator::Emulator;
use klairr_host::policy::origin::Origin;
use klairr_host::registry;
use klairr_host::sandbox::{wit, Sandbox, SandboxError, SandboxOptions, ALLOWED_IMPORT_PREFIXES};

#[test]
fn customers_are_listed_through_the_component_from_the_emulator() {
    let emu = emulator();
    let sandbox = sandbox(&emu);
    let mut conn = sandbox
        .open(&config(keys::TEST_READ_ONLY, wit::Mode::Test))
        .expect("open");
    let result = conn
        .query(r#"{"list":"customers","limit":3}"#)
        .expect("query");

    assert_eq!(result.table, "customers");
    assert_eq!(result.rows.len(), 3);
    assert!(result.truncated, "the emulator has more than 3 customers");
    let names: Vec<&str> = result.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "id",
            "created",
            "email",
            "name",
            "description",
            "currency",
            "balance",
            "delinquent",
            "address_country",
            "tax_exempt",
            "livemode"
        ]
    );
    for row in &result.rows {
        assert_eq!(row.len(), names.len());
        match &row[0] {
            wit::Cell::Text(id) => assert!(id.starts_with("cus_"), "{id}"),
            other => panic!("id cell {other:?}"),
        }
        assert_eq!(
            row[10],
            wit::Cell::Boolean(false),
            "test-mode key → livemode false"
        );
    }
    // Newest first, as Stripe lists.
    let created: Vec<i64> = result
        .rows
        .iter()
        .map(|r| match r[1] {
            wit::Cell::Integer(t) => t,
            ref c => panic!("created {c:?}"),
        })
        .collect();
    assert!(created.windows(2).all(|w| w[0] >= w[1]), "{created:?}");

    let seen = emu.requests();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let req = &seen[0];
    assert_eq!(req.method, "GET");
    assert_eq!(req.path, "/v1/customers");
    assert_eq!(req.query, "limit=3");
    assert_eq!(req.host.as_deref(), Some("api.stripe.com"));
    assert_eq!(req.stripe_version.as_deref(), Some("2026-04-22.dahlia"));
    assert!(
        req.key_hint
            .as_deref()
            .is_some_and(|k| k.starts_with("rk_test_")),
        "{req:?}"
    );
}

#[test]
fn requests_to_origins_outside_the_allowlist_are_denied() {
    let emu = emulator();
    // Run the Stripe component under a manifest whose allowlist does not include api.stripe.com.
    let stripe = registry::Connector::stripe();
    let mut manifest = stripe.manifest;
    manifest.network.origins = vec![Origin::parse("https://example.com:443").expect("origin")];
    let sandbox = Sandbox::load(
        registry::STRIPE_COMPONENT,
        manifest,
        SandboxOptions::default(),
    )
    .expect("load");
    let mut conn = sandbox
        .open(&config(keys::TEST_READ_ONLY, wit::Mode::Test))
        .expect("open");
    let err = conn
        .query(r#"{"list":"customers","limit":1}"#)
        .expect_err("denied");
    // The component saw a network error; the host says why: its own refusal, with the reason.
    match &err {
        SandboxError::RequestDenied { reason } => {
            assert!(reason.contains("api.stripe.com"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(err.kind(), "request-denied");
    assert!(err.to_string().contains("refused"), "{err}");
    let denied = conn.denied_requests();
    assert_eq!(denied.len(), 1, "denied once, never retried: {denied:?}");
    assert!(
        denied[0].contains("https://api.stripe.com:443 is not allowed"),
        "{denied:?}"
    );
    assert!(emu.requests().is_empty(), "nothing reached any server");
}

#[test]
fn a_component_importing_wasi_filesystem_is_refused_at_load() {
    let wat = r#"(component
        (import "wasi:filesystem/preopens@0.2.12" (instance))
        (import "wasi:io/poll@0.2.12" (instance))
    )"#;
    let err = Sandbox::load(
        wat.as_bytes(),
        registry::Connector::stripe().manifest,
        SandboxOptions::default(),
    )
    .err()
    .expect("refused");
    match &err {
        SandboxError::ForbiddenImports(names) => {
            assert_eq!(names, &["wasi:filesystem/preopens@0.2.12".to_owned()])
        }
        other => panic!("{other:?}"),
    }
    assert!(
        err.to_string().contains("wasi:filesystem/preopens@0.2.12"),
        "{err}"
    );

    let sockets = r#"(component (import "wasi:sockets/tcp@0.2.12" (instance)))"#;
    assert!(matches!(
        Sandbox::load(
            sockets.as_bytes(),
            registry::Connector::stripe().manifest,
            SandboxOptions::default()
        ),
        Err(SandboxError::ForbiddenImports(_))
    ));
}

#[test]
fn a_component_that_is_not_a_connector_is_refused() {
    let empty = "(component)";
    assert!(matches!(
        Sandbox::load(
            empty.as_bytes(),
            registry::Connector::stripe().manifest,
            SandboxOptions::default()
        ),
        Err(SandboxError::NotAConnector(_))
    ));
    assert!(matches!(
        Sandbox::load(
            b"not wasm at all",
            registry::Connector::stripe().manifest,
            SandboxOptions::default()
        ),
        Err(SandboxError::InvalidComponent(_))
    ));
}

#[test]
fn the_built_component_imports_only_allowed_wasi_interfaces() {
    let sandbox = Sandbox::load(
        registry::STRIPE_COMPONENT,
        registry::Connector::stripe().manifest,
        SandboxOptions::default(),
    )
    .expect("load");
    let imports = sandbox.imports();
    for name in imports {
        assert!(
            ALLOWED_IMPORT_PREFIXES.iter().any(|p| name.starts_with(p)),
            "unexpected import {name}"
        );
        assert!(
            !name.starts_with("wasi:filesystem") && !name.starts_with("wasi:sockets"),
            "{name}"
        );
    }
    assert!(
        imports
            .iter()
            .any(|n| n.starts_with("wasi:http/outgoing-handler@0.2.")),
        "{imports:?}"
    );
    let packages: std::collections::BTreeSet<&str> =
        imports.iter().filter_map(|n| n.split('/').next()).collect();
    for p in &packages {
        assert!(
            [
                "wasi:io",
                "wasi:clocks",
                "wasi:random",
                "wasi:cli",
                "wasi:http",
                "klairr:connector"
            ]
            .contains(p),
            "{p}"
        );
    }
}

#[test]
fn describe_json_matches_the_contract() {
    let run = run_cli(&["--format", "json", "describe"], None);
    assert_eq!(run.code, 0, "{run:?}");
    let v = run.json();
    assert_eq!(v["connector"], "stripe");
    assert_eq!(v["api_version"], "2026-04-22.dahlia");
    assert_eq!(v["default_cache_ttl_seconds"], 3600);
    let tables: Vec<&str> = v["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .map(|t| t["name"].as_str().expect("name"))
        .collect();
    assert_eq!(
        tables,
        [
            "customers",
            "subscriptions",
            "invoices",
            "charges",
            "payouts"
        ]
    );
    for t in v["tables"].as_array().expect("tables") {
        for c in t["columns"].as_array().expect("columns") {
            assert!(
                c["name"].is_string() && c["type"].is_string() && c["nullable"].is_boolean(),
                "{c}"
            );
        }
        assert!(
            t["filters"].as_array().is_some_and(|f| !f.is_empty()),
            "{t}"
        );
    }
}

fn query_via_cli(emu: &Emulator, dsl: &str) -> serde_json::Value {
    let run = run_cli(
        &[
            "--format",
            "json",
            "--stripe-base",
            &emu.base_url(),
            "query",
            dsl,
        ],
        Some(keys::TEST_READ_ONLY),
    );
    assert_eq!(run.code, 0, "{run:?}");
    run.json()
}

#[test]
fn query_json_matches_the_contract() {
    let emu = emulator();
    let v = query_via_cli(&emu, r#"{"list":"customers","limit":2}"#);
    assert_eq!(v["table"], "customers");
    let columns = v["columns"].as_array().expect("columns");
    let rows = v["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 2);
    for row in rows {
        let cells = row.as_array().expect("row array");
        assert_eq!(cells.len(), columns.len());
        for (cell, col) in cells.iter().zip(columns) {
            let ok = match col["type"].as_str().expect("type") {
                "id" | "text" | "currency" => cell.is_string() || cell.is_null(),
                "integer" | "amount" | "timestamp" => cell.is_i64() || cell.is_null(),
                "boolean" => cell.is_boolean() || cell.is_null(),
                other => panic!("unknown type {other}"),
            };
            assert!(ok, "{} = {cell}", col["name"]);
        }
    }
    assert_eq!(v["truncated"], true);
    assert_eq!(v["cache_ttl_seconds"], 3600);
    assert_eq!(v["requests"], 1);
    assert_eq!(v["memory_shape"]["table"], "customers");
    assert_eq!(v["memory_shape"]["row_count"], 2);

    // The same through standard input; also a file saved by an editor (a byte-order mark before, a
    // newline after), and a query of exactly the 16 KiB cap (padded with spaces inside the object)
    // followed by its newline, which still fits.
    let padded = format!(
        r#"{{"list":"customers",{}"limit":1}}"#,
        " ".repeat(16 * 1024 - r#"{"list":"customers","limit":1}"#.len())
    );
    assert_eq!(padded.len(), 16 * 1024);
    let base = emu.base_url();
    let from_stdin = |text: &str| {
        klairr_e2e::run_cli_with_stdin(
            &["--format", "json", "--stripe-base", &base, "query", "-"],
            Some(keys::TEST_READ_ONLY),
            text,
        )
    };
    for text in [
        r#"{"list":"customers","limit":1}"#.to_owned(),
        "\u{feff}{\"list\":\"customers\",\"limit\":1}\r\n".to_owned(),
        format!("{padded}\n"),
    ] {
        let run = from_stdin(&text);
        assert_eq!(run.code, 0, "{run:?}");
        assert_eq!(run.json()["rows"].as_array().map(Vec::len), Some(1));
    }

    // More than the 1 MiB standard input is read to: refused whole, never cut to a valid query.
    let long = format!(
        "{}{}this is not json",
        r#"{"list":"customers","limit":1}"#,
        " ".repeat(1 << 20)
    );
    let run = from_stdin(&long);
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(run.json()["error"]["kind"], "invalid-query");
    assert!(
        run.stdout.contains("standard input holds more than 1 MiB"),
        "{}",
        run.stdout
    );
}

#[test]
fn setup_json_reports_a_read_only_key() {
    let emu = emulator();
    let run = run_cli(
        &[
            "--format",
            "json",
            "--stripe-base",
            &emu.base_url(),
            "setup",
        ],
        Some(keys::TEST_READ_ONLY),
    );
    assert_eq!(run.code, 0, "{run:?}");
    let v = run.json();
    assert_eq!(v["ok"], true);
    assert_eq!(v["mode"], "test");
}

/// Each bad input gives one clear line (or the JSON error object), a non-zero exit, never a panic.
#[test]
fn bad_input_fails_with_one_clear_error() {
    let emu = emulator();
    let base = emu.base_url();
    let cases: Vec<(Vec<&str>, Option<&str>, &str, i32)> = vec![
        (
            vec!["query", r#"{"list":"customers"}"#],
            None,
            "invalid-key",
            2,
        ),
        (vec!["setup"], Some("  "), "invalid-key", 2),
        (
            vec!["--stripe-base", &base, "setup"],
            Some(keys::TEST_SECRET),
            "secret-key-rejected",
            2,
        ),
        (
            vec!["--stripe-base", "http://10.0.0.1:80", "setup"],
            Some(keys::TEST_READ_ONLY),
            "usage",
            2,
        ),
        (
            vec!["--stripe-base", "http://api.stripe.com", "setup"],
            Some(keys::TEST_READ_ONLY),
            "usage",
            2,
        ),
        (
            vec!["--component", "/nonexistent/connector.wasm", "describe"],
            None,
            "usage",
            2,
        ),
        (
            vec!["--stripe-base", &base, "query", r#"{"delete":"customers"}"#],
            Some(keys::TEST_READ_ONLY),
            "invalid-query",
            2,
        ),
    ];
    for (args, key, kind, code) in cases {
        let mut json_args = vec!["--format", "json"];
        json_args.extend(&args);
        let run = run_cli(&json_args, key);
        assert_eq!(run.code, code, "{args:?}: {run:?}");
        let v = run.json();
        assert_eq!(v["error"]["kind"], kind, "{args:?}: {run:?}");
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{run:?}"
        );

        let run = run_cli(&args, key);
        assert_eq!(run.code, code, "{args:?}: {run:?}");
        assert!(run.stdout.is_empty(), "{run:?}");
        assert_eq!(run.stderr.lines().count(), 1, "one line: {run:?}");
        assert!(
            run.stderr.starts_with(&format!("error ({kind}): ")),
            "{run:?}"
        );
    }
    assert!(
        emu.requests().is_empty(),
        "none of these reached Stripe: {:?}",
        emu.requests()
    );
}

/// A program that asked for JSON gets JSON even when clap refused the command line itself: kind `usage`,
/// exit 2, and clap's one-line reason. Help and version stay text on stdout, exit 0.
#[test]
fn command_line_errors_are_json_under_format_json() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["--format", "json", "--redirect", "bad", "describe"],
            "is not a redirect",
        ),
        (
            &["--format=json", "--max-rows", "0", "describe"],
            "0 is not in 1..=100000",
        ),
        (
            &["--format", "json", "describe", "extra"],
            "unexpected argument 'extra'",
        ),
        (
            &["nosuch", "--format", "json"],
            "unrecognized subcommand 'nosuch'",
        ),
        (
            &["--format", "json", "query"],
            "required arguments were not provided: <DSL>",
        ),
        // JSON asked for once is enough, even when the error is that the format was given twice.
        (
            &["--format", "json", "--format", "csv", "describe"],
            "cannot be used multiple times",
        ),
    ];
    for (args, says) in cases {
        let run = run_cli(args, None);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(run.stderr.is_empty(), "{args:?}: {run:?}");
        let v = run.json();
        assert_eq!(v["error"]["kind"], "usage", "{args:?}: {run:?}");
        let message = v["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{args:?}: {message}");
        assert!(!message.starts_with("error:"), "{message}");
        assert_eq!(run.stdout.lines().count(), 1, "one JSON line: {run:?}");
    }

    // Other formats keep clap's own text on stderr; `--format` after `--` is not a flag.
    for args in [
        &["--format", "table", "--redirect", "bad", "describe"][..],
        &["query", "--", "--format", "json", "extra"][..],
    ] {
        let run = run_cli(args, None);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(run.stdout.is_empty(), "{args:?}: {run:?}");
        assert!(run.stderr.starts_with("error: "), "{args:?}: {run:?}");
    }
    for args in [
        &["--format", "json", "--help"][..],
        &["--format", "json", "--version"][..],
    ] {
        let run = run_cli(args, None);
        assert_eq!(run.code, 0, "{args:?}: {run:?}");
        assert!(run.stderr.is_empty(), "{run:?}");
        assert!(run.stdout.contains("klairr-host"), "{run:?}");
        assert!(
            serde_json::from_str::<serde_json::Value>(&run.stdout).is_err(),
            "{run:?}"
        );
    }
}

/// `--format csv` cannot print setup's report: refused before a single request, the key unchecked.
#[test]
fn a_format_setup_cannot_print_is_refused_before_any_request() {
    let emu = emulator();
    for command in ["setup", "describe", "connectors"] {
        let run = run_cli(
            &["--format", "csv", "--stripe-base", &emu.base_url(), command],
            Some(keys::TEST_READ_ONLY),
        );
        assert_eq!(run.code, 2, "{run:?}");
        assert!(
            run.stderr
                .starts_with("error (usage): --format csv prints query results"),
            "{run:?}"
        );
    }
    assert!(emu.requests().is_empty(), "{:?}", emu.requests());
}

#[test]
fn an_unreachable_stripe_base_is_a_network_error() {
    // Bind and drop a listener to find a loopback port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let run = run_cli(
        &[
            "--format",
            "json",
            "--stripe-base",
            &base,
            "query",
            r#"{"list":"customers","limit":1}"#,
        ],
        Some(keys::TEST_READ_ONLY),
    );
    assert_eq!(run.code, 1, "{run:?}");
    let json = run.json();
    assert_eq!(json["error"]["kind"], "network", "{run:?}");
    // The user reads what failed, in wasi:http's words.
    let message = json["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("connection-refused"), "{message}");
    // And what to do about it.
    assert!(
        message.ends_with(
            "check this machine's network (a proxy, a firewall, any --redirect), then try again"
        ),
        "{message}"
    );
}

#[test]
fn a_component_with_forbidden_imports_is_refused_by_the_cli() {
    let dir = std::env::temp_dir().join(format!("klairr-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("fs-connector.wat");
    std::fs::write(
        &path,
        r#"(component (import "wasi:filesystem/types@0.2.12" (instance)))"#,
    )
    .expect("write");
    let run = run_cli(
        &[
            "--format",
            "json",
            "--component",
            path.to_str().expect("utf-8"),
            "describe",
        ],
        None,
    );
    assert_eq!(run.code, 1, "{run:?}");
    let v = run.json();
    assert_eq!(v["error"]["kind"], "connector-config");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("wasi:filesystem/types@0.2.12")),
        "{v}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn demo_runs_without_a_key_and_answers_the_repeated_question_from_the_cache() {
    let run = run_cli(&["--format", "json", "demo"], None);
    assert_eq!(run.code, 0, "{run:?}");
    let v = run.json();
    assert_eq!(v["setup"]["ok"], true);
    // Five reads, five writes of the component's, fifteen of the host's.
    assert_eq!(v["setup"]["requests"], 25);
    let queries = v["queries"].as_array().expect("queries");
    assert_eq!(queries.len(), klairr_host::demo::DEMO_QUERIES.len());
    let first = &queries[0]["result"];
    let last = &queries[queries.len() - 1]["result"];
    assert_eq!(first["cached"], false);
    assert_eq!(first["requests"], 1);
    assert_eq!(
        last["cached"], true,
        "the repeated question is served from the cache"
    );
    assert_eq!(last["requests"], 0);
    assert_eq!(last["rows"], first["rows"]);
    for q in queries {
        assert!(
            q["result"]["rows"]
                .as_array()
                .is_some_and(|r| !r.is_empty()),
            "{}",
            q["title"]
        );
    }

    let text = run_cli(&["demo"], None);
    assert_eq!(text.code, 0, "{text:?}");
    assert!(
        text.stdout.contains("key accepted (test mode)"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("served from the result cache"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout
            .contains("secret key is refused before any request"),
        "{}",
        text.stdout
    );
    // A table showing some of its columns says `--columns` chooses them, and the command shown above it
    // is the one that gives it: `--columns` included (the demo itself takes no such flag).
    let mut hinted = 0;
    for section in text.stdout.split("\n## ").skip(1) {
        if section.contains("columns shown; `--columns` chooses them") {
            hinted += 1;
            let command = section
                .lines()
                .find(|l| l.starts_with("$ klairr-host query "))
                .unwrap_or_else(|| panic!("no command shown: {section}"));
            assert!(command.contains("' --columns id,"), "{command}");
        }
    }
    assert!(hinted > 0, "{}", text.stdout);
}

/// One origin redirected twice is a mistake whichever redirect would win: refused, naming the origin.
#[test]
fn an_origin_redirected_twice_is_refused() {
    for args in [
        &[
            "--redirect",
            "https://api.stripe.com=http://127.0.0.1:9",
            "--redirect",
            "https://api.stripe.com=http://127.0.0.1:10",
        ][..],
        &[
            "--stripe-base",
            "http://127.0.0.1:9",
            "--redirect",
            "https://api.stripe.com=http://127.0.0.1:10",
        ],
    ] {
        let mut args = args.to_vec();
        args.extend(["--format", "json", "setup"]);
        let run = run_cli(&args, Some(keys::TEST_READ_ONLY));
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        let v = run.json();
        assert_eq!(v["error"]["kind"], "usage", "{run:?}");
        let message = v["error"]["message"].as_str().unwrap_or_default();
        // The origin as the command line wrote it.
        assert!(
            message.starts_with("https://api.stripe.com is redirected twice"),
            "{message}"
        );
    }
}
