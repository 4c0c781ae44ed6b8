//! Every error `serve` answers with, as `{"error":{"kind","message"}}`, and the one table from kind to
//! HTTP status (the README's "serve" section lists the same table; `tests/serve.rs` checks it).

use crate::sandbox::SandboxError;
use hyper::StatusCode;

/// (kind, status): the whole mapping. A kind not here is a connector-side failure: 502.
pub const STATUS_BY_KIND: &[(&str, u16)] = &[
    ("invalid-request", 400),
    ("invalid-query", 400),
    ("unauthorized", 401),
    ("not-found", 404),
    ("unknown-connector", 404),
    ("unknown-connection", 404),
    ("method-not-allowed", 405),
    ("request-timeout", 408),
    ("connection-closed", 409),
    ("body-too-large", 413),
    ("secret-key-rejected", 422),
    ("invalid-key", 422),
    ("mode-mismatch", 422),
    ("over-permissioned", 422),
    ("missing-permission", 422),
    ("reload-refused", 422),
    ("rate-limited", 429),
    ("upstream", 502),
    ("network", 502),
    ("request-denied", 502),
    ("sandbox", 502),
    // The connector cannot be used as its manifest stands (a `reads` naming no table of it, say).
    ("connector-config", 502),
    ("too-many-connections", 503),
    ("shutting-down", 503),
    ("deadline", 504),
];

/// An error as `serve` answers it.
#[derive(Debug)]
pub struct ApiError {
    pub kind: String,
    pub message: String,
    /// For `method-not-allowed`: the methods the route takes, sent as the `Allow` header.
    pub allow: Option<&'static str>,
    /// Seconds after which trying again may succeed, sent as `Retry-After` (see [`ApiError::retry_after`]).
    pub retry_in: Option<u64>,
}

impl ApiError {
    pub fn new(kind: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            kind: kind.to_owned(),
            message: message.into(),
            allow: None,
            retry_in: None,
        }
    }

    /// The `Retry-After` of this answer: when the error says when (`too-many-connections`: the next
    /// idle connection's expiry), or one second for `rate-limited` (Stripe's limits are per second,
    /// and the connector has already waited and retried). None where trying again soon cannot help.
    pub fn retry_after(&self) -> Option<u64> {
        self.retry_in
            .or_else(|| (self.kind == "rate-limited").then_some(1))
    }

    pub fn status(&self) -> StatusCode {
        let code = STATUS_BY_KIND
            .iter()
            .find(|(kind, _)| *kind == self.kind)
            .map_or(502, |(_, code)| *code);
        StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY)
    }
}

impl From<SandboxError> for ApiError {
    fn from(e: SandboxError) -> ApiError {
        ApiError::new(e.kind(), e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_unique_and_map_to_their_status() {
        for (i, (kind, _)) in STATUS_BY_KIND.iter().enumerate() {
            assert!(
                STATUS_BY_KIND[i + 1..].iter().all(|(k, _)| k != kind),
                "{kind} twice"
            );
        }
        assert_eq!(ApiError::new("invalid-key", "").status().as_u16(), 422);
        assert_eq!(ApiError::new("invalid-query", "").status().as_u16(), 400);
        assert_eq!(
            ApiError::new("unknown-connection", "").status().as_u16(),
            404
        );
        assert_eq!(ApiError::new("rate-limited", "").status().as_u16(), 429);
        assert_eq!(ApiError::new("deadline", "").status().as_u16(), 504);
        assert_eq!(ApiError::new("shutting-down", "").status().as_u16(), 503);
        assert_eq!(ApiError::new("something-new", "").status().as_u16(), 502);
        let deadline: ApiError = SandboxError::Deadline { seconds: 3 }.into();
        assert_eq!(deadline.kind, "deadline");
    }

    #[test]
    fn a_rate_limit_says_when_to_retry_and_a_refusal_does_not() {
        assert_eq!(ApiError::new("rate-limited", "").retry_after(), Some(1));
        let full = ApiError {
            retry_in: Some(40),
            ..ApiError::new("too-many-connections", "")
        };
        assert_eq!(full.retry_after(), Some(40));
        for kind in [
            "invalid-key",
            "invalid-query",
            "shutting-down",
            "upstream",
            "deadline",
        ] {
            assert_eq!(ApiError::new(kind, "").retry_after(), None, "{kind}");
        }
    }

    #[test]
    fn every_connector_refusal_is_a_422_or_400() {
        for kind in crate::sandbox::REFUSALS {
            let status = ApiError::new(kind, "").status().as_u16();
            assert!(status == 422 || status == 400, "{kind} → {status}");
        }
    }
}
