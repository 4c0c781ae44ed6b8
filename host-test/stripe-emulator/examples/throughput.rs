//! Rough numbers: data generation time and rows/s served to one sequential client paging with
//! `starting_after` (a new connection per page, as a worst case); an irregular data set's
//! generation time; and the wall time of n requests at once with 250 ms latency each.
//! `cargo run --release -p klairr-stripe-emulator --example throughput`

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use klairr_stripe_emulator::{keys, Emulator, EmulatorConfig, Timeline};

fn get(port: u16, target: &str) -> std::io::Result<Vec<u8>> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    let head = format!(
        "GET {target} HTTP/1.1\r\nHost: api.stripe.com\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        keys::TEST_READ_ONLY
    );
    s.write_all(head.as_bytes())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let at = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(0, |p| p + 4);
    Ok(raw.split_off(at))
}

fn main() -> std::io::Result<()> {
    let n = 10_000;
    let cfg = EmulatorConfig {
        customers: n,
        subscriptions: n,
        invoices: n,
        charges: n,
        payouts: n,
        ..EmulatorConfig::default()
    };
    let t = Instant::now();
    let emu = Emulator::start(cfg)?;
    println!(
        "generated 5 x {n} objects and listening in {:?}",
        t.elapsed()
    );
    for table in ["customers", "invoices", "charges"] {
        let t = Instant::now();
        let (mut rows, mut after, mut fetch) = (0usize, String::new(), 0.0);
        loop {
            let f = Instant::now();
            let body = get(emu.port(), &format!("/v1/{table}?limit=100{after}"))?;
            fetch += f.elapsed().as_secs_f64();
            let v: serde_json::Value =
                serde_json::from_slice(&body).map_err(std::io::Error::other)?;
            let data = v["data"].as_array().map(Vec::as_slice).unwrap_or_default();
            rows += data.len();
            match (
                v["has_more"].as_bool(),
                data.last().and_then(|o| o["id"].as_str()),
            ) {
                (Some(true), Some(id)) => after = format!("&starting_after={id}"),
                _ => break,
            }
        }
        let s = t.elapsed().as_secs_f64();
        println!(
            "{table}: {rows} rows in {s:.3} s = {:.0} rows/s; HTTP alone {fetch:.3} s = {:.0} rows/s",
            rows as f64 / s,
            rows as f64 / fetch
        );
    }
    drop(emu);

    let t = Instant::now();
    let emu = Emulator::start(EmulatorConfig {
        customers: 30_000,
        timeline: Timeline::Irregular,
        latency: Duration::from_millis(250),
        ..EmulatorConfig::default()
    })?;
    println!(
        "generated 30,000 customers on an irregular timeline and listening in {:?}",
        t.elapsed()
    );
    let port = emu.port();
    for n in [1, 8, 10, 25] {
        let t = Instant::now();
        let clients: Vec<_> = (0..n)
            .map(|_| std::thread::spawn(move || get(port, "/v1/customers?limit=100")))
            .collect();
        for c in clients {
            c.join()
                .map_err(|_| std::io::Error::other("client panicked"))??;
        }
        println!(
            "{n} requests at once, 250 ms latency each: {:?} (peak in flight {})",
            t.elapsed(),
            emu.peak_in_flight()
        );
        emu.clear_requests();
    }
    Ok(())
}
