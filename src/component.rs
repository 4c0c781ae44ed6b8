//! The component's edge: wit-bindgen exports of `klairr:connector@0.2.0`, and the [`Http`] and [`Clock`]
//! that talk wasi:http and wasi:clocks.
//!
//! The exports convert between WIT types and the core's types: `check-credential` is
//! [`crate::key::ApiKey::parse`], the connection methods are [`Connection`]'s. The transport does a little
//! more: it sets the fixed request headers (`stripe-version` pinned to [`stripe::API_VERSION`], `accept`,
//! `user-agent`, and `content-length: 0` on the write probes, which have no body), never `authorization`
//! (the host attaches the key itself and refuses that header from a guest), reads the four response
//! headers the core uses, and caps the response body at [`transport::MAX_BODY_BYTES`].

use crate::aggregate::{self, Bucket};
use crate::connection::{self, Connection, QueryResult};
use crate::error::{ConnectorError, UpstreamError};
use crate::key::{ApiKey, Mode};
use crate::schema::{Cell, Column, ColumnType, TableSpec};
use crate::stripe;
use crate::transport::{
    self, Clock, Completion, Http, Method, Request, Response, Ticket, TransportError,
};
use crate::verify::VerifyReport;
use std::time::Duration;

wit_bindgen::generate!({
    path: "wit/connector-0.2.0",
    world: "klairr:connector/plugin",
    // Reuse the `wasi` crate's bindings for the wasi:http world we import, instead of a second copy.
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

struct StripeConnector;

export!(StripeConnector);

impl wit_connector::Guest for StripeConnector {
    type Connection = ConnectionResource;

    fn describe() -> wit::ConnectorInfo {
        let info = connection::describe();
        wit::ConnectorInfo {
            name: info.name.into(),
            api_version: info.api_version.into(),
            default_cache_ttl_seconds: info.default_cache_ttl_seconds,
            default_max_rows: info.default_max_rows,
            max_rows_limit: info.max_rows_limit,
            query_doc: info.query_doc.into(),
            tables: info.tables.iter().map(table_spec).collect(),
            aggregates: Some(wit::AggregateInfo {
                doc: info.aggregate_doc.into(),
                buckets: Bucket::ALL.iter().map(|b| b.name().into()).collect(),
                default_max_scan: info.default_max_scan,
                max_scan_limit: info.max_scan_limit,
            }),
        }
    }

    fn check_credential(credential: String, mode: wit::Mode) -> Result<(), wit::ConnectorError> {
        ApiKey::parse(&credential, core_mode(mode))
            .map(|_| ())
            .map_err(error)
    }
}

struct ConnectionResource {
    inner: Connection,
}

impl wit_connector::GuestConnection for ConnectionResource {
    fn open(config: wit::Config) -> Result<wit_connector::Connection, wit::ConnectorError> {
        let inner = Connection::open(
            core_mode(config.mode),
            &config.credential_hint,
            config.max_rows,
            config.cache_ttl_seconds,
            config.max_scan,
        )
        .map_err(error)?;
        Ok(wit_connector::Connection::new(ConnectionResource { inner }))
    }

    fn verify(&self) -> Result<wit::VerifyReport, wit::ConnectorError> {
        self.inner
            .verify(&mut WasiHttp::default(), &mut WasiClock)
            .map(verify_report)
            .map_err(error)
    }

    fn canonical_query(&self, query: String) -> Result<String, wit::ConnectorError> {
        self.inner.canonical_query(&query).map_err(error)
    }

    fn query(&self, query: String) -> Result<wit::QueryResult, wit::ConnectorError> {
        self.inner
            .query(&mut WasiHttp::default(), &mut WasiClock, &query)
            .map(query_result)
            .map_err(error)
    }
}

// ---- wasi:http and wasi:clocks ------------------------------------------------------------------

use wasi::http::types::FutureIncomingResponse;
use wasi::io::poll::Pollable;

/// Requests go to `https://api.stripe.com` through the host's `wasi:http/outgoing-handler`; the host's
/// policy decides whether (and where) they are delivered, and adds the key to those it delivers. Several
/// may be outstanding: each is a wasi:http future, and [`Http::wait_any`] polls them all at once.
#[derive(Default)]
struct WasiHttp {
    next: u32,
    /// In the order they were started.
    pending: Vec<Pending>,
    /// Outcomes known as soon as the request was started: the host refused it outright.
    refused: Vec<Completion>,
}

/// One outstanding request. Fields drop in order: the pollable is a child of the future and must go
/// first (wasmtime refuses to drop a resource that still has children).
struct Pending {
    ticket: Ticket,
    ready: Pollable,
    future: FutureIncomingResponse,
}

impl Http for WasiHttp {
    fn progress(&mut self, requests: u32, rows: u64) {
        klairr::connector::progress::report(requests, rows);
    }

    fn start(&mut self, request: &Request) -> Ticket {
        self.next = self.next.wrapping_add(1);
        let ticket = Ticket(self.next);
        match start(request) {
            Ok(future) => self.pending.push(Pending {
                ticket,
                ready: future.subscribe(),
                future,
            }),
            Err(err) => self.refused.push((ticket, Err(err))),
        }
        ticket
    }

    fn wait_any(&mut self, timeout: Option<Duration>) -> Option<Completion> {
        if let Some(done) = self.refused.pop() {
            return Some(done);
        }
        if self.pending.is_empty() {
            return None;
        }
        let timer = timeout.map(|t| {
            wasi::clocks::monotonic_clock::subscribe_duration(
                u64::try_from(t.as_nanos()).unwrap_or(u64::MAX),
            )
        });
        let mut list: Vec<&Pollable> = self.pending.iter().map(|p| &p.ready).collect();
        list.extend(timer.as_ref());
        // The first ready request in start order; only the timer ready: the timeout passed.
        let ready = wasi::io::poll::poll(&list)
            .into_iter()
            .map(|i| i as usize)
            .filter(|&i| i < self.pending.len())
            .min()?;
        let Pending {
            ticket,
            ready: _,
            future,
        } = self.pending.remove(ready);
        Some((ticket, finish(future)))
    }

    fn cancel(&mut self, ticket: Ticket) {
        self.pending.retain(|p| p.ticket != ticket);
    }
}

/// Build `request` and hand it to the host.
fn start(request: &Request) -> Result<FutureIncomingResponse, TransportError> {
    use wasi::http::outgoing_handler;
    use wasi::http::types::{Fields, OutgoingBody, OutgoingRequest, Scheme};

    let mut headers: Vec<(String, Vec<u8>)> = vec![
        (
            "stripe-version".into(),
            stripe::API_VERSION.as_bytes().to_vec(),
        ),
        ("accept".into(), b"application/json".to_vec()),
        ("user-agent".into(), b"klairr-stripe-connector/0.2".to_vec()),
    ];
    let has_body = request.method != Method::Get;
    if has_body {
        headers.push(("content-length".into(), b"0".to_vec()));
    }
    let fields = Fields::from_list(&headers).map_err(|e| {
        TransportError::Connection(format!("could not build request headers: {e:?}"))
    })?;
    let outgoing = OutgoingRequest::new(fields);
    let method = match request.method {
        Method::Get => wasi::http::types::Method::Get,
        Method::Post => wasi::http::types::Method::Post,
        Method::Delete => wasi::http::types::Method::Delete,
    };
    let set = [
        outgoing.set_method(&method).is_ok(),
        outgoing.set_scheme(Some(&Scheme::Https)).is_ok(),
        outgoing.set_authority(Some(stripe::API_HOST)).is_ok(),
        outgoing
            .set_path_with_query(Some(&request.path_and_query))
            .is_ok(),
    ];
    if set.contains(&false) {
        return Err(TransportError::Connection(
            "the host refused the request line".into(),
        ));
    }
    let body = if has_body { outgoing.body().ok() } else { None };

    // No request-options: the host applies its own timeout ceilings to every request. (Passing a
    // `request-options` resource also leaks one table slot per request in wasmtime-wasi-http 48's
    // `handle`, which never deletes it; a long-lived connection would run out of handles.)
    let pending = outgoing_handler::handle(outgoing, None).map_err(transport_error)?;
    if let Some(body) = body {
        OutgoingBody::finish(body, None).map_err(transport_error)?;
    }
    Ok(pending)
}

/// Read a completed request's response: the four headers the core uses and the body, capped.
fn finish(pending: FutureIncomingResponse) -> Result<Response, TransportError> {
    let response = match pending.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(code))) => return Err(transport_error(code)),
        Some(Err(())) | None => {
            return Err(TransportError::Connection(
                "the response was already taken".into(),
            ))
        }
    };
    drop(pending);

    let status = response.status();
    let headers = response.headers();
    // One call for all headers (names arrive lower-cased); only four of them matter here.
    let (mut request_id, mut should_retry, mut retry_after, mut declared_len) =
        (None, None, None, None);
    for (name, value) in headers.entries() {
        let Ok(value) = std::str::from_utf8(&value) else {
            continue;
        };
        let value = value.trim();
        match name.as_str() {
            "request-id" => request_id = Some(value.to_owned()),
            "stripe-should-retry" => should_retry = Some(value == "true"),
            "retry-after" => retry_after = value.parse::<u64>().ok().map(Duration::from_secs),
            "content-length" => declared_len = value.parse::<usize>().ok(),
            _ => {}
        }
    }
    drop(headers);
    if declared_len.is_some_and(|n| n > transport::MAX_BODY_BYTES) {
        return Err(TransportError::BodyTooLarge {
            limit: transport::MAX_BODY_BYTES,
            status,
            request_id,
        });
    }

    let incoming = response
        .consume()
        .map_err(|()| TransportError::Connection("the response body was already taken".into()))?;
    let stream = incoming.stream().map_err(|()| {
        TransportError::Connection("the response body stream was already taken".into())
    })?;
    let mut body = Vec::with_capacity(declared_len.unwrap_or(16 * 1024));
    loop {
        match stream.blocking_read(1 << 20) {
            Ok(chunk) => {
                if body.len() + chunk.len() > transport::MAX_BODY_BYTES {
                    return Err(TransportError::BodyTooLarge {
                        limit: transport::MAX_BODY_BYTES,
                        status,
                        request_id,
                    });
                }
                body.extend_from_slice(&chunk);
            }
            Err(wasi::io::streams::StreamError::Closed) => break,
            Err(wasi::io::streams::StreamError::LastOperationFailed(e)) => {
                // The host cut a body over its manifest's size: as final as our own cap.
                if let Some(wasi::http::types::ErrorCode::HttpResponseBodySize(_)) =
                    wasi::http::types::http_error_code(&e)
                {
                    return Err(TransportError::BodyTooLarge {
                        limit: transport::MAX_BODY_BYTES,
                        status,
                        request_id,
                    });
                }
                return Err(TransportError::Connection(format!(
                    "reading the response body failed: {}",
                    e.to_debug_string()
                )));
            }
        }
    }
    drop(stream);
    let _ = wasi::http::types::IncomingBody::finish(incoming);
    drop(response);

    Ok(Response {
        status,
        request_id,
        should_retry,
        retry_after,
        body,
    })
}

/// Sleeps through `wasi:clocks` (never a busy loop) and draws jitter from `wasi:random`.
struct WasiClock;

impl Clock for WasiClock {
    fn sleep(&mut self, duration: Duration) {
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        wasi::clocks::monotonic_clock::subscribe_duration(nanos).block();
    }

    fn now(&mut self) -> Duration {
        Duration::from_nanos(wasi::clocks::monotonic_clock::now())
    }

    fn random_u64(&mut self) -> u64 {
        wasi::random::random::get_random_u64()
    }
}

fn transport_error(code: wasi::http::types::ErrorCode) -> TransportError {
    use wasi::http::types::ErrorCode as E;
    match code {
        E::HttpRequestDenied => TransportError::Denied(
            "the host's policy refused the request (its log says why)".into(),
        ),
        E::ConnectionTimeout
        | E::ConnectionReadTimeout
        | E::HttpResponseTimeout
        | E::DnsTimeout => TransportError::Timeout(format!("{code:?}")),
        other => TransportError::Connection(format!("{other:?}")),
    }
}

// ---- WIT ↔ core conversions ----------------------------------------------------------------------

fn core_mode(m: wit::Mode) -> Mode {
    match m {
        wit::Mode::Live => Mode::Live,
        wit::Mode::Test => Mode::Test,
    }
}

fn mode(m: Mode) -> wit::Mode {
    match m {
        Mode::Live => wit::Mode::Live,
        Mode::Test => wit::Mode::Test,
    }
}

fn column(c: Column) -> wit::Column {
    wit::Column {
        name: c.name,
        kind: match c.kind {
            ColumnType::Id => wit::ColumnType::Id,
            ColumnType::Text => wit::ColumnType::Text,
            ColumnType::Integer => wit::ColumnType::Integer,
            ColumnType::Boolean => wit::ColumnType::Boolean,
            ColumnType::Timestamp => wit::ColumnType::Timestamp,
            ColumnType::Amount => wit::ColumnType::Amount,
            ColumnType::Currency => wit::ColumnType::Currency,
        },
        nullable: c.nullable,
        doc: c.doc,
    }
}

fn names(list: Vec<&'static str>) -> Vec<String> {
    list.into_iter().map(String::from).collect()
}

fn table_spec(t: &TableSpec) -> wit::TableSpec {
    let aggregates = aggregate::table_aggregates(t.table);
    wit::TableSpec {
        name: t.table.name().into(),
        doc: t.doc.into(),
        columns: t.columns.iter().map(|c| column(c.into())).collect(),
        aggregate: Some(wit::AggregateSpec {
            group_by: names(aggregates.group_by),
            bucket_by: names(aggregates.bucket_by),
            measures: aggregates
                .measures
                .into_iter()
                .map(|(func, columns)| wit::MeasureSpec {
                    name: func.name().into(),
                    columns: names(columns),
                    doc: func.doc().into(),
                })
                .collect(),
        }),
        filters: t
            .filters
            .iter()
            .map(|f| wit::FilterSpec {
                key: f.key.into(),
                accepts: f.accepts.into(),
                doc: f.doc.into(),
            })
            .collect(),
    }
}

fn cell(c: Cell) -> wit::Cell {
    match c {
        Cell::Null => wit::Cell::Null,
        Cell::Text(s) => wit::Cell::Text(s),
        Cell::Integer(i) => wit::Cell::Integer(i),
        Cell::Boolean(b) => wit::Cell::Boolean(b),
    }
}

fn query_result(r: QueryResult) -> wit::QueryResult {
    let columns: Vec<wit::Column> = r.columns.into_iter().map(column).collect();
    wit::QueryResult {
        table: r.table.name().into(),
        shape: wit::Shape {
            table: r.shape.table.name().into(),
            columns: columns.clone(),
            row_count: r.shape.row_count,
            filter_keys: r.shape.filter_keys,
            aggregate: r.shape.aggregate.map(|a| wit::AggregateShape {
                group_by: a.group_by,
                measures: a
                    .measures
                    .into_iter()
                    .map(|(name, kind)| wit::MeasureShape {
                        name,
                        kind: kind.into(),
                    })
                    .collect(),
            }),
        },
        columns,
        rows: r
            .rows
            .into_iter()
            .map(|row| row.into_iter().map(cell).collect())
            .collect(),
        truncated: r.truncated,
        cache_ttl_seconds: r.cache_ttl_seconds,
        requests: r.requests,
        scan_note: r.scan_note,
        aggregate: r.aggregate.map(|a| wit::AggregateStats {
            rows_scanned: a.rows_scanned,
            partial: a.partial,
            groups: a.groups,
        }),
    }
}

fn verify_report(r: VerifyReport) -> wit::VerifyReport {
    wit::VerifyReport {
        mode: mode(r.mode),
        readable: r.readable.iter().map(|t| t.name().to_owned()).collect(),
        write_probes_refused: r.write_probes_refused,
        requests: r.requests,
    }
}

fn upstream(e: UpstreamError) -> wit::UpstreamError {
    wit::UpstreamError {
        status: e.status,
        code: e.code,
        message: e.message,
        request_id: e.request_id,
    }
}

fn error(e: ConnectorError) -> wit::ConnectorError {
    match e {
        ConnectorError::SecretKeyRejected(m) => wit::ConnectorError::SecretKeyRejected(m),
        ConnectorError::InvalidKey(m) => wit::ConnectorError::InvalidKey(m),
        ConnectorError::ModeMismatch(m) => wit::ConnectorError::ModeMismatch(m),
        ConnectorError::OverPermissioned(r) => wit::ConnectorError::OverPermissioned(r),
        ConnectorError::MissingPermission(r) => wit::ConnectorError::MissingPermission(r),
        ConnectorError::InvalidQuery(m) => wit::ConnectorError::InvalidQuery(m),
        ConnectorError::RateLimited(u) => wit::ConnectorError::RateLimited(upstream(u)),
        ConnectorError::Upstream(u) => wit::ConnectorError::Upstream(upstream(u)),
        ConnectorError::Network(m) => wit::ConnectorError::Network(m),
    }
}
