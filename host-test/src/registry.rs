//! The host's connectors: each is a manifest (what it may do) and a component (what it is).
//!
//! The rules live here, in the host, not in the guest: a component cannot widen its own access, and the
//! same component runs under whatever manifest the host gives it. The registry holds the built-in Stripe
//! connector and every `*.toml` manifest of `--connectors DIR` (README, "Connectors"): connectors are
//! data, and the host's code knows none of them by name except the built-in one's default.
//!
//! A manifest names its component as `builtin:NAME` (compiled into the host) or a path relative to the
//! manifest's directory, read when a sandbox is loaded, so a reload picks up a rebuilt file.

use klairr_policy::key_shapes::KeyShapes;
use klairr_policy::manifest::{ComponentSource, Manifest, ManifestError};
use klairr_policy::origin::Redirect;
use std::borrow::Cow;
use std::path::{Path, PathBuf};

/// The Stripe connector built from this repository (`cargo build -p klairr-stripe --target wasm32-wasip2`,
/// run by this crate's build script), embedded so `klairr-host` needs no path to run it.
pub static STRIPE_COMPONENT: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/klairr_stripe.wasm"));

/// The connector `--connector` selects when none is named.
pub const DEFAULT_CONNECTOR: &str = "stripe";

/// The largest component file read: the Stripe component is well under 1 MiB; this is a wrong path.
pub const MAX_COMPONENT_BYTES: u64 = 64 << 20;

/// Components compiled into the host, by the name `builtin:NAME` gives.
const BUILTINS: &[(&str, &[u8])] = &[("stripe", STRIPE_COMPONENT)];

/// Why the registry could not be built or could not give a connector. Each says what to change.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{0}")]
    Manifest(#[from] ManifestError),
    #[error(
        "cannot list the connectors directory {dir}: {error}: give a directory of *.toml manifests"
    )]
    Directory { dir: String, error: String },
    #[error("{path} is named as a connector manifest (*.toml) but is not a regular file: remove or rename it")]
    NotAManifest { path: String },
    #[error("two connector manifests are named {name:?}: {first} and {second}: rename one (`name = ...`)")]
    Duplicate {
        name: String,
        first: String,
        second: String,
    },
    #[error("connector manifests {first} and {second} both read their credential from ${env}: each connector reads its own variable, so that no manifest can take another connector's key to its own origins: change `credential.env` in {second}")]
    SharedCredential {
        env: String,
        first: String,
        second: String,
    },
    #[error("{}", unknown_connector(name, known))]
    Unknown { name: String, known: Vec<String> },
    #[error("connector manifest {manifest}: `component`: there is no built-in component {name:?}: use builtin:stripe or a path relative to the manifest")]
    UnknownBuiltin { manifest: String, name: String },
    #[error("cannot read the component {path}: {error}: check the manifest's `component` path (relative to the manifest) or build the component")]
    Component { path: String, error: String },
    #[error("connector manifest {manifest}: `{field}` holds what looks like a key ({shown}): this text is shown to whoever sets up a connection, so it says where a key's permissions are changed or which key to use, never a key: remove it")]
    KeyInShownText {
        manifest: String,
        field: String,
        shown: String,
    },
    #[error("--redirect {origin}: no connector reaches that origin (their origins: {}): redirect one of them", known.join(", "))]
    UnusedRedirect { origin: String, known: Vec<String> },
}

/// No connector is named `name`. The name is quoted back only when it has a connector name's shape:
/// anything else may be a key pasted into the wrong place, and a message that hid it only when it
/// matched the key would tell whoever writes names which guesses match.
fn unknown_connector(name: &str, known: &[String]) -> String {
    if crate::policy::manifest::is_connector_name(name) {
        format!(
            "no connector is named {name:?}: the connectors are {}",
            known.join(", ")
        )
    } else {
        format!(
            "the name given is not a connector's name (1 to 32 characters: a lower-case letter, then \
             lower-case letters, digits or '-'): the connectors are {}",
            known.join(", ")
        )
    }
}

/// One connector: its manifest and where its component comes from.
#[derive(Clone, Debug)]
pub struct Connector {
    pub manifest: Manifest,
    /// The manifest's file as it was found (`None`: built in). A reload reads this path, not
    /// `manifest.source`, which is for messages and shows a name that is not UTF-8 lossily (review: a
    /// reload read a look-alike directory's manifest).
    file: Option<PathBuf>,
}

impl Connector {
    /// The built-in Stripe connector under its built-in manifest (`host-test/connectors/stripe.toml`).
    pub fn stripe() -> Connector {
        Connector {
            manifest: Manifest::stripe(),
            file: None,
        }
    }

    pub fn name(&self) -> &str {
        &self.manifest.name
    }

    /// The component's bytes: the built-in ones, or the file read now (a reload reads it again).
    pub fn component(&self) -> Result<Cow<'static, [u8]>, RegistryError> {
        match &self.manifest.component {
            ComponentSource::Builtin(name) => {
                builtin(name)
                    .map(Cow::Borrowed)
                    .ok_or_else(|| RegistryError::UnknownBuiltin {
                        manifest: self.manifest.source.clone(),
                        name: name.clone(),
                    })
            }
            ComponentSource::Path(path) => read_component(path).map(Cow::Owned),
        }
    }

    /// Where its component comes from, for messages: `builtin:stripe`, or the file and its manifest.
    pub fn component_source(&self) -> String {
        match &self.manifest.component {
            ComponentSource::Builtin(name) => format!("builtin:{name}"),
            ComponentSource::Path(path) => {
                format!("{} (from {})", path.display(), self.manifest.source)
            }
        }
    }

    /// This connector as its manifest file says now (a built-in manifest does not change).
    pub fn reread(&self) -> Result<Connector, RegistryError> {
        let Some(file) = &self.file else {
            return Ok(self.clone());
        };
        let manifest = Manifest::load(file)?;
        if manifest.name != self.manifest.name {
            return Err(RegistryError::Manifest(ManifestError {
                manifest: self.manifest.source.clone(),
                field: "name".into(),
                problem: format!(
                    "changed from {:?} to {:?} since the host started: a reload keeps the name; restart the host to rename",
                    self.manifest.name, manifest.name
                ),
            }));
        }
        Ok(Connector {
            manifest,
            file: self.file.clone(),
        })
    }
}

fn builtin(name: &str) -> Option<&'static [u8]> {
    BUILTINS
        .iter()
        .find(|(builtin, _)| *builtin == name)
        .map(|(_, bytes)| *bytes)
}

/// A component file: a regular file (not a FIFO, which would block the read, or a device) of at most
/// [`MAX_COMPONENT_BYTES`], read whole.
pub(crate) fn read_component(path: &Path) -> Result<Vec<u8>, RegistryError> {
    let fail = |error: String| RegistryError::Component {
        path: path.display().to_string(),
        error,
    };
    use klairr_policy::bounded_file::{read_regular_file, BoundedReadError};
    // Judged on the file opened, not on a look at the path before: a FIFO or a larger file renamed in
    // between passed the look (review).
    read_regular_file(path, MAX_COMPONENT_BYTES).map_err(|e| match e {
        BoundedReadError::Io(e) => fail(e.to_string()),
        BoundedReadError::NotAFile => fail("not a file".into()),
        BoundedReadError::TooLarge { at_least } => fail(format!(
            "{at_least} bytes or more is more than the {MAX_COMPONENT_BYTES} a component may have"
        )),
    })
}

/// The known connectors, by name.
#[derive(Clone, Debug)]
pub struct Registry {
    /// Sorted by name; names are unique.
    connectors: Vec<Connector>,
}

impl Registry {
    /// The built-in connectors only.
    pub fn builtin() -> Registry {
        Registry {
            connectors: vec![Connector::stripe()],
        }
    }

    /// Exactly these connectors, held to the rules a set of connectors keeps together (unique names,
    /// one credential variable each): what a reload must still be, checked as at start.
    pub fn of(connectors: impl IntoIterator<Item = Connector>) -> Result<Registry, RegistryError> {
        let mut registry = Registry {
            connectors: Vec::new(),
        };
        for connector in connectors {
            registry.add(connector)?;
        }
        registry.check_shown_text()?;
        Ok(registry)
    }

    /// The manifests' text a setup shows its caller (where permissions are changed, why a key is
    /// refused) holds nothing that looks like any of the set's keys, by form alone (`KeyShapes`): it
    /// is shown as the operator wrote it, to every caller, so a key there would be handed to each
    /// (QA), and masking it by the caller's key would tell a caller which guess of it was right.
    fn check_shown_text(&self) -> Result<(), RegistryError> {
        let shapes = KeyShapes::of(self.connectors.iter().map(|c| &c.manifest.credential));
        for connector in &self.connectors {
            let credential = &connector.manifest.credential;
            let manage = credential
                .manage
                .iter()
                .map(|text| ("credential.manage".to_owned(), text));
            let refused = credential
                .refused
                .iter()
                .enumerate()
                .map(|(i, r)| (format!("credential.refused[{i}].message"), &r.message));
            for (field, text) in manage.chain(refused) {
                let shown = shapes.hide(text);
                if shown != *text {
                    return Err(RegistryError::KeyInShownText {
                        manifest: connector.manifest.source.clone(),
                        field,
                        shown,
                    });
                }
            }
        }
        Ok(())
    }

    /// The built-in connectors plus every `*.toml` manifest directly in `dir` (in name order). Any
    /// manifest that does not validate, a component path that does not exist, or two manifests with one
    /// name refuse the whole directory: a platform never starts with half its connectors.
    pub fn with_dir(dir: &Path) -> Result<Registry, RegistryError> {
        let directory = |error: std::io::Error| RegistryError::Directory {
            dir: dir.display().to_string(),
            error: error.to_string(),
        };
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(directory)?
            .map(|entry| entry.map(|e| e.path()))
            .collect::<Result<_, _>>()
            .map_err(directory)?;
        // `*.toml` as a shell reads it: a hidden file is none (an editor's lock `.#ledger.toml`, a
        // backup `.ledger.toml.bak.toml`; review: a dangling lock symlink stopped the host starting).
        paths.retain(|p| {
            p.extension().is_some_and(|e| e == "toml")
                && !p
                    .file_name()
                    .is_some_and(|n| n.as_encoded_bytes().starts_with(b"."))
        });
        paths.sort();
        // Every *.toml is a manifest: one that is a directory or a FIFO is refused, not skipped (and a
        // FIFO is never opened: reading it would wait for a writer).
        if let Some(odd) = paths.iter().find(|p| !p.is_file()) {
            return Err(RegistryError::NotAManifest {
                path: odd.display().to_string(),
            });
        }
        let mut registry = Registry::builtin();
        for path in paths {
            let connector = Connector {
                manifest: Manifest::load(&path)?,
                file: Some(path.clone()),
            };
            // Fail at start, not at the first call: the component must be there.
            if let ComponentSource::Path(component) = &connector.manifest.component {
                let meta = std::fs::metadata(component).map_err(|e| RegistryError::Component {
                    path: component.display().to_string(),
                    error: e.to_string(),
                })?;
                if !meta.is_file() {
                    return Err(RegistryError::Component {
                        path: component.display().to_string(),
                        error: "not a file".into(),
                    });
                }
            } else {
                connector.component()?;
            }
            registry.add(connector)?;
        }
        registry.check_shown_text()?;
        Ok(registry)
    }

    fn add(&mut self, connector: Connector) -> Result<(), RegistryError> {
        if let Some(existing) = self
            .connectors
            .iter()
            .find(|c| c.manifest.name == connector.manifest.name)
        {
            return Err(RegistryError::Duplicate {
                name: connector.manifest.name.clone(),
                first: existing.manifest.source.clone(),
                second: connector.manifest.source.clone(),
            });
        }
        if let Some(existing) = self
            .connectors
            .iter()
            .find(|c| c.manifest.credential.env == connector.manifest.credential.env)
        {
            return Err(RegistryError::SharedCredential {
                env: connector.manifest.credential.env.clone(),
                first: existing.manifest.source.clone(),
                second: connector.manifest.source.clone(),
            });
        }
        self.connectors.push(connector);
        self.connectors
            .sort_by(|a, b| a.manifest.name.cmp(&b.manifest.name));
        Ok(())
    }

    /// The connector named `name`, or an error listing the names there are.
    pub fn get(&self, name: &str) -> Result<&Connector, RegistryError> {
        self.connectors
            .iter()
            .find(|c| c.manifest.name == name)
            .ok_or_else(|| RegistryError::Unknown {
                name: name.to_owned(),
                known: self.names(),
            })
    }

    pub fn names(&self) -> Vec<String> {
        self.connectors
            .iter()
            .map(|c| c.manifest.name.clone())
            .collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Connector> {
        self.connectors.iter()
    }

    /// Every redirect must move an origin some connector reaches: a redirect that changes nothing is a
    /// typo that would otherwise send tests to the real service.
    pub fn check_redirects(&self, redirects: &[Redirect]) -> Result<(), RegistryError> {
        let origins: Vec<_> = self
            .connectors
            .iter()
            .flat_map(|c| c.manifest.network.origins.iter().cloned())
            .collect();
        for redirect in redirects {
            if !origins.contains(&redirect.origin) {
                let mut known: Vec<String> = origins.iter().map(ToString::to_string).collect();
                known.sort();
                known.dedup();
                return Err(RegistryError::UnusedRedirect {
                    origin: redirect.written.clone(),
                    known,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
