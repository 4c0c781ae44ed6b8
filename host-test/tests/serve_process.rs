//! `klairr-host serve` as a process: SIGHUP reloads every connector, SIGTERM lets the call in flight
//! finish and exits 0. (The API itself is tested in-process in `tests/serve.rs`.)

use klairr_host::emulator::{keys, Emulator, EmulatorConfig};
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "process-token-0123456789";

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

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

fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{name}");
}

#[test]
fn sighup_reloads_and_sigterm_drains_then_exits_0() {
    let emu = Emulator::start(EmulatorConfig::default()).expect("emulator");
    let mut child = Command::new(env!("CARGO_BIN_EXE_klairr-host"))
        .args(["--stripe-base", &emu.base_url(), "--compile-cache", "off"])
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
    let base = banner
        .split_whitespace()
        .last()
        .expect("an address")
        .to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{banner}");
    let agent = agent();
    let body = format!(
        r#"{{"connector":"stripe","credential":"{}"}}"#,
        keys::TEST_READ_ONLY
    );
    let (status, created) = post(&agent, &format!("{base}/v1/connections"), &body);
    assert_eq!(status, 201, "{created}");
    let id: String = created
        .split("\"id\":\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("an id")
        .to_owned();

    signal(child.id(), "HUP");
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
    signal(child.id(), "TERM");
    let (status, answer) = in_flight.join().expect("the call in flight");
    assert_eq!(status, 200, "the call in flight finished: {answer}");
    assert!(answer.contains("\"table\":\"customers\""), "{answer}");

    let exit = loop {
        if let Some(exit) = child.try_wait().expect("wait") {
            break exit;
        }
        assert!(
            sent.elapsed() < Duration::from_secs(20),
            "serve did not exit after SIGTERM"
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
    assert!(exit.success(), "exit 0 after a drain: {exit:?}\n{log}");
    assert!(log.contains("reloaded stripe: version 2"), "{log}");
    assert!(log.contains("drained; exiting"), "{log}");
    assert!(!log.contains(keys::TEST_READ_ONLY), "{log}");
}
