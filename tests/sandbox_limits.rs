//! The sandbox's limits hold against the real component: a guest that needs more linear memory than the
//! host allows, or runs past its call deadline, is stopped with a typed sandbox error — the host survives.

use klairr_e2e::{config, emulator, emulator_with, keys, sandbox_with};
use klairr_host::emulator::EmulatorConfig;
use klairr_host::sandbox::{wit, ConnectionConfig, SandboxError, SandboxLimits};
use std::time::Duration;

#[test]
fn a_guest_that_outgrows_its_memory_cap_is_stopped() {
    let emu = emulator_with(EmulatorConfig {
        customers: 3_000,
        ..EmulatorConfig::default()
    });
    let limits = SandboxLimits {
        memory_bytes: 2 << 20,
        ..SandboxLimits::default()
    };
    let sandbox = sandbox_with(&emu, limits);
    let three_thousand = ConnectionConfig {
        max_rows: Some(3000),
        ..config(keys::TEST_READ_ONLY, wit::Mode::Test)
    };
    let mut conn = sandbox.open(&three_thousand).expect("open fits in 2 MiB");
    match conn.query(r#"{"list":"customers","limit":3000}"#) {
        Err(SandboxError::Trap(_)) => {}
        Err(other) => panic!("expected a sandbox trap, got {other}"),
        Ok(result) => panic!("3,000 customers fit in 2 MiB? {} rows", result.rows.len()),
    }

    // The same query with the default cap succeeds: the limit, not the query, stopped it.
    let roomy = sandbox_with(&emu, SandboxLimits::default());
    let mut conn = roomy.open(&three_thousand).expect("open");
    let result = conn
        .query(r#"{"list":"customers","limit":3000}"#)
        .expect("fits in the default cap");
    assert_eq!(result.rows.len(), 3000);
}

#[test]
fn a_call_past_its_deadline_is_interrupted() {
    let emu = emulator();
    // Every response takes 1.5 s; a call may take 300 ms (opening, which makes no request, fits with
    // room to spare even on a loaded machine). The epoch deadline fires as soon as the guest runs again
    // after the slow response.
    emu.set_latency(Duration::from_millis(1500));
    let limits = SandboxLimits {
        call_timeout: Duration::from_millis(300),
        ..SandboxLimits::default()
    };
    let sandbox = sandbox_with(&emu, limits);
    let mut conn = sandbox
        .open(&config(keys::TEST_READ_ONLY, wit::Mode::Test))
        .expect("open is quick");
    let err = conn
        .query(r#"{"list":"customers","limit":1}"#)
        .expect_err("deadline");
    assert!(matches!(err, SandboxError::Deadline { .. }), "{err:?}");
    assert!(err.to_string().contains("deadline"), "{err}");

    // A fresh connection with room to spare completes.
    emu.set_latency(Duration::ZERO);
    let sandbox = sandbox_with(&emu, SandboxLimits::default());
    let mut conn = sandbox
        .open(&config(keys::TEST_READ_ONLY, wit::Mode::Test))
        .expect("open");
    assert_eq!(
        conn.query(r#"{"list":"customers","limit":1}"#)
            .expect("query")
            .rows
            .len(),
        1
    );
}

#[test]
fn connections_do_not_share_state() {
    let emu = emulator();
    let sandbox = sandbox_with(&emu, SandboxLimits::default());
    let mut live = sandbox
        .open(&config(keys::LIVE_READ_ONLY, wit::Mode::Live))
        .expect("live");
    let mut test = sandbox
        .open(&config(keys::TEST_READ_ONLY, wit::Mode::Test))
        .expect("test");
    let q = r#"{"list":"customers","limit":1}"#;
    let live_row = live.query(q).expect("live query");
    let test_row = test.query(q).expect("test query");
    assert_eq!(live_row.rows[0][10], wit::Cell::Boolean(true));
    assert_eq!(test_row.rows[0][10], wit::Cell::Boolean(false));
    let hints: Vec<String> = emu
        .requests()
        .into_iter()
        .filter_map(|r| r.key_hint)
        .collect();
    assert_eq!(hints.len(), 2);
    assert!(
        hints[0].starts_with("rk_live_") && hints[1].starts_with("rk_test_"),
        "{hints:?}"
    );
}

/// The memory cap is a cap, not a squeeze: the largest result a connection may ask for (100,000 rows,
/// the most `--max-rows` allows) fits in the default 256 MiB with the real component. The budget is
/// raised here only so the test does not wait 50 s on Stripe's rate limit against a loopback emulator.
#[test]
fn a_hundred_thousand_row_result_fits_in_the_default_limits() {
    let emu = emulator_with(EmulatorConfig {
        customers: 100_000,
        subscriptions: 1,
        invoices: 1,
        charges: 1,
        payouts: 1,
        ..EmulatorConfig::default()
    });
    let stripe = klairr_host::registry::Connector::stripe();
    let mut manifest = stripe.manifest;
    manifest.budget.per_endpoint = 1000;
    manifest.budget.per_credential_test = 1000;
    let sandbox = klairr_host::sandbox::Sandbox::load(
        klairr_host::registry::STRIPE_COMPONENT,
        manifest,
        klairr_e2e::redirect_to(&emu, SandboxLimits::default()),
    )
    .expect("load");
    let mut conn = sandbox
        .open(&ConnectionConfig {
            max_rows: Some(100_000),
            ..config(keys::TEST_READ_ONLY, wit::Mode::Test)
        })
        .expect("open");
    let result = conn
        .query(r#"{"list":"customers","limit":100000}"#)
        .expect("100,000 rows fit");
    assert_eq!(result.rows.len(), 100_000);
    assert!(!result.truncated);
    // A sequential cursor needs 1,000 pages; the concurrent pager may speculate up to 25% (+2) more.
    assert!(
        (1000..=1252).contains(&result.requests),
        "{} requests",
        result.requests
    );
}

/// A limit of the host process itself — here its file-size limit, which the connector's memory image
/// counts against — is named as the host's, not reported as the connector crashing (QA).
#[cfg(target_os = "linux")]
#[test]
fn a_limit_of_the_host_process_is_not_blamed_on_the_connector() {
    let run = std::process::Command::new("sh")
        .args([
            "-c",
            r#"ulimit -f 1; exec "$0" "$@""#,
            env!("CARGO_BIN_EXE_klairr-host-under-test"),
            "--compile-cache",
            "off",
            "--format",
            "json",
            "describe",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("klairr-host runs");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    assert!(stdout.contains(r#""kind":"sandbox""#), "{stdout}");
    assert!(
        stdout.contains("the host could not run the connector: File too large")
            && stdout.contains("not the connector"),
        "{stdout}"
    );
    assert!(!stdout.contains("crashed"), "{stdout}");
}

/// The process holding the key and the rows leaves no core dump: a long-running one (here the
/// emulator command, which starts as every command does) has a core-size limit of 0, soft and hard.
#[cfg(target_os = "linux")]
#[test]
fn the_host_process_leaves_no_core_dump() {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_klairr-host-under-test"))
        .args(["--format", "json", "emulator", "--port", "0"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("klairr-host starts");
    let mut first = String::new();
    if let Some(stdout) = child.stdout.take() {
        std::io::BufReader::new(stdout)
            .read_line(&mut first)
            .expect("its first line");
    }
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.id()));
    let _ = child.kill();
    let _ = child.wait();
    assert!(first.contains("base_url"), "{first}");
    let limits = limits.expect("its limits");
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .expect("a core size line");
    let fields: Vec<&str> = core.split_whitespace().collect();
    assert_eq!(fields[4..6], ["0", "0"], "{core}");
}
