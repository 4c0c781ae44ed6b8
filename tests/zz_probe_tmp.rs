use klairr_e2e::hostile_upstream::{hostile_component, Behaviour, Upstream};
use klairr_e2e::run_cli;
use std::time::Instant;

#[test]
fn probe() {
    let up = Upstream::start(Behaviour::Ok).unwrap();
    let key = format!("rk_test_{}", "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dF3hJ5kL7nP9rS1tV3xZ5".repeat(2));
    let steps = serde_json::json!([
        {"http": {"method": "POST", "path": "/v1/customers", "body": "email=a@b.c"}},
        {"http": {"method": "get", "path": "/v1/customers"}},
        {"http": {"path": "/v1/customers\\x"}},
        {"http": {"path": "/v1/customers", "headers": [["stripe-account", "acct_1"]]}},
        {"http": {"path": "/v1/customers", "headers": [["authorization", "Bearer rk_test_evil"]]}},
        {"http": {"path": "/v1/customers?limit=1", "headers": [["content-length", "5"]], "body": "hello"}},
        {"print": {"text": "x", "times": 1}},
    ]).to_string();
    let t = Instant::now();
    let run = run_cli(&["--component", hostile_component(), "--stripe-base", &up.base_url(), "query", &steps], Some(&key));
    eprintln!("elapsed {:?}", t.elapsed());
    eprintln!("{run:#?}");
    for r in up.requests() { eprintln!("{} {} {:?}", r.method, r.target, r.headers); }
    let t = Instant::now();
    let run = run_cli(&["--component", hostile_component(), "--stripe-base", &up.base_url(), "--format", "json", "query", r#"{"print":{"text":"0123456789abcdef","times":100000}}"#], Some(&key));
    eprintln!("elapsed {:?} {run:?}", t.elapsed());
}
