//! A connection's [`Config`] from the host, and how `open` reads its limits (`max-rows`, `max-scan`,
//! `cache-ttl-seconds`).

use crate::error::ConnectorError;
use crate::key::Mode;
use crate::prelude::*;

/// A connector's connection, as far as it needs no I/O: opened from the host's [`Config`], and the
/// canonical form of a query (the host's cache key). Implemented by each connector's pure core.
pub trait Connect: Sized + 'static {
    /// The connector's [`crate::error::Wording`].
    type Wording: 'static;

    /// Offline checks of the config; makes no request.
    fn open(config: &Config) -> Result<Self, ConnectorError<Self::Wording>>;

    /// The query, parsed and written in its one canonical form, or why it is not valid.
    fn canonical_query(&self, query: &str) -> Result<String, ConnectorError<Self::Wording>>;
}

/// What the host opens a connection with. Mirrors `klairr:connector/types.config`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub mode: Mode,
    /// The credential with all but its prefix and last four characters hidden (`rk_live_…abcd`), for
    /// messages that must say which credential they are about. Never the credential.
    pub credential_hint: String,
    /// The most rows one query returns (the connector's default when `None`).
    pub max_rows: Option<u32>,
    /// Lowers the result-cache TTL below the connector's default (it can never be raised).
    pub cache_ttl_seconds: Option<u32>,
    /// The most upstream rows one aggregate reads (the connector's default when `None`).
    pub max_scan: Option<u32>,
}

impl Config {
    /// A connection of `mode` whose key the host hints at with `credential_hint`, with every limit at
    /// the connector's default.
    pub fn new(mode: Mode, credential_hint: impl Into<String>) -> Config {
        Config {
            mode,
            credential_hint: credential_hint.into(),
            max_rows: None,
            cache_ttl_seconds: None,
            max_scan: None,
        }
    }

    /// Every field, in the WIT record's order.
    pub fn with(
        mode: Mode,
        credential_hint: impl Into<String>,
        max_rows: Option<u32>,
        cache_ttl_seconds: Option<u32>,
        max_scan: Option<u32>,
    ) -> Config {
        Config {
            mode,
            credential_hint: credential_hint.into(),
            max_rows,
            cache_ttl_seconds,
            max_scan,
        }
    }
}

/// `name`'s value: `default` when the config gives none, else one from 1 to `max`. The error is the
/// message of an `invalid-query`, saying what to use.
pub fn within(name: &str, value: Option<u32>, default: u32, max: u32) -> Result<u32, String> {
    match value {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(n) => Err(format!(
            "{name} {n} is out of range: use a value from 1 to {max}"
        )),
    }
}

/// How long the host may cache a result: `ceiling`, unless the config lowers it (0 = do not cache);
/// never raised above it.
pub fn cache_ttl(value: Option<u32>, ceiling: u32) -> u32 {
    value.unwrap_or(ceiling).min(ceiling)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_default_accept_their_range_and_say_what_to_use() {
        assert_eq!(within("max-rows", None, 1000, 5000), Ok(1000));
        assert_eq!(within("max-rows", Some(1), 1000, 5000), Ok(1));
        assert_eq!(within("max-rows", Some(5000), 1000, 5000), Ok(5000));
        assert_eq!(
            within("max-scan", Some(0), 10, 20),
            Err("max-scan 0 is out of range: use a value from 1 to 20".into())
        );
        assert!(within("max-rows", Some(5001), 1000, 5000).is_err());
    }

    #[test]
    fn a_cache_ttl_is_lowered_never_raised() {
        assert_eq!(cache_ttl(None, 900), 900);
        assert_eq!(cache_ttl(Some(0), 900), 0);
        assert_eq!(cache_ttl(Some(60), 900), 60);
        assert_eq!(cache_ttl(Some(3600), 900), 900);
    }
}
