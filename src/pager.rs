//! Paging through a Stripe list up to a row target, several pages at a time.
//!
//! Stripe lists are cursor-paginated, newest first: each page says `has_more`, and the next page starts
//! after the last object's id. One cursor reads one page at a time; this pager reads the list through
//! several disjoint `created` windows at once (`plan.rs`: which windows, how big, when to stop;
//! `run.rs`: the requests, their retries, in-order hand-over) and returns exactly what one cursor asking
//! for `min(100, rows still wanted)` per page returns: the same rows in the same order, the same
//! `truncated`, the same scan note. Only the requests differ: up to `plan::MAX_IN_FLIGHT` of them
//! outstanding, and speculation bounded to a fifth of what the one cursor is proven to need. The result
//! is measured, not guaranteed (no plan can know what an unread second holds): within 25% more requests
//! than the one cursor (plus two, see `plan::SLACK`) on every steady and realistic account of
//! `pager/tests.rs`'s survey, on all but 1 in 1,000 random ones and 14 in 1,000 bursty ones (three
//! objects in four in bursts), which go up to 1.64x. A query that fits one page is the one cursor's
//! single request, unchanged.
//!
//! Every loop is bounded: a page that is empty while `has_more` is true, a cursor that repeats, objects
//! outside their window or out of order, or more pages than the target can need are typed `upstream`
//! errors that quote the `Request-Id`, never a hang or a wrong result.
//!
//! Charges have no `status` parameter at Stripe, so that filter is applied here, after fetching. Rows are
//! counted after filtering, and the scan is bounded by [`scan_bound`] objects: when the bound is hit the
//! result is marked truncated and carries a note saying how much was scanned and what to narrow.
//!
//! An aggregate ([`scan`]) reads the list the same way with its scan bound as the target: every matching
//! row up to `max-scan` objects read. Its rows are cut to the columns it uses as they arrive and handed
//! to its fold as soon as they are sure to be in the result, so it holds only the rows of windows that
//! finished ahead of an unfinished one.

use crate::prelude::*;
use alloc::borrow::Cow;
mod plan;
mod rate;
mod run;

use crate::aggregate::Aggregate;
use crate::dsl::{PostFilter, Query};
use crate::error::ConnectorError;
use crate::key::KeyHint;
use crate::retry::Retrier;
use crate::schema::Cell;
use crate::stripe::MAX_PAGE_SIZE;
use crate::transport::{Clock, Http};

/// What one query fetched.
#[derive(Debug, Default)]
pub struct Fetched {
    pub rows: Vec<Vec<Cell>>,
    /// More rows matched than were returned (or, with a post-filter, the scan bound was hit).
    pub truncated: bool,
    /// Requests started, retries included.
    pub requests: u32,
    /// Set when a post-filtered scan stopped at its bound.
    pub scan_note: Option<String>,
}

/// What helps a scan stopped at the connection's max-scan, an aggregate's or a list's. The component
/// knows its own most, not a manifest's lower one: describe's `max_scan_limit` says which holds (QA:
/// the note said to raise a bound already at a manifest's most).
pub(crate) const RAISE_MAX_SCAN: &str =
    "Narrow the query with a created range, or, where describe's \
     max_scan_limit is higher than this bound, raise it (--max-scan, or max_scan in serve)";

/// How many objects a post-filtered scan may read for a target of `row_target` rows: ten objects per
/// wanted row, at least 1,000 and at most 100,000 (1,000 requests at Stripe's page size).
pub fn scan_bound(row_target: u32) -> u64 {
    (u64::from(row_target) * 10).clamp(1_000, 100_000)
}

/// The most pages one cursor may take. Without a post-filter every full page brings `MAX_PAGE_SIZE`
/// rows, so a target needs `ceil(target / 100)` pages; twice that plus one tolerates short pages and
/// nothing more. The windows may take twice that again, and a page per window they can run at once.
fn page_bound(query: &Query) -> u64 {
    let page = u64::from(MAX_PAGE_SIZE);
    let one_cursor = if !query.post_filters.is_empty() {
        query.list_scan_bound().div_ceil(page)
    } else {
        2 * u64::from(query.row_target).div_ceil(page) + 1
    };
    2 * one_cursor + plan::MAX_IN_FLIGHT as u64
}

/// Fetch up to `query.row_target` rows.
pub fn fetch<H: Http + ?Sized, C: Clock + ?Sized>(
    http: &mut H,
    clock: &mut C,
    key: &KeyHint,
    query: &Query,
    retrier: &mut Retrier,
) -> Result<Fetched, ConnectorError> {
    // A post-filtered scan reads exactly its bound, so the note's figures agree: pages of 100, the last
    // one asking only for the rest.
    let scan_cap = (!query.post_filters.is_empty()).then(|| query.list_scan_bound());
    let mut plan = plan::Plan::new(
        u64::from(query.row_target),
        scan_cap,
        run::user_span(&query.params),
        page_bound(query),
    );
    let (done, requests) = run::run(http, clock, retrier, key, query, &mut plan, None)?;
    let rows = plan.into_rows(&done);
    let scan_note = done.scanned.map(|scanned| {
        let kept: Vec<String> = query.post_filters.iter().map(PostFilter::text).collect();
        let bound = query.list_scan_bound();
        let by_max_scan = bound < scan_bound(query.row_target);
        // Only a larger limit that widens the bound helps: below max_rows, and above the bound's floor
        // and under its cap (QA: the note said to raise a limit already at max_rows); where the
        // connection's max-scan holds the bound, a larger max-scan.
        let what_helps: Cow<'static, str> = if by_max_scan {
            Cow::Borrowed(RAISE_MAX_SCAN)
        } else if bound < scan_bound(query.max_rows).min(u64::from(query.max_scan)) {
            Cow::Borrowed(
                "Narrow the query with a created range, or raise limit (within max_rows), to see older ones",
            )
        } else {
            // At the cap, max_rows is not what holds it (QA).
            let why: Cow<'static, str> = if bound >= scan_bound(u32::MAX) {
                Cow::Borrowed("the bound is at its most")
            } else {
                let (setting, value) = if bound >= u64::from(query.max_scan) {
                    ("max-scan", query.max_scan)
                } else {
                    ("max_rows", query.max_rows)
                };
                Cow::Owned(format!("{setting} is {value}"))
            };
            Cow::Owned(format!(
                "A larger limit scans no further ({why}): narrow the query with a created range to see \
                 older ones, or count them with the same filters and \"measures\": {{\"n\": \"count\"}} (an \
                 aggregate reads up to max_scan rows)"
            ))
        };
        let rule = if by_max_scan {
            "the connection's max-scan"
        } else {
            "10 per row wanted, at least 1000, at most 100000"
        };
        format!(
            "scanned {scanned} {} and found {} with {}; stopped at the scan bound of {bound} objects ({rule}). \
             {what_helps}",
            query.table.name(),
            rows.len(),
            kept.join(" and "),
        )
    });
    Ok(Fetched {
        rows,
        truncated: done.truncated,
        requests,
        scan_note,
    })
}

/// What an aggregate's scan read.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Scanned {
    /// Objects of the list read into the result (matching the filters or, for a filter the connector
    /// applies itself, looked at).
    pub rows_scanned: u64,
    /// The scan stopped at its bound while more objects followed.
    pub partial: bool,
    /// Requests started, retries included.
    pub requests: u32,
}

/// Read every row `query` matches, up to `aggregate.max_scan` objects, newest first, and hand each one —
/// cut down to the columns the aggregate uses ([`Aggregate::used`], in that order) — to `fold`, in list
/// order.
pub fn scan<H: Http + ?Sized, C: Clock + ?Sized>(
    http: &mut H,
    clock: &mut C,
    key: &KeyHint,
    query: &Query,
    aggregate: &Aggregate,
    retrier: &mut Retrier,
    fold: &mut dyn FnMut(Vec<Cell>) -> Result<(), ConnectorError>,
) -> Result<Scanned, ConnectorError> {
    let used = aggregate.used();
    let bound = u64::from(aggregate.max_scan);
    // Without a filter of its own every object read is a row: the bound is the target. With one, it
    // bounds the objects looked at.
    let scan_cap = (!query.post_filters.is_empty()).then_some(bound);
    let page = u64::from(MAX_PAGE_SIZE);
    let max_pages = 2 * (2 * bound.div_ceil(page) + 1) + plan::MAX_IN_FLIGHT as u64;
    let mut plan = plan::Plan::new(bound, scan_cap, run::user_span(&query.params), max_pages);
    let settle = run::Settle {
        used: &used,
        sink: &mut *fold,
    };
    let (done, requests) = run::run(http, clock, retrier, key, query, &mut plan, Some(settle))?;
    for row in plan.into_rows(&done) {
        fold(row)?;
    }
    Ok(Scanned {
        rows_scanned: done.read,
        partial: done.truncated,
        requests,
    })
}

#[cfg(test)]
mod tests;
