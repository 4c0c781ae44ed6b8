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

use super::SandboxError;
use sha2::{Digest, Sha256};
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::hash::{Hash, Hasher};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};
use wasmtime::component::Component;
use wasmtime::Engine;

/// How many entries a cache directory keeps (the newest by modification time); older ones are deleted
/// whenever an entry is written.
pub const KEEP_ENTRIES: usize = 16;

/// The first bytes of an entry; the number is the entry format's version.
const MAGIC: &[u8; 8] = b"KLRRCC01";
/// Magic, key, payload length, payload SHA-256.
const HEADER_LEN: usize = MAGIC.len() + 32 + 8 + 32;
/// Entries are `<64 hex digits>.cwasm`.
const ENTRY_EXT: &str = "cwasm";
/// Temporary files being written are `.tmp-…`: never read, and deleted once older than [`STALE_TEMP`]
/// (left behind by a process that died while writing).
const TEMP_PREFIX: &str = ".tmp-";
const STALE_TEMP: Duration = Duration::from_secs(3600);
/// No compiled component of a connector comes near this; a bigger file is not an entry.
const MAX_ENTRY_BYTES: u64 = 1 << 30;

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
    /// The cache directory is someone else's or open to others: compiled code from it could be anyone's.
    #[error("the compile cache directory {} {why}, so the host will not load compiled code from it: {fix}, or choose another directory with --compile-cache DIR (or --compile-cache off)", path.display())]
    UnsafeDir {
        path: PathBuf,
        why: String,
        fix: String,
    },
    /// The cache path exists but is not a directory.
    #[error("the compile cache path {} is not a directory: remove it, or choose another directory with --compile-cache DIR (or --compile-cache off)", path.display())]
    NotADirectory { path: PathBuf },
    /// The cache directory could not be created or inspected.
    #[error("cannot use the compile cache directory {}: {source}; create it with `mkdir -p -m 700 {}`, or choose another with --compile-cache DIR (or --compile-cache off)", path.display(), shell_quote(path))]
    Io { path: PathBuf, source: io::Error },
    /// This platform cannot check who owns a directory.
    #[error(
        "the compile cache needs Unix file ownership and permissions; pass --compile-cache off"
    )]
    Unsupported,
}

impl From<CompileCacheError> for SandboxError {
    fn from(e: CompileCacheError) -> SandboxError {
        SandboxError::Load(e.to_string())
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
    /// The value of `--compile-cache` or `KLAIRR_CACHE_DIR`: `off`, or a directory (write `./off` for a
    /// directory of that name).
    pub fn parse_setting(value: &str) -> Result<CompileCache, String> {
        match value {
            "" => Err(
                "an empty value: give a directory, or `off` (an empty KLAIRR_CACHE_DIR counts: unset it)"
                    .to_owned(),
            ),
            "off" => Ok(CompileCache::Off),
            dir => Ok(CompileCache::Dir(PathBuf::from(dir))),
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
        if let Err(e) = prepare_dir(dir) {
            if explicit {
                return Err(e);
            }
            warn(&format!("{e}; compiling the component in memory instead"));
            return Ok(Loaded {
                component: compile(engine, component)?,
                outcome: Outcome::Unusable {
                    reason: e.to_string(),
                },
            });
        }
        DirCache {
            dir,
            keep: KEEP_ENTRIES,
        }
        .load(engine, component)
    }
}

/// One checked cache directory.
struct DirCache<'a> {
    dir: &'a Path,
    keep: usize,
}

impl DirCache<'_> {
    fn load(&self, engine: &Engine, bytes: &[u8]) -> Result<Loaded, CompileCacheError> {
        let key = entry_key(engine, bytes);
        let path = self.dir.join(entry_name(&key));
        let rejected = match read_entry(&path, &key) {
            Ok(None) => None,
            Ok(Some((file, payload))) => {
                // SAFETY: `Component::deserialize` must only be given what `Component::serialize` (or
                // `Engine::precompile_component`) of this wasmtime produced, unmodified. `payload` is:
                // - from a directory `check_dir` proved is this user's own and closed to everyone else
                //   (0700), read from a regular file (opened without following symlinks) owned by this
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

        let component = compile(engine, bytes)?;
        let stored = match component
            .serialize()
            .map_err(|e| io::Error::other(format!("{e:#}")))
            .and_then(|payload| self.store(&path, &key, &payload))
        {
            Ok(()) => {
                self.evict();
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

    /// Write the entry to a temporary file in the directory and rename it into place: readers see the
    /// old entry, the new one, or none, never a part. Not synced: an entry lost or torn by a crash fails
    /// its hash check and is recompiled.
    fn store(&self, path: &Path, key: &[u8; 32], payload: &[u8]) -> io::Result<()> {
        static SEQUENCE: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let temp = self.dir.join(format!(
            "{TEMP_PREFIX}{}-{nanos}-{}",
            std::process::id(),
            SEQUENCE.fetch_add(1, Ordering::Relaxed)
        ));
        let written = create_private(&temp).and_then(|mut file| {
            file.write_all(&header(key, payload))?;
            file.write_all(payload)?;
            drop(file);
            fs::rename(&temp, path)
        });
        if written.is_err() {
            let _ = fs::remove_file(&temp);
        }
        written
    }

    /// Keep the newest `keep` entries; delete temporary files left by processes that died writing.
    /// Best effort: another process may be evicting the same files.
    fn evict(&self) {
        let Ok(listing) = fs::read_dir(self.dir) else {
            return;
        };
        let now = SystemTime::now();
        let mut entries = Vec::new();
        for item in listing.flatten() {
            let name = item.file_name();
            let Some(name) = name.to_str() else { continue };
            // `DirEntry::metadata` does not follow symlinks.
            let Ok(meta) = item.metadata() else { continue };
            let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            if is_entry_name(name) {
                entries.push((modified, name.to_owned()));
            } else if name.starts_with(TEMP_PREFIX)
                && now.duration_since(modified).unwrap_or_default() > STALE_TEMP
            {
                let _ = fs::remove_file(item.path());
            }
        }
        entries.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        for (_, name) in entries.into_iter().skip(self.keep) {
            let _ = fs::remove_file(self.dir.join(name));
        }
    }
}

fn compile(engine: &Engine, bytes: &[u8]) -> Result<Component, CompileCacheError> {
    Component::new(engine, bytes).map_err(|e| CompileCacheError::Compile(format!("{e:#}")))
}

fn warn(message: &str) {
    eprintln!("klairr-host: warning: {message}");
}

/// The entry's key: SHA-256 over the format, the component's SHA-256 and the engine's compatibility hash.
fn entry_key(engine: &Engine, component: &[u8]) -> [u8; 32] {
    let mut compat = Sha256Hasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut compat);
    let mut key = Sha256::new();
    key.update(MAGIC);
    key.update(Sha256::digest(component));
    key.update(compat.0.finalize());
    key.finalize().into()
}

/// Feeds what a [`Hash`] implementation writes into SHA-256 (the compatibility hash is only offered as a
/// `Hash`; its `write_*` calls are deterministic for one build of the host on one machine).
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        let digest = self.0.clone().finalize();
        let mut first = [0; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_le_bytes(first)
    }
}

fn entry_name(key: &[u8; 32]) -> String {
    let mut name = String::with_capacity(64 + 1 + ENTRY_EXT.len());
    for byte in key {
        name.push_str(&format!("{byte:02x}"));
    }
    name.push('.');
    name.push_str(ENTRY_EXT);
    name
}

fn is_entry_name(name: &str) -> bool {
    name.strip_suffix(ENTRY_EXT)
        .and_then(|stem| stem.strip_suffix('.'))
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn header(key: &[u8; 32], payload: &[u8]) -> Vec<u8> {
    let mut header = Vec::with_capacity(HEADER_LEN);
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(key);
    header.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    header.extend_from_slice(&Sha256::digest(payload));
    header
}

/// The entry's payload if it is present and whole; `Ok(None)` if there is none; `Err(why)` if it is there
/// but not to be trusted. The open file comes back too (to bump its modification time on a hit).
fn read_entry(path: &Path, key: &[u8; 32]) -> Result<Option<(File, Vec<u8>)>, String> {
    let mut file = match open_no_follow(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("it could not be opened ({e})")),
    };
    let meta = file
        .metadata()
        .map_err(|e| format!("it could not be inspected ({e})"))?;
    check_entry_file(&meta)?;
    let len = meta.len();
    if len < HEADER_LEN as u64 {
        return Err(format!("it is truncated ({len} bytes)"));
    }
    if len > MAX_ENTRY_BYTES {
        return Err(format!("it is too large to be an entry ({len} bytes)"));
    }
    let mut data = Vec::with_capacity(len as usize);
    file.read_to_end(&mut data)
        .map_err(|e| format!("it could not be read ({e})"))?;
    let (head, payload) = data.split_at(HEADER_LEN.min(data.len()));
    if head.len() < HEADER_LEN {
        return Err(format!("it is truncated ({} bytes)", data.len()));
    }
    let (magic, rest) = head.split_at(MAGIC.len());
    let (stored_key, rest) = rest.split_at(32);
    let (stored_len, stored_hash) = rest.split_at(8);
    if magic != MAGIC {
        return Err("it is not a cache entry of this format".to_owned());
    }
    if stored_key != key {
        return Err("it holds another component or engine configuration".to_owned());
    }
    let mut len_bytes = [0; 8];
    len_bytes.copy_from_slice(stored_len);
    let declared = u64::from_le_bytes(len_bytes);
    if declared != payload.len() as u64 {
        return Err(format!(
            "it is truncated or padded ({} bytes of compiled code, the header says {declared})",
            payload.len()
        ));
    }
    if Sha256::digest(payload).as_slice() != stored_hash {
        return Err("its compiled code does not match the SHA-256 in its header".to_owned());
    }
    let payload = payload.to_vec();
    Ok(Some((file, payload)))
}

/// `$XDG_CACHE_HOME/klairr/components` if it is absolute (the XDG spec ignores relative values), else
/// `$HOME/.cache/klairr/components`.
fn default_dir(xdg_cache_home: Option<OsString>, home: Option<OsString>) -> Option<PathBuf> {
    let xdg = xdg_cache_home
        .map(PathBuf::from)
        .filter(|p| p.is_absolute());
    let base = match xdg {
        Some(base) => base,
        None => PathBuf::from(home.filter(|h| !h.is_empty())?).join(".cache"),
    };
    Some(base.join("klairr").join("components"))
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

/// Create `dir` (mode 0700) if it does not exist, then [`check_dir`] it.
fn prepare_dir(dir: &Path) -> Result<(), CompileCacheError> {
    let io_error = |source| CompileCacheError::Io {
        path: dir.to_owned(),
        source,
    };
    match fs::metadata(dir) {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            create_dir_private(dir).map_err(io_error)?
        }
        Err(e) => return Err(io_error(e)),
    }
    // Checked after creating too: another process may have created it first, with other permissions.
    check_dir(dir, &fs::metadata(dir).map_err(io_error)?)
}

#[cfg(unix)]
fn create_dir_private(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(unix)]
fn create_private(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(unix)]
fn open_no_follow(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .read(true)
        // Opened for reading only; the hit path then sets the modification time, which the owner may do
        // through any descriptor.
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)
}

/// The directory must be this user's own and closed to group and others (mode 0700).
#[cfg(unix)]
fn check_dir(dir: &Path, meta: &fs::Metadata) -> Result<(), CompileCacheError> {
    use std::os::unix::fs::MetadataExt;
    if !meta.is_dir() {
        return Err(CompileCacheError::NotADirectory {
            path: dir.to_owned(),
        });
    }
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me {
        return Err(CompileCacheError::UnsafeDir {
            path: dir.to_owned(),
            why: format!(
                "belongs to user id {}, not to you (user id {me})",
                meta.uid()
            ),
            fix: format!(
                "its owner (or root) may run `chown {me} {dir} && chmod 700 {dir}`",
                dir = shell_quote(dir)
            ),
        });
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(CompileCacheError::UnsafeDir {
            path: dir.to_owned(),
            why: format!("has mode {mode:04o}, open to other users (it must be 0700)"),
            fix: format!("run `chmod 700 {}`", shell_quote(dir)),
        });
    }
    Ok(())
}

/// An entry must be a regular file of this user's that nobody else may write.
#[cfg(unix)]
fn check_entry_file(meta: &fs::Metadata) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    if !meta.is_file() {
        return Err("it is not a regular file".to_owned());
    }
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me {
        return Err(format!("it belongs to user id {}, not to you", meta.uid()));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "it is writable by other users (mode {:04o})",
            meta.mode() & 0o7777
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn create_dir_private(_dir: &Path) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "the compile cache needs Unix permissions",
    ))
}

#[cfg(not(unix))]
fn create_private(_path: &Path) -> io::Result<File> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "the compile cache needs Unix permissions",
    ))
}

#[cfg(not(unix))]
fn open_no_follow(_path: &Path) -> io::Result<File> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "the compile cache needs Unix permissions",
    ))
}

#[cfg(not(unix))]
fn check_dir(_dir: &Path, _meta: &fs::Metadata) -> Result<(), CompileCacheError> {
    Err(CompileCacheError::Unsupported)
}

#[cfg(not(unix))]
fn check_entry_file(_meta: &fs::Metadata) -> Result<(), String> {
    Err("the compile cache needs Unix permissions".to_owned())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use wasmtime::component::Linker;
    use wasmtime::{Config, Store};

    /// A component that answers 42 (so "it works" means instantiated and called), varied by `salt`.
    /// In the text format, which the cache (like `Component::new`) accepts and keys on as given.
    fn component(salt: u32) -> Vec<u8> {
        format!(
            r#"(component
                 (core module $m
                   (func (export "answer") (result i32) i32.const 42)
                   (func (export "salt") (result i32) i32.const {salt}))
                 (core instance $i (instantiate $m))
                 (func (export "answer") (result u32) (canon lift (core func $i "answer"))))"#
        )
        .into_bytes()
    }

    /// The host's engine configuration (`Sandbox::load`).
    fn engine() -> Engine {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        Engine::new(&config).expect("engine")
    }

    fn answer(engine: &Engine, component: &Component) -> u32 {
        let mut store = Store::new(engine, ());
        store.set_epoch_deadline(u64::MAX / 2);
        let instance = Linker::<()>::new(engine)
            .instantiate(&mut store, component)
            .expect("instantiate");
        let f = instance
            .get_typed_func::<(), (u32,)>(&mut store, "answer")
            .expect("answer export");
        f.call(&mut store, ()).expect("call").0
    }

    /// A fresh directory under the system's temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            static N: AtomicU64 = AtomicU64::new(0);
            let path = std::env::temp_dir().join(format!(
                "klairr-compile-cache-{name}-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = fs::remove_dir_all(&path);
            TempDir(path)
        }

        /// The cache directory inside (not yet created).
        fn cache(&self) -> PathBuf {
            self.0.join("cache")
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn entries(dir: &Path) -> Vec<PathBuf> {
        let mut found: Vec<PathBuf> = fs::read_dir(dir)
            .expect("list")
            .map(|e| e.expect("entry").path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(is_entry_name)
            })
            .collect();
        found.sort();
        found
    }

    fn load(cache: &CompileCache, engine: &Engine, bytes: &[u8]) -> (Component, Outcome) {
        let loaded = cache.load(engine, bytes).expect("load");
        (loaded.component, loaded.outcome)
    }

    #[test]
    fn compile_cache_hit_after_miss() {
        let tmp = TempDir::new("hit");
        let cache = CompileCache::Dir(tmp.cache());
        let engine = engine();
        let bytes = component(1);

        let (first, outcome) = load(&cache, &engine, &bytes);
        assert_eq!(outcome, Outcome::Miss { stored: true });
        assert_eq!(answer(&engine, &first), 42);
        let meta = fs::metadata(tmp.cache()).expect("created");
        assert_eq!(meta.mode() & 0o777, 0o700, "created with mode 0700");
        let stored = entries(&tmp.cache());
        assert_eq!(stored.len(), 1);
        assert_eq!(
            fs::metadata(&stored[0]).expect("entry").mode() & 0o777,
            0o600
        );

        // Age the entry: a hit must bump its modification time (the eviction order).
        let old = SystemTime::UNIX_EPOCH + Duration::from_secs(86_400);
        File::options()
            .write(true)
            .open(&stored[0])
            .and_then(|f| f.set_modified(old))
            .expect("age the entry");
        let (second, outcome) = load(&cache, &engine, &bytes);
        assert_eq!(outcome, Outcome::Hit);
        assert_eq!(answer(&engine, &second), 42);
        assert_eq!(entries(&tmp.cache()), stored, "no new entry");
        let touched = fs::metadata(&stored[0])
            .and_then(|m| m.modified())
            .expect("mtime");
        assert!(touched > old, "a hit bumps the entry's modification time");

        // The same engine configuration in another `Engine` (another process) finds it too.
        assert_eq!(load(&cache, &self::engine(), &bytes).1, Outcome::Hit);
        // Another component does not.
        assert_eq!(
            load(&cache, &engine, &component(2)).1,
            Outcome::Miss { stored: true }
        );
    }

    #[test]
    fn compile_cache_corrupt_or_truncated_entries_are_recompiled() {
        let tmp = TempDir::new("corrupt");
        let cache = CompileCache::Dir(tmp.cache());
        let engine = engine();
        let bytes = component(3);
        load(&cache, &engine, &bytes);
        let entry = entries(&tmp.cache()).remove(0);
        let good = fs::read(&entry).expect("read");

        let damaged: Vec<(&str, Vec<u8>, &str)> = vec![
            ("garbage", b"not a cache entry at all, but long enough to hold a header................................".to_vec(), "not a cache entry"),
            ("empty", Vec::new(), "truncated"),
            ("header only", good[..HEADER_LEN].to_vec(), "truncated"),
            ("cut", good[..good.len() - 100].to_vec(), "truncated"),
            ("padded", [good.as_slice(), b"xx"].concat(), "truncated or padded"),
        ];
        for (what, bytes_on_disk, why) in damaged {
            fs::write(&entry, &bytes_on_disk).expect("damage");
            let (component, outcome) = load(&cache, &engine, &bytes);
            match outcome {
                Outcome::Rejected { reason, stored } => {
                    assert!(reason.contains(why), "{what}: {reason}");
                    assert!(stored, "{what}");
                }
                other => panic!("{what}: {other:?}"),
            }
            assert_eq!(answer(&engine, &component), 42, "{what}");
            assert_eq!(fs::read(&entry).expect("read"), good, "{what}: rewritten");
            assert_eq!(load(&cache, &engine, &bytes).1, Outcome::Hit, "{what}");
        }
    }

    #[test]
    fn compile_cache_bit_flip_under_an_unchanged_header_is_detected() {
        let tmp = TempDir::new("flip");
        let cache = CompileCache::Dir(tmp.cache());
        let engine = engine();
        let bytes = component(4);
        load(&cache, &engine, &bytes);
        let entry = entries(&tmp.cache()).remove(0);
        let good = fs::read(&entry).expect("read");

        // Flip one bit in the compiled code, in the middle and at the last byte; the header (with its
        // hash of the original code) is left as it was.
        for at in [HEADER_LEN + (good.len() - HEADER_LEN) / 2, good.len() - 1] {
            let mut flipped = good.clone();
            flipped[at] ^= 0x10;
            fs::write(&entry, &flipped).expect("flip");
            assert_eq!(
                read_entry(&entry, &entry_key(&engine, &bytes))
                    .err()
                    .as_deref(),
                Some("its compiled code does not match the SHA-256 in its header")
            );
            let (compiled, outcome) = load(&cache, &engine, &bytes);
            assert!(
                matches!(&outcome, Outcome::Rejected { reason, .. } if reason.contains("SHA-256")),
                "{outcome:?}"
            );
            assert_eq!(answer(&engine, &compiled), 42);
            assert_eq!(fs::read(&entry).expect("read"), good);
        }

        // A payload the hash vouches for but wasmtime refuses (what a stale entry looks like) is
        // recompiled too.
        let junk = vec![0x7f; 4096];
        let key = entry_key(&engine, &bytes);
        fs::write(&entry, [header(&key, &junk), junk].concat()).expect("stale");
        let (compiled, outcome) = load(&cache, &engine, &bytes);
        assert!(
            matches!(&outcome, Outcome::Rejected { reason, stored: true } if reason.contains("wasmtime refused")),
            "{outcome:?}"
        );
        assert_eq!(answer(&engine, &compiled), 42);

        // An entry renamed onto another key is refused by its header.
        let other = component(5);
        load(&cache, &engine, &other);
        let other_entry = tmp.cache().join(entry_name(&entry_key(&engine, &other)));
        fs::copy(&entry, &other_entry).expect("copy");
        assert!(matches!(
            load(&cache, &engine, &other).1,
            Outcome::Rejected { reason, .. } if reason.contains("another component")
        ));
    }

    #[test]
    fn compile_cache_wrong_permissions_are_refused() {
        let tmp = TempDir::new("perms");
        let dir = tmp.cache();
        fs::create_dir_all(&dir).expect("mkdir");
        let engine = engine();
        let bytes = component(6);
        for mode in [0o755, 0o750, 0o701, 0o777] {
            fs::set_permissions(&dir, fs::Permissions::from_mode(mode)).expect("chmod");
            let err = CompileCache::Dir(dir.clone())
                .load(&engine, &bytes)
                .err()
                .expect("an explicit directory open to others is refused");
            let text = err.to_string();
            assert!(matches!(err, CompileCacheError::UnsafeDir { .. }), "{text}");
            assert!(
                text.contains(&format!("chmod 700 {}", dir.display())),
                "{text}"
            );
            assert!(text.contains(&format!("{mode:04o}")), "{text}");
            assert!(
                SandboxError::from(err).to_string().contains("chmod 700"),
                "the sandbox error keeps the fix"
            );

            // The default location is skipped instead: compiled in memory, nothing written.
            let (component, outcome) =
                load(&CompileCache::DefaultDir(dir.clone()), &engine, &bytes);
            assert!(
                matches!(&outcome, Outcome::Unusable { reason } if reason.contains("chmod 700")),
                "{outcome:?}"
            );
            assert_eq!(answer(&engine, &component), 42);
            assert!(entries(&dir).is_empty());
        }

        // A file where the directory should be.
        let file = tmp.0.join("file");
        fs::write(&file, b"x").expect("write");
        assert!(matches!(
            CompileCache::Dir(file).load(&engine, &bytes).err(),
            Some(CompileCacheError::NotADirectory { .. })
        ));

        // Fixed as told: it works.
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).expect("chmod");
        assert_eq!(
            load(&CompileCache::Dir(dir.clone()), &engine, &bytes).1,
            Outcome::Miss { stored: true }
        );

        // An entry others may write, or a symlink, is not trusted (and is replaced).
        let entry = entries(&dir).remove(0);
        fs::set_permissions(&entry, fs::Permissions::from_mode(0o666)).expect("chmod");
        assert!(matches!(
            load(&CompileCache::Dir(dir.clone()), &engine, &bytes).1,
            Outcome::Rejected { reason, .. } if reason.contains("writable by other users")
        ));
        let elsewhere = tmp.0.join("elsewhere");
        fs::rename(&entry, &elsewhere).expect("move");
        std::os::unix::fs::symlink(&elsewhere, &entry).expect("symlink");
        assert!(matches!(
            load(&CompileCache::Dir(dir.clone()), &engine, &bytes).1,
            Outcome::Rejected { .. }
        ));
        assert!(fs::symlink_metadata(&entry).expect("entry").is_file());
    }

    #[test]
    fn compile_cache_another_engine_config_is_another_key() {
        let tmp = TempDir::new("config");
        let cache = CompileCache::Dir(tmp.cache());
        let bytes = component(7);
        let host = engine();
        let mut config = Config::new();
        config.wasm_component_model(true);
        // Without epoch interruption the compiled code has no epoch checks: it must not be reused.
        config.epoch_interruption(false);
        let other = Engine::new(&config).expect("engine");

        assert_ne!(entry_key(&host, &bytes), entry_key(&other, &bytes));
        assert_eq!(entry_key(&host, &bytes), entry_key(&engine(), &bytes));
        assert_eq!(
            load(&cache, &host, &bytes).1,
            Outcome::Miss { stored: true }
        );
        let (component, outcome) = load(&cache, &other, &bytes);
        assert_eq!(outcome, Outcome::Miss { stored: true });
        assert_eq!(answer(&other, &component), 42);
        assert_eq!(entries(&tmp.cache()).len(), 2);
        assert_eq!(load(&cache, &host, &bytes).1, Outcome::Hit);
        assert_eq!(load(&cache, &other, &bytes).1, Outcome::Hit);
    }

    #[test]
    fn compile_cache_eviction_keeps_the_newest() {
        let tmp = TempDir::new("evict");
        let dir = tmp.cache();
        let engine = engine();
        let keep = 3;
        let cache = DirCache { dir: &dir, keep };
        prepare_dir(&dir).expect("dir");

        // A stale temporary file (a writer that died) and a fresh one (a writer at work).
        let stale = dir.join(format!("{TEMP_PREFIX}dead"));
        let fresh = dir.join(format!("{TEMP_PREFIX}busy"));
        for (path, age) in [(&stale, 7200), (&fresh, 10)] {
            File::create(path)
                .and_then(|f| f.set_modified(SystemTime::now() - Duration::from_secs(age)))
                .expect("temp file");
        }

        // Entries with distinct, increasing modification times (component 10 is the oldest).
        let mut names = Vec::new();
        for (i, salt) in (10..16).enumerate() {
            let bytes = component(salt);
            let outcome = cache.load(&engine, &bytes).expect("load").outcome;
            assert_eq!(outcome, Outcome::Miss { stored: true });
            let name = dir.join(entry_name(&entry_key(&engine, &bytes)));
            File::options()
                .write(true)
                .open(&name)
                .and_then(|f| {
                    f.set_modified(SystemTime::now() - Duration::from_secs(1000 - i as u64 * 10))
                })
                .expect("set mtime");
            names.push(name);
        }
        // The last write evicted down to `keep`; the newest survive.
        let mut newest: Vec<PathBuf> = names[names.len() - keep..].to_vec();
        newest.sort();
        assert_eq!(entries(&dir), newest);
        assert!(!stale.exists(), "a stale temporary file is deleted");
        assert!(
            fresh.exists(),
            "a temporary file being written is left alone"
        );

        // A hit makes the oldest survivor the newest: the next write evicts another one.
        let survivor = component(13);
        assert_eq!(
            cache.load(&engine, &survivor).expect("load").outcome,
            Outcome::Hit
        );
        cache.load(&engine, &component(20)).expect("load");
        let left = entries(&dir);
        assert_eq!(left.len(), keep);
        assert!(left.contains(&dir.join(entry_name(&entry_key(&engine, &survivor)))));
        assert!(!left.contains(&names[4]), "the oldest after the hit went");

        assert_eq!(KEEP_ENTRIES, 16);
    }

    #[test]
    fn compile_cache_settings_and_default_location() {
        assert_eq!(CompileCache::parse_setting("off"), Ok(CompileCache::Off));
        assert_eq!(
            CompileCache::parse_setting("./off"),
            Ok(CompileCache::Dir(PathBuf::from("./off")))
        );
        assert!(CompileCache::parse_setting("").is_err());
        let os = |s: &str| Some(OsString::from(s));
        assert_eq!(
            default_dir(os("/x/cache"), os("/home/u")),
            Some(PathBuf::from("/x/cache/klairr/components"))
        );
        assert_eq!(
            default_dir(os("relative"), os("/home/u")),
            Some(PathBuf::from("/home/u/.cache/klairr/components"))
        );
        assert_eq!(
            default_dir(None, os("/home/u")),
            Some(PathBuf::from("/home/u/.cache/klairr/components"))
        );
        assert_eq!(default_dir(None, os("")), None);
        assert_eq!(default_dir(None, None), None);
        assert_eq!(shell_quote(Path::new("/a/b-c.d")), "/a/b-c.d");
        assert_eq!(shell_quote(Path::new("/a b/it's")), r"'/a b/it'\''s'");
    }

    #[test]
    fn compile_cache_off_and_invalid_components() {
        let engine = engine();
        let (component, outcome) = load(&CompileCache::Off, &engine, &component(8));
        assert_eq!(outcome, Outcome::Off);
        assert_eq!(answer(&engine, &component), 42);

        let tmp = TempDir::new("invalid");
        let err = CompileCache::Dir(tmp.cache())
            .load(&engine, b"\0asm not really")
            .err()
            .expect("invalid bytes are an error");
        assert!(matches!(err, CompileCacheError::Compile(_)), "{err}");
        assert!(entries(&tmp.cache()).is_empty(), "nothing stored");
    }
}
