//! `klairr-host`: see `klairr_host::cli` for the commands.

fn main() {
    std::process::exit(klairr_host::cli::main());
}
