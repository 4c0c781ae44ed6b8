//! The bearer token every `/v1/…` and `/metrics` request must carry (`KLAIRR_HOST_TOKEN`).
//!
//! Compared in constant time over SHA-256 digests, so neither the token's content nor its length leaks
//! through timing.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The environment variable `serve` reads its token from.
pub const TOKEN_ENV: &str = "KLAIRR_HOST_TOKEN";

/// Shorter tokens are refused at start: 16 characters is the least that cannot be guessed online.
pub const MIN_TOKEN_LEN: usize = 16;

/// The token's digest; the token itself is not kept.
#[derive(Clone)]
pub struct Token([u8; 32]);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token([redacted])")
    }
}

impl Token {
    /// The token from the variable's value, or why `serve` refuses to start. Surrounding whitespace is
    /// not part of it; what is left must be something a client can send: printable ASCII, no spaces.
    pub fn from_env_value(value: Option<String>) -> Result<Token, String> {
        let how = format!(
            "export {TOKEN_ENV} with a random value of at least {MIN_TOKEN_LEN} printable ASCII characters \
             without spaces (e.g. `openssl rand -hex 32`)"
        );
        let Some(value) = value else {
            return Err(format!(
                "{TOKEN_ENV} is not set: serve requires a bearer token; {how}"
            ));
        };
        if value.is_empty() {
            return Err(format!("{TOKEN_ENV} is set but empty: {how}"));
        }
        let value = value.trim();
        if value.is_empty() {
            return Err(format!("{TOKEN_ENV} holds only whitespace: {how}"));
        }
        if !value.bytes().all(|b| b.is_ascii_graphic()) {
            // A control character, a space or a non-ASCII letter: no client could send it in an
            // Authorization header, so every request would be refused.
            return Err(format!(
                "{TOKEN_ENV} holds a space, a control character or a non-ASCII one: a bearer token is one \
                 word of printable ASCII, which every client sends alike; {how}"
            ));
        }
        if value.len() < MIN_TOKEN_LEN {
            return Err(format!(
                "{TOKEN_ENV} is shorter than {MIN_TOKEN_LEN} characters: {how}"
            ));
        }
        Ok(Token(Sha256::digest(value.as_bytes()).into()))
    }

    /// Whether an `Authorization` header value is `Bearer <this token>`: the scheme in any case (RFC
    /// 9110), then one or more spaces (RFC 6750).
    pub fn admits(&self, authorization: Option<&[u8]>) -> bool {
        const SCHEME: &[u8] = b"bearer";
        let Some(value) = authorization else {
            return false;
        };
        let Some((scheme, rest)) = value.split_at_checked(SCHEME.len()) else {
            return false;
        };
        if !scheme.eq_ignore_ascii_case(SCHEME) || rest.first() != Some(&b' ') {
            return false;
        }
        let presented = rest.trim_ascii_start();
        let digest: [u8; 32] = Sha256::digest(presented).into();
        digest.ct_eq(&self.0).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_bearer_token_is_admitted() {
        let token = Token::from_env_value(Some("s3cret-token-0123456789".into())).expect("valid");
        for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
            for spaces in [" ", "  ", "   "] {
                let header = format!("{scheme}{spaces}s3cret-token-0123456789");
                assert!(token.admits(Some(header.as_bytes())), "{header}");
            }
        }
        for refused in [
            None,
            Some(&b"s3cret-token-0123456789"[..]),
            Some(b"Bearer s3cret-token-012345678"),
            Some(b"Bearer s3cret-token-01234567890"),
            Some(b"Basic s3cret-token-0123456789"),
            Some(b"Bearer "),
            Some(b"Bearer"),
            Some(b"Bearers3cret-token-0123456789"),
            Some(b"Bearer\ts3cret-token-0123456789"),
            Some(b"Bearer S3CRET-TOKEN-0123456789"),
        ] {
            assert!(!token.admits(refused), "{refused:?}");
        }
        assert!(!format!("{token:?}").contains("s3cret"));
    }

    #[test]
    fn a_missing_or_short_token_refuses_to_start_saying_what_to_do() {
        let missing = Token::from_env_value(None).expect_err("missing");
        assert!(
            missing.contains("KLAIRR_HOST_TOKEN is not set"),
            "{missing}"
        );
        let short = Token::from_env_value(Some("short".into())).expect_err("short");
        assert!(short.contains("shorter than 16"), "{short}");
        let empty = Token::from_env_value(Some(String::new())).expect_err("empty");
        assert!(
            empty.contains("KLAIRR_HOST_TOKEN is set but empty"),
            "{empty}"
        );
        let blank = Token::from_env_value(Some("   \n".into())).expect_err("blank");
        assert!(blank.contains("holds only whitespace"), "{blank}");
        // Tokens no client can send: every request would be refused, so the start is.
        for unsendable in [
            "abcdefghijklmnopqr\u{1}",
            "abc\ndefghijklmnopq",
            "abcdefgh ijklmnopqr",
            "ééééééééééééééééé",
        ] {
            let err = Token::from_env_value(Some(unsendable.into())).expect_err(unsendable);
            assert!(
                err.contains("one word of printable ASCII"),
                "{unsendable:?}: {err}"
            );
            assert!(!err.contains(unsendable), "not quoted: {err}");
        }
        let padded =
            Token::from_env_value(Some(" s3cret-token-0123456789\n".into())).expect("trimmed");
        assert!(padded.admits(Some(b"Bearer s3cret-token-0123456789")));
    }
}
