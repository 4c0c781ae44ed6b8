//! A connection: a mode, the host's hint of its key, and its limits; and the three things a caller does
//! with it — verify the key at setup, canonicalise a query for the host's cache, and run a query.
//!
//! The key itself never reaches a connection (WIT `klairr:connector@0.2.0`): the host checks it with
//! `check-credential` ([`crate::key::ApiKey::parse`]) in a throwaway instance, and attaches it to every
//! request it allows. So nothing here can echo it, and a key pasted into a query is the host's to redact
//! (it redacts any 12-character run of the credential from everything a component returns).

use crate::aggregate::{self, Aggregate, AggregateShape, Bucket, Folder};
use crate::dsl::{self, PostFilter, Query};
use crate::error::{ConnectorError, Stripe};
use crate::key::{KeyHint, Mode};
use crate::pager;
use crate::prelude::*;
use crate::retry::{Retrier, RetryPolicy};
use crate::schema::{self, Cell, Column, Table, TableSpec};
use crate::stripe;
use crate::transport::{Clock, Http};
use crate::verify::{self, VerifyReport};
use klairr_connector_sdk::catalogue::AggregateInfo;
use klairr_connector_sdk::config as limits;
/// What a connection is opened with, and how (the SDK's).
pub use klairr_connector_sdk::config::{Config, Connect};

/// Results hold customer PII: the host may cache them for at most an hour (README, "Privacy: result cache
/// and memory").
/// A connection may lower this, never raise it.
pub const DEFAULT_CACHE_TTL_SECONDS: u32 = 3600;

/// What `describe` returns: everything an LLM needs to write valid queries.
pub type ConnectorInfo = klairr_connector_sdk::catalogue::ConnectorInfo<TableSpec>;

/// How a query is written, for `describe`.
pub const QUERY_DOC: &str = "A query is one JSON object: {\"list\": TABLE, \"filters\": {KEY: VALUE, ...}, \"limit\": N}. \
`list` is required and names one of the tables; `filters` and `limit` are optional; only `measures`, `group_by` and `order_by` (below) may join them (the language is read-only). \
Each table accepts only its own filters, all of which must match. Timestamp ranges (created, due_date, …) are an integer of unix seconds for an exact match, or an object of gt/gte/lt/lte \
whose values are unix seconds or RFC 3339 dates (\"2026-01-01\") or date-times (\"2026-01-01T00:00:00Z\"); a null timestamp never matches. \
A filter applied by the connector (its doc says so) reads the list newest first and skips what does not match, looking at 10 objects per row of limit (at least 1000, at most 100000 and max-scan; a note says when it stopped there, and the result is then truncated: more may match): combine it with a created range on long lists. \
`limit` is a whole number >= 1 written without a decimal point or exponent; a query returns at most min(limit, max_rows) rows (max_rows is the connection's setting, not the query's), newest first, and says when it was truncated. \
Amounts are integers in the currency's minor unit: cents for usd, but whole yen for jpy and other zero-decimal currencies, thousandths for kwd. \
Example: {\"list\": \"subscriptions\", \"filters\": {\"status\": \"active\"}, \"limit\": 100}. \
With \"measures\" (and optionally \"group_by\") a query is an aggregate: see the aggregate doc.";

pub fn describe() -> ConnectorInfo {
    ConnectorInfo {
        name: "stripe",
        api_version: stripe::API_VERSION,
        default_cache_ttl_seconds: DEFAULT_CACHE_TTL_SECONDS,
        default_max_rows: dsl::DEFAULT_MAX_ROWS,
        max_rows_limit: dsl::MAX_ROWS_LIMIT,
        query_doc: QUERY_DOC,
        tables: schema::tables(),
        // How aggregates are written ([`aggregate::AGGREGATE_DOC`]) and bounded.
        aggregates: Some(AggregateInfo {
            doc: aggregate::AGGREGATE_DOC,
            buckets: Bucket::ALL.iter().map(|b| b.name()).collect(),
            default_max_scan: aggregate::DEFAULT_MAX_SCAN,
            max_scan_limit: aggregate::MAX_SCAN_LIMIT,
        }),
    }
}

/// What may be remembered about a result across conversations: never a row value. The columns are
/// the result's (`QueryResult::columns`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shape {
    pub table: Table,
    /// Rows of the result: for an aggregate, its groups.
    pub row_count: u64,
    pub filter_keys: Vec<String>,
    pub aggregate: Option<AggregateShape>,
}

/// How an aggregate's scan went (WIT `aggregate-stats`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AggregateStats {
    pub rows_scanned: u64,
    pub partial: bool,
    /// Groups found before `limit`.
    pub groups: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryResult {
    pub table: Table,
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Cell>>,
    pub truncated: bool,
    pub cache_ttl_seconds: u32,
    pub shape: Shape,
    pub requests: u32,
    pub scan_note: Option<String>,
    pub aggregate: Option<AggregateStats>,
}

/// An open connection. The host has already checked its key for this mode (`check-credential`).
#[derive(Debug)]
pub struct Connection {
    key: KeyHint,
    max_rows: u32,
    max_scan: u32,
    cache_ttl_seconds: u32,
}

impl Connect for Connection {
    type Wording = Stripe;

    /// Offline checks of the limits only; makes no request. The config's `credential_hint` is the host's
    /// `rk_test_…abcd`, used to say which key a message is about (see [`KeyHint::new`]).
    fn open(config: &Config) -> Result<Connection, ConnectorError> {
        let key = KeyHint::new(config.mode, &config.credential_hint);
        let max_rows = limits::within(
            "max-rows",
            config.max_rows,
            dsl::DEFAULT_MAX_ROWS,
            dsl::MAX_ROWS_LIMIT,
        )
        .map_err(ConnectorError::InvalidQuery)?;
        let max_scan = limits::within(
            "max-scan",
            config.max_scan,
            aggregate::DEFAULT_MAX_SCAN,
            aggregate::MAX_SCAN_LIMIT,
        )
        .map_err(ConnectorError::InvalidQuery)?;
        Ok(Connection {
            key,
            max_rows,
            max_scan,
            // Lowering is allowed (0 = do not cache); raising above the default is not.
            cache_ttl_seconds: limits::cache_ttl(
                config.cache_ttl_seconds,
                DEFAULT_CACHE_TTL_SECONDS,
            ),
        })
    }

    /// The canonical text of a query (for the host's cache key). Makes no request.
    fn canonical_query(&self, dsl_text: &str) -> Result<String, ConnectorError> {
        Ok(dsl::parse_with(dsl_text, self.max_rows, self.max_scan)?.canonical())
    }
}

impl Connection {
    pub fn mode(&self) -> Mode {
        self.key.mode()
    }

    /// Setup: prove the key can read all five tables and cannot write.
    pub fn verify<H: Http + ?Sized, C: Clock + ?Sized>(
        &self,
        http: &mut H,
        clock: &mut C,
    ) -> Result<VerifyReport, ConnectorError> {
        let mut retrier = Retrier::new(RetryPolicy::default());
        verify::verify(http, clock, &self.key, &mut retrier)
    }

    /// Parse, page through Stripe up to the row target, and project typed rows.
    pub fn query<H: Http + ?Sized, C: Clock + ?Sized>(
        &self,
        http: &mut H,
        clock: &mut C,
        dsl_text: &str,
    ) -> Result<QueryResult, ConnectorError> {
        let mut query: Query = dsl::parse_with(dsl_text, self.max_rows, self.max_scan)?;
        let mut retrier = Retrier::new(RetryPolicy::default());
        if let Some(aggregate) = query.aggregate.take() {
            return self.aggregate(http, clock, query, &aggregate, &mut retrier);
        }
        let fetched = pager::fetch(http, clock, &self.key, &query, &mut retrier)?;
        let columns = schema::table_spec(query.table)
            .columns
            .iter()
            .map(Column::from)
            .collect();
        let row_count = fetched.rows.len() as u64;
        Ok(QueryResult {
            table: query.table,
            columns,
            rows: fetched.rows,
            truncated: fetched.truncated,
            cache_ttl_seconds: self.cache_ttl_seconds,
            shape: Shape {
                table: query.table,
                row_count,
                filter_keys: query.filter_keys,
                aggregate: None,
            },
            requests: fetched.requests,
            scan_note: fetched.scan_note,
            aggregate: None,
        })
    }

    /// An aggregate query: every matching row up to the scan bound, folded into groups as it arrives;
    /// only the groups are returned.
    fn aggregate<H: Http + ?Sized, C: Clock + ?Sized>(
        &self,
        http: &mut H,
        clock: &mut C,
        query: Query,
        aggregate: &Aggregate,
        retrier: &mut Retrier,
    ) -> Result<QueryResult, ConnectorError> {
        let used = aggregate.used();
        let mut folder = Folder::new(aggregate, &used);
        let scanned = pager::scan(
            http,
            clock,
            &self.key,
            &query,
            aggregate,
            retrier,
            &mut |row| folder.fold(row),
        )?;
        let grouped = folder.finish(query.row_target)?;
        let returned = grouped.rows.len() as u64;
        let scan_note = scanned.partial.then(|| {
            let rows = if scanned.rows_scanned == 1 { "row" } else { "rows" };
            // With a filter the connector applies itself, the rows read are not the rows measured
            // (QA: "covers the 1000 rows read" of a count of 10).
            let covered = if query.post_filters.is_empty() {
                format!("the {} {rows} read", scanned.rows_scanned)
            } else {
                let kept: Vec<String> = query.post_filters.iter().map(PostFilter::text).collect();
                format!(
                    "the rows with {} among the {} {rows} read",
                    kept.join(" and "),
                    scanned.rows_scanned
                )
            };
            // A bound already at its most cannot be raised (review).
            let what_helps = if aggregate.max_scan < aggregate::MAX_SCAN_LIMIT {
                crate::pager::RAISE_MAX_SCAN
            } else {
                "Narrow the query with a created range (the bound is at its most)"
            };
            format!(
                "partial: the scan stopped at its bound (max-scan {}) with more {} following, newest first; \
                 every measure covers {covered} only. {what_helps}",
                aggregate.max_scan,
                query.table.name(),
            )
        });
        Ok(QueryResult {
            table: query.table,
            columns: aggregate.columns(),
            truncated: scanned.partial || grouped.groups > returned,
            rows: grouped.rows,
            cache_ttl_seconds: self.cache_ttl_seconds,
            shape: Shape {
                table: query.table,
                row_count: returned,
                filter_keys: query.filter_keys,
                aggregate: Some(aggregate.shape()),
            },
            requests: scanned.requests,
            scan_note,
            aggregate: Some(AggregateStats {
                rows_scanned: scanned.rows_scanned,
                partial: scanned.partial,
                groups: grouped.groups,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{FakeClock, Replies};
    use crate::transport::{Request, Response, TransportError};

    /// A query rejected while parsing never reaches the transport.
    fn no_transport(_: &Request) -> Result<Response, TransportError> {
        panic!("an invalid query made a request")
    }

    #[test]
    fn open_checks_the_limits_offline() {
        let conn = Connection::open(&Config::with(Mode::Live, "rk_live_…abcd", None, None, None))
            .expect("defaults");
        assert_eq!(conn.mode(), Mode::Live);
        assert_eq!(conn.max_rows, dsl::DEFAULT_MAX_ROWS);
        assert_eq!(conn.cache_ttl_seconds, DEFAULT_CACHE_TTL_SECONDS);
        assert_eq!(conn.key.the_key(), "the key rk_live_…abcd");

        let conn = Connection::open(&Config::with(
            Mode::Test,
            "rk_test_…0123",
            Some(dsl::MAX_ROWS_LIMIT),
            Some(0),
            Some(aggregate::MAX_SCAN_LIMIT),
        ))
        .expect("limits at their bounds");
        assert_eq!(conn.max_rows, dsl::MAX_ROWS_LIMIT);
        assert_eq!(conn.cache_ttl_seconds, 0, "lowering the TTL is allowed");

        // The TTL can never be raised above the default (customer PII).
        let conn = Connection::open(&Config::with(Mode::Test, "", None, Some(u32::MAX), None))
            .expect("clamped");
        assert_eq!(conn.cache_ttl_seconds, DEFAULT_CACHE_TTL_SECONDS);

        for bad in [0, dsl::MAX_ROWS_LIMIT + 1, u32::MAX] {
            let err = Connection::open(&Config::with(
                Mode::Test,
                "rk_test_…0123",
                Some(bad),
                None,
                None,
            ))
            .expect_err("out of range");
            assert_eq!(err.kind(), "invalid-query", "{err}");
            assert!(
                err.to_string()
                    .contains(&format!("max-rows {bad} is out of range")),
                "{err}"
            );
        }
        for bad in [0, aggregate::MAX_SCAN_LIMIT + 1] {
            let err = Connection::open(&Config::with(
                Mode::Test,
                "rk_test_…0123",
                None,
                None,
                Some(bad),
            ))
            .expect_err("out of range");
            assert!(
                err.to_string().contains(&format!(
                    "max-scan {bad} is out of range: use a value from 1 to 1000000"
                )),
                "{err}"
            );
        }
    }

    #[test]
    fn an_aggregate_returns_its_groups_and_what_it_scanned() {
        use crate::testing::{FakeStripe, Obj};
        let statuses = ["succeeded", "failed", "pending"];
        let objects: Vec<Obj> = (0..750)
            .map(|i| Obj {
                id: format!("ch_{i:04}"),
                created: 1_780_000_000 - i64::from(i) * 977,
                status: statuses[(i % 7 % 3) as usize],
            })
            .collect();
        let want =
            |status: &str, of: &[Obj]| of.iter().filter(|o| o.status == status).count() as i64;
        let dsl = r#"{"list":"charges","group_by":["status","currency"],
            "measures":{"n":"count","amount":{"sum":"amount"},"ids":{"count_distinct":"id"}},"limit":2}"#;
        for (max_scan, partial) in [(None, false), (Some(300), true)] {
            let conn = Connection::open(&Config::with(
                Mode::Test,
                "rk_test_…0123",
                None,
                Some(60),
                max_scan,
            ))
            .expect("open");
            let clock = FakeClock::new();
            let mut stripe = FakeStripe::new(Table::Charges, objects.clone(), &clock.time);
            let read = stripe.objects[..max_scan.map_or(750, |n| n as usize)].to_vec();
            let r = conn
                .query(&mut stripe, &mut FakeClock::new(), dsl)
                .expect("an aggregate");
            let names: Vec<&str> = r.columns.iter().map(|c| c.name.as_str()).collect();
            assert_eq!(names, ["status", "currency", "n", "amount", "ids"]);
            // Groups in order (failed, pending, succeeded), the first two of three.
            let (failed, pending) = (want("failed", &read), want("pending", &read));
            let usd = || Cell::Text("usd".into());
            assert_eq!(
                r.rows,
                vec![
                    vec![
                        Cell::Text("failed".into()),
                        usd(),
                        Cell::Integer(failed),
                        Cell::Integer(failed * 100),
                        Cell::Integer(failed)
                    ],
                    vec![
                        Cell::Text("pending".into()),
                        usd(),
                        Cell::Integer(pending),
                        Cell::Integer(pending * 100),
                        Cell::Integer(pending)
                    ],
                ]
            );
            assert_eq!(
                r.aggregate,
                Some(AggregateStats {
                    rows_scanned: read.len() as u64,
                    partial,
                    groups: 3
                })
            );
            assert!(r.truncated, "more groups than the limit");
            assert_eq!(r.scan_note.is_some(), partial, "{:?}", r.scan_note);
            assert_eq!(r.cache_ttl_seconds, 60);
            assert_eq!(r.requests as usize, stripe.requests.len());
            assert_eq!(r.shape.row_count, 2);
            let shape = r.shape.aggregate.expect("an aggregate shape");
            assert_eq!(shape.group_by, ["status", "currency"]);
            assert_eq!(
                shape.measures,
                vec![
                    ("n".to_owned(), "count"),
                    ("amount".to_owned(), "sum"),
                    ("ids".to_owned(), "count_distinct")
                ]
            );
            if let Some(note) = r.scan_note {
                assert!(
                    note.contains("its bound (max-scan 300) with more charges following"),
                    "{note}"
                );
                assert!(
                    note.contains("--max-scan") && note.contains("max_scan in serve"),
                    "{note}"
                );
                assert!(note.contains("covers the 300 rows read only"), "{note}");
            }
        }
        // With a filter the connector applies itself, the measures cover the matching rows among
        // those read, and the note says so rather than naming the rows read as their population.
        let conn = Connection::open(&Config::with(
            Mode::Test,
            "rk_test_…0123",
            None,
            None,
            Some(300),
        ))
        .expect("open");
        let clock = FakeClock::new();
        let mut stripe = FakeStripe::new(Table::Charges, objects, &clock.time);
        let r = conn
            .query(
                &mut stripe,
                &mut FakeClock::new(),
                r#"{"list":"charges","filters":{"status":"failed"},"group_by":["currency"],"measures":{"n":"count"}}"#,
            )
            .expect("an aggregate");
        let note = r.scan_note.expect("partial");
        assert!(
            note.contains(
                "every measure covers the rows with status failed among the 300 rows read only"
            ),
            "{note}"
        );
    }

    #[test]
    fn an_invalid_query_is_refused_before_any_request() {
        let conn = Connection::open(&Config::with(Mode::Test, "rk_test_…0123", None, None, None))
            .expect("open");
        for dsl in [
            r#"{"list":"balance_transactions"}"#,
            r#"{"list":"customers","expand":["data.default_source"]}"#,
            r#"{"list":"customers","filters":{"status":"active"}}"#,
            r#"{"list":"charges","limit":0}"#,
            "not json",
            r#"{"list":"charges","measures":{"total":{"sum":"amount"}}}"#,
            r#"{"list":"customers","group_by":["email"],"measures":{"n":"count"}}"#,
            r#"{"list":"charges","group_by":["status"]}"#,
        ] {
            for err in [
                conn.canonical_query(dsl).expect_err("invalid"),
                conn.query(&mut Replies::new(no_transport), &mut FakeClock::new(), dsl)
                    .expect_err("invalid"),
            ] {
                assert_eq!(err.kind(), "invalid-query", "{dsl}: {err}");
            }
        }
    }
}
