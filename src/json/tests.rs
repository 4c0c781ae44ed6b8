//! The reader against serde_json (the parser it replaces, kept as a dev-dependency): table tests for
//! the edge cases, and property tests on random JSON texts and random bytes that both make the same
//! accept/reject decision and decode the same values. The typed structs are compared in
//! `rows/tests.rs`, the DSL's tree in `dsl/json.rs`.

use super::*;
use crate::json_object::json_object;
use proptest::prelude::*;
use serde::de::IgnoredAny;
use std::fmt;

/// A tree read with the reader's primitives only, as a `serde_json::Value` (objects: last key wins, as
/// in `Value`), with serde_json's recursion limit. Non-integers are evaluated here, in the test, with
/// the standard library's (correctly rounded) parser.
fn tree(text: &[u8]) -> Result<serde_json::Value, Error> {
    let mut reader = Reader::new(text);
    let value = node(&mut reader, 1)?;
    reader.finish()?;
    Ok(value)
}

fn node(reader: &mut Reader<'_>, depth: usize) -> Result<serde_json::Value, Error> {
    use serde_json::Value;
    let first = reader.peek_value()?;
    Ok(match first {
        b'n' => reader.literal(b"null").map(|()| Value::Null)?,
        b't' => reader.literal(b"true").map(|()| Value::Bool(true))?,
        b'f' => reader.literal(b"false").map(|()| Value::Bool(false))?,
        b'"' => Value::String(reader.string()?.into_owned()),
        b'-' | b'0'..=b'9' => {
            let at = reader.offset();
            let n = reader.number()?;
            match n.integer {
                Some(i) if i < 0 => Value::from(i64::try_from(i).unwrap()),
                Some(i) => Value::from(u64::try_from(i).unwrap()),
                None => {
                    let f: f64 = std::str::from_utf8(n.text).unwrap().parse().unwrap();
                    if !f.is_finite() {
                        return Err(reader.error(at, Kind::Syntax("number out of range")));
                    }
                    Value::from(f)
                }
            }
        }
        b'[' | b'{' => {
            reader.begin(first, "a value")?;
            // serde_json: 128 levels, the 128th refused.
            if depth >= 128 {
                return Err(reader.error(0, Kind::Syntax("recursion limit exceeded")));
            }
            let mut items = Vec::new();
            let mut map = serde_json::Map::new();
            let mut first_member = true;
            while reader.more(first, first_member)? {
                first_member = false;
                if first == b'[' {
                    items.push(node(reader, depth + 1)?);
                } else {
                    let (key, _) = reader.key()?;
                    reader.colon()?;
                    let value = node(reader, depth + 1)?;
                    map.insert(key.into_owned(), value);
                }
            }
            if first == b'[' {
                Value::Array(items)
            } else {
                Value::Object(map)
            }
        }
        _ => return Err(reader.wrong_type("a value")),
    })
}

/// Equal trees, numbers that are not integers within a few units in the last place (serde_json
/// without `float_roundtrip` is not always correctly rounded, the standard library is).
fn same(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() && y.is_f64() => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            x == y || (x.to_bits().abs_diff(y.to_bits()) <= 16 && x.signum() == y.signum())
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|((k, x), (l, y))| k == l && same(x, y))
        }
        _ => a == b,
    }
}

/// Every comparison of the reader with serde_json on one input.
fn check_all(text: &[u8]) {
    let shown = String::from_utf8_lossy(text);
    // Validation (skip) is IgnoredAny.
    assert_eq!(
        validate(text).is_ok(),
        serde_json::from_slice::<IgnoredAny>(text).is_ok(),
        "validate: {shown:?}: {:?}",
        validate(text)
    );
    // The tree built from the primitives is serde_json's Value.
    match (
        tree(text),
        serde_json::from_slice::<serde_json::Value>(text),
    ) {
        (Ok(a), Ok(b)) => assert!(same(&a, &b), "tree: {shown:?}: {a:?} != {b:?}"),
        (Err(_), Err(_)) => {}
        (a, b) => panic!("tree: {shown:?}: reader {a:?}, serde_json {b:?}"),
    }
    // Typed scalars and containers: same decision, same value.
    fn typed<T>(text: &[u8], shown: &str)
    where
        T: Decode + serde::de::DeserializeOwned + PartialEq + fmt::Debug,
    {
        let ours = from_slice::<T>(text);
        let theirs = serde_json::from_slice::<T>(text);
        match (&ours, &theirs) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{}: {shown:?}", std::any::type_name::<T>()),
            (Err(_), Err(_)) => {}
            _ => panic!(
                "{}: {shown:?}: reader {ours:?}, serde_json {theirs:?}",
                std::any::type_name::<T>()
            ),
        }
    }
    typed::<String>(text, &shown);
    typed::<i64>(text, &shown);
    typed::<bool>(text, &shown);
    typed::<Option<i64>>(text, &shown);
    typed::<Option<String>>(text, &shown);
    typed::<Vec<Option<i64>>>(text, &shown);
    typed::<Vec<String>>(text, &shown);
    typed::<Vec<Vec<bool>>>(text, &shown);
}

#[test]
fn edge_cases_match_serde_json() {
    let cases: &[&[u8]] = &[
        b"",
        b" ",
        b"null",
        b" null ",
        b"nul",
        b"nulll",
        b"true",
        b"tru",
        b"false",
        b"0",
        b"-0",
        b"-0.0",
        b"00",
        b"01",
        b"-",
        b"-a",
        b"1.",
        b"1.e5",
        b".5",
        b"1e",
        b"1e+",
        b"1E-7",
        b"1e400",
        b"-1e400",
        b"1e-400",
        b"9223372036854775807",
        b"9223372036854775808",
        b"-9223372036854775808",
        b"-9223372036854775809",
        b"18446744073709551615",
        b"18446744073709551616",
        b"123456789012345678901234567890",
        b"+1",
        b"1 2",
        b"\"\"",
        b"\"abc\"",
        b"\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"",
        b"\"\\u0041\\u00e9\\u20AC\"",
        b"\"\\ud83d\\ude00\"",
        b"\"\\uD83D\\uDE00\"",
        b"\"\\ud83d\"",
        b"\"\\ud83dx\"",
        b"\"\\ud83d\\n\"",
        b"\"\\ud83d\\u0041\"",
        b"\"\\ud83d\\ud83d\\ude00\"",
        b"\"\\ude00\"",
        b"\"\\u12\"",
        b"\"\\u12g4\"",
        b"\"\\x\"",
        b"\"\\",
        b"\"abc",
        b"\"a\x01b\"",
        b"\"a\x1fb\"",
        b"\"a\x7fb\"",
        b"\"\xc3\xa9\"",
        b"\"\xc3\"",
        b"\"\xff\"",
        b"\"\xed\xa0\x80\"",
        b"[\"\xff\"]",
        b"{\"a\":\"\xff\"}",
        b"{\"\xff\":1}",
        b"{\"a\":\"\\ud800\"}",
        b"[]",
        b"[ ]",
        b"[1,]",
        b"[,1]",
        b"[1 2]",
        b"[1",
        b"[1,",
        b"]",
        b"{}",
        b"{ }",
        b"{\"a\"}",
        b"{\"a\":}",
        b"{\"a\":1,}",
        b"{\"a\":1 \"b\":2}",
        b"{1:2}",
        b"{\"a\":1",
        b"{\"a\":1,\"a\":2}",
        b"[[[[[[[[[[]]]]]]]]]]",
        b"[{\"a\":[{\"b\":null}]}]",
        b"\t\n\r [1]\t\n\r ",
        b"\x0c1",
        b"1\x00",
        b"\xef\xbb\xbf1",
    ];
    for case in cases {
        check_all(case);
    }
}

#[test]
fn skipping_has_no_depth_limit_and_no_recursion() {
    // serde_json ignores a value of any depth (IgnoredAny uses a heap stack); so does the reader.
    let deep = format!("{}{}", "[".repeat(200_000), "]".repeat(200_000));
    assert!(validate(deep.as_bytes()).is_ok());
    assert!(serde_json::from_slice::<IgnoredAny>(deep.as_bytes()).is_ok());
    let objects = format!("{}1{}", "{\"a\":".repeat(200_000), "}".repeat(200_000));
    assert!(validate(objects.as_bytes()).is_ok());
    let unclosed = "[{\"a\":".repeat(100_000);
    assert!(validate(unclosed.as_bytes()).is_err());
    let mismatched = format!("{}{}", "[".repeat(1000), "}".repeat(1000));
    assert!(validate(mismatched.as_bytes()).is_err());
    // A tree is limited like serde_json's Value: 127 levels.
    for depth in [126, 127, 128, 129] {
        let text = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        check_all(text.as_bytes());
    }
}

#[test]
fn errors_say_where_and_never_quote_the_text() {
    let err = from_slice::<i64>(b"\n  \"jenny@example.com\"").unwrap_err();
    assert_eq!(err.at, 3);
    assert_eq!(
        err.to_string(),
        "invalid type: string, expected an integer at line 2 column 3"
    );
    let err = from_slice::<i64>(b"1.5").unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid type: number, expected an integer at line 1 column 1"
    );
    for beyond in [
        "99999999999999999999",
        "18446744073709551615",
        "9223372036854775808",
    ] {
        let err = from_slice::<i64>(beyond.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("integer beyond 64 bits"), "{err}");
    }
    let err = validate(b"[1,\n2,]").unwrap_err();
    assert_eq!(err.to_string(), "trailing comma at line 2 column 3");
    let err = validate(b"\"secret\x01\"").unwrap_err();
    assert!(!err.to_string().contains("secret"), "{err}");
}

#[test]
fn strings_borrow_unless_escaped() {
    let mut reader = Reader::new(b"\"plain\"");
    assert!(matches!(reader.string(), Ok(Cow::Borrowed("plain"))));
    let mut reader = Reader::new(b"\"tab\\there\"");
    assert!(matches!(reader.string(), Ok(Cow::Owned(s)) if s == "tab\there"));
}

/// The text of a JSON string: plain characters, every escape, surrogate pairs, and (rarely) lone
/// surrogates.
fn string_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        6 => "[a-z0-9 ]{1,4}",
        2 => "[éü€😀\u{7f}]",
        2 => prop::sample::select(vec!["\\\"", "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t"])
            .prop_map(str::to_owned),
        2 => "\\\\u[0-9a-fA-F]{4}",
        1 => "\\\\u[dD][89abAB][0-9a-fA-F]{2}\\\\u[dD][c-fC-F][0-9a-fA-F]{2}",
        1 => "\\\\u[dD][89a-fA-F][0-9a-fA-F]{2}",
    ];
    prop::collection::vec(piece, 0..5).prop_map(|pieces| format!("\"{}\"", pieces.concat()))
}

fn number_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        Just("-0".to_owned()),
        "-?(0|[1-9][0-9]{0,24})(\\.[0-9]{1,6})?([eE][+-]?[0-9]{1,3})?",
    ]
}

/// Whitespace between tokens: none, short, and long runs like Stripe's indentation.
fn ws() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "",
        "",
        "",
        " ",
        "\n",
        "\t ",
        "\r\n",
        "\n      ",
        "\n          ",
        " \t\r\n \t\r\n \t",
    ])
}

/// Random JSON text: every type, nested, with whitespace between tokens and repeated keys.
pub(crate) fn json_text() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_owned()),
        Just("true".to_owned()),
        Just("false".to_owned()),
        number_text(),
        string_text(),
    ];
    leaf.prop_recursive(4, 48, 5, |inner| {
        prop_oneof![
            prop::collection::vec((ws(), inner.clone(), ws()), 0..5).prop_map(|items| {
                let items: Vec<String> = items
                    .into_iter()
                    .map(|(a, v, b)| format!("{a}{v}{b}"))
                    .collect();
                format!("[{}]", items.join(","))
            }),
            prop::collection::vec(
                (
                    prop_oneof![3 => "\"[a-c]\"", 1 => string_text()],
                    ws(),
                    inner
                ),
                0..5
            )
            .prop_map(|members| {
                let members: Vec<String> = members
                    .into_iter()
                    .map(|(k, w, v)| format!("{k}{w}:{w}{v}"))
                    .collect();
                format!("{{{}}}", members.join(","))
            }),
        ]
    })
}

/// A text broken in a few places: bytes deleted, replaced or inserted (JSON's punctuation, letters,
/// control characters, and bytes that are not UTF-8).
pub(crate) fn broken(text: String, edits: Vec<(usize, u8, u8)>) -> Vec<u8> {
    // Near misses of whitespace too: `!`, 0x0b, 0x0c and 0x08 are whitespace bytes with the low bit
    // flipped, 0xa0 and 0x8a with the high bit set.
    const BYTES: &[u8] = b"{}[]:,\"\\ -+.eE0123456789untrfalsu\x00\x1f\x7f\x80\xbf\xc3\xed\xf0\xff!\x0b\x0c\x08\xa0\x8a\n";
    let mut bytes = text.into_bytes();
    for (at, op, b) in edits {
        let at = at % (bytes.len() + 1);
        let b = BYTES[usize::from(b) % BYTES.len()];
        match op % 3 {
            0 if at < bytes.len() => {
                bytes.remove(at);
            }
            1 if at < bytes.len() => bytes[at] = b,
            _ => bytes.insert(at, b),
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn random_json_reads_as_serde_json_reads_it(text in json_text()) {
        check_all(text.as_bytes());
        // Valid text: serde_json takes it, and so must the reader.
        prop_assert!(validate(text.as_bytes()).is_ok() || serde_json::from_slice::<IgnoredAny>(text.as_bytes()).is_err());
    }

    #[test]
    fn broken_json_is_refused_where_serde_json_refuses_it(
        text in json_text(),
        edits in prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..4),
    ) {
        check_all(&broken(text, edits));
    }

    #[test]
    fn random_bytes_are_refused_where_serde_json_refuses_them(
        bytes in prop::collection::vec(any::<u8>(), 0..48),
    ) {
        check_all(&bytes);
    }

    #[test]
    fn random_scalars_read_as_serde_json_reads_them(
        text in prop_oneof![number_text(), string_text()],
        edits in prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 0..2),
    ) {
        check_all(&broken(text, edits));
    }
}

json_object! {
    /// Keys read through `Reader::object` (as bytes), against the serde impl the macro writes for tests.
    #[derive(Debug, PartialEq)]
    struct Keyed {
        id: Option<i64>,
        naive as "naïve": Option<i64>,
    }
}

/// Bytes of a string's body: plain ASCII runs longer and shorter than the 8-byte words strings are
/// scanned in, quotes, backslashes and escapes, control characters, valid multi-byte characters and
/// stray high bytes, at every offset.
fn string_body() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        6 => "[a-z]{1,11}".prop_map(String::into_bytes),
        1 => Just(b"id".to_vec()),
        1 => Just("naïve".as_bytes().to_vec()),
        1 => Just(b"\\u0069d".to_vec()),
        1 => Just(b"\"".to_vec()),
        1 => Just(b"\\".to_vec()),
        1 => prop::sample::select(vec![b"\\n".to_vec(), b"\\\"".to_vec(), b"\\\\".to_vec()]),
        1 => (0u8..0x20).prop_map(|b| vec![b]),
        1 => Just(vec![0x7f]),
        1 => (0x80u8..=0xff).prop_map(|b| vec![b]),
        1 => Just("é€😀".as_bytes().to_vec()),
    ];
    prop::collection::vec(piece, 0..6).prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn strings_and_keys_of_any_bytes_read_as_serde_json_reads_them(body in string_body()) {
        let mut string = vec![b'"'];
        string.extend(&body);
        string.push(b'"');
        check_all(&string);
        let mut object = b"{\"".to_vec();
        object.extend(&body);
        object.extend(b"\": 1}");
        check_all(&object);
        let ours = from_slice::<Keyed>(&object);
        let theirs = serde_json::from_slice::<Keyed>(&object);
        match (&ours, &theirs) {
            (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
            (Err(_), Err(_)) => {}
            _ => prop_assert!(false, "{:?}: reader {ours:?}, serde_json {theirs:?}", String::from_utf8_lossy(&object)),
        }
    }
}
