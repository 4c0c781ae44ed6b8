//! `klairr-host serve` end to end, in-process: the HTTP API over loopback, with the built Stripe
//! component (and the hostile one as a "new version") against the emulator. What a client relies on:
//! the token, setup, queries equal to the CLI's JSON, the shared cache (a repeated question makes zero
//! upstream requests), concurrent clients on one connection, hot swap (good and broken), drain.

use klairr_e2e::hostile_upstream::{Behaviour, Upstream};
use klairr_e2e::ledger_api::{self, LedgerApi, LedgerApiConfig};
use klairr_e2e::{
    emulator, hostile_component, hostile_connectors_dir, keys, ledger_connectors_dir,
    max_in_window, redirect_to, run_cli, stripe_copy_connectors_dir,
};
use klairr_host::emulator::Emulator;
use klairr_host::policy::manifest::Manifest;
use klairr_host::policy::origin::{LoopbackBase, Redirect};
use klairr_host::registry::{Registry, STRIPE_COMPONENT};
use klairr_host::sandbox::{SandboxLimits, SandboxOptions};
use klairr_host::serve::{ConnectionLimits, ServeOptions, Server, Token};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

const TOKEN: &str = "test-token-0123456789abcdef";

/// A client of one server.
struct Api {
    agent: ureq::Agent,
    base: String,
}

impl Api {
    fn new(server: &Server) -> Api {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        Api {
            agent,
            base: format!("http://{}", server.addr()),
        }
    }

    /// (status, body) of METHOD PATH with `token` (None: no Authorization header).
    fn call_as(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        token: Option<&str>,
    ) -> (u16, String) {
        let mut request = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        let sent = match body {
            Some(body) => self
                .agent
                .run(request.body(body.to_owned()).expect("a request")),
            None => self.agent.run(request.body(()).expect("a request")),
        };
        let mut response = sent.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        (status, text)
    }

    /// The status and headers of METHOD PATH's answer (no body sent), with `token` (None: none).
    fn head_of(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
    ) -> (u16, ureq::http::HeaderMap) {
        let mut request = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        let response = self
            .agent
            .run(request.body(()).expect("a request"))
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        (response.status().as_u16(), response.headers().clone())
    }

    /// The `Allow` header of METHOD PATH's answer (with the token, no body).
    fn allow(&self, method: &str, path: &str) -> Option<String> {
        let (_, headers) = self.head_of(method, path, Some(TOKEN));
        headers
            .get("allow")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    fn call(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
        self.call_as(method, path, body, Some(TOKEN))
    }

    fn json(&self, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
        let (status, text) = self.call(method, path, body);
        let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text:?}"));
        (status, value)
    }

    /// Open a connection to `connector` with `credential`; its id.
    fn connect(&self, connector: &str, credential: &str) -> String {
        let body =
            serde_json::json!({"connector": connector, "credential": credential, "mode": "test"});
        let (status, value) = self.json("POST", "/v1/connections", Some(&body.to_string()));
        assert_eq!(status, 201, "{value}");
        value["id"].as_str().expect("id").to_owned()
    }

    fn query(&self, id: &str, dsl: &str) -> (u16, Value) {
        self.json("POST", &format!("/v1/connections/{id}/query"), Some(dsl))
    }
}

fn options(emu: &Emulator) -> ServeOptions {
    let mut options = ServeOptions::new(
        "127.0.0.1:0".parse().expect("addr"),
        Token::from_env_value(Some(TOKEN.into())).expect("token"),
    );
    options.sandbox = redirect_to(emu, SandboxLimits::default());
    options
}

/// A server on `emu` keeping at most `max_open` connections, each closed after `idle` unused.
fn server_with_limits(emu: &Emulator, max_open: usize, idle: Duration) -> Server {
    let mut options = options(emu);
    options.connections = ConnectionLimits { max_open, idle };
    Server::start(&Registry::builtin(), options).expect("starts")
}

/// The body of `POST /v1/connections` for the built-in Stripe connector with `credential`.
fn stripe_open_body(credential: &str) -> String {
    format!(r#"{{"connector":"stripe","credential":"{credential}"}}"#)
}

/// `POST /v1/connections` with the token, written by hand on a fresh socket: a `Content-Length` of
/// `declared` and then `body`, whether or not they agree.
fn raw_open(server: &Server, declared: u64, body: &str) -> std::net::TcpStream {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(server.addr()).expect("connect");
    write!(
        stream,
        "POST /v1/connections HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: {declared}\r\n\r\n{body}"
    )
    .expect("write");
    stream
}

fn kind(value: &Value) -> &str {
    value["error"]["kind"].as_str().unwrap_or("")
}

#[test]
fn the_token_guards_everything_but_healthz() {
    let emu = emulator();
    let server = Server::start(&Registry::builtin(), options(&emu)).expect("starts");
    let api = Api::new(&server);
    assert_eq!(api.call_as("GET", "/healthz", None, None).0, 200);
    for path in ["/v1/connectors", "/metrics"] {
        assert_eq!(
            api.call_as("GET", path, None, None).0,
            401,
            "{path} without a token"
        );
        assert_eq!(
            api.call_as("GET", path, None, Some("test-token-0123456789abcdeX"))
                .0,
            401,
            "{path} with a wrong token"
        );
    }
    let body = stripe_open_body(keys::TEST_READ_ONLY);
    let (status, text) = api.call_as("POST", "/v1/connections", Some(&body), None);
    assert_eq!(status, 401);
    assert!(!text.contains(keys::TEST_READ_ONLY));
    assert!(emu.requests().is_empty(), "nothing reached the upstream");

    let (status, value) = api.json("GET", "/v1/connectors", None);
    assert_eq!(status, 200);
    assert_eq!(value["connectors"][0]["connector"], "stripe");
    assert_eq!(api.json("GET", "/v1/nothing", None).0, 404);
    let (status, value) = api.json("PUT", "/v1/connections", Some("{}"));
    assert_eq!((status, kind(&value)), (405, "method-not-allowed"));
    assert_eq!(value["error"]["message"], "this route takes POST only");
    for (method, path, allow) in [
        ("PUT", "/v1/connections", "POST"),
        ("GET", "/v1/connections/abc/query", "POST"),
        ("POST", "/v1/connectors", "GET, HEAD"),
        ("GET", "/v1/connections/abc", "DELETE"),
        ("POST", "/healthz", "GET, HEAD"),
    ] {
        assert_eq!(
            api.allow(method, path).as_deref(),
            Some(allow),
            "{method} {path}"
        );
    }
    // Each 405 is counted under its route, as any answer of the route is.
    let (_, metrics) = api.call("GET", "/metrics", None);
    for route in [
        "/v1/connections",
        "/v1/connections/{id}/query",
        "/v1/connectors",
        "/v1/connections/{id}",
        "/healthz",
    ] {
        assert!(
            metrics.contains(&format!(
                "klairr_http_requests_total{{route=\"{route}\",status=\"405\"}}"
            )),
            "{route}: {metrics}"
        );
    }
    assert!(
        !metrics.contains("route=\"method-not-allowed\""),
        "{metrics}"
    );
    // HEAD is GET without a body, as load balancers' probes expect.
    assert_eq!(
        api.call_as("HEAD", "/healthz", None, None),
        (200, String::new())
    );
    assert_eq!(api.call("HEAD", "/metrics", None), (200, String::new()));
    assert_eq!(api.call_as("HEAD", "/metrics", None, None).0, 401);
    // A trailing slash names no route, rather than a connection without an id.
    let (status, value) = api.json("POST", "/v1/connections/", Some("{}"));
    assert_eq!((status, kind(&value)), (404, "not-found"));
    let big = "x".repeat(100 * 1024);
    let (status, value) = api.json("POST", "/v1/connections", Some(&big));
    assert_eq!((status, kind(&value)), (413, "body-too-large"));
    server.drain(Duration::from_secs(1));
}

#[test]
fn setup_query_and_a_cached_repeat_that_makes_no_request() {
    let emu = emulator();
    let server = Server::start(&Registry::builtin(), options(&emu)).expect("starts");
    let api = Api::new(&server);

    // A refused credential: 422, never echoed, no request.
    let body = format!(
        r#"{{"connector":"stripe","credential":"{}","mode":"test"}}"#,
        keys::TEST_SECRET
    );
    let (status, text) = api.call("POST", "/v1/connections", Some(&body));
    assert_eq!(status, 422, "{text}");
    assert!(text.contains("secret-key-rejected"), "{text}");
    assert!(!text.contains(keys::TEST_SECRET), "{text}");
    assert!(emu.requests().is_empty());
    let (status, value) = api.json(
        "POST",
        "/v1/connections",
        Some(r#"{"connector":"nope","credential":"x"}"#),
    );
    assert_eq!((status, kind(&value)), (404, "unknown-connector"));
    let (status, value) = api.json("POST", "/v1/connections", Some("{not json"));
    assert_eq!((status, kind(&value)), (400, "invalid-request"));

    // Setup: 201, a 128-bit id, the report; the credential never comes back.
    let body = format!(
        r#"{{"connector":"stripe","credential":"{}","mode":"test"}}"#,
        keys::TEST_READ_ONLY
    );
    let (status, text) = api.call("POST", "/v1/connections", Some(&body));
    assert_eq!(status, 201, "{text}");
    assert!(!text.contains(keys::TEST_READ_ONLY), "{text}");
    let created: Value = serde_json::from_str(&text).expect("json");
    let id = created["id"].as_str().expect("id");
    assert_eq!(id.len(), 32);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(created["setup"]["ok"], true);
    assert_eq!(
        created["setup"]["readable"].as_array().map(Vec::len),
        Some(5)
    );

    // The same JSON as `klairr-host --format json query`.
    let dsl = r#"{"list":"charges","limit":7}"#;
    let (status, served) = api.query(id, dsl);
    assert_eq!(status, 200, "{served}");
    let cli_before = emu.requests().len();
    let cli = run_cli(
        &[
            "--stripe-base",
            &emu.base_url(),
            "--format",
            "json",
            "query",
            dsl,
        ],
        Some(keys::TEST_READ_ONLY),
    );
    assert_eq!(cli.code, 0, "{}", cli.stderr);
    let cli_sent = emu.requests().len() - cli_before;
    assert_eq!(served, cli.json());
    assert_eq!(served["cached"], false);

    // The repeat (an equivalent spelling) is served from the shared cache: zero upstream requests.
    let before = emu.requests().len();
    let (status, again) = api.query(id, r#"{ "limit": 7, "list": "charges" }"#);
    assert_eq!(status, 200);
    assert_eq!(again["cached"], true);
    assert_eq!(again["rows"], served["rows"]);
    assert_eq!(emu.requests().len(), before, "a cache hit makes no request");
    // …also for a second connection with the same credential.
    let other = api.connect("stripe", keys::TEST_READ_ONLY);
    let before = emu.requests().len();
    let (_, third) = api.query(&other, dsl);
    assert_eq!(third["cached"], true);
    assert_eq!(emu.requests().len(), before);

    let (status, value) = api.query(id, r#"{"list":"nope"}"#);
    assert_eq!((status, kind(&value)), (400, "invalid-query"));
    let (status, headers) = api.head_of("DELETE", &format!("/v1/connections/{id}"), Some(TOKEN));
    assert_eq!(status, 204);
    assert!(
        headers.get("content-type").is_none(),
        "no body, no content type"
    );
    let (status, value) = api.query(id, dsl);
    assert_eq!((status, kind(&value)), (404, "unknown-connection"));

    // A key that can write fails setup after its probes: those requests were sent all the same.
    let body = serde_json::json!({"connector": "stripe", "credential": keys::TEST_WRITE_CUSTOMERS});
    let (status, text) = api.call("POST", "/v1/connections", Some(&body.to_string()));
    assert_ne!(status, 201, "{text}");

    let (status, metrics) = api.call("GET", "/metrics", None);
    assert_eq!(status, 200);
    // Every request the emulator saw from the server, counted by the host.
    let sent = emu.requests().len() - cli_sent;
    let upstream = format!("klairr_upstream_requests_total{{connector=\"stripe\"}} {sent}");
    assert!(metrics.contains(&upstream), "{upstream} in\n{metrics}");
    for line in [
        "klairr_cache_hits_total{connector=\"stripe\"} 2",
        "klairr_cache_misses_total{connector=\"stripe\"} 1",
        "klairr_queries_total{connector=\"stripe\",outcome=\"invalid-query\"} 1",
        "klairr_open_connections 1",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
    assert!(
        !metrics.contains(id) && !metrics.contains(&other),
        "no connection id as a label"
    );
    assert!(!metrics.contains("rk_test_"), "no credential");
    server.drain(Duration::from_secs(1));
}

/// `POST /v1/connections` says exactly what is wrong with a body, never quotes the credential back
/// (even pasted as the connector's name), refuses settings out of range as the request's fault, and a
/// connection that lowered its cache TTL never gets an answer cached for longer.
#[test]
fn connection_bodies_are_checked_and_a_lowered_ttl_is_honoured_by_the_shared_cache() {
    let emu = emulator();
    let server = Server::start(&Registry::builtin(), options(&emu)).expect("starts");
    let api = Api::new(&server);
    let key = keys::TEST_READ_ONLY;

    let pasted = serde_json::json!({"connector": key, "credential": key}).to_string();
    let (status, text) = api.call("POST", "/v1/connections", Some(&pasted));
    assert_eq!(status, 404, "{text}");
    assert!(text.contains("unknown-connector"), "{text}");
    klairr_e2e::assert_no_key(key, &text, "unknown connector");
    // Another key in the connector field (a live secret key, say) is not quoted back either, nor a
    // name that could be a connector's (a manifest's keys may have that shape).
    let other = keys::TEST_SECRET.replace("_test_", "_live_");
    let pasted = serde_json::json!({"connector": other, "credential": key}).to_string();
    let (status, text) = api.call("POST", "/v1/connections", Some(&pasted));
    assert_eq!(status, 404, "{text}");
    assert!(text.contains("is not a connector's name"), "{text}");
    klairr_e2e::assert_no_key(&other, &text, "another key as the connector");
    let typo = serde_json::json!({"connector": "strpe", "credential": key}).to_string();
    let (status, text) = api.call("POST", "/v1/connections", Some(&typo));
    assert_eq!(status, 404, "{text}");
    assert!(
        text.contains("no connector has the name given: the connectors are stripe"),
        "{text}"
    );
    assert!(!text.contains("strpe"), "{text}");
    // A key of a connector name's shape, in the connector field: not quoted back.
    let shaped = "k7f3a9c2e8b4d1f6a0c5e9b3d7f2a8c4";
    let swapped = serde_json::json!({"connector": shaped, "credential": "stripe"}).to_string();
    let (status, text) = api.call("POST", "/v1/connections", Some(&swapped));
    assert_eq!(status, 404, "{text}");
    assert!(!text.contains(shaped), "{text}");

    for (body, says) in [
        (
            serde_json::json!({"connector": "stripe"}),
            "has no \"credential\" field",
        ),
        (
            serde_json::json!({"connector": "stripe", "credential": key, key: 1}),
            "has a field this route does not know (the fields are connector, credential, mode",
        ),
        (
            serde_json::json!({"connector": "stripe", "credential": 123}),
            "has a field \"credential\" that is not a string",
        ),
        // A null is an optional field's absence: this one is required.
        (
            serde_json::json!({"connector": "stripe", "credential": null}),
            "has \"credential\" null: it is required, a string (line",
        ),
        (
            serde_json::json!({"connector": "stripe", "credential": key, "max_rows": "5"}),
            "has a field \"max_rows\" that is not a whole number of 1 or more (line",
        ),
        (
            serde_json::json!({"connector": "stripe", "credential": key, "max_rows": 4_294_967_296_u64}),
            "has a field \"max_rows\" beyond 4294967295 (the most",
        ),
        (
            serde_json::json!({"connector": "stripe", "credential": key, "cache_ttl_seconds": -1}),
            "has a field \"cache_ttl_seconds\" that is not a whole number of 0 or more (line",
        ),
        (serde_json::json!([]), "the body is not a JSON object"),
        // serde reads a struct from an array, field by field: still not a body.
        (
            serde_json::json!(["stripe", key, "test"]),
            "the body is not a JSON object",
        ),
        (
            serde_json::json!({"connector": "stripe", "credential": key, "max_scan": 0}),
            "max_scan must be 1 to 1000000 for connector stripe (describe's max_scan_limit: the \
             component's most, or its manifest's [calls] max_scan_rows where that is lower)",
        ),
        // Which connector's limit, and where it comes from (QA).
        (
            serde_json::json!({"connector": "stripe", "credential": key, "max_rows": 100_001}),
            "max_rows must be 1 to 100000 for connector stripe (describe's max_rows_limit)",
        ),
        (
            serde_json::json!({"connector": "stripe", "credential": key, "cache_ttl_seconds": 3601}),
            "cache_ttl_seconds must be 0 to 3600 for connector stripe",
        ),
    ] {
        let (status, text) = api.call("POST", "/v1/connections", Some(&body.to_string()));
        assert_eq!(status, 400, "{body}: {text}");
        check(&text, says, &body.to_string());
    }
    // Written out: serde_json's own values cannot repeat a key.
    let twice = format!(r#"{{"connector":"stripe","connector":"ledger","credential":"{key}"}}"#);
    let (status, text) = api.call("POST", "/v1/connections", Some(&twice));
    assert_eq!(status, 400, "{text}");
    check(&text, "has the field \"connector\" twice", "twice");
    fn check(text: &str, says: &str, body: &str) {
        let value: Value = serde_json::from_str(text).expect("json");
        assert_eq!(kind(&value), "invalid-request", "{text}");
        let message = value["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{body}: {message}");
        klairr_e2e::assert_no_key(keys::TEST_READ_ONLY, text, "a bad body");
    }
    assert!(emu.requests().is_empty(), "none of these made a request");

    // One connection at the default TTL fills the cache; one at 5 s does not use that entry (it may
    // be up to an hour old), but its own repeat is a hit, with what is left of its 5 s.
    let long = api.connect("stripe", key);
    let dsl = r#"{"list":"charges","limit":3}"#;
    let (_, first) = api.query(&long, dsl);
    assert_eq!(
        (first["cached"].clone(), first["cache_ttl_seconds"].clone()),
        (false.into(), 3600.into())
    );
    let body =
        serde_json::json!({"connector": "stripe", "credential": key, "cache_ttl_seconds": 5});
    let (status, created) = api.json("POST", "/v1/connections", Some(&body.to_string()));
    assert_eq!(status, 201, "{created}");
    let short = created["id"].as_str().expect("id");
    let (_, fresh) = api.query(short, dsl);
    assert_eq!(
        (fresh["cached"].clone(), fresh["cache_ttl_seconds"].clone()),
        (false.into(), 5.into())
    );
    // A hit says what is left of the entry's TTL, in whole seconds rounded down.
    let (_, repeat) = api.query(short, dsl);
    assert_eq!(repeat["cached"], true, "{repeat}");
    let left = repeat["cache_ttl_seconds"].as_u64().unwrap_or(u64::MAX);
    assert!((1..=4).contains(&left), "{repeat}");
    let (_, again) = api.query(&long, dsl);
    assert_eq!(again["cached"], true, "{again}");
    let left = again["cache_ttl_seconds"].as_u64().unwrap_or(u64::MAX);
    assert!((3500..=3599).contains(&left), "{again}");
    // An optional field's `null` is its absence: test mode, the default TTL (so the first entry is used).
    let body = serde_json::json!({"connector": "stripe", "credential": key, "mode": null,
        "max_rows": null, "max_scan": null, "cache_ttl_seconds": null});
    let (status, created) = api.json("POST", "/v1/connections", Some(&body.to_string()));
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["setup"]["mode"], "test", "{created}");
    let nulls = created["id"].as_str().expect("id");
    let (_, hit) = api.query(nulls, dsl);
    assert_eq!(hit["cached"], true, "{hit}");
    let left = hit["cache_ttl_seconds"].as_u64().unwrap_or(u64::MAX);
    assert!((3500..=3599).contains(&left), "{hit}");
    server.drain(Duration::from_secs(1));
}

/// A result's TTL counts from when its rows were read, not from when its call returned: a connection
/// at a 2 s TTL whose query takes over 2 s (two pages at 1.1 s each) is told it may keep the answer 0 s
/// more, and its repeat is read afresh, never served rows older than its TTL from the cache (review:
/// the entry was stored for the whole TTL after the call, so a 5 s connection got rows 10 s old); a
/// connection at 60 s is told what is left of its 60 s, and its hit no more.
#[test]
fn a_results_ttl_counts_from_when_its_rows_were_read() {
    let emu = emulator();
    let server = Server::start(&Registry::builtin(), options(&emu)).expect("starts");
    let api = Api::new(&server);
    let open = |ttl: u32| {
        let body = json!({"connector": "stripe", "credential": keys::TEST_READ_ONLY,
            "cache_ttl_seconds": ttl});
        let (status, created) = api.json("POST", "/v1/connections", Some(&body.to_string()));
        assert_eq!(status, 201, "{created}");
        created["id"].as_str().expect("id").to_owned()
    };
    let (short, long) = (open(2), open(60));
    // Two pages, one after the other (a small query is one cursor): over 2.2 s.
    emu.set_latency(Duration::from_millis(1100));
    let dsl = r#"{"list":"charges","limit":150}"#;
    let started = Instant::now();
    let (status, fresh) = api.query(&short, dsl);
    assert_eq!(status, 200, "{fresh}");
    assert!(started.elapsed() >= Duration::from_secs(2), "{fresh}");
    assert_eq!(fresh["cached"], false, "{fresh}");
    assert_eq!(
        fresh["cache_ttl_seconds"], 0,
        "the call took the whole TTL: {fresh}"
    );
    let (_, again) = api.query(&short, dsl);
    assert_eq!(
        again["cached"], false,
        "rows read over 2 s ago are not served at 2 s: {again}"
    );

    let started = Instant::now();
    let (_, fresh) = api.query(&long, dsl);
    let took = started.elapsed().as_secs();
    assert_eq!(fresh["cached"], false, "{fresh}");
    let told = fresh["cache_ttl_seconds"].as_u64().unwrap_or(u64::MAX);
    assert!(
        told <= 60 - took,
        "{took} s of 60 used, {told} s left: {fresh}"
    );
    emu.set_latency(Duration::ZERO);
    let (_, hit) = api.query(&long, dsl);
    assert_eq!(hit["cached"], true, "{hit}");
    let left = hit["cache_ttl_seconds"].as_u64().unwrap_or(u64::MAX);
    assert!(
        left < 60 - took,
        "{took} s of 60 used, {left} s left: {hit}"
    );
    server.drain(Duration::from_secs(1));
}

/// Flags that set up one connection or one component cannot be honoured by `serve` for all of them:
/// refused, saying where each setting goes, rather than accepted and ignored.
#[test]
fn serve_refuses_the_flags_of_one_connection() {
    for flag in [
        &["--max-rows", "5"][..],
        &["--cache-ttl", "7"][..],
        &["--max-scan", "20"][..],
        &["--mode", "live"][..],
        &["--connector", "stripe"][..],
        &["--component", "/nonexistent.wasm"][..],
    ] {
        let mut args = vec!["--format", "json"];
        args.extend(flag);
        args.extend(["serve", "--listen", "127.0.0.1:0"]);
        let run = klairr_e2e::run_cli_with_env(&args, &[("KLAIRR_HOST_TOKEN", TOKEN)], "");
        assert_eq!(run.code, 2, "{flag:?}: {run:?}");
        let v = run.json();
        assert_eq!(v["error"]["kind"], "usage", "{run:?}");
        let message = v["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(&format!("leave out {}", flag[0])),
            "{message}"
        );
        assert!(message.contains("POST /v1/connections"), "{message}");
    }
}

#[test]
fn concurrent_clients_on_one_connection_are_all_served() {
    let emu = emulator();
    let server = Server::start(&Registry::builtin(), options(&emu)).expect("starts");
    let api = Api::new(&server);
    let id = api.connect("stripe", keys::TEST_READ_ONLY);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (1..=8)
            .map(|client| {
                let (api, id) = (&api, &id);
                scope.spawn(move || {
                    for round in 0..4 {
                        let limit = client * 4 + round;
                        let (status, value) =
                            api.query(id, &format!(r#"{{"list":"invoices","limit":{limit}}}"#));
                        assert_eq!(status, 200, "{value}");
                        assert_eq!(value["rows"].as_array().map(Vec::len), Some(limit));
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().expect("client");
        }
    });
    server.drain(Duration::from_secs(1));
}

/// Hot swap: a good new version serves every later call, on existing connections too; a broken one is
/// refused and the old keeps serving; a call in flight finishes on the version it started on.
#[test]
fn reload_swaps_atomically_and_refuses_a_broken_version() {
    let emu = emulator();
    let (dir, wasm) = stripe_copy_connectors_dir("serve-reload", "swap", STRIPE_COMPONENT);
    // Without `reads` rules, which a version whose catalogue lacks their tables cannot pass (the
    // hostile component, swapped in below, has one table of its own).
    let manifest = dir.join("swap.toml");
    let without_reads: String = std::fs::read_to_string(&manifest)
        .expect("manifest")
        .lines()
        .filter(|line| !line.starts_with("reads = "))
        .map(|line| format!("{line}\n"))
        .collect();
    std::fs::write(&manifest, without_reads).expect("write");
    let server = serve_dir(&emu, &dir);
    let api = Api::new(&server);
    let id = api.connect("swap", keys::TEST_READ_ONLY);
    let (status, rows) = api.query(&id, r#"{"list":"customers","limit":2}"#);
    assert_eq!(status, 200, "{rows}");
    // One opened with more rows than the new version takes (its max_rows_limit is 1000).
    let body = serde_json::json!({"connector": "swap", "credential": keys::TEST_READ_ONLY,
        "mode": "test", "max_rows": 5000});
    let (status, value) = api.json("POST", "/v1/connections", Some(&body.to_string()));
    assert_eq!(status, 201, "{value}");
    let many_rows = value["id"].as_str().expect("id").to_owned();

    // A good new version (the hostile test component: it answers a query with its script's outcome).
    std::fs::write(&wasm, hostile_component()).expect("write");
    let (status, reloaded) = api.json("POST", "/v1/connectors/swap/reload", None);
    assert_eq!(status, 200, "{reloaded}");
    assert_eq!(reloaded["version"], 2);
    let (_, listed) = api.json("GET", "/v1/connectors", None);
    let names: Vec<&str> = listed["connectors"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|c| c["connector"].as_str())
        .collect();
    // Listed by the manifest's name, whatever the new component calls itself (`hostile`).
    assert_eq!(names, ["stripe", "swap"], "{listed}");
    // The existing connection now runs the new version.
    let (status, value) = api.query(&id, r#"{"list":"customers","limit":2}"#);
    assert_eq!((status, kind(&value)), (400, "invalid-query"), "{value}");
    assert!(
        value["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("hostile script"),
        "{value}"
    );

    // Its max_rows is lowered to the new version's most, as its max_scan would be (review: every
    // later query failed with "max-rows 5000 is out of range", blaming the query).
    let (status, value) = api.query(&many_rows, r#"{"sleep_ns": 1000}"#);
    assert_eq!(status, 200, "{value}");

    // A broken version is refused; version 2 keeps serving.
    std::fs::write(&wasm, b"this is not a component").expect("write");
    let (status, refused) = api.json("POST", "/v1/connectors/swap/reload", None);
    assert_eq!(
        (status, kind(&refused)),
        (422, "reload-refused"),
        "{refused}"
    );
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("version 2 keeps serving"),
        "{refused}"
    );
    let (status, value) = api.query(&id, r#"{"sleep_ns": 1000}"#);
    assert_eq!(status, 200, "{value}");

    // A call in flight finishes on the version it started on, while the swap back to Stripe happens.
    std::fs::write(&wasm, STRIPE_COMPONENT).expect("write");
    std::thread::scope(|scope| {
        let slow = scope.spawn(|| api.query(&id, r#"{"sleep_ns": 800000000}"#));
        std::thread::sleep(Duration::from_millis(200));
        let (status, reloaded) = api.json("POST", "/v1/connectors/swap/reload", None);
        assert_eq!(status, 200, "{reloaded}");
        assert_eq!(reloaded["version"], 3);
        let (status, value) = slow.join().expect("slow call");
        assert_eq!(status, 200, "{value}");
        assert!(
            value.to_string().contains("slept"),
            "finished on the hostile version: {value}"
        );
    });
    let (status, value) = api.query(&id, r#"{"list":"customers","limit":2}"#);
    assert_eq!(status, 200, "{value}");
    assert_eq!(value["rows"], rows["rows"]);
    server.drain(Duration::from_secs(1));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `serve` with the built-in connectors and those of `dir`, against `emu`.
fn serve_dir(emu: &Emulator, dir: &Path) -> Server {
    let registry = Registry::with_dir(dir).expect("registry");
    Server::start(&registry, options(emu)).expect("starts")
}

/// `serve` with a copy of Stripe's manifest named `name` (and Stripe's component): its directory, the
/// manifest's path and text (for a test to rewrite and reload), and the server.
fn serve_a_stripe_copy(
    emu: &Emulator,
    label: &str,
    name: &str,
) -> (std::path::PathBuf, std::path::PathBuf, String, Server) {
    let (dir, _wasm) = stripe_copy_connectors_dir(label, name, STRIPE_COMPONENT);
    let manifest_path = dir.join(format!("{name}.toml"));
    let manifest = std::fs::read_to_string(&manifest_path).expect("manifest");
    let server = serve_dir(emu, &dir);
    (dir, manifest_path, manifest, server)
}

/// The result cache is keyed by the manifest too: after a reload that takes a table's rule away, its
/// rows are not served from the cache to any connection (QA got them for the rest of the TTL), while
/// a reload that changes only comments keeps the cache. `GET /v1/connectors` says which version serves.
#[test]
fn a_reload_that_narrows_the_manifest_serves_nothing_fetched_under_the_old_one() {
    let emu = emulator();
    let (dir, manifest_path, manifest, server) =
        serve_a_stripe_copy(&emu, "serve-narrow", "narrow");
    let api = Api::new(&server);
    let id = api.connect("narrow", keys::TEST_READ_ONLY);
    let other = api.connect("narrow", keys::TEST_READ_ONLY);
    let question = r#"{"list":"customers","limit":2}"#;
    let (status, first) = api.query(&id, question);
    assert_eq!((status, &first["cached"]), (200, &json!(false)), "{first}");
    let served = |api: &Api| {
        let (_, listed) = api.json("GET", "/v1/connectors", None);
        listed["connectors"]
            .as_array()
            .expect("list")
            .iter()
            .find(|c| c["connector"] == "narrow")
            .expect("listed")["loaded"]
            .clone()
    };
    let before = served(&api);
    assert_eq!(before["version"], 1, "{before}");

    // Comments only: the manifest as validated is the same, and so is the cache.
    std::fs::write(&manifest_path, format!("# reviewed\n{manifest}")).expect("write");
    let (status, reloaded) = api.json("POST", "/v1/connectors/narrow/reload", None);
    assert_eq!(status, 200, "{reloaded}");
    assert_eq!(reloaded["manifest_sha256"], before["manifest_sha256"]);
    let (status, again) = api.query(&other, question);
    assert_eq!((status, &again["cached"]), (200, &json!(true)), "{again}");

    // The customers list no longer allowed: neither connection gets its rows, from the cache or not.
    let narrowed = manifest.replacen(
        "path = \"/v1/customers\"\n",
        "path = \"/v1/customers-withdrawn\"\n",
        1,
    );
    assert_ne!(narrowed, manifest, "the customers rule is in the manifest");
    std::fs::write(&manifest_path, narrowed).expect("write");
    let (status, reloaded) = api.json("POST", "/v1/connectors/narrow/reload", None);
    assert_eq!(status, 200, "{reloaded}");
    assert_eq!(reloaded["version"], 3);
    assert_eq!(reloaded["component_sha256"], before["component_sha256"]);
    assert_ne!(reloaded["manifest_sha256"], before["manifest_sha256"]);
    let after = served(&api);
    assert_eq!(after["version"], 3, "{after}");
    assert_eq!(after["manifest_sha256"], reloaded["manifest_sha256"]);
    for connection in [&id, &other] {
        let (status, value) = api.query(connection, question);
        assert_eq!((status, kind(&value)), (502, "request-denied"), "{value}");
    }
    server.drain(Duration::from_secs(1));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A reload that lowers `max_scan_rows` below a connection's `max_scan` carries the connection over
/// with its bound lowered (QA: every later query of it failed as `usage`, naming `--max-scan`); one
/// whose `reads` names no table of the connector is refused before it serves.
#[test]
fn a_reload_lowering_the_scan_bound_carries_connections_over_and_a_stray_reads_is_refused() {
    let emu = emulator();
    let (dir, manifest_path, manifest, server) =
        serve_a_stripe_copy(&emu, "serve-scan-bound", "bound");
    let api = Api::new(&server);
    let body =
        json!({"connector": "bound", "credential": keys::TEST_READ_ONLY, "max_scan": 100000});
    let (status, created) = api.json("POST", "/v1/connections", Some(&body.to_string()));
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().expect("id").to_owned();

    let lowered = manifest
        .replace("max_scan_rows = 1000000", "max_scan_rows = 50")
        .replace("min_scan_rows = 1000", "min_scan_rows = 10");
    assert_ne!(lowered, manifest);
    std::fs::write(&manifest_path, &lowered).expect("write");
    let (status, reloaded) = api.json("POST", "/v1/connectors/bound/reload", None);
    assert_eq!(status, 200, "{reloaded}");
    let (status, value) = api.query(
        &id,
        r#"{"list":"charges","group_by":["currency"],"measures":{"n":"count"}}"#,
    );
    assert_eq!(status, 200, "{value}");
    assert_eq!(
        (
            &value["aggregate"]["rows_scanned"],
            &value["aggregate"]["partial"]
        ),
        (&json!(50), &json!(true)),
        "{value}"
    );

    // `reads` of a table the connector does not have: refused, the version before keeps serving.
    let stray = lowered.replacen("reads = \"payouts\"", "reads = \"widgets\"", 1);
    assert_ne!(stray, lowered);
    std::fs::write(&manifest_path, stray).expect("write");
    let (status, refused) = api.json("POST", "/v1/connectors/bound/reload", None);
    assert_eq!(
        (status, kind(&refused)),
        (422, "reload-refused"),
        "{refused}"
    );
    let message = refused["error"]["message"].as_str().unwrap_or("");
    assert!(message.contains("widgets"), "{message}");
    let (status, value) = api.query(&id, r#"{"list":"payouts","limit":1}"#);
    assert_eq!(status, 200, "{value}");
    server.drain(Duration::from_secs(1));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A setup report names only tables of the connector's own catalogue: the hostile component reports
/// Stripe's five readable, but its catalogue has one table, `outcomes`, and nothing proved those five.
#[test]
fn a_setup_report_names_only_the_connectors_own_tables() {
    let emu = emulator();
    let (dir, _) = hostile_connectors_dir("serve-readable", "liar");
    let server = serve_dir(&emu, &dir);
    let api = Api::new(&server);
    let body = json!({"connector": "liar", "credential": keys::TEST_READ_ONLY, "mode": "test"});
    let (status, created) = api.json("POST", "/v1/connections", Some(&body.to_string()));
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["setup"]["readable"], json!([]), "{created}");
    server.drain(Duration::from_secs(1));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Why a reload was refused quotes the manifest: what looks like a key there is hidden by its form, as
/// the CLI hides it (QA pasted an open connection's key into `version` and read ~80 characters of it
/// back in the 422 and the log).
#[test]
fn a_refused_reload_never_quotes_a_key() {
    let emu = emulator();
    let dir = ledger_connectors_dir();
    let server = serve_dir(&emu, &dir);
    let api = Api::new(&server);
    let _id = api.connect("stripe", keys::TEST_READ_ONLY);
    let manifest = dir.join("ledger.toml");
    let text = std::fs::read_to_string(&manifest).expect("manifest");
    let pasted = text.replacen(
        "version = \"",
        &format!("version = \"{}", keys::TEST_READ_ONLY),
        1,
    );
    assert_ne!(pasted, text);
    std::fs::write(&manifest, pasted).expect("write");
    let (status, refused) = api.json("POST", "/v1/connectors/ledger/reload", None);
    assert_eq!(
        (status, kind(&refused)),
        (422, "reload-refused"),
        "{refused}"
    );
    let message = refused["error"]["message"].as_str().unwrap_or("");
    assert!(
        message.contains("[looks like a key: not shown]"),
        "{message}"
    );
    klairr_e2e::assert_no_key(keys::TEST_READ_ONLY, message, "a refused reload");
    server.drain(Duration::from_secs(1));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A reload is held to what a start checks of the whole set: a manifest that now reads another
/// connector's credential variable, or moves the only origin a `--redirect` reaches (its requests would
/// go to the real service), is refused and the old version keeps serving.
#[test]
fn a_reload_the_start_would_refuse_is_refused() {
    let emu = emulator();
    let ledger = LedgerApi::start(LedgerApiConfig::default()).expect("ledger API");
    let dir = ledger_connectors_dir();
    let manifest_path = dir.join("ledger.toml");
    let original = std::fs::read_to_string(&manifest_path).expect("manifest");
    let registry = Registry::with_dir(&dir).expect("registry");
    let mut options = options(&emu);
    options.sandbox.redirects.push(
        Redirect::parse(&format!("https://api.ledger.example={}", ledger.base_url()))
            .expect("redirect"),
    );
    let server = Server::start(&registry, options).expect("starts");
    let api = Api::new(&server);
    let id = api.connect("ledger", &ledger_api::test_key());

    for (changed, why) in [
        (
            original.replace("env = \"LEDGER_API_KEY\"", "env = \"STRIPE_API_KEY\""),
            "both read their credential from $STRIPE_API_KEY",
        ),
        (
            original.replace(
                "https://api.ledger.example",
                "https://api.elsewhere.example",
            ),
            "no connector reaches that origin",
        ),
    ] {
        assert_ne!(changed, original, "the manifest changed");
        std::fs::write(&manifest_path, &changed).expect("write");
        let (status, refused) = api.json("POST", "/v1/connectors/ledger/reload", None);
        assert_eq!(
            (status, kind(&refused)),
            (422, "reload-refused"),
            "{refused}"
        );
        let message = refused["error"]["message"].as_str().unwrap_or("");
        assert!(
            message.contains(why) && message.contains("version 1 keeps serving"),
            "{message}"
        );
        let (status, value) = api.query(&id, r#"{"list":"entries","limit":1}"#);
        assert_eq!(status, 200, "version 1 still answers: {value}");
    }
    // Put back, it reloads.
    std::fs::write(&manifest_path, &original).expect("write");
    let (status, reloaded) = api.json("POST", "/v1/connectors/ledger/reload", None);
    assert_eq!(status, 200, "{reloaded}");
    // A version whose credential rules the open connection's key no longer meets is swapped in: its
    // queries fail, before any request, and are counted as they fail (QA: they were not counted).
    std::fs::write(
        &manifest_path,
        original.replace("min_length = 32", "min_length = 200"),
    )
    .expect("write");
    let (status, reloaded) = api.json("POST", "/v1/connectors/ledger/reload", None);
    assert_eq!(status, 200, "{reloaded}");
    let (status, value) = api.query(&id, r#"{"list":"entries","limit":1}"#);
    assert_eq!((status, kind(&value)), (422, "invalid-key"), "{value}");
    let (_, metrics) = api.call("GET", "/metrics", None);
    assert!(
        metrics.contains("klairr_queries_total{connector=\"ledger\",outcome=\"invalid-key\"} 1"),
        "{metrics}"
    );
    server.drain(Duration::from_secs(1));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_trap_leaves_the_connection_and_the_other_connectors_serving() {
    let emu = emulator();
    let (dir, _) = hostile_connectors_dir("serve-trap", "crashy");
    let server = serve_dir(&emu, &dir);
    let api = Api::new(&server);
    let crashy = api.connect("crashy", keys::TEST_READ_ONLY);
    let stripe = api.connect("stripe", keys::TEST_READ_ONLY);
    let (status, value) = api.query(&crashy, r#"{"panic":"boom"}"#);
    assert_eq!((status, kind(&value)), (502, "sandbox"), "{value}");
    assert_eq!(api.query(&stripe, r#"{"list":"payouts","limit":3}"#).0, 200);
    // The crashed connection gets a fresh instance at its next call.
    assert_eq!(api.query(&crashy, r#"{"sleep_ns": 1}"#).0, 200);
    let (_, metrics) = api.call("GET", "/metrics", None);
    assert!(
        metrics.contains("klairr_traps_total{connector=\"crashy\"} 1"),
        "{metrics}"
    );
    server.drain(Duration::from_secs(1));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Rows a call read are not held past it in the connection's instance: an instance keeps its linear
/// memory from call to call (an honest component's freed heap still holds the pages it read; this
/// one keeps the last body on purpose), and a connection lives `--idle-seconds` (900 by default),
/// well past a result's TTL. A call that read from the source leaves its instance behind; the next
/// call gets a fresh one, with nothing of the last one's rows (review b2: an email read by a call
/// whose result had a TTL of 0 came back in the next call).
#[test]
fn rows_a_call_read_are_not_held_in_its_instance_after_it() {
    let emu = emulator();
    let (dir, _) = hostile_connectors_dir("serve-b2-rows-held", "keeper");
    let server = serve_dir(&emu, &dir);
    let api = Api::new(&server);
    let keeper = api.connect("keeper", keys::TEST_READ_ONLY);
    // The first call reads a page of customers (emails and names) and returns only its outcome,
    // with a TTL of 0: nothing of it may be kept once it is answered.
    let (status, value) = api.query(&keeper, r#"{"http": {"path": "/v1/customers?limit=3"}}"#);
    assert_eq!(status, 200, "{value}");
    assert!(value.to_string().contains("HTTP 200"), "{value}");
    assert_eq!(value["cache_ttl_seconds"], 0, "{value}");
    // The next call reads nothing and returns what its instance still holds of the last body.
    let (status, value) = api.query(
        &keeper,
        r#"{"return": {"columns": [{"name": "outcome", "kind": "text"}], "rows": [["$upstream"]]}}"#,
    );
    assert_eq!(status, 200, "{value}");
    assert!(
        !value.to_string().contains("@example."),
        "a customer's email read by the call before came back: {value}"
    );
    server.drain(Duration::from_secs(1));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_call_holding_its_responses_until_its_deadline_leaves_nothing_held() {
    let emu = emulator();
    let (dir, _) = hostile_connectors_dir("serve-held", "held");
    let registry = Registry::with_dir(&dir).expect("registry");
    let mut options = options(&emu);
    options.sandbox = redirect_to(
        &emu,
        SandboxLimits {
            call_timeout: Duration::from_secs(2),
            ..SandboxLimits::default()
        },
    );
    let server = Server::start(&registry, options).expect("starts");
    let api = Api::new(&server);
    // Two connections with one key: they share its budget, in-flight and open-response gates.
    let a = api.connect("held", keys::TEST_READ_ONLY);
    let b = api.connect("held", keys::TEST_READ_ONLY);
    // A keeps every response it gets, unread, and asks for more within its call's request ceiling (50):
    // the ones past the open-response bound (32) wait, and the call runs into its deadline, which
    // discards its instance. (Past the ceiling it would be stopped at once: `hostile_guest.rs`.)
    let flood = r#"{"flood": {"count": 40, "path": "/v1/customers?limit=1", "hold": true}}"#;
    let (status, value) = api.query(&a, flood);
    assert_eq!((status, kind(&value)), (504, "deadline"), "{value}");
    // Requests sent are those that went on the wire: the two setups' probe and read each and A's 32,
    // not the 8 admitted requests that waited for an open-response slot until the deadline.
    let (_, metrics) = api.call("GET", "/metrics", None);
    assert!(
        metrics.contains("klairr_upstream_requests_total{connector=\"held\"} 36"),
        "{metrics}"
    );
    // While A holds every response it may, B (the same key) is not held up: the bound on open
    // responses is A's own.
    std::thread::scope(|s| {
        s.spawn(|| api.query(&a, flood));
        std::thread::sleep(Duration::from_millis(500));
        let started = Instant::now();
        let (status, value) = api.query(&b, r#"{"http": {"path": "/v1/customers?limit=1"}}"#);
        assert_eq!(status, 200, "{value}");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "B waited {:?} for A's responses",
            started.elapsed()
        );
    });
    // The discarded instance is dropped with the responses it held: B's request goes through, and A
    // gets a fresh instance.
    let (status, value) = api.query(&b, r#"{"http": {"path": "/v1/customers?limit=1"}}"#);
    assert_eq!(status, 200, "{value}");
    assert!(value.to_string().contains("HTTP 200"), "{value}");
    let (status, value) = api.query(&a, r#"{"sleep_ns": 1}"#);
    assert_eq!(status, 200, "{value}");
    server.drain(Duration::from_secs(1));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A call that asks past its request ceiling is stopped then and there, not at its deadline (a minute
/// here), whatever it does next; its connection carries on with a fresh instance.
#[test]
fn a_call_asking_past_its_ceiling_is_stopped_at_once() {
    let emu = emulator();
    let (dir, server) = two_in_flight_server(&emu, "past-ceiling", Duration::from_secs(60));
    let api = Api::new(&server);
    let connection = api.connect("past-ceiling", keys::TEST_READ_ONLY);
    let flood = r#"[{"flood": {"count": 100, "path": "/v1/customers?limit=1"}}, {"sleep_ns": 18446744073709551615}]"#;
    let started = Instant::now();
    let (status, value) = api.query(&connection, flood);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "stopped at the deadline: {:?}",
        started.elapsed()
    );
    assert_eq!((status, kind(&value)), (502, "sandbox"), "{value}");
    assert!(
        value.to_string().contains("more than 50 requests"),
        "{value}"
    );
    let (status, value) = api.query(&connection, r#"{"sleep_ns": 1}"#);
    assert_eq!(status, 200, "{value}");
    server.drain(Duration::from_secs(1));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A call that returns while its requests still wait for a slot takes them along: none goes on the
/// wire after it returned (review: they went out later, uncounted, each call free to leave another
/// ceiling's worth), and every one that did is counted. A later call holding their futures learns why.
#[test]
fn requests_a_call_leaves_behind_are_not_sent_after_it_returns() {
    let emu = emulator();
    emu.set_latency(Duration::from_millis(300));
    let (dir, server) = two_in_flight_server(&emu, "leaving", Duration::from_secs(60));
    let api = Api::new(&server);
    let connection = api.connect("leaving", keys::TEST_READ_ONLY);
    let before = emu.requests().len();
    let leave = r#"{"flood": {"count": 40, "path": "/v1/customers?limit=1", "leave": true}}"#;
    let (status, value) = api.query(&connection, leave);
    assert_eq!(status, 200, "{value}");
    assert!(value.to_string().contains("40 left pending"), "{value}");
    // Time for ten more rounds of two at 300 ms, had they been let go.
    std::thread::sleep(Duration::from_millis(1500));
    let sent = emu.requests().len() - before;
    assert!(
        sent <= 2,
        "{sent} of the 40 left behind reached the upstream; two at most were on the wire when the call returned"
    );
    assert_counted_as_arrived(&api, &emu, "leaving");
    // The connection carries on, its next call's requests unaffected.
    let (status, value) = api.query(
        &connection,
        r#"{"http": {"path": "/v1/customers?limit=1"}}"#,
    );
    assert_eq!(status, 200, "{value}");
    assert!(value.to_string().contains("HTTP 200"), "{value}");
    server.drain(Duration::from_secs(1));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A local process without the token that opens connections and never finishes a request holds at
/// most `MAX_CLIENT_CONNECTIONS` of them: one more is closed at once (review: each held a descriptor
/// for 30 s, until the host could open none), and once they go the server answers as before.
#[test]
fn connections_past_the_bound_are_closed_at_once() {
    use std::io::Read;
    let emu = emulator();
    let server = Server::start(&Registry::builtin(), options(&emu)).expect("starts");
    let addr = server.addr();
    let half_head = |stream: &mut std::net::TcpStream| {
        let _ = stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n");
    };
    let mut held: Vec<std::net::TcpStream> = (0..klairr_host::serve::MAX_CLIENT_CONNECTIONS)
        .map(|_| {
            let mut stream = std::net::TcpStream::connect(addr).expect("connect");
            half_head(&mut stream);
            stream
        })
        .collect();
    // Let the server accept them all before the next one.
    std::thread::sleep(Duration::from_millis(500));
    let mut extra = std::net::TcpStream::connect(addr).expect("the listener still accepts");
    half_head(&mut extra);
    extra
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut buf = [0u8; 64];
    let started = Instant::now();
    let closed = matches!(extra.read(&mut buf), Ok(0) | Err(_));
    assert!(
        closed && started.elapsed() < Duration::from_secs(4),
        "the connection past the bound was closed at once ({:?})",
        started.elapsed()
    );
    // The ones it holds are still open: each waits for the rest of its head.
    held[0]
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    assert!(
        matches!(held[0].read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut),
        "a held connection is still open"
    );
    held.clear();
    std::thread::sleep(Duration::from_millis(500));
    let api = Api::new(&server);
    let (status, _) = api.call("GET", "/v1/connectors", None);
    assert_eq!(status, 200, "answered once they are gone");
    server.drain(Duration::from_secs(1));
}

/// `klairr_denials_total` counts every refusal of a query's answer: its canonical form is a call of its
/// own (review: a refusal there was logged but not counted, and the log's "more" line mixed the calls).
#[test]
fn refusals_in_a_querys_canonical_form_are_counted() {
    let emu = emulator();
    let (dir, server) = two_in_flight_server(&emu, "canon", Duration::from_secs(60));
    let api = Api::new(&server);
    let denials = || metric(&api, "klairr_denials_total{connector=\"canon\"}").unwrap_or(0);
    let connection = api.connect("canon", keys::TEST_READ_ONLY);
    // The setup's: the two requests of the hostile credential check (an instance thrown away after,
    // whose refusals the connection takes over) and the four writes of its verify.
    assert_eq!(denials(), 6, "the credential's check's and verify's");
    let before = denials();
    let query = r#"[{"print": {"text": "request_in_canonical", "times": 0}}, {"http": {"authority": "evil.example", "path": "/"}}]"#;
    let (status, value) = api.query(&connection, query);
    assert_eq!(status, 200, "{value}");
    assert_eq!(
        denials() - before,
        2,
        "one in the canonical form, one in the query"
    );
    server.drain(Duration::from_secs(1));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The shared cache behaves the same whether or not a component's guess is a run of the credential:
/// its canonical form is not masked (two forms became one entry exactly when a guess was right, which
/// the component saw as a cache hit), and a result is weighed as returned, before masking (a right
/// guess weighed less, changing what the cache evicts). QA rebuilt a key through each.
#[test]
fn the_shared_cache_does_not_answer_guesses_at_the_credential() {
    let emu = emulator();
    let (dir, server) = two_in_flight_server(&emu, "cacheguess", Duration::from_secs(60));
    let api = Api::new(&server);
    let connection = api.connect("cacheguess", keys::TEST_READ_ONLY);
    let run = &keys::TEST_READ_ONLY[40..52];
    let reversed = |text: &str| text.chars().rev().collect::<String>();
    // The canonical form, turned round by the component, holds the run; the second query's holds the
    // mask itself.
    let ask = |piece: &str| {
        let query = serde_json::json!([
            {"print": {"text": format!("reverse_in_canonical {}", reversed(piece)), "times": 0}},
            {"return": {"columns": [{"name": "outcome", "kind": "text"}], "rows": [["a"]],
                "cache_ttl_seconds": 600}}
        ])
        .to_string();
        let (status, value) = api.query(&connection, &query);
        assert_eq!(status, 200, "{value}");
        value["cached"].as_bool().expect("cached")
    };
    assert!(!ask(run));
    assert!(!ask("[redacted]"), "a guess's form is its own entry");
    assert!(ask(run), "and a repeated one is a hit, as any query");
    // A result of a right guess weighs what a wrong one of the same length does.
    let bytes = || metric(&api, "klairr_cache_bytes").expect("klairr_cache_bytes");
    let mut grew = Vec::new();
    for (n, piece) in [run, "Zz9Zz9Zz9Zz9"].into_iter().enumerate() {
        let before = bytes();
        let cell = reversed(&format!("{piece}-").repeat(50));
        let query = serde_json::json!([
            {"print": {"text": format!("weigh {n}"), "times": 0}},
            {"return": {"columns": [{"name": "outcome", "kind": "text"}], "rows": [[cell]],
                "cache_ttl_seconds": 600, "reverse": true}}
        ])
        .to_string();
        let (status, value) = api.query(&connection, &query);
        assert_eq!(status, 200, "{value}");
        grew.push(bytes() - before);
    }
    assert_eq!(grew[0], grew[1], "the same weight, right guess or wrong");
    server.drain(Duration::from_secs(1));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A server on `emu` with the hostile component as connector `name`, allowed two requests in flight
/// (so that most of a flood waits for a slot), its calls stopped at `call_timeout`.
fn two_in_flight_server(
    emu: &Emulator,
    name: &str,
    call_timeout: Duration,
) -> (std::path::PathBuf, Server) {
    let (dir, _) = hostile_connectors_dir(&format!("serve-{name}"), name);
    let manifest = dir.join(format!("{name}.toml"));
    let text = std::fs::read_to_string(&manifest).expect("manifest");
    std::fs::write(
        &manifest,
        text.replace("max_in_flight = 8", "max_in_flight = 2"),
    )
    .expect("write");
    let registry = Registry::with_dir(&dir).expect("registry");
    let mut options = options(emu);
    options.sandbox = redirect_to(
        emu,
        SandboxLimits {
            call_timeout,
            ..SandboxLimits::default()
        },
    );
    (dir, Server::start(&registry, options).expect("starts"))
}

/// The value of one series of `/metrics` (`name` with its labels), if it is there.
fn metric(api: &Api, series: &str) -> Option<u64> {
    let (_, metrics) = api.call("GET", "/metrics", None);
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|n| n.trim().parse::<u64>().ok())
}

/// `klairr_upstream_requests_total` of `connector` is what reached `emu`, every request of it.
fn assert_counted_as_arrived(api: &Api, emu: &Emulator, connector: &str) {
    let (_, metrics) = api.call("GET", "/metrics", None);
    let arrived = emu.requests().len();
    assert!(
        metrics.contains(&format!(
            "klairr_upstream_requests_total{{connector=\"{connector}\"}} {arrived}"
        )),
        "{arrived} at the emulator: {metrics}"
    );
}

#[test]
fn closing_a_connection_stops_the_call_running_on_it() {
    let emu = emulator();
    // A deadline far beyond the test: only closing the connection can end these calls in time.
    let (dir, server) = two_in_flight_server(&emu, "closing", Duration::from_secs(60));
    let api = Api::new(&server);
    let one_request = r#"{"http": {"path": "/v1/customers?limit=1"}}"#;
    let forty_in_a_row = format!("[{}]", [one_request; 40].join(","));
    // Within the request ceiling (50): past it the call would be stopped at once, by the host.
    let holding_more_than_it_may =
        r#"{"flood": {"count": 40, "path": "/v1/customers?limit=1", "hold": true}}"#;
    let waiting_for_slots = r#"{"flood": {"count": 40, "path": "/v1/customers?limit=1"}}"#;
    // A guest spinning without a host call, one waiting for the upstream request after request (6 s of
    // them), one waiting for an open-response slot that never frees, and one whose requests wait for
    // the in-flight slots that closing frees (QA: some of those went out after the 204), four times.
    for (script, latency) in [
        (r#"{"spin": true}"#, 0),
        (forty_in_a_row.as_str(), 150),
        (holding_more_than_it_may, 150),
        (waiting_for_slots, 1000),
        (waiting_for_slots, 1000),
        (waiting_for_slots, 1000),
        (waiting_for_slots, 1000),
    ] {
        emu.set_latency(Duration::from_millis(latency));
        let id = api.connect("closing", keys::TEST_READ_ONLY);
        std::thread::scope(|s| {
            let running = s.spawn(|| {
                let started = Instant::now();
                (api.query(&id, script), started.elapsed())
            });
            std::thread::sleep(Duration::from_millis(700));
            let (status, _) = api.call("DELETE", &format!("/v1/connections/{id}"), None);
            assert_eq!(status, 204);
            let sent_when_closed = emu.requests().len();
            let ((status, value), took) = running.join().expect("query thread");
            assert_eq!(
                (status, kind(&value)),
                (409, "connection-closed"),
                "{script}: {value}"
            );
            assert!(
                took < Duration::from_secs(3),
                "{script}: answered after {took:?}"
            );
            // Nothing more leaves for the closed connection.
            std::thread::sleep(Duration::from_millis(500));
            assert_eq!(emu.requests().len(), sent_when_closed, "{script}");
        });
        let (status, value) = api.query(&id, r#"{"sleep_ns": 1}"#);
        assert_eq!(
            (status, kind(&value)),
            (404, "unknown-connection"),
            "{value}"
        );
    }
    // What the host counted as sent is what reached the upstream.
    assert_counted_as_arrived(&api, &emu, "closing");
    // The key serves its next connection at once: nothing of the closed ones is held.
    emu.set_latency(Duration::ZERO);
    let next = api.connect("closing", keys::TEST_READ_ONLY);
    let started = Instant::now();
    let (status, value) = api.query(&next, one_request);
    assert_eq!(status, 200, "{value}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    let (_, metrics) = api.call("GET", "/metrics", None);
    assert!(
        metrics.contains(
            "klairr_queries_total{connector=\"closing\",outcome=\"connection-closed\"} 7"
        ),
        "{metrics}"
    );
    server.drain(Duration::from_secs(1));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A client that hangs up stops its call: nothing more is sent for it, and its connection answers
/// the next question (QA: the call ran on and spent the key's budget for nobody).
#[test]
fn a_client_that_hangs_up_stops_its_call() {
    a_hang_up_mid_query_stops_the_call("hangup", "");
}

/// A query of forty requests in a row, 150 ms each, sent on a socket of its own with `behind` written
/// after it (a pipelined request, or nothing), the socket closed once the call has begun: nothing more
/// is sent after the hang-up, and the connection answers its next question on a fresh instance.
fn a_hang_up_mid_query_stops_the_call(connector: &str, behind: &str) {
    use std::io::Write;
    let emu = emulator();
    let (dir, server) = two_in_flight_server(&emu, connector, Duration::from_secs(60));
    let api = Api::new(&server);
    let one_request = r#"{"http": {"path": "/v1/customers?limit=1"}}"#;
    // Forty requests one after the other, 150 ms each: 6 s of them.
    let forty_in_a_row = format!("[{}]", [one_request; 40].join(","));
    emu.set_latency(Duration::from_millis(150));
    let id = api.connect(connector, keys::TEST_READ_ONLY);
    let before = emu.requests().len();
    let mut client = std::net::TcpStream::connect(server.addr()).expect("connects");
    write!(
        client,
        "POST /v1/connections/{id}/query HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Length: {}\r\n\r\n{forty_in_a_row}{behind}",
        forty_in_a_row.len()
    )
    .expect("sends");
    std::thread::sleep(Duration::from_millis(700));
    assert!(emu.requests().len() > before, "the call had begun");
    drop(client);
    // Whatever was on its way when the client left arrives; then nothing more.
    std::thread::sleep(Duration::from_millis(500));
    let after_hang_up = emu.requests().len();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        emu.requests().len(),
        after_hang_up,
        "sent after the client left"
    );
    assert!(
        after_hang_up - before < 10,
        "{} sent",
        after_hang_up - before
    );
    // The connection stays, and answers its next question on a fresh instance.
    emu.set_latency(Duration::ZERO);
    let (status, value) = api.query(&id, one_request);
    assert_eq!(status, 200, "{value}");
    assert_counted_as_arrived(&api, &emu, connector);
    server.drain(Duration::from_secs(1));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_call_past_its_deadline_sends_nothing_more() {
    let emu = emulator();
    let (dir, server) = two_in_flight_server(&emu, "late", Duration::from_millis(1500));
    let api = Api::new(&server);
    let id = api.connect("late", keys::TEST_READ_ONLY);
    emu.set_latency(Duration::from_millis(1000));
    let flood = r#"{"flood": {"count": 40, "path": "/v1/customers?limit=1"}}"#;
    for _ in 0..3 {
        let (status, value) = api.query(&id, flood);
        assert_eq!((status, kind(&value)), (504, "deadline"), "{value}");
        // The discarded instance's requests still waiting for a slot never go (they took the slots
        // its requests in flight freed, and went out after the call had failed, uncounted).
        let sent = emu.requests().len();
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(emu.requests().len(), sent, "sent after the deadline");
    }
    assert_counted_as_arrived(&api, &emu, "late");
    server.drain(Duration::from_secs(1));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn one_key_given_to_two_connectors_is_held_to_one_budget() {
    let upstream = Upstream::start(Behaviour::Ok).expect("upstream");
    // Two connectors for one API (two manifests for one Stripe account, say), one key given to both.
    let (dir, _) = hostile_connectors_dir("serve-one-budget", "first");
    let first = std::fs::read_to_string(dir.join("first.toml")).expect("manifest");
    std::fs::write(
        dir.join("second.toml"),
        first
            .replace("name = \"first\"", "name = \"second\"")
            .replace("FIRST_API_KEY", "SECOND_API_KEY"),
    )
    .expect("write");
    let registry = Registry::with_dir(&dir).expect("registry");
    let mut options = ServeOptions::new(
        "127.0.0.1:0".parse().expect("addr"),
        Token::from_env_value(Some(TOKEN.into())).expect("token"),
    );
    options.sandbox = SandboxOptions {
        redirect: Some(LoopbackBase::parse(&upstream.base_url()).expect("loopback")),
        ..SandboxOptions::default()
    };
    let server = Server::start(&registry, options).expect("starts");
    let api = Api::new(&server);
    let a = api.connect("first", keys::TEST_READ_ONLY);
    let b = api.connect("second", keys::TEST_READ_ONLY);
    let flood = r#"{"flood": {"count": 40, "path": "/v1/customers?limit=1"}}"#;
    std::thread::scope(|s| {
        for id in [&a, &b] {
            let api = &api;
            s.spawn(move || assert_eq!(api.query(id, flood).0, 200));
        }
    });
    let arrivals: Vec<Instant> = upstream
        .requests()
        .iter()
        .filter(|r| r.method == "GET")
        .map(|r| r.arrived)
        .collect();
    // The two floods' 80 and each setup's read.
    assert_eq!(arrivals.len(), 82);
    let budget = Manifest::stripe().budget.per_credential_test as usize;
    let busiest = max_in_window(&arrivals, Duration::from_secs(1));
    assert!(
        busiest <= budget,
        "{busiest} in one second, budget {budget}"
    );
    server.drain(Duration::from_secs(1));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn connectors_sharing_a_key_each_keep_their_own_in_flight_limit() {
    let emu = emulator();
    let latency = Duration::from_millis(300);
    emu.set_latency(latency);
    // Stripe's manifest allows 8 requests in flight; "narrow", a copy for the same account, allows 2.
    let (dir, _) = hostile_connectors_dir("serve-in-flight", "wide");
    let wide = std::fs::read_to_string(dir.join("wide.toml")).expect("manifest");
    assert!(wide.contains("max_in_flight = 8"));
    std::fs::copy(dir.join("wide.wasm"), dir.join("narrow.wasm")).expect("copy");
    std::fs::write(
        dir.join("narrow.toml"),
        wide.replace("name = \"wide\"", "name = \"narrow\"")
            .replace("WIDE_API_KEY", "NARROW_API_KEY")
            .replace("wide.wasm", "narrow.wasm")
            .replace("max_in_flight = 8", "max_in_flight = 2"),
    )
    .expect("write");
    let server = serve_dir(&emu, &dir);
    let api = Api::new(&server);
    let (narrow, wide) = (
        api.connect("narrow", keys::TEST_READ_ONLY),
        api.connect("wide", keys::TEST_READ_ONLY),
    );
    emu.clear_requests();
    // The narrow one starts first, then both flood at once with one key: each on its own endpoint.
    std::thread::scope(|s| {
        let api = &api;
        let (narrow, wide) = (&narrow, &wide);
        s.spawn(move || {
            let flood = r#"{"flood": {"count": 24, "path": "/v1/payouts?limit=1"}}"#;
            assert_eq!(api.query(narrow, flood).0, 200);
        });
        std::thread::sleep(Duration::from_millis(100));
        s.spawn(move || {
            let flood = r#"{"flood": {"count": 40, "path": "/v1/customers?limit=1"}}"#;
            assert_eq!(api.query(wide, flood).0, 200);
        });
    });
    // Every request waits `latency` at the emulator: those that arrived within less than that of each
    // other were in flight together.
    let together = |path: &str| {
        let arrivals: Vec<Instant> = emu
            .requests()
            .iter()
            .filter(|r| r.path == path)
            .map(|r| r.arrived)
            .collect();
        max_in_window(&arrivals, latency - Duration::from_millis(50))
    };
    let (narrow_peak, wide_peak) = (together("/v1/payouts"), together("/v1/customers"));
    assert!(narrow_peak <= 2, "narrow had {narrow_peak} in flight");
    // The narrow connector's limit does not become the wide one's; together they stay within 8.
    assert!(wide_peak >= 5, "wide had at most {wide_peak} in flight");
    assert!(
        emu.peak_in_flight() <= 8,
        "{} in flight",
        emu.peak_in_flight()
    );
    server.drain(Duration::from_secs(1));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn drain_lets_the_call_in_flight_finish_and_refuses_new_ones() {
    let emu = emulator();
    let (dir, _) = hostile_connectors_dir("serve-drain", "slow");
    let registry = Registry::with_dir(Path::new(&dir)).expect("registry");
    let server = Server::start(&registry, options(&emu)).expect("starts");
    let api = Api::new(&server);
    let id = api.connect("slow", keys::TEST_READ_ONLY);
    let addr = server.addr();
    // Requests whose heads are on their way when the drain begins (a keep-alive connection busy with
    // one): answered 503, /healthz included, so that a load balancer stops sending here.
    let arriving = |path: &str| {
        let mut stream = std::net::TcpStream::connect(addr).expect("connect");
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n"
        )
        .expect("a head, not ended yet");
        stream
    };
    let answer = |mut stream: std::net::TcpStream| {
        stream.write_all(b"\r\n").expect("the head's end");
        let mut text = String::new();
        let _ = stream.read_to_string(&mut text);
        text
    };
    let health = arriving("/healthz");
    let listing = arriving("/v1/connectors");
    std::thread::scope(|scope| {
        let slow = scope.spawn(|| api.query(&id, r#"{"sleep_ns": 700000000}"#));
        std::thread::sleep(Duration::from_millis(100));
        // Queued behind it on the same connection when the drain begins: it starts no call then.
        let queued = scope.spawn(|| api.query(&id, r#"{"sleep_ns": 1}"#));
        std::thread::sleep(Duration::from_millis(100));
        let drained = scope.spawn(move || server_drain(server));
        std::thread::sleep(Duration::from_millis(150));
        for (path, stream) in [("/healthz", health), ("/v1/connectors", listing)] {
            let text = answer(stream);
            assert!(
                text.starts_with("HTTP/1.1 503") && text.contains("shutting-down"),
                "{path}: {text}"
            );
        }
        assert!(drained.join().expect("drain"), "drained within the wait");
        let (status, value) = slow.join().expect("slow call");
        assert_eq!(status, 200, "the call in flight finished: {value}");
        let (status, value) = queued.join().expect("queued call");
        assert_eq!(
            (status, kind(&value)),
            (503, "shutting-down"),
            "the queued query started no call: {value}"
        );
    });
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "a drained server takes no new connection"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A query waiting for its connection's turn when the drain begins is answered `503 shutting-down` at
/// once, as the README says, also when the call ahead of it outlasts the drain (red team b1: it got no
/// answer at all, its client cut off when the drain's time was up, having waited all of it).
#[test]
fn a_query_queued_behind_a_call_that_outlasts_the_drain_is_answered_503_at_once() {
    let emu = emulator();
    let (dir, _) = hostile_connectors_dir("serve-drain-queued", "slow");
    let registry = Registry::with_dir(Path::new(&dir)).expect("registry");
    let server = Server::start(&registry, options(&emu)).expect("starts");
    let api = Api::new(&server);
    let id = api.connect("slow", keys::TEST_READ_ONLY);
    let addr = server.addr();
    // A query sent on a connection of its own, its answer read later (none, if it is cut off).
    let send = |query: &str| {
        let mut stream = std::net::TcpStream::connect(addr).expect("connect");
        write!(
            stream,
            "POST /v1/connections/{id}/query HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{query}",
            query.len()
        )
        .expect("a query");
        stream
    };
    // Runs for 20 s, far past the drain's 2 s: cut off when the drain's time is up.
    let _slow = send(r#"{"sleep_ns": 20000000000}"#);
    std::thread::sleep(Duration::from_millis(300));
    let mut queued = send(r#"{"sleep_ns": 1}"#);
    std::thread::sleep(Duration::from_millis(200));
    std::thread::scope(|scope| {
        let began = Instant::now();
        let drained = scope.spawn(move || server.drain(Duration::from_secs(2)));
        let mut text = String::new();
        let _ = queued.read_to_string(&mut text);
        let waited = began.elapsed();
        assert!(
            text.starts_with("HTTP/1.1 503") && text.contains("shutting-down"),
            "the queued query after {waited:?}: {text:?}"
        );
        assert!(
            waited < Duration::from_secs(1),
            "answered once the drain began, not at its end: {waited:?}"
        );
        assert!(!drained.join().expect("drain"), "the slow call was cut off");
    });
    let _ = std::fs::remove_dir_all(&dir);
}

fn server_drain(server: Server) -> bool {
    server.drain(Duration::from_secs(10))
}

/// The README's status table is the one in the code (`STATUS_BY_KIND`), row for row.
#[test]
fn the_readme_status_table_matches_the_code() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .expect("README.md");
    let section = readme
        .split("### Errors and statuses")
        .nth(1)
        .expect("README.md has an \"### Errors and statuses\" section under serve");
    let rows: Vec<(String, u16)> = section
        .lines()
        .skip_while(|l| !l.starts_with("| kind"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
            (cells[0].to_owned(), cells[1].parse().expect("a status"))
        })
        .collect();
    let code: Vec<(String, u16)> = klairr_host::serve::STATUS_BY_KIND
        .iter()
        .map(|(k, s)| ((*k).to_owned(), *s))
        .collect();
    assert_eq!(
        rows, code,
        "README.md's status table differs from serve/errors.rs STATUS_BY_KIND"
    );
}

/// Stripe and the ledger in one process, each with its own origin, credential, cache and budget.
#[test]
fn two_connectors_in_one_process_stay_apart() {
    let emu = emulator();
    let ledger = LedgerApi::start(LedgerApiConfig::default()).expect("ledger API");
    let dir = ledger_connectors_dir();
    let registry = Registry::with_dir(&dir).expect("registry");
    let mut options = options(&emu);
    options.sandbox = SandboxOptions {
        redirects: vec![
            Redirect::parse(&format!("https://api.stripe.com={}", emu.base_url()))
                .expect("redirect"),
            Redirect::parse(&format!("https://api.ledger.example={}", ledger.base_url()))
                .expect("redirect"),
        ],
        ..SandboxOptions::default()
    };
    let server = Server::start(&registry, options).expect("starts");
    let platform = server.platform();
    for loaded in platform.connectors() {
        assert!(
            loaded.sandbox.shared().same_as(platform.shared()),
            "one engine and ticker for all"
        );
    }
    let api = Api::new(&server);
    let (_, listed) = api.json("GET", "/v1/connectors", None);
    let names: Vec<&str> = listed["connectors"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|c| c["connector"].as_str())
        .collect();
    assert_eq!(names, ["ledger", "stripe"]);
    let ledger_key = ledger_api::test_key();

    // Neither takes the other's credential: refused before any request reaches either server.
    for (connector, credential) in [
        ("ledger", keys::TEST_READ_ONLY.to_owned()),
        ("stripe", ledger_key.clone()),
    ] {
        let body = serde_json::json!({"connector": connector, "credential": credential});
        let (status, text) = api.call("POST", "/v1/connections", Some(&body.to_string()));
        assert_eq!(
            status, 422,
            "{connector} with the other's credential: {text}"
        );
        assert!(!text.contains(&credential), "{text}");
    }
    assert_eq!(emu.requests().len(), 0);
    assert_eq!(ledger.request_count(), 0);

    let stripe = api.connect("stripe", keys::TEST_READ_ONLY);
    let books = api.connect("ledger", &ledger_key);
    let (status, entries) = api.query(&books, r#"{"list":"entries","limit":150}"#);
    assert_eq!(status, 200, "{entries}");
    assert_eq!(entries["rows"].as_array().map(Vec::len), Some(150));
    let (status, charges) = api.query(&stripe, r#"{"list":"charges","limit":5}"#);
    assert_eq!(status, 200, "{charges}");

    // Each origin saw only its own connector's credential.
    for seen in ledger.seen_credentials() {
        assert_eq!(seen.as_deref(), Some(ledger_key.as_str()));
    }
    for request in emu.requests() {
        let hint = request.key_hint.unwrap_or_default();
        assert!(
            hint.starts_with("rk_test_"),
            "only Stripe's key reaches the emulator: {hint}"
        );
        assert_eq!(request.host.as_deref(), Some("api.stripe.com"));
    }

    // Separate caches: each repeat is a hit for its own connector only; TTLs are each manifest's.
    let (_, again) = api.query(&books, r#"{"list":"entries","limit":150}"#);
    assert_eq!(again["cached"], true);
    assert!(
        again["cache_ttl_seconds"].as_u64().unwrap_or(u64::MAX) <= 900,
        "{again}"
    );
    assert!(
        charges["cache_ttl_seconds"].as_u64().unwrap_or(0) > 900,
        "{charges}"
    );
    let (_, metrics) = api.call("GET", "/metrics", None);
    assert!(
        metrics.contains("klairr_cache_hits_total{connector=\"ledger\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("klairr_cache_hits_total{connector=\"stripe\"} 0"),
        "{metrics}"
    );
    assert!(
        !metrics.contains(&ledger_key) && !metrics.contains("rk_test_"),
        "no credential in metrics"
    );
    server.drain(Duration::from_secs(1));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn connections_are_capped_and_idle_ones_expire() {
    let emu = emulator();
    let server = server_with_limits(&emu, 1, Duration::from_millis(600));
    let api = Api::new(&server);
    let first = api.connect("stripe", keys::TEST_READ_ONLY);
    let body = stripe_open_body(keys::TEST_READ_ONLY);
    let before = emu.requests().len();
    let (status, value) = api.json("POST", "/v1/connections", Some(&body));
    assert_eq!(
        (status, kind(&value)),
        (503, "too-many-connections"),
        "{value}"
    );
    assert_eq!(emu.requests().len(), before, "refused before setup");
    // Used, it stays; unused past the idle limit, it is closed and its slot is free again.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(api.query(&first, r#"{"list":"payouts","limit":1}"#).0, 200);
    std::thread::sleep(Duration::from_millis(1200));
    let (status, value) = api.query(&first, r#"{"list":"payouts","limit":1}"#);
    assert_eq!(
        (status, kind(&value)),
        (404, "unknown-connection"),
        "{value}"
    );
    let second = api.connect("stripe", keys::TEST_READ_ONLY);
    // A call longer than the idle limit: idle counts from its end, so the next query finds it open.
    emu.set_latency(Duration::from_millis(900));
    assert_eq!(api.query(&second, r#"{"list":"payouts","limit":2}"#).0, 200);
    emu.set_latency(Duration::ZERO);
    // Past two sweeps of the idle check, still within the limit of the call's end.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(api.query(&second, r#"{"list":"payouts","limit":3}"#).0, 200);
    server.drain(Duration::from_secs(1));
}

/// Opens at once past the limit are refused before their setup: only the opens that get a slot spend
/// the credential's requests.
#[test]
fn opens_at_once_past_the_limit_are_refused_before_their_setup() {
    let emu = emulator();
    let server = server_with_limits(&emu, 2, Duration::from_secs(60));
    emu.set_latency(Duration::from_millis(50));
    let body = stripe_open_body(keys::TEST_READ_ONLY);
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let opens: Vec<_> = (0..6)
            .map(|_| {
                let (server, body) = (&server, &body);
                scope.spawn(move || {
                    Api::new(server)
                        .json("POST", "/v1/connections", Some(body))
                        .0
                })
            })
            .collect();
        opens
            .into_iter()
            .map(|o| o.join().expect("an open"))
            .collect()
    });
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        2,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 503).count(),
        4,
        "{statuses:?}"
    );
    assert_eq!(emu.requests().len(), 2 * 25, "two setups' probes, no more");
    server.drain(Duration::from_secs(1));
}

/// Calls queued on one connection wait on the event loop, not on the threads calls run on: with two of
/// those, another connection's query is answered while a queue of six waits on the first.
#[test]
fn a_queue_of_calls_on_one_connection_holds_up_no_other() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let emu = emulator();
    let mut options = options(&emu);
    options.call_threads = 2;
    let server = Server::start(&Registry::builtin(), options).expect("starts");
    let api = Api::new(&server);
    let busy = api.connect("stripe", keys::TEST_READ_ONLY);
    let other = api.connect("stripe", keys::TEST_READ_ONLY);
    emu.set_latency(Duration::from_millis(300));
    let answered = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for limit in 1..=6 {
            let (server, busy, answered) = (&server, &busy, &answered);
            scope.spawn(move || {
                let dsl = format!(r#"{{"list":"payouts","limit":{limit}}}"#);
                assert_eq!(Api::new(server).query(busy, &dsl).0, 200);
                answered.fetch_add(1, Ordering::SeqCst);
            });
        }
        std::thread::sleep(Duration::from_millis(150));
        let (status, value) = api.query(&other, r#"{"list":"charges","limit":1}"#);
        assert_eq!(status, 200, "{value}");
        let before = answered.load(Ordering::SeqCst);
        assert!(
            before < 4,
            "the other connection waited for {before} of the queue's six calls"
        );
    });
    assert_eq!(answered.into_inner(), 6);
    server.drain(Duration::from_secs(1));
}

/// A client that stalls mid-request holds nothing open: a head that does not arrive in time closes the
/// connection, a body that does not is answered 408.
#[test]
fn stalled_requests_time_out() {
    use std::io::{Read, Write};
    let emu = emulator();
    let mut options = options(&emu);
    options.request_timeout = Duration::from_millis(800);
    let server = Server::start(&Registry::builtin(), options).expect("starts");
    let read_all = |stream: &mut std::net::TcpStream| {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut answer = Vec::new();
        let started = std::time::Instant::now();
        let _ = stream.read_to_end(&mut answer);
        (
            String::from_utf8_lossy(&answer).into_owned(),
            started.elapsed(),
        )
    };

    let mut half_head = std::net::TcpStream::connect(server.addr()).expect("connect");
    half_head
        .write_all(b"POST /v1/connections HTTP/1.1\r\nHost: x\r\n")
        .expect("write");
    let (answer, took) = read_all(&mut half_head);
    assert!(!answer.contains("201"), "{answer}");
    assert!(took < Duration::from_secs(5), "closed after {took:?}");

    let mut short_body = raw_open(&server, 100, "{");
    let (answer, took) = read_all(&mut short_body);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"kind\":\"request-timeout\""), "{answer}");
    assert!(took < Duration::from_secs(5), "answered after {took:?}");
    server.drain(Duration::from_secs(1));
}

/// What is not a well-formed body is `400 invalid-request`, whatever its size: a JSON array (serde would
/// read a struct from it field by field), a body that breaks off before its `Content-Length`, and a bad
/// chunk. Nothing is opened.
#[test]
fn malformed_bodies_are_invalid_requests_not_too_large() {
    use std::io::{Read, Write};
    let emu = emulator();
    let server = Server::start(&Registry::builtin(), options(&emu)).expect("starts");
    let answer = |mut stream: std::net::TcpStream| {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).into_owned()
    };
    let array = format!(r#"["stripe","{}","test"]"#, keys::TEST_READ_ONLY);
    let mut cases = vec![(
        "a JSON array",
        answer(raw_open(&server, array.len() as u64, &array)),
    )];

    let broken_off = raw_open(&server, 100, "{\"connector\"");
    broken_off
        .shutdown(std::net::Shutdown::Write)
        .expect("half-close");
    cases.push(("a body that breaks off", answer(broken_off)));

    let mut bad_chunk = std::net::TcpStream::connect(server.addr()).expect("connect");
    write!(
        bad_chunk,
        "POST /v1/connections HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{{}}\r\n0\r\n\r\n"
    )
    .expect("write");
    cases.push(("a bad chunk", answer(bad_chunk)));

    for (what, answer) in cases {
        assert!(answer.starts_with("HTTP/1.1 400"), "{what}: {answer}");
        assert!(
            answer.contains("\"kind\":\"invalid-request\""),
            "{what}: {answer}"
        );
    }
    assert!(
        emu.requests().is_empty(),
        "nothing was opened: no setup ran"
    );
    server.drain(Duration::from_secs(1));
}

/// A connection idle for the limit answers no call, even before the sweep that closes idle ones has
/// come round (it runs every quarter of the limit).
#[test]
fn a_connection_past_its_idle_limit_answers_no_call() {
    let emu = emulator();
    let server = server_with_limits(&emu, 4, Duration::from_secs(2));
    let api = Api::new(&server);
    let id = api.connect("stripe", keys::TEST_READ_ONLY);
    std::thread::sleep(Duration::from_millis(2050));
    let (status, value) = api.query(&id, r#"{"list":"payouts","limit":1}"#);
    assert_eq!(
        (status, kind(&value)),
        (404, "unknown-connection"),
        "{value}"
    );
    server.drain(Duration::from_secs(1));
}

#[test]
fn a_refused_credential_is_named_as_the_field_it_came_in() {
    let emu = emulator();
    let server = Server::start(&Registry::builtin(), options(&emu)).expect("starts");
    let api = Api::new(&server);
    // The CLI's advice (set STRIPE_API_KEY) means nothing to a client of `serve` (QA).
    let too_long = "rk_test_".to_owned() + &"a".repeat(5000);
    for (credential, says) in [
        (
            "",
            "no credential was given: send in credential a key that starts with rk_test_",
        ),
        ("  ", "no credential was given: send in credential a key"),
        // (The component's own check of the form comes first, and names no variable either.)
        (
            "rk_test_51Klairr-x0000",
            "contains characters that no Stripe key has",
        ),
        (too_long.as_str(), "the credential given is 5008 bytes long"),
    ] {
        let body = format!(r#"{{"connector":"stripe","credential":"{credential}"}}"#);
        let (status, value) = api.json("POST", "/v1/connections", Some(&body));
        assert_eq!((status, kind(&value)), (422, "invalid-key"), "{value}");
        let message = value["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{message}");
        assert!(!message.contains("STRIPE_API_KEY"), "{message}");
    }
    assert!(emu.requests().is_empty());
    server.drain(Duration::from_secs(1));
}

/// A credential too short to be a key is not masked in the messages about it: masking `e` would turn
/// every `e` of the message into `[redacted]`.
#[test]
fn a_credential_too_short_to_be_a_key_does_not_garble_the_message() {
    let emu = emulator();
    let server = Server::start(&Registry::builtin(), options(&emu)).expect("starts");
    let api = Api::new(&server);
    let (status, value) = api.json(
        "POST",
        "/v1/connections",
        Some(r#"{"connector":"nosuch","credential":"e"}"#),
    );
    assert_eq!(status, 404, "{value}");
    let message = value["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("no connector has the name"),
        "{message}"
    );
    assert!(!message.contains("[redacted]"), "{message}");
    server.drain(Duration::from_secs(1));
}

/// A client that gives up during a setup leaves nothing behind: the setup stops where it is (it would
/// spend the key's budget for nobody), and its connection is not added, so it holds no slot that nobody
/// could close.
#[test]
fn a_client_that_goes_away_during_setup_leaves_no_connection_behind() {
    let emu = emulator();
    let server = server_with_limits(&emu, 1, Duration::from_secs(600));
    emu.set_latency(Duration::from_millis(300));
    let body = stripe_open_body(keys::TEST_READ_ONLY);
    let client = raw_open(&server, body.len() as u64, &body);
    std::thread::sleep(Duration::from_millis(300));
    drop(client);
    // The setup takes three round trips of 300 ms and ten requests; time for all of them, had it run on.
    std::thread::sleep(Duration::from_millis(1500));
    let sent = emu.requests().len();
    assert!(sent < 10, "the setup ran to its end: {sent} requests");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(emu.requests().len(), sent, "nothing more is sent");
    let api = Api::new(&server);
    let (_, metrics) = api.call("GET", "/metrics", None);
    assert!(metrics.contains("klairr_open_connections 0"), "{metrics}");
    emu.set_latency(Duration::ZERO);
    api.connect("stripe", keys::TEST_READ_ONLY);
    // Nor does the drain wait for the request nobody waits for.
    let started = std::time::Instant::now();
    assert!(server.drain(Duration::from_secs(5)), "drained");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

/// A full table says when a slot frees (the idle connection's expiry) in `Retry-After`.
#[test]
fn a_full_table_says_when_to_retry() {
    let emu = emulator();
    let server = server_with_limits(&emu, 1, Duration::from_secs(90));
    let api = Api::new(&server);
    api.connect("stripe", keys::TEST_READ_ONLY);
    let request = ureq::http::Request::builder()
        .method("POST")
        .uri(format!("{}/v1/connections", api.base))
        .header("Authorization", format!("Bearer {TOKEN}"))
        .body(stripe_open_body(keys::TEST_READ_ONLY))
        .expect("a request");
    let response = api.agent.run(request).expect("an answer");
    assert_eq!(response.status().as_u16(), 503);
    let retry: u64 = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After in seconds");
    assert!((85..=90).contains(&retry), "{retry}");
    server.drain(Duration::from_secs(1));
}

/// What differs only in form is served: the scheme `BEARER` (schemes are case-insensitive), a body
/// that starts with a byte order mark. A declared body over the limit is refused before it arrives.
#[test]
fn requests_are_read_as_http_and_json_allow_and_refused_early_when_too_large() {
    use std::io::Read;
    let emu = emulator();
    let server = Server::start(&Registry::builtin(), options(&emu)).expect("starts");
    let api = Api::new(&server);
    let (status, _) = api.call_as("GET", "/v1/connectors", None, None);
    assert_eq!(status, 401);
    // A 401 names the scheme it wants.
    let (status, headers) = api.head_of("GET", "/v1/connectors", None);
    assert_eq!(status, 401);
    assert_eq!(
        headers.get("www-authenticate").map(|v| v.as_bytes()),
        Some(&b"Bearer realm=\"klairr-host\""[..])
    );
    let request = ureq::http::Request::builder()
        .method("GET")
        .uri(format!("{}/v1/connectors", api.base))
        .header("Authorization", format!("BEARER {TOKEN}"))
        .body(())
        .expect("a request");
    assert_eq!(
        api.agent.run(request).expect("answer").status().as_u16(),
        200
    );
    // Two Authorization headers, the right token in either: neither is believed (a proxy in front
    // may read the other one).
    for pair in [
        [format!("Bearer {TOKEN}"), "Bearer x".to_owned()],
        ["Bearer x".to_owned(), format!("Bearer {TOKEN}")],
    ] {
        let mut stream = std::net::TcpStream::connect(server.addr()).expect("connect");
        write!(
            stream,
            "GET /v1/connectors HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nAuthorization: {}\r\nConnection: close\r\n\r\n",
            pair[0], pair[1]
        )
        .expect("a request");
        let mut text = String::new();
        let _ = stream.read_to_string(&mut text);
        assert!(text.starts_with("HTTP/1.1 401"), "{pair:?}: {text}");
        assert!(text.contains("send one Authorization header"), "{text}");
    }
    let with_bom = format!("\u{feff}{}", stripe_open_body(keys::TEST_READ_ONLY));
    let (status, value) = api.json("POST", "/v1/connections", Some(&with_bom));
    assert_eq!(status, 201, "{value}");

    let mut huge = raw_open(&server, 10_000_000_000, "");
    huge.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let started = std::time::Instant::now();
    let mut answer = [0u8; 512];
    let n = huge.read(&mut answer).expect("an answer");
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("body-too-large"), "{answer}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    server.drain(Duration::from_secs(1));
}

/// An open whose body arrives after the drain began runs no setup (review: one whose head came before
/// the drain ran a whole setup, ten requests of the key's budget, and answered 201).
#[test]
fn an_open_whose_body_arrives_during_the_drain_runs_no_setup() {
    let emu = emulator();
    let server = server_with_limits(&emu, 4, Duration::from_secs(600));
    let body = stripe_open_body(keys::TEST_READ_ONLY);
    let (head, tail) = body.split_at(10);
    let mut client = raw_open(&server, body.len() as u64, head);
    std::thread::sleep(Duration::from_millis(200));
    std::thread::scope(|scope| {
        let drained = scope.spawn(move || server.drain(Duration::from_secs(10)));
        std::thread::sleep(Duration::from_millis(300));
        client.write_all(tail.as_bytes()).expect("the body's end");
        let mut text = String::new();
        let _ = client.read_to_string(&mut text);
        let sent = emu.requests().len();
        drained.join().expect("drain");
        assert!(
            text.starts_with("HTTP/1.1 503") && text.contains("shutting-down"),
            "a setup ran during the drain ({sent} requests upstream): {text}"
        );
        assert_eq!(sent, 0, "requests upstream during the drain");
    });
}

/// The requests a component tries during the credential's check of a setup that then fails there are
/// refused, and counted in `klairr_denials_total` (and logged) as any call's (review: a component
/// failing its check hid its attempts from both).
#[test]
fn refusals_of_a_setup_that_fails_at_the_credential_check_are_logged_and_counted() {
    let emu = emulator();
    let (dir, _) = hostile_connectors_dir("serve-failed-check-denials", "evil");
    let server = serve_dir(&emu, &dir);
    let api = Api::new(&server);
    let body = json!({"connector": "evil", "credential": keys::LIVE_READ_ONLY, "mode": "live"});
    let (status, value) = api.json("POST", "/v1/connections", Some(&body.to_string()));
    assert_eq!((status, kind(&value)), (422, "invalid-key"), "{value}");
    // The hostile check_credential sends two requests (refused: the credential's check is offline).
    let denied = metric(&api, "klairr_denials_total{connector=\"evil\"}");
    server.drain(Duration::from_secs(1));
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        denied,
        Some(2),
        "denials of the failed setup's credential check"
    );
}

/// A setup that runs past its deadline in the component's `open` counts in `klairr_traps_total`, as
/// one past it in `verify` does.
#[test]
fn a_setup_past_its_deadline_in_open_is_counted_as_a_trap() {
    let emu = emulator();
    let (dir, server) = two_in_flight_server(&emu, "slowopen", Duration::from_millis(400));
    let api = Api::new(&server);
    // max_rows 85: the hostile `open` waits 700 ms, past the 400 ms deadline.
    let body = json!({"connector": "slowopen", "credential": keys::TEST_READ_ONLY, "max_rows": 85});
    let (status, value) = api.json("POST", "/v1/connections", Some(&body.to_string()));
    let traps = metric(&api, "klairr_traps_total{connector=\"slowopen\"}");
    let (_, m) = api.call("GET", "/metrics", None);
    server.drain(Duration::from_secs(1));
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!((status, kind(&value)), (504, "deadline"), "{value}");
    assert_eq!(
        traps,
        Some(1),
        "{}",
        m.lines()
            .filter(|l| l.contains("slowopen"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// A query refused before any call (a pasted key in it) adds nothing to
/// `klairr_upstream_requests_total` (review: it added the previous query's requests again).
#[test]
fn a_query_refused_before_its_call_counts_no_request() {
    let emu = emulator();
    let server = Server::start(&Registry::builtin(), options(&emu)).expect("starts");
    let api = Api::new(&server);
    let id = api.connect("stripe", keys::TEST_READ_ONLY);
    let (status, value) = api.query(&id, r#"{"list":"customers","limit":3}"#);
    assert_eq!(status, 200, "{value}");
    assert_counted_as_arrived(&api, &emu, "stripe");
    let before = metric(&api, "klairr_upstream_requests_total{connector=\"stripe\"}");
    let long = "a".repeat(60);
    for _ in 0..3 {
        let (status, value) = api.query(
            &id,
            &format!(r#"{{"list":"customers","starting_after":"{long}"}}"#),
        );
        assert_eq!((status, kind(&value)), (400, "invalid-query"), "{value}");
    }
    let after = metric(&api, "klairr_upstream_requests_total{connector=\"stripe\"}");
    let arrived = emu.requests().len();
    server.drain(Duration::from_secs(1));
    assert_eq!(after, before, "{arrived} requests arrived at the emulator");
}

/// `Retry-After` while the only connection is busy with a call longer than the idle limit counts that
/// connection as expiring no sooner than the idle limit from now (review: it said 1 s, again and again).
#[test]
fn retry_after_counts_a_busy_connection_from_its_calls_end() {
    let emu = emulator();
    let (dir, _) = hostile_connectors_dir("serve-busy-retry", "busy");
    let registry = Registry::with_dir(&dir).expect("registry");
    let mut opts = options(&emu);
    opts.connections = ConnectionLimits {
        max_open: 1,
        idle: Duration::from_secs(2),
    };
    let server = Server::start(&registry, opts).expect("starts");
    let api = Api::new(&server);
    let id = api.connect("busy", keys::TEST_READ_ONLY);
    std::thread::scope(|scope| {
        let slow = scope.spawn(|| api.query(&id, r#"{"sleep_ns": 5000000000}"#));
        std::thread::sleep(Duration::from_secs(3));
        let (status, headers) = {
            let request = ureq::http::Request::builder()
                .method("POST")
                .uri(format!("{}/v1/connections", api.base))
                .header("Authorization", format!("Bearer {TOKEN}"))
                .body(stripe_open_body(keys::TEST_READ_ONLY))
                .expect("a request");
            let r = api.agent.run(request).expect("an answer");
            (r.status().as_u16(), r.headers().clone())
        };
        let retry: u64 = headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .expect("a Retry-After of whole seconds");
        assert_eq!(slow.join().expect("the slow query").0, 200);
        assert_eq!(status, 503);
        // The call ends at ~5 s and the connection expires 2 s after: how long the call still runs
        // is unknown, so the idle limit from now is the soonest it can be.
        assert_eq!(retry, 2, "Retry-After: {retry}");
    });
    server.drain(Duration::from_secs(1));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A call still running when the drain's time is up is cut off: it sends nothing after `drain` has
/// returned (an embedder's process goes on; the review saw 15 requests sent after).
#[test]
fn a_call_cut_off_by_the_drain_sends_nothing_after_it() {
    let emu = emulator();
    let (dir, _) = hostile_connectors_dir("serve-drain-cut", "cut");
    let server = serve_dir(&emu, &dir);
    let api = Api::new(&server);
    let id = api.connect("cut", keys::TEST_READ_ONLY);
    emu.set_latency(Duration::from_millis(150));
    let base = server.addr();
    let steps: Vec<Value> = (0..20)
        .map(|_| json!({"http": {"path": "/v1/customers?limit=1"}}))
        .collect();
    let q = Value::Array(steps).to_string();
    let slow = std::thread::spawn(move || {
        let mut s = std::net::TcpStream::connect(base).expect("connect");
        write!(s, "POST /v1/connections/{id}/query HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: {}\r\n\r\n{q}", q.len()).expect("the query");
        let mut text = String::new();
        let _ = s.read_to_string(&mut text);
        text
    });
    std::thread::sleep(Duration::from_millis(400));
    let drained = server.drain(Duration::from_millis(200));
    let at_return = emu.requests().len();
    std::thread::sleep(Duration::from_secs(3));
    let later = emu.requests().len();
    let _ = slow.join();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!drained);
    assert_eq!(later, at_return, "requests sent after drain returned");
}

/// A client that sends requests and never reads the answers is closed once its answers have waited the
/// request timeout without leaving: it does not hold its connection (and a slot of the 256) for as long
/// as it likes (QA: 256 such clients locked every other client out). No token is needed to try.
#[test]
fn a_client_that_never_reads_its_answers_is_closed() {
    use std::io::{Read, Write};
    let emu = emulator();
    let mut options = options(&emu);
    options.request_timeout = Duration::from_millis(800);
    let server = Server::start(&Registry::builtin(), options).expect("starts");
    // Far more answers than the two ends' socket buffers hold (~120 bytes each, 36 MB in all).
    const REQUESTS: usize = 300_000;
    let mut client = std::net::TcpStream::connect(server.addr()).expect("connect");
    let mut writer = client.try_clone().expect("a second handle");
    let sending = std::thread::spawn(move || {
        let request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".repeat(1000);
        for _ in 0..REQUESTS / 1000 {
            // Fails once the server has closed the connection.
            if writer.write_all(&request).is_err() {
                break;
            }
        }
    });
    // Nothing read for several times the timeout.
    std::thread::sleep(Duration::from_secs(4));
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut answers = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    let mut carried = Vec::new();
    loop {
        match client.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                carried.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&carried);
                answers += text.matches("HTTP/1.1 200").count();
                // Keep a tail that may hold the start of a status line cut by the read.
                let keep = carried.len().min(16);
                carried.drain(..carried.len() - keep);
                answers -= String::from_utf8_lossy(&carried)
                    .matches("HTTP/1.1 200")
                    .count();
            }
        }
    }
    let _ = client.shutdown(std::net::Shutdown::Both);
    let _ = sending.join();
    server.drain(Duration::from_secs(1));
    assert!(
        answers < REQUESTS,
        "every one of {REQUESTS} requests was answered: the connection stayed open"
    );
}

/// A request without the Host header HTTP/1.1 requires is `400 invalid-request`; a path with an empty
/// segment names no route, at its start as anywhere (`//healthz` was served).
#[test]
fn requests_without_a_host_or_with_an_empty_path_segment_are_refused() {
    use std::io::{Read, Write};
    let emu = emulator();
    let server = Server::start(&Registry::builtin(), options(&emu)).expect("starts");
    let send = |request: &str| {
        let mut stream = std::net::TcpStream::connect(server.addr()).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        stream.write_all(request.as_bytes()).expect("write");
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).into_owned()
    };
    let hostless = send("GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert!(hostless.starts_with("HTTP/1.1 400"), "{hostless}");
    assert!(hostless.contains("needs a Host header"), "{hostless}");
    let old = send("GET /healthz HTTP/1.0\r\n\r\n");
    assert!(
        old.starts_with("HTTP/1.0 200"),
        "HTTP/1.0 has no Host to give: {old}"
    );
    for path in [
        "//healthz",
        "//v1/connectors",
        "/v1//connectors",
        "/v1/connectors/",
    ] {
        let answer = send(&format!(
            "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
        ));
        assert!(answer.starts_with("HTTP/1.1 404"), "{path}: {answer}");
    }
    assert!(emu.requests().is_empty(), "nothing was opened");
    server.drain(Duration::from_secs(1));
}

/// A path with an empty segment is no route whatever the method (README: "a path with an empty segment
/// … is no route (`404`)"): the routes that take a name or an id must not read `""` as one — reading
/// the body of `POST /v1/connections//query` first (a 413 for a large one, a 400 for a broken one), or
/// looking up a connection or a connector named `""`.
#[test]
fn an_empty_segment_is_no_route_whatever_the_method() {
    use std::io::{Read, Write};
    let emu = emulator();
    let server = Server::start(&Registry::builtin(), options(&emu)).expect("starts");
    let send = |head: &str| {
        let mut stream = std::net::TcpStream::connect(server.addr()).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        stream.write_all(head.as_bytes()).expect("write");
        let mut answer = [0u8; 4096];
        let n = stream.read(&mut answer).unwrap_or(0);
        String::from_utf8_lossy(&answer[..n]).into_owned()
    };
    for (method, path, length) in [
        ("POST", "/v1/connections//query", 100_000),
        ("POST", "/v1/connections//query", 2),
        ("DELETE", "/v1/connections/", 0),
        ("POST", "/v1/connectors//reload", 0),
    ] {
        let answer = send(&format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n{}",
            if length == 2 { "{}" } else { "" }
        ));
        assert!(
            answer.starts_with("HTTP/1.1 404"),
            "{method} {path}: {answer}"
        );
        assert!(
            answer.contains(r#""kind":"not-found""#),
            "{method} {path}: {answer}"
        );
    }
    let api = Api::new(&server);
    let (_, text) = api.call("GET", "/metrics", None);
    for route in [
        "/v1/connections/{id}/query",
        "/v1/connections/{id}\"",
        "/v1/connectors/{name}/reload",
    ] {
        assert!(
            !text.contains(&format!("route=\"{route}")),
            "{route}: {text}"
        );
    }
    server.drain(Duration::from_secs(1));
}

/// A client that hangs up with a second request pipelined behind its query (or its open) stops the
/// call as one that sent only the one does (QA: hyper had read the second request, so it saw no end of
/// stream, and the call ran on to its end, spending the key's budget for nobody; a setup so left kept
/// its connection, and its slot, until it expired).
#[test]
fn a_client_that_pipelines_a_request_and_hangs_up_stops_its_call() {
    use std::io::Write;
    a_hang_up_mid_query_stops_the_call("pipehang", "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");

    // An open, its setup five round trips of 300 ms: the client leaves after the first.
    let emu = emulator();
    let server = server_with_limits(&emu, 1, Duration::from_secs(600));
    emu.set_latency(Duration::from_millis(300));
    let body = stripe_open_body(keys::TEST_READ_ONLY);
    let mut client = raw_open(&server, body.len() as u64, &body);
    write!(client, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").expect("sends");
    std::thread::sleep(Duration::from_millis(300));
    drop(client);
    std::thread::sleep(Duration::from_millis(1500));
    let sent = emu.requests().len();
    assert!(sent < 10, "the setup ran to its end: {sent} requests");
    let api = Api::new(&server);
    let (_, metrics) = api.call("GET", "/metrics", None);
    assert!(metrics.contains("klairr_open_connections 0"), "{metrics}");
    server.drain(Duration::from_secs(1));
}
