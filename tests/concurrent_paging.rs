//! Concurrent paging end to end: the built component pages through several `created` windows at once
//! against the loopback emulator with real Stripe's latency, irregular creation times and Stripe's rate
//! limiter — and returns exactly what one sequential cursor returns, inside the budget.
//!
//! The sequential cursor's answer is the emulator's own list order (`Emulator::ids`: `created`
//! descending, Stripe's order within a second), which is what `starting_after` paging returns. How fast
//! this is lives in the `paging` benchmark (README, "Benchmarks"), not here.

use klairr_e2e::{config, emulator_with, ids, keys, param, run_cli, sandbox};
use klairr_host::emulator::{
    max_in_any_window, Emulator, EmulatorConfig, RateLimit, RecordedRequest, Resource, Timeline,
};
use klairr_host::sandbox::{wit, Connection, ConnectionConfig, Progress, Sandbox};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const LATENCY: Duration = Duration::from_millis(250);
const SECOND: Duration = Duration::from_secs(1);

/// An account like a real one (bursts, crowded seconds, quiet weeks) behind Stripe's latency and its
/// rate limiter (25 starts/s per endpoint; 25/s per test account, 100/s per live one).
fn irregular_stripe(customers: usize) -> Emulator {
    emulator_with(EmulatorConfig {
        customers,
        subscriptions: 1500,
        invoices: 2500,
        charges: 3000,
        payouts: 600,
        timeline: Timeline::Irregular,
        latency: LATENCY,
        rate_limit: Some(RateLimit::STRIPE),
        ..EmulatorConfig::default()
    })
}

/// A connection with the given key and mode that returns up to `max_rows` rows.
fn open(sandbox: &Sandbox, key: &str, mode: wit::Mode, max_rows: u32) -> Connection {
    sandbox
        .open(&ConnectionConfig {
            max_rows: Some(max_rows),
            ..config(key, mode)
        })
        .expect("open")
}

/// The `created` bounds of one request, e.g. `(Some(gte), Some(lt))`.
fn bounds(r: &RecordedRequest) -> (Option<i64>, Option<i64>) {
    let int = |name| param(&r.query, name).and_then(|v: &str| v.parse().ok());
    (int("created%5Bgte%5D"), int("created%5Blt%5D"))
}

/// Nothing refused: not one 429 (nor any other failure) from Stripe's limiter, and by the arrival time
/// of every request the emulator saw, never more than 25 starts on one endpoint — nor on the account —
/// in any one-second window.
fn assert_inside_the_budget(emu: &Emulator, account_limit: usize) {
    let seen = emu.requests();
    let refused: Vec<&RecordedRequest> = seen.iter().filter(|r| r.status != 200).collect();
    assert!(refused.is_empty(), "refused: {refused:#?}");
    for (endpoint, most) in emu.max_starts_per_endpoint(SECOND) {
        assert!(most <= 25, "{endpoint}: {most} starts in one second");
    }
    let all: Vec<_> = seen.iter().map(|r| r.arrived).collect();
    let most = max_in_any_window(&all, SECOND);
    assert!(most <= account_limit, "{most} starts in one second");
}

#[test]
fn ten_thousand_irregular_customers_read_like_one_cursor_inside_stripes_budget() {
    for (mode, key, account_limit) in [
        (wit::Mode::Test, keys::TEST_READ_ONLY, 25),
        (wit::Mode::Live, keys::LIVE_READ_ONLY, 100),
    ] {
        let emu = irregular_stripe(10_000);
        let want = emu.ids(Resource::Customers);
        let sandbox = sandbox(&emu);
        let mut conn = open(&sandbox, key, mode, 10_000);
        let result = conn
            .query(r#"{"list":"customers","limit":10000}"#)
            .expect("query");
        assert_eq!(
            ids(&result),
            want,
            "{mode:?}: every customer once, in order"
        );
        assert!(!result.truncated);
        // One cursor takes 100 requests; at most 25% more (+2 for lists too short for a quarter).
        assert!(result.requests <= 127, "{mode:?}: {}", result.requests);
        assert_eq!(result.requests as usize, emu.requests().len());
        assert_inside_the_budget(&emu, account_limit);
        // Pages really overlapped (one cursor never has two in flight), within the manifest's 8.
        let peak = emu.peak_in_flight();
        assert!((4..=8).contains(&peak), "{mode:?}: peak in flight {peak}");
        // Several disjoint windows: more than one distinct lower bound was asked for.
        let lows: std::collections::BTreeSet<i64> =
            emu.requests().iter().filter_map(|r| bounds(r).0).collect();
        assert!(lows.len() >= 3, "{mode:?}: windows {lows:?}");
    }
}

/// A second restricted read-only test key of the emulator's account: its body names the same account
/// as [`keys::TEST_READ_ONLY`]'s (`51KlairrEmulatorR`), with a secret of its own, as a user makes one
/// key per service in the Dashboard.
const SECOND_KEY_OF_THE_ACCOUNT: &str = "rk_test_51KlairrEmulatorReadOnlyAllFive0000SecondKeyOfTheSameAccount0b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b40000";

/// Stripe counts its limits per account and mode, whichever of the account's keys is used: two keys of
/// one account, given to two connections of one host (`serve`), spend one budget (review: each had its
/// own, and Stripe's limiter refused 17 of 151 requests, 32 arrivals in the busiest second).
#[test]
fn two_keys_of_one_account_given_to_two_connections_spend_one_budget() {
    let mut keys_accepted = keys::all();
    keys_accepted.push(keys::read_only(SECOND_KEY_OF_THE_ACCOUNT, false));
    let emu = emulator_with(EmulatorConfig {
        customers: 6000,
        charges: 6000,
        timeline: Timeline::Irregular,
        latency: Duration::from_millis(100),
        rate_limit: Some(RateLimit::STRIPE),
        keys: keys_accepted,
        ..EmulatorConfig::default()
    });
    // One sandbox: one budget and one set of gates, as `serve` has.
    let sandbox = sandbox(&emu);
    let conns = [
        open(&sandbox, keys::TEST_READ_ONLY, wit::Mode::Test, 6000),
        open(&sandbox, SECOND_KEY_OF_THE_ACCOUNT, wit::Mode::Test, 6000),
    ];
    std::thread::scope(|scope| {
        for (mut conn, table) in conns.into_iter().zip(["customers", "charges"]) {
            scope.spawn(move || {
                let result = conn
                    .query(&format!(r#"{{"list":"{table}","limit":6000}}"#))
                    .expect("query");
                assert_eq!(result.rows.len(), 6000, "{table}");
            });
        }
    });
    assert_inside_the_budget(&emu, 25);
}

#[test]
fn a_limit_of_2500_takes_at_most_32_requests_and_says_truncated() {
    let emu = irregular_stripe(10_000);
    let want = emu.ids(Resource::Customers);
    let sandbox = sandbox(&emu);
    let mut conn = open(&sandbox, keys::TEST_READ_ONLY, wit::Mode::Test, 10_000);
    let result = conn
        .query(r#"{"list":"customers","limit":2500}"#)
        .expect("query");
    assert_eq!(ids(&result), want[..2500]);
    assert!(result.truncated, "7,500 more customers matched");
    assert!(result.requests <= 32, "{} requests", result.requests);
    assert_inside_the_budget(&emu, 25);

    // The connection's row cap truncates the same way: 1,234 of 10,000, newest first.
    let mut capped = open(&sandbox, keys::TEST_READ_ONLY, wit::Mode::Test, 1234);
    let result = capped
        .query(r#"{"list":"customers","limit":5000}"#)
        .expect("query");
    assert_eq!(ids(&result), want[..1234]);
    assert!(result.truncated);
}

/// Seconds that hold more than one object of `resource`, with how many.
fn crowded_seconds(emu: &Emulator, resource: Resource) -> BTreeMap<i64, usize> {
    let mut per_second: BTreeMap<i64, usize> = BTreeMap::new();
    for (_, created) in emu.created(resource) {
        *per_second.entry(created).or_default() += 1;
    }
    per_second.retain(|_, n| *n > 1);
    per_second
}

#[test]
fn every_table_reads_like_one_cursor_on_irregular_data() {
    let emu = irregular_stripe(2000);
    let sandbox = sandbox(&emu);
    let mut conn = open(&sandbox, keys::TEST_READ_ONLY, wit::Mode::Test, 10_000);
    for resource in Resource::ALL {
        let name = resource.name();
        let crowded = crowded_seconds(&emu, resource);
        assert!(
            crowded.values().any(|&n| n >= 30),
            "{name}: the irregular data has seconds holding many objects"
        );
        // Subscriptions without a status filter leave canceled ones out (as Stripe does): ask for all.
        let filters = if resource == Resource::Subscriptions {
            r#"{"status":"all"}"#
        } else {
            "{}"
        };
        emu.clear_requests();
        let result = conn
            .query(&format!(
                r#"{{"list":"{name}","filters":{filters},"limit":10000}}"#
            ))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(ids(&result), emu.ids(resource), "{name}");
        assert!(!result.truncated, "{name}");
        assert_inside_the_budget(&emu, 25);
    }
}

#[test]
fn a_window_edge_on_a_crowded_second_keeps_every_object_of_that_second_once() {
    let emu = irregular_stripe(4000);
    let all = emu.created(Resource::Customers);
    // The most crowded second, as the lower bound of the user's range and as its (exclusive) upper one.
    let crowded = crowded_seconds(&emu, Resource::Customers);
    let (&second, &count) = crowded
        .iter()
        .max_by_key(|(_, n)| **n)
        .expect("a crowded second");
    assert!(count >= 100, "{count}");
    let sandbox = sandbox(&emu);
    let mut conn = open(&sandbox, keys::TEST_READ_ONLY, wit::Mode::Test, 10_000);
    for (filter, keep) in [
        (
            format!(r#"{{"gte":{second}}}"#),
            Box::new(move |c: i64| c >= second) as Box<dyn Fn(i64) -> bool>,
        ),
        (
            format!(r#"{{"lt":{second}}}"#),
            Box::new(move |c: i64| c < second),
        ),
        (
            format!(r#"{{"gte":{},"lte":{second}}}"#, second - 86_400 * 30),
            Box::new(move |c: i64| c >= second - 86_400 * 30 && c <= second),
        ),
    ] {
        let want: Vec<String> = all
            .iter()
            .filter(|(_, c)| keep(*c))
            .map(|(id, _)| id.clone())
            .collect();
        let result = conn
            .query(&format!(
                r#"{{"list":"customers","filters":{{"created":{filter}}},"limit":10000}}"#
            ))
            .expect("query");
        assert_eq!(ids(&result), want, "created {filter}");
        // The user's bound is a window edge: some request asked for exactly that second as a bound.
        assert!(
            emu.requests().iter().any(|r| {
                let (gte, lt) = bounds(r);
                gte == Some(second) || lt == Some(second) || lt == Some(second + 1)
            }),
            "created {filter}: no window edge on the crowded second"
        );
        emu.clear_requests();
    }
}

/// The charges among `ids` (in their order) whose status is `status`, from the emulator's own objects.
fn charges_with_status(emu: &Emulator, ids: Vec<String>, status: &str) -> Vec<String> {
    ids.into_iter()
        .filter(|id| {
            emu.object(Resource::Charges, id)
                .and_then(|o| {
                    o.get("status")
                        .and_then(|s| s.as_str())
                        .map(|s| s == status)
                })
                .unwrap_or(false)
        })
        .collect()
}

#[test]
fn the_charges_status_scan_pages_concurrently_and_finds_what_one_cursor_finds() {
    let emu = irregular_stripe(2000);
    let sandbox = sandbox(&emu);
    let mut conn = open(&sandbox, keys::TEST_READ_ONLY, wit::Mode::Test, 10_000);
    let failed = charges_with_status(&emu, emu.ids(Resource::Charges), "failed");
    assert!(failed.len() > 10, "{} failed charges", failed.len());
    let result = conn
        .query(r#"{"list":"charges","filters":{"status":"failed"},"limit":10000}"#)
        .expect("query");
    assert_eq!(ids(&result), failed);
    assert!(!result.truncated);
    // 3,000 charges are 30 pages for one cursor.
    assert!(result.requests <= 30 + 30 / 4 + 2, "{}", result.requests);
    assert!(emu.peak_in_flight() > 1, "the scan overlapped pages");
    assert_inside_the_budget(&emu, 25);
}

/// A status scan that does not find its rows stops at exactly its bound (10 charges per wanted row): the
/// rows are the matches among that many newest charges, and the note's figures agree with each other.
#[test]
fn the_charges_status_scan_stops_at_exactly_its_bound() {
    let emu = irregular_stripe(100);
    let sandbox = sandbox(&emu);
    let mut conn = open(&sandbox, keys::TEST_READ_ONLY, wit::Mode::Test, 10_000);
    // A limit of 239 bounds the scan at 2,390 charges: not a whole number of pages. Pending charges
    // are the emulator's newest few (5%), so fewer than 239 are found.
    let newest: Vec<String> = emu.ids(Resource::Charges).into_iter().take(2390).collect();
    let pending = charges_with_status(&emu, newest, "pending");
    assert!(
        (1..239).contains(&pending.len()),
        "{} pending charges among the newest 2,390: the bound must be what stops the scan",
        pending.len()
    );
    let result = conn
        .query(r#"{"list":"charges","filters":{"status":"pending"},"limit":239}"#)
        .expect("query");
    assert_eq!(ids(&result), pending);
    assert!(result.truncated);
    assert_eq!(
        result.scan_note.as_deref(),
        Some(
            format!(
                "scanned 2390 charges and found {} with status pending; stopped at the scan bound of 2390 objects (10 per row wanted, at least 1000, at most 100000). \
                 Narrow the query with a created range, or raise limit (within max_rows), to see older ones",
                pending.len()
            )
            .as_str()
        )
    );
    assert_inside_the_budget(&emu, 25);
}

/// A limit met by every match there is, found before the scan bound: reading on for one more reaches the
/// bound first, so whether more match is not known — truncated, and the note and the CLI say why
/// rather than that the list goes on.
#[test]
fn a_limit_met_before_the_scan_bound_says_the_bound_stopped_it() {
    let emu = irregular_stripe(100);
    let all = emu.ids(Resource::Charges);
    let pending = charges_with_status(&emu, all.clone(), "pending");
    let limit = pending.len();
    // The bound (10 charges per row wanted) must end before the list does, and hold every match.
    assert!(
        (100..all.len() / 10).contains(&limit),
        "{limit} pending charges of {}",
        all.len()
    );
    let dsl = format!(r#"{{"list":"charges","filters":{{"status":"pending"}},"limit":{limit}}}"#);
    let sandbox = sandbox(&emu);
    let mut conn = open(&sandbox, keys::TEST_READ_ONLY, wit::Mode::Test, 10_000);
    let result = conn.query(&dsl).expect("query");
    assert_eq!(ids(&result), pending);
    assert!(result.truncated);
    let bound = 10 * limit;
    assert_eq!(
        result.scan_note.as_deref(),
        Some(
            format!(
                "scanned {bound} charges and found {limit} with status pending; stopped at the scan bound of {bound} objects (10 per row wanted, at least 1000, at most 100000). \
                 Narrow the query with a created range, or raise limit (within max_rows), to see older ones"
            )
            .as_str()
        )
    );
    let base = emu.base_url();
    for format in ["table", "csv"] {
        let run = run_cli(
            &[
                "--stripe-base",
                &base,
                "--compile-cache",
                "off",
                "--format",
                format,
                "query",
                &dsl,
            ],
            Some(keys::TEST_READ_ONLY),
        );
        assert_eq!(run.code, 0, "{run:?}");
        let said = format!("{}{}", run.stdout, run.stderr);
        assert!(!said.contains("the list goes on"), "{format}: {said}");
        assert!(
            said.contains("the scan stopped at its bound, so more rows may match"),
            "{format}: {said}"
        );
        assert!(
            said.contains("stopped at the scan bound of"),
            "{format}: {said}"
        );
    }
}

#[test]
fn the_component_reports_progress_to_the_host_as_pages_arrive() {
    let emu = irregular_stripe(2000);
    let sandbox = sandbox(&emu);
    let mut conn = open(&sandbox, keys::TEST_READ_ONLY, wit::Mode::Test, 10_000);
    let reports: Arc<Mutex<Vec<Progress>>> = Arc::default();
    let seen = Arc::clone(&reports);
    conn.watch(Some(Arc::new(move |p| {
        seen.lock().expect("reports").push(p)
    })));
    let result = conn
        .query(r#"{"list":"customers","limit":10000}"#)
        .expect("query");
    let reports = reports.lock().expect("reports").clone();
    // One report per page, never going back, the last one the whole call.
    assert_eq!(reports.len(), result.requests as usize, "{reports:?}");
    assert!(reports
        .windows(2)
        .all(|p| p[0].requests <= p[1].requests && p[0].rows <= p[1].rows));
    assert_eq!(
        reports.last(),
        Some(&Progress {
            requests: result.requests,
            rows: 2000
        })
    );
}

#[test]
fn no_progress_is_drawn_for_a_program_reading_stderr() {
    let emu = irregular_stripe(2000);
    let base = emu.base_url();
    let run = run_cli(
        &[
            "--stripe-base",
            &base,
            "--compile-cache",
            "off",
            "--max-rows",
            "2000",
            "query",
            r#"{"list":"customers","limit":2000}"#,
        ],
        Some(keys::TEST_READ_ONLY),
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.is_empty(), "{:?}", run.stderr);
}

/// `klairr-host emulator --log` prints every request it answers on stderr, so a budget can be checked
/// from outside: a burst above Stripe's 25 starts/s on one endpoint shows its 429s, each naming the
/// limit that refused it, and a key pasted into a URL is masked (QA: the emulator printed nothing, so
/// a client's 429s were hidden in its retries).
#[cfg(unix)]
#[test]
fn the_emulators_log_shows_what_its_rate_limiter_refused() {
    use std::io::{BufRead, BufReader, Read, Write};
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_klairr-host-under-test"))
        .args([
            "--format",
            "json",
            "emulator",
            "--port",
            "0",
            "--log",
            "--rate-limit",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("klairr-host starts");
    let mut banner = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut banner)
        .expect("banner");
    let banner: serde_json::Value = serde_json::from_str(&banner).expect("one JSON object");
    let address = banner["base_url"]
        .as_str()
        .and_then(|u| u.strip_prefix("http://"))
        .expect("base_url")
        .to_owned();
    let get = |target: String| {
        let address = address.clone();
        std::thread::spawn(move || {
            let mut stream = std::net::TcpStream::connect(&address).expect("connect");
            let request = format!(
                "GET {target} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
                keys::TEST_READ_ONLY
            );
            stream.write_all(request.as_bytes()).expect("send");
            let mut answer = String::new();
            let _ = stream.read_to_string(&mut answer);
        })
    };
    // 40 starts at once on one endpoint: at most 25 fit in its second.
    let burst: Vec<_> = (0..40)
        .map(|_| get("/v1/customers?limit=1".to_owned()))
        .collect();
    for sent in burst {
        sent.join().expect("request");
    }
    get(format!(
        "/v1/charges?limit=1&customer={}",
        keys::TEST_READ_ONLY
    ))
    .join()
    .expect("request");
    // Another key in the URL, and the tail of this one, are not this request's key: hidden by form.
    get(format!(
        "/v1/charges?limit=1&customer={}&x={}",
        keys::LIVE_READ_ONLY,
        &keys::TEST_READ_ONLY[40..]
    ))
    .join()
    .expect("request");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let logged: Vec<serde_json::Value> = (0..42)
        .map(|_| {
            let line = lines.next().expect("a line per request").expect("text");
            serde_json::from_str(&line).expect("one JSON object per line")
        })
        .collect();
    let _ = child.kill();
    let _ = child.wait();
    let customers: Vec<_> = logged
        .iter()
        .filter(|r| r["path"] == "/v1/customers")
        .collect();
    assert_eq!(customers.len(), 40, "{logged:?}");
    let refused = customers.iter().filter(|r| r["status"] == 429).count();
    assert!(refused >= 15, "at most 25 of 40 admitted: {logged:?}");
    for r in &customers {
        let limited = if r["status"] == 429 {
            serde_json::json!("endpoint-rate")
        } else {
            serde_json::Value::Null
        };
        assert_eq!(
            (&r["rate_limited"], &r["method"]),
            (&limited, &serde_json::json!("GET")),
            "{r}"
        );
        assert!(r["at_seconds"].as_f64().is_some_and(|s| s >= 0.0), "{r}");
    }
    let pasted: Vec<_> = logged
        .iter()
        .filter(|r| r["path"] == "/v1/charges")
        .collect();
    assert_eq!(pasted.len(), 2, "{logged:?}");
    let text = format!("{pasted:?}");
    klairr_e2e::assert_no_key(keys::TEST_READ_ONLY, &text, "the emulator's log");
    klairr_e2e::assert_no_key(keys::LIVE_READ_ONLY, &text, "the emulator's log");
    assert!(!text.contains(&keys::TEST_READ_ONLY[40..]), "{text}");
}

/// Two hosts reading with one key at once (two `klairr-host query` processes, say) each keep within
/// their own budget, yet together go past the account's: the upstream answers 429. Each host then
/// holds its pace down until the 429s stop, and every retry of a query is charged once however many
/// requests wait together. Both answers come back (QA: of two such queries of 200 pages each, one or
/// both failed, "gave up after 5 attempts"; so did this test, twice in two runs, before).
#[test]
fn two_hosts_sharing_an_account_both_get_their_answers() {
    let emu = emulator_with(EmulatorConfig {
        charges: 20_000,
        timeline: Timeline::Irregular,
        rate_limit: Some(RateLimit::STRIPE),
        ..EmulatorConfig::default()
    });
    let results: Vec<Result<u32, String>> = std::thread::scope(|scope| {
        let runs: Vec<_> = ["currency", "status"]
            .into_iter()
            .map(|column| {
                let emu = &emu;
                scope.spawn(move || {
                    // A sandbox of its own: its own host, its own budget.
                    let sandbox = sandbox(emu);
                    let mut conn = open(&sandbox, keys::TEST_READ_ONLY, wit::Mode::Test, 1000);
                    let query = format!(
                        r#"{{"list":"charges","group_by":["{column}"],"measures":{{"n":"count"}}}}"#
                    );
                    conn.query(&query)
                        .map(|r| r.requests)
                        .map_err(|e| format!("{e:?}"))
                })
            })
            .collect();
        runs.into_iter()
            .map(|run| run.join().expect("query thread"))
            .collect()
    });
    for result in &results {
        assert!(result.is_ok(), "{results:?}");
    }
    let refused = emu.requests().iter().filter(|r| r.status == 429).count();
    assert!(refused > 0, "the two hosts did go past the account's limit");
}
