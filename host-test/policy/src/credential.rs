//! The credential is the host's: it reads it, judges it against the manifest's [`CredentialSpec`], and
//! attaches it to allowed requests itself. A component never decides whether a key is acceptable, and
//! nothing here ever puts the credential into a message: every refusal is built from the manifest's own
//! text (prefixes, the environment variable, the refused prefixes' messages) and lengths.
//!
//! Two steps (the numbering follows the setup flow in the README):
//! - [`CredentialSpec::refused`], before any component runs: a refused prefix (`sk_…` for Stripe) or a blank
//!   value ends setup at once, with zero requests, whatever a component would have said.
//! - [`CredentialSpec::accept`], after the component's offline check said yes: the host's own verdict on
//!   charset, mode prefix and length, which yields the [`Credential`] the host keeps.

use crate::manifest::CredentialSpec;
use crate::redact::SecretRuns;
use std::fmt;

/// The longest credential the host takes, in bytes: the most a manifest's `min_length` may ask for. A
/// restricted Stripe key has about 110; a value far longer is not a key (a file pasted whole), and
/// would be sent whole in a header of every request.
pub const MAX_CREDENTIAL_LENGTH: usize = 4096;

/// The fewest characters that must follow a credential's account name for the name to be taken as
/// public ([`crate::manifest::AccountName`]): what is left is then a secret of its own (Stripe's
/// restricted keys have ~80), not a short key that merely starts like one.
pub const MIN_SECRET_AFTER_NAME: usize = 32;

/// Test or live data; a credential belongs to exactly one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    Test,
    Live,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Test => "test",
            Mode::Live => "live",
        }
    }

    /// The other mode: a credential of this one offered for a connection of the other is a mismatch.
    pub fn other(self) -> Mode {
        match self {
            Mode::Test => Mode::Live,
            Mode::Live => Mode::Test,
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a credential was given, so that a refusal says where to correct it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Given {
    /// In the manifest's environment variable (`credential.env`): the CLI.
    #[default]
    InEnv,
    /// In a field of a request: `serve`'s `credential`.
    InField(&'static str),
}

/// The error kind a refusal maps to; the strings are the contract's error kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RefusalKind {
    SecretKeyRejected,
    InvalidKey,
    ModeMismatch,
}

impl RefusalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RefusalKind::SecretKeyRejected => "secret-key-rejected",
            RefusalKind::InvalidKey => "invalid-key",
            RefusalKind::ModeMismatch => "mode-mismatch",
        }
    }

    /// The kind named by `text` (`"secret-key-rejected"`, …), if any.
    pub fn parse(text: &str) -> Option<RefusalKind> {
        [
            RefusalKind::SecretKeyRejected,
            RefusalKind::InvalidKey,
            RefusalKind::ModeMismatch,
        ]
        .into_iter()
        .find(|k| k.as_str() == text)
    }
}

impl fmt::Display for RefusalKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a credential was refused. The message says what to do and never contains the credential.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    pub kind: RefusalKind,
    pub message: String,
}

/// A credential the host accepted. Deliberately neither `Clone` nor `Display`-able as the secret: `Debug`
/// and `Display` show only the hint, and [`Credential::expose`] is the one way to the value (the header
/// writer and the redaction of output use it).
pub struct Credential {
    secret: String,
    mode: Mode,
    hint: String,
    /// Every run of the secret, indexed once: every request the component makes is searched for them.
    runs: SecretRuns,
    /// The mode's prefix and the account's name, where the body names its account (`rk_test_51Pgaf…`
    /// for acct_1Pgaf…: see [`CredentialSpec::account_part`]).
    account: Option<String>,
}

impl Credential {
    /// The full credential, for the header the host attaches and for redaction. Never for messages.
    pub fn expose(&self) -> &str {
        &self.secret
    }

    /// The runs of the secret that count as the secret (see [`SecretRuns`]).
    pub fn runs(&self) -> &SecretRuns {
        &self.runs
    }

    /// `rk_live_…abcd`: the mode's prefix, `…`, and the last 4 characters (fewer for a short key: at most
    /// a quarter of what follows the prefix).
    pub fn hint(&self) -> &str {
        &self.hint
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The account the credential names, as the mode's prefix and the name (`rk_live_51PgafTB7WZ01zgkW`
    /// for acct_1PgafTB7WZ01zgkW's live keys), where its body names one (`credential.account_name`);
    /// none for a body that is secret whole. Not a secret (Stripe's own messages quote the account).
    /// Stripe counts its rate limits per account and mode, whichever of the account's keys is used, so
    /// the host's budget and in-flight gates are keyed by this where there is one.
    pub fn account(&self) -> Option<&str> {
        self.account.as_deref()
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credential({}, {})", self.hint, self.mode)
    }
}

impl fmt::Display for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hint)
    }
}

/// `prefix…tail`: tail is the last 4 characters after the prefix, fewer when what follows the prefix is
/// short (at most a quarter of it), so a hint never gives away most of a short credential.
fn hint(secret: &str, prefix: &str) -> String {
    let body = secret.get(prefix.len()..).unwrap_or_default();
    let shown = (body.len() / 4).min(4);
    // The credential is ASCII (checked before a hint is made), so any byte offset is a char boundary;
    // `get` keeps this panic-free regardless.
    let tail = body.get(body.len() - shown..).unwrap_or_default();
    format!("{prefix}…{tail}")
}

impl CredentialSpec {
    /// The accepted prefix of `mode`.
    pub fn prefix(&self, mode: Mode) -> &str {
        match mode {
            Mode::Test => &self.test_prefix,
            Mode::Live => &self.live_prefix,
        }
    }

    /// Where the credential was given, as messages name it: `the credential in STRIPE_API_KEY`.
    fn place(&self, given: Given) -> String {
        match given {
            Given::InEnv => format!("the credential in {}", self.env),
            Given::InField(field) => format!("the {field} given"),
        }
    }

    /// What a valid credential looks like, for messages: `rk_test_… (test mode) or rk_live_… (live mode)`.
    fn expected(&self) -> String {
        format!(
            "{}… (test mode) or {}… (live mode)",
            self.test_prefix, self.live_prefix
        )
    }

    /// Step 1, before any component runs: a refused prefix (e.g. `sk_` → secret-key-rejected with the
    /// manifest's message); also an empty/blank credential, or one longer than [`MAX_CREDENTIAL_LENGTH`]
    /// (no key is; it would be sent whole in a header) → invalid-key. The longest matching refused
    /// prefix wins, so a manifest can refuse `sk_` and say something more specific about `sk_org_`.
    pub fn refused(&self, raw: &str) -> Option<Refusal> {
        self.refused_given(raw, Given::InEnv)
    }

    /// [`CredentialSpec::refused`] for a credential given where `given` says, which its messages name.
    pub fn refused_given(&self, raw: &str, given: Given) -> Option<Refusal> {
        let key = raw.trim();
        if key.is_empty() {
            let fix = match given {
                Given::InEnv => format!("set {} to", self.env),
                Given::InField(field) => format!("send in {field}"),
            };
            return Some(Refusal {
                kind: RefusalKind::InvalidKey,
                message: format!(
                    "no credential was given: {fix} a key that starts with {}",
                    self.expected()
                ),
            });
        }
        if key.len() > MAX_CREDENTIAL_LENGTH {
            return Some(Refusal {
                kind: RefusalKind::InvalidKey,
                message: format!(
                    "{} is {} bytes long, more than the {MAX_CREDENTIAL_LENGTH} any key has: give the key \
                     alone",
                    self.place(given),
                    key.len()
                ),
            });
        }
        self.refused
            .iter()
            .filter(|r| key.starts_with(r.prefix.as_str()))
            .max_by_key(|r| r.prefix.len())
            .map(|r| Refusal {
                kind: r.kind,
                message: r.message.clone(),
            })
    }

    /// Whether `raw` (trimmed) is nothing but the start of a prefix the manifest itself publishes (`rk_`,
    /// `rk_test_`, a refused `sk_`): a value like that holds no secret, so a refusal's advice, which names
    /// those prefixes, need not be redacted for it.
    pub fn is_bare_prefix(&self, raw: &str) -> bool {
        let key = raw.trim();
        !key.is_empty()
            && [&self.test_prefix, &self.live_prefix]
                .into_iter()
                .chain(self.refused.iter().map(|r| &r.prefix))
                .any(|prefix| prefix.starts_with(key))
    }

    /// Step 3, after the component's own offline check said yes: the host's own verdict, whatever the
    /// component said. Trims surrounding whitespace; refused prefixes again; only `[A-Za-z0-9_]` (a
    /// header-safe charset; the message does not echo the value); must start with the prefix of `mode`
    /// (the other mode's prefix → ModeMismatch naming both modes; anything else → InvalidKey saying what a
    /// valid credential looks like); at least `min_length` characters.
    pub fn accept(&self, raw: &str, mode: Mode) -> Result<Credential, Refusal> {
        self.accept_given(raw, mode, Given::InEnv)
    }

    /// [`CredentialSpec::accept`] for a credential given where `given` says, which its messages name.
    pub fn accept_given(&self, raw: &str, mode: Mode, given: Given) -> Result<Credential, Refusal> {
        if let Some(refusal) = self.refused_given(raw, given) {
            return Err(refusal);
        }
        let key = raw.trim();
        let invalid = |message: String| Refusal {
            kind: RefusalKind::InvalidKey,
            message,
        };
        if !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(invalid(format!(
                "{} contains characters no valid key has (only letters, digits and '_'): check that it \
                 was copied whole, without quotes, spaces or line breaks inside it",
                self.place(given)
            )));
        }
        let prefix = self.prefix(mode);
        if !key.starts_with(prefix) {
            let other = mode.other();
            if key.starts_with(self.prefix(other)) {
                return Err(Refusal {
                    kind: RefusalKind::ModeMismatch,
                    message: format!(
                        "this is a {other}-mode key ({}…) but the connection is configured for {mode} mode: \
                         use a {prefix}… key or set the mode to {other}",
                        self.prefix(other)
                    ),
                });
            }
            return Err(invalid(format!(
                "this does not look like a key this connector accepts: expected one that starts with {}",
                self.expected()
            )));
        }
        if key.len() < self.min_length {
            return Err(invalid(format!(
                "the key is {} characters long, but valid keys have at least {}: it looks truncated, copy the \
                 whole value again",
                key.len(),
                self.min_length
            )));
        }
        Ok(Credential {
            hint: hint(key, prefix),
            runs: SecretRuns::new(self.secret_part(key, prefix)),
            account: self.account_part(key, prefix).map(str::to_owned),
            secret: key.to_owned(),
            mode,
        })
    }

    /// The part of an accepted `key` (of mode prefix `prefix`) that redaction looks for. A body that
    /// names its account ([`crate::manifest::AccountName`]: it starts so, and at least [`MIN_SECRET_AFTER_NAME`] characters
    /// follow the name) is looked for after the name only: the name is the account's, and the ids of
    /// the account's objects repeat it (a Stripe key `rk_live_51PgafTB7WZ01zgkW…` and a charge
    /// `ch_3PgbfTB7WZ01zgkW…` of that account share 12 characters). Any other key is looked for whole:
    /// an older key's body is random from its first character, and none of it is public.
    fn secret_part<'k>(&self, key: &'k str, prefix: &str) -> &'k str {
        match self.account_part(key, prefix) {
            Some(account) => &key[account.len()..],
            None => key,
        }
    }

    /// The start of an accepted `key` (of mode prefix `prefix`) that names its account: the prefix and
    /// the name, where the body names its account (as [`CredentialSpec::secret_part`] reads it); none
    /// where the key is secret whole.
    fn account_part<'k>(&self, key: &'k str, prefix: &str) -> Option<&'k str> {
        let name = self.account_name.as_ref()?;
        let body = key.strip_prefix(prefix)?;
        let secret = body.get(name.length..)?;
        (body.starts_with(name.starts_with.as_str()) && secret.len() >= MIN_SECRET_AFTER_NAME)
            .then(|| &key[..prefix.len() + name.length])
    }

    /// The header the host attaches: (name, value), e.g. `("authorization", "Bearer rk_…")`; with an empty
    /// scheme the value is the credential alone.
    pub fn header(&self, credential: &Credential) -> (String, String) {
        let value = if self.scheme.is_empty() {
            credential.expose().to_owned()
        } else {
            format!("{} {}", self.scheme, credential.expose())
        };
        (self.header.clone(), value)
    }
}

/// What a component's `check-credential` is given in place of the credential: its form. The leading
/// prefix words (`rk_test_`, `whsec_`, `lkw_live_`: up to two runs of at most eight lower-case letters,
/// each ending in `_`) as written, then every ASCII letter and digit replaced by `x`; everything else
/// (`_`, spaces, quotes, other characters) kept. That is all a check of a credential's form, kind and
/// mode reads — the prefix, the length, which characters occur where — so the verdict is the same, and
/// the component, which could otherwise encode the key into its message in a way no redaction
/// recognises (lower-cased, reversed, spelled out), never holds any of it. Not even a character's class
/// (upper, lower, digit): a hostile check could pass it to the connection's instance by timing (QA
/// decoded three classes per opening from the wall clock), narrowing each character of the key.
pub fn form(credential: &str) -> String {
    masked_after(credential, generic_prefix_len(credential))
}

/// How many leading bytes [`form`] keeps whatever the manifest: up to two runs of at most eight
/// lower-case letters, each ending in `_`.
fn generic_prefix_len(credential: &str) -> usize {
    let bytes = credential.as_bytes();
    let mut prefix = 0;
    for _ in 0..2 {
        let letters = bytes[prefix..]
            .iter()
            .take_while(|b| b.is_ascii_lowercase())
            .count();
        if (1..=8).contains(&letters) && bytes.get(prefix + letters) == Some(&b'_') {
            prefix += letters + 1;
        } else {
            break;
        }
    }
    prefix
}

/// `credential`'s first `kept` bytes as written (a char boundary: an ASCII prefix), then every ASCII
/// letter and digit as `x`.
fn masked_after(credential: &str, kept: usize) -> String {
    let (kept, rest) = credential.split_at(kept);
    let mut out = String::with_capacity(credential.len());
    out.push_str(kept);
    out.extend(rest.chars().map(|c| match c {
        'a'..='z' | 'A'..='Z' | '0'..='9' => 'x',
        other => other,
    }));
    out
}

impl CredentialSpec {
    /// [`form`] for this connector: a prefix of its own manifest (accepted or refused) that the
    /// credential starts with is kept as written too, however it is spelled (`weatherapi_test_`,
    /// `WK1_`), since the manifest publishes it; without that, a component could never tell the mode
    /// of a key whose prefix [`form`] alone would mask (review: such a key was refused as invalid).
    pub fn form(&self, credential: &str) -> String {
        let own = [&self.test_prefix, &self.live_prefix]
            .into_iter()
            .chain(self.refused.iter().map(|r| &r.prefix))
            .filter(|p| !p.is_empty() && credential.starts_with(p.as_str()))
            .map(String::len)
            .max()
            .unwrap_or(0);
        masked_after(credential, own.max(generic_prefix_len(credential)))
    }
}

#[cfg(test)]
mod tests;
