//! `demo` and `emulator`: the whole product on one machine, with no key and no network.
//!
//! `demo` starts the built-in Stripe emulator on loopback, points the connector's api.stripe.com requests
//! at it through the host policy's loopback redirect, verifies the emulator's read-only demo key the way
//! setup verifies a real one, and runs a few analyst questions — the last one a repeat, served from the
//! result cache. Everything goes through the sandboxed component exactly as it would against Stripe.

use crate::cli::{Cli, EmulatorData, Failure};
use crate::emulator::{keys, Emulator, EmulatorConfig, LogSender, RecordedRequest, RequestLog};
use crate::memory::MemoryFile;
use crate::output;
use crate::policy::key_shapes::{KeyShapes, HIDDEN};
use crate::policy::origin::LoopbackBase;
use crate::policy::request_rules::percent_decodings;
use crate::registry::Connector;
use crate::sandbox::{wit, ConnectionConfig, Sandbox};
use crate::service::Service;
use serde::Serialize;
use std::io::Write;
use std::sync::mpsc::RecvTimeoutError;

/// The columns the demo prints per table, so its tables fit a terminal (queries still return them all).
fn demo_columns(table: &str) -> Option<&'static [&'static str]> {
    Some(match table {
        "customers" => &[
            "id",
            "created",
            "email",
            "name",
            "currency",
            "balance",
            "address_country",
        ],
        "subscriptions" => &[
            "id",
            "customer",
            "status",
            "current_period_end",
            "item_count",
            "mrr",
            "currency",
        ],
        "invoices" => &[
            "id",
            "number",
            "customer",
            "status",
            "total",
            "amount_due",
            "currency",
            "due_date",
        ],
        "charges" => &[
            "id",
            "customer",
            "created",
            "amount",
            "currency",
            "status",
            "failure_code",
            "outcome_type",
        ],
        "payouts" => &[
            "id",
            "arrival_date",
            "amount",
            "currency",
            "status",
            "method",
        ],
        _ => return None,
    })
}

/// The questions the demo asks, as an LLM would write them.
pub const DEMO_QUERIES: &[(&str, &str)] = &[
    ("Newest customers", r#"{"list":"customers","limit":5}"#),
    (
        "Active subscriptions and their list-price MRR",
        r#"{"list":"subscriptions","filters":{"status":"active"},"limit":5}"#,
    ),
    (
        "Open invoices",
        r#"{"list":"invoices","filters":{"status":"open"},"limit":5}"#,
    ),
    (
        "Failed charges",
        r#"{"list":"charges","filters":{"status":"failed"},"limit":5}"#,
    ),
    ("Payouts", r#"{"list":"payouts","limit":5}"#),
    // A metric, computed inside the component: only the group rows leave it.
    (
        "Active MRR by currency",
        r#"{"list":"subscriptions","filters":{"status":"active"},"group_by":["currency"],"measures":{"subscriptions":"count","mrr_known":{"count":"mrr"},"mrr":{"sum":"mrr"}}}"#,
    ),
    // Same as the first, written differently: equivalent queries share a cache entry.
    (
        "Newest customers, asked again",
        r#"{"limit":5,"list":"customers"}"#,
    ),
];

#[derive(Serialize)]
struct DemoJson<'a> {
    emulator: String,
    setup: output::SetupJson<'a>,
    queries: Vec<DemoQueryJson<'a>>,
}

#[derive(Serialize)]
struct DemoQueryJson<'a> {
    title: &'static str,
    query: &'static str,
    result: output::QueryJson<'a>,
}

pub fn run(
    cli: &Cli,
    connector: &Connector,
    component: &[u8],
    memory: Option<MemoryFile>,
    stdout: &mut dyn Write,
) -> Result<(), Failure> {
    // Refused before the emulator starts.
    let json = cli.format.document_is_json("demo")?;
    let emulator = Emulator::start(EmulatorConfig::default()).map_err(|e| {
        Failure::new(
            "network",
            format!("could not start the Stripe emulator on loopback: {e}"),
        )
    })?;
    let base = LoopbackBase::parse(&emulator.base_url())
        .map_err(|e| Failure::new("sandbox", e.to_string()))?;
    let mut options = crate::cli::sandbox_options(cli)?;
    options.redirect = Some(base);
    let sandbox = Sandbox::load(component, connector.manifest.clone(), options)?;
    let service = Service::new(sandbox, memory);
    let config = ConnectionConfig {
        max_rows: cli.max_rows,
        cache_ttl_seconds: cli.cache_ttl,
        max_scan: cli.max_scan,
        ..ConnectionConfig::new(keys::TEST_READ_ONLY, wit::Mode::Test)
    };
    let io_err = Failure::output;

    let mut session = service.open(&config)?;
    let report = session.verify()?;
    let mut answers = Vec::new();
    for (title, query) in DEMO_QUERIES {
        answers.push((*title, *query, session.query(query)?));
    }

    if json {
        let doc = DemoJson {
            emulator: emulator.base_url(),
            setup: output::setup_doc(&report),
            queries: answers
                .iter()
                .map(|(title, query, a)| DemoQueryJson {
                    title,
                    query,
                    result: output::query_doc(&a.result, a.served),
                })
                .collect(),
        };
        let text =
            serde_json::to_string(&doc).map_err(|e| Failure::new("sandbox", e.to_string()))?;
        return writeln!(stdout, "{text}").map_err(io_err);
    }

    let mut out = String::new();
    out.push_str(&format!(
        "Klairr Stripe connector demo: the sandboxed component talks to the built-in Stripe emulator at {}\n\
         (the host redirects https://api.stripe.com there; the component cannot reach anything else).\n\n",
        emulator.base_url()
    ));
    out.push_str(&format!(
        "$ klairr-host setup   # with the emulator's read-only key {}\n",
        redact(keys::TEST_READ_ONLY)
    ));
    out.push_str(&output::setup_text(&report));
    match service.open(&ConnectionConfig {
        credential: keys::TEST_SECRET.to_owned(),
        ..config.clone()
    }) {
        Err(e) => out.push_str(&format!(
            "and a secret key is refused before any request: {e}\n"
        )),
        Ok(_) => out.push_str("warning: a secret key was not refused\n"),
    }
    for (title, query, answer) in &answers {
        // An aggregate's columns are its own: all of them are shown. Otherwise the command shown is the
        // one that gives the table below, `--columns` included (the footer's hint names that flag).
        let only = demo_columns(&answer.result.table).filter(|_| answer.result.aggregate.is_none());
        let columns = only
            .map(|only| format!(" --columns {}", only.join(",")))
            .unwrap_or_default();
        out.push_str(&format!(
            "\n## {title}\n$ klairr-host query '{query}'{columns}\n"
        ));
        out.push_str(&match only {
            Some(only) => output::query_text_columns(&answer.result, answer.served, only),
            None => output::query_text(&answer.result, answer.served),
        });
    }
    out.push_str(
        "\nWhat Klairr may remember across conversations (shapes only, never row values):\n",
    );
    for shape in service.remembered() {
        let what = match &shape.aggregate {
            None => format!("{} rows × {} columns", shape.row_count, shape.columns.len()),
            Some(a) => {
                let measures: Vec<String> = a
                    .measures
                    .iter()
                    .map(|m| format!("{} ({})", m.name, m.kind))
                    .collect();
                format!(
                    "{} groups by [{}], measures {}",
                    shape.row_count,
                    a.group_by.join(", "),
                    measures.join(", ")
                )
            }
        };
        out.push_str(&format!(
            "  {}: {what}, filters [{}]\n",
            shape.table,
            shape.filter_keys.join(", ")
        ));
    }
    stdout.write_all(out.as_bytes()).map_err(io_err)
}

fn redact(key: &str) -> String {
    let tail = &key[key.len().saturating_sub(4)..];
    format!("{}…{tail}", &key[..8.min(key.len())])
}

/// `emulator --port N [--latency-ms MS] [--irregular] [--rate-limit] [--account-rate-limit]`:
/// serve until killed.
pub fn serve_emulator(
    port: u16,
    data: &EmulatorData,
    log: bool,
    json: bool,
    stdout: &mut dyn Write,
) -> Result<(), Failure> {
    // A long-running emulator keeps no request log (it would grow without end); `--log` prints it.
    let (request_log, answered) = if log {
        let (to, from) = LogSender::bounded(LOG_BACKLOG);
        (RequestLog::Send(to), Some(from))
    } else {
        (RequestLog::Off, None)
    };
    let config = EmulatorConfig {
        port,
        seed: data.seed,
        customers: data.customers,
        subscriptions: data.subscriptions,
        invoices: data.invoices,
        charges: data.charges,
        payouts: data.payouts,
        timeline: if data.irregular {
            crate::emulator::Timeline::Irregular
        } else {
            crate::emulator::Timeline::Regular
        },
        latency: std::time::Duration::from_millis(data.latency_ms),
        rate_limit: if data.account_rate_limit {
            Some(crate::emulator::RateLimit::STRIPE)
        } else if data.rate_limit {
            Some(crate::emulator::RateLimit::ENDPOINT)
        } else {
            None
        },
        request_log,
        ..EmulatorConfig::default()
    };
    let emulator = Emulator::start(config).map_err(|e| {
        Failure::new(
            "network",
            format!("could not listen on 127.0.0.1:{port}: {e}"),
        )
    })?;
    let keys: Vec<String> = keys::all().iter().map(|g| g.key.clone()).collect();
    let text = if json {
        serde_json::json!({ "base_url": emulator.base_url(), "keys": keys }).to_string()
    } else {
        format!(
            "Stripe emulator listening on {}\nuse: klairr-host --stripe-base {} setup   (with STRIPE_API_KEY set to one of its made-up keys)\nkeys:\n  {}",
            emulator.base_url(),
            emulator.base_url(),
            keys.join("\n  ")
        )
    };
    // Its banner is output like any command's: one that cannot be written is an `output` failure.
    writeln!(stdout, "{text}")
        .and_then(|()| stdout.flush())
        .map_err(Failure::output)?;
    if let Some(answered) = answered {
        let started = std::time::Instant::now();
        // The emulator masks the request's own key; anything else that looks like a key (another
        // one, or the key cut or encoded) is hidden by its form before it reaches a terminal or a file.
        let shapes = KeyShapes::of([&Connector::stripe().manifest.credential]);
        // What did not fit while stderr was behind is said in its place, never silently lost.
        let say = |line: String| {
            // A closed stderr stops the log, not the emulator.
            let _ = writeln!(std::io::stderr().lock(), "{line}");
        };
        loop {
            match answered.recv_timeout(std::time::Duration::from_secs(1)) {
                Ok(logged) => {
                    if logged.missed_before > 0 {
                        say(missed_line(logged.missed_before, json));
                    }
                    say(request_line(&logged.request, started, &shapes, json));
                }
                // Caught up, and no request since the gap to carry its count.
                Err(RecvTimeoutError::Timeout) => match answered.missed() {
                    0 => {}
                    missed => say(missed_line(missed, json)),
                },
                // Only if the server's thread ends (it holds a sender): what it missed last is said.
                Err(RecvTimeoutError::Disconnected) => {
                    if let missed @ 1.. = answered.missed() {
                        say(missed_line(missed, json));
                    }
                    break;
                }
            }
        }
    }
    emulator.wait();
    Ok(())
}

/// Requests `emulator --log` holds for a reader that fell behind (a few MB); past them, lines are
/// counted, not kept, and the count is printed when the reader catches up.
const LOG_BACKLOG: usize = 10_000;

/// The line that stands for `missed` requests answered while the log's reader was too far behind.
fn missed_line(missed: u64, json: bool) -> String {
    let requests = if missed == 1 { "request" } else { "requests" };
    if json {
        /// The JSON form: `{"not_logged":N}`.
        #[derive(Serialize)]
        struct Missed {
            not_logged: u64,
        }
        serde_json::to_string(&Missed { not_logged: missed }).unwrap_or_default()
    } else {
        format!(
            "… {missed} {requests} answered but not logged: stderr fell {LOG_BACKLOG} lines behind"
        )
    }
}

/// A path or query for the log: as received, but the whole of it hidden when it, or any
/// percent-decoding of it, holds what looks like a key (QA: a key written as %72%6B%5F… went through).
fn shown(text: &str, shapes: &KeyShapes) -> String {
    let looks_like_a_key = |t: &str| shapes.hide(t) != t;
    if looks_like_a_key(text) || percent_decodings(text).iter().any(|d| looks_like_a_key(d)) {
        HIDDEN.to_owned()
    } else {
        text.to_owned()
    }
}

/// One line of `emulator --log --format json`.
#[derive(Serialize)]
struct LogLine<'a> {
    at_seconds: f64,
    method: &'a str,
    path: &'a str,
    query: &'a str,
    key: Option<&'a str>,
    status: u16,
    rate_limited: Option<&'static str>,
}

/// One line of `emulator --log`: seconds since the emulator started, the request as received (what
/// looks like a key in it hidden), its status and, for a 429 of the rate limits, which limit refused it.
fn request_line(
    request: &RecordedRequest,
    started: std::time::Instant,
    shapes: &KeyShapes,
    json: bool,
) -> String {
    let at = request
        .arrived
        .saturating_duration_since(started)
        .as_secs_f64();
    // The method too: HTTP lets a client send any token there, a key included (QA).
    let method = shown(&request.method, shapes);
    let path = shown(&request.path, shapes);
    let query = shown(&request.query, shapes);
    if json {
        let line = LogLine {
            at_seconds: (at * 1000.0).round() / 1000.0,
            method: &method,
            path: &path,
            query: &query,
            key: request.key_hint.as_deref(),
            status: request.status,
            rate_limited: request.rate_limited,
        };
        return serde_json::to_string(&line).unwrap_or_default();
    }
    let query = if query.is_empty() {
        String::new()
    } else {
        format!("?{query}")
    };
    let mut line = format!("{at:9.3}s {method} {path}{query} {}", request.status);
    if let Some(key) = &request.key_hint {
        line.push_str(&format!(" ({key})"));
    }
    if let Some(reason) = request.rate_limited {
        line.push_str(&format!(" rate limited: {reason}"));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::{demo_columns, request_line, shown, KeyShapes, HIDDEN};
    use crate::registry::Connector;

    #[test]
    fn the_log_hides_a_key_however_it_is_encoded() {
        let shapes = KeyShapes::of([&Connector::stripe().manifest.credential]);
        let key = "rk_test_51QxTestOnlyNotARealKey0000aaaaBBBBccccDDDDeeee";
        let encoded: String = key.bytes().map(|b| format!("%{b:02X}")).collect();
        let half = format!("{}{}", &key[..30], &encoded[30 * 3..]);
        for query in [
            format!("q={key}"),
            format!("q={encoded}"),
            format!("q={half}"),
            format!("q={}", encoded.replace('%', "%25")),
        ] {
            assert_eq!(shown(&query, &shapes), HIDDEN, "{query}");
        }
        assert_eq!(
            shown("limit=100&starting_after=cus_1", &shapes),
            "limit=100&starting_after=cus_1"
        );
        // A key sent where the method goes is hidden there too.
        let request = RecordedRequest {
            arrived: Instant::now(),
            endpoint: None,
            method: key.to_owned(),
            path: "/v1/customers".into(),
            query: String::new(),
            host: None,
            content_length: None,
            stripe_version: None,
            key_hint: None,
            status: 401,
            rate_limited: None,
        };
        for json in [false, true] {
            let line = request_line(&request, request.arrived, &shapes, json);
            assert!(!line.contains("rk_test_51"), "{line}");
            assert!(line.contains(HIDDEN), "{line}");
        }
    }
    use crate::emulator::RecordedRequest;
    use std::time::{Duration, Instant};

    #[test]
    fn a_log_line_says_when_what_and_which_limit_refused_it() {
        let started = Instant::now();
        let request = RecordedRequest {
            arrived: started + Duration::from_millis(1250),
            endpoint: Some("GET /v1/customers".into()),
            method: "GET".into(),
            path: "/v1/customers".into(),
            query: "limit=100".into(),
            host: None,
            content_length: None,
            stripe_version: None,
            key_hint: Some("rk_test_…0000".into()),
            status: 429,
            rate_limited: Some("endpoint-rate"),
        };
        assert_eq!(
            request_line(&request, started, &KeyShapes::none(), false),
            "    1.250s GET /v1/customers?limit=100 429 (rk_test_…0000) rate limited: endpoint-rate"
        );
        let answered = RecordedRequest {
            query: String::new(),
            key_hint: None,
            status: 200,
            rate_limited: None,
            ..request
        };
        assert_eq!(
            request_line(&answered, started, &KeyShapes::none(), false),
            "    1.250s GET /v1/customers 200"
        );
    }

    #[test]
    fn a_reader_that_fell_behind_reads_how_many_requests_it_missed() {
        assert_eq!(
            super::missed_line(1, false),
            "… 1 request answered but not logged: stderr fell 10000 lines behind"
        );
        assert_eq!(super::missed_line(3, true), r#"{"not_logged":3}"#);
    }

    #[test]
    fn demo_columns_exist_in_the_connector_schema() {
        for spec in klairr_stripe::schema::tables() {
            let shown = demo_columns(spec.table.name()).expect("every table has demo columns");
            for name in shown {
                assert!(
                    spec.columns.iter().any(|c| c.name == *name),
                    "{}: no column {name}",
                    spec.table.name()
                );
            }
        }
    }
}
