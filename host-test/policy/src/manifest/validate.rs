//! From the raw TOML structs to the typed manifest: the file itself, identity, component, network, budget
//! and call limits here; the credential, headers and request rules in [`super::validate_rules`]. Each check
//! names the field it failed on and says what to write instead; values from the manifest are quoted
//! escaped and capped (a manifest holds no secrets, but it may hold anything else).

use super::raw::{RawBudget, RawCalls, RawManifest, RawNetwork};
use super::validate_credential::{credential, headers};
use super::validate_origin::usable_host;
use super::validate_rules::requests;
use super::{Budget, CallLimits, ComponentSource, Manifest, ManifestError, Network, CONTRACT};
use crate::origin::{Origin, PolicyError, Scheme, TimeoutCeilings};
use std::ops::RangeInclusive;
use std::path::{Component, Path};
use std::time::Duration;

/// Where to look for a complete, commented example.
const EXAMPLE: &str =
    "the Stripe connector's manifest (host-test/connectors/stripe.toml in the source) shows every field with a comment";

pub(super) struct Cx<'a> {
    source: &'a str,
}

impl Cx<'_> {
    pub(super) fn err(
        &self,
        field: impl Into<String>,
        problem: impl Into<String>,
    ) -> ManifestError {
        ManifestError {
            manifest: self.source.to_owned(),
            field: field.into(),
            problem: problem.into(),
        }
    }
}

/// A manifest value in a message: quoted, escaped, at most 80 characters.
pub(super) fn show(value: &str) -> String {
    let mut shown: String = value.chars().take(80).collect();
    if shown.len() < value.len() {
        shown.push('…');
    }
    format!("{shown:?}")
}

/// An error serde or the TOML parser reported, with its line and column, and the field serde was in.
pub(super) fn toml_error(
    source: &str,
    text: &str,
    field: &str,
    error: &toml::de::Error,
) -> ManifestError {
    // Numbers are read as i64 (see raw.rs); say it the way a manifest author thinks of it.
    let mut message = error
        .message()
        .trim()
        .replace('\n', "; ")
        .replace("expected i64", "expected a whole number");
    let spanned = error.span().and_then(|span| text.get(span));
    if let Some(key) = spanned.filter(|_| message == "duplicate key") {
        message = format!("duplicate key {}: give each key once", show(key.trim()));
    }
    let mut field = field.to_owned();
    // serde names a missing or unknown key only inside its message: move it into the field path.
    let mut named = |prefix: &str| {
        let key = message.strip_prefix(prefix)?.split('`').next()?.to_owned();
        if !field.ends_with(&key) {
            if !field.is_empty() {
                field.push('.');
            }
            field.push_str(&key);
        }
        Some(())
    };
    let advice = if named("missing field `").is_some() {
        format!("; add it ({EXAMPLE})")
    } else if named("unknown field `").is_some() {
        "; remove it or correct its spelling".to_owned()
    } else if message.starts_with("invalid type") {
        "; write a value of the expected type".to_owned()
    } else {
        String::new()
    };
    let location = error
        .span()
        .and_then(|span| text.get(..span.start))
        .map(|before| {
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!(" (line {line}, column {column})")
        })
        .unwrap_or_default();
    // serde's message quotes the manifest's own key as it is: its controls escaped and its length
    // capped, as every value of the manifest is.
    let mut shown = String::with_capacity(message.len().min(700));
    for c in message.chars().take(600) {
        if c.is_control() {
            shown.extend(c.escape_default());
        } else {
            shown.push(c);
        }
    }
    if message.chars().count() > 600 {
        shown.push('…');
    }
    let message = shown;
    ManifestError {
        manifest: source.to_owned(),
        field,
        problem: format!("{message}{location}{advice}"),
    }
}

pub(super) fn manifest(
    raw: RawManifest,
    source: &str,
    dir: Option<&Path>,
) -> Result<Manifest, ManifestError> {
    let cx = Cx { source };
    name(&cx, "name", &raw.name)?;
    version(&cx, &raw.version)?;
    if raw.contract != CONTRACT {
        return Err(cx.err(
            "contract",
            format!(
                "this manifest declares {} but this host speaks only {CONTRACT}: write contract = \"{CONTRACT}\" \
                 and build the component against wit/connector-0.2.0",
                show(&raw.contract)
            ),
        ));
    }
    let component = component(&cx, &raw.component, dir)?;
    let network = network(&cx, raw.network)?;
    let budget = budget(&cx, raw.budget)?;
    let calls = calls(&cx, raw.calls)?;
    let credential = credential(&cx, raw.credential)?;
    let headers = headers(&cx, raw.headers, &credential.header)?;
    let requests = requests(&cx, raw.requests)?;
    Ok(Manifest {
        name: raw.name,
        version: raw.version,
        contract: raw.contract,
        component,
        network,
        budget,
        calls,
        credential,
        headers,
        requests,
        source: source.to_owned(),
    })
}

/// Whether `value` is `[a-z][a-z0-9-]{0,31}`: connector names and built-in component names.
pub fn is_connector_name(value: &str) -> bool {
    let mut bytes = value.bytes();
    value.len() <= 32
        && bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn name(cx: &Cx<'_>, field: &str, value: &str) -> Result<(), ManifestError> {
    if is_connector_name(value) {
        return Ok(());
    }
    Err(cx.err(
        field,
        format!(
            "{} is not a connector name: write 1 to 32 characters, a lower-case letter first, then lower-case \
             letters, digits or '-' (e.g. \"stripe\")",
            show(value)
        ),
    ))
}

/// `MAJOR.MINOR.PATCH`: three numbers, no leading zeros.
fn version(cx: &Cx<'_>, value: &str) -> Result<(), ManifestError> {
    let parts: Vec<&str> = value.split('.').collect();
    let number = |p: &&str| {
        !p.is_empty()
            && p.len() <= 9
            && p.bytes().all(|b| b.is_ascii_digit())
            && (*p == "0" || !p.starts_with('0'))
    };
    if parts.len() == 3 && parts.iter().all(number) {
        return Ok(());
    }
    Err(cx.err(
        "version",
        format!(
            "{} is not a version: write MAJOR.MINOR.PATCH, three whole numbers without leading zeros \
             (e.g. \"0.2.0\")",
            show(value)
        ),
    ))
}

fn component(
    cx: &Cx<'_>,
    value: &str,
    dir: Option<&Path>,
) -> Result<ComponentSource, ManifestError> {
    const FIELD: &str = "component";
    if let Some(builtin) = value.strip_prefix("builtin:") {
        name(cx, FIELD, builtin).map_err(|_| {
            cx.err(
                FIELD,
                format!(
                    "{} does not name a built-in component: write builtin: followed by its name, e.g. \
                     \"builtin:stripe\"",
                    show(value)
                ),
            )
        })?;
        return Ok(ComponentSource::Builtin(builtin.to_owned()));
    }
    if value.contains(':') {
        return Err(cx.err(
            FIELD,
            format!(
                "{} is neither builtin:NAME nor a relative path (only builtin: may use a ':'): write \
                 e.g. \"builtin:stripe\" or \"my-connector.wasm\"",
                show(value)
            ),
        ));
    }
    let path = Path::new(value);
    if path.is_absolute() || value.starts_with('/') {
        return Err(cx.err(
            FIELD,
            format!(
                "{} is an absolute path: write it relative to the manifest's directory \
                 (e.g. \"my-connector.wasm\"), so the manifest and its component move together",
                show(value)
            ),
        ));
    }
    let mut depth = 0usize;
    for part in path.components() {
        match part {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(cx.err(
                    FIELD,
                    format!(
                    "{} uses `..`: write the component's path from the manifest's directory down, \
                         without `..` (the component in that directory or below it)",
                    show(value)
                ),
                ))
            }
        }
    }
    if depth == 0 {
        return Err(cx.err(
            FIELD,
            "names no file: write the component's path relative to the manifest (e.g. \"my-connector.wasm\") \
             or \"builtin:NAME\"",
        ));
    }
    let Some(dir) = dir else {
        return Err(cx.err(
            FIELD,
            format!(
                "{} is a path, but this manifest ({}) was not read from a file it could be relative to: \
                 load the manifest from its file, or write \"builtin:NAME\"",
                show(value),
                cx.source
            ),
        ));
    };
    // Joined without the `.` parts: the path the host opens and shows is the plain one.
    let relative: std::path::PathBuf = path
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect();
    Ok(ComponentSource::Path(dir.join(relative)))
}

/// `value` if it lies in `range`, converted; otherwise an error saying which numbers to write.
pub(super) fn int<T: TryFrom<i64>>(
    cx: &Cx<'_>,
    field: &str,
    value: i64,
    range: RangeInclusive<i64>,
    unit: &str,
) -> Result<T, ManifestError> {
    let out_of_range = || {
        cx.err(
            field,
            format!(
                "{value} is out of range: write a whole number from {} to {}{unit}",
                range.start(),
                range.end()
            ),
        )
    };
    if !range.contains(&value) {
        return Err(out_of_range());
    }
    T::try_from(value).map_err(|_| out_of_range())
}

fn network(cx: &Cx<'_>, raw: RawNetwork) -> Result<Network, ManifestError> {
    if raw.origins.is_empty() {
        return Err(cx.err(
            "network.origins",
            "lists no origin: a connector needs at least one, e.g. origins = [\"https://api.stripe.com:443\"]",
        ));
    }
    let mut origins: Vec<Origin> = Vec::with_capacity(raw.origins.len());
    for (i, text) in raw.origins.iter().enumerate() {
        let field = format!("network.origins[{i}]");
        let origin = Origin::parse(text).map_err(|e| {
            // A message that already says what to write is not told twice.
            let example = match e {
                PolicyError::Malformed(_) => {
                    ": write scheme://host:port, e.g. \"https://api.stripe.com:443\""
                }
                _ => "",
            };
            cx.err(&field, format!("{e}{example}"))
        })?;
        // The host attaches the credential to requests for these origins: never in clear text.
        if origin.scheme != Scheme::Https {
            return Err(cx.err(
                &field,
                format!(
                    "{} is plain http, and the credential would cross the network readable: write \
                     https://{}:{} (a loopback test server is reached with --redirect, not by the manifest)",
                    show(text),
                    origin.host,
                    if origin.port == 80 { 443 } else { origin.port }
                ),
            ));
        }
        if let Err(why) = usable_host(&origin.host) {
            return Err(cx.err(&field, format!("{} {why}", show(text))));
        }
        if let Some(j) = origins.iter().position(|o| *o == origin) {
            return Err(cx.err(
                field,
                format!("{origin} is already network.origins[{j}]: list each origin once"),
            ));
        }
        origins.push(origin);
    }
    let t = &raw.timeouts;
    let seconds = |field: &str, v: i64| -> Result<Duration, ManifestError> {
        int::<u64>(cx, field, v, 1..=600, " (seconds)").map(Duration::from_secs)
    };
    let timeouts = TimeoutCeilings {
        connect: seconds("network.timeouts.connect_seconds", t.connect_seconds)?,
        first_byte: seconds("network.timeouts.first_byte_seconds", t.first_byte_seconds)?,
        between_bytes: seconds(
            "network.timeouts.between_bytes_seconds",
            t.between_bytes_seconds,
        )?,
    };
    Ok(Network {
        origins,
        timeouts,
        max_in_flight: int(cx, "network.max_in_flight", raw.max_in_flight, 1..=64, "")?,
        max_response_bytes: int(
            cx,
            "network.max_response_bytes",
            raw.max_response_bytes,
            1..=64 * 1024 * 1024,
            " (bytes; 64 MiB at most)",
        )?,
    })
}

fn budget(cx: &Cx<'_>, raw: RawBudget) -> Result<Budget, ManifestError> {
    const PER_SECOND: &str = " (request starts per second)";
    let budget = Budget {
        per_endpoint: int(
            cx,
            "budget.per_endpoint",
            raw.per_endpoint,
            1..=1000,
            PER_SECOND,
        )?,
        per_credential_test: int(
            cx,
            "budget.per_credential_test",
            raw.per_credential_test,
            1..=1000,
            PER_SECOND,
        )?,
        per_credential_live: int(
            cx,
            "budget.per_credential_live",
            raw.per_credential_live,
            1..=1000,
            PER_SECOND,
        )?,
    };
    // Every endpoint's starts count toward the credential's too: an endpoint allowed more than either
    // mode's credential says something the budget will never do.
    let most = budget.per_credential_test.max(budget.per_credential_live);
    if budget.per_endpoint > most {
        return Err(cx.err(
            "budget.per_endpoint",
            format!(
                "{} is more than the credential's own budget in either mode (at most {most}), which every \
                 endpoint's requests count toward: write at most {most}",
                budget.per_endpoint
            ),
        ));
    }
    Ok(budget)
}

fn calls(cx: &Cx<'_>, raw: RawCalls) -> Result<CallLimits, ManifestError> {
    const ROWS: RangeInclusive<i64> = 1..=10_000_000;
    let limits = CallLimits {
        cache_ttl_ceiling_seconds: int(
            cx,
            "calls.cache_ttl_ceiling_seconds",
            raw.cache_ttl_ceiling_seconds,
            0..=3600,
            " (seconds; 0 turns the result cache off; the host keeps no result longer than an hour)",
        )?,
        page_size: int(cx, "calls.page_size", raw.page_size, 1..=10_000, " (rows)")?,
        scan_factor: int(cx, "calls.scan_factor", raw.scan_factor, 1..=1000, "")?,
        min_scan_rows: int(
            cx,
            "calls.min_scan_rows",
            raw.min_scan_rows,
            ROWS,
            " (rows)",
        )?,
        max_scan_rows: int(
            cx,
            "calls.max_scan_rows",
            raw.max_scan_rows,
            ROWS,
            " (rows)",
        )?,
        retry_share_percent: int(
            cx,
            "calls.retry_share_percent",
            raw.retry_share_percent,
            0..=1000,
            " (percent of the pages)",
        )?,
        extra_requests: int(
            cx,
            "calls.extra_requests",
            raw.extra_requests,
            0..=10_000,
            "",
        )?,
        verify_requests: int(
            cx,
            "calls.verify_requests",
            raw.verify_requests,
            1..=10_000,
            "",
        )?,
    };
    if limits.min_scan_rows > limits.max_scan_rows {
        return Err(cx.err(
            "calls.min_scan_rows",
            format!(
                "{} is larger than calls.max_scan_rows ({}): make min_scan_rows at most max_scan_rows",
                limits.min_scan_rows, limits.max_scan_rows
            ),
        ));
    }
    Ok(limits)
}
