//! The host holds the line against a hostile connector (issue 8, "Proof"): the hostile component
//! (`tests/hostile-guest`, its script format in `tests/hostile-guest/src/lib.rs`) and the WAT components
//! attack the host through the CLI and the library, against hostile loopback upstreams. Every test asserts
//! on what reached the upstream (its request log and TCP connection count) and on the host's own output
//! (exit status, JSON error kind, stdout/stderr) — never on what the hostile guest reports about itself.
//!
//! Keys are made up and of real length (`rk_test_`/`rk_live_` + 100 letters and digits); leak scans fail
//! on any 12-character run of them ([`assert_no_key`]).

use klairr_e2e::hostile_support::{
    assert_ends_at_the_deadline, has_terminal_control, hostile, json_error, xorshift_key, ESCAPES,
};
use klairr_e2e::hostile_upstream::{
    hostile_component, wat_many_memories_component, wat_table_grow_component, Behaviour,
    LoggedRequest, Upstream,
};
use klairr_e2e::{assert_no_key, max_in_window, run_cli, temp_dir, CliRun};
use klairr_host::policy::manifest::{Manifest, ProbeSender};
use klairr_host::policy::origin::LoopbackBase;
use klairr_host::sandbox::{
    wit, ConnectionConfig, Sandbox, SandboxError, SandboxOptions, OPEN_RESPONSES_PER_IN_FLIGHT,
};
use serde_json::{json, Value};
use std::alloc::{GlobalAlloc, System};
use std::time::{Duration, Instant};

// ---- helpers ------------------------------------------------------------------------------------------

/// `prefix` + 100 letters and digits from a fixed xorshift sequence: a made-up key of real length (Stripe's
/// are ~107 characters), with no repeated 12-character stretch for a scan to trip over by chance.
fn made_up_key(prefix: &str, seed: u64) -> String {
    xorshift_key(prefix, seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
}

/// The user's configured test-mode key.
fn test_key() -> String {
    made_up_key("rk_test_", 1)
}

/// The user's configured live-mode key.
fn live_key() -> String {
    made_up_key("rk_live_", 2)
}

/// A hostile query script (the query text) from its steps.
fn script(steps: &[Value]) -> String {
    Value::Array(steps.to_vec()).to_string()
}

/// An `http` step: `GET https://api.stripe.com<path>` unless `extra` says otherwise.
fn http(path: &str, extra: Value) -> Value {
    let mut step = json!({ "path": path });
    if let (Some(step), Value::Object(extra)) = (step.as_object_mut(), extra) {
        step.extend(extra);
    }
    json!({ "http": step })
}

/// How the host's log shows each of the two requests the hostile component's `check-credential` tries
/// (the key's form in a URL; a POST to evil.example): refused, as every request of a call that may
/// make none, without quoting it.
const CREDENTIAL_CHECK_DENIAL: &str =
    "klairr-host: denied (stripe) a request during a call that may make none";

/// The host's log of refused requests: the `klairr-host: denied …` lines of stderr, all of them.
fn all_denials(run: &CliRun) -> Vec<&str> {
    run.stderr
        .lines()
        .filter(|l| l.starts_with("klairr-host: denied "))
        .collect()
}

/// [`all_denials`] but the two of the credential's check, which open every command's log: those of
/// the command's own calls.
fn denials(run: &CliRun) -> Vec<&str> {
    let all = all_denials(run);
    let checked = all
        .iter()
        .take(2)
        .filter(|l| l.starts_with(CREDENTIAL_CHECK_DENIAL))
        .count();
    assert_eq!(
        checked, 2,
        "the credential's check is logged first: {all:?}"
    );
    all[checked..].to_vec()
}

/// Nothing reached the upstream: no request, not even a TCP connection.
fn assert_untouched(upstream: &Upstream, context: &str) {
    let log = upstream.requests();
    assert!(
        log.is_empty(),
        "{context}: requests reached the upstream: {:?}",
        log.iter()
            .map(|r| format!("{} {}", r.method, r.target))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        upstream.connections(),
        0,
        "{context}: the upstream was connected to"
    );
}

/// The key appears nowhere in a request except in the one Authorization header the host attaches.
fn assert_key_only_in_authorization(request: &LoggedRequest, key: &str) {
    assert_no_key(key, &request.target, "the request target");
    assert_no_key(key, &String::from_utf8_lossy(&request.body), "the body");
    for (name, value) in &request.headers {
        if name != "authorization" {
            assert_no_key(key, value, &format!("header {name}"));
        }
    }
    assert_eq!(
        request.header_values("authorization"),
        [format!("Bearer {key}")],
        "exactly one Authorization header, the host's: {request:?}"
    );
}

/// The hostile component, loaded through the library under the Stripe manifest with api.stripe.com
/// redirected to `upstream`.
fn hostile_sandbox(upstream: &Upstream) -> Sandbox {
    hostile_sandbox_under(upstream, Manifest::stripe())
}

/// The hostile component under `manifest`, its origins redirected to `upstream`.
fn hostile_sandbox_under(upstream: &Upstream, manifest: Manifest) -> Sandbox {
    let bytes = std::fs::read(hostile_component()).expect("the hostile component is built");
    Sandbox::load(
        &bytes,
        manifest,
        SandboxOptions {
            redirect: Some(LoopbackBase::parse(&upstream.base_url()).expect("a loopback base")),
            ..SandboxOptions::default()
        },
    )
    .expect("the hostile component loads: it is a well-typed connector")
}

// ---- 1. writes ----------------------------------------------------------------------------------------

#[test]
fn writes_in_a_query_never_reach_the_upstream() {
    let upstream = Upstream::start(Behaviour::Ok).expect("upstream");
    let key = test_key();
    let form = json!([
        ["content-type", "application/x-www-form-urlencoded"],
        ["content-length", "11"]
    ]);
    let writes = [
        http(
            "/v1/customers",
            json!({"method": "POST", "headers": form, "body": "email=a@b.c"}),
        ),
        http("/v1/customers/cus_RealId123", json!({"method": "DELETE"})),
        http("/v1/payouts", json!({"method": "POST"})),
        http("/v1/charges/ch_1/capture", json!({"method": "POST"})),
    ];
    let run = hostile(
        &upstream,
        &["--format", "json", "query", &script(&writes)],
        &key,
    );
    assert_untouched(&upstream, "writes during a query");
    assert_eq!(run.code, 0, "the query itself runs: {run:?}");
    assert_eq!(
        run.json()["requests"],
        0,
        "the host counted no request sent"
    );
    let denied = denials(&run);
    assert_eq!(denied.len(), 4, "one denial per write: {}", run.stderr);
    for (line, what) in denied.iter().zip([
        "POST /v1/customers",
        "DELETE /v1/customers/cus_RealId123",
        "POST /v1/payouts",
        "POST /v1/charges/ch_1/capture",
    ]) {
        assert!(line.contains(what), "{line:?} names {what}");
    }
    assert_no_key(&key, &run.stderr, "stderr");
}

/// `run` (a `--format json` command) refused the key: exit 2, the error of `kind` whose message starts
/// with `says`.
fn assert_refused(run: &CliRun, kind: &str, says: &str) {
    assert_eq!(run.code, 2, "{run:?}");
    let error = &run.json()["error"];
    assert_eq!(error["kind"], kind, "{run:?}");
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.starts_with(says)),
        "{run:?}"
    );
}

/// (method, path) of the write probes the host sends itself during setup (stripe.toml's
/// `sent_by = "host"`), sorted.
fn host_probes() -> Vec<(String, String)> {
    let mut probes: Vec<(String, String)> = Manifest::stripe()
        .requests
        .iter()
        .filter(|r| {
            r.probe
                .as_ref()
                .is_some_and(|p| p.sent_by == ProbeSender::Host)
        })
        .filter_map(|r| Some((r.method.clone(), r.path.literal()?.to_owned())))
        .collect();
    probes.sort();
    assert_eq!(probes.len(), 15, "{probes:?}");
    probes
}

/// The requests of `log` past the first `component` ones, as (method, path) sorted: the host's own
/// probes, which go out once the component's verification is done, in any order among themselves.
fn after(log: &[LoggedRequest], component: usize) -> Vec<(String, String)> {
    let mut rest: Vec<(String, String)> = log[component..]
        .iter()
        .map(|r| (r.method.clone(), r.path().to_owned()))
        .collect();
    rest.sort();
    rest
}

#[test]
fn setup_lets_through_only_the_probe_id_and_only_during_setup() {
    let upstream = Upstream::start(Behaviour::Ok).expect("upstream");
    let key = test_key();
    let probe = "/v1/customers/cus_klairr_probe_never_exists";

    // The hostile verify tries four real writes, the one probe the manifest allows during setup and a
    // read, then reports every probe refused. The upstream answered the probe 200: the host's own
    // verdict is that the key can write to customers, whatever the component says — and, from its
    // own probes, which this upstream answers 200 too, to every resource they try.
    let run = hostile(&upstream, &["--format", "json", "setup"], &key);
    assert_refused(
        &run,
        "over-permissioned",
        "this credential can write to customers, refunds, transfers,",
    );
    let log = upstream.requests();
    let sent: Vec<(&str, &str)> = log[..2]
        .iter()
        .map(|r| (r.method.as_str(), r.target.as_str()))
        .collect();
    assert_eq!(
        sent,
        [("DELETE", probe), ("GET", "/v1/customers?limit=1")],
        "only the probe and the read reached Stripe"
    );
    assert_eq!(after(&log, 2), host_probes(), "then the host's own probes");
    for request in &log {
        assert!(request.body.is_empty(), "a probe carries no body");
        assert_key_only_in_authorization(request, &key);
        assert_eq!(
            request.header("host"),
            Some("api.stripe.com"),
            "{request:?}"
        );
    }
    let denied = denials(&run);
    assert_eq!(denied.len(), 4, "{}", run.stderr);
    for what in [
        "POST /v1/customers",
        "DELETE /v1/customers/cus_RealCustomer123",
        "POST /v1/payouts",
        "POST /v1/charges/ch_Real123/capture",
    ] {
        assert!(
            denied.iter().any(|l| l.contains(what)),
            "{what} denied: {denied:?}"
        );
    }

    // The same probe in a query: denied, nothing more reaches the upstream.
    let query = script(&[http(probe, json!({"method": "DELETE"}))]);
    let run = hostile(&upstream, &["query", &query], &key);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        upstream.requests().len(),
        17,
        "still only the setup's probe, read and the host's probes"
    );
    let denied = denials(&run);
    assert_eq!(denied.len(), 1, "{}", run.stderr);
    assert!(
        denied[0].contains("only while the connector verifies a credential"),
        "{denied:?}"
    );
}

#[test]
fn setup_passes_only_when_the_host_saw_every_write_probe_refused_and_every_read_answered() {
    // A read-only key as Stripe answers it: reads answered, every write refused with 403 and Stripe's
    // error object.
    let upstream = Upstream::start(Behaviour::ReadOnlyKey).expect("upstream");
    // The hostile verify sends one of the five probes and one of the five reads, and reports all five
    // refused and all five readable: the eight it never sent prove nothing, so setup fails, naming them.
    let run = hostile(&upstream, &["--format", "json", "setup"], &test_key());
    assert_eq!(run.code, 1, "{run:?}");
    let error = &run.json()["error"];
    assert_eq!(error["kind"], "sandbox", "{run:?}");
    let message = error["message"].as_str().expect("a message");
    assert!(message.starts_with("setup cannot pass: the host saw no refusal of the write probe DELETE /v1/subscriptions/{id} (never answered"), "{message}");
    for unproven in [
        "no refusal of the write probe DELETE /v1/invoices/{id}",
        "no refusal of the write probe POST /v1/charges/{id}/capture",
        "no refusal of the write probe POST /v1/payouts/{id}/cancel",
        "no successful read of GET /v1/subscriptions (never answered",
        "no successful read of GET /v1/invoices",
        "no successful read of GET /v1/charges",
        "no successful read of GET /v1/payouts",
    ] {
        assert!(message.contains(unproven), "{unproven}: {message}");
    }
    for proven in [
        "DELETE /v1/customers/{id}",
        "GET /v1/customers ",
        "_klairr_probe_host",
    ] {
        assert!(
            !message.contains(proven),
            "the one sent was answered, and the host's own were refused: {message}"
        );
    }
    let log = upstream.requests();
    assert_eq!(log.len(), 17, "{log:?}");
    assert_eq!(after(&log, 2), host_probes(), "the host's own probes");

    // Every read refused (a key without Read): the component reports every table readable, the host
    // says what Stripe said.
    let upstream = Upstream::start(Behaviour::StripeError {
        status: 403,
        message: "The provided key does not have the required permissions".into(),
    })
    .expect("upstream");
    let run = hostile(&upstream, &["--format", "json", "setup"], &test_key());
    assert_refused(
        &run,
        "missing-permission",
        "this credential lacks Read permission on customers. In the Stripe Dashboard",
    );
}

/// The Stripe manifest with its first read naming the hostile component's one table and the others
/// naming none, so that a setup whose probes were all answered can pass.
fn outcomes_manifest_text() -> String {
    let mut text = klairr_host::policy::manifest::STRIPE_TOML.replacen(
        "reads = \"customers\"",
        "reads = \"outcomes\"",
        1,
    );
    for table in ["subscriptions", "invoices", "charges", "payouts"] {
        text = text.replacen(&format!("reads = \"{table}\"\n"), "", 1);
    }
    text
}

/// A setup whose every probe the host saw answered as a read-only key's is reported in the mode of the
/// credential the host accepted, not the mode the component names: a live key is never shown as a test
/// one (nor a test key as live) by a component's word.
#[test]
fn setup_reports_the_credentials_mode_whatever_the_component_says() {
    let upstream = Upstream::start(Behaviour::ReadOnlyKey).expect("upstream");
    let text = outcomes_manifest_text();
    let manifest = Manifest::parse(&text, "outcomes.toml", None).expect("a valid manifest");
    let sandbox = hostile_sandbox_under(&upstream, manifest);
    // An 86-character live key (tests/hostile-guest's `PROBES_THEN_LIES`): the component accepts it,
    // probes as an honest check does, and reports test mode.
    let key: String = live_key().chars().take(86).collect();
    let mut conn = sandbox
        .open(&ConnectionConfig::new(key, wit::Mode::Live))
        .expect("the component accepts this key");
    let report = conn.verify().expect("every probe was answered");
    assert_eq!(report.mode, wit::Mode::Live, "the component said test");
    let log = upstream.requests();
    assert_eq!(
        log.len(),
        25,
        "five probes, five reads, the host's fifteen: {log:?}"
    );
    assert_eq!(after(&log, 10), host_probes());
}

/// A write probe the host sends itself is the host's alone: a component sending its request is
/// refused, so no answer of the component's (to a request whose allowed headers it chose, or left in
/// flight past its verification) is judged as the host's (review: the component's request went out
/// under the host's rule and counted for it).
#[test]
fn a_component_cannot_send_the_hosts_own_probes() {
    let upstream = Upstream::start(Behaviour::ReadOnlyKey).expect("upstream");
    // The manifest above, with a host probe on the very path the honest check's first write takes,
    // before the component's rule for it.
    let text = outcomes_manifest_text();
    let hosts = "[[requests]]\nmethod = \"DELETE\"\npath = \"/v1/customers/cus_klairr_probe_hostile\"\n\
                 during = \"verify\"\nprobe = { resource = \"customer_deletions\", refused = [403], sent_by = \"host\" }\n\n";
    let first_delete = "[[requests]]\nmethod = \"DELETE\"";
    assert!(text.contains(first_delete));
    let text = text.replacen(first_delete, &format!("{hosts}{first_delete}"), 1);
    let manifest = Manifest::parse(&text, "outcomes.toml", None).expect("a valid manifest");
    let sandbox = hostile_sandbox_under(&upstream, manifest);
    let key: String = live_key().chars().take(86).collect();
    let mut conn = sandbox
        .open(&ConnectionConfig::new(key, wit::Mode::Live))
        .expect("the component accepts this key");
    let _ = conn.verify();
    let sent: Vec<(String, String)> = upstream
        .requests()
        .iter()
        .map(|r| (r.method.clone(), r.path().to_owned()))
        .collect();
    let twice = (
        "DELETE".to_owned(),
        "/v1/customers/cus_klairr_probe_hostile".to_owned(),
    );
    let times = sent.iter().filter(|s| **s == twice).count();
    assert_eq!(times, 1, "only the host's own: {sent:?}");
}

/// A component's own word that a key can write where Klairr never reads (a query's, or a setup's the
/// host found nothing in) is told as the host's verdict is: set it to None, not Read.
#[test]
fn a_component_naming_a_resource_klairr_never_reads_is_told_to_set_it_to_none() {
    let upstream = Upstream::start(Behaviour::Ok).expect("upstream");
    let query = script(&[
        json!({"error": {"kind": "over-permissioned", "resources": ["customers", "refunds"]}}),
    ]);
    let run = hostile(
        &upstream,
        &["--format", "json", "query", &query],
        &test_key(),
    );
    assert_refused(
        &run,
        "over-permissioned",
        "this credential can write to customers and refunds",
    );
    let message = run.json()["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        message.contains("set Customers to Read, Refunds to None"),
        "{message}"
    );
}

// ---- 2. odd requests ----------------------------------------------------------------------------------

#[test]
fn odd_methods_paths_queries_origins_and_headers_are_denied_before_a_byte_leaves() {
    let upstream = Upstream::start(Behaviour::Ok).expect("upstream");
    let own = upstream.addr().to_string();
    let key = test_key();
    // (step, what the host's log line for it says)
    let cases: Vec<(Value, &str)> = vec![
        (
            http("/v1/customers", json!({"method": "get"})),
            "method `get` is not allowed",
        ),
        (
            http("/v1/customers", json!({"method": "GeT"})),
            "method `GeT` is not allowed",
        ),
        (
            http("/v1/customers", json!({"method": "FETCH"})),
            "method `FETCH` is not allowed",
        ),
        (http("/v1/../v1/customers", json!({})), "'..' segment"),
        (http("//v1/customers", json!({})), "empty segment"),
        (
            http("/v1/customers/%2e%2e/payouts", json!({})),
            "no percent-encoding",
        ),
        (http("/v1%2Fcustomers", json!({})), "no percent-encoding"),
        (http("/v1\\customers", json!({})), "backslash"),
        (
            http("/v1/customers?expand[]=data.customer", json!({})),
            "`expand[]` is not allowed",
        ),
        (
            http("/v1/customers?expand%5B%5D=data.customer", json!({})),
            "`expand[]` is not allowed",
        ),
        (
            http("/v1/customers?limit=1&email=a@b.c", json!({})),
            "`email` is not allowed",
        ),
        (
            http("/v1/customers?limit=1&limit=2", json!({})),
            "given twice",
        ),
        (
            http("/", json!({"authority": "evil.example"})),
            "https://evil.example:443 is not allowed",
        ),
        (
            http("/v1/customers", json!({"scheme": "http"})),
            "http://api.stripe.com:80 is not allowed",
        ),
        (
            http("/v1/customers", json!({"authority": "api.stripe.com:8443"})),
            "https://api.stripe.com:8443 is not allowed",
        ),
        (
            http("/v1/customers", json!({"scheme": "http", "authority": own})),
            "is not allowed for this connector",
        ),
        (
            http(
                "/v1/customers",
                json!({"headers": [["stripe-version", "2020-08-27"]]}),
            ),
            "pinned",
        ),
        (
            http(
                "/v1/customers",
                json!({"headers": [["x-forwarded-host", "evil.example"]]}),
            ),
            "`x-forwarded-host` is not allowed",
        ),
        (
            http(
                "/v1/customers?limit=1",
                json!({"headers": [["content-length", "5"]], "body": "hello"}),
            ),
            "takes no request body",
        ),
    ];
    let steps: Vec<Value> = cases.iter().map(|(step, _)| step.clone()).collect();
    let run = hostile(&upstream, &["query", &script(&steps)], &key);
    assert_untouched(&upstream, "odd requests");
    assert_eq!(run.code, 0, "{run:?}");
    let denied = denials(&run);
    assert_eq!(
        denied.len(),
        cases.len(),
        "one denial per request: {}",
        run.stderr
    );
    for ((step, why), line) in cases.iter().zip(&denied) {
        assert!(line.contains(why), "{step}: {line:?} should say {why:?}");
    }
}

#[test]
fn refused_stripe_headers_never_reach_the_upstream() {
    let upstream = Upstream::start(Behaviour::Ok).expect("upstream");
    let key = test_key();
    let steps = [
        http(
            "/v1/customers?limit=1",
            json!({"headers": [["stripe-account", "acct_1Attacker"]]}),
        ),
        http(
            "/v1/customers?limit=1",
            json!({"headers": [["Stripe-Context", "ctx_attacker"]]}),
        ),
    ];
    let run = hostile(&upstream, &["query", &script(&steps)], &key);
    assert_eq!(run.code, 0, "{run:?}");
    // The host's forbidden-header filter refuses the header when the guest sets it; whatever request is
    // then sent carries only what the rules allow.
    for request in upstream.requests() {
        for name in ["stripe-account", "stripe-context"] {
            assert_eq!(request.header(name), None, "{name} arrived: {request:?}");
        }
        let mut names: Vec<&str> = request.headers.iter().map(|(n, _)| n.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, ["authorization", "host", "stripe-version"]);
        assert_eq!(request.header("stripe-version"), Some("2026-04-22.dahlia"));
        assert_key_only_in_authorization(&request, &key);
    }
}

// ---- 3. the credential --------------------------------------------------------------------------------

#[test]
fn a_guest_cannot_bring_its_own_authorization() {
    let upstream = Upstream::start(Behaviour::Ok).expect("upstream");
    let key = test_key();
    // Short enough to be a value of a query (a whole key is refused before any guest runs).
    let attacker: String = made_up_key("rk_test_", 666).chars().take(40).collect();
    let steps = [
        http(
            "/v1/customers?limit=1",
            json!({"headers": [
                ["authorization", format!("Bearer {attacker}")],
                ["proxy-authorization", format!("Bearer {attacker}")],
            ]}),
        ),
        http(
            "/v1/invoices?limit=1",
            json!({"headers": [["Authorization", format!("Bearer {attacker}")]]}),
        ),
    ];
    let run = hostile(&upstream, &["query", &script(&steps)], &key);
    assert_eq!(run.code, 0, "{run:?}");
    let log = upstream.requests();
    assert!(!log.is_empty(), "the allowed GETs went out");
    for request in &log {
        assert_key_only_in_authorization(request, &key);
        assert_eq!(request.header("proxy-authorization"), None, "{request:?}");
        let everything = format!(
            "{} {:?} {}",
            request.target,
            request.headers,
            String::from_utf8_lossy(&request.body)
        );
        assert_no_key(&attacker, &everything, "the attacker's key");
    }
}

#[test]
fn a_key_in_the_query_text_is_never_sent_in_a_url_or_a_header() {
    let upstream = Upstream::start(Behaviour::Ok).expect("upstream");
    let key = test_key();
    // The user pasted the key into the question; the guest copies it into requests.
    let encoded: String = key.bytes().map(|b| format!("%{b:02X}")).collect();
    let cases = [
        http(&format!("/v1/customers?starting_after={key}"), json!({})),
        http(
            &format!("/v1/customers?starting_after={encoded}"),
            json!({}),
        ),
        http(
            &format!("/v1/customers?starting_after=cus_{}", &key[30..42]),
            json!({}),
        ),
        http(
            "/v1/customers?limit=1",
            json!({"headers": [["accept", key.clone()]]}),
        ),
        http(
            "/v1/customers?limit=1",
            json!({"headers": [["user-agent", format!("x/{}", &key[50..70])]]}),
        ),
    ];
    // The query holds the key (whole, or percent-encoded): refused before the guest runs, so nothing
    // of it can go out in a URL or a header, and the refusal does not quote it.
    let queries = [script(&cases), script(&cases[1..2]), script(&cases[3..4])];
    for (format, query) in ["table", "json"]
        .into_iter()
        .flat_map(|f| queries.iter().map(move |q| (f, q)))
    {
        let run = hostile(&upstream, &["--format", format, "query", query], &key);
        assert_untouched(&upstream, "requests carrying the key");
        assert_eq!(run.code, 2, "{run:?}");
        let shown = format!("{}{}", run.stdout, run.stderr);
        assert!(shown.contains("invalid-query"), "{shown}");
        assert_no_key(&key, &shown, "the refusal");
        assert!(
            denials(&run).is_empty(),
            "nothing was even tried: {}",
            run.stderr
        );
    }
}

/// A component that makes up a guess at a run of the credential and puts it in a request learns
/// nothing from what happens to it: the host does not look for the credential in what a component
/// sends, so a right guess goes out, or is refused, exactly as a wrong one. QA rebuilt a whole key in
/// under ten seconds when a right guess was refused ("denied", twelve characters at a time), and again
/// when it was left unanswered and its call stopped (through the shared cache and budget). The guess
/// here is the key's own run, sent reversed in the query (so it is not the caller's text) and turned
/// round by the component.
#[test]
fn a_component_guessing_at_the_credential_is_answered_as_for_any_other_text() {
    let key = test_key();
    let run = &key[30..42];
    let outcome_of = |piece: &str, path: &str| {
        let upstream = Upstream::start(Behaviour::Ok).expect("upstream");
        let guess: String = format!("{path}{piece}").chars().rev().collect();
        let query = script(&[
            http(&guess, json!({"reverse": true})),
            http("/v1/customers?limit=1", json!({})),
        ]);
        let run = hostile(&upstream, &["--format", "json", "query", &query], &key);
        let targets: Vec<String> = upstream
            .requests()
            .iter()
            .map(|r| r.target.replace(piece, "GUESS"))
            .collect();
        (
            run.code,
            run.stdout
                .replace(piece, "GUESS")
                .replace(&piece.chars().rev().collect::<String>(), "GUESS"),
            denials(&run).len(),
            targets,
        )
    };
    for path in ["/v1/customers?starting_after=", "/v1/nope?x="] {
        let right = outcome_of(run, path);
        let wrong = outcome_of("Zz9Zz9Zz9Zz9", path);
        assert_eq!(right, wrong, "{path}");
        assert_eq!(right.0, 0, "{right:?}");
    }
}

#[test]
fn secret_keys_are_refused_before_any_request_whatever_the_guest_says() {
    let upstream = Upstream::start(Behaviour::Ok).expect("upstream");
    for (key, mode) in [
        (made_up_key("sk_test_", 3), "test"),
        (made_up_key("sk_live_", 4), "live"),
    ] {
        for format in ["json", "table"] {
            let run = hostile(
                &upstream,
                &["--mode", mode, "--format", format, "setup"],
                &key,
            );
            assert_eq!(run.code, 2, "{run:?}");
            if format == "json" {
                assert_eq!(json_error(&run).0, "secret-key-rejected");
            } else {
                assert!(
                    run.stderr.starts_with("error (secret-key-rejected): "),
                    "{}",
                    run.stderr
                );
            }
            assert_no_key(&key, &format!("{}{}", run.stdout, run.stderr), "output");
        }
    }
    assert_untouched(&upstream, "secret keys");
}

#[test]
fn keys_the_host_does_not_accept_are_refused_though_the_guest_says_ok() {
    let upstream = Upstream::start(Behaviour::Ok).expect("upstream");
    let cases = [
        // (key, mode, kind, what the message says)
        (
            made_up_key("pk_test_", 5),
            "test",
            "invalid-key",
            "publishable key",
        ),
        (
            made_up_key("junk_", 6),
            "test",
            "invalid-key",
            "does not look like a key",
        ),
        (
            "rk_test_short".to_owned(),
            "test",
            "invalid-key",
            "looks truncated",
        ),
        (
            format!("{}-{}", test_key(), "x"),
            "test",
            "invalid-key",
            "characters no valid key has",
        ),
        (live_key(), "test", "mode-mismatch", "live-mode key"),
    ];
    for (key, mode, kind, says) in &cases {
        let run = hostile(
            &upstream,
            &["--mode", mode, "--format", "json", "setup"],
            key,
        );
        assert_eq!(run.code, 2, "{key}: {run:?}");
        let (got, message) = json_error(&run);
        assert_eq!(&got, kind, "{key}: {message}");
        assert!(message.contains(says), "{key}: {message}");
        assert_no_key(key, &run.stdout, "stdout");
    }
    assert_untouched(&upstream, "keys the host refuses");
}

#[test]
fn the_offline_credential_check_cannot_send_print_or_return_the_key() {
    let upstream = Upstream::start(Behaviour::Ok).expect("upstream");
    // Live: the hostile check tries to send the key (in a URL of an allowed origin, and to evil.example),
    // prints it, and returns an error quoting it.
    let key = live_key();
    for format in ["table", "json"] {
        let run = hostile(
            &upstream,
            &["--mode", "live", "--format", format, "setup"],
            &key,
        );
        assert_eq!(run.code, 2, "{run:?}");
        let shown = format!("{}{}", run.stdout, run.stderr);
        assert!(shown.contains("invalid-key"), "{shown}");
        // What the check held and quoted was the key's form — its prefix, then x, X and 0 — not the key.
        let form = klairr_host::policy::credential::form(&key);
        assert!(
            form.starts_with("rk_live_") && shown.contains(&form),
            "the check was given the form: {shown}"
        );
        assert_no_key(&key, &shown, "the check's error");
        let reversed: String = key.chars().rev().collect();
        assert_no_key(&reversed, &shown, "the check's error, reversed");
    }
    assert_untouched(&upstream, "the offline credential check");

    // Test: the check accepts; setup goes on, and still the only requests out are the allowed probe
    // (which this upstream answers 200: the host's verdict is over-permissioned), a read and the
    // host's own probes.
    let key = test_key();
    let run = hostile(&upstream, &["setup"], &key);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("error (over-permissioned)"), "{run:?}");
    assert_no_key(&key, &format!("{}{}", run.stdout, run.stderr), "output");
    let log = upstream.requests();
    assert_eq!(log.len(), 17, "{log:?}");
    assert_eq!(log[0].path(), "/v1/customers/cus_klairr_probe_never_exists");
    assert_eq!(log[1].path(), "/v1/customers");
    assert_eq!(after(&log, 2), host_probes(), "then the host's own probes");
    for request in &log {
        assert_key_only_in_authorization(request, &key);
    }
}

// ---- 4. budget and ceiling ----------------------------------------------------------------------------

#[test]
fn a_flood_waits_for_the_budget_instead_of_failing() {
    let upstream = Upstream::start(Behaviour::Ok).expect("upstream");
    let key = test_key();
    let manifest = Manifest::stripe();
    let budget = manifest
        .budget
        .per_endpoint
        .min(manifest.budget.per_credential_test) as usize;
    // Room for the whole flood under the request ceiling: it is the budget, not the ceiling, that acts.
    let max_rows = 1000;
    assert!(manifest.calls.query_ceiling(max_rows) >= 150);

    let flood = script(&[json!({"flood": {"count": 150, "path": "/v1/customers?limit=1"}})]);
    let started = Instant::now();
    let run = hostile(
        &upstream,
        &[
            "--max-rows",
            &max_rows.to_string(),
            "--format",
            "json",
            "query",
            &flood,
        ],
        &key,
    );
    let elapsed = started.elapsed();
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["requests"], 150, "the host sent every one");
    let log = upstream.requests();
    assert_eq!(
        log.len(),
        150,
        "all of them eventually reached the upstream"
    );
    assert!(log
        .iter()
        .all(|r| r.method == "GET" && r.target == "/v1/customers?limit=1"));
    let arrivals: Vec<Instant> = log.iter().map(|r| r.arrived).collect();
    let max = max_in_window(&arrivals, Duration::from_secs(1));
    eprintln!(
        "flood of 150: at most {max} requests arrived in any 1-second window (budget {budget}/s); {elapsed:?} in all"
    );
    assert!(
        max <= budget,
        "{max} requests in one second, budget {budget}"
    );
    // 150 starts at `budget` per second cannot take less than (150 - budget) / budget seconds.
    assert!(
        elapsed >= Duration::from_secs(((150 - budget) / budget) as u64),
        "{elapsed:?}"
    );
}

#[test]
fn responses_held_open_are_bounded_and_later_requests_wait_for_them() {
    let upstream = Upstream::start(Behaviour::Ok).expect("upstream");
    let manifest = Manifest::stripe();
    let open = manifest.network.max_in_flight * OPEN_RESPONSES_PER_IN_FLIGHT;
    // A component that keeps every response it gets, its body unread (each holds a connection), and
    // waits for more: the requests past the bound wait for a body to finish, which never happens here,
    // until the call's deadline.
    let flood = script(&[
        json!({"flood": {"count": open + 8, "path": "/v1/customers?limit=1", "hold": true}}),
    ]);
    let run = hostile(
        &upstream,
        &["--call-timeout", "3", "--format", "json", "query", &flood],
        &test_key(),
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(json_error(&run).0, "deadline", "{run:?}");
    assert_eq!(
        upstream.requests().len(),
        open,
        "only {open} responses may be open at once"
    );
    // Dropping each response as it comes frees its slot: the same flood goes through.
    let flood = script(&[json!({"flood": {"count": open + 8, "path": "/v1/customers?limit=1"}})]);
    let run = hostile(
        &upstream,
        &["--call-timeout", "10", "query", &flood],
        &test_key(),
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(upstream.requests().len(), 2 * open + 8);
}

/// A request is in flight from its start until its answer's head arrives, whatever the component does
/// with its future meanwhile: one that drops each batch of requests once they are sent, and starts the
/// next, must not have more than the manifest's in-flight limit at the upstream. The upstream here never
/// answers, so no head ever arrives and no slot is ever given back.
#[test]
fn dropping_requests_once_sent_does_not_free_their_in_flight_slots() {
    let upstream = Upstream::start(Behaviour::AcceptThenSilence).expect("upstream");
    let max_in_flight = Manifest::stripe().network.max_in_flight;
    let churn = script(&[json!({"churn": {"count": 48, "batch": 8, "wait_ms": 200}})]);
    let run = hostile(
        &upstream,
        &[
            "--max-rows",
            "1000",
            "--call-timeout",
            "20",
            "--format",
            "json",
            "query",
            &churn,
        ],
        &test_key(),
    );
    assert_eq!(run.code, 0, "{run:?}");
    // Anything still on its way has arrived by now.
    std::thread::sleep(Duration::from_millis(300));
    let reached = upstream.requests().len();
    eprintln!("{reached} requests reached an upstream that answered none");
    assert!(reached >= 1, "the first batch went out: {run:?}");
    assert!(
        reached <= max_in_flight,
        "{reached} requests in flight at the upstream at once, none answered: the limit is {max_in_flight}"
    );
}

#[test]
fn a_flood_past_the_request_ceiling_is_stopped_with_its_own_error() {
    let upstream = Upstream::start(Behaviour::Ok).expect("upstream");
    let key = test_key();
    let ceiling = Manifest::stripe().calls.query_ceiling(10);
    assert!(ceiling < 100, "the flood exceeds the ceiling ({ceiling})");
    // After its flood the component ignores the refusals and waits forever: the ceiling, not the
    // call's deadline (a minute here), ends the call, at once (QA: it ran on to its deadline, then said
    // "it was stopped").
    let flood = script(&[
        json!({"flood": {"count": 100, "path": "/v1/customers?limit=1"}}),
        json!({"sleep_ns": u64::MAX}),
    ]);
    let started = Instant::now();
    let run = hostile(
        &upstream,
        &[
            "--max-rows",
            "10",
            "--call-timeout",
            "60",
            "--format",
            "json",
            "query",
            &flood,
        ],
        &key,
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "stopped at the ceiling, not at the deadline: {:?}",
        started.elapsed()
    );
    assert_eq!(run.code, 1, "{run:?}");
    let (kind, message) = json_error(&run);
    assert_eq!(kind, "sandbox");
    assert!(
        message.contains(&format!("more than {ceiling} requests")),
        "{message}"
    );
    let sent = upstream.requests().len();
    assert!(
        sent as u32 <= ceiling,
        "{sent} requests reached the upstream, ceiling {ceiling}"
    );
    // What it asked for after the first refusal is refused unlogged: one line says why it stopped.
    assert_eq!(
        run.stderr.matches("is reached").count(),
        1,
        "{}",
        run.stderr
    );
    // Stopped at once, the call takes along its admitted requests still waiting for the budget: this
    // flood asks for all of them before any can leave, so none reaches the upstream.
}

// ---- 5. deadlines (the guest waits or spins; upstream waits are in hostile_upstreams.rs) -------------

/// Run `steps` with `--call-timeout 2`: the call ends with a sandbox error naming the deadline, soon.
fn assert_stopped_at_the_deadline(steps: &[Value]) {
    let upstream = Upstream::start(Behaviour::Ok).expect("upstream");
    assert_ends_at_the_deadline(2, &script(steps), |args| {
        hostile(&upstream, args, &test_key())
    });
}

#[test]
fn sleeping_forever_in_a_host_clock_ends_at_the_call_deadline() {
    assert_stopped_at_the_deadline(&[json!({"sleep_ns": u64::MAX})]);
}

#[test]
fn spinning_ends_at_the_call_deadline() {
    assert_stopped_at_the_deadline(&[json!({"spin": true})]);
}

#[test]
fn opening_a_connection_keeps_to_one_call_deadline_however_many_calls_it_makes() {
    // The hostile component waits 700 ms in `check-credential` for an 85-character credential and
    // 700 ms in `open` for a max-rows of 85 (tests/hostile-guest's `SLOW_OPENING`): each within a
    // 1 s deadline, both together past it. Before, each of the opening's calls had a deadline of its
    // own, and a component slow in each held a setup for several `--call-timeout`s.
    let upstream = Upstream::start(Behaviour::Ok).expect("upstream");
    let slow_key: String = test_key().chars().take(85).collect();
    let slow = |max_rows: &str, key: &str| {
        let started = Instant::now();
        let run = hostile(
            &upstream,
            &[
                "--call-timeout",
                "1",
                "--max-rows",
                max_rows,
                "--format",
                "json",
                "query",
                "[]",
            ],
            key,
        );
        (run, started.elapsed())
    };
    let (run, elapsed) = slow("85", &slow_key);
    assert_eq!(run.code, 1, "{run:?}");
    let (kind, message) = json_error(&run);
    assert_eq!(kind, "deadline", "{message}");
    assert!(elapsed < Duration::from_secs(5), "ended after {elapsed:?}");
    // One slow call alone fits in the deadline: the connection opens and answers.
    let (run, _) = slow("85", &test_key());
    assert_eq!(run.code, 0, "{run:?}");
    let (run, _) = slow("84", &slow_key);
    assert_eq!(run.code, 0, "{run:?}");
}

#[test]
fn an_openings_first_describe_keeps_to_the_openings_deadline() {
    // A component whose `describe` waits 700 ms (its marker patched to `slowdesc`) and whose
    // `check-credential` waits 700 ms for an 85-character credential: each within a 1 s deadline, both
    // together past it. The sandbox's first opening runs `describe` too; before, that `describe` had a
    // deadline of its own and the opening's began after it (review: nearly two `--call-timeout`s).
    let upstream = Upstream::start(Behaviour::Ok).expect("upstream");
    let slow_key: String = test_key().chars().take(85).collect();
    let options = || SandboxOptions {
        limits: klairr_host::sandbox::SandboxLimits {
            call_timeout: Duration::from_secs(1),
            ..klairr_host::sandbox::SandboxLimits::default()
        },
        ..SandboxOptions::default()
    };
    let sandbox = patched_describe_sandbox(&upstream, b"slowdesc", options());
    let started = Instant::now();
    match sandbox.open(&ConnectionConfig::new(slow_key.clone(), wit::Mode::Test)) {
        Err(SandboxError::Deadline { .. }) => {}
        Ok(_) => panic!("opened after {:?}", started.elapsed()),
        Err(e) => panic!("{e:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // Either alone fits: a fresh sandbox with the slow `describe` opens for another key, and, once
    // described, the first sandbox opens for the slow key.
    let sandbox = patched_describe_sandbox(&upstream, b"slowdesc", options());
    sandbox
        .open(&ConnectionConfig::new(test_key(), wit::Mode::Test))
        .expect("a slow describe alone fits");
    sandbox
        .open(&ConnectionConfig::new(slow_key, wit::Mode::Test))
        .expect("a slow check alone fits, describe done");
}

// ---- 6. resource exhaustion ---------------------------------------------------------------------------

/// One trap, through the CLI (exit 1, a JSON `sandbox` error naming `says`) and through the library: the
/// trapping connection is discarded, while another connection of the same sandbox, opened before, and
/// a fresh one opened after, still work.
fn assert_trap_is_contained(step: Value, says: &str) {
    let upstream = Upstream::start(Behaviour::Ok).expect("upstream");
    let key = test_key();
    let attack = script(&[step]);
    let run = hostile(&upstream, &["--format", "json", "query", &attack], &key);
    assert_eq!(run.code, 1, "{run:?}");
    let (kind, message) = json_error(&run);
    assert_eq!(kind, "sandbox", "{message}");
    assert!(
        message.to_lowercase().contains(&says.to_lowercase()),
        "{message:?} should say {says:?}"
    );

    let sandbox = hostile_sandbox(&upstream);
    let config = ConnectionConfig::new(key.clone(), wit::Mode::Test);
    let mut victim = sandbox.open(&config).expect("open");
    let mut bystander = sandbox.open(&config).expect("open");
    match victim.query(&attack) {
        Err(SandboxError::Trap(m)) => {
            assert!(m.to_lowercase().contains(&says.to_lowercase()), "{m}")
        }
        other => panic!("expected a trap, got {other:?}"),
    }
    assert!(
        matches!(victim.query("[]"), Err(SandboxError::Discarded)),
        "the trapped instance is discarded"
    );
    let get = script(&[http("/v1/customers?limit=1", json!({}))]);
    let result = bystander.query(&get).expect("the other connection works");
    assert_eq!(result.requests, 1);
    let mut fresh = sandbox.open(&config).expect("a new connection opens");
    assert_eq!(fresh.query(&get).expect("and works").requests, 1);
    assert_eq!(
        upstream.requests().len(),
        2,
        "the survivors' requests arrived"
    );
}

#[test]
fn allocating_300_mib_is_a_sandbox_error() {
    assert_trap_is_contained(json!({"alloc_mib": 300}), "memory limit");
}

#[test]
fn a_panic_is_a_sandbox_error() {
    assert_trap_is_contained(json!({"panic": "hostile panic"}), "unreachable");
}

#[test]
fn a_stack_overflow_is_a_sandbox_error() {
    assert_trap_is_contained(json!({"stack_overflow": true}), "wasm trap");
}

#[test]
fn an_output_flood_is_a_sandbox_error() {
    // 100 MiB to stdout and as much to stderr, 16 KiB at a time (a query text stays under the 64 KiB a
    // canonical query may have), written in 4 KiB chunks by the guest.
    let chunk = "x ".repeat(8 << 10);
    assert_trap_is_contained(
        json!({"print": {"text": chunk, "times": 6400}}),
        "output limit",
    );
}

/// The test binary's allocator, counting what each thread holds: a sandbox loaded on its own runs its
/// calls, their host functions included, on the calling thread (`Callers::One`), so what a call leaves
/// allocated is that thread's count, whatever tests run beside it. A store's linear memories are mapped
/// by wasmtime, not allocated here: the count is what the host keeps outside the store's memory limit.
struct CountingAllocator;

std::thread_local! {
    static HELD_BY_THIS_THREAD: std::cell::Cell<i64> = const { std::cell::Cell::new(0) };
}

fn count(delta: i64) {
    let _ = HELD_BY_THIS_THREAD.try_with(|held| held.set(held.get() + delta));
}

// SAFETY: every call is passed to the system allocator unchanged; only a counter is kept beside it.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            count(layout.size() as i64);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            count(layout.size() as i64);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        unsafe { System.dealloc(ptr, layout) };
        count(-(layout.size() as i64));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new) };
        if !p.is_null() {
            count(new as i64 - layout.size() as i64);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

fn held_by_this_thread() -> i64 {
    HELD_BY_THIS_THREAD.with(std::cell::Cell::get)
}

/// A `hoard` step (requests never sent, kept past the call: see tests/hostile-guest) may not make the
/// host hold more than its handle limit times what each part may hold: what wasi:http keeps of a request lives in the host, outside the
/// store's memory limit, for as long as the guest holds it. Measured around the call, the connection
/// (and its hoard) still open.
fn assert_hoard_is_bounded(step: Value) {
    let upstream = Upstream::start(Behaviour::Ok).expect("upstream");
    let sandbox = hostile_sandbox(&upstream);
    let mut conn = sandbox
        .open(&ConnectionConfig::new(test_key(), wit::Mode::Test))
        .expect("open");
    let before = held_by_this_thread();
    let outcome = conn.query(&script(&[step]));
    let grown = held_by_this_thread().saturating_sub(before).max(0) as u64;
    assert!(
        !matches!(outcome, Err(SandboxError::Connector(_))),
        "the hoard ran (a trap or an answer): {outcome:?}"
    );
    let bound: u64 = 96 << 20;
    assert!(
        grown < bound,
        "the host holds {} MiB more for one connection's unsent requests ({:?})",
        grown >> 20,
        outcome.map(|r| r.rows)
    );
    assert!(upstream.requests().is_empty(), "nothing was sent");
    drop(conn);
}

#[test]
fn unsent_requests_with_huge_authorities_do_not_hold_host_memory() {
    // 24 requests given a 32 MiB authority each: 768 MiB in the host, from 32 MiB of guest memory (a
    // host call may carry 64 MiB).
    assert_hoard_is_bounded(json!({"hoard": {"count": 24, "authority_mib": 32}}));
}

#[test]
fn unsent_requests_with_huge_methods_do_not_hold_host_memory() {
    assert_hoard_is_bounded(json!({"hoard": {"count": 24, "method_mib": 32}}));
}

#[test]
fn unsent_request_bodies_do_not_hold_host_memory() {
    // 400 requests whose bodies are written as far as the host lets them and never sent: 2 MiB each
    // with wasmtime's default buffering (800 MiB), from 1 MiB of guest memory.
    assert_hoard_is_bounded(json!({"hoard": {"count": 400, "body_kib": 2048}}));
}

#[test]
fn unsent_requests_with_full_headers_do_not_hold_host_memory() {
    // 4,000 requests (the guest may hold 10,000 handles) with 120 KiB of headers each, under wasmtime's
    // default limit of a fields resource (128 KiB as it counts them): ~470 MiB in the host.
    assert_hoard_is_bounded(json!({"hoard": {"count": 4000, "fields_kib": 120}}));
}

#[test]
fn unsent_requests_with_long_paths_do_not_hold_host_memory() {
    // 9,000 requests with a 63 KiB path each (the http crate's most): ~550 MiB in the host.
    assert_hoard_is_bounded(json!({"hoard": {"count": 9000, "path_kib": 63}}));
}

#[test]
fn unsent_requests_with_every_part_at_its_cap_do_not_hold_host_memory() {
    // What each part may still hold, on as many requests as the guest may keep: 12 KiB of headers,
    // a 16 KiB path and a body written as far as the host buffers it. 9,000 of them were ~300 MiB.
    assert_hoard_is_bounded(json!({
        "hoard": {"count": 9000, "fields_kib": 12, "path_kib": 16, "body_kib": 8}
    }));
}

#[test]
fn unsent_requests_with_many_tiny_headers_do_not_hold_host_memory() {
    // Every part at its cap again, the headers as 200 empty ones with short names (~15 KiB as wasmtime
    // counts a fields' size, `FIELD_SIZE_LIMIT` being 16 KiB): each header costs the host a `HeaderMap`
    // bucket and its index, ~2.5 times what the limit counts for it.
    assert_hoard_is_bounded(json!({
        "hoard": {"count": 1990, "tiny_fields": 200, "path_kib": 16, "body_kib": 8}
    }));
    // As many as a fields may hold: bounded too.
    assert_hoard_is_bounded(json!({
        "hoard": {"count": 1990, "tiny_fields": 64, "path_kib": 16, "body_kib": 8}
    }));
}

#[test]
fn a_fields_given_more_than_64_entries_is_a_sandbox_error() {
    assert_trap_is_contained(json!({"hoard": {"tiny_fields": 65}}), "header limit");
}

/// File descriptors this process has open.
fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, Iterator::count)
}

#[test]
fn responses_kept_by_many_connections_do_not_take_every_file_descriptor() {
    // `serve` keeps up to 64 connections open. In each, the component keeps every response it gets,
    // unread, past the call: 32 per connection (`OPEN_RESPONSES_PER_IN_FLIGHT` times the manifest's 8 in
    // flight), each holding its upstream connection, 2,048 sockets in all: twice the 1,024 descriptors
    // a process is given by default (systemd, most shells), which `serve` also needs for its clients,
    // its memory file and its compile cache. The budget is raised so that only this is measured. The
    // upstream drips its bodies, as a keep-alive one (Stripe) keeps each connection open: this one
    // closes every connection once it has answered.
    let upstream = Upstream::start(Behaviour::Drip {
        every: Duration::from_millis(500),
    })
    .expect("upstream");
    let mut manifest = Manifest::stripe();
    manifest.budget.per_endpoint = 100_000;
    manifest.budget.per_credential_test = 100_000;
    let per_connection = manifest.network.max_in_flight * OPEN_RESPONSES_PER_IN_FLIGHT;
    let bytes = std::fs::read(hostile_component()).expect("the hostile component is built");
    let sandbox = Sandbox::load(
        &bytes,
        manifest,
        SandboxOptions {
            redirect: Some(LoopbackBase::parse(&upstream.base_url()).expect("a loopback base")),
            limits: klairr_host::sandbox::SandboxLimits {
                call_timeout: Duration::from_secs(5),
                ..Default::default()
            },
            ..SandboxOptions::default()
        },
    )
    .expect("loads");
    let config = ConnectionConfig::new(test_key(), wit::Mode::Test);
    let before = open_descriptors();
    let keep = script(&[json!({"flood": {"count": per_connection, "keep": true}})]);
    let mut connections: Vec<_> = (0..64)
        .map(|_| sandbox.open(&config).expect("open"))
        .collect();
    std::thread::scope(|s| {
        for connection in &mut connections {
            let keep = &keep;
            // Those that find no slot wait for one until their deadline: an error either way.
            s.spawn(move || {
                let _ = connection.query(keep);
            });
        }
    });
    let held = open_descriptors().saturating_sub(before);
    let kept = upstream.requests().len();
    drop(connections);
    // Two descriptors a held response: the host's socket and the test upstream's (in this process).
    assert!(
        held / 2 < 512,
        "64 connections keeping their responses hold {} upstream sockets ({kept} requests answered)",
        held / 2
    );
}

/// The hostile component with its `describe` marker patched (tests/hostile-guest: `DESCRIBE_MARKER`,
/// `DESCRIBE_MULTIPLIED`), so that its catalogue names one column as a bucketed group column 100,000
/// times, with 100,000 buckets.
fn multiplied_catalogue_sandbox(upstream: &Upstream) -> Sandbox {
    patched_describe_sandbox(upstream, b"multiply", SandboxOptions::default())
}

/// The hostile component with the mode of its `describe` marker patched to `mode`, under Stripe's
/// manifest, its requests delivered to `upstream`.
fn patched_describe_sandbox(
    upstream: &Upstream,
    mode: &[u8; 8],
    options: SandboxOptions,
) -> Sandbox {
    let marker: &[u8] = b"klairr-hostile-describe:honest!!";
    let mut bytes = std::fs::read(hostile_component()).expect("the hostile component is built");
    let at: Vec<usize> = bytes
        .windows(marker.len())
        .enumerate()
        .filter(|(_, w)| *w == marker)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(at.len(), 1, "the marker is in the component once");
    bytes[at[0] + marker.len() - 8..at[0] + marker.len()].copy_from_slice(mode);
    Sandbox::load(
        &bytes,
        Manifest::stripe(),
        SandboxOptions {
            redirect: Some(LoopbackBase::parse(&upstream.base_url()).expect("a loopback base")),
            ..options
        },
    )
    .expect("the patched component loads")
}

#[test]
fn a_catalogue_multiplying_buckets_does_not_hold_the_host() {
    // 100,000 bucket-by entries (all the one column) times 100,000 buckets: ~5 MiB handed back, and
    // 10^10 `column_bucket` names made one by one on the host's thread once the call had returned
    // (hours of CPU, no deadline); with distinct buckets and 512 columns, tens of millions of names kept.
    let upstream = Upstream::start(Behaviour::Ok).expect("upstream");
    let sandbox = multiplied_catalogue_sandbox(&upstream);
    let (done, finished) = std::sync::mpsc::channel();
    let started = Instant::now();
    std::thread::spawn(move || {
        // What `serve` asks at load, and every opening: the catalogue's names.
        let _ = done.send(("names", sandbox.check_reads()));
        let _ = done.send(("describe", sandbox.describe().map(|_| ())));
    });
    for step in ["names", "describe"] {
        let (what, outcome) = finished
            .recv_timeout(Duration::from_secs(30).saturating_sub(started.elapsed()))
            .unwrap_or_else(|_| {
                panic!("{step} is not done {:?} after the start", started.elapsed())
            });
        assert!(
            matches!(outcome, Err(SandboxError::Malformed(_))),
            "{what}: a catalogue repeating a bucketed column 100,000 times is refused: {outcome:?}"
        );
    }
}

/// `klairr-host --component <wat> --format json describe`.
fn describe_wat(component: &str) -> CliRun {
    run_cli(
        &["--component", component, "--format", "json", "describe"],
        None,
    )
}

#[test]
fn growing_a_table_to_a_billion_elements_is_a_sandbox_error() {
    let run = describe_wat(wat_table_grow_component());
    assert_eq!(run.code, 1, "{run:?}");
    let (kind, message) = json_error(&run);
    assert_eq!(kind, "sandbox");
    assert!(message.contains("table limit"), "{message}");
}

#[test]
fn four_memories_of_100_mib_are_a_sandbox_error() {
    let run = describe_wat(wat_many_memories_component());
    assert_eq!(run.code, 1, "{run:?}");
    let (kind, message) = json_error(&run);
    assert_eq!(kind, "sandbox");
    assert!(message.contains("memory limit"), "{message}");
    assert!(message.contains("256 MiB"), "{message}");
}

// ---- 7. what comes back -------------------------------------------------------------------------------

/// A `return` step: one text column `note`, these rows, and the rest of `extra`. The script writes
/// `notes` and `note` as names (object keys, which `return` ignores), as a query writes a measure's
/// name: the host accepts a table or column named so, where a value would be refused.
fn returning(rows: Value, extra: Value) -> Value {
    let mut result = json!({
        "table": "notes",
        "columns": [{"name": "note", "kind": "text", "nullable": true}],
        "rows": rows,
        "names": {"notes": null, "note": null},
    });
    if let (Some(result), Value::Object(extra)) = (result.as_object_mut(), extra) {
        result.extend(extra);
    }
    json!({ "return": result })
}

#[test]
fn a_cache_ttl_past_the_ceiling_is_clamped() {
    let upstream = Upstream::start(Behaviour::Ok).expect("upstream");
    let ceiling = Manifest::stripe().calls.cache_ttl_ceiling_seconds;
    let forever = script(&[returning(
        json!([["a"]]),
        json!({"cache_ttl_seconds": u32::MAX}),
    )]);
    let run = hostile(
        &upstream,
        &["--format", "json", "query", &forever],
        &test_key(),
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["cache_ttl_seconds"], ceiling);
    // The user's lower setting wins over both.
    let run = hostile(
        &upstream,
        &["--cache-ttl", "60", "--format", "json", "query", &forever],
        &test_key(),
    );
    assert_eq!(run.json()["cache_ttl_seconds"], 60, "{run:?}");
}

#[test]
fn checking_a_huge_result_for_the_credential_keeps_to_the_call_deadline() {
    // Text a terminal would partly hide (escape sequences, zero-width characters, a BEL, an escaped
    // byte) is read for the credential in some twenty views of it, as a reader could see it: in a
    // release build ~150 ms a MiB, several times that here. The component returns 60 MiB of it in
    // 240 cells of 256 KiB, inside the hostcall fuel and the cell cap; reading it all would keep the
    // host busy long past the call's deadline, after the component had returned. The deadline covers
    // the checks of what a call returns too: the call ends there, as any other call that overruns.
    let unit = "\u{1b}[1ma\u{200b}\\x41\u{7}b";
    let grow = (256 << 10) / unit.len();
    let huge = script(&[returning(
        json!([[unit]]),
        json!({"grow": grow, "repeat": 240}),
    )]);
    let upstream = Upstream::start(Behaviour::Ok).expect("upstream");
    assert_ends_at_the_deadline(2, &huge, |args| {
        let mut all = vec!["--max-rows", "1000"];
        all.extend_from_slice(args);
        hostile(&upstream, &all, &test_key())
    });
}

#[test]
fn a_result_past_what_one_call_may_carry_says_so_and_what_to_ask_instead() {
    // 280 cells of 256 KiB: 70 MiB handed to the host in one call, past the 64 MiB a call may carry
    // (each cell inside the 1 MiB cap, the rows inside max-rows). The user is told which limit and
    // what to ask instead, not only wasmtime's words.
    let huge = script(&[returning(
        json!([["a"]]),
        json!({"grow": 256 << 10, "repeat": 280}),
    )]);
    let upstream = Upstream::start(Behaviour::Ok).expect("upstream");
    let run = hostile(
        &upstream,
        &["--max-rows", "1000", "--format", "json", "query", &huge],
        &test_key(),
    );
    assert_eq!(run.code, 1, "{run:?}");
    let json = run.json();
    assert_eq!(json["error"]["kind"], "sandbox", "{run:?}");
    let message = json["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("more than the 64 MiB one call may carry")
            && message.ends_with("ask for fewer rows (a smaller limit or --max-rows)"),
        "{message}"
    );
}

/// Every string anywhere in `value`.
fn strings(value: &Value) -> Vec<&str> {
    match value {
        Value::String(s) => vec![s],
        Value::Array(items) => items.iter().flat_map(strings).collect(),
        Value::Object(map) => map.values().flat_map(strings).collect(),
        _ => Vec::new(),
    }
}

fn is_identifier(s: &str) -> bool {
    let b = s.as_bytes();
    matches!(b.first(), Some(b'a'..=b'z'))
        && b.len() <= 64
        && b[1..]
            .iter()
            .all(|c| matches!(c, b'a'..=b'z' | b'0'..=b'9' | b'_'))
}

#[test]
fn memory_keeps_only_identifiers_and_counts_from_a_made_up_shape() {
    let upstream = Upstream::start(Behaviour::Ok).expect("upstream");
    let key = test_key();
    let dir = temp_dir("hostile-memory");
    let memory = dir.join("memory.jsonl");
    let memory_arg = memory.to_str().expect("utf-8 path");
    let leak = format!("email=someone@example.com {}", &key[..36]);
    let attack = script(&[returning(
        json!([["a"], ["b"]]),
        json!({"table": "outcomes", "names": {"notes": null, "note": null, "step": null}, "shape": {
            "table": leak,
            "columns": [{"name": leak, "kind": "text"}],
            "row_count": 123_456_789,
            "filter_keys": ["created", leak, "Customer Name", "x_".repeat(33), "step", "step", "step"],
        }}),
    )]);
    let run = hostile(
        &upstream,
        &[
            "--memory-file",
            memory_arg,
            "--format",
            "json",
            "query",
            &attack,
        ],
        &key,
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_no_key(&key, &run.stdout, "stdout");
    let text = std::fs::read_to_string(&memory).expect("the memory file was written");
    assert_no_key(&key, &text, "the memory file");
    assert!(!text.contains("someone@example.com"), "{text}");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(lines.len(), 1, "{text}");
    for s in strings(&lines[0]) {
        assert!(is_identifier(s), "{s:?} is not an identifier in {text}");
    }
    // What is left is the host's own view of the result.
    let record = &lines[0];
    assert_eq!(record["table"], "outcomes");
    assert_eq!(record["row_count"], 2);
    // `step` is the table's filter in the catalogue, written in the query as a name (an object key),
    // kept once however often the component repeats it; `created` is written in the query as a value.
    assert_eq!(record["filter_keys"], json!(["step"]));
    assert_eq!(record["columns"], json!([{"name": "note", "type": "text"}]));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A value of the source dressed up as a name — what an upstream sent, returned as the table, a column
/// or a filter key — is neither in the catalogue (described before any data) nor a name the query
/// wrote: the host refuses such a result, or drops such a key, and memory never holds it. Also when
/// the query holds the same value as a value (a customer's email in a filter, say): only the query's
/// object keys are names.
#[test]
fn a_value_from_upstream_dressed_as_a_name_never_reaches_memory() {
    let upstream = Upstream::start(Behaviour::Json {
        status: 200,
        body: "vera_haddad32_example_net".into(),
    })
    .expect("upstream");
    let key = test_key();
    let dir = temp_dir("hostile-memory-names");
    let memory = dir.join("memory.jsonl");
    let memory_arg = memory.to_str().expect("utf-8 path");
    let fetch = json!({"http": {"path": "/v1/customers?limit=1"}});
    // The same value, written by the caller as a value.
    let as_value = json!({"print": {"text": "vera_haddad32_example_net", "times": 1}});
    let outcome = json!([{"name": "outcome", "kind": "text"}]);
    let run_script = |returned: Value| {
        hostile(
            &upstream,
            &[
                "--memory-file",
                memory_arg,
                "--format",
                "json",
                "query",
                &script(&[
                    fetch.clone(),
                    as_value.clone(),
                    json!({ "return": returned }),
                ]),
            ],
            &key,
        )
    };
    for returned in [
        json!({"table": "$upstream", "columns": outcome, "rows": [["a"]]}),
        json!({"columns": [{"name": "$upstream", "kind": "text"}], "rows": [["a"]]}),
    ] {
        let run = run_script(returned.clone());
        assert_eq!(run.code, 1, "{returned}: {run:?}");
        let (kind, message) = json_error(&run);
        assert_eq!(kind, "sandbox", "{message}");
        assert!(message.contains("written in the query"), "{message}");
    }
    let run = run_script(
        json!({"columns": outcome, "rows": [["a"]], "names": {"step": null},
        "shape": {"filter_keys": ["step", "$upstream"]}}),
    );
    assert_eq!(run.code, 0, "{run:?}");
    let text = std::fs::read_to_string(&memory).expect("the memory file was written");
    assert!(!text.contains("vera_haddad32"), "{text}");
    let record: Value = serde_json::from_str(text.trim()).expect("one record");
    assert_eq!(record["table"], "outcomes");
    assert_eq!(
        record["filter_keys"],
        json!(["step"]),
        "the catalogue's filter kept"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A name that is no identifier is quoted in the refusal, escaped so that a reader sees what it holds;
/// a key an upstream cut with invisible characters in it is redacted before the escaping turns them
/// into plain ASCII (`\u{200b}`), where the redaction of the finished message could not see it.
#[test]
fn a_refused_name_never_quotes_a_key_cut_by_invisible_characters() {
    let key = test_key();
    for separator in ["\u{200b}", "\u{7}", "\t", "\u{a0}", "\u{1b}[0m", "\u{1b}7"] {
        let cut: String = key[8..]
            .chars()
            .map(|c| format!("{c}{separator}"))
            .collect();
        let upstream = Upstream::start(Behaviour::Json {
            status: 200,
            body: cut,
        })
        .expect("upstream");
        let fetch = json!({"http": {"path": "/v1/customers?limit=1"}});
        let outcome = json!([{"name": "outcome", "kind": "text"}]);
        for returned in [
            json!({"table": "$upstream", "columns": outcome, "rows": []}),
            json!({"columns": [{"name": "$upstream", "kind": "text"}], "rows": []}),
        ] {
            for format in ["json", "table"] {
                let run = hostile(
                    &upstream,
                    &[
                        "--format",
                        format,
                        "query",
                        &script(&[fetch.clone(), json!({ "return": returned })]),
                    ],
                    &key,
                );
                assert_eq!(run.code, 1, "{separator:?} {returned}: {run:?}");
                let shown = format!("{}{}", run.stdout, run.stderr);
                assert!(shown.contains("is not an identifier"), "{shown}");
                assert!(shown.contains("[redacted]"), "{shown}");
                assert_no_key(&key, &shown, "a refused name");
            }
        }
    }
}

#[test]
fn a_query_holding_the_key_never_reaches_the_guest_and_its_pieces_are_the_callers() {
    let upstream = Upstream::start(Behaviour::Ok).expect("upstream");
    let key = test_key();
    // A script (the query text) holding the whole key, for the guest to echo back in rows, a note and
    // errors: refused before the guest runs, the key quoted nowhere.
    let rows = script(&[returning(
        json!([[key], [format!("tail {}", &key[60..])]]),
        json!({"scan_note": format!("note {key}")}),
    )]);
    let errors = [
        json!({"error": {"kind": "upstream", "message": format!("boom {key}"), "code": key,
                         "request_id": format!("req_{}", &key[8..30]), "status": 500}}),
        json!({"error": {"kind": "over-permissioned", "resources": ["customers", &key[40..]]}}),
    ];
    for format in ["table", "json"] {
        for query in std::iter::once(rows.clone())
            .chain(errors.iter().map(|e| script(std::slice::from_ref(e))))
        {
            let run = hostile(&upstream, &["--format", format, "query", &query], &key);
            assert_eq!(run.code, 2, "{run:?}");
            let shown = format!("{}{}", run.stdout, run.stderr);
            assert!(shown.contains("invalid-query"), "{shown}");
            assert_no_key(&key, &shown, "the refusal");
        }
    }
    assert_untouched(&upstream, "a query holding the key");
    // Pieces of the key short enough to be values are the caller's own text: echoed as written, like
    // any other text — redacting them only when they match would tell the caller its guess was right.
    let piece = &key[20..40];
    let run = hostile(
        &upstream,
        &[
            "--format",
            "json",
            "query",
            &script(&[returning(json!([[piece]]), json!({}))]),
        ],
        &key,
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains(piece), "{}", run.stdout);
}

#[test]
fn escape_sequences_from_the_guest_never_reach_the_terminal() {
    let upstream = Upstream::start(Behaviour::Ok).expect("upstream");
    let key = test_key();
    let cell_and_note = script(&[returning(
        json!([[format!("cell {ESCAPES} end")]]),
        json!({"scan_note": format!("note {ESCAPES} end")}),
    )]);
    let error = script(&[
        json!({"error": {"kind": "upstream", "message": format!("error {ESCAPES} end")}}),
    ]);

    // JSON carries the text (escaped): the injection really is in the output path.
    let run = hostile(
        &upstream,
        &["--format", "json", "query", &cell_and_note],
        &key,
    );
    assert!(
        run.stdout.contains(r"\u001b]0;pwned\u0007"),
        "{}",
        run.stdout
    );

    // (arguments, the visible text around the sequences that must be printed)
    let cases: [(Vec<&str>, &[&str]); 3] = [
        (
            vec!["query", &cell_and_note],
            &["cell red c1", "note red c1"],
        ),
        (vec!["query", &error], &["error red c1"]),
        // The hostile catalogue's docs carry escapes too.
        (vec!["describe"], &["One row per script step."]),
    ];
    for (args, visible) in cases {
        let run = hostile(&upstream, &args, &key);
        let shown = format!("{}{}", run.stdout, run.stderr);
        for text in visible {
            assert!(shown.contains(text), "{text:?} was printed: {shown}");
        }
        assert!(
            !has_terminal_control(&shown),
            "{args:?}: a terminal control was printed: {shown:?}"
        );
    }
}

/// A `return` that breaks the contract in one way: a `sandbox` error saying "malformed".
fn assert_malformed(result: Value, max_rows: &str, says: &str) {
    let upstream = Upstream::start(Behaviour::Ok).expect("upstream");
    let run = hostile(
        &upstream,
        &[
            "--max-rows",
            max_rows,
            "--format",
            "json",
            "query",
            &script(&[json!({ "return": result })]),
        ],
        &test_key(),
    );
    assert_eq!(run.code, 1, "{run:?}");
    let (kind, message) = json_error(&run);
    assert_eq!(kind, "sandbox", "{message}");
    assert!(message.contains("malformed"), "{message}");
    assert!(message.contains(says), "{message:?} should say {says:?}");
}

/// `t`, `id` and `name` written as names (see [`returning`]).
fn names_of_t() -> Value {
    json!({"t": null, "id": null, "name": null})
}

fn two_columns() -> Value {
    json!([
        {"name": "id", "kind": "id", "nullable": false},
        {"name": "name", "kind": "text", "nullable": true},
    ])
}

#[test]
fn a_row_with_the_wrong_number_of_cells_is_malformed() {
    assert_malformed(
        json!({"table": "t", "names": names_of_t(), "columns": two_columns(), "rows": [["cus_1", "a"], ["cus_2"]]}),
        "100",
        "row 1 has 1 cells for 2 columns",
    );
}

#[test]
fn an_integer_in_a_text_column_is_malformed() {
    assert_malformed(
        json!({"table": "t", "names": names_of_t(), "columns": two_columns(), "rows": [["cus_1", 42]]}),
        "100",
        "an integer in a text column",
    );
}

#[test]
fn null_in_a_non_nullable_column_is_malformed() {
    assert_malformed(
        json!({"table": "t", "names": names_of_t(), "columns": two_columns(), "rows": [[null, "a"]]}),
        "100",
        "null in a non-nullable id column",
    );
}

#[test]
fn more_rows_than_max_rows_is_malformed() {
    let rows: Vec<Value> = (0..6).map(|i| json!([format!("cus_{i}"), null])).collect();
    assert_malformed(
        json!({"table": "t", "names": names_of_t(), "columns": two_columns(), "rows": rows}),
        "5",
        "6 rows, more than the 5",
    );
}

// ---- 8. redirects (the guest follows a Location itself) ------------------------------------------------

#[test]
fn the_guest_cannot_follow_a_redirect_to_another_origin() {
    let elsewhere = Upstream::start(Behaviour::Ok).expect("second upstream");
    let upstream = Upstream::start(Behaviour::Redirect {
        to: format!("{}/v1/customers", elsewhere.base_url()),
    })
    .expect("upstream");
    let key = test_key();
    let steps = [
        // The allowed request, answered with the redirect…
        http("/v1/customers?limit=1", json!({})),
        // …and the guest trying the Location itself.
        http(
            "/v1/customers",
            json!({"scheme": "http", "authority": elsewhere.addr().to_string()}),
        ),
    ];
    let run = hostile(&upstream, &["query", &script(&steps)], &key);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(upstream.requests().len(), 1, "the allowed request");
    assert_untouched(&elsewhere, "the redirect's target");
    let denied = denials(&run);
    assert_eq!(denied.len(), 1, "{}", run.stderr);
    assert!(
        denied[0].contains("is not allowed for this connector"),
        "{denied:?}"
    );
}

/// A setup that fails at the component's own credential check still logs what the component tried
/// there (review: failing the check hid its attempts), before the error.
#[test]
fn a_setup_failing_at_the_credential_check_logs_what_it_tried() {
    let upstream = Upstream::start(Behaviour::Ok).expect("upstream");
    // The hostile component refuses a live key in its own check, after trying its two requests.
    let run = hostile(&upstream, &["--mode", "live", "setup"], &live_key());
    assert_untouched(&upstream, "a setup refused at the credential's check");
    assert_eq!(run.code, 2, "{run:?}");
    let denied = all_denials(&run);
    assert_eq!(denied.len(), 2, "{}", run.stderr);
    assert!(
        denied
            .iter()
            .all(|l| l.starts_with(CREDENTIAL_CHECK_DENIAL)),
        "{denied:?}"
    );
    let error = run.stderr.find("error (invalid-key)").expect("the error");
    assert!(
        run.stderr.rfind(CREDENTIAL_CHECK_DENIAL) < Some(error),
        "{}",
        run.stderr
    );
}

/// The CLI logs refused requests as `serve` does: named by connector, the first 64 one by one and the
/// rest as a count — none vanish without a trace.
#[test]
fn every_refused_request_is_in_the_log_one_by_one_or_counted() {
    let upstream = Upstream::start(Behaviour::Ok).expect("upstream");
    let flood = script(&[json!({"flood": {"count": 100, "path": "/v1/products?limit=1"}})]);
    let run = hostile(&upstream, &["query", &flood], &test_key());
    assert_untouched(&upstream, "a refused flood");
    // The credential's check's two refusals, then 62 of the flood's one by one, then the rest.
    let denied = all_denials(&run);
    assert_eq!(denied.len(), 65, "{}", run.stderr);
    assert!(
        denied[..2]
            .iter()
            .all(|l| l.starts_with(CREDENTIAL_CHECK_DENIAL)),
        "{denied:?}"
    );
    assert!(
        denied[2..64].iter().all(|l| l
            .starts_with("klairr-host: denied (stripe) GET https://api.stripe.com/v1/products")),
        "{denied:?}"
    );
    assert!(
        denied[64].contains("38 more requests, not logged one by one"),
        "{}",
        denied[64]
    );
}

// ---- 9. the contract version --------------------------------------------------------------------------

/// A component exporting the connector interface of contract 0.1.0 (an empty instance is enough for the
/// name the host checks).
const CONTRACT_0_1_0: &str = r#"(component
    (instance $connector)
    (export "klairr:connector/connector@0.1.0" (instance $connector))
)"#;

#[test]
fn a_component_of_another_contract_version_is_refused_at_load() {
    match Sandbox::load(
        CONTRACT_0_1_0.as_bytes(),
        Manifest::stripe(),
        SandboxOptions::default(),
    ) {
        Err(SandboxError::ContractVersion { found, expected }) => {
            assert_eq!(found, "klairr:connector@0.1.0");
            assert_eq!(expected, "klairr:connector@0.2.0");
        }
        Err(other) => panic!("expected ContractVersion, got {other:?}"),
        Ok(_) => panic!("a 0.1.0 component loaded"),
    }

    let dir = temp_dir("contract-0-1-0");
    let path = dir.join("old-connector.wat");
    std::fs::write(&path, CONTRACT_0_1_0).expect("write the component");
    for format in ["json", "table"] {
        let run = run_cli(
            &[
                "--component",
                path.to_str().expect("utf-8 path"),
                "--format",
                format,
                "describe",
            ],
            None,
        );
        assert_eq!(run.code, 1, "{run:?}");
        let shown = format!("{}{}", run.stdout, run.stderr);
        assert!(shown.contains("klairr:connector@0.1.0"), "{shown}");
        assert!(shown.contains("connector-config"), "{shown}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
