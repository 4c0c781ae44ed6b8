//! `klairr-host` itself (its `main` is `klairr_host::cli::main`), built inside the end-to-end tests'
//! package so that they can run it as a process (`CARGO_BIN_EXE_klairr-host-under-test`): on a pseudo
//! terminal (`tests/terminal.rs`), with the components this package builds.

fn main() {
    std::process::exit(klairr_host::cli::main());
}
