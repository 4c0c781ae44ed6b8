//! The host holds the line against a hostile upstream (issue 8, "Proof"): loopback servers that drip,
//! stall a TLS handshake, send 9 MiB without a length or a megabyte of headers, inject terminal escape
//! sequences, send huge or key-echoing messages, or redirect to another origin — met by the real Stripe
//! component (built in, `--stripe-base` pointing at the upstream) and by the hostile component. Every test
//! asserts on what reached the upstreams and on the host's output (exit status, JSON error kind,
//! stdout/stderr), never on what a guest reports about itself.

use klairr_e2e::hostile_support::{
    assert_ends_at_the_deadline, assert_no_terminal_control, hostile, json_error, xorshift_key,
    ESCAPES,
};
use klairr_e2e::hostile_upstream::{Behaviour, Upstream, NINE_MIB};
use klairr_e2e::{assert_no_key, emulator, run_cli, CliRun};
use klairr_host::emulator::Resource;
use klairr_host::policy::redact::MESSAGE_CAP;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

// ---- helpers ------------------------------------------------------------------------------------------

/// `rk_test_` + 100 letters and digits from a fixed xorshift sequence: a made-up key of real length.
fn test_key() -> String {
    xorshift_key("rk_test_", 0x2545_F491_4F6C_DD1D)
}

/// The one customers query the Stripe component runs in these tests.
const ONE_CUSTOMER: &str = r#"{"list":"customers","limit":1}"#;

/// `klairr-host --stripe-base <base> ARGS` (the built-in Stripe component) with the test key.
fn stripe(base: &str, args: &[&str]) -> CliRun {
    let mut all = vec!["--stripe-base", base];
    all.extend_from_slice(args);
    run_cli(&all, Some(&test_key()))
}

// ---- deadlines: waits on the network end with the call ------------------------------------------------

/// The call timeout of the deadline tests.
const TIMEOUT: u64 = 3;

#[test]
fn the_stripe_component_on_a_dripping_upstream_ends_at_the_call_deadline() {
    let drip = Upstream::start(Behaviour::Drip {
        every: Duration::from_secs(2),
    })
    .expect("upstream");
    assert_ends_at_the_deadline(TIMEOUT, ONE_CUSTOMER, |args| stripe(&drip.base_url(), args));
    assert!(!drip.requests().is_empty(), "the request did go out");
}

#[test]
fn the_stripe_component_on_a_stalled_tls_handshake_ends_at_the_call_deadline() {
    let silent = Upstream::start(Behaviour::AcceptThenSilence).expect("upstream");
    assert_ends_at_the_deadline(TIMEOUT, ONE_CUSTOMER, |args| {
        stripe(&silent.https_base_url(), args)
    });
    assert!(silent.connections() >= 1, "the handshake was started");
    assert!(
        silent.requests().is_empty(),
        "no HTTP request can pass a handshake that never completes"
    );
}

#[test]
fn the_hostile_guest_reading_a_dripping_body_ends_at_the_call_deadline() {
    let drip = Upstream::start(Behaviour::Drip {
        every: Duration::from_secs(2),
    })
    .expect("upstream");
    let read = json!([{"http": {"path": "/v1/customers?limit=1"}}]).to_string();
    assert_ends_at_the_deadline(TIMEOUT, &read, |args| hostile(&drip, args, &test_key()));
    assert_eq!(drip.requests().len(), 1);
}

// ---- responses too big for the host -------------------------------------------------------------------

/// A response the host refuses to take whole: the call fails with a typed connector error, promptly, and
/// the host carries on (these tests run the CLI in-process: a crash would take the test down).
fn assert_refused_response(upstream: &Upstream) -> String {
    let started = Instant::now();
    let run = stripe(
        &upstream.base_url(),
        &[
            "--call-timeout",
            "60",
            "--format",
            "json",
            "query",
            ONE_CUSTOMER,
        ],
    );
    assert_eq!(run.code, 1, "{run:?}");
    let (kind, message) = json_error(&run);
    assert!(
        kind == "upstream" || kind == "network",
        "a typed error about the response, got {kind}: {message}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    assert!(message.len() <= MESSAGE_CAP + 64, "{}", message.len());
    message
}

#[test]
fn a_nine_mib_body_without_a_length_is_an_error_not_a_crash() {
    let huge = Upstream::start(Behaviour::HugeChunked { bytes: NINE_MIB }).expect("upstream");
    let message = assert_refused_response(&huge);
    assert!(
        message.contains("8388608") || message.contains("8 MiB"),
        "the message names the limit: {message}"
    );
    // Cut at the cap by the host, as final as a declared length over it: one attempt, not retried.
    assert_eq!(huge.requests().len(), 1, "not retried: {message}");
    assert!(message.contains("not retried"), "{message}");
}

/// A length declared past 32 bits (the component's `usize`) is over the cap like any other: refused at
/// once, not waited for until the body stalls (it used to take the 30 s between-bytes timeout, twice).
#[test]
fn a_declared_length_past_32_bits_is_refused_at_once() {
    for declared in [4_294_967_296u64, 5_000_000_000] {
        let upstream = Upstream::start(Behaviour::Declared { declared }).expect("upstream");
        let started = Instant::now();
        let message = assert_refused_response(&upstream);
        assert!(message.contains("8388608"), "{declared}: {message}");
        assert!(message.contains("not retried"), "{declared}: {message}");
        assert_eq!(upstream.requests().len(), 1, "{declared}: one attempt");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{declared}: at once, not after a timeout: {:?}",
            started.elapsed()
        );
    }
}

/// `Stripe-Should-Retry: True` is `true`: header values are compared without case. A value that is
/// neither leaves the decision to the connector's own rules (a 503 is retried either way).
#[test]
fn should_retry_is_read_in_any_case() {
    for value in ["True", "TRUE", "1", "maybe"] {
        let upstream = Upstream::start(Behaviour::ShouldRetry {
            values: vec![value.into()],
        })
        .expect("upstream");
        let run = stripe(
            &upstream.base_url(),
            &["--format", "json", "query", ONE_CUSTOMER],
        );
        assert_eq!(run.code, 1, "{value}: {run:?}");
        assert!(
            upstream.requests().len() > 1,
            "{value}: retried, {} attempt(s)",
            upstream.requests().len()
        );
    }
    // `false` in any case is one attempt; so is `false` followed by a second header that says nothing
    // (review: the last value won, and a 503 marked not to retry was tried five times).
    for values in [vec!["FALSE"], vec!["false", "maybe"]] {
        let upstream = Upstream::start(Behaviour::ShouldRetry {
            values: values.iter().map(|v| (*v).to_owned()).collect(),
        })
        .expect("upstream");
        let run = stripe(
            &upstream.base_url(),
            &["--format", "json", "query", ONE_CUSTOMER],
        );
        assert_eq!(run.code, 1, "{values:?}: {run:?}");
        assert_eq!(
            upstream.requests().len(),
            1,
            "{values:?}: false in any case, whatever follows: one attempt"
        );
    }
}

#[test]
fn a_megabyte_of_response_headers_is_an_error_not_a_crash() {
    let huge = Upstream::start(Behaviour::HugeHeaders).expect("upstream");
    assert_refused_response(&huge);
    assert!(!huge.requests().is_empty());
}

// ---- what upstreams say, as the host prints it --------------------------------------------------------

#[test]
fn escape_sequences_in_an_upstream_error_never_reach_the_terminal() {
    let upstream = Upstream::start(Behaviour::StripeError {
        status: 400,
        message: format!("No such customer {ESCAPES} end"),
    })
    .expect("upstream");
    let run = stripe(&upstream.base_url(), &["query", ONE_CUSTOMER]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("No such customer") && run.stderr.contains("end"),
        "the message was printed: {run:?}"
    );
    assert_no_terminal_control(&run);
}

#[test]
fn escape_sequences_in_a_customer_name_never_reach_the_terminal() {
    // A real customer object (the emulator's), served by a hostile upstream with a poisoned name.
    let emu = emulator();
    let id = emu.ids(Resource::Customers)[0].clone();
    let mut customer = emu
        .object(Resource::Customers, &id)
        .expect("the emulator's customer");
    let name = format!("Mallory {ESCAPES} end");
    customer["name"] = Value::String(name.clone());
    let page =
        json!({"object": "list", "url": "/v1/customers", "has_more": false, "data": [customer]});
    let upstream = Upstream::start(Behaviour::Json {
        status: 200,
        body: page.to_string(),
    })
    .expect("upstream");

    // JSON keeps the data as it is (escaped by JSON itself): the name really is in the output path.
    let run = stripe(
        &upstream.base_url(),
        &["--format", "json", "query", ONE_CUSTOMER],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let v = run.json();
    let rows = v["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 1, "{v}");
    assert!(
        rows[0]
            .as_array()
            .expect("a row")
            .contains(&Value::String(name)),
        "{v}"
    );

    let run = stripe(&upstream.base_url(), &["query", ONE_CUSTOMER]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("Mallory") && run.stdout.contains(&id),
        "the row was printed: {}",
        run.stdout
    );
    assert_no_terminal_control(&run);
}

#[test]
fn a_200_kb_upstream_message_is_printed_capped() {
    let upstream = Upstream::start(Behaviour::StripeError {
        status: 400,
        message: format!("Invalid request: {}", "x".repeat(200_000)),
    })
    .expect("upstream");
    let run = stripe(
        &upstream.base_url(),
        &["--format", "json", "query", ONE_CUSTOMER],
    );
    assert_eq!(run.code, 1, "{run:?}");
    let (kind, message) = json_error(&run);
    assert_eq!(kind, "upstream", "{message}");
    assert!(message.starts_with("Invalid request"), "{message}");
    assert!(
        message.len() <= MESSAGE_CAP + 100,
        "{} bytes printed",
        message.len()
    );
    // The connector passes on Stripe's first 500 characters, so that what it adds after them stays
    // within what the host shows.
    let (kept, after) = message
        .split_once('…')
        .unwrap_or_else(|| panic!("cut: {message}"));
    assert_eq!(kept.chars().count(), 500, "{message}");
    assert!(!after.contains("xxxx"), "{message}");

    let run = stripe(&upstream.base_url(), &["query", ONE_CUSTOMER]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.len() <= MESSAGE_CAP + 100,
        "{} bytes printed: {}",
        run.stderr.len(),
        &run.stderr[..200.min(run.stderr.len())]
    );
}

#[test]
fn an_upstream_echoing_the_key_is_redacted() {
    let key = test_key();
    // A 400 (a 401 becomes the component's own invalid-key message, which quotes nothing upstream said).
    let upstream = Upstream::start(Behaviour::StripeError {
        status: 400,
        message: format!(
            "Invalid API Key provided: {key} (or, in part, {})",
            &key[40..60]
        ),
    })
    .expect("upstream");
    for format in ["table", "json"] {
        let run = stripe(
            &upstream.base_url(),
            &["--format", format, "query", ONE_CUSTOMER],
        );
        assert_ne!(run.code, 0, "{run:?}");
        let shown = format!("{}{}", run.stdout, run.stderr);
        assert!(
            shown.contains("Invalid API Key provided") && shown.contains("[redacted]"),
            "the message was printed, redacted: {run:?}"
        );
        assert_no_key(&key, &run.stdout, "stdout");
        assert_no_key(&key, &run.stderr, "stderr");
    }
}

/// A Stripe key's body starts with `5` and its account's id (acct_1PgafTB7WZ01zgkW's keys are
/// `rk_test_51PgafTB7WZ01zgkW…`), and the ids of the account's charges repeat the account's last 10
/// characters: one in ~1,300 shares 12 with the key. Those ids come back whole, in every format, while the
/// key's secret part, echoed in the same page, is still masked.
#[test]
fn ids_sharing_the_keys_account_name_come_back_whole_and_its_secret_does_not() {
    let account = "1PgafTB7WZ01zgkW";
    let key = xorshift_key(&format!("rk_test_5{account}"), 0x9E37_79B9_7F4A_7C15);
    let secret = &key["rk_test_5".len() + account.len()..];
    // Two characters beside the account's last 10 like the key's: "fT" before them, "q8"-like after.
    let ids = [
        "ch_3PgbfTB7WZ01zgkW0XYmPNZs".to_owned(),
        format!("ch_3Pgb9xB7WZ01zgkW{}XYmPNZ", &secret[..2]),
    ];
    let emu = emulator();
    let template = emu
        .object(Resource::Charges, &emu.ids(Resource::Charges)[0])
        .expect("the emulator's charge");
    let data: Vec<Value> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let mut charge = template.clone();
            charge["id"] = Value::String(id.clone());
            charge["payment_intent"] = Value::String(id.replace("ch_", "pi_"));
            charge["created"] = json!(1_767_225_600 - i as i64);
            charge["failure_message"] = Value::String(format!("echo {}", &secret[20..50]));
            charge
        })
        .collect();
    let page = json!({"object": "list", "url": "/v1/charges", "has_more": false, "data": data});
    let upstream = Upstream::start(Behaviour::Json {
        status: 200,
        body: page.to_string(),
    })
    .expect("upstream");
    let query = r#"{"list":"charges","limit":2}"#;
    let args = |format| {
        [
            "--stripe-base",
            &upstream.base_url(),
            "--format",
            format,
            "--columns",
            "id,payment_intent,failure_message",
            "query",
            query,
        ]
        .map(str::to_owned)
    };
    for format in ["json", "csv", "table"] {
        let run = run_cli(
            &args(format).iter().map(String::as_str).collect::<Vec<_>>(),
            Some(&key),
        );
        assert_eq!(run.code, 0, "{run:?}");
        for id in &ids {
            assert!(
                run.stdout.contains(id.as_str()),
                "{format}: {id} whole in {}",
                run.stdout
            );
            let intent = id.replace("ch_", "pi_");
            assert!(
                run.stdout.contains(&intent),
                "{format}: {intent} whole in {}",
                run.stdout
            );
        }
        assert!(
            run.stdout.contains("echo [redacted]"),
            "{format}: {}",
            run.stdout
        );
        assert_no_key(secret, &run.stdout, "stdout");
        assert_no_key(secret, &run.stderr, "stderr");
    }
}

/// The key cut into pieces by characters no one sees, each piece shorter than the run redaction looks for.
fn key_cut_by(key: &str, unseen: &str) -> String {
    key.as_bytes()
        .chunks(6)
        .map(|c| std::str::from_utf8(c).expect("an ASCII key"))
        .collect::<Vec<_>>()
        .join(unseen)
}

#[test]
fn a_key_cut_by_unseen_characters_is_redacted_in_every_format() {
    // Table and CSV output drop control characters: done after redaction, that joined the pieces again
    // into the whole key. JSON kept them, one invisible character apart.
    let key = test_key();
    let emu = emulator();
    let id = emu.ids(Resource::Customers)[0].clone();
    for unseen in [
        "\u{7}", "\x1b[0m", "\u{200b}", "\x1b", "\u{2800}", "\x1b7", "\x1b=",
    ] {
        let mut customer = emu
            .object(Resource::Customers, &id)
            .expect("the emulator's customer");
        customer["name"] = Value::String(format!("Mallory {}", key_cut_by(&key, unseen)));
        let page = json!({"object": "list", "url": "/v1/customers", "has_more": false, "data": [customer]});
        let rows = Upstream::start(Behaviour::Json {
            status: 200,
            body: page.to_string(),
        })
        .expect("upstream");
        let error = Upstream::start(Behaviour::StripeError {
            status: 400,
            message: format!("No such thing: {}", key_cut_by(&key, unseen)),
        })
        .expect("upstream");
        for format in ["table", "csv", "json", "ndjson"] {
            let run = stripe(
                &rows.base_url(),
                &["--format", format, "query", ONE_CUSTOMER],
            );
            assert_eq!(run.code, 0, "{unseen:?} {format}: {run:?}");
            assert!(
                run.stdout.contains("Mallory") && run.stdout.contains("[redacted]"),
                "{unseen:?} {format}: the row was printed, its name redacted: {}",
                run.stdout
            );
            assert_no_key(&key, &run.stdout, "stdout");
            let run = stripe(
                &error.base_url(),
                &["--format", format, "query", ONE_CUSTOMER],
            );
            assert_eq!(run.code, 1, "{unseen:?} {format}: {run:?}");
            let shown = format!("{}{}", run.stdout, run.stderr);
            assert!(
                shown.contains("No such thing") && shown.contains("[redacted]"),
                "{unseen:?} {format}: {shown}"
            );
            assert_no_key(&key, &shown, "the error");
        }
    }
}

// ---- redirects ----------------------------------------------------------------------------------------

#[test]
fn a_redirect_to_another_origin_is_never_followed() {
    let elsewhere = Upstream::start(Behaviour::Ok).expect("second upstream");
    let redirect = Upstream::start(Behaviour::Redirect {
        to: format!("{}/v1/customers?limit=1", elsewhere.base_url()),
    })
    .expect("upstream");
    let run = stripe(
        &redirect.base_url(),
        &["--format", "json", "query", ONE_CUSTOMER],
    );
    assert_eq!(run.code, 1, "{run:?}");
    let (kind, message) = json_error(&run);
    assert_eq!(kind, "upstream", "a typed error: {message}");
    assert!(message.contains("302"), "{message}");
    assert!(!redirect.requests().is_empty());
    assert!(
        elsewhere.requests().is_empty(),
        "{:?}",
        elsewhere.requests()
    );
    assert_eq!(
        elsewhere.connections(),
        0,
        "the redirect's target was never contacted"
    );
}

/// The control: against a well-behaved upstream the same command succeeds, so the failures above are the
/// hostile behaviours', not something about loopback upstreams or the made-up key.
#[test]
fn a_well_behaved_upstream_answers_the_same_query() {
    let ok = Upstream::start(Behaviour::Ok).expect("upstream");
    let run = stripe(&ok.base_url(), &["--format", "json", "query", ONE_CUSTOMER]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["rows"], json!([]));
    let log = ok.requests();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].path(), "/v1/customers");
}
