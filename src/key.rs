//! Restricted API keys: offline checks that run before any request, and a holder that never shows the key.
//!
//! Only `rk_test_…` and `rk_live_…` keys are accepted. Secret keys (`sk_…`, including organisation keys
//! `sk_org…`) are refused with instructions to create a restricted key; everything else is `invalid-key`.
//! None of these checks makes a request.

use crate::error::ConnectorError;
use std::fmt;

/// Test or live data. Mirrors `klairr:connector/types.mode`.
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

    /// Whether Stripe's `livemode` flag on an object agrees with this mode.
    pub fn matches_livemode(self, livemode: bool) -> bool {
        livemode == (self == Mode::Live)
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How Step 1 of the setup page reads, in one sentence: every key rejection points here.
pub const CREATE_RESTRICTED_KEY: &str = "In the Stripe Dashboard go to Developers → API keys → Create restricted key, \
grant Read on Customers, Subscriptions, Invoices, Charges and Payouts, leave everything else at None, \
and use the rk_live_… (or rk_test_…) value";

/// The shortest key body we accept after the `rk_test_`/`rk_live_` prefix. Real keys are far longer
/// (often 100+ characters); anything this short is truncated or made up.
pub const MIN_KEY_BODY_LEN: usize = 16;

/// A validated restricted key. `Debug` and `Display` show only the prefix and the last four characters
/// (`rk_test_…abcd`); the full value is reachable only through [`ApiKey::expose`], which the transport
/// calls to write the `Authorization` header.
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
                "the restricted key looks truncated or malformed: after rk_{}_ Stripe keys have at least {MIN_KEY_BODY_LEN} letters and digits; copy the whole value again",
                key_mode.as_str()
            )));
        }
        if key_mode != mode {
            return Err(ConnectorError::ModeMismatch(format!(
                "this is a {key_mode}-mode key (rk_{key_mode}_…) but the connection is configured for {mode} mode: \
                 use an rk_{mode}_… key or set the mode to {key_mode}"
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

    /// The full key, for the `Authorization` header only.
    pub fn expose(&self) -> &str {
        &self.secret
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

#[cfg(test)]
mod tests {
    use super::*;

    const TEST_KEY: &str = "rk_test_51AbCdEfGhIjKlMnOpQrStUvWxYz0123";

    #[test]
    fn accepts_restricted_keys_in_their_mode() {
        let k = ApiKey::parse(&format!("  {TEST_KEY}\n"), Mode::Test).expect("valid");
        assert_eq!(k.expose(), TEST_KEY);
        assert_eq!(k.mode(), Mode::Test);
        let live = TEST_KEY.replace("rk_test_", "rk_live_");
        assert!(ApiKey::parse(&live, Mode::Live).is_ok());
    }

    #[test]
    fn debug_and_display_redact() {
        let k = ApiKey::parse(TEST_KEY, Mode::Test).expect("valid");
        for shown in [format!("{k:?}"), format!("{k}"), k.redacted()] {
            assert!(!shown.contains(TEST_KEY), "{shown}");
            assert!(
                shown.ends_with("0123") || shown.ends_with("0123)"),
                "{shown}"
            );
        }
    }

    #[test]
    fn rejections_have_the_right_kind() {
        let cases: &[(&str, Mode, &str)] = &[
            (
                "sk_test_51AbCdEfGhIjKlMnOpQrSt",
                Mode::Test,
                "secret-key-rejected",
            ),
            (
                "sk_live_51AbCdEfGhIjKlMnOpQrSt",
                Mode::Live,
                "secret-key-rejected",
            ),
            (
                "sk_org_live_51AbCdEfGhIjKlMnOp",
                Mode::Live,
                "secret-key-rejected",
            ),
            ("pk_test_51AbCdEfGhIjKlMnOpQrSt", Mode::Test, "invalid-key"),
            ("whsec_51AbCdEfGhIjKlMnOpQrSt", Mode::Test, "invalid-key"),
            ("", Mode::Test, "invalid-key"),
            ("   ", Mode::Test, "invalid-key"),
            ("rk_test_abc", Mode::Test, "invalid-key"),
            ("rk_test_51AbCdEf GhIjKlMnOpQrSt", Mode::Test, "invalid-key"),
            ("rk_test_51AbCdEf-GhIjKlMnOpQrSt", Mode::Test, "invalid-key"),
            ("rk_prod_51AbCdEfGhIjKlMnOpQrSt", Mode::Test, "invalid-key"),
            ("hello", Mode::Test, "invalid-key"),
            (TEST_KEY, Mode::Live, "mode-mismatch"),
            (
                "rk_live_51AbCdEfGhIjKlMnOpQrSt",
                Mode::Test,
                "mode-mismatch",
            ),
        ];
        for (raw, mode, kind) in cases {
            let err = ApiKey::parse(raw, *mode).expect_err(raw);
            assert_eq!(err.kind(), *kind, "{raw:?} in {mode}: {err}");
            if raw.len() > 8 {
                assert!(!err.to_string().contains(raw.trim()), "{err}");
            }
        }
    }

    #[test]
    fn secret_key_message_says_how_to_fix_it() {
        let err = ApiKey::parse("sk_live_51AbCdEfGhIjKlMnOpQrSt", Mode::Live).expect_err("secret");
        let msg = err.to_string();
        assert!(
            msg.contains("Create restricted key") && msg.contains("Read on Customers"),
            "{msg}"
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn mode() -> impl Strategy<Value = Mode> {
            prop_oneof![Just(Mode::Test), Just(Mode::Live)]
        }

        fn other(mode: Mode) -> Mode {
            match mode {
                Mode::Test => Mode::Live,
                Mode::Live => Mode::Test,
            }
        }

        /// Whitespace a paste may carry around a key.
        fn padding() -> impl Strategy<Value = String> {
            "[ \t\r\n]{0,3}"
        }

        /// Prefixes of every kind of Stripe secret, and some near misses.
        fn prefix() -> impl Strategy<Value = &'static str> {
            prop::sample::select(vec![
                "rk_test_",
                "rk_live_",
                "sk_test_",
                "sk_live_",
                "sk_org_live_",
                "sk_org_test_",
                "pk_test_",
                "pk_live_",
                "whsec_",
                "rk_prod_",
                "rk_",
                "sk_",
                "rk_test",
                "RK_TEST_",
                "",
            ])
        }

        /// A key body: mostly letters and digits, sometimes with a character no key has.
        fn body() -> impl Strategy<Value = String> {
            prop_oneof![
                3 => "[0-9A-Za-z]{1,120}",
                1 => "[0-9A-Za-z]{1,40}[_\\- '\"é\u{0}\u{202e}][0-9A-Za-z]{1,40}",
            ]
        }

        fn shown(err: &ConnectorError) -> [String; 2] {
            [err.to_string(), format!("{err:?}")]
        }

        proptest! {
            #[test]
            fn parse_never_panics_on_any_string(raw in any::<String>(), mode in mode()) {
                let _ = ApiKey::parse(&raw, mode);
            }

            #[test]
            fn parse_never_panics_on_key_like_strings(
                pad in padding(), prefix in prefix(), body in body(), mode in mode()
            ) {
                let _ = ApiKey::parse(&format!("{pad}{prefix}{body}{pad}"), mode);
            }

            #[test]
            fn errors_never_echo_a_plausible_key(
                pad in padding(), prefix in prefix(), body in body(), mode in mode()
            ) {
                let raw = format!("{pad}{prefix}{body}{pad}");
                let trimmed = raw.trim();
                if let Err(err) = ApiKey::parse(&raw, mode) {
                    for text in shown(&err) {
                        if trimmed.len() >= 8 {
                            prop_assert!(!text.contains(trimmed), "{text}");
                        }
                        if body.len() >= 8 {
                            prop_assert!(!text.contains(&body), "{text}");
                        }
                    }
                }
            }

            #[test]
            fn errors_never_echo_any_input(raw in "\\PC{8,64}", mode in mode()) {
                let trimmed = raw.trim();
                if let Err(err) = ApiKey::parse(&raw, mode) {
                    for text in shown(&err) {
                        prop_assert!(trimmed.len() < 8 || !text.contains(trimmed), "{text}");
                    }
                }
            }

            #[test]
            fn accepted_keys_round_trip(
                pad in padding(), body in "[0-9A-Za-z]{16,120}", mode in mode()
            ) {
                let key_text = format!("rk_{mode}_{body}");
                let key = ApiKey::parse(&format!("{pad}{key_text}{pad}"), mode)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(key.expose(), key_text.as_str());
                prop_assert_eq!(key.mode(), mode);
                let again = ApiKey::parse(key.expose(), mode)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(&again, &key);
                // The same key offered for the other mode is a mode mismatch, never accepted.
                let err = ApiKey::parse(&key_text, other(mode)).map(|_| ()).unwrap_err();
                prop_assert_eq!(err.kind(), "mode-mismatch");
            }

            #[test]
            fn debug_and_display_never_show_the_key(body in "[0-9A-Za-z]{16,120}", mode in mode()) {
                let key_text = format!("rk_{mode}_{body}");
                let key = ApiKey::parse(&key_text, mode)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                let tail = &body[body.len() - 4..];
                for text in [format!("{key:?}"), format!("{key}"), key.redacted(), format!("{:?}", Some(&key))] {
                    prop_assert!(!text.contains(&key_text), "{text}");
                    prop_assert!(!text.contains(&body[..body.len() - 4]), "{text}");
                    prop_assert!(text.contains(tail), "{text}");
                }
            }

            #[test]
            fn short_bodies_are_rejected(body in "[0-9A-Za-z]{0,15}", mode in mode()) {
                let err = ApiKey::parse(&format!("rk_{mode}_{body}"), mode).map(|_| ()).unwrap_err();
                prop_assert_eq!(err.kind(), "invalid-key");
            }

            #[test]
            fn secret_keys_are_always_refused(
                pad in padding(), rest in "(test_|live_|org_live_|org_test_)?[0-9A-Za-z]{0,60}", mode in mode()
            ) {
                let err = ApiKey::parse(&format!("{pad}sk_{rest}{pad}"), mode).map(|_| ()).unwrap_err();
                prop_assert_eq!(err.kind(), "secret-key-rejected");
            }
        }
    }
}
