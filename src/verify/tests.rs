use super::*;
use crate::key::ApiKey;
use crate::retry::RetryPolicy;
use crate::testing::{FakeClock, Replies, Serve};
use crate::transport::TransportError;
use alloc::collections::BTreeSet;
use core::time::Duration;

const TEST_KEY: &str = "rk_test_51AbCdEfGhIjKlMnOpQrStUvWxYz0123";
const LIVE_KEY: &str = "rk_live_51AbCdEfGhIjKlMnOpQrStUvWxYz4567";

/// A fake Stripe account as seen through one restricted key.
struct Account {
    read: BTreeSet<Table>,
    write: BTreeSet<Table>,
    /// `livemode` of the objects Stripe returns.
    livemode: bool,
    /// Whether Stripe knows the key at all.
    known: bool,
    /// Paths answered with this status forever (a storm), with these headers.
    storm: Option<(&'static str, u16)>,
    /// Every request, as `METHOD path`.
    requests: Vec<String>,
    /// What the retrier slept, copied from the clock after a run.
    sleeps: Vec<Duration>,
    next_id: u32,
}

impl Account {
    fn read_only() -> Self {
        Account {
            read: Table::ALL.into_iter().collect(),
            write: BTreeSet::new(),
            livemode: false,
            known: true,
            storm: None,
            requests: Vec::new(),
            sleeps: Vec::new(),
            next_id: 0,
        }
    }

    fn table_of(path: &str) -> Option<Table> {
        let rest = path.strip_prefix("/v1/")?;
        let name = rest.split(['/', '?']).next()?;
        Table::from_name(name)
    }

    fn answer(&mut self, status: u16, body: String) -> Result<Response, TransportError> {
        self.next_id += 1;
        Ok(Response {
            status,
            request_id: Some(format!("req_{:04}", self.next_id)),
            body: body.into_bytes(),
            ..Default::default()
        })
    }
}

fn forbidden_body(perm: &str) -> String {
    // Stripe's real wording: it quotes a masked key, which must never be passed on.
    format!(
        r#"{{"error":{{"type":"invalid_request_error","message":"The provided key 'rk_test_********************0123' does not have the required permissions for this endpoint on account 'acct_1'. Having the '{perm}' permission would allow this request to continue."}}}}"#
    )
}

/// An [`Account`] whose answers `tamper` may rewrite: for the odd replies a real account never gives.
struct Tampered<F: FnMut(&Request, &mut Response)>(Account, F);

impl<F: FnMut(&Request, &mut Response)> Serve for Tampered<F> {
    fn serve(&mut self, r: &Request) -> Result<Response, TransportError> {
        let mut resp = self.0.serve(r)?;
        (self.1)(r, &mut resp);
        Ok(resp)
    }
}

impl Serve for Account {
    fn serve(&mut self, request: &Request) -> Result<Response, TransportError> {
        let path = request.path_and_query.clone();
        self.requests
            .push(format!("{} {}", request.method.as_str(), path));
        if let Some((prefix, status)) = self.storm {
            if path.starts_with(prefix) {
                let body = if status == 429 {
                    r#"{"error":{"type":"invalid_request_error","code":"rate_limit","message":"Testmode request rate limit exceeded."}}"#
                } else {
                    r#"{"error":{"type":"api_error","message":"An unknown error occurred"}}"#
                };
                return self.answer(status, body.to_owned());
            }
        }
        if !self.known {
            return self.answer(
                401,
                r#"{"error":{"type":"invalid_request_error","message":"Invalid API Key provided: rk_test_****0123"}}"#.to_owned(),
            );
        }
        let Some(table) = Account::table_of(&path) else {
            return self.answer(404, r#"{"error":{"type":"invalid_request_error","message":"Unrecognized request URL"}}"#.to_owned());
        };
        let singular = &table.name()[..table.name().len() - 1];
        match request.method {
            Method::Get => {
                if !self.read.contains(&table) && !self.write.contains(&table) {
                    return self.answer(403, forbidden_body(&format!("rak_{singular}_read")));
                }
                let body = format!(
                    r#"{{"object":"list","url":"{}","has_more":true,"data":[{{"id":"x_1","object":"{singular}","livemode":{}}}]}}"#,
                    table.list_path(),
                    self.livemode
                );
                self.answer(200, body)
            }
            Method::Delete | Method::Post => {
                if !self.write.contains(&table) {
                    return self.answer(403, forbidden_body(&format!("rak_{singular}_write")));
                }
                let id = path.rsplit('/').find(|s| s.contains('_')).unwrap_or("?");
                let body = format!(
                    r#"{{"error":{{"type":"invalid_request_error","code":"resource_missing","param":"id","message":"No such {singular}: '{id}'"}}}}"#
                );
                self.answer(404, body)
            }
        }
    }
}

/// Run setup's probes against `serve` with a fake clock; gives `serve` back, and what was slept.
fn verify_with<S: Serve>(
    serve: S,
    key: &KeyHint,
) -> (Result<VerifyReport, ConnectorError>, S, Vec<Duration>) {
    let mut http = Replies::new(serve);
    let mut clock = FakeClock::new();
    clock.random = u64::MAX / 3;
    let mut retrier = Retrier::new(RetryPolicy::default());
    let result = verify(&mut http, &mut clock, key, &mut retrier);
    (result, http.serve, clock.sleeps)
}

fn verify_account(account: &mut Account, key: &KeyHint) -> Result<VerifyReport, ConnectorError> {
    let (result, back, sleeps) =
        verify_with(core::mem::replace(account, Account::read_only()), key);
    *account = back;
    account.sleeps = sleeps;
    result
}

/// What the host hands a connection for `raw_key`: the mode and the key's redacted form.
fn hint(raw_key: &str, mode: Mode) -> KeyHint {
    let key = ApiKey::parse(raw_key, mode).expect("valid key");
    KeyHint::new(mode, &key.redacted())
}

fn run(account: &mut Account, raw_key: &str, mode: Mode) -> Result<VerifyReport, ConnectorError> {
    let key = hint(raw_key, mode);
    let result = verify_account(account, &key);
    // Whatever happened, the key never shows.
    let shown = format!("{result:?}");
    assert!(!shown.contains(raw_key), "{shown}");
    if let Err(e) = &result {
        assert!(!e.to_string().contains(raw_key), "{e}");
        // Stripe's masked-key messages are not passed on either.
        assert!(!e.to_string().contains("****"), "{e}");
    }
    result
}

fn names(tables: &[Table]) -> Vec<String> {
    tables.iter().map(|t| t.name().to_owned()).collect()
}

#[test]
fn read_only_test_key_is_accepted() {
    let mut account = Account::read_only();
    let report = run(&mut account, TEST_KEY, Mode::Test).expect("accepted");
    assert_eq!(report.mode, Mode::Test);
    assert_eq!(report.readable, Table::ALL.to_vec());
    assert_eq!(
        report.write_probes_refused,
        vec![
            "DELETE /v1/customers/{id}",
            "DELETE /v1/subscriptions/{id}",
            "DELETE /v1/invoices/{id}",
            "POST /v1/charges/{id}/capture",
            "POST /v1/payouts/{id}/cancel",
        ]
    );
    assert_eq!(report.requests, 10);
    assert_eq!(account.requests.len(), 10);
    assert_eq!(account.requests[0], "GET /v1/customers?limit=1");
    assert_eq!(
        account.requests[5],
        "DELETE /v1/customers/cus_klairr_probe_never_exists"
    );
    assert!(account.sleeps.is_empty());
}

#[test]
fn probes_go_out_together_after_the_customers_read() {
    // Customers alone, then the other four reads at once, then the five writes at once: three
    // round trips instead of ten, the same requests in the same order.
    let mut http = Replies::new(Account::read_only());
    let mut clock = FakeClock::new();
    let mut retrier = Retrier::new(RetryPolicy::default());
    let key = hint(TEST_KEY, Mode::Test);
    verify(&mut http, &mut clock, &key, &mut retrier).expect("accepted");
    assert_eq!(http.most_outstanding, 5);
    let expected: Vec<String> = Table::ALL
        .iter()
        .map(|t| format!("GET {}?limit=1", t.list_path()))
        .chain(
            WRITE_PROBES
                .iter()
                .map(|p| format!("{} {}", p.method.as_str(), p.path())),
        )
        .collect();
    assert_eq!(http.serve.requests, expected);
}

#[test]
fn read_only_live_key_in_live_mode_is_accepted() {
    let mut account = Account::read_only();
    account.livemode = true;
    let report = run(&mut account, LIVE_KEY, Mode::Live).expect("accepted");
    assert_eq!(report.mode, Mode::Live);
    assert_eq!(report.readable.len(), 5);
    assert_eq!(report.write_probes_refused.len(), 5);
    assert_eq!(report.requests, 10);
}

#[test]
fn missing_reads_are_reported_together() {
    let mut account = Account::read_only();
    account.read.remove(&Table::Invoices);
    account.read.remove(&Table::Payouts);
    let err = run(&mut account, TEST_KEY, Mode::Test).expect_err("missing");
    assert_eq!(
        err,
        ConnectorError::MissingPermission(names(&[Table::Invoices, Table::Payouts]))
    );
    // All five reads were tried, and the five writes too (refused: the key is told only of its Reads).
    assert_eq!(account.requests.len(), 10);
    assert_eq!(
        account
            .requests
            .iter()
            .filter(|r| r.starts_with("GET "))
            .count(),
        5
    );
}

#[test]
fn a_key_that_can_write_and_lacks_a_read_is_told_of_its_writes_in_the_same_run() {
    let mut account = Account::read_only();
    account.read.remove(&Table::Payouts);
    account.write.insert(Table::Customers);
    let err = run(&mut account, TEST_KEY, Mode::Test).expect_err("both faults");
    // The writes first: the key must be replaced or edited whatever else it lacks (the host names the
    // missing Reads beside them, from the answers it saw).
    assert_eq!(
        err,
        ConnectorError::OverPermissioned(names(&[Table::Customers]))
    );
    assert_eq!(account.requests.len(), 10);
}

#[test]
fn a_missing_read_is_told_before_a_write_probe_that_proved_nothing() {
    let mut account = Account::read_only();
    account.read.remove(&Table::Invoices);
    account.storm = Some(("/v1/payouts/po_klairr_probe_never_exists/cancel", 500));
    let err = run(&mut account, TEST_KEY, Mode::Test).expect_err("missing");
    assert_eq!(
        err,
        ConnectorError::MissingPermission(names(&[Table::Invoices]))
    );
}

#[test]
fn missing_read_on_customers_is_included() {
    let mut account = Account::read_only();
    account.read.remove(&Table::Customers);
    account.read.remove(&Table::Charges);
    let err = run(&mut account, TEST_KEY, Mode::Test).expect_err("missing");
    assert_eq!(
        err,
        ConnectorError::MissingPermission(names(&[Table::Customers, Table::Charges]))
    );
}

#[test]
fn write_on_customers_is_over_permissioned() {
    let mut account = Account::read_only();
    account.write.insert(Table::Customers);
    let err = run(&mut account, TEST_KEY, Mode::Test).expect_err("writes");
    assert_eq!(
        err,
        ConnectorError::OverPermissioned(names(&[Table::Customers]))
    );
    assert_eq!(err.kind(), "over-permissioned");
    assert_eq!(
        account.requests.len(),
        10,
        "every probe runs so all writes are named"
    );
}

#[test]
fn write_on_invoices_only_is_over_permissioned() {
    let mut account = Account::read_only();
    account.write.insert(Table::Invoices);
    let err = run(&mut account, TEST_KEY, Mode::Test).expect_err("writes");
    assert_eq!(
        err,
        ConnectorError::OverPermissioned(names(&[Table::Invoices]))
    );
}

#[test]
fn a_secret_key_like_account_names_every_writable_resource() {
    let mut account = Account::read_only();
    account.write = Table::ALL.into_iter().collect();
    let err = run(&mut account, TEST_KEY, Mode::Test).expect_err("writes");
    assert_eq!(err, ConnectorError::OverPermissioned(names(&Table::ALL)));
}

#[test]
fn successful_write_is_over_permissioned() {
    // A 2xx to a write probe (whatever the reason) means the key can write.
    let yes = |r: &Request, resp: &mut Response| {
        if r.method == Method::Post {
            resp.status = 200;
            resp.body = br#"{"id":"po_1","object":"payout","livemode":false}"#.to_vec();
        }
    };
    let key = hint(TEST_KEY, Mode::Test);
    let t = Tampered(Account::read_only(), yes);
    let err = verify_with(t, &key).0.expect_err("writes");
    assert_eq!(
        err,
        ConnectorError::OverPermissioned(names(&[Table::Charges, Table::Payouts]))
    );
}

#[test]
fn unknown_key_is_invalid() {
    let mut account = Account::read_only();
    account.known = false;
    let err = run(&mut account, TEST_KEY, Mode::Test).expect_err("401");
    assert_eq!(err.kind(), "invalid-key");
    let msg = err.to_string();
    assert!(
        msg.starts_with("Stripe did not accept the key rk_test_…0123 (HTTP 401, request req_0001)"),
        "{msg}"
    );
    assert!(msg.contains("Create restricted key"), "{msg}");
    assert_eq!(account.requests.len(), 1);

    // Without a usable hint from the host, the message still says what to do.
    let mut account = Account::read_only();
    account.known = false;
    let key = KeyHint::new(Mode::Test, TEST_KEY);
    let err = verify_account(&mut account, &key).expect_err("401");
    let msg = err.to_string();
    assert!(
        msg.starts_with("Stripe did not accept this key (HTTP 401"),
        "{msg}"
    );
    assert!(!msg.contains(&TEST_KEY[8..20]), "{msg}");
}

#[test]
fn livemode_contradiction_is_a_mode_mismatch() {
    let mut account = Account::read_only();
    account.livemode = true;
    let err = run(&mut account, TEST_KEY, Mode::Test).expect_err("mismatch");
    assert_eq!(err.kind(), "mode-mismatch");
    assert!(err.to_string().contains("live-mode customers"), "{err}");
    assert_eq!(account.requests.len(), 1);

    let mut account = Account::read_only();
    account.livemode = false;
    let err = run(&mut account, LIVE_KEY, Mode::Live).expect_err("mismatch");
    assert_eq!(err.kind(), "mode-mismatch");
}

#[test]
fn an_unreadable_list_fails_closed() {
    let garbage = |r: &Request, resp: &mut Response| {
        if r.path_and_query.starts_with("/v1/charges?") {
            resp.body = br#"{"object":"list","data":[{"id":"ch_1"}]}"#.to_vec();
        }
    };
    let key = hint(TEST_KEY, Mode::Test);
    let t = Tampered(Account::read_only(), garbage);
    let err = verify_with(t, &key).0.expect_err("fails closed");
    assert_eq!(err.kind(), "upstream");
    assert!(
        err.to_string()
            .starts_with("Stripe error: verification failed: GET /v1/charges?limit=1"),
        "{err}"
    );
    // A 200 quotes no "Stripe said": there is no error in it to quote.
    assert!(!err.to_string().contains("Stripe said"), "{err}");
}

#[test]
fn storms_during_verification_are_never_accepted() {
    for (prefix, status) in [
        ("/v1/customers?", 500),
        ("/v1/payouts?", 429),
        ("/v1/invoices/", 503),
        ("/v1/charges/", 429),
        ("/v1/payouts/", 502),
    ] {
        let mut account = Account::read_only();
        account.storm = Some((prefix, status));
        let err = run(&mut account, TEST_KEY, Mode::Test).expect_err("must not accept");
        let kind = if status == 429 {
            "rate-limited"
        } else {
            "upstream"
        };
        assert_eq!(err.kind(), kind, "{prefix} {status}: {err}");
        let (ConnectorError::Upstream(up) | ConnectorError::RateLimited(up)) = &err else {
            unreachable!()
        };
        assert_eq!(up.status, Some(status));
        assert!(up.request_id.is_some());
        let msg = err.to_string();
        assert!(
            msg.starts_with("Stripe error: verification failed: ")
                || msg.starts_with("Stripe rate limit: verification failed: "),
            "{msg}"
        );
        assert!(msg.contains(&format!("HTTP {status}")), "{msg}");
        assert!(msg.contains("gave up after 5 attempts"), "{msg}");
        assert!(!account.sleeps.is_empty());
    }
}

#[test]
fn unexpected_write_answers_fail_closed() {
    // A 400 (or a 404 that is not resource_missing) proves nothing about write permission.
    for (status, body) in [
        (
            400,
            r#"{"error":{"type":"invalid_request_error","code":"parameter_unknown","message":"Received unknown parameter"}}"#,
        ),
        (
            404,
            r#"{"error":{"type":"invalid_request_error","message":"Unrecognized request URL (DELETE: /v1/invoices/x)"}}"#,
        ),
        (500, r#"{"error":{"type":"api_error","message":"boom"}}"#),
        // A 403 that is not Stripe's: a proxy's or firewall's page never asked Stripe, even one
        // that is JSON with an `error` in it (QA: these passed setup for a key that can write).
        (403, "<html>Forbidden</html>"),
        (403, r#"{"error":{}}"#),
        (403, r#"{"error":{"message":"Forbidden"}}"#),
        (403, r#"{"error":{"type":"x","message":"Forbidden"}}"#),
        (
            403,
            r#"{"error":{"type":"invalid_request_error","code":"resource_missing","message":"No such customer"}}"#,
        ),
    ] {
        let odd = move |r: &Request, resp: &mut Response| {
            if r.path_and_query.starts_with("/v1/invoices/") {
                resp.status = status;
                resp.body = body.as_bytes().to_vec();
                resp.should_retry = Some(false);
            }
        };
        let key = hint(TEST_KEY, Mode::Test);
        let t = Tampered(Account::read_only(), odd);
        let err = verify_with(t, &key).0.expect_err("fails closed");
        let msg = err.to_string();
        assert_eq!(err.kind(), "upstream", "{msg}");
        assert!(
            msg.contains("verification failed: DELETE /v1/invoices/{id} returned HTTP"),
            "{msg}"
        );
        assert!(msg.contains("request req_"), "{msg}");
    }
}

#[test]
fn a_proven_write_is_reported_even_when_another_probe_fails() {
    let mut account = Account::read_only();
    account.write.insert(Table::Customers);
    let broken = |r: &Request, resp: &mut Response| {
        if r.path_and_query.starts_with("/v1/payouts/") {
            resp.status = 500;
            resp.body = br#"{"error":{"type":"api_error","message":"boom"}}"#.to_vec();
            resp.should_retry = Some(false);
        }
    };
    let key = hint(TEST_KEY, Mode::Test);
    let err = verify_with(Tampered(account, broken), &key)
        .0
        .expect_err("over-permissioned");
    assert_eq!(
        err,
        ConnectorError::OverPermissioned(names(&[Table::Customers]))
    );
}

#[test]
fn network_failures_fail_closed() {
    let down = |_: &Request| {
        Err(TransportError::Denied(
            "the host's policy refused the request (its log says why)".into(),
        ))
    };
    let key = hint(TEST_KEY, Mode::Test);
    let err = verify_with(down, &key).0.expect_err("down");
    assert_eq!(err.kind(), "network");
    assert!(
        err.to_string()
            .contains("verification failed: GET /v1/customers?limit=1"),
        "{err}"
    );
}

#[test]
fn probe_ids_can_never_be_real_ids() {
    let prefixes = ["cus_", "sub_", "in_", "ch_", "po_"];
    for (probe, prefix) in WRITE_PROBES.iter().zip(prefixes) {
        assert_ne!(probe.method, Method::Get);
        let body = probe
            .id
            .strip_prefix(prefix)
            .expect("Stripe's id prefix for the table");
        assert!(body.contains('_'), "{} could be a real id", probe.id);
        assert!(!body.is_empty());
        // The id is a whole path segment of the request and nothing else varies.
        let path = probe.path();
        assert!(path.contains(&format!("/{}", probe.id)), "{path}");
        assert!(path.starts_with(probe.table.list_path()), "{path}");
    }
    let tables: Vec<Table> = WRITE_PROBES.iter().map(|p| p.table).collect();
    assert_eq!(tables, Table::ALL.to_vec(), "one probe per table");
}

#[test]
fn every_write_path_sent_has_an_impossible_id() {
    let mut account = Account::read_only();
    account.write = Table::ALL.into_iter().collect();
    let _ = run(&mut account, TEST_KEY, Mode::Test);
    let writes: Vec<&String> = account
        .requests
        .iter()
        .filter(|r| !r.starts_with("GET "))
        .collect();
    assert_eq!(writes.len(), 5);
    for w in writes {
        let id = w
            .split('/')
            .find(|seg| seg.contains('_'))
            .expect("an id segment");
        let (_, body) = id.split_once('_').expect("prefix");
        assert!(body.contains('_'), "{w}");
    }
}

/// A read probe answered 2xx with an object that is not a list, though it holds a `data` array, proves
/// no read: setup fails closed (review: it was taken as a readable list).
#[test]
fn a_2xx_read_probe_that_is_not_a_list_fails_closed() {
    let not_a_list = |r: &Request, resp: &mut Response| {
        if r.path_and_query.starts_with("/v1/charges?") {
            resp.body = br#"{"object":"balance","data":[]}"#.to_vec();
        }
    };
    let key = hint(TEST_KEY, Mode::Test);
    let result = verify_with(Tampered(Account::read_only(), not_a_list), &key).0;
    assert!(
        result.as_ref().is_err_and(|e| e.kind() == "upstream"),
        "accepted: {result:?}"
    );
}

/// A 429 that Stripe marks not to retry is still a rate limit, as it is for a query
/// ([`crate::retry::error_for_response`]): setup says "rate-limited" (try again later), not "upstream".
#[test]
fn a_429_not_to_be_retried_is_rate_limited_in_setup_too() {
    for prefix in ["/v1/customers?", "/v1/invoices?", "/v1/charges/"] {
        let limited = move |r: &Request, resp: &mut Response| {
            if r.path_and_query.starts_with(prefix) {
                resp.status = 429;
                resp.body = br#"{"error":{"type":"invalid_request_error","code":"rate_limit","message":"Request rate limit exceeded."}}"#.to_vec();
                resp.should_retry = Some(false);
            }
        };
        let key = hint(TEST_KEY, Mode::Test);
        let err = verify_with(Tampered(Account::read_only(), limited), &key)
            .0
            .expect_err("not proven");
        assert_eq!(err.kind(), "rate-limited", "{prefix}: {err}");
        assert!(err.to_string().contains("HTTP 429"), "{err}");
    }
}
