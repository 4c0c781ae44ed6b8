//! charges: the fields of a Stripe charge that its row needs, and the projection.

use super::{id, text, Expandable, Project};
use crate::json_object::json_object;
use crate::schema::Cell;

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
    fn id(&self) -> &str {
        &self.id
    }
    fn livemode(&self) -> bool {
        self.livemode
    }
    fn into_row(self) -> Vec<Cell> {
        vec![
            Cell::Text(self.id),
            id(self.customer),
            id(self.payment_intent),
            Cell::Integer(self.created),
            Cell::Integer(self.amount),
            Cell::Integer(self.amount_captured),
            Cell::Integer(self.amount_refunded),
            Cell::Text(self.currency),
            Cell::Text(self.status),
            Cell::Boolean(self.paid),
            Cell::Boolean(self.captured),
            Cell::Boolean(self.refunded),
            Cell::Boolean(self.disputed),
            text(self.failure_code),
            text(self.failure_message),
            text(self.outcome.and_then(|o| o.kind)),
            id(self.balance_transaction),
            Cell::Boolean(self.livemode),
        ]
    }
}
