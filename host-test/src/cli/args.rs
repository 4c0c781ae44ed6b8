//! What the command line accepts: the flags, the commands and their values (clap's derive), and which
//! flags only make sense for one connection.

use super::failure::Failure;
use super::load::parse_redirect;
use crate::policy::origin::Redirect;
use crate::registry::DEFAULT_CONNECTOR;
use crate::sandbox::CompileCache;
use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use std::ffi::OsString;
use std::path::PathBuf;

/// Where `--help` lists the flags every command shares, after the command's own.
const CONNECTOR_OPTIONS: &str = "Connector and sandbox options";
const OUTPUT_OPTIONS: &str = "Output options";

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
    #[arg(
        long,
        global = true,
        help_heading = CONNECTOR_OPTIONS,
        value_name = "DIR"
    )]
    pub connectors: Option<PathBuf>,
    /// The connector to run (see `klairr-host connectors`) [default: stripe].
    #[arg(
        long,
        global = true,
        help_heading = CONNECTOR_OPTIONS,
        value_name = "NAME"
    )]
    pub connector: Option<String>,
    /// Load this component instead of the connector's own (it runs under the connector's manifest: its
    /// rules, not more).
    #[arg(
        long,
        global = true,
        help_heading = CONNECTOR_OPTIONS,
        value_name = "PATH"
    )]
    pub component: Option<PathBuf>,
    /// Which data the credential must address: the source's sandbox (`test`) or production (`live`)
    /// [default: test].
    #[arg(
        long,
        global = true,
        help_heading = CONNECTOR_OPTIONS,
        value_enum
    )]
    pub mode: Option<ModeArg>,
    /// The most rows one query returns (1 to 100000; default 1000).
    #[arg(long, global = true, allow_negative_numbers = true, help_heading = CONNECTOR_OPTIONS, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_rows: Option<u32>,
    /// The most rows an aggregate query reads before its result is partial (1 to 1000000; default
    /// 100000). At Stripe's pace of about 25 requests a second, 100,000 rows take at least 40 s.
    #[arg(long, global = true, allow_negative_numbers = true, help_heading = CONNECTOR_OPTIONS, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_scan: Option<u32>,
    /// Lower the result-cache TTL in seconds (at most 3600, which is also the default).
    #[arg(long, global = true, allow_negative_numbers = true, help_heading = CONNECTOR_OPTIONS, value_parser = clap::value_parser!(u32).range(0..=3600))]
    pub cache_ttl: Option<u32>,
    /// Output format: `table` for people; `json` (one object), `csv` (RFC 4180, query results) and
    /// `ndjson` (one object per row, query results) for programs and spreadsheets.
    #[arg(long, global = true, help_heading = OUTPUT_OPTIONS, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Print only these columns of a query result, in this order (every format), e.g.
    /// `--columns id,amount,created`. An unknown column is an error naming the result's columns.
    #[arg(
        long,
        global = true,
        help_heading = OUTPUT_OPTIONS,
        value_name = "A,B,C",
        value_delimiter = ',',
        // Once, like every other flag: a second `--columns` is refused, not merged into the first.
        action = clap::ArgAction::Set
    )]
    pub columns: Option<Vec<String>>,
    /// Deliver a connector's requests for ORIGIN to a loopback server instead (tests, emulators), e.g.
    /// `--redirect https://api.stripe.com=http://127.0.0.1:12111`; repeat for more origins.
    #[arg(long, global = true, help_heading = CONNECTOR_OPTIONS, value_name = "ORIGIN=http://127.0.0.1:PORT", value_parser = parse_redirect)]
    pub redirect: Vec<Redirect>,
    /// Shorthand for `--redirect` of the built-in Stripe connector's origin to this loopback base.
    #[arg(
        long,
        global = true,
        help_heading = CONNECTOR_OPTIONS,
        value_name = "http://127.0.0.1:PORT"
    )]
    pub stripe_base: Option<String>,
    /// Stop any call into the connector after this many seconds, waits for the network included.
    #[arg(long, global = true, allow_negative_numbers = true, help_heading = CONNECTOR_OPTIONS, value_name = "SECONDS", default_value_t = 600, value_parser = clap::value_parser!(u32).range(1..=86_400))]
    pub call_timeout: u32,
    /// Append the shape of every query result fetched from the source (never its rows) to this file as
    /// JSON lines; an answer from the result cache was recorded when it was fetched.
    #[arg(
        long,
        global = true,
        help_heading = CONNECTOR_OPTIONS,
        value_name = "PATH"
    )]
    pub memory_file: Option<PathBuf>,
    /// Cache compiled components in DIR (yours, mode 0700; refused otherwise), or `off`. Default:
    /// $XDG_CACHE_HOME/klairr/components, else ~/.cache/klairr/components (skipped with a warning if unsafe).
    #[arg(long, global = true, help_heading = CONNECTOR_OPTIONS, env = "KLAIRR_CACHE_DIR", value_name = "DIR|off", value_parser = {
        use clap::builder::TypedValueParser;
        clap::builder::OsStringValueParser::new().try_map(CompileCache::parse_os_setting)
    })]
    pub compile_cache: Option<CompileCache>,
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The selected connector's name: `--connector`, else the built-in Stripe connector.
    pub fn connector_name(&self) -> &str {
        self.connector.as_deref().unwrap_or(DEFAULT_CONNECTOR)
    }
}

/// Flags that set up one connection or one component, which `serve` cannot honour for all of its
/// connectors and connections at once (clap's ids: the fields' names).
const PER_CONNECTION: &[&str] = &[
    "connector",
    "component",
    "mode",
    "max_rows",
    "max_scan",
    "cache_ttl",
];
/// Flags that shape a connection's reads, which only `query` (and `demo`) make (clap's ids). Refused
/// where nothing is read, since a value there suggests an effect it cannot have. Flags about where
/// requests go and what is recorded (`--stripe-base`, `--memory-file`, …) are taken by every command
/// that loads a connector, so that one set of flags serves them all.
const SHAPES_READS: &[&str] = &["max_rows", "max_scan", "cache_ttl"];
/// Flags about running a connector, which the emulator (a stand-in for Stripe's API, no connector in
/// it) has no use for.
#[cfg(feature = "demo")]
const RUNS_A_CONNECTOR: &[&str] = &["connectors", "redirect", "stripe_base", "memory_file"];
/// Flags that would point the demo at another emulator, key or connector than its own.
#[cfg(feature = "demo")]
const DEMO_OWN: &[&str] = &["mode", "redirect", "stripe_base", "connector", "connectors"];

/// The shared flags the command `name` refuses rather than ignore; its `--help` leaves them out.
/// (`--columns`, which only `query` uses, is refused by the others on its own, with its own message.)
fn refused_by(name: &str) -> Vec<&'static str> {
    match name {
        "serve" => PER_CONNECTION.to_vec(),
        // No connection at all: no credential, so no mode, and no reads.
        "describe" | "connectors" => [&["mode"], SHAPES_READS].concat(),
        // A connection that reads one page of each table to prove the credential, whatever the limits.
        "setup" => SHAPES_READS.to_vec(),
        #[cfg(feature = "demo")]
        "emulator" => [
            PER_CONNECTION,
            RUNS_A_CONNECTOR,
            &["call_timeout", "compile_cache"],
        ]
        .concat(),
        #[cfg(feature = "demo")]
        "demo" => DEMO_OWN.to_vec(),
        _ => Vec::new(),
    }
}

/// The variable that gives `--compile-cache` when the flag is not given.
const CACHE_ENV: &str = "KLAIRR_CACHE_DIR";

/// `KLAIRR_CACHE_DIR` is set but empty. clap would refuse it as a value of `--compile-cache` even where
/// the flag itself is given (which takes precedence over the variable) and for a command that uses no
/// cache (the emulator): so clap does not read it then, and [`parse`] refuses it only where it would be
/// the setting.
fn cache_env_is_empty() -> bool {
    std::env::var_os(CACHE_ENV).is_some_and(|value| value.is_empty())
}

/// clap's command for [`Cli`], with each command's `--help` listing only the shared flags it takes.
fn command() -> clap::Command {
    let mut cli = Cli::command();
    if cache_env_is_empty() {
        cli = cli.mut_arg("compile_cache", |arg| arg.env(None::<&'static str>));
    }
    let names: Vec<String> = cli
        .get_subcommands()
        .map(|c| c.get_name().to_owned())
        .collect();
    for name in names {
        let mut hidden = refused_by(&name);
        if name != "query" {
            hidden.push("columns");
        }
        // A command's own copy of a global flag takes the global's place in it (clap propagates a
        // global only where no flag of its id is), so it parses as before and is hidden there alone.
        let copies: Vec<clap::Arg> = cli
            .get_arguments()
            .filter(|arg| hidden.contains(&arg.get_id().as_str()))
            .map(|arg| arg.clone().hide(true))
            .collect();
        cli = cli.mut_subcommand(&name, |sub| sub.args(copies));
    }
    cli
}

/// Parse the command line (including the program name): the flags, and those given that the command
/// refuses (`--max-rows`, …; none when it takes them all).
pub(super) fn parse(args: &[OsString]) -> Result<(Cli, Vec<String>), clap::Error> {
    let mut command = command();
    let matches = command.try_get_matches_from_mut(args)?;
    given_on_both_sides(&mut command, args)?;
    if cache_env_is_empty() {
        let given = |m: &clap::ArgMatches| {
            m.value_source("compile_cache") == Some(ValueSource::CommandLine)
        };
        let uses_cache = matches
            .subcommand()
            .is_some_and(|(name, sub)| !refused_by(name).contains(&"compile_cache") && !given(sub));
        if uses_cache && !given(&matches) {
            return Err(command.error(
                clap::error::ErrorKind::InvalidValue,
                format!(
                    "{CACHE_ENV} is set but empty: set it to a directory or `off`, or unset it \
                     (--compile-cache DIR|off on the command line takes precedence over it)"
                ),
            ));
        }
    }
    let cli = Cli::from_arg_matches(&matches)?;
    let refused = match matches.subcommand() {
        Some((name, command)) => refused_by(name)
            .into_iter()
            .filter(|id| command.value_source(id) == Some(ValueSource::CommandLine))
            .map(|id| format!("--{}", id.replace('_', "-")))
            .collect(),
        None => Vec::new(),
    };
    Ok((cli, refused))
}

/// A shared flag given both before and after the command: clap takes the last one (where twice on one
/// side is refused), so `--format json query … --format csv` printed CSV. Refused the same way. A token
/// that looks like `--flag` is always a flag here: no value of ours may start with `--`, and nothing
/// after a bare `--` is counted.
fn given_on_both_sides(command: &mut clap::Command, args: &[OsString]) -> Result<(), clap::Error> {
    let once: Vec<String> = command
        .get_arguments()
        .filter(|arg| arg.is_global_set() && matches!(arg.get_action(), clap::ArgAction::Set))
        .filter_map(|arg| arg.get_long().map(|long| format!("--{long}")))
        .collect();
    let tokens: Vec<&str> = args
        .iter()
        .skip(1)
        .filter_map(|arg| arg.to_str())
        .take_while(|arg| *arg != "--")
        .collect();
    for flag in once {
        let given = tokens
            .iter()
            .filter(|t| {
                **t == flag
                    || t.strip_prefix(flag.as_str())
                        .is_some_and(|r| r.starts_with('='))
            })
            .count();
        if given > 1 {
            return Err(command.error(
                clap::error::ErrorKind::ArgumentConflict,
                format!(
                    "the argument '{flag}' cannot be used multiple times (it was given before the command and after it: give it once)"
                ),
            ));
        }
    }
    Ok(())
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
        #[arg(long, default_value = "127.0.0.1:8787", value_parser = parse_listen)]
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
        /// Print every request on stderr as it arrives: seconds since the start, method, path and query,
        /// the status it is answered with, and which rate limit refused a 429.
        #[arg(long)]
        log: bool,
        #[command(flatten)]
        data: EmulatorData,
    },
}

/// `--listen`: an IP address and a port. A name (`localhost:8787`) is not resolved, so that the address
/// served is the one written; the message says what to write instead.
fn parse_listen(text: &str) -> Result<std::net::SocketAddr, String> {
    text.parse().map_err(|_| {
        if let Some((_, digits)) = text.rsplit_once(':') {
            if !digits.is_empty()
                && digits.bytes().all(|b| b.is_ascii_digit())
                && digits.parse::<u16>().is_err()
            {
                return format!(
                    "port {digits} is out of range: a port is 0 to 65535 (0 picks a free one)"
                );
            }
        }
        let port = text
            .rsplit_once(':')
            .and_then(|(_, port)| port.parse::<u16>().ok())
            .unwrap_or(8787);
        format!(
            "an IP address and a port, e.g. 127.0.0.1:{port} or [::1]:{port} (a host name such as \
             localhost is not resolved)"
        )
    })
}

/// The most objects of one kind the emulator generates: an account far larger than any test or benchmark
/// here needs (30,000 customers, 110,000 charges), held in memory (~3 KB a charge: 200,000 took 565 MB)
/// without exhausting a machine. A count past it is a `usage` error, not an allocation that aborts the
/// process.
pub const MAX_EMULATOR_OBJECTS: u64 = 1_000_000;

fn object_count() -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::<usize>::new().range(0..=MAX_EMULATOR_OBJECTS)
}

/// The emulator's data set: deterministic for a seed and counts.
#[derive(clap::Args, Debug, Clone, Copy)]
pub struct EmulatorData {
    /// The data set's seed: the same seed and counts give the same objects, ids and times.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// How many customers the account holds.
    #[arg(long, default_value_t = 40, value_parser = object_count())]
    pub customers: usize,
    /// How many subscriptions (of those customers).
    #[arg(long, default_value_t = 60, value_parser = object_count())]
    pub subscriptions: usize,
    /// How many invoices.
    #[arg(long, default_value_t = 120, value_parser = object_count())]
    pub invoices: usize,
    /// How many charges.
    #[arg(long, default_value_t = 150, value_parser = object_count())]
    pub charges: usize,
    /// How many payouts.
    #[arg(long, default_value_t = 30, value_parser = object_count())]
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
                format!("--format csv prints query results; {what} prints --format table, json or ndjson"),
            )),
        }
    }
}
