//! The hook on its own, driven the way wasmtime-wasi-http drives it, without a component.

use super::super::pool::test_server::{Behaviour, Server};
use super::super::pool::PoolOptions;
use super::*;
use http_body_util::BodyExt;
use klairr_policy::credential::Mode;
use klairr_policy::origin::LoopbackBase;

const KEY: &str = "rk_test_51KlairrHookTestKeyXq7Lm2Nv9Rt4Wp8Zs3Bk6Yd1Hf5Jc0Gu2Ea7Ti9Oq4Vx6Ln3Mr8Sw1Pz5Kb0Dy7Fh2Cg9Uj4Qe6Ia1000";

type Seen = Arc<Mutex<Vec<http::request::Parts>>>;

fn hooks_with(manifest: Manifest, redirect: Option<&str>) -> (PolicyHooks, Seen) {
    let seen: Seen = Arc::default();
    let record = seen.clone();
    let upstream = Upstream::InProcess(Arc::new(move |parts: &http::request::Parts| {
        if let Ok(mut s) = record.lock() {
            s.push(parts.clone());
        }
        http::Response::new(bytes::Bytes::from_static(b"{}"))
    }));
    let pool = Pool::new(PoolOptions::default()).expect("pool");
    (hooks_on(manifest, redirect, upstream, pool), seen)
}

fn hooks_on(
    manifest: Manifest,
    redirect: Option<&str>,
    upstream: Upstream,
    pool: Pool,
) -> PolicyHooks {
    let mut network = manifest.network.policy();
    if let Some(base) = redirect {
        network = network.redirect_to(LoopbackBase::parse(base).expect("base"));
    }
    let credential = manifest
        .credential
        .accept(KEY, Mode::Test)
        .expect("a valid test key");
    let attached = Arc::new(ConnectionCredential {
        credential,
        id: [7; 32],
    });
    let mut hooks = PolicyHooks::new(
        Arc::new(manifest),
        Arc::new(network),
        upstream,
        Some(attached),
        Arc::default(),
        pool,
    );
    hooks.call = CallState::new(Phase::Query, Duration::from_secs(30), 100);
    hooks
}

fn hooks() -> (PolicyHooks, Seen) {
    hooks_with(Manifest::stripe(), None)
}

fn request(method: &str, uri: &str, headers: &[(&str, &str)]) -> http::Request<WasiBody> {
    let body = http_body_util::Full::new(bytes::Bytes::from_static(b"email=x@evil.example"))
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut builder = http::Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(body).expect("request")
}

fn send(hooks: &mut PolicyHooks, request: http::Request<WasiBody>) -> ResponseFuture {
    hooks.send_request(request, None, Box::new(async { Ok(()) }))
}

fn run<T>(f: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime")
        .block_on(f)
}

fn outcome(hooks: &mut PolicyHooks, request: http::Request<WasiBody>) -> bool {
    run(Box::into_pin(send(hooks, request))).is_ok()
}

const LIST: &str = "https://api.stripe.com/v1/customers?limit=1";

#[test]
fn denied_requests_never_reach_the_upstream_and_the_log_says_why() {
    let (mut hooks, seen) = hooks();
    let cases = [
        ("POST", "https://api.stripe.com/v1/customers"),
        (
            "DELETE",
            "https://api.stripe.com/v1/customers/cus_RealId123",
        ),
        ("GET", "https://evil.example/v1/customers"),
        ("GET", "http://api.stripe.com/v1/customers"),
        (
            "GET",
            "https://api.stripe.com/v1/customers?expand%5B%5D=data",
        ),
        ("GET", "https://api.stripe.com/v1/../v1/customers"),
    ];
    for (method, uri) in cases {
        assert!(
            !outcome(&mut hooks, request(method, uri, &[])),
            "{method} {uri}"
        );
    }
    assert!(seen.lock().expect("lock").is_empty(), "nothing was sent");
    assert_eq!(hooks.log.len(), cases.len(), "{:?}", hooks.log);
    assert_eq!(hooks.call.sent, 0);
}

#[test]
fn the_host_attaches_the_credential_and_pinned_headers_at_the_redirected_origin() {
    let (mut hooks, seen) = hooks_with(Manifest::stripe(), Some("http://127.0.0.1:12111"));
    assert!(outcome(&mut hooks, request("GET", LIST, &[])));
    let sent = seen.lock().expect("lock");
    let parts = &sent[0];
    assert_eq!(
        parts.uri.to_string(),
        "http://127.0.0.1:12111/v1/customers?limit=1"
    );
    assert_eq!(
        parts
            .headers
            .get_all("authorization")
            .iter()
            .collect::<Vec<_>>(),
        [format!("Bearer {KEY}").as_str()]
    );
    assert_eq!(parts.headers["stripe-version"], "2026-04-22.dahlia");
    assert_eq!(hooks.call.sent, 1);
}

#[test]
fn the_guest_cannot_set_the_credential_header() {
    let (mut hooks, _seen) = hooks();
    let forbidden = hooks.forbidden_header_filter();
    for name in [
        "authorization",
        "proxy-authorization",
        "stripe-account",
        "host",
    ] {
        let name = http::HeaderName::from_static(name);
        assert!(forbidden(&name), "{name}");
    }
    assert!(!forbidden(&http::HeaderName::from_static("accept")));
}

#[test]
fn offline_calls_may_send_nothing_and_their_log_quotes_nothing() {
    let (mut hooks, seen) = hooks();
    hooks.call = CallState::new(Phase::Offline, Duration::from_secs(5), 100);
    let leak = format!("https://api.stripe.com/v1/customers?leak={KEY}");
    assert!(!outcome(&mut hooks, request("GET", &leak, &[])));
    assert!(seen.lock().expect("lock").is_empty());
    assert!(!hooks.log[0].contains("leak"), "{:?}", hooks.log);
}

/// The hooks do not look for the credential in what a component sends: it never holds it, so a run of
/// it there is a guess, and any outcome that depended on it would answer the guess (QA rebuilt a key
/// so). A right guess and a wrong one are sent alike where the rules allow them; where they do not,
/// they are refused alike, and the credential is masked in the log once the call has returned (masking
/// while the component runs took longer for a right guess, which it could time: QA).
#[test]
fn a_guess_at_the_credential_is_sent_or_refused_as_any_other_text() {
    let run = &KEY[40..52];
    let (mut hooks, seen) = hooks();
    for piece in [run, "Zz9Zz9Zz9Zz9"] {
        let uri = format!("https://api.stripe.com/v1/customers?starting_after={piece}");
        assert!(outcome(&mut hooks, request("GET", &uri, &[])), "{uri}");
    }
    assert_eq!(seen.lock().expect("lock").len(), 2);
    assert!(hooks.log.is_empty(), "{:?}", hooks.log);
    // Refused by the rules (no such path): both alike, the run masked in the log.
    for piece in [run, "Zz9Zz9Zz9Zz9"] {
        let uri = format!("https://api.stripe.com/v1/nope?x={piece}");
        assert!(!outcome(&mut hooks, request("GET", &uri, &[])), "{uri}");
    }
    assert_eq!(hooks.log.len(), 2);
    assert!(hooks.log[0].contains(run), "not masked during the call");
    hooks.mask_denials();
    assert!(!hooks.log[0].contains(run), "{:?}", hooks.log);
    assert_eq!(
        hooks.log[0].replace("[redacted]", "Zz9Zz9Zz9Zz9"),
        hooks.log[1],
        "the same line but for the mask"
    );
}

#[test]
fn the_per_call_ceiling_stops_the_next_request() {
    let (mut hooks, seen) = hooks();
    hooks.call = CallState::new(Phase::Query, Duration::from_secs(30), 2);
    assert!(outcome(&mut hooks, request("GET", LIST, &[])));
    assert!(outcome(&mut hooks, request("GET", LIST, &[])));
    assert!(!outcome(&mut hooks, request("GET", LIST, &[])));
    assert!(hooks.ceiling_hit());
    assert_eq!(seen.lock().expect("lock").len(), 2);
}

#[test]
fn over_the_in_flight_limit_a_request_waits_until_a_slot_frees() {
    let mut manifest = Manifest::stripe();
    manifest.network.max_in_flight = 1;
    let (mut hooks, seen) = hooks_with(manifest, None);
    // Another request of the same credential holds the only slot.
    let gate = hooks.gates.in_flight([7; 32], "stripe", 1);
    let held = gate.key.clone().try_acquire_owned().expect("the slot");
    let waiting = send(&mut hooks, request("GET", LIST, &[]));
    run(async move {
        let mut waiting = Box::into_pin(waiting);
        let waited = tokio::time::timeout(Duration::from_millis(200), waiting.as_mut()).await;
        assert!(waited.is_err(), "the request waited for a slot");
        drop(held);
        let (_response, _body_done) = waiting
            .await
            .expect("sent once the slot is free, not refused");
    });
    assert_eq!(seen.lock().expect("lock").len(), 1);
}

#[test]
fn connectors_sharing_a_key_keep_their_own_in_flight_limit_and_the_largest_together() {
    let gates = SharedGates::default();
    let key = [9; 32];
    // The first connector on the key allows 2; a second allows 8.
    let (narrow, wide) = (
        gates.in_flight(key, "narrow", 2),
        gates.in_flight(key, "wide", 8),
    );
    let take = |slots: &gates::InFlightSlots| {
        let own = slots.own.clone().try_acquire_owned().ok()?;
        let key = slots.key.clone().try_acquire_owned().ok()?;
        Some((own, key))
    };
    let narrow_held: Vec<_> = (0..3).filter_map(|_| take(&narrow)).collect();
    assert_eq!(narrow_held.len(), 2, "the narrow connector's own limit");
    let wide_held: Vec<_> = (0..8).filter_map(|_| take(&wide)).collect();
    assert_eq!(
        wide_held.len(),
        6,
        "the key's 8, of which the narrow one holds 2"
    );
    drop(narrow_held);
    let freed: Vec<_> = (0..8).filter_map(|_| take(&wide)).collect();
    assert_eq!(freed.len(), 2);
    // The same connector and limit asked for again is the same gate; a third connector's 4 grows
    // nothing.
    let again = gates.in_flight(key, "narrow", 2);
    assert!(Arc::ptr_eq(&again.own, &narrow.own) && Arc::ptr_eq(&again.key, &wide.key));
    let four = gates.in_flight(key, "third", 4);
    assert_eq!(
        four.key.available_permits() + wide_held.len() + freed.len(),
        8
    );
    // Another connector with the narrow one's limit has a gate of its own (QA: after a reload, a new
    // version's 2 shared the old call's 2 of another connector and waited for it).
    assert!(!Arc::ptr_eq(
        &gates.in_flight(key, "other", 2).own,
        &narrow.own
    ));
    // Another key has gates of its own.
    assert!(!Arc::ptr_eq(
        &gates.in_flight([1; 32], "wide", 8).key,
        &wide.key
    ));
}

#[test]
fn a_slot_frees_when_the_answer_begins_not_when_the_body_is_read() {
    let mut manifest = Manifest::stripe();
    manifest.network.max_in_flight = 1;
    let (mut hooks, seen) = hooks_with(manifest, None);
    let first = send(&mut hooks, request("GET", LIST, &[]));
    let second = send(&mut hooks, request("GET", LIST, &[]));
    run(async move {
        // The first's head is in, its body unread: the second still goes (a fan-out that waits for
        // every head before reading any body must not wedge itself).
        let (_first, _first_body) = Box::into_pin(first).await.expect("first is sent");
        let second = tokio::time::timeout(Duration::from_secs(5), Box::into_pin(second)).await;
        assert!(matches!(second, Ok(Ok(_))), "the second was sent");
    });
    assert_eq!(seen.lock().expect("lock").len(), 2);
}

#[test]
fn over_budget_a_request_waits_for_the_next_second() {
    let mut manifest = Manifest::stripe();
    manifest.budget.per_endpoint = 2;
    let (mut hooks, seen) = hooks_with(manifest, None);
    let started = Instant::now();
    for _ in 0..3 {
        assert!(outcome(&mut hooks, request("GET", LIST, &[])));
    }
    assert!(
        started.elapsed() >= Duration::from_millis(990),
        "the third of 2/s waited: {:?}",
        started.elapsed()
    );
    assert_eq!(seen.lock().expect("lock").len(), 3);
}

/// QA: a second manifest held to a lower rate, given the same key in `serve`, queued the first
/// connector's requests behind its own waits (~5x slower). They now take the instants before them.
#[test]
fn a_connector_held_to_a_lower_rate_does_not_hold_back_another_given_the_same_key() {
    let gates: Arc<SharedGates> = Arc::default();
    let sharing = |manifest: Manifest| {
        let pool = Pool::new(PoolOptions::default()).expect("pool");
        let upstream = Upstream::InProcess(Arc::new(|_: &http::request::Parts| {
            http::Response::new(bytes::Bytes::from_static(b"{}"))
        }));
        let mut hooks = hooks_on(manifest, None, upstream, pool);
        hooks.gates = gates.clone();
        hooks
    };
    let mut strict_manifest = Manifest::stripe();
    strict_manifest.name = "strict".into();
    strict_manifest.budget.per_endpoint = 1;
    strict_manifest.budget.per_credential_test = 1;
    let mut strict = sharing(strict_manifest);
    let mut roomy = sharing(Manifest::stripe());
    run(async move {
        // The strict connector's three requests: one a second, the last two seconds ahead.
        let queued: Vec<_> = (0..3)
            .map(|_| tokio::spawn(Box::into_pin(send(&mut strict, request("GET", LIST, &[])))))
            .collect();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let started = Instant::now();
        for _ in 0..3 {
            let (_response, _body) = Box::into_pin(send(&mut roomy, request("GET", LIST, &[])))
                .await
                .expect("sent");
        }
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "the roomy connector waited {:?} behind the strict one's queue",
            started.elapsed()
        );
        for request in queued {
            let (_response, _body) = request.await.expect("joined").expect("sent");
        }
    });
}

// ---- over the network, through the pool -------------------------------------------------------

/// Hooks sending over the network to `server` (the Stripe origin redirected to its https base), with
/// a pool trusting the server's certificate.
fn network_hooks(manifest: Manifest, server: &Server) -> (PolicyHooks, Pool) {
    let pool = Pool::new(PoolOptions {
        extra_roots: vec![server.root.clone()],
        ..PoolOptions::default()
    })
    .expect("pool");
    let hooks = hooks_on(
        manifest,
        Some(&server.base()),
        Upstream::Network,
        pool.clone(),
    );
    (hooks, pool)
}

/// A page request as wasmtime-wasi-http hands it over: Host set to the guest's authority.
fn page() -> http::Request<WasiBody> {
    request("GET", LIST, &[("host", "api.stripe.com")])
}

/// Drive a request the way wasmtime-wasi-http does: the head, the body-done future on a task of its
/// own, then the body.
async fn exchange(sent: ResponseFuture) -> Result<bytes::Bytes, Error> {
    let (response, done) = Box::into_pin(sent).await?;
    let done = tokio::spawn(Box::into_pin(done));
    let body = response.into_body().collect().await?.to_bytes();
    let _ = done.await;
    Ok(body)
}

const SMALL: Behaviour = Behaviour::KeepAlive {
    delay: Duration::ZERO,
    body: 2,
};

/// A page the pool resends on a fresh connection (the server closed the kept-alive one under it,
/// having read it) is a request of its own to the server: it takes a budget start of its own once that
/// connection is ready, and counts as sent. Budget: one a second on the endpoint; handshakes take
/// 1.5 s (review: the resend went out uncounted, two arrivals 0.4 s apart).
#[tokio::test]
async fn a_resent_page_keeps_to_the_budget_and_is_counted() {
    let server = Server::start(Behaviour::SlowHandshakeDropSecond {
        delay: Duration::from_millis(1500),
    })
    .await;
    let mut manifest = Manifest::stripe();
    manifest.budget.per_endpoint = 1;
    let (mut hooks, _pool) = network_hooks(manifest, &server);
    // Opens the connection (1.5 s), starts at ~1.5 s, and puts the connection back in the pool.
    exchange(send(&mut hooks, page()))
        .await
        .expect("first page");
    // Two at once: one takes the kept-alive connection (the server reads it and closes: resent on a
    // fresh connection), the other opens its own.
    let pages: Vec<_> = (0..2)
        .map(|_| tokio::spawn(exchange(send(&mut hooks, page()))))
        .collect();
    for page in pages {
        page.await.expect("joined").expect("answered");
    }
    let mut arrived: Vec<Instant> = server.requests().iter().map(|r| r.at).collect();
    arrived.sort();
    assert_eq!(arrived.len(), 4, "three pages and one resend");
    let closest = arrived
        .windows(2)
        .map(|w| w[1] - w[0])
        .min()
        .expect("arrivals");
    assert!(
        closest >= Duration::from_secs(1),
        "two arrivals {closest:?} apart under a budget of one a second"
    );
    assert_eq!(
        hooks.on_the_wire.load(std::sync::atomic::Ordering::Relaxed),
        4,
        "every request the server read is counted as sent"
    );
}

/// The budget counts a request when it can go on the wire. Three pages at once under a budget of
/// two a second, to a server whose TLS handshakes take 600 ms: counted before the handshake, the
/// first two would reach the server at ~0.6 s and the third (counted at 1.1 s, on a connection
/// they freed) at ~1.1 s, three in one of the server's seconds.
#[tokio::test]
async fn the_budget_counts_a_start_once_its_connection_is_ready() {
    let server = Server::start(Behaviour::SlowHandshake {
        delay: Duration::from_millis(600),
    })
    .await;
    let mut manifest = Manifest::stripe();
    manifest.budget.per_endpoint = 2;
    let (mut hooks, _pool) = network_hooks(manifest, &server);
    let pages: Vec<_> = (0..3)
        .map(|_| tokio::spawn(exchange(send(&mut hooks, page()))))
        .collect();
    for page in pages {
        assert_eq!(&page.await.expect("joined").expect("answered")[..], b"xx");
    }
    let mut arrived: Vec<Instant> = server.requests().iter().map(|r| r.at).collect();
    arrived.sort();
    assert_eq!(arrived.len(), 3);
    let spread = arrived[2] - arrived[0];
    assert!(
        spread >= Duration::from_secs(1),
        "three arrivals within {spread:?} under a budget of two a second"
    );
}

#[tokio::test]
async fn pages_share_one_tls_connection_to_the_redirected_origin_with_the_original_host() {
    let server = Server::start(SMALL).await;
    let (mut hooks, pool) = network_hooks(Manifest::stripe(), &server);
    for _ in 0..10 {
        let body = exchange(send(&mut hooks, page())).await.expect("answered");
        assert_eq!(&body[..], b"xx");
    }
    assert_eq!(server.accepts(), 1, "TCP connections");
    assert_eq!(server.handshakes(), 1, "TLS handshakes");
    assert_eq!(pool.stats().reused, 9);
    let seen = server.requests();
    assert_eq!(seen.len(), 10);
    let bearer = format!("Bearer {KEY}");
    for request in seen {
        assert_eq!(request.target, "/v1/customers?limit=1");
        assert_eq!(request.host.as_deref(), Some("api.stripe.com"));
        assert_eq!(request.authorization.as_deref(), Some(bearer.as_str()));
    }
}

#[tokio::test]
async fn concurrent_pages_open_at_most_the_in_flight_count_of_connections_then_reuse_them() {
    let server = Server::start(Behaviour::KeepAlive {
        delay: Duration::from_millis(50),
        body: 2,
    })
    .await;
    let mut manifest = Manifest::stripe();
    manifest.network.max_in_flight = 3;
    let (mut hooks, pool) = network_hooks(manifest, &server);
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..9 {
        set.spawn(exchange(send(&mut hooks, page())));
    }
    while let Some(joined) = set.join_next().await {
        joined.expect("task").expect("answered");
    }
    assert_eq!(server.requests().len(), 9);
    assert_eq!(server.accepts(), 3, "one connection per in-flight slot");
    assert_eq!(server.handshakes(), 3);
    assert_eq!(pool.stats().reused, 6);
}

#[tokio::test]
async fn the_body_cap_holds_on_pooled_connections_and_a_cut_body_frees_its_slot() {
    // Many frames, so the cap cuts the body before its end (a body whose last frame arrived
    // whole leaves its connection clean and reusable, whatever the cap says about it).
    let server = Server::start(Behaviour::KeepAlive {
        delay: Duration::ZERO,
        body: 256 * 1024,
    })
    .await;
    let mut manifest = Manifest::stripe();
    manifest.network.max_response_bytes = 1024;
    manifest.network.max_in_flight = 1;
    let (mut hooks, _pool) = network_hooks(manifest, &server);
    for attempt in 0..2 {
        // The second waits for the only slot: it gets it because the cut body is done.
        let result =
            tokio::time::timeout(Duration::from_secs(5), exchange(send(&mut hooks, page())))
                .await
                .unwrap_or_else(|_| panic!("attempt {attempt} got no slot"));
        assert!(
            matches!(result, Err(Error::HttpResponseBodySize(Some(1024)))),
            "{result:?}"
        );
    }
    assert_eq!(server.accepts(), 2, "a cut connection is not reused");
}

#[tokio::test]
async fn a_stalled_tls_handshake_ends_at_the_manifests_connect_ceiling() {
    let server = Server::start(Behaviour::SilentHandshake).await;
    let mut manifest = Manifest::stripe();
    manifest.network.timeouts.connect = Duration::from_millis(300);
    let (mut hooks, _pool) = network_hooks(manifest, &server);
    let started = Instant::now();
    let result = tokio::time::timeout(Duration::from_secs(10), exchange(send(&mut hooks, page())))
        .await
        .expect("no hang");
    assert!(
        matches!(result, Err(Error::ConnectionTimeout)),
        "{result:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.handshakes(), 0);
}

/// A long-lived connection fills its log of refusals (the first 64): a later call's error still names
/// why its own first request was refused (review: it said only that the log was full).
#[test]
fn a_calls_first_denial_is_kept_after_the_log_is_full() {
    let (mut hooks, _seen) = hooks();
    for _ in 0..70 {
        hooks.begin_call(CallState::new(Phase::Query, Duration::from_secs(30), 100));
        assert!(!outcome(
            &mut hooks,
            request("POST", "https://api.stripe.com/v1/customers", &[])
        ));
    }
    assert_eq!(hooks.log.len(), super::denials::MAX_LOG_LINES);
    hooks.begin_call(CallState::new(Phase::Query, Duration::from_secs(30), 100));
    assert_eq!(hooks.first_denial, None, "a fresh call has none");
    assert!(!outcome(
        &mut hooks,
        request("GET", "https://evil.example/x", &[])
    ));
    assert!(!outcome(
        &mut hooks,
        request("POST", "https://api.stripe.com/v1/customers", &[])
    ));
    let first = hooks.first_denial.clone().expect("the call's first denial");
    assert!(first.contains("evil.example"), "{first}");
    assert_eq!(
        hooks.log.len(),
        super::denials::MAX_LOG_LINES,
        "the log stays bounded"
    );
}

/// The work on a call's refusals takes a time set by their length alone, whether or not they hold runs
/// of the credential: a component whose caller asks again at once timed the gap before its next call
/// (QA).
#[test]
fn masking_refusals_is_padded_to_their_length() {
    let run = &KEY[40..52];
    for piece in [run, "Zz9Zz9Zz9Zz9"] {
        let (mut hooks, _seen) = hooks();
        let uri = format!(
            "https://api.stripe.com/v1/nope?x={}",
            format!("{piece}-").repeat(300)
        );
        for _ in 0..4 {
            assert!(!outcome(&mut hooks, request("GET", &uri, &[])));
        }
        let bytes: usize = hooks.log.iter().map(String::len).sum::<usize>()
            + hooks.first_denial.as_ref().map_or(0, String::len);
        let started = std::time::Instant::now();
        hooks.mask_denials();
        hooks.wait_out_masking();
        let took = started.elapsed();
        let budget = Duration::from_nanos(bytes as u64 * super::denials::MASK_NS_PER_BYTE);
        assert!(
            took >= budget,
            "{piece}: {took:?} for a budget of {budget:?}"
        );
        assert!(!hooks.log[0].contains(run), "masked");
    }
}
