//! The seeded data set: five tables of plausible objects in the shapes of API version
//! 2026-04-22.dahlia, each object serialised once to a JSON string (test mode) and spliced into
//! pages at serving time.
//!
//! One generator per resource (`customers.rs`, `subscriptions.rs`, `invoices.rs`, `charges.rs`,
//! `payouts.rs`) over a shared [`gen::Gen`] (ids, random streams, creation times); the price
//! catalogue and the name lists in `catalogue.rs`, billing periods in `calendar.rs`, and where
//! creation times fall ([`Timeline`]) in `timeline.rs`.

use std::collections::HashMap;

use crate::jsonw::Raw;
use crate::EmulatorConfig;
use crate::Resource;

mod calendar;
mod catalogue;
mod charges;
mod customers;
mod gen;
mod invoices;
mod payouts;
mod subscriptions;
mod timeline;

use gen::Gen;
pub use timeline::Timeline;

/// The data set's "now": 2026-04-15T00:00:00Z. Every timestamp is before it, except trial ends,
/// due dates, `cancel_at` and arrival dates that naturally lie ahead.
pub(crate) const NOW: i64 = 1_776_211_200;
const HOUR: i64 = 3600;
const DAY: i64 = 86_400;

/// One stored object.
pub(crate) struct Obj {
    pub id: String,
    pub created: i64,
    /// The object serialised with every `livemode` false.
    pub json: String,
    /// Byte offsets of the `false` of each `"livemode":false` in `json`.
    pub live_at: Vec<usize>,
    /// Byte range of the quoted top-level `customer` id in `json` (for `expand[]=data.customer`).
    pub customer_span: Option<(usize, usize)>,
    pub f: Fields,
}

/// The fields list filters look at.
#[derive(Default, Debug, Clone)]
pub(crate) struct Fields {
    pub customer: Option<String>,
    pub subscription: Option<String>,
    pub status: String,
    pub collection_method: Option<String>,
    pub email: Option<String>,
    pub due_date: Option<i64>,
    pub arrival_date: Option<i64>,
    pub payment_intent: Option<String>,
    pub destination: Option<String>,
    /// Subscriptions: max over items of `current_period_start`.
    pub current_period_start: Option<i64>,
    /// Subscriptions: min over items of `current_period_end`.
    pub current_period_end: Option<i64>,
    /// Subscriptions: the items' price ids (also matched by `plan`).
    pub prices: Vec<String>,
}

pub(crate) struct Table {
    /// Newest first: `created` descending, ties by `id` descending. This one total order is what
    /// every list serves, with or without filters (a filter only skips objects), so a plain
    /// cursor and a `created`-filtered one agree on the order within a second.
    pub objs: Vec<Obj>,
    pub index: HashMap<String, usize>,
}

pub(crate) struct Store {
    tables: Vec<Table>,
}

impl Store {
    pub(crate) fn table(&self, r: Resource) -> &Table {
        &self.tables[r as usize]
    }

    /// The whole data set for `cfg`: the same seed, counts and timeline give byte-identical
    /// objects. Tables are generated in a fixed order, each from its own random stream, because
    /// later ones refer to earlier ones (subscriptions to customers and prices, invoices to
    /// subscriptions); customers are serialised last, after what the others taught them.
    pub(crate) fn generate(cfg: &EmulatorConfig) -> Store {
        let mut g = Gen::new(cfg.seed, cfg.timeline);
        let prices = catalogue::prices(&mut g);
        let mut custs = customers::generate(&mut g, cfg.customers);
        let (subs, sub_rows) =
            subscriptions::generate(&mut g, cfg.subscriptions, &mut custs, &prices);
        let inv_rows = invoices::generate(&mut g, cfg.invoices, &mut custs, &subs, &prices);
        let ch_rows = charges::generate(&mut g, cfg.charges, &custs);
        let po_rows = payouts::generate(&mut g, cfg.payouts);
        let mut cus_rows = customers::rows(custs);
        cus_rows.extend(customers::fixtures(&cfg.fixture_customers));
        Store {
            tables: vec![
                finish(cus_rows, false),
                finish(sub_rows, true),
                finish(inv_rows, true),
                finish(ch_rows, true),
                finish(po_rows, false),
            ],
        }
    }
}

/// One generated object before it is stored: id, `created`, JSON, filter fields.
type Row = (String, i64, Raw, Fields);

/// Sort rows into list order (see [`Table::objs`]) and index them.
fn finish(mut v: Vec<Row>, with_customer: bool) -> Table {
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| b.0.cmp(&a.0)));
    let mut objs = Vec::with_capacity(v.len());
    let mut index = HashMap::with_capacity(v.len());
    for (i, (id, created, value, f)) in v.into_iter().enumerate() {
        let json = value.0;
        let live_at = json
            .match_indices("\"livemode\":false")
            .map(|(at, m)| at + m.len() - "false".len())
            .collect();
        let customer_span = if with_customer {
            json.find("\"customer\":\"").map(|at| {
                let start = at + "\"customer\":".len();
                let end = json[start + 1..]
                    .find('"')
                    .map_or(json.len(), |e| start + 1 + e + 1);
                (start, end)
            })
        } else {
            None
        };
        index.insert(id.clone(), i);
        objs.push(Obj {
            id,
            created,
            json,
            live_at,
            customer_span,
            f,
        });
    }
    Table { objs, index }
}
