//! Everything that can go wrong around a connector, as the host reports it. Every message is safe to
//! print: what a component returns is redacted and capped before it is wrapped here (see
//! [`crate::returned`]), and the host's own messages never quote a credential.

use super::permissions::PermissionFailure;
use super::wit;
use klairr_policy::credential::Refusal;

/// Why a call into a connector did not give a result.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The host could not prepare to run components (its engine, runtime or pool).
    #[error("could not load the connector component: {0}")]
    Load(String),
    /// The bytes are not a component this host can compile, or it cannot be linked against the imports
    /// the host provides.
    #[error("could not load the connector component: {0}")]
    InvalidComponent(String),
    /// A setting the caller chose cannot be used: a compile cache directory that is not safe or not
    /// usable. The message says what to change.
    #[error("{0}")]
    Setting(String),
    /// It imports interfaces a connector may not use.
    #[error("the component imports {}, which connectors may not use (allowed: {})", .0.join(", "), super::linker::allowed_imports())]
    ForbiddenImports(Vec<String>),
    /// It exports the connector interface of another contract version.
    #[error("the component was built against {found}, but this host speaks {expected}: rebuild the connector against wit/connector-0.2.0")]
    ContractVersion { found: String, expected: String },
    /// It exports no connector interface at all.
    #[error("the component does not export {0}: it is not a Klairr connector")]
    NotAConnector(String),
    /// The host refused the credential itself (its manifest's rules), before or after the component's check.
    #[error("{0}")]
    Credential(Refusal),
    /// The host process ran out of something the operating system gives it while setting up or running
    /// a connector (its memory as a file: a file-size limit, `ulimit -f`, or no shared memory left):
    /// the host's limit, not the connector's doing.
    #[error("the host could not run the connector: {0}; a limit of the host process ran out (its file-size limit, ulimit -f, which the connector's memory counts against, or shared memory), not the connector")]
    HostResources(String),
    /// The component trapped: a panic, a stack overflow, a memory or table limit, an output flood.
    #[error("the connector crashed or hit a sandbox limit: {0}")]
    Trap(String),
    /// The call ran past its deadline (waiting in the host included); the instance was discarded.
    #[error("the connector did not finish within the call deadline of {seconds} s; the call was stopped and its instance discarded (the host's --call-timeout sets it)")]
    Deadline { seconds: u64 },
    /// The call tried to make more upstream requests than it can need (for a query: the pages of its row
    /// target plus retries).
    #[error("the connector asked for more than {ceiling} request{} for {call}, the most its manifest's [calls] allow (pages of page_size rows, plus retries), and was stopped: narrow the query (fewer rows, or a narrower filter), or, in a manifest of your own, check that page_size is the rows the connector gets per request and raise its [calls] limits if it needs more (scan_factor, min_scan_rows and max_scan_rows size the pages a query may read; retry_share_percent and extra_requests the margin on top)", if *ceiling == 1 { "" } else { "s" })]
    RequestCeiling { ceiling: u32, call: String },
    /// The call failed with a network error after the host's policy refused one of its requests: the
    /// refusal, not the network, is why (`reason` is the host's log line, redacted).
    #[error("the host's policy refused a request of this call, so it failed: {reason}")]
    RequestDenied { reason: String },
    /// Setup's verification reported success, but the host saw no refusal of these write probes, or no
    /// successful read of these resources (each with what it got): nothing proves what setup must.
    #[error("setup cannot pass: the host saw {}, so nothing proves the credential cannot write or can read there (the connector reported success without it); try setup again, and if it persists the connector is at fault", .0.join("; "))]
    SetupUnproven(Vec<String>),
    /// The manifest's `reads` rules name these, which are no table of the component's catalogue: setup
    /// cannot prove what it is meant to. `setup` fails so; `serve` refuses such a version at start and
    /// reload, since each of its connections begins with setup.
    #[error("the manifest's reads = {} names no table of this component (its tables: {}), so setup cannot pass: write the name of the table each rule reads, or load the component the manifest is for", .reads.iter().map(|r| format!("{r:?}")).collect::<Vec<_>>().join(", "), .tables.join(", "))]
    ReadsNoTable {
        /// The `reads` that name no table.
        reads: Vec<String>,
        /// The component's tables.
        tables: Vec<String>,
    },
    /// The component returned something that breaks the contract (wrong types, too many rows, …).
    #[error("the connector returned a malformed result: {0}")]
    Malformed(String),
    /// The connection was closed while the call ran (`serve`'s `DELETE /v1/connections/ID`): the call
    /// was stopped and its instance discarded.
    #[error("the connection was closed while this call ran: the call was stopped")]
    Cancelled,
    /// A previous trap or deadline discarded this connection's instance.
    #[error(
        "this connection's instance was discarded after an earlier failure: open a new connection"
    )]
    Discarded,
    /// The connector's own typed error (redacted and capped by the host).
    #[error("{0}")]
    Connector(ConnectorFailure),
    /// The credential can write, or cannot read what the connector needs, or both: told as what to
    /// change, and where when the connector's manifest says (`manage`, its `credential.manage`).
    #[error("{}", .failure.text(.manage.as_deref()))]
    Permissions {
        /// Boxed: the lists would make every `SandboxError` (every call's result) larger.
        failure: Box<PermissionFailure>,
        manage: Option<String>,
    },
}

impl SandboxError {
    /// The stable kind name the CLI and JSON output use.
    pub fn kind(&self) -> &'static str {
        match self {
            SandboxError::Connector(f) => f.kind(),
            SandboxError::Permissions { failure, .. } => failure.kind(),
            SandboxError::Credential(r) => r.kind.as_str(),
            // The caller's own setting (the CLI's `--compile-cache`, `KLAIRR_CACHE_DIR`): exit 2.
            SandboxError::Setting(_) => "usage",
            // A component that cannot be used, whatever it would do: the configuration's failure.
            SandboxError::InvalidComponent(_)
            | SandboxError::ReadsNoTable { .. }
            | SandboxError::ForbiddenImports(_)
            | SandboxError::ContractVersion { .. }
            | SandboxError::NotAConnector(_) => "connector-config",
            SandboxError::RequestDenied { .. } => "request-denied",
            SandboxError::Cancelled => "connection-closed",
            // Told apart from a trap: the same call may pass with a longer `--call-timeout` (or a
            // later retry), which no trap does; `serve` answers it 504.
            SandboxError::Deadline { .. } => "deadline",
            SandboxError::Load(_)
            | SandboxError::HostResources(_)
            | SandboxError::Trap(_)
            | SandboxError::RequestCeiling { .. }
            | SandboxError::Malformed(_)
            | SandboxError::SetupUnproven(_)
            | SandboxError::Discarded => "sandbox",
        }
    }
}

/// The kinds that mean the caller's input was refused — the key or the query — rather than that
/// something failed: the CLI exits 2 for them (README, "CLI"). Names as [`ConnectorFailure::kind`]
/// gives them.
pub const REFUSALS: &[&str] = &[
    "secret-key-rejected",
    "invalid-key",
    "mode-mismatch",
    "over-permissioned",
    "missing-permission",
    "invalid-query",
];

/// A `connector-error` returned by the guest, with its stable kind name.
#[derive(Debug, Clone)]
pub struct ConnectorFailure(pub wit::ConnectorError);

impl ConnectorFailure {
    pub fn kind(&self) -> &'static str {
        use wit::ConnectorError as E;
        match &self.0 {
            E::SecretKeyRejected(_) => "secret-key-rejected",
            E::InvalidKey(_) => "invalid-key",
            E::ModeMismatch(_) => "mode-mismatch",
            E::OverPermissioned(_) => "over-permissioned",
            E::MissingPermission(_) => "missing-permission",
            E::InvalidQuery(_) => "invalid-query",
            E::RateLimited(_) => "rate-limited",
            E::Upstream(_) => "upstream",
            E::Network(_) => "network",
        }
    }
}

impl std::fmt::Display for ConnectorFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use wit::ConnectorError as E;
        let upstream = |f: &mut std::fmt::Formatter<'_>, prefix: &str, u: &wit::UpstreamError| {
            write!(f, "{prefix}{}", u.message)?;
            let mut details = Vec::new();
            if let Some(s) = u.status {
                details.push(format!("HTTP {s}"));
            }
            if let Some(c) = &u.code {
                details.push(format!("code {c}"));
            }
            if let Some(r) = &u.request_id {
                details.push(format!("request {r}"));
            }
            if !details.is_empty() {
                write!(f, " ({})", details.join(", "))?;
            }
            Ok(())
        };
        match &self.0 {
            E::SecretKeyRejected(m)
            | E::InvalidKey(m)
            | E::ModeMismatch(m)
            | E::InvalidQuery(m) => f.write_str(m),
            // The connector has retried what it may; what is left is the way to the source (QA: the
            // message said what failed, not what to do).
            E::Network(m) => {
                f.write_str(m)?;
                f.write_str(
                    "; the source could not be reached or did not answer in time: check this \
                     machine's network (a proxy, a firewall, any --redirect), then try again",
                )
            }
            E::OverPermissioned(_) | E::MissingPermission(_) => f.write_str(
                &PermissionFailure::of(&self.0)
                    .unwrap_or_default()
                    .text(None),
            ),
            // The connector has already retried what the source let it retry (Stripe's: up to 5
            // attempts; none when Stripe said `Stripe-Should-Retry: false`): what helps now is time.
            E::RateLimited(u) => {
                upstream(f, "rate limited: ", u)?;
                f.write_str("; the source is refusing requests for now and the connector has retried those it may: try again later")
            }
            E::Upstream(u) => upstream(f, "", u),
        }
    }
}

#[cfg(test)]
mod refusal_tests {
    use super::*;

    #[test]
    fn refusals_are_the_key_and_query_kinds() {
        use wit::ConnectorError as E;
        let refused = |e: E| REFUSALS.contains(&ConnectorFailure(e).kind());
        assert!(refused(E::InvalidKey(String::new())));
        assert!(refused(E::InvalidQuery(String::new())));
        assert!(refused(E::SecretKeyRejected(String::new())));
        assert!(refused(E::ModeMismatch(String::new())));
        assert!(refused(E::OverPermissioned(vec![])));
        assert!(refused(E::MissingPermission(vec![])));
        assert!(!refused(E::Network(String::new())));
    }
}
