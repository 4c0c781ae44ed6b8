//! What the caller of a query wrote: the text the credential's redaction must treat alike whether or
//! not it matches the key (see `klairr_policy::redact::SecretRuns::caller_wrote`), and the refusal of a
//! query that holds what can only be a pasted credential.
//!
//! A component quotes the query's values back in its errors and writes its filters into request URLs.
//! If the host redacted (or refused) those only when they matched the key, whoever writes queries could
//! test guesses twelve characters at a time and read the key out. So the caller's own text is exempt —
//! JSON escapes and percent-encoding decoded (a guess spelled `\u0061` or `%61` is still the caller's) —
//! and a query holding a token too long to be any id or value, a pasted key, is refused before the
//! component sees it, without being quoted: a rule about lengths, which says nothing about the key.

use klairr_policy::redact::{each_reading, is_default_ignorable};
use klairr_policy::request_rules;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// Letters and digits in a row that no query needs: Stripe's longest ids have 24 after their prefix,
/// a restricted key's random part has 99.
pub const MAX_TOKEN: usize = 40;

/// What the caller wrote in a query, read once.
pub struct Written {
    /// The query's text as written, every string and object key it decodes to (when it is JSON), and
    /// what percent-decoding makes of each (as the request rules decode a URL): exempt from redaction.
    pub texts: Vec<String>,
    /// Its JSON object keys (a measure's name is one), never its string values: a value the caller
    /// wrote — a customer's id or email in a filter — is data, and a memory shape holds names only.
    pub names: Vec<String>,
}

/// What the caller wrote in `query`: its texts and its names (see [`Written`]).
pub fn written(query: &str) -> Written {
    let mut written = Written {
        texts: vec![query.to_owned()],
        names: Vec::new(),
    };
    // Every string and key as it is decoded, duplicates included: a JSON value keeps only the last of
    // two entries with one key, and the other, decoded, could hold a key escaped past the raw text's
    // reading (review: `{"list":"\u0072\u006b…","list":"charges"}` reached the component).
    let mut collected = Written {
        texts: Vec::new(),
        names: Vec::new(),
    };
    let mut reader = serde_json::Deserializer::from_str(query);
    if Collect(&mut collected).deserialize(&mut reader).is_ok() && reader.end().is_ok() {
        written.texts.append(&mut collected.texts);
        written.names.append(&mut collected.names);
    }
    let decoded: Vec<String> = written
        .texts
        .iter()
        .flat_map(|text| request_rules::percent_decodings(text))
        .collect();
    written.texts.extend(decoded);
    written
}

/// [`Written::texts`] of `query`.
pub fn caller_texts(query: &str) -> Vec<String> {
    written(query).texts
}

/// [`Written::names`] of `query`.
#[cfg(test)]
fn caller_names(query: &str) -> Vec<String> {
    written(query).names
}

/// Gathers what the caller wrote into a [`Written`], entry by entry, without building the value.
struct Collect<'w>(&'w mut Written);

impl<'de> DeserializeSeed<'de> for Collect<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Collect<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JSON")
    }

    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        self.0.texts.push(v.to_owned());
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Collect(&mut *self.0))?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            self.0.texts.push(key.clone());
            self.0.names.push(key);
            map.next_value_seed(Collect(&mut *self.0))?;
        }
        Ok(())
    }
}

/// The length of the longest run of ASCII letters and digits in `texts`, when it is over [`MAX_TOKEN`].
pub fn overlong_token(texts: &[String]) -> Option<usize> {
    texts
        .iter()
        .map(|t| longest_run(t))
        .max()
        .filter(|&len| len > MAX_TOKEN)
}

/// The longest run of ASCII letters and digits in `text`, read through what a reader does not see
/// between them — control characters and line breaks (U+2028 and U+2029 too) and zero-width or other
/// default-ignorable characters — as redaction reads a key: a key wrapped across lines or copied with
/// a zero-width space in it is still a pasted key (QA: it reached the component and came back).
/// Every reading redaction makes of the text is read so (its escapes decoded, its printable ASCII
/// alone, …: `each_reading`), so that what redaction would read through — and so exempt whole, as the
/// caller's — never ends a row here (review: a key cut by `ESC[0m`, a combining mark or a no-break
/// space was accepted, and the caller then credited with all of it).
fn longest_run(text: &str) -> usize {
    let mut longest = 0;
    each_reading(text, |reading| {
        longest = longest.max(longest_plain_run(reading))
    });
    longest
}

fn longest_plain_run(text: &str) -> usize {
    let (mut longest, mut run) = (0, 0);
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            run += 1;
            longest = longest.max(run);
        } else if !(c.is_control()
            || is_default_ignorable(c)
            || matches!(c, '\u{2028}' | '\u{2029}'))
        {
            run = 0;
        }
    }
    longest
}

/// The refusal of a query holding an overlong token; it never quotes the token.
pub fn overlong_message(len: usize) -> String {
    format!(
        "the query holds {len} letters and digits in a row (line breaks and invisible characters between \
         them do not end a row), more than the {MAX_TOKEN} the host accepts \
         (no id or value of a source is that long; a pasted API key is): if that is an API key, it was \
         not run or sent anywhere — take it out (and rotate the key if it was pasted somewhere shared); \
         a name of your own that long can be split with `_`"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_read_through_what_a_reader_does_not_see() {
        let key = "rk_test_51KlairrEmulatorReadOnlyAllFive0000OX9YIMtCFIPzgNZpB";
        for cut in [
            "\u{200b}", "\n", "\r\n", "\u{7}", "\u{feff}", "\u{2060}", "\u{2028}", "\u{2029}",
            "\u{85}",
        ] {
            let pasted = format!("{}{cut}{}", &key[..30], &key[30..]);
            assert_eq!(overlong_token(&[pasted]), Some(key.len() - 8), "{cut:?}");
        }
        // Printable characters end a row, as they always did: words, ids and dates stay apart.
        for apart in [
            "in_1234567890abcdefghijklmn cus_1234567890abcdefghijklmn",
            "a-b",
            "2026-01-01T10:00:00Z",
        ] {
            assert_eq!(overlong_token(&[apart.to_owned()]), None, "{apart}");
        }
    }

    #[test]
    fn the_callers_names_are_its_object_keys_never_its_values() {
        let names = caller_names(
            r#"{"list":"charges","filters":{"customer":"cus_q7secret"},"measures":{"n\u0031":"count"}}"#,
        );
        // In the order written (each entry read as it comes, duplicates too).
        assert_eq!(names, ["list", "filters", "customer", "measures", "n1"]);
        assert!(caller_names("{oops").is_empty());
    }

    #[test]
    fn the_callers_text_includes_what_its_json_escapes_spell() {
        let texts = caller_texts(r#"{"list":"\u0061bc","filters":{"k\u0065y":["x"]}}"#);
        for want in ["abc", "key", "x", "filters"] {
            assert!(texts.iter().any(|t| t == want), "{want} in {texts:?}");
        }
        // Not JSON: the text as written is all there is.
        assert_eq!(caller_texts("{oops"), vec!["{oops".to_owned()]);
    }

    #[test]
    fn only_tokens_longer_than_any_id_are_refused() {
        let longest_id = r#"{"list":"subscriptions","filters":{"customer":"cus_NffrFeUfNV2Hib"},"x":"sub_1MowQVLkdIwHu7ixeRlqHVzs"}"#;
        assert_eq!(overlong_token(&caller_texts(longest_id)), None);
        let pasted = format!(r#"{{"list":"rk_live_{}"}}"#, "a1".repeat(50));
        assert_eq!(overlong_token(&caller_texts(&pasted)), Some(100));
        // Escaped, it is the same token once decoded.
        let escaped = format!(r#"{{"list":"{}\u0061{}"}}"#, "b".repeat(30), "c".repeat(30));
        assert_eq!(overlong_token(&caller_texts(&escaped)), Some(61));
        // Percent-encoded, too: `%61` is an `a` once a URL is decoded.
        let encoded: String = "d"
            .repeat(45)
            .bytes()
            .map(|b| format!("%{b:02X}"))
            .collect();
        assert_eq!(
            overlong_token(&caller_texts(&format!(r#"{{"list":"{encoded}"}}"#))),
            Some(45)
        );
        assert!(!overlong_message(100).contains("a1a1"));
    }

    /// A restricted key's length (99 after its prefix), made up.
    const KEY99: &str = "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";

    /// A key cut by anything redaction reads through (an escape sequence, a combining mark, an
    /// invisible or private-use character, a no-break space) is refused as a pasted key: accepted, the
    /// caller was credited with all of it and the component held it (review).
    #[test]
    fn rows_are_read_through_what_redaction_reads_through() {
        use klairr_policy::redact::SecretRuns;
        let runs = SecretRuns::new(KEY99);
        for (what, cut) in [
            ("ESC [0m", "\\u001b[0m"),
            ("U+0301", "\\u0301"),
            ("U+FFF9", "\\ufff9"),
            ("U+E000", "\\ue000"),
            ("U+00A0", "\\u00a0"),
        ] {
            let b = &KEY99[8..];
            let k = format!(
                "rk_live_{}{cut}{}{cut}{}{cut}{}",
                &b[..25],
                &b[25..50],
                &b[50..75],
                &b[75..]
            );
            let texts = caller_texts(&format!(
                r#"{{"list":"charges","filters":{{"customer":"{k}"}}}}"#
            ));
            assert!(overlong_token(&texts).is_some(), "{what}: not refused");
            let borrowed: Vec<&str> = texts.iter().map(String::as_str).collect();
            let _caller = runs.caller_wrote(&borrowed);
            assert_eq!(
                runs.redact(KEY99),
                KEY99,
                "{what}: the caller did write it all"
            );
        }
        // Ordinary queries are not refused: ids, emails, names with accents, dates.
        for query in [
            r#"{"list":"charges","filters":{"customer":"cus_1234567890abcdefghijklmn","status":"succeeded"}}"#,
            r#"{"list":"customers","filters":{"email":"jörg.müller-schmidt@example.com"}}"#,
            r#"{"list":"invoices","filters":{"created":{"gte":"2026-01-01T10:00:00+02:00"}}}"#,
        ] {
            assert_eq!(overlong_token(&caller_texts(query)), None, "{query}");
        }
    }

    /// Every entry of the query is read, a key given twice included: a JSON value keeps only the last,
    /// and an escaped key in the first reached the component (review).
    #[test]
    fn an_escaped_key_in_a_duplicate_entry_is_refused() {
        let escaped: String = KEY99
            .chars()
            .map(|c| format!("\\u{:04x}", c as u32))
            .collect();
        let query = format!(r#"{{"list":"{escaped}","list":"charges"}}"#);
        assert!(serde_json::from_str::<serde_json::Value>(&query).is_ok());
        assert_eq!(overlong_token(&caller_texts(&query)), Some(99));
        assert_eq!(
            caller_names(&query),
            ["list", "list"],
            "both entries' names are the caller's"
        );
    }
}
