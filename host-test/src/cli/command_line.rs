//! What the operator wrote for one command: the command line's arguments, and the variables whose values
//! the CLI's messages may quote (the compile cache's directory); and the forms of the keys of the
//! connectors it names. The CLI shows its messages with what looks like a key hidden by its form alone
//! ([`KeyShapes`]), never masked by whether it matches the key: masked only where it matched, a guess
//! written as `--mode`, a path, a manifest's field or a component's import name would be told right or
//! wrong, twelve characters at a time (QA read a key out so, through `--mode` and then through
//! manifests). What a component or an upstream says is masked by the sandbox, by the key itself.

use crate::policy::key_shapes::KeyShapes;
use crate::policy::manifest::CredentialSpec;
use std::ffi::OsString;

/// The variables the CLI reads for itself and may quote back (through the compile cache's messages).
const QUOTED_VARIABLES: [&str; 3] = ["KLAIRR_CACHE_DIR", "XDG_CACHE_HOME", "HOME"];

/// The operator's own text of one command (see the module docs).
#[derive(Clone, Debug, Default)]
pub struct CommandLine {
    texts: Vec<String>,
    shapes: KeyShapes,
}

impl CommandLine {
    /// Nothing written (before the command line is read).
    pub const fn empty() -> CommandLine {
        CommandLine {
            texts: Vec::new(),
            shapes: KeyShapes::none(),
        }
    }

    /// `args` (the program name first, left out) and the values of [`QUOTED_VARIABLES`] set in the
    /// process, but for any that is a credential's variable (never the key); the key forms of `specs`.
    pub fn read(args: &[OsString], specs: &[CredentialSpec]) -> CommandLine {
        let variables = QUOTED_VARIABLES
            .iter()
            .filter(|name| !specs.iter().any(|spec| spec.env == **name))
            .filter_map(std::env::var_os);
        let texts: Vec<String> = args
            .iter()
            .skip(1)
            .cloned()
            .chain(variables)
            .map(|text| text.to_string_lossy().into_owned())
            .collect();
        CommandLine {
            texts,
            shapes: KeyShapes::of(specs),
        }
    }

    /// The operator's texts, exempt where the log masks the key itself
    /// ([`crate::policy::redact::SecretRuns::caller_wrote`]).
    pub fn texts(&self) -> impl Iterator<Item = &str> {
        self.texts.iter().map(String::as_str)
    }

    /// `message` with what looks like a key hidden ([`KeyShapes::hide`]).
    pub fn hide_key_like(&self, message: &str) -> String {
        self.shapes.hide(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_arguments_are_the_operators_text_and_the_program_name_is_not() {
        let args: Vec<OsString> = ["/usr/bin/klairr-host", "--mode", "OX9YIMtCFIPz", "setup"]
            .iter()
            .map(OsString::from)
            .collect();
        let line = CommandLine::read(&args, &[]);
        let texts: Vec<&str> = line.texts().take(3).collect();
        assert_eq!(texts, ["--mode", "OX9YIMtCFIPz", "setup"]);
    }
}
