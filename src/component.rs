//! The component's edge: the exports of `klairr:connector@0.2.0`, through the SDK's bindings, conversions
//! and wasi transport ([`klairr_connector_sdk::component`]).
//!
//! `check-credential` is [`crate::key::ApiKey::parse`], the connection methods are [`Connection`]'s. The
//! transport is the SDK's wasi:http to [`STRIPE`]: the fixed request headers (`stripe-version` pinned to
//! [`stripe::API_VERSION`], `accept`, `user-agent`, and `content-length: 0` on the write probes, which have
//! no body), never `authorization` (the host attaches the key itself and refuses that header from a
//! guest), the four response headers the core uses, and the body capped at [`transport::MAX_BODY_BYTES`].

use crate::aggregate;
use crate::connection::{self, Connection, QueryResult};
use crate::error::ConnectorError;
use crate::key::{ApiKey, Mode};
use crate::schema::TableSpec;
use crate::stripe;
use crate::transport;
use crate::verify::VerifyReport;
use klairr_connector_sdk::component::{self as sdk, Api, Connector, Wasi};

use klairr_connector_sdk::component::types as wit;

/// `https://api.stripe.com`, as the transport talks to it.
static STRIPE: Api = Api {
    authority: stripe::API_HOST,
    headers: &[
        ("stripe-version", stripe::API_VERSION),
        ("accept", "application/json"),
        ("user-agent", "klairr-stripe-connector/0.2"),
    ],
    request_id_header: "request-id",
    should_retry_header: Some("stripe-should-retry"),
    max_body_bytes: transport::MAX_BODY_BYTES,
};

klairr_connector_sdk::export!(Connection);

impl Connector for Connection {
    const API: &'static Api = &STRIPE;

    fn describe() -> wit::ConnectorInfo {
        sdk::connector_info(connection::describe(), table_spec)
    }

    fn check_credential(credential: &str, mode: Mode) -> Result<(), ConnectorError> {
        ApiKey::parse(credential, mode).map(|_| ())
    }

    fn verify(&self, io: &mut Wasi) -> Result<wit::VerifyReport, ConnectorError> {
        Connection::verify(self, &mut io.http, &mut io.clock).map(verify_report)
    }

    fn query(&self, io: &mut Wasi, query: &str) -> Result<wit::QueryResult, ConnectorError> {
        Connection::query(self, &mut io.http, &mut io.clock, query).map(query_result)
    }
}

// ---- core → WIT: what only Stripe's results carry -------------------------------------------------

fn names(list: Vec<&'static str>) -> Vec<String> {
    list.into_iter().map(String::from).collect()
}

fn table_spec(t: &TableSpec) -> wit::TableSpec {
    let aggregates = aggregate::table_aggregates(t.table);
    let aggregate = wit::AggregateSpec {
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
    };
    sdk::table_spec(t, Some(aggregate))
}

fn query_result(r: QueryResult) -> wit::QueryResult {
    let columns: Vec<wit::Column> = r.columns.into_iter().map(sdk::column).collect();
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
        rows: sdk::rows(r.rows),
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
        mode: sdk::mode(r.mode),
        readable: r.readable.iter().map(|t| t.name().to_owned()).collect(),
        write_probes_refused: r.write_probes_refused,
        requests: r.requests,
    }
}
