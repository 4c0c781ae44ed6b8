//! The keep-alive pool over loopback TLS: sequential small GETs (a page each) through
//! `klairr_host::sandbox::Pool`, against a hyper server behind tokio-rustls in the same process, with
//! a certificate made at start (rcgen) and trusted through `PoolOptions::extra_roots`.
//!
//! Three ways of sending, each timed over the same requests:
//! - `pooled`: the pool as the host uses it (one connection, one TLS handshake, reused);
//! - `no reuse`: the same pool with keep-alive off (`max_idle_per_origin: 0`): a connection and a TLS
//!   handshake per request, but one rustls client config, so TLS 1.3 session resumption applies;
//! - `fresh`: a new pool per request with keep-alive off: a new rustls config with the webpki roots, a
//!   connection and a full handshake per request — what wasmtime-wasi-http's `default_send_request`
//!   does for every request. (That sender itself only trusts the webpki roots, so it cannot reach a
//!   loopback server with a test certificate; `fresh` stands in for it.)
//!
//! `cargo bench -p klairr-host --bench pool` (`-- --requests N --runs N` to change the sizes).
//! Prints the load average before and after: the figures are only as quiet as the machine.

use bytes::Bytes;
use http_body_util::BodyExt;
use klairr_host::sandbox::pool::{Pool, PoolOptions};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime_wasi_http::WasiBody;

/// A Stripe-like list page of one customer: what a small page costs on the wire.
const PAGE: &str = r#"{"object":"list","data":[{"id":"cus_BenchPool000001","object":"customer","created":1700000000,"email":"ada@example.com","livemode":false,"name":"Ada"}],"has_more":true,"url":"/v1/customers"}"#;

#[derive(Default)]
struct Handshakes {
    accepts: AtomicUsize,
    full: AtomicUsize,
    resumed: AtomicUsize,
}

/// A keep-alive HTTP/1.1 server on loopback TLS that answers every request with [`PAGE`].
async fn serve() -> (SocketAddr, CertificateDer<'static>, Arc<Handshakes>) {
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()])
        .expect("a self-signed certificate");
    let root = certified.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(vec![root.clone()], key)
        .expect("the server's certificate");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let counts = Arc::new(Handshakes::default());
    let shared = counts.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let _ = tcp.set_nodelay(true);
            shared.accepts.fetch_add(1, Ordering::Relaxed);
            let (acceptor, counts) = (acceptor.clone(), shared.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let resumed = matches!(
                    tls.get_ref().1.handshake_kind(),
                    Some(rustls::HandshakeKind::Resumed)
                );
                match resumed {
                    true => counts.resumed.fetch_add(1, Ordering::Relaxed),
                    false => counts.full.fetch_add(1, Ordering::Relaxed),
                };
                let service = hyper::service::service_fn(|_request| async {
                    let body = http_body_util::Full::new(Bytes::from_static(PAGE.as_bytes()));
                    Ok::<_, std::convert::Infallible>(http::Response::new(body))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    (addr, root, counts)
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Pooled,
    NoReuse,
    Fresh,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Pooled => "pooled",
            Mode::NoReuse => "no reuse",
            Mode::Fresh => "fresh",
        }
    }
}

fn page_request(addr: SocketAddr, n: usize) -> http::Request<WasiBody> {
    let body = http_body_util::Empty::new()
        .map_err(|never| match never {})
        .boxed_unsync();
    http::Request::get(format!(
        "https://{addr}/v1/customers?limit=1&starting_after=cus_{n:06}"
    ))
    .header(http::header::HOST, "api.stripe.com")
    .body(body)
    .expect("request")
}

fn pool_for(mode: Mode, root: &CertificateDer<'static>) -> Pool {
    let max_idle = match mode {
        Mode::Pooled => PoolOptions::default().max_idle_per_origin,
        Mode::NoReuse | Mode::Fresh => 0,
    };
    Pool::new(PoolOptions {
        extra_roots: vec![root.clone()],
        max_idle_per_origin: max_idle,
        ..PoolOptions::default()
    })
    .expect("a pool")
}

/// One run: `requests` sequential GETs, each body read whole. Returns the wall time.
async fn run(
    mode: Mode,
    requests: usize,
    addr: SocketAddr,
    root: &CertificateDer<'static>,
) -> Duration {
    let shared = pool_for(mode, root);
    let started = Instant::now();
    for n in 0..requests {
        let fresh;
        let pool = match mode {
            Mode::Fresh => {
                fresh = pool_for(mode, root);
                &fresh
            }
            Mode::Pooled | Mode::NoReuse => &shared,
        };
        let (response, done) = pool
            .send(page_request(addr, n), None)
            .await
            .expect("answered");
        let body = response
            .into_body()
            .collect()
            .await
            .expect("the body")
            .to_bytes();
        assert_eq!(body.len(), PAGE.len());
        done.await;
    }
    started.elapsed()
}

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let requests = arg(&args, "--requests", 100).max(1);
    let runs = arg(&args, "--runs", 7).max(1);
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "pool bench: {requests} sequential GETs over loopback TLS per run, {runs} runs per mode (median shown); \
         {cpus} CPUs, load average before: {}",
        load_average()
    );

    // The host's runtime shape: two worker threads (sandbox/mod.rs); the server shares them.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let (addr, root, counts) = serve().await;
        let mut medians = Vec::new();
        println!(
            "{:<9} {:>11} {:>13} {:>11} {:>15} {:>13}",
            "mode", "total ms", "per request", "TCP conns", "full handshakes", "resumed"
        );
        for mode in [Mode::Pooled, Mode::NoReuse, Mode::Fresh] {
            // Warm-up: code paths, allocator, and (for `no reuse`) the session cache.
            run(mode, 5, addr, &root).await;
            let before = (
                counts.accepts.load(Ordering::Relaxed),
                counts.full.load(Ordering::Relaxed),
                counts.resumed.load(Ordering::Relaxed),
            );
            let mut times = Vec::new();
            for _ in 0..runs {
                times.push(run(mode, requests, addr, &root).await);
            }
            times.sort();
            let median = times[times.len() / 2];
            let per_run = |now: usize, then: usize| (now - then) as f64 / runs as f64;
            println!(
                "{:<9} {:>11.1} {:>10.0} µs {:>11.1} {:>15.1} {:>13.1}",
                mode.name(),
                median.as_secs_f64() * 1e3,
                median.as_secs_f64() * 1e6 / requests as f64,
                per_run(counts.accepts.load(Ordering::Relaxed), before.0),
                per_run(counts.full.load(Ordering::Relaxed), before.1),
                per_run(counts.resumed.load(Ordering::Relaxed), before.2),
            );
            medians.push((mode, median));
        }
        let of = |m: Mode| {
            medians
                .iter()
                .find(|(mode, _)| *mode == m)
                .map_or(Duration::ZERO, |(_, d)| *d)
        };
        let pooled = of(Mode::Pooled).as_secs_f64();
        println!(
            "pooled is {:.1}x faster than no reuse and {:.1}x faster than fresh (medians; TCP conns and \
             handshakes are per run, counted by the server)",
            of(Mode::NoReuse).as_secs_f64() / pooled,
            of(Mode::Fresh).as_secs_f64() / pooled,
        );
    });
    println!("load average after: {}", load_average());
}
