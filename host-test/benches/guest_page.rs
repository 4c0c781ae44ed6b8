//! The guest's work per 100-row page — parse the JSON, project typed rows, hand them to the caller — run
//! natively (the core as an rlib with an in-memory transport) and inside the component (the same page
//! delivered by an in-process upstream, so no socket is involved), plus the cost of a fresh instance.
//!
//! `cargo bench -p klairr-host --bench guest_page`; the README reports the figures and the ratio.
//! `KLAIRR_BENCH_COMPONENT=PATH` runs the component pages on another build of the Stripe component than
//! the embedded one, e.g. rustc's output before Binaryen (README, "Component size").

use criterion::{criterion_group, criterion_main, Criterion};
use klairr_host::emulator::{keys, Emulator, EmulatorConfig};
use klairr_host::registry;
use klairr_host::sandbox::{wit, ConnectionConfig, Sandbox, SandboxOptions, Upstream};
use klairr_stripe::connection::{Config, Connect, Connection};
use klairr_stripe::key::Mode;
use klairr_stripe::transport::{Clock, Completion, Http, Request, Response, Ticket};
use std::hint::black_box;
use std::io::{Read, Write};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// The component the component pages run: `KLAIRR_BENCH_COMPONENT` if set, else the embedded one.
fn component_under_test() -> &'static [u8] {
    static COMPONENT: OnceLock<Vec<u8>> = OnceLock::new();
    match std::env::var_os("KLAIRR_BENCH_COMPONENT") {
        None => registry::STRIPE_COMPONENT,
        Some(path) => COMPONENT.get_or_init(|| {
            std::fs::read(&path).unwrap_or_else(|e| {
                panic!("KLAIRR_BENCH_COMPONENT={}: {e}", path.to_string_lossy())
            })
        }),
    }
}

/// One real 100-object page from the emulator, fetched once over loopback.
fn page(emulator: &Emulator, table: &str) -> Vec<u8> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", emulator.port())).expect("connect");
    write!(
        stream,
        "GET /v1/{table}?limit=100{} HTTP/1.1\r\nHost: api.stripe.com\r\nAuthorization: Bearer {}\r\nStripe-Version: 2026-04-22.dahlia\r\nConnection: close\r\n\r\n",
        if table == "subscriptions" { "&status=all" } else { "" },
        keys::TEST_READ_ONLY
    )
    .expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("headers end")
        + 4;
    let body = raw[split..].to_vec();
    assert!(
        body.starts_with(b"{"),
        "a JSON body (not chunked): {}",
        String::from_utf8_lossy(&body[..40.min(body.len())])
    );
    body
}

/// The native stand-in for wasi:http: always the same page, with `has_more: false`.
struct Canned(Vec<u8>, Option<Ticket>);

impl Http for Canned {
    fn start(&mut self, _request: &Request) -> Ticket {
        self.1 = Some(Ticket(1));
        Ticket(1)
    }
    fn wait_any(&mut self, _timeout: Option<Duration>) -> Option<Completion> {
        let ticket = self.1.take()?;
        Some((
            ticket,
            Ok(Response {
                status: 200,
                request_id: Some("req_bench".into()),
                body: self.0.clone(),
                ..Default::default()
            }),
        ))
    }
    fn cancel(&mut self, _ticket: Ticket) {
        self.1 = None;
    }
}

/// No retries happen against a canned page: time stands still.
struct Still;

impl Clock for Still {
    fn sleep(&mut self, _duration: Duration) {}
    fn now(&mut self) -> Duration {
        Duration::ZERO
    }
    fn random_u64(&mut self) -> u64 {
        0
    }
}

fn without_has_more(mut body: Vec<u8>) -> Vec<u8> {
    let text = String::from_utf8(std::mem::take(&mut body)).expect("utf-8");
    // The page is served as the only page, so one query reads exactly these 100 rows.
    text.replace("\"has_more\":true", "\"has_more\":false")
        .replace("\"has_more\": true", "\"has_more\": false")
        .into_bytes()
}

fn bench_pages(c: &mut Criterion) {
    let emulator = Emulator::start(EmulatorConfig {
        customers: 200,
        subscriptions: 200,
        ..EmulatorConfig::default()
    })
    .expect("emulator");
    for (table, dsl, pretty) in [
        ("customers", r#"{"list":"customers","limit":100}"#, false),
        (
            "subscriptions",
            r#"{"list":"subscriptions","limit":100}"#,
            false,
        ),
        ("customers", r#"{"list":"customers","limit":100}"#, true),
    ] {
        let body = without_has_more(page(&emulator, table));
        // Stripe itself answers with indented JSON (two spaces, a space after each colon); the emulator
        // answers compactly. The `pretty` page is the same page as Stripe would lay it out.
        let (body, table) = if pretty {
            let value: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
            let body = serde_json::to_vec_pretty(&value).expect("pretty");
            (body, format!("{table}_as_stripe_indents"))
        } else {
            (body, table.to_owned())
        };

        let native = Connection::open(&Config::with(Mode::Test, "rk_test_…0000", None, None, None))
            .expect("open");
        let mut transport = Canned(body.clone(), None);
        let check = native
            .query(&mut transport, &mut Still, dsl)
            .expect("native query");
        assert_eq!(check.rows.len(), 100);
        c.bench_function(&format!("page_100_{table}/native"), |b| {
            b.iter(|| {
                black_box(
                    native
                        .query(&mut transport, &mut Still, black_box(dsl))
                        .expect("query"),
                )
            })
        });

        let sandbox = serving(body);
        let mut conn = sandbox.open(&config()).expect("open");
        assert_eq!(conn.query(dsl).expect("component query").rows.len(), 100);
        c.bench_function(&format!("page_100_{table}/component"), |b| {
            b.iter(|| black_box(conn.query(black_box(dsl)).expect("query")))
        });
    }
}

/// The fixed cost of one request through the sandbox — wasi:http plumbing, the host hook, an empty page
/// and an empty result — so the per-row work can be told apart from the round trip.
fn bench_empty_page(c: &mut Criterion) {
    let empty = br#"{"object":"list","url":"/v1/customers","has_more":false,"data":[]}"#.to_vec();
    let dsl = r#"{"list":"customers","limit":100}"#;
    let native = Connection::open(&Config::with(Mode::Test, "rk_test_…0000", None, None, None))
        .expect("open");
    let mut transport = Canned(empty.clone(), None);
    c.bench_function("page_0/native", |b| {
        b.iter(|| {
            black_box(
                native
                    .query(&mut transport, &mut Still, black_box(dsl))
                    .expect("query"),
            )
        })
    });
    let sandbox = serving(empty);
    let mut conn = sandbox.open(&config()).expect("open");
    c.bench_function("page_0/component", |b| {
        b.iter(|| black_box(conn.query(black_box(dsl)).expect("query")))
    });
}

/// The Stripe component whose every allowed request is answered in-process with `body` (no socket).
fn serving(body: Vec<u8>) -> Sandbox {
    let body = bytes::Bytes::from(body);
    let upstream = Upstream::InProcess(Arc::new(move |_parts| {
        http::Response::builder()
            .status(200)
            .header("request-id", "req_bench")
            .header("content-type", "application/json")
            .body(body.clone())
            .expect("response")
    }));
    let stripe = registry::Connector::stripe();
    // The guest's work is measured, not Stripe's rate limit: the budget is raised out of the way.
    let mut manifest = stripe.manifest;
    manifest.budget.per_endpoint = 100_000;
    manifest.budget.per_credential_test = 100_000;
    let options = SandboxOptions {
        upstream,
        ..SandboxOptions::default()
    };
    Sandbox::load(component_under_test(), manifest, options).expect("load")
}

fn config() -> ConnectionConfig {
    ConnectionConfig::new(keys::TEST_READ_ONLY, wit::Mode::Test)
}

fn bench_instantiate(c: &mut Criterion) {
    let sandbox = Sandbox::load(
        registry::STRIPE_COMPONENT,
        registry::Connector::stripe().manifest,
        SandboxOptions::default(),
    )
    .expect("load");
    c.bench_function("instantiate_and_open", |b| {
        b.iter(|| black_box(sandbox.open(&config()).expect("open")))
    });
    c.bench_function("compile_component", |b| {
        b.iter(|| {
            black_box(
                Sandbox::load(
                    registry::STRIPE_COMPONENT,
                    registry::Connector::stripe().manifest,
                    SandboxOptions::default(),
                )
                .expect("load"),
            )
        })
    });
    println!(
        "component size: {:.1} KiB",
        registry::STRIPE_COMPONENT.len() as f64 / 1024.0
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(4)).sample_size(30);
    targets = bench_pages, bench_empty_page, bench_instantiate
}
criterion_main!(benches);
