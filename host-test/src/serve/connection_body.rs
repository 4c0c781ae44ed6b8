//! The body of `POST /v1/connections`: its fields, and what a malformed one is told. Messages name the
//! field and the type wanted, never the text the caller sent (which may hold the credential).

use super::errors::ApiError;
use serde::Deserialize;

/// The body of `POST /v1/connections`. The credential is never echoed, logged or shown by `Debug`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewConnection {
    pub(super) connector: String,
    pub(super) credential: String,
    /// `test` when absent or `null`, as every optional field's `null` is its absence.
    #[serde(default)]
    pub(super) mode: Option<String>,
    #[serde(default)]
    pub(super) max_rows: Option<u32>,
    #[serde(default)]
    pub(super) cache_ttl_seconds: Option<u32>,
    #[serde(default)]
    pub(super) max_scan: Option<u32>,
}

/// The body read as a [`NewConnection`], or an `invalid-request` saying what is wrong with it.
pub(super) fn parse(body: &str) -> Result<NewConnection, ApiError> {
    // serde reads a struct from a JSON array too, field by field in order: only an object is a body.
    if !body.trim_start().starts_with('{') {
        return Err(ApiError::new(
            "invalid-request",
            "the body is not a JSON object: send {\"connector\":\"NAME\",\"credential\":\"…\",\"mode\":\"test|live\"}",
        ));
    }
    serde_json::from_str(body).map_err(|e| {
        // serde's message may quote the input near the error: never the credential's value.
        ApiError::new(
            "invalid-request",
            format!(
                "the body must be {{\"connector\":\"NAME\",\"credential\":\"…\",\"mode\":\"test|live\"}} (optional max_rows, max_scan, cache_ttl_seconds): {}",
                error_without_input(&e, body)
            ),
        )
    })
}

/// The fields of `POST /v1/connections`, for messages.
const CONNECTION_FIELDS: &[&str] = &[
    "connector",
    "credential",
    "mode",
    "max_rows",
    "cache_ttl_seconds",
    "max_scan",
];

/// serde_json's error without the text it quotes (which may be the credential): its category and
/// position, and the field when it is one of ours (serde names a missing field; an unknown one is the
/// caller's text, so it is not repeated).
fn error_without_input(e: &serde_json::Error, body: &str) -> String {
    let text = e.to_string();
    let what = match e.classify() {
        serde_json::error::Category::Io => "could not be read".to_owned(),
        serde_json::error::Category::Syntax => "is not valid JSON".to_owned(),
        serde_json::error::Category::Eof => "ends too early".to_owned(),
        serde_json::error::Category::Data => {
            let ours = CONNECTION_FIELDS
                .iter()
                .find(|f| text.starts_with(&format!("missing field `{f}`")));
            let duplicate = CONNECTION_FIELDS
                .iter()
                .find(|f| text.starts_with(&format!("duplicate field `{f}`")));
            if let Some(field) = ours {
                format!("has no {field:?} field, which is required")
            } else if let Some(field) = duplicate {
                format!("has the field {field:?} twice")
            } else if !body.trim_start().starts_with('{') {
                "is not a JSON object".to_owned()
            } else if let Some((field, beyond_u32)) = mistyped_field(body) {
                // The numbers' ranges are the connector's (max_scan 1 to its limit, say) and are
                // named by the check after this one: here only the type.
                // -1 is a whole number too: what serde wants is one of 0 or more, and of 1 or more
                // for the bounds a value of 0 would not pass either (QA).
                let expected = match field {
                    "connector" | "credential" | "mode" => "a string",
                    "cache_ttl_seconds" => "a whole number of 0 or more",
                    _ => "a whole number of 1 or more",
                };
                let required = matches!(field, "connector" | "credential");
                if required && null_field(body, field) {
                    // A null is an optional field's absence; these two are required (QA read "not a
                    // string" as a type the caller had got wrong).
                    format!("has {field:?} null: it is required, {expected}")
                } else if beyond_u32 {
                    format!(
                        "has a field {field:?} beyond {} (the most any of its bounds can be)",
                        u32::MAX
                    )
                } else {
                    format!("has a field {field:?} that is not {expected}")
                }
            } else if text.starts_with("unknown field") {
                format!(
                    "has a field this route does not know (the fields are {})",
                    CONNECTION_FIELDS.join(", ")
                )
            } else {
                "has a field of the wrong type (connector, credential and mode are strings; max_rows, cache_ttl_seconds and max_scan whole numbers)"
                    .to_owned()
            }
        }
    };
    format!("the body {what} (line {}, column {})", e.line(), e.column())
}

/// Whether `field` is `null` in the body (read again as a plain object).
fn null_field(body: &str, field: &str) -> bool {
    serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(body)
        .is_ok_and(|object| object.get(field).is_some_and(serde_json::Value::is_null))
}

/// The first of our fields whose value has the wrong type, read again as a plain object (serde's own
/// message names the value, not the field), and whether it is a whole number too large for its type
/// (u32) rather than not one.
fn mistyped_field(body: &str) -> Option<(&'static str, bool)> {
    let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(body).ok()?;
    let field = CONNECTION_FIELDS.iter().copied().find(|field| {
        object.get(*field).is_some_and(|value| match *field {
            "connector" | "credential" => !value.is_string(),
            "mode" => !value.is_null() && !value.is_string(),
            _ => !value.is_null() && value.as_u64().is_none_or(|n| u32::try_from(n).is_err()),
        })
    })?;
    let beyond_u32 = object
        .get(field)
        .and_then(serde_json::Value::as_f64)
        .is_some_and(|n| n.fract() == 0.0 && n > f64::from(u32::MAX));
    Some((field, beyond_u32))
}
