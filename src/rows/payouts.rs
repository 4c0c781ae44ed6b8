//! payouts: the fields of a Stripe payout that its row needs, and the projection.

use super::{id, text, Expandable, Project};
use crate::json_object::json_object;
use crate::schema::Cell;

json_object! {
    pub(super) struct Payout {
        id: String,
        created: i64,
        arrival_date: i64,
        amount: i64,
        currency: String,
        status: String,
        kind as "type": String,
        method: String,
        automatic: bool,
        failure_code: Option<String>,
        reconciliation_status: Option<String>,
        balance_transaction: Option<Expandable>,
        destination: Option<Expandable>,
        livemode: bool,
    }
}

impl Project for Payout {
    fn id(&self) -> &str {
        &self.id
    }
    fn livemode(&self) -> bool {
        self.livemode
    }
    fn into_row(self) -> Vec<Cell> {
        vec![
            Cell::Text(self.id),
            Cell::Integer(self.created),
            Cell::Integer(self.arrival_date),
            Cell::Integer(self.amount),
            Cell::Text(self.currency),
            Cell::Text(self.status),
            Cell::Text(self.kind),
            Cell::Text(self.method),
            Cell::Boolean(self.automatic),
            text(self.failure_code),
            text(self.reconciliation_status),
            id(self.balance_transaction),
            id(self.destination),
            Cell::Boolean(self.livemode),
        ]
    }
}
