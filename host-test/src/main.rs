//! `klairr-host`: see `klairr_host::cli` for the commands.

fn main() {
    let api_key = std::env::var("STRIPE_API_KEY").ok();
    let code = klairr_host::cli::run(
        std::env::args_os(),
        klairr_host::cli::Io {
            api_key,
            stdin: &mut std::io::stdin().lock(),
            stdout: &mut std::io::stdout().lock(),
            stderr: &mut std::io::stderr().lock(),
        },
    );
    std::process::exit(code);
}
