//! The request-handling core, free of sockets: auth, permissions, routing, list parameters,
//! filters, pagination and Stripe-shaped errors. `Shared::respond` adds faults and the request log.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Map};

use crate::data::{Obj, Store, Table};
use crate::{Fault, KeyGrant, RecordedRequest, Resource};

/// The made-up account every key belongs to.
pub(crate) const ACCOUNT: &str = "acct_1KlairrEmulator00";

/// One parsed request, as the router sees it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Req {
    pub method: String,
    pub path: String,
    pub query: String,
    pub host: Option<String>,
    pub stripe_version: Option<String>,
    pub authorization: Option<String>,
}

/// One response before it becomes HTTP.
#[derive(Debug, Clone)]
pub(crate) struct Resp {
    pub status: u16,
    pub body: Vec<u8>,
    pub should_retry: Option<bool>,
    pub retry_after: Option<u64>,
}

impl Resp {
    fn ok(body: Vec<u8>) -> Resp {
        Resp {
            status: 200,
            body,
            should_retry: None,
            retry_after: None,
        }
    }
}

/// A Stripe error response.
fn error(status: u16, typ: &str, code: Option<&str>, message: &str, param: Option<&str>) -> Resp {
    let mut e = Map::new();
    if let Some(code) = code {
        e.insert("code".into(), json!(code));
        e.insert(
            "doc_url".into(),
            json!(format!(
                "https://stripe.com/docs/error-codes/{}",
                code.replace('_', "-")
            )),
        );
    }
    e.insert("message".into(), json!(message));
    if let Some(param) = param {
        e.insert("param".into(), json!(param));
    }
    e.insert("type".into(), json!(typ));
    let body = serde_json::to_vec(&json!({ "error": e })).unwrap_or_default();
    Resp {
        status,
        body,
        should_retry: None,
        retry_after: None,
    }
}

fn bad(code: Option<&str>, message: &str, param: &str) -> Resp {
    error(400, "invalid_request_error", code, message, Some(param))
}

fn missing(r: Resource, id: &str, param: &str, status: u16) -> Resp {
    error(
        status,
        "invalid_request_error",
        Some("resource_missing"),
        &format!("No such {}: '{}'", r.singular(), id),
        Some(param),
    )
}

/// Split a key into its mode prefix (`rk_test_`, `sk_live_`, `sk_org_`...) and the rest.
fn split_prefix(key: &str) -> (&str, &str) {
    let mut parts = key.splitn(3, '_');
    if let (Some(a), Some(b), Some(_)) = (parts.next(), parts.next(), parts.next()) {
        let ok = (2..=3).contains(&a.len())
            && a.bytes().all(|c| c.is_ascii_lowercase())
            && (1..=8).contains(&b.len())
            && b.bytes().all(|c| c.is_ascii_lowercase());
        if ok {
            let n = a.len() + b.len() + 2;
            return (&key[..n], &key[n..]);
        }
    }
    ("", key)
}

/// Redact a key: its prefix, `sep`, and its last four characters when the rest is long enough
/// that they give nothing away. Never the whole key.
pub(crate) fn mask(key: &str, sep: &str) -> String {
    let (prefix, rest) = split_prefix(key);
    let chars: Vec<char> = rest.chars().collect();
    if chars.len() >= 12 {
        let last: String = chars[chars.len() - 4..].iter().collect();
        format!("{prefix}{sep}{last}")
    } else {
        format!("{prefix}{sep}")
    }
}

/// The key from an `Authorization` header (`Bearer <key>`; anything else is taken as given).
fn bearer(h: &str) -> &str {
    let h = h.trim();
    match h.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        _ => h,
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Op {
    Eq,
    Gt,
    Gte,
    Lt,
    Lte,
}

#[derive(Clone, Copy, Debug)]
enum RangeField {
    Created,
    DueDate,
    ArrivalDate,
    PeriodStart,
    PeriodEnd,
}

#[derive(Debug)]
enum Filter {
    Range(RangeField, Op, i64),
    Customer(String),
    Subscription(String),
    Status(String),
    SubStatus(String),
    CollectionMethod(String),
    Email(String),
    PaymentIntent(String),
    Destination(String),
    Price(String),
    /// A reference no generated object carries (test_clock, customer_account, transfer_group).
    Nothing,
    AutomaticTax(bool),
    /// Subscriptions without a status filter: Stripe leaves canceled ones out.
    NotCanceled,
}

impl Filter {
    fn matches(&self, o: &Obj) -> bool {
        let f = &o.f;
        let eq = |a: &Option<String>, b: &str| a.as_deref() == Some(b);
        match self {
            Filter::Range(field, op, n) => {
                let v = match field {
                    RangeField::Created => Some(o.created),
                    RangeField::DueDate => f.due_date,
                    RangeField::ArrivalDate => f.arrival_date,
                    RangeField::PeriodStart => f.current_period_start,
                    RangeField::PeriodEnd => f.current_period_end,
                };
                v.is_some_and(|v| match op {
                    Op::Eq => v == *n,
                    Op::Gt => v > *n,
                    Op::Gte => v >= *n,
                    Op::Lt => v < *n,
                    Op::Lte => v <= *n,
                })
            }
            Filter::Customer(c) => eq(&f.customer, c),
            Filter::Subscription(s) => eq(&f.subscription, s),
            Filter::Status(s) => f.status == *s,
            Filter::SubStatus(s) => match s.as_str() {
                "all" => true,
                "ended" => f.status == "canceled" || f.status == "incomplete_expired",
                s => f.status == s,
            },
            Filter::CollectionMethod(c) => eq(&f.collection_method, c),
            Filter::Email(e) => eq(&f.email, e),
            Filter::PaymentIntent(p) => eq(&f.payment_intent, p),
            Filter::Destination(d) => eq(&f.destination, d),
            Filter::Price(p) => f.prices.iter().any(|x| x == p),
            Filter::Nothing => false,
            Filter::AutomaticTax(on) => !*on,
            Filter::NotCanceled => f.status != "canceled",
        }
    }
}

const SUB_STATUSES: &[&str] = &[
    "active",
    "all",
    "canceled",
    "ended",
    "incomplete",
    "incomplete_expired",
    "past_due",
    "paused",
    "trialing",
    "unpaid",
];
const INVOICE_STATUSES: &[&str] = &["draft", "open", "paid", "uncollectible", "void"];
const COLLECTION_METHODS: &[&str] = &["charge_automatically", "send_invoice"];

fn range_field(r: Resource, base: &str) -> Option<RangeField> {
    match (r, base) {
        (_, "created") => Some(RangeField::Created),
        (Resource::Invoices, "due_date") => Some(RangeField::DueDate),
        (Resource::Payouts, "arrival_date") => Some(RangeField::ArrivalDate),
        (Resource::Subscriptions, "current_period_start") => Some(RangeField::PeriodStart),
        (Resource::Subscriptions, "current_period_end") => Some(RangeField::PeriodEnd),
        _ => None,
    }
}

/// The plain string parameters each list endpoint accepts at the pinned version.
fn string_param(r: Resource, base: &str) -> bool {
    let allowed: &[&str] = match r {
        Resource::Customers => &["email", "test_clock"],
        Resource::Subscriptions => &[
            "customer",
            "customer_account",
            "plan",
            "price",
            "test_clock",
            "collection_method",
            "status",
        ],
        Resource::Invoices => &[
            "customer",
            "customer_account",
            "subscription",
            "status",
            "collection_method",
        ],
        Resource::Charges => &["customer", "payment_intent", "transfer_group"],
        Resource::Payouts => &["destination", "status"],
    };
    allowed.contains(&base)
}

fn one_of(list: &[&str]) -> String {
    match list.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{}, or {}", rest.join(", "), last),
        Some((last, _)) => (*last).to_string(),
        None => String::new(),
    }
}

fn parse_int(value: &str, param: &str) -> Result<i64, Resp> {
    value.parse::<i64>().map_err(|_| {
        bad(
            Some("parameter_invalid_integer"),
            &format!("Invalid integer: {value}"),
            param,
        )
    })
}

struct ListQuery {
    limit: usize,
    starting_after: Option<String>,
    ending_before: Option<String>,
    expand_customer: bool,
    filters: Vec<Filter>,
}

fn unknown(key: &str) -> Resp {
    bad(
        Some("parameter_unknown"),
        &format!("Received unknown parameter: {key}"),
        key,
    )
}

/// Validate an `expand[]` value. `list` says whether paths are relative to `data.`.
fn expand_value(r: Resource, value: &str, key: &str, list: bool) -> Result<bool, Resp> {
    let path = if list {
        value.strip_prefix("data.")
    } else {
        Some(value)
    };
    match path {
        Some("customer")
            if matches!(
                r,
                Resource::Subscriptions | Resource::Invoices | Resource::Charges
            ) =>
        {
            Ok(true)
        }
        _ => Err(bad(
            None,
            &format!("This property cannot be expanded ({value})."),
            key,
        )),
    }
}

/// Split `created[gte]` into (`created`, Some(`gte`)); `expand[]` into (`expand`, Some(``)).
fn split_key(key: &str) -> Option<(&str, Option<&str>)> {
    match key.find('[') {
        None => Some((key, None)),
        Some(i) => {
            let inner = key[i + 1..].strip_suffix(']')?;
            if inner.contains('[') || inner.contains(']') {
                return None;
            }
            Some((&key[..i], Some(inner)))
        }
    }
}

fn parse_list_query(r: Resource, query: &str) -> Result<ListQuery, Resp> {
    let mut q = ListQuery {
        limit: 10,
        starting_after: None,
        ending_before: None,
        expand_customer: false,
        filters: Vec::new(),
    };
    let mut sub_status = None;
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        let (key, value) = (key.as_ref(), value.as_ref());
        if key.is_empty() {
            continue;
        }
        let Some((base, inner)) = split_key(key) else {
            return Err(unknown(key));
        };
        if base == "expand" {
            if inner.is_some_and(|i| i.is_empty() || i.bytes().all(|b| b.is_ascii_digit())) {
                q.expand_customer |= expand_value(r, value, key, true)?;
                continue;
            }
            return Err(unknown(key));
        }
        if value.is_empty() {
            return Err(bad(
                Some("parameter_invalid_empty"),
                &format!("You passed an empty string for '{key}'. We assume empty values are an attempt to unset a parameter; however '{key}' cannot be unset. You should remove '{key}' from your request or supply a non-empty value."),
                key,
            ));
        }
        if let Some(field) = range_field(r, base) {
            let op = match inner {
                None => Op::Eq,
                Some("gt") => Op::Gt,
                Some("gte") => Op::Gte,
                Some("lt") => Op::Lt,
                Some("lte") => Op::Lte,
                Some(_) => return Err(unknown(key)),
            };
            q.filters
                .push(Filter::Range(field, op, parse_int(value, key)?));
            continue;
        }
        if r == Resource::Subscriptions && base == "automatic_tax" {
            if inner != Some("enabled") {
                return Err(unknown(key));
            }
            let on = match value {
                "true" => true,
                "false" => false,
                _ => return Err(bad(None, &format!("Invalid boolean: {value}"), key)),
            };
            q.filters.push(Filter::AutomaticTax(on));
            continue;
        }
        if inner.is_some() {
            return Err(unknown(key));
        }
        match base {
            "limit" => {
                let n = parse_int(value, key)?;
                if n < 1 {
                    return Err(bad(
                        Some("parameter_invalid_integer"),
                        "This value must be greater than or equal to 1.",
                        key,
                    ));
                }
                if n > 100 {
                    return Err(bad(
                        Some("parameter_invalid_integer"),
                        "This value must be less than or equal to 100.",
                        key,
                    ));
                }
                q.limit = n as usize;
                continue;
            }
            "starting_after" => {
                q.starting_after = Some(value.to_string());
                continue;
            }
            "ending_before" => {
                q.ending_before = Some(value.to_string());
                continue;
            }
            _ => {}
        }
        if !string_param(r, base) {
            return Err(unknown(key));
        }
        let v = value.to_string();
        let filter = match base {
            "email" => Filter::Email(v),
            "customer" => Filter::Customer(v),
            "subscription" => Filter::Subscription(v),
            "payment_intent" => Filter::PaymentIntent(v),
            "destination" => Filter::Destination(v),
            "plan" | "price" => Filter::Price(v),
            "test_clock" | "customer_account" | "transfer_group" => Filter::Nothing,
            "collection_method" => {
                if !COLLECTION_METHODS.contains(&value) {
                    return Err(invalid_enum(key, value, COLLECTION_METHODS));
                }
                Filter::CollectionMethod(v)
            }
            "status" => match r {
                Resource::Subscriptions => {
                    if !SUB_STATUSES.contains(&value) {
                        return Err(invalid_enum(key, value, SUB_STATUSES));
                    }
                    sub_status = Some(v);
                    continue;
                }
                Resource::Invoices => {
                    if !INVOICE_STATUSES.contains(&value) {
                        return Err(invalid_enum(key, value, INVOICE_STATUSES));
                    }
                    Filter::Status(v)
                }
                // Payouts: a plain string, as in Stripe's spec; unknown values match nothing.
                _ => Filter::Status(v),
            },
            _ => return Err(unknown(key)),
        };
        q.filters.push(filter);
    }
    if q.starting_after.is_some() && q.ending_before.is_some() {
        return Err(bad(
            Some("parameters_exclusive"),
            "You may only specify one of these parameters: ending_before, starting_after.",
            "ending_before",
        ));
    }
    if r == Resource::Subscriptions {
        // Without a status filter Stripe leaves canceled subscriptions out.
        q.filters.push(match sub_status {
            Some(s) => Filter::SubStatus(s),
            None => Filter::NotCanceled,
        });
    }
    Ok(q)
}

fn invalid_enum(key: &str, value: &str, allowed: &[&str]) -> Resp {
    let _ = value;
    bad(
        Some("parameter_invalid"),
        &format!("Invalid {key}: must be one of {}", one_of(allowed)),
        key,
    )
}

/// Write one object, in the key's mode, with its customer expanded when asked.
fn write_obj(out: &mut Vec<u8>, o: &Obj, live: bool, customers: Option<&Table>) {
    let expand = customers.and_then(|t| {
        let (s, e) = o.customer_span?;
        let id = o.json.get(s + 1..e - 1)?;
        t.index.get(id).map(|&i| (s, e, &t.objs[i]))
    });
    if !live && expand.is_none() {
        out.extend_from_slice(o.json.as_bytes());
        return;
    }
    let bytes = o.json.as_bytes();
    let mut at = 0;
    let mut lives = o.live_at.iter().copied().peekable();
    let mut exp = expand;
    loop {
        let next_live = if live { lives.peek().copied() } else { None };
        let next_exp = exp.map(|(s, _, _)| s);
        match (next_live, next_exp) {
            (Some(l), Some(s)) if l < s => {
                out.extend_from_slice(&bytes[at..l]);
                out.extend_from_slice(b"true");
                at = l + 5;
                lives.next();
            }
            (_, Some(s)) => {
                let (_, e, c) = exp.take().map_or((s, s, o), |x| x);
                out.extend_from_slice(&bytes[at..s]);
                write_obj(out, c, live, None);
                at = e;
            }
            (Some(l), None) => {
                out.extend_from_slice(&bytes[at..l]);
                out.extend_from_slice(b"true");
                at = l + 5;
                lives.next();
            }
            (None, None) => break,
        }
    }
    out.extend_from_slice(&bytes[at..]);
}

/// How a list request is served: normally, or twisted by a fault.
#[derive(Clone, Copy, Default)]
struct ListMode {
    /// HasMoreLoop: ignore the cursor and always say has_more.
    loop_page: bool,
}

enum Route {
    List(Resource),
    Retrieve(Resource, String),
    Write(Resource, String),
}

fn route_of(method: &str, path: &str) -> Option<Route> {
    let rest = path.strip_prefix("/v1/")?;
    let parts: Vec<&str> = rest.split('/').collect();
    let res = Resource::from_name(parts.first()?)?;
    let id_ok = |s: &str| !s.is_empty();
    match (method, parts.as_slice()) {
        ("GET", [_]) => Some(Route::List(res)),
        ("GET", [_, id]) if id_ok(id) => Some(Route::Retrieve(res, (*id).to_string())),
        ("DELETE", [_, id])
            if id_ok(id)
                && matches!(
                    res,
                    Resource::Customers | Resource::Subscriptions | Resource::Invoices
                ) =>
        {
            Some(Route::Write(res, (*id).to_string()))
        }
        ("POST", [_, id, "capture"]) if id_ok(id) && res == Resource::Charges => {
            Some(Route::Write(res, (*id).to_string()))
        }
        ("POST", [_, id, "cancel"]) if id_ok(id) && res == Resource::Payouts => {
            Some(Route::Write(res, (*id).to_string()))
        }
        _ => None,
    }
}

fn pct_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

pub(crate) struct Router {
    pub store: Store,
    pub keys: HashMap<String, KeyGrant>,
}

impl Router {
    fn route(&self, req: &Req, mode: ListMode) -> Resp {
        let Some(auth) = req.authorization.as_deref() else {
            return error(
                401,
                "invalid_request_error",
                None,
                "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/.",
                None,
            );
        };
        let key = bearer(auth);
        let Some(grant) = self.keys.get(key) else {
            return error(
                401,
                "invalid_request_error",
                None,
                &format!("Invalid API Key provided: {}", mask(key, "****")),
                None,
            );
        };
        let Some(route) = route_of(&req.method, &req.path) else {
            return error(
                404,
                "invalid_request_error",
                None,
                &format!(
                    "Unrecognized request URL ({}: {}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.",
                    req.method, req.path
                ),
                None,
            );
        };
        let (res, write) = match &route {
            Route::List(r) | Route::Retrieve(r, _) => (*r, false),
            Route::Write(r, _) => (*r, true),
        };
        let allowed = if write {
            grant.write.contains(&res)
        } else {
            grant.read.contains(&res) || grant.write.contains(&res)
        };
        if !allowed {
            return error(
                403,
                "invalid_request_error",
                None,
                &format!(
                    "The provided key '{}' does not have the required permissions for this endpoint on account '{ACCOUNT}'. Having the 'rak_{}_{}' permission would allow this request to continue.",
                    mask(key, "***"),
                    res.singular(),
                    if write { "write" } else { "read" }
                ),
                None,
            );
        }
        let live = grant.livemode;
        match route {
            Route::List(r) => self.list(r, &req.query, live, mode),
            Route::Retrieve(r, id) | Route::Write(r, id) => {
                let id = pct_decode(&id);
                let mut expand = false;
                if !write {
                    for (k, v) in form_urlencoded::parse(req.query.as_bytes()) {
                        match split_key(&k) {
                            Some(("expand", Some(i)))
                                if i.is_empty() || i.bytes().all(|b| b.is_ascii_digit()) =>
                            {
                                match expand_value(r, &v, &k, false) {
                                    Ok(e) => expand |= e,
                                    Err(e) => return e,
                                }
                            }
                            _ if k.is_empty() => {}
                            _ => return unknown(&k),
                        }
                    }
                }
                let table = self.store.table(r);
                match table.index.get(&id) {
                    Some(&i) => {
                        let mut out = Vec::with_capacity(table.objs[i].json.len() + 16);
                        let customers = expand.then(|| self.store.table(Resource::Customers));
                        write_obj(&mut out, &table.objs[i], live, customers);
                        Resp::ok(out)
                    }
                    None => missing(r, &id, "id", 404),
                }
            }
        }
    }

    fn list(&self, r: Resource, query: &str, live: bool, mode: ListMode) -> Resp {
        let mut q = match parse_list_query(r, query) {
            Ok(q) => q,
            Err(e) => return e,
        };
        let table = self.store.table(r);
        let pos = |id: &str, param: &str| {
            table
                .index
                .get(id)
                .copied()
                .ok_or_else(|| missing(r, id, param, 400))
        };
        if mode.loop_page {
            q.starting_after = None;
            q.ending_before = None;
        }
        let ok = |o: &Obj| q.filters.iter().all(|f| f.matches(o));
        let want = q.limit + 1;
        let mut page: Vec<usize> = Vec::with_capacity(want);
        if let Some(eb) = q.ending_before.as_deref() {
            let p = match pos(eb, "ending_before") {
                Ok(p) => p,
                Err(e) => return e,
            };
            for i in (0..p).rev() {
                if ok(&table.objs[i]) {
                    page.push(i);
                    if page.len() == want {
                        break;
                    }
                }
            }
        } else {
            let start = match q.starting_after.as_deref() {
                Some(sa) => match pos(sa, "starting_after") {
                    Ok(p) => p + 1,
                    Err(e) => return e,
                },
                None => 0,
            };
            for (i, o) in table.objs.iter().enumerate().skip(start) {
                if ok(o) {
                    page.push(i);
                    if page.len() == want {
                        break;
                    }
                }
            }
        }
        let has_more = page.len() > q.limit || mode.loop_page;
        page.truncate(q.limit);
        if q.ending_before.is_some() {
            page.reverse();
        }
        let customers = q
            .expand_customer
            .then(|| self.store.table(Resource::Customers));
        let size: usize = page.iter().map(|&i| table.objs[i].json.len() + 1).sum();
        let mut out = Vec::with_capacity(size + 96);
        out.extend_from_slice(b"{\"object\":\"list\",\"data\":[");
        for (n, &i) in page.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            write_obj(&mut out, &table.objs[i], live, customers);
        }
        out.extend_from_slice(b"],\"has_more\":");
        out.extend_from_slice(if has_more { b"true" } else { b"false" });
        out.extend_from_slice(b",\"url\":\"/v1/");
        out.extend_from_slice(r.name().as_bytes());
        out.extend_from_slice(b"\"}");
        Resp::ok(out)
    }
}

struct FaultEntry {
    prefix: String,
    fault: Fault,
    left: usize,
}

/// Router + faults + request log + latency: everything a connection handler needs.
pub(crate) struct Shared {
    pub router: Router,
    faults: Mutex<VecDeque<FaultEntry>>,
    log: Mutex<Vec<RecordedRequest>>,
    latency_ns: AtomicU64,
    next_id: AtomicU64,
    salt: u64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    pub(crate) fn new(router: Router, salt: u64) -> Shared {
        Shared {
            router,
            faults: Mutex::new(VecDeque::new()),
            log: Mutex::new(Vec::new()),
            latency_ns: AtomicU64::new(0),
            next_id: AtomicU64::new(1),
            salt,
        }
    }

    pub(crate) fn push_fault(&self, prefix: &str, fault: Fault, times: usize) {
        if times > 0 {
            lock(&self.faults).push_back(FaultEntry {
                prefix: prefix.to_string(),
                fault,
                left: times,
            });
        }
    }

    pub(crate) fn set_latency(&self, d: Duration) {
        self.latency_ns.store(
            u64::try_from(d.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    pub(crate) fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.log).clone()
    }

    pub(crate) fn clear_requests(&self) {
        lock(&self.log).clear();
    }

    /// A unique `req_…` id (SplitMix64 is a bijection, so distinct counters give distinct ids).
    pub(crate) fn request_id(&self) -> String {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        format!(
            "req_{}",
            crate::rng::base62(crate::rng::splitmix(n ^ self.salt), 14)
        )
    }

    fn take_fault(&self, path: &str) -> Option<Fault> {
        let mut faults = lock(&self.faults);
        let i = faults.iter().position(|f| path.starts_with(&f.prefix))?;
        let entry = &mut faults[i];
        entry.left -= 1;
        let fault = entry.fault.clone();
        if entry.left == 0 {
            faults.remove(i);
        }
        Some(fault)
    }

    /// Answer one request; returns the response and how long to wait before sending it.
    pub(crate) fn respond(&self, req: &Req) -> (Resp, Duration) {
        let mut delay = Duration::from_nanos(self.latency_ns.load(Ordering::Relaxed));
        let key = req.authorization.as_deref().map(bearer);
        let mut resp = match self.take_fault(&req.path) {
            None => self.router.route(req, ListMode::default()),
            Some(Fault::Latency(d)) => {
                delay += d;
                self.router.route(req, ListMode::default())
            }
            Some(Fault::HasMoreLoop) => self.router.route(req, ListMode { loop_page: true }),
            Some(Fault::EmptyPageHasMore) => {
                let url = serde_json::to_string(&req.path).unwrap_or_else(|_| "\"\"".into());
                Resp::ok(
                    format!("{{\"object\":\"list\",\"data\":[],\"has_more\":true,\"url\":{url}}}")
                        .into_bytes(),
                )
            }
            Some(Fault::BrokenJson) => {
                let full = self.router.route(req, ListMode::default());
                let mut body = if full.status == 200 && full.body.len() > 2 {
                    full.body
                } else {
                    b"{\"object\":\"list\",\"data\":[{\"id\":\"cus_".to_vec()
                };
                let cut = (body.len() / 2).max(1);
                body.truncate(cut);
                Resp::ok(body)
            }
            Some(Fault::OversizedBody(n)) => Resp::ok(oversized(n)),
            Some(Fault::Status {
                status,
                should_retry,
                retry_after,
                code,
            }) => {
                let test = key.is_some_and(|k| k.contains("_test_"));
                let mut r = status_error(status, code.as_deref(), test);
                r.should_retry = should_retry;
                r.retry_after = retry_after;
                r
            }
        };
        if resp.status != 200 {
            if let Some(k) = key.filter(|k| k.len() >= 8) {
                scrub(&mut resp.body, k);
            }
        }
        // Path and query are logged as received, except that a key pasted into them is masked.
        let clean = |s: &str| match key.filter(|k| k.len() >= 8 && s.contains(*k)) {
            Some(k) => s.replace(k, &mask(k, "****")),
            None => s.to_string(),
        };
        lock(&self.log).push(RecordedRequest {
            method: req.method.clone(),
            path: clean(&req.path),
            query: clean(&req.query),
            host: req.host.clone(),
            stripe_version: req.stripe_version.clone(),
            key_hint: key.map(|k| mask(k, "…")),
            status: resp.status,
        });
        (resp, delay)
    }
}

/// Replace every occurrence of `key` in `body` with its mask.
fn scrub(body: &mut Vec<u8>, key: &str) {
    let k = key.as_bytes();
    if body.windows(k.len()).any(|w| w == k) {
        let text = String::from_utf8_lossy(body).replace(key, &mask(key, "****"));
        *body = text.into_bytes();
    }
}

/// A valid-looking 200 list body of exactly `n` bytes (spaces when `n` is too small for JSON).
fn oversized(n: usize) -> Vec<u8> {
    let head = b"{\"object\":\"list\",\"data\":[],\"has_more\":false,\"url\":\"/v1/oversized\",\"padding\":\"";
    let tail = b"\"}";
    if n < head.len() + tail.len() {
        return vec![b' '; n];
    }
    let mut out = Vec::with_capacity(n);
    out.extend_from_slice(head);
    out.resize(n - tail.len(), b'x');
    out.extend_from_slice(tail);
    out
}

fn status_error(status: u16, code: Option<&str>, test: bool) -> Resp {
    let (typ, message) = match (status, code) {
        (429, Some("lock_timeout")) => ("invalid_request_error", "This object cannot be accessed right now because another API request or Stripe process is currently accessing it. If you see this error intermittently, retry the request. If you see this error frequently and are making multiple concurrent requests to a single object, make your requests serially or at a lower rate.".to_string()),
        (429, _) => (
            "invalid_request_error",
            format!(
                "{}equest rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.",
                if test { "Testmode r" } else { "R" }
            ),
        ),
        (409, _) => ("idempotency_error", "There is currently another in-progress request using this Idempotent Key (that probably means you submitted twice, and the other request is still going through). Please retry your request at a later time.".to_string()),
        (401, _) => ("invalid_request_error", "Invalid API Key provided: ****".to_string()),
        (403, _) => ("invalid_request_error", format!("The provided key does not have the required permissions for this endpoint on account '{ACCOUNT}'.")),
        (404, _) => ("invalid_request_error", "No such object.".to_string()),
        (s, _) if s >= 500 => ("api_error", "An unknown error occurred".to_string()),
        _ => ("invalid_request_error", format!("Simulated error (HTTP {status}).")),
    };
    error(status, typ, code, &message, None)
}
