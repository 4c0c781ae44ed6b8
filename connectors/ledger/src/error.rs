//! The connector's typed errors, one variant per `connector-error` case of the WIT contract: the SDK's
//! ([`klairr_connector_sdk::error`]) in the ledger's words.
//!
//! Every message is shown to a user (and to an LLM) and says what to change. None contains the
//! credential: only `check-credential` sees it ([`crate::key::check`]), and its messages are built from
//! prefixes and lengths; connections name a key only by the host's hint (`lk_test_…abcd`).

use std::fmt;

pub use klairr_connector_sdk::error::{UpstreamError, Wording};

/// Everything the connector can refuse or fail with. Mirrors `klairr:connector/types.connector-error`.
pub type ConnectorError = klairr_connector_sdk::error::ConnectorError<Ledger>;

/// The ledger's words in the connector's errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ledger;

impl Wording for Ledger {
    const UPSTREAM: &'static str = "ledger";

    fn missing_permission(f: &mut fmt::Formatter<'_>, tables: &str) -> fmt::Result {
        write!(
            f,
            "this key cannot read {tables}: give it read access to every ledger table (accounts, entries)"
        )
    }
}

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
