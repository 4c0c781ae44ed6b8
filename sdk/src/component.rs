//! What every component shares at its edge (wasm32 only): the `klairr:connector@0.2.0` bindings,
//! generated here once (a connector implements [`Connector`] and exports it with
//! [`crate::export!`]), the conversions from the core types, and the [`crate::transport::Http`] and
//! [`crate::transport::Clock`] that talk wasi:http, wasi:clocks and wasi:random (`wasi_transport`).

use crate::catalogue::{
    Cell, Column, ColumnSpec, ColumnType, ConnectorInfo, Filter, Table, TableSpec,
};
use crate::config::{Config, Connect};
use crate::error::{ConnectorError, UpstreamError};
use crate::key::Mode;
use crate::prelude::*;
use core::marker::PhantomData;

/// The `klairr:connector@0.2.0` bindings, generated once for every connector: a connector implements
/// [`Connector`] and exports it with [`crate::export!`].
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit/connector-0.2.0",
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
        pub_export_macro: true,
        export_macro_name: "export_connector",
        default_bindings_module: "klairr_connector_sdk::component::bindings",
    });
}

/// wit-bindgen's export macro, for [`crate::export!`].
#[doc(hidden)]
pub use bindings::export_connector;
use bindings::exports::klairr::connector::connector as wit_connector;
/// `klairr:connector/types`: what a connector's [`Connector`] methods return.
pub use bindings::klairr::connector::types;

// ---- the exports ---------------------------------------------------------------------------------

/// One connector's side of the contract, implemented by its connection type: the core behind each export
/// that does I/O or speaks of the connector's own results (opening a connection and canonical queries
/// are its [`Connect`]), in the core's types where they are shared (a [`Mode`], a [`ConnectorError`])
/// and in WIT's elsewhere. The SDK does the rest: [`Exported`] converts, and gives each call a [`Wasi`]
/// whose [`WasiHttp`] talks to [`Connector::API`]. A component exports its connector with
/// [`crate::export!`].
pub trait Connector: Connect {
    /// The one API the connector talks to.
    const API: &'static Api;

    fn describe() -> types::ConnectorInfo;
    fn check_credential(credential: &str, mode: Mode) -> Result<(), ErrorOf<Self>>;
    fn verify(&self, io: &mut Wasi) -> Result<types::VerifyReport, ErrorOf<Self>>;
    fn query(&self, io: &mut Wasi, query: &str) -> Result<types::QueryResult, ErrorOf<Self>>;
}

/// The error type of connector `C`.
pub type ErrorOf<C> = ConnectorError<<C as Connect>::Wording>;

/// What one call may use outside the component: requests to the connector's [`Api`], and time.
pub struct Wasi {
    pub http: WasiHttp,
    pub clock: WasiClock,
}

impl Wasi {
    fn to(api: &'static Api) -> Wasi {
        Wasi {
            http: WasiHttp::new(api),
            clock: WasiClock,
        }
    }
}

/// Exports connector `C` (its connection type, implementing [`Connector`]) as this component's
/// `klairr:connector/connector@0.2.0`.
#[macro_export]
macro_rules! export {
    ($connector:ty) => {
        type __KlairrExported = $crate::component::Exported<$connector>;
        $crate::component::export_connector!(__KlairrExported);
    };
}

/// The exports of connector `C`, as [`crate::export!`] hands them to wit-bindgen.
pub struct Exported<C>(PhantomData<C>);

/// A connection resource of connector `C`.
pub struct ConnectionOf<C: Connector>(C);

impl<C: Connector> wit_connector::Guest for Exported<C> {
    type Connection = ConnectionOf<C>;

    fn describe() -> types::ConnectorInfo {
        C::describe()
    }

    fn check_credential(
        credential: String,
        mode: types::Mode,
    ) -> Result<(), types::ConnectorError> {
        C::check_credential(&credential, core_mode(mode)).map_err(error)
    }
}

impl<C: Connector> wit_connector::GuestConnection for ConnectionOf<C> {
    fn open(config: types::Config) -> Result<wit_connector::Connection, types::ConnectorError> {
        let config = Config {
            mode: core_mode(config.mode),
            credential_hint: config.credential_hint,
            max_rows: config.max_rows,
            cache_ttl_seconds: config.cache_ttl_seconds,
            max_scan: config.max_scan,
        };
        let inner = C::open(&config).map_err(error)?;
        Ok(wit_connector::Connection::new(ConnectionOf::<C>(inner)))
    }

    fn verify(&self) -> Result<types::VerifyReport, types::ConnectorError> {
        self.0.verify(&mut Wasi::to(C::API)).map_err(error)
    }

    fn canonical_query(&self, query: String) -> Result<String, types::ConnectorError> {
        self.0.canonical_query(&query).map_err(error)
    }

    fn query(&self, query: String) -> Result<types::QueryResult, types::ConnectorError> {
        self.0.query(&mut Wasi::to(C::API), &query).map_err(error)
    }
}

// ---- WIT ↔ core conversions ----------------------------------------------------------------------

fn core_mode(m: types::Mode) -> Mode {
    match m {
        types::Mode::Live => Mode::Live,
        types::Mode::Test => Mode::Test,
    }
}

pub fn mode(m: Mode) -> types::Mode {
    match m {
        Mode::Live => types::Mode::Live,
        Mode::Test => types::Mode::Test,
    }
}

fn column_type(kind: ColumnType) -> types::ColumnType {
    match kind {
        ColumnType::Id => types::ColumnType::Id,
        ColumnType::Text => types::ColumnType::Text,
        ColumnType::Integer => types::ColumnType::Integer,
        ColumnType::Boolean => types::ColumnType::Boolean,
        ColumnType::Timestamp => types::ColumnType::Timestamp,
        ColumnType::Amount => types::ColumnType::Amount,
        ColumnType::Currency => types::ColumnType::Currency,
    }
}

pub fn column(c: Column) -> types::Column {
    types::Column {
        name: c.name,
        kind: column_type(c.kind),
        nullable: c.nullable,
        doc: c.doc,
    }
}

pub fn column_spec(c: &ColumnSpec) -> types::Column {
    column(c.into())
}

/// A table of the catalogue; `aggregate` says what aggregates it takes, `None` for a connector
/// without aggregates.
pub fn table_spec<T: Table, F: Filter>(
    t: &TableSpec<T, F>,
    aggregate: Option<types::AggregateSpec>,
) -> types::TableSpec {
    types::TableSpec {
        name: t.table.name().into(),
        doc: t.doc.into(),
        columns: t.columns.iter().map(column_spec).collect(),
        filters: t
            .filters
            .iter()
            .map(|f| {
                let described = f.described();
                types::FilterSpec {
                    key: described.key.into(),
                    accepts: described.accepts.into(),
                    doc: described.doc.into(),
                }
            })
            .collect(),
        aggregate,
    }
}

/// `describe`'s answer; `table` converts each table spec.
pub fn connector_info<S>(
    info: ConnectorInfo<S>,
    table: impl Fn(&S) -> types::TableSpec,
) -> types::ConnectorInfo {
    types::ConnectorInfo {
        name: info.name.into(),
        api_version: info.api_version.into(),
        default_cache_ttl_seconds: info.default_cache_ttl_seconds,
        default_max_rows: info.default_max_rows,
        max_rows_limit: info.max_rows_limit,
        query_doc: info.query_doc.into(),
        tables: info.tables.iter().map(table).collect(),
        aggregates: info.aggregates.map(|a| types::AggregateInfo {
            doc: a.doc.into(),
            buckets: a.buckets.into_iter().map(String::from).collect(),
            default_max_scan: a.default_max_scan,
            max_scan_limit: a.max_scan_limit,
        }),
    }
}

pub fn cell(c: Cell) -> types::Cell {
    match c {
        Cell::Null => types::Cell::Null,
        Cell::Text(s) => types::Cell::Text(s),
        Cell::Integer(i) => types::Cell::Integer(i),
        Cell::Boolean(b) => types::Cell::Boolean(b),
    }
}

pub fn rows(rows: Vec<Vec<Cell>>) -> Vec<Vec<types::Cell>> {
    rows.into_iter()
        .map(|row| row.into_iter().map(cell).collect())
        .collect()
}

fn upstream(e: UpstreamError) -> types::UpstreamError {
    types::UpstreamError {
        status: e.status,
        code: e.code,
        message: e.message,
        request_id: e.request_id,
    }
}

fn error<W>(e: ConnectorError<W>) -> types::ConnectorError {
    match e {
        ConnectorError::SecretKeyRejected(m) => types::ConnectorError::SecretKeyRejected(m),
        ConnectorError::InvalidKey(m) => types::ConnectorError::InvalidKey(m),
        ConnectorError::ModeMismatch(m) => types::ConnectorError::ModeMismatch(m),
        ConnectorError::OverPermissioned(r) => types::ConnectorError::OverPermissioned(r),
        ConnectorError::MissingPermission(r) => types::ConnectorError::MissingPermission(r),
        ConnectorError::InvalidQuery(m) => types::ConnectorError::InvalidQuery(m),
        ConnectorError::RateLimited(u) => types::ConnectorError::RateLimited(upstream(u)),
        ConnectorError::Upstream(u) => types::ConnectorError::Upstream(upstream(u)),
        ConnectorError::Network(m) => types::ConnectorError::Network(m),
        ConnectorError::_Wording(never, _) => match never {},
    }
}

mod wasi_transport;
pub use wasi_transport::{Api, WasiClock, WasiHttp};
