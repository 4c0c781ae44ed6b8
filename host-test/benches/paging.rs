//! Sequential vs concurrent paging at real Stripe's latency: 10,000 customers with irregular creation
//! times, an emulator (in this process) that waits 250 ms before every answer and enforces Stripe's rate
//! limits (429 above 25 starts/s per endpoint or per test account), the Stripe component under its own
//! manifest. "Sequential" is the same component with the manifest's in-flight limit lowered to 1, which
//! is what one cursor does: one page at a time.
//!
//! `cargo bench -p klairr-host --bench paging` (add `-- --latency-ms N --customers N` to change them).
//! Prints wall time, requests, the most in flight and the 429s the limiter answered (always 0).

use klairr_host::emulator::{keys, Emulator, EmulatorConfig, RateLimit, Resource, Timeline};
use klairr_host::policy::origin::LoopbackBase;
use klairr_host::registry;
use klairr_host::sandbox::{wit, ConnectionConfig, Sandbox, SandboxOptions};
use std::time::{Duration, Instant};

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let latency = Duration::from_millis(arg("--latency-ms", 250));
    let customers = arg("--customers", 10_000) as usize;
    let emulator = Emulator::start(EmulatorConfig {
        customers,
        timeline: Timeline::Irregular,
        latency,
        rate_limit: Some(RateLimit::STRIPE),
        ..EmulatorConfig::default()
    })
    .expect("start the emulator");
    let want = emulator.ids(Resource::Customers);
    let query = format!(r#"{{"list":"customers","limit":{customers}}}"#);
    println!(
        "{customers} irregular customers, {} ms per request, Stripe's rate limits",
        latency.as_millis()
    );
    for (name, in_flight) in [
        ("sequential (1 in flight)", 1),
        ("concurrent (8 in flight)", 8),
    ] {
        let stripe = registry::Connector::stripe();
        let mut manifest = stripe.manifest;
        manifest.network.max_in_flight = in_flight;
        let options = SandboxOptions {
            redirect: Some(LoopbackBase::parse(&emulator.base_url()).expect("loopback")),
            ..SandboxOptions::default()
        };
        let sandbox = Sandbox::load(registry::STRIPE_COMPONENT, manifest, options).expect("load");
        for mode in [wit::Mode::Test, wit::Mode::Live] {
            let key = match mode {
                wit::Mode::Test => keys::TEST_READ_ONLY,
                wit::Mode::Live => keys::LIVE_READ_ONLY,
            };
            let mut conn = sandbox
                .open(&ConnectionConfig {
                    max_rows: Some(customers as u32),
                    ..ConnectionConfig::new(key, mode)
                })
                .expect("open");
            emulator.clear_requests();
            let started = Instant::now();
            let result = conn.query(&query).expect("query");
            let took = started.elapsed();
            assert_eq!(result.rows.len(), want.len());
            let seen = emulator.requests();
            let refused = seen.iter().filter(|r| r.status == 429).count();
            let most = emulator
                .max_starts_per_endpoint(Duration::from_secs(1))
                .into_values()
                .max()
                .unwrap_or(0);
            println!(
                "  {name:<26} {mode:<5?} {:>6.2} s  {:>4} requests  peak {} in flight  {most} starts in the busiest second  {refused} × 429",
                took.as_secs_f64(),
                result.requests,
                emulator.peak_in_flight(),
            );
        }
    }
}
