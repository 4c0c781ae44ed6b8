//! Setup's proof that a key can read what Klairr needs and cannot write anything (README, "Keys and
//! setup", which lists the same probes for users).
//!
//! [`verify`] fails closed: it returns a [`VerifyReport`] only when every probe proved what it must.
//!
//! 1. **Read probes**, `GET /v1/<table>?limit=1` first for customers alone, then for subscriptions,
//!    invoices, charges and payouts at once. `401` → [`ConnectorError::InvalidKey`] at once. Every
//!    `403` is collected: any missing Read is reported as *one* [`ConnectorError::MissingPermission`]
//!    naming every resource to grant, after the writes are probed (a key with both faults is told of
//!    its writes, and the host names its missing Reads beside them, in one run). Each returned object's
//!    `livemode` must agree with the key's mode ([`ConnectorError::ModeMismatch`] otherwise).
//! 2. **Over-permission probes**, all at once, one write per resource ([`WRITE_PROBES`]) on an id that
//!    cannot exist: its body after the prefix contains `_`, which no Stripe id does, so a write-capable key gets
//!    `404 resource_missing` and nothing is ever changed. `403` with Stripe's permission error = refused,
//!    as a read-only key must (another 403 body is a proxy's page, and fails setup);
//!    `2xx` or `404 resource_missing` = the key can write, collected into one
//!    [`ConnectorError::OverPermissioned`]; `401` → [`ConnectorError::InvalidKey`].
//!
//! Anything else — any other status, a body that is not a Stripe list, retries given up on (a 5xx or 429
//! storm) — means verification could not prove the key safe: [`ConnectorError::Upstream`] (or
//! [`ConnectorError::RateLimited`] after a 429, retried or marked not to be) whose message starts `verification failed:` and names the probe, status and `Request-Id` (a transport failure stays
//! [`ConnectorError::Network`], with the same prefix). Nothing here holds the key (the host attaches it to
//! each request); a 401 names it by the host's hint (`rk_test_…abcd`), and Stripe's 401/403 messages
//! (which mention a masked key) are never quoted.

use crate::error::{ConnectorError, UpstreamError};
use crate::json_object::json_object;
use crate::key::{KeyHint, Mode};
use crate::prelude::*;
use crate::retry::Retrier;
use crate::schema::Table;
use crate::stripe;
use crate::transport::{Clock, Counting, Http, Method, Request, Response};

/// What setup proved about a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    /// The key's mode; every object Stripe returned agreed with it.
    pub mode: Mode,
    /// Tables the key can list (all five, in [`Table::ALL`] order, when verification succeeds).
    pub readable: Vec<Table>,
    /// The write probes Stripe refused with 403, as `"DELETE /v1/customers/{id}"`.
    pub write_probes_refused: Vec<String>,
    /// Requests sent, retries included.
    pub requests: u32,
}

/// One over-permission probe: a write on `{prefix}{id}{suffix}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteProbe {
    pub table: Table,
    pub method: Method,
    /// Path up to the id, e.g. `/v1/customers/`.
    pub prefix: &'static str,
    /// An id that cannot exist: Stripe's prefix, then a body containing `_` (real ids are
    /// `<prefix>_<letters and digits>`).
    pub id: &'static str,
    /// Path after the id, e.g. `/capture`.
    pub suffix: &'static str,
}

impl WriteProbe {
    /// The request path.
    pub fn path(&self) -> String {
        format!("{}{}{}", self.prefix, self.id, self.suffix)
    }

    /// How the probe is shown to users: `DELETE /v1/customers/{id}`.
    pub fn describe(&self) -> String {
        format!(
            "{} {}{{id}}{}",
            self.method.as_str(),
            self.prefix,
            self.suffix
        )
    }
}

/// The over-permission probes, one per table, in [`Table::ALL`] order, as README's "Keys and setup" lists
/// them (step 3); `DELETE /v1/customers/{id}` is the one it names first.
pub const WRITE_PROBES: [WriteProbe; 5] = [
    WriteProbe {
        table: Table::Customers,
        method: Method::Delete,
        prefix: "/v1/customers/",
        id: "cus_klairr_probe_never_exists",
        suffix: "",
    },
    WriteProbe {
        table: Table::Subscriptions,
        method: Method::Delete,
        prefix: "/v1/subscriptions/",
        id: "sub_klairr_probe_never_exists",
        suffix: "",
    },
    WriteProbe {
        table: Table::Invoices,
        method: Method::Delete,
        prefix: "/v1/invoices/",
        id: "in_klairr_probe_never_exists",
        suffix: "",
    },
    WriteProbe {
        table: Table::Charges,
        method: Method::Post,
        prefix: "/v1/charges/",
        id: "ch_klairr_probe_never_exists",
        suffix: "/capture",
    },
    WriteProbe {
        table: Table::Payouts,
        method: Method::Post,
        prefix: "/v1/payouts/",
        id: "po_klairr_probe_never_exists",
        suffix: "/cancel",
    },
];

json_object! {
    /// Just enough of a list page to check `livemode`; every object of the five resources has it.
    struct ProbePage {
        /// `list` for a list page: a 2xx of another object that happens to hold `data` proves no read
        /// (review).
        object: String,
        data: Vec<LiveFlag>,
    }
}

json_object! {
    struct LiveFlag {
        livemode: bool,
    }
}

/// Run setup's probes for the connection's key (see the module docs; the host attaches the key itself).
/// Every request goes through `retrier`.
pub fn verify<H: Http + ?Sized, C: Clock + ?Sized>(
    http: &mut H,
    clock: &mut C,
    key: &KeyHint,
    retrier: &mut Retrier,
) -> Result<VerifyReport, ConnectorError> {
    let mut http = Counting::new(http);
    let mode = key.mode();

    // 1. Reads: customers alone first (an unknown key or the wrong mode is told by one request), then
    //    the other four at once; 403s collected.
    let mut readable = Vec::with_capacity(Table::ALL.len());
    let mut missing = Vec::new();
    let mut judge_read = |table: Table, answer: Result<Response, ConnectorError>| {
        let probe = read_probe(table);
        let response = answer.map_err(|e| verification_failed(&probe, e))?;
        match response.status {
            200..=299 => {
                check_livemode(table, mode, &response, &probe)?;
                readable.push(table);
            }
            401 => return Err(stripe::invalid_key(key, &response)),
            403 => missing.push(table.name().to_owned()),
            _ => {
                return Err(failed(
                    &probe,
                    &response,
                    "unexpected answer to a read probe",
                ))
            }
        }
        Ok(())
    };
    let reads: Vec<Request> = Table::ALL
        .iter()
        .map(|&table| Request {
            method: Method::Get,
            path_and_query: stripe::list_path(table, &[], 1, None),
        })
        .collect();
    let (first, others) = reads.split_at(1);
    for answer in retrier.send_all(&mut http, clock, first) {
        judge_read(Table::Customers, answer)?;
    }
    let answers = retrier.send_all(&mut http, clock, others);
    for (&table, answer) in Table::ALL[1..].iter().zip(answers) {
        judge_read(table, answer)?;
    }
    // 2. Writes on ids that cannot exist, all at once: each must be refused. Probed even when a Read
    //    is missing, so that a key with both faults is told of both in one run, not one per run.
    let writes: Vec<Request> = WRITE_PROBES
        .iter()
        .map(|probe| Request {
            method: probe.method,
            path_and_query: probe.path(),
        })
        .collect();
    //    A write proven on one resource is the answer even when another probe failed: the key must be
    //    replaced whatever that one would have said, and "try again later" would hide it.
    let answers = retrier.send_all(&mut http, clock, &writes);
    let mut refused = Vec::with_capacity(WRITE_PROBES.len());
    let mut can_write = Vec::new();
    let mut first_failure = None;
    for (probe, answer) in WRITE_PROBES.iter().zip(answers) {
        let failure = match answer {
            Err(e) => verification_failed(&probe.describe(), e),
            Ok(response) => match response.status {
                // Stripe's refusal, not a page of a proxy or firewall that never asked Stripe.
                403 if stripe::is_permission_refusal(&response) => {
                    refused.push(probe.describe());
                    continue;
                }
                403 => failed(
                    &probe.describe(),
                    &response,
                    "a 403 without Stripe's permission error (an error object of type invalid_request_error) is not Stripe's refusal (a proxy in between?)",
                ),
                200..=299 => {
                    can_write.push(probe.table.name().to_owned());
                    continue;
                }
                404 if stripe::error_code(&response).as_deref() == Some("resource_missing") => {
                    can_write.push(probe.table.name().to_owned());
                    continue;
                }
                401 => stripe::invalid_key(key, &response),
                _ => failed(
                    &probe.describe(),
                    &response,
                    "a write probe must be refused with HTTP 403 by a read-only key",
                ),
            },
        };
        first_failure.get_or_insert(failure);
    }
    if !can_write.is_empty() {
        return Err(ConnectorError::OverPermissioned(can_write));
    }
    // A missing Read must be granted whatever a failed write probe would have said.
    if !missing.is_empty() {
        return Err(ConnectorError::MissingPermission(missing));
    }
    if let Some(failure) = first_failure {
        return Err(failure);
    }

    Ok(VerifyReport {
        mode,
        readable,
        write_probes_refused: refused,
        requests: http.sent(),
    })
}

/// How a read probe is named to users: `GET /v1/customers?limit=1`.
fn read_probe(table: Table) -> String {
    format!("GET {}?limit=1", table.list_path())
}

/// Retries given up on become "verification failed", naming the probe as users see it.
fn verification_failed(probe: &str, err: ConnectorError) -> ConnectorError {
    let named = |up: UpstreamError| UpstreamError {
        message: format!("verification failed: {probe}: {}", up.message),
        ..up
    };
    match err {
        // Still rate-limited: the caller should try again later, as after a query's 429s.
        ConnectorError::RateLimited(up) => ConnectorError::RateLimited(named(up)),
        ConnectorError::Upstream(up) => ConnectorError::Upstream(named(up)),
        ConnectorError::Network(msg) => {
            ConnectorError::Network(format!("verification failed: {probe}: {msg}"))
        }
        other => other,
    }
}

fn check_livemode(
    table: Table,
    mode: Mode,
    response: &Response,
    probe: &str,
) -> Result<(), ConnectorError> {
    let page: ProbePage = crate::json::from_slice(&response.body)
        .ok()
        .filter(|page: &ProbePage| page.object == "list")
        .ok_or_else(|| {
            failed(
                probe,
                response,
                "the answer is not a Stripe list whose objects carry livemode",
            )
        })?;
    if let Some(obj) = page
        .data
        .iter()
        .find(|o| !mode.matches_livemode(o.livemode))
    {
        let theirs = if obj.livemode { Mode::Live } else { Mode::Test };
        return Err(ConnectorError::ModeMismatch(format!(
            "Stripe returned {theirs}-mode {} to a {mode}-mode key, which Stripe never does: check where \
             the requests go (a proxy or an emulator in between)",
            table.name()
        )));
    }
    Ok(())
}

/// A probe whose answer proves nothing: verification fails closed.
fn failed(probe: &str, response: &Response, why: &str) -> ConnectorError {
    let up = stripe::upstream_error(response);
    // Stripe's 403/401 messages quote a masked key; other messages are safe and useful. A 2xx carries
    // no error to quote: `why` says what was wrong with it.
    let stripe_says = if matches!(response.status, 200..=299 | 401 | 403) {
        String::new()
    } else {
        format!(" Stripe said: {}", up.message)
    };
    let up = UpstreamError {
        // Status, code and Request-Id follow in UpstreamError's Display.
        message: format!(
            "verification failed: {probe} returned HTTP {}: {why}.{stripe_says}",
            response.status
        ),
        ..up
    };
    // A 429 Stripe said not to retry is still a rate limit, as for a query: try again later.
    if response.status == 429 {
        ConnectorError::RateLimited(up)
    } else {
        ConnectorError::Upstream(up)
    }
}

#[cfg(test)]
mod tests;
