//! The connector's offline verdict on a credential (`check-credential`), and the mode a connection runs in.
//!
//! Ledger keys: `lk_test_…` (test data) and `lk_live_…` (live data), read-only, at least [`MIN_LENGTH`]
//! characters of letters, digits and `_`. Write keys (`lkw_…`) are refused outright: the connector only
//! reads. The host applies the same rules from the manifest (`connectors/ledger/ledger.toml`) whatever
//! this says; this check runs first, in a throwaway instance, so its messages reach the user.
//!
//! No message here contains the credential or any part of it beyond a prefix the rules name.

use crate::error::ConnectorError;

pub use klairr_connector_sdk::key::Mode;

/// The prefix of `mode`'s keys.
pub fn prefix(mode: Mode) -> &'static str {
    match mode {
        Mode::Test => TEST_PREFIX,
        Mode::Live => LIVE_PREFIX,
    }
}

pub const TEST_PREFIX: &str = "lk_test_";
pub const LIVE_PREFIX: &str = "lk_live_";
/// Write keys: refused, whatever the mode.
pub const WRITE_PREFIX: &str = "lkw_";
/// A prefix and at least 24 letters and digits.
pub const MIN_LENGTH: usize = 32;

const CREATE_READ_KEY: &str =
    "create a read-only key in the ledger's settings (API keys → New read key) \
and use its lk_live_… (or lk_test_…) value";

/// Whether `credential` is a key this connector may use in `mode`. Offline: looks only at the text.
pub fn check(credential: &str, mode: Mode) -> Result<(), ConnectorError> {
    let key = credential.trim();
    if key.is_empty() {
        return Err(ConnectorError::InvalidKey(format!(
            "no key was given: {CREATE_READ_KEY}"
        )));
    }
    if key.starts_with(WRITE_PREFIX) {
        return Err(ConnectorError::SecretKeyRejected(format!(
            "write keys ({WRITE_PREFIX}…) are refused: Klairr only ever reads the ledger, so it accepts \
             read-only keys only; {CREATE_READ_KEY}"
        )));
    }
    if !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(ConnectorError::InvalidKey(
            "the key contains characters no ledger key has (only letters, digits and '_'): check that it \
             was copied whole, without quotes, spaces or line breaks inside it"
                .into(),
        ));
    }
    if !key.starts_with(prefix(mode)) {
        let other = mode.other();
        if key.starts_with(prefix(other)) {
            return Err(ConnectorError::ModeMismatch(format!(
                "this is a {}-mode key ({}…) but the connection is for {} mode: use an {}… key or switch the \
                 mode to {}",
                other.as_str(),
                prefix(other),
                mode.as_str(),
                prefix(mode),
                other.as_str()
            )));
        }
        return Err(ConnectorError::InvalidKey(format!(
            "this is not a ledger key: expected one that starts with {TEST_PREFIX}… (test mode) or \
             {LIVE_PREFIX}… (live mode); {CREATE_READ_KEY}"
        )));
    }
    if key.len() < MIN_LENGTH {
        return Err(ConnectorError::InvalidKey(format!(
            "the key is {} characters long, but ledger keys have at least {MIN_LENGTH}: it looks truncated, \
             copy the whole value again",
            key.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = "Zx81Qm2Lp0Wn7Rt5Vy3Hc9Kd4Fg6Bs1J";

    fn key(prefix: &str) -> String {
        format!("{prefix}{BODY}")
    }

    /// The message and Debug of `e` hold no 12-character run of `key`.
    fn assert_quiet(e: &ConnectorError, key: &str) {
        if key.len() < 12 {
            return;
        }
        for shown in [e.to_string(), format!("{e:?}")] {
            for start in 0..=key.len() - 12 {
                let run = &key[start..start + 12];
                assert!(!shown.contains(run), "{run:?} leaked into {shown:?}");
            }
        }
    }

    #[test]
    fn read_keys_of_the_mode_pass() {
        check(&key(TEST_PREFIX), Mode::Test).expect("test key in test mode");
        check(&key(LIVE_PREFIX), Mode::Live).expect("live key in live mode");
        check(&format!(" {}\n", key(TEST_PREFIX)), Mode::Test).expect("surrounding space trimmed");
        let shortest = format!("{TEST_PREFIX}{}", &BODY[..MIN_LENGTH - TEST_PREFIX.len()]);
        check(&shortest, Mode::Test).expect("exactly the minimum length");
    }

    #[test]
    fn everything_else_is_refused_with_a_kind_and_no_echo() {
        let cases: Vec<(String, Mode, &str, &str)> = vec![
            (String::new(), Mode::Test, "invalid-key", "no key was given"),
            (
                key("lkw_test_"),
                Mode::Test,
                "secret-key-rejected",
                "write keys (lkw_…) are refused",
            ),
            (
                key("lkw_live_"),
                Mode::Live,
                "secret-key-rejected",
                "read-only keys only",
            ),
            (
                key(LIVE_PREFIX),
                Mode::Test,
                "mode-mismatch",
                "live-mode key (lk_live_…)",
            ),
            (
                key(TEST_PREFIX),
                Mode::Live,
                "mode-mismatch",
                "switch the mode to test",
            ),
            (
                key("rk_test_"),
                Mode::Test,
                "invalid-key",
                "not a ledger key",
            ),
            (
                format!("{}-x", key(TEST_PREFIX)),
                Mode::Test,
                "invalid-key",
                "only letters, digits",
            ),
            (
                format!("{TEST_PREFIX}short"),
                Mode::Test,
                "invalid-key",
                "13 characters long",
            ),
        ];
        for (k, mode, kind, says) in cases {
            let e = check(&k, mode).expect_err(&k);
            assert_eq!(e.kind(), kind, "{k}: {e}");
            assert!(e.to_string().contains(says), "{k}: {e}");
            assert_quiet(&e, &k);
        }
    }
}
