//! The attackers of the host's security tests: where the hostile components are, and hostile loopback
//! upstreams that log every request they get.
//!
//! Components (built by `tests/build.rs`):
//! - [`hostile_component`]: `tests/hostile-guest`, a connector that sends raw wasi:http from a script
//!   given as the query text (the script format is in `tests/hostile-guest/src/lib.rs`);
//! - [`wat_table_grow_component`]: `describe` grows a table by 1,000,000,000 elements (`tests/wat/`);
//! - [`wat_many_memories_component`]: `describe` grows four memories to 100 MiB each.
//!
//! Upstreams: [`Upstream::start`] binds `127.0.0.1:0` and answers every request with one
//! [`Behaviour`] (a redirect to another origin, silence, a slow drip, a 9 MiB chunked body, a 1 MiB header
//! block, Stripe-shaped errors, fixed JSON), over raw HTTP/1.1 on std threads, one response per connection
//! (`connection: close`). Tests assert on [`Upstream::requests`] (what reached the upstream, when) and on
//! the host's output, never on what the hostile guest reports.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The hostile connector component (`tests/hostile-guest`, built for `wasm32-wasip2`).
pub fn hostile_component() -> &'static str {
    env!("KLAIRR_HOSTILE_COMPONENT")
}

/// A connector whose `describe` grows a table by 1,000,000,000 elements and traps if refused
/// (`tests/wat/table_grow.wat`).
pub fn wat_table_grow_component() -> &'static str {
    env!("KLAIRR_WAT_TABLE_GROW")
}

/// A connector whose `describe` grows four memories to 100 MiB each (400 MiB together) and traps if a
/// growth is refused (`tests/wat/many_memories.wat`).
pub fn wat_many_memories_component() -> &'static str {
    env!("KLAIRR_WAT_MANY_MEMORIES")
}

/// The body of [`Behaviour::Ok`] and [`Behaviour::Drip`]: an empty Stripe list page.
pub const EMPTY_LIST: &str = r#"{"object":"list","data":[],"has_more":false}"#;

/// The size of [`Behaviour::HugeChunked`]'s body the issue asks for.
pub const NINE_MIB: usize = 9 << 20;

/// How many headers [`Behaviour::HugeHeaders`] sends, and the length of each value.
pub const HUGE_HEADER_COUNT: usize = 10_000;
pub const HUGE_HEADER_VALUE_LEN: usize = 100;

/// The largest request head or body the upstream reads; beyond it the connection is dropped.
const MAX_REQUEST_BYTES: usize = 16 << 20;

/// How often blocked connection threads look at the stop flag.
const POLL: Duration = Duration::from_millis(50);

/// How the upstream answers every request.
#[derive(Clone, Debug)]
pub enum Behaviour {
    /// `302 Found` with `location: <to>` (another origin) and no body.
    Redirect { to: String },
    /// Accept the TCP connection, read what comes (an HTTP request is logged; a TLS ClientHello is
    /// not) and never write a byte, until the client or the upstream goes away. With the host told the
    /// base is [`Upstream::https_base_url`] this is a TLS handshake that never completes.
    AcceptThenSilence,
    /// `200` with the headers (and a content-length) at once, then [`EMPTY_LIST`] one byte at a time,
    /// `every` apart.
    Drip { every: Duration },
    /// `200` with `transfer-encoding: chunked`, no content-length, and a JSON body of exactly `bytes`
    /// bytes (use [`NINE_MIB`]).
    HugeChunked { bytes: usize },
    /// `200` with [`HUGE_HEADER_COUNT`] headers `x-hostile-NNNNN` of [`HUGE_HEADER_VALUE_LEN`] bytes
    /// each (a header block over 1 MiB), then [`EMPTY_LIST`].
    HugeHeaders,
    /// A Stripe-shaped error: `{"error":{"type","code","message"}}` with this status, this message
    /// (escape sequences, 200 KB, a key, …) and a `request-id` header.
    StripeError { status: u16, message: String },
    /// This status and this body (`content-type: application/json`) for every request.
    Json { status: u16, body: String },
    /// `200` declaring `content-length: declared`, then [`EMPTY_LIST`] and nothing more, the connection
    /// held open until the client goes away: a body announced far over any cap.
    Declared { declared: u64 },
    /// `503` Stripe error with a `stripe-should-retry` header for each of `values`, in order (as written:
    /// `True`, `TRUE`, `1`, …).
    ShouldRetry { values: Vec<String> },
    /// `200` [`EMPTY_LIST`]: for counting the requests that got through.
    Ok,
    /// What Stripe answers a read-only key: `GET` as [`Behaviour::Ok`], any other method a `403`
    /// [`Behaviour::StripeError`].
    ReadOnlyKey,
}

/// One request as it reached the upstream.
#[derive(Clone, Debug)]
pub struct LoggedRequest {
    pub method: String,
    /// The request target as sent: path and query (or an absolute URL, if a client sent one).
    pub target: String,
    /// In arrival order, names lower-cased, values as sent (lossy UTF-8).
    pub headers: Vec<(String, String)>,
    /// The body, decoded if it was chunked.
    pub body: Vec<u8>,
    /// When the request line and headers had all arrived.
    pub arrived: Instant,
}

impl LoggedRequest {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of header `name` (case-insensitive).
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The target without its query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or(&self.target)
    }

    /// The target's query, without the `?`.
    pub fn query(&self) -> Option<&str> {
        self.target.split_once('?').map(|(_, q)| q)
    }
}

/// A hostile HTTP/1.1 server on `127.0.0.1`, stopped when dropped.
pub struct Upstream {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

struct Shared {
    behaviour: Behaviour,
    log: Mutex<Vec<LoggedRequest>>,
    connections: AtomicUsize,
    stop: AtomicBool,
}

impl Shared {
    fn log(&self) -> MutexGuard<'_, Vec<LoggedRequest>> {
        // A panicking connection thread cannot leave the log half-written: keep what is there.
        self.log
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}

impl Upstream {
    /// Bind `127.0.0.1:0` and answer every request with `behaviour`.
    pub fn start(behaviour: Behaviour) -> io::Result<Upstream> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            behaviour,
            log: Mutex::new(Vec::new()),
            connections: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        });
        let accepting = Arc::clone(&shared);
        let acceptor = thread::Builder::new()
            .name(format!("hostile-upstream-{}", addr.port()))
            .spawn(move || accept_loop(listener, accepting))?;
        Ok(Upstream {
            addr,
            shared,
            acceptor: Some(acceptor),
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `https://127.0.0.1:PORT`: the same plain-TCP port, for [`Behaviour::AcceptThenSilence`] standing
    /// in for a TLS server that accepts and never answers the handshake.
    pub fn https_base_url(&self) -> String {
        format!("https://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Every request that arrived so far, in arrival order.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.shared.log().clone()
    }

    /// TCP connections accepted so far (a TLS handshake attempt counts here, not in `requests`).
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the acceptor out of `accept` so it sees the flag; connection threads see it within POLL.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stopping() {
            return;
        }
        let Ok(stream) = stream else { continue };
        shared.connections.fetch_add(1, Ordering::SeqCst);
        let serving = Arc::clone(&shared);
        // A connection thread that cannot start just drops the connection: the client sees a reset.
        let _ = thread::Builder::new()
            .name("hostile-upstream-conn".into())
            .spawn(move || serve(stream, &serving));
    }
}

/// Serve one connection: one request, one response, then close.
fn serve(mut stream: TcpStream, shared: &Shared) {
    if stream.set_read_timeout(Some(POLL)).is_err() {
        return;
    }
    let mut reader = Reader {
        stream: &mut stream,
        buffered: Vec::new(),
        shared,
    };
    let request = reader.request();
    if let Some(request) = &request {
        shared.log().push(request.clone());
    }
    let behaviour = shared.behaviour.clone();
    if let Behaviour::AcceptThenSilence = behaviour {
        reader.drain_until_closed();
        return;
    }
    if request.is_none() {
        return;
    }
    // A read-only key: reads answered, everything else refused as Stripe refuses it.
    let behaviour = match (behaviour, &request) {
        (Behaviour::ReadOnlyKey, Some(r)) if r.method == "GET" => Behaviour::Ok,
        (Behaviour::ReadOnlyKey, _) => Behaviour::StripeError {
            status: 403,
            message: "The provided key does not have the required permissions".into(),
        },
        (other, _) => other,
    };
    // Writes fail when the client gave up: nothing to do about it.
    let _ = respond(&mut stream, &behaviour, shared);
}

/// Reads from a connection with a short timeout, so a stopping upstream is noticed.
struct Reader<'a> {
    stream: &'a mut TcpStream,
    buffered: Vec<u8>,
    shared: &'a Shared,
}

impl Reader<'_> {
    /// Read more bytes into the buffer; `false` on end of stream, error or stop.
    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            if self.shared.stopping() {
                return false;
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => return false,
                Ok(n) => {
                    self.buffered.extend_from_slice(&chunk[..n]);
                    return true;
                }
                Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return false,
            }
        }
    }

    /// Take bytes up to and including `delimiter`, reading as needed.
    fn take_through(&mut self, delimiter: &[u8]) -> Option<Vec<u8>> {
        loop {
            if let Some(at) = find(&self.buffered, delimiter) {
                let rest = self.buffered.split_off(at + delimiter.len());
                return Some(std::mem::replace(&mut self.buffered, rest));
            }
            if self.buffered.len() > MAX_REQUEST_BYTES || !self.fill() {
                return None;
            }
        }
    }

    fn take_exactly(&mut self, n: usize) -> Option<Vec<u8>> {
        if n > MAX_REQUEST_BYTES {
            return None;
        }
        while self.buffered.len() < n {
            if !self.fill() {
                return None;
            }
        }
        let rest = self.buffered.split_off(n);
        Some(std::mem::replace(&mut self.buffered, rest))
    }

    /// One HTTP/1.1 request, or `None` if what arrived is not one (e.g. a TLS ClientHello).
    fn request(&mut self) -> Option<LoggedRequest> {
        let head = self.take_through(b"\r\n\r\n")?;
        let arrived = Instant::now();
        let head = String::from_utf8_lossy(&head[..head.len() - 4]).into_owned();
        let mut lines = head.split("\r\n");
        let mut request_line = lines.next()?.split(' ');
        let (method, target, version) = (
            request_line.next()?,
            request_line.next()?,
            request_line.next()?,
        );
        if !version.starts_with("HTTP/") {
            return None;
        }
        let headers: Vec<(String, String)> = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        let body = if header("transfer-encoding").is_some_and(|te| te.contains("chunked")) {
            self.chunked_body()?
        } else if let Some(length) = header("content-length") {
            self.take_exactly(length.parse().ok()?)?
        } else {
            Vec::new()
        };
        Some(LoggedRequest {
            method: method.to_owned(),
            target: target.to_owned(),
            headers,
            body,
            arrived,
        })
    }

    fn chunked_body(&mut self) -> Option<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let size_line = self.take_through(b"\r\n")?;
            let size_line = String::from_utf8_lossy(&size_line);
            let size = size_line.trim().split(';').next()?;
            let size = usize::from_str_radix(size, 16).ok()?;
            if size == 0 {
                // Trailers, if any, end with an empty line.
                while self.take_through(b"\r\n")?.len() > 2 {}
                return Some(body);
            }
            if body.len() + size > MAX_REQUEST_BYTES {
                return None;
            }
            body.extend(self.take_exactly(size)?);
            self.take_exactly(2)?;
        }
    }

    /// Keep the connection open and silent, reading and discarding whatever arrives.
    fn drain_until_closed(&mut self) {
        while self.fill() {
            self.buffered.clear();
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Request Failed",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Hostile",
    }
}

fn head(status: u16, headers: &[(&str, String)]) -> Vec<u8> {
    let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("connection: close\r\n\r\n");
    head.into_bytes()
}

fn json_response(status: u16, body: &str, extra: &[(&str, String)]) -> Vec<u8> {
    let mut headers = vec![
        ("content-type", "application/json".to_owned()),
        ("content-length", body.len().to_string()),
    ];
    headers.extend(extra.iter().cloned());
    let mut response = head(status, &headers);
    response.extend_from_slice(body.as_bytes());
    response
}

/// Sleep `total`, waking every [`POLL`]; `false` if the upstream is stopping.
fn pause(total: Duration, shared: &Shared) -> bool {
    let until = Instant::now() + total;
    loop {
        if shared.stopping() {
            return false;
        }
        let now = Instant::now();
        if now >= until {
            return true;
        }
        thread::sleep((until - now).min(POLL));
    }
}

fn respond(stream: &mut TcpStream, behaviour: &Behaviour, shared: &Shared) -> io::Result<()> {
    match behaviour {
        Behaviour::Redirect { to } => stream.write_all(&head(
            302,
            &[("location", to.clone()), ("content-length", "0".into())],
        )),
        Behaviour::AcceptThenSilence => Ok(()),
        Behaviour::Drip { every } => {
            stream.write_all(&head(
                200,
                &[
                    ("content-type", "application/json".into()),
                    ("content-length", EMPTY_LIST.len().to_string()),
                ],
            ))?;
            stream.flush()?;
            for byte in EMPTY_LIST.bytes() {
                if !pause(*every, shared) {
                    return Ok(());
                }
                stream.write_all(&[byte])?;
                stream.flush()?;
            }
            Ok(())
        }
        Behaviour::HugeChunked { bytes } => {
            stream.write_all(&head(
                200,
                &[
                    ("content-type", "application/json".into()),
                    ("transfer-encoding", "chunked".into()),
                ],
            ))?;
            for chunk in huge_body(*bytes).chunks(64 * 1024) {
                if shared.stopping() {
                    return Ok(());
                }
                stream.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())?;
                stream.write_all(chunk)?;
                stream.write_all(b"\r\n")?;
            }
            stream.write_all(b"0\r\n\r\n")
        }
        Behaviour::HugeHeaders => {
            let value = "a".repeat(HUGE_HEADER_VALUE_LEN);
            let names: Vec<String> = (0..HUGE_HEADER_COUNT)
                .map(|i| format!("x-hostile-{i:05}"))
                .collect();
            let headers: Vec<(&str, String)> =
                names.iter().map(|n| (n.as_str(), value.clone())).collect();
            stream.write_all(&json_response(200, EMPTY_LIST, &headers))
        }
        Behaviour::StripeError { status, message } => {
            let kind = match status {
                401 => "authentication_error",
                429 => "rate_limit_error",
                500.. => "api_error",
                _ => "invalid_request_error",
            };
            let body = serde_json::json!({
                "error": {"type": kind, "code": "hostile_error", "message": message}
            })
            .to_string();
            let request_id = format!("req_hostile{:06}", shared.log().len());
            stream.write_all(&json_response(
                *status,
                &body,
                &[("request-id", request_id)],
            ))
        }
        Behaviour::Json { status, body } => stream.write_all(&json_response(*status, body, &[])),
        Behaviour::Declared { declared } => {
            stream.write_all(&head(
                200,
                &[
                    ("content-type", "application/json".into()),
                    ("content-length", declared.to_string()),
                ],
            ))?;
            stream.write_all(EMPTY_LIST.as_bytes())?;
            stream.flush()?;
            while pause(POLL, shared) {}
            Ok(())
        }
        Behaviour::ShouldRetry { values } => {
            let body = r#"{"error":{"type":"api_error","message":"try later"}}"#;
            let headers: Vec<(&str, String)> = values
                .iter()
                .map(|v| ("stripe-should-retry", v.clone()))
                .collect();
            stream.write_all(&json_response(503, body, &headers))
        }
        Behaviour::Ok | Behaviour::ReadOnlyKey => {
            stream.write_all(&json_response(200, EMPTY_LIST, &[]))
        }
    }
}

/// A JSON list page padded to exactly `bytes` bytes (just padding if `bytes` is smaller than the page).
fn huge_body(bytes: usize) -> Vec<u8> {
    let (open, close) = (
        r#"{"object":"list","data":[],"has_more":false,"padding":""#,
        r#""}"#,
    );
    let frame = open.len() + close.len();
    if bytes < frame {
        return vec![b' '; bytes];
    }
    let mut body = Vec::with_capacity(bytes);
    body.extend_from_slice(open.as_bytes());
    body.resize(bytes - close.len(), b'x');
    body.extend_from_slice(close.as_bytes());
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plain client: send `request`, read until the server closes (or `timeout` passes).
    fn exchange(upstream: &Upstream, request: &[u8], timeout: Duration) -> io::Result<Vec<u8>> {
        let mut stream = TcpStream::connect(upstream.addr())?;
        stream.set_read_timeout(Some(timeout))?;
        stream.write_all(request)?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response)?;
        Ok(response)
    }

    fn get(upstream: &Upstream, target: &str) -> Vec<u8> {
        let request = format!(
            "GET {target} HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer rk_test_x\r\n\r\n"
        );
        exchange(upstream, request.as_bytes(), Duration::from_secs(10))
            .expect("the upstream answers")
    }

    /// (status, lower-cased headers, body) of a whole response.
    fn parse(response: &[u8]) -> (u16, Vec<(String, String)>, Vec<u8>) {
        let at = find(response, b"\r\n\r\n").expect("a complete head");
        let head = String::from_utf8_lossy(&response[..at]).into_owned();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .expect("a status line")
            .split(' ')
            .nth(1)
            .expect("a status");
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        (
            status.parse().expect("a numeric status"),
            headers,
            response[at + 4..].to_vec(),
        )
    }

    fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn dechunk(mut body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let at = find(body, b"\r\n").expect("a chunk size line");
            let size = usize::from_str_radix(std::str::from_utf8(&body[..at]).expect("ascii"), 16)
                .expect("a hex chunk size");
            body = &body[at + 2..];
            if size == 0 {
                return out;
            }
            out.extend_from_slice(&body[..size]);
            assert_eq!(&body[size..size + 2], b"\r\n", "a chunk ends with CRLF");
            body = &body[size + 2..];
        }
    }

    #[test]
    fn ok_answers_an_empty_list_and_logs_the_request() {
        let upstream = Upstream::start(Behaviour::Ok).expect("starts");
        let before = Instant::now();
        let (status, _, body) = parse(&get(&upstream, "/v1/customers?limit=1"));
        assert_eq!((status, body.as_slice()), (200, EMPTY_LIST.as_bytes()));
        let log = upstream.requests();
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].method, "GET");
        assert_eq!(log[0].target, "/v1/customers?limit=1");
        assert_eq!(
            (log[0].path(), log[0].query()),
            ("/v1/customers", Some("limit=1"))
        );
        assert_eq!(log[0].header("Authorization"), Some("Bearer rk_test_x"));
        assert!(log[0].arrived >= before);
        assert!(upstream.base_url().starts_with("http://127.0.0.1:"));
        assert_eq!(
            upstream.https_base_url(),
            format!("https://127.0.0.1:{}", upstream.port())
        );
    }

    #[test]
    fn request_bodies_are_logged_with_a_length_or_chunked() {
        let upstream = Upstream::start(Behaviour::Ok).expect("starts");
        let sized = b"POST /v1/customers HTTP/1.1\r\ncontent-length: 11\r\n\r\nemail=a@b.c";
        let chunked = b"DELETE /v1/customers/cus_1 HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
        for request in [&sized[..], &chunked[..]] {
            let response = exchange(&upstream, request, Duration::from_secs(10)).expect("answers");
            assert_eq!(parse(&response).0, 200);
        }
        let log = upstream.requests();
        assert_eq!(log.len(), 2);
        assert_eq!(
            (log[0].method.as_str(), log[0].body.as_slice()),
            ("POST", &b"email=a@b.c"[..])
        );
        assert_eq!(
            (log[1].method.as_str(), log[1].body.as_slice()),
            ("DELETE", &b"hello world"[..])
        );
    }

    #[test]
    fn redirect_points_at_another_origin() {
        let upstream = Upstream::start(Behaviour::Redirect {
            to: "https://evil.example/steal".into(),
        })
        .expect("starts");
        let (status, headers, body) = parse(&get(&upstream, "/v1/customers"));
        assert_eq!(status, 302);
        assert_eq!(
            header(&headers, "location"),
            Some("https://evil.example/steal")
        );
        assert!(body.is_empty());
        assert_eq!(upstream.requests().len(), 1);
    }

    #[test]
    fn accept_then_silence_never_writes() {
        let upstream = Upstream::start(Behaviour::AcceptThenSilence).expect("starts");
        let mut http = TcpStream::connect(upstream.addr()).expect("connects");
        http.write_all(b"GET /v1/customers HTTP/1.1\r\n\r\n")
            .expect("sends");
        // A TLS 1.2 ClientHello's first bytes: not HTTP, not logged, still accepted and left hanging.
        let mut tls = TcpStream::connect(upstream.addr()).expect("connects");
        tls.write_all(&[
            0x16, 0x03, 0x01, 0x00, 0xc8, 0x01, 0x00, 0x00, 0xc4, 0x03, 0x03,
        ])
        .expect("sends");
        for stream in [&mut http, &mut tls] {
            stream
                .set_read_timeout(Some(Duration::from_millis(500)))
                .expect("timeout");
            let mut byte = [0u8; 1];
            let err = stream.read(&mut byte).expect_err("no byte ever comes");
            assert!(is_timeout(&err), "{err}");
        }
        assert_eq!(upstream.connections(), 2);
        let log = upstream.requests();
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].target, "/v1/customers");
    }

    #[test]
    fn drip_sends_the_body_one_byte_at_a_time() {
        let every = Duration::from_millis(20);
        let upstream = Upstream::start(Behaviour::Drip { every }).expect("starts");
        let started = Instant::now();
        let (status, headers, body) = parse(&get(&upstream, "/v1/customers"));
        assert_eq!(status, 200);
        assert_eq!(body, EMPTY_LIST.as_bytes());
        assert_eq!(header(&headers, "content-length"), Some("44"));
        assert!(started.elapsed() >= every * EMPTY_LIST.len() as u32);
    }

    #[test]
    fn huge_chunked_has_no_length_and_nine_mib() {
        let upstream = Upstream::start(Behaviour::HugeChunked { bytes: NINE_MIB }).expect("starts");
        let (status, headers, body) = parse(&get(&upstream, "/v1/customers"));
        assert_eq!(status, 200);
        assert_eq!(header(&headers, "content-length"), None);
        assert_eq!(header(&headers, "transfer-encoding"), Some("chunked"));
        let body = dechunk(&body);
        assert_eq!(body.len(), NINE_MIB);
        let page: serde_json::Value = serde_json::from_slice(&body).expect("valid JSON");
        assert_eq!(page["object"], "list");
    }

    #[test]
    fn huge_headers_are_over_a_mebibyte() {
        let upstream = Upstream::start(Behaviour::HugeHeaders).expect("starts");
        let response = get(&upstream, "/v1/customers");
        let head_len = find(&response, b"\r\n\r\n").expect("a head");
        assert!(head_len > 1 << 20, "{head_len}");
        let (status, headers, body) = parse(&response);
        assert_eq!(status, 200);
        let hostile = headers
            .iter()
            .filter(|(n, _)| n.starts_with("x-hostile-"))
            .count();
        assert_eq!(hostile, HUGE_HEADER_COUNT);
        assert_eq!(body, EMPTY_LIST.as_bytes());
    }

    #[test]
    fn stripe_error_carries_the_message_verbatim() {
        let message = format!("\u{1b}]0;pwned\u{7}\u{1b}[31mboom {}", "x".repeat(200_000));
        let upstream = Upstream::start(Behaviour::StripeError {
            status: 400,
            message: message.clone(),
        })
        .expect("starts");
        let (status, headers, body) = parse(&get(&upstream, "/v1/customers"));
        assert_eq!(status, 400);
        assert!(header(&headers, "request-id").is_some_and(|id| id.starts_with("req_")));
        let error: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(error["error"]["message"], message.as_str());
        assert_eq!(error["error"]["type"], "invalid_request_error");
    }

    #[test]
    fn json_returns_the_given_body_and_status() {
        let body =
            r#"{"object":"list","data":[{"id":"cus_1","name":"\u001b[2J"}],"has_more":false}"#;
        let upstream = Upstream::start(Behaviour::Json {
            status: 201,
            body: body.into(),
        })
        .expect("starts");
        let (status, _, got) = parse(&get(&upstream, "/v1/customers"));
        assert_eq!((status, got.as_slice()), (201, body.as_bytes()));
    }

    /// The WAT components are typed `klairr:connector/connector@0.2.0` components (the host's load-time
    /// check looks for exactly that export).
    #[test]
    fn wat_components_export_the_connector() {
        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true);
        let engine = wasmtime::Engine::new(&config).expect("an engine");
        for path in [
            wat_table_grow_component(),
            wat_many_memories_component(),
            hostile_component(),
        ] {
            let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
            let component = wasmtime::component::Component::new(&engine, &bytes)
                .unwrap_or_else(|e| panic!("{path} does not load: {e:#}"));
            let ty = component.component_type();
            let exports: Vec<&str> = ty.exports(&engine).map(|(name, _)| name).collect();
            assert_eq!(exports, ["klairr:connector/connector@0.2.0"], "{path}");
            let Some(wasmtime::component::types::ComponentItem::ComponentInstance(connector)) = ty
                .get_export(&engine, "klairr:connector/connector@0.2.0")
                .map(|export| export.ty)
            else {
                panic!("{path}: the connector export is not an instance");
            };
            // Its functions (the instance also exports the types they use).
            let mut functions: Vec<&str> = connector
                .exports(&engine)
                .filter(|(_, item)| {
                    matches!(
                        item.ty,
                        wasmtime::component::types::ComponentItem::ComponentFunc(_)
                    )
                })
                .map(|(name, _)| name)
                .collect();
            functions.sort_unstable();
            assert_eq!(
                functions,
                [
                    "[method]connection.canonical-query",
                    "[method]connection.query",
                    "[method]connection.verify",
                    "[static]connection.open",
                    "check-credential",
                    "describe",
                ],
                "{path}"
            );
        }
    }
}
