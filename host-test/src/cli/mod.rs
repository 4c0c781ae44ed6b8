//! `klairr-host`: the command line (the README's CLI section). [`main`] only gathers the arguments, the
//! key from the environment and the real stdout/stderr and calls [`run`], so tests drive the very same
//! code in-process — or, where a real terminal matters (the progress spinner), as a process.

mod args;
mod command_line;
mod failure;
mod inputs;
mod load;
mod print;
mod process;

#[cfg(feature = "demo")]
use crate::demo;
use crate::output;
use crate::policy::key_shapes::KeyShapes;
use crate::policy::redact::{cap, strip_control, CONTEXT_ROOM, MESSAGE_CAP};
use crate::progress_bar::Spinner;
use crate::registry::Connector;
#[cfg(feature = "demo")]
use crate::registry::DEFAULT_CONNECTOR;
use crate::sandbox::ConnectionConfig;
use crate::sandbox::{Callers, SharedHost};
use crate::serve::{ConnectionLimits, ServeOptions, Server, Token, TOKEN_ENV};
use crate::service::Service;
pub use args::{Cli, Command, EmulatorData, Format, ModeArg};
pub(crate) use command_line::CommandLine;
pub use failure::Failure;
use failure::{asks_for_json, connectors_dir_in, credential_specs};
use inputs::{config, memory, read_query, utf8_env};
use load::usage_or_config;
pub use load::{load_component, load_sandbox, load_sandbox_in, registry, sandbox_options};
use print::{log_denials, print_result};
use std::ffi::OsString;
use std::io::{Read, Write};
use std::time::Duration;

/// Everything `run` needs from the outside world.
pub struct Io<'a> {
    /// The environment: the selected connector's credential is read from the variable its manifest
    /// names (and nothing else is read through this).
    pub env: &'a dyn Fn(&str) -> Option<OsString>,
    pub stdin: &'a mut dyn Read,
    pub stdout: &'a mut dyn Write,
    pub stderr: &'a mut dyn Write,
    /// stderr is a terminal: long queries in table format show their progress there.
    pub stderr_is_terminal: bool,
}

/// The process's own command line: its arguments, environment, stdin, stdout and stderr (a terminal or
/// not). Returns the exit status. `klairr-host`'s `main` is exactly this, and so is the end-to-end tests'
/// copy of the binary (`klairr-host-under-test`).
pub fn main() -> i32 {
    use std::io::IsTerminal;
    process::ignore_file_size_signal();
    process::forbid_core_dumps();
    // Only the variable the selected connector's manifest names is ever read through this.
    let env = |name: &str| std::env::var_os(name);
    let stderr_is_terminal = std::io::stderr().is_terminal();
    run(
        std::env::args_os(),
        Io {
            env: &env,
            stdin: &mut std::io::stdin().lock(),
            stdout: &mut std::io::stdout().lock(),
            // Not locked for the whole run: the progress spinner draws on stderr from its own thread.
            stderr: &mut std::io::stderr(),
            stderr_is_terminal,
        },
    )
}

/// Parse `args` (including the program name) and run; returns the exit status.
pub fn run<I, S>(args: I, mut io: Io<'_>) -> i32
where
    I: IntoIterator<Item = S>,
    S: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let (cli, refused) = match args::parse(&args) {
        Ok(parsed) => parsed,
        Err(e) if e.use_stderr() && asks_for_json(&args) => {
            // A program that asked for JSON gets its failure as JSON too, even when the command line
            // itself is what failed: clap's message up to its usage lines, on one line, without its
            // `error: ` (what is missing is on the lines after the first).
            let text = e.to_string();
            let said: Vec<&str> = text
                .lines()
                .map(str::trim)
                .take_while(|line| !line.is_empty())
                .collect();
            let joined = said.join(" ");
            let message = joined.strip_prefix("error: ").unwrap_or(&joined);
            let specs = credential_specs(connectors_dir_in(&args).as_deref());
            let message = CommandLine::read(&args, &specs).hide_key_like(message);
            let json = output::error_json("usage", &cap(&message, MESSAGE_CAP));
            say_json_error(&mut io, &json);
            return e.exit_code();
        }
        Err(e) if e.use_stderr() => {
            let specs = credential_specs(connectors_dir_in(&args).as_deref());
            let text = CommandLine::read(&args, &specs).hide_key_like(&e.to_string());
            let _ = write!(io.stderr, "{text}");
            return e.exit_code();
        }
        Err(e) => {
            // `--help` and `--version`: what was asked for, so on stdout (`klairr-host --help | less`);
            // when stdout cannot take it, that is an `output` failure like any other command's.
            // Under `--format json` that failure is the error object, on stderr, as any other's is.
            if let Err(why) = write!(io.stdout, "{e}").and_then(|()| io.stdout.flush()) {
                let failure = Failure::output(why);
                if asks_for_json(&args) {
                    let json = output::error_json(&failure.kind, &failure.message);
                    let _ = writeln!(io.stderr, "{json}");
                } else {
                    let _ = writeln!(io.stderr, "error (output): {}", failure.message);
                }
                return 1;
            }
            return e.exit_code();
        }
    };
    // Warnings on the way (the compile cache's, say) may quote a path a key was pasted into.
    let specs = credential_specs(cli.connectors.as_deref());
    let command_line = CommandLine::read(&args, &specs);
    crate::mask_log_lines(
        failure::credential_runs(&specs, io.env),
        command_line.clone(),
    );
    let format = cli.format;
    let show_progress = io.stderr_is_terminal && format == Format::Table;
    match execute(
        &cli,
        &refused,
        io.env,
        io.stdin,
        io.stdout,
        io.stderr,
        show_progress,
    ) {
        Ok(()) => 0,
        Err(failure) => {
            // The operator's text is shown with what looks like a key hidden by its form, never masked
            // by the key's value (see `command_line`); what a call said the sandbox has masked.
            let message = if failure.operator_text {
                command_line.hide_key_like(&failure.message)
            } else {
                failure.message.clone()
            };
            // Messages quote what upstreams and components said: bounded, and never a terminal escape.
            // What a component or upstream said was capped at MESSAGE_CAP by the sandbox already, its
            // marker counting what was cut; the room past it is for the host's own words around it
            // (the request, the request id), so that marker is kept and stays true.
            let message = cap(&message, MESSAGE_CAP + CONTEXT_ROOM);
            match format {
                Format::Json => {
                    let json = output::error_json(&failure.kind, &message);
                    say_json_error(&mut io, &json);
                }
                Format::Table | Format::Csv | Format::Ndjson => {
                    let _ = writeln!(
                        io.stderr,
                        "error ({}): {}",
                        failure.kind,
                        strip_control(&message)
                    );
                }
            }
            failure.exit_code()
        }
    }
}

/// Run the parsed command; `refused` are the flags given that it refuses (see `args::parse`).
fn execute(
    cli: &Cli,
    refused: &[String],
    env: &dyn Fn(&str) -> Option<OsString>,
    stdin: &mut dyn Read,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
    show_progress: bool,
) -> Result<(), Failure> {
    // A flag that would be ignored is refused instead: describe, setup, demo and the emulator print
    // no query result for `--columns` to choose from.
    if cli.columns.is_some() && !matches!(cli.command, Command::Query { .. }) {
        return Err(Failure::new(
            "usage",
            "--columns chooses the columns of a query result; only `query` prints one",
        ));
    }
    if let Some(names) = &cli.columns {
        output::check_names(names).map_err(|m| Failure::new("usage", m))?;
    }
    #[cfg(feature = "demo")]
    if matches!(cli.command, Command::Emulator { .. }) {
        refuse_given(refused, |flags| {
            format!(
                "the emulator stands in for Stripe's API and runs no connector: leave out {flags} (give them \
                 to the command that queries it, e.g. `klairr-host --stripe-base http://127.0.0.1:PORT query …`)"
            )
        })?;
    }
    match cli.command {
        Command::Describe | Command::Connectors => refuse_given(refused, |flags| {
            format!(
                "{} opens no connection (no mode, no rows): leave out {flags}; `query` takes such flags \
                 (and `setup` takes --mode)",
                if matches!(cli.command, Command::Describe) { "describe" } else { "connectors" }
            )
        })?,
        Command::Setup => refuse_given(refused, |flags| {
            format!(
                "setup proves the credential and returns no rows: leave out {flags}; only `query` takes such flags"
            )
        })?,
        _ => {}
    }
    // Every command that takes `--memory-file` checks it before anything runs, even one that records
    // no shape (describe, connectors, setup): the flag means the same wherever it is accepted.
    let memory = memory(cli)?;
    let registry = registry(cli)?;
    if matches!(cli.command, Command::Serve { .. }) {
        refuse_given(refused, |flags| {
            format!(
                "serve runs every connector with its own component, and each connection brings its settings: \
                 leave out {flags} (a connection's mode, max_rows, max_scan and cache_ttl_seconds go in the body \
                 of POST /v1/connections; another component is installed with --connectors DIR and swapped \
                 in with a reload)"
            )
        })?;
    }
    let connector = registry
        .get(cli.connector_name())
        .map_err(usage_or_config)?;
    let write = |stdout: &mut dyn Write, text: String| {
        stdout
            .write_all(text.as_bytes())
            .and_then(|()| {
                if text.ends_with('\n') {
                    Ok(())
                } else {
                    stdout.write_all(b"\n")
                }
            })
            .map_err(Failure::output)
    };
    match &cli.command {
        #[cfg(feature = "demo")]
        Command::Emulator { port, log, data } => {
            let json = cli.format.document_is_json("the emulator")?;
            demo::serve_emulator(*port, data, *log, json, stdout)
        }
        #[cfg(feature = "demo")]
        Command::Demo => {
            refuse_given(refused, |flags| {
                format!(
                    "the demo runs the built-in {DEFAULT_CONNECTOR} connector on its own emulator and \
                     reads it with its test key: leave out {flags} (to query an emulator of your own, \
                     run `klairr-host emulator` and `query`)"
                )
            })?;
            demo::run(
                cli,
                connector,
                load_component(cli, connector)?.as_slice(),
                memory,
                stdout,
            )
        }
        Command::Serve {
            listen,
            max_connections,
            idle_seconds,
            drain_seconds,
        } => {
            let json = cli.format.document_is_json("serve")?;
            let token = Token::from_env_value(utf8_env(env, TOKEN_ENV, "usage")?)
                .map_err(|m| Failure::new("usage", m))?;
            let mut options = ServeOptions::new(*listen, token);
            options.connections = ConnectionLimits {
                max_open: *max_connections as usize,
                idle: Duration::from_secs(*idle_seconds),
            };
            options.memory = memory;
            options.sandbox = sandbox_options(cli)?;
            let server = Server::start(&registry, options).map_err(|e| {
                // A listen address the server refuses is the command line's mistake.
                let kind = if e.kind == "invalid-request" {
                    "usage"
                } else {
                    e.kind.as_str()
                };
                Failure::new(kind, e.message)
            })?;
            // In a machine format, one JSON object a program reads the address from (`--listen
            // 127.0.0.1:0` picks the port), as `emulator` prints its own.
            let base_url = format!("http://{}", server.addr());
            let mut serving = if json {
                serde_json::json!({ "base_url": base_url, "connectors": registry.names() })
                    .to_string()
            } else {
                format!(
                    "klairr-host: serving {} on {base_url}",
                    registry.names().join(", ")
                )
            };
            // Said once the signals are taken: a SIGTERM sent as soon as this is read drains.
            let mut said = Ok(());
            server.run_until_signal(Duration::from_secs(*drain_seconds), stderr, &mut || {
                said = write(stdout, std::mem::take(&mut serving));
                let _ = stdout.flush();
                said.is_ok()
            });
            said
        }
        Command::Connectors => {
            let json = cli.format.document_is_json("connectors")?;
            let shared = SharedHost::new(Default::default(), Callers::One)?;
            // A path is the operator's text: what looks like a key in it is hidden, as in messages.
            let shapes = KeyShapes::of(registry.iter().map(|c| &c.manifest.credential));
            let mut listed = Vec::new();
            for connector in registry.iter() {
                let sandbox = load_sandbox_in(&shared, cli, connector, false)?;
                let mut manifest = connector.manifest.clone();
                manifest.source = shapes.hide(&manifest.source);
                listed.push((manifest, sandbox.describe()?));
            }
            if json {
                write(stdout, output::connectors_json(&listed))
            } else {
                write(stdout, output::connectors_text(&listed))
            }
        }
        Command::Describe => {
            let json = cli.format.document_is_json("describe")?;
            let sandbox = load_sandbox(cli, connector)?;
            let info = sandbox.describe()?;
            if json {
                write(stdout, output::describe_json(&info))
            } else {
                write(stdout, output::describe_text(&info))
            }
        }
        Command::Setup => {
            // Refused before any request is made.
            let json = cli.format.document_is_json("setup")?;
            let config = config(cli, connector, env)?;
            let service = Service::new(load_sandbox(cli, connector)?, memory);
            let mut session = open_logged(&service, &config, connector, stderr)?;
            let report = session.verify();
            log_denials(stderr, session.denial_log(connector.name()));
            let report = report?;
            if json {
                write(stdout, output::setup_json(&report))
            } else {
                write(stdout, output::setup_text(&report))
            }
        }
        Command::Query { dsl } => {
            let dsl = if dsl == "-" {
                read_query(stdin)?
            } else {
                dsl.clone()
            };
            // The connection's settings are judged before the credential is looked at, so that the
            // same mistake is named whatever the key (a missing one included).
            let sandbox = load_sandbox(cli, connector)?;
            sandbox.check_settings(cli.max_rows, cli.max_scan)?;
            let config = config(cli, connector, env)?;
            let service = Service::new(sandbox, memory);
            let mut session = open_logged(&service, &config, connector, stderr)?;
            let spinner = Spinner::on_stderr(show_progress);
            session.watch(spinner.as_ref().map(Spinner::sink));
            let answer = session.query(&dsl);
            drop(spinner);
            log_denials(stderr, session.denial_log(connector.name()));
            let answer = answer?;
            print_result(cli, &answer.result, answer.served, stdout, stderr)
        }
    }
}

/// Open a connection; when that fails, the requests its component tried meanwhile that the policy
/// refused are logged first, as a connection's are after each call.
fn open_logged<'s>(
    service: &'s Service,
    config: &ConnectionConfig,
    connector: &Connector,
    stderr: &mut dyn Write,
) -> Result<crate::service::Session<'s>, Failure> {
    service.open_reporting(config).map_err(|failed| {
        log_denials(stderr, failed.denial_log(connector.name()));
        Failure::from(failed.error)
    })
}

/// A flag the command would ignore is refused instead: `usage`, the message naming every such flag given.
fn refuse_given(flags: &[String], message: impl FnOnce(&str) -> String) -> Result<(), Failure> {
    if flags.is_empty() {
        Ok(())
    } else {
        Err(Failure::new("usage", message(&flags.join(", "))))
    }
}

/// An error object under `--format json`: on stdout, where a program reads it; when stdout is what
/// failed (`> /dev/full`), the error can only be told on stderr.
fn say_json_error(io: &mut Io<'_>, json: &str) {
    if writeln!(io.stdout, "{json}")
        .and_then(|()| io.stdout.flush())
        .is_err()
    {
        let _ = writeln!(io.stderr, "{json}");
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStringExt;

    /// Run with one environment variable set to `value`; (exit status, stdout).
    fn run_with(name: &'static str, value: OsString, args: &[&str]) -> (i32, String) {
        let env = move |n: &str| (n == name).then(|| value.clone());
        let mut stdout = Vec::new();
        let code = run(
            std::iter::once("klairr-host").chain(args.iter().copied()),
            Io {
                env: &env,
                stdin: &mut std::io::empty(),
                stdout: &mut stdout,
                stderr: &mut std::io::sink(),
                stderr_is_terminal: false,
            },
        );
        (code, String::from_utf8_lossy(&stdout).into_owned())
    }

    #[test]
    fn a_credential_that_is_not_utf8_is_refused_as_such_not_taken_for_unset() {
        let mut bytes = b"rk_test_51Secret".to_vec();
        bytes.push(0xff);
        let (code, out) = run_with(
            "STRIPE_API_KEY",
            OsString::from_vec(bytes),
            &["--format", "json", "query", r#"{"list":"customers"}"#],
        );
        assert_eq!(code, 2, "{out}");
        assert!(out.contains(r#""kind":"invalid-key""#), "{out}");
        assert!(
            out.contains("STRIPE_API_KEY is set but is not valid UTF-8"),
            "{out}"
        );
        assert!(!out.contains("51Secret"), "never quoted: {out}");
    }

    #[test]
    fn a_serve_token_that_is_not_utf8_is_a_usage_error() {
        let (code, out) = run_with(
            TOKEN_ENV,
            OsString::from_vec(vec![b'a'; 40].into_iter().chain([0xfe]).collect()),
            &["--format", "json", "serve", "--listen", "127.0.0.1:0"],
        );
        assert_eq!(code, 2, "{out}");
        assert!(out.contains(r#""kind":"usage""#), "{out}");
        assert!(out.contains("is set but is not valid UTF-8"), "{out}");
    }

    /// A stdout that can never be written (`> /dev/full`).
    struct Full;

    impl Write for Full {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::from_raw_os_error(libc::ENOSPC))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Err(std::io::Error::from_raw_os_error(libc::ENOSPC))
        }
    }

    /// Run with stdout full; (exit status, stderr).
    fn run_to_full_stdout(args: &[&str]) -> (i32, String) {
        let env = |_: &str| None;
        let mut stderr = Vec::new();
        let code = run(
            std::iter::once("klairr-host").chain(args.iter().copied()),
            Io {
                env: &env,
                stdin: &mut std::io::empty(),
                stdout: &mut Full,
                stderr: &mut stderr,
                stderr_is_terminal: false,
            },
        );
        (code, String::from_utf8_lossy(&stderr).into_owned())
    }

    #[test]
    fn a_refused_command_line_is_said_on_stderr_when_stdout_fails() {
        let (code, stderr) = run_to_full_stdout(&["--format", "json", "--mode", "bogus", "setup"]);
        assert_eq!(code, 2);
        assert!(stderr.contains(r#""kind":"usage""#), "stderr: {stderr:?}");
    }

    #[test]
    fn help_or_version_that_cannot_be_written_is_an_output_failure() {
        for asked in ["--help", "--version"] {
            let (code, stderr) = run_to_full_stdout(&[asked]);
            assert_eq!(code, 1, "{asked}: {stderr:?}");
            assert!(
                stderr.starts_with("error (output): could not write the output"),
                "{asked}: {stderr:?}"
            );
        }
    }

    #[test]
    fn more_than_a_mib_of_valid_utf8_is_refused_for_its_size() {
        // 1,200,000 bytes: the first MiB ends inside a character.
        let text = "é".repeat(600_000);
        let refused =
            read_query(&mut std::io::Cursor::new(text.into_bytes())).expect_err("more than 1 MiB");
        assert_eq!(refused.kind, "invalid-query");
        assert!(
            refused.message.contains("more than 1 MiB"),
            "{}",
            refused.message
        );
        let refused =
            read_query(&mut std::io::Cursor::new(vec![b'{', 0xff, b'}'])).expect_err("not UTF-8");
        assert!(
            refused.message.contains("not valid UTF-8"),
            "{}",
            refused.message
        );
        assert_eq!(
            read_query(&mut std::io::Cursor::new(
                "\u{feff}{\"list\":\"customers\"}\n"
            ))
            .ok(),
            Some(r#"{"list":"customers"}"#.to_owned())
        );
    }

    #[cfg(feature = "demo")]
    #[test]
    fn an_emulator_size_past_its_bound_is_a_usage_error_not_an_abort() {
        for size in ["18446744073709551615", "1000001"] {
            let (code, out) = run_with(
                "UNUSED",
                OsString::new(),
                &[
                    "--format",
                    "json",
                    "emulator",
                    "--port",
                    "0",
                    "--charges",
                    size,
                ],
            );
            assert_eq!(code, 2, "{size}: {out}");
            assert!(out.contains(r#""kind":"usage""#), "{size}: {out}");
            assert!(out.contains("1000000"), "the bound is named: {out}");
        }
    }
}
