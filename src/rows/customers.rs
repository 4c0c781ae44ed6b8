//! customers: the fields of a Stripe customer that its row needs, and the projection.

use super::{boolean, int, text, Project};
use crate::json_object::json_object;
use crate::schema::Cell;

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
            text(self.email),
            text(self.name),
            text(self.description),
            text(self.currency),
            int(self.balance),
            boolean(self.delinquent),
            text(self.address.and_then(|a| a.country)),
            text(self.tax_exempt),
            Cell::Boolean(self.livemode),
        ]
    }
}
