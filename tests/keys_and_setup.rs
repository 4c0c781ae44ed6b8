//! Issue 3 end to end: which keys the built Stripe component accepts, what setup verification sends to
//! (the emulated) Stripe to prove a key is read-only, and that the key never leaks into anything a user,
//! a log or an LLM could see.

use klairr_e2e::{
    assert_no_key, config, emulator, emulator_with, error_kind, keys, run_cli, sandbox, temp_dir,
    upstream_of, CliRun, TABLES,
};
use klairr_host::emulator::{Emulator, EmulatorConfig, Fault, KeyGrant, RecordedRequest, Resource};
use klairr_host::policy::origin::LoopbackBase;
use klairr_host::registry;
use klairr_host::sandbox::{wit, Sandbox, SandboxError, SandboxOptions};
use std::time::{Duration, Instant};

/// The write probes as setup reports them, in table order.
const COMPONENT_PROBES: [&str; 5] = [
    "DELETE /v1/customers/{id}",
    "DELETE /v1/subscriptions/{id}",
    "DELETE /v1/invoices/{id}",
    "POST /v1/charges/{id}/capture",
    "POST /v1/payouts/{id}/cancel",
];

/// The write probes the host sends itself, on resources the connector never reads (stripe.toml).
const HOST_PROBES: [&str; 15] = [
    "POST /v1/refunds/re_klairr_probe_host",
    "POST /v1/transfers/tr_klairr_probe_host",
    "POST /v1/credit_notes/cn_klairr_probe_host",
    "POST /v1/payment_intents/pi_klairr_probe_host",
    "POST /v1/disputes/dp_klairr_probe_host",
    "POST /v1/payment_methods/pm_klairr_probe_host",
    "POST /v1/checkout/sessions/cs_klairr_probe_host",
    "POST /v1/webhook_endpoints/we_klairr_probe_host",
    "POST /v1/products/prod_klairr_probe_host",
    "POST /v1/prices/price_klairr_probe_host",
    "POST /v1/coupons/co_klairr_probe_host",
    "POST /v1/promotion_codes/promo_klairr_probe_host",
    "POST /v1/tax_rates/txr_klairr_probe_host",
    "POST /v1/payment_links/plink_klairr_probe_host",
    "POST /v1/setup_intents/seti_klairr_probe_host",
];

/// Every write probe a report lists as refused: the component's, then the host's, in manifest order.
fn probes_shown() -> Vec<String> {
    COMPONENT_PROBES
        .iter()
        .chain(&HOST_PROBES)
        .map(|p| (*p).to_owned())
        .collect()
}

/// Setup's requests for a read-only key: five reads, five writes of the component's, fifteen of the
/// host's.
const SETUP_REQUESTS: u32 = 25;

/// (method, path before the id, id prefix, path after the id) of each write probe.
const PROBES_SENT: [(&str, &str, &str, &str); 5] = [
    ("DELETE", "/v1/customers/", "cus_", ""),
    ("DELETE", "/v1/subscriptions/", "sub_", ""),
    ("DELETE", "/v1/invoices/", "in_", ""),
    ("POST", "/v1/charges/", "ch_", "/capture"),
    ("POST", "/v1/payouts/", "po_", "/cancel"),
];

/// A well-formed restricted test key the emulator does not know.
const UNKNOWN_TEST_KEY: &str = "rk_test_51KlairrMadeUpNotRegisteredKey0001FpKxkb6Cy6IBnMrQFGdd3q5S7kFImW3pEUyC16F2IpzX1E0OuCmyUOSvW9UEh0001";
/// A well-formed restricted live key the emulator does not know.
const UNKNOWN_LIVE_KEY: &str = "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";
/// A test-mode key whose account (wrongly) serves livemode objects: Stripe-side mode confusion.
const LIVEMODE_OBJECTS_TEST_KEY: &str = "rk_test_51KlairrMadeUpServesLiveObjects003IwcDs4clqnSa07blr5v7Xsktf3Xv2xhLTRr8e1I11Rfogiy7gSzNkhZxI0fpes003";

fn open_err(sandbox: &Sandbox, key: &str, mode: wit::Mode) -> SandboxError {
    match sandbox.open(&config(key, mode)) {
        Ok(_) => panic!("{key:?} in {mode:?} mode was accepted by open"),
        Err(e) => e,
    }
}

fn verify_err(sandbox: &Sandbox, key: &str, mode: wit::Mode) -> SandboxError {
    let mut conn = sandbox.open(&config(key, mode)).expect("open");
    conn.verify().expect_err("verification must fail")
}

/// An emulator that also knows [`LIVEMODE_OBJECTS_TEST_KEY`].
fn emulator_with_livemode_confusion() -> Emulator {
    let mut keys = keys::all();
    keys.push(keys::read_only(LIVEMODE_OBJECTS_TEST_KEY, true));
    emulator_with(EmulatorConfig {
        keys,
        ..EmulatorConfig::default()
    })
}

#[test]
fn a_read_only_test_key_is_accepted_after_five_reads_and_twenty_refused_writes() {
    let emu = emulator();
    let sandbox = sandbox(&emu);
    let mut conn = sandbox
        .open(&config(keys::TEST_READ_ONLY, wit::Mode::Test))
        .expect("open");
    assert!(emu.requests().is_empty(), "open is offline");

    let report = conn.verify().expect("a read-only key passes setup");
    assert_eq!(report.mode, wit::Mode::Test);
    assert_eq!(report.readable, TABLES);
    assert_eq!(report.write_probes_refused, probes_shown());
    assert_eq!(report.requests, SETUP_REQUESTS);

    let seen = emu.requests();
    assert_eq!(seen.len(), SETUP_REQUESTS as usize, "{seen:#?}");
    // Customers alone first, then the other four reads at once, then the component's five writes at
    // once, then the host's fifteen: within a group the order is the network's, so each group is put
    // in table order to be checked.
    let mut seen: Vec<&RecordedRequest> = seen.iter().collect();
    let table_of = |req: &&RecordedRequest| {
        TABLES.iter().position(|t| {
            req.path
                .strip_prefix("/v1/")
                .is_some_and(|p| p.starts_with(t))
        })
    };
    seen[1..5].sort_by_key(table_of);
    seen[5..10].sort_by_key(table_of);
    for (req, table) in seen[..5].iter().zip(TABLES) {
        assert_eq!(req.method, "GET", "{req:?}");
        assert_eq!(req.path, format!("/v1/{table}"), "{req:?}");
        assert_eq!(req.query, "limit=1", "{req:?}");
        assert_eq!(req.status, 200, "{req:?}");
    }
    for (req, (method, before, id_prefix, after)) in seen[5..10].iter().zip(PROBES_SENT) {
        assert_eq!(req.method, method, "{req:?}");
        assert!(req.query.is_empty(), "{req:?}");
        let id = req
            .path
            .strip_prefix(before)
            .and_then(|rest| rest.strip_suffix(after))
            .unwrap_or_else(|| panic!("{req:?} is not {method} {before}{{id}}{after}"));
        let body = id
            .strip_prefix(id_prefix)
            .unwrap_or_else(|| panic!("probe id {id} lacks {id_prefix}"));
        assert!(
            body.contains('_'),
            "probe id {id} could exist: no '_' after {id_prefix}"
        );
        assert_eq!(req.status, 403, "a read-only key is refused: {req:?}");
    }
    // The host's own: each exactly as the manifest writes it, without a body, refused.
    let mut host: Vec<String> = seen[10..]
        .iter()
        .map(|req| {
            assert!(req.query.is_empty(), "{req:?}");
            assert_eq!(req.status, 403, "a read-only key is refused: {req:?}");
            format!("{} {}", req.method, req.path)
        })
        .collect();
    host.sort();
    let mut expected = HOST_PROBES.map(str::to_owned).to_vec();
    expected.sort();
    assert_eq!(host, expected);
    for req in &seen {
        assert_eq!(req.key_hint.as_deref(), Some("rk_test_…0000"), "{req:?}");
        // The setup page: "Stripe API version is pinned to 2026-04-22.dahlia" — setup's probes too,
        // the host's own fifteen included (a probe answered under another version proves nothing of
        // this one), each addressed to api.stripe.com however the request was redirected.
        assert_eq!(
            req.stripe_version.as_deref(),
            Some("2026-04-22.dahlia"),
            "{req:?}"
        );
        assert_eq!(req.host.as_deref(), Some("api.stripe.com"), "{req:?}");
    }
}

#[test]
fn setup_sends_its_probes_together_in_five_round_trips() {
    // At Stripe's latency twenty-five probes one after the other take seconds; setup makes five round
    // trips: the customers read alone (an unknown key is told by one request), the other four reads at
    // once, then the component's five writes at once, then the host's fifteen, eight at once (the
    // manifest's in-flight limit) and the other seven as those are answered.
    let emu = emulator_with(EmulatorConfig {
        latency: Duration::from_millis(150),
        ..EmulatorConfig::default()
    });
    let sandbox = sandbox(&emu);
    let mut conn = sandbox
        .open(&config(keys::TEST_READ_ONLY, wit::Mode::Test))
        .expect("open");
    let report = conn.verify().expect("a read-only key passes setup");
    assert_eq!(report.requests, SETUP_REQUESTS);
    assert_eq!(
        emu.peak_in_flight(),
        8,
        "the host's eight write probes were out at once"
    );
    let seen = emu.requests();
    let at = |path: &str| {
        seen.iter()
            .find(|r| r.path.starts_with(path))
            .map(|r| r.arrived)
            .unwrap_or_else(|| panic!("no request for {path}: {seen:#?}"))
    };
    let customers = at("/v1/customers");
    let reads: Vec<_> = TABLES[1..]
        .iter()
        .map(|t| at(&format!("/v1/{t}")))
        .collect();
    let writes: Vec<_> = seen[5..10].iter().map(|r| r.arrived).collect();
    let host_writes: Vec<_> = seen[10..].iter().map(|r| r.arrived).collect();
    // Each group starts after the one before has been answered, and is sent all at once.
    let latency = Duration::from_millis(150);
    for read in &reads {
        assert!(
            *read >= customers + latency,
            "a read went out before customers was answered"
        );
    }
    let last_read = reads.iter().max().copied().unwrap_or(customers);
    let first_write = writes.iter().min().copied().unwrap_or(last_read);
    assert!(
        first_write >= last_read + latency,
        "a write went out before the reads were answered"
    );
    let last_write = writes.iter().max().copied().unwrap_or(first_write);
    let mut host_writes = host_writes;
    host_writes.sort();
    assert_eq!(host_writes.len(), 15, "{seen:#?}");
    let (first_eight, the_rest) = host_writes.split_at(8);
    assert!(
        first_eight[0] >= last_write + latency,
        "a probe of the host's went out before the component's were answered"
    );
    assert!(
        first_eight[7] < first_eight[0] + latency,
        "the host's first eight probes went out together"
    );
    // The other seven as the first are answered (the test credential's budget of 24 starts a second
    // may hold the last one back a little longer).
    assert!(
        the_rest[0] >= first_eight[0] + latency,
        "a ninth probe of the host's went out while eight were in flight"
    );
}

#[test]
fn a_read_only_live_key_is_accepted_in_live_mode_and_reads_livemode_objects() {
    let emu = emulator();
    let sandbox = sandbox(&emu);
    let mut conn = sandbox
        .open(&config(keys::LIVE_READ_ONLY, wit::Mode::Live))
        .expect("open");
    let report = conn.verify().expect("a live read-only key passes setup");
    assert_eq!(report.mode, wit::Mode::Live);
    assert_eq!(report.readable, TABLES);
    assert_eq!(report.write_probes_refused, probes_shown());
    assert_eq!(report.requests, SETUP_REQUESTS);

    for table in TABLES {
        let result = conn
            .query(&format!(r#"{{"list":"{table}","limit":3}}"#))
            .expect(table);
        assert_eq!(result.rows.len(), 3, "{table}");
        let livemode = klairr_e2e::column_index(&result.columns, "livemode");
        for row in &result.rows {
            assert_eq!(row[livemode], wit::Cell::Boolean(true), "{table}: {row:?}");
        }
    }
}

/// Keys refused before any request: the kind, and not one request reaches Stripe.
#[test]
fn malformed_secret_and_wrong_mode_keys_are_refused_offline() {
    use wit::Mode::{Live, Test};
    let cases: &[(&str, wit::Mode, &str)] = &[
        (keys::TEST_SECRET, Test, "secret-key-rejected"),
        (keys::LIVE_SECRET, Live, "secret-key-rejected"),
        // A secret key is refused as such whatever the configured mode.
        (keys::LIVE_SECRET, Test, "secret-key-rejected"),
        (
            "sk_org_live_51KlairrMadeUpOrgKey000000000",
            Live,
            "secret-key-rejected",
        ),
        (
            "  sk_test_51KlairrMadeUpSecretKey00000000\n",
            Test,
            "secret-key-rejected",
        ),
        (
            "pk_test_51KlairrMadeUpPublishableKey0000",
            Test,
            "invalid-key",
        ),
        (
            "pk_live_51KlairrMadeUpPublishableKey0000",
            Live,
            "invalid-key",
        ),
        (
            "whsec_51KlairrMadeUpWebhookSecret00000",
            Test,
            "invalid-key",
        ),
        ("", Test, "invalid-key"),
        (" \t\n", Live, "invalid-key"),
        // Truncated: the prefix and a few characters.
        ("rk_test_", Test, "invalid-key"),
        ("rk_test_51KlairrEmu", Test, "invalid-key"),
        ("rk_live_51Kla", Live, "invalid-key"),
        // Junk characters: a hyphen, inner spaces, quotes, a non-ASCII letter, a zero-width space.
        (
            "rk_test_51KlairrEmulator-ReadOnlyAllFive0000",
            Test,
            "invalid-key",
        ),
        (
            "rk_test_51Klairr Emulator ReadOnly0000",
            Test,
            "invalid-key",
        ),
        (
            "\"rk_test_51KlairrEmulatorReadOnlyAllFive0000OX9YIMtCFIPzgNZpBdfdYfkM51ZFfOwBsRhae56YuHqQG0EYn1YGqDVPsFf50000\"",
            Test,
            "invalid-key",
        ),
        (
            "rk_test_51KlairrÉmulatorReadOnlyAllFive0000",
            Test,
            "invalid-key",
        ),
        (
            "rk_test_51KlairrEmulatorReadOnlyAllFive0000OX9YIMtCFIPzgNZpBdfdYfkM51ZFfOwBsRhae56YuHqQG0EYn1YGqDVPsFf50000\u{200b}",
            Test,
            "invalid-key",
        ),
        ("rk_51KlairrMadeUpNoModeInTheKey000000", Test, "invalid-key"),
        (
            "Bearer rk_test_51KlairrEmulatorReadOnlyAllFive0000OX9YIMtCFIPzgNZpBdfdYfkM51ZFfOwBsRhae56YuHqQG0EYn1YGqDVPsFf50000",
            Test,
            "invalid-key",
        ),
        // Mode mismatch, both ways.
        (keys::TEST_READ_ONLY, Live, "mode-mismatch"),
        (keys::LIVE_READ_ONLY, Test, "mode-mismatch"),
    ];
    let emu = emulator();
    let sandbox = sandbox(&emu);
    for &(key, mode, kind) in cases {
        let err = open_err(&sandbox, key, mode);
        assert_eq!(error_kind(&err), kind, "{key:?} in {mode:?}: {err}");
        let message = err.to_string();
        assert!(!message.is_empty(), "{key:?}");
        if kind == "secret-key-rejected" {
            assert!(
                message.contains("restricted"),
                "says what to use: {message}"
            );
        }
        if kind == "mode-mismatch" {
            assert!(
                message.contains("test") && message.contains("live"),
                "{message}"
            );
        }
    }
    // An organisation key is `sk_org…` even when restricted: it is told apart from a secret key, so a
    // user who made a restricted one learns why it is refused all the same (review).
    let message = open_err(&sandbox, "sk_org_live_51KlairrMadeUpOrgKey000000000", Live).to_string();
    assert!(
        message.starts_with("organisation keys (sk_org…) are refused, restricted ones too"),
        "{message}"
    );
    assert!(message.contains("Create restricted key"), "{message}");
    // A key that is only a published prefix holds no secret: its refusal keeps the advice that names
    // the prefixes, unmasked.
    for (key, says) in [
        ("rk_", "expected a restricted key rk_test_…"),
        (
            "rk_test_",
            "after rk_test_ Stripe keys have only letters and digits, at least 16",
        ),
        (
            " rk_live_\n",
            "after rk_live_ Stripe keys have only letters and digits, at least 16",
        ),
    ] {
        let message = open_err(&sandbox, key, Test).to_string();
        assert!(message.contains(says), "{key:?}: {message}");
        assert!(!message.contains("[redacted]"), "{key:?}: {message}");
    }
    assert!(
        emu.requests().is_empty(),
        "offline checks made requests: {:?}",
        emu.requests()
    );

    // Surrounding whitespace is trimmed, not a reason to refuse.
    let padded = format!("  {}\n", keys::TEST_READ_ONLY);
    let mut conn = sandbox
        .open(&config(&padded, Test))
        .expect("a padded key opens");
    assert_eq!(conn.verify().expect("verify").requests, SETUP_REQUESTS);
}

/// A value too short to be a key is refused with advice that can be read: masked whole, `e` garbled
/// every `e` of the message, and the CLI's second pass masked the `e` of each `[redacted]` (QA).
#[test]
fn a_value_too_short_to_be_a_key_is_refused_in_words_that_can_be_read() {
    for value in ["e", "rk_test_e", "rk_test_5"] {
        for format in ["json", "table"] {
            let run = run_cli(
                &["--format", format, "query", r#"{"list":"charges"}"#],
                Some(value),
            );
            assert_eq!(run.code, 2, "{run:?}");
            let said = format!("{}{}", run.stdout, run.stderr);
            assert!(said.contains("invalid-key"), "{said}");
            assert!(!said.contains("[redacted]"), "{value}: {said}");
            assert!(said.contains("restricted key"), "{value}: {said}");
        }
    }
}

#[test]
fn a_key_that_cannot_read_invoices_and_payouts_gets_one_missing_permission_naming_both() {
    let emu = emulator();
    let sandbox = sandbox(&emu);
    let err = verify_err(&sandbox, keys::TEST_NO_INVOICES_PAYOUTS, wit::Mode::Test);
    match &err {
        SandboxError::Permissions { failure, .. } => {
            assert_eq!(failure.can_write, None);
            assert_eq!(
                failure.cannot_read.as_deref(),
                Some(&["invoices", "payouts"].map(String::from)[..])
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(err.kind(), "missing-permission");
    // Where to change it and what to set, in the Stripe Dashboard's words (the manifest's `manage`).
    assert_eq!(
        err.to_string(),
        "this credential lacks Read permission on invoices and payouts. In the Stripe Dashboard go to \
         Developers → API keys and edit this restricted key (or create a new one): set Invoices and Payouts \
         to Read (and nothing more), then try again."
    );
    // All five reads were probed (so both gaps are named at once), then the twenty writes, refused.
    // Customers come first, alone; the other four go together, so they may arrive in any order.
    let seen = emu.requests();
    let mut statuses: Vec<(&str, &str, u16)> = seen
        .iter()
        .map(|r| (r.method.as_str(), r.path.as_str(), r.status))
        .collect();
    if let Some(together) = statuses.get_mut(1..5) {
        together.sort_unstable();
    }
    assert_eq!(
        statuses[..5],
        [
            ("GET", "/v1/customers", 200),
            ("GET", "/v1/charges", 200),
            ("GET", "/v1/invoices", 403),
            ("GET", "/v1/payouts", 403),
            ("GET", "/v1/subscriptions", 200),
        ]
    );
    assert_eq!(seen.len(), SETUP_REQUESTS as usize, "{seen:#?}");
    assert!(
        seen[5..]
            .iter()
            .all(|r| r.method != "GET" && r.status == 403),
        "{seen:#?}"
    );
}

/// A key that can write and also lacks a Read is told of both in one setup run, with one list of
/// what to set (QA: it took two runs, the second telling of the writes).
#[test]
fn a_key_that_can_write_and_lacks_a_read_is_told_of_both_at_once() {
    let emu = emulator();
    let sandbox = sandbox(&emu);
    let err = verify_err(
        &sandbox,
        keys::TEST_WRITE_CUSTOMERS_NO_PAYOUTS,
        wit::Mode::Test,
    );
    assert_eq!(err.kind(), "over-permissioned");
    assert_eq!(
        err.to_string(),
        "this credential can write to customers and lacks Read permission on payouts: Klairr only \
         accepts read-only credentials that can read what it needs. In the Stripe Dashboard go to \
         Developers → API keys and edit this restricted key (or create a new one): set Customers and \
         Payouts to Read, and every resource Klairr does not read to None, then try again."
    );
    assert_eq!(emu.requests().len(), SETUP_REQUESTS as usize);
}

/// A query that meets a missing Read (a key narrowed after setup) is told what to change as setup
/// is, in the Dashboard's words (QA: only setup's message said where).
#[test]
fn a_query_refused_a_read_says_where_to_grant_it() {
    let emu = emulator();
    let sandbox = sandbox(&emu);
    let mut conn = sandbox
        .open(&config(keys::TEST_NO_INVOICES_PAYOUTS, wit::Mode::Test))
        .expect("open");
    let err = conn
        .query(r#"{"list":"invoices","limit":1}"#)
        .expect_err("no Read on invoices");
    assert_eq!(err.kind(), "missing-permission");
    assert_eq!(
        err.to_string(),
        "this credential lacks Read permission on invoices. In the Stripe Dashboard go to Developers → \
         API keys and edit this restricted key (or create a new one): set Invoices to Read (and nothing \
         more), then try again."
    );
}

#[test]
fn keys_that_can_write_are_over_permissioned_naming_what_they_can_write() {
    let emu = emulator();
    let sandbox = sandbox(&emu);
    for (key, writable, write_path) in [
        (keys::TEST_WRITE_CUSTOMERS, "customers", "/v1/customers/"),
        (keys::TEST_WRITE_INVOICES, "invoices", "/v1/invoices/"),
    ] {
        emu.clear_requests();
        let err = verify_err(&sandbox, key, wit::Mode::Test);
        match &err {
            SandboxError::Permissions { failure, .. } => {
                assert_eq!(failure.can_write, Some(vec![writable.to_owned()]), "{key}");
                assert_eq!(failure.cannot_read, None, "{key}");
            }
            other => panic!("{key}: {other:?}"),
        }
        assert_eq!(err.kind(), "over-permissioned");
        let message = err.to_string();
        assert!(message.contains(writable), "{message}");
        let shown = format!("{}{}", writable[..1].to_uppercase(), &writable[1..]);
        assert!(
            message.contains(&format!(
                "Developers → API keys and edit this restricted key (or create a new one): set {shown} to Read, \
                 and every resource Klairr does not read to None, then try again."
            )),
            "{message}"
        );
        for other in TABLES.iter().filter(|t| **t != writable) {
            assert!(!message.contains(other), "names only {writable}: {message}");
        }
        // Every probe was sent; the write-capable one got 404 on an id that cannot exist, the rest 403.
        let seen = emu.requests();
        assert_eq!(seen.len(), SETUP_REQUESTS as usize, "{seen:#?}");
        for req in &seen[5..] {
            let expected = if req.path.starts_with(write_path) {
                404
            } else {
                403
            };
            assert_eq!(req.status, expected, "{req:?}");
        }
    }
}

/// A key that can write where the connector never reads — refunds, webhook endpoints — is caught by
/// the host's own probes, whatever the component does, and told to set those to None (before, such a
/// key passed setup: the component probes only what it reads).
#[test]
fn a_key_that_can_write_where_klairr_never_reads_is_over_permissioned() {
    let emu = emulator();
    let sandbox = sandbox(&emu);
    let err = verify_err(&sandbox, keys::TEST_WRITE_REFUNDS_WEBHOOKS, wit::Mode::Test);
    match &err {
        SandboxError::Permissions { failure, .. } => {
            assert_eq!(
                failure.can_write.as_deref(),
                Some(&["refunds", "webhook_endpoints"].map(String::from)[..])
            );
            assert_eq!(failure.cannot_read, None);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(err.kind(), "over-permissioned");
    assert_eq!(
        err.to_string(),
        "this credential can write to refunds and webhook endpoints: Klairr only accepts read-only \
         credentials. In the Stripe Dashboard go to Developers → API keys and edit this restricted key \
         (or create a new one): set Refunds and Webhook endpoints to None, as every resource Klairr does \
         not read, then try again."
    );
    // The two writes got Stripe's 404 on ids that cannot exist; every other probe was refused. Each
    // write, the host's as the component's, says its empty body's length: a proxy may answer a POST
    // without one 411, which would fail every key.
    let seen = emu.requests();
    assert_eq!(seen.len(), SETUP_REQUESTS as usize, "{seen:#?}");
    for req in seen.iter().filter(|r| r.method != "GET") {
        assert_eq!(req.content_length.as_deref(), Some("0"), "{req:?}");
        let expected = if req.path.starts_with("/v1/refunds/")
            || req.path.starts_with("/v1/webhook_endpoints/")
        {
            404
        } else {
            403
        };
        assert_eq!(req.status, expected, "{req:?}");
    }
    // The CLI says the same, with its kind, and exits 2 like any refused key.
    let run = cli(&emu, "json", &["setup"], keys::TEST_WRITE_REFUNDS_WEBHOOKS);
    assert_ne!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["error"]["kind"], "over-permissioned", "{run:?}");
}

/// A key that can change what customers pay — products and coupons, next to reading all five — is
/// over-permissioned too, told to set those two to None (before, only eight resources outside the
/// connector's were probed, and such a key passed setup).
#[test]
fn a_key_that_can_write_products_and_coupons_is_over_permissioned() {
    const KEY: &str = "rk_test_51KlairrMadeUpWritesProductsCoupons004Hq7ZtV2mRkY9cLwB3sXnP6dFgJ1aE8uTo5iKyM0bNvQrWz4hSe7Dj2Gx0004";
    let mut keys = keys::all();
    keys.push(KeyGrant {
        key: KEY.to_owned(),
        livemode: false,
        read: Resource::ALL.into_iter().collect(),
        write: Default::default(),
        write_elsewhere: ["products", "coupons"].into(),
    });
    let emu = emulator_with(EmulatorConfig {
        keys,
        ..EmulatorConfig::default()
    });
    let sandbox = sandbox(&emu);
    let err = verify_err(&sandbox, KEY, wit::Mode::Test);
    assert_eq!(err.kind(), "over-permissioned", "{err}");
    assert!(
        err.to_string().contains(
            "this credential can write to products and coupons: Klairr only accepts read-only credentials."
        ),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("set Products and Coupons to None, as every resource Klairr does not read"),
        "{err}"
    );
    // Both got Stripe's 404 on ids no object has; every other write was refused.
    let seen = emu.requests();
    assert_eq!(seen.len(), SETUP_REQUESTS as usize, "{seen:#?}");
    for req in seen.iter().filter(|r| r.method != "GET") {
        let expected = if req.path == "/v1/products/prod_klairr_probe_host"
            || req.path == "/v1/coupons/co_klairr_probe_host"
        {
            404
        } else {
            403
        };
        assert_eq!(req.status, expected, "{req:?}");
    }
}

#[test]
fn a_well_formed_key_stripe_does_not_know_is_invalid_after_one_request() {
    let emu = emulator();
    let sandbox = sandbox(&emu);
    for (key, mode) in [
        (UNKNOWN_TEST_KEY, wit::Mode::Test),
        (UNKNOWN_LIVE_KEY, wit::Mode::Live),
    ] {
        emu.clear_requests();
        let err = verify_err(&sandbox, key, mode);
        assert_eq!(error_kind(&err), "invalid-key", "{err}");
        assert!(err.to_string().contains("401"), "{err}");
        let seen = emu.requests();
        assert_eq!(seen.len(), 1, "stops at the first 401: {seen:#?}");
        assert_eq!(
            (
                seen[0].method.as_str(),
                seen[0].path.as_str(),
                seen[0].status
            ),
            ("GET", "/v1/customers", 401)
        );
    }
}

#[test]
fn objects_of_the_other_mode_fail_verification_as_mode_mismatch() {
    let emu = emulator_with_livemode_confusion();
    let sandbox = sandbox(&emu);
    let err = verify_err(&sandbox, LIVEMODE_OBJECTS_TEST_KEY, wit::Mode::Test);
    assert_eq!(error_kind(&err), "mode-mismatch", "{err}");
    assert_eq!(emu.requests().len(), 1, "{:?}", emu.requests());
}

/// Runs a fault storm on every request during verification: it must fail, never pass, and stop in time.
fn storm_fails_verification(status: u16, code: Option<&str>) {
    let emu = emulator();
    let sandbox = sandbox(&emu);
    emu.push_fault(
        "/v1/",
        Fault::Status {
            status,
            should_retry: None,
            retry_after: None,
            code: code.map(str::to_owned),
        },
        1000,
    );
    let mut conn = sandbox
        .open(&config(keys::TEST_READ_ONLY, wit::Mode::Test))
        .expect("open");
    let started = Instant::now();
    let err = conn
        .verify()
        .expect_err("a storm must never pass verification");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(20), "took {took:?}");
    let kind = error_kind(&err);
    assert!(
        kind == "upstream" || kind == "rate-limited",
        "{kind}: {err}"
    );
    let up = upstream_of(&err);
    assert_eq!(up.status, Some(status), "{err}");
    let request_id = up.request_id.as_deref().expect("quotes the Request-Id");
    assert!(request_id.starts_with("req_"), "{request_id}");
    let message = err.to_string();
    assert!(message.contains("verification failed"), "{message}");
    assert!(message.contains(request_id), "{message}");
    assert_no_key(keys::TEST_READ_ONLY, &message, "storm error");
    assert_no_key(
        keys::TEST_READ_ONLY,
        &format!("{err:?}"),
        "storm error Debug",
    );
    assert_no_key(keys::TEST_READ_ONLY, &conn.guest_output(), "guest output");

    // Retried (the first probe was sent more than once), within the attempt bound, and nothing after it.
    let seen = emu.requests();
    assert!((2..=5).contains(&seen.len()), "{seen:#?}");
    for req in &seen {
        assert_eq!(
            (req.method.as_str(), req.path.as_str(), req.status),
            ("GET", "/v1/customers", status)
        );
    }
}

#[test]
fn a_5xx_storm_during_verification_is_not_accepted() {
    storm_fails_verification(503, None);
}

#[test]
fn a_429_storm_during_verification_is_not_accepted() {
    storm_fails_verification(429, Some("rate_limit"));
}

#[test]
fn verification_fails_closed_on_an_unexpected_answer_and_survives_a_transient_one() {
    let emu = emulator();
    let sandbox = sandbox(&emu);

    // A write probe answered 500 "do not retry" proves nothing: fail, naming the probe.
    emu.push_fault(
        "/v1/payouts/",
        Fault::Status {
            status: 500,
            should_retry: Some(false),
            retry_after: None,
            code: None,
        },
        1,
    );
    let err = verify_err(&sandbox, keys::TEST_READ_ONLY, wit::Mode::Test);
    assert_eq!(error_kind(&err), "upstream", "{err}");
    let message = err.to_string();
    assert!(
        message.contains("verification failed") && message.contains("POST /v1/payouts/{id}/cancel"),
        "{message}"
    );
    assert_eq!(
        emu.requests().len(),
        10,
        "not retried: {:?}",
        emu.requests()
    );

    // A read probe answered with a body that is not a list proves nothing either.
    emu.clear_requests();
    emu.push_fault("/v1/charges", Fault::BrokenJson, 1);
    let err = verify_err(&sandbox, keys::TEST_READ_ONLY, wit::Mode::Test);
    assert_eq!(error_kind(&err), "upstream", "{err}");
    assert!(err.to_string().contains("GET /v1/charges"), "{err}");

    // Two 503s on one probe are retried away; the report counts the retries.
    emu.clear_requests();
    emu.push_fault(
        "/v1/invoices",
        Fault::Status {
            status: 503,
            should_retry: None,
            retry_after: None,
            code: None,
        },
        2,
    );
    let mut conn = sandbox
        .open(&config(keys::TEST_READ_ONLY, wit::Mode::Test))
        .expect("open");
    let report = conn.verify().expect("transient failures are retried");
    assert_eq!(report.requests, SETUP_REQUESTS + 2);
    assert_eq!(emu.requests().len(), SETUP_REQUESTS as usize + 2);
}

// ---- the CLI ----------------------------------------------------------------------------------------

fn cli(emu: &Emulator, format: &str, extra: &[&str], key: &str) -> CliRun {
    let base = emu.base_url();
    let mut args = vec!["--format", format, "--stripe-base", &base];
    args.extend_from_slice(extra);
    run_cli(&args, Some(key))
}

#[test]
fn cli_setup_exits_0_for_a_read_only_key_and_reports_it() {
    let emu = emulator();
    let run = cli(&emu, "json", &["setup"], keys::TEST_READ_ONLY);
    assert_eq!(run.code, 0, "{run:?}");
    let v = run.json();
    assert_eq!(v["ok"], true);
    assert_eq!(v["mode"], "test");
    assert_eq!(v["readable"], serde_json::json!(TABLES));
    assert_eq!(v["write_probes_refused"], serde_json::json!(probes_shown()));
    assert_eq!(v["requests"], SETUP_REQUESTS);

    let run = cli(
        &emu,
        "table",
        &["--mode", "live", "setup"],
        keys::LIVE_READ_ONLY,
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.is_empty(), "{run:?}");
    assert!(run.stdout.contains("live"), "{run:?}");
    assert_eq!(emu.requests().len(), 2 * SETUP_REQUESTS as usize);
}

// ---- the key never leaks ----------------------------------------------------------------------------

/// Every way the connector can fail, driven through the sandbox with known keys: no output of any kind
/// (the error's Display and Debug, the guest's stdout/stderr, what the emulator recorded) holds the key.
#[test]
fn the_key_never_leaks_from_any_connector_failure() {
    use wit::Mode::{Live, Test};
    let emu = emulator_with_livemode_confusion();
    let sandbox = sandbox(&emu);
    let status = |status: u16, should_retry: Option<bool>| Fault::Status {
        status,
        should_retry,
        retry_after: None,
        code: None,
    };
    enum Act {
        Open,
        Verify,
        Query(String),
    }
    let q = |s: &str| Act::Query(s.to_owned());
    let customers = r#"{"list":"customers","limit":150}"#;
    // (key, mode, fault to inject first, what to do, the kind expected)
    type Case<'a> = (&'a str, wit::Mode, Option<(&'a str, Fault)>, Act, &'a str);
    let cases: Vec<Case> = vec![
        (
            keys::TEST_SECRET,
            Test,
            None,
            Act::Open,
            "secret-key-rejected",
        ),
        (
            keys::LIVE_SECRET,
            Live,
            None,
            Act::Open,
            "secret-key-rejected",
        ),
        (
            "sk_test_51KlairrMadeUpSecretKey00000000",
            Test,
            None,
            Act::Open,
            "secret-key-rejected",
        ),
        (
            "sk_org_live_51KlairrMadeUpOrgKey0000000",
            Live,
            None,
            Act::Open,
            "secret-key-rejected",
        ),
        (
            "pk_test_51KlairrMadeUpPublishableKey0000",
            Test,
            None,
            Act::Open,
            "invalid-key",
        ),
        (
            "rk_test_51KlairrMadeUp-JunkCharacter00000",
            Test,
            None,
            Act::Open,
            "invalid-key",
        ),
        (
            "rk_test_51KlairrMadeUp\"Quote\"000000000",
            Test,
            None,
            Act::Open,
            "invalid-key",
        ),
        (
            "rk_tset_51KlairrMadeUpTypoInPrefix00000",
            Test,
            None,
            Act::Open,
            "invalid-key",
        ),
        (keys::TEST_READ_ONLY, Live, None, Act::Open, "mode-mismatch"),
        (keys::LIVE_READ_ONLY, Test, None, Act::Open, "mode-mismatch"),
        (UNKNOWN_TEST_KEY, Test, None, Act::Verify, "invalid-key"),
        (UNKNOWN_LIVE_KEY, Live, None, Act::Verify, "invalid-key"),
        (
            keys::TEST_NO_INVOICES_PAYOUTS,
            Test,
            None,
            Act::Verify,
            "missing-permission",
        ),
        (
            keys::TEST_WRITE_CUSTOMERS,
            Test,
            None,
            Act::Verify,
            "over-permissioned",
        ),
        (
            keys::TEST_WRITE_INVOICES,
            Test,
            None,
            Act::Verify,
            "over-permissioned",
        ),
        (
            LIVEMODE_OBJECTS_TEST_KEY,
            Test,
            None,
            Act::Verify,
            "mode-mismatch",
        ),
        (
            keys::TEST_READ_ONLY,
            Test,
            Some(("/v1/customers", status(500, Some(false)))),
            Act::Verify,
            "upstream",
        ),
        (
            keys::LIVE_READ_ONLY,
            Live,
            Some(("/v1/charges/", status(500, Some(false)))),
            Act::Verify,
            "upstream",
        ),
        (
            keys::TEST_READ_ONLY,
            Test,
            Some(("/v1/subscriptions", status(400, None))),
            Act::Verify,
            "upstream",
        ),
        (
            keys::TEST_READ_ONLY,
            Test,
            Some(("/v1/invoices", Fault::BrokenJson)),
            Act::Verify,
            "upstream",
        ),
        (
            keys::TEST_READ_ONLY,
            Test,
            None,
            q(r#"{"list":"customers","filters":{"email":"a@b.c"}}"#),
            "invalid-query",
        ),
        (
            keys::TEST_READ_ONLY,
            Test,
            None,
            q(r#"{"delete":"customers"}"#),
            "invalid-query",
        ),
        (
            keys::TEST_READ_ONLY,
            Test,
            None,
            q("not json"),
            "invalid-query",
        ),
        (UNKNOWN_TEST_KEY, Test, None, q(customers), "invalid-key"),
        (
            keys::TEST_NO_INVOICES_PAYOUTS,
            Test,
            None,
            q(r#"{"list":"payouts"}"#),
            "missing-permission",
        ),
        (
            LIVEMODE_OBJECTS_TEST_KEY,
            Test,
            None,
            q(customers),
            "mode-mismatch",
        ),
        (
            keys::TEST_READ_ONLY,
            Test,
            Some(("/v1/customers", status(429, Some(false)))),
            q(customers),
            "rate-limited",
        ),
        (
            keys::LIVE_READ_ONLY,
            Live,
            Some(("/v1/customers", status(500, Some(false)))),
            q(customers),
            "upstream",
        ),
        (
            keys::TEST_READ_ONLY,
            Test,
            Some(("/v1/customers", status(400, None))),
            q(customers),
            "upstream",
        ),
        (
            keys::TEST_READ_ONLY,
            Test,
            Some(("/v1/customers", Fault::BrokenJson)),
            q(customers),
            "upstream",
        ),
        (
            keys::TEST_READ_ONLY,
            Test,
            Some(("/v1/customers", Fault::EmptyPageHasMore)),
            q(customers),
            "upstream",
        ),
        (
            keys::TEST_READ_ONLY,
            Test,
            Some(("/v1/customers", Fault::HasMoreLoop)),
            q(customers),
            "upstream",
        ),
        (
            keys::TEST_READ_ONLY,
            Test,
            Some(("/v1/customers", Fault::OversizedBody(9 << 20))),
            q(customers),
            "upstream",
        ),
    ];
    for (key, mode, fault, act, kind) in cases {
        emu.clear_requests();
        if let Some((prefix, fault)) = fault {
            // HasMoreLoop needs the looping page twice to be caught; the others are consumed once.
            let times = if fault == Fault::HasMoreLoop { 2 } else { 1 };
            emu.push_fault(prefix, fault, times);
        }
        let (err, guest_output) = match act {
            Act::Open => (open_err(&sandbox, key, mode), String::new()),
            Act::Verify | Act::Query(_) => {
                let mut conn = sandbox.open(&config(key, mode)).expect("open");
                let err = match &act {
                    Act::Verify => conn.verify().expect_err("verify fails"),
                    Act::Query(dsl) => conn.query(dsl).expect_err("query fails"),
                    Act::Open => unreachable!(),
                };
                (err, conn.guest_output())
            }
        };
        assert_eq!(error_kind(&err), kind, "{key}: {err}");
        assert_no_key(key, &err.to_string(), "error message");
        assert_no_key(key, &format!("{err:?}"), "error Debug");
        assert_no_key(key, &format!("{err:#?}"), "error pretty Debug");
        assert_no_key(key, &guest_output, "guest output");
        for req in emu.requests() {
            assert_no_key(key, &format!("{req:?}"), "emulator record");
            assert_ne!(req.key_hint.as_deref(), Some(key.trim()), "{req:?}");
        }
    }

    // A key pasted into a query by mistake is not echoed back in the rejection.
    let mut conn = sandbox
        .open(&config(keys::TEST_READ_ONLY, Test))
        .expect("open");
    for dsl in [
        format!(
            r#"{{"list":"customers","filters":{{"customer":"{}"}}}}"#,
            keys::TEST_READ_ONLY
        ),
        format!(r#"{{"list":"{}"}}"#, keys::TEST_READ_ONLY),
        format!(r#"{{"list":"customers","{}":1}}"#, keys::TEST_READ_ONLY),
    ] {
        let err = conn.query(&dsl).expect_err("invalid");
        assert_eq!(error_kind(&err), "invalid-query", "{err}");
        assert_no_key(
            keys::TEST_READ_ONLY,
            &err.to_string(),
            "invalid-query message",
        );
        assert_no_key(
            keys::TEST_READ_ONLY,
            &format!("{err:?}"),
            "invalid-query Debug",
        );
    }
}

/// A network failure (nothing listens on the Stripe base) does not leak the key either.
#[test]
fn the_key_never_leaks_from_a_network_failure() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let base = LoopbackBase::parse(&format!("http://127.0.0.1:{port}")).expect("base");
    let stripe = registry::Connector::stripe();
    let options = SandboxOptions {
        redirect: Some(base),
        ..SandboxOptions::default()
    };
    let sandbox =
        Sandbox::load(registry::STRIPE_COMPONENT, stripe.manifest, options).expect("load");
    let mut conn = sandbox
        .open(&config(keys::TEST_READ_ONLY, wit::Mode::Test))
        .expect("open");
    // Connection errors are retried (about 5 s of backoff), so one call: verify's message wraps the
    // transport's, the query path builds the same one.
    let err = conn.verify().expect_err("unreachable");
    assert_eq!(error_kind(&err), "network", "{err}");
    assert!(err.to_string().contains("verification failed"), "{err}");
    assert_no_key(keys::TEST_READ_ONLY, &err.to_string(), "network error");
    assert_no_key(
        keys::TEST_READ_ONLY,
        &format!("{err:?}"),
        "network error Debug",
    );
    assert_no_key(keys::TEST_READ_ONLY, &conn.guest_output(), "guest output");
}

/// Every CLI failure in JSON: the exit status and error kind, and the key in none of stdout, stderr or
/// the memory file.
#[test]
fn the_cli_reports_every_key_failure_as_json_with_its_kind_and_never_the_key() {
    cli_failures_never_show_the_key("json");
}

/// The same failures as one `error (kind): message` line on stderr.
#[test]
fn the_cli_reports_every_key_failure_as_a_line_with_its_kind_and_never_the_key() {
    cli_failures_never_show_the_key("table");
}

/// (Two tests, one per format, so that their CLI runs — each compiles the component — run in parallel.)
fn cli_failures_never_show_the_key(format: &str) {
    let emu = emulator_with_livemode_confusion();
    let base = emu.base_url();
    let dir = temp_dir(&format!("keys-cli-{format}"));
    let memory = dir.join("memory.jsonl");
    let memory = memory.to_str().expect("utf-8 path");
    let dont_retry = |status: u16| Fault::Status {
        status,
        should_retry: Some(false),
        retry_after: None,
        code: None,
    };
    let setup: &[&str] = &["setup"];
    let setup_live: &[&str] = &["--mode", "live", "setup"];
    let customers: &[&str] = &["query", r#"{"list":"customers","limit":5}"#];
    // (args after --stripe-base and --memory-file, key, fault, kind, exit status)
    type Case<'a> = (
        &'a [&'a str],
        &'a str,
        Option<(&'a str, Fault)>,
        &'a str,
        i32,
    );
    // One case per kind (the CLI formats every failure the same way): every CLI run compiles the
    // component, so this list stays short. The sandbox tests above cover every path
    // (network failures included: foundation.rs checks the CLI's `network` kind).
    let cases: Vec<Case> = vec![
        (setup, keys::TEST_SECRET, None, "secret-key-rejected", 2),
        (
            setup,
            "rk_test_51KlairrMadeUp Junk Key 0000000",
            None,
            "invalid-key",
            2,
        ),
        (setup_live, keys::TEST_READ_ONLY, None, "mode-mismatch", 2),
        (setup, UNKNOWN_TEST_KEY, None, "invalid-key", 2),
        (
            setup,
            keys::TEST_NO_INVOICES_PAYOUTS,
            None,
            "missing-permission",
            2,
        ),
        (
            setup,
            keys::TEST_WRITE_CUSTOMERS,
            None,
            "over-permissioned",
            2,
        ),
        (
            setup,
            keys::TEST_READ_ONLY,
            Some(("/v1/customers/", dont_retry(500))),
            "upstream",
            1,
        ),
        (
            &["query", r#"{"list":"customers","filters":{"name":"x"}}"#],
            keys::TEST_READ_ONLY,
            None,
            "invalid-query",
            2,
        ),
        (
            customers,
            keys::TEST_READ_ONLY,
            Some(("/v1/customers", dont_retry(429))),
            "rate-limited",
            1,
        ),
    ];
    for (args, key, fault, kind, code) in cases {
        if let Some((prefix, fault)) = &fault {
            emu.push_fault(prefix, fault.clone(), 1);
        }
        let mut all = vec![
            "--format",
            format,
            "--memory-file",
            memory,
            "--stripe-base",
            &base,
        ];
        all.extend_from_slice(args);
        let run = run_cli(&all, Some(key));
        assert_eq!(run.code, code, "{args:?} {key}: {run:?}");
        if format == "json" {
            let v = run.json();
            assert_eq!(v["error"]["kind"], kind, "{args:?} {key}: {run:?}");
            assert!(v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()));
        } else {
            assert!(run.stdout.is_empty(), "{run:?}");
            assert!(
                run.stderr.starts_with(&format!("error ({kind}): ")),
                "{args:?} {key}: {run:?}"
            );
        }
        assert_no_key(key, &run.stdout, "CLI stdout");
        assert_no_key(key, &run.stderr, "CLI stderr");
    }
    // A successful query, to give the memory file something to hold.
    let run = cli(
        &emu,
        "json",
        &[
            "--memory-file",
            memory,
            "query",
            r#"{"list":"charges","limit":3}"#,
        ],
        keys::TEST_READ_ONLY,
    );
    assert_eq!(run.code, 0, "{run:?}");
    let remembered = std::fs::read_to_string(memory).expect("memory file written");
    assert_eq!(
        remembered.lines().count(),
        1,
        "failures remember nothing: {remembered}"
    );
    for key in [
        keys::TEST_READ_ONLY,
        keys::TEST_NO_INVOICES_PAYOUTS,
        UNKNOWN_TEST_KEY,
    ] {
        assert_no_key(key, &remembered, "memory file");
    }
    for req in emu.requests() {
        for key in keys::all() {
            assert_no_key(&key.key, &format!("{req:?}"), "emulator record");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A key pasted where the command line wants a name or a path is never quoted back. A name the caller
/// writes (`--connector`, `--columns`) is refused by its shape, unquoted, so that right and wrong
/// guesses read alike; a path or URL is refused by a message that would quote it, and the CLI hides
/// what on its command line looks like a key (a connector's key prefix, or more than 40 letters and
/// digits in a row), by its form alone, so that a right guess and a wrong one still read alike.
#[test]
fn a_key_pasted_into_a_flag_is_never_quoted_back() {
    let key = keys::TEST_READ_ONLY;
    let emu = emulator();
    let base = emu.base_url();
    for args in [
        vec!["--connector", key, "describe"],
        vec![
            "--stripe-base",
            &base,
            "--columns",
            key,
            "query",
            r#"{"list":"charges","limit":1}"#,
        ],
    ] {
        for format in ["json", "table"] {
            let mut all = vec!["--format", format];
            all.extend(&args);
            let run = run_cli(&all, Some(key));
            assert_eq!(run.code, 2, "{args:?}: {run:?}");
            let shown = format!("{}{}", run.stdout, run.stderr);
            assert!(!shown.contains("[redacted]"), "refused unquoted: {shown}");
            klairr_e2e::assert_no_key(key, &shown, "a pasted name");
        }
    }
    assert!(emu.requests().is_empty(), "nothing was sent");
    let component = format!("/tmp/{key}.wasm");
    let stripe_base_key = format!("http://{key}:1");
    let origin_key = format!("https://{key}=http://127.0.0.1:1");
    let base_key = format!("https://api.stripe.com=http://{key}:1");
    let scheme_key = format!("{key}://x=http://127.0.0.1:1");
    for args in [
        vec!["--component", component.as_str(), "describe"],
        vec!["--max-rows", key, "describe"],
        // URLs: their host (and scheme) are lower-cased when parsed, and must be quoted as written.
        vec!["--stripe-base", &stripe_base_key, "describe"],
        vec!["--redirect", &origin_key, "describe"],
        vec!["--redirect", &base_key, "describe"],
        vec!["--redirect", &scheme_key, "describe"],
        vec![
            "--redirect",
            &origin_key,
            "--redirect",
            &origin_key,
            "describe",
        ],
    ] {
        for format in ["json", "table"] {
            let mut all = vec!["--format", format];
            all.extend(&args);
            let run = run_cli(&all, Some(key));
            assert_eq!(run.code, 2, "{args:?}: {run:?}");
            let shown = format!("{}{}", run.stdout, run.stderr);
            assert!(shown.contains("[looks like a key: not shown]"), "{shown}");
            klairr_e2e::assert_no_key(key, &shown, "a pasted flag");
        }
    }
}

/// A manifest whose `reads` names something that is not one of the connector's tables cannot prove its
/// tables readable: setup fails closed, naming it (QA: `reads = "widgets"` on the payouts rule passed,
/// and the report listed a table that does not exist).
#[test]
fn a_reads_rule_that_names_no_table_fails_setup() {
    let emu = emulator();
    let text = klairr_host::policy::manifest::STRIPE_TOML.replacen(
        "reads = \"payouts\"",
        "reads = \"widgets\"",
        1,
    );
    let manifest = klairr_host::policy::manifest::Manifest::parse(&text, "widgets.toml", None)
        .expect("a valid manifest");
    let sandbox = Sandbox::load(
        registry::STRIPE_COMPONENT,
        manifest,
        klairr_e2e::redirect_to(&emu, klairr_host::sandbox::SandboxLimits::default()),
    )
    .expect("loads");
    let err = verify_err(&sandbox, keys::TEST_READ_ONLY, wit::Mode::Test);
    assert_eq!(err.kind(), "connector-config", "{err}");
    assert!(
        err.to_string()
            .contains("reads = \"widgets\" names no table"),
        "{err}"
    );
    // What to write instead is named: the component's own tables.
    assert!(
        err.to_string()
            .contains("its tables: charges, customers, invoices, payouts, subscriptions"),
        "{err}"
    );
}
