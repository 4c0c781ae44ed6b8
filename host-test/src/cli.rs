//! `klairr-host`: the command line (design.md §4). `main` only gathers the arguments, the key from the
//! environment and the real stdout/stderr and calls [`run`], so tests drive the very same code in-process.

use crate::demo;
use crate::memory::MemoryFile;
use crate::output;
use crate::policy::LoopbackBase;
use crate::registry::{self, ConnectorEntry};
use crate::sandbox::{wit, Sandbox, SandboxError, SandboxLimits};
use crate::service::Service;
use clap::{Parser, Subcommand, ValueEnum};
use std::io::{Read, Write};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "klairr-host",
    version,
    about = "Run Klairr's Stripe connector in a sandboxed WebAssembly host",
    after_help = "The API key is read from the STRIPE_API_KEY environment variable, never from arguments.\n\
                  Exit status: 0 ok, 2 key or query rejected, 1 any other failure."
)]
pub struct Cli {
    /// Load this connector component instead of the built-in Stripe connector.
    #[arg(long, global = true, value_name = "PATH")]
    pub component: Option<PathBuf>,
    /// Which Stripe data the key must address.
    #[arg(long, global = true, value_enum, default_value_t = ModeArg::Test)]
    pub mode: ModeArg,
    /// The most rows one query returns (1 to 100000; default 1000).
    #[arg(long, global = true, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_rows: Option<u32>,
    /// Lower the result-cache TTL in seconds (at most 3600, which is also the default).
    #[arg(long, global = true, value_parser = clap::value_parser!(u32).range(0..=3600))]
    pub cache_ttl: Option<u32>,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Send the connector's api.stripe.com requests to this loopback base instead (tests, the emulator).
    #[arg(long, global = true, value_name = "http://127.0.0.1:PORT")]
    pub stripe_base: Option<String>,
    /// Append the shape of every query result (never its rows) to this file as JSON lines.
    #[arg(long, global = true, value_name = "PATH")]
    pub memory_file: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// List the tables, columns and filters (no key, no request).
    Describe,
    /// Verify the key: it must read all five tables and be refused every write.
    Setup,
    /// Run one query, e.g. '{"list":"customers","limit":10}' ('-' reads it from standard input).
    Query {
        #[arg(value_name = "DSL")]
        dsl: String,
    },
    /// Start the built-in Stripe emulator, verify its demo key and run a few queries (no key, no network).
    Demo,
    /// Serve the built-in Stripe emulator on loopback until interrupted.
    Emulator {
        /// Port on 127.0.0.1 (0 picks a free one; the chosen base URL is printed).
        #[arg(long, default_value_t = 12111)]
        port: u16,
        #[command(flatten)]
        data: EmulatorData,
    },
}

/// The emulator's data set: deterministic for a seed and counts.
#[derive(clap::Args, Debug, Clone, Copy)]
pub struct EmulatorData {
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    #[arg(long, default_value_t = 40)]
    pub customers: usize,
    #[arg(long, default_value_t = 60)]
    pub subscriptions: usize,
    #[arg(long, default_value_t = 120)]
    pub invoices: usize,
    #[arg(long, default_value_t = 150)]
    pub charges: usize,
    #[arg(long, default_value_t = 30)]
    pub payouts: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    Test,
    Live,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

/// A failure as the CLI reports it: a stable kind and one line of text.
#[derive(Debug)]
pub struct Failure {
    pub kind: String,
    pub message: String,
}

impl Failure {
    pub fn new(kind: &str, message: impl Into<String>) -> Failure {
        Failure {
            kind: kind.to_owned(),
            message: message.into(),
        }
    }

    /// 2 when the key or the query was rejected, 1 for anything else.
    pub fn exit_code(&self) -> i32 {
        match self.kind.as_str() {
            "secret-key-rejected"
            | "invalid-key"
            | "mode-mismatch"
            | "over-permissioned"
            | "missing-permission"
            | "invalid-query" => 2,
            _ => 1,
        }
    }
}

impl From<SandboxError> for Failure {
    fn from(e: SandboxError) -> Failure {
        let kind = match &e {
            SandboxError::Connector(f) => f.kind(),
            _ => "sandbox",
        };
        Failure::new(kind, e.to_string())
    }
}

/// Everything `run` needs from the outside world.
pub struct Io<'a> {
    /// The value of STRIPE_API_KEY, if set.
    pub api_key: Option<String>,
    pub stdin: &'a mut dyn Read,
    pub stdout: &'a mut dyn Write,
    pub stderr: &'a mut dyn Write,
}

/// Parse `args` (including the program name) and run; returns the exit status.
pub fn run<I, S>(args: I, io: Io<'_>) -> i32
where
    I: IntoIterator<Item = S>,
    S: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = write!(io.stderr, "{e}");
            return e.exit_code();
        }
    };
    let format = cli.format;
    match execute(&cli, io.api_key, io.stdin, io.stdout) {
        Ok(()) => 0,
        Err(failure) => {
            match format {
                Format::Json => {
                    let _ = writeln!(
                        io.stdout,
                        "{}",
                        output::error_json(&failure.kind, &failure.message)
                    );
                }
                Format::Table => {
                    let _ = writeln!(io.stderr, "error ({}): {}", failure.kind, failure.message);
                }
            }
            failure.exit_code()
        }
    }
}

fn execute(
    cli: &Cli,
    api_key: Option<String>,
    stdin: &mut dyn Read,
    stdout: &mut dyn Write,
) -> Result<(), Failure> {
    let entry = registry::stripe();
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
            .map_err(|e| Failure::new("sandbox", format!("could not write the output: {e}")))
    };
    match &cli.command {
        Command::Emulator { port, data } => demo::serve_emulator(*port, data, cli.format, stdout),
        Command::Demo => demo::run(cli, &entry, load_component(cli, &entry)?.as_slice(), stdout),
        Command::Describe => {
            let sandbox = load_sandbox(cli, &entry)?;
            let info = sandbox.describe()?;
            match cli.format {
                Format::Json => write(stdout, output::describe_json(&info)),
                Format::Table => write(stdout, output::describe_text(&info)),
            }
        }
        Command::Setup => {
            let config = config(cli, &entry, api_key)?;
            let service = Service::new(entry.name, load_sandbox(cli, &entry)?, memory(cli));
            let report = service.open(&config)?.verify()?;
            match cli.format {
                Format::Json => write(stdout, output::setup_json(&report)),
                Format::Table => write(stdout, output::setup_text(&report)),
            }
        }
        Command::Query { dsl } => {
            let dsl = if dsl == "-" {
                read_query(stdin)?
            } else {
                dsl.clone()
            };
            let config = config(cli, &entry, api_key)?;
            let service = Service::new(entry.name, load_sandbox(cli, &entry)?, memory(cli));
            let answer = service.open(&config)?.query(&dsl)?;
            match cli.format {
                Format::Json => write(stdout, output::query_json(&answer.result, answer.cached)),
                Format::Table => write(stdout, output::query_text(&answer.result, answer.cached)),
            }
        }
    }
}

/// Read a query from standard input; anything past 1 MiB is not a query (the connector caps at 16 KiB).
fn read_query(stdin: &mut dyn Read) -> Result<String, Failure> {
    let mut text = String::new();
    stdin.take(1 << 20).read_to_string(&mut text).map_err(|e| {
        Failure::new(
            "invalid-query",
            format!("could not read the query from standard input: {e}"),
        )
    })?;
    Ok(text)
}

fn config(
    cli: &Cli,
    entry: &ConnectorEntry,
    api_key: Option<String>,
) -> Result<wit::Config, Failure> {
    let Some(api_key) = api_key.filter(|k| !k.trim().is_empty()) else {
        return Err(Failure::new(
            "invalid-key",
            format!(
                "{} is not set: export your restricted key (rk_test_… or rk_live_…) in {}; keys are never taken from arguments",
                entry.key_env, entry.key_env
            ),
        ));
    };
    Ok(wit::Config {
        api_key,
        mode: match cli.mode {
            ModeArg::Test => wit::Mode::Test,
            ModeArg::Live => wit::Mode::Live,
        },
        max_rows: cli.max_rows,
        cache_ttl_seconds: cli.cache_ttl,
    })
}

fn memory(cli: &Cli) -> Option<MemoryFile> {
    cli.memory_file.as_ref().map(MemoryFile::new)
}

/// The component bytes: `--component PATH`, or the built-in Stripe connector.
pub fn load_component(cli: &Cli, entry: &ConnectorEntry) -> Result<Vec<u8>, Failure> {
    match &cli.component {
        None => Ok(entry.component.to_vec()),
        Some(path) => std::fs::read(path).map_err(|e| {
            Failure::new(
                "sandbox",
                format!("cannot read the component {}: {e}", path.display()),
            )
        }),
    }
}

/// Load the component with the entry's policy, redirected to `--stripe-base` when given.
pub fn load_sandbox(cli: &Cli, entry: &ConnectorEntry) -> Result<Sandbox, Failure> {
    let mut policy = entry.policy();
    if let Some(base) = &cli.stripe_base {
        let base = LoopbackBase::parse(base).map_err(|e| Failure::new("sandbox", e.to_string()))?;
        policy = policy.redirect_to(base);
    }
    let bytes = load_component(cli, entry)?;
    Ok(Sandbox::load(&bytes, policy, SandboxLimits::default())?)
}
