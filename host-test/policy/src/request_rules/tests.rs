use super::*;
use crate::credential::Mode;
use crate::manifest::Manifest;
use crate::redact::SecretRuns;

/// A made-up live key of real length (Stripe's are ~107 characters); nothing like a real one.
fn key_text() -> String {
    let body: String = (0..100)
        .map(|i| {
            char::from(
                b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                    [(i * 11 + 5) % 62],
            )
        })
        .collect();
    format!("rk_live_{body}")
}

fn credential() -> Credential {
    Manifest::stripe()
        .credential
        .accept(&key_text(), Mode::Live)
        .expect("a valid made-up key")
}

/// What the Stripe guest sends besides the request line (src/component.rs), minus `authorization`, which
/// the host now attaches.
const GUEST_HEADERS: &[(&str, &[u8])] = &[
    ("stripe-version", b"2026-04-22.dahlia"),
    ("accept", b"application/json"),
    ("user-agent", b"klairr-stripe-connector/0.1"),
];

/// The probes' headers: a write carries `content-length: 0`.
const PROBE_HEADERS: &[(&str, &[u8])] = &[
    ("stripe-version", b"2026-04-22.dahlia"),
    ("accept", b"application/json"),
    ("user-agent", b"klairr-stripe-connector/0.1"),
    ("content-length", b"0"),
];

fn check_with(
    manifest: &Manifest,
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &[u8])],
    content_length: Option<u64>,
    phase: Phase,
) -> Result<String, Denial> {
    let req = RequestView {
        method,
        path_and_query,
        headers,
        content_length,
    };
    check(manifest, &req, phase).map(|a| a.endpoint)
}

/// `created[gte]` → `created%5Bgte%5D`, as src/stripe.rs encode_component does (RFC 3986 unreserved kept).
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A header as a (name, value) pair.
fn hv<'a>(name: &'a str, value: &'a str) -> (&'a str, &'a [u8]) {
    (name, value.as_bytes())
}

/// Every character percent-encoded.
fn encode_all(s: &str) -> String {
    s.bytes().map(|b| format!("%{b:02X}")).collect()
}

/// (method, path) of each write probe in src/verify.rs WRITE_PROBES, read from the guest's source so the
/// manifest cannot drift from what the guest sends.
fn guest_write_probes() -> Vec<(String, String)> {
    let src = include_str!("../../../../src/verify.rs");
    let start = src
        .find("pub const WRITE_PROBES")
        .expect("src/verify.rs defines WRITE_PROBES");
    let block = &src[start..];
    let block = &block[..block.find("];").expect("the array ends")];
    block
        .split("WriteProbe {")
        .skip(1)
        .map(|probe| {
            let field = |name: &str| -> String {
                let at = probe.find(&format!("{name}: ")).expect(name) + name.len() + 2;
                let rest = &probe[at..];
                rest[..rest.find(',').expect("a comma")]
                    .trim()
                    .trim_matches('"')
                    .to_owned()
            };
            let method = field("method")
                .trim_start_matches("Method::")
                .to_ascii_uppercase();
            let path = format!("{}{}{}", field("prefix"), field("id"), field("suffix"));
            (method, path)
        })
        .collect()
}

#[test]
fn the_guests_list_requests_are_allowed() {
    let m = Manifest::stripe();
    // (request, endpoint): what src/pager.rs and src/verify.rs send, encoded as src/stripe.rs list_path does.
    let cases = [
        ("/v1/customers?limit=1", "GET /v1/customers"),
        ("/v1/customers", "GET /v1/customers"),
        ("/v1/customers?", "GET /v1/customers"),
        ("/v1/customers?created=0&limit=100", "GET /v1/customers"),
        (
            "/v1/customers?created%5Bgte%5D=1767225600&created%5Blt%5D=1769904000&limit=100&starting_after=cus_QXg1o8vcGmoR32",
            "GET /v1/customers",
        ),
        ("/v1/customers?created[gt]=5&limit=3", "GET /v1/customers"),
        ("/v1/subscriptions?status=all&limit=100", "GET /v1/subscriptions"),
        (
            "/v1/subscriptions?created%5Bgte%5D=1&customer=cus_QXg1o8vcGmoR32&status=past_due&collection_method=send_invoice&limit=10",
            "GET /v1/subscriptions",
        ),
        (
            "/v1/invoices?customer=cus_9&subscription=sub_1Pgc6rB7WZ01zgkWNy0Cn5nw&status=paid&collection_method=charge_automatically&limit=100&starting_after=in_1",
            "GET /v1/invoices",
        ),
        ("/v1/charges?created%5Blte%5D=5&customer=cus_9&limit=100", "GET /v1/charges"),
        (
            "/v1/payouts?created%5Blt%5D=1767225600&arrival_date=5&arrival_date%5Bgte%5D=1767225600&limit=100",
            "GET /v1/payouts",
        ),
    ];
    for phase in [Phase::Query, Phase::Verify] {
        for (pq, endpoint) in cases {
            let got = check_with(&m, "GET", pq, GUEST_HEADERS, None, phase);
            assert_eq!(got, Ok(endpoint.to_owned()), "{pq} in {phase:?}");
        }
        // A payout's status is the connector's filter (Stripe's list takes no in_transit): never sent.
        let pq = "/v1/payouts?status=in_transit&limit=100";
        assert!(
            check_with(&m, "GET", pq, GUEST_HEADERS, None, phase).is_err(),
            "{pq}"
        );
    }
    // Every parameter of every list rule at once, spelled as the guest spells it.
    for rule in m.requests.iter().filter(|r| r.method == "GET") {
        let query: Vec<String> = rule
            .query
            .iter()
            .map(|q| format!("{}=1", encode(q)))
            .collect();
        let pq = format!("{}?{}", rule.path.as_str(), query.join("&"));
        assert_eq!(
            check_with(&m, "GET", &pq, GUEST_HEADERS, Some(0), Phase::Query),
            Ok(rule.endpoint()),
            "{pq}"
        );
    }
}

#[test]
fn the_guests_write_probes_are_allowed_only_while_verifying() {
    let m = Manifest::stripe();
    let probes = guest_write_probes();
    assert_eq!(probes.len(), 5, "{probes:?}");
    for (method, path) in &probes {
        let endpoint = check_with(&m, method, path, PROBE_HEADERS, Some(0), Phase::Verify)
            .unwrap_or_else(|d| panic!("{method} {path}: {d}"));
        assert!(
            endpoint.starts_with(&format!("{method} /v1/")),
            "{endpoint}"
        );
        assert!(endpoint.contains("{id}"), "{endpoint}");
        let denied =
            check_with(&m, method, path, PROBE_HEADERS, Some(0), Phase::Query).expect_err(path);
        assert!(
            denied
                .0
                .contains("is allowed only while the connector verifies a credential"),
            "{denied}"
        );
        // The same write on a real-looking id is never allowed, not even while verifying.
        let real = path.replace("_klairr_probe_never_exists", "_1Pgc6rB7WZ01zgkW");
        let denied =
            check_with(&m, method, &real, PROBE_HEADERS, Some(0), Phase::Verify).expect_err(&real);
        assert!(denied.0.contains("it must match ^(?:"), "{denied}");
    }
}

#[test]
fn every_class_of_denial() {
    let m = Manifest::stripe();
    let long_query = format!("/v1/customers?starting_after={}", "x".repeat(500));
    let over_long: &str = &long_query;
    // (method, path and query, headers, declared length, phase, phrase of the denial)
    type Case<'a> = (
        &'a str,
        String,
        Vec<(&'a str, &'a [u8])>,
        Option<u64>,
        Phase,
        &'a str,
    );
    let guest = || GUEST_HEADERS.to_vec();
    let with = |extra: (&'static str, &'static [u8])| {
        let mut h = GUEST_HEADERS.to_vec();
        h.push(extra);
        h
    };
    let q = Phase::Query;
    let v = Phase::Verify;
    let customers = || "/v1/customers?limit=1".to_owned();
    let cases: Vec<Case<'_>> = vec![
        // Phase.
        ("GET", customers(), guest(), None, Phase::Offline, "no request is allowed while the component describes itself"),
        // Methods: exact, upper-case standard spelling only.
        ("get", customers(), guest(), None, q, "method `get` is not allowed: this connector's rules allow GET, DELETE, POST"),
        ("GeT", customers(), guest(), None, q, "method `GeT` is not allowed"),
        ("GETS", customers(), guest(), None, q, "method `GETS` is not allowed"),
        ("GET ", customers(), guest(), None, q, "method `GET ` is not allowed"),
        ("", customers(), guest(), None, q, "method `` is not allowed"),
        ("PUT", customers(), guest(), None, q, "spelled exactly so, upper-case"),
        ("OPTIONS", "*".into(), guest(), None, q, "method `OPTIONS` is not allowed"),
        ("G\u{1b}ET", customers(), guest(), None, q, "method `G\\u{1b}ET`"),
        ("POST", "/v1/customers".into(), guest(), None, v, "method POST is not allowed on this path (allowed: GET)"),
        ("DELETE", "/v1/customers".into(), guest(), None, q, "method DELETE is not allowed on this path (allowed: GET)"),
        // Paths: canonical or denied.
        ("GET", "/v1/customers/../charges".into(), guest(), None, q, "has a '..' segment"),
        ("GET", "/v1/./customers".into(), guest(), None, q, "has a '.' segment"),
        ("GET", "//v1/customers".into(), guest(), None, q, "empty segment"),
        ("GET", "/v1//customers".into(), guest(), None, q, "empty segment ('//' or a trailing '/')"),
        ("GET", "/v1/customers/".into(), guest(), None, q, "empty segment"),
        ("GET", "/v1/customers/?limit=1".into(), guest(), None, q, "empty segment"),
        ("GET", "/v1/%2e%2e/customers".into(), guest(), None, q, "no percent-encoding is allowed in paths"),
        ("GET", "/v1/customers%2f..%2fcharges".into(), guest(), None, q, "'%'"),
        ("GET", "/v1/customers%2F".into(), guest(), None, q, "'%'"),
        ("GET", "/v1/customers%5c..".into(), guest(), None, q, "'%'"),
        ("GET", "/v1/%63ustomers".into(), guest(), None, q, "'%'"),
        ("GET", "/v1\\customers".into(), guest(), None, q, "a backslash is not a path separator"),
        ("GET", "/v1/customers;jsessionid=1".into(), guest(), None, q, "path parameters are not allowed"),
        ("GET", "/v1/cust\u{7f}omers".into(), guest(), None, q, "a control character"),
        ("GET", "/v1/customers\r\nHost: evil".into(), guest(), None, q, "a control character"),
        ("GET", "/v1/cüstomers".into(), guest(), None, q, "a non-ASCII character"),
        ("GET", "/v1/cus tomers".into(), guest(), None, q, "not allowed in a path"),
        ("GET", "/v1/customers#x".into(), guest(), None, q, "fragment"),
        ("GET", "v1/customers".into(), guest(), None, q, "must start with '/'"),
        ("GET", "".into(), guest(), None, q, "must start with '/'"),
        ("GET", "https://api.stripe.com/v1/customers".into(), guest(), None, q, "must start with '/'"),
        ("GET", "/v1/balance".into(), guest(), None, q, "the path is not allowed for GET (allowed: /v1/customers, /v1/subscriptions, /v1/invoices, /v1/charges, /v1/payouts)"),
        ("GET", "/V1/customers".into(), guest(), None, q, "the path is not allowed for GET"),
        ("GET", "/v1/customers/cus_123".into(), guest(), None, q, "the path is not allowed for GET"),
        ("GET", "/v1/customers/search?query=x".into(), guest(), None, q, "the path is not allowed for GET"),
        ("GET", "/v2/customers".into(), guest(), None, q, "the path is not allowed for GET"),
        ("POST", "/v1/customers".into(), guest(), None, q, "method POST is not allowed on this path (allowed: GET)"),
        ("POST", "/v1/balance".into(), guest(), None, q, "the path is not allowed for POST (allowed: none)"),
        ("POST", "/v1/payouts".into(), guest(), None, v, "method POST is not allowed on this path (allowed: GET)"),
        // Verify-only rules, their ids, extra segments.
        ("DELETE", "/v1/customers/cus_klairr_probe_never_exists".into(), PROBE_HEADERS.to_vec(), Some(0), q, "DELETE /v1/customers/{id} is allowed only while the connector verifies a credential (setup)"),
        ("POST", "/v1/charges/ch_klairr_probe_never_exists/capture".into(), PROBE_HEADERS.to_vec(), Some(0), q, "only while the connector verifies"),
        ("DELETE", "/v1/customers/cus_QXg1o8vcGmoR32".into(), PROBE_HEADERS.to_vec(), Some(0), v, "path segment `cus_QXg1o8vcGmoR32` is not a {id} of DELETE /v1/customers/{id}: it must match ^(?:cus_klairr_probe_[a-z_]+)$"),
        ("DELETE", "/v1/customers/cus_klairr_probe_X".into(), PROBE_HEADERS.to_vec(), Some(0), v, "it must match"),
        ("DELETE", "/v1/customers/sub_klairr_probe_never_exists".into(), PROBE_HEADERS.to_vec(), Some(0), v, "it must match"),
        ("DELETE", "/v1/customers/cus_klairr_probe_never_exists/x".into(), PROBE_HEADERS.to_vec(), Some(0), v, "the path is not allowed for DELETE"),
        ("POST", "/v1/charges/ch_klairr_probe_a/refund".into(), PROBE_HEADERS.to_vec(), Some(0), v, "the path is not allowed for POST (allowed: /v1/charges/{id}/capture, /v1/payouts/{id}/cancel, /v1/refunds/re_klairr_probe_host,"),
        ("POST", "/v1/charges/ch_klairr_probe_a/capture?amount=100".into(), PROBE_HEADERS.to_vec(), Some(0), v, "query parameter `amount` is not allowed on POST /v1/charges/{id}/capture (allowed: none; the rule's `query` in the manifest lists them)"),
        // Query parameters.
        ("GET", "/v1/customers?expand[]=data.default_source".into(), guest(), None, q, "query parameter `expand[]` is not allowed on GET /v1/customers (allowed: limit, starting_after, created, created[gt], created[gte], created[lt], created[lte]; the rule's `query` in the manifest lists them)"),
        ("GET", "/v1/customers?expand%5B%5D=x".into(), guest(), None, q, "query parameter `expand[]` is not allowed"),
        ("GET", "/v1/customers?expand=x".into(), guest(), None, q, "`expand` is not allowed"),
        ("GET", "/v1/customers?%65xpand=x".into(), guest(), None, q, "`expand` is not allowed"),
        ("GET", "/v1/customers?ending_before=cus_1".into(), guest(), None, q, "`ending_before` is not allowed"),
        ("GET", "/v1/customers?email=a%40b.c".into(), guest(), None, q, "`email` is not allowed"),
        ("GET", "/v1/customers?Limit=1".into(), guest(), None, q, "`Limit` is not allowed"),
        ("GET", "/v1/charges?status=failed".into(), guest(), None, q, "`status` is not allowed on GET /v1/charges"),
        ("GET", "/v1/customers?status=all".into(), guest(), None, q, "`status` is not allowed on GET /v1/customers"),
        ("GET", "/v1/customers?limit=1&limit=2".into(), guest(), None, q, "query parameter `limit` is given twice"),
        ("GET", "/v1/customers?limit=1&li%6dit=2".into(), guest(), None, q, "`limit` is given twice"),
        ("GET", "/v1/customers?created%5Bgt%5D=1&created[gt]=2".into(), guest(), None, q, "`created[gt]` is given twice"),
        ("GET", "/v1/customers?limit=1&&starting_after=x".into(), guest(), None, q, "empty parameter"),
        ("GET", "/v1/customers?&limit=1".into(), guest(), None, q, "empty parameter"),
        ("GET", "/v1/customers?limit=1&".into(), guest(), None, q, "empty parameter"),
        ("GET", "/v1/customers?limit=1;expand[]=x".into(), guest(), None, q, "raw ';'"),
        ("GET", "/v1/customers?starting_after=cus_1;x".into(), guest(), None, q, "percent-encode it as %3B"),
        ("GET", "/v1/customers?li%6=1".into(), guest(), None, q, "not valid percent-encoded UTF-8"),
        ("GET", "/v1/customers?%ff=1".into(), guest(), None, q, "not valid percent-encoded UTF-8"),
        ("GET", "/v1/customers?limit=%zz".into(), guest(), None, q, "invalid percent-encoding"),
        ("GET", "/v1/customers?limit=1%".into(), guest(), None, q, "invalid percent-encoding"),
        ("GET", "/v1/customers?limit=1%0d%0aX-Injected:%20y".into(), guest(), None, q, "decodes to control or non-ASCII characters"),
        ("GET", "/v1/customers?starting_after=%00".into(), guest(), None, q, "decodes to control"),
        ("GET", "/v1/customers?starting_after=%1b%5b31m".into(), guest(), None, q, "decodes to control"),
        ("GET", "/v1/customers?starting_after=%C3%A9".into(), guest(), None, q, "non-ASCII"),
        ("GET", "/v1/customers?limit=1 2".into(), guest(), None, q, "must be percent-encoded"),
        ("GET", "/v1/customers?limit=\u{7}".into(), guest(), None, q, "must be percent-encoded"),
        ("GET", "/v1/customers?starting_after=é".into(), guest(), None, q, "must be percent-encoded"),
        // Headers.
        ("GET", customers(), with(("authorization", b"Bearer rk_live_someoneelsesKey0123456789")), None, q, "may not set the `authorization` header: the host attaches the credential itself"),
        ("GET", customers(), with(("Authorization", b"Bearer x")), None, q, "may not set the `authorization` header"),
        ("GET", customers(), with(("proxy-authorization", b"Basic x")), None, q, "may not set the `proxy-authorization` header"),
        ("GET", customers(), with(("stripe-account", b"acct_1")), None, q, "header `stripe-account` is refused by this connector's manifest"),
        ("GET", customers(), with(("stripe-context", b"ctx_1")), None, q, "header `stripe-context` is refused"),
        ("GET", customers(), vec![hv("stripe-version", "2020-08-27")], None, q, "header `stripe-version` is pinned to \"2026-04-22.dahlia\""),
        ("GET", customers(), vec![hv("stripe-version", "2026-04-22.dahlia; x")], None, q, "pinned"),
        ("GET", customers(), with(("idempotency-key", b"k")), None, q, "header `idempotency-key` is not allowed (allowed: accept, user-agent, content-length; pinned: stripe-version; the manifest's [headers] lists them)"),
        ("GET", customers(), with(("host", b"evil.example")), None, q, "header `host` is not allowed"),
        ("GET", customers(), with(("x-forwarded-for", b"1.2.3.4")), None, q, "header `x-forwarded-for` is not allowed"),
        ("GET", customers(), with(("transfer-encoding", b"chunked")), None, q, "header `transfer-encoding` is not allowed"),
        ("GET", customers(), vec![hv("accept", "a\r\nx-injected: 1")], None, q, "control or non-ASCII"),
        ("GET", customers(), vec![hv("user-agent", "\x1b[31mred")], None, q, "control or non-ASCII"),
        ("GET", customers(), vec![hv("user-agent", "ü")], None, q, "control or non-ASCII"),
        // Bodies.
        ("GET", customers(), with(("content-length", b"5")), None, q, "GET /v1/customers takes no request body, but the request declares Content-Length: 5"),
        ("GET", customers(), with(("content-length", b"x")), None, q, "not a number"),
        ("GET", customers(), guest(), Some(1), q, "takes no request body, but the request declares Content-Length: 1"),
        ("DELETE", "/v1/customers/cus_klairr_probe_never_exists".into(), PROBE_HEADERS.to_vec(), Some(1024), v, "DELETE /v1/customers/{id} takes no request body"),
        ("GET", over_long.to_owned(), with(("x-no", b"1")), None, q, "…: header `x-no` is not allowed"),
    ];
    for (method, pq, headers, length, phase, phrase) in &cases {
        let denial = check_with(&m, method, pq, headers, *length, *phase)
            .expect_err(&format!("{method} {pq} {headers:?} in {phase:?}"));
        assert!(denial.0.contains(phrase), "{method} {pq}: {denial}");
        assert!(denial.0.len() < 1000, "{denial}");
        assert!(
            denial
                .0
                .chars()
                .all(|c| c == ' ' || c.is_ascii_graphic() || c == '…' || c == '→'),
            "{denial}"
        );
    }
}

/// The credential is not looked for: a request carrying a run of it is decided exactly as the same
/// request with other characters in its place (QA rebuilt a key from the decisions of a check that
/// did look). Whatever is refused, a right guess and a wrong one are refused alike.
#[test]
fn runs_of_the_credential_are_decided_as_any_other_text() {
    let m = Manifest::stripe();
    let key = key_text();
    let run = &key[20..32];
    let other = "Zz9Zz9Zz9Zz9";
    for template in [
        "/v1/customers?starting_after=RUN",
        "/v1/customers/RUN",
        "/v1/customers?limit=1&RUN=1",
        "/v1/RUN",
    ] {
        let with_run = template.replace("RUN", run);
        let without = template.replace("RUN", other);
        let decide = |pq: &str| {
            check_with(&m, "GET", pq, GUEST_HEADERS, None, Phase::Query)
                .map_err(|d| d.0.replace(run, other))
        };
        assert_eq!(decide(&with_run), decide(&without), "{template}");
    }
    let req = RequestView {
        method: "GET",
        path_and_query: "/v1/customers?limit=1",
        headers: GUEST_HEADERS,
        content_length: None,
    };
    let allowed = check(&m, &req, Phase::Query).expect("allowed");
    assert_eq!(allowed.rule, &m.requests[0]);
}

/// An offline call may make no request at all: the denial quotes nothing of the request (a credential
/// the host has not accepted yet is masked by nothing).
#[test]
fn offline_denials_quote_nothing() {
    let m = Manifest::stripe();
    let key = key_text();
    let path = format!("/v1/customers?starting_after={key}");
    let ua = format!("x {key}");
    let headers: Vec<(&str, &[u8])> = vec![hv("user-agent", &ua)];
    let req = RequestView {
        method: "GET",
        path_and_query: &path,
        headers: &headers,
        content_length: None,
    };
    let denial = check(&m, &req, Phase::Offline).expect_err("offline");
    assert!(
        denial
            .0
            .starts_with("request refused: no request is allowed"),
        "{denial}"
    );
    assert!(
        !denial.0.contains("/v1") && !SecretRuns::new(&key).contains(&denial.0),
        "{denial}"
    );
}

#[test]
fn the_first_matching_rule_decides_even_when_it_applies_only_during_setup() {
    // A setup-only probe rule, then a broader rule whose path overlaps it (QA: the probe's path went
    // through the second rule during a query).
    let text = format!(
        "{}\n[[requests]]\nmethod = \"DELETE\"\npath = \"/v1/{{kind}}/{{id}}\"\nparams = {{ kind = \"[a-z]+\", id = \"[a-z_]+\" }}\n",
        crate::manifest::STRIPE_TOML
    );
    let m = Manifest::parse(&text, "overlap.toml", None).expect("a valid manifest");
    let path = "/v1/customers/cus_klairr_probe_never_exists";
    let denied = check_with(&m, "DELETE", path, PROBE_HEADERS, Some(0), Phase::Query)
        .expect_err("the probe rule decides");
    assert!(
        denied
            .0
            .contains("allowed only while the connector verifies"),
        "{denied}"
    );
    assert_eq!(
        check_with(&m, "DELETE", path, PROBE_HEADERS, Some(0), Phase::Verify),
        Ok("DELETE /v1/customers/{id}".to_owned())
    );
    // Where the probe rule does not match, the broader one decides.
    assert_eq!(
        check_with(
            &m,
            "DELETE",
            "/v1/items/x",
            PROBE_HEADERS,
            Some(0),
            Phase::Query
        ),
        Ok("DELETE /v1/{kind}/{id}".to_owned())
    );
}

#[test]
fn a_rule_with_a_body_accepts_a_content_length() {
    let mut m = Manifest::stripe();
    let probe = m
        .requests
        .iter_mut()
        .find(|r| r.method == "POST")
        .expect("a POST probe");
    probe.body = true;
    let path = "/v1/charges/ch_klairr_probe_never_exists/capture";
    let headers: Vec<(&str, &[u8])> = vec![hv("content-length", "42")];
    assert_eq!(
        check_with(&m, "POST", path, &headers, Some(42), Phase::Verify),
        Ok("POST /v1/charges/{id}/capture".to_owned())
    );
}

#[test]
fn host_headers_are_the_pinned_ones_then_the_credential() {
    let m = Manifest::stripe();
    let cred = credential();
    assert_eq!(
        host_headers(&m, &cred),
        [
            ("stripe-version".to_owned(), "2026-04-22.dahlia".to_owned()),
            ("authorization".to_owned(), format!("Bearer {}", key_text())),
        ]
    );
}

#[test]
fn decoding_helpers() {
    assert_eq!(percent_decode("a%5Bb%5d%25"), Some(b"a[b]%".to_vec()));
    assert_eq!(percent_decode("%"), None);
    assert_eq!(percent_decode("%4"), None);
    assert_eq!(percent_decode("%g0"), None);
    assert_eq!(percent_decode_lossy(b"%41%zz%4"), b"A%zz%4".to_vec());
    assert_eq!(printable("a\u{1b}[b\n", 10), "a\\u{1b}[b\\n");
    assert_eq!(printable("abcdef", 3), "abc…");
}

/// Every path of up to three segments from an alphabet of real, probe, odd and encoded segments, under
/// every method and phase: exactly the eight requests below are allowed, nothing else.
#[test]
fn exhaustively_only_the_rules_pass() {
    let m = Manifest::stripe();
    let alphabet = [
        "customers",
        "charges",
        "payouts",
        "capture",
        "cus_klairr_probe_a",
        "ch_klairr_probe_b",
        "",
        ".",
        "..",
        "%2e",
        "%2f",
        ";",
        "\\",
        "CUSTOMERS",
    ];
    let mut paths: Vec<String> = Vec::new();
    let mut frontier = vec!["/v1".to_owned()];
    for _ in 0..3 {
        frontier = frontier
            .iter()
            .flat_map(|p| alphabet.iter().map(move |seg| format!("{p}/{seg}")))
            .collect();
        paths.extend(frontier.iter().cloned());
    }
    let mut allowed: Vec<String> = Vec::new();
    for path in &paths {
        for query in ["", "?limit=1"] {
            for method in ["GET", "POST", "DELETE", "get", "PUT"] {
                for phase in [Phase::Offline, Phase::Query, Phase::Verify] {
                    let pq = format!("{path}{query}");
                    let req = RequestView {
                        method,
                        path_and_query: &pq,
                        headers: PROBE_HEADERS,
                        content_length: Some(0),
                    };
                    // Without a credential: this is about the rules (the credential scan is tested above),
                    // and it keeps ~90,000 checks fast in a debug build.
                    if let Ok(a) = check(&m, &req, phase) {
                        allowed.push(format!("{phase:?} {method} {pq} → {}", a.endpoint));
                    }
                }
            }
        }
    }
    assert_eq!(
        allowed,
        [
            "Query GET /v1/customers → GET /v1/customers",
            "Verify GET /v1/customers → GET /v1/customers",
            "Query GET /v1/customers?limit=1 → GET /v1/customers",
            "Verify GET /v1/customers?limit=1 → GET /v1/customers",
            "Query GET /v1/charges → GET /v1/charges",
            "Verify GET /v1/charges → GET /v1/charges",
            "Query GET /v1/charges?limit=1 → GET /v1/charges",
            "Verify GET /v1/charges?limit=1 → GET /v1/charges",
            "Query GET /v1/payouts → GET /v1/payouts",
            "Verify GET /v1/payouts → GET /v1/payouts",
            "Query GET /v1/payouts?limit=1 → GET /v1/payouts",
            "Verify GET /v1/payouts?limit=1 → GET /v1/payouts",
            "Verify DELETE /v1/customers/cus_klairr_probe_a → DELETE /v1/customers/{id}",
            "Verify POST /v1/charges/ch_klairr_probe_b/capture → POST /v1/charges/{id}/capture",
        ]
    );
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// A run of the credential, raw or encoded, in the URL or a header, is decided as the same
        /// request with other letters and digits in its place: nothing the component is told depends
        /// on whether its guess was right.
        #[test]
        fn runs_of_the_credential_decide_nothing(start in 0usize..96, len in 12usize..40, encoded in any::<bool>(), at_header in any::<bool>()) {
            let m = Manifest::stripe();
            let key = key_text();
            let end = (start + len).min(key.len());
            let run = &key[start..end];
            let other: String = run.chars().map(|c| if c.is_ascii_digit() { '7' } else if c == '_' { '_' } else { 'Q' }).collect();
            let decide = |piece: &str| {
                let piece = if encoded { encode_all(piece) } else { piece.to_owned() };
                let (pq, ua) = if at_header {
                    ("/v1/customers?limit=1".to_owned(), format!("agent {piece}"))
                } else {
                    (format!("/v1/customers?starting_after={piece}"), "agent".to_owned())
                };
                let headers: Vec<(&str, &[u8])> = vec![("user-agent", ua.as_bytes())];
                check_with(&m, "GET", &pq, &headers, None, Phase::Query)
                    .map_err(|d| d.0.replace(run, &other).replace(&encode_all(run), &encode_all(&other)))
            };
            prop_assert_eq!(decide(run), decide(&other));
        }

        #[test]
        fn check_never_panics(
            method in "\\PC{0,8}", pq in "\\PC{0,80}", name in "\\PC{0,12}", value in any::<Vec<u8>>(),
            length in any::<Option<u64>>(),
        ) {
            let m = Manifest::stripe();
            let headers: Vec<(&str, &[u8])> = vec![(name.as_str(), value.as_slice())];
            let _ = check_with(&m, &method, &pq, &headers, length, Phase::Verify);
        }
    }
}
