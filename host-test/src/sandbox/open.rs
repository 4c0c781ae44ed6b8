//! Opening a connection: its settings (max-rows, max-scan) refused before any credential is looked at,
//! the manifest's credential rules, the component's own check of the credential in a throwaway
//! instance given only the key's form, and `open` in a fresh instance that never holds the key — the
//! whole opening under one call deadline.

use super::hooks::{ConnectionCredential, Refusals};
use super::instance::redact_error;
use super::{
    returned, wit, Connection, ConnectionConfig, ConnectorFailure, Sandbox, SandboxError,
    ROW_TARGET_LIMIT,
};
use klairr_policy::credential::Mode as PolicyMode;
use klairr_policy::redact::SecretRuns;
use klairr_policy::request_rules::Phase;
use std::sync::Arc;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// Why a connection's max-rows `n` cannot be used with connector `name` (described as `info`, the
/// host's view: at most [`ROW_TARGET_LIMIT`]), if it cannot; `None` when it can. Worded for the
/// setting's own name in front (`--max-rows`, serve's `max_rows`).
pub fn max_rows_refusal(info: &wit::ConnectorInfo, name: &str, n: u32) -> Option<String> {
    let limit = info.max_rows_limit.min(ROW_TARGET_LIMIT);
    (n == 0 || n > limit)
        .then(|| format!("must be 1 to {limit} for connector {name} (describe's max_rows_limit)"))
}

/// Why a connection's max-scan of `n` does not suit connector `name`, as the end of a sentence the caller
/// begins with its own name for the setting (`--max-scan`, `serve`'s `max_scan`); `None` when it does.
/// The connector's catalogue says whether it answers aggregates and how many rows one may read.
pub fn max_scan_refusal(info: &wit::ConnectorInfo, name: &str, n: u32) -> Option<String> {
    match &info.aggregates {
        None => Some(format!(
            "bounds aggregate queries, which connector {name}'s component does not answer (its describe lists no aggregates): leave it out"
        )),
        Some(a) if n == 0 || n > a.max_scan_limit => Some(format!(
            "must be 1 to {} for connector {name} (describe's max_scan_limit: the component's most, or \
             its manifest's [calls] max_scan_rows where that is lower)",
            a.max_scan_limit
        )),
        Some(_) => None,
    }
}

/// An opening that failed: why, and the requests its component tried meanwhile that the policy
/// refused (none may leave while a credential is checked or a connection opened).
#[derive(Debug)]
pub struct OpenFailure {
    pub error: SandboxError,
    refused: Refusals,
}

impl OpenFailure {
    /// The log lines of the refused requests, as a connection's ([`Connection::denial_log`]).
    pub fn denial_log(&self, connector: &str) -> Vec<String> {
        self.refused.lines(connector)
    }

    /// How many requests were refused.
    pub fn denied(&self) -> u64 {
        self.refused.total()
    }
}

impl From<OpenFailure> for SandboxError {
    fn from(failed: OpenFailure) -> SandboxError {
        failed.error
    }
}

impl Sandbox {
    /// Open a connection: the manifest's credential rules, the component's own offline check in a
    /// throwaway instance, the host's verdict, then `open` in a fresh instance without the credential.
    pub fn open(&self, config: &ConnectionConfig) -> Result<Connection, SandboxError> {
        self.open_until(config, &CancellationToken::new())
    }

    /// [`Sandbox::open`], stopped with [`SandboxError::Cancelled`] once `stop` is cancelled, in whichever
    /// of its calls it is (instantiating, the credential's check, `open`): `serve` passes the token of
    /// the query or setup that needs the instance, so that closing the connection or hanging up stops
    /// a component spinning there too. The connection's calls stop with `stop` until
    /// [`Connection::cancel_with`] gives them another token.
    pub fn open_until(
        &self,
        config: &ConnectionConfig,
        stop: &CancellationToken,
    ) -> Result<Connection, SandboxError> {
        self.open_reporting(config, stop)
            .map_err(|failed| failed.error)
    }

    /// [`Sandbox::open_until`], and when the opening fails, what its component tried meanwhile that the
    /// policy refused ([`OpenFailure`]): the CLI and `serve` log and count those as a connection's (a
    /// component must not hide its attempts by failing the check it makes them in). An opening that
    /// succeeds hands them to the connection, whose log and count include them.
    pub fn open_reporting(
        &self,
        config: &ConnectionConfig,
        stop: &CancellationToken,
    ) -> Result<Connection, OpenFailure> {
        let mut refused = Refusals::default();
        self.open_collecting(config, stop, &mut refused)
            .map_err(|error| OpenFailure { error, refused })
    }

    /// Open, moving into `refused` the refusals of every instance dropped on the way.
    fn open_collecting(
        &self,
        config: &ConnectionConfig,
        stop: &CancellationToken,
        refused: &mut Refusals,
    ) -> Result<Connection, SandboxError> {
        // One deadline for the whole opening — the sandbox's first `describe`, two instances made, the
        // credential's check, `open` — as for any one call: a component slow in each of them never
        // holds a setup (or `serve`'s reopening before a query) for several `--call-timeout`s.
        let by = Instant::now() + self.limits.call_timeout;
        self.info_until(stop, by)?;
        // The connection's settings first: refused the same whatever the credential (QA got
        // `invalid-key` for a `--max-scan` the connector could never take, with a short key).
        let row_target = self.row_target(config.max_rows)?;
        let scan_rows = self.scan_rows(config.max_scan)?;
        let spec = &self.manifest.credential;
        if let Some(refusal) = spec.refused_given(&config.credential, config.credential_given) {
            return Err(SandboxError::Credential(refusal));
        }
        let mode = policy_mode(config.mode);
        // Accepted (and its runs indexed) first, refused only after the component's own check, so that
        // the component's message comes first either way; the runs are indexed once (~0.6 ms).
        let accepted = spec.accept_given(&config.credential, mode, config.credential_given);
        let refused_runs;
        let runs = match &accepted {
            Ok(credential) => credential.runs(),
            Err(_) => {
                // A bare `rk_test_` holds no secret: masking it would mask the advice that names it;
                // nor does a value too short to be a key (`SecretRuns::of_given`).
                refused_runs = Some(&config.credential)
                    .filter(|given| !spec.is_bare_prefix(given))
                    .and_then(|given| SecretRuns::of_given(given))
                    .unwrap_or_else(|| SecretRuns::new(""));
                &refused_runs
            }
        };
        self.check_credential(&config.credential, config.mode, runs, stop, by, refused)?;
        let credential = accepted.map_err(SandboxError::Credential)?;

        let fingerprint = self.shared.fingerprinter().fingerprint(
            &self.manifest.name,
            mode.as_str(),
            credential.expose(),
        );
        let guest_config = wit::Config {
            mode: config.mode,
            credential_hint: credential.hint().to_owned(),
            max_rows: config.max_rows,
            cache_ttl_seconds: config.cache_ttl_seconds,
            // The bound the host holds the connection to, given or the default (which may be the
            // manifest's, below the component's own).
            max_scan: (scan_rows > 0).then_some(scan_rows),
        };
        // The budget's and the gates' key: the account the key names, where it names one (a name no
        // connector has: Stripe counts its limits per account and mode, whichever of its keys is used,
        // so two keys of one account spend one budget), else the credential alone (an empty name,
        // which no connector has either), so a key given to two connectors is held to one budget where
        // they share gates (`serve`).
        let budget_id = match credential.account() {
            Some(account) => {
                self.shared
                    .fingerprinter()
                    .fingerprint("@account", mode.as_str(), account)
            }
            None => self
                .shared
                .fingerprinter()
                .fingerprint("", mode.as_str(), credential.expose()),
        }
        .bytes();
        let attached = Arc::new(ConnectionCredential {
            credential,
            id: budget_id,
        });
        let mut instance = self.instantiate(Some(attached.clone()), stop, by)?;
        let plugin = instance.plugin()?;
        instance
            .store
            .data_mut()
            .hooks
            .take_over_denials(std::mem::take(refused));
        let opened = instance.call(Phase::Offline, 0, move |store| {
            Box::pin(async move {
                plugin
                    .klairr_connector_connector()
                    .connection()
                    .call_open(store, &guest_config)
                    .await
            })
        });
        let opened = opened
            .map_err(|e| redact_error(e, attached.runs()))
            .and_then(|opened| {
                opened.map_err(|e| {
                    SandboxError::Connector(ConnectorFailure(returned::check_error(
                        e,
                        Some(attached.runs()),
                    )))
                })
            });
        let handle = match opened {
            Ok(handle) => handle,
            Err(e) => {
                // The check's refusals, taken over, and `open`'s own: all the opening's.
                *refused = instance.store.data_mut().hooks.take_denials();
                return Err(e);
            }
        };
        let catalogue = match self.catalogue_names() {
            Ok(catalogue) => catalogue,
            Err(e) => {
                *refused = instance.store.data_mut().hooks.take_denials();
                return Err(e);
            }
        };
        // Opened: each later call has a `--call-timeout` of its own.
        instance.opened_by = None;
        let ttl_ceiling = self
            .manifest
            .calls
            .cache_ttl_ceiling_seconds
            .min(config.cache_ttl_seconds.unwrap_or(u32::MAX));
        Ok(Connection {
            instance,
            handle,
            credential: attached,
            fingerprint,
            row_target,
            scan_rows,
            ttl_ceiling,
            manifest: self.manifest.clone(),
            catalogue,
        })
    }

    /// The component's verdict on the credential, from an instance that can make no request and is
    /// dropped right after: only the verdict (redacted) and its refusals (returned, for the connection's
    /// instance to take over) leave it. The instance is given the credential's
    /// form (`CredentialSpec::form`), never the credential: the verdict is the same, and a
    /// component can smuggle out nothing it never held.
    /// Its refusals go into `refused` whatever the verdict: a component failing the check does not
    /// hide what it tried there.
    fn check_credential(
        &self,
        credential: &str,
        mode: wit::Mode,
        runs: &SecretRuns,
        stop: &CancellationToken,
        by: Instant,
        refused: &mut Refusals,
    ) -> Result<(), SandboxError> {
        let mut instance = self.instantiate(None, stop, by)?;
        let plugin = instance.plugin()?;
        let trimmed = self.manifest.credential.form(credential.trim());
        let verdict = instance.call(Phase::Offline, 0, move |store| {
            Box::pin(async move {
                plugin
                    .klairr_connector_connector()
                    .call_check_credential(store, &trimmed, mode)
                    .await
            })
        });
        // Dropped here, whatever it holds (up to a store's memory): only its refusals go on.
        refused.absorb(instance.store.data_mut().hooks.take_denials());
        drop(instance);
        verdict.map_err(|e| redact_error(e, runs))?.map_err(|e| {
            SandboxError::Connector(ConnectorFailure(returned::check_error(e, Some(runs))))
        })
    }

    /// The rows one query may return: the connection's max-rows, else the catalogue's default. A max-rows
    /// the connector cannot take is refused (`serve` refuses it first, naming its own field).
    fn row_target(&self, max_rows: Option<u32>) -> Result<u32, SandboxError> {
        let info = self.info()?;
        let Some(n) = max_rows else {
            return Ok(info.default_max_rows.clamp(1, ROW_TARGET_LIMIT));
        };
        match max_rows_refusal(info, &self.manifest.name, n) {
            Some(why) => Err(SandboxError::Setting(format!("--max-rows {why}"))),
            None => Ok(n),
        }
    }

    /// The settings of a connection (`--max-rows`, `--max-scan`) refused as [`Sandbox::open`] refuses
    /// them, before any credential is looked at: the same mistake is named whatever the key.
    pub fn check_settings(
        &self,
        max_rows: Option<u32>,
        max_scan: Option<u32>,
    ) -> Result<(), SandboxError> {
        self.row_target(max_rows)?;
        self.scan_rows(max_scan)?;
        Ok(())
    }

    /// `config` for a connection carried over to this version (`serve`'s hot swap), which was checked
    /// against the version it was opened on: a max-rows or a max-scan above this one's limit is lowered
    /// to it, and a max-scan dropped when this one answers no aggregates — as a cache TTL above a
    /// lowered ceiling is clamped — rather than fail every later call of the connection.
    pub fn carried_over(
        &self,
        config: &ConnectionConfig,
    ) -> Result<ConnectionConfig, SandboxError> {
        let info = self.info()?;
        let rows_limit = info.max_rows_limit.min(ROW_TARGET_LIMIT);
        let scan_limit = info.aggregates.as_ref().map(|a| a.max_scan_limit);
        Ok(ConnectionConfig {
            max_rows: config.max_rows.map(|n| n.min(rows_limit)),
            max_scan: config.max_scan.and_then(|n| scan_limit.map(|l| n.min(l))),
            ..config.clone()
        })
    }

    /// The rows one aggregate may read: the connection's max-scan, else the catalogue's default; 0 for a
    /// connector that computes no aggregates. The request ceiling is derived from it too. A max-scan
    /// the connector cannot use is refused (`serve` refuses it first, naming its own field).
    fn scan_rows(&self, max_scan: Option<u32>) -> Result<u32, SandboxError> {
        let info = self.info()?;
        let Some(n) = max_scan else {
            return Ok(info.aggregates.as_ref().map_or(0, |a| a.default_max_scan));
        };
        match max_scan_refusal(info, &self.manifest.name, n) {
            Some(why) => Err(SandboxError::Setting(format!("--max-scan {why}"))),
            None => Ok(n),
        }
    }
}

fn policy_mode(mode: wit::Mode) -> PolicyMode {
    match mode {
        wit::Mode::Live => PolicyMode::Live,
        wit::Mode::Test => PolicyMode::Test,
    }
}

#[cfg(test)]
mod tests {
    use klairr_policy::credential::form;
    use klairr_stripe::key::{ApiKey, Mode};

    /// The Stripe component's offline check gives the same verdict — the same kind and the same
    /// message — on a credential's form as on the credential, over every shape a pasted key takes:
    /// each prefix, bodies short and long, odd characters anywhere. So handing it the form costs
    /// nothing in what the user is told.
    #[test]
    fn the_stripe_check_judges_a_credentials_form_as_it_judges_the_credential() {
        const PREFIXES: &[&str] = &[
            "",
            "rk_test_",
            "rk_live_",
            "sk_live_",
            "sk_test_",
            "sk_",
            "pk_test_",
            "whsec_",
            "rk_",
            "rk_tes",
            "rk_test",
            "RK_TEST_",
            "rk_test_rk_live_",
        ];
        const BODY: &[u8] = b"abcxyzABCXYZ0189_ '\"-\n\t";
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let prefix = PREFIXES[(next() % PREFIXES.len() as u64) as usize];
            let len = (next() % 40) as usize;
            // One in two bodies of letters and digits only: keys that pass, or fail on length or mode.
            let alphabet = if next() % 2 == 0 { &BODY[..16] } else { BODY };
            let mut credential = String::from(prefix);
            for _ in 0..len {
                credential.push(char::from(
                    alphabet[(next() % alphabet.len() as u64) as usize],
                ));
            }
            if next() % 16 == 0 {
                credential.push('é');
            }
            let credential = credential.trim();
            for mode in [Mode::Test, Mode::Live] {
                assert_eq!(
                    ApiKey::parse(&form(credential), mode).map(|k| k.mode()),
                    ApiKey::parse(credential, mode).map(|k| k.mode()),
                    "{credential:?} in {mode:?} mode"
                );
            }
        }
    }
}
