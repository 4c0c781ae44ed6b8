//! Diagnosis: the slow path, taken only when the one-pass parse of a page failed.

use super::{safe_id, RowError};
use crate::schema::Table;
use serde::de::IgnoredAny;

/// Explain why `body` did not parse as a page of `T`. serde's errors do not say which field failed, but
/// serde_json's say where: the envelope is checked, then each object is parsed on its own (with the same
/// typed structs as the fast path), and in the first one that fails the error's position is mapped back
/// to the dotted path of the value that starts or ends there ([`locate`]). The body is never built into
/// a tree; a small scanner ([`span`], [`members`], [`elements`]) walks text serde_json has accepted.
#[cold]
#[inline(never)]
pub(super) fn diagnose(
    table: Table,
    body: &[u8],
    original: &serde_json::Error,
    check: fn(&[u8]) -> Result<(), serde_json::Error>,
) -> RowError {
    let t = table.name();
    if let Err(e) = serde_json::from_slice::<IgnoredAny>(body) {
        return RowError::Malformed(format!("{t}: the response body is not JSON ({e})"));
    }
    let root = span(body, skip_ws(body, 0));
    if body.get(root.0) != Some(&b'{') {
        return RowError::Malformed(format!("{t}: the response body is not a JSON object"));
    }
    // Like a JSON object read into a map, the last copy of a repeated key wins.
    let envelope = members(body, root);
    let member = |name: &str| envelope.iter().rev().find(|(k, _)| k == name).map(|m| m.1);
    let Some(data) = member("data").filter(|s| body.get(s.0) == Some(&b'[')) else {
        return RowError::Malformed(format!(
            "{t}: the response has no \"data\" array: it is not a Stripe list"
        ));
    };
    if !member("has_more").is_some_and(|s| matches!(&body[s.0..s.1], b"true" | b"false")) {
        return RowError::Malformed(format!(
            "{t}: the response has no boolean \"has_more\": it is not a Stripe list"
        ));
    }
    for (i, object) in elements(body, data).into_iter().enumerate() {
        let text = &body[object.0..object.1];
        let Err(err) = check(text) else {
            continue;
        };
        let is_object = text.first() == Some(&b'{');
        let fields = if is_object {
            members(text, (0, text.len()))
        } else {
            Vec::new()
        };
        let name = fields
            .iter()
            .rev()
            .find(|(k, _)| k == "id")
            .and_then(|(_, s)| string(&text[s.0..s.1]))
            .filter(|id| safe_id(id).is_some())
            .unwrap_or_else(|| format!("data[{i}]"));
        if !is_object {
            return RowError::WrongType(format!("{t}: data[{i}] is not an object"));
        }
        let message = unquoted(&without_position(&err));
        let path =
            offset(text, err.line(), err.column()).map_or_else(Vec::new, |at| locate(text, at));
        if let Some(field) = missing_field(&message).filter(|_| path.is_empty()) {
            return RowError::WrongType(format!(
                "{t}: {name} has no '{field}' field, which Stripe always sends at this API version"
            ));
        }
        return RowError::WrongType(if path.is_empty() {
            format!("{t}: {name} has a field of the wrong type ({message})")
        } else {
            format!(
                "{t}: field '{}' of {name} {}",
                path.join("."),
                plain(&message)
            )
        });
    }
    RowError::Malformed(format!("{t}: {}", unquoted(&original.to_string())))
}

/// serde_json's message without its " at line L column C" suffix.
fn without_position(err: &serde_json::Error) -> String {
    let full = err.to_string();
    let suffix = format!(" at line {} column {}", err.line(), err.column());
    match full.strip_suffix(&suffix) {
        Some(message) => message.to_owned(),
        None => full,
    }
}

/// `missing field `x`` → `x`.
fn missing_field(err: &str) -> Option<&str> {
    err.strip_prefix("missing field `")?.split('`').next()
}

/// The byte offset of serde_json's (1-based line, 0-based byte column) position in `text`.
fn offset(text: &[u8], line: usize, column: usize) -> Option<usize> {
    let line_start = match line {
        0 => return None,
        1 => 0,
        n => {
            text.iter()
                .enumerate()
                .filter(|(_, c)| **c == b'\n')
                .nth(n - 2)?
                .0
                + 1
        }
    };
    Some(line_start + column)
}

/// The path (object keys and array indices) from the root of `text` to the value that starts or ends at
/// byte `at`: serde_json reports a wrong type just after the scalar it read, or at the `[`/`{` it did not
/// expect, and a missing field just after the object's `}`. Empty for the root itself.
fn locate(text: &[u8], at: usize) -> Vec<String> {
    let mut path = Vec::new();
    let mut node = (0, text.len());
    'descend: while node.0 != at && node.1 != at {
        let children: Vec<(String, (usize, usize))> = match text.get(node.0) {
            Some(b'{') => members(text, node),
            Some(b'[') => elements(text, node)
                .into_iter()
                .enumerate()
                .map(|(i, s)| (i.to_string(), s))
                .collect(),
            _ => break,
        };
        for (key, child) in children {
            if child.0 <= at && at <= child.1 {
                path.push(key);
                node = child;
                continue 'descend;
            }
        }
        break;
    }
    path
}

// A scanner for JSON text that serde_json has already accepted: it finds where values start and end and
// never validates. Spans are `(start, end)` byte offsets, end exclusive. It keeps no stack, so nesting
// depth costs nothing.

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\n' | b'\r' | b'\t')) {
        i += 1;
    }
    i
}

/// The end of the string whose opening quote is at `i`.
fn string_end(b: &[u8], mut i: usize) -> usize {
    i += 1;
    while let Some(&c) = b.get(i) {
        i += 1;
        match c {
            b'\\' => i += 1,
            b'"' => break,
            _ => {}
        }
    }
    i.min(b.len())
}

/// The span of the value that starts at `i`.
fn span(b: &[u8], start: usize) -> (usize, usize) {
    let mut i = start;
    let mut depth = 0usize;
    loop {
        match b.get(i) {
            None => break,
            Some(b'"') => i = string_end(b, i),
            Some(b'{' | b'[') => {
                depth += 1;
                i += 1;
            }
            Some(b'}' | b']') => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            Some(_) if depth > 0 => i += 1,
            Some(_) => {
                while !matches!(
                    b.get(i),
                    None | Some(b',' | b']' | b'}' | b' ' | b'\n' | b'\r' | b'\t')
                ) {
                    i += 1;
                }
            }
        }
        if depth == 0 {
            break;
        }
    }
    (start, i)
}

/// The values of the array at `array`, in order.
fn elements(b: &[u8], array: (usize, usize)) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = skip_ws(b, array.0 + 1);
    while i < array.1 && b[i] != b']' {
        let value = span(b, i);
        if value.1 == i {
            break; // not JSON after all; never loop
        }
        out.push(value);
        i = skip_ws(b, value.1);
        if b.get(i) == Some(&b',') {
            i = skip_ws(b, i + 1);
        }
    }
    out
}

/// The keys (unescaped) and value spans of the object at `object`, in document order.
fn members(b: &[u8], object: (usize, usize)) -> Vec<(String, (usize, usize))> {
    let mut out = Vec::new();
    let mut i = skip_ws(b, object.0 + 1);
    while i < object.1 && b[i] == b'"' {
        let key_end = string_end(b, i);
        let key = string(&b[i..key_end]).unwrap_or_default();
        i = skip_ws(b, key_end);
        if b.get(i) == Some(&b':') {
            i = skip_ws(b, i + 1);
        }
        let value = span(b, i);
        if value.1 == i {
            break; // not JSON after all; never loop
        }
        out.push((key, value));
        i = skip_ws(b, value.1);
        if b.get(i) == Some(&b',') {
            i = skip_ws(b, i + 1);
        }
    }
    out
}

/// The text of a JSON string literal (quotes included), unescaped; `None` if it is not a string.
fn string(literal: &[u8]) -> Option<String> {
    match literal {
        [b'"', inner @ .., b'"'] if !inner.contains(&b'\\') => {
            std::str::from_utf8(inner).ok().map(str::to_owned)
        }
        [b'"', ..] => serde_json::from_slice(literal).ok(),
        _ => None,
    }
}

/// serde's "invalid type: string, expected i64" (values already dropped by [`unquoted`]) as "is not an
/// integer (got string)".
fn plain(err: &str) -> String {
    if let Some(field) = missing_field(err) {
        return format!("is an object without '{field}'");
    }
    let Some((got, expected)) = err
        .strip_prefix("invalid type: ")
        .or_else(|| err.strip_prefix("invalid value: "))
        .and_then(|rest| rest.rsplit_once(", expected "))
    else {
        return format!("cannot be read ({err})");
    };
    let expected = match expected {
        "i64" | "u64" | "i32" => "an integer",
        "a boolean" => "a boolean",
        "a string" | "a borrowed string" => "a string",
        "a sequence" => "an array",
        e if e.starts_with("struct ") || e == "a map" => "an object",
        e => e,
    };
    if got == "null" {
        format!("is null, but Stripe always sends {expected} there at this API version")
    } else {
        format!("is not {expected} (got {got})")
    }
}

/// serde's message without the values it quotes: strings (`string "jenny@example.com"` → `string`) and
/// numbers go; a backticked field or variant name that reads like one (`missing field \`interval\``)
/// stays. Row values never reach an error message.
fn unquoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(200));
    let mut rest = message;
    while let Some(c) = rest.chars().next() {
        if c == '"' || c == '`' {
            let inner = &rest[1..];
            let (value, after) = match inner.find(c) {
                Some(end) => (&inner[..end], &inner[end + 1..]),
                None => (inner, ""),
            };
            let name_like = c == '`'
                && value.len() <= 64
                && value.starts_with(|f: char| f.is_ascii_alphabetic() || f == '_')
                && value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.');
            if name_like {
                out.push('`');
                out.push_str(value);
                out.push('`');
            } else if out.ends_with(' ') {
                // `string "x"` reads as `string`.
                out.pop();
            }
            rest = after;
        } else {
            if !c.is_control() {
                out.push(c);
            }
            rest = &rest[c.len_utf8()..];
        }
        if out.len() >= 200 {
            break;
        }
    }
    out
}
