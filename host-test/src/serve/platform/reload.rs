//! Hot swap: a connector loaded again from its manifest and swapped in if it loads, checks and
//! describes; otherwise the old version keeps serving and the refusal says why.

use super::{load_version, Platform};
use crate::policy::key_shapes::KeyShapes;
use crate::policy::manifest::CredentialSpec;
use crate::registry::Registry;
use crate::serve::errors::ApiError;
use crate::serve::metrics::labels;
use std::sync::Arc;

/// What a reload did.
#[derive(Debug)]
pub struct Reloaded {
    pub connector: String,
    pub version: u64,
    pub component_sha256: [u8; 32],
    pub manifest_sha256: [u8; 32],
}

impl Platform {
    /// Load `name` again from its manifest and swap it in if it loads, checks and describes; otherwise
    /// keep the old one and say why.
    pub fn reload(&self, name: &str) -> Result<Reloaded, ApiError> {
        let slot = self.slot(name)?;
        // One reload at a time on the whole platform: each is checked against the others' manifests.
        let _one_at_a_time = self.reloading.lock().unwrap_or_else(|p| p.into_inner());
        let old = slot.current();
        // Why it was refused quotes the manifest and the component (a field, a path, an import name):
        // the operator's text, where what looks like a key is hidden by its form, as the CLI hides it
        // (masked by the open connections' keys, it would tell which guess of one was right).
        let specs: Vec<CredentialSpec> = self
            .slots
            .values()
            .map(|s| {
                s.connector
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .manifest
                    .credential
                    .clone()
            })
            .collect();
        let shapes = KeyShapes::of(&specs);
        let refused = |e: String| {
            self.metrics.add(
                "klairr_reloads_total",
                labels(&[("connector", name), ("outcome", "refused")]),
                1,
            );
            ApiError::new(
                "reload-refused",
                format!(
                    "the new version of {name} was not swapped in; version {} keeps serving: {}",
                    old.version,
                    shapes.hide(&e)
                ),
            )
        };
        let connector = {
            let current = slot.connector.lock().unwrap_or_else(|p| p.into_inner());
            current.reread().map_err(|e| refused(e.to_string()))?
        };
        // The set the platform would serve must pass what a start checks: a manifest that now reads
        // another connector's credential variable, or an origin change that leaves a --redirect
        // pointing at nothing (requests would go to the real service), is refused here as it is there.
        let others = self
            .slots
            .iter()
            .filter(|(other, _)| *other != name)
            .map(|(_, s)| {
                s.connector
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone()
            });
        Registry::of(others.chain([connector.clone()]))
            .and_then(|set| set.check_redirects(&self.options.redirects))
            .map_err(|e| refused(e.to_string()))?;
        let loaded = load_version(
            &self.shared,
            &connector,
            &self.options,
            Some(old.sandbox.gates()),
            old.version + 1,
        )
        .map_err(|e| refused(e.message))?;
        let reloaded = Reloaded {
            connector: name.to_owned(),
            version: loaded.version,
            component_sha256: loaded.sandbox.component_sha256(),
            manifest_sha256: loaded.sandbox.manifest_sha256(),
        };
        *slot.connector.lock().unwrap_or_else(|p| p.into_inner()) = connector;
        *slot.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(loaded);
        self.metrics.add(
            "klairr_reloads_total",
            labels(&[("connector", name), ("outcome", "swapped")]),
            1,
        );
        Ok(reloaded)
    }

    /// Reload every connector; the outcome of each.
    pub fn reload_all(&self) -> Vec<(String, Result<Reloaded, ApiError>)> {
        self.slots
            .keys()
            .map(|name| (name.clone(), self.reload(name)))
            .collect()
    }
}
