//! The component's edge: the exports of `klairr:connector@0.2.0`, through the SDK's bindings, conversions
//! and wasi transport ([`klairr_connector_sdk::component`]).
//!
//! `check-credential` is [`key::check`], the
//! connection methods are [`Connection`]'s. The transport is the SDK's wasi:http to [`LEDGER`]: `GET
//! https://api.ledger.example…` with three fixed headers (`ledger-version` pinned to [`API_VERSION`],
//! `accept`, `user-agent`) and never the credential (the host attaches it in the manifest's header and
//! refuses that header from a guest); it reads `x-request-id`, `retry-after` and `content-length`, and
//! caps the body at [`MAX_BODY_BYTES`].
//!
//! Records the contract may grow with optional fields (a result's aggregate, say) are built in
//! [`Connector::query`] only: each new field is one `field: None` line there.

use crate::connection::{self, Connection};
use crate::error::ConnectorError;
use crate::key::{self, Mode};
use crate::transport::{API_AUTHORITY, API_VERSION, MAX_BODY_BYTES};
use klairr_connector_sdk::component::{self as sdk, Api, Connector, Wasi};

use klairr_connector_sdk::component::types as wit;

/// The ledger API, as the transport talks to it.
static LEDGER: Api = Api {
    authority: API_AUTHORITY,
    headers: &[
        ("ledger-version", API_VERSION),
        ("accept", "application/json"),
        ("user-agent", "klairr-ledger-connector/0.1"),
    ],
    request_id_header: "x-request-id",
    should_retry_header: None,
    max_body_bytes: MAX_BODY_BYTES,
};

klairr_connector_sdk::export!(Connection);

impl Connector for Connection {
    const API: &'static Api = &LEDGER;

    fn describe() -> wit::ConnectorInfo {
        // The ledger computes no aggregates: no table takes one.
        sdk::connector_info(connection::describe(), |t| sdk::table_spec(t, None))
    }

    fn check_credential(credential: &str, mode: Mode) -> Result<(), ConnectorError> {
        key::check(credential, mode)
    }

    fn verify(&self, io: &mut Wasi) -> Result<wit::VerifyReport, ConnectorError> {
        let report = Connection::verify(self, &mut io.http, &mut io.clock)?;
        Ok(wit::VerifyReport {
            mode: sdk::mode(report.mode),
            readable: report
                .readable
                .iter()
                .map(|t| t.name().to_owned())
                .collect(),
            // The manifest allows no write, so there is nothing to probe.
            write_probes_refused: Vec::new(),
            requests: report.requests,
        })
    }

    fn query(&self, io: &mut Wasi, query: &str) -> Result<wit::QueryResult, ConnectorError> {
        let r = Connection::query(self, &mut io.http, &mut io.clock, query)?;
        let columns: Vec<wit::Column> = r.columns.iter().map(sdk::column_spec).collect();
        Ok(wit::QueryResult {
            table: r.table.name().into(),
            shape: wit::Shape {
                table: r.shape.table.name().into(),
                columns: columns.clone(),
                row_count: r.shape.row_count,
                filter_keys: r.shape.filter_keys,
                aggregate: None,
            },
            columns,
            rows: sdk::rows(r.rows),
            truncated: r.truncated,
            cache_ttl_seconds: r.cache_ttl_seconds,
            requests: r.requests,
            // The connector filters nothing itself, so no scan ever stops at a bound.
            scan_note: None,
            aggregate: None,
        })
    }
}
