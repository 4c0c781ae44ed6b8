use super::*;
use crate::origin::Decision;
use std::time::Duration;

/// A small valid manifest that exercises every section; the error table edits it one line at a time.
const MINIMAL: &str = r#"
name = "demo"
version = "1.0.0"
contract = "klairr:connector@0.2.0"
component = "builtin:demo"

[network]
origins = ["https://api.example.com:443"]
max_in_flight = 4
max_response_bytes = 1048576

[network.timeouts]
connect_seconds = 5
first_byte_seconds = 30
between_bytes_seconds = 10

[budget]
per_endpoint = 5
per_credential_test = 10
per_credential_live = 10

[calls]
cache_ttl_ceiling_seconds = 60
page_size = 50
scan_factor = 2
min_scan_rows = 100
max_scan_rows = 1000
retry_share_percent = 50
extra_requests = 5
verify_requests = 10

[credential]
env = "DEMO_KEY"
header = "authorization"
scheme = "Bearer"
test_prefix = "tk_"
live_prefix = "lk_"
min_length = 20

[[credential.refused]]
prefix = "sk_"
kind = "secret-key-rejected"
message = "secret keys are refused: use a read-only key"

[headers]
pinned = { "x-api-version" = "2" }
allowed = ["accept"]
refused = ["x-tenant"]

[[requests]]
method = "GET"
path = "/v1/items"
query = ["limit"]

[[requests]]
method = "DELETE"
path = "/v1/items/{id}"
params = { id = "item_probe_[a-z]+" }
during = "verify"
"#;

fn parse(text: &str) -> Result<Manifest, ManifestError> {
    Manifest::parse(text, "test.toml", None)
}

/// MINIMAL with `from` replaced by `to`; `from` must occur, so no case silently tests the original.
fn edited(from: &str, to: &str) -> String {
    assert!(MINIMAL.contains(from), "MINIMAL has no {from:?}");
    MINIMAL.replacen(from, to, 1)
}

#[test]
fn minimal_manifest_parses_into_typed_values() {
    let m = parse(MINIMAL).expect("valid");
    assert_eq!(m.name, "demo");
    assert_eq!(m.component, ComponentSource::Builtin("demo".into()));
    assert_eq!(m.source, "test.toml");
    assert_eq!(m.network.timeouts.first_byte, Duration::from_secs(30));
    assert_eq!(m.headers.pinned_value("x-api-version"), Some("2"));
    assert_eq!(m.headers.pinned_value("accept"), None);
    assert_eq!(m.requests.len(), 2);
    assert_eq!(m.requests[0].during, During::Always);
    assert!(!m.requests[0].body);
    assert_eq!(m.requests[1].during, During::Verify);
    assert_eq!(m.requests[1].endpoint(), "DELETE /v1/items/{id}");
    assert_eq!(
        m.requests[1].path.params().collect::<Vec<_>>(),
        [("id", "^(?:item_probe_[a-z]+)$")]
    );
    assert_eq!(m.rule_for_endpoint("GET /v1/items"), Some(&m.requests[0]));
    assert_eq!(m.rule_for_endpoint("GET /v1/other"), None);
}

#[test]
fn builtin_stripe_manifest() {
    let m = Manifest::stripe();
    assert_eq!(
        m,
        Manifest::parse(STRIPE_TOML, BUILTIN_SOURCE, None).expect("valid")
    );
    assert_eq!((m.name.as_str(), m.version.as_str()), ("stripe", "0.2.0"));
    assert_eq!(m.contract, CONTRACT);
    assert_eq!(m.source, "built-in");
    assert_eq!(m.component, ComponentSource::Builtin("stripe".into()));
    assert_eq!(
        m.network.origins,
        [Origin::parse("https://api.stripe.com:443").expect("origin")]
    );
    assert_eq!(
        m.network.timeouts,
        TimeoutCeilings {
            connect: Duration::from_secs(10),
            first_byte: Duration::from_secs(30),
            between_bytes: Duration::from_secs(30),
        }
    );
    assert_eq!(
        (m.network.max_in_flight, m.network.max_response_bytes),
        (8, 8 << 20)
    );
    assert_eq!(
        m.budget,
        Budget {
            per_endpoint: 24,
            per_credential_test: 24,
            per_credential_live: 50
        }
    );
    assert_eq!(m.budget.per_credential(Mode::Live), 50);
    assert_eq!(m.budget.per_credential(Mode::Test), 24);
    assert_eq!(
        m.calls,
        CallLimits {
            cache_ttl_ceiling_seconds: 3600,
            page_size: 100,
            scan_factor: 10,
            min_scan_rows: 1000,
            max_scan_rows: 1_000_000,
            retry_share_percent: 100,
            extra_requests: 30,
            verify_requests: 100,
        }
    );
    let c = &m.credential;
    assert_eq!(
        (c.env.as_str(), c.header.as_str(), c.scheme.as_str()),
        ("STRIPE_API_KEY", "authorization", "Bearer")
    );
    assert_eq!(
        (c.test_prefix.as_str(), c.live_prefix.as_str(), c.min_length),
        ("rk_test_", "rk_live_", 24)
    );
    let refused: Vec<(&str, RefusalKind)> = c
        .refused
        .iter()
        .map(|r| (r.prefix.as_str(), r.kind))
        .collect();
    assert_eq!(
        refused,
        [
            ("sk_", RefusalKind::SecretKeyRejected),
            ("pk_", RefusalKind::InvalidKey),
            ("whsec_", RefusalKind::InvalidKey),
            ("sk_org", RefusalKind::SecretKeyRejected)
        ]
    );
    assert_eq!(
        m.headers.pinned,
        [("stripe-version".to_owned(), "2026-04-22.dahlia".to_owned())]
    );
    assert_eq!(
        m.headers.allowed,
        ["accept", "user-agent", "content-length"]
    );
    assert_eq!(m.headers.refused, ["stripe-account", "stripe-context"]);
    let endpoints: Vec<(String, During)> = m
        .requests
        .iter()
        .map(|r| (r.endpoint(), r.during))
        .collect();
    assert_eq!(
        endpoints,
        [
            ("GET /v1/customers".to_owned(), During::Always),
            ("GET /v1/subscriptions".to_owned(), During::Always),
            ("GET /v1/invoices".to_owned(), During::Always),
            ("GET /v1/charges".to_owned(), During::Always),
            ("GET /v1/payouts".to_owned(), During::Always),
            ("DELETE /v1/customers/{id}".to_owned(), During::Verify),
            ("DELETE /v1/subscriptions/{id}".to_owned(), During::Verify),
            ("DELETE /v1/invoices/{id}".to_owned(), During::Verify),
            ("POST /v1/charges/{id}/capture".to_owned(), During::Verify),
            ("POST /v1/payouts/{id}/cancel".to_owned(), During::Verify),
            (
                "POST /v1/refunds/re_klairr_probe_host".to_owned(),
                During::Verify
            ),
            (
                "POST /v1/transfers/tr_klairr_probe_host".to_owned(),
                During::Verify
            ),
            (
                "POST /v1/credit_notes/cn_klairr_probe_host".to_owned(),
                During::Verify
            ),
            (
                "POST /v1/payment_intents/pi_klairr_probe_host".to_owned(),
                During::Verify
            ),
            (
                "POST /v1/disputes/dp_klairr_probe_host".to_owned(),
                During::Verify
            ),
            (
                "POST /v1/payment_methods/pm_klairr_probe_host".to_owned(),
                During::Verify
            ),
            (
                "POST /v1/checkout/sessions/cs_klairr_probe_host".to_owned(),
                During::Verify
            ),
            (
                "POST /v1/webhook_endpoints/we_klairr_probe_host".to_owned(),
                During::Verify
            ),
            (
                "POST /v1/products/prod_klairr_probe_host".to_owned(),
                During::Verify
            ),
            (
                "POST /v1/prices/price_klairr_probe_host".to_owned(),
                During::Verify
            ),
            (
                "POST /v1/coupons/co_klairr_probe_host".to_owned(),
                During::Verify
            ),
            (
                "POST /v1/promotion_codes/promo_klairr_probe_host".to_owned(),
                During::Verify
            ),
            (
                "POST /v1/tax_rates/txr_klairr_probe_host".to_owned(),
                During::Verify
            ),
            (
                "POST /v1/payment_links/plink_klairr_probe_host".to_owned(),
                During::Verify
            ),
            (
                "POST /v1/setup_intents/seti_klairr_probe_host".to_owned(),
                During::Verify
            ),
        ]
    );
    for rule in &m.requests {
        assert!(!rule.body, "{}", rule.endpoint());
        assert!(
            rule.query.iter().all(|q| !q.starts_with("expand")),
            "{}",
            rule.endpoint()
        );
    }
}

/// The refusal of secret keys says exactly what the guest says (src/key.rs), so the user reads one
/// sentence whoever refuses the key first.
#[test]
fn secret_key_message_is_the_guests_sentence() {
    let key_rs = include_str!("../../../../src/key.rs").replace("\\\n", "");
    let start = key_rs
        .find("CREATE_RESTRICTED_KEY: &str = \"")
        .expect("src/key.rs defines CREATE_RESTRICTED_KEY")
        + "CREATE_RESTRICTED_KEY: &str = \"".len();
    let sentence: String = key_rs[start..]
        .split('"')
        .next()
        .expect("a string literal")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let expected = format!(
        "secret keys (sk_…) are refused: Klairr only ever reads, so it accepts restricted keys only. {sentence}."
    );
    assert_eq!(Manifest::stripe().credential.refused[0].message, expected);
}

#[test]
fn network_policy_and_query_ceiling() {
    let m = Manifest::stripe();
    let policy = m.network.policy();
    assert_eq!(policy.timeouts, m.network.timeouts);
    assert!(matches!(
        policy.decide(Some("https"), Some("api.stripe.com")),
        Decision::Send(_)
    ));
    assert!(matches!(
        policy.decide(Some("https"), Some("files.stripe.com")),
        Decision::Deny(_)
    ));

    let limits = m.calls;
    // (row target, ceiling): scanned rows clamp to [1000, 1000000] and never below the target.
    for (target, ceiling) in [
        (0, 10 + 10 + 30),
        (1, 10 + 10 + 30),
        (100, 10 + 10 + 30),
        (101, 11 + 11 + 30),
        (1000, 100 + 100 + 30),
        (10_000, 1000 + 1000 + 30),
        (100_000, 10_000 + 10_000 + 30),
        (2_000_000, 20_000 + 20_000 + 30),
        (u32::MAX, 42_949_673 * 2 + 30),
    ] {
        assert_eq!(limits.query_ceiling(target), ceiling, "row target {target}");
    }
    // (scan bound, ceiling): an aggregate's pages for the rows it may read, at most max_scan_rows.
    for (scan, ceiling) in [
        (0, 30),
        (1, 1 + 1 + 30),
        (1000, 10 + 10 + 30),
        (100_000, 1000 + 1000 + 30),
        (1_000_000, 10_000 + 10_000 + 30),
        (u32::MAX, 10_000 + 10_000 + 30),
    ] {
        assert_eq!(limits.scan_ceiling(scan), ceiling, "scan bound {scan}");
    }
    let tight = CallLimits {
        retry_share_percent: 33,
        extra_requests: 0,
        page_size: 7,
        ..limits
    };
    // 1000 rows / 7 = 143 pages; ceil(143 * 0.33) = 48 retries.
    assert_eq!(tight.query_ceiling(1), 143 + 48);
    let huge = CallLimits {
        scan_factor: 1000,
        page_size: 1,
        retry_share_percent: 1000,
        max_scan_rows: u32::MAX,
        ..limits
    };
    assert_eq!(huge.query_ceiling(u32::MAX), u32::MAX, "saturates");
}

#[test]
fn every_invalid_field_is_named_with_what_to_write() {
    let long_name = format!("name = \"{}\"", "a".repeat(33));
    // (from, to, field, a phrase of the problem)
    let cases: &[(&str, &str, &str, &str)] = &[
        ("name = \"demo\"", "name = \"Demo\"", "name", "a lower-case letter first"),
        ("name = \"demo\"", &long_name, "name", "1 to 32 characters"),
        ("name = \"demo\"", "name = \"\"", "name", "write 1 to 32"),
        ("version = \"1.0.0\"", "version = \"1.0\"", "version", "MAJOR.MINOR.PATCH"),
        ("version = \"1.0.0\"", "version = \"01.0.0\"", "version", "without leading zeros"),
        ("version = \"1.0.0\"", "version = \"1.0.0-beta\"", "version", "e.g. \"0.2.0\""),
        (
            "contract = \"klairr:connector@0.2.0\"",
            "contract = \"klairr:connector@0.1.0\"",
            "contract",
            "declares \"klairr:connector@0.1.0\" but this host speaks only klairr:connector@0.2.0: write contract = \"klairr:connector@0.2.0\"",
        ),
        ("\"builtin:demo\"", "\"builtin:\"", "component", "builtin: followed by its name"),
        ("\"builtin:demo\"", "\"builtin:Demo\"", "component", "does not name a built-in"),
        ("\"builtin:demo\"", "\"/opt/demo.wasm\"", "component", "is an absolute path: write it relative"),
        ("\"builtin:demo\"", "\"../demo.wasm\"", "component", "uses `..`: write the component's path from the manifest's directory down"),
        ("\"builtin:demo\"", "\"sub/../../demo.wasm\"", "component", "without `..`"),
        ("\"builtin:demo\"", "\"file:demo.wasm\"", "component", "only builtin: may use a ':'"),
        ("\"builtin:demo\"", "\"\"", "component", "names no file"),
        ("\"builtin:demo\"", "\"./\"", "component", "names no file"),
        ("\"builtin:demo\"", "\"demo.wasm\"", "component", "not read from a file"),
        ("origins = [\"https://api.example.com:443\"]", "origins = []", "network.origins", "at least one"),
        ("\"https://api.example.com:443\"]", "\"ftp://api.example.com\"]", "network.origins[0]", "use https (only a loopback test server, reached with --redirect, may use http)"),
        ("\"https://api.example.com:443\"]", "\"https://api.example.com/v1\"]", "network.origins[0]", "write it without a path, query or credentials"),
        ("\"https://api.example.com:443\"]", "\"api.example.com\"]", "network.origins[0]", "not a URL"),
        (
            "\"https://api.example.com:443\"]",
            "\"https://user:pw@api.example.com:443\"]",
            "network.origins[0]",
            // Said once (it used to be followed by the same advice again).
            "is not a bare origin (scheme://host:port): write it without a path, query or credentials",
        ),
        (
            "\"https://api.example.com:443\"]",
            "\"https://api.example.com:443\", \"https://API.example.com\"]",
            "network.origins[1]",
            "is already network.origins[0]",
        ),
        ("connect_seconds = 5", "connect_seconds = 0", "network.timeouts.connect_seconds", "from 1 to 600 (seconds)"),
        ("first_byte_seconds = 30", "first_byte_seconds = 601", "network.timeouts.first_byte_seconds", "601 is out of range"),
        ("between_bytes_seconds = 10", "between_bytes_seconds = -1", "network.timeouts.between_bytes_seconds", "from 1 to 600"),
        ("max_in_flight = 4", "max_in_flight = 0", "network.max_in_flight", "from 1 to 64"),
        ("max_in_flight = 4", "max_in_flight = 65", "network.max_in_flight", "from 1 to 64"),
        ("max_response_bytes = 1048576", "max_response_bytes = 67108865", "network.max_response_bytes", "64 MiB at most"),
        ("max_response_bytes = 1048576", "max_response_bytes = 0", "network.max_response_bytes", "from 1 to 67108864"),
        ("per_endpoint = 5", "per_endpoint = 0", "budget.per_endpoint", "from 1 to 1000"),
        ("per_endpoint = 5", "per_endpoint = 11", "budget.per_endpoint", "more than the credential's own budget in either mode (at most 10)"),
        ("per_credential_test = 10", "per_credential_test = 1001", "budget.per_credential_test", "request starts per second"),
        ("per_credential_live = 10", "per_credential_live = -5", "budget.per_credential_live", "from 1 to 1000"),
        ("cache_ttl_ceiling_seconds = 60", "cache_ttl_ceiling_seconds = 3601", "calls.cache_ttl_ceiling_seconds", "from 0 to 3600"),
        ("origins = [\"https://api.example.com:443\"]", "origins = [\"http://api.example.com:80\"]", "network.origins[0]", "write https://api.example.com:443"),
        ("origins = [\"https://api.example.com:443\"]", "origins = [\"http://api.example.com:8080\"]", "network.origins[0]", "plain http"),
        ("origins = [\"https://api.example.com:443\"]", "origins = [\"https://*.example.com:443\"]", "network.origins[0]", "no usable host"),
        ("origins = [\"https://api.example.com:443\"]", "origins = [\"https://api example.com:443\"]", "network.origins[0]", "no usable host"),
        ("origins = [\"https://api.example.com:443\"]", "origins = [\"https://[zz]:443\"]", "network.origins[0]", "no usable host"),
        ("origins = [\"https://api.example.com:443\"]", "origins = [\"https://-api.example.com:443\"]", "network.origins[0]", "no usable host"),
        ("origins = [\"https://api.example.com:443\"]", "origins = [\"https://127.1:443\"]", "network.origins[0]", "a number a resolver reads as an IPv4 address"),
        ("origins = [\"https://api.example.com:443\"]", "origins = [\"https://2130706433:443\"]", "network.origins[0]", "a number a resolver reads as an IPv4 address"),
        ("origins = [\"https://api.example.com:443\"]", "origins = [\"https://0x7f.0.0.1:443\"]", "network.origins[0]", "a number a resolver reads as an IPv4 address"),
        ("origins = [\"https://api.example.com:443\"]", "origins = [\"https://127.000.000.001:443\"]", "network.origins[0]", "a number a resolver reads as an IPv4 address"),
        ("origins = [\"https://api.example.com:443\"]", "origins = [\"https://api.1:443\"]", "network.origins[0]", "a number a resolver reads as an IPv4 address"),
        ("origins = [\"https://api.example.com:443\"]", "origins = [\"https://localhost:443\"]", "network.origins[0]", "on this machine or its link"),
        // The usual /etc/hosts names of this machine and its link (review: these four validated).
        ("origins = [\"https://api.example.com:443\"]", "origins = [\"https://localhost4:443\"]", "network.origins[0]", "on this machine or its link"),
        ("origins = [\"https://api.example.com:443\"]", "origins = [\"https://localhost4.localdomain4:443\"]", "network.origins[0]", "on this machine or its link"),
        ("origins = [\"https://api.example.com:443\"]", "origins = [\"https://ip6-allnodes:443\"]", "network.origins[0]", "on this machine or its link"),
        ("origins = [\"https://api.example.com:443\"]", "origins = [\"https://ip6-allrouters:443\"]", "network.origins[0]", "on this machine or its link"),
        ("origins = [\"https://api.example.com:443\"]", "origins = [\"https://127.0.0.1:443\"]", "network.origins[0]", "on this machine or its link"),
        ("origins = [\"https://api.example.com:443\"]", "origins = [\"https://0.0.0.0:443\"]", "network.origins[0]", "on this machine or its link"),
        ("origins = [\"https://api.example.com:443\"]", "origins = [\"https://169.254.169.254:443\"]", "network.origins[0]", "a cloud's metadata"),
        ("origins = [\"https://api.example.com:443\"]", "origins = [\"https://[::1]:443\"]", "network.origins[0]", "reached with --redirect"),
        ("origins = [\"https://api.example.com:443\"]", "origins = [\"https://[::]:443\"]", "network.origins[0]", "on this machine or its link"),
        ("origins = [\"https://api.example.com:443\"]", "origins = [\"https://[fe80::1]:443\"]", "network.origins[0]", "on this machine or its link"),
        ("origins = [\"https://api.example.com:443\"]", "origins = [\"https://[2001:db8:0:0:0:0:0:1]:443\"]", "network.origins[0]", "write [2001:db8::1]"),
        ("origins = [\"https://api.example.com:443\"]", "origins = [\"https://[0:0:0:0:0:0:0:1]:443\"]", "network.origins[0]", "on this machine or its link"),
        ("origins = [\"https://api.example.com:443\"]", "origins = [\"https://[::ffff:127.0.0.1]:443\"]", "network.origins[0]", "on this machine or its link"),
        ("origins = [\"https://api.example.com:443\"]", "origins = [\"https://[::ffff:7f00:1]:443\"]", "network.origins[0]", "on this machine or its link"),
        ("origins = [\"https://api.example.com:443\"]", "origins = [\"https://[::ffff:169.254.169.254]:443\"]", "network.origins[0]", "a cloud's metadata"),
        ("origins = [\"https://api.example.com:443\"]", "origins = [\"https://[::ffff:0.0.0.0]:443\"]", "network.origins[0]", "on this machine or its link"),
        ("origins = [\"https://api.example.com:443\"]", "origins = [\"https://[::7f00:1]:443\"]", "network.origins[0]", "on this machine or its link"),
        ("origins = [\"https://api.example.com:443\"]", "origins = [\"https://[64:ff9b::a9fe:a9fe]:443\"]", "network.origins[0]", "on this machine or its link"),
        ("origins = [\"https://api.example.com:443\"]", "origins = [\"https://[fec0::1]:443\"]", "network.origins[0]", "on this machine or its link"),
        ("origins = [\"https://api.example.com:443\"]", "origins = [\"https://ip6-localhost:443\"]", "network.origins[0]", "on this machine or its link"),
        ("origins = [\"https://api.example.com:443\"]", "origins = [\"https://localhost6:443\"]", "network.origins[0]", "on this machine or its link"),
        ("origins = [\"https://api.example.com:443\"]", "origins = [\"https://[::ffff:0:7f00:1]:443\"]", "network.origins[0]", "on this machine or its link"),
        ("origins = [\"https://api.example.com:443\"]", "origins = [\"https://[::ffff:0:a9fe:a9fe]:443\"]", "network.origins[0]", "a cloud's metadata"),
        ("origins = [\"https://api.example.com:443\"]", "origins = [\"https://[64:ff9b:1::7f00:1]:443\"]", "network.origins[0]", "on this machine or its link"),
        // 6to4 and Teredo carry an IPv4 address too (QA): loopback, the metadata address, a Teredo
        // client of loopback (inverted: 80ff:fffe is 127.0.0.1) or a server on the link.
        ("origins = [\"https://api.example.com:443\"]", "origins = [\"https://[2002:7f00:1::]:443\"]", "network.origins[0]", "on this machine or its link"),
        ("origins = [\"https://api.example.com:443\"]", "origins = [\"https://[2002:a9fe:a9fe::]:443\"]", "network.origins[0]", "on this machine or its link"),
        ("origins = [\"https://api.example.com:443\"]", "origins = [\"https://[2001:0:4136:e378:8000:63bf:80ff:fffe]:443\"]", "network.origins[0]", "on this machine or its link"),
        ("origins = [\"https://api.example.com:443\"]", "origins = [\"https://[2001:0:a9fe:a9fe::1]:443\"]", "network.origins[0]", "on this machine or its link"),
        ("origins = [\"https://api.example.com:443\"]", "origins = [\"https://0.1.2.3:443\"]", "network.origins[0]", "0.0.0.0/8"),
        ("origins = [\"https://api.example.com:443\"]", "origins = [\"https://224.0.0.1:443\"]", "network.origins[0]", "multicast"),
        ("origins = [\"https://api.example.com:443\"]", "origins = [\"https://255.255.255.255:443\"]", "network.origins[0]", "broadcast"),
        ("origins = [\"https://api.example.com:443\"]", "origins = [\"https://[ff02::1]:443\"]", "network.origins[0]", "multicast"),
        ("origins = [\"https://api.example.com:443\"]", "origins = [\"https://printer.local:443\"]", "network.origins[0]", ".local names"),
        ("page_size = 50", "page_size = 0", "calls.page_size", "from 1 to 10000"),
        ("scan_factor = 2", "scan_factor = 0", "calls.scan_factor", "from 1 to 1000"),
        ("min_scan_rows = 100", "min_scan_rows = 1001", "calls.min_scan_rows", "larger than calls.max_scan_rows (1000)"),
        ("max_scan_rows = 1000", "max_scan_rows = 0", "calls.max_scan_rows", "from 1 to 10000000"),
        ("retry_share_percent = 50", "retry_share_percent = -1", "calls.retry_share_percent", "from 0 to 1000"),
        ("extra_requests = 5", "extra_requests = 10001", "calls.extra_requests", "from 0 to 10000"),
        ("verify_requests = 10", "verify_requests = 0", "calls.verify_requests", "from 1 to 10000"),
        ("env = \"DEMO_KEY\"", "env = \"demo_key\"", "credential.env", "upper-case letters"),
        ("env = \"DEMO_KEY\"", "env = \"1KEY\"", "credential.env", "a letter first"),
        ("env = \"DEMO_KEY\"", "env = \"DEMO-KEY\"", "credential.env", "e.g. \"STRIPE_API_KEY\""),
        ("env = \"DEMO_KEY\"", "env = \"KLAIRR_HOST_TOKEN\"", "credential.env", "one of the host's own settings"),
        ("header = \"authorization\"", "header = \"Authorization\"", "credential.header", "write \"authorization\""),
        ("header = \"authorization\"", "header = \"x key\"", "credential.header", "is not a header name"),
        ("header = \"authorization\"", "header = \"\"", "credential.header", "is not a header name"),
        ("header = \"authorization\"", "header = \"host\"", "credential.header", "needs a header of its own"),
        ("header = \"authorization\"", "header = \"content-length\"", "credential.header", "the HTTP client itself writes"),
        ("header = \"authorization\"", "header = \"proxy-authorization\"", "credential.header", "read by a proxy on the way"),
        ("header = \"authorization\"", "header = \"transfer-encoding\"", "credential.header", "the HTTP client itself writes"),
        ("scheme = \"Bearer\"", "scheme = \"Bearer token\"", "credential.scheme", "one word such as \"Bearer\""),
        ("test_prefix = \"tk_\"", "test_prefix = \"\"", "credential.test_prefix", "1 to 32 letters"),
        ("test_prefix = \"tk_\"", "test_prefix = \"t-k\"", "credential.test_prefix", "letters, digits or '_'"),
        ("live_prefix = \"lk_\"", "live_prefix = \"tk_\"", "credential.live_prefix", "overlap"),
        ("live_prefix = \"lk_\"", "live_prefix = \"tk_live_\"", "credential.live_prefix", "neither of which starts the other"),
        ("min_length = 20", "min_length = 3", "credential.min_length", "from 4 to 4096"),
        ("min_length = 20", "min_length = 20\naccount_name = { starts_with = \"\", length = 5 }", "credential.account_name.starts_with", "write 1 to 16 letters or digits"),
        ("min_length = 20", "min_length = 20\naccount_name = { starts_with = \"5_\", length = 5 }", "credential.account_name.starts_with", "(e.g. \"51\")"),
        ("min_length = 20", "min_length = 20\naccount_name = { starts_with = \"51\", length = 1 }", "credential.account_name.length", "from 2 to 64 (characters of the key's body"),
        ("min_length = 20", "min_length = 20\naccount_name = { starts_with = \"51\", length = 65 }", "credential.account_name.length", "from 2 to 64"),
        ("min_length = 20", "min_length = 20\naccount_name = { starts_with = \"51\" }", "credential.account_name.length", "missing field `length`"),
        ("prefix = \"sk_\"", "prefix = \"tk\"", "credential.refused[0].prefix", "would refuse every key that starts with \"tk_\""),
        ("prefix = \"sk_\"", "prefix = \"\"", "credential.refused[0].prefix", "not a key prefix"),
        ("kind = \"secret-key-rejected\"", "kind = \"mode-mismatch\"", "credential.refused[0].kind", "\"secret-key-rejected\""),
        ("kind = \"secret-key-rejected\"", "kind = \"nope\"", "credential.refused[0].kind", "or \"invalid-key\""),
        ("message = \"secret keys are refused: use a read-only key\"", "message = \" \"", "credential.refused[0].message", "why the key is refused"),
        ("message = \"secret keys are refused: use a read-only key\"", "message = \"a\\nb\"", "credential.refused[0].message", "no control characters"),
        (
            "message = \"secret keys are refused: use a read-only key\"",
            "message = \"m\"\n[[credential.refused]]\nprefix = \"sk_\"\nkind = \"invalid-key\"\nmessage = \"m\"",
            "credential.refused[1].prefix",
            "is already credential.refused[0]",
        ),
        ("pinned = { \"x-api-version\" = \"2\" }", "pinned = { \"authorization\" = \"2\" }", "headers.pinned.authorization", "only the host sets it"),
        ("pinned = { \"x-api-version\" = \"2\" }", "pinned = { \"x-api-version\" = \"\" }", "headers.pinned.x-api-version", "1 to 1024 printable"),
        ("pinned = { \"x-api-version\" = \"2\" }", "pinned = { \"x-api-version\" = \"2\\u0001\" }", "headers.pinned.x-api-version", "printable ASCII"),
        ("pinned = { \"x-api-version\" = \"2\" }", "pinned = { \"x-api-version\" = \" 2\" }", "headers.pinned.x-api-version", "without surrounding spaces"),
        ("pinned = { \"x-api-version\" = \"2\" }", "pinned = { \"X-Api-Version\" = \"2\" }", "headers.pinned.X-Api-Version", "write \"x-api-version\""),
        ("allowed = [\"accept\"]", "allowed = [\"accept\", \"authorization\"]", "headers.allowed[1]", "may not appear in any headers list"),
        ("allowed = [\"accept\"]", "allowed = [\"accept\", \"accept\"]", "headers.allowed[1]", "is already headers.allowed[0]"),
        ("pinned = { \"x-api-version\" = \"2\" }", "pinned = { \"x-api-version\" = \"2\", \"content-length\" = \"5\" }", "headers.pinned.content-length", "cannot be pinned"),
        ("allowed = [\"accept\"]", "allowed = [\"*\"]", "headers.allowed[0]", "there are no wildcards: list each header"),
        ("allowed = [\"accept\"]", "allowed = [\"x-*\"]", "headers.allowed[0]", "there are no wildcards"),
        ("allowed = [\"accept\"]", "allowed = [\"proxy-authorization\"]", "headers.allowed[0]", "carries a credential, which only the host attaches"),
        ("allowed = [\"accept\"]", "allowed = [\"x-http-method-override\"]", "headers.allowed[0]", "run another method than the request's"),
        ("allowed = [\"accept\"]", "allowed = [\"x_http_method_override\"]", "headers.allowed[0]", "'_' is not taken, as gateways read it as '-'"),
        ("allowed = [\"accept\"]", "allowed = [\"x-original-method\"]", "headers.allowed[0]", "run another method than the request's"),
        ("query = [\"limit\"]", "query = [\"*\"]", "requests[0].query[0]", "there are no wildcards: list each name"),
        ("allowed = [\"accept\"]", "allowed = [\"x-api-version\"]", "headers.allowed[0]", "is already headers.pinned.x-api-version"),
        ("allowed = [\"accept\"]", "allowed = [\"transfer-encoding\"]", "headers.allowed[0]", "written by the HTTP client itself"),
        ("allowed = [\"accept\"]", "allowed = [\"host\"]", "headers.allowed[0]", "remove it"),
        ("allowed = [\"accept\"]", "allowed = [\"Accept\"]", "headers.allowed[0]", "lower case"),
        ("refused = [\"x-tenant\"]", "refused = [\"accept\"]", "headers.refused[0]", "name each header in one list, once"),
        ("refused = [\"x-tenant\"]", "refused = [\"authorization\"]", "headers.refused[0]", "only the host sets it"),
        ("method = \"GET\"", "method = \"get\"", "requests[0].method", "upper case, as it goes on the wire: write \"GET\""),
        ("method = \"GET\"", "method = \"GeT\"", "requests[0].method", "write \"GET\""),
        ("method = \"GET\"", "method = \"FETCH\"", "requests[0].method", "GET, POST, DELETE, PUT, PATCH, HEAD"),
        ("method = \"GET\"", "method = \"OPTIONS\"", "requests[0].method", "not a method a rule may allow"),
        ("path = \"/v1/items\"", "path = \"v1/items\"", "requests[0].path", "must start with '/'"),
        ("path = \"/v1/items\"", "path = \"/v1//items\"", "requests[0].path", "empty segment"),
        ("path = \"/v1/items\"", "path = \"/v1/items/\"", "requests[0].path", "a trailing '/'"),
        ("path = \"/v1/items\"", "path = \"/\"", "requests[0].path", "empty segment"),
        ("path = \"/v1/items\"", "path = \"/v1/../items\"", "requests[0].path", "not . or .."),
        ("path = \"/v1/items\"", "path = \"/v1/./items\"", "requests[0].path", "not . or .."),
        ("path = \"/v1/items\"", "path = \"/v1/it ems\"", "requests[0].path", "neither a literal"),
        ("path = \"/v1/items\"", "path = \"/v1/items%2f\"", "requests[0].path", "neither a literal"),
        ("path = \"/v1/items\"", "path = \"/v1/x{id}\"", "requests[0].path", "whole-segment parameter"),
        ("path = \"/v1/items/{id}\"", "path = \"/v1/items/{ID}\"", "requests[1].path", "lower-case name"),
        ("path = \"/v1/items/{id}\"", "path = \"/v1/{id}/{id}\"", "requests[1].path", "{id} appears twice"),
        ("path = \"/v1/items/{id}\"", "path = \"/v1/items/{key}\"", "requests[1].params", "{key} has no pattern: add params = { key = \"…\" }"),
        ("path = \"/v1/items/{id}\"", "path = \"/v1/items/x\"", "requests[1].params.id", "has no {id}: remove this pattern"),
        ("id = \"item_probe_[a-z]+\"", "id = \"item_(\"", "requests[1].params.id", "not a valid regular expression"),
        ("id = \"item_probe_[a-z]+\"", "id = \"a)|(.*\"", "requests[1].params.id", "not a valid regular expression"),
        ("id = \"item_probe_[a-z]+\"", "id = \"\"", "requests[1].params.id", "is empty"),
        ("id = \"item_probe_[a-z]+\"", "id = \"[a-z]*\"", "requests[1].params.id", "matches an empty segment"),
        ("id = \"item_probe_[a-z]+\"", "id = \"a{1000000}\"", "requests[1].params.id", "not a valid regular expression"),
        ("query = [\"limit\"]", "query = [\"limit\", \"\"]", "requests[0].query[1]", "not a query parameter name"),
        ("query = [\"limit\"]", "query = [\"a&b\"]", "requests[0].query[0]", "without spaces or &=#%?+"),
        ("query = [\"limit\"]", "query = [\"li%6dit\"]", "requests[0].query[0]", "as the server decodes it"),
        ("query = [\"limit\"]", "query = [\"limit\", \"limit\"]", "requests[0].query[1]", "is already query[0]"),
        ("during = \"verify\"", "during = \"sometimes\"", "requests[1].during", "\"always\" (the default"),
        ("during = \"verify\"", "during = \"Verify\"", "requests[1].during", "or \"verify\""),
        ("during = \"verify\"", "during = \"verify\"\nprobe = { resource = \"items\", refused = [403] }\n\n[[requests]]\nmethod = \"POST\"\npath = \"/v1/x\"\nprobe = { resource = \"x\", refused = [403] }", "requests[2].probe", "add during = \"verify\""),
        ("during = \"verify\"", "during = \"verify\"\nprobe = { resource = \"Items\", refused = [403] }", "requests[1].probe.resource", "digits and _ (e.g. \"customers\")"),
        ("during = \"verify\"", "during = \"verify\"\nprobe = { resource = \"items\", refused = [] }", "requests[1].probe.refused", "no status is a refusal"),
        ("during = \"verify\"", "during = \"verify\"\nprobe = { resource = \"items\", refused = [403, 429] }", "requests[1].probe.refused[1]", "429 is not a refusal"),
        ("during = \"verify\"", "during = \"verify\"\nprobe = { resource = \"items\", refused = [200] }", "requests[1].probe.refused[0]", "a 4xx status other than 401, 408, 409 and 429"),
        ("during = \"verify\"", "during = \"verify\"\nprobe = { resource = \"items\", refused = [401] }", "requests[1].probe.refused[0]", "401 is not a refusal"),
        ("during = \"verify\"", "during = \"verify\"\nprobe = { resource = \"items\", refused = [409] }", "requests[1].probe.refused[0]", "409 is not a refusal"),
        ("during = \"verify\"", "during = \"verify\"\nprobe = { resource = \"items\", refused = [403], sent_by = \"guest\" }", "requests[1].probe.sent_by", "\"guest\" is not who sends a probe: write \"component\""),
        ("during = \"verify\"", "during = \"verify\"\nprobe = { resource = \"items\", refused = [403], sent_by = \"host\" }", "requests[1].path", "write an id no real object can have in place of the parameter"),
        ("path = \"/v1/items/{id}\"\nparams = { id = \"item_probe_[a-z]+\" }\nduring = \"verify\"", "path = \"/v1/items/item_probe_host\"\nduring = \"verify\"\nbody = true\nprobe = { resource = \"items\", refused = [403], sent_by = \"host\" }", "requests[1].body", "remove body = true"),
        ("query = [\"limit\"]", "query = [\"limit\"]\nreads = \"It ems\"", "requests[0].reads", "digits and _ (e.g. \"customers\")"),
        ("during = \"verify\"", "during = \"verify\"\nreads = \"items\"", "requests[1].reads", "a DELETE does not read: put reads on the GET rule"),
        ("query = [\"limit\"]", "query = [\"limit\"]\nduring = \"verify\"\nreads = \"items\"", "requests[0].reads", "no query reads through it"),
        ("query = [\"limit\"]", "query = [\"limit\"]\nduring = \"verify\"\nprobe = { resource = \"items\", refused = [403] }", "requests[0].probe", "a GET does not write"),
        ("query = [\"limit\"]", "query = [\"limit\"]\nreads = \"items\"\n\n[[requests]]\nmethod = \"GET\"\npath = \"/v1/more\"\nreads = \"items\"", "requests[1].reads", "\"items\" is read by requests[0] (GET /v1/items) already"),
        (
            "during = \"verify\"",
            "during = \"verify\"\n\n[[requests]]\nmethod = \"DELETE\"\npath = \"/v1/items/{other}\"\nparams = { other = \"x_[a-z]+\" }",
            "requests[2]",
            "DELETE /v1/items/{other} matches the same requests as requests[1] (DELETE /v1/items/{id})",
        ),
    ];
    for (from, to, field, phrase) in cases {
        let text = edited(from, to);
        let err = parse(&text).expect_err(&format!("{from} → {to}"));
        assert_eq!(err.field, *field, "{to}: {err}");
        assert!(err.problem.contains(phrase), "{to}: {err}");
        assert!(
            err.to_string()
                .starts_with(&format!("connector manifest test.toml: `{field}`: ")),
            "{err}"
        );
    }
}

/// A probe the host sends names its one object in a literal path; a component's keeps its parameters.
#[test]
fn a_probe_says_who_sends_it() {
    let host = edited(
        "path = \"/v1/items/{id}\"\nparams = { id = \"item_probe_[a-z]+\" }\nduring = \"verify\"",
        "path = \"/v1/items/item_probe_host\"\nduring = \"verify\"\nprobe = { resource = \"items\", refused = [403], sent_by = \"host\" }",
    );
    let m = parse(&host).expect("valid");
    let probe = m.requests[1].probe.as_ref().expect("a probe");
    assert_eq!(probe.sent_by, ProbeSender::Host);
    assert_eq!(
        m.requests[1].path.literal(),
        Some("/v1/items/item_probe_host")
    );
    let component = edited(
        "during = \"verify\"",
        "during = \"verify\"\nprobe = { resource = \"items\", refused = [403] }",
    );
    let m = parse(&component).expect("valid");
    let probe = m.requests[1].probe.as_ref().expect("a probe");
    assert_eq!(probe.sent_by, ProbeSender::Component);
    assert_eq!(m.requests[1].path.literal(), None);
}

/// A host probe an earlier rule of its method matches would never be judged under its own rule: the
/// earlier rule takes the host's write, and setup fails for every key, saying the host's request
/// "failed on the way" (review: such a manifest loaded). Refused at load; before the rule it is fine.
#[test]
fn a_host_probe_shadowed_by_an_earlier_rule_is_refused_at_load() {
    let host = "\n[[requests]]\nmethod = \"DELETE\"\npath = \"/v1/items/item_probe_host\"\nduring = \"verify\"\nprobe = { resource = \"refunds\", refused = [403], sent_by = \"host\" }\n";
    let shadowed = format!("{MINIMAL}{host}");
    let err = parse(&shadowed).expect_err("an earlier rule takes the host's probe");
    assert_eq!(err.field, "requests[2].path", "{err}");
    assert!(
        err.to_string()
            .contains("requests[1] (DELETE /v1/items/{id})"),
        "{err}"
    );
    // Before the parameter rule, the host's probe is its own (and the component's ids are the other's).
    let first = MINIMAL.replacen(
        "\n[[requests]]\nmethod = \"DELETE\"",
        &format!("{host}\n[[requests]]\nmethod = \"DELETE\""),
        1,
    );
    let m = parse(&first).expect("the host's rule first");
    assert_eq!(
        m.requests[1].path.literal(),
        Some("/v1/items/item_probe_host")
    );
}

/// Setup tells a key that can write where the host probes to set that resource to None: a resource the
/// connector reads, or probes itself, would be told to lose its Read (review: loaded, and setup said
/// "set Items to None" of a table it reads).
#[test]
fn a_host_probe_on_a_resource_the_connector_reads_is_refused_at_load() {
    let reads = edited(
        "query = [\"limit\"]",
        "query = [\"limit\"]\nreads = \"items\"",
    );
    let host = format!("{reads}\n[[requests]]\nmethod = \"POST\"\npath = \"/v1/items/item_probe_host\"\nduring = \"verify\"\nprobe = {{ resource = \"items\", refused = [403], sent_by = \"host\" }}\n");
    let err = parse(&host).expect_err("a read resource is no host probe's");
    assert_eq!(err.field, "requests[2].probe.resource", "{err}");
    let probed = edited(
        "during = \"verify\"",
        "during = \"verify\"\nprobe = { resource = \"widgets\", refused = [403] }",
    );
    let host = format!("{probed}\n[[requests]]\nmethod = \"POST\"\npath = \"/v1/widgets/w_probe_host\"\nduring = \"verify\"\nprobe = {{ resource = \"widgets\", refused = [403], sent_by = \"host\" }}\n");
    let err = parse(&host).expect_err("a resource the component probes is no host probe's");
    assert_eq!(err.field, "requests[2].probe.resource", "{err}");
    let elsewhere = host.replace(
        "resource = \"widgets\", refused = [403], sent_by",
        "resource = \"refunds\", refused = [403], sent_by",
    );
    parse(&elsewhere).expect("a resource the connector never touches");
}

#[test]
fn duplicate_rules_are_refused() {
    let twice = format!("{MINIMAL}\n[[requests]]\nmethod = \"GET\"\npath = \"/v1/items\"\n");
    let err = parse(&twice).expect_err("duplicate");
    assert_eq!(err.field, "requests[2]");
    assert!(err.problem.contains("merge them into one rule"), "{err}");
    // The same path under another method is another rule.
    let other = format!("{MINIMAL}\n[[requests]]\nmethod = \"HEAD\"\npath = \"/v1/items\"\n");
    assert_eq!(parse(&other).expect("valid").requests.len(), 3);
}

#[test]
fn an_empty_rule_list_is_refused() {
    let start = MINIMAL.find("[[requests]]").expect("rules");
    let text = format!("requests = []\n{}", &MINIMAL[..start]);
    let err = parse(&text).expect_err("no rules");
    assert_eq!(err.field, "requests");
    assert!(
        err.problem.contains("add at least one [[requests]]"),
        "{err}"
    );
}

#[test]
fn serde_errors_name_the_field_and_the_line() {
    // (from, to, field, phrases)
    let cases: &[(&str, &str, &str, &[&str])] = &[
        (
            "name = \"demo\"",
            "nmae = \"demo\"",
            "nmae",
            &["unknown field `nmae`", "line 2", "correct its spelling"],
        ),
        (
            "name = \"demo\"",
            "",
            "name",
            &["missing field `name`", "add it"],
        ),
        (
            "max_in_flight = 4\n",
            "",
            "network.max_in_flight",
            &["missing field `max_in_flight`"],
        ),
        (
            "max_in_flight = 4",
            "max_in_flight = \"4\"",
            "network.max_in_flight",
            &[
                "invalid type: string \"4\", expected a whole number",
                "line 9",
                "expected type",
            ],
        ),
        (
            "connect_seconds = 5",
            "connect_seconds = 1.5",
            "network.timeouts.connect_seconds",
            &["invalid type"],
        ),
        (
            "during = \"verify\"",
            "during = \"verify\"\nmethd = \"GET\"",
            "requests[1].methd",
            &["unknown field `methd`", "expected one of"],
        ),
        (
            "query = [\"limit\"]",
            "query = \"limit\"",
            "requests[0].query",
            &["invalid type"],
        ),
        (
            "env = \"DEMO_KEY\"",
            "env = \"DEMO_KEY\"\nenv = \"X\"",
            "",
            &["duplicate key \"env\": give each key once", "line 34"],
        ),
        ("name = \"demo\"", "name = ", "", &["line 2"]),
    ];
    for (from, to, field, phrases) in cases {
        let err = parse(&edited(from, to)).expect_err(to);
        assert_eq!(err.field, *field, "{to}: {err}");
        for phrase in *phrases {
            assert!(err.problem.contains(phrase), "{to}: {err}");
        }
        assert!(!err.problem.contains('\n'), "one line: {err}");
    }
}

#[test]
fn component_paths_resolve_against_the_manifest_directory() {
    let dir = Path::new("/srv/connectors");
    for (written, resolved) in [
        ("demo.wasm", "/srv/connectors/demo.wasm"),
        ("./demo.wasm", "/srv/connectors/demo.wasm"),
        ("sub/./demo.wasm", "/srv/connectors/sub/demo.wasm"),
    ] {
        let text = edited("\"builtin:demo\"", &format!("{written:?}"));
        let m = Manifest::parse(&text, "demo.toml", Some(dir)).expect(written);
        assert_eq!(m.component, ComponentSource::Path(PathBuf::from(resolved)));
    }
}

#[test]
fn load_reads_a_file_and_resolves_its_component() {
    let dir = std::env::temp_dir().join(format!("klairr-policy-manifest-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("demo.toml");
    std::fs::write(&path, edited("\"builtin:demo\"", "\"demo.wasm\"")).expect("write");
    let m = Manifest::load(&path).expect("valid");
    assert_eq!(m.component, ComponentSource::Path(dir.join("demo.wasm")));
    assert_eq!(m.source, path.display().to_string());

    let missing = Manifest::load(&dir.join("absent.toml")).expect_err("missing");
    assert!(missing.field.is_empty());
    assert!(
        missing
            .to_string()
            .contains("absent.toml: cannot read the file"),
        "{missing}"
    );
    let not_a_file = Manifest::load(&dir).expect_err("a directory");
    assert!(not_a_file.problem.contains("is not a file"), "{not_a_file}");

    let big = dir.join("big.toml");
    std::fs::write(&big, vec![b'#'; MAX_MANIFEST_BYTES as usize + 1]).expect("write");
    assert!(Manifest::load(&big)
        .expect_err("too big")
        .problem
        .contains("at most 1048576"));
    let binary = dir.join("binary.toml");
    std::fs::write(&binary, [0xff, 0xfe, 0x00]).expect("write");
    assert!(Manifest::load(&binary)
        .expect_err("binary")
        .problem
        .contains("UTF-8"));
    std::fs::remove_dir_all(&dir).expect("clean up");
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn parse_never_panics_on_any_text(text in any::<String>()) {
            let _ = parse(&text);
        }

        /// Random edits of a valid manifest: either still valid or refused with a one-line problem.
        #[test]
        fn edits_of_a_valid_manifest_are_parsed_or_refused(
            at in 0usize..MINIMAL.len(), cut in 0usize..8, insert in "[ -~\n]{0,8}"
        ) {
            let at = (0..=at).rev().find(|i| MINIMAL.is_char_boundary(*i)).unwrap_or(0);
            let end = (at + cut..=MINIMAL.len()).find(|i| MINIMAL.is_char_boundary(*i)).unwrap_or(MINIMAL.len());
            let text = format!("{}{insert}{}", &MINIMAL[..at], &MINIMAL[end..]);
            if let Err(err) = parse(&text) {
                prop_assert!(!err.problem.is_empty());
                prop_assert!(!err.problem.contains('\n'), "{err}");
            }
        }
    }
}

/// With the credential in a header of the API's own, `authorization` is still a credential's header: a
/// component may never send it, so a list allowing it says something the host will not do (QA).
#[test]
fn authorization_is_never_the_components_to_send() {
    for (list, field) in [
        (
            "allowed = [\"accept\", \"authorization\"]",
            "headers.allowed[1]",
        ),
        (
            "pinned = { \"x-api-version\" = \"2\", \"authorization\" = \"Basic x\" }",
            "headers.pinned.authorization",
        ),
    ] {
        let text = edited("header = \"authorization\"", "header = \"x-key\"").replacen(
            if list.starts_with("allowed") {
                "allowed = [\"accept\"]"
            } else {
                "pinned = { \"x-api-version\" = \"2\" }"
            },
            list,
            1,
        );
        let err = parse(&text).expect_err(list);
        assert_eq!(err.field, field, "{err}");
        assert!(err.problem.contains("carries a credential"), "{err}");
    }
    // Refusing it stays possible.
    let text = edited("header = \"authorization\"", "header = \"x-key\"").replacen(
        "refused = [\"x-tenant\"]",
        "refused = [\"x-tenant\", \"authorization\"]",
        1,
    );
    assert!(parse(&text).is_ok());
}

/// An API at an address (on-premises, say) is an origin like any other, written as it is compared.
#[test]
fn origins_at_an_address_off_this_machine_are_accepted() {
    for origin in [
        "https://192.0.2.10:443",
        "https://10.0.0.5:8443",
        "https://[2001:db8::1]:443",
        "https://[2001:DB8::1]:443",
        "https://[::ffff:192.0.2.10]:443",
        "https://[64:ff9b::c000:20a]:443",
        "https://[2002:c000:20a::1]:443",
        "https://[2001:0:c000:20a::3fff:fdf5]:443",
        "https://api.example.com:443",
    ] {
        let text = edited(
            "origins = [\"https://api.example.com:443\"]",
            &format!("origins = [\"{origin}\"]"),
        );
        assert!(parse(&text).is_ok(), "{origin}: {:?}", parse(&text).err());
    }
}

#[test]
fn a_credential_is_not_read_from_the_processs_own_settings() {
    for env in [
        "PATH",
        "HOME",
        "XDG_CACHE_HOME",
        "LD_PRELOAD",
        "KLAIRR_HOST_TOKEN",
    ] {
        let text = edited("env = \"DEMO_KEY\"", &format!("env = \"{env}\""));
        let err = parse(&text).expect_err(env);
        assert_eq!(err.field, "credential.env", "{err}");
        assert!(err.problem.contains("own settings"), "{err}");
    }
}

/// A key of the manifest's own spelling is named in the error quoted, escaped and capped, as its
/// values are (review: an escape sequence or a megabyte in a key was printed as it was).
#[test]
fn a_field_named_by_an_odd_key_is_shown_escaped_and_capped() {
    let text = edited(
        "name = \"demo\"",
        "\"x\\u001b]0;t\\u0007\" = 1\nname = \"demo\"",
    );
    let shown = parse(&text).expect_err("unknown key").to_string();
    assert!(
        !shown.contains('\u{1b}') && !shown.contains('\u{7}'),
        "{shown:?}"
    );
    assert!(shown.contains(r#""x\u{1b}]0;t\u{7}""#), "{shown}");
    let long = format!("k{}", "y".repeat(5000));
    let text = edited("name = \"demo\"", &format!("{long} = 1\nname = \"demo\""));
    let err = parse(&text).expect_err("unknown key");
    let shown = err.to_string();
    assert!(
        shown.len() < 2 * err.problem.len() + 400 && shown.contains('…'),
        "{} bytes",
        shown.len()
    );
}
