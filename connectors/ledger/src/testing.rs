//! Fakes for the native unit tests: a clock that only records, a transport that replays a script, and an
//! in-memory ledger API that serves real pages (filters, `limit`, `cursor`, `livemode`) from a data set.

use crate::transport::{Clock, Completion, Http, Request, Response, Ticket, TransportError};
use klairr_connector_sdk::transport::Immediate;
use std::collections::VecDeque;
use std::time::Duration;

/// Records every sleep; never sleeps. Jitter is a fixed sequence.
#[derive(Default)]
pub struct FakeClock {
    pub slept: Vec<Duration>,
    next: u64,
}

impl Clock for FakeClock {
    fn sleep(&mut self, duration: Duration) {
        self.slept.push(duration);
    }
    /// The time slept so far.
    fn now(&mut self) -> Duration {
        self.slept.iter().sum()
    }
    fn random_u64(&mut self) -> u64 {
        self.next = self
            .next
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.next >> 11
    }
}

/// Answers requests with a fixed list of outcomes, in order; records the requests.
pub struct Scripted {
    replies: VecDeque<Result<Response, TransportError>>,
    pub sent: Vec<String>,
    answered: Immediate,
}

impl Scripted {
    pub fn new(replies: Vec<Result<Response, TransportError>>) -> Scripted {
        Scripted {
            replies: replies.into(),
            sent: Vec::new(),
            answered: Immediate::default(),
        }
    }
}

impl Http for Scripted {
    fn start(&mut self, request: &Request) -> Ticket {
        self.sent.push(request.path_and_query.clone());
        let reply = self
            .replies
            .pop_front()
            .unwrap_or_else(|| panic!("no reply scripted for {}", request.path_and_query));
        self.answered.answer(reply)
    }
    fn wait_any(&mut self, _timeout: Option<Duration>) -> Option<Completion> {
        self.answered.wait_any()
    }
    fn cancel(&mut self, ticket: Ticket) {
        self.answered.cancel(ticket)
    }
}

/// One account of the fake ledger.
#[derive(Clone, Debug)]
pub struct FakeAccount {
    pub id: String,
    pub name: String,
    pub currency: String,
    pub balance: i64,
    pub created: i64,
}

/// One entry of the fake ledger.
#[derive(Clone, Debug)]
pub struct FakeEntry {
    pub id: String,
    pub account: String,
    pub amount: i64,
    pub currency: String,
    pub created: i64,
    pub memo: Option<String>,
}

/// An in-memory ledger API. Objects are newest first (created descending, then id descending); a cursor
/// is `cur_<position>`.
pub struct FakeLedger {
    pub accounts: Vec<FakeAccount>,
    pub entries: Vec<FakeEntry>,
    pub livemode: bool,
    /// Pages say nothing of their mode (no `livemode`).
    pub omit_livemode: bool,
    /// Tables answered with 403.
    pub forbidden: Vec<&'static str>,
    pub sent: Vec<String>,
    pub progress: Vec<(u32, u64)>,
    answered: Immediate,
}

impl FakeLedger {
    /// `accounts` accounts in eur and usd, `entries` entries spread over them, one second apart.
    pub fn new(accounts: usize, entries: usize) -> FakeLedger {
        let accounts: Vec<FakeAccount> = (0..accounts)
            .map(|i| FakeAccount {
                id: format!("acc_{i:04}"),
                name: format!("Account {i}"),
                currency: if i % 2 == 0 { "eur" } else { "usd" }.into(),
                balance: (i as i64 - 2) * 1000,
                created: 1_700_000_000 + i as i64 * 60,
            })
            .rev()
            .collect();
        let n = accounts.len().max(1);
        let entries: Vec<FakeEntry> = (0..entries)
            .map(|i| {
                let account = &accounts[i % n];
                FakeEntry {
                    id: format!("ent_{i:05}"),
                    account: account.id.clone(),
                    amount: if i % 3 == 0 {
                        -(i as i64)
                    } else {
                        i as i64 * 10
                    },
                    currency: account.currency.clone(),
                    created: 1_767_225_600 + i as i64,
                    memo: (i % 4 != 0).then(|| format!("memo {i}")),
                }
            })
            .rev()
            .collect();
        FakeLedger {
            accounts,
            entries,
            livemode: false,
            omit_livemode: false,
            forbidden: Vec::new(),
            sent: Vec::new(),
            progress: Vec::new(),
            answered: Immediate::default(),
        }
    }

    fn page(&self, path: &str, params: &[(&str, &str)]) -> Result<String, (u16, String)> {
        let get = |name: &str| params.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
        let limit: usize = get("limit")
            .and_then(|v| v.parse().ok())
            .filter(|n| (1..=100).contains(n))
            .ok_or((400, "limit must be 1 to 100".to_owned()))?;
        let start: usize = match get("cursor") {
            None => 0,
            Some(c) => c
                .strip_prefix("cur_")
                .and_then(|p| p.parse().ok())
                .ok_or((400, "bad cursor".to_owned()))?,
        };
        let created_ok = |t: i64| {
            get("created_gte").is_none_or(|v| v.parse::<i64>().is_ok_and(|g| t >= g))
                && get("created_lt").is_none_or(|v| v.parse::<i64>().is_ok_and(|l| t < l))
        };
        let currency_ok = |c: &str| get("currency").is_none_or(|v| v == c);
        let objects: Vec<(usize, String)> = match path {
            "/v1/accounts" => self
                .accounts
                .iter()
                .enumerate()
                .filter(|(_, a)| created_ok(a.created) && currency_ok(&a.currency))
                .map(|(i, a)| {
                    (i, serde_json::json!({"id": a.id, "name": a.name, "currency": a.currency,
                        "balance": {"amount": a.balance, "currency": a.currency}, "created": a.created})
                    .to_string())
                })
                .collect(),
            "/v1/entries" => self
                .entries
                .iter()
                .enumerate()
                .filter(|(_, e)| {
                    created_ok(e.created)
                        && currency_ok(&e.currency)
                        && get("account").is_none_or(|a| a == e.account)
                })
                .map(|(i, e)| {
                    (i, serde_json::json!({"id": e.id, "account": e.account, "amount": e.amount,
                        "currency": e.currency, "created": e.created, "memo": e.memo})
                    .to_string())
                })
                .collect(),
            _ => return Err((404, "no such path".into())),
        };
        let rest: Vec<&(usize, String)> = objects.iter().filter(|(i, _)| *i >= start).collect();
        let page: Vec<&str> = rest
            .iter()
            .take(limit)
            .map(|(_, json)| json.as_str())
            .collect();
        let next = rest.get(limit).map(|(i, _)| format!("\"cur_{i}\""));
        let livemode = if self.omit_livemode {
            String::new()
        } else {
            format!(r#","livemode":{}"#, self.livemode)
        };
        Ok(format!(
            r#"{{"data":[{}],"next_cursor":{}{livemode}}}"#,
            page.join(","),
            next.as_deref().unwrap_or("null"),
        ))
    }
}

impl Http for FakeLedger {
    fn start(&mut self, request: &Request) -> Ticket {
        let reply = self.reply(request);
        self.answered.answer(reply)
    }
    fn wait_any(&mut self, _timeout: Option<Duration>) -> Option<Completion> {
        self.answered.wait_any()
    }
    fn cancel(&mut self, ticket: Ticket) {
        self.answered.cancel(ticket)
    }

    fn progress(&mut self, requests: u32, rows: u64) {
        self.progress.push((requests, rows));
    }
}

impl FakeLedger {
    /// The page (or error) the ledger API would answer `request` with.
    fn reply(&mut self, request: &Request) -> Result<Response, TransportError> {
        self.sent.push(request.path_and_query.clone());
        let (path, query) = request
            .path_and_query
            .split_once('?')
            .unwrap_or((&request.path_and_query, ""));
        let params: Vec<(&str, &str)> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| p.split_once('=').unwrap_or((p, "")))
            .collect();
        let table = path.trim_start_matches("/v1/");
        let (status, body) = if self.forbidden.contains(&table) {
            (
                403,
                r#"{"error":{"code":"forbidden","message":"no read access"}}"#.to_owned(),
            )
        } else {
            match self.page(path, &params) {
                Ok(body) => (200, body),
                Err((status, message)) => (
                    status,
                    serde_json::json!({"error": {"code": "bad_request", "message": message}})
                        .to_string(),
                ),
            }
        };
        Ok(Response {
            status,
            request_id: Some(format!("req_{}", self.sent.len())),
            body: body.into_bytes(),
            ..Response::default()
        })
    }
}
