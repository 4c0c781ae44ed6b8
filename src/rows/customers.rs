//! customers: the fields of a Stripe customer that its row needs, and the projection.

use super::{boolean, int, row, text, Project};
use crate::json_object::json_object;
use crate::prelude::*;
use crate::schema::{Cell, Table};

json_object! {
    pub(super) struct Customer {
        id: String,
        created: i64,
        email: Option<String>,
        name: Option<String>,
        description: Option<String>,
        currency: Option<String>,
        balance: Option<i64>,
        delinquent: Option<bool>,
        address: Option<Address>,
        tax_exempt: Option<String>,
        livemode: bool,
    }
}

json_object! {
    struct Address {
        country: Option<String>,
    }
}

impl Project for Customer {
    fn livemode(&self) -> bool {
        self.livemode
    }
    fn into_row(self) -> Vec<Cell> {
        row![Table::Customers;
            "id" => Cell::Text(self.id),
            "created" => Cell::Integer(self.created),
            "email" => text(self.email),
            "name" => text(self.name),
            "description" => text(self.description),
            "currency" => text(self.currency),
            "balance" => int(self.balance),
            "delinquent" => boolean(self.delinquent),
            "address_country" => text(self.address.and_then(|a| a.country)),
            "tax_exempt" => text(self.tax_exempt),
            "livemode" => Cell::Boolean(self.livemode),
        ]
    }
}
