//! Directory and file safety (this user's own, mode 0700, no symlinks followed), and eviction with the
//! cleanup of temporary files left behind.

use super::entry::is_entry_name;
use super::{shell_quote, CompileCacheError, DirCache};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// Temporary files being written are `.tmp-…`: never read, and deleted once older than [`STALE_TEMP`]
/// (left behind by a process that died while writing).
pub(super) const TEMP_PREFIX: &str = ".tmp-";
const STALE_TEMP: Duration = Duration::from_secs(3600);

impl DirCache<'_> {
    /// Keep the newest `keep` entries, and always `just_written`; delete temporary files left by
    /// processes that died writing. Only what this code writes is ever deleted: regular files named as
    /// an entry (lower-case hex) or as one of its temporary files — a file of the user's own in a
    /// directory given as the cache stays. A modification time in the future (a clock set back, a
    /// directory copied from another machine) counts as the oldest, so such entries cannot crowd out
    /// the ones in use. Best effort: another process may be evicting the same files.
    pub(super) fn evict(&self, just_written: &str) {
        let Ok(listing) = fs::read_dir(self.dir) else {
            return;
        };
        let now = SystemTime::now();
        // Another process may write a file between `now` and its listing: a time that far ahead is
        // this moment, not a clock set back.
        let present = now + Duration::from_secs(60);
        let mut entries = Vec::new();
        for item in listing.flatten() {
            let name = item.file_name();
            let Some(name) = name.to_str() else { continue };
            // `DirEntry::metadata` does not follow symlinks.
            let Ok(meta) = item.metadata() else { continue };
            if !meta.is_file() {
                continue;
            }
            let Ok(modified) = meta.modified() else {
                continue;
            };
            if is_entry_name(name) {
                if name != just_written {
                    let modified = if modified <= present {
                        modified
                    } else {
                        SystemTime::UNIX_EPOCH
                    };
                    entries.push((modified, name.to_owned()));
                }
            } else if is_temp_name(name) {
                // Stale when written over an hour ago, or dated over an hour ahead; a file another
                // process is writing right now is neither.
                let age = match now.duration_since(modified) {
                    Ok(age) => age,
                    Err(ahead) => ahead.duration(),
                };
                if age > STALE_TEMP {
                    let _ = fs::remove_file(item.path());
                }
            }
        }
        entries.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        for (_, name) in entries.into_iter().skip(self.keep.saturating_sub(1)) {
            let _ = fs::remove_file(self.dir.join(name));
        }
    }
}

/// A temporary file's name as `DirCache::store` makes it: `.tmp-<pid>-<nanoseconds>-<sequence>`.
pub(super) fn is_temp_name(name: &str) -> bool {
    name.strip_prefix(TEMP_PREFIX).is_some_and(|rest| {
        let parts: Vec<&str> = rest.split('-').collect();
        parts.len() == 3
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// Create `dir` (mode 0700) if it does not exist, then [`check_dir`] it.
pub(super) fn prepare_dir(dir: &Path) -> Result<(), CompileCacheError> {
    let io_error = |source| CompileCacheError::io(dir, source);
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

/// Create `dir` and every missing directory above it, each with mode 0700, whatever the umask: it may
/// take bits off (0600 is a directory its owner cannot enter, and under umask 0777 a parent created 000
/// would stop the next one from being created in it). A directory another process creates meanwhile is
/// left as it is ([`check_dir`] judges the cache's own).
#[cfg(unix)]
fn create_dir_private(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let missing: Vec<&Path> = dir
        .ancestors()
        .filter(|d| !d.as_os_str().is_empty())
        .take_while(|d| matches!(fs::metadata(d), Err(e) if e.kind() == io::ErrorKind::NotFound))
        .collect();
    for d in missing.into_iter().rev() {
        match fs::DirBuilder::new().mode(0o700).create(d) {
            Ok(()) => fs::set_permissions(d, fs::Permissions::from_mode(0o700))?,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(unix)]
pub(super) fn create_private(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(unix)]
pub(super) fn open_no_follow(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .read(true)
        // Opened for reading only; the hit path then sets the modification time, which the owner may do
        // through any descriptor.
        // Non-blocking: a FIFO planted under an entry's name would otherwise block the open until a
        // writer came; it is then refused as not a regular file. (Regular files ignore the flag.)
        .custom_flags((rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32)
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
            fix: only_for_a_cache(
                dir,
                format!(
                    "its owner (or root) may run `chown {me} {dir} && chmod 700 {dir}`",
                    dir = shell_quote(dir)
                ),
            ),
        });
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(CompileCacheError::UnsafeDir {
            path: dir.to_owned(),
            why: format!("has mode {mode:04o}, open to other users (it must be 0700)"),
            fix: only_for_a_cache(dir, format!("run `chmod 700 {}`", shell_quote(dir))),
        });
    }
    // Safe but unusable (0600, 0500): every entry would fail to open or to be written, one warning
    // after another, and the component would be compiled on every call.
    if mode & 0o700 != 0o700 {
        return Err(CompileCacheError::UnsafeDir {
            path: dir.to_owned(),
            why: format!(
                "has mode {mode:04o}: you cannot read, write and enter it (it must be 0700)"
            ),
            fix: only_for_a_cache(dir, format!("run `chmod 700 {}`", shell_quote(dir))),
        });
    }
    Ok(())
}

/// `fix` (a `chmod`, a `chown`) when the directory holds nothing but what the cache writes. Any other
/// (`/`, `/tmp`, a home directory typed by mistake) has other uses, which closing it would break: the
/// cache wants a directory of its own.
#[cfg(unix)]
fn only_for_a_cache(dir: &Path, fix: String) -> String {
    if holds_only_cache_files(dir) {
        format!("{fix}, or {ELSEWHERE}")
    } else {
        format!(
            "it holds other files, so it is not a directory for the cache alone and its permissions \
             are not the cache's to change: {ELSEWHERE}"
        )
    }
}

/// The way out of any unsafe directory.
#[cfg(unix)]
const ELSEWHERE: &str =
    "choose another directory with --compile-cache DIR (one that does not exist \
     yet is created with mode 0700), or --compile-cache off";

/// Whether `dir` is empty or holds only entries and temporary files (an unreadable directory holds
/// something else as far as anyone can tell).
#[cfg(unix)]
fn holds_only_cache_files(dir: &Path) -> bool {
    let Ok(listing) = fs::read_dir(dir) else {
        return false;
    };
    listing.take(10_000).all(|item| {
        item.ok()
            .and_then(|item| item.file_name().into_string().ok())
            .is_some_and(|name| is_entry_name(&name) || is_temp_name(&name))
    })
}

/// An entry must be a regular file of this user's that nobody else may write.
#[cfg(unix)]
pub(super) fn check_entry_file(meta: &fs::Metadata) -> Result<(), String> {
    crate::own_file::check(meta, crate::own_file::ClosedTo::Writes).map_err(|e| e.to_string())
}

#[cfg(not(unix))]
fn create_dir_private(_dir: &Path) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "the compile cache needs Unix permissions",
    ))
}

#[cfg(not(unix))]
pub(super) fn create_private(_path: &Path) -> io::Result<File> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "the compile cache needs Unix permissions",
    ))
}

#[cfg(not(unix))]
pub(super) fn open_no_follow(_path: &Path) -> io::Result<File> {
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
pub(super) fn check_entry_file(_meta: &fs::Metadata) -> Result<(), String> {
    Err("the compile cache needs Unix permissions".to_owned())
}
