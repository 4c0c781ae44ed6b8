//! The on-disk cache of compiled components, so that a `klairr-host` call deserializes the connector's
//! machine code (a few milliseconds) instead of compiling it with Cranelift (a few hundred).
//!
//! An entry is keyed by the SHA-256 of the component's bytes and wasmtime's precompile compatibility hash
//! ([`Engine::precompile_compatibility_hash`]: target, compiler flags, tunables, features and wasmtime's
//! version), so another component, another engine configuration or another wasmtime never finds it.
//!
//! Deserializing compiled code is `unsafe`: wasmtime runs what the entry says. An entry is therefore only
//! loaded when
//! - its directory is this user's own with mode 0700 (checked on every load, `check_dir`), and the entry
//!   is a regular file of this user's that nobody else may write (not a symlink);
//! - its header names this very key, and the SHA-256 of its payload matches the header, so a torn write,
//!   a truncated file or a flipped bit is caught before wasmtime sees it;
//! - and wasmtime accepts it (it checks its own version and the engine's configuration in the artifact).
//!
//! Anything else (corrupt, truncated, stale, foreign) is recompiled and rewritten, never trusted. Entries
//! are written to a temporary file in the same directory and renamed into place, so readers see a whole
//! entry or none; the newest [`KEEP_ENTRIES`] entries (by modification time, bumped on every hit) are kept.
//!
//! Where the cache lives ([`CompileCache`]): nowhere by default in the library; the CLI uses
//! `--compile-cache DIR|off`, else `$KLAIRR_CACHE_DIR`, else [`CompileCache::default_location`]
//! (`$XDG_CACHE_HOME/klairr/components`, else `$HOME/.cache/klairr/components`). A directory the user
//! named that is not safe is refused with the command that fixes it; the default location, if not safe or
//! not usable, is skipped with a warning on stderr and the component is compiled in memory.
//!
//! The trust boundary: whoever can write files as this user can forge an entry (with a matching hash), but
//! could equally replace the `klairr-host` binary; the checks keep out other users, and damage.

// Both work through Unix descriptors, owners and modes; elsewhere the cache is refused (`Unsupported`).
#[cfg(unix)]
mod dir;
#[cfg(unix)]
mod entry;
#[cfg(all(test, unix))]
mod tests;

use super::SandboxError;
use crate::policy::redact::strip_control;
#[cfg(unix)]
use dir::prepare_dir;
#[cfg(unix)]
use entry::{entry_key, entry_name, max_entry_bytes, read_entry};
use std::collections::BTreeSet;
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;
use wasmtime::component::Component;
use wasmtime::Engine;

/// How many entries a cache directory keeps (the newest by modification time); older ones are deleted
/// whenever an entry is written.
/// Each entry is about four times its component (~1 MB for Stripe's), and a `serve` with many
/// connectors loads them all at every start and reload: fewer than its connectors would recompile them
/// all every time.
pub const KEEP_ENTRIES: usize = 64;

/// Where compiled components are cached.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum CompileCache {
    /// Compile in memory on every load (the library's default, so embedders and tests touch no disk
    /// unless they ask to).
    #[default]
    Off,
    /// A directory the user named (`--compile-cache DIR`, `KLAIRR_CACHE_DIR`): created with mode 0700 if
    /// missing; if it is not this user's own with mode 0700, loading fails with the command that fixes it.
    Dir(PathBuf),
    /// The default location ([`CompileCache::default_location`]): created with mode 0700 if missing; if it
    /// is not safe or not usable, a warning goes to stderr and the component is compiled in memory.
    DefaultDir(PathBuf),
}

/// Why a component could not be loaded through the cache.
#[derive(Debug, thiserror::Error)]
pub enum CompileCacheError {
    /// The component itself does not compile (this is not about the cache).
    #[error("not a valid WebAssembly component: {0}")]
    Compile(String),
    /// The cache directory is someone else's or open to others (compiled code from it could be anyone's),
    /// or closed to its owner too (no entry could be read or written).
    #[error("the compile cache directory {} {why}, so the host will not load compiled code from it: {fix}", path.display())]
    UnsafeDir {
        path: PathBuf,
        why: String,
        fix: String,
    },
    /// The cache path exists but is not a directory.
    #[error("the compile cache path {} is not a directory: choose a directory for the cache alone with --compile-cache DIR (or KLAIRR_CACHE_DIR=DIR; one that does not exist yet is created), or turn the cache off with --compile-cache off", path.display())]
    NotADirectory { path: PathBuf },
    /// The cache directory could not be created or inspected.
    #[error("cannot use the compile cache directory {}: {source}; {fix}choose another with --compile-cache DIR (or KLAIRR_CACHE_DIR=DIR), or turn the cache off with --compile-cache off (or KLAIRR_CACHE_DIR=off)", path.display())]
    Io {
        path: PathBuf,
        source: io::Error,
        /// What might mend it, ending in ", or " (empty when only another directory will do).
        fix: String,
    },
    /// This platform cannot check who owns a directory.
    #[error(
        "the compile cache needs Unix file ownership and permissions; pass --compile-cache off"
    )]
    Unsupported,
}

impl CompileCacheError {
    fn io(path: &Path, source: io::Error) -> CompileCacheError {
        let quoted = shell_quote(path);
        let fix = match source.kind() {
            // `mkdir -p` cannot create through a symlink to nothing ("File exists"): that link is
            // named instead, not offered for removal.
            io::ErrorKind::NotFound => match dangling_link_on(path) {
                Some(link) => format!(
                    "{} is a symbolic link to something that does not exist (a dangling link): \
                     make it lead to a directory, or ",
                    shell_quote(link)
                ),
                None => format!("create it with `mkdir -p -m 700 {quoted}`, or "),
            },
            // It (or a directory above it) is there but not this user's to read or write.
            io::ErrorKind::PermissionDenied => {
                "use a directory of your own (`mkdir -p -m 700 DIR`), or ".to_owned()
            }
            // A dangling symlink, or a file where a directory of the path should be: named, not
            // offered for removal (it may be anything, `/etc/passwd` in a mistyped path).
            io::ErrorKind::AlreadyExists | io::ErrorKind::NotADirectory => {
                "something that is not a directory (a file or a dangling symlink) stands where a directory of the path should be; ".to_owned()
            }
            _ => String::new(),
        };
        CompileCacheError::Io {
            path: path.to_owned(),
            source,
            fix,
        }
    }
}

impl From<CompileCacheError> for SandboxError {
    fn from(e: CompileCacheError) -> SandboxError {
        match e {
            CompileCacheError::Compile(_) => SandboxError::InvalidComponent(e.to_string()),
            CompileCacheError::UnsafeDir { .. }
            | CompileCacheError::NotADirectory { .. }
            | CompileCacheError::Io { .. }
            | CompileCacheError::Unsupported => SandboxError::Setting(e.to_string()),
        }
    }
}

/// A loaded component and how it was obtained.
pub struct Loaded {
    pub component: Component,
    pub outcome: Outcome,
}

/// How [`CompileCache::load`] obtained the component.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The cache is off: compiled in memory.
    Off,
    /// Deserialized from a valid entry.
    Hit,
    /// No entry: compiled, and stored unless writing failed (a warning then went to stderr).
    Miss { stored: bool },
    /// An entry existed but was not trusted (`reason`): compiled, and stored over it unless writing failed.
    Rejected { reason: String, stored: bool },
    /// The default location is not usable (`reason`, also warned on stderr): compiled in memory.
    Unusable { reason: String },
}

impl CompileCache {
    /// The value of `--compile-cache` or `KLAIRR_CACHE_DIR`: `off` in any case and with spaces around
    /// it (`OFF` is not taken for a directory), or a directory (write `./off` for a directory of that
    /// name).
    pub fn parse_setting(value: &str) -> Result<CompileCache, String> {
        CompileCache::parse_os_setting(value.into())
    }

    /// [`CompileCache::parse_setting`] for a value that need not be UTF-8: a directory's path is any
    /// bytes the system allows.
    pub fn parse_os_setting(value: std::ffi::OsString) -> Result<CompileCache, String> {
        match value.to_str() {
            Some("") => Err(
                "an empty value: give a directory, or `off` (an empty KLAIRR_CACHE_DIR counts: unset it)"
                    .to_owned(),
            ),
            // Spaces around it too: a directory named " off" is a quoting slip, not a choice.
            Some(off) if off.trim().eq_ignore_ascii_case("off") => Ok(CompileCache::Off),
            _ => Ok(CompileCache::Dir(PathBuf::from(value))),
        }
    }

    /// `$XDG_CACHE_HOME/klairr/components` (when it is an absolute path), else
    /// `$HOME/.cache/klairr/components`, as [`CompileCache::DefaultDir`]; [`CompileCache::Off`] without
    /// either.
    pub fn default_location() -> CompileCache {
        default_dir(std::env::var_os("XDG_CACHE_HOME"), std::env::var_os("HOME"))
            .map_or(CompileCache::Off, CompileCache::DefaultDir)
    }

    /// The compiled `component` (binary or text), from the cache when it holds a valid entry, else
    /// compiled (and stored). This is what [`super::Sandbox::load`] calls.
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        component: &[u8],
    ) -> Result<Component, SandboxError> {
        Ok(self.load(engine, component)?.component)
    }

    /// [`CompileCache::load_or_compile`], saying how the component was obtained.
    pub fn load(&self, engine: &Engine, component: &[u8]) -> Result<Loaded, CompileCacheError> {
        let (dir, explicit) = match self {
            CompileCache::Off => {
                return Ok(Loaded {
                    component: compile(engine, component)?,
                    outcome: Outcome::Off,
                })
            }
            CompileCache::Dir(dir) => (dir, true),
            CompileCache::DefaultDir(dir) => (dir, false),
        };
        match open_dir_cache(dir) {
            Ok(cache) => cache.load(engine, component),
            Err(e) if explicit => Err(e),
            Err(e) => {
                warn(&format!("{e}; compiling the component in memory instead"));
                Ok(Loaded {
                    component: compile(engine, component)?,
                    outcome: Outcome::Unusable {
                        reason: e.to_string(),
                    },
                })
            }
        }
    }
}

#[cfg(unix)]
fn open_dir_cache(dir: &Path) -> Result<DirCache<'_>, CompileCacheError> {
    DirCache::open(dir, KEEP_ENTRIES)
}

/// Without Unix ownership and modes there is no telling whether a directory is the user's own.
#[cfg(not(unix))]
fn open_dir_cache(_dir: &Path) -> Result<std::convert::Infallible, CompileCacheError> {
    Err(CompileCacheError::Unsupported)
}

#[cfg(unix)]
/// One checked cache directory, held open: every entry is read, written and deleted relative to the
/// directory that was checked, never through its path again (`dir.rs`).
struct DirCache<'a> {
    /// The path the user gave, for messages only.
    dir: &'a Path,
    /// The directory `prepare_dir` opened and checked.
    fd: std::os::fd::OwnedFd,
    /// How many entries to keep.
    keep: usize,
}

#[cfg(unix)]
impl<'a> DirCache<'a> {
    /// Create `dir` if missing, open it and check it is this user's own with mode 0700.
    fn open(dir: &'a Path, keep: usize) -> Result<DirCache<'a>, CompileCacheError> {
        Ok(DirCache {
            dir,
            fd: prepare_dir(dir)?,
            keep,
        })
    }

    fn load(&self, engine: &Engine, bytes: &[u8]) -> Result<Loaded, CompileCacheError> {
        let key = entry_key(engine, bytes);
        let name = entry_name(&key);
        let path = self.dir.join(&name);
        let max_len = max_entry_bytes(bytes.len());
        let rejected = match read_entry(self, &name, &key, max_len) {
            Ok(None) => None,
            Ok(Some((file, payload))) => {
                // SAFETY: `Component::deserialize` must only be given what `Component::serialize` (or
                // `Engine::precompile_component`) of this wasmtime produced, unmodified. `payload` is:
                // - from the directory `check_dir` proved (on the descriptor it is read through) is this
                //   user's own and closed to everyone else (0700), read from a regular file (opened without following symlinks) owned by this
                //   user that nobody else may write: only this user's processes (running this code,
                //   which writes nothing but `Component::serialize` output) or root can have written it;
                // - exactly the bytes `store` wrote: `read_entry` checked the header's key (these
                //   component bytes under this engine's compatibility hash) and the payload's SHA-256,
                //   so a torn write, a truncation or a flipped bit never reaches this call;
                // - checked again by wasmtime, which refuses (with an error, not undefined behaviour)
                //   artifacts of another wasmtime version or engine configuration;
                // - our own heap copy: the file changing after the read cannot change it, and
                //   `deserialize` copies it into a fresh mapping.
                match unsafe { Component::deserialize(engine, &payload) } {
                    Ok(component) => {
                        // The eviction order is by modification time: a hit keeps its entry young.
                        // Best effort: the entry is valid whether or not its time could be set.
                        let _ = file.set_modified(SystemTime::now());
                        return Ok(Loaded {
                            component,
                            outcome: Outcome::Hit,
                        });
                    }
                    Err(e) => Some(format!("wasmtime refused it ({e:#})")),
                }
            }
            Err(reason) => Some(reason),
        };
        if let Some(reason) = &rejected {
            warn(&format!(
                "the compile cache entry {} was not used: {reason}; the component is compiled again",
                path.display()
            ));
        }

        let component = compile(engine, bytes)?;
        let stored = match component
            .serialize()
            .map_err(|e| io::Error::other(format!("{e:#}")))
            .and_then(|payload| self.store(&name, &key, &payload, max_len))
        {
            Ok(()) => {
                self.evict(&name);
                true
            }
            Err(e) => {
                warn(&format!(
                    "could not write the compiled component to the cache ({}): {e}; it was compiled in memory",
                    path.display()
                ));
                false
            }
        };
        Ok(Loaded {
            component,
            outcome: match rejected {
                None => Outcome::Miss { stored },
                Some(reason) => Outcome::Rejected { reason, stored },
            },
        })
    }
}

fn compile(engine: &Engine, bytes: &[u8]) -> Result<Component, CompileCacheError> {
    Component::new(engine, bytes).map_err(|e| CompileCacheError::Compile(compile_error(bytes, &e)))
}

/// What is wrong with a component that does not compile, in one line. Bytes that are not the binary
/// format are parsed as component text (tests write components that way), and the text parser's error
/// quotes the offending line of the file: a file given by mistake (`--component .env`) would have its
/// first line — a key, perhaps — printed and logged. So for text only the parser's first line and the
/// position are kept.
fn compile_error(bytes: &[u8], error: &wasmtime::Error) -> String {
    let full = format!("{error:#}");
    if bytes.starts_with(b"\0asm") {
        return full;
    }
    let mut lines = full.lines();
    let what = lines.next().unwrap_or_default().trim();
    // The position line reads `--> <anon>:LINE:COLUMN`.
    let at = lines
        .find_map(|l| l.trim().strip_prefix("--> "))
        .map(|place| place.rsplitn(3, ':').collect::<Vec<_>>())
        .and_then(|parts| match parts[..] {
            [column, line, _] => Some(format!(" (line {line}, column {column})")),
            _ => None,
        })
        .unwrap_or_default();
    format!(
        "the file is not a binary component (which starts with the bytes \\0asm), nor component text: {what}{at}"
    )
}

/// On stderr, control characters removed: a path from the environment could hold a terminal's escape
/// sequences.
/// Each message once per process: a `serve` loading many connectors from one unusable directory says so
/// once, not once per connector.
fn warn(message: &str) {
    static WARNED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
    let mut warned = WARNED.lock().unwrap_or_else(|p| p.into_inner());
    if warned.insert(message.to_owned()) {
        crate::log_line(format_args!(
            "klairr-host: warning: {}",
            strip_control(message)
        ));
    }
}

/// `$XDG_CACHE_HOME/klairr/components` if it is absolute (the XDG spec ignores relative values), else
/// `$HOME/.cache/klairr/components` if that is absolute.
fn default_dir(xdg_cache_home: Option<OsString>, home: Option<OsString>) -> Option<PathBuf> {
    let xdg = xdg_cache_home
        .map(PathBuf::from)
        .filter(|p| p.is_absolute());
    let base = match xdg {
        Some(base) => base,
        // A relative HOME is ignored like a relative XDG_CACHE_HOME: it would put the cache wherever
        // the command happens to run.
        None => Some(PathBuf::from(home?))
            .filter(|h| h.is_absolute())?
            .join(".cache"),
    };
    Some(base.join("klairr").join("components"))
}

/// The first of `path` and the directories above it that is a symbolic link leading nowhere, if any
/// (for a message only: what the cache opens is checked on its descriptor).
fn dangling_link_on(path: &Path) -> Option<&Path> {
    path.ancestors()
        .filter(|p| !p.as_os_str().is_empty())
        .find(|p| {
            std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink())
                && matches!(std::fs::metadata(p), Err(e) if e.kind() == io::ErrorKind::NotFound)
        })
}

/// A path as a shell word, for the commands the errors suggest.
fn shell_quote(path: &Path) -> String {
    let text = path.to_string_lossy();
    if !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+~,=:@".contains(&b))
    {
        text.into_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}
