//! Invoices: three in four bill a subscription's cycle (or its creation, or an update), the
//! rest are one-off invoices of a customer; numbers follow each customer's invoice prefix.

use super::calendar::{period_at, step};
use super::catalogue::{scale, Price};
use super::customers::Cust;
use super::gen::{clamp, Gen};
use super::subscriptions::Sub;
use super::{Fields, Row, DAY, HOUR, NOW};
use crate::jsonw::{j, Raw};
use crate::rng::Rng;

/// `count` invoices of `subs` and `custs` (on stream 4); each one sets its customer's currency
/// and takes its next invoice number.
pub(super) fn generate(
    g: &mut Gen,
    count: usize,
    custs: &mut [Cust],
    subs: &[Sub],
    prices: &[Price],
) -> Vec<Row> {
    g.table(4, count);
    let inv_statuses: &[(&str, u64)] = &[
        ("paid", 70),
        ("open", 10),
        ("draft", 6),
        ("void", 8),
        ("uncollectible", 6),
    ];
    let mut inv_rows = Vec::with_capacity(count);
    // The cycles of each subscription already invoiced: Stripe bills a period once; another invoice in
    // the same period is an update's (a proration).
    let mut invoiced = std::collections::HashSet::new();
    for i in 0..count {
        let id = g.uid("in", 24);
        let mut status = g.status(i, inv_statuses);
        // The first invoices, one of each status so that every status is present, are one-off ones: a
        // subscription's could be a trial's, whose zero total Stripe marks paid at once.
        let from_sub =
            i >= inv_statuses.len() && !subs.is_empty() && (custs.is_empty() || g.rng.chance(75));
        let mut orphan_customer = None;
        // What a subscription invoice's line bills: the period ahead of it (the trial, for a trial's
        // creation invoice); the invoice's own period is the one behind it, as Stripe has them.
        let mut line_period = None;
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
            let si = g.rng.below(subs.len() as u64) as usize;
            let s = &subs[si];
            let first = &prices[s.items[0].price];
            let at = s.ended_at.unwrap_or(NOW).max(s.anchor);
            // On an irregular timeline the invoice is created some time into its cycle (at
            // `late`), not at the cycle's first second.
            let late = g.irregular(s.created, at.min(NOW - 60));
            let k = match late {
                Some(t) => period_at(s.anchor, first.interval, first.count, t).0,
                None => {
                    let (kmax, _, _) = period_at(s.anchor, first.interval, first.count, at);
                    g.rng.range(0, kmax)
                }
            };
            let created = step(s.anchor, first.interval, first.count, k);
            let ps = if k == 0 {
                if s.anchor > s.created {
                    s.created
                } else {
                    created
                }
            } else {
                step(s.anchor, first.interval, first.count, k - 1)
            };
            let billed_before = !invoiced.insert((si, k));
            let reason = if billed_before || (k > 0 && g.rng.chance(10)) {
                "subscription_update"
            } else if k == 0 {
                "subscription_create"
            } else {
                "subscription_cycle"
            };
            let trial_invoice = k == 0 && s.anchor > s.created;
            line_period = Some(if trial_invoice {
                (s.created, s.anchor)
            } else {
                (created, step(s.anchor, first.interval, first.count, k + 1))
            });
            let created = if trial_invoice { s.created } else { created };
            let total: i64 = if trial_invoice {
                0
            } else {
                s.items
                    .iter()
                    .map(|it| {
                        prices[it.price]
                            .unit_amount
                            .unwrap_or_else(|| scale(g.rng.range(1000, 50_000), s.currency))
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
                late.unwrap_or(created),
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
                Some(g.rng.below(custs.len() as u64) as usize)
            };
            let (lo, cur) = ci.map_or((NOW - 730 * DAY, None), |c| {
                (custs[c].created + 60, custs[c].currency)
            });
            let currency = cur.unwrap_or("usd");
            if let Some(c) = ci {
                custs[c].currency = Some(currency);
            }
            let created = g
                .irregular(lo, NOW - 60)
                .unwrap_or_else(|| g.rng.range(lo, NOW - 60));
            let cm = if g.rng.chance(40) {
                "send_invoice"
            } else {
                "charge_automatically"
            };
            let total = scale(g.rng.range(5, 2500) * 100, currency);
            (
                ci, currency, cm, created, created, created, "manual", total, None,
            )
        };
        // A zero total is paid the moment it is finalized, with no attempt to charge.
        if total == 0 && status != "draft" {
            status = "paid";
        }
        if status == "draft" {
            created = clamp(NOW - g.rng.range(HOUR, 3 * DAY), created, NOW - 60);
        }
        created = created.min(NOW - 60);
        let customer = match (ci, orphan_customer) {
            (Some(c), _) => custs[c].id.clone(),
            (None, Some(id)) => id,
            (None, None) => format!("cus_{}", crate::rng::base62(g.rng.next_u64(), 14)),
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
            clamp(created + HOUR + g.rng.range(0, window), created, NOW - 1)
        });
        let later = |r: &mut Rng| {
            clamp(
                created + r.range(2 * DAY, 40 * DAY),
                created + HOUR,
                NOW - 1,
            )
        };
        let voided_at = (status == "void").then(|| later(&mut g.rng));
        let uncollectible_at = (status == "uncollectible").then(|| later(&mut g.rng));
        let attempt_count = match (status, collection_method) {
            ("draft", _) => 0,
            _ if total == 0 => 0,
            ("paid", "send_invoice") => 1,
            (_, "send_invoice") => 0,
            ("paid", _) => {
                if g.rng.chance(10) {
                    2
                } else {
                    1
                }
            }
            ("open", _) => g.rng.range(1, 3),
            ("uncollectible", _) => 4,
            _ => g.rng.range(0, 1),
        };
        let amount_paid = if status == "paid" { total } else { 0 };
        let (c_email, c_name, c_addr, c_tax) = ci.map_or((None, None, Raw::null(), "none"), |c| {
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
                j!({"invoice_item_details": {"invoice_item": g.uid("ii", 24), "proration": false, "proration_details": {"credited_items": null}, "subscription": null}, "subscription_item_details": null, "type": "invoice_item_details"}),
                (*g.rng.pick(&[
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
            "id": g.uid("il", 24), "object": "line_item", "amount": total, "currency": currency,
            "description": line_desc, "discount_amounts": [], "discountable": true, "discounts": [],
            "invoice": id, "livemode": false, "metadata": {}, "parent": line_parent,
            "period": {"end": line_period.map_or(period_end, |p| p.1), "start": line_period.map_or(period_start, |p| p.0)}, "pretax_credit_amounts": [],
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
            "hosted_invoice_url": finalized_at.map(|_| format!("https://invoice.stripe.com/i/acct_1KlairrEmulator00/{}", crate::rng::base62(g.rng.next_u64(), 12))),
            "invoice_pdf": null, "issuer": {"type": "self"}, "last_finalization_error": null,
            "latest_revision": null, "livemode": false, "metadata": {},
            "lines": {"object": "list", "data": [line], "has_more": false, "total_count": 1, "url": format!("/v1/invoices/{id}/lines")},
            "next_payment_attempt": if status == "open" && collection_method == "charge_automatically" { j!(NOW + g.rng.range(DAY, 5 * DAY)) } else { Raw::null() },
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
    inv_rows
}
