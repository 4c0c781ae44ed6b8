//! Builds a workspace crate for `wasm32-wasip2` from a build script, with a nested cargo.
//!
//! Shared by `host-test/build.rs` (the Stripe component the host embeds) and `tests/build.rs` (the hostile
//! component the security tests load); both include this file with `#[path = …] mod guest_build;`.
//!
//! The nested cargo uses its own target directory (next to the outer one) so it never waits on the outer
//! build's lock, and it is cleaned of the outer build's compiler wrappers and flags.

use std::env;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const GUEST_TARGET: &str = "wasm32-wasip2";

/// One guest component to build.
pub struct GuestBuild<'a> {
    /// The workspace root (where the workspace `Cargo.toml` is).
    pub root: &'a Path,
    /// The cargo package to build, e.g. `klairr-stripe`.
    pub package: &'a str,
    /// The name of the built file, e.g. `klairr_stripe.wasm`.
    pub artifact: &'a str,
    /// The nested target directory's name, placed next to the outer build's profile directories.
    pub nested_target: &'a str,
    /// The cargo profile (`guest`, `release`, `dev`, …).
    pub profile: &'a str,
    /// What to call the component in a failure message, e.g. "the Stripe connector component".
    pub what: &'a str,
}

/// Build `build.package` and copy its component into `out_dir`; returns the copy's path.
pub fn build_guest(build: &GuestBuild<'_>, out_dir: &Path) -> PathBuf {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    ensure_target_installed(&rustc);

    // OUT_DIR is <target>/<profile>/build/<crate>-<hash>/out: share one guest build per target dir and
    // checkout. Two checkouts sharing a target dir (CI's clone and a working tree) get a directory each,
    // so one never copies out the other's component when both build at once.
    let nested = format!("{}-{:016x}", build.nested_target, checkout_key(build.root));
    let guest_target_dir = out_dir
        .ancestors()
        .nth(4)
        .map(|t| t.join(&nested))
        .unwrap_or_else(|| out_dir.join(&nested));

    let mut cmd = Command::new(&cargo);
    cmd.current_dir(build.root)
        .args([
            "build",
            "--package",
            build.package,
            "--lib",
            "--target",
            GUEST_TARGET,
        ])
        .arg("--profile")
        .arg(build.profile)
        .arg("--manifest-path")
        .arg(build.root.join("Cargo.toml"))
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
        .unwrap_or_else(|e| panic!("could not run cargo to build {}: {e}", build.what));
    if !status.success() {
        panic!(
            "building {} (cargo build -p {} --target {GUEST_TARGET}) failed; see the errors above",
            build.what, build.package
        );
    }
    let profile_dir = if build.profile == "dev" {
        "debug"
    } else {
        build.profile
    };
    let built = guest_target_dir
        .join(GUEST_TARGET)
        .join(profile_dir)
        .join(build.artifact);
    let copied = out_dir.join(build.artifact);
    std::fs::copy(&built, &copied)
        .unwrap_or_else(|e| panic!("the built component {} is missing: {e}", built.display()));
    copied
}

/// Fail with the one command that fixes it, rather than a wall of "can't find crate for `core`".
fn ensure_target_installed(rustc: &OsStr) {
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

/// A stable key for a checkout's location (FNV-1a of its path): std's hashers are not stable across
/// Rust releases, and the key names a directory that outlives one build.
fn checkout_key(root: &Path) -> u64 {
    root.as_os_str()
        .as_encoded_bytes()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
            (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
        })
}
