//! One outgoing request against the connector manifest's rules, decided before a byte leaves the host.
//!
//! [`check`] in order:
//! 1. [`Phase::Offline`] (describe, open, canonical, the offline credential check): nothing is sent at all.
//! 2. The method: exactly as a rule spells it (upper-case standard methods; `get`, `GeT`, `GETS` are denied).
//! 3. The path, canonical or denied: starts with `/`; no empty segment (`//`, a trailing `/`), no `.` or
//!    `..`, no `%` at all (so an encoded `.`, `/` or `\` cannot change the resource a server resolves), no
//!    `\`, `;`, control or non-ASCII characters. Literal segments then match exactly and `{param}` segments
//!    their anchored pattern. The first rule of this method whose template matches decides; one whose
//!    `during` does not apply in this phase denies the request (a later rule overlapping it never
//!    lets a setup-only request through outside setup).
//! 4. The query: `&`-separated `name=value`; names percent-decoded must be in the rule's list, once each;
//!    values percent-decoded must be printable ASCII.
//! 5. Headers: the credential header and `proxy-authorization` are the host's; refused names are denied;
//!    pinned names must carry exactly the pinned value; anything else must be allowed. Values are printable.
//! 6. The body: on a rule without one, a declared non-zero Content-Length is denied (and the host sends no
//!    body at all: [`Allowed::rule`]`.body`).
//!
//! Every denial names what was refused and what the rule allows; it is for the host's log (the component
//! only learns that the request was denied), which masks the credential in it.
//!
//! The credential is not looked for. The component never holds it (the host attaches it), so a run of it
//! in a request can only be the component's guess, or text the query's caller wrote; and a decision that
//! depended on it would answer the guess: QA's hand-made component rebuilt a whole key from denials,
//! twelve characters at a time, and when such requests were instead left unanswered and their call
//! stopped, other connections with the same key could tell from the shared cache and budget. Judged by
//! the rules alone, a right guess and a wrong one go out, or are refused, alike.

use crate::credential::Credential;
use crate::manifest::{During, Manifest, RequestRule, Segment};

/// What the component is doing when it makes a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// describe, open, canonical, check-credential: no request at all. The denial does not quote the
    /// request (the component may hold a credential the host has not accepted yet).
    Offline,
    /// A query: rules with `during = "always"`.
    Query,
    /// Verifying a credential (setup): every rule, `during = "verify"` ones included.
    Verify,
}

/// The parts of an outgoing request the rules judge. Deliberately not `Debug`: a request may carry the
/// credential until [`check`] has looked, so it is never formatted whole.
#[derive(Clone, Copy)]
pub struct RequestView<'a> {
    /// As it will go on the wire (`http::Method::as_str()`).
    pub method: &'a str,
    pub path_and_query: &'a str,
    /// Names lower-case, as the guest set them (the `host` header excluded by the caller).
    pub headers: &'a [(&'a str, &'a [u8])],
    /// The declared Content-Length, if any.
    pub content_length: Option<u64>,
}

/// An allowed request: the rule that matched and its endpoint (the budget's unit).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Allowed<'m> {
    pub rule: &'m RequestRule,
    pub endpoint: String,
}

/// Why a request was denied, for the host's log (which masks the credential in it).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Denial(pub String);

/// The longest piece of a request quoted in a denial.
const SHOWN_REQUEST: usize = 200;
/// The longest name (query parameter, header) quoted in a denial.
const SHOWN_NAME: usize = 64;
/// Percent-decoding rounds when looking for the credential in text: `%25` makes another round possible.
const DECODE_ROUNDS: usize = 3;

/// Decide whether `req` may be sent. See the module docs for the order of checks.
pub fn check<'m>(
    manifest: &'m Manifest,
    req: &RequestView<'_>,
    phase: Phase,
) -> Result<Allowed<'m>, Denial> {
    if phase == Phase::Offline {
        // Not quoted: an offline call may make no request at all, so what this one held is beside the
        // point (and a credential the host has not accepted yet is masked by nothing).
        return Err(Denial(
            "request refused: no request is allowed while the component describes itself, opens a \
             connection or checks a credential offline"
                .into(),
        ));
    }
    let line = format!(
        "{} {}",
        printable(req.method, SHOWN_NAME),
        printable(req.path_and_query, SHOWN_REQUEST)
    );
    let deny = |reason: String| Denial(format!("{line}: {reason}"));
    let rules_of_method: Vec<&RequestRule> = manifest
        .requests
        .iter()
        .filter(|r| r.method == req.method)
        .collect();
    if rules_of_method.is_empty() {
        return Err(deny(format!(
            "method {} is not allowed: this connector's rules allow {} (spelled exactly so, upper-case)",
            quoted(req.method),
            list(methods(manifest))
        )));
    }
    if req.path_and_query.contains('#') {
        return Err(deny(
            "a request may not carry a fragment ('#'): remove it".into(),
        ));
    }
    let (path, query) = match req.path_and_query.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (req.path_and_query, None),
    };
    let segments = canonical_segments(path).map_err(deny)?;
    let rule = find_rule(manifest, &rules_of_method, &segments, req.method, phase).map_err(deny)?;
    check_query(rule, query).map_err(deny)?;
    check_headers(manifest, rule, req.headers).map_err(deny)?;
    if let Some(length) = req.content_length.filter(|n| *n > 0 && !rule.body) {
        return Err(deny(format!(
            "{} takes no request body, but the request declares Content-Length: {length}",
            rule.endpoint()
        )));
    }
    Ok(Allowed {
        rule,
        endpoint: rule.endpoint(),
    })
}

/// Headers the host adds to an allowed request: the pinned ones, then the credential header. The host
/// writes these itself, replacing any the component set (a pinned one it may only have set to this value).
pub fn host_headers(manifest: &Manifest, credential: &Credential) -> Vec<(String, String)> {
    let mut headers = manifest.headers.pinned.clone();
    headers.push(manifest.credential.header(credential));
    headers
}

/// What `text` becomes after each round of lossy percent-decoding, up to `DECODE_ROUNDS` (fewer when a
/// round changes nothing): what a lenient server might read in it. The credential scans of the host's
/// log lines and of a caller's own text look at these.
pub fn percent_decodings(text: &str) -> Vec<String> {
    let mut rounds: Vec<String> = Vec::new();
    let mut current = text.as_bytes().to_vec();
    for _ in 0..DECODE_ROUNDS {
        if !current.contains(&b'%') {
            break;
        }
        let next = percent_decode_lossy(&current);
        if next == current {
            break;
        }
        rounds.push(String::from_utf8_lossy(&next).into_owned());
        current = next;
    }
    rounds
}

/// Step 3: the path's segments, or why the path is not canonical.
fn canonical_segments(path: &str) -> Result<Vec<&str>, String> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err("the path must start with '/'".into());
    };
    for c in path.chars() {
        let problem = match c {
            '%' => "'%': no percent-encoding is allowed in paths (an encoded '.', '/' or '\\' could change \
                    which resource the server resolves)",
            '\\' => "'\\': a backslash is not a path separator here",
            ';' => "';': path parameters are not allowed",
            c if c.is_control() => "a control character",
            c if !c.is_ascii() => "a non-ASCII character",
            c if c.is_ascii_alphanumeric() || "/-._~!$&'()*+,=:@".contains(c) => continue,
            _ => "a character that is not allowed in a path",
        };
        return Err(format!("the path contains {problem}"));
    }
    let segments: Vec<&str> = rest.split('/').collect();
    for segment in &segments {
        match *segment {
            "" => {
                return Err(
                    "the path has an empty segment ('//' or a trailing '/'): write it without"
                        .into(),
                )
            }
            "." | ".." => {
                return Err(format!(
                "the path has a '{segment}' segment: paths are matched as written, never resolved"
            ))
            }
            _ => {}
        }
    }
    Ok(segments)
}

/// Step 3: the rule for this method and path in this phase, or a denial that says what is allowed.
fn find_rule<'m>(
    manifest: &'m Manifest,
    rules_of_method: &[&'m RequestRule],
    segments: &[&str],
    method: &str,
    phase: Phase,
) -> Result<&'m RequestRule, String> {
    let applies = |r: &RequestRule| r.during == During::Always || phase == Phase::Verify;
    // The first rule whose method and path match decides, whether or not it applies now: a later rule
    // whose path overlaps never lets a setup-only request through outside setup.
    if let Some(rule) = rules_of_method.iter().find(|r| r.path.matches(segments)) {
        if applies(rule) {
            return Ok(rule);
        }
        return Err(format!(
            "{} is allowed only while the connector verifies a credential (setup), not during a query",
            rule.endpoint()
        ));
    }
    let same_path: Vec<&str> = manifest
        .requests
        .iter()
        .filter(|r| applies(r) && r.path.matches(segments))
        .map(|r| r.method.as_str())
        .collect();
    if !same_path.is_empty() {
        return Err(format!(
            "method {method} is not allowed on this path (allowed: {})",
            list(same_path)
        ));
    }
    for rule in rules_of_method {
        if let Some((name, value, pattern)) = param_mismatch(rule, segments) {
            return Err(format!(
                "path segment {} is not a {{{name}}} of {}: it must match {pattern}",
                quoted(value),
                rule.endpoint()
            ));
        }
    }
    let paths = rules_of_method
        .iter()
        .filter(|r| applies(r))
        .map(|r| r.path.as_str());
    Err(format!(
        "the path is not allowed for {method} (allowed: {})",
        list(paths)
    ))
}

/// When `segments` has the rule's shape and literals but a parameter does not match: (name, segment,
/// anchored pattern).
fn param_mismatch<'a>(
    rule: &'a RequestRule,
    segments: &[&'a str],
) -> Option<(&'a str, &'a str, &'a str)> {
    let template = rule.path.segments();
    if template.len() != segments.len() {
        return None;
    }
    let mut mismatch = None;
    for (t, actual) in template.iter().zip(segments) {
        match t {
            Segment::Literal(l) if l != actual => return None,
            Segment::Literal(_) => {}
            Segment::Param { name, pattern } if !pattern.is_match(actual) => {
                mismatch = mismatch.or(Some((name.as_str(), *actual, pattern.as_str())))
            }
            Segment::Param { .. } => {}
        }
    }
    mismatch
}

/// Step 4.
fn check_query(rule: &RequestRule, query: Option<&str>) -> Result<(), String> {
    let Some(query) = query.filter(|q| !q.is_empty()) else {
        return Ok(());
    };
    let mut seen: Vec<String> = Vec::new();
    for part in query.split('&') {
        if part.is_empty() {
            return Err(
                "the query has an empty parameter ('&&', or '&' at either end): remove it".into(),
            );
        }
        if !part.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(
                "the query contains a space, control or non-ASCII character: such characters must be \
                 percent-encoded"
                    .into(),
            );
        }
        // Some servers also split parameters on `;`: `limit=1;expand[]=x` could reach one as a second
        // parameter this check never saw. A value that holds one writes it `%3B`.
        if part.contains(';') {
            return Err(
                "the query contains a raw ';', which some servers read as a parameter separator: \
                 percent-encode it as %3B"
                    .into(),
            );
        }
        let (raw_name, raw_value) = part.split_once('=').unwrap_or((part, ""));
        let name = percent_decode(raw_name)
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| {
                format!(
                    "query parameter name {} is not valid percent-encoded UTF-8",
                    quoted(raw_name)
                )
            })?;
        if !rule.query.contains(&name) {
            return Err(format!(
                "query parameter {} is not allowed on {} (allowed: {}; the rule's `query` in the manifest lists them)",
                quoted(&name),
                rule.endpoint(),
                list(rule.query.iter())
            ));
        }
        if seen.contains(&name) {
            return Err(format!(
                "query parameter {} is given twice: give it once",
                quoted(&name)
            ));
        }
        let value = percent_decode(raw_value).ok_or_else(|| {
            format!(
                "the value of query parameter {} has invalid percent-encoding",
                quoted(&name)
            )
        })?;
        if !value.iter().all(|b| (0x20..0x7f).contains(b)) {
            return Err(format!(
                "the value of query parameter {} decodes to control or non-ASCII characters",
                quoted(&name)
            ));
        }
        seen.push(name);
    }
    Ok(())
}

/// Step 5.
fn check_headers(
    manifest: &Manifest,
    rule: &RequestRule,
    headers: &[(&str, &[u8])],
) -> Result<(), String> {
    let rules = &manifest.headers;
    let credential_header = manifest.credential.header.as_str();
    for (name, value) in headers {
        let lower = name.to_ascii_lowercase();
        let name = lower.as_str();
        if name == credential_header || name == "proxy-authorization" {
            return Err(format!(
                "the component may not set the {} header: the host attaches the credential itself",
                quoted(name)
            ));
        }
        if rules.refused.iter().any(|r| r == name) {
            return Err(format!(
                "header {} is refused by this connector's manifest",
                quoted(name)
            ));
        }
        if let Some(pinned) = rules.pinned_value(name) {
            if *value != pinned.as_bytes() {
                return Err(format!(
                    "header {} is pinned to {pinned:?} by the manifest: send exactly that, or leave it to the host",
                    quoted(name)
                ));
            }
            continue;
        }
        if !rules.allowed.iter().any(|a| a == name) {
            let pinned = rules.pinned.iter().map(|(n, _)| n.as_str());
            return Err(format!(
                "header {} is not allowed (allowed: {}; pinned: {}; the manifest's [headers] lists them)",
                quoted(name),
                list(rules.allowed.iter()),
                list(pinned)
            ));
        }
        if !value
            .iter()
            .all(|b| (0x20..0x7f).contains(b) || *b == b'\t')
        {
            return Err(format!(
                "the value of header {} has control or non-ASCII characters",
                quoted(name)
            ));
        }
        if name == "content-length" {
            let length = std::str::from_utf8(value)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok());
            match length {
                None => return Err("the Content-Length header is not a number".into()),
                Some(n) if n > 0 && !rule.body => {
                    return Err(format!(
                        "{} takes no request body, but the request declares Content-Length: {n}",
                        rule.endpoint()
                    ))
                }
                Some(_) => {}
            }
        }
    }
    Ok(())
}

/// Decode `%XX` escapes; `None` when a `%` is not followed by two hex digits.
fn percent_decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hi = hex(*bytes.get(i + 1)?)?;
            let lo = hex(*bytes.get(i + 2)?)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Decode the `%XX` escapes that are valid and keep everything else as it is (for the credential scan,
/// which must look at whatever a server might decode).
fn percent_decode_lossy(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escape = (bytes[i] == b'%')
            .then(|| Some(hex(*bytes.get(i + 1)?)? << 4 | hex(*bytes.get(i + 2)?)?))
            .flatten();
        match escape {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    out
}

fn hex(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// `text` for a log line: printable ASCII as is, anything else escaped (`\u{1b}`), at most `max` chars.
fn printable(text: &str, max: usize) -> String {
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == max {
            out.push('…');
            break;
        }
        if c == ' ' || c.is_ascii_graphic() {
            out.push(c);
        } else {
            out.extend(c.escape_default());
        }
    }
    out
}

/// A name in backticks, printable and capped.
fn quoted(name: &str) -> String {
    format!("`{}`", printable(name, SHOWN_NAME))
}

/// `a, b, c`, or `none`.
fn list<T: AsRef<str>>(items: impl IntoIterator<Item = T>) -> String {
    let items: Vec<String> = items.into_iter().map(|s| s.as_ref().to_owned()).collect();
    if items.is_empty() {
        return "none".into();
    }
    items.join(", ")
}

/// The distinct methods of the manifest's rules, in rule order.
fn methods(manifest: &Manifest) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for rule in &manifest.requests {
        if !out.contains(&rule.method.as_str()) {
            out.push(&rule.method);
        }
    }
    out
}

#[cfg(test)]
mod tests;
