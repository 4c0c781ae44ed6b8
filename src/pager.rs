//! Paging through a Stripe list up to a row target.
//!
//! Stripe lists are cursor-paginated: each page says `has_more`, and the next page starts after the last
//! object's id. The pager asks for `min(100, rows still wanted)` objects per page and stops at the target.
//! Every loop here is bounded: a page that is empty while `has_more` is true, a cursor that repeats, or
//! more pages than the target can need are typed `upstream` errors that quote the `Request-Id`, never a hang.
//!
//! Charges have no `status` parameter at Stripe, so that filter is applied here, after fetching. Rows are
//! counted after filtering, and the scan is bounded by [`scan_bound`] objects: when the bound is hit the
//! result is marked truncated and carries a note saying how much was scanned and what to narrow.

use crate::dsl::Query;
use crate::error::{ConnectorError, UpstreamError};
use crate::key::KeyHint;
use crate::retry::Retrier;
use crate::rows::{self, RowError};
use crate::schema::{Cell, Table};
use crate::stripe::{self, MAX_PAGE_SIZE};
use crate::transport::{Counting, Method, Request, Response, Transport};

/// What one query fetched.
#[derive(Debug, Default)]
pub struct Fetched {
    pub rows: Vec<Vec<Cell>>,
    /// More rows matched than were returned (or, with a post-filter, the scan bound was hit).
    pub truncated: bool,
    /// Requests sent, retries included.
    pub requests: u32,
    /// Set when a post-filtered scan stopped at its bound.
    pub scan_note: Option<String>,
}

/// How many objects a post-filtered scan may read for a target of `row_target` rows: ten objects per
/// wanted row, at least 1,000 and at most 100,000 (1,000 requests at Stripe's page size).
pub fn scan_bound(row_target: u32) -> u64 {
    (u64::from(row_target) * 10).clamp(1_000, 100_000)
}

/// The most pages a query may take. Without a post-filter every full page brings `MAX_PAGE_SIZE` rows, so
/// a target needs `ceil(target / 100)` pages; twice that plus one tolerates short pages and nothing more.
fn page_bound(query: &Query) -> u64 {
    if query.charge_status.is_some() {
        scan_bound(query.row_target).div_ceil(u64::from(MAX_PAGE_SIZE))
    } else {
        2 * u64::from(query.row_target).div_ceil(u64::from(MAX_PAGE_SIZE)) + 1
    }
}

/// Fetch up to `query.row_target` rows.
pub fn fetch<T: Transport + ?Sized>(
    transport: &mut T,
    key: &KeyHint,
    query: &Query,
    retrier: &mut Retrier,
) -> Result<Fetched, ConnectorError> {
    let mut transport = Counting::new(transport);
    let target = query.row_target as usize;
    let post_filtered = query.charge_status.is_some();
    let max_pages = page_bound(query);
    let scan_limit = scan_bound(query.row_target);

    let mut out = Fetched {
        rows: Vec::with_capacity(target.min(10_000)),
        ..Fetched::default()
    };
    let mut cursor: Option<String> = None;
    // At most a few hundred cursors per query: a list is as fast as a set here and adds no code.
    let mut used_cursors: Vec<String> = Vec::new();
    let mut pages = 0u64;
    let mut scanned = 0u64;

    loop {
        let wanted = target - out.rows.len();
        let page_size = if post_filtered {
            MAX_PAGE_SIZE
        } else {
            (wanted as u32).min(MAX_PAGE_SIZE)
        };
        let request = Request {
            method: Method::Get,
            path_and_query: stripe::list_path(
                query.table,
                &query.params,
                page_size,
                cursor.as_deref(),
            ),
        };
        let response = retrier.send(&mut transport, &request)?;
        pages += 1;
        if !(200..300).contains(&response.status) {
            return Err(status_error(query.table, key, &response));
        }
        let page = rows::parse_page(query.table, &response.body)
            .map_err(|e| page_error(query.table, &response, e))?;
        if let Some(livemode) = page.livemode {
            if !key.mode().matches_livemode(livemode) {
                return Err(ConnectorError::ModeMismatch(format!(
                    "Stripe returned {} objects with livemode={livemode} to a {}-mode connection",
                    query.table.name(),
                    key.mode()
                )));
            }
        }
        scanned += page.rows.len() as u64;
        let page_len = page.rows.len();
        let mut taken = 0usize;
        for row in page.rows {
            if out.rows.len() == target {
                break;
            }
            taken += 1;
            if query.keeps(&row) {
                out.rows.push(row);
            }
        }
        // Objects of this page we did not look at, or a next page, mean more may match.
        let more_here = taken < page_len;
        if out.rows.len() == target {
            out.truncated = more_here || page.has_more;
            break;
        }
        if !page.has_more {
            break;
        }
        // has_more: the next page starts after this page's last object. Guard the loop.
        let next = match page.last_id {
            Some(id) if page_len > 0 => id,
            _ => {
                return Err(guard_error(
                    &response,
                    format!(
                        "Stripe returned an empty {} page that says has_more=true; stopping instead of looping",
                        query.table.name()
                    ),
                ))
            }
        };
        if used_cursors.contains(&next) || cursor.as_deref() == Some(next.as_str()) {
            return Err(guard_error(
                &response,
                format!(
                    "Stripe's {} cursor did not advance (starting_after={next} came back again); stopping instead of looping",
                    query.table.name()
                ),
            ));
        }
        used_cursors.push(next.clone());
        if post_filtered && scanned >= scan_limit {
            out.truncated = true;
            out.scan_note = Some(format!(
                "scanned {scanned} {} and found {} with status {}; stopped at the scan bound of {scan_limit} objects. \
                 Narrow the query with a created range to see older ones",
                query.table.name(),
                out.rows.len(),
                query.charge_status.as_deref().unwrap_or("?"),
            ));
            break;
        }
        if pages >= max_pages {
            return Err(guard_error(
                &response,
                format!(
                    "Stripe kept returning {} pages after {pages} requests, more than {} rows can need; stopping",
                    query.table.name(),
                    query.row_target
                ),
            ));
        }
        cursor = Some(next);
    }
    out.requests = transport.sent();
    Ok(out)
}

fn guard_error(response: &Response, message: String) -> ConnectorError {
    ConnectorError::upstream(
        message,
        Some(response.status),
        response.request_id.as_deref(),
    )
}

fn page_error(table: Table, response: &Response, error: RowError) -> ConnectorError {
    let detail = match error {
        RowError::Malformed(m) => format!("Stripe's {} page could not be read: {m}", table.name()),
        RowError::WrongType(m) => format!(
            "Stripe's {} page has an unexpected field: {m}",
            table.name()
        ),
    };
    guard_error(response, detail)
}

/// A non-2xx answer to a list request that the retrier did not retry (or gave back).
fn status_error(table: Table, key: &KeyHint, response: &Response) -> ConnectorError {
    let upstream: UpstreamError = stripe::upstream_error(response);
    match response.status {
        401 => ConnectorError::InvalidKey(format!(
            "Stripe did not accept {} (HTTP 401{}): it may have been revoked or rolled; create a new restricted key",
            key.the_key(),
            upstream
                .request_id
                .as_deref()
                .map(|id| format!(", request {id}"))
                .unwrap_or_default()
        )),
        403 => ConnectorError::MissingPermission(vec![table.name().to_owned()]),
        429 => ConnectorError::RateLimited(upstream),
        _ => ConnectorError::Upstream(upstream),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsl;
    use crate::key::Mode;
    use crate::retry::RetryPolicy;
    use crate::transport::TransportError;
    use std::time::Duration;

    /// Answers every request with one status and body, and records the paths asked for.
    struct Fixed {
        status: u16,
        body: &'static str,
        paths: Vec<String>,
    }

    impl Transport for Fixed {
        fn send(&mut self, request: &Request) -> Result<Response, TransportError> {
            self.paths.push(request.path_and_query.clone());
            Ok(Response {
                status: self.status,
                request_id: Some("req_pager".into()),
                body: self.body.as_bytes().to_vec(),
                ..Response::default()
            })
        }
        fn sleep(&mut self, _: Duration) {}
        fn now(&mut self) -> Duration {
            Duration::ZERO
        }
        fn random_u64(&mut self) -> u64 {
            0
        }
    }

    fn fetch_customers(t: &mut Fixed, key: &KeyHint) -> Result<Fetched, ConnectorError> {
        let query = dsl::parse(r#"{"list":"customers","limit":3}"#, 100).expect("valid query");
        let mut retrier = Retrier::new(RetryPolicy::default(), t);
        fetch(t, key, &query, &mut retrier)
    }

    #[test]
    fn a_401_names_the_key_by_its_hint_only() {
        let mut t = Fixed {
            status: 401,
            body: r#"{"error":{"type":"invalid_request_error","message":"Invalid API Key provided: rk_test_****0123"}}"#,
            paths: Vec::new(),
        };
        let err =
            fetch_customers(&mut t, &KeyHint::new(Mode::Test, "rk_test_…0123")).expect_err("401");
        assert_eq!(err.kind(), "invalid-key");
        let msg = err.to_string();
        assert!(
            msg.starts_with(
                "Stripe did not accept the key rk_test_…0123 (HTTP 401, request req_pager)"
            ),
            "{msg}"
        );
        assert!(
            !msg.contains("****"),
            "Stripe's masked key is not passed on: {msg}"
        );
        assert_eq!(t.paths, ["/v1/customers?limit=3"]);
    }

    #[test]
    fn objects_of_the_other_mode_are_a_mode_mismatch() {
        let mut t = Fixed {
            status: 200,
            body: r#"{"object":"list","has_more":false,"data":[{"id":"cus_1","object":"customer","created":1767225600,"email":null,"name":null,"description":null,"currency":null,"balance":0,"delinquent":false,"address":null,"tax_exempt":"none","livemode":true}]}"#,
            paths: Vec::new(),
        };
        let err = fetch_customers(&mut t, &KeyHint::new(Mode::Test, "rk_test_…0123"))
            .expect_err("livemode=true in test mode");
        assert_eq!(err.kind(), "mode-mismatch", "{err}");
        assert!(
            err.to_string().contains("to a test-mode connection"),
            "{err}"
        );
    }
}
