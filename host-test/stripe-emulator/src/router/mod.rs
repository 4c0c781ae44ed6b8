//! The request-handling core, free of sockets: auth, permissions, routing, list parameters,
//! filters, pagination and Stripe-shaped errors. [`crate::shared::Shared`] adds rate limits,
//! faults, latency and the request log around it.

use std::collections::HashMap;

use serde_json::{json, Map};

use crate::data::{Obj, Store, Table};
use crate::{KeyGrant, Resource};

mod query;

use query::{created_bounds, expand_value, parse_list_query, split_key, unknown, Filter};

/// The made-up account every key belongs to.
pub(crate) const ACCOUNT: &str = "acct_1KlairrEmulator00";

/// One parsed request, as the router sees it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Req {
    pub method: String,
    pub path: String,
    pub query: String,
    pub host: Option<String>,
    pub content_length: Option<String>,
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
    /// `Stripe-Rate-Limited-Reason` of a 429 from the rate limiter.
    pub rate_limited: Option<&'static str>,
}

impl Resp {
    pub(crate) fn ok(body: Vec<u8>) -> Resp {
        Resp {
            status: 200,
            body,
            should_retry: None,
            retry_after: None,
            rate_limited: None,
        }
    }
}

/// A Stripe error response.
pub(crate) fn error(
    status: u16,
    typ: &str,
    code: Option<&str>,
    message: &str,
    param: Option<&str>,
) -> Resp {
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
        rate_limited: None,
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
pub(crate) fn bearer(h: &str) -> &str {
    let h = h.trim();
    match h.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        _ => h,
    }
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
pub(crate) struct ListMode {
    /// HasMoreLoop: ignore the cursor and always say has_more.
    pub loop_page: bool,
}

enum Route {
    List(Resource),
    Retrieve(Resource, String),
    Write(Resource, String),
}

/// An update of one object of a resource the connector never reads: (its index in
/// [`crate::WRITE_ELSEWHERE`], the id).
fn write_elsewhere_of(method: &str, path: &str) -> Option<(usize, String)> {
    let parts: Vec<&str> = path.strip_prefix("/v1/")?.split('/').collect();
    let (name, id) = match (method, parts.as_slice()) {
        ("POST", ["checkout", "sessions", id]) => ("checkout_sessions", *id),
        ("POST", [name, id]) if *name != "checkout_sessions" => (*name, *id),
        _ => return None,
    };
    let i = crate::WRITE_ELSEWHERE
        .iter()
        .position(|(n, _)| *n == name)?;
    (!id.is_empty()).then(|| (i, id.to_string()))
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

/// The endpoint a request names, as Stripe counts endpoints for its rate limits: the method and
/// the path template, e.g. `GET /v1/customers` or `GET /v1/customers/{id}`.
pub(crate) fn endpoint(method: &str, path: &str) -> Option<String> {
    if let Some((i, _)) = write_elsewhere_of(method, path) {
        return Some(match crate::WRITE_ELSEWHERE[i].0 {
            "checkout_sessions" => "POST /v1/checkout/sessions/{id}".to_owned(),
            name => format!("POST /v1/{name}/{{id}}"),
        });
    }
    Some(match route_of(method, path)? {
        Route::List(r) => format!("GET /v1/{}", r.name()),
        Route::Retrieve(r, _) => format!("GET /v1/{}/{{id}}", r.name()),
        // The write routes with a POST are the ones ending in an action (`capture`, `cancel`).
        Route::Write(r, _) if method == "POST" => {
            let action = path.rsplit('/').next().unwrap_or_default();
            format!("POST /v1/{}/{{id}}/{action}", r.name())
        }
        Route::Write(r, _) => format!("{method} /v1/{}/{{id}}", r.name()),
    })
}

/// An update of one object of [`crate::WRITE_ELSEWHERE`]'s `i`: 403 without the key's permission, else
/// 404 (the emulator holds no such object). Never a change.
fn write_elsewhere(grant: &KeyGrant, key: &str, i: usize, id: &str) -> Resp {
    let (name, singular) = crate::WRITE_ELSEWHERE[i];
    if grant.write_elsewhere.contains(name) {
        return error(
            404,
            "invalid_request_error",
            Some("resource_missing"),
            &format!("No such {singular}: '{}'", pct_decode(id)),
            Some("id"),
        );
    }
    error(
        403,
        "invalid_request_error",
        None,
        &format!(
            "The provided key '{}' does not have the required permissions for this endpoint on account '{ACCOUNT}'. Having the 'rak_{singular}_write' permission would allow this request to continue.",
            mask(key, "***"),
        ),
        None,
    )
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
    pub(crate) fn route(&self, req: &Req, mode: ListMode) -> Resp {
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
        if let Some((i, id)) = write_elsewhere_of(&req.method, &req.path) {
            return write_elsewhere(grant, key, i, &id);
        }
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
        // Stripe's charges list: "If you provide a non-existent customer ID, this call throws an error".
        if r == Resource::Charges {
            let customers = self.store.table(Resource::Customers);
            for f in &q.filters {
                if let Filter::Customer(c) = f {
                    if !customers.index.contains_key(c.as_str()) {
                        return missing(Resource::Customers, c, "customer", 400);
                    }
                }
            }
        }
        if mode.loop_page {
            q.starting_after = None;
            q.ending_before = None;
        }
        let ok = |o: &Obj| q.filters.iter().all(|f| f.matches(o));
        let want = q.limit + 1;
        let mut page: Vec<usize> = Vec::with_capacity(want);
        // Objects are sorted by `created`, so a `created` range is one run of them: scan only
        // that run (the filters still decide), and a window deep in a big table costs a page.
        let (newest, oldest) = created_bounds(&q.filters);
        let first = table.objs.partition_point(|o| o.created > newest);
        let end = table
            .objs
            .partition_point(|o| o.created >= oldest)
            .max(first);
        if let Some(eb) = q.ending_before.as_deref() {
            let p = match pos(eb, "ending_before") {
                Ok(p) => p,
                Err(e) => return e,
            };
            for i in (first..p.min(end)).rev() {
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
            for (i, o) in table
                .objs
                .iter()
                .enumerate()
                .take(end)
                .skip(start.max(first))
            {
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
