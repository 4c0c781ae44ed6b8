//! Subscriptions: one to three items of the customer's currency, billing periods from the
//! anchor, cancellations and trials as their status implies.

use super::calendar::period_at;
use super::catalogue::{Price, CURRENCIES, PRICES};
use super::customers::Cust;
use super::gen::{clamp, Gen};
use super::{Fields, Row, DAY, HOUR, NOW};
use crate::jsonw::{j, Raw};

pub(super) struct SubItem {
    pub id: String,
    /// Index into the price catalogue.
    pub price: usize,
    pub quantity: i64,
}

/// What invoices need to know about a subscription.
pub(super) struct Sub {
    pub id: String,
    /// Index into the customers, None when there are no customers.
    pub customer: Option<usize>,
    pub customer_id: String,
    pub created: i64,
    pub currency: &'static str,
    pub collection_method: &'static str,
    pub anchor: i64,
    pub ended_at: Option<i64>,
    pub status: &'static str,
    pub items: Vec<SubItem>,
}

/// `count` subscriptions of `custs` (on stream 3), and their rows; each one sets its
/// customer's currency, and a past-due or unpaid one makes its customer delinquent.
pub(super) fn generate(
    g: &mut Gen,
    count: usize,
    custs: &mut [Cust],
    prices: &[Price],
) -> (Vec<Sub>, Vec<Row>) {
    g.table(3, count);
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
    let mut subs: Vec<Sub> = Vec::with_capacity(count);
    let mut sub_rows = Vec::with_capacity(count);
    let mut prev = None;
    for i in 0..count {
        let id = g.uid("sub", 24);
        let status = g.status(i, sub_statuses);
        let ci = g.rng.below(custs.len() as u64) as usize;
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
            "trialing" => clamp(NOW - g.rng.range(HOUR, 13 * DAY), lo, NOW - 60),
            "incomplete" => clamp(NOW - g.rng.range(60, 22 * HOUR), lo, NOW - 60),
            _ => {
                let c = g
                    .irregular(lo, NOW - 2 * DAY)
                    .unwrap_or_else(|| g.rng.range(lo, NOW - 2 * DAY));
                clamp(g.maybe_tie(c, prev), lo, NOW - 2 * DAY)
            }
        };
        prev = Some(created);
        let had_trial = status == "trialing"
            || (status != "incomplete" && status != "incomplete_expired" && g.rng.chance(15));
        let (trial_start, trial_end) = if had_trial {
            let len = if g.rng.chance(70) { 14 } else { 30 };
            (Some(created), Some(created + len * DAY))
        } else {
            (None, None)
        };
        let anchor = trial_end.unwrap_or(created);
        let collection_method = if g.rng.chance(80) {
            "charge_automatically"
        } else {
            "send_invoice"
        };
        // Items: prices of the subscription's currency, distinct.
        let n_items = g.rng.weighted(&[(1usize, 75), (2, 18), (3, 7)]);
        let base = CURRENCIES
            .iter()
            .position(|(c, _)| *c == currency)
            .unwrap_or(0)
            * PRICES.len();
        let mut chosen: Vec<usize> = Vec::new();
        while chosen.len() < n_items {
            let p = base + g.rng.below(PRICES.len() as u64) as usize;
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
                let at = g.rng.range(created + DAY, NOW - HOUR);
                canceled_at = Some(at);
                ended_at = Some(at);
                cancel_at = if g.rng.chance(30) { Some(at) } else { None };
                reason = j!(*g.rng.pick(&[
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
            let quantity = if price.unit_amount.is_none() || g.rng.chance(70) {
                1
            } else {
                g.rng.range(2, 20)
            };
            let si = g.uid("si", 14);
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
            if g.rng.chance(12) {
                cancel_at_period_end = true;
                cancel_at = Some(min_end);
                canceled_at = Some(g.rng.range(max_start, NOW - 60));
                reason = j!("cancellation_requested");
            } else if g.rng.chance(4) {
                cancel_at = Some(NOW + g.rng.range(5 * DAY, 200 * DAY));
            }
        }
        let mixed = chosen.iter().any(|&p| {
            (prices[p].interval, prices[p].count)
                != (prices[chosen[0]].interval, prices[chosen[0]].count)
        });
        let customer = custs.get(ci).map_or_else(
            || format!("cus_{}", crate::rng::base62(g.rng.next_u64(), 14)),
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
            "default_payment_method": if collection_method == "charge_automatically" { j!(g.uid("pm", 24)) } else { Raw::null() },
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
    (subs, sub_rows)
}
