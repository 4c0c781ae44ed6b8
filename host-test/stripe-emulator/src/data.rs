//! The seeded data set: five tables of plausible objects in the shapes of API version
//! 2026-04-22.dahlia, each object serialised once to a JSON string (test mode) and spliced into
//! pages at serving time.

use std::collections::{HashMap, HashSet};

use crate::jsonw::{j, Raw};

use crate::rng::Rng;
use crate::{EmulatorConfig, Resource};

/// The data set's "now": 2026-04-15T00:00:00Z. Every timestamp is before it, except trial ends,
/// due dates, `cancel_at` and arrival dates that naturally lie ahead.
pub(crate) const NOW: i64 = 1_776_211_200;
const HOUR: i64 = 3600;
const DAY: i64 = 86_400;

/// One stored object.
pub(crate) struct Obj {
    pub id: String,
    pub created: i64,
    /// The object serialised with every `livemode` false.
    pub json: String,
    /// Byte offsets of the `false` of each `"livemode":false` in `json`.
    pub live_at: Vec<usize>,
    /// Byte range of the quoted top-level `customer` id in `json` (for `expand[]=data.customer`).
    pub customer_span: Option<(usize, usize)>,
    pub f: Fields,
}

/// The fields list filters look at.
#[derive(Default, Debug, Clone)]
pub(crate) struct Fields {
    pub customer: Option<String>,
    pub subscription: Option<String>,
    pub status: String,
    pub collection_method: Option<String>,
    pub email: Option<String>,
    pub due_date: Option<i64>,
    pub arrival_date: Option<i64>,
    pub payment_intent: Option<String>,
    pub destination: Option<String>,
    /// Subscriptions: max over items of `current_period_start`.
    pub current_period_start: Option<i64>,
    /// Subscriptions: min over items of `current_period_end`.
    pub current_period_end: Option<i64>,
    /// Subscriptions: the items' price ids (also matched by `plan`).
    pub prices: Vec<String>,
}

pub(crate) struct Table {
    /// Newest first: `created` descending, ties by `id` descending.
    pub objs: Vec<Obj>,
    pub index: HashMap<String, usize>,
}

pub(crate) struct Store {
    tables: Vec<Table>,
}

impl Store {
    pub(crate) fn table(&self, r: Resource) -> &Table {
        &self.tables[r as usize]
    }

    pub(crate) fn generate(cfg: &EmulatorConfig) -> Store {
        Gen::new(cfg.seed).run(cfg)
    }
}

fn finish(mut v: Vec<(String, i64, Raw, Fields)>, with_customer: bool) -> Table {
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| b.0.cmp(&a.0)));
    let mut objs = Vec::with_capacity(v.len());
    let mut index = HashMap::with_capacity(v.len());
    for (i, (id, created, value, f)) in v.into_iter().enumerate() {
        let json = value.0;
        let live_at = json
            .match_indices("\"livemode\":false")
            .map(|(at, m)| at + m.len() - "false".len())
            .collect();
        let customer_span = if with_customer {
            json.find("\"customer\":\"").map(|at| {
                let start = at + "\"customer\":".len();
                let end = json[start + 1..]
                    .find('"')
                    .map_or(json.len(), |e| start + 1 + e + 1);
                (start, end)
            })
        } else {
            None
        };
        index.insert(id.clone(), i);
        objs.push(Obj {
            id,
            created,
            json,
            live_at,
            customer_span,
            f,
        });
    }
    Table { objs, index }
}

// ---- calendar helpers (proleptic Gregorian, UTC) ----

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn add_months(ts: i64, months: i64) -> i64 {
    let days = ts.div_euclid(DAY);
    let secs = ts.rem_euclid(DAY);
    let (y, m, d) = civil_from_days(days);
    let total = y * 12 + (m - 1) + months;
    let (ny, nm) = (total.div_euclid(12), total.rem_euclid(12) + 1);
    let dim = days_from_civil(
        if nm == 12 { ny + 1 } else { ny },
        if nm == 12 { 1 } else { nm + 1 },
        1,
    ) - days_from_civil(ny, nm, 1);
    days_from_civil(ny, nm, d.min(dim)) * DAY + secs
}

fn step(anchor: i64, interval: &str, count: i64, k: i64) -> i64 {
    match interval {
        "day" => anchor + k * count * DAY,
        "week" => anchor + k * count * 7 * DAY,
        "month" => add_months(anchor, k * count),
        _ => add_months(anchor, 12 * k * count),
    }
}

/// The billing period (k, start, end) of a price's interval that contains `at`.
fn period_at(anchor: i64, interval: &str, count: i64, at: i64) -> (i64, i64, i64) {
    if at < anchor {
        return (0, anchor, step(anchor, interval, count, 1));
    }
    let approx = match interval {
        "day" => DAY,
        "week" => 7 * DAY,
        "month" => 2_629_746,
        _ => 31_556_952,
    } * count.max(1);
    let mut k = ((at - anchor) / approx).max(0);
    while k > 0 && step(anchor, interval, count, k) > at {
        k -= 1;
    }
    while step(anchor, interval, count, k + 1) <= at {
        k += 1;
    }
    (
        k,
        step(anchor, interval, count, k),
        step(anchor, interval, count, k + 1),
    )
}

// ---- static catalogues ----

const FIRST: &[&str] = &[
    "Ada", "Ben", "Chloe", "Diego", "Elena", "Farah", "Gus", "Hana", "Ivan", "Jonas", "Kira",
    "Liam", "Maya", "Noah", "Olga", "Priya", "Quinn", "Rosa", "Sami", "Tariq", "Uma", "Vera",
    "Wen", "Yusuf", "Zoe",
];
const LAST: &[&str] = &[
    "Lovelace",
    "Okafor",
    "Martin",
    "Garcia",
    "Rossi",
    "Haddad",
    "Schmidt",
    "Tanaka",
    "Petrov",
    "Berg",
    "Nakamura",
    "Murphy",
    "Kaur",
    "Silva",
    "Novak",
    "Shah",
    "Dubois",
    "Moreau",
    "Khan",
    "Lindqvist",
];
const COMPANIES: &[&str] = &[
    "Acme Analytics",
    "Northwind Labs",
    "Blue Heron Studio",
    "Copperleaf Ltd",
    "Delta Freight",
    "Evergreen Dental",
    "Foxglove Media",
    "Granite Robotics",
    "Harbor & Pine",
    "Ion Ventures",
];
const DOMAINS: &[&str] = &["example.com", "example.org", "example.net"];

const CURRENCIES: &[(&str, u64)] = &[
    ("usd", 60),
    ("eur", 15),
    ("gbp", 10),
    ("cad", 5),
    ("jpy", 5),
    ("aud", 5),
];

/// (country, city, state, postal_code, line1) per currency.
fn places(
    currency: &str,
) -> &'static [(
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
)] {
    match currency {
        "eur" => &[
            ("DE", "Berlin", "", "10115", "Invalidenstrasse 12"),
            ("FR", "Paris", "", "75002", "12 Rue de la Paix"),
            ("NL", "Amsterdam", "", "1012 JS", "Damrak 70"),
            ("IE", "Dublin", "", "D02 X285", "1 Grand Canal Street"),
        ],
        "gbp" => &[("GB", "London", "", "EC1A 1BB", "10 Aldersgate Street")],
        "cad" => &[("CA", "Toronto", "ON", "M5H 2N2", "100 Queen Street West")],
        "jpy" => &[("JP", "Tokyo", "", "100-0001", "1-1 Chiyoda")],
        "aud" => &[("AU", "Sydney", "NSW", "2000", "1 Martin Place")],
        _ => &[
            ("US", "San Francisco", "CA", "94103", "510 Townsend Street"),
            ("US", "New York", "NY", "10001", "350 Fifth Avenue"),
            ("US", "Austin", "TX", "78701", "600 Congress Avenue"),
            ("US", "Seattle", "WA", "98101", "400 Pine Street"),
        ],
    }
}

/// Scale a USD-cents amount to a plausible amount in `currency`'s minor unit.
fn scale(amount: i64, currency: &str) -> i64 {
    match currency {
        "jpy" => amount * 3 / 2,
        "gbp" => (amount * 4 / 5 / 100).max(1) * 100 - 1,
        "eur" => (amount * 9 / 10 / 100).max(1) * 100,
        _ => amount,
    }
}

/// (nickname, interval, interval_count, unit amount in USD cents or None for tiered).
const PRICES: &[(&str, &str, i64, Option<i64>)] = &[
    ("Starter monthly", "month", 1, Some(900)),
    ("Team monthly", "month", 1, Some(2900)),
    ("Business monthly", "month", 1, Some(9900)),
    ("Team quarterly", "month", 3, Some(7900)),
    ("Team yearly", "year", 1, Some(29_000)),
    ("Business yearly", "year", 1, Some(99_000)),
    ("Seats weekly", "week", 1, Some(500)),
    ("Support daily", "day", 1, Some(100)),
    ("Usage (tiered)", "month", 1, None),
    ("Enterprise half-yearly", "month", 6, Some(240_000)),
];

struct Price {
    id: String,
    product: String,
    created: i64,
    nickname: &'static str,
    currency: &'static str,
    interval: &'static str,
    count: i64,
    unit_amount: Option<i64>,
}

impl Price {
    fn json(&self) -> Raw {
        j!({
            "id": self.id, "object": "price", "active": true,
            "billing_scheme": if self.unit_amount.is_some() { "per_unit" } else { "tiered" },
            "created": self.created, "currency": self.currency, "custom_unit_amount": null,
            "livemode": false, "lookup_key": null, "metadata": {}, "nickname": self.nickname,
            "product": self.product,
            "recurring": {
                "interval": self.interval, "interval_count": self.count, "meter": null,
                "trial_period_days": null,
                "usage_type": if self.unit_amount.is_some() { "licensed" } else { "metered" },
            },
            "tax_behavior": "unspecified",
            "tiers_mode": if self.unit_amount.is_some() { Raw::null() } else { j!("graduated") },
            "transform_quantity": null, "type": "recurring", "unit_amount": self.unit_amount,
            "unit_amount_decimal": self.unit_amount.map(|a| a.to_string()),
        })
    }
}

struct Cust {
    id: String,
    created: i64,
    currency: Option<&'static str>,
    email: Option<String>,
    name: Option<String>,
    description: Option<&'static str>,
    address: Option<Raw>,
    balance: i64,
    delinquent: bool,
    tax_exempt: &'static str,
    invoice_prefix: String,
    next_seq: i64,
    locale: &'static str,
}

struct SubItem {
    id: String,
    price: usize,
    quantity: i64,
}

struct Sub {
    id: String,
    /// Index into the customers, None when there are no customers.
    customer: Option<usize>,
    customer_id: String,
    created: i64,
    currency: &'static str,
    collection_method: &'static str,
    anchor: i64,
    ended_at: Option<i64>,
    status: &'static str,
    items: Vec<SubItem>,
}

struct Gen {
    rng: Rng,
    seed: u64,
    ids: HashSet<String>,
}

fn clamp(x: i64, lo: i64, hi: i64) -> i64 {
    x.max(lo).min(hi.max(lo))
}

impl Gen {
    fn new(seed: u64) -> Gen {
        Gen {
            rng: Rng::new(seed, 0),
            seed,
            ids: HashSet::new(),
        }
    }

    /// A fresh id: `prefix` + `_` + `len` alphanumerics (long ids start with `1`, like Stripe's).
    fn uid(&mut self, prefix: &str, len: usize) -> String {
        loop {
            let body = if len >= 20 {
                format!("1{}", self.rng.alnum(len - 1))
            } else {
                self.rng.alnum(len)
            };
            let id = format!("{prefix}_{body}");
            if self.ids.insert(id.clone()) {
                return id;
            }
        }
    }

    fn stream(&mut self, n: u64) {
        self.rng = Rng::new(self.seed, n);
    }

    /// Pick a status: the first objects cycle through every value, then weighted.
    fn status<'a>(&mut self, i: usize, weights: &'a [(&'a str, u64)]) -> &'a str {
        if i < weights.len() {
            weights[i].0
        } else {
            self.rng.weighted(weights)
        }
    }

    /// Sometimes share the previous object's `created`, so ties (ordered by id) occur.
    fn maybe_tie(&mut self, created: i64, prev: Option<i64>) -> i64 {
        match prev {
            Some(p) if self.rng.chance(4) => p,
            _ => created,
        }
    }

    fn run(mut self, cfg: &EmulatorConfig) -> Store {
        // Price catalogue.
        self.stream(1);
        let mut prices: Vec<Price> = Vec::new();
        for (cur, _) in CURRENCIES {
            for (nick, interval, count, amount) in PRICES {
                prices.push(Price {
                    id: self.uid("price", 24),
                    product: self.uid("prod", 14),
                    created: NOW - 800 * DAY + self.rng.range(0, 30 * DAY),
                    nickname: nick,
                    currency: cur,
                    interval,
                    count: *count,
                    unit_amount: amount.map(|a| scale(a, cur)),
                });
            }
        }

        // Customers (serialised last: subscriptions and invoices update them).
        self.stream(2);
        let mut custs: Vec<Cust> = Vec::with_capacity(cfg.customers);
        let mut prev = None;
        for i in 0..cfg.customers {
            let id = self.uid("cus", 14);
            let created = NOW - self.rng.range(HOUR, 730 * DAY);
            let created = self.maybe_tie(created, prev);
            prev = Some(created);
            let cur = self.rng.weighted(CURRENCIES);
            let company = self.rng.chance(35);
            let first = *self.rng.pick(FIRST);
            let last = *self.rng.pick(LAST);
            let name = if company {
                self.rng.pick(COMPANIES).to_string()
            } else {
                format!("{first} {last}")
            };
            let email = format!(
                "{}.{}{}@{}",
                first.to_lowercase(),
                last.to_lowercase(),
                i,
                self.rng.pick(DOMAINS)
            );
            let address = if self.rng.chance(80) {
                let (country, city, state, postal, line1) = *self.rng.pick(places(cur));
                Some(j!({
                    "city": city, "country": country, "line1": line1,
                    "line2": if self.rng.chance(20) { j!(format!("Suite {}", self.rng.range(2, 900))) } else { Raw::null() },
                    "postal_code": postal, "state": if state.is_empty() { Raw::null() } else { j!(state) },
                }))
            } else {
                None
            };
            let balance = match self.rng.below(10) {
                0 => -self.rng.range(500, 5000),
                1 => self.rng.range(100, 3000),
                _ => 0,
            };
            custs.push(Cust {
                id,
                created,
                currency: if self.rng.chance(12) { None } else { Some(cur) },
                email: if self.rng.chance(5) {
                    None
                } else {
                    Some(email)
                },
                name: if self.rng.chance(3) { None } else { Some(name) },
                description: match self.rng.below(8) {
                    0 => Some("Enterprise account"),
                    1 => Some("Migrated from legacy billing"),
                    2 => Some("Self-serve signup"),
                    _ => None,
                },
                address,
                balance,
                delinquent: false,
                tax_exempt: self
                    .rng
                    .weighted(&[("none", 90), ("exempt", 5), ("reverse", 5)]),
                invoice_prefix: format!("{:08X}", self.rng.next_u64() as u32),
                next_seq: 1,
                locale: match cur {
                    "eur" => "de",
                    "jpy" => "ja",
                    "cad" => "en-CA",
                    _ => "en",
                },
            });
        }

        // Subscriptions.
        self.stream(3);
        let sub_statuses: &[(&str, u64)] = &[
            ("active", 45),
            ("trialing", 8),
            ("past_due", 7),
            ("canceled", 20),
            ("unpaid", 3),
            ("incomplete", 4),
            ("incomplete_expired", 5),
            ("paused", 4),
        ];
        let mut subs: Vec<Sub> = Vec::with_capacity(cfg.subscriptions);
        let mut sub_rows = Vec::with_capacity(cfg.subscriptions);
        let mut prev = None;
        for i in 0..cfg.subscriptions {
            let id = self.uid("sub", 24);
            let status = self.status(i, sub_statuses);
            let ci = self.rng.below(custs.len() as u64) as usize;
            let (c_created, c_currency) = match custs.get(ci) {
                Some(c) => (c.created, c.currency),
                None => (NOW - 730 * DAY, None),
            };
            let currency = c_currency.unwrap_or("usd");
            if let Some(c) = custs.get_mut(ci) {
                c.currency = Some(currency);
            }
            let lo = c_created + 60;
            let created = match status {
                "trialing" => clamp(NOW - self.rng.range(HOUR, 13 * DAY), lo, NOW - 60),
                "incomplete" => clamp(NOW - self.rng.range(60, 22 * HOUR), lo, NOW - 60),
                _ => {
                    let c = self.rng.range(lo, NOW - 2 * DAY);
                    clamp(self.maybe_tie(c, prev), lo, NOW - 2 * DAY)
                }
            };
            prev = Some(created);
            let had_trial = status == "trialing"
                || (status != "incomplete"
                    && status != "incomplete_expired"
                    && self.rng.chance(15));
            let (trial_start, trial_end) = if had_trial {
                let len = if self.rng.chance(70) { 14 } else { 30 };
                (Some(created), Some(created + len * DAY))
            } else {
                (None, None)
            };
            let anchor = trial_end.unwrap_or(created);
            let collection_method = if self.rng.chance(80) {
                "charge_automatically"
            } else {
                "send_invoice"
            };
            // Items: prices of the subscription's currency, distinct.
            let n_items = self.rng.weighted(&[(1usize, 75), (2, 18), (3, 7)]);
            let base = CURRENCIES
                .iter()
                .position(|(c, _)| *c == currency)
                .unwrap_or(0)
                * PRICES.len();
            let mut chosen: Vec<usize> = Vec::new();
            while chosen.len() < n_items {
                let p = base + self.rng.below(PRICES.len() as u64) as usize;
                if !chosen.contains(&p) {
                    chosen.push(p);
                }
            }
            let mut canceled_at = None;
            let mut ended_at = None;
            let mut cancel_at = None;
            let mut cancel_at_period_end = false;
            let mut reason = Raw::null();
            match status {
                "canceled" => {
                    let at = self.rng.range(created + DAY, NOW - HOUR);
                    canceled_at = Some(at);
                    ended_at = Some(at);
                    cancel_at = if self.rng.chance(30) { Some(at) } else { None };
                    reason = j!(*self.rng.pick(&[
                        "cancellation_requested",
                        "payment_failed",
                        "payment_disputed"
                    ]));
                }
                "incomplete_expired" => ended_at = Some(created + 23 * HOUR),
                _ => {}
            }
            let at = ended_at.unwrap_or(NOW);
            let mut items = Vec::with_capacity(n_items);
            let mut item_json = Vec::with_capacity(n_items);
            let mut max_start = i64::MIN;
            let mut min_end = i64::MAX;
            for &p in &chosen {
                let price = &prices[p];
                let (_, ps, pe) = if status == "trialing" {
                    (0, created, anchor)
                } else if at < anchor {
                    (0, trial_start.unwrap_or(created), anchor)
                } else {
                    period_at(anchor, price.interval, price.count, at)
                };
                max_start = max_start.max(ps);
                min_end = min_end.min(pe);
                let quantity = if price.unit_amount.is_none() || self.rng.chance(70) {
                    1
                } else {
                    self.rng.range(2, 20)
                };
                let si = self.uid("si", 14);
                item_json.push(j!({
                    "id": si, "object": "subscription_item", "billing_thresholds": null,
                    "created": created, "current_period_end": pe, "current_period_start": ps,
                    "discounts": [], "metadata": {}, "price": price.json(), "quantity": quantity,
                    "subscription": id, "tax_rates": [],
                }));
                items.push(SubItem {
                    id: si,
                    price: p,
                    quantity,
                });
            }
            if status == "active" {
                if self.rng.chance(12) {
                    cancel_at_period_end = true;
                    cancel_at = Some(min_end);
                    canceled_at = Some(self.rng.range(max_start, NOW - 60));
                    reason = j!("cancellation_requested");
                } else if self.rng.chance(4) {
                    cancel_at = Some(NOW + self.rng.range(5 * DAY, 200 * DAY));
                }
            }
            let mixed = chosen.iter().any(|&p| {
                (prices[p].interval, prices[p].count)
                    != (prices[chosen[0]].interval, prices[chosen[0]].count)
            });
            let customer = custs.get(ci).map_or_else(
                || format!("cus_{}", crate::rng::base62(self.rng.next_u64(), 14)),
                |c| c.id.clone(),
            );
            let value = j!({
                "id": id, "object": "subscription", "application": null, "application_fee_percent": null,
                "automatic_tax": {"disabled_reason": null, "enabled": false, "liability": null},
                "billing_cycle_anchor": anchor,
                "billing_mode": {"type": if mixed { "flexible" } else { "classic" }},
                "cancel_at": cancel_at, "cancel_at_period_end": cancel_at_period_end,
                "canceled_at": canceled_at,
                "cancellation_details": {"comment": null, "feedback": null, "reason": reason},
                "collection_method": collection_method, "created": created, "currency": currency,
                "customer": customer.clone(), "customer_account": null,
                "days_until_due": if collection_method == "send_invoice" { j!(30) } else { Raw::null() },
                "default_payment_method": if collection_method == "charge_automatically" { j!(self.uid("pm", 24)) } else { Raw::null() },
                "default_source": null, "default_tax_rates": [], "description": null, "discounts": [],
                "ended_at": ended_at,
                "invoice_settings": {"account_tax_ids": null, "issuer": {"type": "self"}},
                "items": {"object": "list", "data": item_json, "has_more": false, "total_count": n_items,
                          "url": format!("/v1/subscription_items?subscription={id}")},
                "latest_invoice": null, "livemode": false, "metadata": {},
                "next_pending_invoice_item_invoice": null, "on_behalf_of": null, "pause_collection": null,
                "pending_invoice_item_interval": null, "pending_setup_intent": null, "pending_update": null,
                "schedule": null, "start_date": created, "status": status, "test_clock": null,
                "transfer_data": null, "trial_end": trial_end,
                "trial_settings": {"end_behavior": {"missing_payment_method": if status == "paused" { "pause" } else { "create_invoice" }}},
                "trial_start": trial_start,
            });
            let f = Fields {
                customer: Some(customer.clone()),
                status: status.to_string(),
                collection_method: Some(collection_method.to_string()),
                current_period_start: Some(max_start),
                current_period_end: Some(min_end),
                prices: chosen.iter().map(|&p| prices[p].id.clone()).collect(),
                ..Fields::default()
            };
            sub_rows.push((id.clone(), created, value, f));
            if matches!(status, "past_due" | "unpaid") {
                if let Some(c) = custs.get_mut(ci) {
                    c.delinquent = true;
                }
            }
            subs.push(Sub {
                id,
                customer: (ci < custs.len()).then_some(ci),
                customer_id: customer.clone(),
                created,
                currency,
                collection_method,
                anchor,
                ended_at,
                status,
                items,
            });
        }

        // Invoices.
        self.stream(4);
        let inv_statuses: &[(&str, u64)] = &[
            ("paid", 70),
            ("open", 10),
            ("draft", 6),
            ("void", 8),
            ("uncollectible", 6),
        ];
        let mut inv_rows = Vec::with_capacity(cfg.invoices);
        for i in 0..cfg.invoices {
            let id = self.uid("in", 24);
            let status = self.status(i, inv_statuses);
            let from_sub = !subs.is_empty() && (custs.is_empty() || self.rng.chance(75));
            let mut orphan_customer = None;
            let (
                ci,
                currency,
                collection_method,
                mut created,
                period_start,
                period_end,
                reason,
                total,
                sub_ref,
            ) = if from_sub {
                let s = &subs[self.rng.below(subs.len() as u64) as usize];
                let first = &prices[s.items[0].price];
                let at = s.ended_at.unwrap_or(NOW).max(s.anchor);
                let (kmax, _, _) = period_at(s.anchor, first.interval, first.count, at);
                let k = self.rng.range(0, kmax);
                let created = step(s.anchor, first.interval, first.count, k);
                let (ps, reason) = if k == 0 {
                    (
                        if s.anchor > s.created {
                            s.created
                        } else {
                            created
                        },
                        "subscription_create",
                    )
                } else if self.rng.chance(10) {
                    (
                        step(s.anchor, first.interval, first.count, k - 1),
                        "subscription_update",
                    )
                } else {
                    (
                        step(s.anchor, first.interval, first.count, k - 1),
                        "subscription_cycle",
                    )
                };
                let trial_invoice = k == 0 && s.anchor > s.created;
                let created = if trial_invoice { s.created } else { created };
                let total: i64 = if trial_invoice {
                    0
                } else {
                    s.items
                        .iter()
                        .map(|it| {
                            prices[it.price]
                                .unit_amount
                                .unwrap_or_else(|| scale(self.rng.range(1000, 50_000), s.currency))
                                * it.quantity
                        })
                        .sum()
                };
                let sub_ref = Some((
                    s.id.clone(),
                    s.items[0].id.clone(),
                    s.items[0].price,
                    s.items[0].quantity,
                    s.status,
                ));
                if s.customer.is_none() {
                    orphan_customer = Some(s.customer_id.clone());
                }
                (
                    s.customer,
                    s.currency,
                    s.collection_method,
                    created,
                    ps,
                    created,
                    reason,
                    total,
                    sub_ref,
                )
            } else {
                let ci = if custs.is_empty() {
                    None
                } else {
                    Some(self.rng.below(custs.len() as u64) as usize)
                };
                let (lo, cur) = ci.map_or((NOW - 730 * DAY, None), |c| {
                    (custs[c].created + 60, custs[c].currency)
                });
                let currency = cur.unwrap_or("usd");
                if let Some(c) = ci {
                    custs[c].currency = Some(currency);
                }
                let created = self.rng.range(lo, NOW - 60);
                let cm = if self.rng.chance(40) {
                    "send_invoice"
                } else {
                    "charge_automatically"
                };
                let total = scale(self.rng.range(5, 2500) * 100, currency);
                (
                    ci, currency, cm, created, created, created, "manual", total, None,
                )
            };
            if status == "draft" {
                created = clamp(NOW - self.rng.range(HOUR, 3 * DAY), created, NOW - 60);
            }
            created = created.min(NOW - 60);
            let customer = match (ci, orphan_customer) {
                (Some(c), _) => custs[c].id.clone(),
                (None, Some(id)) => id,
                (None, None) => format!("cus_{}", crate::rng::base62(self.rng.next_u64(), 14)),
            };
            let number = if status == "draft" {
                None
            } else {
                ci.map(|c| {
                    let n = format!("{}-{:04}", custs[c].invoice_prefix, custs[c].next_seq);
                    custs[c].next_seq += 1;
                    n
                })
            };
            let finalized_at = if status == "draft" {
                None
            } else {
                Some((created + HOUR).min(NOW - 30))
            };
            let due_date = (collection_method == "send_invoice").then_some(created + 30 * DAY);
            let paid_at = (status == "paid").then(|| {
                let window = if collection_method == "send_invoice" {
                    25 * DAY
                } else {
                    2 * HOUR
                };
                clamp(created + HOUR + self.rng.range(0, window), created, NOW - 1)
            });
            let later = |r: &mut Rng| {
                clamp(
                    created + r.range(2 * DAY, 40 * DAY),
                    created + HOUR,
                    NOW - 1,
                )
            };
            let voided_at = (status == "void").then(|| later(&mut self.rng));
            let uncollectible_at = (status == "uncollectible").then(|| later(&mut self.rng));
            let attempt_count = match (status, collection_method) {
                ("draft", _) => 0,
                ("paid", "send_invoice") => 1,
                (_, "send_invoice") => 0,
                ("paid", _) => {
                    if self.rng.chance(10) {
                        2
                    } else {
                        1
                    }
                }
                ("open", _) => self.rng.range(1, 3),
                ("uncollectible", _) => 4,
                _ => self.rng.range(0, 1),
            };
            let amount_paid = if status == "paid" { total } else { 0 };
            let (c_email, c_name, c_addr, c_tax) =
                ci.map_or((None, None, Raw::null(), "none"), |c| {
                    let c = &custs[c];
                    (
                        c.email.clone(),
                        c.name.clone(),
                        c.address.clone().unwrap_or(Raw::null()),
                        c.tax_exempt,
                    )
                });
            let (parent, line_parent, line_desc, line_qty, line_price) = match &sub_ref {
                Some((sid, si, p, q, _)) => (
                    j!({"quote_details": null, "subscription_details": {"metadata": {}, "subscription": sid}, "type": "subscription_details"}),
                    j!({"invoice_item_details": null, "subscription_item_details": {"invoice_item": null, "proration": reason == "subscription_update", "proration_details": {"credited_items": null}, "subscription": sid, "subscription_item": si}, "type": "subscription_item_details"}),
                    format!(
                        "{q} × {} (at {} / {})",
                        prices[*p].nickname,
                        prices[*p].unit_amount.unwrap_or(0),
                        prices[*p].interval
                    ),
                    *q,
                    Some(*p),
                ),
                None => (
                    Raw::null(),
                    j!({"invoice_item_details": {"invoice_item": self.uid("ii", 24), "proration": false, "proration_details": {"credited_items": null}, "subscription": null}, "subscription_item_details": null, "type": "invoice_item_details"}),
                    (*self.rng.pick(&[
                        "Consulting services",
                        "Onboarding package",
                        "Hardware",
                        "Annual support retainer",
                    ]))
                    .to_string(),
                    1,
                    None,
                ),
            };
            let line = j!({
                "id": self.uid("il", 24), "object": "line_item", "amount": total, "currency": currency,
                "description": line_desc, "discount_amounts": [], "discountable": true, "discounts": [],
                "invoice": id, "livemode": false, "metadata": {}, "parent": line_parent,
                "period": {"end": period_end, "start": period_start}, "pretax_credit_amounts": [],
                "pricing": {"price_details": line_price.map(|p| j!({"price": prices[p].id, "product": prices[p].product})),
                            "type": "price_details", "unit_amount_decimal": line_price.and_then(|p| prices[p].unit_amount).map(|a| a.to_string())},
                "quantity": line_qty, "subtotal": total, "taxes": [],
            });
            let value = j!({
                "id": id, "object": "invoice", "account_country": "US", "account_name": "Klairr Emulator Demo Co",
                "account_tax_ids": null, "amount_due": total, "amount_overpaid": 0, "amount_paid": amount_paid,
                "amount_remaining": total - amount_paid, "amount_shipping": 0, "application": null,
                "attempt_count": attempt_count, "attempted": attempt_count > 0, "auto_advance": status == "draft" || status == "open",
                "automatic_tax": {"disabled_reason": null, "enabled": false, "liability": null, "provider": null, "status": null},
                "automatically_finalizes_at": if status == "draft" { j!(created + HOUR) } else { Raw::null() },
                "billing_reason": reason, "collection_method": collection_method, "created": created,
                "currency": currency, "custom_fields": null, "customer": customer, "customer_account": null,
                "customer_address": c_addr, "customer_email": c_email, "customer_name": c_name,
                "customer_phone": null, "customer_shipping": null, "customer_tax_exempt": c_tax,
                "customer_tax_ids": [], "default_payment_method": null, "default_source": null,
                "default_tax_rates": [], "description": null, "discounts": [], "due_date": due_date,
                "effective_at": finalized_at, "ending_balance": finalized_at.map(|_| 0), "footer": null,
                "from_invoice": null,
                "hosted_invoice_url": finalized_at.map(|_| format!("https://invoice.stripe.com/i/acct_1KlairrEmulator00/{}", crate::rng::base62(self.rng.next_u64(), 12))),
                "invoice_pdf": null, "issuer": {"type": "self"}, "last_finalization_error": null,
                "latest_revision": null, "livemode": false, "metadata": {},
                "lines": {"object": "list", "data": [line], "has_more": false, "total_count": 1, "url": format!("/v1/invoices/{id}/lines")},
                "next_payment_attempt": if status == "open" && collection_method == "charge_automatically" { j!(NOW + self.rng.range(DAY, 5 * DAY)) } else { Raw::null() },
                "number": number, "on_behalf_of": null, "parent": parent,
                "payment_settings": {"default_mandate": null, "payment_method_options": null, "payment_method_types": null},
                "period_end": period_end, "period_start": period_start,
                "post_payment_credit_notes_amount": 0, "pre_payment_credit_notes_amount": 0,
                "receipt_number": null, "rendering": null, "shipping_cost": null, "shipping_details": null,
                "starting_balance": 0, "statement_descriptor": null, "status": status,
                "status_transitions": {"finalized_at": finalized_at, "marked_uncollectible_at": uncollectible_at, "paid_at": paid_at, "voided_at": voided_at},
                "subtotal": total, "subtotal_excluding_tax": total, "test_clock": null, "total": total,
                "total_discount_amounts": [], "total_excluding_tax": total, "total_pretax_credit_amounts": [],
                "total_taxes": [], "webhooks_delivered_at": finalized_at,
            });
            let f = Fields {
                customer: Some(customer),
                subscription: sub_ref.map(|s| s.0),
                status: status.to_string(),
                collection_method: Some(collection_method.to_string()),
                due_date,
                ..Fields::default()
            };
            inv_rows.push((id, created, value, f));
        }

        // Charges.
        self.stream(5);
        let ch_statuses: &[(&str, u64)] = &[("succeeded", 85), ("failed", 10), ("pending", 5)];
        let mut ch_rows = Vec::with_capacity(cfg.charges);
        let mut prev = None;
        for i in 0..cfg.charges {
            let id = self.uid("ch", 24);
            let status = self.status(i, ch_statuses);
            let ci = (!custs.is_empty() && self.rng.chance(85))
                .then(|| self.rng.below(custs.len() as u64) as usize);
            let lo = ci.map_or(NOW - 730 * DAY, |c| custs[c].created + 60);
            let created = if status == "pending" {
                clamp(NOW - self.rng.range(60, 2 * DAY), lo, NOW - 30)
            } else {
                let c = self.rng.range(lo, NOW - 60);
                clamp(self.maybe_tie(c, prev), lo, NOW - 60)
            };
            prev = Some(created);
            let currency = ci.and_then(|c| custs[c].currency).unwrap_or("usd");
            let amount = scale(self.rng.range(5, 5000) * 100, currency);
            let succeeded = status == "succeeded";
            let uncaptured = succeeded && self.rng.chance(5);
            let captured = status == "pending" || (succeeded && !uncaptured);
            let (refunded, amount_refunded) = if captured && succeeded {
                match self.rng.below(100) {
                    0..=5 => (true, amount),
                    6..=10 => (false, self.rng.range(1, amount - 1)),
                    _ => (false, 0),
                }
            } else {
                (false, 0)
            };
            let disputed = succeeded && captured && self.rng.chance(2);
            let (failure_code, failure_message, outcome) = if status == "failed" {
                let (code, msg, reason) = *self.rng.pick(&[
                    (
                        "card_declined",
                        "Your card was declined.",
                        "generic_decline",
                    ),
                    (
                        "insufficient_funds",
                        "Your card has insufficient funds.",
                        "insufficient_funds",
                    ),
                    ("expired_card", "Your card has expired.", "expired_card"),
                    (
                        "incorrect_cvc",
                        "Your card's security code is incorrect.",
                        "incorrect_cvc",
                    ),
                    (
                        "card_declined",
                        "Your card was declined.",
                        "highest_risk_level",
                    ),
                ]);
                let blocked = reason == "highest_risk_level";
                (
                    Some(code),
                    Some(msg),
                    j!({"advice_code": null, "network_advice_code": null, "network_decline_code": null,
                           "network_status": if blocked { "not_sent_to_network" } else { "declined_by_network" },
                           "reason": reason, "risk_level": if blocked { "highest" } else { "normal" },
                           "risk_score": if blocked { 91 } else { self.rng.range(5, 60) },
                           "seller_message": if blocked { "Stripe blocked this payment as too risky." } else { "The bank did not return any further details with this decline." },
                           "type": if blocked { "blocked" } else { "issuer_declined" }}),
                )
            } else {
                let review = succeeded && self.rng.chance(2);
                (
                    None,
                    None,
                    j!({"advice_code": null, "network_advice_code": null, "network_decline_code": null,
                           "network_status": "approved_by_network", "reason": if review { j!("elevated_risk_level") } else { Raw::null() },
                           "risk_level": if review { "elevated" } else { "normal" }, "risk_score": self.rng.range(0, if review { 75 } else { 40 }),
                           "seller_message": if review { "Stripe evaluated this payment as having elevated risk, and placed it in your manual review queue." } else { "Payment complete." },
                           "type": if review { "manual_review" } else { "authorized" }}),
                )
            };
            let bank = status == "pending";
            let pmd = if bank {
                j!({"type": "us_bank_account", "us_bank_account": {"account_holder_type": "company", "account_type": "checking", "bank_name": "STRIPE TEST BANK", "last4": "6789", "routing_number": "110000000"}})
            } else {
                let (brand, last4) = *self.rng.pick(&[
                    ("visa", "4242"),
                    ("mastercard", "4444"),
                    ("amex", "8431"),
                    ("visa", "1881"),
                ]);
                j!({"type": "card", "card": {"brand": brand, "country": "US", "exp_month": self.rng.range(1, 12), "exp_year": self.rng.range(2026, 2031), "funding": "credit", "last4": last4, "network": brand}})
            };
            let payment_intent = self.rng.chance(92).then(|| self.uid("pi", 24));
            let customer = ci.map(|c| custs[c].id.clone());
            let (b_email, b_name) = ci.map_or((None, None), |c| {
                (custs[c].email.clone(), custs[c].name.clone())
            });
            let value = j!({
                "id": id, "object": "charge", "amount": amount,
                "amount_captured": if captured { amount } else { 0 }, "amount_refunded": amount_refunded,
                "application": null, "application_fee": null, "application_fee_amount": null,
                "balance_transaction": if captured { j!(self.uid("txn", 24)) } else { Raw::null() },
                "billing_details": {"address": {"city": null, "country": null, "line1": null, "line2": null, "postal_code": null, "state": null}, "email": b_email, "name": b_name, "phone": null, "tax_id": null},
                "calculated_statement_descriptor": "KLAIRR DEMO", "captured": captured, "created": created,
                "currency": currency, "customer": customer, "description": null, "disputed": disputed,
                "failure_balance_transaction": null, "failure_code": failure_code, "failure_message": failure_message,
                "fraud_details": {}, "livemode": false, "metadata": {}, "on_behalf_of": null, "outcome": outcome,
                "paid": succeeded, "payment_intent": payment_intent,
                "payment_method": if bank { self.uid("pm", 24) } else { self.uid("card", 24) },
                "payment_method_details": pmd, "receipt_email": null, "receipt_number": null,
                "refunded": refunded, "review": null, "shipping": null, "source_transfer": null,
                "statement_descriptor": null, "statement_descriptor_suffix": null, "status": status,
                "transfer_data": null, "transfer_group": null,
            });
            let f = Fields {
                customer,
                status: status.to_string(),
                payment_intent,
                ..Fields::default()
            };
            ch_rows.push((id, created, value, f));
        }

        // Payouts.
        self.stream(6);
        let banks = [self.uid("ba", 24), self.uid("ba", 24)];
        let card = self.uid("card", 24);
        let po_statuses: &[(&str, u64)] = &[
            ("paid", 85),
            ("pending", 4),
            ("in_transit", 4),
            ("canceled", 3),
            ("failed", 4),
        ];
        let mut po_rows = Vec::with_capacity(cfg.payouts);
        let mut prev = None;
        for i in 0..cfg.payouts {
            let id = self.uid("po", 24);
            let status = self.status(i, po_statuses);
            let created = if matches!(status, "pending" | "in_transit") {
                NOW - self.rng.range(60, 2 * DAY)
            } else {
                let c = self.rng.range(NOW - 730 * DAY, NOW - 3 * DAY);
                self.maybe_tie(c, prev)
            };
            prev = Some(created);
            let to_card = self.rng.chance(10);
            let method = if to_card && self.rng.chance(60) {
                "instant"
            } else {
                "standard"
            };
            let automatic = method == "standard" && self.rng.chance(90);
            let arrival_date = if method == "instant" {
                created + 30 * 60
            } else {
                (created.div_euclid(DAY) + 2) * DAY
            };
            let destination = if to_card {
                card.clone()
            } else {
                banks[self.rng.below(2) as usize].clone()
            };
            let currency = if self.rng.chance(90) { "usd" } else { "eur" };
            let (failure_code, failure_message) = if status == "failed" {
                let (c, m) = *self.rng.pick(&[
                    ("account_closed", "The bank account has been closed."),
                    ("insufficient_funds", "Your Stripe account has insufficient funds to cover the payout."),
                    ("no_account", "The bank account details on file are probably incorrect. No bank account could be located with those details."),
                    ("could_not_process", "The bank could not process this payout."),
                ]);
                (Some(c), Some(m))
            } else {
                (None, None)
            };
            let reconciliation = match (automatic, status) {
                (false, _) | (_, "failed") | (_, "canceled") => "not_applicable",
                (_, "paid") => "completed",
                _ => "in_progress",
            };
            let value = j!({
                "id": id, "object": "payout", "amount": scale(self.rng.range(100, 50_000) * 100, currency),
                "application_fee": null, "application_fee_amount": null, "arrival_date": arrival_date,
                "automatic": automatic, "balance_transaction": self.uid("txn", 24), "created": created,
                "currency": currency, "description": "STRIPE PAYOUT", "destination": destination,
                "failure_balance_transaction": if status == "failed" { j!(self.uid("txn", 24)) } else { Raw::null() },
                "failure_code": failure_code, "failure_message": failure_message, "livemode": false,
                "metadata": {}, "method": method, "original_payout": null, "payout_method": null,
                "reconciliation_status": reconciliation, "reversed_by": null, "source_type": "card",
                "statement_descriptor": null, "status": status,
                "trace_id": {"status": if status == "paid" { "supported" } else { "pending" }, "value": null},
                "type": if to_card { "card" } else { "bank_account" },
            });
            let f = Fields {
                status: status.to_string(),
                arrival_date: Some(arrival_date),
                destination: Some(destination),
                ..Fields::default()
            };
            po_rows.push((id, created, value, f));
        }

        // Now the customers, with what subscriptions and invoices taught them.
        let cus_rows = custs
            .into_iter()
            .map(|c| {
                let value = j!({
                    "id": c.id, "object": "customer", "address": c.address, "balance": c.balance,
                    "created": c.created, "currency": c.currency, "customer_account": null,
                    "default_source": null, "delinquent": c.delinquent, "description": c.description,
                    "discount": null, "email": c.email, "invoice_prefix": c.invoice_prefix,
                    "invoice_settings": {"custom_fields": null, "default_payment_method": null, "footer": null, "rendering_options": null},
                    "livemode": false, "metadata": {}, "name": c.name, "next_invoice_sequence": c.next_seq,
                    "phone": null, "preferred_locales": [c.locale], "shipping": null,
                    "tax_exempt": c.tax_exempt, "test_clock": null,
                });
                let f = Fields {
                    email: c.email,
                    ..Fields::default()
                };
                (c.id, c.created, value, f)
            })
            .collect();

        Store {
            tables: vec![
                finish(cus_rows, false),
                finish(sub_rows, true),
                finish(inv_rows, true),
                finish(ch_rows, true),
                finish(po_rows, false),
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_round_trips() {
        for d in [-1000, 0, 1, 59, 365, 10_957, 20_558, 30_000] {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
        // 2026-01-31 + 1 month = 2026-02-28
        let jan31 = days_from_civil(2026, 1, 31) * DAY + 3600;
        assert_eq!(
            add_months(jan31, 1),
            days_from_civil(2026, 2, 28) * DAY + 3600
        );
        assert_eq!(NOW, days_from_civil(2026, 4, 15) * DAY);
    }

    #[test]
    fn period_contains_the_instant() {
        let anchor = days_from_civil(2025, 1, 31) * DAY;
        for (interval, count) in [
            ("day", 1),
            ("week", 2),
            ("month", 1),
            ("month", 3),
            ("year", 1),
        ] {
            let (_, s, e) = period_at(anchor, interval, count, NOW);
            assert!(s <= NOW && NOW < e, "{interval}");
        }
    }
}
