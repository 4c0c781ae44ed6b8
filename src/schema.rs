//! The connector's catalogue: the five canonical tables, their typed columns and their filters.
//! `describe` returns exactly this, so an LLM can write valid queries from it alone.

/// A column's type. Mirrors `klairr:connector/types.column-type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ColumnType {
    /// A Stripe object id (`cus_…`), as text.
    Id,
    Text,
    Integer,
    Boolean,
    /// Unix seconds.
    Timestamp,
    /// Integer minor units of the row's `currency`.
    Amount,
    /// Lower-case ISO 4217 code.
    Currency,
}

impl ColumnType {
    pub fn as_str(self) -> &'static str {
        match self {
            ColumnType::Id => "id",
            ColumnType::Text => "text",
            ColumnType::Integer => "integer",
            ColumnType::Boolean => "boolean",
            ColumnType::Timestamp => "timestamp",
            ColumnType::Amount => "amount",
            ColumnType::Currency => "currency",
        }
    }
}

/// One typed value of a row. Mirrors `klairr:connector/types.cell`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cell {
    Null,
    Text(String),
    Integer(i64),
    Boolean(bool),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ColumnSpec {
    pub name: &'static str,
    pub kind: ColumnType,
    pub nullable: bool,
    pub doc: &'static str,
}

/// A filter of one table: everything the DSL ([`crate::dsl`]) needs to read it and write it as Stripe list
/// parameters, and what `describe` says about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FilterSpec {
    pub key: &'static str,
    pub kind: FilterKind,
    /// What values are accepted, e.g. `"one of: active, canceled, …"` or a range description.
    pub accepts: &'static str,
    pub doc: &'static str,
    /// Applied by the connector to the projected rows instead of being sent to Stripe, whose list has no
    /// such parameter (charges `status` only; the query carries it as `charge_status`).
    pub by_connector: bool,
    /// Sent to Stripe when the query has no such filter (subscriptions `status=all`: Stripe on its own
    /// would leave canceled subscriptions out).
    pub default: Option<&'static str>,
}

/// How a filter's value is read and sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FilterKind {
    /// A timestamp ([`RANGE_ACCEPTS`]): integer unix seconds for an exact match, sent as `key=N`, or an
    /// object of `gt`/`gte`/`lt`/`lte` bounds, sent as `key[gte]=N` and so on.
    Range,
    /// A Stripe object id: `prefix` then letters and digits only.
    Id { prefix: &'static str },
    /// One of these values, sent as given.
    OneOf(&'static [&'static str]),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    Customers,
    Subscriptions,
    Invoices,
    Charges,
    Payouts,
}

impl Table {
    pub const ALL: [Table; 5] = [
        Table::Customers,
        Table::Subscriptions,
        Table::Invoices,
        Table::Charges,
        Table::Payouts,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Table::Customers => "customers",
            Table::Subscriptions => "subscriptions",
            Table::Invoices => "invoices",
            Table::Charges => "charges",
            Table::Payouts => "payouts",
        }
    }

    pub fn from_name(name: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The Stripe list endpoint, e.g. `/v1/customers`.
    pub fn list_path(self) -> &'static str {
        match self {
            Table::Customers => "/v1/customers",
            Table::Subscriptions => "/v1/subscriptions",
            Table::Invoices => "/v1/invoices",
            Table::Charges => "/v1/charges",
            Table::Payouts => "/v1/payouts",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableSpec {
    pub table: Table,
    pub doc: &'static str,
    pub columns: &'static [ColumnSpec],
    pub filters: &'static [FilterSpec],
}

impl TableSpec {
    /// The filter spec for `key`, if this table accepts it.
    pub fn filter(&self, key: &str) -> Option<&'static FilterSpec> {
        self.filters.iter().find(|f| f.key == key)
    }

    /// Position of the column called `name` in every row of this table.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// `created, customer, …`: the filter keys, for messages that list what is allowed.
    pub fn filter_list(&self) -> String {
        let keys: Vec<&str> = self.filters.iter().map(|f| f.key).collect();
        keys.join(", ")
    }
}

// ---------------------------------------------------------------------------------------------------
// Enumerations accepted by the filters: the values of Stripe's list parameters at the pinned version
// (README, "Filters"). Each list is written once; its `accepts` text is made from it when compiled.

/// Declares the values a filter accepts (`pub const VALUES`) and the filter's kind with its `accepts`
/// text listing them (`const KIND = (OneOf(VALUES), "one of: a, b, …")`), from one list of literals.
macro_rules! enumeration {
    ($(#[$doc:meta])* $values:ident, $kind:ident = [$first:literal $(, $rest:literal)* $(,)?]) => {
        $(#[$doc])*
        pub const $values: &[&str] = &[$first $(, $rest)*];
        const $kind: (FilterKind, &str) =
            (FilterKind::OneOf($values), concat!("one of: ", $first $(, ", ", $rest)*));
    };
}

enumeration! {
    /// Values of the subscriptions `status` filter (Stripe's list parameter, which adds `all` and `ended`).
    SUBSCRIPTION_STATUSES, SUBSCRIPTION_STATUS = [
        "active",
        "all",
        "canceled",
        "ended",
        "incomplete",
        "incomplete_expired",
        "past_due",
        "paused",
        "trialing",
        "unpaid",
    ]
}
enumeration! {
    /// Values of the invoices `status` filter.
    INVOICE_STATUSES, INVOICE_STATUS = ["draft", "open", "paid", "uncollectible", "void"]
}
enumeration! {
    /// Values of the `collection_method` filter (subscriptions and invoices).
    COLLECTION_METHODS, COLLECTION_METHOD = ["charge_automatically", "send_invoice"]
}
enumeration! {
    /// Values of the charges `status` filter (applied by the connector, not by Stripe).
    CHARGE_STATUSES, CHARGE_STATUS = ["succeeded", "pending", "failed"]
}
enumeration! {
    /// Values of the payouts `status` filter.
    PAYOUT_STATUSES, PAYOUT_STATUS = ["paid", "pending", "in_transit", "canceled", "failed"]
}

/// The enumeration a filter accepts, or `None` for filters that are ranges or ids.
pub fn filter_values(table: Table, key: &str) -> Option<&'static [&'static str]> {
    match table_spec(table).filter(key)?.kind {
        FilterKind::OneOf(values) => Some(values),
        FilterKind::Range | FilterKind::Id { .. } => None,
    }
}

/// What a timestamp range filter (`created`, `arrival_date`) accepts.
pub const RANGE_ACCEPTS: &str = "integer unix seconds (exact match), or an object with one or more of gt, gte, lt, lte \
(not gt with gte, nor lt with lte), each an integer ≥ 0 of unix seconds or an RFC 3339 date (2026-01-01, UTC midnight) \
or date-time with offset (2026-01-01T10:00:00Z, 2026-01-01T10:00:00+02:00)";

/// The `accepts` text of an id filter: `a <what> id: <prefix> followed by …`, from the prefix given once.
macro_rules! id_filter {
    ($what:literal, $prefix:literal, $example:literal) => {
        (
            FilterKind::Id { prefix: $prefix },
            concat!(
                "a ",
                $what,
                " id: ",
                $prefix,
                " followed by letters and digits only (e.g. ",
                $prefix,
                $example,
                ")"
            ),
        )
    };
}

const CUSTOMER_ID: (FilterKind, &str) = id_filter!("customer", "cus_", "QXg1o8vcGmoR32");
const SUBSCRIPTION_ID: (FilterKind, &str) =
    id_filter!("subscription", "sub_", "1Pgc6rB7WZ01zgkWNy0Cn5nw");

const fn col(
    name: &'static str,
    kind: ColumnType,
    nullable: bool,
    doc: &'static str,
) -> ColumnSpec {
    ColumnSpec {
        name,
        kind,
        nullable,
        doc,
    }
}

/// A filter sent to Stripe as given, with no default.
const fn filter(
    key: &'static str,
    (kind, accepts): (FilterKind, &'static str),
    doc: &'static str,
) -> FilterSpec {
    FilterSpec {
        key,
        kind,
        accepts,
        doc,
        by_connector: false,
        default: None,
    }
}

/// A timestamp filter.
const RANGE: (FilterKind, &str) = (FilterKind::Range, RANGE_ACCEPTS);

impl FilterSpec {
    /// Applied by the connector after fetching, not sent to Stripe.
    const fn by_connector(self) -> FilterSpec {
        FilterSpec {
            by_connector: true,
            ..self
        }
    }

    /// Sent to Stripe as `key=value` when the query has no such filter.
    const fn default(self, value: &'static str) -> FilterSpec {
        FilterSpec {
            default: Some(value),
            ..self
        }
    }
}

use ColumnType::{Amount, Boolean, Currency, Id, Integer, Text, Timestamp};

const LIVEMODE_DOC: &str = "True for live-mode data, false for test-mode (sandbox) data.";

const CUSTOMER_COLUMNS: &[ColumnSpec] = &[
    col("id", Id, false, "Customer id (cus_…)."),
    col("created", Timestamp, false, "When the customer was created, unix seconds (UTC)."),
    col("email", Text, true, "The customer's email address."),
    col("name", Text, true, "The customer's full name or business name."),
    col("description", Text, true, "Free-text description the account attached to the customer."),
    col(
        "currency",
        Currency,
        true,
        "Currency the customer is billed in (lower-case ISO code, e.g. usd); null until first billed.",
    ),
    col(
        "balance",
        Amount,
        true,
        "Customer balance in minor units of currency (cents for usd): negative is credit owed to the customer, positive is added to the next invoice.",
    ),
    col(
        "delinquent",
        Boolean,
        true,
        "True when the customer's latest invoice or charge failed and is still unpaid.",
    ),
    col(
        "address_country",
        Text,
        true,
        "Two-letter ISO country code of the customer's address (address.country).",
    ),
    col("tax_exempt", Text, true, "Tax exemption: none, exempt or reverse."),
    col("livemode", Boolean, false, LIVEMODE_DOC),
];

const SUBSCRIPTION_COLUMNS: &[ColumnSpec] = &[
    col("id", Id, false, "Subscription id (sub_…)."),
    col("customer", Id, true, "Id of the customer (cus_…) who is subscribed."),
    col(
        "status",
        Text,
        false,
        "One of incomplete, incomplete_expired, trialing, active, past_due, canceled, unpaid, paused.",
    ),
    col(
        "collection_method",
        Text,
        false,
        "charge_automatically (card charged) or send_invoice (customer pays an emailed invoice).",
    ),
    col("currency", Currency, false, "Currency of the subscription (lower-case ISO code, e.g. usd)."),
    col("created", Timestamp, false, "When the subscription was created, unix seconds (UTC)."),
    col("start_date", Timestamp, false, "When the subscription started, unix seconds (may precede created for backdated subscriptions)."),
    col(
        "current_period_start",
        Timestamp,
        true,
        "Start of the current billing period: the latest start among the subscription's items; null without items.",
    ),
    col(
        "current_period_end",
        Timestamp,
        true,
        "End of the current billing period: the earliest end among the subscription's items; null without items.",
    ),
    col("trial_end", Timestamp, true, "When the trial ends (or ended), unix seconds; null without a trial."),
    col(
        "cancel_at_period_end",
        Boolean,
        false,
        "True when the subscription is set to cancel at the end of the current period.",
    ),
    col("cancel_at", Timestamp, true, "When the subscription is scheduled to cancel, unix seconds."),
    col("canceled_at", Timestamp, true, "When cancellation was requested, unix seconds."),
    col("ended_at", Timestamp, true, "When the subscription ended, unix seconds; null while it runs."),
    col("item_count", Integer, false, "Number of items (prices) on the subscription as listed with it."),
    col(
        "mrr",
        Amount,
        true,
        "Monthly recurring revenue in minor units of currency: list price × quantity of every item normalised to one month (year ÷ 12, week × 52 ÷ 12, day × 365 ÷ 12), before discounts and tax; null when an item has no fixed unit price or no recurring interval.",
    ),
    col("livemode", Boolean, false, LIVEMODE_DOC),
];

const INVOICE_COLUMNS: &[ColumnSpec] = &[
    col("id", Id, false, "Invoice id (in_…)."),
    col("number", Text, true, "Human-readable invoice number; null until the invoice is finalized."),
    col("customer", Id, true, "Id of the billed customer (cus_…)."),
    col(
        "subscription",
        Id,
        true,
        "Id of the subscription (sub_…) that produced the invoice (parent.subscription_details.subscription); null for one-off invoices.",
    ),
    col("status", Text, true, "One of draft, open, paid, uncollectible, void."),
    col("collection_method", Text, false, "charge_automatically or send_invoice."),
    col(
        "billing_reason",
        Text,
        true,
        "Why the invoice was created, e.g. subscription_create, subscription_cycle, subscription_update, manual.",
    ),
    col("currency", Currency, false, "Currency of the invoice (lower-case ISO code, e.g. usd)."),
    col("total", Amount, false, "Total after discounts and tax, in minor units of currency."),
    col("amount_due", Amount, false, "Amount the customer owes, in minor units of currency."),
    col("amount_paid", Amount, false, "Amount paid so far, in minor units of currency."),
    col("amount_remaining", Amount, false, "Amount still to be paid, in minor units of currency."),
    col("created", Timestamp, false, "When the invoice was created, unix seconds (UTC)."),
    col("due_date", Timestamp, true, "When payment is due (send_invoice invoices), unix seconds."),
    col(
        "paid_at",
        Timestamp,
        true,
        "When the invoice was paid (status_transitions.paid_at), unix seconds; null unless paid.",
    ),
    col("period_start", Timestamp, false, "Start of the usage period the invoice covers, unix seconds."),
    col("period_end", Timestamp, false, "End of the usage period the invoice covers, unix seconds."),
    col("attempt_count", Integer, false, "Number of payment attempts made so far."),
    col("livemode", Boolean, false, LIVEMODE_DOC),
];

const CHARGE_COLUMNS: &[ColumnSpec] = &[
    col("id", Id, false, "Charge id (ch_… or py_…)."),
    col(
        "customer",
        Id,
        true,
        "Id of the customer charged (cus_…), if any.",
    ),
    col(
        "payment_intent",
        Id,
        true,
        "Id of the PaymentIntent (pi_…) that created the charge, if any.",
    ),
    col(
        "created",
        Timestamp,
        false,
        "When the charge was created, unix seconds (UTC).",
    ),
    col(
        "amount",
        Amount,
        false,
        "Amount charged, in minor units of currency (cents for usd).",
    ),
    col(
        "amount_captured",
        Amount,
        false,
        "Amount captured, in minor units of currency.",
    ),
    col(
        "amount_refunded",
        Amount,
        false,
        "Amount refunded, in minor units of currency.",
    ),
    col(
        "currency",
        Currency,
        false,
        "Currency of the charge (lower-case ISO code, e.g. usd).",
    ),
    col("status", Text, false, "One of succeeded, pending, failed."),
    col(
        "paid",
        Boolean,
        false,
        "True when the charge succeeded or was authorized for later capture.",
    ),
    col(
        "captured",
        Boolean,
        false,
        "True when the charge was captured.",
    ),
    col(
        "refunded",
        Boolean,
        false,
        "True when the charge was fully refunded.",
    ),
    col(
        "disputed",
        Boolean,
        false,
        "True when the charge is disputed.",
    ),
    col(
        "failure_code",
        Text,
        true,
        "Stripe's error code when the charge failed, e.g. card_declined.",
    ),
    col(
        "failure_message",
        Text,
        true,
        "Human-readable reason when the charge failed.",
    ),
    col(
        "outcome_type",
        Text,
        true,
        "Outcome (outcome.type): authorized, manual_review, issuer_declined, blocked or invalid.",
    ),
    col(
        "balance_transaction",
        Id,
        true,
        "Id of the balance transaction (txn_…) that moved the funds; null until captured.",
    ),
    col("livemode", Boolean, false, LIVEMODE_DOC),
];

const PAYOUT_COLUMNS: &[ColumnSpec] = &[
    col("id", Id, false, "Payout id (po_…)."),
    col("created", Timestamp, false, "When the payout was created, unix seconds (UTC)."),
    col(
        "arrival_date",
        Timestamp,
        false,
        "When the payout is expected to arrive (or arrived) in the bank, unix seconds.",
    ),
    col("amount", Amount, false, "Amount paid out, in minor units of currency (cents for usd)."),
    col("currency", Currency, false, "Currency of the payout (lower-case ISO code, e.g. usd)."),
    col("status", Text, false, "One of paid, pending, in_transit, canceled, failed."),
    col("type", Text, false, "Destination kind: bank_account or card."),
    col("method", Text, false, "standard or instant."),
    col(
        "automatic",
        Boolean,
        false,
        "True when Stripe created the payout on the automatic schedule, false when made by hand or API.",
    ),
    col("failure_code", Text, true, "Stripe's error code when the payout failed, e.g. account_closed."),
    col(
        "reconciliation_status",
        Text,
        true,
        "Whether the payout's balance transactions are reconciled: completed, in_progress or not_applicable.",
    ),
    col(
        "balance_transaction",
        Id,
        true,
        "Id of the balance transaction (txn_…) that moved the funds.",
    ),
    col("destination", Id, true, "Id of the bank account (ba_…) or card (card_…) paid out to."),
    col("livemode", Boolean, false, LIVEMODE_DOC),
];

const CUSTOMER_FILTERS: &[FilterSpec] =
    &[filter("created", RANGE, "When the customer was created.")];

const SUBSCRIPTION_FILTERS: &[FilterSpec] = &[
    filter("created", RANGE, "When the subscription was created."),
    filter("customer", CUSTOMER_ID, "Only this customer's subscriptions."),
    filter(
        "status",
        SUBSCRIPTION_STATUS,
        "Subscription status. With no status filter every status is returned, canceled ones included \
         (the connector sends status=all; Stripe on its own would leave canceled subscriptions out).",
    )
    .default("all"),
    filter(
        "collection_method",
        COLLECTION_METHOD,
        "How the subscription is paid: card charged automatically, or invoices sent to the customer.",
    ),
];

const INVOICE_FILTERS: &[FilterSpec] = &[
    filter("created", RANGE, "When the invoice was created."),
    filter("customer", CUSTOMER_ID, "Only this customer's invoices."),
    filter(
        "subscription",
        SUBSCRIPTION_ID,
        "Only invoices produced by this subscription.",
    ),
    filter("status", INVOICE_STATUS, "Invoice status."),
    filter(
        "collection_method",
        COLLECTION_METHOD,
        "How the invoice is paid: card charged automatically, or sent to the customer.",
    ),
];

const CHARGE_FILTERS: &[FilterSpec] = &[
    filter("created", RANGE, "When the charge was created."),
    filter("customer", CUSTOMER_ID, "Only this customer's charges."),
    filter(
        "status",
        CHARGE_STATUS,
        "Charge status, applied by the connector after fetching (Stripe's charges list has no status parameter): \
         charges are read newest first and the others skipped, so combine it with created to keep it fast.",
    )
    .by_connector(),
];

const PAYOUT_FILTERS: &[FilterSpec] = &[
    filter("created", RANGE, "When the payout was created."),
    filter(
        "arrival_date",
        RANGE,
        "When the payout is expected to arrive (or arrived) in the bank.",
    ),
    filter("status", PAYOUT_STATUS, "Payout status."),
];

static TABLES: [TableSpec; 5] = [
    TableSpec {
        table: Table::Customers,
        doc: "Customers of the Stripe account, newest first: contact details, billing currency, credit balance, delinquency.",
        columns: CUSTOMER_COLUMNS,
        filters: CUSTOMER_FILTERS,
    },
    TableSpec {
        table: Table::Subscriptions,
        doc: "Subscriptions of every status (canceled included unless filtered), newest first, with billing period and list-price monthly recurring revenue (mrr).",
        columns: SUBSCRIPTION_COLUMNS,
        filters: SUBSCRIPTION_FILTERS,
    },
    TableSpec {
        table: Table::Invoices,
        doc: "Invoices, newest first: amounts due/paid/remaining, status, the subscription that produced them, when paid.",
        columns: INVOICE_COLUMNS,
        filters: INVOICE_FILTERS,
    },
    TableSpec {
        table: Table::Charges,
        doc: "Charges (card and other payments), newest first: amounts charged/captured/refunded, status, failure reason, dispute flag.",
        columns: CHARGE_COLUMNS,
        filters: CHARGE_FILTERS,
    },
    TableSpec {
        table: Table::Payouts,
        doc: "Payouts from the Stripe balance to bank accounts or cards, newest first: amount, status, expected arrival date.",
        columns: PAYOUT_COLUMNS,
        filters: PAYOUT_FILTERS,
    },
];

/// The whole catalogue, in [`Table::ALL`] order.
pub fn tables() -> &'static [TableSpec] {
    &TABLES
}

/// The spec of one table.
pub const fn table_spec(t: Table) -> &'static TableSpec {
    // TABLES is in Table::ALL order, which is the enum's declaration order (checked by a test).
    &TABLES[t as usize]
}

/// Whether `names` are `table`'s column names, in order. A `const fn` so that each projection in
/// [`crate::rows`] is checked against the catalogue when the crate compiles: the column order is declared
/// here once, and a row that names its cells differently does not build.
pub(crate) const fn columns_are(table: Table, names: &[&str]) -> bool {
    let columns = table_spec(table).columns;
    if columns.len() != names.len() {
        return false;
    }
    let mut i = 0;
    while i < names.len() {
        let (a, b) = (columns[i].name.as_bytes(), names[i].as_bytes());
        if a.len() != b.len() {
            return false;
        }
        let mut j = 0;
        while j < a.len() {
            if a[j] != b[j] {
                return false;
            }
            j += 1;
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_follows_table_order_and_readme() {
        assert_eq!(tables().len(), Table::ALL.len());
        for (i, t) in Table::ALL.into_iter().enumerate() {
            assert_eq!(tables()[i].table, t);
            assert_eq!(table_spec(t).table, t);
            let spec = table_spec(t);
            assert_eq!(spec.columns[0].name, "id", "{}", t.name());
            assert_eq!(spec.columns[0].kind, ColumnType::Id);
            assert!(!spec.columns[0].nullable);
            assert_eq!(spec.columns.last().map(|c| c.name), Some("livemode"));
            assert!(!spec.doc.is_empty());
            let mut names: Vec<&str> = spec.columns.iter().map(|c| c.name).collect();
            for c in spec.columns {
                assert!(!c.doc.is_empty(), "{}.{}", t.name(), c.name);
                if c.kind == ColumnType::Amount {
                    assert!(
                        c.doc.contains("minor units of currency"),
                        "{}.{}",
                        t.name(),
                        c.name
                    );
                }
            }
            names.sort_unstable();
            names.dedup();
            assert_eq!(
                names.len(),
                spec.columns.len(),
                "duplicate column in {}",
                t.name()
            );
            for f in spec.filters {
                assert!(!f.accepts.is_empty() && !f.doc.is_empty());
                if let Some(values) = filter_values(t, f.key) {
                    let listed = f.accepts.trim_start_matches("one of: ");
                    assert_eq!(listed, values.join(", "), "{}.{}", t.name(), f.key);
                }
            }
        }
    }

    #[test]
    fn columns_are_compares_names_in_order() {
        for t in Table::ALL {
            let names: Vec<&str> = table_spec(t).columns.iter().map(|c| c.name).collect();
            assert!(columns_are(t, &names), "{}", t.name());
            let mut swapped = names.clone();
            swapped.swap(0, 1);
            assert!(!columns_are(t, &swapped), "{}", t.name());
            assert!(!columns_are(t, &names[..names.len() - 1]), "{}", t.name());
            let mut longer = names.clone();
            longer.push("extra");
            assert!(!columns_are(t, &longer), "{}", t.name());
            let mut renamed = names.clone();
            renamed[1] = "createe";
            assert!(!columns_are(t, &renamed), "{}", t.name());
        }
        assert!(!columns_are(Table::Customers, &[]));
    }

    #[test]
    fn column_names_are_exactly_the_readme_tables() {
        let names = |t: Table| -> String {
            let v: Vec<&str> = table_spec(t).columns.iter().map(|c| c.name).collect();
            v.join(", ")
        };
        assert_eq!(
            names(Table::Customers),
            "id, created, email, name, description, currency, balance, delinquent, address_country, tax_exempt, livemode"
        );
        assert_eq!(
            names(Table::Subscriptions),
            "id, customer, status, collection_method, currency, created, start_date, current_period_start, \
             current_period_end, trial_end, cancel_at_period_end, cancel_at, canceled_at, ended_at, item_count, mrr, livemode"
        );
        assert_eq!(
            names(Table::Invoices),
            "id, number, customer, subscription, status, collection_method, billing_reason, currency, total, \
             amount_due, amount_paid, amount_remaining, created, due_date, paid_at, period_start, period_end, \
             attempt_count, livemode"
        );
        assert_eq!(
            names(Table::Charges),
            "id, customer, payment_intent, created, amount, amount_captured, amount_refunded, currency, status, \
             paid, captured, refunded, disputed, failure_code, failure_message, outcome_type, balance_transaction, livemode"
        );
        assert_eq!(
            names(Table::Payouts),
            "id, created, arrival_date, amount, currency, status, type, method, automatic, failure_code, \
             reconciliation_status, balance_transaction, destination, livemode"
        );
    }

    #[test]
    fn filters_are_exactly_the_readme_tables() {
        let keys = |t: Table| table_spec(t).filter_list();
        assert_eq!(keys(Table::Customers), "created");
        assert_eq!(
            keys(Table::Subscriptions),
            "created, customer, status, collection_method"
        );
        assert_eq!(
            keys(Table::Invoices),
            "created, customer, subscription, status, collection_method"
        );
        assert_eq!(keys(Table::Charges), "created, customer, status");
        assert_eq!(keys(Table::Payouts), "created, arrival_date, status");
        let sub_status = table_spec(Table::Subscriptions)
            .filter("status")
            .map(|f| f.doc);
        assert!(sub_status.is_some_and(|d| d.contains("status=all")));
        let charge_status = table_spec(Table::Charges).filter("status").map(|f| f.doc);
        assert!(charge_status.is_some_and(|d| d.contains("applied by the connector")));
    }

    #[test]
    fn filter_kinds_say_how_each_filter_is_read_and_sent() {
        let mut by_connector = Vec::new();
        let mut defaults = Vec::new();
        for t in Table::ALL {
            for f in table_spec(t).filters {
                let name = format!("{}.{}", t.name(), f.key);
                match f.kind {
                    FilterKind::Range => {
                        assert_eq!(f.accepts, RANGE_ACCEPTS, "{name}");
                        assert_eq!(filter_values(t, f.key), None, "{name}");
                    }
                    FilterKind::Id { prefix } => {
                        assert_eq!(filter_values(t, f.key), None, "{name}");
                        assert!(prefix.ends_with('_'), "{name}");
                        let what = f.key;
                        let start = format!("a {what} id: {prefix} followed by letters and digits");
                        assert!(f.accepts.starts_with(&start), "{name}: {}", f.accepts);
                    }
                    FilterKind::OneOf(values) => {
                        assert_eq!(filter_values(t, f.key), Some(values), "{name}");
                        assert_eq!(f.accepts, format!("one of: {}", values.join(", ")));
                    }
                }
                if f.by_connector {
                    by_connector.push(name.clone());
                }
                if let Some(value) = f.default {
                    assert!(
                        filter_values(t, f.key).is_some_and(|v| v.contains(&value)),
                        "{name}"
                    );
                    defaults.push(format!("{name}={value}"));
                }
            }
        }
        // dsl::Query carries the one connector-side filter as `charge_status`.
        assert_eq!(by_connector, ["charges.status"]);
        assert_eq!(defaults, ["subscriptions.status=all"]);
        assert_eq!(filter_values(Table::Customers, "created"), None);
        assert_eq!(filter_values(Table::Customers, "status"), None);
    }

    #[test]
    fn column_index_finds_every_column() {
        for t in Table::ALL {
            let spec = table_spec(t);
            for (i, column) in spec.columns.iter().enumerate() {
                assert_eq!(spec.column_index(column.name), Some(i));
            }
            assert_eq!(spec.column_index("no_such_column"), None);
        }
    }
}
