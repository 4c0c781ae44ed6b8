//! Facts about the Stripe API that the connector depends on, each defined once: where it lives, the
//! pinned version, how list requests are spelled, and how Stripe's error bodies read.

use crate::error::{ConnectorError, UpstreamError};
use crate::json_object::json_object;
use crate::key::{KeyHint, CREATE_RESTRICTED_KEY};
use crate::prelude::*;
use crate::schema::Table;
use crate::transport::Response;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Every request carries `Stripe-Version: API_VERSION`; object shapes are parsed for this version only.
pub const API_VERSION: &str = "2026-04-22.dahlia";
/// The only authority the connector addresses. The host decides whether it is reached (and where).
pub const API_HOST: &str = "api.stripe.com";
/// Stripe's own upper bound for `limit` on list endpoints.
pub const MAX_PAGE_SIZE: u32 = 100;

/// Characters left as-is in a query component: RFC 3986 unreserved. Everything else — including the
/// brackets of `created[gte]` — is percent-encoded, which Stripe decodes.
const QUERY_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encode one query-string component.
pub fn encode_component(s: &str) -> String {
    utf8_percent_encode(s, QUERY_COMPONENT).to_string()
}

/// `/v1/<table>?<params>&limit=N[&starting_after=ID]`, every name and value percent-encoded.
/// `params` come from the validated DSL; nothing from a query ever reaches the path.
pub fn list_path(
    table: Table,
    params: &[(String, String)],
    limit: u32,
    starting_after: Option<&str>,
) -> String {
    let mut out = String::with_capacity(64);
    out.push_str(table.list_path());
    let mut sep = '?';
    let mut push = |out: &mut String, name: &str, value: &str| {
        out.push(sep);
        sep = '&';
        out.push_str(&encode_component(name));
        out.push('=');
        out.push_str(&encode_component(value));
    };
    for (name, value) in params {
        push(&mut out, name, value);
    }
    push(
        &mut out,
        "limit",
        &limit.clamp(1, MAX_PAGE_SIZE).to_string(),
    );
    if let Some(id) = starting_after {
        push(&mut out, "starting_after", id);
    }
    out
}

json_object! {
    struct ErrorEnvelope {
        error: ErrorObject,
    }
}

json_object! {
    struct ErrorObject {
        kind as "type": Option<String>,
        code: Option<String>,
        message: Option<String>,
    }
}

/// Stripe's error object in `response`'s body, if that is what the body is.
fn error_object(response: &Response) -> Option<ErrorObject> {
    crate::json::from_slice::<ErrorEnvelope>(&response.body)
        .ok()
        .map(|e| e.error)
}

/// Stripe's error code in `response`'s body (`resource_missing`), when the body is its error object.
pub(crate) fn error_code(response: &Response) -> Option<String> {
    error_object(response).and_then(|e| e.code)
}

/// Whether `response` is Stripe refusing the request for a permission the key lacks: a 403 whose body is
/// Stripe's error object of type `invalid_request_error`. Another 403 (a proxy's or firewall's page,
/// even one that is JSON with an `error` in it) never asked Stripe, so it proves nothing.
pub(crate) fn is_permission_refusal(response: &Response) -> bool {
    // Stripe's permission error has no code; `resource_missing` is its answer to a key that got past
    // the permission check, whatever status carries it.
    response.status == 403
        && error_object(response).is_some_and(|e| {
            e.kind.as_deref() == Some("invalid_request_error")
                && e.code.as_deref() != Some("resource_missing")
        })
}

/// The most characters of Stripe's own error message passed on.
const MESSAGE_CHARS: usize = 500;

/// Read Stripe's error body (`{"error":{"type","code","message",…}}`) into an [`UpstreamError`]. A body
/// that is not Stripe's shape still gives a useful error: the status and the request id. Stripe's own
/// messages mask keys (`rk_test_****abcd`), so they are safe to pass on.
pub fn upstream_error(response: &Response) -> UpstreamError {
    let (code, message) = match error_object(response) {
        Some(error) => {
            let mut message = error
                .message
                .or(error.kind)
                .unwrap_or_else(|| "Stripe returned an error without a message".to_owned());
            // Stripe's are a sentence or two; a longer one is cut, so that what the connector adds
            // after it (the request, the attempts) stays within the 1 KiB the host shows (review).
            if let Some((cut, _)) = message.char_indices().nth(MESSAGE_CHARS) {
                message.truncate(cut);
                message.push('…');
            }
            (error.code, message)
        }
        None => (
            None,
            format!(
                "Stripe returned HTTP {} with a body that is not a Stripe error object",
                response.status
            ),
        ),
    };
    UpstreamError::of_response(response, code, message)
}

/// Stripe's 401 to this key, for setup and queries alike, naming the key by the host's hint. Stripe's own message names a masked key; it is not
/// passed on.
pub fn invalid_key(key: &KeyHint, response: &Response) -> ConnectorError {
    let request = response
        .request_id
        .as_deref()
        .map(|id| format!(", request {id}"))
        .unwrap_or_default();
    ConnectorError::InvalidKey(format!(
        "Stripe did not accept {} (HTTP 401{request}): it may have been revoked, rolled or mistyped. \
         {CREATE_RESTRICTED_KEY}.",
        key.the_key()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_path_encodes_every_component() {
        let params = vec![
            ("created[gte]".to_owned(), "1767225600".to_owned()),
            ("status".to_owned(), "all".to_owned()),
        ];
        assert_eq!(
            list_path(Table::Subscriptions, &params, 250, Some("sub_123")),
            "/v1/subscriptions?created%5Bgte%5D=1767225600&status=all&limit=100&starting_after=sub_123"
        );
        assert_eq!(
            list_path(Table::Customers, &[], 0, None),
            "/v1/customers?limit=1"
        );
        let nasty = vec![("x".to_owned(), "a&b=c/../d?e#f g".to_owned())];
        let path = list_path(Table::Charges, &nasty, 10, None);
        assert_eq!(
            path,
            "/v1/charges?x=a%26b%3Dc%2F..%2Fd%3Fe%23f%20g&limit=10"
        );
    }

    #[test]
    fn error_bodies_become_typed_errors() {
        let resp = Response {
            status: 429,
            request_id: Some("req_abc".into()),
            body: br#"{"error":{"type":"invalid_request_error","code":"rate_limit","message":"Request rate limit exceeded."}}"#.to_vec(),
            ..Default::default()
        };
        let e = upstream_error(&resp);
        assert_eq!(e.status, Some(429));
        assert_eq!(e.code.as_deref(), Some("rate_limit"));
        assert_eq!(e.request_id.as_deref(), Some("req_abc"));
        assert_eq!(e.message, "Request rate limit exceeded.");

        let broken = Response {
            status: 502,
            body: b"<html>".to_vec(),
            ..Default::default()
        };
        let e = upstream_error(&broken);
        assert!(e.message.contains("HTTP 502"), "{}", e.message);
    }
}
