//! Diagnosis: the slow path, taken only when the one-pass parse of a page failed.

use super::{safe_id, RowError};
use crate::json::{self, Kind};
use crate::prelude::*;
use crate::schema::Table;

/// Explain why `body` did not parse as a page of `T`. The reader's errors say what and where, but not in
/// which object: the envelope is checked, then each object is read on its own (with the same typed
/// structs as the fast path), and in the first one that fails the error's offset is mapped back to the
/// dotted path of the value that starts or ends there ([`locate`]). The body is never built into a tree;
/// a small scanner ([`span`], [`members`], [`elements`]) walks text the reader has accepted.
#[cold]
#[inline(never)]
pub(super) fn diagnose(
    table: Table,
    body: &[u8],
    original: &json::Error,
    check: fn(&[u8]) -> Result<(), json::Error>,
) -> RowError {
    let t = table.name();
    if let Err(e) = json::validate(body) {
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
        if text.first() != Some(&b'{') {
            return RowError::WrongType(format!("{t}: data[{i}] is not an object"));
        }
        let name = members(text, (0, text.len()))
            .iter()
            .rev()
            .find(|(k, _)| k == "id")
            .and_then(|(_, s)| string(&text[s.0..s.1]))
            .filter(|id| safe_id(id).is_some())
            .unwrap_or_else(|| format!("data[{i}]"));
        let path = locate(text, err.at);
        return RowError::WrongType(match (&err.kind, path.is_empty()) {
            (Kind::Missing(field), true) => format!(
                "{t}: {name} has no '{field}' field, which Stripe always sends at this API version"
            ),
            (kind, true) => format!("{t}: {name} {}", plain(kind)),
            (kind, false) => format!("{t}: field '{}' of {name} {}", path.join("."), plain(kind)),
        });
    }
    RowError::Malformed(format!("{t}: {original}"))
}

/// What is wrong with a value, as the predicate of a sentence about it: "is not an integer (got string)".
/// The reader's errors name types and fields, never the text, so no row value reaches a message.
fn plain(kind: &Kind) -> String {
    match kind {
        Kind::Missing(field) => format!("is an object without '{field}'"),
        Kind::Duplicate(field) => format!("has a duplicate field `{field}`"),
        Kind::Type {
            expected,
            got: "null",
        } => format!("is null, but Stripe always sends {expected} there at this API version"),
        Kind::Type { expected, got } => format!("is not {expected} (got {got})"),
        Kind::Syntax(message) => format!("cannot be read ({message})"),
    }
}

/// The path (object keys and array indices) from the root of `text` to the value that starts or ends at
/// byte `at`: the reader reports a wrong type at the start of the value, a repeated key at the key (inside
/// its object), and a missing field just after the object's `}`. Empty for the root itself.
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

// A scanner for JSON text that the reader has already accepted: it finds where values start and end and
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
            core::str::from_utf8(inner).ok().map(str::to_owned)
        }
        [b'"', ..] => json::from_slice(literal).ok(),
        _ => None,
    }
}
