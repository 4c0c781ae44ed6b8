//! The component's edge: wit-bindgen exports of `klairr:connector@0.2.0`, and the [`Http`] and [`Clock`]
//! that talk wasi:http, wasi:clocks and wasi:random.
//!
//! The exports convert between WIT types and the core's: `check-credential` is [`key::check`], the
//! connection methods are [`Connection`]'s. The transport sends `GET https://api.ledger.example…` with
//! three fixed headers (`ledger-version` pinned to [`API_VERSION`], `accept`, `user-agent`) and never the
//! credential (the host attaches it in the manifest's header and refuses that header from a guest); it
//! reads `x-request-id`, `retry-after` and `content-length`, and caps the body at [`MAX_BODY_BYTES`].
//!
//! Records the contract may grow with optional fields (a result's aggregate, say) are built in
//! `query_result` only: each new field is one `field: None` line there.

use crate::connection::{self, Connection, QueryResult, VerifyReport};
use crate::error::{ConnectorError, UpstreamError};
use crate::key::{self, Mode};
use crate::schema::{Cell, ColumnSpec, ColumnType, TableSpec};
use crate::transport::{
    Clock, Http, Request, Response, TransportError, API_AUTHORITY, API_VERSION, MAX_BODY_BYTES,
};
use std::time::Duration;

wit_bindgen::generate!({
    path: "../../wit/connector-0.2.0",
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

struct LedgerConnector;

export!(LedgerConnector);

impl wit_connector::Guest for LedgerConnector {
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
            // The ledger computes no aggregates: its queries list rows.
            aggregates: None,
        }
    }

    fn check_credential(credential: String, mode: wit::Mode) -> Result<(), wit::ConnectorError> {
        key::check(&credential, core_mode(mode)).map_err(error)
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
        )
        .map_err(error)?;
        Ok(wit_connector::Connection::new(ConnectionResource { inner }))
    }

    fn verify(&self) -> Result<wit::VerifyReport, wit::ConnectorError> {
        self.inner
            .verify(&mut WasiHttp, &mut WasiClock)
            .map(verify_report)
            .map_err(error)
    }

    fn canonical_query(&self, query: String) -> Result<String, wit::ConnectorError> {
        self.inner.canonical_query(&query).map_err(error)
    }

    fn query(&self, query: String) -> Result<wit::QueryResult, wit::ConnectorError> {
        self.inner
            .query(&mut WasiHttp, &mut WasiClock, &query)
            .map(query_result)
            .map_err(error)
    }
}

// ---- wasi:http, wasi:clocks, wasi:random ---------------------------------------------------------

/// One request at a time through the host's `wasi:http/outgoing-handler`; the host's policy decides
/// whether (and where) it is delivered, and adds the key to those it delivers.
struct WasiHttp;

impl Http for WasiHttp {
    fn send(&mut self, request: &Request) -> Result<Response, TransportError> {
        let pending = start(request)?;
        pending.subscribe().block();
        finish(pending)
    }

    fn progress(&mut self, requests: u32, rows: u64) {
        klairr::connector::progress::report(requests, rows);
    }
}

fn start(request: &Request) -> Result<wasi::http::types::FutureIncomingResponse, TransportError> {
    use wasi::http::types::{Fields, Method, OutgoingRequest, Scheme};

    let headers: Vec<(String, Vec<u8>)> = vec![
        ("ledger-version".into(), API_VERSION.as_bytes().to_vec()),
        ("accept".into(), b"application/json".to_vec()),
        ("user-agent".into(), b"klairr-ledger-connector/0.1".to_vec()),
    ];
    let fields = Fields::from_list(&headers).map_err(|e| {
        TransportError::Connection(format!("could not build request headers: {e:?}"))
    })?;
    let outgoing = OutgoingRequest::new(fields);
    let set = [
        outgoing.set_method(&Method::Get).is_ok(),
        outgoing.set_scheme(Some(&Scheme::Https)).is_ok(),
        outgoing.set_authority(Some(API_AUTHORITY)).is_ok(),
        outgoing
            .set_path_with_query(Some(&request.path_and_query))
            .is_ok(),
    ];
    if set.contains(&false) {
        return Err(TransportError::Connection(
            "the host refused the request line".into(),
        ));
    }
    // No request-options: the host applies its own timeout ceilings to every request.
    wasi::http::outgoing_handler::handle(outgoing, None).map_err(transport_error)
}

fn finish(pending: wasi::http::types::FutureIncomingResponse) -> Result<Response, TransportError> {
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
    let (mut request_id, mut retry_after, mut declared_len) = (None, None, None);
    for (name, value) in headers.entries() {
        let Ok(value) = std::str::from_utf8(&value) else {
            continue;
        };
        let value = value.trim();
        match name.as_str() {
            "x-request-id" => request_id = Some(value.to_owned()),
            "retry-after" => retry_after = value.parse::<u64>().ok().map(Duration::from_secs),
            "content-length" => declared_len = value.parse::<usize>().ok(),
            _ => {}
        }
    }
    drop(headers);
    let too_large =
        |request_id: Option<String>| TransportError::BodyTooLarge { status, request_id };
    if declared_len.is_some_and(|n| n > MAX_BODY_BYTES) {
        return Err(too_large(request_id));
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
                if body.len() + chunk.len() > MAX_BODY_BYTES {
                    return Err(too_large(request_id));
                }
                body.extend_from_slice(&chunk);
            }
            Err(wasi::io::streams::StreamError::Closed) => break,
            Err(wasi::io::streams::StreamError::LastOperationFailed(e)) => {
                // The host cut a body over its manifest's size: as final as our own cap.
                if let Some(wasi::http::types::ErrorCode::HttpResponseBodySize(_)) =
                    wasi::http::types::http_error_code(&e)
                {
                    return Err(too_large(request_id));
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
        retry_after,
        body,
    })
}

/// Sleeps through `wasi:clocks` (never a busy loop); jitter from `wasi:random`.
struct WasiClock;

impl Clock for WasiClock {
    fn sleep(&mut self, duration: Duration) {
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        wasi::clocks::monotonic_clock::subscribe_duration(nanos).block();
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

fn column(c: &ColumnSpec) -> wit::Column {
    wit::Column {
        name: c.name.into(),
        kind: match c.kind {
            ColumnType::Id => wit::ColumnType::Id,
            ColumnType::Text => wit::ColumnType::Text,
            ColumnType::Timestamp => wit::ColumnType::Timestamp,
            ColumnType::Amount => wit::ColumnType::Amount,
            ColumnType::Currency => wit::ColumnType::Currency,
        },
        nullable: c.nullable,
        doc: c.doc.into(),
    }
}

fn table_spec(t: &TableSpec) -> wit::TableSpec {
    wit::TableSpec {
        name: t.table.name().into(),
        doc: t.doc.into(),
        columns: t.columns.iter().map(column).collect(),
        filters: t
            .filters
            .iter()
            .map(|f| wit::FilterSpec {
                key: f.key.into(),
                accepts: f.accepts.into(),
                doc: f.doc.into(),
            })
            .collect(),
        aggregate: None,
    }
}

fn cell(c: Cell) -> wit::Cell {
    match c {
        Cell::Null => wit::Cell::Null,
        Cell::Text(s) => wit::Cell::Text(s),
        Cell::Integer(i) => wit::Cell::Integer(i),
    }
}

fn query_result(r: QueryResult) -> wit::QueryResult {
    let columns: Vec<wit::Column> = r.columns.iter().map(column).collect();
    wit::QueryResult {
        table: r.table.name().into(),
        shape: wit::Shape {
            table: r.shape.table.name().into(),
            columns: columns.clone(),
            row_count: r.shape.row_count,
            filter_keys: r.shape.filter_keys,
            aggregate: None,
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
        // The connector filters nothing itself, so no scan ever stops at a bound.
        scan_note: None,
        aggregate: None,
    }
}

fn verify_report(r: VerifyReport) -> wit::VerifyReport {
    wit::VerifyReport {
        mode: mode(r.mode),
        readable: r.readable.iter().map(|t| t.name().to_owned()).collect(),
        // The manifest allows no write, so there is nothing to probe.
        write_probes_refused: Vec::new(),
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
        ConnectorError::MissingPermission(r) => wit::ConnectorError::MissingPermission(r),
        ConnectorError::InvalidQuery(m) => wit::ConnectorError::InvalidQuery(m),
        ConnectorError::RateLimited(u) => wit::ConnectorError::RateLimited(upstream(u)),
        ConnectorError::Upstream(u) => wit::ConnectorError::Upstream(upstream(u)),
        ConnectorError::Network(m) => wit::ConnectorError::Network(m),
    }
}
