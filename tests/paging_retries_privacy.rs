//! Issue 5 end to end: paging up to the row cap, retries that survive Stripe's rate limiter and stop in
//! time, guards against pages that would loop, the result cache and the shape-only memory — the built
//! component in the host's sandbox against the loopback emulator.

use klairr_e2e::{
    column_index, config, emulator, emulator_with, error_kind, ids, keys, param, run_cli, sandbox,
    temp_dir, upstream_of, TABLES,
};
use klairr_host::emulator::{Emulator, EmulatorConfig, Fault, RecordedRequest, Resource};
use klairr_host::output;
use klairr_host::sandbox::ConnectionConfig;
use klairr_host::sandbox::{wit, SandboxError};
use klairr_host::service::{Served, Service};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

const API_VERSION: &str = "2026-04-22.dahlia";

/// Every request the emulator saw carried the pinned Stripe-Version and Host: api.stripe.com (the
/// redirect to loopback changes where a request goes, not what it says).
fn assert_pinned(emu: &Emulator) {
    let seen = emu.requests();
    assert!(!seen.is_empty(), "no request to check");
    for req in &seen {
        assert_eq!(req.stripe_version.as_deref(), Some(API_VERSION), "{req:?}");
        assert_eq!(req.host.as_deref(), Some("api.stripe.com"), "{req:?}");
    }
}

fn status_fault(status: u16, should_retry: Option<bool>, code: Option<&str>) -> Fault {
    Fault::Status {
        status,
        should_retry,
        retry_after: None,
        code: code.map(str::to_owned),
    }
}

#[test]
fn large_lists_are_paged_by_100_up_to_the_row_cap() {
    let emu = emulator_with(EmulatorConfig {
        customers: 1234,
        ..EmulatorConfig::default()
    });
    let all_ids = emu.ids(Resource::Customers);
    assert_eq!(all_ids.len(), 1234);
    let sandbox = sandbox(&emu);
    let mut conn = sandbox
        .open(&ConnectionConfig {
            max_rows: Some(500),
            ..config(keys::TEST_READ_ONLY, wit::Mode::Test)
        })
        .expect("open");

    // limit 1000, max_rows 500 → 500 rows. One cursor takes 5 pages of 100; the concurrent pager takes
    // 6: the first page (the one cursor's, unchanged) shows 400 more are wanted, so the rest is split
    // at one second into two `created` windows read at once (the newer one after the first page's
    // last id, 100 + 14 objects; the older one 100 + 100 + 86).
    let result = conn
        .query(r#"{"list":"customers","limit":1000}"#)
        .expect("query");
    assert_eq!(result.rows.len(), 500);
    assert!(result.truncated);
    assert_eq!(result.requests, 6);
    assert_eq!(ids(&result), all_ids[..500], "newest first, each once");
    let seen = emu.requests();
    assert_eq!(seen.len(), 6, "{seen:#?}");
    assert_windows(&seen, &all_ids);
    let split: BTreeSet<&str> = seen[1..]
        .iter()
        .filter_map(|r| param(&r.query, "created%5Bgte%5D").or(param(&r.query, "created%5Blt%5D")))
        .collect();
    assert_eq!(
        split.len(),
        1,
        "two windows, split at one second: {seen:#?}"
    );
    assert_pinned(&emu);

    // limit 250 → 100, 100, 50: a query whose rest fits in less than four pages is not split, and is
    // exactly the one cursor's.
    emu.clear_requests();
    let result = conn
        .query(r#"{"list":"customers","limit":250}"#)
        .expect("query");
    assert_eq!(ids(&result), all_ids[..250]);
    assert!(result.truncated);
    assert_eq!(result.requests, 3);
    let seen = emu.requests();
    let limits: Vec<&str> = seen
        .iter()
        .map(|r| param(&r.query, "limit").expect("limit"))
        .collect();
    assert_eq!(limits, ["100", "100", "50"]);
    assert_eq!(
        param(&seen[2].query, "starting_after"),
        Some(all_ids[199].as_str())
    );
    assert_pinned(&emu);

    // The whole table: one cursor takes 13 pages, the concurrent pager 14 (its windows' last pages
    // are short); not truncated, every id once.
    let mut conn = sandbox
        .open(&ConnectionConfig {
            max_rows: Some(5000),
            ..config(keys::TEST_READ_ONLY, wit::Mode::Test)
        })
        .expect("open");
    emu.clear_requests();
    let result = conn
        .query(r#"{"list":"customers","limit":5000}"#)
        .expect("query");
    assert!(!result.truncated);
    assert_eq!(result.requests, 14);
    let got = ids(&result);
    assert_eq!(got, all_ids);
    assert_eq!(got.iter().collect::<BTreeSet<_>>().len(), 1234, "unique");
    let seen = emu.requests();
    assert_eq!(seen.len(), 14);
    assert_windows(&seen, &all_ids);
    assert_pinned(&emu);
}

/// The requests of a query read through `created` windows: the first is the one cursor's first page
/// (`limit=100`, nothing else); every other reads a window (`created[gte]` and/or `created[lt]`) in pages
/// of at most 100, after an id Stripe returned.
fn assert_windows(seen: &[RecordedRequest], ids: &[String]) {
    assert_eq!(seen[0].query, "limit=100", "{seen:#?}");
    for req in seen {
        assert_eq!(
            (req.method.as_str(), req.path.as_str()),
            ("GET", "/v1/customers")
        );
        let limit: u32 = param(&req.query, "limit")
            .and_then(|l| l.parse().ok())
            .expect("a limit");
        assert!((1..=100).contains(&limit), "{req:?}");
        if let Some(after) = param(&req.query, "starting_after") {
            assert!(ids.iter().any(|id| id == after), "{req:?}");
        }
    }
    for req in &seen[1..] {
        assert!(
            param(&req.query, "created%5Bgte%5D").is_some()
                || param(&req.query, "created%5Blt%5D").is_some(),
            "{req:?}"
        );
    }
}

#[test]
fn leading_429s_marked_retryable_are_retried_to_success() {
    let emu = emulator();
    let sandbox = sandbox(&emu);
    let mut conn = sandbox
        .open(&config(keys::TEST_READ_ONLY, wit::Mode::Test))
        .expect("open");
    emu.push_fault(
        "/v1/invoices",
        status_fault(429, Some(true), Some("rate_limit")),
        3,
    );
    let started = Instant::now();
    let result = conn
        .query(r#"{"list":"invoices","limit":7}"#)
        .expect("three 429s are survived");
    let took = started.elapsed();
    assert_eq!(result.rows.len(), 7);
    assert_eq!(result.requests, 4, "retries are counted");
    let statuses: Vec<u16> = emu.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [429, 429, 429, 200]);
    // Three backoffs of 0.5 s doubling with equal jitter: at least 1.5 s, at most 3.5 s (plus slack).
    assert!(
        took >= Duration::from_millis(1500) && took < Duration::from_secs(10),
        "{took:?}"
    );
    assert_pinned(&emu);
}

#[test]
fn should_retry_false_is_obeyed_and_the_error_quotes_status_and_request_id() {
    let emu = emulator();
    let sandbox = sandbox(&emu);
    let mut conn = sandbox
        .open(&config(keys::TEST_READ_ONLY, wit::Mode::Test))
        .expect("open");
    emu.push_fault("/v1/charges", status_fault(500, Some(false), None), 1);
    let err = conn
        .query(r#"{"list":"charges","limit":3}"#)
        .expect_err("a 500 that must not be retried");
    assert_eq!(error_kind(&err), "upstream", "{err}");
    let up = upstream_of(&err);
    assert_eq!(up.status, Some(500));
    let request_id = up.request_id.clone().expect("Request-Id");
    assert!(request_id.starts_with("req_"), "{request_id}");
    let message = err.to_string();
    assert!(
        message.contains("500") && message.contains(&request_id),
        "{message}"
    );
    assert_eq!(emu.requests().len(), 1, "not retried: {:?}", emu.requests());
    assert_eq!(emu.requests()[0].status, 500);
    assert_pinned(&emu);
}

#[test]
fn a_429_storm_ends_rate_limited_within_the_retry_bound() {
    let emu = emulator();
    let sandbox = sandbox(&emu);
    let mut conn = sandbox
        .open(&config(keys::TEST_READ_ONLY, wit::Mode::Test))
        .expect("open");
    emu.push_fault("/v1/", status_fault(429, None, Some("rate_limit")), 1000);
    let started = Instant::now();
    let err = conn
        .query(r#"{"list":"payouts","limit":10}"#)
        .expect_err("the storm does not end");
    let took = started.elapsed();
    assert_eq!(error_kind(&err), "rate-limited", "{err}");
    // It tells the user what helps: time, not a changed query or key.
    assert!(err.to_string().ends_with("try again later"), "{err}");
    let up = upstream_of(&err);
    assert_eq!(up.status, Some(429));
    assert_eq!(up.code.as_deref(), Some("rate_limit"));
    assert!(
        up.request_id
            .as_deref()
            .is_some_and(|id| err.to_string().contains(id)),
        "{err}"
    );
    // The default policy: 5 attempts. Retried (more than one), bounded (no more than five).
    let seen = emu.requests();
    assert!((2..=5).contains(&seen.len()), "{seen:#?}");
    assert!(seen.iter().all(|r| r.status == 429));
    assert!(took < Duration::from_secs(15), "{took:?}");
    assert_pinned(&emu);
}

#[test]
fn pages_that_would_loop_or_cannot_be_read_are_upstream_errors_not_hangs_or_traps() {
    let emu = emulator();
    let sandbox = sandbox(&emu);
    let mut conn = sandbox
        .open(&config(keys::TEST_READ_ONLY, wit::Mode::Test))
        .expect("open");
    let customers = r#"{"list":"customers","limit":500}"#;
    let started = Instant::now();

    // data:[] with has_more:true.
    emu.push_fault("/v1/customers", Fault::EmptyPageHasMore, 1);
    let err = conn.query(customers).expect_err("empty page, has_more");
    assert_eq!(error_kind(&err), "upstream", "{err}");
    assert!(upstream_of(&err).request_id.is_some(), "{err:?}");
    assert_eq!(emu.requests().len(), 1);

    // Truncated JSON: an upstream error naming the Request-Id.
    emu.clear_requests();
    emu.push_fault("/v1/customers", Fault::BrokenJson, 1);
    let err = conn.query(customers).expect_err("broken JSON");
    assert_eq!(error_kind(&err), "upstream", "{err}");
    let request_id = upstream_of(&err).request_id.clone().expect("Request-Id");
    assert!(err.to_string().contains(&request_id), "{err}");
    assert_eq!(emu.requests().len(), 1);

    // A body over the 8 MiB cap: a connector error, not a trap, and the connection still works.
    emu.clear_requests();
    emu.push_fault("/v1/customers", Fault::OversizedBody(9 << 20), 1);
    let err = conn.query(customers).expect_err("oversized body");
    assert!(
        matches!(err, SandboxError::Connector(_)),
        "not a trap: {err:?}"
    );
    assert_eq!(error_kind(&err), "upstream", "{err}");
    let request_id = upstream_of(&err).request_id.clone().expect("Request-Id");
    assert!(err.to_string().contains(&request_id), "{err}");
    assert!(err.to_string().contains("byte cap"), "{err}");
    assert_eq!(emu.requests().len(), 1, "not retried");
    let result = conn
        .query(r#"{"list":"customers","limit":2}"#)
        .expect("the connection survives");
    assert_eq!(result.rows.len(), 2);

    // The same page again and again with has_more:true: stopped at the repeated cursor.
    emu.clear_requests();
    emu.push_fault("/v1/customers", Fault::HasMoreLoop, 1000);
    let err = conn.query(customers).expect_err("cursor loop");
    assert_eq!(error_kind(&err), "upstream", "{err}");
    assert!(upstream_of(&err).request_id.is_some(), "{err:?}");
    let n = emu.requests().len();
    assert!((2..=3).contains(&n), "stops at once: {n} requests");

    assert!(started.elapsed() < Duration::from_secs(10));
    assert_pinned(&emu);
}

#[test]
fn the_charges_status_filter_is_applied_by_the_connector_after_fetching() {
    let emu = emulator();
    // The truth, from the emulator's data, newest first.
    let statuses: Vec<(String, String)> = emu
        .ids(Resource::Charges)
        .into_iter()
        .map(|id| {
            let status = emu.object(Resource::Charges, &id).expect("charge")["status"]
                .as_str()
                .expect("status")
                .to_owned();
            (id, status)
        })
        .collect();
    let sandbox = sandbox(&emu);
    let mut conn = sandbox
        .open(&config(keys::TEST_READ_ONLY, wit::Mode::Test))
        .expect("open");
    for (status, limit) in [("failed", 5usize), ("succeeded", 40), ("pending", 2)] {
        let matching: Vec<&str> = statuses
            .iter()
            .filter(|(_, s)| s == status)
            .map(|(id, _)| id.as_str())
            .collect();
        assert!(
            matching.len() > 1,
            "the data set has {status} charges: {matching:?}"
        );
        let result = conn
            .query(&format!(
                r#"{{"list":"charges","filters":{{"status":"{status}"}},"limit":{limit}}}"#
            ))
            .expect(status);
        let status_col = column_index(&result.columns, "status");
        assert!(result
            .rows
            .iter()
            .all(|r| r[status_col] == wit::Cell::Text(status.to_owned())));
        let want = limit.min(matching.len());
        assert_eq!(
            ids(&result),
            matching[..want],
            "{status}: counted after filtering"
        );
        assert_eq!(result.shape.row_count, want as u64);
        assert_eq!(result.truncated, matching.len() > limit, "{status}");
        assert_eq!(result.shape.filter_keys, ["status"]);
    }
    for req in emu.requests() {
        assert_eq!(req.path, "/v1/charges", "{req:?}");
        assert_eq!(param(&req.query, "status"), None, "{req:?}");
        assert_eq!(param(&req.query, "limit"), Some("100"), "{req:?}");
    }
    assert_pinned(&emu);
}

#[test]
fn results_are_cached_per_key_and_canonical_query() {
    let emu = emulator();
    let service = Service::new(sandbox(&emu), None);
    let mut test = service
        .open(&config(keys::TEST_READ_ONLY, wit::Mode::Test))
        .expect("open");
    let by_date = r#"{"list":"customers","filters":{"created":{"gte":"2026-01-01"}},"limit":5}"#;
    let by_seconds = r#"{"limit":5,"filters":{"created":{"gte":1767225600}},"list":"customers"}"#;

    let first = test.query(by_date).expect("query");
    assert!(!first.served.cached());
    assert_eq!(emu.requests().len(), 1);
    let sent = &emu.requests()[0].query;
    assert_eq!(
        param(sent, "created%5Bgte%5D").or(param(sent, "created[gte]")),
        Some("1767225600"),
        "{sent}"
    );
    assert_pinned(&emu);

    // The same query again, and equivalent spellings of it: served from the cache, no request.
    emu.clear_requests();
    for dsl in [by_date, by_seconds] {
        let again = test.query(dsl).expect("query");
        assert!(again.served.cached(), "{dsl}");
        assert_eq!(again.result, first.result, "{dsl}");
    }
    // A new session with the same key shares the entry.
    let mut same_key = service
        .open(&config(
            &format!(" {} ", keys::TEST_READ_ONLY),
            wit::Mode::Test,
        ))
        .expect("open");
    assert!(same_key.query(by_seconds).expect("query").served.cached());
    assert!(emu.requests().is_empty(), "{:?}", emu.requests());

    // A different query is not a hit.
    let other = test
        .query(r#"{"list":"customers","filters":{"created":{"gte":"2026-01-01"}},"limit":6}"#)
        .expect("query");
    assert!(!other.served.cached());
    assert_eq!(emu.requests().len(), 1);

    // Another key — live, or another test key — never sees the test key's entry.
    for (key, mode, hint) in [
        (keys::LIVE_READ_ONLY, wit::Mode::Live, "rk_live_"),
        (keys::TEST_WRITE_CUSTOMERS, wit::Mode::Test, "rk_test_"),
    ] {
        emu.clear_requests();
        let mut session = service.open(&config(key, mode)).expect("open");
        let answer = session.query(by_seconds).expect("query");
        assert!(!answer.served.cached(), "{key}");
        let seen = emu.requests();
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert!(
            seen[0]
                .key_hint
                .as_deref()
                .is_some_and(|h| h.starts_with(hint)),
            "{seen:?}"
        );
        assert_pinned(&emu);
        // ...and its own entry is served to it next time.
        emu.clear_requests();
        assert!(session.query(by_date).expect("query").served.cached());
        assert!(emu.requests().is_empty());
    }
}

/// An answer from the cache may be kept only for what is left of its TTL: rows never outlive the TTL
/// counted from when they were read, however many caches they pass through (review: a hit said 3600
/// s on an answer 59 minutes old, so a client could keep it for two hours).
#[test]
fn a_cached_answer_says_how_much_of_its_ttl_is_left() {
    let emu = emulator();
    let service = Service::new(sandbox(&emu), None);
    let mut session = service
        .open(&config(keys::TEST_READ_ONLY, wit::Mode::Test))
        .expect("open");
    let dsl = r#"{"list":"customers","limit":3}"#;
    let fresh = session.query(dsl).expect("query");
    assert_eq!(fresh.served, Served::Fresh);
    let ttl = fresh.served.cache_ttl_seconds(&fresh.result);
    assert_eq!(ttl, 3600);
    std::thread::sleep(Duration::from_millis(2100));
    let again = session.query(dsl).expect("query");
    assert!(again.served.cached());
    let left = again.served.cache_ttl_seconds(&again.result);
    assert!(
        (ttl - 4..=ttl - 2).contains(&left),
        "{left} s left of {ttl}"
    );
    // As printed: `--format json`'s `cache_ttl_seconds` and the table's footer.
    let json: serde_json::Value =
        serde_json::from_str(&output::query_json(&again.result, again.served)).expect("json");
    assert_eq!(json["cache_ttl_seconds"], left, "{json}");
    assert_eq!(json["cached"], true, "{json}");
    let text = output::query_text(&again.result, again.served);
    assert!(text.contains(&format!("cache TTL {left} s")), "{text}");
}

#[test]
fn cache_ttl_defaults_to_an_hour_and_can_be_lowered_never_raised() {
    let emu = emulator();
    let sandbox = sandbox(&emu);
    for (configured, expected) in [(None, 3600), (Some(60), 60), (Some(7200), 3600)] {
        let mut conn = sandbox
            .open(&ConnectionConfig {
                cache_ttl_seconds: configured,
                ..config(keys::TEST_READ_ONLY, wit::Mode::Test)
            })
            .expect("open");
        let result = conn
            .query(r#"{"list":"payouts","limit":1}"#)
            .expect("query");
        assert_eq!(result.cache_ttl_seconds, expected, "{configured:?}");
    }
    assert_eq!(
        sandbox
            .describe()
            .expect("describe")
            .default_cache_ttl_seconds,
        3600
    );
    assert_pinned(&emu);
}

/// Words a shape record holds by design: its own field names, table and column names, column types,
/// filter keys. A row value that happens to be part of one of these (a tax_exempt of "exempt", an
/// invoice status "paid") cannot be told apart from the shape, so it is not checked.
fn shape_vocabulary(describe: &serde_json::Value) -> Vec<String> {
    let mut words: Vec<String> = [
        "connector",
        "stripe",
        "table",
        "columns",
        "name",
        "type",
        "row_count",
        "filter_keys",
        "recorded_at",
        "id",
        "text",
        "integer",
        "boolean",
        "timestamp",
        "amount",
        "currency",
    ]
    .map(str::to_owned)
    .to_vec();
    for t in describe["tables"].as_array().expect("tables") {
        words.push(t["name"].as_str().expect("name").to_owned());
        for c in t["columns"].as_array().expect("columns") {
            words.push(c["name"].as_str().expect("name").to_owned());
        }
        for f in t["filters"].as_array().expect("filters") {
            words.push(f["key"].as_str().expect("key").to_owned());
        }
    }
    words
}

#[test]
fn the_memory_file_holds_shapes_and_never_a_row_value() {
    let emu = emulator();
    let base = emu.base_url();
    let dir = temp_dir("memory");
    let path = dir.join("memory.jsonl");
    let memory = path.to_str().expect("utf-8 path");
    let queries: [(&str, &[&str]); 5] = [
        (r#"{"list":"customers","limit":40}"#, &[]),
        (
            r#"{"list":"subscriptions","filters":{"status":"active","collection_method":"charge_automatically"},"limit":60}"#,
            &["collection_method", "status"],
        ),
        (
            r#"{"list":"invoices","filters":{"created":{"gte":"2024-01-01"}},"limit":100}"#,
            &["created"],
        ),
        (
            r#"{"list":"charges","filters":{"status":"succeeded"},"limit":100}"#,
            &["status"],
        ),
        (r#"{"list":"payouts","limit":30}"#, &[]),
    ];
    let describe = run_cli(&["--format", "json", "describe"], None).json();
    let vocabulary = shape_vocabulary(&describe);

    let mut strings = BTreeSet::new();
    let mut integers = BTreeSet::new();
    let mut row_counts = Vec::new();
    for (dsl, _) in &queries {
        let run = run_cli(
            &[
                "--format",
                "json",
                "--stripe-base",
                &base,
                "--memory-file",
                memory,
                "query",
                dsl,
            ],
            Some(keys::TEST_READ_ONLY),
        );
        assert_eq!(run.code, 0, "{run:?}");
        let v = run.json();
        let rows = v["rows"].as_array().expect("rows");
        assert!(!rows.is_empty(), "{dsl}");
        row_counts.push(rows.len() as u64);
        for cell in rows.iter().flat_map(|r| r.as_array().expect("row")) {
            match cell {
                serde_json::Value::String(s)
                    if s.len() >= 4 && !vocabulary.iter().any(|w| w.contains(s.as_str())) =>
                {
                    strings.insert(s.clone());
                }
                serde_json::Value::Number(n) if n.as_i64().is_some_and(|i| i.abs() >= 1000) => {
                    integers.insert(n.as_i64().expect("i64").abs());
                }
                _ => {}
            }
        }
    }
    // Enough values that the check means something: ids, emails, names, amounts, timestamps.
    assert!(strings.len() > 300, "{} strings", strings.len());
    assert!(integers.len() > 300, "{} integers", integers.len());
    assert!(
        strings.iter().any(|s| s.contains('@')),
        "emails are checked"
    );
    assert!(strings.contains("active"), "filter values are checked too");

    let file = std::fs::read_to_string(&path).expect("memory file");
    let lines: Vec<&str> = file.lines().collect();
    assert_eq!(lines.len(), queries.len(), "{file}");
    let mut without_time = String::new();
    for ((line, (_, filter_keys)), (table, row_count)) in lines
        .iter()
        .zip(&queries)
        .zip(TABLES.iter().zip(&row_counts))
    {
        let mut record: serde_json::Value = serde_json::from_str(line).expect("JSON line");
        assert_eq!(record["table"], *table, "{line}");
        assert_eq!(record["row_count"], *row_count, "{line}");
        let mut keys: Vec<&str> = record["filter_keys"]
            .as_array()
            .expect("filter_keys")
            .iter()
            .map(|k| k.as_str().expect("key"))
            .collect();
        keys.sort_unstable();
        assert_eq!(keys, *filter_keys, "{line}");
        let columns = record["columns"].as_array().expect("columns");
        assert!(!columns.is_empty());
        for c in columns {
            assert!(c["name"].is_string() && c["type"].is_string(), "{c}");
            assert_eq!(c.as_object().map(|o| o.len()), Some(2), "{c}");
        }
        let fields: BTreeSet<&str> = record
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            fields,
            BTreeSet::from([
                "connector",
                "table",
                "columns",
                "row_count",
                "filter_keys",
                "recorded_at"
            ]),
            "{line}"
        );
        // recorded_at is the time of writing, not a row value: left out of the number check.
        record
            .as_object_mut()
            .expect("object")
            .remove("recorded_at");
        without_time.push_str(&record.to_string());
        without_time.push('\n');
    }

    for s in &strings {
        let escaped = serde_json::to_string(s).expect("json");
        assert!(
            !file.contains(s.as_str()) && !file.contains(&escaped[1..escaped.len() - 1]),
            "row value {s:?} is in the memory file"
        );
    }
    let numbers: BTreeSet<i64> = without_time
        .split(|c: char| !c.is_ascii_digit())
        .filter(|t| !t.is_empty())
        .filter_map(|t| t.parse().ok())
        .collect();
    for n in &integers {
        assert!(!numbers.contains(n), "row value {n} is in the memory file");
    }
    assert_no_key_in(&file);
    assert_pinned(&emu);
    let _ = std::fs::remove_dir_all(&dir);
}

fn assert_no_key_in(text: &str) {
    klairr_e2e::assert_no_key(keys::TEST_READ_ONLY, text, "memory file");
}

/// A key pasted into a filter would leave in the URL: the host refuses the query before the component
/// sees it (no id or value is that long), as `invalid-query`, saying why without quoting it — JSON, the
/// table format's stderr.
#[test]
fn a_key_pasted_into_a_filter_never_leaves_and_the_refusal_says_why() {
    let emu = emulator();
    let key = keys::TEST_READ_ONLY;
    let pasted = format!(
        r#"{{"list":"charges","filters":{{"customer":"cus_{}"}}}}"#,
        &key["rk_test_".len()..]
    );
    for format in ["json", "table"] {
        let run = run_cli(
            &[
                "--format",
                format,
                "--stripe-base",
                &emu.base_url(),
                "query",
                &pasted,
            ],
            Some(key),
        );
        assert_eq!(run.code, 2, "{run:?}");
        let shown = format!("{}{}", run.stdout, run.stderr);
        assert!(shown.contains("invalid-query"), "{shown}");
        assert!(
            shown.contains("letters and digits in a row (line breaks and invisible characters between them do not end a row), more than the 40 the host accepts"),
            "the reason: {shown}"
        );
        klairr_e2e::assert_no_key(key, &shown, format);
    }
    assert!(
        emu.requests().is_empty(),
        "nothing was sent: {:?}",
        emu.requests()
    );
}

/// Whoever writes queries (an LLM, say) must not learn the key by guessing: a guess of twelve of its
/// characters — as an unknown table the connector quotes back, or as a customer id that goes into the
/// URL — is treated exactly like a wrong guess. (Redacting or refusing only the right guesses would
/// answer "is this part of the key?", and the key would come out a character at a time.)
#[test]
fn a_guess_at_part_of_the_key_is_answered_like_any_other_text() {
    let emu = emulator();
    let key = keys::TEST_READ_ONLY;
    let right = &key[12..24];
    let wrong = "KlairrZZZZZZ";
    assert!(!key.contains(wrong));
    let sandbox = sandbox(&emu);
    let mut conn = sandbox.open(&config(key, wit::Mode::Test)).expect("open");
    let mut answers = Vec::new();
    for guess in [right, wrong] {
        let echoed = conn
            .query(&format!(r#"{{"list":"{guess}"}}"#))
            .expect_err("not a table")
            .to_string()
            .replace(guess, "GUESS");
        let in_url = conn
            .query(&format!(
                r#"{{"list":"charges","filters":{{"customer":"cus_{guess}"}}}}"#
            ))
            .map(|r| r.rows.len())
            .map_err(|e| error_kind(&e).to_owned());
        answers.push((echoed, in_url));
    }
    assert_eq!(answers[0], answers[1], "right and wrong guesses alike");
    assert!(
        answers[0].0.contains("GUESS"),
        "quoted as written: {}",
        answers[0].0
    );
    let seen = emu.requests();
    let sent: Vec<&str> = seen
        .iter()
        .filter_map(|r| r.query.split('&').find(|p| p.starts_with("customer=cus_")))
        .map(|p| &p["customer=cus_".len()..])
        .collect();
    assert_eq!(sent, [right, wrong], "both went out as written");
}

/// The same through the command line, whose messages are masked once more before they are printed
/// (every connector's key, in case one was pasted into a path): what the caller wrote — the query and
/// every argument of the command line — still comes back alike whether or not a guess matches the key
/// (QA read 30 characters of the key through `--mode`, one guess at a time, when only the query,
/// `--columns` and `--connector` were).
#[test]
fn the_command_line_answers_a_right_guess_like_a_wrong_one() {
    let emu = emulator();
    let key = keys::TEST_READ_ONLY;
    let right = &key[..12];
    let wrong = "rk_test_51Km";
    assert!(!key.contains(wrong));
    let base = emu.base_url();
    let answer = |guess: &str, format: &str, args: &[&str]| {
        let mut all = vec!["--format", format, "--stripe-base", &base];
        all.extend_from_slice(args);
        let run = run_cli(&all, Some(key));
        (
            run.code,
            run.stdout.replace(guess, "GUESS"),
            run.stderr.replace(guess, "GUESS"),
        )
    };
    for format in ["json", "table"] {
        let asked = |guess: &str| {
            let unknown_key = format!(r#"{{"list":"customers","{guess}":1}}"#);
            let filter_value =
                format!(r#"{{"list":"subscriptions","filters":{{"status":"{guess}"}}}}"#);
            [
                answer(guess, format, &["query", &unknown_key]),
                answer(guess, format, &["query", &filter_value]),
                answer(guess, format, &["--connector", guess, "describe"]),
                answer(
                    guess,
                    format,
                    &[
                        "--columns",
                        guess,
                        "query",
                        r#"{"list":"customers","limit":1}"#,
                    ],
                ),
                answer(guess, format, &["--mode", guess, "setup"]),
                answer(guess, format, &["--max-rows", guess, "setup"]),
                answer(guess, format, &["setup", guess]),
                answer(guess, format, &[guess]),
                answer(
                    guess,
                    format,
                    &["--component", &format!("/nonexistent/{guess}"), "describe"],
                ),
                answer(
                    guess,
                    format,
                    &[
                        "--memory-file",
                        &format!("/nonexistent/{guess}"),
                        "describe",
                    ],
                ),
                answer(
                    guess,
                    format,
                    &["--compile-cache", &format!("/dev/null/{guess}"), "describe"],
                ),
                answer(
                    guess,
                    format,
                    &[
                        "--redirect",
                        &format!("https://api.stripe.com=http://{guess}:1"),
                        "describe",
                    ],
                ),
            ]
        };
        let (rights, wrongs) = (asked(right), asked(wrong));
        for (r, w) in rights.iter().zip(&wrongs) {
            assert_eq!(r, w, "{format}: right and wrong guesses alike");
            assert_ne!(r.0, 0, "each is refused: {r:?}");
        }
        // Twelve characters from inside the key, as QA guessed them: `--mode`, the extra argument and
        // the paths quote a guess back as written, right or wrong (a connector's name is never quoted).
        let inside = &key[60..72];
        let (rights, wrongs) = (asked(inside), asked("OX9YIMtCFIPq"));
        assert!(!key.contains("OX9YIMtCFIPq"));
        for (r, w) in rights.iter().zip(&wrongs) {
            assert_eq!(r, w, "{format}: right and wrong guesses alike");
        }
        for r in &rights[4..] {
            assert!(
                r.1.contains("GUESS") || r.2.contains("GUESS"),
                "{format}: quoted as written: {r:?}"
            );
        }
        assert!(
            rights[0].1.contains("GUESS") || rights[0].2.contains("GUESS"),
            "quoted as written: {:?}",
            rights[0]
        );
    }
}

/// Nor do the files the command line points at: a manifest's file name or field and a component's import
/// name quoted by the message that refuses them read alike for a right and a wrong guess (QA read 60
/// characters of the key in 1,259 runs through a broken manifest named `<guess>.toml` when the CLI
/// masked such text by the key's value).
#[test]
fn files_the_operator_points_at_answer_a_right_guess_like_a_wrong_one() {
    let key = keys::TEST_READ_ONLY;
    let right = &key[60..72];
    let wrong = "OX9YIMtCFIPq";
    assert!(!key.contains(wrong));
    let ledger = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../connectors/ledger/ledger.toml"),
    )
    .expect("the ledger's manifest");
    let answer = |guess: &str, case: usize| {
        // Nothing of a guess is on the command line (each run has a directory of its own).
        let dir = temp_dir(&format!("oracle-files-{case}"));
        let args: Vec<String> = match case {
            0 => {
                std::fs::write(dir.join(format!("{guess}.toml")), "broken =").expect("write");
                vec![
                    "--connectors".into(),
                    dir.display().to_string(),
                    "connectors".into(),
                ]
            }
            1 => {
                let renamed = ledger.replace("name = \"ledger\"", &format!("name = \"{guess}\""));
                std::fs::write(dir.join("l.toml"), renamed).expect("write");
                vec![
                    "--connectors".into(),
                    dir.display().to_string(),
                    "connectors".into(),
                ]
            }
            _ => {
                let wat = format!("(component (import \"a:b/{guess}\" (instance)))");
                std::fs::write(dir.join("c.wat"), wat).expect("write");
                vec![
                    "--compile-cache".into(),
                    "off".into(),
                    "--component".into(),
                    dir.join("c.wat").display().to_string(),
                    "describe".into(),
                ]
            }
        };
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = run_cli(&args, Some(key));
        let _ = std::fs::remove_dir_all(&dir);
        let dir = dir.display().to_string();
        let seen = |text: &str| text.replace(&dir, "DIR").replace(guess, "GUESS");
        (run.code, seen(&run.stdout), seen(&run.stderr))
    };
    for case in 0..3 {
        let (r, w) = (answer(right, case), answer(wrong, case));
        assert_eq!(r, w, "case {case}: right and wrong guesses alike");
        assert_ne!(r.0, 0, "case {case}: refused: {r:?}");
        assert!(
            r.1.contains("GUESS") || r.2.contains("GUESS"),
            "case {case}: quoted as written: {r:?}"
        );
    }
}

/// A whole key pasted into an argument is never shown back: a run of more than 40 letters and digits
/// the command line holds is hidden, key or not (so hiding it answers no guess either).
#[test]
fn a_key_pasted_into_an_argument_is_not_shown_back() {
    let key = keys::TEST_READ_ONLY;
    let body = &key["rk_test_".len()..];
    let stranger = "Z".repeat(body.len());
    for pasted in [key.to_owned(), format!("rk_test_{stranger}")] {
        for args in [
            vec![
                "--memory-file".to_owned(),
                format!("/nonexistent/{pasted}"),
                "describe".into(),
            ],
            vec!["setup".to_owned(), pasted.clone()],
            vec![
                "--format".into(),
                "json".into(),
                "--mode".into(),
                pasted.clone(),
                "setup".into(),
            ],
        ] {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let run = run_cli(&args, Some(key));
            assert_eq!(run.code, 2, "{run:?}");
            let said = format!("{}{}", run.stdout, run.stderr);
            let pasted_body = &pasted["rk_test_".len()..];
            assert!(!said.contains(&pasted_body[..24]), "{said}");
            assert!(said.contains("not shown"), "{said}");
        }
    }
}

/// Nor in what a command prints when it succeeds: `connectors` lists each manifest's path, in which what
/// looks like a key is hidden as in messages (QA: a key pasted as a directory name was listed whole).
#[test]
fn the_connectors_listing_hides_a_key_pasted_into_a_path() {
    let key = keys::TEST_READ_ONLY;
    let parent = klairr_e2e::ledger_connectors_dir();
    let dir = parent.join(key);
    std::fs::create_dir(&dir).expect("a directory named like the key");
    for file in ["ledger.toml", "klairr_ledger.wasm"] {
        std::fs::rename(parent.join(file), dir.join(file)).expect("moved");
    }
    let dir_arg = dir.display().to_string();
    for format in ["json", "table"] {
        let run = run_cli(
            &["--format", format, "--connectors", &dir_arg, "connectors"],
            Some(key),
        );
        assert_eq!(run.code, 0, "{run:?}");
        assert!(run.stdout.contains("ledger"), "{}", run.stdout);
        assert!(
            run.stdout.contains("[looks like a key: not shown]"),
            "{}",
            run.stdout
        );
        klairr_e2e::assert_no_key(key, &run.stdout, "the connectors listing");
    }
    let _ = std::fs::remove_dir_all(&parent);
}

/// A manifest's refusal message is the operator's text too: a key pasted into it is never shown (QA: a
/// whole key pasted there was printed); the manifest is refused at load, the key hidden by its form.
#[test]
fn a_key_pasted_into_a_manifests_refusal_message_is_not_shown_back() {
    let key = keys::TEST_READ_ONLY;
    let (dir, _) = klairr_e2e::stripe_copy_connectors_dir(
        "refusal-message",
        "pasted",
        klairr_host::registry::STRIPE_COMPONENT,
    );
    let manifest = dir.join("pasted.toml");
    let text = std::fs::read_to_string(&manifest).expect("manifest");
    let pasted = text.replacen(
        "message = \"secret keys (sk_…) are refused",
        &format!("message = \"{key} secret keys (sk_…) are refused"),
        1,
    );
    assert_ne!(pasted, text);
    std::fs::write(&manifest, pasted).expect("write");
    let dir_arg = dir.display().to_string();
    let secret = "sk_test_51KlairrEmulatorSecretKeyFullAccess0000aaaaBBBBccccDDDD";
    let run = klairr_e2e::run_cli_with_env(
        &["--connectors", &dir_arg, "--connector", "pasted", "setup"],
        &[("PASTED_API_KEY", secret)],
        "",
    );
    // The manifest is refused at load, naming the field, the key not quoted: such a message would be
    // shown to every caller whose key it refuses.
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("error (connector-config): connector manifest")
            && run.stderr.contains("`credential.refused[0].message` holds what looks like a key ([looks like a key: not shown] secret keys"),
        "{run:?}"
    );
    klairr_e2e::assert_no_key(key, &run.stderr, "a refusal message");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A memory file that cannot be written is refused before anything runs (exit 2, saying which and
/// why), by every command that takes the flag and by `serve`, rather than each shape lost with a
/// warning (or, for describe and connectors, the flag taken and the mistake left for the next query).
#[test]
fn a_memory_file_that_cannot_be_written_is_refused_before_anything_runs() {
    let emu = emulator();
    let base = emu.base_url();
    let dir = temp_dir("memory-unwritable");
    let missing = dir.join("no-such-dir").join("memory.jsonl");
    for path in [missing.as_path(), dir.as_path()] {
        let path = path.to_str().expect("utf-8 path");
        let run = run_cli(
            &[
                "--stripe-base",
                &base,
                "--memory-file",
                path,
                "query",
                r#"{"list":"payouts","limit":1}"#,
            ],
            Some(keys::TEST_READ_ONLY),
        );
        assert_eq!(run.code, 2, "{run:?}");
        assert!(
            run.stderr.contains("--memory-file") && run.stderr.contains("cannot be written"),
            "{run:?}"
        );
        if path.contains("no-such-dir") {
            assert!(
                run.stderr
                    .contains("give a file in a directory that exists"),
                "{run:?}"
            );
        }
        for command in [
            &["--stripe-base", &base, "--memory-file", path, "setup"][..],
            &["--memory-file", path, "describe"],
            &["--memory-file", path, "connectors"],
            &["--memory-file", path, "demo"],
        ] {
            let run = run_cli(command, Some(keys::TEST_READ_ONLY));
            assert_eq!(run.code, 2, "{command:?}: {run:?}");
            assert!(
                run.stderr.contains("cannot be written"),
                "{command:?}: {run:?}"
            );
            assert!(run.stdout.is_empty(), "{command:?}: nothing ran: {run:?}");
        }
        // A listen address serve refuses: were the memory file not checked first, the run would end
        // there, with another message (and never serve).
        let serve = klairr_e2e::run_cli_with_env(
            &["--memory-file", path, "serve", "--listen", "0.0.0.0:0"],
            &[("KLAIRR_HOST_TOKEN", "test-token-0123456789abcdef")],
            "",
        );
        assert_eq!(serve.code, 2, "{serve:?}");
        assert!(serve.stderr.contains("cannot be written"), "{serve:?}");
    }
    // `-` is standard output by convention, which holds the result: refused, not a file named `-`.
    let run = run_cli(
        &["--memory-file", "-", "describe"],
        Some(keys::TEST_READ_ONLY),
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("cannot go to standard output"),
        "{run:?}"
    );
    assert!(emu.requests().is_empty(), "nothing was sent");
}

/// `klairr-host ARGS` as a process under bash, after `setup` (shell commands: a umask, a file-size
/// limit), with the emulator's key.
fn host_under_bash(setup: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new("bash")
        .arg("-c")
        .arg(format!("{setup}; exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_klairr-host-under-test"))
        .args(args)
        .env("STRIPE_API_KEY", keys::TEST_READ_ONLY)
        .output()
        .expect("bash runs")
}

/// The modes the host promises are its own, whatever the umask: a memory file it creates (with the
/// first record: a query's) is 0600 (not 0400, which would refuse the next record), a compile cache
/// directory it creates is 0700 (not 0600, which its owner could not enter).
#[test]
fn the_files_the_host_creates_have_its_modes_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let emu = emulator();
    let base = emu.base_url();
    let dir = temp_dir("umask");
    let memory = dir.join("memory.jsonl");
    let cache = dir.join("cache");
    let args = [
        "--stripe-base",
        base.as_str(),
        "--compile-cache",
        cache.to_str().expect("utf-8"),
        "--memory-file",
        memory.to_str().expect("utf-8"),
        "--format",
        "json",
        "query",
        r#"{"list":"customers","limit":1}"#,
    ];
    for umask in ["0277", "0177"] {
        for round in ["creates", "uses"] {
            let run = host_under_bash(&format!("umask {umask}"), &args);
            let stderr = String::from_utf8_lossy(&run.stderr);
            assert!(run.status.success(), "umask {umask}, {round}: {run:?}");
            // No warning: the second run is a cache hit, nothing failed to be read or written.
            assert!(stderr.is_empty(), "umask {umask}, {round}: {stderr}");
        }
        let mode =
            |p: &std::path::Path| std::fs::metadata(p).expect("there").permissions().mode() & 0o777;
        assert_eq!(mode(&memory), 0o600, "umask {umask}");
        assert_eq!(mode(&cache), 0o700, "umask {umask}");
        std::fs::remove_file(&memory).expect("rm");
        std::fs::remove_dir_all(&cache).expect("rm");
    }
}

/// A disk that fills while a record is written takes no half record into the file: the record is lost
/// (said on stderr), the file stays whole JSON lines, and the next record is read as one. A file-size
/// limit stands in for the full disk (its signal ignored, so that the write fails as on a full disk).
#[test]
fn a_record_cut_short_by_a_full_disk_is_taken_back() {
    let emu = emulator();
    let base = emu.base_url();
    let dir = temp_dir("memory-full");
    let memory = dir.join("memory.jsonl");
    let earlier = format!("{}\n", r#"{"earlier":"record"}"#).repeat(3116);
    std::fs::write(&memory, &earlier).expect("earlier records");
    std::fs::set_permissions(&memory, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod");
    // 100 bytes short of the limit below: the record crosses it.
    assert_eq!(earlier.len(), 64 * 1024 - 100);
    let args = [
        "--stripe-base",
        &base,
        "--compile-cache",
        "off",
        "--memory-file",
        memory.to_str().expect("utf-8"),
        "--format",
        "json",
        "query",
        r#"{"list":"payouts","limit":2}"#,
    ];
    // bash counts `ulimit -f` in KiB (wasmtime itself needs a few KiB of file to instantiate).
    let full = host_under_bash("trap '' XFSZ; ulimit -f 64", &args);
    assert!(full.status.success(), "the rows still come back: {full:?}");
    let stderr = String::from_utf8_lossy(&full.stderr);
    assert!(stderr.contains("could not record"), "{stderr}");
    let after = std::fs::read_to_string(&memory).expect("read");
    assert!(
        after == earlier,
        "the part written was taken back; the file ends {:?}",
        &after[after.len().saturating_sub(120)..]
    );

    let room = host_under_bash("true", &args);
    assert!(room.status.success(), "{room:?}");
    let text = std::fs::read_to_string(&memory).expect("read");
    assert_eq!(text.lines().count(), 3117, "{text}");
    for line in text.lines() {
        serde_json::from_str::<serde_json::Value>(line).expect("every line is a record");
    }
}
