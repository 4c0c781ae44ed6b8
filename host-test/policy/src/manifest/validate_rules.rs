//! Validating what a connector may send: its request rules (method, path template with anchored
//! parameter patterns, query names, phase, setup's probes and reads). The credential and the header
//! lists are `validate_credential`'s. See [`super::validate`] for the conventions of the messages.

use super::raw::RawRequest;
use super::validate::{show, Cx};
use super::{During, ManifestError, PathTemplate, ProbeSender, RequestRule, Segment};
use regex::RegexBuilder;
use std::collections::BTreeMap;

/// The methods a rule may name, in the spelling that goes on the wire.
pub(crate) const METHODS: &[&str] = &["GET", "POST", "DELETE", "PUT", "PATCH", "HEAD"];

/// A compiled parameter pattern may take this much memory; a larger one is a mistake, not a path rule.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

pub(super) fn requests(
    cx: &Cx<'_>,
    raw: Vec<RawRequest>,
) -> Result<Vec<RequestRule>, ManifestError> {
    if raw.is_empty() {
        return Err(cx.err(
            "requests",
            "lists no request: add at least one [[requests]] rule with a method and a path",
        ));
    }
    let mut rules: Vec<RequestRule> = Vec::with_capacity(raw.len());
    // (method, path with parameter names blanked): two rules with the same key match the same requests.
    let mut shapes: Vec<(String, String)> = Vec::with_capacity(raw.len());
    for (i, r) in raw.into_iter().enumerate() {
        let rule = request(cx, i, r)?;
        let shape = (rule.method.clone(), shape(&rule.path));
        if let Some(j) = shapes.iter().position(|s| *s == shape) {
            return Err(cx.err(
                format!("requests[{i}]"),
                format!(
                    "{} matches the same requests as requests[{j}] ({}): merge them into one rule (alternatives \
                     of a parameter go into one pattern, a|b); one method and path has one rule, so its \
                     phase, query parameters and body are those of all its requests",
                    rule.endpoint(),
                    rules[j].endpoint()
                ),
            ));
        }
        // One rule proves a resource readable: with two, setup could not say which must succeed.
        if let Some(r) = &rule.reads {
            if let Some(j) = rules.iter().position(|o| o.reads.as_ref() == Some(r)) {
                return Err(cx.err(
                    format!("requests[{i}].reads"),
                    format!(
                        "{} is read by requests[{j}] ({}) already: keep reads on one rule per resource",
                        show(r),
                        rules[j].endpoint()
                    ),
                ));
            }
        }
        // The host sends its probe as the path is written, and the first rule of its method whose path
        // matches decides a request: an earlier rule matching it would take the host's write (judged
        // under that rule, or not at all) and leave this one never answered, so setup could never pass.
        if let Some(path) = rule.host_probe().and(rule.path.literal()) {
            let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
            if let Some(j) = rules
                .iter()
                .position(|o| o.method == rule.method && o.path.matches(&segments))
            {
                return Err(cx.err(
                    format!("requests[{i}].path"),
                    format!(
                        "{} is one of the host's own probes, but requests[{j}] ({}) matches its path first and \
                         would take its request: put this rule before it, or change that rule's pattern",
                        rule.endpoint(),
                        rules[j].endpoint()
                    ),
                ));
            }
        }
        shapes.push(shape);
        rules.push(rule);
    }
    // A credential that can write where the host probes is told to set that resource to None: not one
    // the connector reads, or probes itself (which it would be told to set to Read).
    for (i, rule) in rules.iter().enumerate() {
        let Some(probe) = rule.host_probe() else {
            continue;
        };
        let theirs = rules.iter().position(|o| {
            o.reads.as_ref() == Some(&probe.resource)
                || o.probe.as_ref().is_some_and(|p| {
                    p.sent_by == ProbeSender::Component && p.resource == probe.resource
                })
        });
        if let Some(j) = theirs {
            return Err(cx.err(
                format!("requests[{i}].probe.resource"),
                format!(
                    "{} is read or probed by the connector (requests[{j}], {}), and a credential that can \
                     write where the host probes is told to set that resource to None: the host's own \
                     probes are for resources the connector never reads; send this one from the component \
                     (sent_by = \"component\")",
                    show(&probe.resource),
                    rules[j].endpoint()
                ),
            ));
        }
    }
    Ok(rules)
}

/// `/v1/customers/{}`: the template with parameter names left out.
fn shape(template: &PathTemplate) -> String {
    template
        .segments()
        .iter()
        .map(|s| match s {
            Segment::Literal(l) => format!("/{l}"),
            Segment::Param { .. } => "/{}".to_owned(),
        })
        .collect()
}

fn request(cx: &Cx<'_>, i: usize, raw: RawRequest) -> Result<RequestRule, ManifestError> {
    let field = |name: &str| format!("requests[{i}].{name}");
    if !METHODS.contains(&raw.method.as_str()) {
        let upper = raw.method.to_ascii_uppercase();
        let problem = if METHODS.contains(&upper.as_str()) {
            format!(
                "{} must be written in upper case, as it goes on the wire: write \"{upper}\"",
                show(&raw.method)
            )
        } else {
            format!(
                "{} is not a method a rule may allow: write one of {}",
                show(&raw.method),
                METHODS.join(", ")
            )
        };
        return Err(cx.err(field("method"), problem));
    }
    let path = template(cx, i, &raw.path, &raw.params)?;
    let mut query: Vec<String> = Vec::with_capacity(raw.query.len());
    for (j, name) in raw.query.into_iter().enumerate() {
        let ok = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_graphic() && !b"&=#%?+*".contains(&b));
        if !ok {
            return Err(cx.err(
                format!("requests[{i}].query[{j}]"),
                format!(
                    "{} is not a query parameter name: write it as the server decodes it, 1 to 64 printable \
                     characters without spaces or &=#%?+* (e.g. \"created[gte]\"; there are no wildcards: \
                     list each name)",
                    show(&name)
                ),
            ));
        }
        if let Some(k) = query.iter().position(|q| *q == name) {
            return Err(cx.err(
                format!("requests[{i}].query[{j}]"),
                format!(
                    "{} is already query[{k}]: list each parameter once",
                    show(&name)
                ),
            ));
        }
        query.push(name);
    }
    let during = match raw.during.as_deref() {
        None | Some("always") => During::Always,
        Some("verify") => During::Verify,
        Some(other) => {
            return Err(cx.err(
                field("during"),
                format!(
                    "{} is not a phase: write \"always\" (the default: queries and verification) or \"verify\" \
                     (only while a credential is verified)",
                    show(other)
                ),
            ))
        }
    };
    let probe = match raw.probe {
        None => None,
        Some(_) if during != During::Verify => {
            return Err(cx.err(
                field("probe"),
                "a write probe is sent only while a credential is verified: add during = \"verify\" to this rule",
            ))
        }
        Some(_) if ["GET", "HEAD"].contains(&raw.method.as_str()) => {
            return Err(cx.err(
                field("probe"),
                format!(
                    "a {} does not write: put probe on the rule of the write it tries (reads = \"…\" is what \
                     proves a read)",
                    raw.method
                ),
            ))
        }
        Some(p) => Some(super::validate_probe::probe(cx, i, p, &path, raw.body)?),
    };
    let reads = match raw.reads {
        None => None,
        Some(r) => Some(super::validate_probe::reads(cx, i, &raw.method, during, r)?),
    };
    Ok(RequestRule {
        method: raw.method,
        path,
        query,
        during,
        body: raw.body,
        probe,
        reads,
    })
}

/// Parse `path` into segments; every `{name}` needs `params.name`, and every param a `{name}`.
fn template(
    cx: &Cx<'_>,
    i: usize,
    path: &str,
    params: &BTreeMap<String, String>,
) -> Result<PathTemplate, ManifestError> {
    let field = format!("requests[{i}].path");
    let Some(rest) = path.strip_prefix('/') else {
        return Err(cx.err(
            field,
            format!("{} must start with '/', e.g. \"/v1/customers\"", show(path)),
        ));
    };
    let mut segments: Vec<Segment> = Vec::new();
    for text in rest.split('/') {
        if text.is_empty() {
            return Err(cx.err(
                field,
                format!(
                    "{} has an empty segment ('//', a trailing '/' or just '/'): write \"/v1/customers\", \
                     not \"/v1/customers/\"",
                    show(path)
                ),
            ));
        }
        if let Some(name) = text.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
            let mut bytes = name.bytes();
            let name_ok = name.len() <= 32
                && bytes
                    .next()
                    .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
                && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !name_ok {
                return Err(cx.err(
                    field,
                    format!(
                        "{} is not a parameter: write {{name}} with a lower-case name of letters, digits and \
                         '_' (e.g. {{id}})",
                        show(text)
                    ),
                ));
            }
            if segments
                .iter()
                .any(|s| matches!(s, Segment::Param { name: n, .. } if n == name))
            {
                return Err(cx.err(
                    field,
                    format!("{{{name}}} appears twice: give each parameter its own name"),
                ));
            }
            let Some(pattern) = params.get(name) else {
                return Err(cx.err(
                    format!("requests[{i}].params"),
                    format!(
                        "the path's {{{name}}} has no pattern: add params = {{ {name} = \"…\" }}, a regular \
                         expression for the values the segment may take (e.g. \"cus_[A-Za-z0-9]+\")"
                    ),
                ));
            };
            let pattern = param_pattern(cx, &format!("requests[{i}].params.{name}"), pattern)?;
            segments.push(Segment::Param {
                name: name.to_owned(),
                pattern,
            });
            continue;
        }
        let literal_ok = text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
            && text != "."
            && text != "..";
        if !literal_ok {
            return Err(cx.err(
                field,
                format!(
                    "segment {} is neither a literal (letters, digits, '_', '.', '-'; not . or ..) nor a whole-\
                     segment parameter such as {{id}}: rewrite it as one of the two",
                    show(text)
                ),
            ));
        }
        segments.push(Segment::Literal(text.to_owned()));
    }
    for name in params.keys() {
        let used = segments
            .iter()
            .any(|s| matches!(s, Segment::Param { name: n, .. } if n == name));
        if !used {
            return Err(cx.err(
                format!("requests[{i}].params.{name}"),
                format!(
                    "the path {} has no {{{name}}}: remove this pattern or use the parameter in the path",
                    show(path)
                ),
            ));
        }
    }
    Ok(PathTemplate {
        text: path.to_owned(),
        segments,
    })
}

/// Compile `pattern` on its own first (so `a)|(.*` cannot break out of the anchoring group), then anchored
/// as `^(?:pattern)$`.
fn param_pattern(cx: &Cx<'_>, field: &str, pattern: &str) -> Result<regex::Regex, ManifestError> {
    let compile = |p: &str| {
        RegexBuilder::new(p)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map_err(|e| {
                let first = e.to_string();
                let reason = first
                    .lines()
                    .rfind(|l| l.starts_with("error:"))
                    .unwrap_or(first.lines().next().unwrap_or("invalid"))
                    .to_owned();
                cx.err(
                    field,
                    format!(
                        "{} is not a valid regular expression ({reason}): write one in Rust regex syntax for \
                         the whole segment, e.g. \"cus_[A-Za-z0-9]+\"",
                        show(pattern)
                    ),
                )
            })
    };
    if pattern.is_empty() {
        return Err(cx.err(
            field,
            "is empty, and a path segment never is: write the pattern of the segment's values, e.g. \"cus_[A-Za-z0-9]+\"",
        ));
    }
    compile(pattern)?;
    let anchored = compile(&format!("^(?:{pattern})$"))?;
    if anchored.is_match("") {
        return Err(cx.err(
            field,
            format!(
                "{} matches an empty segment: use + rather than * so a value is required",
                show(pattern)
            ),
        ));
    }
    Ok(anchored)
}
