//! Charges: card and bank payments of customers (some without one), with outcomes, refunds and
//! disputes as their status allows.

use super::catalogue::scale;
use super::customers::Cust;
use super::gen::{clamp, Gen};
use super::{Fields, Row, DAY, NOW};
use crate::jsonw::{j, Raw};

/// `count` charges, most of them of one of `custs` (on stream 5).
pub(super) fn generate(g: &mut Gen, count: usize, custs: &[Cust]) -> Vec<Row> {
    g.table(5, count);
    let ch_statuses: &[(&str, u64)] = &[("succeeded", 85), ("failed", 10), ("pending", 5)];
    let mut ch_rows = Vec::with_capacity(count);
    let mut prev = None;
    for i in 0..count {
        let id = g.uid("ch", 24);
        let status = g.status(i, ch_statuses);
        let ci = (!custs.is_empty() && g.rng.chance(85))
            .then(|| g.rng.below(custs.len() as u64) as usize);
        let lo = ci.map_or(NOW - 730 * DAY, |c| custs[c].created + 60);
        let created = if status == "pending" {
            clamp(NOW - g.rng.range(60, 2 * DAY), lo, NOW - 30)
        } else {
            let c = g
                .irregular(lo, NOW - 60)
                .unwrap_or_else(|| g.rng.range(lo, NOW - 60));
            clamp(g.maybe_tie(c, prev), lo, NOW - 60)
        };
        prev = Some(created);
        let currency = ci.and_then(|c| custs[c].currency).unwrap_or("usd");
        let amount = scale(g.rng.range(5, 5000) * 100, currency);
        let succeeded = status == "succeeded";
        let uncaptured = succeeded && g.rng.chance(5);
        let captured = status == "pending" || (succeeded && !uncaptured);
        let (refunded, amount_refunded) = if captured && succeeded {
            match g.rng.below(100) {
                0..=5 => (true, amount),
                6..=10 => (false, g.rng.range(1, amount - 1)),
                _ => (false, 0),
            }
        } else {
            (false, 0)
        };
        let disputed = succeeded && captured && g.rng.chance(2);
        let (failure_code, failure_message, outcome) = if status == "failed" {
            let (code, msg, reason) = *g.rng.pick(&[
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
                       "risk_score": if blocked { 91 } else { g.rng.range(5, 60) },
                       "seller_message": if blocked { "Stripe blocked this payment as too risky." } else { "The bank did not return any further details with this decline." },
                       "type": if blocked { "blocked" } else { "issuer_declined" }}),
            )
        } else {
            let review = succeeded && g.rng.chance(2);
            (
                None,
                None,
                j!({"advice_code": null, "network_advice_code": null, "network_decline_code": null,
                       "network_status": "approved_by_network", "reason": if review { j!("elevated_risk_level") } else { Raw::null() },
                       "risk_level": if review { "elevated" } else { "normal" }, "risk_score": g.rng.range(0, if review { 75 } else { 40 }),
                       "seller_message": if review { "Stripe evaluated this payment as having elevated risk, and placed it in your manual review queue." } else { "Payment complete." },
                       "type": if review { "manual_review" } else { "authorized" }}),
            )
        };
        let bank = status == "pending";
        let pmd = if bank {
            j!({"type": "us_bank_account", "us_bank_account": {"account_holder_type": "company", "account_type": "checking", "bank_name": "STRIPE TEST BANK", "last4": "6789", "routing_number": "110000000"}})
        } else {
            let (brand, last4) = *g.rng.pick(&[
                ("visa", "4242"),
                ("mastercard", "4444"),
                ("amex", "8431"),
                ("visa", "1881"),
            ]);
            j!({"type": "card", "card": {"brand": brand, "country": "US", "exp_month": g.rng.range(1, 12), "exp_year": g.rng.range(2026, 2031), "funding": "credit", "last4": last4, "network": brand}})
        };
        let payment_intent = g.rng.chance(92).then(|| g.uid("pi", 24));
        let customer = ci.map(|c| custs[c].id.clone());
        let (b_email, b_name) = ci.map_or((None, None), |c| {
            (custs[c].email.clone(), custs[c].name.clone())
        });
        let value = j!({
            "id": id, "object": "charge", "amount": amount,
            "amount_captured": if captured { amount } else { 0 }, "amount_refunded": amount_refunded,
            "application": null, "application_fee": null, "application_fee_amount": null,
            "balance_transaction": if captured { j!(g.uid("txn", 24)) } else { Raw::null() },
            "billing_details": {"address": {"city": null, "country": null, "line1": null, "line2": null, "postal_code": null, "state": null}, "email": b_email, "name": b_name, "phone": null, "tax_id": null},
            "calculated_statement_descriptor": "KLAIRR DEMO", "captured": captured, "created": created,
            "currency": currency, "customer": customer, "description": null, "disputed": disputed,
            "failure_balance_transaction": null, "failure_code": failure_code, "failure_message": failure_message,
            "fraud_details": {}, "livemode": false, "metadata": {}, "on_behalf_of": null, "outcome": outcome,
            "paid": succeeded, "payment_intent": payment_intent,
            "payment_method": if bank { g.uid("pm", 24) } else { g.uid("card", 24) },
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
    ch_rows
}
