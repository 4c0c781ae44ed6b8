//! Customers. Generated first (the others refer to them) and serialised last: subscriptions and
//! invoices update their currency, delinquency and invoice numbering.

use super::catalogue::{places, COMPANIES, CURRENCIES, DOMAINS, FIRST, LAST};
use super::gen::Gen;
use super::{Fields, Row, DAY, HOUR, NOW};
use crate::jsonw::{j, Raw};

/// A customer while the data set is being built.
pub(super) struct Cust {
    pub id: String,
    pub created: i64,
    pub currency: Option<&'static str>,
    pub email: Option<String>,
    pub name: Option<String>,
    pub description: Option<&'static str>,
    pub address: Option<Raw>,
    pub balance: i64,
    pub delinquent: bool,
    pub tax_exempt: &'static str,
    pub invoice_prefix: String,
    pub next_seq: i64,
    pub locale: &'static str,
}

/// `count` customers, on stream 2.
pub(super) fn generate(g: &mut Gen, count: usize) -> Vec<Cust> {
    g.table(2, count);
    let mut custs: Vec<Cust> = Vec::with_capacity(count);
    let mut prev = None;
    for i in 0..count {
        let id = g.uid("cus", 14);
        let created = g
            .irregular(NOW - 730 * DAY, NOW - HOUR)
            .unwrap_or_else(|| NOW - g.rng.range(HOUR, 730 * DAY));
        let created = g.maybe_tie(created, prev);
        prev = Some(created);
        let cur = g.rng.weighted(CURRENCIES);
        let company = g.rng.chance(35);
        let first = *g.rng.pick(FIRST);
        let last = *g.rng.pick(LAST);
        let name = if company {
            g.rng.pick(COMPANIES).to_string()
        } else {
            format!("{first} {last}")
        };
        let email = format!(
            "{}.{}{}@{}",
            first.to_lowercase(),
            last.to_lowercase(),
            i,
            g.rng.pick(DOMAINS)
        );
        let address = if g.rng.chance(80) {
            let (country, city, state, postal, line1) = *g.rng.pick(places(cur));
            Some(j!({
                "city": city, "country": country, "line1": line1,
                "line2": if g.rng.chance(20) { j!(format!("Suite {}", g.rng.range(2, 900))) } else { Raw::null() },
                "postal_code": postal, "state": if state.is_empty() { Raw::null() } else { j!(state) },
            }))
        } else {
            None
        };
        let balance = match g.rng.below(10) {
            0 => -g.rng.range(500, 5000),
            1 => g.rng.range(100, 3000),
            _ => 0,
        };
        custs.push(Cust {
            id,
            created,
            currency: if g.rng.chance(12) { None } else { Some(cur) },
            email: if g.rng.chance(5) { None } else { Some(email) },
            name: if g.rng.chance(3) { None } else { Some(name) },
            description: match g.rng.below(8) {
                0 => Some("Enterprise account"),
                1 => Some("Migrated from legacy billing"),
                2 => Some("Self-serve signup"),
                _ => None,
            },
            address,
            balance,
            delinquent: false,
            tax_exempt: g
                .rng
                .weighted(&[("none", 90), ("exempt", 5), ("reverse", 5)]),
            invoice_prefix: format!("{:08X}", g.rng.next_u64() as u32),
            next_seq: 1,
            locale: match cur {
                "eur" => "de",
                "jpy" => "ja",
                "cad" => "en-CA",
                _ => "en",
            },
        });
    }
    custs
}

/// The customers' rows, with what subscriptions and invoices taught them.
pub(super) fn rows(custs: Vec<Cust>) -> Vec<Row> {
    custs
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
        .collect()
}

/// The fixture customers of the config (see `FixtureCustomer`): newer than every generated one.
pub(super) fn fixtures(list: &[crate::FixtureCustomer]) -> Vec<Row> {
    list.iter()
        .enumerate()
        .map(|(i, c)| {
            let id = format!("cus_fixture_{i:04}");
            let created = NOW - i as i64 * 60;
            let value = j!({
                "id": id.clone(), "object": "customer", "address": null, "balance": c.balance,
                "created": created, "currency": c.currency.clone(), "customer_account": null,
                "default_source": null, "delinquent": false, "description": null,
                "discount": null, "email": null, "invoice_prefix": format!("FIX{i:05}"),
                "invoice_settings": {"custom_fields": null, "default_payment_method": null, "footer": null, "rendering_options": null},
                "livemode": false, "metadata": {}, "name": c.name.clone(), "next_invoice_sequence": 1,
                "phone": null, "preferred_locales": ["en"], "shipping": null,
                "tax_exempt": "none", "test_clock": null,
            });
            (id, created, value, Fields::default())
        })
        .collect()
}
