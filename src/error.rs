//! The connector's typed errors, one variant per `connector-error` case of the WIT contract: the SDK's
//! ([`klairr_connector_sdk::error`]) in Stripe's words.
//!
//! Every message here is shown to a user (and to an LLM). Messages never contain the API key: only
//! `check-credential` sees it, as a [`crate::key::ApiKey`] whose `Debug`/`Display` redact it, no error is
//! built from a raw key string, and connections name a key only by the host's hint (`rk_test_…abcd`).

use core::fmt;

pub use klairr_connector_sdk::error::{UpstreamError, Wording};

/// Everything the connector can refuse or fail with. Mirrors `klairr:connector/types.connector-error`.
pub type ConnectorError = klairr_connector_sdk::error::ConnectorError<Stripe>;

/// Stripe's words in the connector's errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stripe;

impl Wording for Stripe {
    const UPSTREAM: &'static str = "Stripe";

    fn missing_permission(f: &mut fmt::Formatter<'_>, resources: &str) -> fmt::Result {
        write!(f, "this key is missing Read permission on {resources}: edit the restricted key in the Stripe Dashboard and grant Read on them")
    }

    fn over_permissioned(f: &mut fmt::Formatter<'_>, resources: &str) -> fmt::Result {
        write!(f, "this key can write to {resources}: create a restricted key with Read only (and None everywhere else)")
    }
}
