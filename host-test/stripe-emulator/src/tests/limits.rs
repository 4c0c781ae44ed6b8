//! Through real loopback sockets: concurrency under latency, keep-alive, Stripe's rate limits,
//! and the request log's start times.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use super::Http;
use crate::{keys, Emulator, EmulatorConfig, RateLimit, Resource, Timeline};

const SECOND: Duration = Duration::from_secs(1);

/// A client connection that keeps alive: requests one after another on one socket.
struct Conn(BufReader<TcpStream>);

impl Conn {
    fn open(port: u16) -> Conn {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        s.set_nodelay(true).expect("nodelay");
        Conn(BufReader::new(s))
    }

    fn send(&mut self, method: &str, target: &str, key: &str) {
        let head = format!(
            "{method} {target} HTTP/1.1\r\nHost: api.stripe.com\r\nStripe-Version: 2026-04-22.dahlia\r\nAuthorization: Bearer {key}\r\nContent-Length: 0\r\n\r\n"
        );
        self.0.get_mut().write_all(head.as_bytes()).expect("write");
    }

    /// Read one response, its body by `Content-Length`, leaving the connection open.
    fn read(&mut self) -> Http {
        let mut line = String::new();
        self.0.read_line(&mut line).expect("status line");
        let status = line
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("status line {line:?}"));
        let mut headers = Vec::new();
        loop {
            line.clear();
            self.0.read_line(&mut line).expect("header");
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                headers.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        let len: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse().ok())
            .expect("content-length");
        let mut body = vec![0; len];
        self.0.read_exact(&mut body).expect("body");
        Http {
            status,
            headers,
            body,
        }
    }

    fn get(&mut self, target: &str, key: &str) -> Http {
        self.send("GET", target, key);
        self.read()
    }
}

fn start(config: EmulatorConfig) -> Emulator {
    Emulator::start(config).expect("start")
}

/// `n` clients on their own connections, released together, each sending one request to
/// `target`; returns the statuses and the wall time from release to the last response.
fn together(port: u16, n: usize, target: &str) -> (Vec<u16>, Duration) {
    let barrier = Arc::new(Barrier::new(n + 1));
    let clients: Vec<_> = (0..n)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            let target = target.to_string();
            std::thread::spawn(move || {
                let mut c = Conn::open(port);
                barrier.wait();
                c.get(&target, keys::TEST_READ_ONLY).status
            })
        })
        .collect();
    barrier.wait();
    let t = Instant::now();
    let statuses = clients
        .into_iter()
        .map(|c| c.join().expect("client"))
        .collect();
    (statuses, t.elapsed())
}

#[test]
fn requests_in_flight_wait_together() {
    let emu = start(EmulatorConfig {
        customers: 2000,
        latency: Duration::from_millis(250),
        timeline: Timeline::Irregular,
        ..EmulatorConfig::default()
    });
    for n in [8, 10] {
        emu.clear_requests();
        let (statuses, took) = together(emu.port(), n, "/v1/customers?limit=100");
        assert!(statuses.iter().all(|&s| s == 200), "{statuses:?}");
        // One after another they would take n × 250 ms.
        assert!(
            took >= Duration::from_millis(250) && took < SECOND,
            "{n} requests at 250 ms took {took:?}"
        );
        assert_eq!(emu.peak_in_flight(), n, "all {n} were in flight at once");
        assert_eq!(emu.requests().len(), n);
    }
    emu.clear_requests();
    assert_eq!(emu.peak_in_flight(), 0);
}

#[test]
fn keep_alive_serves_many_requests_on_one_connection() {
    let emu = start(EmulatorConfig {
        customers: 500,
        latency: Duration::from_millis(5),
        ..EmulatorConfig::default()
    });
    let mut c = Conn::open(emu.port());
    let mut got = Vec::new();
    let mut after = String::new();
    for _ in 0..10 {
        let r = c.get(
            &format!("/v1/customers?limit=50{after}"),
            keys::TEST_READ_ONLY,
        );
        assert_eq!(r.status, 200);
        assert_ne!(r.header("connection"), Some("close"));
        let v = r.json();
        let data = v["data"].as_array().expect("data");
        got.extend(
            data.iter()
                .map(|o| o["id"].as_str().unwrap_or("").to_string()),
        );
        after = format!("&starting_after={}", got.last().expect("a row"));
    }
    assert_eq!(got, emu.ids(Resource::Customers));
    // Errors keep the connection too, and two requests may be sent before either is read.
    c.send("GET", "/v1/nope", keys::TEST_READ_ONLY);
    c.send("GET", "/v1/charges?limit=1", keys::TEST_READ_ONLY);
    assert_eq!(c.read().status, 404);
    assert_eq!(c.read().status, 200);
    assert_eq!(emu.requests().len(), 12);
}

#[test]
fn the_rate_limiter_answers_429_exactly_above_25_starts_in_a_window() {
    let emu = start(EmulatorConfig {
        rate_limit: Some(RateLimit::ENDPOINT),
        ..EmulatorConfig::default()
    });
    let mut c = Conn::open(emu.port());
    let statuses: Vec<u16> = (0..30)
        .map(|_| c.get("/v1/customers?limit=1", keys::TEST_READ_ONLY).status)
        .collect();
    let log = emu.requests();
    let first = log[0].arrived;
    assert!(
        log[29].arrived - first < SECOND,
        "30 requests on one connection took over a second; the test needs them in one window"
    );
    assert_eq!(statuses[..25], [200; 25]);
    assert_eq!(statuses[25..], [429; 5]);
    assert_eq!(
        emu.max_starts_in_any_window("GET /v1/customers", SECOND),
        30
    );

    // Stripe's 429: `rate_limit`, the reason header, no retry hints.
    let r = c.get("/v1/customers?limit=1", keys::TEST_READ_ONLY);
    assert_eq!(r.status, 429);
    let v = r.json();
    assert_eq!(v["error"]["type"], "invalid_request_error");
    assert_eq!(v["error"]["code"], "rate_limit");
    assert_eq!(
        v["error"]["doc_url"],
        "https://stripe.com/docs/error-codes/rate-limit"
    );
    assert!(v["error"]["message"]
        .as_str()
        .is_some_and(|m| m.starts_with("Testmode request rate limit exceeded")));
    assert_eq!(
        r.header("stripe-rate-limited-reason"),
        Some("endpoint-rate")
    );
    assert_eq!(r.header("stripe-should-retry"), None);
    assert_eq!(r.header("retry-after"), None);
    assert_eq!(r.header("content-type"), Some("application/json"));

    // Other endpoints and the live mode have windows of their own.
    assert_eq!(
        c.get("/v1/charges?limit=1", keys::TEST_READ_ONLY).status,
        200
    );
    let first_customer = &emu.ids(Resource::Customers)[0];
    assert_eq!(
        c.get(
            &format!("/v1/customers/{first_customer}"),
            keys::TEST_READ_ONLY
        )
        .status,
        200
    );
    assert_eq!(
        c.get("/v1/customers?limit=1", keys::LIVE_READ_ONLY).status,
        200
    );
    // Requests Stripe cannot attribute to the account are not limited.
    c.send("GET", "/v1/customers", "rk_test_unknown");
    assert_eq!(c.read().status, 401);

    // Once the first start has left the window, exactly one more fits (refusals did not count).
    let wait = (first + SECOND).saturating_duration_since(Instant::now());
    std::thread::sleep(wait + Duration::from_millis(20));
    let late = emu.requests().len();
    let again: Vec<u16> = (0..3)
        .map(|_| c.get("/v1/customers?limit=1", keys::TEST_READ_ONLY).status)
        .collect();
    let log = emu.requests();
    // Every admitted start, by the log: never more than 25 in any window.
    let admitted: Vec<Instant> = log
        .iter()
        .filter(|r| r.endpoint.as_deref() == Some("GET /v1/customers"))
        .filter(|r| {
            r.status == 200
                && r.key_hint
                    .as_deref()
                    .is_some_and(|k| k.starts_with("rk_test_"))
        })
        .map(|r| r.arrived)
        .collect();
    assert_eq!(crate::max_in_any_window(&admitted, SECOND), 25);
    // The oracle: a start is refused exactly when 25 admitted starts lie in the second before it.
    for (i, r) in log[late..].iter().enumerate() {
        let before = admitted
            .iter()
            .filter(|&&t| t < r.arrived && r.arrived - t < SECOND)
            .count();
        assert_eq!(r.status == 429, before >= 25, "request {i} after the wait");
    }
    assert_eq!(again[0], 200, "{again:?}");

    // Off again: no limits.
    emu.set_rate_limit(None);
    assert!((0..30).all(|_| c.get("/v1/customers?limit=1", keys::TEST_READ_ONLY).status == 200));
}

#[test]
fn concurrent_bursts_are_cut_at_25_and_the_account_limit_spans_endpoints() {
    let emu = start(EmulatorConfig {
        rate_limit: Some(RateLimit::ENDPOINT),
        ..EmulatorConfig::default()
    });
    let (statuses, took) = together(emu.port(), 40, "/v1/invoices?limit=3");
    assert!(took < SECOND, "40 clients took {took:?}");
    assert_eq!(statuses.iter().filter(|&&s| s == 200).count(), 25);
    assert_eq!(statuses.iter().filter(|&&s| s == 429).count(), 15);
    assert_eq!(
        emu.max_starts_per_endpoint(SECOND)
            .get("GET /v1/invoices")
            .copied(),
        Some(40)
    );

    // Stripe's account limit in test mode: 25 a second over all endpoints.
    emu.set_rate_limit(Some(RateLimit::STRIPE));
    let mut c = Conn::open(emu.port());
    let t = Instant::now();
    for i in 0..25 {
        let table = ["customers", "charges", "payouts"][i % 3];
        let r = c.get(&format!("/v1/{table}?limit=1"), keys::TEST_READ_ONLY);
        assert_eq!(r.status, 200, "{i}");
    }
    let r = c.get("/v1/subscriptions?limit=1", keys::TEST_READ_ONLY);
    assert!(t.elapsed() < SECOND);
    assert_eq!(r.status, 429);
    assert_eq!(r.header("stripe-rate-limited-reason"), Some("global-rate"));
    // Live mode is another account mode, with 100.
    let live = (0..30)
        .filter(|i| {
            let table = ["customers", "charges"][i % 2];
            c.get(&format!("/v1/{table}?limit=1"), keys::LIVE_READ_ONLY)
                .status
                == 200
        })
        .count();
    assert_eq!(live, 30);
}

#[test]
fn the_log_keeps_start_times_endpoints_and_statuses() {
    let emu = start(EmulatorConfig::default());
    let before = Instant::now();
    let mut c = Conn::open(emu.port());
    let id = emu.ids(Resource::Charges)[0].clone();
    c.get("/v1/charges?limit=2", keys::TEST_READ_ONLY);
    c.get(&format!("/v1/charges/{id}"), keys::TEST_READ_ONLY);
    c.send(
        "POST",
        &format!("/v1/charges/{id}/capture"),
        keys::TEST_SECRET,
    );
    c.read();
    c.send("DELETE", "/v1/customers/cus_nope", keys::TEST_SECRET);
    c.read();
    c.get("/v1/nope", keys::TEST_READ_ONLY);
    let log = emu.requests();
    let endpoints: Vec<Option<&str>> = log.iter().map(|r| r.endpoint.as_deref()).collect();
    assert_eq!(
        endpoints,
        [
            Some("GET /v1/charges"),
            Some("GET /v1/charges/{id}"),
            Some("POST /v1/charges/{id}/capture"),
            Some("DELETE /v1/customers/{id}"),
            None,
        ]
    );
    let statuses: Vec<u16> = log.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 200, 200, 404, 404]);
    assert!(log[0].arrived >= before);
    assert!(log.windows(2).all(|w| w[0].arrived <= w[1].arrived));
    assert_eq!(emu.max_starts_in_any_window("", SECOND), 5);
    assert_eq!(emu.max_starts_in_any_window("GET /v1/charges", SECOND), 2);
    assert_eq!(emu.max_starts_in_any_window("POST", SECOND), 1);
    let per = emu.max_starts_per_endpoint(SECOND);
    assert_eq!(per.len(), 4);
    assert_eq!(per.get("GET /v1/charges"), Some(&1));
    // The ids with their creation times, newest first, as the list serves them.
    let created = emu.created(Resource::Charges);
    assert_eq!(
        created.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>(),
        emu.ids(Resource::Charges)
    );
    assert!(created.windows(2).all(|w| w[0].1 >= w[1].1));
}
