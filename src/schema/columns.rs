//! The columns of the five tables, in row order: each projection in [`crate::rows`] names its cells after
//! these, checked when the crate compiles ([`super::columns_are`]).

use super::{ColumnSpec, ColumnType};

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
        personal: false,
    }
}

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
    col("id", Id, false, "Customer id (cus_…)."),
    col("created", Timestamp, false, "When the customer was created, unix seconds (UTC)."),
    personal(col("email", Text, true, "The customer's email address.")),
    personal(col("name", Text, true, "The customer's full name or business name.")),
    personal(col(
        "description",
        Text,
        true,
        "Free-text description the account attached to the customer.",
    )),
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

pub(super) const SUBSCRIPTION_COLUMNS: &[ColumnSpec] = &[
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

pub(super) const INVOICE_COLUMNS: &[ColumnSpec] = &[
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

pub(super) const CHARGE_COLUMNS: &[ColumnSpec] = &[
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

pub(super) const PAYOUT_COLUMNS: &[ColumnSpec] = &[
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
