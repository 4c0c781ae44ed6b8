//! `klairr-host serve` as a process: SIGHUP reloads every connector, SIGTERM lets the call in flight
//! finish and exits 0, a second SIGTERM ends the drain at once, and the log says what the policy
//! refused. (The API itself is tested in-process in `tests/serve.rs`.)
#![cfg(unix)]

use klairr_e2e::{assert_no_key, emulator, hostile_connectors_dir, keys};
use klairr_host::emulator::Emulator;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "process-token-0123456789";

/// A `klairr-host serve` process on `emu`, with `args` before the command (`--connectors DIR`, say):
/// the process, and its base URL from the line it prints first.
fn spawn_serve(emu: &Emulator, args: &[&str]) -> (Child, String) {
    let (child, banner) = serve_with_banner(emu, args);
    let base = banner
        .split_whitespace()
        .last()
        .expect("an address")
        .to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{banner}");
    (child, base)
}

/// `serve` on a free loopback port with `args` before the command, and the line it printed once
/// listening.
fn serve_with_banner(emu: &Emulator, args: &[&str]) -> (Child, String) {
    serve_started_by(
        Command::new(env!("CARGO_BIN_EXE_klairr-host-under-test")),
        emu,
        args,
    )
}

/// [`serve_with_banner`], the binary started by `command` (itself, or a shell that execs it).
fn serve_started_by(mut command: Command, emu: &Emulator, args: &[&str]) -> (Child, String) {
    let mut child = command
        .args(["--stripe-base", &emu.base_url(), "--compile-cache", "off"])
        .args(args)
        .args(["serve", "--listen", "127.0.0.1:0", "--drain-seconds", "20"])
        .env("KLAIRR_HOST_TOKEN", TOKEN)
        .env_remove("STRIPE_API_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("klairr-host starts");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut banner = String::new();
    stdout.read_line(&mut banner).expect("banner");
    (child, banner)
}

/// In a machine format the banner is one JSON object, from which a program learns the port that
/// `--listen 127.0.0.1:0` picked (as `emulator --format json` prints its own).
#[test]
fn serve_says_where_it_listens_in_json_when_asked() {
    let emu = emulator();
    let (child, banner) = serve_with_banner(&emu, &["--format", "json"]);
    let banner: serde_json::Value = serde_json::from_str(&banner).expect("one JSON object");
    assert_eq!(banner["connectors"], serde_json::json!(["stripe"]));
    let base = banner["base_url"].as_str().expect("base_url");
    let health = agent()
        .get(&format!("{base}/healthz"))
        .call()
        .expect("the address it printed answers");
    assert_eq!(health.status().as_u16(), 200);
    let sent = Instant::now();
    signal(&child, "TERM");
    let (exit, _) = exit_and_log(child, sent, Duration::from_secs(20));
    assert_eq!(exit.code(), Some(0));
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// (status, body) of a POST with the token.
fn post(agent: &ureq::Agent, url: &str, body: &str) -> (u16, String) {
    let mut response = agent
        .post(url)
        .header("Authorization", &format!("Bearer {TOKEN}"))
        .send(body)
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    let status = response.status().as_u16();
    (
        status,
        response.body_mut().read_to_string().unwrap_or_default(),
    )
}

/// Open a connection to `connector` with the demo key; its id.
fn connect(agent: &ureq::Agent, base: &str, connector: &str) -> String {
    let body = format!(
        r#"{{"connector":"{connector}","credential":"{}"}}"#,
        keys::TEST_READ_ONLY
    );
    let (status, created) = post(agent, &format!("{base}/v1/connections"), &body);
    assert_eq!(status, 201, "{created}");
    created
        .split("\"id\":\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("an id")
        .to_owned()
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{name}");
}

/// Wait for the process to exit, at most `within` after `since`; its exit status and its log.
fn exit_and_log(
    mut child: Child,
    since: Instant,
    within: Duration,
) -> (std::process::ExitStatus, String) {
    let exit = loop {
        if let Some(exit) = child.try_wait().expect("wait") {
            break exit;
        }
        assert!(
            since.elapsed() < within,
            "serve still running {:?} after the signal",
            since.elapsed()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut log = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut log)
        .expect("log");
    (exit, log)
}

#[test]
fn sighup_reloads_and_sigterm_drains_then_exits_0() {
    let emu = emulator();
    let (child, base) = spawn_serve(&emu, &[]);
    let agent = agent();
    let id = connect(&agent, &base, "stripe");

    signal(&child, "HUP");
    // The reload is logged; wait for it by asking until a query on the connection works again.
    std::thread::sleep(Duration::from_millis(500));

    emu.set_latency(Duration::from_millis(800));
    let query_url = format!("{base}/v1/connections/{id}/query");
    let in_flight = std::thread::spawn({
        let agent = agent.clone();
        move || post(&agent, &query_url, r#"{"list":"customers","limit":3}"#)
    });
    std::thread::sleep(Duration::from_millis(300));
    let sent = Instant::now();
    signal(&child, "TERM");
    let (status, answer) = in_flight.join().expect("the call in flight");
    assert_eq!(status, 200, "the call in flight finished: {answer}");
    assert!(answer.contains("\"table\":\"customers\""), "{answer}");

    let (exit, log) = exit_and_log(child, sent, Duration::from_secs(20));
    assert!(exit.success(), "exit 0 after a drain: {exit:?}\n{log}");
    assert!(log.contains("reloaded stripe: version 2"), "{log}");
    assert!(log.contains("drained; exiting"), "{log}");
    assert!(!log.contains(keys::TEST_READ_ONLY), "{log}");
}

/// SIGTERM drains; a second one ends the drain at once, saying so, rather than wait out a call.
#[test]
fn a_second_stop_signal_ends_the_drain_at_once() {
    let emu = emulator();
    let (child, base) = spawn_serve(&emu, &[]);
    let agent = agent();
    let id = connect(&agent, &base, "stripe");
    // A call that will take 8 s, in flight when the signals come.
    emu.set_latency(Duration::from_secs(8));
    let query_url = format!("{base}/v1/connections/{id}/query");
    let slow = std::thread::spawn(move || {
        let _ = agent
            .post(&query_url)
            .header("Authorization", &format!("Bearer {TOKEN}"))
            .send(r#"{"list":"payouts","limit":2}"#);
    });
    std::thread::sleep(Duration::from_millis(500));
    signal(&child, "TERM");
    std::thread::sleep(Duration::from_millis(500));
    let mut child = child;
    assert!(
        child.try_wait().expect("wait").is_none(),
        "the first signal drains: the call in flight is waited for"
    );
    let second = Instant::now();
    signal(&child, "TERM");
    let (exit, log) = exit_and_log(child, second, Duration::from_secs(4));
    assert!(exit.code().is_some(), "exited, not killed: {exit:?}");
    assert!(
        log.contains("signal again to stop at once")
            && log.contains("stopped again during the drain"),
        "{log}"
    );
    emu.set_latency(Duration::ZERO);
    let _ = slow.join();
}

/// What the policy refuses is logged, as the CLI logs it: a line per request, naming the connector,
/// never the credential; the metric counts every one. (The hostile component's setup tries writes on
/// real-looking ids too: refused and logged the same way.)
#[test]
fn serve_logs_each_request_its_policy_refuses() {
    let emu = emulator();
    let (dir, _) = hostile_connectors_dir("serve-denials", "hostile");
    let (child, base) = spawn_serve(&emu, &["--connectors", dir.to_str().expect("utf-8")]);
    let agent = agent();
    let id = connect(&agent, &base, "hostile");
    // The last request carries 36 characters of the key the caller wrote itself: the operator's log
    // masks them all the same (the caller never reads it, so nothing is answered).
    // Also cut by a zero-width space, which the log line escapes (`\u{200b}`).
    let pasted = &keys::TEST_READ_ONLY[8..44];
    let cut = keys::TEST_READ_ONLY.as_bytes()[8..44]
        .chunks(6)
        .map(|c| std::str::from_utf8(c).expect("an ASCII key"))
        .collect::<Vec<_>>()
        .join("\u{200b}");
    // And percent-encoded, in runs short enough for the query to be let through: the operator's log
    // does not show that request at all (it cannot be redacted in place).
    let encoded = keys::TEST_READ_ONLY.as_bytes()[8..68]
        .chunks(20)
        .map(|c| c.iter().map(|b| format!("%{b:02X}")).collect::<String>())
        .collect::<Vec<_>>()
        .join("-");
    let script = format!(
        r#"[{{"http": {{"method": "POST", "scheme": "https", "authority": "api.stripe.com", "path": "/v1/customers"}}}}, {{"http": {{"method": "GET", "scheme": "https", "authority": "evil.example", "path": "/x"}}}}, {{"http": {{"path": "/v1/customers?limit=1&junk={cut}"}}}}, {{"http": {{"path": "/v1/nope?x={pasted}"}}}}, {{"http": {{"path": "/v1/evil?x={encoded}"}}}}]"#
    );
    let (status, answer) = post(
        &agent,
        &format!("{base}/v1/connections/{id}/query"),
        &script,
    );
    assert_eq!(status, 200, "{answer}");
    let mut metrics = String::new();
    agent
        .get(&format!("{base}/metrics"))
        .header("Authorization", &format!("Bearer {TOKEN}"))
        .call()
        .expect("metrics")
        .body_mut()
        .as_reader()
        .read_to_string(&mut metrics)
        .expect("metrics text");
    let sent = Instant::now();
    signal(&child, "TERM");
    let (_, log) = exit_and_log(child, sent, Duration::from_secs(20));
    let denials: Vec<&str> = log
        .lines()
        .filter(|l| l.starts_with("klairr-host: denied (hostile) "))
        .collect();
    assert!(
        metrics.contains(&format!(
            "klairr_denials_total{{connector=\"hostile\"}} {}",
            denials.len()
        )),
        "{metrics}\n{log}"
    );
    let [.., post_line, elsewhere, cut_line, pasted_line, encoded_line] = denials.as_slice() else {
        panic!("the query's five refusals are logged: {log}");
    };
    assert!(
        encoded_line.ends_with("a request carrying the credential in an encoded form (not shown)"),
        "{log}"
    );
    assert!(!log.contains(&encoded[..60]), "{log}");
    assert!(
        cut_line.contains("junk=") && cut_line.contains("[redacted]"),
        "{log}"
    );
    assert!(
        pasted_line.contains("/v1/nope?x=") && pasted_line.contains("[redacted]"),
        "{log}"
    );
    assert!(
        post_line.contains("POST https://api.stripe.com/v1/customers"),
        "{log}"
    );
    assert!(elsewhere.contains("evil.example"), "{log}");
    assert_no_key(keys::TEST_READ_ONLY, &log, "serve's log");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A `serve` started with SIGINT ignored (a script's `serve &`, which a shell starts so) keeps
/// ignoring it: a Ctrl-C meant for the foreground job does not stop it (QA). SIGTERM still does.
#[test]
fn a_serve_started_ignoring_sigint_keeps_ignoring_it() {
    let emu = emulator();
    let mut shell = Command::new("sh");
    shell.args([
        "-c",
        r#"trap '' INT; exec "$0" "$@""#,
        env!("CARGO_BIN_EXE_klairr-host-under-test"),
    ]);
    let (mut child, banner) = serve_started_by(shell, &emu, &[]);
    let base = banner
        .split_whitespace()
        .last()
        .expect("an address")
        .to_owned();
    signal(&child, "INT");
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        child.try_wait().expect("wait").is_none(),
        "SIGINT stopped it"
    );
    let health = agent()
        .get(&format!("{base}/healthz"))
        .call()
        .expect("still serving");
    assert_eq!(health.status().as_u16(), 200);
    let sent = Instant::now();
    signal(&child, "TERM");
    let (exit, log) = exit_and_log(child, sent, Duration::from_secs(20));
    assert_eq!(exit.code(), Some(0), "{log}");
}
