//! A loopback "ledger" JSON API for the tests: what the ledger connector (`connectors/ledger`) reads at
//! `https://api.ledger.example`, served on `127.0.0.1:0` and reached through the host's redirect.
//!
//! - `GET /v1/accounts` and `GET /v1/entries`: `limit` (1–100), `cursor` (opaque, from the last page's
//!   `next_cursor`), and the filters `currency`, `account` (entries), `created_gte`, `created_lt`. A page is
//!   `{"data": […], "next_cursor": "…" | null, "livemode": bool}`, newest first (created, then id,
//!   descending). Any other parameter, a bad limit or cursor → 400 `bad_parameter`.
//! - The key travels in `x-ledger-key` ([`KEY_HEADER`]) and must be one of [`LedgerApiConfig::keys`]:
//!   missing or unknown → 401 `unauthorized`; a key without access to a table → 403 `forbidden`. Every
//!   request needs `ledger-version: 2026-01-15` ([`API_VERSION`]), else 400 `bad_version`. Other paths →
//!   404, other methods → 405.
//! - Every answer carries `x-request-id: req_N`. [`LedgerApi::fail_next`] makes the next requests fail
//!   with a status (429 and 503 carry `retry-after: 0`).
//!
//! The data set is deterministic ([`LedgerApiConfig::seed`]); [`LedgerApi::accounts`] and
//! [`LedgerApi::entries`] are what the API serves, in its order, so tests compare rows against them. Every
//! request is recorded ([`LedgerApi::requests`]) with its headers, so tests can say which credential
//! arrived ([`LedgerApi::seen_credentials`]) and that nothing else carried it. Served by hyper on a thread
//! of its own with its own tokio runtime (callers are plain sync code), with HTTP/1.1 keep-alive; stopped
//! when dropped.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::json;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The header the ledger reads its key from (the manifest's `credential.header`).
pub const KEY_HEADER: &str = "x-ledger-key";
/// The API version every request must name (the manifest pins it).
pub const API_VERSION: &str = "2026-01-15";

/// A made-up key of real length: `prefix` + 40 letters and digits from a xorshift sequence seeded by `seed`.
pub fn made_up_key(prefix: &str, seed: u64) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let body: String = (0..40)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from(ALPHABET[(state % ALPHABET.len() as u64) as usize])
        })
        .collect();
    format!("{prefix}{body}")
}

/// The test-mode key [`LedgerApiConfig::default`] accepts, with access to both tables.
pub fn test_key() -> String {
    made_up_key("lk_test_", 11)
}

/// The live-mode key [`LedgerApiConfig::default`] accepts, with access to both tables.
pub fn live_key() -> String {
    made_up_key("lk_live_", 12)
}

/// A key the API accepts, its mode and the tables it may read.
#[derive(Clone, Debug)]
pub struct ApiKey {
    pub key: String,
    pub live: bool,
    pub tables: Vec<&'static str>,
}

#[derive(Clone, Debug)]
pub struct LedgerApiConfig {
    pub accounts: usize,
    pub entries: usize,
    pub seed: u64,
    pub keys: Vec<ApiKey>,
}

impl Default for LedgerApiConfig {
    /// 6 accounts, 230 entries (three pages), [`test_key`] and [`live_key`] with access to both tables.
    fn default() -> Self {
        LedgerApiConfig {
            accounts: 6,
            entries: 230,
            seed: 7,
            keys: vec![
                ApiKey {
                    key: test_key(),
                    live: false,
                    tables: vec!["accounts", "entries"],
                },
                ApiKey {
                    key: live_key(),
                    live: true,
                    tables: vec!["accounts", "entries"],
                },
            ],
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub id: String,
    pub name: String,
    pub currency: String,
    pub balance: i64,
    pub created: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub id: String,
    pub account: String,
    pub amount: i64,
    pub currency: String,
    pub created: i64,
    pub memo: Option<String>,
}

/// One request as it reached the API.
#[derive(Clone, Debug)]
pub struct LedgerRequest {
    pub method: String,
    pub path: String,
    /// The raw query string, without `?` (empty when none).
    pub query: String,
    /// Names lower-case, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The status the API answered with.
    pub status: u16,
    /// When its head arrived.
    pub arrived: Instant,
}

impl LedgerRequest {
    /// Every value of header `name`.
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The value of query parameter `name`, as sent.
    pub fn param(&self, name: &str) -> Option<&str> {
        params(&self.query)
            .into_iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }
}

/// A running ledger API; dropping it stops the server and frees the port.
pub struct LedgerApi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    accounts: Vec<Account>,
    entries: Vec<Entry>,
    keys: Vec<ApiKey>,
    log: Mutex<Vec<LedgerRequest>>,
    /// (status, how many more requests get it)
    failures: Mutex<Option<(u16, usize)>>,
    salt: u64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl LedgerApi {
    /// Generate the data, bind `127.0.0.1:0` and serve on a thread of its own. Returns once listening.
    pub fn start(config: LedgerApiConfig) -> std::io::Result<LedgerApi> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (accounts, entries) = generate(&config);
        let shared = Arc::new(Shared {
            accounts,
            entries,
            keys: config.keys,
            log: Mutex::new(Vec::new()),
            failures: Mutex::new(None),
            salt: config.seed ^ 0x5eed,
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let listener = {
            let _guard = runtime.enter();
            tokio::net::TcpListener::from_std(listener)?
        };
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let served = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("ledger-api".into())
            .spawn(move || {
                runtime.block_on(async move {
                    loop {
                        tokio::select! {
                            _ = &mut stopped => break,
                            accepted = listener.accept() => match accepted {
                                Ok((stream, _)) => {
                                    let shared = Arc::clone(&served);
                                    tokio::spawn(serve_connection(stream, shared));
                                }
                                Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
                            },
                        }
                    }
                });
            })?;
        Ok(LedgerApi {
            addr,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT`: what `--redirect https://api.ledger.example:443=…` points at.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every account, in the order the API serves them (newest first).
    pub fn accounts(&self) -> &[Account] {
        &self.shared.accounts
    }

    /// Every entry, in the order the API serves them (newest first).
    pub fn entries(&self) -> &[Entry] {
        &self.shared.entries
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<LedgerRequest> {
        lock(&self.shared.log).clone()
    }

    pub fn request_count(&self) -> usize {
        lock(&self.shared.log).len()
    }

    /// The `x-ledger-key` of every request so far, in order (`None`: the request had none).
    pub fn seen_credentials(&self) -> Vec<Option<String>> {
        lock(&self.shared.log)
            .iter()
            .map(|r| r.header_values(KEY_HEADER).first().map(|v| (*v).to_owned()))
            .collect()
    }

    /// Forget the requests so far.
    pub fn clear_requests(&self) {
        lock(&self.shared.log).clear();
    }

    /// Answer the next `times` requests with `status` and the API's error body (429 and 503 with
    /// `retry-after: 0`), after the key check.
    pub fn fail_next(&self, status: u16, times: usize) {
        *lock(&self.shared.failures) = Some((status, times));
    }
}

impl Drop for LedgerApi {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A small xorshift generator: the data set depends only on the seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

const CURRENCIES: [&str; 3] = ["eur", "usd", "gbp"];
const MEMOS: [&str; 5] = [
    "Invoice 2026-014",
    "Café \"Le Zinc\" — team lunch",
    "Refund ☂ umbrella order",
    "Payroll\tJanuary",
    "Transfer to savings",
];

fn generate(config: &LedgerApiConfig) -> (Vec<Account>, Vec<Entry>) {
    let mut rng = Rng(config.seed.wrapping_mul(0x2545_F491_4F6C_DD1D) | 1);
    let mut accounts: Vec<Account> = (0..config.accounts)
        .map(|i| {
            let currency = CURRENCIES[i % CURRENCIES.len()].to_owned();
            Account {
                id: format!("acc_{:08X}{i}", rng.next() as u32),
                name: format!(
                    "{} {}",
                    ["Operating", "Payroll", "Reserve"][i % 3],
                    currency.to_uppercase()
                ),
                balance: rng.below(2_000_000) as i64 - 500_000,
                currency,
                created: 1_735_689_600 + i as i64 * 86_400,
            }
        })
        .collect();
    let mut entries: Vec<Entry> = Vec::with_capacity(config.entries);
    let mut t = 1_767_225_600i64;
    for i in 0..config.entries {
        // Some entries share a second: ties are ordered by id, as the API promises.
        t += rng.below(3) as i64;
        let account = &accounts[rng.below(accounts.len() as u64) as usize];
        let amount = rng.below(200_000) as i64 - 100_000;
        entries.push(Entry {
            id: format!("ent_{:010}{i:05}", rng.next() as u32),
            account: account.id.clone(),
            amount,
            currency: account.currency.clone(),
            created: t,
            memo: (rng.below(4) != 0).then(|| MEMOS[i % MEMOS.len()].to_owned()),
        });
    }
    accounts.sort_by(|a, b| (b.created, &b.id).cmp(&(a.created, &a.id)));
    entries.sort_by(|a, b| (b.created, &b.id).cmp(&(a.created, &a.id)));
    (accounts, entries)
}

fn params(query: &str) -> Vec<(&str, &str)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .collect()
}

/// `%XX` decoded; `None` on a broken escape or invalid UTF-8.
fn decode(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl Shared {
    /// `c<pos>_<check>`: the position in the table's order, signed so a made-up cursor is refused.
    fn cursor(&self, table: &str, position: usize) -> String {
        let check = format!("{table}{position}{}", self.salt)
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            });
        format!("c{position}_{:x}", check & 0xffff_ffff)
    }

    fn position(&self, table: &str, cursor: &str) -> Option<usize> {
        let position: usize = cursor.strip_prefix('c')?.split('_').next()?.parse().ok()?;
        (self.cursor(table, position) == cursor).then_some(position)
    }

    fn answer(
        &self,
        method: &str,
        path: &str,
        query: &str,
        key: Option<&str>,
        version: Option<&str>,
    ) -> (u16, String) {
        let error = |status: u16, code: &str, message: String| {
            (
                status,
                json!({"error": {"code": code, "message": message}}).to_string(),
            )
        };
        let table = match path {
            "/v1/accounts" => "accounts",
            "/v1/entries" => "entries",
            _ => return error(404, "not_found", format!("no such path {path}")),
        };
        if method != "GET" {
            return error(
                405,
                "method_not_allowed",
                format!("{path} only answers GET"),
            );
        }
        let Some(grant) = key.and_then(|k| self.keys.iter().find(|g| g.key == k)) else {
            return error(401, "unauthorized", "no valid key in x-ledger-key".into());
        };
        if !grant.tables.contains(&table) {
            return error(403, "forbidden", format!("this key cannot read {table}"));
        }
        if version != Some(API_VERSION) {
            return error(
                400,
                "bad_version",
                format!("send ledger-version: {API_VERSION}"),
            );
        }
        if let Some((status, left)) = lock(&self.failures).as_mut() {
            if *left > 0 {
                *left -= 1;
                return error(*status, "injected", format!("injected failure {status}"));
            }
        }
        let allowed: &[&str] = if table == "accounts" {
            &["limit", "cursor", "currency", "created_gte", "created_lt"]
        } else {
            &[
                "limit",
                "cursor",
                "currency",
                "created_gte",
                "created_lt",
                "account",
            ]
        };
        let mut given: Vec<(&str, String)> = Vec::new();
        for (name, raw) in params(query) {
            if !allowed.contains(&name) || given.iter().any(|(n, _)| *n == name) {
                return error(
                    400,
                    "bad_parameter",
                    format!("unknown or repeated parameter {name}"),
                );
            }
            let Some(value) = decode(raw) else {
                return error(400, "bad_parameter", format!("bad encoding in {name}"));
            };
            given.push((name, value));
        }
        let get = |name: &str| {
            given
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.as_str())
        };
        let Some(limit) = get("limit")
            .and_then(|l| l.parse::<usize>().ok())
            .filter(|l| (1..=100).contains(l))
        else {
            return error(400, "bad_parameter", "limit must be 1 to 100".into());
        };
        let bound = |name: &str| {
            get(name)
                .map(|v| v.parse::<i64>().map_err(|_| name.to_owned()))
                .transpose()
        };
        let (gte, lt) = match (bound("created_gte"), bound("created_lt")) {
            (Ok(g), Ok(l)) => (g, l),
            (Err(n), _) | (_, Err(n)) => {
                return error(400, "bad_parameter", format!("{n} must be unix seconds"))
            }
        };
        let start = match get("cursor") {
            None => 0,
            Some(c) => match self.position(table, c) {
                Some(p) => p,
                None => return error(400, "bad_parameter", "invalid cursor".into()),
            },
        };
        let keep = |created: i64, currency: &str, account: Option<&str>| {
            gte.is_none_or(|g| created >= g)
                && lt.is_none_or(|l| created < l)
                && get("currency").is_none_or(|c| c == currency)
                && get("account").is_none_or(|a| Some(a) == account)
        };
        let matching: Vec<(usize, serde_json::Value)> = if table == "accounts" {
            self.accounts
                .iter()
                .enumerate()
                .filter(|(_, a)| keep(a.created, &a.currency, None))
                .map(|(i, a)| (i, json!({"id": a.id, "object": "account", "name": a.name, "currency": a.currency,
                    "balance": {"amount": a.balance, "currency": a.currency}, "created": a.created})))
                .collect()
        } else {
            self.entries
                .iter()
                .enumerate()
                .filter(|(_, e)| keep(e.created, &e.currency, Some(&e.account)))
                .map(|(i, e)| (i, json!({"id": e.id, "object": "entry", "account": e.account, "amount": e.amount,
                    "currency": e.currency, "created": e.created, "memo": e.memo})))
                .collect()
        };
        let rest: Vec<&(usize, serde_json::Value)> =
            matching.iter().filter(|(i, _)| *i >= start).collect();
        let data: Vec<&serde_json::Value> = rest.iter().take(limit).map(|(_, v)| v).collect();
        let next = rest.get(limit).map(|(i, _)| self.cursor(table, *i));
        (
            200,
            json!({"data": data, "next_cursor": next, "livemode": grant.live}).to_string(),
        )
    }
}

async fn serve_connection(stream: tokio::net::TcpStream, shared: Arc<Shared>) {
    let io = hyper_util::rt::TokioIo::new(stream);
    let service = hyper::service::service_fn(move |req| handle(Arc::clone(&shared), req));
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(io, service)
        .await;
}

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let arrived = Instant::now();
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    // Read (and ignore) any body, so keep-alive connections stay in step.
    let _ = Limited::new(req.into_body(), 1 << 20).collect().await;
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let (status, body) = shared.answer(
        &method,
        &path,
        &query,
        header(KEY_HEADER),
        header("ledger-version"),
    );
    let id = {
        let mut log = lock(&shared.log);
        log.push(LedgerRequest {
            method,
            path,
            query,
            headers: headers.clone(),
            status,
            arrived,
        });
        format!("req_{}", log.len())
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = response.headers_mut();
    h.insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = hyper::header::HeaderValue::from_str(&id) {
        h.insert("x-request-id", v);
    }
    if status == 429 || status == 503 {
        h.insert("retry-after", hyper::header::HeaderValue::from_static("0"));
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// One request over a fresh connection; (status, request id, body).
    fn get(
        api: &LedgerApi,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
    ) -> (u16, String, serde_json::Value) {
        let mut stream = std::net::TcpStream::connect(api.addr).expect("connect");
        let mut request = format!(
            "{method} {target} HTTP/1.1\r\nhost: api.ledger.example\r\nconnection: close\r\n"
        );
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).expect("write");
        let mut raw = String::new();
        stream.read_to_string(&mut raw).expect("read");
        let (head, body) = raw.split_once("\r\n\r\n").expect("a response");
        let status = head[9..12].parse().expect("status");
        let id = head
            .lines()
            .find_map(|l| l.strip_prefix("x-request-id: "))
            .unwrap_or_default()
            .to_owned();
        (status, id, serde_json::from_str(body).expect("JSON body"))
    }

    type Headers<'a> = Vec<(&'a str, &'a str)>;

    fn authorized(key: &str) -> [(&str, &str); 2] {
        [(KEY_HEADER, key), ("ledger-version", API_VERSION)]
    }

    #[test]
    fn pages_walk_the_whole_table_once_in_order() {
        let api = LedgerApi::start(LedgerApiConfig::default()).expect("start");
        let key = test_key();
        let mut target = "/v1/entries?limit=100".to_owned();
        let mut seen: Vec<String> = Vec::new();
        loop {
            let (status, _, page) = get(&api, "GET", &target, &authorized(&key));
            assert_eq!(status, 200, "{page}");
            assert_eq!(page["livemode"], false);
            for e in page["data"].as_array().expect("data") {
                seen.push(e["id"].as_str().expect("id").to_owned());
            }
            match page["next_cursor"].as_str() {
                Some(c) => target = format!("/v1/entries?limit=100&cursor={c}"),
                None => break,
            }
        }
        let all: Vec<String> = api.entries().iter().map(|e| e.id.clone()).collect();
        assert_eq!(seen, all);
        assert_eq!(all.len(), 230);
        assert!(api
            .entries()
            .windows(2)
            .all(|w| (w[0].created, &w[0].id) > (w[1].created, &w[1].id)));
        assert!(
            api.entries()
                .windows(2)
                .any(|w| w[0].created == w[1].created),
            "some seconds hold two"
        );
        assert_eq!(api.request_count(), 3);
        assert_eq!(api.seen_credentials(), vec![Some(key); 3]);
    }

    #[test]
    fn filters_select_and_the_live_key_sees_live_data() {
        let api = LedgerApi::start(LedgerApiConfig::default()).expect("start");
        let account = api.accounts()[1].id.clone();
        let (status, _, page) = get(
            &api,
            "GET",
            &format!(
                "/v1/entries?limit=100&account={account}&currency={}",
                api.accounts()[1].currency
            ),
            &authorized(&live_key()),
        );
        assert_eq!(status, 200);
        assert_eq!(page["livemode"], true);
        let got: Vec<&str> = page["data"]
            .as_array()
            .expect("data")
            .iter()
            .map(|e| e["id"].as_str().unwrap_or(""))
            .collect();
        let want: Vec<&str> = api
            .entries()
            .iter()
            .filter(|e| e.account == account)
            .map(|e| e.id.as_str())
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn mistakes_get_the_api_s_errors() {
        let api = LedgerApi::start(LedgerApiConfig::default()).expect("start");
        let key = test_key();
        let cases: Vec<(&str, &str, Headers, u16, &str)> = vec![
            (
                "GET",
                "/v1/entries?limit=1",
                vec![("ledger-version", API_VERSION)],
                401,
                "unauthorized",
            ),
            (
                "GET",
                "/v1/entries?limit=1",
                vec![
                    (KEY_HEADER, "lk_test_nope"),
                    ("ledger-version", API_VERSION),
                ],
                401,
                "unauthorized",
            ),
            (
                "GET",
                "/v1/entries?limit=1",
                vec![(KEY_HEADER, key.as_str())],
                400,
                "bad_version",
            ),
            (
                "GET",
                "/v1/entries?limit=0",
                authorized(&key).to_vec(),
                400,
                "bad_parameter",
            ),
            (
                "GET",
                "/v1/entries?limit=5&expand=x",
                authorized(&key).to_vec(),
                400,
                "bad_parameter",
            ),
            (
                "GET",
                "/v1/entries?limit=5&limit=6",
                authorized(&key).to_vec(),
                400,
                "bad_parameter",
            ),
            (
                "GET",
                "/v1/entries?limit=5&cursor=c3_0",
                authorized(&key).to_vec(),
                400,
                "bad_parameter",
            ),
            (
                "GET",
                "/v1/accounts?limit=5&account=acc_1",
                authorized(&key).to_vec(),
                400,
                "bad_parameter",
            ),
            (
                "POST",
                "/v1/entries",
                authorized(&key).to_vec(),
                405,
                "method_not_allowed",
            ),
            (
                "GET",
                "/v1/customers?limit=1",
                authorized(&key).to_vec(),
                404,
                "not_found",
            ),
        ];
        for (i, (method, target, headers, status, code)) in cases.into_iter().enumerate() {
            let (got, id, body) = get(&api, method, target, &headers);
            assert_eq!(
                (got, body["error"]["code"].as_str()),
                (status, Some(code)),
                "{method} {target}"
            );
            assert_eq!(id, format!("req_{}", i + 1));
        }
        api.fail_next(503, 1);
        assert_eq!(
            get(&api, "GET", "/v1/accounts?limit=1", &authorized(&key)).0,
            503
        );
        assert_eq!(
            get(&api, "GET", "/v1/accounts?limit=1", &authorized(&key)).0,
            200
        );
        let statuses: Vec<u16> = api.requests().iter().map(|r| r.status).collect();
        assert_eq!(statuses[statuses.len() - 2..], [503, 200]);
    }
}
