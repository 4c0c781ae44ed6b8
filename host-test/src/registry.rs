//! The host's connectors: each is a manifest (what it may do) and a component (what it is).
//!
//! The rules live here, in the host, not in the guest: a component cannot widen its own access, and the
//! same component runs under whatever manifest the host gives it (`--component PATH` runs under Stripe's).

use klairr_policy::manifest::Manifest;

/// The Stripe connector built from this repository (`cargo build -p klairr-stripe --target wasm32-wasip2`,
/// run by this crate's build script), embedded so `klairr-host` needs no path to run it.
pub static STRIPE_COMPONENT: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/klairr_stripe.wasm"));

/// One connector: its manifest and its component's bytes.
#[derive(Clone, Debug)]
pub struct Connector {
    pub manifest: Manifest,
    pub component: &'static [u8],
}

/// The built-in Stripe connector under its built-in manifest (`host-test/connectors/stripe.toml`).
pub fn stripe() -> Connector {
    Connector {
        manifest: Manifest::stripe(),
        component: STRIPE_COMPONENT,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use klairr_policy::origin::Origin;

    #[test]
    fn stripe_reaches_exactly_api_stripe_com() {
        let stripe = stripe();
        assert_eq!(
            stripe.manifest.network.policy().allowed(),
            &[Origin::parse("https://api.stripe.com:443").expect("valid")]
        );
        assert_eq!(stripe.manifest.credential.env, "STRIPE_API_KEY");
        assert!(
            STRIPE_COMPONENT.starts_with(b"\0asm"),
            "the embedded component is a wasm binary"
        );
    }
}
