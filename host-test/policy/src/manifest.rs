//! The connector manifest: everything one connector may do, in one TOML file the host reads before it
//! loads the component — which origins, which requests (method + path template + query parameters), which
//! headers, which credential and how it is sent, how fast, how much. The built-in Stripe manifest is
//! `host-test/connectors/stripe.toml`, embedded in the binary; every field there carries a comment.
//!
//! Reading is two steps: serde into the raw structs of `manifest/raw.rs` (unknown keys refused), then
//! `manifest/validate.rs` and `manifest/validate_rules.rs` into the typed structs below. Every error names
//! the field (`requests[3].path`) and says what to write instead, like Spin's outbound-networking
//! configuration does.

mod raw;
mod validate;
mod validate_credential;
mod validate_origin;
mod validate_probe;
mod validate_rules;

pub use validate::is_connector_name;

use crate::credential::{Mode, RefusalKind};
use crate::origin::{NetworkPolicy, Origin, TimeoutCeilings};
use regex::Regex;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The only contract version this host speaks (the WIT in `wit/connector-0.2.0/`).
pub const CONTRACT: &str = "klairr:connector@0.2.0";

/// The largest manifest file read: a manifest is a page of TOML; anything this big is a wrong path.
pub const MAX_MANIFEST_BYTES: u64 = 1024 * 1024;

/// The `source` of the built-in manifest, as messages show it.
pub const BUILTIN_SOURCE: &str = "built-in";

/// A validated connector manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    /// `[a-z][a-z0-9-]{0,31}`.
    pub name: String,
    /// `MAJOR.MINOR.PATCH`, digits.
    pub version: String,
    /// Always [`CONTRACT`] once validated.
    pub contract: String,
    pub component: ComponentSource,
    pub network: Network,
    pub budget: Budget,
    pub calls: CallLimits,
    pub credential: CredentialSpec,
    pub headers: HeaderRules,
    /// In manifest order; the first rule that matches a request decides.
    pub requests: Vec<RequestRule>,
    /// [`BUILTIN_SOURCE`] or the manifest file's path, for messages.
    pub source: String,
}

/// Where the component comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ComponentSource {
    /// `component = "builtin:stripe"`: a component compiled into the host; the name after `builtin:`.
    Builtin(String),
    /// A path relative to the manifest's directory, already joined to it.
    Path(PathBuf),
}

/// What the connector may reach, and how long it may take.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Network {
    pub origins: Vec<Origin>,
    pub timeouts: TimeoutCeilings,
    /// Requests of one connection in flight at once; more wait.
    pub max_in_flight: usize,
    /// The largest response body the host reads; more is an error.
    pub max_response_bytes: u64,
}

impl Network {
    /// The origin allowlist and the timeout ceilings as the host's [`NetworkPolicy`].
    pub fn policy(&self) -> NetworkPolicy {
        let mut policy = NetworkPolicy::new(self.origins.clone());
        policy.timeouts = self.timeouts;
        policy
    }
}

/// Request starts allowed in any 1-second window (see `budget.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Per credential and endpoint (the rule that matched, [`RequestRule::endpoint`]).
    pub per_endpoint: u32,
    /// Per credential overall, test mode.
    pub per_credential_test: u32,
    /// Per credential overall, live mode.
    pub per_credential_live: u32,
}

impl Budget {
    pub fn per_credential(&self, mode: Mode) -> u32 {
        match mode {
            Mode::Test => self.per_credential_test,
            Mode::Live => self.per_credential_live,
        }
    }
}

/// Ceilings for one call of the component.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallLimits {
    /// The longest cache TTL a component may ask for; longer ones are clamped.
    pub cache_ttl_ceiling_seconds: u32,
    /// Rows per upstream request.
    pub page_size: u32,
    /// Upstream rows the connector may read per row it returns (filters it applies itself).
    pub scan_factor: u32,
    pub min_scan_rows: u32,
    /// The most upstream rows one query may read: a list query's scan, or an aggregate's (the
    /// connection's `max-scan`, see [`CallLimits::scan_ceiling`]).
    pub max_scan_rows: u32,
    /// Extra requests allowed for retries, as a share of the pages.
    pub retry_share_percent: u32,
    /// A fixed allowance on top.
    pub extra_requests: u32,
    /// The ceiling for one verify call.
    pub verify_requests: u32,
}

impl CallLimits {
    /// The most upstream requests one query may make when it returns at most `row_target` rows:
    /// scanned = clamp(row_target * scan_factor, min_scan_rows, max_scan_rows).max(row_target);
    /// pages = ceil(scanned / page_size); pages + ceil(pages * retry_share_percent / 100) + extra_requests.
    /// Computed in `u64` and saturated, so no manifest value can overflow it.
    pub fn query_ceiling(&self, row_target: u32) -> u32 {
        let target = u64::from(row_target);
        let scanned = (target * u64::from(self.scan_factor))
            .clamp(
                u64::from(self.min_scan_rows),
                u64::from(self.max_scan_rows.max(self.min_scan_rows)),
            )
            .max(target);
        self.ceiling_for(scanned)
    }

    /// The most upstream requests one query may make when it reads up to `scan_rows` rows itself (an
    /// aggregate of a connection whose `max-scan` is `scan_rows`): scanned = min(scan_rows,
    /// max_scan_rows), then pages, retries and the allowance as in [`CallLimits::query_ceiling`]. 0 rows:
    /// the allowance alone.
    pub fn scan_ceiling(&self, scan_rows: u32) -> u32 {
        self.ceiling_for(u64::from(scan_rows.min(self.max_scan_rows)))
    }

    fn ceiling_for(&self, scanned: u64) -> u32 {
        let pages = scanned.div_ceil(u64::from(self.page_size.max(1)));
        let retries = (pages * u64::from(self.retry_share_percent)).div_ceil(100);
        let total = pages + retries + u64::from(self.extra_requests);
        u32::try_from(total).unwrap_or(u32::MAX)
    }
}

/// Which credential the connector uses and how the host sends it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialSpec {
    /// The environment variable the credential is read from, `[A-Z][A-Z0-9_]*`.
    pub env: String,
    /// The header the host attaches it in, lower-case; the guest may never set it.
    pub header: String,
    /// Written before the credential (`Bearer`); empty: the header value is the credential alone.
    pub scheme: String,
    pub test_prefix: String,
    pub live_prefix: String,
    /// The shortest credential accepted, prefix included.
    pub min_length: usize,
    /// The start of a credential's body (after its mode prefix) that names the account rather than
    /// holding its secret, where the connector's keys have one; none: the whole credential is secret.
    pub account_name: Option<AccountName>,
    /// Where the user changes what a credential may do, as one sentence that setup's permission
    /// messages go on from (`… edit the restricted key: set Invoices to Read`); none: "where the
    /// credential was created".
    pub manage: Option<String>,
    pub refused: Vec<RefusedPrefix>,
}

/// The start of a credential's body that names its account (`credential.account_name`). A Stripe key's
/// body starts with `5` and the 16 characters of its account's id after `acct_` (acct_1PgafTB7WZ01zgkW's
/// keys are `rk_live_51PgafTB7WZ01zgkW…`), and the ids of that account's charges, invoices, subscriptions
/// and payouts repeat its last 10: redaction, which takes any 12 characters of the credential for the
/// credential, would otherwise take one such id in ~1,300 for the key. A body is of that kind when it
/// starts with `starts_with` and at least [`crate::credential::MIN_SECRET_AFTER_NAME`] characters
/// follow the name; then only what follows is looked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountName {
    /// What a body that names its account starts with (`51`); a body that does not is secret whole.
    pub starts_with: String,
    /// How many characters of the body, from its start, name the account (17).
    pub length: usize,
}

/// A credential prefix refused outright, with the error kind and message the user sees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefusedPrefix {
    pub prefix: String,
    pub kind: RefusalKind,
    pub message: String,
}

/// Header names the guest may set, lower-case. The host adds the pinned ones itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeaderRules {
    /// (name, value): the guest may leave them out or send exactly this value.
    pub pinned: Vec<(String, String)>,
    pub allowed: Vec<String>,
    /// Named so a denial can say the manifest refuses them on purpose.
    pub refused: Vec<String>,
}

impl HeaderRules {
    /// The pinned value of `name`, if it is pinned.
    pub fn pinned_value(&self, name: &str) -> Option<&str> {
        self.pinned
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// When a rule applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum During {
    /// `during = "always"` (the default): queries and verification.
    Always,
    /// `during = "verify"`: only while the connector verifies a credential (setup's probes).
    Verify,
}

/// One kind of request the connector may make.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRule {
    /// Upper-case standard method: GET, POST, DELETE, PUT, PATCH or HEAD.
    pub method: String,
    pub path: PathTemplate,
    /// The query parameter names allowed (percent-decoded), in manifest order.
    pub query: Vec<String>,
    pub during: During,
    /// Whether a request body is allowed; without one a non-zero Content-Length is denied.
    pub body: bool,
    /// Set for a write probe of setup (`during = "verify"` only): see [`WriteProbe`].
    pub probe: Option<WriteProbe>,
    /// Set for a rule that reads a resource setup must prove readable (`reads = "customers"`, `GET`
    /// only): setup passes only if, during the verification, a request under the rule got a success —
    /// the host checks this itself, whatever the component reports (`crate::probes::judge_reads`).
    pub reads: Option<String>,
}

/// A rule that is one of setup's write probes (`probe = { resource = "customers", refused = [403] }`):
/// setup passes only if, during the verification, a request under the rule was sent and the upstream
/// refused it with one of `refused` — the host checks this itself, whatever the component reports
/// (`crate::probes`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteProbe {
    /// What a credential that is not refused can write, as setup names it (an identifier).
    pub resource: String,
    /// The statuses that mean "this credential may not write here" (4xx, never 429).
    pub refused: Vec<u16>,
    /// Who sends it (`sent_by`).
    pub sent_by: ProbeSender,
}

/// Who sends a write probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeSender {
    /// `sent_by = "component"` (the default): the connector, during its verification, with ids it makes
    /// up within the rule's `params`.
    Component,
    /// `sent_by = "host"`: the host itself, as the rule's literal path names it, after the component's
    /// verification — for a resource the connector never touches, whose write access a credential should
    /// not have either (Stripe's refunds, transfers, webhook endpoints, …). A component cannot leave
    /// such a probe out.
    Host,
}

impl RequestRule {
    /// `GET /v1/customers`: the budget's unit and how denials name a rule.
    pub fn endpoint(&self) -> String {
        format!("{} {}", self.method, self.path.as_str())
    }

    /// The rule's write probe, when the host sends it itself (`sent_by = "host"`).
    pub fn host_probe(&self) -> Option<&WriteProbe> {
        self.probe
            .as_ref()
            .filter(|p| p.sent_by == ProbeSender::Host)
    }
}

/// A path template: `/`-separated segments, each a literal or a `{name}` parameter whose values must
/// match an anchored regular expression from the rule's `params`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathTemplate {
    text: String,
    segments: Vec<Segment>,
}

#[derive(Clone, Debug)]
pub(crate) enum Segment {
    Literal(String),
    /// `pattern` is anchored: `^(?:…)$`.
    Param {
        name: String,
        pattern: Regex,
    },
}

impl PartialEq for Segment {
    fn eq(&self, other: &Segment) -> bool {
        match (self, other) {
            (Segment::Literal(a), Segment::Literal(b)) => a == b,
            (
                Segment::Param { name, pattern },
                Segment::Param {
                    name: n2,
                    pattern: p2,
                },
            ) => name == n2 && pattern.as_str() == p2.as_str(),
            _ => false,
        }
    }
}

impl Eq for Segment {}

impl PathTemplate {
    /// As written in the manifest: `/v1/customers/{id}`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the segments of a canonical path (split on `/`, without the leading empty one) match:
    /// same count, literals equal, each parameter's anchored pattern matches its segment.
    pub fn matches(&self, segments: &[&str]) -> bool {
        segments.len() == self.segments.len()
            && self
                .segments
                .iter()
                .zip(segments)
                .all(|(template, actual)| match template {
                    Segment::Literal(l) => l == actual,
                    Segment::Param { pattern, .. } => pattern.is_match(actual),
                })
    }

    /// The path itself, when it has no parameter: the one path it allows.
    pub fn literal(&self) -> Option<&str> {
        self.segments
            .iter()
            .all(|s| matches!(s, Segment::Literal(_)))
            .then_some(self.text.as_str())
    }

    /// (name, anchored pattern) of each parameter, in path order.
    pub fn params(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.segments.iter().filter_map(|s| match s {
            Segment::Param { name, pattern } => Some((name.as_str(), pattern.as_str())),
            Segment::Literal(_) => None,
        })
    }

    pub(crate) fn segments(&self) -> &[Segment] {
        &self.segments
    }
}

impl fmt::Display for PathTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A manifest that cannot be used: which manifest, which field, what is wrong and what to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestError {
    /// [`BUILTIN_SOURCE`] or the manifest file's path.
    pub manifest: String,
    /// `requests[3].path`; empty when the problem is the file itself (unreadable, not TOML).
    pub field: String,
    /// What is wrong and what to write instead.
    pub problem: String,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "connector manifest {}: {}", self.manifest, self.problem)
        } else if self.field.len() <= 200
            && self
                .field
                .bytes()
                .all(|b| (0x20..0x7f).contains(&b) && b != b'`')
        {
            write!(
                f,
                "connector manifest {}: `{}`: {}",
                self.manifest, self.field, self.problem
            )
        } else {
            // A key of the manifest's own spelling (an unknown one, a pinned header's name): quoted,
            // escaped and capped, as the manifest's values are (review: raw and uncapped).
            write!(
                f,
                "connector manifest {}: {}: {}",
                self.manifest,
                validate::show(&self.field),
                self.problem
            )
        }
    }
}

impl std::error::Error for ManifestError {}

impl Manifest {
    /// Parse and validate manifest `text`. `source` names it in errors; `manifest_dir` is where a
    /// component path is resolved (`None`: only `builtin:` components are possible).
    pub fn parse(
        text: &str,
        source: &str,
        manifest_dir: Option<&Path>,
    ) -> Result<Manifest, ManifestError> {
        let deserializer = toml::de::Deserializer::parse(text)
            .map_err(|e| validate::toml_error(source, text, "", &e))?;
        let raw: raw::RawManifest =
            serde_path_to_error::deserialize(deserializer).map_err(|e| {
                let path = e.path();
                let field = if path.iter().next().is_none() {
                    String::new()
                } else {
                    path.to_string()
                };
                validate::toml_error(source, text, &field, e.inner())
            })?;
        validate::manifest(raw, source, manifest_dir)
    }

    /// Read and parse the manifest file at `path`; a component path in it is relative to its directory.
    pub fn load(path: &Path) -> Result<Manifest, ManifestError> {
        let source = path.display().to_string();
        let fail = |problem: String| ManifestError {
            manifest: source.clone(),
            field: String::new(),
            problem,
        };
        let bytes = crate::bounded_file::read_regular_file(path, MAX_MANIFEST_BYTES).map_err(|e| {
            use crate::bounded_file::BoundedReadError;
            match e {
                BoundedReadError::Io(e) => fail(format!(
                    "cannot read the file ({e}): check the path and its permissions"
                )),
                BoundedReadError::NotAFile => {
                    fail("is not a file: give the path of a .toml manifest".into())
                }
                BoundedReadError::TooLarge { at_least } => fail(format!(
                    "is {at_least} bytes or more; a manifest has at most {MAX_MANIFEST_BYTES}: check that \
                     this is the right file"
                )),
            }
        })?;
        let text = String::from_utf8(bytes)
            .map_err(|_| fail("is not UTF-8 text: a manifest is a TOML text file".into()))?;
        Manifest::parse(&text, &source, Some(path.parent().unwrap_or(Path::new(""))))
    }

    /// The key prefixes a manifest's `text` names under `[credential]` (`test_prefix`, `live_prefix`,
    /// each refused `prefix`), read leniently from a manifest that may not validate: the errors about it
    /// can then hide what looks like its own keys (review: a ledger key pasted as `credential.env` was
    /// quoted back, its manifest's prefixes unknown because that manifest was the one failing).
    pub fn key_prefixes_in(text: &str) -> Vec<String> {
        let Ok(table) = toml::from_str::<toml::Table>(text) else {
            return Vec::new();
        };
        let Some(credential) = table.get("credential").and_then(toml::Value::as_table) else {
            return Vec::new();
        };
        let refused = credential
            .get("refused")
            .and_then(toml::Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|r| r.get("prefix"));
        [credential.get("test_prefix"), credential.get("live_prefix")]
            .into_iter()
            .flatten()
            .chain(refused)
            .filter_map(toml::Value::as_str)
            .filter(|p| {
                !p.is_empty()
                    && p.len() <= 32
                    && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            })
            .map(str::to_owned)
            .collect()
    }

    /// The built-in Stripe manifest, `host-test/connectors/stripe.toml`, parsed once.
    pub fn stripe() -> Manifest {
        static STRIPE: OnceLock<Manifest> = OnceLock::new();
        STRIPE
            .get_or_init(|| {
                Manifest::parse(STRIPE_TOML, BUILTIN_SOURCE, None)
                    // Not input: the file is compiled in, and `tests::builtin_stripe_manifest` parses it.
                    .expect("host-test/connectors/stripe.toml is valid (tested)")
            })
            .clone()
    }

    /// The rule an endpoint string (`GET /v1/customers`, from [`RequestRule::endpoint`]) names.
    pub fn rule_for_endpoint(&self, endpoint: &str) -> Option<&RequestRule> {
        self.requests.iter().find(|r| r.endpoint() == endpoint)
    }
}

/// The text of the built-in Stripe manifest.
pub const STRIPE_TOML: &str = include_str!("../../connectors/stripe.toml");

#[cfg(test)]
mod tests;
