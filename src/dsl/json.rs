//! Reading the text: a tiny JSON tree, depth- and size-limited, duplicate keys refused.

use super::{invalid, quote, EXAMPLE, TOP_LEVEL_KEYS};
use crate::error::ConnectorError;
use crate::json::{self, Reader};
use crate::prelude::*;

/// Containers nest at most this deep: top-level object (1) → filters object (2) → range object (3), or
/// top-level object → `group_by` array → bucket object, or top-level object → `measures` object → measure
/// object.
const MAX_DEPTH: usize = 3;
/// No DSL object has more keys, and no DSL array more elements, than this; more is refused before any
/// duplicate check.
const MAX_KEYS_PER_OBJECT: usize = 32;

/// Just enough of a JSON value for the DSL.
#[derive(Debug, PartialEq)]
pub(super) enum Json {
    Null,
    Bool(bool),
    /// Any JSON integer that fits an i64 or a u64.
    Int(i128),
    /// Any other number (`10.0`, `1e3`, `-0`, or too large for 64 bits), as written: the DSL refuses
    /// every such number, and its text is what the refusal shows.
    Float(String),
    Str(String),
    /// Elements in document order (`group_by` is the DSL's one array).
    Array(Vec<Json>),
    /// Entries in document order, keys unique.
    Object(Vec<(String, Json)>),
}

impl Json {
    /// For a whole number too large for 64 bits (a `Float` written with 19 digits or more and no point or
    /// exponent), whether it is negative; `None` for anything else. Such a number is refused or clamped
    /// for its size, not called "not a whole number".
    pub(super) fn huge_integer(&self) -> Option<bool> {
        let Json::Float(text) = self else {
            return None;
        };
        let digits = text.strip_prefix('-').unwrap_or(text);
        (digits.len() >= 19 && digits.bytes().all(|b| b.is_ascii_digit()))
            .then(|| text.starts_with('-'))
    }
}

pub(super) fn read_json(text: &str) -> Result<Json, ConnectorError> {
    let mut reader = Reader::new(text.as_bytes());
    let value = node(&mut reader, 1)?;
    reader.finish().map_err(not_json)?;
    Ok(value)
}

#[cold]
#[inline(never)]
fn not_json(e: json::Error) -> ConnectorError {
    invalid(format!(
        "the query is not valid JSON ({e}); a query looks like {EXAMPLE}"
    ))
}

/// Reads one value at nesting `depth` (the top-level value is at depth 1). Recursion is bounded: a
/// container at depth `MAX_DEPTH + 1` is refused before anything inside it is read.
fn node(reader: &mut Reader<'_>, depth: usize) -> Result<Json, ConnectorError> {
    let first = reader.peek_value().map_err(not_json)?;
    let value = match first {
        b'n' => reader.literal(b"null").map(|()| Json::Null),
        b't' => reader.literal(b"true").map(|()| Json::Bool(true)),
        b'f' => reader.literal(b"false").map(|()| Json::Bool(false)),
        b'"' => reader.string().map(|s| Json::Str(s.into_owned())),
        b'-' | b'0'..=b'9' => reader.number().map(|n| match n.integer {
            Some(n) => Json::Int(n),
            None => Json::Float(String::from_utf8_lossy(n.text).into_owned()),
        }),
        b'[' | b'{' => return container(reader, first, depth),
        _ => Err(reader.wrong_type("a JSON value")),
    };
    value.map_err(not_json)
}

/// The refusal of a query nested deeper than [`MAX_DEPTH`], saying where each shape's levels end.
fn too_deep() -> String {
    format!(
        "the query nests objects or arrays too deeply: the DSL needs at most {MAX_DEPTH} levels \
         (query → filters → a range such as {{\"gte\": \"2026-01-01\"}}; query → group_by → a bucket \
         such as {{\"created\": \"month\"}}; query → measures → a measure such as {{\"sum\": \"amount\"}}): \
         a range's bounds, a bucket's size and a measure's column are single values, and a measure \
         takes no condition (put it in filters, or group by its column)"
    )
}

fn container(reader: &mut Reader<'_>, open: u8, depth: usize) -> Result<Json, ConnectorError> {
    reader.begin(open, "a JSON value").map_err(not_json)?;
    if depth > MAX_DEPTH {
        return Err(invalid(too_deep()));
    }
    let mut items = Vec::new();
    let mut entries: Vec<(String, Json)> = Vec::new();
    let mut first = true;
    while reader.more(open, first).map_err(not_json)? {
        first = false;
        if open == b'[' {
            let item = node(reader, depth + 1)?;
            if items.len() == MAX_KEYS_PER_OBJECT {
                return Err(invalid(format!(
                    "an array in the query has more than {MAX_KEYS_PER_OBJECT} elements; the DSL's one array, \
                     group_by, has at most a handful"
                )));
            }
            items.push(item);
            continue;
        }
        let (key, _) = reader.key().map_err(not_json)?;
        if entries.len() == MAX_KEYS_PER_OBJECT {
            return Err(invalid(format!(
                "an object in the query has more than {MAX_KEYS_PER_OBJECT} keys; the DSL's objects have a \
                 handful (top level: {TOP_LEVEL_KEYS})"
            )));
        }
        if entries.iter().any(|(k, _)| *k == key) {
            return Err(invalid(format!(
                "duplicate key {} in the query: give each key once",
                quote(&key)
            )));
        }
        reader.colon().map_err(not_json)?;
        let value = node(reader, depth + 1)?;
        entries.push((key.into_owned(), value));
    }
    Ok(if open == b'[' {
        Json::Array(items)
    } else {
        Json::Object(entries)
    })
}

#[cfg(test)]
mod reference;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use reference::Json as Ref;

    /// The same tree, numbers that are not integers compared by value (the reference's f64 within a few
    /// units in the last place of the text's correctly rounded value: serde_json without
    /// `float_roundtrip` is not always correctly rounded).
    fn same(ours: &Json, theirs: &Ref) -> bool {
        match (ours, theirs) {
            (Json::Null, Ref::Null) => true,
            (Json::Bool(a), Ref::Bool(b)) => a == b,
            (Json::Int(a), Ref::Int(b)) => a == b,
            (Json::Float(text), Ref::Float(b)) => {
                let a: f64 = text.parse().unwrap();
                a == *b || (a.to_bits().abs_diff(b.to_bits()) <= 16 && a.signum() == b.signum())
            }
            (Json::Str(a), Ref::Str(b)) => a == b,
            (Json::Array(a), Ref::Array(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same(a, b))
            }
            (Json::Object(a), Ref::Object(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|((k, a), (l, b))| k == l && same(a, b))
            }
            _ => false,
        }
    }

    /// `read_json` against the serde_json reader it replaced: the same tree, or the same refusal (the
    /// reference's own refusals carried serde_json's position suffix, which the reader's do not).
    fn compare(text: &str) {
        match (read_json(text), reference::read_json(text)) {
            (Ok(a), Ok(b)) => assert!(same(&a, &b), "{text:?}: {a:?} != {b:?}"),
            // serde_json evaluates every number and refuses one beyond f64 (`1e999`); the reader
            // keeps a non-integer's text, which the DSL refuses wherever it stands.
            (_, Err(b)) if b.to_string().contains("number out of range") => {}
            (Err(a), Err(b)) => {
                let (a, b) = (a.to_string(), b.to_string());
                let not_json = "the query is not valid JSON (";
                if b.starts_with(not_json) {
                    assert!(a.starts_with(not_json), "{text:?}: {a} / {b}");
                } else {
                    let b = b.rsplit_once(" at line ").map_or(&b[..], |(m, _)| m);
                    assert_eq!(a, b, "{text:?}");
                }
            }
            (a, b) => panic!("{text:?}: reader {a:?}, serde_json {b:?}"),
        }
    }

    #[test]
    fn edge_cases_read_as_with_serde_json() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        let many = |n: usize, array: bool| {
            let items: Vec<String> = (0..n)
                .map(|i| {
                    if array {
                        i.to_string()
                    } else {
                        format!("\"k{i}\":{i}")
                    }
                })
                .collect();
            if array {
                format!("[{}]", items.join(","))
            } else {
                format!("{{{}}}", items.join(","))
            }
        };
        let mut cases: Vec<String> = [
            "",
            " ",
            "{}",
            "[]",
            "null",
            "true",
            "1",
            "-0",
            "1.0",
            "1e3",
            "-1e-3",
            "1e999",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775808",
            "-9223372036854775809",
            "\"\\ud83d\\ude00\"",
            "\"\\ud83d\"",
            "\"\\ude00\"",
            "{\"a\":1,\"a\":2}",
            "{\"a\":1,\"a\"}",
            "{\"a\" 1}",
            "{\"a\":1,}",
            "[1,]",
            "{\"list\":\"customers\"} x",
            "{\"a\":{\"b\":{\"c\":[]}}}",
            "{\"a\":[[[1]]]}",
            "{\"a\":[{\"b\":1}]}",
            "[[[[",
            "{\"a\":\"\u{1}\"}",
            "{\"\\u0061\":1,\"a\":2}",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for n in [3, 4, 5] {
            cases.push(deep(n));
        }
        for n in [32, 33] {
            cases.push(many(n, true));
            cases.push(many(n, false));
            cases.push(format!("{{\"g\":{}}}", many(n, true)));
        }
        // The 33rd key is refused before its colon is looked for; a 33rd element is read first.
        let keys = many(32, false);
        cases.push(format!("{},\"k32\" 1}}", &keys[..keys.len() - 1]));
        let items = many(32, true);
        cases.push(format!("{{\"g\":{},x]}}", &items[..items.len() - 1]));
        for case in &cases {
            compare(case);
        }
    }

    fn dsl_text() -> impl Strategy<Value = String> {
        prop_oneof![
            crate::json::tests::json_text(),
            // Queries the DSL's own tests use, so that most texts get past the first key.
            crate::dsl::tests::arb_json().prop_map(|v| v.to_string()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

        #[test]
        fn random_queries_read_as_with_serde_json(text in dsl_text()) {
            compare(&text);
        }

        #[test]
        fn broken_queries_are_refused_as_with_serde_json(
            text in dsl_text(),
            edits in prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..4),
        ) {
            let bytes = crate::json::tests::broken(text, edits);
            // The DSL comes as a WIT string: UTF-8 only.
            if let Ok(text) = core::str::from_utf8(&bytes) {
                compare(text);
            }
        }
    }

    #[test]
    fn deep_nesting_is_refused_at_the_fourth_level_whatever_the_length() {
        // Past the size limit on purpose: the depth check alone must stop this without recursing.
        let deep = format!("{}{}", "[".repeat(1_000_000), "]".repeat(1_000_000));
        let err = read_json(&deep).unwrap_err();
        assert!(err.to_string().contains("too deeply"), "{err}");
        let unclosed = "{\"a\":".repeat(1_000_000);
        assert!(read_json(&unclosed)
            .unwrap_err()
            .to_string()
            .contains("too deeply"));
        assert!(read_json(r#"{"a":{"b":{"c":1}}}"#).is_ok());
        assert!(read_json(r#"{"a":{"b":{"c":[]}}}"#).is_err());
        assert!(read_json(r#"{"a":[{"b":1}]}"#).is_ok());
        assert!(read_json(r#"{"a":[[1]]}"#).is_ok());
        assert!(read_json(r#"{"a":[[[1]]]}"#).is_err());
    }

    #[test]
    fn arrays_keep_their_elements_in_order_and_are_bounded() {
        let Ok(Json::Object(entries)) = read_json(r#"{"g":["a",{"b":"c"},3]}"#) else {
            panic!("an object")
        };
        let Json::Array(items) = &entries[0].1 else {
            panic!("an array: {entries:?}")
        };
        assert!(
            matches!(&items[..], [Json::Str(a), Json::Object(b), Json::Int(3)] if a == "a" && b.len() == 1)
        );
        let long = format!(
            "{{\"g\":[{}]}}",
            vec!["1"; MAX_KEYS_PER_OBJECT + 1].join(",")
        );
        let err = read_json(&long).unwrap_err();
        assert!(err.to_string().contains("more than 32 elements"), "{err}");
    }
}
