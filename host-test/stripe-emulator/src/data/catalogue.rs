//! The fixed catalogues the generators draw from: names, places, currencies and the price list.

use super::gen::Gen;
use super::{DAY, NOW};
use crate::jsonw::{j, Raw};

pub(super) const FIRST: &[&str] = &[
    "Ada", "Ben", "Chloe", "Diego", "Elena", "Farah", "Gus", "Hana", "Ivan", "Jonas", "Kira",
    "Liam", "Maya", "Noah", "Olga", "Priya", "Quinn", "Rosa", "Sami", "Tariq", "Uma", "Vera",
    "Wen", "Yusuf", "Zoe",
];
pub(super) const LAST: &[&str] = &[
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
pub(super) const COMPANIES: &[&str] = &[
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
pub(super) const DOMAINS: &[&str] = &["example.com", "example.org", "example.net"];

pub(super) const CURRENCIES: &[(&str, u64)] = &[
    ("usd", 60),
    ("eur", 15),
    ("gbp", 10),
    ("cad", 5),
    ("jpy", 5),
    ("aud", 5),
];

/// (country, city, state, postal_code, line1) per currency.
pub(super) fn places(
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
pub(super) fn scale(amount: i64, currency: &str) -> i64 {
    match currency {
        "jpy" => amount * 3 / 2,
        "gbp" => (amount * 4 / 5 / 100).max(1) * 100 - 1,
        "eur" => (amount * 9 / 10 / 100).max(1) * 100,
        _ => amount,
    }
}

/// (nickname, interval, interval_count, unit amount in USD cents or None for tiered).
pub(super) const PRICES: &[(&str, &str, i64, Option<i64>)] = &[
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

pub(super) struct Price {
    pub id: String,
    pub product: String,
    pub created: i64,
    pub nickname: &'static str,
    pub currency: &'static str,
    pub interval: &'static str,
    pub count: i64,
    pub unit_amount: Option<i64>,
}

impl Price {
    /// The price as subscription items embed it.
    pub(super) fn json(&self) -> Raw {
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

/// The price catalogue: every price in `PRICES` in every currency, created about two years ago.
pub(super) fn prices(g: &mut Gen) -> Vec<Price> {
    g.stream(1);
    let mut prices: Vec<Price> = Vec::new();
    for (cur, _) in CURRENCIES {
        for (nick, interval, count, amount) in PRICES {
            prices.push(Price {
                id: g.uid("price", 24),
                product: g.uid("prod", 14),
                created: NOW - 800 * DAY + g.rng.range(0, 30 * DAY),
                nickname: nick,
                currency: cur,
                interval,
                count: *count,
                unit_amount: amount.map(|a| scale(a, cur)),
            });
        }
    }
    prices
}
