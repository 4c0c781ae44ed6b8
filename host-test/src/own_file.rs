//! Files the host keeps for the user — compile cache entries, the memory file — must be the user's
//! own: a regular file of this user, with one name, that other users may not change (nor, for the
//! memory file, read). One rule, checked on the open file's metadata, never on a path a symlink could
//! redirect; each caller says what to do about it.

use std::fmt;

/// What other users must not be able to do to the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ClosedTo {
    /// Write it (a cache entry: compiled code only the user may have made).
    Writes,
    /// Read or write it (the memory file: which tables a team asks about is its own business).
    ReadsAndWrites,
}

/// Why a file is not the user's own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum NotOwn {
    /// A FIFO, a terminal, a device or a directory.
    NotRegular,
    /// Another user's file.
    Owner { uid: u32, me: u32 },
    /// Another name for the same file, perhaps outside the directory, could change it behind the checks.
    Links(u64),
    /// Open to other users in a way `ClosedTo` forbids.
    Mode { mode: u32, closed: ClosedTo },
}

impl fmt::Display for NotOwn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotOwn::NotRegular => f.write_str("it is not a regular file"),
            NotOwn::Owner { uid, me } => {
                write!(f, "it belongs to user id {uid}, not to you (user id {me})")
            }
            NotOwn::Links(n) => write!(f, "it has {n} names (hard links)"),
            NotOwn::Mode {
                mode,
                closed: ClosedTo::Writes,
            } => write!(f, "it is writable by other users (mode {mode:04o})"),
            NotOwn::Mode {
                mode,
                closed: ClosedTo::ReadsAndWrites,
            } => write!(f, "it has mode {mode:04o}, open to other users"),
        }
    }
}

/// Whether the file of `meta` is this user's own, closed to others as `closed` says.
#[cfg(unix)]
pub(crate) fn check(meta: &std::fs::Metadata, closed: ClosedTo) -> Result<(), NotOwn> {
    use std::os::unix::fs::MetadataExt;
    if !meta.is_file() {
        return Err(NotOwn::NotRegular);
    }
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me {
        return Err(NotOwn::Owner {
            uid: meta.uid(),
            me,
        });
    }
    if meta.nlink() > 1 {
        return Err(NotOwn::Links(meta.nlink()));
    }
    let mode = meta.mode() & 0o7777;
    let forbidden = match closed {
        ClosedTo::Writes => 0o022,
        ClosedTo::ReadsAndWrites => 0o077,
    };
    if mode & forbidden != 0 {
        return Err(NotOwn::Mode { mode, closed });
    }
    Ok(())
}
