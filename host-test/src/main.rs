//! `klairr-host`: see `klairr_host::cli` for the commands.

use std::io::IsTerminal;

fn main() {
    // Only the variable the selected connector's manifest names is ever read through this.
    let env = |name: &str| std::env::var(name).ok();
    let stderr_is_terminal = std::io::stderr().is_terminal();
    let code = klairr_host::cli::run(
        std::env::args_os(),
        klairr_host::cli::Io {
            env: &env,
            stdin: &mut std::io::stdin().lock(),
            stdout: &mut std::io::stdout().lock(),
            // Not locked for the whole run: the progress spinner draws on stderr from its own thread.
            stderr: &mut std::io::stderr(),
            stderr_is_terminal,
        },
    );
    std::process::exit(code);
}
