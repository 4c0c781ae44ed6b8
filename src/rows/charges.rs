//! charges: the fields of a Stripe charge that its row needs, and the projection.

use super::{id, row, text, Expandable, Project};
use crate::json_object::json_object;
use crate::prelude::*;
use crate::schema::{Cell, Table};

json_object! {
    pub(super) struct Charge {
        id: String,
        customer: Option<Expandable>,
        payment_intent: Option<Expandable>,
        created: i64,
        amount: i64,
        amount_captured: i64,
        amount_refunded: i64,
        currency: String,
        status: String,
        paid: bool,
        captured: bool,
        refunded: bool,
        disputed: bool,
        failure_code: Option<String>,
        failure_message: Option<String>,
        outcome: Option<Outcome>,
        balance_transaction: Option<Expandable>,
        livemode: bool,
    }
}

json_object! {
    struct Outcome {
        kind as "type": Option<String>,
    }
}

impl Project for Charge {
    fn livemode(&self) -> bool {
        self.livemode
    }
    fn into_row(self) -> Vec<Cell> {
        row![Table::Charges;
            "id" => Cell::Text(self.id),
            "customer" => id(self.customer),
            "payment_intent" => id(self.payment_intent),
            "created" => Cell::Integer(self.created),
            "amount" => Cell::Integer(self.amount),
            "amount_captured" => Cell::Integer(self.amount_captured),
            "amount_refunded" => Cell::Integer(self.amount_refunded),
            "currency" => Cell::Text(self.currency),
            "status" => Cell::Text(self.status),
            "paid" => Cell::Boolean(self.paid),
            "captured" => Cell::Boolean(self.captured),
            "refunded" => Cell::Boolean(self.refunded),
            "disputed" => Cell::Boolean(self.disputed),
            "failure_code" => text(self.failure_code),
            "failure_message" => text(self.failure_message),
            "outcome_type" => text(self.outcome.and_then(|o| o.kind)),
            "balance_transaction" => id(self.balance_transaction),
            "livemode" => Cell::Boolean(self.livemode),
        ]
    }
}
