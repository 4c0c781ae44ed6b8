//! invoices: the fields of a Stripe invoice that its row needs, and the projection.

use super::{id, int, row, text, Expandable, Project};
use crate::json_object::json_object;
use crate::prelude::*;
use crate::schema::{Cell, Table};

json_object! {
    pub(super) struct Invoice {
        id: String,
        number: Option<String>,
        customer: Option<Expandable>,
        // The top-level `subscription` key still present in some payloads is not part of the schema since
        // basil; the subscription is read from `parent` only.
        parent: Option<InvoiceParent>,
        status: Option<String>,
        collection_method: String,
        billing_reason: Option<String>,
        currency: String,
        total: i64,
        amount_due: i64,
        amount_paid: i64,
        amount_remaining: i64,
        created: i64,
        due_date: Option<i64>,
        status_transitions: Option<StatusTransitions>,
        period_start: i64,
        period_end: i64,
        attempt_count: i64,
        livemode: bool,
    }
}

json_object! {
    struct InvoiceParent {
        subscription_details: Option<SubscriptionDetails>,
    }
}

json_object! {
    struct SubscriptionDetails {
        subscription: Option<Expandable>,
    }
}

json_object! {
    struct StatusTransitions {
        paid_at: Option<i64>,
    }
}

impl Project for Invoice {
    fn livemode(&self) -> bool {
        self.livemode
    }
    fn into_row(self) -> Vec<Cell> {
        let subscription = self
            .parent
            .and_then(|p| p.subscription_details)
            .and_then(|d| d.subscription);
        row![Table::Invoices;
            "id" => Cell::Text(self.id),
            "number" => text(self.number),
            "customer" => id(self.customer),
            "subscription" => id(subscription),
            "status" => text(self.status),
            "collection_method" => Cell::Text(self.collection_method),
            "billing_reason" => text(self.billing_reason),
            "currency" => Cell::Text(self.currency),
            "total" => Cell::Integer(self.total),
            "amount_due" => Cell::Integer(self.amount_due),
            "amount_paid" => Cell::Integer(self.amount_paid),
            "amount_remaining" => Cell::Integer(self.amount_remaining),
            "created" => Cell::Integer(self.created),
            "due_date" => int(self.due_date),
            "paid_at" => int(self.status_transitions.and_then(|s| s.paid_at)),
            "period_start" => Cell::Integer(self.period_start),
            "period_end" => Cell::Integer(self.period_end),
            "attempt_count" => Cell::Integer(self.attempt_count),
            "livemode" => Cell::Boolean(self.livemode),
        ]
    }
}
