//! Builds the components the tests load and tells the tests where they are:
//! - the ledger connector (`connectors/ledger`, for `wasm32-wasip2`) → `env!("KLAIRR_LEDGER_COMPONENT")`;
//! - the hostile connector (`tests/hostile-guest`, for `wasm32-wasip2`) →
//!   `env!("KLAIRR_HOSTILE_COMPONENT")`;
//! - components from hand-written core modules for what Rust cannot do (`tests/wat/*.wat`, wrapped with
//!   the `klairr:connector/plugin` world of `wit/connector-0.2.0`) → `env!("KLAIRR_WAT_TABLE_GROW")`,
//!   `env!("KLAIRR_WAT_MANY_MEMORIES")`.
//!
//! The nested cargo build is `host-test/guest_build.rs`, shared with `host-test/build.rs`.

use std::env;
use std::path::{Path, PathBuf};

#[path = "../host-test/guest_build.rs"]
mod guest_build;

/// The WIT package the components implement.
const WIT_DIR: &str = "wit/connector-0.2.0";
const WORLD: &str = "plugin";

/// (core module in tests/wat/, environment variable the tests read the component's path from)
const WAT_COMPONENTS: [(&str, &str); 2] = [
    ("table_grow.wat", "KLAIRR_WAT_TABLE_GROW"),
    ("many_memories.wat", "KLAIRR_WAT_MANY_MEMORIES"),
];

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest_dir
        .parent()
        .expect("tests/ lives inside the workspace")
        .to_path_buf();
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));

    for watched in [
        "connectors/ledger",
        "sdk",
        "calendar",
        "tests/hostile-guest",
        "tests/wat",
        WIT_DIR,
        "Cargo.toml",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    println!("cargo:rerun-if-env-changed=KLAIRR_GUEST_PROFILE");

    // The same profile as the Stripe component (`guest`: optimised, panic = "abort"), and the same
    // nested target directory, so the two components share their compiled dependencies.
    let profile = env::var("KLAIRR_GUEST_PROFILE").unwrap_or_else(|_| "guest".into());
    let hostile = guest_build::build_guest(
        &guest_build::GuestBuild {
            root: &root,
            package: "klairr-hostile-guest",
            artifact: "klairr_hostile_guest.wasm",
            nested_target: "klairr-guest",
            profile: &profile,
            what: "the hostile test component (tests/hostile-guest)",
        },
        &out_dir,
    );
    println!(
        "cargo:rustc-env=KLAIRR_HOSTILE_COMPONENT={}",
        hostile.display()
    );

    let ledger = guest_build::build_guest(
        &guest_build::GuestBuild {
            root: &root,
            package: "klairr-ledger",
            artifact: "klairr_ledger.wasm",
            nested_target: "klairr-guest",
            profile: &profile,
            what: "the ledger connector component (connectors/ledger)",
        },
        &out_dir,
    );
    println!(
        "cargo:rustc-env=KLAIRR_LEDGER_COMPONENT={}",
        ledger.display()
    );

    for (file, var) in WAT_COMPONENTS {
        let component = wat_component(
            &root.join(WIT_DIR),
            &manifest_dir.join("wat").join(file),
            &out_dir,
        );
        println!("cargo:rustc-env={var}={}", component.display());
    }
}

/// Parse a core module, embed the connector world's type information and encode it as a component
/// (what `wasm-tools component embed` + `component new` do); returns the component's path.
fn wat_component(wit_dir: &Path, wat_file: &Path, out_dir: &Path) -> PathBuf {
    let shown = wat_file.display();
    let mut module = wat::parse_file(wat_file)
        .unwrap_or_else(|e| panic!("{shown} is not a valid core module: {e}"));
    let mut resolve = wit_parser::Resolve::default();
    let (package, _) = resolve
        .push_dir(wit_dir)
        .unwrap_or_else(|e| panic!("could not read the WIT in {}: {e:#}", wit_dir.display()));
    let world = resolve
        .select_world(&[package], Some(WORLD))
        .unwrap_or_else(|e| panic!("{} has no world `{WORLD}`: {e:#}", wit_dir.display()));
    wit_component::embed_component_metadata(
        &mut module,
        &resolve,
        world,
        wit_component::StringEncoding::UTF8,
    )
    .unwrap_or_else(|e| panic!("could not embed the `{WORLD}` world into {shown}: {e:#}"));
    let component = wit_component::ComponentEncoder::default()
        .validate(true)
        .module(&module)
        .and_then(|encoder| encoder.encode())
        .unwrap_or_else(|e| {
            panic!("{shown} does not fit the `{WORLD}` world's canonical ABI (export names and signatures): {e:#}")
        });
    let stem = wat_file
        .file_stem()
        .and_then(|s| s.to_str())
        .expect("the WAT files have UTF-8 names");
    let path = out_dir.join(format!("{stem}.wasm"));
    std::fs::write(&path, component)
        .unwrap_or_else(|e| panic!("could not write {}: {e}", path.display()));
    path
}
