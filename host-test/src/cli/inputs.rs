//! What a command reads besides its flags: the credential from the variable its connector's manifest
//! names (`config`), the query from standard input (`read_query`), and the memory file, checked before
//! anything runs (`memory`).

use super::{Cli, Failure, ModeArg};
use crate::memory::MemoryFile;
use crate::registry::Connector;
use crate::sandbox::{wit, ConnectionConfig};
use std::ffi::OsString;
use std::io::Read;

/// Read a query from standard input; anything past 1 MiB is not a query (the connector caps at 16 KiB).
/// What editors add around a file's text is not the query's: a leading byte-order mark and the trailing
/// newline (or any trailing whitespace) are dropped, so they neither break the JSON nor count toward
/// the cap.
pub(super) fn read_query(stdin: &mut dyn Read) -> Result<String, Failure> {
    const MAX_STDIN: u64 = 1 << 20;
    let mut bytes = Vec::new();
    stdin
        .take(MAX_STDIN + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| {
            Failure::new(
                "invalid-query",
                format!("could not read the query from standard input: {e}"),
            )
        })?;
    // Refused, not cut: what follows the first MiB could turn a valid query into none. Judged on bytes
    // before they are read as text: the cut may fall inside a character of valid UTF-8.
    if bytes.len() as u64 > MAX_STDIN {
        return Err(Failure::new(
            "invalid-query",
            "standard input holds more than 1 MiB: a query is one JSON object of at most 16 KiB",
        ));
    }
    let text = String::from_utf8(bytes).map_err(|_| {
        Failure::new(
            "invalid-query",
            "could not read the query from standard input: it is not valid UTF-8 (write the query as UTF-8 JSON)",
        )
    })?;
    let query = text.strip_prefix('\u{feff}').unwrap_or(&text).trim_end();
    Ok(query.to_owned())
}

pub(super) fn config(
    cli: &Cli,
    connector: &Connector,
    environment: &dyn Fn(&str) -> Option<OsString>,
) -> Result<ConnectionConfig, Failure> {
    // As `serve` refuses it in a connection's body: a TTL above the connector's ceiling is a mistake,
    // not a wish to be quietly lowered.
    let ceiling = connector.manifest.calls.cache_ttl_ceiling_seconds;
    if let Some(ttl) = cli.cache_ttl.filter(|t| *t > ceiling) {
        return Err(Failure::new(
            "usage",
            format!(
                "--cache-ttl {ttl} is above connector {}'s ceiling of {ceiling} s: a call may lower the cache TTL, never raise it",
                connector.name()
            ),
        ));
    }
    let env = &connector.manifest.credential.env;
    let credential = utf8_env(environment, env, "invalid-key")?;
    let blank = credential.as_ref().is_some_and(|k| k.trim().is_empty());
    let Some(credential) = credential.filter(|k| !k.trim().is_empty()) else {
        let credential = &connector.manifest.credential;
        return Err(Failure::new(
            "invalid-key",
            format!(
                "{env} is {}: export your credential ({}… or {}…) in {env}; credentials are never taken from arguments",
                if blank { "empty" } else { "not set" },
                credential.test_prefix,
                credential.live_prefix
            ),
        ));
    };
    let mode = match cli.mode.unwrap_or(ModeArg::Test) {
        ModeArg::Test => wit::Mode::Test,
        ModeArg::Live => wit::Mode::Live,
    };
    Ok(ConnectionConfig {
        max_rows: cli.max_rows,
        cache_ttl_seconds: cli.cache_ttl,
        max_scan: cli.max_scan,
        ..ConnectionConfig::new(credential, mode)
    })
}

/// The variable `name`, if set; a value that is not UTF-8 is refused as `kind` (saying so, never quoting
/// it: it may be a credential) rather than taken for unset.
pub(super) fn utf8_env(
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

/// The memory file of `--memory-file`, checked before anything runs: one that cannot be written is the
/// command line's mistake (exit 2), not shapes lost one warning at a time.
pub(super) fn memory(cli: &Cli) -> Result<Option<MemoryFile>, Failure> {
    cli.memory_file
        .as_ref()
        .map(|path| {
            // `-` reads as standard output by convention, which holds the result: a file of that name
            // written in the working directory would be a surprise.
            if path.as_os_str() == "-" {
                return Err(Failure::new(
                    "usage",
                    "--memory-file -: the shapes cannot go to standard output, which holds the result: give a file (./- for a file of that name)",
                ));
            }
            MemoryFile::writable(path).map_err(|e| {
                // The system's own errors (a missing directory, no permission) get the general advice;
                // the host's refusals (a symlink, another user's file) say what to do themselves.
                let advice = match e.raw_os_error().map(|_| e.kind()) {
                    None => String::new(),
                    // The file is there (checked without following a symlink) but not writable.
                    Some(std::io::ErrorKind::PermissionDenied)
                        if std::fs::symlink_metadata(path).is_ok() =>
                    {
                        format!(
                            ": it is not yours to write; if it is your memory file, run `chmod 600 {}`",
                            path.display()
                        )
                    }
                    Some(std::io::ErrorKind::NotFound) => {
                        ": give a file in a directory that exists".to_owned()
                    }
                    Some(_) => ": give a file in an existing directory you can write to".to_owned(),
                };
                Failure::new(
                    "usage",
                    format!(
                        "--memory-file {}: cannot be written ({e}){advice}",
                        path.display()
                    ),
                )
            })
        })
        .transpose()
}
