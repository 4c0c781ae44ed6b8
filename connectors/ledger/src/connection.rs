//! The catalogue (`describe`) and a connection: its mode, the host's hint of its key and its limits; and
//! what a caller does with it — verify the key at setup, canonicalise a query for the host's cache, and
//! run a query.
//!
//! The key never reaches a connection (WIT `klairr:connector@0.2.0`): the host checks it with
//! `check-credential` ([`crate::key::check`]) in a throwaway instance and attaches it to every request its
//! manifest allows, in the header the manifest names.

use crate::api;
use crate::error::{ConnectorError, Ledger};
use crate::key::{self, Mode};
use crate::pager;
use crate::query;
use crate::retry::{Caller, RetryPolicy};
use crate::schema::{self, Cell, ColumnSpec, Table, TableSpec};
use crate::transport::{Clock, Http, API_VERSION};
use klairr_connector_sdk::config::{self as limits, Config, Connect};

/// Ledger rows are financial records: the host may cache a result for at most 15 minutes (the manifest's
/// ceiling says the same). A connection may lower it, never raise it.
pub const DEFAULT_CACHE_TTL_SECONDS: u32 = 900;
pub const DEFAULT_MAX_ROWS: u32 = 1000;
pub const MAX_ROWS_LIMIT: u32 = 100_000;

/// What `describe` returns.
pub type ConnectorInfo = klairr_connector_sdk::catalogue::ConnectorInfo<TableSpec>;

pub fn describe() -> ConnectorInfo {
    ConnectorInfo {
        name: "ledger",
        api_version: API_VERSION,
        default_cache_ttl_seconds: DEFAULT_CACHE_TTL_SECONDS,
        default_max_rows: DEFAULT_MAX_ROWS,
        max_rows_limit: MAX_ROWS_LIMIT,
        query_doc: query::QUERY_DOC,
        tables: schema::tables(),
        // The ledger computes no aggregates: its queries list rows.
        aggregates: None,
    }
}

/// What may be remembered about a result: never a row value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shape {
    pub table: Table,
    pub columns: &'static [ColumnSpec],
    pub row_count: u64,
    pub filter_keys: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryResult {
    pub table: Table,
    pub columns: &'static [ColumnSpec],
    pub rows: Vec<Vec<Cell>>,
    pub truncated: bool,
    pub cache_ttl_seconds: u32,
    pub shape: Shape,
    pub requests: u32,
}

/// Setup's outcome: the key reads every table. The ledger connector makes no write probes — its manifest
/// allows no write at all, so there is nothing a key could write through it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    pub mode: Mode,
    pub readable: Vec<Table>,
    pub requests: u32,
}

#[derive(Debug)]
pub struct Connection {
    mode: Mode,
    hint: String,
    max_rows: u32,
    cache_ttl_seconds: u32,
}

impl Connect for Connection {
    type Wording = Ledger;

    /// Offline checks of the limits; makes no request. The config's `credential_hint` (`lk_test_…abcd`)
    /// names the key in messages.
    fn open(config: &Config) -> Result<Connection, ConnectorError> {
        let Config {
            mode,
            ref credential_hint,
            max_rows,
            cache_ttl_seconds,
            // Bounds aggregates, which the ledger does not compute.
            max_scan: _,
        } = *config;
        let max_rows = limits::within("max-rows", max_rows, DEFAULT_MAX_ROWS, MAX_ROWS_LIMIT)
            .map_err(ConnectorError::InvalidQuery)?;
        // Only a hint of the form the host makes is quoted back; anything else is replaced.
        let hint_ok = credential_hint.chars().count() <= 40
            && credential_hint
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '…');
        let hint = if hint_ok && !credential_hint.is_empty() {
            credential_hint.to_owned()
        } else {
            format!("{}…", key::prefix(mode))
        };
        Ok(Connection {
            mode,
            hint,
            max_rows,
            cache_ttl_seconds: limits::cache_ttl(cache_ttl_seconds, DEFAULT_CACHE_TTL_SECONDS),
        })
    }

    /// The canonical text of a query (the host's cache key). Makes no request.
    fn canonical_query(&self, text: &str) -> Result<String, ConnectorError> {
        Ok(query::parse(text, self.max_rows)?.canonical())
    }
}

impl Connection {
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Setup: one read probe per table (`limit=1`). 401 ends it at once (`invalid-key`); tables answered
    /// with 403 are collected into one `missing-permission`; data of the other mode is a `mode-mismatch`.
    pub fn verify<H: Http + ?Sized, C: Clock + ?Sized>(
        &self,
        http: &mut H,
        clock: &mut C,
    ) -> Result<VerifyReport, ConnectorError> {
        let mut caller = Caller::new(http, clock, RetryPolicy::default(), &self.hint);
        let mut readable = Vec::new();
        let mut missing = Vec::new();
        for table in Table::ALL {
            let path = format!("{}?limit=1", table.path());
            match caller.get(table, &path) {
                Ok(response) => {
                    let page = api::decode_page(table, &response)?;
                    pager::check_mode(self.mode, &page, table, &response, true)?;
                    readable.push(table);
                }
                Err(ConnectorError::MissingPermission(tables)) => missing.extend(tables),
                Err(other) => return Err(other),
            }
        }
        if !missing.is_empty() {
            return Err(ConnectorError::MissingPermission(missing));
        }
        Ok(VerifyReport {
            mode: self.mode,
            readable,
            requests: caller.requests,
        })
    }

    /// Parse, page through the API up to the row target, and return typed rows.
    pub fn query<H: Http + ?Sized, C: Clock + ?Sized>(
        &self,
        http: &mut H,
        clock: &mut C,
        text: &str,
    ) -> Result<QueryResult, ConnectorError> {
        let query = query::parse(text, self.max_rows)?;
        let mut caller = Caller::new(http, clock, RetryPolicy::default(), &self.hint);
        let fetched = pager::fetch(&mut caller, &query, self.mode)?;
        let columns = query.table.spec().columns;
        Ok(QueryResult {
            table: query.table,
            columns,
            truncated: fetched.truncated,
            cache_ttl_seconds: self.cache_ttl_seconds,
            shape: Shape {
                table: query.table,
                columns,
                row_count: fetched.rows.len() as u64,
                filter_keys: query.filter_keys,
            },
            rows: fetched.rows,
            requests: caller.requests,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{FakeClock, FakeLedger};

    fn conn(mode: Mode) -> Connection {
        Connection::open(&Config::with(
            mode,
            format!("{}…wxyz", key::prefix(mode)),
            None,
            None,
            None,
        ))
        .expect("open")
    }

    #[test]
    fn open_checks_limits_offline() {
        let c = conn(Mode::Live);
        assert_eq!((c.max_rows, c.cache_ttl_seconds), (DEFAULT_MAX_ROWS, 900));
        let c = Connection::open(&Config::with(
            Mode::Test,
            "lk_test_…0123",
            Some(MAX_ROWS_LIMIT),
            Some(60),
            None,
        ))
        .expect("limits");
        assert_eq!((c.max_rows, c.cache_ttl_seconds), (MAX_ROWS_LIMIT, 60));
        let c = Connection::open(&Config::with(Mode::Test, "", None, Some(u32::MAX), None))
            .expect("ttl clamped");
        assert_eq!(c.cache_ttl_seconds, DEFAULT_CACHE_TTL_SECONDS);
        assert_eq!(c.hint, "lk_test_…", "a missing hint is replaced");
        let c = Connection::open(&Config::with(Mode::Test, "\u{1b}[31m", None, None, None))
            .expect("odd hint");
        assert_eq!(c.hint, "lk_test_…", "an odd hint is never quoted back");
        for bad in [0, MAX_ROWS_LIMIT + 1] {
            let e = Connection::open(&Config::with(Mode::Test, "", Some(bad), None, None))
                .expect_err("range");
            assert_eq!(e.kind(), "invalid-query");
        }
    }

    #[test]
    fn verify_reads_one_row_of_each_table() {
        let mut ledger = FakeLedger::new(2, 5);
        let report = conn(Mode::Test)
            .verify(&mut ledger, &mut FakeClock::default())
            .expect("verified");
        assert_eq!(
            report,
            VerifyReport {
                mode: Mode::Test,
                readable: vec![Table::Accounts, Table::Entries],
                requests: 2
            }
        );
        assert_eq!(ledger.sent, ["/v1/accounts?limit=1", "/v1/entries?limit=1"]);
    }

    #[test]
    fn verify_names_every_table_it_cannot_read_and_the_wrong_mode() {
        let mut ledger = FakeLedger::new(2, 5);
        ledger.forbidden = vec!["accounts", "entries"];
        let e = conn(Mode::Test)
            .verify(&mut ledger, &mut FakeClock::default())
            .expect_err("forbidden");
        assert_eq!(
            e,
            ConnectorError::MissingPermission(vec!["accounts".into(), "entries".into()])
        );

        let mut ledger = FakeLedger::new(2, 5);
        let e = conn(Mode::Live)
            .verify(&mut ledger, &mut FakeClock::default())
            .expect_err("test data for a live key");
        assert_eq!(e.kind(), "mode-mismatch", "{e}");

        // Pages that do not say their mode prove nothing: setup fails closed (paging takes them).
        let mut ledger = FakeLedger::new(2, 5);
        ledger.omit_livemode = true;
        let e = conn(Mode::Test)
            .verify(&mut ledger, &mut FakeClock::default())
            .expect_err("no livemode");
        assert_eq!(e.kind(), "upstream", "{e}");
        assert!(e.to_string().contains("does not say which mode"), "{e}");
    }

    #[test]
    fn a_query_returns_typed_rows_its_shape_and_its_request_count() {
        let mut ledger = FakeLedger::new(3, 120);
        let c = Connection::open(&Config::with(
            Mode::Test,
            "lk_test_…0123",
            Some(110),
            Some(30),
            None,
        ))
        .expect("open");
        let result = c
            .query(
                &mut ledger,
                &mut FakeClock::default(),
                r#"{"list":"entries","filters":{"currency":"eur"}}"#,
            )
            .expect("rows");
        let eur: Vec<_> = ledger
            .entries
            .iter()
            .filter(|e| e.currency == "eur")
            .collect();
        assert_eq!(result.rows.len(), eur.len());
        assert!(!result.truncated);
        for (row, e) in result.rows.iter().zip(&eur) {
            assert_eq!(
                *row,
                vec![
                    Cell::Text(e.id.clone()),
                    Cell::Text(e.account.clone()),
                    Cell::Integer(e.amount),
                    Cell::Text(e.currency.clone()),
                    Cell::Integer(e.created),
                    e.memo.clone().map_or(Cell::Null, Cell::Text),
                ]
            );
        }
        assert_eq!(result.cache_ttl_seconds, 30);
        assert_eq!(result.requests, 1);
        assert_eq!(result.shape.filter_keys, ["currency"]);
        assert_eq!(result.shape.row_count, eur.len() as u64);
        assert_eq!(result.columns, Table::Entries.spec().columns);
        assert_eq!(
            c.canonical_query(r#"{"filters":{"currency":"EUR"},"list":"entries"}"#),
            Ok("entries?currency=eur#rows=110".into())
        );
    }

    #[test]
    fn an_invalid_query_makes_no_request() {
        let mut ledger = FakeLedger::new(1, 1);
        let e = conn(Mode::Test)
            .query(
                &mut ledger,
                &mut FakeClock::default(),
                r#"{"list":"payouts"}"#,
            )
            .expect_err("no such table");
        assert_eq!(e.kind(), "invalid-query");
        assert!(ledger.sent.is_empty());
    }

    #[test]
    fn the_catalogue_describes_both_tables() {
        let info = describe();
        assert_eq!(info.name, "ledger");
        assert_eq!(info.api_version, API_VERSION);
        assert_eq!(info.tables.len(), 2);
        assert!(info.query_doc.contains("\"list\""));
        assert!(info.default_max_rows <= info.max_rows_limit);
    }
}
