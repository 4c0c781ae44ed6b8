//! subscriptions: the fields of a Stripe subscription that its row needs, the projection, and the
//! list-price monthly recurring revenue (`mrr`) worked out exactly from the items.

use super::{id, int, row, Expandable, Project};
use crate::json::{Decode, Error, Reader};
use crate::json_object::json_object;
use crate::prelude::*;
use crate::schema::{Cell, Table};

json_object! {
    pub(super) struct Subscription {
        id: String,
        customer: Option<Expandable>,
        status: String,
        collection_method: String,
        currency: String,
        created: i64,
        start_date: i64,
        trial_end: Option<i64>,
        cancel_at_period_end: bool,
        cancel_at: Option<i64>,
        canceled_at: Option<i64>,
        ended_at: Option<i64>,
        items: Option<ItemList>,
        livemode: bool,
    }
}

json_object! {
    struct ItemList {
        data: Vec<Item>,
        /// Stripe embeds only the first items of a long subscription; then the sum below would be partial.
        has_more: bool = false,
    }
}

json_object! {
    struct Item {
        current_period_start: Option<i64>,
        current_period_end: Option<i64>,
        quantity: Option<i64>,
        price: Option<Price>,
    }
}

json_object! {
    struct Price {
        /// The currency of `unit_amount`: a multi-currency price shows its default one here, whatever
        /// currency the subscription bills in (its others only when expanded, which the connector never
        /// asks for).
        currency: Option<String>,
        unit_amount: Option<i64>,
        recurring: Option<Recurring>,
        /// A package price: `unit_amount` is per package of `divide_by` units, the quantity rounded to
        /// whole packages (a price of 500 per 1,000 seats, 2,500 seats billed as 3 packages).
        transform_quantity: Option<TransformQuantity>,
    }
}

json_object! {
    struct TransformQuantity {
        divide_by: i64,
        /// `up` or `down`; anything else (a later API version's) makes `mrr` null.
        round: String,
    }
}

json_object! {
    struct Recurring {
        interval: Interval,
        interval_count: Option<i64>,
        usage_type: Option<Usage> = None,
    }
}

/// A recurring price's interval. Unknown values (a later API version) make `mrr` null, not the page fail.
#[derive(Default)]
enum Interval {
    Day,
    Week,
    Month,
    Year,
    #[default]
    Other,
}

impl Decode for Interval {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, Error> {
        if reader.peek_value()? != b'"' {
            return Err(reader.wrong_type("a string (day, week, month or year)"));
        }
        Ok(match &*reader.string()? {
            "day" => Interval::Day,
            "week" => Interval::Week,
            "month" => Interval::Month,
            "year" => Interval::Year,
            _ => Interval::Other,
        })
    }
}

/// A recurring price's `usage_type`: `licensed` (a fixed price per unit) or anything else — `metered`
/// (billed by usage, no fixed monthly amount) or a later API version's — which makes `mrr` null. Read
/// without keeping the text: every item of every subscription has one.
#[derive(Default)]
struct Usage {
    licensed: bool,
}

impl Decode for Usage {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, Error> {
        if reader.peek_value()? != b'"' {
            return Err(reader.wrong_type("a string (licensed or metered)"));
        }
        Ok(Usage {
            licensed: &*reader.string()? == "licensed",
        })
    }
}

/// serde's reading of a usage type, the reference the reader is tested against.
#[cfg(test)]
impl<'de> serde::Deserialize<'de> for Usage {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Usage {
            licensed: String::deserialize(deserializer)? == "licensed",
        })
    }
}

/// serde's reading of an interval, the reference the reader is tested against.
#[cfg(test)]
impl<'de> serde::Deserialize<'de> for Interval {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match String::deserialize(deserializer)?.as_str() {
            "day" => Interval::Day,
            "week" => Interval::Week,
            "month" => Interval::Month,
            "year" => Interval::Year,
            _ => Interval::Other,
        })
    }
}

impl Project for Subscription {
    fn livemode(&self) -> bool {
        self.livemode
    }
    fn into_row(self) -> Vec<Cell> {
        let items: &[Item] = self.items.as_ref().map_or(&[], |l| &l.data);
        // Since 2025-03-31.basil the period lives on each item; Stripe's own list filters read the
        // subscription's period as the latest item start and the earliest item end.
        let partial = self.items.as_ref().is_some_and(|l| l.has_more);
        // The latest start and the earliest end over the items listed are the subscription's only
        // when every item is listed: with `items.has_more` an item not embedded may start later or end
        // earlier (Stripe's own filters read all of them), so the period is unknown, like `mrr`.
        let (period_start, period_end) = if partial {
            (None, None)
        } else {
            (
                items.iter().filter_map(|i| i.current_period_start).max(),
                items.iter().filter_map(|i| i.current_period_end).min(),
            )
        };
        let mrr = if partial {
            None
        } else {
            mrr(items, &self.currency)
        };
        row![Table::Subscriptions;
            "id" => Cell::Text(self.id),
            "customer" => id(self.customer),
            "status" => Cell::Text(self.status),
            "collection_method" => Cell::Text(self.collection_method),
            "currency" => Cell::Text(self.currency),
            "created" => Cell::Integer(self.created),
            "start_date" => Cell::Integer(self.start_date),
            "current_period_start" => int(period_start),
            "current_period_end" => int(period_end),
            "trial_end" => int(self.trial_end),
            "cancel_at_period_end" => Cell::Boolean(self.cancel_at_period_end),
            "cancel_at" => int(self.cancel_at),
            "canceled_at" => int(self.canceled_at),
            "ended_at" => int(self.ended_at),
            "item_count" => Cell::Integer(i64::try_from(items.len()).unwrap_or(i64::MAX)),
            "mrr" => int(mrr),
            "livemode" => Cell::Boolean(self.livemode),
        ]
    }
}

/// List-price monthly recurring revenue, in minor units:
/// round(Σ unit_amount × quantity × f), f = 1/n (month), 1/(12n) (year), 52/(12n) (week),
/// 365/(12n) (day), n = interval_count, quantity absent → 1; for a package price (`transform_quantity`)
/// the quantity is the number of packages Stripe bills: quantity ÷ divide_by rounded up or down.
///
/// Computed exactly: every term is `unit_amount × quantity × k / (12 n)` with k = 12, 1, 52 or 365, summed
/// as a reduced fraction of i128s, then rounded half away from zero once. `None` when any item lacks a
/// price, a unit_amount, a recurring interval (or has an unknown one, or interval_count < 1), bills
/// metered usage (its unit_amount is per unit used, not per month), has a package size below 1 or a
/// rounding other than up or down, is priced in another currency than the subscription's `currency`
/// (a multi-currency price billed in one of its other currencies: review summed usd cents as yen), or
/// when the arithmetic would overflow (no real subscription comes near).
fn mrr(items: &[Item], currency: &str) -> Option<i64> {
    let (mut num, mut den) = (0i128, 1i128);
    for item in items {
        let price = item.price.as_ref()?;
        if price.currency.as_ref().is_some_and(|c| c != currency) {
            return None;
        }
        let unit = i128::from(price.unit_amount?);
        let recurring = price.recurring.as_ref()?;
        if recurring.usage_type.as_ref().is_some_and(|u| !u.licensed) {
            return None;
        }
        let n = i128::from(recurring.interval_count?);
        if n < 1 {
            return None;
        }
        let k = match recurring.interval {
            Interval::Month => 12,
            Interval::Year => 1,
            Interval::Week => 52,
            Interval::Day => 365,
            Interval::Other => return None,
        };
        let quantity = i128::from(billed_quantity(
            item.quantity.unwrap_or(1),
            price.transform_quantity.as_ref(),
        )?);
        let term_num = unit.checked_mul(quantity)?.checked_mul(k)?;
        let term_den = n.checked_mul(12)?;
        // num/den + term_num/term_den, reduced.
        num = num
            .checked_mul(term_den)?
            .checked_add(term_num.checked_mul(den)?)?;
        den = den.checked_mul(term_den)?;
        let g = gcd(num, den);
        if g > 1 {
            num /= g;
            den /= g;
        }
    }
    // Round half away from zero; den > 0.
    let twice_num = num.checked_mul(2)?;
    let twice_den = den.checked_mul(2)?;
    let rounded = if num >= 0 {
        twice_num.checked_add(den)? / twice_den
    } else {
        -(den.checked_sub(twice_num)? / twice_den)
    };
    i64::try_from(rounded).ok()
}

/// The quantity a price bills: the item's own, or for a package price the number of packages.
fn billed_quantity(quantity: i64, transform: Option<&TransformQuantity>) -> Option<i64> {
    let Some(t) = transform else {
        return Some(quantity);
    };
    if t.divide_by < 1 {
        return None;
    }
    match &*t.round {
        "down" => Some(quantity.div_euclid(t.divide_by)),
        "up" => Some(-quantity.checked_neg()?.div_euclid(t.divide_by)),
        _ => None,
    }
}

fn gcd(a: i128, b: i128) -> i128 {
    let (mut a, mut b) = (a.unsigned_abs(), b.unsigned_abs());
    while b != 0 {
        (a, b) = (b, a % b);
    }
    // ≤ |den|, which is an i128.
    i128::try_from(a).unwrap_or(1)
}
