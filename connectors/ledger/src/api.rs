//! The ledger API's wire format, as typed serde structs, and their projection to rows.
//!
//! - A list page: `{"data": [OBJECT, …], "next_cursor": "…" | null, "livemode": bool}`, newest first.
//! - An account: `{"id": "acc_…", "name", "currency", "balance": {"amount", "currency"}, "created"}`.
//! - An entry: `{"id": "ent_…", "account": "acc_…", "amount", "currency", "created", "memo": "…" | null}`.
//! - An error: `{"error": {"code": "…", "message": "…"}}` with a 4xx/5xx status and an `x-request-id`.
//!
//! Unknown fields are ignored (the API may add some); missing or mistyped ones end the query with an
//! `upstream` error that names the table, the object's position and the field — never a value, except an
//! id that looks like one.

use crate::error::{ConnectorError, UpstreamError};
use crate::schema::{Cell, Table};
use crate::transport::Response;
use serde::Deserialize;

#[derive(Deserialize)]
struct Page<T> {
    data: Vec<T>,
    #[serde(default)]
    next_cursor: Option<String>,
    #[serde(default)]
    livemode: Option<bool>,
}

#[derive(Deserialize)]
struct Account {
    id: String,
    name: String,
    currency: String,
    balance: Money,
    created: i64,
}

#[derive(Deserialize)]
struct Money {
    amount: i64,
    currency: String,
}

#[derive(Deserialize)]
struct Entry {
    id: String,
    account: String,
    amount: i64,
    currency: String,
    created: i64,
    #[serde(default)]
    memo: Option<String>,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

/// The longest cursor the connector passes back: anything longer is not a cursor.
pub const MAX_CURSOR_LEN: usize = 512;

/// One page, projected: rows in the table's column order, each row's `created`, and where to go next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodedPage {
    pub rows: Vec<Vec<Cell>>,
    pub created: Vec<i64>,
    pub next_cursor: Option<String>,
    pub livemode: Option<bool>,
}

/// Decode a 200 response's body as a page of `table`.
pub fn decode_page(table: Table, response: &Response) -> Result<DecodedPage, ConnectorError> {
    let bad = |what: String| {
        ConnectorError::upstream(
            format!("the ledger's {} page {what}", table.name()),
            Some(response.status),
            response.request_id.as_deref(),
        )
    };
    let json_fault = |e: serde_json::Error| {
        // serde's own message may quote a value from the page (a memo, a name): say only where.
        let kind = match e.classify() {
            serde_json::error::Category::Data => "has a field of the wrong type or a missing field",
            _ => "is not valid JSON",
        };
        bad(format!("{kind} (line {}, column {})", e.line(), e.column()))
    };
    let (rows, created, next_cursor, livemode) = match table {
        Table::Accounts => {
            let page: Page<Account> = serde_json::from_slice(&response.body).map_err(json_fault)?;
            let mut rows = Vec::with_capacity(page.data.len());
            let mut created = Vec::with_capacity(page.data.len());
            for (i, a) in page.data.into_iter().enumerate() {
                let at =
                    |field: &str| bad(format!("has account {i}{} with {field}", id_note(&a.id)));
                check_id(&a.id, "acc_").map_err(|_| at("an id that is not acc_…"))?;
                check_currency(&a.currency)
                    .map_err(|_| at("a currency that is not a three-letter code"))?;
                if a.balance.currency != a.currency {
                    return Err(at("a balance in another currency than the account's"));
                }
                check_created(a.created)
                    .map_err(|_| at("a created time that is not unix seconds"))?;
                created.push(a.created);
                rows.push(vec![
                    Cell::Text(a.id),
                    Cell::Text(a.name),
                    Cell::Text(a.currency),
                    Cell::Integer(a.balance.amount),
                    Cell::Integer(a.created),
                ]);
            }
            (rows, created, page.next_cursor, page.livemode)
        }
        Table::Entries => {
            let page: Page<Entry> = serde_json::from_slice(&response.body).map_err(json_fault)?;
            let mut rows = Vec::with_capacity(page.data.len());
            let mut created = Vec::with_capacity(page.data.len());
            for (i, e) in page.data.into_iter().enumerate() {
                let at = |field: &str| bad(format!("has entry {i}{} with {field}", id_note(&e.id)));
                check_id(&e.id, "ent_").map_err(|_| at("an id that is not ent_…"))?;
                check_id(&e.account, "acc_").map_err(|_| at("an account that is not acc_…"))?;
                check_currency(&e.currency)
                    .map_err(|_| at("a currency that is not a three-letter code"))?;
                check_created(e.created)
                    .map_err(|_| at("a created time that is not unix seconds"))?;
                created.push(e.created);
                rows.push(vec![
                    Cell::Text(e.id),
                    Cell::Text(e.account),
                    Cell::Integer(e.amount),
                    Cell::Text(e.currency),
                    Cell::Integer(e.created),
                    e.memo.map_or(Cell::Null, Cell::Text),
                ]);
            }
            (rows, created, page.next_cursor, page.livemode)
        }
    };
    if let Some(c) = &next_cursor {
        if c.is_empty() || c.len() > MAX_CURSOR_LEN {
            return Err(bad(format!(
                "has a next_cursor of {} characters (1 to {MAX_CURSOR_LEN} expected)",
                c.len()
            )));
        }
    }
    Ok(DecodedPage {
        rows,
        created,
        next_cursor,
        livemode,
    })
}

/// ` (acc_…)` when `id` looks like an id, so the user can find the object; nothing otherwise.
fn id_note(id: &str) -> String {
    let looks_like_id =
        (4..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if looks_like_id {
        format!(" ({id})")
    } else {
        String::new()
    }
}

fn check_id(id: &str, prefix: &str) -> Result<(), ()> {
    let body = id.strip_prefix(prefix).ok_or(())?;
    let ok = !body.is_empty()
        && id.len() <= 255
        && body.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    ok.then_some(()).ok_or(())
}

fn check_currency(code: &str) -> Result<(), ()> {
    (code.len() == 3 && code.bytes().all(|b| b.is_ascii_lowercase()))
        .then_some(())
        .ok_or(())
}

fn check_created(created: i64) -> Result<(), ()> {
    (0..=crate::query::MAX_TIMESTAMP)
        .contains(&created)
        .then_some(())
        .ok_or(())
}

/// The API's error for a non-2xx response: its code and message when the body is the API's error shape,
/// else a message saying what arrived.
pub fn upstream_error(response: &Response) -> UpstreamError {
    let parsed: Option<ErrorDetail> = serde_json::from_slice::<ErrorBody>(&response.body)
        .ok()
        .map(|b| b.error);
    let (code, message) = match parsed {
        Some(ErrorDetail {
            code,
            message: Some(message),
        }) if !message.trim().is_empty() => (code, message),
        Some(ErrorDetail { code, .. }) => (
            code,
            format!(
                "the ledger answered HTTP {} without a message",
                response.status
            ),
        ),
        None => (
            None,
            format!(
                "the ledger answered HTTP {} with a body that is not its error format",
                response.status
            ),
        ),
    };
    UpstreamError::of_response(response, code, message)
}

#[cfg(test)]
#[path = "api_tests.rs"]
mod tests;
