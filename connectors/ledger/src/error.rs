//! The connector's typed errors, one variant per `connector-error` case of the WIT contract.
//!
//! Every message is shown to a user (and to an LLM) and says what to change. None contains the
//! credential: only `check-credential` sees it ([`crate::key::check`]), and its messages are built from
//! prefixes and lengths; connections name a key only by the host's hint (`lk_test_…abcd`).

use std::fmt;

/// An error the ledger API reported (or a response the connector could not read), with what its support
/// needs to find the request.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct UpstreamError {
    /// HTTP status, when a response arrived.
    pub status: Option<u16>,
    /// The API's `error.code` (e.g. `rate_limited`, `bad_parameter`), when given.
    pub code: Option<String>,
    pub message: String,
    /// The API's `x-request-id` header, when a response arrived.
    pub request_id: Option<String>,
}

impl fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        let mut details: Vec<String> = Vec::new();
        if let Some(s) = self.status {
            details.push(format!("HTTP {s}"));
        }
        if let Some(c) = &self.code {
            details.push(format!("code {c}"));
        }
        if let Some(id) = &self.request_id {
            details.push(format!("request {id}"));
        }
        if !details.is_empty() {
            write!(f, " ({})", details.join(", "))?;
        }
        Ok(())
    }
}

/// Everything the connector can refuse or fail with. Mirrors `klairr:connector/types.connector-error`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnectorError {
    /// A key with write rights (`lkw_…`) was offered; the connector only reads.
    SecretKeyRejected(String),
    /// The key is malformed, or the ledger does not accept it (401).
    InvalidKey(String),
    /// A key of the other mode, or data whose `livemode` contradicts the connection's mode.
    ModeMismatch(String),
    /// The key cannot read these tables (403).
    MissingPermission(Vec<String>),
    /// The query is not valid; the message names the key or value and what is allowed.
    InvalidQuery(String),
    /// The ledger kept rate-limiting after every retry.
    RateLimited(UpstreamError),
    /// The ledger answered with an error, or with something the connector cannot read.
    Upstream(UpstreamError),
    /// The request did not reach the ledger, or the host refused it.
    Network(String),
}

impl ConnectorError {
    /// The stable kind name (the WIT case, as the host's `--format json` spells it).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::SecretKeyRejected(_) => "secret-key-rejected",
            Self::InvalidKey(_) => "invalid-key",
            Self::ModeMismatch(_) => "mode-mismatch",
            Self::MissingPermission(_) => "missing-permission",
            Self::InvalidQuery(_) => "invalid-query",
            Self::RateLimited(_) => "rate-limited",
            Self::Upstream(_) => "upstream",
            Self::Network(_) => "network",
        }
    }

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

impl fmt::Display for ConnectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SecretKeyRejected(m)
            | Self::InvalidKey(m)
            | Self::ModeMismatch(m)
            | Self::InvalidQuery(m) => f.write_str(m),
            Self::MissingPermission(tables) => write!(
                f,
                "this key cannot read {}: give it read access to every ledger table (accounts, entries)",
                tables.join(", ")
            ),
            Self::RateLimited(u) => write!(f, "ledger rate limit: {u}"),
            Self::Upstream(u) => write!(f, "ledger error: {u}"),
            Self::Network(m) => write!(f, "network: {m}"),
        }
    }
}

impl std::error::Error for ConnectorError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_errors_name_status_code_and_request() {
        let e = UpstreamError {
            status: Some(503),
            code: Some("unavailable".into()),
            message: "down for maintenance".into(),
            request_id: Some("req_7".into()),
        };
        assert_eq!(
            e.to_string(),
            "down for maintenance (HTTP 503, code unavailable, request req_7)"
        );
        let bare = UpstreamError {
            message: "no response".into(),
            ..UpstreamError::default()
        };
        assert_eq!(bare.to_string(), "no response");
        assert_eq!(
            ConnectorError::Upstream(e).to_string(),
            "ledger error: down for maintenance (HTTP 503, code unavailable, request req_7)"
        );
    }

    #[test]
    fn kinds_are_the_wit_case_names() {
        let cases = [
            (
                ConnectorError::SecretKeyRejected(String::new()),
                "secret-key-rejected",
            ),
            (ConnectorError::InvalidKey(String::new()), "invalid-key"),
            (ConnectorError::ModeMismatch(String::new()), "mode-mismatch"),
            (
                ConnectorError::MissingPermission(vec![]),
                "missing-permission",
            ),
            (ConnectorError::invalid_query("x"), "invalid-query"),
            (
                ConnectorError::RateLimited(UpstreamError::default()),
                "rate-limited",
            ),
            (ConnectorError::upstream("x", None, None), "upstream"),
            (ConnectorError::Network(String::new()), "network"),
        ];
        for (e, kind) in cases {
            assert_eq!(e.kind(), kind);
        }
        assert_eq!(
            ConnectorError::MissingPermission(vec!["entries".into()]).to_string(),
            "this key cannot read entries: give it read access to every ledger table (accounts, entries)"
        );
    }
}
