//! The typed errors of the contract, one [`ConnectorError`] variant per `connector-error` case of
//! `klairr:connector@0.2.0`, and the [`UpstreamError`] an API reported.
//!
//! Every message is shown to a user (and to an LLM) and says what to change. The words that name the
//! upstream API and its permissions are each connector's, given by its [`Wording`]; a connector names its
//! error type once, e.g. `pub type ConnectorError = klairr_connector_sdk::error::ConnectorError<Stripe>;`.
//! Nothing here ever holds a credential: connections name a key only by the host's hint.

use crate::prelude::*;
use crate::transport::Response;
use core::convert::Infallible;
use core::fmt;
use core::marker::PhantomData;

/// An error the upstream API reported (or a response the connector could not read), with what its
/// support needs to find the request.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct UpstreamError {
    /// HTTP status, when a response arrived.
    pub status: Option<u16>,
    /// The API's own error code (Stripe's `error.code`, the ledger's `error.code`), when given.
    pub code: Option<String>,
    /// A human-readable explanation.
    pub message: String,
    /// The API's request id header, when a response arrived.
    pub request_id: Option<String>,
}

impl UpstreamError {
    /// The error `response` stands for: its status and request id, with the code and message read
    /// from its body.
    pub fn of_response(response: &Response, code: Option<String>, message: String) -> Self {
        UpstreamError {
            status: Some(response.status),
            code,
            message,
            request_id: response.request_id.clone(),
        }
    }
}

/// `message (HTTP 503, code unavailable, request req_7)`, leaving out what is not known.
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

/// A connector's own words in its errors' messages.
pub trait Wording {
    /// How messages name the upstream API: `Stripe rate limit: …`, `ledger error: …`.
    const UPSTREAM: &'static str;

    /// What a [`ConnectorError::MissingPermission`] says, given the resources joined with `, `.
    fn missing_permission(f: &mut fmt::Formatter<'_>, resources: &str) -> fmt::Result;

    /// What a [`ConnectorError::OverPermissioned`] says, given the resources joined with `, `.
    fn over_permissioned(f: &mut fmt::Formatter<'_>, resources: &str) -> fmt::Result {
        write!(f, "this key can write to {resources}: use a read-only key")
    }
}

/// Everything a connector can refuse or fail with. Mirrors `klairr:connector/types.connector-error`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnectorError<W> {
    /// A key that can write (Stripe's `sk_…`, the ledger's `lkw_…`) was offered; connectors only read.
    SecretKeyRejected(String),
    /// The key is malformed, or the API does not accept it (401).
    InvalidKey(String),
    /// A key of the other mode, or data whose `livemode` contradicts the connection's mode.
    ModeMismatch(String),
    /// The key can write: the named resources accepted a write probe.
    OverPermissioned(Vec<String>),
    /// The key cannot read the named resources (403).
    MissingPermission(Vec<String>),
    /// The query is not valid; the message names the offending key or value and what is allowed.
    InvalidQuery(String),
    /// The API kept rate-limiting after every retry.
    RateLimited(UpstreamError),
    /// The API answered with an error, or with something the connector cannot read.
    Upstream(UpstreamError),
    /// The request did not reach the API, or the host refused it.
    Network(String),
    /// Never built (its [`Infallible`] has no value): only carries the connector's [`Wording`].
    #[doc(hidden)]
    _Wording(Infallible, PhantomData<fn() -> W>),
}

impl<W> ConnectorError<W> {
    /// The stable kind name (the WIT case, as the host's `--format json` spells it).
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
            Self::_Wording(never, _) => match *never {},
        }
    }

    /// Shorthand for an [`ConnectorError::InvalidQuery`].
    pub fn invalid_query(message: impl Into<String>) -> Self {
        Self::InvalidQuery(message.into())
    }

    /// An upstream error that is the connector's reading of a response (no API error code).
    pub fn upstream(
        message: impl Into<String>,
        status: Option<u16>,
        request_id: Option<&str>,
    ) -> Self {
        Self::Upstream(UpstreamError {
            status,
            code: None,
            message: message.into(),
            request_id: request_id.map(str::to_owned),
        })
    }
}

impl<W: Wording> fmt::Display for ConnectorError<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SecretKeyRejected(m)
            | Self::InvalidKey(m)
            | Self::ModeMismatch(m)
            | Self::InvalidQuery(m) => f.write_str(m),
            Self::OverPermissioned(r) => W::over_permissioned(f, &r.join(", ")),
            Self::MissingPermission(r) => W::missing_permission(f, &r.join(", ")),
            Self::RateLimited(u) => write!(f, "{} rate limit: {u}", W::UPSTREAM),
            Self::Upstream(u) => write!(f, "{} error: {u}", W::UPSTREAM),
            Self::Network(m) => write!(f, "network: {m}"),
            Self::_Wording(never, _) => match *never {},
        }
    }
}

impl<W: Wording + fmt::Debug> core::error::Error for ConnectorError<W> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Acme;

    impl Wording for Acme {
        const UPSTREAM: &'static str = "Acme";
        fn missing_permission(f: &mut fmt::Formatter<'_>, resources: &str) -> fmt::Result {
            write!(f, "grant Read on {resources}")
        }
    }

    fn upstream(status: Option<u16>, code: Option<&str>, request_id: Option<&str>) -> String {
        UpstreamError {
            status,
            code: code.map(str::to_owned),
            message: "down".into(),
            request_id: request_id.map(str::to_owned),
        }
        .to_string()
    }

    #[test]
    fn upstream_errors_name_what_is_known() {
        let all = upstream(Some(503), Some("unavailable"), Some("req_7"));
        assert_eq!(all, "down (HTTP 503, code unavailable, request req_7)");
        assert_eq!(upstream(Some(503), None, None), "down (HTTP 503)");
        assert_eq!(upstream(None, Some("x"), None), "down (code x)");
        assert_eq!(
            upstream(None, Some("x"), Some("r")),
            "down (code x, request r)"
        );
        assert_eq!(
            upstream(Some(1), None, Some("r")),
            "down (HTTP 1, request r)"
        );
        assert_eq!(upstream(None, None, Some("r")), "down (request r)");
        assert_eq!(upstream(None, None, None), "down");
    }

    #[test]
    fn messages_use_the_connectors_wording() {
        let tables = || vec!["a".to_owned(), "b".to_owned()];
        let cases: [(ConnectorError<Acme>, &str, &str); 5] = [
            (
                ConnectorError::MissingPermission(tables()),
                "missing-permission",
                "grant Read on a, b",
            ),
            (
                ConnectorError::OverPermissioned(tables()),
                "over-permissioned",
                "this key can write to a, b: use a read-only key",
            ),
            (
                ConnectorError::RateLimited(UpstreamError::default()),
                "rate-limited",
                "Acme rate limit: ",
            ),
            (
                ConnectorError::upstream("bad page", Some(200), Some("req_1")),
                "upstream",
                "Acme error: bad page (HTTP 200, request req_1)",
            ),
            (
                ConnectorError::Network("down".into()),
                "network",
                "network: down",
            ),
        ];
        for (e, kind, message) in cases {
            assert_eq!((e.kind(), e.to_string().as_str()), (kind, message));
        }
        let q: ConnectorError<Acme> = ConnectorError::invalid_query("no such table");
        assert_eq!(
            (q.kind(), q.to_string()),
            ("invalid-query", "no such table".into())
        );
    }
}
