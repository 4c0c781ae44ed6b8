//! Validating how a connector's credential is given and sent (its spec: variable, header, scheme,
//! prefixes, refusals) and its header lists (pinned, allowed, refused). See [`super::validate`] for the
//! conventions of the messages.

use super::raw::{RawAccountName, RawCredential, RawHeaders};
use super::validate::{int, show, Cx};
use super::{AccountName, CredentialSpec, HeaderRules, ManifestError, RefusedPrefix};
use crate::credential::RefusalKind;
use std::collections::BTreeMap;

/// Headers the HTTP client owns (framing, hop-by-hop, the proxy credential): no manifest list may allow or
/// pin them, and the credential cannot travel in them.
pub(crate) const CLIENT_OWNED_HEADERS: &[&str] = &[
    "host",
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "http2-settings",
];

/// A credential prefix: what a key starts with, in the credential's own charset.
fn key_prefix(cx: &Cx<'_>, field: &str, value: &str) -> Result<(), ManifestError> {
    if !value.is_empty()
        && value.len() <= 32
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Ok(());
    }
    Err(cx.err(
        field,
        format!(
            "{} is not a key prefix: write 1 to 32 letters, digits or '_' (e.g. \"rk_test_\")",
            show(value)
        ),
    ))
}

/// The longest account name a manifest may declare (`credential.account_name.length`): a name, never
/// most of a key.
const MAX_ACCOUNT_NAME_LENGTH: usize = 64;

/// `credential.account_name`: what a body naming its account starts with (1 to 16 letters or digits) and
/// how many characters name it (at least that many, at most [`MAX_ACCOUNT_NAME_LENGTH`]).
fn account_name(cx: &Cx<'_>, raw: RawAccountName) -> Result<AccountName, ManifestError> {
    let field = "credential.account_name.starts_with";
    if raw.starts_with.is_empty()
        || raw.starts_with.len() > 16
        || !raw.starts_with.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Err(cx.err(
            field,
            format!(
                "{} cannot start a key's body: write 1 to 16 letters or digits, what a body naming its \
                 account starts with (e.g. \"51\")",
                show(&raw.starts_with)
            ),
        ));
    }
    let length = int::<usize>(
        cx,
        "credential.account_name.length",
        raw.length,
        (raw.starts_with.len() as i64)..=MAX_ACCOUNT_NAME_LENGTH as i64,
        " (characters of the key's body, after its prefix, that name the account: starts_with included)",
    )?;
    Ok(AccountName {
        starts_with: raw.starts_with,
        length,
    })
}

pub(super) fn credential(cx: &Cx<'_>, raw: RawCredential) -> Result<CredentialSpec, ManifestError> {
    let mut env = raw.env.bytes();
    let env_ok = raw.env.len() <= 128
        && env.next().is_some_and(|b| b.is_ascii_uppercase())
        && env.all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    if !env_ok {
        return Err(cx.err(
            "credential.env",
            format!(
                "{} is not an environment variable name: write upper-case letters, digits and '_', a letter \
                 first (e.g. \"STRIPE_API_KEY\")",
                show(&raw.env)
            ),
        ));
    }
    // The host's own settings are not a connector's to read and send: `KLAIRR_HOST_TOKEN` guards `serve`.
    if raw.env.starts_with("KLAIRR_") {
        return Err(cx.err(
            "credential.env",
            format!(
                "{} is one of the host's own settings (KLAIRR_…), not a credential: name a variable of the \
                 connector's own (e.g. \"STRIPE_API_KEY\")",
                show(&raw.env)
            ),
        ));
    }
    // Nor the process's own: the host reads some of them itself (HOME and XDG_CACHE_HOME place its
    // compile cache), and none holds a connector's key.
    let process = [
        "PATH", "HOME", "USER", "LOGNAME", "SHELL", "PWD", "TMPDIR", "TERM", "LANG",
    ]
    .contains(&raw.env.as_str())
        || ["XDG_", "LD_", "DYLD_", "LC_", "SSL_", "RUST_", "CARGO_"]
            .iter()
            .any(|p| raw.env.starts_with(p));
    if process {
        return Err(cx.err(
            "credential.env",
            format!(
                "{} is one of the process's own settings, not a credential: name a variable of the \
                 connector's own (e.g. \"STRIPE_API_KEY\")",
                show(&raw.env)
            ),
        ));
    }
    header_name(cx, "credential.header", &raw.header)?;
    if raw.header == "proxy-authorization" {
        return Err(cx.err(
            "credential.header",
            "proxy-authorization is read by a proxy on the way, not by the API: the credential needs the \
             API's own header, e.g. \"authorization\"",
        ));
    }
    if raw.header == "content-length" || CLIENT_OWNED_HEADERS.contains(&raw.header.as_str()) {
        return Err(cx.err(
            "credential.header",
            format!(
                "{} is a header the HTTP client itself writes: the credential needs a header of its own, \
                 e.g. \"authorization\"",
                show(&raw.header)
            ),
        ));
    }
    let mut scheme = raw.scheme.bytes();
    let scheme_ok = raw.scheme.is_empty()
        || (raw.scheme.len() <= 32
            && scheme.next().is_some_and(|b| b.is_ascii_alphabetic())
            && scheme.all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    if !scheme_ok {
        return Err(cx.err(
            "credential.scheme",
            format!(
                "{} is not an authentication scheme: write one word such as \"Bearer\", or \"\" to send the \
                 credential alone",
                show(&raw.scheme)
            ),
        ));
    }
    key_prefix(cx, "credential.test_prefix", &raw.test_prefix)?;
    key_prefix(cx, "credential.live_prefix", &raw.live_prefix)?;
    if raw.live_prefix.starts_with(&raw.test_prefix)
        || raw.test_prefix.starts_with(&raw.live_prefix)
    {
        return Err(cx.err(
            "credential.live_prefix",
            format!(
                "{} and credential.test_prefix {} overlap, so a key's mode could not be told from its \
                 prefix: write two prefixes neither of which starts the other (e.g. \"rk_test_\" and \"rk_live_\")",
                show(&raw.live_prefix),
                show(&raw.test_prefix)
            ),
        ));
    }
    let longest = raw.test_prefix.len().max(raw.live_prefix.len());
    let min_length = int::<usize>(
        cx,
        "credential.min_length",
        raw.min_length,
        (longest as i64 + 1)..=crate::credential::MAX_CREDENTIAL_LENGTH as i64,
        " (characters, prefix included: longer than the prefixes)",
    )?;
    let account_name = raw
        .account_name
        .map(|name| account_name(cx, name))
        .transpose()?;
    let mut refused: Vec<RefusedPrefix> = Vec::with_capacity(raw.refused.len());
    for (i, r) in raw.refused.into_iter().enumerate() {
        let field = |name: &str| format!("credential.refused[{i}].{name}");
        key_prefix(cx, &field("prefix"), &r.prefix)?;
        for accepted in [&raw.test_prefix, &raw.live_prefix] {
            if accepted.starts_with(&r.prefix) {
                return Err(cx.err(
                    field("prefix"),
                    format!(
                        "{} would refuse every key that starts with {} too: refuse a prefix that no accepted \
                         key has (e.g. \"sk_\")",
                        show(&r.prefix),
                        show(accepted)
                    ),
                ));
            }
        }
        if let Some(j) = refused.iter().position(|o| o.prefix == r.prefix) {
            return Err(cx.err(
                field("prefix"),
                format!(
                    "{} is already credential.refused[{j}]: refuse each prefix once",
                    show(&r.prefix)
                ),
            ));
        }
        let kind = match RefusalKind::parse(&r.kind) {
            Some(k @ (RefusalKind::SecretKeyRejected | RefusalKind::InvalidKey)) => k,
            _ => {
                return Err(cx.err(
                    field("kind"),
                    format!(
                        "{} is not a refusal kind: write \"secret-key-rejected\" (a key with more rights than \
                         the connector may hold) or \"invalid-key\" (not a usable key at all)",
                        show(&r.kind)
                    ),
                ))
            }
        };
        if r.message.trim().is_empty()
            || r.message.len() > 1024
            || r.message.chars().any(char::is_control)
        {
            return Err(cx.err(
                field("message"),
                "must say in one line (at most 1024 bytes, no control characters) why the key is refused \
                 and which key to use instead",
            ));
        }
        refused.push(RefusedPrefix {
            prefix: r.prefix,
            kind,
            message: r.message,
        });
    }
    if let Some(manage) = &raw.manage {
        if manage.trim().is_empty() || manage.len() > 512 || manage.chars().any(char::is_control) {
            return Err(cx.err(
                "credential.manage",
                "must say in one line (at most 512 bytes, no control characters) where a credential's \
                 permissions are changed, e.g. \"In the Stripe Dashboard go to Developers → API keys and \
                 edit the restricted key\"",
            ));
        }
    }
    Ok(CredentialSpec {
        env: raw.env,
        header: raw.header,
        scheme: raw.scheme,
        test_prefix: raw.test_prefix,
        live_prefix: raw.live_prefix,
        min_length,
        account_name,
        manage: raw.manage,
        refused,
    })
}

/// A lower-case HTTP header name: letters, digits and '-'. RFC 9110 allows more token characters, but
/// `*` reads as a wildcard no rule has, and servers behind CGI-style gateways read `_` as `-`, so a
/// name allowed with `_` could be another header (`x_http_method_override`) at the server.
fn header_name(cx: &Cx<'_>, field: &str, value: &str) -> Result<(), ManifestError> {
    const TOKEN_EXTRA: &[u8] = b"-";
    let token = !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || TOKEN_EXTRA.contains(&b));
    if token && !value.bytes().any(|b| b.is_ascii_uppercase()) {
        return Ok(());
    }
    let problem = if token {
        format!(
            "{} has upper-case letters: header names are written in lower case here, write {}",
            show(value),
            show(&value.to_ascii_lowercase())
        )
    } else {
        format!(
            "{} is not a header name: use lower-case letters, digits and '-' (e.g. \"stripe-version\"; there \
             are no wildcards: list each header; '_' is not taken, as gateways read it as '-')",
            show(value)
        )
    };
    Err(cx.err(field, problem))
}

pub(super) fn headers(
    cx: &Cx<'_>,
    raw: RawHeaders,
    credential_header: &str,
) -> Result<HeaderRules, ManifestError> {
    // Every name once, in one list; the credential header and the client's own headers in none of them.
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut claim = |field: String, name: &str, guest_may_send: bool| {
        header_name(cx, &field, name)?;
        if name == credential_header {
            return Err(cx.err(
                field,
                format!(
                    "{} is credential.header: only the host sets it, so it may not appear in any headers list",
                    show(name)
                ),
            ));
        }
        // Credentials travel only as the host attaches them: a component never sends one.
        if guest_may_send && ["authorization", "proxy-authorization"].contains(&name) {
            return Err(cx.err(
                field,
                format!(
                    "{} carries a credential, which only the host attaches (as credential.header): remove it \
                     (the host always refuses it from a component; it may be listed in refused)",
                    show(name)
                ),
            ));
        }
        // A server that honours one of these runs another method than the request's: the rules'
        // methods would not be what is done.
        if guest_may_send
            && [
                "x-http-method-override",
                "x-http-method",
                "x-method-override",
                "x-original-method",
            ]
            .contains(&name)
        {
            return Err(cx.err(
                field,
                format!(
                    "{} makes servers that honour it run another method than the request's, so the rules' \
                     methods would not be what is done: remove it (it may be listed in refused)",
                    show(name)
                ),
            ));
        }
        if guest_may_send && CLIENT_OWNED_HEADERS.contains(&name) {
            return Err(cx.err(
                field,
                format!(
                    "{} is written by the HTTP client itself: remove it (the host always refuses it from a component)",
                    show(name)
                ),
            ));
        }
        if let Some(first) = seen.get(name) {
            return Err(cx.err(
                field,
                format!(
                    "{} is already {first}: name each header in one list, once",
                    show(name)
                ),
            ));
        }
        seen.insert(name.to_owned(), field);
        Ok(())
    };
    let mut pinned = Vec::with_capacity(raw.pinned.len());
    for (name, value) in raw.pinned {
        let field = format!("headers.pinned.{name}");
        claim(field.clone(), &name, true)?;
        // The size of each request's own body: one value for every request would misframe all of them.
        if name == "content-length" {
            return Err(cx.err(
                field,
                "the length of each request's own body cannot be pinned: remove it (list content-length in \
                 allowed for a component that sends it, as a write probe's content-length: 0)",
            ));
        }
        let printable = value.bytes().all(|b| (0x20..0x7f).contains(&b));
        if value.is_empty() || value.len() > 1024 || !printable || value.trim() != value {
            return Err(cx.err(
                field,
                "must be a header value of 1 to 1024 printable ASCII characters without surrounding spaces",
            ));
        }
        pinned.push((name, value));
    }
    for (i, name) in raw.allowed.iter().enumerate() {
        claim(format!("headers.allowed[{i}]"), name, true)?;
    }
    for (i, name) in raw.refused.iter().enumerate() {
        claim(format!("headers.refused[{i}]"), name, false)?;
    }
    Ok(HeaderRules {
        pinned,
        allowed: raw.allowed,
        refused: raw.refused,
    })
}
