//! Payouts to two bank accounts and a debit card, standard or instant.

use super::catalogue::scale;
use super::gen::Gen;
use super::{Fields, Row, DAY, NOW};
use crate::jsonw::{j, Raw};

/// `count` payouts (on stream 6).
pub(super) fn generate(g: &mut Gen, count: usize) -> Vec<Row> {
    g.table(6, count);
    let banks = [g.uid("ba", 24), g.uid("ba", 24)];
    let card = g.uid("card", 24);
    let po_statuses: &[(&str, u64)] = &[
        ("paid", 85),
        ("pending", 4),
        ("in_transit", 4),
        ("canceled", 3),
        ("failed", 4),
    ];
    let mut po_rows = Vec::with_capacity(count);
    let mut prev = None;
    for i in 0..count {
        let id = g.uid("po", 24);
        let status = g.status(i, po_statuses);
        let created = if matches!(status, "pending" | "in_transit") {
            NOW - g.rng.range(60, 2 * DAY)
        } else {
            let c = g
                .irregular(NOW - 730 * DAY, NOW - 3 * DAY)
                .unwrap_or_else(|| g.rng.range(NOW - 730 * DAY, NOW - 3 * DAY));
            g.maybe_tie(c, prev)
        };
        prev = Some(created);
        let to_card = g.rng.chance(10);
        let method = if to_card && g.rng.chance(60) {
            "instant"
        } else {
            "standard"
        };
        let automatic = method == "standard" && g.rng.chance(90);
        let arrival_date = if method == "instant" {
            created + 30 * 60
        } else {
            (created.div_euclid(DAY) + 2) * DAY
        };
        let destination = if to_card {
            card.clone()
        } else {
            banks[g.rng.below(2) as usize].clone()
        };
        let currency = if g.rng.chance(90) { "usd" } else { "eur" };
        let (failure_code, failure_message) = if status == "failed" {
            let (c, m) = *g.rng.pick(&[
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
            "id": id, "object": "payout", "amount": scale(g.rng.range(100, 50_000) * 100, currency),
            "application_fee": null, "application_fee_amount": null, "arrival_date": arrival_date,
            "automatic": automatic, "balance_transaction": g.uid("txn", 24), "created": created,
            "currency": currency, "description": "STRIPE PAYOUT", "destination": destination,
            "failure_balance_transaction": if status == "failed" { j!(g.uid("txn", 24)) } else { Raw::null() },
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
    po_rows
}
