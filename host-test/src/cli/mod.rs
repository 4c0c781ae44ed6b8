//! `klairr-host`: the command line (the README's CLI section). [`main`] only gathers the arguments, the
//! key from the environment and the real stdout/stderr and calls [`run`], so tests drive the very same
//! code in-process — or, where a real terminal matters (the progress spinner), as a process.

mod load;

#[cfg(feature = "demo")]
use crate::demo;
use crate::memory::MemoryFile;
use crate::output::{self, Selection};
use crate::policy::origin::Redirect;
use crate::policy::redact::{cap, strip_control, SecretRuns, MESSAGE_CAP};
use crate::progress_bar::Spinner;
use crate::registry::{Connector, Registry, DEFAULT_CONNECTOR};
use crate::sandbox::{wit, ConnectionConfig, SandboxError};
use crate::sandbox::{Callers, CompileCache, SharedHost, REFUSALS};
use crate::serve::{ConnectionLimits, ServeOptions, Server, Token, TOKEN_ENV};
use crate::service::Service;
use clap::{Parser, Subcommand, ValueEnum};
pub use load::{load_component, load_sandbox, load_sandbox_in, registry, sandbox_options};
use load::{parse_redirect, usage_or_config};
use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "klairr-host",
    version,
    about = "Run Klairr's connectors (Stripe built in) in a sandboxed WebAssembly host",
    after_help = "A connector's credential is read from the environment variable its manifest names \
                  (STRIPE_API_KEY for stripe), never from arguments.\n\
                  Exit status: 0 ok, 2 credential, query or command line rejected, 1 any other failure."
)]
pub struct Cli {
    /// Add the connector manifests (*.toml) of this directory to the built-in Stripe connector; each
    /// manifest's component path is relative to the manifest.
    #[arg(long, global = true, value_name = "DIR")]
    pub connectors: Option<PathBuf>,
    /// The connector to run (see `klairr-host connectors`) [default: stripe].
    #[arg(long, global = true, value_name = "NAME")]
    pub connector: Option<String>,
    /// Load this component instead of the connector's own (it runs under the connector's manifest: its
    /// rules, not more).
    #[arg(long, global = true, value_name = "PATH")]
    pub component: Option<PathBuf>,
    /// Which data the credential must address: the source's sandbox (`test`) or production (`live`)
    /// [default: test].
    #[arg(long, global = true, value_enum)]
    pub mode: Option<ModeArg>,
    /// The most rows one query returns (1 to 100000; default 1000).
    #[arg(long, global = true, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_rows: Option<u32>,
    /// The most rows an aggregate query reads before its result is partial (1 to 1000000; default
    /// 100000). At Stripe's pace of about 25 requests a second, 100,000 rows take at least 40 s.
    #[arg(long, global = true, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_scan: Option<u32>,
    /// Lower the result-cache TTL in seconds (at most 3600, which is also the default).
    #[arg(long, global = true, value_parser = clap::value_parser!(u32).range(0..=3600))]
    pub cache_ttl: Option<u32>,
    /// Output format: `table` for people; `json` (one object), `csv` (RFC 4180, query results) and
    /// `ndjson` (one object per row, query results) for programs and spreadsheets.
    #[arg(long, global = true, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Print only these columns of a query result, in this order (every format), e.g.
    /// `--columns id,amount,created`. An unknown column is an error naming the table's columns.
    #[arg(long, global = true, value_name = "A,B,C", value_delimiter = ',')]
    pub columns: Option<Vec<String>>,
    /// Deliver a connector's requests for ORIGIN to a loopback server instead (tests, emulators), e.g.
    /// `--redirect https://api.stripe.com=http://127.0.0.1:12111`; repeat for more origins.
    #[arg(long, global = true, value_name = "ORIGIN=http://127.0.0.1:PORT", value_parser = parse_redirect)]
    pub redirect: Vec<Redirect>,
    /// Shorthand for `--redirect` of the built-in Stripe connector's origin to this loopback base.
    #[arg(long, global = true, value_name = "http://127.0.0.1:PORT")]
    pub stripe_base: Option<String>,
    /// Stop any call into the connector after this many seconds, waits for the network included.
    #[arg(long, global = true, value_name = "SECONDS", default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub call_timeout: u64,
    /// Append the shape of every query result fetched from the source (never its rows) to this file as
    /// JSON lines; an answer from the result cache was recorded when it was fetched.
    #[arg(long, global = true, value_name = "PATH")]
    pub memory_file: Option<PathBuf>,
    /// Cache compiled components in DIR (yours, mode 0700; refused otherwise), or `off`. Default:
    /// $XDG_CACHE_HOME/klairr/components, else ~/.cache/klairr/components (skipped with a warning if unsafe).
    #[arg(long, global = true, env = "KLAIRR_CACHE_DIR", value_name = "DIR|off", value_parser = CompileCache::parse_setting)]
    pub compile_cache: Option<CompileCache>,
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The selected connector's name: `--connector`, else the built-in Stripe connector.
    pub fn connector_name(&self) -> &str {
        self.connector.as_deref().unwrap_or(DEFAULT_CONNECTOR)
    }

    /// Flags that set up one connection or one component, which `serve` cannot honour for all of its
    /// connectors and connections at once: it refuses them rather than ignore them.
    fn per_connection_flags(&self) -> Vec<&'static str> {
        [
            ("--connector", self.connector.is_some()),
            ("--component", self.component.is_some()),
            ("--mode", self.mode.is_some()),
            ("--max-rows", self.max_rows.is_some()),
            ("--max-scan", self.max_scan.is_some()),
            ("--cache-ttl", self.cache_ttl.is_some()),
            ("--columns", self.columns.is_some()),
        ]
        .into_iter()
        .filter_map(|(flag, given)| given.then_some(flag))
        .collect()
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// List the connectors: name, version, contract, origins and tables (no credential, no request).
    Connectors,
    /// List the tables, columns and filters (no key, no request).
    Describe,
    /// Verify the credential: it must read every table and be refused every write.
    Setup,
    /// Run one query, e.g. '{"list":"customers","limit":10}' ('-' reads it from standard input).
    Query {
        #[arg(value_name = "DSL")]
        dsl: String,
    },
    /// Serve every connector over HTTP on a loopback address until SIGTERM (README, "serve"); needs
    /// KLAIRR_HOST_TOKEN. SIGHUP reloads every connector.
    Serve {
        /// The loopback address to listen on (port 0 picks a free one; the address is printed).
        #[arg(long, default_value = "127.0.0.1:8787")]
        listen: std::net::SocketAddr,
        /// Connections open at once; more are refused until one closes or expires.
        #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4096))]
        max_connections: u32,
        /// Close a connection unused for this many seconds.
        #[arg(long, default_value_t = 900, value_parser = clap::value_parser!(u64).range(1..=86_400))]
        idle_seconds: u64,
        /// On SIGTERM, wait at most this long for calls in flight.
        #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(0..=3600))]
        drain_seconds: u64,
    },
    /// Start the built-in Stripe emulator, verify its demo key and run a few queries (no key, no network).
    #[cfg(feature = "demo")]
    Demo,
    /// Serve the built-in Stripe emulator on loopback until interrupted.
    #[cfg(feature = "demo")]
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
    /// Wait this long before every response, like real Stripe (~250–700 ms a list page);
    /// requests in flight wait together.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub latency_ms: u64,
    /// Irregular creation times, like a real account: bursts, single seconds holding hundreds of
    /// objects, quiet weeks.
    #[arg(long)]
    pub irregular: bool,
    /// Answer Stripe's 429 above 25 request starts per endpoint in any second.
    #[arg(long)]
    pub rate_limit: bool,
    /// Also Stripe's account-wide limits: 25 starts per second in test mode, 100 in live mode.
    #[arg(long)]
    pub account_rate_limit: bool,
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
    Csv,
    Ndjson,
}

impl Format {
    /// For output that is one document rather than rows (describe, setup, demo, the emulator's
    /// banner): JSON (`true`) or text (`false`). NDJSON's one line is that JSON document; CSV has no
    /// shape for it and is refused, saying what to use.
    pub fn document_is_json(self, what: &str) -> Result<bool, Failure> {
        match self {
            Format::Table => Ok(false),
            Format::Json | Format::Ndjson => Ok(true),
            Format::Csv => Err(Failure::new(
                "usage",
                format!("--format csv prints query results; {what} prints --format table or json"),
            )),
        }
    }
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

    /// 2 when the input was refused (the key, the query, the command line), 1 for anything else.
    pub fn exit_code(&self) -> i32 {
        if self.kind == "usage" || REFUSALS.contains(&self.kind.as_str()) {
            2
        } else {
            1
        }
    }
}

impl From<SandboxError> for Failure {
    fn from(e: SandboxError) -> Failure {
        Failure::new(e.kind(), e.to_string())
    }
}

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
pub fn run<I, S>(args: I, io: Io<'_>) -> i32
where
    I: IntoIterator<Item = S>,
    S: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() && asks_for_json(&args) => {
            // A program that asked for JSON gets its failure as JSON too, even when the command line
            // itself is what failed: the first line of clap's message, without its `error: `.
            let text = e.to_string();
            let first = text.lines().next().unwrap_or_default();
            let message = first.strip_prefix("error: ").unwrap_or(first);
            let message = redact_credentials(&Registry::builtin(), io.env, message);
            let _ = writeln!(
                io.stdout,
                "{}",
                output::error_json("usage", &cap(&message, MESSAGE_CAP))
            );
            return e.exit_code();
        }
        Err(e) if e.use_stderr() => {
            let text = redact_credentials(&Registry::builtin(), io.env, &e.to_string());
            let _ = write!(io.stderr, "{text}");
            return e.exit_code();
        }
        Err(e) => {
            let _ = write!(io.stderr, "{e}");
            return e.exit_code();
        }
    };
    let format = cli.format;
    let show_progress = io.stderr_is_terminal && format == Format::Table;
    match execute(&cli, io.env, io.stdin, io.stdout, io.stderr, show_progress) {
        Ok(()) => 0,
        Err(failure) => {
            // A credential pasted where a name or path goes (`--connector`, `--columns`, …) would be
            // quoted back by the message that refuses it: every connector's credential is masked, as
            // the sandbox masks them in what components say.
            let connectors = registry(&cli).unwrap_or_else(|_| Registry::builtin());
            let message = redact_credentials(&connectors, io.env, &failure.message);
            // Messages quote what upstreams and components said: bounded, and never a terminal escape.
            let message = cap(&message, MESSAGE_CAP);
            match format {
                Format::Json => {
                    let _ = writeln!(io.stdout, "{}", output::error_json(&failure.kind, &message));
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

/// `text` with any run of any of `connectors`' credentials (as set in the environment) masked. A value
/// that is only a published prefix (`rk_test_`) holds no secret and is left alone, so that advice naming
/// the prefixes stays readable.
fn redact_credentials(
    connectors: &Registry,
    env: &dyn Fn(&str) -> Option<OsString>,
    text: &str,
) -> String {
    let mut text = text.to_owned();
    for connector in connectors.iter() {
        let spec = &connector.manifest.credential;
        let value = env(&spec.env).and_then(|v| v.into_string().ok());
        if let Some(credential) = value.filter(|c| !c.trim().is_empty() && !spec.is_bare_prefix(c))
        {
            text = SecretRuns::new(credential.trim())
                .redact(&text)
                .into_owned();
        }
    }
    text
}

/// Whether a command line clap could not parse still says `--format json` (or `--format=json`; the last
/// `--format` wins, as it would have; nothing after `--` is a flag).
fn asks_for_json(args: &[OsString]) -> bool {
    let mut format = None;
    let mut args = args.iter().skip(1).map(|a| a.to_str());
    while let Some(arg) = args.next() {
        match arg {
            Some("--") => break,
            Some("--format") => format = args.next().flatten(),
            Some(arg) => {
                if let Some(value) = arg.strip_prefix("--format=") {
                    format = Some(value);
                }
            }
            None => {}
        }
    }
    format == Some("json")
}

fn execute(
    cli: &Cli,
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
    let registry = registry(cli)?;
    if matches!(cli.command, Command::Serve { .. }) {
        let flags = cli.per_connection_flags();
        if !flags.is_empty() {
            return Err(Failure::new(
                "usage",
                format!(
                    "serve runs every connector with its own component, and each connection brings its settings:                      leave out {} (a connection's mode, max_rows, max_scan and cache_ttl_seconds go in the body                      of POST /v1/connections; another component is installed with --connectors DIR and swapped                      in with a reload)",
                    flags.join(", ")
                ),
            ));
        }
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
            .map_err(|e| Failure::new("sandbox", format!("could not write the output: {e}")))
    };
    match &cli.command {
        #[cfg(feature = "demo")]
        Command::Emulator { port, data } => demo::serve_emulator(*port, data, cli.format, stdout),
        #[cfg(feature = "demo")]
        Command::Demo => {
            if connector.name() != DEFAULT_CONNECTOR {
                return Err(Failure::new(
                    "usage",
                    format!("the demo runs the built-in {DEFAULT_CONNECTOR} connector on its emulator: leave out --connector"),
                ));
            }
            demo::run(
                cli,
                connector,
                load_component(cli, connector)?.as_slice(),
                stdout,
            )
        }
        Command::Serve {
            listen,
            max_connections,
            idle_seconds,
            drain_seconds,
        } => {
            let token = Token::from_env_value(utf8_env(env, TOKEN_ENV, "usage")?)
                .map_err(|m| Failure::new("usage", m))?;
            let mut options = ServeOptions::new(*listen, token);
            options.connections = ConnectionLimits {
                max_open: *max_connections as usize,
                idle: Duration::from_secs(*idle_seconds),
            };
            options.memory = memory(cli);
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
            write(
                stdout,
                format!(
                    "klairr-host: serving {} on http://{}",
                    registry.names().join(", "),
                    server.addr()
                ),
            )?;
            let _ = stdout.flush();
            server
                .run_until_signal(Duration::from_secs(*drain_seconds), stderr)
                .map_err(|e| Failure::new("sandbox", format!("could not write the log: {e}")))?;
            Ok(())
        }
        Command::Connectors => {
            let json = cli.format.document_is_json("connectors")?;
            let shared = SharedHost::new(Default::default(), Callers::One)?;
            let mut listed = Vec::new();
            for connector in registry.iter() {
                let sandbox = load_sandbox_in(&shared, cli, connector, false)?;
                listed.push((connector.manifest.clone(), sandbox.describe()?));
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
            let service = Service::new(load_sandbox(cli, connector)?, memory(cli));
            let mut session = service.open(&config)?;
            let report = session.verify();
            log_denials(stderr, &session.denied_requests());
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
            let config = config(cli, connector, env)?;
            let service = Service::new(load_sandbox(cli, connector)?, memory(cli));
            let mut session = service.open(&config)?;
            let spinner = Spinner::on_stderr(show_progress);
            session.watch(spinner.as_ref().map(Spinner::sink));
            let answer = session.query(&dsl);
            drop(spinner);
            log_denials(stderr, &session.denied_requests());
            let answer = answer?;
            print_result(cli, &answer.result, answer.cached, stdout, stderr)
        }
    }
}

/// A query result in the chosen format and columns. Machine formats other than JSON carry no footer:
/// truncation and the scan note go to stderr.
fn print_result(
    cli: &Cli,
    result: &wit::QueryResult,
    cached: bool,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<(), Failure> {
    let selection = match &cli.columns {
        None => Selection::all(result),
        Some(names) => {
            Selection::choose(result, names).map_err(|e| Failure::new("usage", e.to_string()))?
        }
    };
    let rendering =
        |e: String| Failure::new("sandbox", format!("could not render the result: {e}"));
    // A warning of the format's own, for stderr: CSV's amounts left in minor units.
    let mut format_note = None;
    let mut text = match cli.format {
        Format::Table => output::query_text_selected(result, cached, &selection),
        Format::Json => match &cli.columns {
            None => output::query_json(result, cached),
            Some(_) => output::query_json(&selection.project(result), cached),
        },
        Format::Csv => {
            let selection = selection.with_currency_beside_amounts(result);
            format_note = output::minor_units_note(result, &selection);
            output::query_csv(result, &selection).map_err(rendering)?
        }
        Format::Ndjson => output::query_ndjson(result, &selection).map_err(rendering)?,
    };
    if matches!(cli.format, Format::Table | Format::Json) && !text.ends_with('\n') {
        text.push('\n');
    }
    if matches!(cli.format, Format::Csv | Format::Ndjson) {
        match &result.aggregate {
            // An aggregate is cut short in two ways, told apart: groups left out, and a partial scan.
            Some(stats) => {
                if stats.groups > result.rows.len() as u64 {
                    let _ = writeln!(
                        stderr,
                        "klairr-host: truncated: {} groups found, the first {} printed; raise limit",
                        stats.groups,
                        result.rows.len()
                    );
                }
                if stats.partial {
                    let _ = writeln!(
                        stderr,
                        "klairr-host: partial: the scan stopped after {} rows, so every measure covers those rows only; narrow the filters or raise --max-scan",
                        stats.rows_scanned
                    );
                }
            }
            None if result.truncated => {
                let _ = writeln!(
                    stderr,
                    "klairr-host: truncated: more rows matched than the {} printed; raise limit or --max-rows",
                    result.rows.len()
                );
            }
            None => {}
        }
        if let Some(note) = &result.scan_note {
            let _ = writeln!(stderr, "klairr-host: note: {}", strip_control(note));
        }
        if let Some(note) = &format_note {
            let _ = writeln!(stderr, "klairr-host: note: {note}");
        }
    }
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| Failure::new("sandbox", format!("could not write the output: {e}")))
}

/// The host's log of what its policy refused (already redacted), one line each on stderr.
fn log_denials(stderr: &mut dyn Write, denied: &[String]) {
    for reason in denied {
        let _ = writeln!(stderr, "klairr-host: denied {}", strip_control(reason));
    }
}

/// Read a query from standard input; anything past 1 MiB is not a query (the connector caps at 16 KiB).
/// What editors add around a file's text is not the query's: a leading byte-order mark and the trailing
/// newline (or any trailing whitespace) are dropped, so they neither break the JSON nor count toward
/// the cap.
fn read_query(stdin: &mut dyn Read) -> Result<String, Failure> {
    let mut text = String::new();
    stdin.take(1 << 20).read_to_string(&mut text).map_err(|e| {
        Failure::new(
            "invalid-query",
            format!("could not read the query from standard input: {e}"),
        )
    })?;
    let query = text.strip_prefix('\u{feff}').unwrap_or(&text).trim_end();
    Ok(query.to_owned())
}

fn config(
    cli: &Cli,
    connector: &Connector,
    environment: &dyn Fn(&str) -> Option<OsString>,
) -> Result<ConnectionConfig, Failure> {
    let env = &connector.manifest.credential.env;
    let credential = utf8_env(environment, env, "invalid-key")?;
    let Some(credential) = credential.filter(|k| !k.trim().is_empty()) else {
        let credential = &connector.manifest.credential;
        return Err(Failure::new(
            "invalid-key",
            format!(
                "{env} is not set: export your credential ({}… or {}…) in {env}; credentials are never taken from arguments",
                credential.test_prefix, credential.live_prefix
            ),
        ));
    };
    Ok(ConnectionConfig {
        credential,
        mode: match cli.mode.unwrap_or(ModeArg::Test) {
            ModeArg::Test => wit::Mode::Test,
            ModeArg::Live => wit::Mode::Live,
        },
        max_rows: cli.max_rows,
        cache_ttl_seconds: cli.cache_ttl,
        max_scan: cli.max_scan,
    })
}

/// The variable `name`, if set; a value that is not UTF-8 is refused as `kind` (saying so, never quoting
/// it: it may be a credential) rather than taken for unset.
fn utf8_env(
    environment: &dyn Fn(&str) -> Option<OsString>,
    name: &str,
    kind: &str,
) -> Result<Option<String>, Failure> {
    environment(name)
        .map(|value| {
            value.into_string().map_err(|_| {
                Failure::new(
                    kind,
                    format!("{name} is set but is not valid UTF-8: export it again as plain text"),
                )
            })
        })
        .transpose()
}

fn memory(cli: &Cli) -> Option<MemoryFile> {
    cli.memory_file.as_ref().map(MemoryFile::new)
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
}
