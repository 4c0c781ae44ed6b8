//! The pool against loopback TLS servers that count what reaches them (`test_server.rs`).

use super::test_server::{Behaviour, Server};
use super::*;
use http_body_util::BodyExt;

const SMALL: Behaviour = Behaviour::KeepAlive {
    delay: Duration::ZERO,
    body: 2,
};

fn pool_for(server: &Server, max_idle: usize, idle_timeout: Duration) -> Pool {
    Pool::new(PoolOptions {
        extra_roots: vec![server.root.clone()],
        max_idle_per_origin: max_idle,
        idle_timeout,
    })
    .expect("a pool")
}

fn pool(server: &Server) -> Pool {
    pool_for(server, DEFAULT_MAX_IDLE_PER_ORIGIN, DEFAULT_IDLE_TIMEOUT)
}

fn request(method: http::Method, server: &Server) -> http::Request<WasiBody> {
    http::Request::builder()
        .method(method)
        .uri(format!("{}/v1/customers?limit=1", server.base()))
        .header(http::header::HOST, "api.stripe.com")
        .body(empty_body())
        .expect("request")
}

fn get(server: &Server) -> http::Request<WasiBody> {
    request(http::Method::GET, server)
}

fn timeouts(connect: u64, first_byte: u64, between_bytes: u64) -> Option<RequestOptions> {
    Some(RequestOptions {
        connect_timeout: Some(Duration::from_millis(connect)),
        first_byte_timeout: Some(Duration::from_millis(first_byte)),
        between_bytes_timeout: Some(Duration::from_millis(between_bytes)),
    })
}

/// `future`, or a failure if it takes over 5 s: a broken timeout fails its test instead of hanging it.
async fn within_5s<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(5), future)
        .await
        .expect("finished within 5 s")
}

/// Send, read the whole body, wait for the body to be done.
async fn fetch(
    pool: &Pool,
    request: http::Request<WasiBody>,
    options: Option<RequestOptions>,
) -> Result<Bytes, Error> {
    let (response, done) = pool.send(request, options).await?;
    let body = response.into_body().collect().await?.to_bytes();
    done.await;
    Ok(body)
}

#[tokio::test]
async fn sequential_requests_to_one_origin_make_one_connection_and_one_handshake() {
    let server = Server::start(SMALL).await;
    let pool = pool(&server);
    for _ in 0..20 {
        let body = fetch(&pool, get(&server), None).await.expect("answered");
        assert_eq!(&body[..], b"xx");
    }
    assert_eq!(server.accepts(), 1, "TCP connections the server accepted");
    assert_eq!(
        server.handshakes(),
        1,
        "TLS handshakes the server completed"
    );
    assert_eq!(server.requests().len(), 20);
    let stats = pool.stats();
    assert_eq!(
        stats,
        PoolStats {
            connections: 1,
            tls_handshakes: 1,
            reused: 19,
            retried: 0
        }
    );
    // The request line is origin-form and the Host header is the caller's.
    let seen = &server.requests()[0];
    assert_eq!(seen.target, "/v1/customers?limit=1");
    assert_eq!(seen.host.as_deref(), Some("api.stripe.com"));
}

#[tokio::test]
async fn concurrent_requests_open_a_connection_each_then_reuse_them() {
    let server = Server::start(Behaviour::KeepAlive {
        delay: Duration::from_millis(100),
        body: 2,
    })
    .await;
    let pool = pool(&server);
    for round in 0..3 {
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..4 {
            let (pool, request) = (pool.clone(), get(&server));
            set.spawn(async move { fetch(&pool, request, None).await });
        }
        while let Some(joined) = set.join_next().await {
            joined.expect("task").expect("answered");
        }
        assert_eq!(server.accepts(), 4, "after round {round}");
    }
    assert_eq!(server.handshakes(), 4);
    assert_eq!(pool.stats().reused, 8);
}

#[tokio::test]
async fn without_idle_connections_every_request_opens_its_own() {
    let server = Server::start(SMALL).await;
    let pool = pool_for(&server, 0, DEFAULT_IDLE_TIMEOUT);
    for _ in 0..5 {
        fetch(&pool, get(&server), None).await.expect("answered");
    }
    assert_eq!(server.accepts(), 5);
    assert_eq!(server.handshakes(), 5);
    assert_eq!(pool.stats().reused, 0);
}

#[tokio::test]
async fn an_idle_connection_past_the_idle_timeout_is_not_reused() {
    let server = Server::start(SMALL).await;
    let pool = pool_for(&server, 4, Duration::from_millis(50));
    fetch(&pool, get(&server), None).await.expect("first");
    fetch(&pool, get(&server), None)
        .await
        .expect("second, at once");
    assert_eq!(server.accepts(), 1);
    tokio::time::sleep(Duration::from_millis(150)).await;
    fetch(&pool, get(&server), None)
        .await
        .expect("third, later");
    assert_eq!(server.accepts(), 2);
}

#[tokio::test]
async fn a_server_closing_idle_connections_costs_new_connections_not_errors() {
    let server = Server::start(Behaviour::CloseAfterAnswer).await;
    let pool = pool(&server);
    // Back to back: the next request may cross the server's close, and is resent.
    for _ in 0..5 {
        fetch(&pool, get(&server), None)
            .await
            .expect("answered on a fresh connection");
    }
    // With a pause: the pool sees the close first and does not offer the connection.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        fetch(&pool, get(&server), None)
            .await
            .expect("answered on a fresh connection");
    }
    assert_eq!(server.accepts(), 8, "one connection per answer");
    assert_eq!(pool.stats().connections, 8);
}

#[tokio::test]
async fn a_get_the_server_dropped_unanswered_is_resent_once_on_a_fresh_connection() {
    let server = Server::start(Behaviour::DropSecondRequest).await;
    let pool = pool(&server);
    fetch(&pool, get(&server), None).await.expect("first");
    let body = fetch(&pool, get(&server), None)
        .await
        .expect("the second is resent and answered");
    assert_eq!(&body[..], b"{}");
    assert_eq!(server.accepts(), 2);
    // The first connection saw two requests (one dropped), the fresh one the resent request.
    let seen = server.requests();
    assert_eq!(seen.len(), 3);
    assert!(seen.iter().all(|r| r.method == "GET"), "{seen:?}");
    assert_eq!(pool.stats().retried, 1);
}

#[tokio::test]
async fn a_post_the_server_dropped_unanswered_is_not_resent() {
    let server = Server::start(Behaviour::DropSecondRequest).await;
    let pool = pool(&server);
    fetch(&pool, request(http::Method::POST, &server), None)
        .await
        .expect("first");
    let second = fetch(&pool, request(http::Method::POST, &server), None).await;
    assert!(
        matches!(&second, Err(Error::Hyper(e)) if e.is_incomplete_message()),
        "{second:?}"
    );
    assert_eq!(server.accepts(), 1, "no second connection");
    let seen = server.requests();
    assert_eq!(seen.len(), 2, "the second POST went out once");
    assert!(seen.iter().all(|r| r.method == "POST"), "{seen:?}");
    assert_eq!(pool.stats().retried, 0);
}

#[tokio::test]
async fn a_stalled_tls_handshake_ends_at_the_connect_timeout() {
    let server = Server::start(Behaviour::SilentHandshake).await;
    let pool = pool(&server);
    let started = Instant::now();
    let result = within_5s(fetch(&pool, get(&server), timeouts(200, 60_000, 60_000))).await;
    assert!(
        matches!(result, Err(Error::ConnectionTimeout)),
        "{result:?}"
    );
    let took = started.elapsed();
    assert!(
        (Duration::from_millis(190)..Duration::from_secs(2)).contains(&took),
        "{took:?}"
    );
    assert_eq!(server.accepts(), 1);
    assert_eq!(server.handshakes(), 0);
}

#[tokio::test]
async fn a_silent_server_ends_at_the_first_byte_timeout() {
    let server = Server::start(Behaviour::SilentAfterRequest).await;
    let pool = pool(&server);
    let started = Instant::now();
    let result = within_5s(fetch(&pool, get(&server), timeouts(60_000, 200, 60_000))).await;
    assert!(
        matches!(result, Err(Error::ConnectionReadTimeout)),
        "{result:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn a_stalled_body_ends_at_the_between_bytes_timeout_and_its_connection_is_not_reused() {
    let server = Server::start(Behaviour::StallBody).await;
    let pool = pool(&server);
    let (response, done) = within_5s(pool.send(get(&server), timeouts(60_000, 60_000, 200)))
        .await
        .expect("the head arrives");
    let started = Instant::now();
    let read = within_5s(response.into_body().collect()).await;
    assert!(
        matches!(read, Err(Error::ConnectionReadTimeout)),
        "{:?}",
        read.map(|c| c.to_bytes())
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    // The failed body is done: the hooks' in-flight slot would be free again.
    tokio::time::timeout(Duration::from_secs(1), done)
        .await
        .expect("done once the body failed");
    let (response, _done) = pool
        .send(get(&server), timeouts(5_000, 5_000, 200))
        .await
        .expect("a second head");
    drop(response);
    assert_eq!(
        server.accepts(),
        2,
        "a fresh connection for the next request"
    );
}

#[tokio::test]
async fn a_body_dropped_half_read_is_done_and_closes_its_connection() {
    let server = Server::start(Behaviour::KeepAlive {
        delay: Duration::ZERO,
        body: 1 << 20,
    })
    .await;
    let pool = pool(&server);
    let (response, done) = pool.send(get(&server), None).await.expect("head");
    let mut body = response.into_body();
    body.frame().await.expect("a frame").expect("data");
    drop(body);
    tokio::time::timeout(Duration::from_secs(1), done)
        .await
        .expect("done once the body is dropped");
    fetch(&pool, get(&server), None).await.expect("answered");
    assert_eq!(
        server.accepts(),
        2,
        "the half-read connection was not reused"
    );
}

#[tokio::test]
async fn errors_carry_the_default_senders_codes() {
    // Nothing listens: connection refused, as `Error::Connect`.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("address").port();
    drop(closed);
    let pool = Pool::new(PoolOptions::default()).expect("pool");
    let refused = http::Request::get(format!("https://127.0.0.1:{port}/"))
        .body(empty_body())
        .expect("request");
    let result = pool.send(refused, None).await.map(|_| ());
    assert!(
        matches!(&result, Err(Error::Connect(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused),
        "{result:?}"
    );

    // A certificate nobody vouches for (the pool trusts the webpki roots only): `Error::Tls`.
    let server = Server::start(SMALL).await;
    let result = pool.send(get(&server), None).await.map(|_| ());
    assert!(matches!(&result, Err(Error::Tls(_))), "{result:?}");
    assert_eq!(server.requests().len(), 0);

    // Not an absolute http(s) URI.
    let relative = http::Request::get("/v1/customers")
        .body(empty_body())
        .expect("request");
    let result = pool.send(relative, None).await.map(|_| ());
    assert!(
        matches!(result, Err(Error::HttpRequestUriInvalid)),
        "{result:?}"
    );
}

#[test]
fn a_root_that_is_not_a_certificate_is_refused_with_its_index() {
    let result = Pool::new(PoolOptions {
        extra_roots: vec![CertificateDer::from(b"not DER".to_vec())],
        ..PoolOptions::default()
    });
    let Err(e) = result else {
        panic!("a garbage root was accepted");
    };
    assert!(e.to_string().contains("#0"), "{e}");
}

#[test]
fn keys_fill_in_the_schemes_port() {
    let key = |uri: &str| Key::of(&uri.parse().expect("uri"));
    assert_eq!(
        key("https://api.stripe.com/v1").expect("key"),
        Key {
            tls: true,
            authority: "api.stripe.com:443".into()
        }
    );
    assert_eq!(
        key("http://127.0.0.1:12111/").expect("key"),
        Key {
            tls: false,
            authority: "127.0.0.1:12111".into()
        }
    );
    assert!(key("ftp://example.com/").is_err());
}

#[test]
fn server_names_are_ip_addresses_or_dns_names() {
    use rustls::pki_types::ServerName;
    assert_eq!(
        server_name("127.0.0.1:443").expect("ip"),
        ServerName::from(std::net::Ipv4Addr::LOCALHOST)
    );
    assert_eq!(
        server_name("[::1]:443").expect("ipv6"),
        ServerName::from(std::net::Ipv6Addr::LOCALHOST)
    );
    assert_eq!(
        server_name("api.stripe.com:443").expect("dns"),
        ServerName::try_from("api.stripe.com").expect("name")
    );
    assert!(matches!(
        server_name("bad name:443"),
        Err(Error::InvalidDnsNameError(_))
    ));
}
