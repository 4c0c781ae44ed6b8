//! The columns of the five tables, in row order: each projection in [`crate::rows`] names its cells after
//! these, checked when the crate compiles ([`super::columns_are`]).

use super::{ColumnSpec, ColumnType};

/// `column`, marked as free text about a person ([`ColumnSpec::personal`]).
const fn personal(column: ColumnSpec) -> ColumnSpec {
    ColumnSpec {
        personal: true,
        ..column
    }
}

use ColumnType::{Amount, Boolean, Currency, Id, Integer, Text, Timestamp};

const LIVEMODE_DOC: &str = "True for live-mode data, false for test-mode (sandbox) data.";

pub(super) const CUSTOMER_COLUMNS: &[ColumnSpec] = &[
    ColumnSpec::new("id", Id, false, "Customer id (cus_…)."),
    ColumnSpec::new("created", Timestamp, false, "When the customer was created, unix seconds (UTC)."),
    personal(ColumnSpec::new("email", Text, true, "The customer's email address.")),
    personal(ColumnSpec::new("name", Text, true, "The customer's full name or business name.")),
    personal(ColumnSpec::new(
        "description",
        Text,
        true,
        "Free-text description the account attached to the customer.",
    )),
    ColumnSpec::new(
        "currency",
        Currency,
        true,
        "Currency the customer is billed in (lower-case ISO code, e.g. usd); null until first billed.",
    ),
    ColumnSpec::new(
        "balance",
        Amount,
        true,
        "Customer balance in minor units of currency (the customer's; cents for usd): negative is credit owed to the customer, positive is added to the next invoice; unpaid invoices are not in it.",
    ),
    ColumnSpec::new(
        "delinquent",
        Boolean,
        true,
        "Stripe's flag, set when an invoice's automatic payment fails or its due date passes and cleared when an invoice is paid or marked uncollectible: the latest change wins.",
    ),
    ColumnSpec::new(
        "address_country",
        Text,
        true,
        "Two-letter ISO country code of the customer's address (address.country).",
    ),
    ColumnSpec::new("tax_exempt", Text, true, "Tax exemption: none, exempt or reverse."),
    ColumnSpec::new("livemode", Boolean, false, LIVEMODE_DOC),
];

pub(super) const SUBSCRIPTION_COLUMNS: &[ColumnSpec] = &[
    ColumnSpec::new("id", Id, false, "Subscription id (sub_…)."),
    ColumnSpec::new("customer", Id, true, "Id of the customer (cus_…) who is subscribed."),
    ColumnSpec::new(
        "status",
        Text,
        false,
        "One of incomplete, incomplete_expired, trialing, active, past_due, canceled, unpaid, paused.",
    ),
    ColumnSpec::new(
        "collection_method",
        Text,
        false,
        "charge_automatically (card charged) or send_invoice (customer pays an emailed invoice).",
    ),
    ColumnSpec::new("currency", Currency, false, "Currency of the subscription (lower-case ISO code, e.g. usd)."),
    ColumnSpec::new("created", Timestamp, false, "When the subscription was created, unix seconds (UTC)."),
    ColumnSpec::new("start_date", Timestamp, false, "When the subscription started, unix seconds (may precede created for backdated subscriptions)."),
    ColumnSpec::new(
        "current_period_start",
        Timestamp,
        true,
        "Start of the current billing period: the latest start among the subscription's items; null without items, or when Stripe embedded only the first of them (items.has_more).",
    ),
    ColumnSpec::new(
        "current_period_end",
        Timestamp,
        true,
        "End of the current billing period: the earliest end among the subscription's items; null without items, or when Stripe embedded only the first of them (items.has_more).",
    ),
    ColumnSpec::new("trial_end", Timestamp, true, "When the trial ends (or ended), unix seconds; null without a trial."),
    ColumnSpec::new(
        "cancel_at_period_end",
        Boolean,
        false,
        "True when the subscription is set to cancel at the end of the current period.",
    ),
    ColumnSpec::new("cancel_at", Timestamp, true, "When the subscription is scheduled to cancel, unix seconds."),
    ColumnSpec::new("canceled_at", Timestamp, true, "When cancellation was requested, unix seconds."),
    ColumnSpec::new("ended_at", Timestamp, true, "When the subscription ended, unix seconds; null while it runs."),
    ColumnSpec::new("item_count", Integer, false, "Number of items (prices) on the subscription as listed with it."),
    ColumnSpec::new(
        "mrr",
        Amount,
        true,
        "Monthly recurring revenue in minor units of currency, whatever the status (a canceled subscription keeps its items: for current MRR group by status and take active and past_due): list price × quantity of every item (for a package price, the number of packages billed) normalised to one month (year ÷ 12, week × 52 ÷ 12, day × 365 ÷ 12) and rounded to a whole minor unit (half away from zero), before discounts, with tax only where a price includes it; null when an item has no whole unit price (a metered one bills usage; one priced in fractions of the minor unit has only unit_amount_decimal) or no recurring interval, or a price in another currency than the subscription's (a multi-currency price), or the sum is beyond 64 bits, or when Stripe embedded only the first of its items (`items.has_more`: a partial sum would be wrong); 0 for a subscription without items.",
    ),
    ColumnSpec::new("livemode", Boolean, false, LIVEMODE_DOC),
];

pub(super) const INVOICE_COLUMNS: &[ColumnSpec] = &[
    ColumnSpec::new("id", Id, false, "Invoice id (in_…)."),
    ColumnSpec::new("number", Text, true, "Human-readable invoice number; null until the invoice is finalized."),
    ColumnSpec::new("customer", Id, true, "Id of the billed customer (cus_…)."),
    ColumnSpec::new(
        "subscription",
        Id,
        true,
        "Id of the subscription (sub_…) that produced the invoice (parent.subscription_details.subscription); null for one-off invoices.",
    ),
    ColumnSpec::new("status", Text, true, "One of draft, open, paid, uncollectible, void."),
    ColumnSpec::new("collection_method", Text, false, "charge_automatically or send_invoice."),
    ColumnSpec::new(
        "billing_reason",
        Text,
        true,
        "Why the invoice was created, e.g. subscription_create, subscription_cycle, subscription_update, manual.",
    ),
    ColumnSpec::new("currency", Currency, false, "Currency of the invoice (lower-case ISO code, e.g. usd)."),
    ColumnSpec::new("total", Amount, false, "Total after discounts and tax, in minor units of currency."),
    ColumnSpec::new("amount_due", Amount, false, "Amount due for the invoice, in minor units of currency; it stays when paid (what is still owed: amount_remaining)."),
    ColumnSpec::new("amount_paid", Amount, false, "Amount paid so far, in minor units of currency."),
    ColumnSpec::new("amount_remaining", Amount, false, "Amount still to be paid, in minor units of currency."),
    ColumnSpec::new("created", Timestamp, false, "When the invoice was created, unix seconds (UTC)."),
    ColumnSpec::new("due_date", Timestamp, true, "When payment is due (send_invoice invoices), unix seconds."),
    ColumnSpec::new(
        "paid_at",
        Timestamp,
        true,
        "When the invoice was paid (status_transitions.paid_at), unix seconds; null unless paid.",
    ),
    ColumnSpec::new("period_start", Timestamp, false, "Start of the period in which items were added to the invoice, unix seconds; a subscription invoice looks back one period (its lines hold the service period)."),
    ColumnSpec::new("period_end", Timestamp, false, "End of the period in which items were added to the invoice, unix seconds."),
    ColumnSpec::new("attempt_count", Integer, false, "Payment attempts: the first and Stripe's automatic retries (later manual attempts are not counted)."),
    ColumnSpec::new("livemode", Boolean, false, LIVEMODE_DOC),
];

pub(super) const CHARGE_COLUMNS: &[ColumnSpec] = &[
    ColumnSpec::new("id", Id, false, "Charge id (ch_… or py_…)."),
    ColumnSpec::new(
        "customer",
        Id,
        true,
        "Id of the customer charged (cus_…), if any.",
    ),
    ColumnSpec::new(
        "payment_intent",
        Id,
        true,
        "Id of the PaymentIntent (pi_…) that created the charge, if any.",
    ),
    ColumnSpec::new(
        "created",
        Timestamp,
        false,
        "When the charge was created, unix seconds (UTC).",
    ),
    ColumnSpec::new(
        "amount",
        Amount,
        false,
        "Amount of the charge, in minor units of currency (cents for usd): what was authorized; collected only once captured (amount_captured).",
    ),
    ColumnSpec::new(
        "amount_captured",
        Amount,
        false,
        "Amount captured, in minor units of currency.",
    ),
    ColumnSpec::new(
        "amount_refunded",
        Amount,
        false,
        "Amount refunded, in minor units of currency; disputes are not refunds and are not in it.",
    ),
    ColumnSpec::new(
        "currency",
        Currency,
        false,
        "Currency of the charge (lower-case ISO code, e.g. usd).",
    ),
    ColumnSpec::new("status", Text, false, "One of succeeded, pending, failed."),
    ColumnSpec::new(
        "paid",
        Boolean,
        false,
        "True when the charge succeeded or was authorized for later capture.",
    ),
    ColumnSpec::new(
        "captured",
        Boolean,
        false,
        "True when the charge was captured.",
    ),
    ColumnSpec::new(
        "refunded",
        Boolean,
        false,
        "True when the charge was fully refunded.",
    ),
    ColumnSpec::new(
        "disputed",
        Boolean,
        false,
        "True when the charge is disputed.",
    ),
    ColumnSpec::new(
        "failure_code",
        Text,
        true,
        "Stripe's error code when the charge failed, e.g. card_declined.",
    ),
    ColumnSpec::new(
        "failure_message",
        Text,
        true,
        "Human-readable reason when the charge failed.",
    ),
    ColumnSpec::new(
        "outcome_type",
        Text,
        true,
        "Outcome (outcome.type): authorized, manual_review, issuer_declined, blocked or invalid.",
    ),
    ColumnSpec::new(
        "balance_transaction",
        Id,
        true,
        "Id of the balance transaction (txn_…) that moved the funds; null until captured.",
    ),
    ColumnSpec::new("livemode", Boolean, false, LIVEMODE_DOC),
];

pub(super) const PAYOUT_COLUMNS: &[ColumnSpec] = &[
    ColumnSpec::new("id", Id, false, "Payout id (po_…)."),
    ColumnSpec::new("created", Timestamp, false, "When the payout was created, unix seconds (UTC)."),
    ColumnSpec::new(
        "arrival_date",
        Timestamp,
        false,
        "When the payout is expected to arrive (or arrived) in the bank, unix seconds.",
    ),
    ColumnSpec::new("amount", Amount, false, "Amount paid out, in minor units of currency (cents for usd); negative for a payout that reverses another or debits the bank account."),
    ColumnSpec::new("currency", Currency, false, "Currency of the payout (lower-case ISO code, e.g. usd)."),
    ColumnSpec::new("status", Text, false, "One of paid, pending, in_transit, canceled, failed; a payout that fails may show paid first, and one reversed later stays paid."),
    ColumnSpec::new("type", Text, false, "Destination kind: bank_account or card."),
    ColumnSpec::new("method", Text, false, "standard or instant."),
    ColumnSpec::new(
        "automatic",
        Boolean,
        false,
        "True when Stripe created the payout on the automatic schedule, false when made by hand or API.",
    ),
    ColumnSpec::new("failure_code", Text, true, "Stripe's error code when the payout failed, e.g. account_closed."),
    ColumnSpec::new(
        "reconciliation_status",
        Text,
        true,
        "Whether the payout's balance transactions are reconciled: completed, in_progress or not_applicable.",
    ),
    ColumnSpec::new(
        "balance_transaction",
        Id,
        true,
        "Id of the balance transaction (txn_…) that moved the funds.",
    ),
    ColumnSpec::new("destination", Id, true, "Id of the bank account (ba_…) or card (card_…) paid out to."),
    ColumnSpec::new("livemode", Boolean, false, LIVEMODE_DOC),
];
