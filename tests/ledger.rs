//! The second connector end to end, through the host library: the built ledger component
//! (`connectors/ledger`) loaded from a connectors directory under its own manifest (`ledger.toml`), with
//! `https://api.ledger.example:443` redirected to the loopback ledger API (`tests/ledger_api.rs`).
//!
//! What is proven: the manifest loads as any user's would; describe, setup and queries return exactly the
//! API's data, page by page; the host — not the component — attaches the ledger key in `x-ledger-key`;
//! the ledger's own key rules and budget apply; and the two connectors stay apart: a hostile component
//! under the ledger manifest reaches neither Stripe nor the ledger with Stripe's header, the Stripe
//! component cannot run under the ledger manifest with either connector's key, and the ledger component
//! cannot run under Stripe's.

use klairr_e2e::hostile_upstream::hostile_component;
use klairr_e2e::ledger_api::{
    self, made_up_key, ApiKey, LedgerApi, LedgerApiConfig, LedgerRequest,
};
use klairr_e2e::{assert_no_key, emulator, keys, ledger_connectors_dir};
use klairr_host::policy::manifest::{ComponentSource, Manifest};
use klairr_host::policy::origin::{LoopbackBase, Origin};
use klairr_host::registry::STRIPE_COMPONENT;
use klairr_host::sandbox::{wit, ConnectionConfig, Sandbox, SandboxError, SandboxOptions};
use serde_json::json;
use std::time::{Duration, Instant};

// ---- helpers ------------------------------------------------------------------------------------------

/// The ledger manifest as a user installs it: `ledger.toml` and `klairr_ledger.wasm` in one directory.
fn ledger_manifest() -> Manifest {
    Manifest::load(&ledger_connectors_dir().join("ledger.toml")).expect("ledger.toml is valid")
}

/// `component` under `manifest`, with the manifest's origins redirected to `base`.
fn load(component: &[u8], manifest: Manifest, base: &str) -> Sandbox {
    Sandbox::load(
        component,
        manifest,
        SandboxOptions {
            redirect: Some(LoopbackBase::parse(base).expect("a loopback base")),
            ..SandboxOptions::default()
        },
    )
    .expect("the component loads")
}

/// The ledger component the manifest names, under it, reaching `api`.
fn ledger(api: &LedgerApi) -> Sandbox {
    let manifest = ledger_manifest();
    let ComponentSource::Path(path) = &manifest.component else {
        panic!("ledger.toml names a component file")
    };
    let bytes = std::fs::read(path).expect("the component next to the manifest");
    load(&bytes, manifest, &api.base_url())
}

fn api() -> LedgerApi {
    LedgerApi::start(LedgerApiConfig::default()).expect("the ledger API starts")
}

fn open(sandbox: &Sandbox, key: &str, mode: wit::Mode) -> klairr_host::sandbox::Connection {
    sandbox
        .open(&ConnectionConfig::new(key, mode))
        .unwrap_or_else(|e| panic!("open: {e}"))
}

fn text(s: &str) -> wit::Cell {
    wit::Cell::Text(s.to_owned())
}

fn account_rows(api: &LedgerApi) -> Vec<Vec<wit::Cell>> {
    api.accounts()
        .iter()
        .map(|a| {
            vec![
                text(&a.id),
                text(&a.name),
                text(&a.currency),
                wit::Cell::Integer(a.balance),
                wit::Cell::Integer(a.created),
            ]
        })
        .collect()
}

fn entry_rows<'a>(entries: impl IntoIterator<Item = &'a ledger_api::Entry>) -> Vec<Vec<wit::Cell>> {
    entries
        .into_iter()
        .map(|e| {
            vec![
                text(&e.id),
                text(&e.account),
                wit::Cell::Integer(e.amount),
                text(&e.currency),
                wit::Cell::Integer(e.created),
                e.memo.as_deref().map_or(wit::Cell::Null, text),
            ]
        })
        .collect()
}

/// The key arrived exactly once, in `x-ledger-key` as the host writes it, and nowhere else in the request;
/// the API version header is the pinned one; Stripe's header never arrives.
fn assert_host_attached(request: &LedgerRequest, key: &str) {
    assert_eq!(
        request.header_values(ledger_api::KEY_HEADER),
        [key],
        "{request:?}"
    );
    assert_no_key(
        key,
        &format!("{}?{}", request.path, request.query),
        "the request target",
    );
    for (name, value) in &request.headers {
        if name != ledger_api::KEY_HEADER {
            assert_no_key(key, value, &format!("header {name}"));
        }
    }
    assert_eq!(
        request.header_values("ledger-version"),
        [ledger_api::API_VERSION]
    );
    assert!(
        request.header_values("authorization").is_empty(),
        "{request:?}"
    );
}

/// The kind of a refusal or connector error.
fn kind(result: Result<klairr_host::sandbox::Connection, SandboxError>) -> (&'static str, String) {
    match result {
        Ok(_) => panic!("the connection opened"),
        Err(e) => (e.kind(), e.to_string()),
    }
}

// ---- the manifest and the catalogue -------------------------------------------------------------------

#[test]
fn the_manifest_loads_from_a_directory_with_its_component_beside_it() {
    let dir = ledger_connectors_dir();
    let manifest = Manifest::load(&dir.join("ledger.toml")).expect("valid");
    assert_eq!(manifest.name, "ledger");
    assert_eq!(manifest.contract, "klairr:connector@0.2.0");
    assert_eq!(
        manifest.component,
        ComponentSource::Path(dir.join("klairr_ledger.wasm"))
    );
    assert_eq!(
        manifest.network.origins,
        [Origin::parse("https://api.ledger.example:443").expect("origin")]
    );
    let credential = &manifest.credential;
    assert_eq!(
        (
            credential.env.as_str(),
            credential.header.as_str(),
            credential.scheme.as_str()
        ),
        ("LEDGER_API_KEY", "x-ledger-key", "")
    );
    assert!(
        manifest
            .requests
            .iter()
            .all(|r| r.method == "GET" && !r.body),
        "reads only"
    );
    let stripe = Manifest::stripe();
    assert_ne!(manifest.budget, stripe.budget, "a budget of its own");
    assert_eq!(manifest.calls.cache_ttl_ceiling_seconds, 900);
}

#[test]
fn describe_returns_the_catalogue_without_a_request() {
    let api = api();
    let info = ledger(&api).describe().expect("describe");
    assert_eq!(info.name, "ledger");
    assert_eq!(info.api_version, ledger_api::API_VERSION);
    assert_eq!(info.default_cache_ttl_seconds, 900);
    let tables: Vec<&str> = info.tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(tables, ["accounts", "entries"]);
    let entries = &info.tables[1];
    let columns: Vec<(&str, wit::ColumnType, bool)> = entries
        .columns
        .iter()
        .map(|c| (c.name.as_str(), c.kind, c.nullable))
        .collect();
    assert_eq!(
        columns,
        [
            ("id", wit::ColumnType::Id, false),
            ("account", wit::ColumnType::Id, false),
            ("amount", wit::ColumnType::Amount, false),
            ("currency", wit::ColumnType::Currency, false),
            ("created", wit::ColumnType::Timestamp, false),
            ("memo", wit::ColumnType::Text, true),
        ]
    );
    let filters: Vec<&str> = entries.filters.iter().map(|f| f.key.as_str()).collect();
    assert_eq!(filters, ["account", "currency", "created"]);
    assert_eq!(api.request_count(), 0);
}

// ---- setup and queries --------------------------------------------------------------------------------

/// The ledger answers no aggregates, so a max-scan is a mistake to name, not a setting to ignore: the
/// sandbox refuses it before anything runs, and so does the CLI, whose refusal names its flag.
#[test]
fn a_max_scan_for_a_connector_without_aggregates_is_refused() {
    let api = api();
    let sandbox = ledger(&api);
    let mut config = ConnectionConfig::new(ledger_api::test_key(), wit::Mode::Test);
    config.max_scan = Some(5);
    let (k, message) = kind(sandbox.open(&config));
    assert_eq!(k, "usage", "{message}");
    assert_eq!(
        message,
        "--max-scan bounds aggregate queries, which connector ledger's component does not answer (its describe lists no aggregates): leave it out"
    );
    assert_eq!(api.request_count(), 0, "refused before any request");

    let dir = ledger_connectors_dir().display().to_string();
    let key = ledger_api::test_key();
    let run = klairr_e2e::run_cli_with_env(
        &[
            "--connectors",
            dir.as_str(),
            "--connector",
            "ledger",
            "--max-scan",
            "5",
            "--format",
            "json",
            "query",
            r#"{"list":"accounts"}"#,
        ],
        &[("LEDGER_API_KEY", key.as_str())],
        "",
    );
    assert_eq!(run.code, 2, "{run:?}");
    let error: serde_json::Value = serde_json::from_str(&run.stdout).expect("a JSON error");
    assert_eq!(error["error"]["kind"], "usage", "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("which connector ledger's component does not answer")),
        "{error}"
    );
    // Whatever the key: a malformed or a missing one does not change which mistake is named (QA got
    // `invalid-key`).
    config.credential = "x".into();
    let (k, message) = kind(sandbox.open(&config));
    assert_eq!(k, "usage", "{message}");
    for env in [
        &[][..],
        &[("LEDGER_API_KEY", "")][..],
        &[("LEDGER_API_KEY", "x")][..],
    ] {
        for flags in [&["--max-scan", "5"][..], &["--cache-ttl", "3600"][..]] {
            let mut args = vec!["--connectors", dir.as_str(), "--connector", "ledger"];
            args.extend_from_slice(flags);
            args.extend(["--format", "json", "query", r#"{"list":"accounts"}"#]);
            let run = klairr_e2e::run_cli_with_env(&args, env, "");
            assert_eq!(run.code, 2, "{env:?} {flags:?}: {run:?}");
            let error: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
            assert_eq!(
                error["error"]["kind"], "usage",
                "{env:?} {flags:?}: {error}"
            );
            assert!(
                error["error"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains(flags[0])),
                "{error}"
            );
        }
    }
}

#[test]
fn setup_reads_each_table_once_with_the_key_the_host_attaches() {
    let api = api();
    let sandbox = ledger(&api);
    for (key, mode) in [
        (ledger_api::test_key(), wit::Mode::Test),
        (ledger_api::live_key(), wit::Mode::Live),
    ] {
        api.clear_requests();
        let mut conn = open(&sandbox, &key, mode);
        let report = conn.verify().expect("verified");
        assert_eq!(report.mode, mode);
        assert_eq!(report.readable, ["accounts", "entries"]);
        assert!(
            report.write_probes_refused.is_empty(),
            "no write is allowed, so none is probed"
        );
        assert_eq!(report.requests, 2);
        let log = api.requests();
        let targets: Vec<String> = log
            .iter()
            .map(|r| format!("{} {}?{}", r.method, r.path, r.query))
            .collect();
        assert_eq!(
            targets,
            ["GET /v1/accounts?limit=1", "GET /v1/entries?limit=1"]
        );
        for request in &log {
            assert_host_attached(request, &key);
        }
        assert_eq!(
            api.seen_credentials(),
            [Some(key.clone()), Some(key.clone())]
        );
        assert!(
            conn.denied_requests().is_empty(),
            "{:?}",
            conn.denied_requests()
        );
    }
}

#[test]
fn a_query_returns_the_api_s_rows_page_by_page() {
    let api = api();
    let sandbox = ledger(&api);
    let key = ledger_api::test_key();
    let mut conn = open(&sandbox, &key, wit::Mode::Test);

    let result = conn.query(r#"{"list":"entries"}"#).expect("entries");
    assert_eq!(result.table, "entries");
    assert_eq!(result.rows.len(), 230);
    assert_eq!(
        result.rows,
        entry_rows(api.entries()),
        "every entry once, in the API's order"
    );
    assert!(!result.truncated);
    assert_eq!(result.requests, 3);
    assert_eq!(result.cache_ttl_seconds, 900);
    assert_eq!(result.shape.row_count, 230);
    let log = api.requests();
    assert_eq!(log.len(), 3);
    assert_eq!(log[0].param("cursor"), None);
    let cursors: Vec<Option<&str>> = log.iter().map(|r| r.param("cursor")).collect();
    assert!(
        cursors[1].is_some() && cursors[2].is_some() && cursors[1] != cursors[2],
        "{cursors:?}"
    );
    assert!(log
        .iter()
        .all(|r| r.param("limit") == Some("100") && r.status == 200));
    for request in &log {
        assert_host_attached(request, &key);
    }

    let accounts = conn.query(r#"{"list":"accounts"}"#).expect("accounts");
    assert_eq!(accounts.rows, account_rows(&api));
}

#[test]
fn filters_and_limits_reach_the_api_and_shape_the_answer() {
    let api = api();
    let sandbox = ledger(&api);
    let mut conn = open(&sandbox, &ledger_api::test_key(), wit::Mode::Test);
    let account = api.accounts()[2].id.clone();
    let lo = api.entries()[150].created;
    let hi = api.entries()[20].created;
    let query = json!({
        "list": "entries",
        "filters": {"account": account, "created": {"gte": lo, "lte": hi}},
    })
    .to_string();
    let expected: Vec<&ledger_api::Entry> = api
        .entries()
        .iter()
        .filter(|e| e.account == account && (lo..=hi).contains(&e.created))
        .collect();
    assert!(
        expected.len() > 3,
        "the data set gives this filter a few rows"
    );
    let result = conn.query(&query).expect("filtered");
    assert_eq!(result.rows, entry_rows(expected.iter().copied()));
    assert!(!result.truncated);
    assert_eq!(result.shape.filter_keys, ["account", "created"]);
    let sent = &api.requests()[0];
    assert_eq!(sent.param("account"), Some(account.as_str()));
    assert_eq!(sent.param("created_gte"), Some(lo.to_string().as_str()));
    assert_eq!(
        sent.param("created_lt"),
        Some((hi + 1).to_string().as_str())
    );

    api.clear_requests();
    let result = conn
        .query(r#"{"list":"entries","filters":{"currency":"EUR"},"limit":7}"#)
        .expect("limited");
    let eur: Vec<&ledger_api::Entry> = api
        .entries()
        .iter()
        .filter(|e| e.currency == "eur")
        .take(7)
        .collect();
    assert_eq!(result.rows, entry_rows(eur));
    assert!(result.truncated, "more eur entries exist");
    assert_eq!(api.requests()[0].query, "limit=7&currency=eur");
}

#[test]
fn equivalent_queries_share_a_cache_key_and_bad_ones_never_reach_the_api() {
    let api = api();
    let sandbox = ledger(&api);
    let mut conn = open(&sandbox, &ledger_api::test_key(), wit::Mode::Test);
    let a = conn
        .canonical_query(r#"{"list":"entries","filters":{"created":{"gte":"2026-01-01"}}}"#)
        .expect("canonical");
    let b = conn
        .canonical_query(r#"{"filters":{"created":{"gt":1767225599}},"list":"entries"}"#)
        .expect("canonical");
    assert_eq!(a, b);
    assert_ne!(
        a,
        conn.canonical_query(r#"{"list":"accounts"}"#)
            .expect("canonical")
    );
    for bad in [
        r#"{"list":"customers"}"#,
        r#"{"list":"accounts","filters":{"account":"acc_1"}}"#,
        r#"{"list":"entries","filters":{"account":"acc_1&limit=100"}}"#,
        r#"{"list":"entries","limit":0}"#,
    ] {
        let e = conn.query(bad).expect_err(bad);
        assert_eq!(e.kind(), "invalid-query", "{bad}: {e}");
    }
    assert_eq!(api.request_count(), 0);
}

#[test]
fn rate_limits_are_retried_and_counted() {
    let api = api();
    let sandbox = ledger(&api);
    let mut conn = open(&sandbox, &ledger_api::test_key(), wit::Mode::Test);
    api.fail_next(429, 2);
    let result = conn
        .query(r#"{"list":"accounts"}"#)
        .expect("after two 429s");
    assert_eq!(result.rows, account_rows(&api));
    assert_eq!(result.requests, 3, "the host counts the retries");
    let statuses: Vec<u16> = api.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [429, 429, 200]);
}

// ---- keys ---------------------------------------------------------------------------------------------

#[test]
fn keys_are_judged_by_the_ledger_s_rules() {
    let api = LedgerApi::start(LedgerApiConfig {
        keys: vec![ApiKey {
            key: made_up_key("lk_test_", 99),
            live: false,
            tables: vec!["accounts"],
        }],
        ..LedgerApiConfig::default()
    })
    .expect("api");
    let sandbox = ledger(&api);
    let open_with = |key: &str, mode| sandbox.open(&ConnectionConfig::new(key, mode));

    // Refused before any request: another connector's key, a write key, the other mode's key.
    let stripe_key = keys::TEST_READ_ONLY;
    let (k, message) = kind(open_with(stripe_key, wit::Mode::Test));
    assert_eq!(k, "invalid-key", "{message}");
    assert_no_key(stripe_key, &message, "the refusal");
    let write_key = made_up_key("lkw_test_", 5);
    assert_eq!(
        kind(open_with(&write_key, wit::Mode::Test)).0,
        "secret-key-rejected"
    );
    assert_eq!(
        kind(open_with(&ledger_api::live_key(), wit::Mode::Test)).0,
        "mode-mismatch"
    );
    assert_eq!(api.request_count(), 0, "no key above reached the API");

    // Well-formed, but the ledger does not know it: 401 at setup, named by its hint only.
    let unknown = made_up_key("lk_test_", 1234);
    let e = open(&sandbox, &unknown, wit::Mode::Test)
        .verify()
        .expect_err("unknown key");
    assert_eq!(e.kind(), "invalid-key", "{e}");
    assert!(
        e.to_string()
            .contains(&format!("lk_test_…{}", &unknown[unknown.len() - 4..])),
        "{e}"
    );
    assert_no_key(&unknown, &format!("{e} {e:?}"), "the 401 error");

    // A key that reads accounts only.
    let partial = made_up_key("lk_test_", 99);
    let e = open(&sandbox, &partial, wit::Mode::Test)
        .verify()
        .expect_err("entries forbidden");
    match &e {
        SandboxError::Permissions { failure, manage } => {
            assert_eq!(
                failure.cannot_read.as_deref(),
                Some(&["entries".to_owned()][..])
            );
            assert_eq!(failure.can_write, None);
            // The ledger's manifest says nowhere to change it: the message says what to grant.
            assert_eq!(manage, &None);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(e.kind(), "missing-permission");
    assert_eq!(
        e.to_string(),
        "this credential lacks Read permission on entries: grant it Read on it (and nothing more) \
         where the credential was created"
    );
    assert_eq!(
        api.seen_credentials(),
        [Some(unknown), Some(partial.clone()), Some(partial)],
        "the unknown key stopped at its first 401; the partial one read accounts, then was refused entries"
    );
}

#[test]
fn the_ledger_s_own_budget_paces_its_requests() {
    let api = LedgerApi::start(LedgerApiConfig {
        entries: 1400,
        ..LedgerApiConfig::default()
    })
    .expect("api");
    let sandbox = ledger(&api);
    let mut config = ConnectionConfig::new(ledger_api::test_key(), wit::Mode::Test);
    config.max_rows = Some(1400);
    let mut conn = sandbox.open(&config).expect("open");
    let result = conn.query(r#"{"list":"entries"}"#).expect("1,400 rows");
    assert_eq!(result.rows.len(), 1400);
    let arrivals: Vec<Instant> = api.requests().iter().map(|r| r.arrived).collect();
    assert_eq!(arrivals.len(), 14, "14 pages of 100");
    // ledger.toml allows 10 starts per second per test key (Stripe's manifest would allow 24): the 11th
    // page waits until the first has left the window.
    let mut busiest = 0;
    for (i, first) in arrivals.iter().enumerate() {
        let window = arrivals[i..]
            .iter()
            .filter(|t| **t - *first < Duration::from_secs(1));
        busiest = busiest.max(window.count());
    }
    assert!(busiest <= 10, "{busiest} starts in one second");
    let waited = arrivals[10] - arrivals[0];
    assert!(
        waited >= Duration::from_millis(900),
        "the 11th page started {waited:?} after the first"
    );
}

// ---- two connectors, kept apart -----------------------------------------------------------------------

/// A hostile query script step: one raw request.
fn http(extra: serde_json::Value) -> serde_json::Value {
    json!({ "http": extra })
}

#[test]
fn a_hostile_component_under_the_ledger_manifest_reaches_neither_stripe_nor_the_ledger_with_stripe_s_header(
) {
    let api = api();
    let stripe = emulator();
    let hostile = std::fs::read(hostile_component()).expect("the hostile component is built");
    let sandbox = load(&hostile, ledger_manifest(), &api.base_url());
    let key = ledger_api::test_key();
    let mut conn = open(&sandbox, &key, wit::Mode::Test);
    assert_eq!(
        api.request_count(),
        0,
        "its offline credential check sent nothing"
    );

    let emulator_authority = stripe.base_url().trim_start_matches("http://").to_owned();
    // The keys in the script are cut to 40 characters after their prefix: a whole key in a query is
    // refused before any component runs (`tests/hostile_guest.rs`).
    let script = json!([
        // Stripe's API, by name and by its loopback stand-in.
        http(json!({"authority": "api.stripe.com", "path": "/v1/customers?limit=1"})),
        http(
            json!({"scheme": "http", "authority": emulator_authority, "path": "/v1/customers?limit=1"})
        ),
        // The ledger with Stripe's credential header, with its own header set by the guest, as a write.
        http(
            json!({"authority": "api.ledger.example", "path": "/v1/entries?limit=1",
            "headers": [["authorization", format!("Bearer {}", &keys::TEST_READ_ONLY[..48])]]})
        ),
        http(
            json!({"authority": "api.ledger.example", "path": "/v1/entries?limit=1",
            "headers": [["x-ledger-key", made_up_key("lk_test_", 666)[..48].to_owned()]]})
        ),
        http(json!({"method": "POST", "authority": "api.ledger.example", "path": "/v1/entries"})),
        // Stripe's paths on the ledger's origin.
        http(json!({"authority": "api.ledger.example", "path": "/v1/customers?limit=1"})),
        // And one request the manifest allows, so the script demonstrably ran.
        http(json!({"authority": "api.ledger.example", "path": "/v1/accounts?limit=1"})),
    ]);
    let _ = conn
        .query(&script.to_string())
        .expect("the hostile script runs");

    assert!(
        stripe.requests().is_empty(),
        "Stripe's stand-in was reached: {:?}",
        stripe.requests()
    );
    // The two header attempts: wasi:http refuses `authorization` and `x-ledger-key` to a guest outright
    // (the host's forbidden-header list), so those requests leave without them, carrying only the key the
    // host attaches. Nothing else arrives.
    let log = api.requests();
    let targets: Vec<String> = log
        .iter()
        .map(|r| format!("{} {}?{}", r.method, r.path, r.query))
        .collect();
    assert_eq!(
        targets,
        [
            "GET /v1/entries?limit=1",
            "GET /v1/entries?limit=1",
            "GET /v1/accounts?limit=1"
        ]
    );
    for request in &log {
        assert_host_attached(request, &key);
        for (_, value) in &request.headers {
            assert_no_key(keys::TEST_READ_ONLY, value, "a header at the ledger");
        }
    }
    assert_eq!(
        api.seen_credentials(),
        vec![Some(key.clone()); 3],
        "never the guest's own"
    );
    // The two of its credential check (a call that may make none: the request is not quoted), then
    // the query's.
    let all = conn.denied_requests();
    assert_eq!(all.len(), 6, "{all:#?}");
    assert!(all[..2]
        .iter()
        .all(|line| line.starts_with("a request during a call that may make none")));
    let denied = &all[2..];
    assert!(denied[0].contains("api.stripe.com"), "{}", denied[0]);
    assert!(denied[1].contains(&emulator_authority), "{}", denied[1]);
    assert!(denied[2].starts_with("POST"), "{}", denied[2]);
    assert!(denied[3].contains("/v1/customers"), "{}", denied[3]);
    for line in all {
        assert_no_key(keys::TEST_READ_ONLY, line, "the denial log");
        assert_no_key(&key, line, "the denial log");
    }
}

#[test]
fn the_stripe_component_cannot_run_under_the_ledger_manifest_with_either_key() {
    let api = api();
    let stripe = emulator();
    let sandbox = load(STRIPE_COMPONENT, ledger_manifest(), &api.base_url());
    // Stripe's key: the ledger manifest's rules refuse it before the component runs.
    let (k, message) = kind(sandbox.open(&ConnectionConfig::new(
        keys::TEST_READ_ONLY,
        wit::Mode::Test,
    )));
    assert_eq!(k, "invalid-key", "{message}");
    assert!(
        message.contains("lk_test_"),
        "the ledger's own rules speak: {message}"
    );
    // The ledger's key: the Stripe component's own check refuses what is not a Stripe key.
    let (k, message) = kind(sandbox.open(&ConnectionConfig::new(
        ledger_api::test_key(),
        wit::Mode::Test,
    )));
    assert_eq!(k, "invalid-key", "{message}");
    assert_no_key(&ledger_api::test_key(), &message, "the refusal");
    assert_eq!(api.request_count(), 0);
    assert!(stripe.requests().is_empty());
}

#[test]
fn the_ledger_component_cannot_run_under_stripe_s_manifest() {
    let api = api();
    let stripe = emulator();
    let manifest = ledger_manifest();
    let ComponentSource::Path(path) = &manifest.component else {
        panic!("a component file")
    };
    let bytes = std::fs::read(path).expect("the ledger component");
    let sandbox = load(&bytes, Manifest::stripe(), &stripe.base_url());
    let (k, message) = kind(sandbox.open(&ConnectionConfig::new(
        keys::TEST_READ_ONLY,
        wit::Mode::Test,
    )));
    assert_eq!(
        k, "invalid-key",
        "the ledger's own check refuses a Stripe key: {message}"
    );
    let (k, _) = kind(sandbox.open(&ConnectionConfig::new(
        ledger_api::test_key(),
        wit::Mode::Test,
    )));
    assert_eq!(k, "invalid-key", "Stripe's manifest refuses a ledger key");
    assert_eq!(api.request_count(), 0);
    assert!(stripe.requests().is_empty());
}

/// A ledger key pasted into a flag that refuses it is hidden like a Stripe key: the CLI knows the key
/// prefixes of every manifest in `--connectors DIR`, even when the command fails before (or because)
/// that directory is loaded, and even when clap refuses the command line itself.
#[test]
fn a_ledger_key_pasted_into_a_flag_is_never_quoted_back() {
    let key = made_up_key("lk_test_", 7);
    let dir = ledger_connectors_dir().display().to_string();
    let redirect_origin = format!("https://{key}.example=http://127.0.0.1:1");
    let stripe_base = format!("http://{key}:1");
    for args in [
        &["--redirect", redirect_origin.as_str(), "describe"][..],
        &["--stripe-base", stripe_base.as_str(), "describe"],
        &["--max-rows", key.as_str(), "describe"],
    ] {
        for format in ["json", "table"] {
            let mut all = vec![
                "--connectors",
                dir.as_str(),
                "--connector",
                "ledger",
                "--format",
                format,
            ];
            all.extend(args);
            let run = klairr_e2e::run_cli_with_env(&all, &[("LEDGER_API_KEY", key.as_str())], "");
            assert_eq!(run.code, 2, "{args:?}: {run:?}");
            let shown = format!("{}{}", run.stdout, run.stderr);
            assert!(
                shown.contains("[looks like a key: not shown]"),
                "{args:?}: {shown}"
            );
            assert_no_key(&key, &shown, "a pasted ledger key");
        }
    }
}
