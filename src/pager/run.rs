//! Executing a [`Plan`] against Stripe: up to [`super::plan::MAX_IN_FLIGHT`] list requests outstanding,
//! each retried on its own, their pages read and handed to the plan.
//!
//! Pages are handed to the plan in the order the plan asked for them, whatever order they complete in:
//! a page that comes back early waits for those asked before it (but not for one waiting to be
//! retried). So every decision the plan makes — what to ask next, where to split, when it is done —
//! depends on the data only, never on timing: without retries, a query makes the same requests every
//! time it runs against the same account.
//!
//! A failed attempt that [`Retrier::judge`] retries is started again once its wait is over, while the
//! other requests carry on; the wait is spent waiting for them (`Http::wait_any` with a timeout) or, when
//! nothing else is outstanding, asleep. Once the plan's verdict is in, requests still outstanding are
//! cancelled: their pages could not change the result.

use super::plan::{id_hash, Ask, Done, Entry, Guard, Plan, Span, Verdict};
use crate::dsl::Query;
use crate::error::{ConnectorError, UpstreamError};
use crate::key::KeyHint;
use crate::prelude::*;
use crate::retry::{Attempt, Retrier};
use crate::rows::{self, RowError};
use crate::schema::{self, Cell, Table};
use crate::stripe;
use crate::transport::{Clock, Http, Method, Request, Response, Ticket};
use core::time::Duration;

/// One request of the plan, from its first attempt until its page is handed over.
struct Slot {
    window: u32,
    request: Request,
    /// The attempt outstanding, if any (none while waiting to retry, or once judged).
    ticket: Option<Ticket>,
    attempts: u32,
    started: Duration,
    retry_at: Duration,
    result: Option<Result<Response, ConnectorError>>,
}

/// A caller's hook for rows that are sure to be in the result ([`Plan::settle`]), with the table columns
/// rows are cut down to before the plan keeps them.
pub(super) struct Settle<'s> {
    pub used: &'s [usize],
    pub sink: &'s mut dyn FnMut(Vec<Cell>) -> Result<(), ConnectorError>,
}

/// Run `plan` for `query` until its verdict. Returns the verdict and the requests started, retries and
/// cancelled requests included. With `settle`, rows are cut to its columns and handed to its sink as soon
/// as they are sure to be in the result (the rest stay in the plan for [`Plan::into_rows`]).
pub(super) fn run<H: Http + ?Sized, C: Clock + ?Sized>(
    http: &mut H,
    clock: &mut C,
    retrier: &mut Retrier,
    key: &KeyHint,
    query: &Query,
    plan: &mut Plan<Vec<Cell>>,
    mut settle: Option<Settle<'_>>,
) -> Result<(Done, u32), ConnectorError> {
    let user = user_span(&query.params);
    let used = settle.as_ref().map(|s| s.used);
    // In the order the plan asked for them.
    let mut slots: Vec<Slot> = Vec::new();
    let mut failures: Vec<(u32, ConnectorError)> = Vec::new();
    let mut sent = 0u32;
    let outcome = loop {
        while let Some(ask) = plan.next(slots.len()) {
            let request = list_request(query, user, &ask);
            let ticket = http.start(&request);
            sent = sent.saturating_add(1);
            slots.push(Slot {
                window: ask.window,
                request,
                ticket: Some(ticket),
                attempts: 1,
                started: clock.now(),
                retry_at: Duration::ZERO,
                result: None,
            });
        }
        match plan.verdict() {
            Verdict::Done(done) => break Ok(done),
            Verdict::Failed(window) => break Err(take_failure(&mut failures, window)),
            Verdict::Pending if slots.is_empty() => {
                // The plan asks for the first unfinished window whenever nothing is outstanding.
                break Err(ConnectorError::upstream(
                    format!(
                        "the connector stopped paging {} before the result was complete (a bug: please report it)",
                        query.table.name()
                    ),
                    None,
                    None,
                ));
            }
            Verdict::Pending => {}
        }

        // Hand over the oldest request's page once it is in, one page at a time, asking the plan after
        // each (back at the top): the plan sees pages in the order it asked for them and decides at the
        // same points, whatever order they arrived in. A request waiting to be retried does not hold
        // the others up.
        let next = slots
            .iter()
            .position(|s| s.ticket.is_some() || s.result.is_some())
            .filter(|&i| slots[i].result.is_some());
        if let Some(Slot {
            window,
            result: Some(result),
            ..
        }) = next.map(|i| slots.remove(i))
        {
            let handed =
                result.and_then(|response| hand_over(plan, key, query, used, window, response));
            if let Err(err) = handed {
                plan.fail(window);
                failures.push((window, err));
            }
            http.progress(sent, plan.found());
            if let Some(settle) = settle.as_mut() {
                if let Err(err) = plan.settle(settle.sink) {
                    break Err(err);
                }
            }
            continue;
        }

        // Start again what has waited long enough; find the next retry that has not.
        let now = clock.now();
        let mut next_retry: Option<Duration> = None;
        for slot in slots
            .iter_mut()
            .filter(|s| s.ticket.is_none() && s.result.is_none())
        {
            if slot.retry_at <= now {
                slot.ticket = Some(http.start(&slot.request));
                sent = sent.saturating_add(1);
                slot.attempts += 1;
                slot.started = now;
            } else {
                next_retry = Some(next_retry.map_or(slot.retry_at, |t| t.min(slot.retry_at)));
            }
        }
        let timeout = next_retry.map(|at| at.saturating_sub(now));
        if !slots.iter().any(|s| s.ticket.is_some()) {
            if let Some(wait) = timeout {
                clock.sleep(wait);
            }
            continue;
        }
        let Some((ticket, outcome)) = http.wait_any(timeout) else {
            continue;
        };
        let Some(slot) = slots.iter_mut().find(|s| s.ticket == Some(ticket)) else {
            continue;
        };
        slot.ticket = None;
        let took = clock.now().saturating_sub(slot.started);
        match retrier.judge(clock, &slot.request, slot.attempts, took, outcome) {
            Attempt::Done(result) => slot.result = Some(result),
            Attempt::RetryAfter(wait) => slot.retry_at = clock.now() + wait,
        }
    };
    for slot in &slots {
        if let Some(ticket) = slot.ticket {
            http.cancel(ticket);
        }
    }
    outcome.map(|done| (done, sent))
}

fn take_failure(failures: &mut Vec<(u32, ConnectorError)>, window: u32) -> ConnectorError {
    match failures.iter().position(|(w, _)| *w == window) {
        Some(i) => failures.swap_remove(i).1,
        None => ConnectorError::upstream(
            "a page request failed without an error (a bug: please report it)".to_owned(),
            None,
            None,
        ),
    }
}

/// Read one page and give it to the plan: a status, a body or objects the result cannot use are this
/// window's failure.
fn hand_over(
    plan: &mut Plan<Vec<Cell>>,
    key: &KeyHint,
    query: &Query,
    used: Option<&[usize]>,
    window: u32,
    response: Response,
) -> Result<(), ConnectorError> {
    let table = query.table;
    if !(200..300).contains(&response.status) {
        return Err(status_error(table, key, &response));
    }
    let page =
        rows::parse_page(table, &response.body).map_err(|e| page_error(table, &response, e))?;
    if let Some(livemode) = page.livemode {
        if !key.mode().matches_livemode(livemode) {
            return Err(ConnectorError::ModeMismatch(format!(
                "Stripe returned {} objects with livemode={livemode} to a {}-mode connection",
                table.name(),
                key.mode()
            )));
        }
    }
    let spec = schema::table_spec(table);
    let (created, id) = (spec.column_index("created"), spec.column_index("id"));
    let mut entries = Vec::with_capacity(page.rows.len());
    for row in page.rows {
        let (Some(&Cell::Integer(at)), Some(Cell::Text(id))) = (
            created.and_then(|i| row.get(i)),
            id.and_then(|i| row.get(i)),
        ) else {
            return Err(guard_error(
                &response,
                format!(
                    "Stripe's {} page has an object without id or created",
                    table.name()
                ),
            ));
        };
        let id = id_hash(id);
        let keep = query.keeps(&row);
        // An aggregate keeps only the cells it reads, and nothing of a row it skips.
        let row = match used {
            Some(used) if keep => crate::aggregate::project(used, row),
            Some(_) => Vec::new(),
            None => row,
        };
        entries.push(Entry {
            created: at,
            id,
            keep,
            row,
        });
    }
    plan.page(window, entries, page.has_more, page.last_id)
        .map_err(|guard| guard_error(&response, guard_message(table, query, guard)))
}

fn guard_message(table: Table, query: &Query, guard: Guard) -> String {
    let name = table.name();
    match guard {
        Guard::EmptyWithMore => format!(
            "Stripe returned an empty {name} page that says has_more=true; stopping instead of looping"
        ),
        Guard::CursorRepeat(id) => format!(
            "Stripe's {name} cursor did not advance (starting_after={id} came back again); stopping instead of looping"
        ),
        Guard::Disorder(created) => format!(
            "Stripe returned {name} out of order or outside the requested created range (an object created at \
             {created}); stopping rather than returning rows twice or out of order"
        ),
        Guard::Repeat(created) => format!(
            "Stripe returned an object of its {name} list twice (created at {created}); stopping rather \
             than returning rows twice"
        ),
        Guard::TooManyPages(pages) => format!(
            "Stripe kept returning {name} pages after {pages} requests, more than {} rows can need; stopping",
            query.row_target
        ),
    }
}

/// The user's own `created` range, in whole seconds (the DSL validated the values).
pub(super) fn user_span(params: &[(String, String)]) -> Span {
    let mut span = Span { lo: 0, hi: None };
    for (name, value) in params {
        let Ok(v) = value.parse::<i64>() else {
            continue;
        };
        let (lo, hi) = match name.as_str() {
            "created" => (Some(v), v.checked_add(1)),
            "created[gt]" => (v.checked_add(1), None),
            "created[gte]" => (Some(v), None),
            "created[lt]" => (None, Some(v)),
            "created[lte]" => (None, v.checked_add(1)),
            _ => continue,
        };
        if let Some(lo) = lo {
            span.lo = span.lo.max(lo);
        }
        if let Some(hi) = hi {
            span.hi = Some(span.hi.map_or(hi, |h| h.min(hi)));
        }
    }
    span
}

/// The list request for `ask`: the query's own parameters while the window is the user's whole range
/// (so a query that never splits sends exactly the sequential cursor's requests), otherwise with its
/// `created` bounds replaced by the window's.
fn list_request(query: &Query, user: Span, ask: &Ask) -> Request {
    let path_and_query = if ask.span == user {
        stripe::list_path(query.table, &query.params, ask.limit, ask.after.as_deref())
    } else {
        let mut params: Vec<(String, String)> = query
            .params
            .iter()
            .filter(|(name, _)| name != "created" && !name.starts_with("created["))
            .cloned()
            .collect();
        if ask.span.lo > 0 {
            params.push(("created[gte]".to_owned(), ask.span.lo.to_string()));
        }
        if let Some(hi) = ask.span.hi {
            params.push(("created[lt]".to_owned(), hi.to_string()));
        }
        stripe::list_path(query.table, &params, ask.limit, ask.after.as_deref())
    };
    Request {
        method: Method::Get,
        path_and_query,
    }
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
        401 => stripe::invalid_key(key, response),
        403 => ConnectorError::MissingPermission(vec![table.name().to_owned()]),
        429 => ConnectorError::RateLimited(upstream),
        _ => ConnectorError::Upstream(upstream),
    }
}
