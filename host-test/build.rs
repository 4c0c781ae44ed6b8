//! Builds the Stripe connector component from this repository (the workspace root crate) for
//! `wasm32-wasip2`, so that `klairr-host` embeds it and runs it without being told a path.
//!
//! The nested cargo build itself lives in `guest_build.rs`, shared with `tests/build.rs`; Binaryen's
//! optimiser then shrinks the component (`guest_optimize.rs`).

use std::env;
use std::path::PathBuf;

#[path = "guest_build.rs"]
mod guest_build;
#[path = "guest_optimize.rs"]
mod guest_optimize;

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest_dir
        .parent()
        .expect("host-test lives inside the workspace")
        .to_path_buf();
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));

    // Everything the guest is built from, its calendar crate included.
    for watched in ["src", "sdk", "calendar", "wit", "Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    println!("cargo:rerun-if-env-changed=KLAIRR_GUEST_PROFILE");
    println!("cargo:rerun-if-env-changed=CARGO_PROFILE_GUEST_OPT_LEVEL");

    let profile = env::var("KLAIRR_GUEST_PROFILE").unwrap_or_else(|_| "guest".into());
    // Embedded by the host as `$OUT_DIR/klairr_stripe.wasm`.
    let component = guest_build::build_guest(
        &guest_build::GuestBuild {
            root: &root,
            package: "klairr-stripe",
            artifact: "klairr_stripe.wasm",
            nested_target: "klairr-guest",
            profile: &profile,
            what: "the Stripe connector component",
        },
        &out_dir,
    );
    // The registry's size test holds only the shipped build to the size budget.
    println!("cargo:rustc-env=KLAIRR_STRIPE_COMPONENT_PROFILE={profile}");
    // The dev profile's component stays as rustc made it (names for debugging, a quicker build).
    if profile != "dev" {
        if let Err(e) = guest_optimize::optimize_component(&component, &out_dir) {
            panic!("optimising the Stripe connector component failed: {e}");
        }
    }
}
