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

use klairr_policy::redact::is_default_ignorable;
use klairr_policy::request_rules;
use serde_json::Value;

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
    if let Ok(value) = serde_json::from_str::<Value>(query) {
        collect(&value, &mut written);
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

fn collect(value: &Value, written: &mut Written) {
    match value {
        Value::String(s) => written.texts.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| collect(v, written)),
        Value::Object(entries) => {
            for (key, v) in entries {
                written.texts.push(key.clone());
                written.names.push(key.clone());
                collect(v, written);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
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
fn longest_run(text: &str) -> usize {
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
        assert_eq!(names, ["filters", "customer", "list", "measures", "n1"]);
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
}
