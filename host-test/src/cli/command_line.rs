//! What the caller wrote outside the query: the command line's arguments, and the variables whose values
//! the CLI's messages may quote (the compile cache's directory). Like the query, this is the caller's own
//! text, and messages treat it alike whether or not it matches a key: masked only where it matched, a
//! guess written as `--mode` or a path would be told right or wrong, twelve characters at a time (QA read
//! 30 characters of a key so in 7 s). What does stay hidden is what looks like a pasted key, judged by
//! its form alone, so that is no oracle either: a word that starts with a connector's key prefix
//! (`rk_test_…`, `sk_live_…`, `lk_test_…`), and any run of more than [`MAX_TOKEN`] letters and digits (no
//! flag, mode or file name needs one).

use crate::policy::manifest::CredentialSpec;
use crate::sandbox::caller_text::MAX_TOKEN;
use std::ffi::OsString;

/// The variables the CLI reads for itself and may quote back (through the compile cache's messages).
const QUOTED_VARIABLES: [&str; 3] = ["KLAIRR_CACHE_DIR", "XDG_CACHE_HOME", "HOME"];

/// What a word that looks like a key is shown as.
const HIDDEN: &str = "[looks like a key: not shown]";

/// The caller's own text of one command (see the module docs).
#[derive(Clone, Debug, Default)]
pub struct CommandLine {
    texts: Vec<String>,
    /// Longest first, so that one inside another is never replaced first, leaving the rest shown.
    key_like: Vec<String>,
}

impl CommandLine {
    /// Nothing written (before the command line is read).
    pub const fn empty() -> CommandLine {
        CommandLine {
            texts: Vec::new(),
            key_like: Vec::new(),
        }
    }

    /// `args` (the program name first, left out) and the values of [`QUOTED_VARIABLES`] set in the
    /// process, but for any that is a credential's variable (never the key); what looks like a key is
    /// judged by `specs`' prefixes.
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
        let prefixes: Vec<&str> = specs
            .iter()
            .flat_map(|spec| {
                [spec.test_prefix.as_str(), spec.live_prefix.as_str()]
                    .into_iter()
                    .chain(spec.refused.iter().map(|r| r.prefix.as_str()))
            })
            .filter(|prefix| !prefix.is_empty())
            .collect();
        let prefixed = texts
            .iter()
            .flat_map(|t| t.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')))
            .filter(|word| {
                prefixes
                    .iter()
                    .any(|p| word.len() > p.len() && word.starts_with(p))
            });
        let long = texts
            .iter()
            .flat_map(|t| t.split(|c: char| !c.is_ascii_alphanumeric()))
            .filter(|run| run.len() > MAX_TOKEN);
        let mut key_like: Vec<String> = prefixed.chain(long).map(str::to_owned).collect();
        key_like.sort_by_key(|word| std::cmp::Reverse(word.len()));
        key_like.dedup();
        CommandLine { texts, key_like }
    }

    /// The caller's texts, for [`crate::policy::redact::SecretRuns::caller_wrote`].
    pub fn texts(&self) -> impl Iterator<Item = &str> {
        self.texts.iter().map(String::as_str)
    }

    /// `message` with every word of the command line that looks like a key hidden (see the module
    /// docs).
    pub fn hide_key_like(&self, message: &str) -> String {
        let mut message = message.to_owned();
        for word in &self.key_like {
            message = message.replace(word.as_str(), HIDDEN);
        }
        message
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(args: &[&str]) -> CommandLine {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        let stripe = crate::registry::Connector::stripe().manifest.credential;
        CommandLine::read(&args, &[stripe])
    }

    #[test]
    fn the_arguments_are_the_callers_text_and_the_program_name_is_not() {
        let line = line(&["/usr/bin/klairr-host", "--mode", "OX9YIMtCFIPz", "setup"]);
        let texts: Vec<&str> = line.texts().take(3).collect();
        assert_eq!(texts, ["--mode", "OX9YIMtCFIPz", "setup"]);
    }

    #[test]
    fn a_word_with_a_key_prefix_or_a_long_run_is_hidden_and_a_guess_is_not() {
        let line = line(&[
            "klairr-host",
            "--memory-file",
            "/tmp/x/rk_test_51KlairrEmulator.jsonl",
            "--component",
            &format!("/tmp/{}.wasm", "A1".repeat(21)),
            "--mode",
            "OX9YIMtCFIPz",
            "--connectors",
            "rk_test_",
        ]);
        let message = format!(
            "/tmp/x/rk_test_51KlairrEmulator.jsonl; /tmp/{}.wasm; OX9YIMtCFIPz; rk_test_",
            "A1".repeat(21)
        );
        assert_eq!(
            line.hide_key_like(&message),
            format!("/tmp/x/{HIDDEN}.jsonl; /tmp/{HIDDEN}.wasm; OX9YIMtCFIPz; rk_test_")
        );
    }

    #[test]
    fn a_word_inside_a_longer_one_leaves_nothing_of_the_longer_shown() {
        let long = "a".repeat(45);
        let longer = format!("{long}{}", "b".repeat(10));
        let line = line(&["klairr-host", &long, &longer]);
        assert_eq!(
            line.hide_key_like(&format!("{longer} {long}")),
            format!("{HIDDEN} {HIDDEN}")
        );
    }
}
