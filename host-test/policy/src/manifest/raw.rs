//! The manifest as TOML spells it: plain serde structs, every one `deny_unknown_fields` so a misspelt key
//! is an error rather than a silently ignored limit. Numbers are read as `i64` (TOML's integer) and
//! range-checked in [`super::validate`], which can then say which numbers to write instead of serde's
//! "expected u32".

use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawManifest {
    pub name: String,
    pub version: String,
    pub contract: String,
    pub component: String,
    pub network: RawNetwork,
    pub budget: RawBudget,
    pub calls: RawCalls,
    pub credential: RawCredential,
    #[serde(default)]
    pub headers: RawHeaders,
    pub requests: Vec<RawRequest>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNetwork {
    pub origins: Vec<String>,
    pub timeouts: RawTimeouts,
    pub max_in_flight: i64,
    pub max_response_bytes: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTimeouts {
    pub connect_seconds: i64,
    pub first_byte_seconds: i64,
    pub between_bytes_seconds: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBudget {
    pub per_endpoint: i64,
    pub per_credential_test: i64,
    pub per_credential_live: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCalls {
    pub cache_ttl_ceiling_seconds: i64,
    pub page_size: i64,
    pub scan_factor: i64,
    pub min_scan_rows: i64,
    pub max_scan_rows: i64,
    pub retry_share_percent: i64,
    pub extra_requests: i64,
    pub verify_requests: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCredential {
    pub env: String,
    pub header: String,
    pub scheme: String,
    pub test_prefix: String,
    pub live_prefix: String,
    pub min_length: i64,
    #[serde(default)]
    pub account_name: Option<RawAccountName>,
    #[serde(default)]
    pub manage: Option<String>,
    #[serde(default)]
    pub refused: Vec<RawRefused>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAccountName {
    pub starts_with: String,
    pub length: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRefused {
    pub prefix: String,
    pub kind: String,
    pub message: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHeaders {
    #[serde(default)]
    pub pinned: BTreeMap<String, String>,
    #[serde(default)]
    pub allowed: Vec<String>,
    #[serde(default)]
    pub refused: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRequest {
    pub method: String,
    pub path: String,
    #[serde(default)]
    pub query: Vec<String>,
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    #[serde(default)]
    pub during: Option<String>,
    #[serde(default)]
    pub body: bool,
    #[serde(default)]
    pub probe: Option<RawProbe>,
    #[serde(default)]
    pub reads: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawProbe {
    pub resource: String,
    pub refused: Vec<i64>,
    #[serde(default)]
    pub sent_by: Option<String>,
}
