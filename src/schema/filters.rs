//! The filters of the five tables: how each is read and sent ([`FilterKind`]), what `describe` says it
//! accepts, and the enumerations, each written once.

use super::{FilterKind, FilterSpec};

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
    /// Values of the payouts `status` filter (applied by the connector: Stripe's list filters four of them).
    PAYOUT_STATUSES, PAYOUT_STATUS = ["paid", "pending", "in_transit", "canceled", "failed"]
}

/// What a timestamp range filter (`created`, `due_date`, …) accepts.
pub const RANGE_ACCEPTS: &str = "integer unix seconds (exact match), or an object with one or more of gt, gte, lt, lte \
(not gt with gte, nor lt with lte), each an integer ≥ 0 of unix seconds or an RFC 3339 date (2026-01-01, UTC midnight: for gte and lt; a whole day is \
{\"gte\": \"2026-01-01\", \"lt\": \"2026-01-02\"}) or date-time with offset (2026-01-01T10:00:00Z, 2026-01-01T10:00:00+02:00)";

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

/// What a boolean filter accepts.
pub const BOOLEAN_ACCEPTS: &str = "true or false (a JSON boolean)";
/// A boolean filter (all of them are the connector's: Stripe's lists filter no boolean).
const BOOLEAN: (FilterKind, &str) = (FilterKind::Boolean, BOOLEAN_ACCEPTS);

/// What the `currency` filter accepts.
pub const CURRENCY_ACCEPTS: &str = "a three-letter ISO 4217 currency code, e.g. usd (any case)";
/// The `currency` filter of every table: applied by the connector, as no Stripe list filters currency.
const CURRENCY: FilterSpec = filter(
    "currency",
    (FilterKind::Currency, CURRENCY_ACCEPTS),
    "Only rows in this currency, applied by the connector after fetching (Stripe's lists have no currency \
     parameter): the list is read newest first and the others skipped.",
)
.by_connector();

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

pub(super) const CUSTOMER_FILTERS: &[FilterSpec] = &[
    filter("created", RANGE, "When the customer was created."),
    filter(
        "delinquent",
        BOOLEAN,
        "Stripe's delinquent flag (a customer without one never matches), applied by the connector after fetching \
         (Stripe's customers list has no such parameter): customers are read newest first and the others skipped.",
    )
    .by_connector(),
    CURRENCY,
];

pub(super) const SUBSCRIPTION_FILTERS: &[FilterSpec] = &[
    filter("created", RANGE, "When the subscription was created."),
    filter(
        "current_period_start",
        RANGE,
        "Start of the current billing period as Stripe filters it: the latest start among the subscription's items \
         (the column's value); a subscription without items has none and never matches.",
    ),
    filter(
        "current_period_end",
        RANGE,
        "End of the current billing period as Stripe filters it: the earliest end among the items (the column's \
         value); every status matches, so for the renewals of the next 30 days add status active and \
         cancel_at_period_end false. A subscription without items never matches.",
    ),
    filter("customer", CUSTOMER_ID, "Only this customer's subscriptions."),
    filter(
        "status",
        SUBSCRIPTION_STATUS,
        "Subscription status; ended is canceled or incomplete_expired. With no status filter every status is returned, \
         canceled ones included (the connector sends status=all; Stripe on its own would leave canceled subscriptions out).",
    )
    .default("all"),
    filter(
        "collection_method",
        COLLECTION_METHOD,
        "How the subscription is paid: card charged automatically, or invoices sent to the customer.",
    ),
    filter(
        "cancel_at_period_end",
        BOOLEAN,
        "Set to cancel at the end of the current period (true), applied by the connector after fetching: \
         subscriptions are read newest first and the others skipped.",
    )
    .by_connector(),
    CURRENCY,
];

pub(super) const INVOICE_FILTERS: &[FilterSpec] = &[
    filter("created", RANGE, "When the invoice was created."),
    filter(
        "due_date",
        RANGE,
        "When payment is due; only send_invoice invoices have a due date, the others never match. Overdue invoices: \
         status open and due_date {\"lt\": today's date}.",
    ),
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
    CURRENCY,
];

pub(super) const CHARGE_FILTERS: &[FilterSpec] = &[
    filter("created", RANGE, "When the charge was created."),
    filter("customer", CUSTOMER_ID, "Only this customer's charges."),
    filter(
        "status",
        CHARGE_STATUS,
        "Charge status, applied by the connector after fetching (Stripe's charges list has no status parameter): \
         charges are read newest first and the others skipped, so combine it with created to keep it fast.",
    )
    .by_connector(),
    filter(
        "refunded",
        BOOLEAN,
        "Fully refunded (true), applied by the connector after fetching like status.",
    )
    .by_connector(),
    filter(
        "disputed",
        BOOLEAN,
        "Disputed by the cardholder (true), applied by the connector after fetching like status.",
    )
    .by_connector(),
    CURRENCY,
];

pub(super) const PAYOUT_FILTERS: &[FilterSpec] = &[
    filter("created", RANGE, "When the payout was created."),
    filter(
        "arrival_date",
        RANGE,
        "When the payout is expected to arrive (or arrived) in the bank.",
    ),
    filter(
        "status",
        PAYOUT_STATUS,
        "Payout status, applied by the connector after fetching (Stripe's list takes no in_transit).",
    )
    .by_connector(),
    CURRENCY,
];
