//! End-to-end throughput: the host, the sandboxed component and the emulator (in a separate
//! `klairr-host emulator` process, so the figures are the host's alone), with no added latency.
//! Reports rows/s for 10,000 customers and 10,000 subscriptions, and the host's peak resident memory.
//!
//! `cargo bench -p klairr-host --bench throughput` (add `-- --rows N` to change the size).

mod support;

use klairr_host::emulator::keys;
use klairr_host::policy::origin::LoopbackBase;
use klairr_host::registry;
use klairr_host::sandbox::{wit, ConnectionConfig, Sandbox, SandboxOptions};
use std::time::Instant;
use support::EmulatorProcess;

const RUNS: usize = 5;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rows: usize = args
        .iter()
        .position(|a| a == "--rows")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000);

    let emulator = EmulatorProcess::start(rows, rows);
    let base = emulator.base.clone();

    let stripe = registry::Connector::stripe();
    // This measures the host and the component, not Stripe's rate limit: the budget is raised far above
    // what the loopback emulator can be asked for.
    let mut manifest = stripe.manifest;
    manifest.budget.per_endpoint = 1000;
    manifest.budget.per_credential_test = 1000;
    let options = SandboxOptions {
        redirect: Some(LoopbackBase::parse(&base).expect("loopback")),
        ..SandboxOptions::default()
    };
    let sandbox = Sandbox::load(registry::STRIPE_COMPONENT, manifest, options).expect("load");
    let config = ConnectionConfig {
        max_rows: Some(rows as u32),
        ..ConnectionConfig::new(keys::TEST_READ_ONLY, wit::Mode::Test)
    };

    println!("| table | rows | requests | median time | rows/s |");
    println!("|---|---:|---:|---:|---:|");
    for table in ["customers", "subscriptions"] {
        let dsl = format!(r#"{{"list":"{table}","limit":{rows}}}"#);
        let mut times = Vec::new();
        let mut requests = 0;
        for _ in 0..RUNS {
            let mut conn = sandbox.open(&config).expect("open");
            let start = Instant::now();
            let result = conn.query(&dsl).expect("query");
            times.push(start.elapsed());
            assert_eq!(result.rows.len(), rows, "{table}");
            requests = result.requests;
        }
        times.sort();
        let median = times[RUNS / 2];
        println!(
            "| {table} | {rows} | {requests} | {:.1} ms | {:.0} |",
            median.as_secs_f64() * 1e3,
            rows as f64 / median.as_secs_f64()
        );
    }
    println!(
        "\nhost peak RSS: {}",
        peak_rss().unwrap_or_else(|| "unknown".into())
    );
}

/// VmHWM from /proc (Linux): the process's peak resident set size.
fn peak_rss() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(format!("{:.1} MiB", kb / 1024.0))
}
