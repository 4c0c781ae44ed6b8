//! The host's connector registry: which components it knows, and what each may reach.
//!
//! The allowlist lives here, in the host, not in the guest: a component cannot widen its own network
//! access, and the same component can be registered with a different policy by another host.

use crate::policy::{NetworkPolicy, Origin};

/// The Stripe connector built from this repository (`cargo build -p klairr-stripe --target wasm32-wasip2`,
/// run by this crate's build script), embedded so `klairr-host` needs no path to run it.
pub static STRIPE_COMPONENT: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/klairr_stripe.wasm"));

/// One registered connector.
#[derive(Clone, Copy, Debug)]
pub struct ConnectorEntry {
    pub name: &'static str,
    /// The component's bytes (a path given with `--component` replaces these).
    pub component: &'static [u8],
    /// The only origins the component's requests may go to, as `scheme://host:port`.
    pub allowed_origins: &'static [&'static str],
    /// The environment variable the CLI reads the credential from (never an argument).
    pub key_env: &'static str,
}

impl ConnectorEntry {
    /// The connector's network policy: its allowlist, default timeouts, no redirect.
    pub fn policy(&self) -> NetworkPolicy {
        NetworkPolicy::new(
            self.allowed_origins
                .iter()
                .filter_map(|o| Origin::parse(o).ok())
                .collect(),
        )
    }
}

/// The Stripe connector: `https://api.stripe.com:443` and nothing else.
pub fn stripe() -> ConnectorEntry {
    ConnectorEntry {
        name: "stripe",
        component: STRIPE_COMPONENT,
        allowed_origins: &["https://api.stripe.com:443"],
        key_env: "STRIPE_API_KEY",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripe_entry_allows_exactly_api_stripe_com() {
        let policy = stripe().policy();
        assert_eq!(
            policy.allowed(),
            &[Origin::parse("https://api.stripe.com:443").expect("valid")]
        );
        assert!(
            STRIPE_COMPONENT.starts_with(b"\0asm"),
            "the embedded component is a wasm binary"
        );
    }
}
