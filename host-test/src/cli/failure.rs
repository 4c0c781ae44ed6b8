//! A failure as the CLI reports it: its kind, its exit status and its text. What the CLI prints of it is
//! shown with what looks like a key hidden by its form (`command_line`): the sandbox has masked the
//! credentials, by their value, in what components and upstreams said.

use crate::policy::manifest::{CredentialSpec, Manifest};
use crate::policy::redact::SecretRuns;
use crate::registry::Registry;
use crate::sandbox::{SandboxError, REFUSALS};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// A failure as the CLI reports it: a stable kind and one line of text.
#[derive(Debug)]
pub struct Failure {
    pub kind: String,
    pub message: String,
    /// The message quotes the operator's text (arguments, manifests, components), shown with what
    /// looks like a key hidden (`command_line`); otherwise it is what a component or an upstream said,
    /// which the sandbox has masked by the credential's value already.
    pub operator_text: bool,
}

impl Failure {
    pub fn new(kind: &str, message: impl Into<String>) -> Failure {
        Failure {
            kind: kind.to_owned(),
            message: message.into(),
            operator_text: true,
        }
    }

    /// Standard output could not be written (a full disk, a pipe whose reader went away): kind `output`.
    pub fn output(e: std::io::Error) -> Failure {
        Failure::new("output", format!("could not write the output: {e}"))
    }

    /// 2 when the input was refused (the key, the query, the command line), 1 for anything else.
    pub fn exit_code(&self) -> i32 {
        if self.kind == "usage" || REFUSALS.contains(&self.kind.as_str()) {
            2
        } else {
            1
        }
    }
}

impl From<SandboxError> for Failure {
    fn from(e: SandboxError) -> Failure {
        // What the operator set up: the settings, the component and the manifest (a refused prefix's
        // message is the manifest's). The rest is what a call of the component said, masked by the
        // sandbox.
        let operator_text = matches!(
            e,
            SandboxError::Credential(_)
                | SandboxError::Setting(_)
                | SandboxError::Load(_)
                | SandboxError::InvalidComponent(_)
                | SandboxError::ForbiddenImports(_)
                | SandboxError::ContractVersion { .. }
                | SandboxError::NotAConnector(_)
                | SandboxError::ReadsNoTable { .. }
        );
        Failure {
            operator_text,
            ..Failure::new(e.kind(), e.to_string())
        }
    }
}

/// The credentials a failure's message must not show: the built-in connectors', and those of every
/// manifest in `--connectors DIR` that parses — whether or not the directory as a whole can be used (a
/// command can fail because of it, and its message still must not quote a key of it).
pub(super) fn credential_specs(connectors_dir: Option<&Path>) -> Vec<CredentialSpec> {
    let mut specs: Vec<CredentialSpec> = Registry::builtin()
        .iter()
        .map(|c| c.manifest.credential.clone())
        .collect();
    if let Some(Ok(entries)) = connectors_dir.map(std::fs::read_dir) {
        for path in entries.flatten().map(|e| e.path()) {
            if path.extension().is_some_and(|e| e == "toml") {
                match Manifest::load(&path) {
                    Ok(manifest) => specs.push(manifest.credential),
                    // One that does not validate may be the very one the failure is about: the key
                    // prefixes it names are hidden all the same.
                    Err(_) => specs.extend(key_shapes_of_file(&path)),
                }
            }
        }
    }
    specs
}

/// A credential known only by its key prefixes, from a manifest file that does not validate: for
/// hiding what looks like its keys, never for reading a variable (its `env` is empty).
fn key_shapes_of_file(path: &Path) -> Vec<CredentialSpec> {
    let Ok(bytes) = klairr_policy::bounded_file::read_regular_file(
        path,
        klairr_policy::manifest::MAX_MANIFEST_BYTES,
    ) else {
        return Vec::new();
    };
    Manifest::key_prefixes_in(&String::from_utf8_lossy(&bytes))
        .into_iter()
        .map(|prefix| CredentialSpec {
            env: String::new(),
            header: String::new(),
            scheme: String::new(),
            test_prefix: prefix,
            live_prefix: String::new(),
            min_length: usize::MAX,
            account_name: None,
            manage: None,
            refused: Vec::new(),
        })
        .collect()
}

/// `--connectors DIR` as written in a command line clap could not parse (`--connectors=DIR` too;
/// nothing after `--` is a flag).
pub(super) fn connectors_dir_in(args: &[OsString]) -> Option<PathBuf> {
    let mut dir = None;
    let mut args = args.iter().skip(1);
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("--") => break,
            Some("--connectors") => dir = args.next().map(PathBuf::from),
            Some(arg) => {
                if let Some(value) = arg.strip_prefix("--connectors=") {
                    dir = Some(PathBuf::from(value));
                }
            }
            None => {}
        }
    }
    dir
}

/// A matcher for each of these credentials set in the environment (not a bare published prefix, nor a
/// value too short to be a key: `SecretRuns::of_given`).
pub(super) fn credential_runs(
    specs: &[CredentialSpec],
    env: &dyn Fn(&str) -> Option<OsString>,
) -> Vec<SecretRuns> {
    specs
        .iter()
        .filter(|spec| !spec.env.is_empty())
        .filter_map(|spec| {
            let value = env(&spec.env).and_then(|v| v.into_string().ok())?;
            if spec.is_bare_prefix(&value) {
                return None;
            }
            SecretRuns::of_given(&value)
        })
        .collect()
}

/// Whether a command line clap could not parse says `--format json` anywhere (`--format=json` too;
/// nothing after `--` is a flag): a program that asked for JSON once gets its failure as JSON, even when
/// the failure is that `--format` was given twice.
pub(super) fn asks_for_json(args: &[OsString]) -> bool {
    let mut json = false;
    let mut args = args.iter().skip(1).map(|a| a.to_str());
    while let Some(arg) = args.next() {
        let value = match arg {
            Some("--") => break,
            Some("--format") => args.next().flatten(),
            Some(arg) => arg.strip_prefix("--format="),
            None => None,
        };
        json |= value == Some("json");
    }
    json
}
