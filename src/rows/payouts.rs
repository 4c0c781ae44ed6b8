//! payouts: the fields of a Stripe payout that its row needs, and the projection.

use super::{id, row, text, Expandable, Project};
use crate::json_object::json_object;
use crate::prelude::*;
use crate::schema::{Cell, Table};

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
    fn livemode(&self) -> bool {
        self.livemode
    }
    fn into_row(self) -> Vec<Cell> {
        row![Table::Payouts;
            "id" => Cell::Text(self.id),
            "created" => Cell::Integer(self.created),
            "arrival_date" => Cell::Integer(self.arrival_date),
            "amount" => Cell::Integer(self.amount),
            "currency" => Cell::Text(self.currency),
            "status" => Cell::Text(self.status),
            "type" => Cell::Text(self.kind),
            "method" => Cell::Text(self.method),
            "automatic" => Cell::Boolean(self.automatic),
            "failure_code" => text(self.failure_code),
            "reconciliation_status" => text(self.reconciliation_status),
            "balance_transaction" => id(self.balance_transaction),
            "destination" => id(self.destination),
            "livemode" => Cell::Boolean(self.livemode),
        ]
    }
}
