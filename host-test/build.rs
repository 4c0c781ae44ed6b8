//! Builds the Stripe connector component from this repository (the workspace root crate) for
//! `wasm32-wasip2`, so that `klairr-host` embeds it and runs it without being told a path.
//!
//! The nested cargo uses its own target directory (next to the outer one) so it never waits on the outer
//! build's lock, and it is cleaned of the outer build's compiler wrappers and flags.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const GUEST_TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest_dir
        .parent()
        .expect("host-test lives inside the workspace")
        .to_path_buf();
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));

    for watched in ["src", "wit", "Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    println!("cargo:rerun-if-env-changed=KLAIRR_GUEST_PROFILE");
    println!("cargo:rerun-if-env-changed=CARGO_PROFILE_GUEST_OPT_LEVEL");

    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    ensure_target_installed(&rustc);

    // OUT_DIR is <target>/<profile>/build/klairr-host-<hash>/out: share one guest build per target dir.
    let guest_target_dir = out_dir
        .ancestors()
        .nth(4)
        .map(|t| t.join("klairr-guest"))
        .unwrap_or_else(|| out_dir.join("klairr-guest"));
    let profile = env::var("KLAIRR_GUEST_PROFILE").unwrap_or_else(|_| "guest".into());

    let mut cmd = Command::new(&cargo);
    cmd.current_dir(&root)
        .args([
            "build",
            "--package",
            "klairr-stripe",
            "--lib",
            "--target",
            GUEST_TARGET,
        ])
        .arg("--profile")
        .arg(&profile)
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", &guest_target_dir);
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_BUILD_TARGET",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
        "MFLAGS",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd
        .status()
        .expect("could not run cargo to build the guest component");
    if !status.success() {
        panic!(
            "building the Stripe connector component (cargo build -p klairr-stripe --target {GUEST_TARGET}) failed; see the errors above"
        );
    }
    let profile_dir = if profile == "dev" {
        "debug"
    } else {
        profile.as_str()
    };
    let built = guest_target_dir
        .join(GUEST_TARGET)
        .join(profile_dir)
        .join("klairr_stripe.wasm");
    let embedded = out_dir.join("klairr_stripe.wasm");
    std::fs::copy(&built, &embedded)
        .unwrap_or_else(|e| panic!("the built component {} is missing: {e}", built.display()));
}

/// Fail with the one command that fixes it, rather than a wall of "can't find crate for `core`".
fn ensure_target_installed(rustc: &std::ffi::OsStr) {
    let sysroot = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| PathBuf::from(s.trim()));
    if let Some(sysroot) = sysroot {
        let lib = sysroot.join("lib").join("rustlib").join(GUEST_TARGET);
        if !Path::new(&lib).exists() {
            panic!(
                "the {GUEST_TARGET} target is not installed; run `rustup target add {GUEST_TARGET}` and build again"
            );
        }
    }
}
