//! Load test of `klairr-host serve` (README, "serve" → "Load"): 50 concurrent clients send 10,000
//! queries over mixed tables (2,500 distinct, so at least 25% miss the cache) to one `serve` process,
//! which runs the Stripe component against an emulator process. Every answer must be a 200 with the
//! rows asked for; the bench fails otherwise. Prints p50/p99 latency, queries/s, upstream requests, the
//! cache hit ratio and the server's peak RSS.
//!
//! The connector runs under a copy of Stripe's manifest with the request budget raised to 1,000/s: this
//! measures the host, not Stripe's rate limit (at 24 requests/s the 2,500 misses alone take 104 s; the
//! budget itself is proven in `tests/concurrent_paging.rs`).
//!
//! `cargo bench -p klairr-host --bench serve_load`

#[path = "support/mod.rs"]
mod support;

use klairr_host::emulator::keys;
use klairr_host::policy::manifest::STRIPE_TOML;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const CLIENTS: usize = 50;
const QUERIES: usize = 10_000;
const TOKEN: &str = "load-test-token-0123456789";
const TABLES: [&str; 5] = [
    "customers",
    "subscriptions",
    "invoices",
    "charges",
    "payouts",
];
const SINCE: [&str; 5] = [
    "2020-01-01",
    "2024-01-01",
    "2025-01-01",
    "2025-06-01",
    "2026-01-01",
];

/// The 2,500 distinct queries: table × limit 1..=100 × created since.
fn distinct() -> Vec<String> {
    let mut queries = Vec::new();
    for table in TABLES {
        for limit in 1..=100 {
            for since in SINCE {
                queries.push(format!(
                    r#"{{"list":"{table}","limit":{limit},"filters":{{"created":{{"gte":"{since}"}}}}}}"#
                ));
            }
        }
    }
    queries
}

/// Every distinct query once plus repeats, in a fixed pseudo-random order.
fn workload() -> Vec<String> {
    let distinct = distinct();
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut all = distinct.clone();
    while all.len() < QUERIES {
        all.push(distinct[(next() % distinct.len() as u64) as usize].clone());
    }
    for i in (1..all.len()).rev() {
        all.swap(i, (next() % (i as u64 + 1)) as usize);
    }
    all
}

fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

fn main() {
    let emulator = support::EmulatorProcess::start(40, 60);
    let dir = std::env::temp_dir().join(format!("klairr-serve-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let manifest = STRIPE_TOML
        .replace("name = \"stripe\"", "name = \"stripe-load\"")
        .replace("per_endpoint = 24", "per_endpoint = 1000")
        .replace("per_credential_test = 24", "per_credential_test = 1000")
        // Each connector reads its own variable (the built-in one has STRIPE_API_KEY); serve's
        // connections are given their keys in the request anyway.
        .replace("env = \"STRIPE_API_KEY\"", "env = \"STRIPE_LOAD_API_KEY\"");
    std::fs::write(dir.join("stripe-load.toml"), manifest).expect("manifest");

    let mut server = Command::new(env!("CARGO_BIN_EXE_klairr-host"))
        .args([
            "--connectors",
            &dir.display().to_string(),
            "--stripe-base",
            &emulator.base,
        ])
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--max-connections",
            "64",
        ])
        .env("KLAIRR_HOST_TOKEN", TOKEN)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve starts");
    let mut banner = String::new();
    BufReader::new(server.stdout.take().expect("stdout"))
        .read_line(&mut banner)
        .expect("banner");
    let base = banner
        .split_whitespace()
        .last()
        .expect("address")
        .to_owned();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into();
    let auth = format!("Bearer {TOKEN}");
    let post = |agent: &ureq::Agent, path: &str, body: &str| -> (u16, String) {
        let mut r = agent
            .post(&format!("{base}{path}"))
            .header("Authorization", &auth)
            .send(body)
            .expect("request");
        let status = r.status().as_u16();
        (status, r.body_mut().read_to_string().unwrap_or_default())
    };

    let work = workload();
    let next = AtomicUsize::new(0);
    let errors = AtomicUsize::new(0);
    let started = Instant::now();
    let mut latencies: Vec<Duration> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..CLIENTS)
            .map(|_| {
                let (agent, work, next, errors, post) =
                    (agent.clone(), &work, &next, &errors, &post);
                scope.spawn(move || {
                    let body = format!(
                        r#"{{"connector":"stripe-load","credential":"{}","mode":"test"}}"#,
                        keys::TEST_READ_ONLY
                    );
                    let (status, created) = post(&agent, "/v1/connections", &body);
                    assert_eq!(status, 201, "{created}");
                    let v: serde_json::Value = serde_json::from_str(&created).expect("json");
                    let path = format!("/v1/connections/{}/query", v["id"].as_str().expect("id"));
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(query) = work.get(i) else { break };
                        let t = Instant::now();
                        let (status, answer) = post(&agent, &path, query);
                        mine.push(t.elapsed());
                        if status != 200 || !answer.starts_with("{\"table\"") {
                            errors.fetch_add(1, Ordering::Relaxed);
                            eprintln!("error: {status} {answer}");
                        }
                    }
                    mine
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("client"))
            .collect()
    });
    let elapsed = started.elapsed();
    let mut metrics = agent
        .get(&format!("{base}/metrics"))
        .header("Authorization", &auth)
        .call()
        .expect("metrics");
    let metrics = metrics.body_mut().read_to_string().unwrap_or_default();
    let counter = |prefix: &str| -> u64 {
        metrics
            .lines()
            .filter(|l| l.starts_with(prefix))
            .filter_map(|l| {
                l.split_whitespace()
                    .last()
                    .and_then(|n| n.parse::<u64>().ok())
            })
            .sum()
    };
    let hits = counter("klairr_cache_hits_total");
    let misses = counter("klairr_cache_misses_total");
    let upstream = counter("klairr_upstream_requests_total");
    let rss = peak_rss_kib(server.id());
    let _ = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&dir);

    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    let errors = errors.load(Ordering::Relaxed);
    println!(
        "serve load: {CLIENTS} clients, {} queries in {:.2} s = {:.0} queries/s; latency p50 {:.2} ms, p99 {:.2} ms; \
         cache {hits} hits / {misses} misses (hit ratio {:.1}%); {upstream} upstream requests (setup included); \
         server peak RSS {:.1} MiB; {errors} errors",
        latencies.len(),
        elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        100.0 * hits as f64 / (hits + misses).max(1) as f64,
        rss as f64 / 1024.0,
    );
    assert_eq!(errors, 0, "every query answered");
    assert_eq!(latencies.len(), QUERIES);
    assert!(misses * 5 >= QUERIES as u64, "at least 20% cache misses");
}
