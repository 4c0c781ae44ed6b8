//! Restricted API keys: offline checks that run before any request, and what a connection knows of its key.
//!
//! Only `rk_test_…` and `rk_live_…` keys are accepted. Secret keys (`sk_…`, including organisation keys
//! `sk_org…`) are refused with instructions to create a restricted key; everything else is `invalid-key`.
//! None of these checks makes a request.
//!
//! The key belongs to the host (WIT `klairr:connector@0.2.0`): the host runs [`ApiKey::parse`] through
//! `check-credential` in a throwaway instance without network, and attaches `Authorization: Bearer …` to
//! requests itself. A connection only gets the mode and the host's hint (`rk_test_…abcd`), held in a
//! [`KeyHint`] for messages.

use crate::error::ConnectorError;
use crate::prelude::*;
use core::fmt;

pub use klairr_connector_sdk::key::Mode;

/// How to create a restricted key, in one sentence (README, "Keys and setup": a rejected `sk_…` key gets
/// this recipe): every key rejection points here.
pub const CREATE_RESTRICTED_KEY: &str = "In the Stripe Dashboard go to Developers → API keys → Create restricted key, \
grant Read on Customers, Subscriptions, Invoices, Charges and Payouts, leave everything else at None, \
and use the rk_live_… (or rk_test_…) value";

/// The shortest key body we accept after the `rk_test_`/`rk_live_` prefix. Real keys are far longer
/// (often 100+ characters); anything this short is truncated or made up.
pub const MIN_KEY_BODY_LEN: usize = 16;

/// A validated restricted key: the verdict of `check-credential`. `Debug` and `Display` show only the
/// prefix and the last four characters (`rk_test_…abcd`); nothing reads the full value back out.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    secret: String,
    mode: Mode,
}

impl ApiKey {
    /// Validate `raw` for `mode` without any request. See the module docs for the rules.
    pub fn parse(raw: &str, mode: Mode) -> Result<ApiKey, ConnectorError> {
        let key = raw.trim();
        if key.is_empty() {
            return Err(ConnectorError::InvalidKey(format!(
                "no API key was given: expected a restricted key that looks like rk_{}_ followed by letters and digits",
                mode.as_str()
            )));
        }
        // Check the character set first so that nothing odd (quotes, spaces, control characters) is ever
        // echoed back; the messages below only ever name the prefix, never the key.
        if !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(ConnectorError::InvalidKey(
                "the API key contains characters that no Stripe key has (only letters, digits and '_' are possible): \
                 check that it was copied whole, without quotes or spaces"
                    .into(),
            ));
        }
        if key.starts_with("sk_") {
            return Err(ConnectorError::SecretKeyRejected(format!(
                "secret keys (sk_…) are refused: Klairr only ever reads, so it accepts restricted keys only. {CREATE_RESTRICTED_KEY}."
            )));
        }
        let (key_mode, body) = if let Some(body) = key.strip_prefix("rk_test_") {
            (Mode::Test, body)
        } else if let Some(body) = key.strip_prefix("rk_live_") {
            (Mode::Live, body)
        } else {
            let what = if key.starts_with("pk_") {
                "this is a publishable key (pk_…), which cannot read data"
            } else if key.starts_with("whsec_") {
                "this is a webhook signing secret (whsec_…), not an API key"
            } else if key.starts_with("rk_") {
                "restricted keys start with rk_test_ or rk_live_"
            } else {
                "this does not look like a Stripe API key"
            };
            return Err(ConnectorError::InvalidKey(format!(
                "{what}: expected a restricted key rk_{}_…. {CREATE_RESTRICTED_KEY}.",
                mode.as_str()
            )));
        };
        if body.len() < MIN_KEY_BODY_LEN || !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(ConnectorError::InvalidKey(format!(
                "the restricted key looks truncated or malformed: after rk_{}_ Stripe keys have only letters and digits, at least {MIN_KEY_BODY_LEN} of them; copy the whole value again",
                key_mode.as_str()
            )));
        }
        if key_mode != mode {
            return Err(ConnectorError::ModeMismatch(format!(
                "this is a {key_mode}-mode key (rk_{key_mode}_…) but the connection is configured for {mode} mode: \
                 use an rk_{mode}_… key or set the mode to {key_mode} (--mode, or \"mode\" in serve)"
            )));
        }
        Ok(ApiKey {
            secret: key.to_owned(),
            mode,
        })
    }

    /// The mode the key belongs to (always the configured mode once parsed).
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// `rk_test_…abcd`: enough to tell keys apart, useless to an attacker.
    pub fn redacted(&self) -> String {
        // The key is ASCII (checked in `parse`), so any byte offset is a char boundary; `get` keeps this
        // panic-free regardless.
        let tail_start = self.secret.len().saturating_sub(4);
        let tail = self.secret.get(tail_start..).unwrap_or_default();
        format!("rk_{}_…{tail}", self.mode.as_str())
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({})", self.redacted())
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// The longest hint prefix shown (`rk_test_` is 8 characters).
const MAX_HINT_PREFIX: usize = 16;
/// The most characters of the key's end a hint may show (the WIT contract says four).
const MAX_HINT_TAIL: usize = 4;

/// What a connection knows about its key: the mode, and the host's hint (`rk_live_…abcd`, WIT
/// `config.credential-hint`) to say which key a message is about. Never the key itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyHint {
    mode: Mode,
    hint: Option<String>,
}

impl KeyHint {
    /// The hint is kept only in the form `PREFIX…TAIL` — PREFIX at most 16 lower-case letters and `_`,
    /// TAIL at most 4 letters and digits — which is what [`ApiKey::redacted`] and the host produce.
    /// Anything else (empty, or a whole key passed by mistake) is dropped and messages say "this key":
    /// the hint only decorates messages, so a bad one is no reason to refuse the connection, and a
    /// whole key must never be echoed.
    pub fn new(mode: Mode, hint: &str) -> KeyHint {
        let hint = hint.trim();
        let usable = hint.split_once('…').is_some_and(|(prefix, tail)| {
            !prefix.is_empty()
                && prefix.len() <= MAX_HINT_PREFIX
                && prefix.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                && !tail.is_empty()
                && tail.len() <= MAX_HINT_TAIL
                && tail.bytes().all(|b| b.is_ascii_alphanumeric())
        });
        KeyHint {
            mode,
            hint: usable.then(|| hint.to_owned()),
        }
    }

    /// The configured mode (the host has checked that the key belongs to it).
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// How messages name the key: `the key rk_test_…abcd`, or `this key` without a usable hint.
    pub fn the_key(&self) -> String {
        match &self.hint {
            Some(hint) => format!("the key {hint}"),
            None => "this key".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests;
