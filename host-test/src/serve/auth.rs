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
    /// The token from the variable's value, or why `serve` refuses to start.
    pub fn from_env_value(value: Option<String>) -> Result<Token, String> {
        let Some(value) = value.filter(|v| !v.trim().is_empty()) else {
            return Err(format!(
                "{TOKEN_ENV} is not set: serve requires a bearer token; export {TOKEN_ENV} with a random value of at least {MIN_TOKEN_LEN} characters (e.g. `openssl rand -hex 32`)"
            ));
        };
        let value = value.trim();
        if value.chars().count() < MIN_TOKEN_LEN {
            return Err(format!(
                "{TOKEN_ENV} is shorter than {MIN_TOKEN_LEN} characters: use a random value of at least {MIN_TOKEN_LEN}"
            ));
        }
        Ok(Token(Sha256::digest(value.as_bytes()).into()))
    }

    /// Whether an `Authorization` header value is `Bearer <this token>` (the scheme in any case, as
    /// RFC 9110 has it).
    pub fn admits(&self, authorization: Option<&[u8]>) -> bool {
        const SCHEME: &[u8] = b"bearer ";
        let Some(value) = authorization else {
            return false;
        };
        let Some((scheme, presented)) = value.split_at_checked(SCHEME.len()) else {
            return false;
        };
        if !scheme.eq_ignore_ascii_case(SCHEME) {
            return false;
        }
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
            let header = format!("{scheme} s3cret-token-0123456789");
            assert!(token.admits(Some(header.as_bytes())), "{header}");
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
        assert!(short.contains("at least 16"), "{short}");
    }
}
