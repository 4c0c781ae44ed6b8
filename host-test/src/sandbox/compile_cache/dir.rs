//! Directory and file safety (this user's own, mode 0700, no symlinks followed), and eviction with the
//! cleanup of temporary files left behind.
//!
//! The directory is opened once and checked on that descriptor; every entry is then opened, written,
//! renamed, listed and deleted relative to it (`openat`, `renameat`, `unlinkat`, `fstatat`), never
//! through the path again. A path others can repoint (a symlink, a directory above the cache in a place
//! others write) cannot send a later step to a directory that was never checked: the descriptor names the
//! directory that was.

use super::entry::is_entry_name;
use super::{shell_quote, CompileCacheError, DirCache};
use rustix::fs::{AtFlags, Mode, OFlags};
use std::ffi::OsStr;
use std::fs::{self, File};
use std::io;
use std::os::fd::OwnedFd;
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
        let Ok(names) = list(&self.fd, usize::MAX) else {
            return;
        };
        let now = SystemTime::now();
        // Another process may write a file between `now` and its listing: a time that far ahead is
        // this moment, not a clock set back.
        let present = now + Duration::from_secs(60);
        let mut entries = Vec::new();
        for name in names {
            let Some(name) = name.to_str() else { continue };
            if !is_entry_name(name) && !is_temp_name(name) {
                continue;
            }
            // Not following a symlink: only the directory's own regular files are considered.
            let Ok(meta) = self.metadata(name) else {
                continue;
            };
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
            } else {
                // Stale when written over an hour ago, or dated over an hour ahead; a file another
                // process is writing right now is neither.
                let age = match now.duration_since(modified) {
                    Ok(age) => age,
                    Err(ahead) => ahead.duration(),
                };
                if age > STALE_TEMP {
                    let _ = self.remove(name);
                }
            }
        }
        entries.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        for (_, name) in entries.into_iter().skip(self.keep.saturating_sub(1)) {
            let _ = self.remove(&name);
        }
    }

    /// Open the entry `name` of this directory for reading, not following a symlink.
    pub(super) fn open_entry(&self, name: &str) -> io::Result<File> {
        // Opened for reading only; the hit path then sets the modification time, which the owner may do
        // through any descriptor.
        // Non-blocking: a FIFO planted under an entry's name would otherwise block the open until a
        // writer came; it is then refused as not a regular file. (Regular files ignore the flag.)
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        Ok(File::from(rustix::fs::openat(
            &self.fd,
            name,
            flags,
            Mode::empty(),
        )?))
    }

    /// What the directory's `name` is (a symlink is not followed).
    fn metadata(&self, name: &str) -> io::Result<fs::Metadata> {
        // A path-only descriptor on Linux: opening it neither reads the file nor blocks on a FIFO.
        #[cfg(any(target_os = "linux", target_os = "android"))]
        let access = OFlags::PATH;
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        let access = OFlags::RDONLY | OFlags::NONBLOCK;
        let fd = rustix::fs::openat(
            &self.fd,
            name,
            access | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        File::from(fd).metadata()
    }

    /// Create the file `name` in this directory, mode 0600; it must not exist yet.
    pub(super) fn create_private(&self, name: &str) -> io::Result<File> {
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        Ok(File::from(rustix::fs::openat(
            &self.fd,
            name,
            flags,
            Mode::from_raw_mode(0o600),
        )?))
    }

    /// Rename `from` to `to`, both in this directory (replacing `to`).
    pub(super) fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        Ok(rustix::fs::renameat(&self.fd, from, &self.fd, to)?)
    }

    /// Delete the file `name` of this directory.
    pub(super) fn remove(&self, name: &str) -> io::Result<()> {
        Ok(rustix::fs::unlinkat(&self.fd, name, AtFlags::empty())?)
    }
}

/// The names in the directory open as `fd` (`.` and `..` left out), at most `limit` of them.
fn list(fd: &OwnedFd, limit: usize) -> io::Result<Vec<std::ffi::OsString>> {
    use std::os::unix::ffi::OsStrExt;
    // The directory itself, opened anew for reading: `fd` may be a path-only descriptor.
    let readable = rustix::fs::openat(
        fd,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut names = Vec::new();
    for item in rustix::fs::Dir::new(readable)? {
        if names.len() == limit {
            break;
        }
        let name = item?.file_name().to_bytes().to_vec();
        if name != b"." && name != b".." {
            names.push(OsStr::from_bytes(&name).to_owned());
        }
    }
    Ok(names)
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

/// Create `dir` (mode 0700) if it does not exist, open it, and [`check_dir`] what was opened: the
/// descriptor returned is the directory every later step of the cache goes through.
pub(super) fn prepare_dir(dir: &Path) -> Result<OwnedFd, CompileCacheError> {
    let io_error = |source| CompileCacheError::io(dir, source);
    let fd = match open_dir(dir) {
        Ok(fd) => fd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            create_dir_private(dir).map_err(io_error)?;
            open_dir(dir).map_err(|e| refused_open(dir, e))?
        }
        Err(e) => return Err(refused_open(dir, e)),
    };
    // Checked after creating too: another process may have created it first, with other permissions.
    check_dir(dir, &fd)?;
    Ok(fd)
}

/// Open the directory `dir` (following a symlink to it, as `ls` does: what is checked is where it leads)
/// for use as the base of `*at` calls. On Linux a path-only descriptor, so that a directory its owner
/// cannot read (mode 0300) is still opened and then refused with its mode, not with "permission denied".
fn open_dir(dir: &Path) -> io::Result<OwnedFd> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let access = OFlags::PATH;
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let access = OFlags::RDONLY;
    Ok(rustix::fs::open(
        dir,
        access | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// Why `dir` could not be opened as a directory: something else stands there, or an I/O error.
fn refused_open(dir: &Path, e: io::Error) -> CompileCacheError {
    let not_a_directory = e.kind() == io::ErrorKind::NotADirectory
        && fs::metadata(dir).is_ok_and(|meta| !meta.is_dir());
    if not_a_directory {
        CompileCacheError::NotADirectory {
            path: dir.to_owned(),
        }
    } else {
        CompileCacheError::io(dir, e)
    }
}

/// Create `dir` and every missing directory above it, each with mode 0700, whatever the umask: it may
/// take bits off (0600 is a directory its owner cannot enter, and under umask 0777 a parent created 000
/// would stop the next one from being created in it). A directory another process creates meanwhile is
/// left as it is ([`check_dir`] judges the cache's own).
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

/// The directory must be this user's own and closed to group and others (mode 0700).
fn check_dir(dir: &Path, fd: &OwnedFd) -> Result<(), CompileCacheError> {
    let stat = rustix::fs::fstat(fd).map_err(|e| CompileCacheError::io(dir, e.into()))?;
    if rustix::fs::FileType::from_raw_mode(stat.st_mode) != rustix::fs::FileType::Directory {
        return Err(CompileCacheError::NotADirectory {
            path: dir.to_owned(),
        });
    }
    let me = rustix::process::geteuid().as_raw();
    if stat.st_uid != me {
        return Err(CompileCacheError::UnsafeDir {
            path: dir.to_owned(),
            why: format!(
                "belongs to user id {}, not to you (user id {me})",
                stat.st_uid
            ),
            fix: only_for_a_cache(
                fd,
                format!(
                    "its owner (or root) may run `chown {me} {dir} && chmod 700 {dir}`",
                    dir = shell_quote(dir)
                ),
            ),
        });
    }
    let mode = stat.st_mode & 0o7777;
    if mode & 0o077 != 0 {
        return Err(CompileCacheError::UnsafeDir {
            path: dir.to_owned(),
            why: format!("has mode {mode:04o}, open to other users (it must be 0700)"),
            fix: only_for_a_cache(fd, format!("run `chmod 700 {}`", shell_quote(dir))),
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
            fix: only_for_a_cache(fd, format!("run `chmod 700 {}`", shell_quote(dir))),
        });
    }
    Ok(())
}

/// `fix` (a `chmod`, a `chown`) when the directory holds nothing but what the cache writes. Any other
/// (`/`, `/tmp`, a home directory typed by mistake) has other uses, which closing it would break: the
/// cache wants a directory of its own.
fn only_for_a_cache(fd: &OwnedFd, fix: String) -> String {
    if holds_only_cache_files(fd) {
        format!("{fix}, or {ELSEWHERE}")
    } else {
        format!(
            "it holds other files, so it is not a directory for the cache alone and its permissions \
             are not the cache's to change: {ELSEWHERE}"
        )
    }
}

/// The way out of any unsafe directory.
const ELSEWHERE: &str =
    "choose another directory with --compile-cache DIR (one that does not exist \
     yet is created with mode 0700), or --compile-cache off";

/// Whether the directory is empty or holds only entries and temporary files (an unreadable directory
/// holds something else as far as anyone can tell).
fn holds_only_cache_files(fd: &OwnedFd) -> bool {
    list(fd, 10_000).is_ok_and(|names| {
        names.iter().all(|name| {
            name.to_str()
                .is_some_and(|name| is_entry_name(name) || is_temp_name(name))
        })
    })
}

/// An entry must be a regular file of this user's that nobody else may write.
pub(super) fn check_entry_file(meta: &fs::Metadata) -> Result<(), String> {
    crate::own_file::check(meta, crate::own_file::ClosedTo::Writes).map_err(|e| e.to_string())
}
