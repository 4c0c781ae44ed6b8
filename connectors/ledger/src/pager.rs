//! Reads a list up to the query's row target by following `next_cursor`, one page at a time.
//!
//! Pages ask for `min(100, rows still wanted)` objects. A page is checked against the request: no more
//! objects than asked for, every object inside the query's filters, data of the connection's mode, a
//! cursor that is new and that comes with a non-empty page, and objects in the API's order (newest
//! first: `created`, then `id`, descending), each after the last one read — so an object sent again on
//! the next page (the list shifted under a position cursor) is never returned twice. Anything else ends
//! the query with an `upstream` error quoting the request id — never a loop or a wrong answer.

use crate::api::{self, DecodedPage};
use crate::error::{ConnectorError, UpstreamError};
use crate::key::{self, Mode};
use crate::query::Query;
use crate::retry::Caller;
use crate::schema::{Cell, Table};
use crate::transport::{Clock, Http, Response};

/// The API's largest page.
pub const PAGE_SIZE: u32 = 100;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fetched {
    pub rows: Vec<Vec<Cell>>,
    /// More rows matched than were returned.
    pub truncated: bool,
}

/// Page through `query`'s table up to its row target.
pub fn fetch<H: Http + ?Sized, C: Clock + ?Sized>(
    caller: &mut Caller<'_, H, C>,
    query: &Query,
    mode: Mode,
) -> Result<Fetched, ConnectorError> {
    let target = query.row_target as usize;
    let mut rows: Vec<Vec<Cell>> = Vec::with_capacity(target.min(10_000));
    let mut cursor: Option<String> = None;
    let mut seen: Vec<String> = Vec::new();
    let mut last: Option<(i64, String)> = None;
    loop {
        let want = (target - rows.len()).min(PAGE_SIZE as usize) as u32;
        let response = caller.get(query.table, &query.page_path(want, cursor.as_deref()))?;
        let page = api::decode_page(query.table, &response)?;
        check_page(query, mode, &page, want, &response)?;
        check_order(&mut last, query.table, &page, &response)?;
        rows.extend(page.rows);
        caller.http.progress(caller.requests, rows.len() as u64);
        let Some(next) = page.next_cursor else {
            return Ok(Fetched {
                rows,
                truncated: false,
            });
        };
        if rows.len() >= target {
            return Ok(Fetched {
                rows,
                truncated: true,
            });
        }
        if seen.contains(&next) {
            return Err(bad(
                &response,
                query.table,
                "repeats a next_cursor it gave before (the list would loop)",
            ));
        }
        seen.push(next.clone());
        cursor = Some(next);
    }
}

fn check_page(
    query: &Query,
    mode: Mode,
    page: &DecodedPage,
    asked: u32,
    response: &Response,
) -> Result<(), ConnectorError> {
    let table = query.table;
    if page.rows.len() > asked as usize {
        return Err(bad(
            response,
            table,
            &format!("has {} objects for limit={asked}", page.rows.len()),
        ));
    }
    if page.rows.is_empty() && page.next_cursor.is_some() {
        return Err(bad(
            response,
            table,
            "is empty but has a next_cursor (the list would never end)",
        ));
    }
    check_mode(mode, page, table, response, false)?;
    for (i, (row, created)) in page.rows.iter().zip(&page.created).enumerate() {
        let inside = query.created_gte.is_none_or(|g| *created >= g)
            && query.created_lt.is_none_or(|l| *created < l)
            && query
                .currency
                .as_deref()
                .is_none_or(|c| text_at(table, row, "currency") == Some(c))
            && query
                .account
                .as_deref()
                .is_none_or(|a| text_at(table, row, "account") == Some(a));
        if !inside {
            return Err(bad(
                response,
                table,
                &format!("has object {i} outside the query's filters"),
            ));
        }
    }
    Ok(())
}

/// A page's `livemode` must match the connection's mode. A page without it is taken as it is while
/// paging, but not by setup (`required`), which must prove the key reads the mode it was given for.
pub fn check_mode(
    mode: Mode,
    page: &DecodedPage,
    table: Table,
    response: &Response,
    required: bool,
) -> Result<(), ConnectorError> {
    match page.livemode {
        None if required => Err(ConnectorError::Upstream(UpstreamError {
            status: Some(response.status),
            code: None,
            message: format!(
                "the ledger's answer to the {} probe does not say which mode its data is in (no \
                 `livemode`): setup cannot prove the key reads {}-mode data",
                table.name(),
                mode.as_str()
            ),
            request_id: response.request_id.clone(),
        })),
        Some(live) if live != (mode == Mode::Live) => {
            let got = if live { "live" } else { "test" };
            Err(ConnectorError::ModeMismatch(format!(
                "the ledger returned {got} {} for a {}-mode connection (request {}): use a key of the mode \
                 you mean, {}…",
                table.name(),
                mode.as_str(),
                response.request_id.as_deref().unwrap_or("without an id"),
                key::prefix(mode)
            )))
        }
        _ => Ok(()),
    }
}

/// Each object must come after `last` (the one read before it, on this page or the last) in the API's
/// order, strictly: a repeat or a step back means the list moved under the cursor or the API is broken,
/// and the rows read so far could hold an object twice.
fn check_order(
    last: &mut Option<(i64, String)>,
    table: Table,
    page: &DecodedPage,
    response: &Response,
) -> Result<(), ConnectorError> {
    for (i, (row, &created)) in page.rows.iter().zip(&page.created).enumerate() {
        let id = text_at(table, row, "id").unwrap_or_default();
        let after = last
            .as_ref()
            .is_none_or(|(c, l)| (created, id) < (*c, l.as_str()));
        if !after {
            return Err(bad(
                response,
                table,
                &format!(
                    "has object {i} ({id}) out of order or sent before (the list is newest first: \
                     created, then id, descending); it may have changed while it was read: ask again"
                ),
            ));
        }
        *last = Some((created, id.to_owned()));
    }
    Ok(())
}

fn text_at<'r>(table: Table, row: &'r [Cell], column: &str) -> Option<&'r str> {
    let i = table.spec().columns.iter().position(|c| c.name == column)?;
    match row.get(i)? {
        Cell::Text(t) => Some(t),
        _ => None,
    }
}

fn bad(response: &Response, table: Table, what: &str) -> ConnectorError {
    ConnectorError::upstream(
        format!("the ledger's {} page {what}", table.name()),
        Some(response.status),
        response.request_id.as_deref(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query;
    use crate::retry::RetryPolicy;
    use crate::testing::{FakeClock, FakeLedger, Scripted};
    use crate::transport::TransportError;

    fn run<H: Http>(
        http: &mut H,
        dsl: &str,
        max_rows: u32,
    ) -> Result<(Fetched, u32), ConnectorError> {
        let q = query::parse(dsl, max_rows).expect("valid query");
        let mut clock = FakeClock::default();
        let mut caller = Caller::new(http, &mut clock, RetryPolicy::default(), "lk_test_…abcd");
        let fetched = fetch(&mut caller, &q, Mode::Test)?;
        Ok((fetched, caller.requests))
    }

    fn ids(rows: &[Vec<Cell>]) -> Vec<String> {
        rows.iter()
            .map(|r| match &r[0] {
                Cell::Text(t) => t.clone(),
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn pages_follow_the_cursor_to_the_target() {
        let mut ledger = FakeLedger::new(3, 250);
        let (fetched, requests) = run(&mut ledger, r#"{"list":"entries"}"#, 1000).expect("read");
        assert_eq!(fetched.rows.len(), 250);
        assert!(!fetched.truncated);
        assert_eq!(requests, 3);
        let expected: Vec<String> = ledger.entries.iter().map(|e| e.id.clone()).collect();
        assert_eq!(
            ids(&fetched.rows),
            expected,
            "every entry once, newest first"
        );
        assert_eq!(
            ledger.sent,
            [
                "/v1/entries?limit=100",
                "/v1/entries?limit=100&cursor=cur_100",
                "/v1/entries?limit=100&cursor=cur_200",
            ]
        );
        assert_eq!(ledger.progress, [(1, 100), (2, 200), (3, 250)]);
    }

    #[test]
    fn a_limit_stops_early_and_says_it_was_truncated() {
        let mut ledger = FakeLedger::new(3, 250);
        let (fetched, requests) =
            run(&mut ledger, r#"{"list":"entries","limit":150}"#, 1000).expect("read");
        assert_eq!(fetched.rows.len(), 150);
        assert!(fetched.truncated);
        assert_eq!(requests, 2);
        assert_eq!(
            ledger.sent[1], "/v1/entries?limit=50&cursor=cur_100",
            "asks only for what it needs"
        );

        let (fetched, _) =
            run(&mut FakeLedger::new(3, 250), r#"{"list":"entries"}"#, 250).expect("read");
        assert!(!fetched.truncated, "exactly the target, and nothing more");
    }

    #[test]
    fn filters_reach_the_api_and_its_rows_match_them() {
        let mut ledger = FakeLedger::new(4, 400);
        let (fetched, _) = run(
            &mut ledger,
            r#"{"list":"entries","filters":{"account":"acc_0001","created":{"gte":1767225700,"lt":1767225900}}}"#,
            1000,
        )
        .expect("read");
        let expected: Vec<String> = ledger
            .entries
            .iter()
            .filter(|e| {
                e.account == "acc_0001" && (1_767_225_700..1_767_225_900).contains(&e.created)
            })
            .map(|e| e.id.clone())
            .collect();
        assert_eq!(expected.len(), 50);
        assert_eq!(ids(&fetched.rows), expected);
    }

    type Reply = Result<Response, TransportError>;

    fn page(body: &str) -> Reply {
        Ok(Response {
            status: 200,
            request_id: Some("req_x".into()),
            should_retry: None,
            retry_after: None,
            body: body.as_bytes().to_vec(),
        })
    }

    const ENTRY: &str =
        r#"{"id":"ent_1","account":"acc_1","amount":1,"currency":"eur","created":100}"#;

    /// Next after [`ENTRY`] in the API's order.
    const OLDER: &str =
        r#"{"id":"ent_0","account":"acc_1","amount":1,"currency":"eur","created":99}"#;

    #[test]
    fn pages_that_break_the_request_end_the_query() {
        let cases: Vec<(Vec<Reply>, &str, &str)> = vec![
            (
                vec![page(&format!(
                    r#"{{"data":[{ENTRY},{ENTRY}],"next_cursor":null}}"#
                ))],
                r#"{"list":"entries","limit":1}"#,
                "has 2 objects for limit=1",
            ),
            (
                vec![page(r#"{"data":[],"next_cursor":"c1"}"#)],
                r#"{"list":"entries"}"#,
                "is empty but has a next_cursor",
            ),
            (
                vec![
                    page(&format!(r#"{{"data":[{ENTRY}],"next_cursor":"c1"}}"#)),
                    page(&format!(r#"{{"data":[{OLDER}],"next_cursor":"c1"}}"#)),
                ],
                r#"{"list":"entries"}"#,
                "repeats a next_cursor",
            ),
            (
                vec![page(&format!(r#"{{"data":[{ENTRY}],"next_cursor":null}}"#))],
                r#"{"list":"entries","filters":{"currency":"usd"}}"#,
                "has object 0 outside the query's filters",
            ),
            (
                vec![page(&format!(r#"{{"data":[{ENTRY}],"next_cursor":null}}"#))],
                r#"{"list":"entries","filters":{"created":{"gte":101}}}"#,
                "outside the query's filters",
            ),
        ];
        for (replies, dsl, says) in cases {
            let e = run(&mut Scripted::new(replies), dsl, 1000).expect_err(says);
            match e {
                ConnectorError::Upstream(u) => {
                    assert!(u.message.contains(says), "{}", u.message);
                    assert_eq!(u.request_id.as_deref(), Some("req_x"));
                }
                other => panic!("{says}: {other:?}"),
            }
        }
    }

    #[test]
    fn data_of_the_other_mode_is_a_mode_mismatch() {
        let mut ledger = FakeLedger::new(2, 5);
        ledger.livemode = true;
        let e = run(&mut ledger, r#"{"list":"accounts"}"#, 1000).expect_err("live data");
        assert_eq!(e.kind(), "mode-mismatch");
        assert!(
            e.to_string()
                .contains("returned live accounts for a test-mode connection"),
            "{e}"
        );
    }

    #[test]
    fn an_object_sent_again_on_the_next_page_is_not_returned_twice() {
        const NEWER: &str =
            r#"{"id":"ent_2","account":"acc_1","amount":5,"currency":"eur","created":200}"#;
        let replies = vec![
            page(&format!(
                r#"{{"data":[{NEWER}],"next_cursor":"c1","livemode":false}}"#
            )),
            page(&format!(
                r#"{{"data":[{NEWER},{ENTRY}],"next_cursor":null,"livemode":false}}"#
            )),
        ];
        match run(&mut Scripted::new(replies), r#"{"list":"entries"}"#, 1000) {
            Err(ConnectorError::Upstream(u)) => {
                assert_eq!(u.request_id.as_deref(), Some("req_x"));
                assert!(
                    u.message
                        .contains("object 0 (ent_2) out of order or sent before"),
                    "{}",
                    u.message
                );
            }
            Ok((fetched, _)) => panic!("a wrong answer: {:?}", ids(&fetched.rows)),
            Err(other) => panic!("{other:?}"),
        }
    }

    #[test]
    fn objects_out_of_the_apis_order_end_the_query() {
        // Older first on one page; then a tie on `created` with ids ascending.
        for data in [
            r#"{"id":"ent_1","account":"acc_1","amount":5,"currency":"eur","created":100},{"id":"ent_2","account":"acc_1","amount":5,"currency":"eur","created":200}"#,
            r#"{"id":"ent_1","account":"acc_1","amount":5,"currency":"eur","created":100},{"id":"ent_2","account":"acc_1","amount":5,"currency":"eur","created":100}"#,
        ] {
            let replies = vec![page(&format!(
                r#"{{"data":[{data}],"next_cursor":null,"livemode":false}}"#
            ))];
            let outcome = run(&mut Scripted::new(replies), r#"{"list":"entries"}"#, 1000);
            assert!(
                matches!(&outcome, Err(ConnectorError::Upstream(u)) if u.message.contains("object 1 (ent_2) out of order")),
                "{outcome:?}"
            );
        }
        // The API's own order passes: a tie on `created`, ids descending.
        let data = r#"{"id":"ent_2","account":"acc_1","amount":5,"currency":"eur","created":100},{"id":"ent_1","account":"acc_1","amount":5,"currency":"eur","created":100}"#;
        let replies = vec![page(&format!(
            r#"{{"data":[{data}],"next_cursor":null,"livemode":false}}"#
        ))];
        let (fetched, _) =
            run(&mut Scripted::new(replies), r#"{"list":"entries"}"#, 1000).expect("in order");
        assert_eq!(ids(&fetched.rows), ["ent_2", "ent_1"]);
    }
}
