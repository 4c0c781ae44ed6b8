//! What looks like an API key, judged by its form alone: a word that starts with one of the connectors'
//! key prefixes (`rk_test_…`, `sk_live_…`), or a run of more than [`LONG_RUN`] letters and digits that is
//! not a lower-case hex digest. Text the operator supplies — the command line, the variables it names,
//! the manifests and components it points at — is shown with such words hidden, whether or not they are
//! the key: masking only what matched the key (as [`crate::redact::SecretRuns`] does) would tell whoever
//! writes such text which guess of the key was right, twelve characters at a time.

use crate::manifest::CredentialSpec;

/// Longer runs of letters and digits than this are not names, modes or paths anyone writes: a pasted key
/// is one. The same bound as a query's (`caller_text::MAX_TOKEN` in the host).
pub const LONG_RUN: usize = 40;

/// What a hidden word is shown as.
pub const HIDDEN: &str = "[looks like a key: not shown]";

/// The forms of the keys of a set of connectors.
#[derive(Clone, Debug, Default)]
pub struct KeyShapes {
    prefixes: Vec<String>,
}

impl KeyShapes {
    /// No prefixes: only long runs are hidden.
    pub const fn none() -> KeyShapes {
        KeyShapes {
            prefixes: Vec::new(),
        }
    }

    /// The key prefixes `specs` accept or refuse (an empty prefix is none).
    pub fn of<'a>(specs: impl IntoIterator<Item = &'a CredentialSpec>) -> KeyShapes {
        let mut prefixes: Vec<String> = specs
            .into_iter()
            .flat_map(|spec| {
                [spec.test_prefix.clone(), spec.live_prefix.clone()]
                    .into_iter()
                    .chain(spec.refused.iter().map(|r| r.prefix.clone()))
            })
            .filter(|prefix| !prefix.is_empty())
            .collect();
        prefixes.sort();
        prefixes.dedup();
        KeyShapes { prefixes }
    }

    /// `text` with every word that looks like a key replaced by [`HIDDEN`]. A word is a run of ASCII
    /// letters, digits and `_`; one that starts with a prefix (and goes on past it) is hidden whole,
    /// and in any other a long run of letters and digits between its `_`s.
    pub fn hide(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find(is_word_char) {
            out.push_str(&rest[..start]);
            let word_len = rest[start..]
                .find(|c: char| !is_word_char(c))
                .unwrap_or(rest.len() - start);
            let word = &rest[start..start + word_len];
            self.push_word(&mut out, word);
            rest = &rest[start + word_len..];
        }
        out.push_str(rest);
        out
    }

    fn push_word(&self, out: &mut String, word: &str) {
        // A prefix itself holds no key, even one that starts with another (`sk_org` after `sk_`, a
        // manifest's `wk_test_` beside `wk_`): an error about the prefixes must be able to name them.
        if self.prefixes.iter().any(|p| p == word) {
            out.push_str(word);
            return;
        }
        // A prefix at the word's start, or after one of its `_`s (a key glued to a word,
        // `old_lk_live_…`: review), hides the word from there on.
        let glued = self
            .prefixes
            .iter()
            .filter_map(|p| {
                word.match_indices(p.as_str()).map(|(i, _)| i).find(|&i| {
                    (i == 0 || word.as_bytes()[i - 1] == b'_') && word.len() > i + p.len()
                })
            })
            .min();
        if let Some(at) = glued {
            out.push_str(&word[..at]);
            out.push_str(HIDDEN);
            return;
        }
        for (i, run) in word.split('_').enumerate() {
            if i > 0 {
                out.push('_');
            }
            if run.len() > LONG_RUN && !is_lower_hex(run) {
                out.push_str(HIDDEN);
            } else {
                out.push_str(run);
            }
        }
    }
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// A SHA-256 or another digest as the host writes them (compile-cache entries, `manifest_sha256`): not a
/// key, whose letters are of both cases.
fn is_lower_hex(run: &str) -> bool {
    run.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Manifest;

    fn stripe() -> KeyShapes {
        KeyShapes::of([&Manifest::stripe().credential])
    }

    #[test]
    fn words_with_a_key_prefix_and_long_runs_are_hidden_and_nothing_else() {
        let body = "51KlairrEmulatorReadOnlyAllFive0000OX9YIMtCFIPzgNZpBdfdYfkM";
        let digest = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let cases: Vec<(String, String)> = vec![
            // A key, whole or without its prefix, in a path, a URL and a TOML value.
            (
                format!("/tmp/x/rk_test_{body}.jsonl"),
                format!("/tmp/x/{HIDDEN}.jsonl"),
            ),
            (format!("http://{body}:1"), format!("http://{HIDDEN}:1")),
            (
                format!("name = \"sk_live_{body}\""),
                format!("name = \"{HIDDEN}\""),
            ),
            // A guess of twelve characters, a bare prefix and advice naming the prefixes stay.
            ("--mode OX9YIMtCFIPz".into(), "--mode OX9YIMtCFIPz".into()),
            (
                "use rk_test_… or rk_live_…".into(),
                "use rk_test_… or rk_live_…".into(),
            ),
            ("rk_test_".into(), "rk_test_".into()),
            // A digest is not a key; forty characters are not long.
            (format!("{digest}.cwasm"), format!("{digest}.cwasm")),
            ("A".repeat(40), "A".repeat(40)),
            ("A".repeat(41), HIDDEN.into()),
            // Runs between underscores are judged each; non-ASCII text is left as it is.
            (
                format!("my_{}_file", "Ab".repeat(21)),
                format!("my_{HIDDEN}_file"),
            ),
            ("naïve ünïcode → text".into(), "naïve ünïcode → text".into()),
            // A key glued to a word after an `_`, whose pieces are each short (review): hidden from
            // its prefix on; a prefix inside a word's run is no prefix.
            (
                "connectors.d/old_rk_live_Ab12Cd34Ef56Gh78Ij90Kl12.toml".into(),
                format!("connectors.d/old_{HIDDEN}.toml"),
            ),
            ("task_test_notes".into(), "task_test_notes".into()),
        ];
        for (text, shown) in cases {
            assert_eq!(stripe().hide(&text), shown, "{text}");
        }
    }

    #[test]
    fn the_prefixes_of_every_connector_given_count() {
        let mut ledger = Manifest::stripe().credential;
        ledger.test_prefix = "lk_test_".into();
        ledger.live_prefix = "lk_live_".into();
        ledger.refused.clear();
        let shapes = KeyShapes::of([&Manifest::stripe().credential, &ledger]);
        assert_eq!(
            shapes.hide("lk_test_abc rk_live_abc"),
            format!("{HIDDEN} {HIDDEN}")
        );
        assert_eq!(stripe().hide("lk_test_abc"), "lk_test_abc");
    }

    /// A prefix that starts with another one is still only a prefix (third-party trial: a manifest's
    /// overlapping prefixes were named as `[looks like a key: not shown]` in the error about them).
    #[test]
    fn a_prefix_that_starts_with_another_is_shown() {
        let mut weather = Manifest::stripe().credential;
        weather.test_prefix = "wk_".into();
        weather.live_prefix = "wk_test_".into();
        let shapes = KeyShapes::of([&weather]);
        assert_eq!(
            shapes.hide("\"wk_test_\" and \"wk_\""),
            "\"wk_test_\" and \"wk_\""
        );
        assert_eq!(shapes.hide("wk_test_abc"), HIDDEN);
        assert_eq!(
            stripe().hide("organisation keys (sk_org…)"),
            "organisation keys (sk_org…)"
        );
        assert_eq!(stripe().hide("sk_orgabc"), HIDDEN);
    }
}
