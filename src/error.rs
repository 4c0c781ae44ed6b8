//! The connector's typed errors, one variant per `connector-error` case of the WIT contract.
//!
//! Every message here is shown to a user (and to an LLM). Messages never contain the API key: only
//! `check-credential` sees it, as a [`crate::key::ApiKey`] whose `Debug`/`Display` redact it, no error is
//! built from a raw key string, and connections name a key only by the host's hint (`rk_test_…abcd`).

use std::fmt;

/// An error reported by Stripe (or by the transport while talking to it), with what the user needs to
/// find it in Stripe's logs.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct UpstreamError {
    /// HTTP status, when a response arrived.
    pub status: Option<u16>,
    /// Stripe's `error.code` (e.g. `rate_limit`, `parameter_unknown`), when given.
    pub code: Option<String>,
    /// A human-readable explanation.
    pub message: String,
    /// Stripe's `Request-Id` header (`req_…`), when a response arrived.
    pub request_id: Option<String>,
}

impl fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        match (self.status, &self.code) {
            (Some(s), Some(c)) => write!(f, " (HTTP {s}, code {c}")?,
            (Some(s), None) => write!(f, " (HTTP {s}")?,
            (None, Some(c)) => write!(f, " (code {c}")?,
            (None, None) => {
                if let Some(id) = &self.request_id {
                    write!(f, " (request {id})")?;
                }
                return Ok(());
            }
        }
        if let Some(id) = &self.request_id {
            write!(f, ", request {id}")?;
        }
        f.write_str(")")
    }
}

/// Everything the connector can refuse or fail with. Mirrors `klairr:connector/types.connector-error`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConnectorError {
    /// A secret key (`sk_…`) was offered; only restricted keys are accepted.
    #[error("{0}")]
    SecretKeyRejected(String),
    /// The key is malformed or Stripe does not accept it.
    #[error("{0}")]
    InvalidKey(String),
    /// A test key in live mode, a live key in test mode, or objects whose `livemode` contradicts the mode.
    #[error("{0}")]
    ModeMismatch(String),
    /// The key can write: the named resources accepted a write probe.
    #[error("this key can write to {}: create a restricted key with Read only (and None everywhere else)", .0.join(", "))]
    OverPermissioned(Vec<String>),
    /// The key lacks Read on the named resources.
    #[error("this key is missing Read permission on {}: edit the restricted key in the Stripe Dashboard and grant Read on them", .0.join(", "))]
    MissingPermission(Vec<String>),
    /// The DSL query is not valid; the message names the offending key or value and what is allowed.
    #[error("{0}")]
    InvalidQuery(String),
    /// Stripe kept rate-limiting after every retry.
    #[error("Stripe rate limit: {0}")]
    RateLimited(UpstreamError),
    /// Stripe answered with an error, or with something the connector cannot read.
    #[error("Stripe error: {0}")]
    Upstream(UpstreamError),
    /// The request did not reach Stripe, or the host refused it.
    #[error("network: {0}")]
    Network(String),
}

impl ConnectorError {
    /// The stable kind name used by the CLI's `--format json` error object.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::SecretKeyRejected(_) => "secret-key-rejected",
            Self::InvalidKey(_) => "invalid-key",
            Self::ModeMismatch(_) => "mode-mismatch",
            Self::OverPermissioned(_) => "over-permissioned",
            Self::MissingPermission(_) => "missing-permission",
            Self::InvalidQuery(_) => "invalid-query",
            Self::RateLimited(_) => "rate-limited",
            Self::Upstream(_) => "upstream",
            Self::Network(_) => "network",
        }
    }

    /// Shorthand for an [`ConnectorError::InvalidQuery`].
    pub fn invalid_query(msg: impl Into<String>) -> Self {
        Self::InvalidQuery(msg.into())
    }

    /// Shorthand for an upstream error that has no HTTP response behind it (e.g. a body we cannot parse).
    pub fn upstream(msg: impl Into<String>, status: Option<u16>, request_id: Option<&str>) -> Self {
        Self::Upstream(UpstreamError {
            status,
            code: None,
            message: msg.into(),
            request_id: request_id.map(str::to_owned),
        })
    }
}
