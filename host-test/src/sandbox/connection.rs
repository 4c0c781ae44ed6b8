//! An open connection: calls into its instance (verify, canonical-query, query) with the manifest's
//! phase and request ceiling, and what comes back checked and redacted before anyone sees it.

use super::caller_text;
use super::error::{ConnectorFailure, SandboxError};
use super::hooks::{self, ConnectionCredential};
use super::host_probes;
use super::instance::{redact_error, Instance};
use super::permissions::PermissionFailure;
use super::wit;
use crate::cache::Fingerprint;
use crate::returned;
use klairr_policy::manifest::Manifest;
use klairr_policy::probes::{self, ProbeVerdict, ReadVerdict};
use klairr_policy::redact::CallerWrote;
use klairr_policy::request_rules::Phase;
use std::sync::Arc;
use wasmtime::component::ResourceAny;

/// One open connection: its own store, instance and `connection` resource, and the credential the host
/// attaches to its requests.
pub struct Connection {
    pub(super) instance: Instance,
    pub(super) handle: ResourceAny,
    pub(super) credential: Arc<ConnectionCredential>,
    pub(super) fingerprint: Fingerprint,
    pub(super) row_target: u32,
    /// Rows an aggregate may read (its `max-scan`): its pages bound the request ceiling too.
    pub(super) scan_rows: u32,
    /// The longest this connection's results may be cached: its own TTL setting within the
    /// manifest's ceiling.
    pub(super) ttl_ceiling: u32,
    pub(super) manifest: Arc<Manifest>,
    /// What a result's shape may name besides the caller's own words.
    pub(super) catalogue: Arc<crate::returned::CatalogueNames>,
}

impl Connection {
    /// Let `sink` watch this connection's calls from now on (`None`: nobody). It is called with what the
    /// connector reports as pages arrive (see [`super::Progress`]); it runs on the call's thread, so it
    /// must be quick.
    pub fn watch(&mut self, sink: Option<super::ProgressSink>) {
        self.instance.store.data_mut().progress = sink;
    }

    /// Stop this connection's calls once `token` is cancelled: the call running then ends at once with
    /// [`SandboxError::Cancelled`] wherever it is (spinning in the guest, waiting for the upstream, a
    /// slot or the budget), none of its requests goes on the wire after that (the host runs them on
    /// tasks of their own, which check the token last thing before sending), its instance is
    /// discarded, and every later call fails the same way.
    /// Dropping the connection then frees what its store held (its responses left open among them).
    pub fn cancel_with(&mut self, token: tokio_util::sync::CancellationToken) {
        // A child: the instance cancels its own when it is discarded, and the owner's token, which
        // may serve the connection's next instance, stays as it is.
        self.instance.store.data_mut().hooks.cancel = token.child_token();
    }

    /// Setup verification: the write-probe rules of the manifest apply during this call only, and the
    /// host judges the answers its write probes and reads got itself. A credential that can write, or
    /// cannot read, is told what to change where its manifest says (`credential.manage`).
    pub fn verify(&mut self) -> Result<wit::VerifyReport, SandboxError> {
        let plugin = self.instance.plugin()?;
        let handle = self.handle;
        let ceiling = self.manifest.calls.verify_requests;
        let host_probes = host_probes::of(&self.manifest);
        let outcome = self.instance.call(Phase::Verify, ceiling, move |store| {
            Box::pin(async move {
                let report = plugin
                    .klairr_connector_connector()
                    .connection()
                    .call_verify(&mut *store, handle)
                    .await?;
                // Then the host's own probes, judged with the component's below — unless setup has
                // failed already for another reason than permissions (a key Stripe does not know
                // would only meet a 401 at each).
                let judged = match &report {
                    Ok(_) => true,
                    Err(e) => PermissionFailure::of(e).is_some(),
                };
                if judged {
                    host_probes::send(&mut store.data_mut().hooks, &host_probes).await;
                }
                Ok(report)
            })
        });
        let report = self.finish(outcome, "setup verification");
        // The connector's own failure comes first (it read the bodies: a proxy's 404 page is no write),
        // unless it is a permission fault: then the host's verdict is the answer, both faults at once.
        if let Err(e) = &report {
            if !matches!(e, SandboxError::Permissions { .. }) {
                return report;
            }
        }
        // The component's word that the credential cannot write counts for nothing, nor its word that
        // it can read: the host judges the answers its probes got. A write proven, or a read refused,
        // is the answer whatever the component said, then whatever the probes left unproven.
        let answers = match self.instance.store.data().hooks.probe_answers.lock() {
            Ok(answers) => answers.clone(),
            Err(_) => Vec::new(),
        };
        let (writes, reads) = (
            probes::judge(&self.manifest, &answers),
            probes::judge_reads(&self.manifest, &answers),
        );
        let found = PermissionFailure {
            can_write: match &writes {
                ProbeVerdict::CanWrite(resources) => Some(resources.clone()),
                _ => None,
            },
            cannot_read: match &reads {
                ReadVerdict::CannotRead(resources) => Some(resources.clone()),
                _ => None,
            },
            // Filled in by `permissions`, whoever found the fault.
            not_read: Box::default(),
        };
        if found.is_some() {
            return Err(self.permissions(found));
        }
        let mut report = returned::check_report(report?, self.credential.runs(), self.sent())?;
        // The mode is the credential's, which the host accepted for this mode: not the component's word
        // (review: a report could call a test key live).
        report.mode = match self.credential.credential.mode() {
            klairr_policy::credential::Mode::Live => wit::Mode::Live,
            klairr_policy::credential::Mode::Test => wit::Mode::Test,
        };
        // A table its catalogue lacks is nothing setup could have proven readable (the component's
        // word alone, or another connector's names): the report names only the connector's own.
        report
            .readable
            .retain(|table| self.catalogue.is_table(table));
        let mut unproven = Vec::new();
        match writes {
            ProbeVerdict::Refused(endpoints) => report.write_probes_refused = endpoints,
            ProbeVerdict::CanWrite(_) => {}
            ProbeVerdict::Unproven(probes) => unproven = probes,
        }
        // The readable tables stay the component's list (of its catalogue's tables); every table the
        // manifest has a `reads` rule for was proven just now, whether it lists it or not.
        if let ReadVerdict::Unproven(reads) = reads {
            unproven.extend(reads);
        }
        if !unproven.is_empty() {
            return Err(SandboxError::SetupUnproven(unproven));
        }
        // Everything proven, but a `reads` that names no table of the connector proved nothing about its
        // tables (a typo, or another connector's manifest): setup fails closed, saying so.
        super::check_reads(&self.manifest, &self.catalogue)?;
        Ok(report)
    }

    /// The caller's `texts` (`caller_text::Written::texts`), exempt from the credential's redaction for
    /// this call; a query holding what can only be a pasted key is refused first.
    /// A call refused before it began sent nothing: what the last one sent is not this one's
    /// ([`Self::requests_sent`]; review: `serve` counted the last query's requests again for each
    /// query refused for a pasted key).
    fn refused_before_calling(&mut self) {
        self.instance.store.data_mut().hooks.on_the_wire = Default::default();
    }

    fn exempt<'c>(
        credential: &'c ConnectionCredential,
        texts: &[String],
    ) -> Result<CallerWrote<'c>, SandboxError> {
        if let Some(len) = caller_text::overlong_token(texts) {
            return Err(SandboxError::Connector(ConnectorFailure(
                wit::ConnectorError::InvalidQuery(caller_text::overlong_message(len)),
            )));
        }
        let borrowed: Vec<&str> = texts.iter().map(String::as_str).collect();
        Ok(credential.runs().caller_wrote(&borrowed))
    }

    /// The canonical form of a query (for the result cache). Makes no request.
    pub fn canonical_query(&mut self, query: &str) -> Result<String, SandboxError> {
        let credential = self.credential.clone();
        let _caller = Self::exempt(&credential, &caller_text::caller_texts(query))
            .inspect_err(|_| self.refused_before_calling())?;
        let plugin = self.instance.plugin()?;
        let handle = self.handle;
        let query = query.to_owned();
        let outcome = self.instance.call(Phase::Offline, 0, move |store| {
            Box::pin(async move {
                plugin
                    .klairr_connector_connector()
                    .connection()
                    .call_canonical_query(store, handle, &query)
                    .await
            })
        });
        let canonical = self.finish(outcome, "canonical-query");
        // The query's own call comes next: not before the padded time for this one's refusals.
        self.wait_out_masking();
        returned::check_canonical(canonical?)
    }

    /// Wait until the padded time for the work on the last call's refusals is over (see
    /// `PolicyHooks::mask_denials`): whoever reads or prints them calls this when done, so that the
    /// connection's next call does not start sooner for a component whose refused guesses were right.
    pub fn wait_out_masking(&mut self) {
        self.instance.store.data_mut().hooks.wait_out_masking();
    }

    /// Run a query; the result is checked against the contract and redacted.
    pub fn query(&mut self, query: &str) -> Result<wit::QueryResult, SandboxError> {
        self.query_weighed(query).map(|(result, _)| result)
    }

    /// [`Connection::query`], and what the result weighs for the cache ([`returned::weight`], taken
    /// before the credential is masked in it).
    pub fn query_weighed(
        &mut self,
        query: &str,
    ) -> Result<(wit::QueryResult, usize), SandboxError> {
        let credential = self.credential.clone();
        let written = caller_text::written(query);
        let _exempt = Self::exempt(&credential, &written.texts)
            .inspect_err(|_| self.refused_before_calling())?;
        let plugin = self.instance.plugin()?;
        let handle = self.handle;
        // The host cannot tell a list query from an aggregate: the ceiling allows either.
        let calls = &self.manifest.calls;
        let ceiling = calls
            .query_ceiling(self.row_target)
            .max(calls.scan_ceiling(self.scan_rows));
        let query = query.to_owned();
        let outcome = self.instance.call(Phase::Query, ceiling, move |store| {
            Box::pin(async move {
                plugin
                    .klairr_connector_connector()
                    .connection()
                    .call_query(store, handle, &query)
                    .await
            })
        });
        // The host does not read the query: what bounds it is the connection's settings.
        let what = format!(
            "a query of this connection (max_rows {}, max-scan {})",
            self.row_target, self.scan_rows
        );
        let result = self.finish(outcome, &what)?;
        let weight = returned::weight(&result);
        let checked = returned::check_query(
            result,
            &returned::Expect {
                max_rows: self.row_target,
                ttl_ceiling: self.ttl_ceiling,
                requests: self.sent(),
                runs: self.credential.runs(),
                catalogue: &self.catalogue,
                names_written: &written.names,
                deadline: self.instance.last_deadline(),
            },
        );
        // Past its deadline while its result was checked, the call ends as any call that overruns
        // (`Instance::call`): with its instance.
        if let Err(SandboxError::Deadline { .. }) = checked {
            self.instance.discard();
        }
        Ok((checked?, weight))
    }

    /// The connection's identity for the result cache: an HMAC of connector, mode and credential under a
    /// per-process secret, never the credential.
    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    /// The most rows one query on this connection returns (its max-rows setting, or the default).
    pub fn row_target(&self) -> u32 {
        self.row_target
    }

    /// The most rows one aggregate on this connection reads (its max-scan setting, or the default; 0 for
    /// a connector that answers no aggregates).
    pub fn scan_rows(&self) -> u32 {
        self.scan_rows
    }

    /// The longest a result of this connection may be cached (seconds): the connection's own TTL
    /// setting, within the manifest's ceiling. A cached answer older than that is not this connection's
    /// to use.
    pub fn cache_ttl(&self) -> u32 {
        self.ttl_ceiling
    }

    /// The credential's hint (`rk_live_…abcd`).
    pub fn credential_hint(&self) -> &str {
        self.credential.credential.hint()
    }

    /// What the guest wrote to stdout and stderr (capped, credential redacted).
    pub fn guest_output(&self) -> String {
        let out = self.instance.store.data().output();
        self.credential.runs().redact(&out).into_owned()
    }

    /// Requests the policy denied on this connection, with the reason (for the host's log): the first 64.
    pub fn denied_requests(&self) -> &[String] {
        &self.instance.store.data().hooks.log
    }

    /// Requests the last call on this connection sent upstream, as the host counted them (denied ones
    /// are not sent): for metrics, whatever the call's outcome.
    pub fn requests_sent(&self) -> u32 {
        self.sent()
    }

    /// Where the connection's refusals stand now: [`Self::denial_log`] and [`Self::denied_since`] count
    /// from here, over every call made since (a query's answer is two calls: its canonical form, then
    /// the query).
    pub fn denial_mark(&self) -> DenialMark {
        let hooks = &self.instance.store.data().hooks;
        DenialMark {
            logged: hooks.log.len(),
            total: hooks.denied_total,
        }
    }

    /// Requests the policy refused since `mark`, all of them (the log of reasons keeps the first 64 of
    /// a connection's): for metrics.
    pub fn denied_since(&self, mark: DenialMark) -> u64 {
        self.instance.store.data().hooks.denied_total - mark.total
    }

    /// The log lines of the requests the policy refused since `mark`: one per logged reason (already
    /// redacted, control characters stripped), then a count of those the log had no room for. Naming
    /// the connector, never the connection or the credential; the CLI and `serve` print the same lines.
    pub fn denial_log(&self, connector: &str, mark: DenialMark) -> Vec<String> {
        let logged = self
            .denied_requests()
            .get(mark.logged..)
            .unwrap_or_default();
        hooks::denial_lines(connector, logged, self.denied_since(mark))
    }

    /// [`Self::denial_log`] for a log the caller never reads (`serve`'s, the operator's): the credential
    /// masked also where the caller wrote it. Whoever wrote the query learns nothing from a log it cannot
    /// see, so no guess is answered, and the operator's log holds no run of the key redaction finds, whoever
    /// put it there.
    /// Called between calls, when no caller's text is exempt. A reason the caller's exemption let
    /// through percent-encoded (a key pasted into a query as `%72%6B…`) is not shown at all, as a
    /// component's own encoded credential never is: it cannot be redacted in place.
    pub fn operator_denial_log(&self, connector: &str, mark: DenialMark) -> Vec<String> {
        let runs = self.credential.runs();
        self.denial_log(connector, mark)
            .into_iter()
            .map(|line| {
                if hooks::reveals(runs, &line) {
                    format!(
                        "klairr-host: denied ({connector}) {}",
                        hooks::ENCODED_CREDENTIAL
                    )
                } else {
                    runs.redact(&line).into_owned()
                }
            })
            .collect()
    }

    /// Whether a trap, a deadline or a cancellation discarded this connection's instance (whatever error
    /// its call reported: a call stopped at its request ceiling may then run into its deadline). A discarded
    /// instance answers no call again; dropping the connection frees what its store still holds (open
    /// responses among them).
    pub fn is_discarded(&self) -> bool {
        self.instance.discarded
    }

    /// Requests the last call sent: those that went on the wire (one admitted but still waiting for a
    /// slot or the budget when the call ended was never sent).
    fn sent(&self) -> u32 {
        self.instance
            .store
            .data()
            .hooks
            .on_the_wire
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The ceiling explains a failure first (the guest may have failed because it was hit, or ignored
    /// the denial); then traps and deadlines; then a policy refusal, when the connector's error is a
    /// network one and this call had a request refused; then the connector's own error, redacted.
    fn finish<R>(
        &self,
        outcome: Result<Result<R, wit::ConnectorError>, SandboxError>,
        what: &str,
    ) -> Result<R, SandboxError> {
        // An instance discarded by an earlier call made no call now: what its last call left in the
        // hooks' state (a ceiling hit) is not this call's. A cancelled call was stopped from outside:
        // whatever it was doing then is not why it ended.
        match outcome {
            Err(SandboxError::Discarded) => return Err(SandboxError::Discarded),
            Err(SandboxError::Cancelled) => return Err(SandboxError::Cancelled),
            _ => {}
        }
        let call = self.instance.store.data().hooks.call;
        if self.instance.store.data().hooks.ceiling_hit() {
            return Err(SandboxError::RequestCeiling {
                ceiling: call.ceiling,
                call: what.to_owned(),
            });
        }
        let failure = outcome
            .map_err(|e| redact_error(e, self.credential.runs()))?
            .map_err(|e| returned::check_error(e, Some(self.credential.runs())));
        match failure {
            // A network error after a denial is the denial's doing: retrying, as "network" suggests,
            // cannot help, and the reason says what to change.
            Err(wit::ConnectorError::Network(_)) if call.denied > 0 => {
                let reason =
                    (self.instance.store.data().hooks.first_denial.clone()).unwrap_or_default();
                Err(SandboxError::RequestDenied { reason })
            }
            Err(e) => Err(self.told(SandboxError::Connector(ConnectorFailure(e)))),
            Ok(r) => Ok(r),
        }
    }

    /// A credential that can write, or cannot read, is told what to change where its manifest says
    /// (`credential.manage`), whichever call found it: setup, or a query that met a 403 (QA).
    fn told(&self, e: SandboxError) -> SandboxError {
        match e {
            SandboxError::Connector(ConnectorFailure(error)) => {
                match PermissionFailure::of(&error) {
                    Some(failure) => self.permissions(failure),
                    None => SandboxError::Connector(ConnectorFailure(error)),
                }
            }
            e => e,
        }
    }

    fn permissions(&self, mut failure: PermissionFailure) -> SandboxError {
        // Whoever found the fault (the host's verdict, or the component's own error in a query or a
        // setup the host found nothing wrong in), a resource the connector never reads is told to be set
        // to None, not Read (review: a component's `over-permissioned` on refunds said "set Refunds to
        // Read").
        failure.not_read = host_probes::resources(&self.manifest).into();
        SandboxError::Permissions {
            failure: Box::new(failure),
            manage: self.manifest.credential.manage.clone(),
        }
    }
}

/// Where a connection's refusals stood at one moment ([`Connection::denial_mark`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DenialMark {
    logged: usize,
    total: u64,
}
