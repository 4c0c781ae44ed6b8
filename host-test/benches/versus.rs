//! The data path against two baselines: marginal rows/s between 2,000 and 30,000 customers (the extra
//! rows over the extra time, so start-up and fixed costs cancel out) against the emulator in another
//! process, with no added latency, for:
//!
//! - **klairr**: the Stripe component in the host's sandbox, through the keep-alive pool, the result
//!   checks, the result cache (as `klairr-host query` answers: canonical query, lookup, the result
//!   kept) and `--format json` rendering — in this process, with the rate budget lifted (at Stripe's
//!   budget every client is limited to the same 2,400 rows/s, which says nothing about the data path);
//! - **python**: `benches/python_pager.py`, `requests` with a keep-alive session + `json`, one cursor;
//! - **native**: the connector's own pure core (`klairr_stripe::rows::parse_page`: typed decode and
//!   projection) compiled natively, `ureq` with keep-alive, one cursor, `serde_json` out — the same job
//!   with no sandbox.
//!
//! `cargo bench -p klairr-host --bench versus` (needs `python3` with `requests`).

mod support;

use klairr_host::emulator::keys;
use klairr_host::output;
use klairr_host::policy::origin::LoopbackBase;
use klairr_host::registry;
use klairr_host::sandbox::{wit, ConnectionConfig, Sandbox, SandboxOptions};
use klairr_host::service::{Answers, CACHE_BYTES, CACHE_ENTRIES};
use klairr_stripe::rows::parse_page;
use klairr_stripe::schema::{Cell, Table};
use serde::ser::{SerializeSeq, Serializer};
use std::process::Command;
use std::time::{Duration, Instant};
use support::EmulatorProcess;

const SIZES: [usize; 2] = [2_000, 30_000];

/// One way to read `rows` customers from the emulator at a base URL; returns the median time.
type Client = fn(&str, usize) -> Duration;
const RUNS: usize = 5;

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn klairr(base: &str, rows: usize) -> Duration {
    let stripe = registry::Connector::stripe();
    let mut manifest = stripe.manifest;
    manifest.budget.per_endpoint = 1000;
    manifest.budget.per_credential_test = 1000;
    let options = SandboxOptions {
        redirect: Some(LoopbackBase::parse(base).expect("loopback")),
        ..SandboxOptions::default()
    };
    let sandbox = Sandbox::load(registry::STRIPE_COMPONENT, manifest, options).expect("load");
    let config = ConnectionConfig {
        max_rows: Some(rows as u32),
        ..ConnectionConfig::new(keys::TEST_READ_ONLY, wit::Mode::Test)
    };
    let dsl = format!(r#"{{"list":"customers","limit":{rows}}}"#);
    let times = (0..RUNS)
        .map(|_| {
            let mut conn = sandbox.open(&config).expect("open");
            // A fresh cache per run, as each `klairr-host query` process has.
            let answers = Answers::new(None, CACHE_ENTRIES, CACHE_BYTES);
            let start = Instant::now();
            let answer = answers.query(&sandbox, &mut conn, &dsl).expect("query");
            let result = &answer.result;
            let json = output::query_json(result, answer.served);
            let took = start.elapsed();
            assert_eq!(result.rows.len(), rows);
            assert!(json.len() > rows * 50);
            took
        })
        .collect();
    median(times)
}

fn python(base: &str, rows: usize) -> Duration {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/python_pager.py");
    let times = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            let out = Command::new("python3")
                .args([script, base, keys::TEST_READ_ONLY, &rows.to_string()])
                .output()
                .expect("run python3");
            let took = start.elapsed();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("python JSON");
            assert_eq!(v["rows"].as_array().map(Vec::len), Some(rows));
            took
        })
        .collect();
    median(times)
}

/// One row's cells as JSON values, typed as `--format json` types them.
struct JsonRow<'a>(&'a [Cell]);

impl serde::Serialize for JsonRow<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for cell in self.0 {
            match cell {
                Cell::Null => seq.serialize_element(&())?,
                Cell::Text(t) => seq.serialize_element(t)?,
                Cell::Integer(i) => seq.serialize_element(i)?,
                Cell::Boolean(b) => seq.serialize_element(b)?,
            }
        }
        seq.end()
    }
}

fn native(base: &str, rows: usize) -> Duration {
    let agent = ureq::Agent::new_with_defaults();
    let times = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            let mut all: Vec<Vec<Cell>> = Vec::with_capacity(rows);
            let mut after: Option<String> = None;
            while all.len() < rows {
                let mut url = format!("{base}/v1/customers?limit={}", (rows - all.len()).min(100));
                if let Some(id) = &after {
                    url.push_str("&starting_after=");
                    url.push_str(id);
                }
                let body = agent
                    .get(&url)
                    .header("Authorization", &format!("Bearer {}", keys::TEST_READ_ONLY))
                    .header("Stripe-Version", "2026-04-22.dahlia")
                    .call()
                    .expect("GET")
                    .body_mut()
                    .read_to_vec()
                    .expect("body");
                let page = parse_page(Table::Customers, &body).expect("page");
                all.extend(page.rows);
                if !page.has_more {
                    break;
                }
                after = page.last_id;
            }
            let json = serde_json::to_string(&all.iter().map(|r| JsonRow(r)).collect::<Vec<_>>())
                .expect("JSON");
            let took = start.elapsed();
            assert_eq!(all.len(), rows);
            assert!(json.len() > rows * 50);
            took
        })
        .collect();
    median(times)
}

fn main() {
    let clients: [(&str, Client); 3] = [("klairr", klairr), ("python", python), ("native", native)];
    let mut medians = vec![Vec::new(); clients.len()];
    for rows in SIZES {
        let emulator = EmulatorProcess::start(rows, 10);
        for (i, (name, run)) in clients.iter().enumerate() {
            let took = run(&emulator.base, rows);
            println!(
                "{name:>7} {rows:>6} rows: median {:.1} ms",
                took.as_secs_f64() * 1e3
            );
            medians[i].push(took);
        }
    }
    println!(
        "\n| client | marginal rows/s ({} → {}) |",
        SIZES[0], SIZES[1]
    );
    println!("|---|---:|");
    let extra = (SIZES[1] - SIZES[0]) as f64;
    let rates: Vec<f64> = medians
        .iter()
        .map(|m| extra / (m[1].saturating_sub(m[0])).as_secs_f64().max(1e-9))
        .collect();
    for ((name, _), rate) in clients.iter().zip(&rates) {
        println!("| {name} | {rate:.0} |");
    }
    println!(
        "\nklairr: {:.2}x python, {:.0}% of native",
        rates[0] / rates[1],
        rates[0] / rates[2] * 100.0
    );
}
