//! What the host asks of the operating system for its own process, before anything else runs.

/// A write past the file-size limit (`ulimit -f`) fails with `EFBIG` instead of killing the process
/// with SIGXFSZ: the files the host writes are optional (a compile-cache entry, a memory record), and a
/// failed write of one is a warning, where the signal ended the command with no word at all.
pub(super) fn ignore_file_size_signal() {
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to SIG_IGN installs no handler; it is done before any
    // thread of the host's starts.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}

/// The process never leaves a core dump: its memory holds the live key and customer rows (QA: a
/// SIGQUIT in `serve` wrote a 19 MB core with 15 copies of the key and the rows' emails). The soft
/// and hard core-size limits are set to 0 (a core-dump pipe such as systemd-coredump is handed that
/// limit and honours it), and on Linux the process is also not dumpable: with the default
/// `fs.suid_dumpable` of 0 no core is made at all, and other processes of the same user cannot
/// attach to it with ptrace.
pub(super) fn forbid_core_dumps() {
    #[cfg(unix)]
    {
        let none = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: setrlimit reads the struct it is given; lowering a limit always succeeds.
        unsafe {
            libc::setrlimit(libc::RLIMIT_CORE, &none);
        }
    }
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_DUMPABLE takes one integer argument and changes only this process's flag.
    unsafe {
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
}

// Linux only (PR_GET_DUMPABLE). It leaves this test process without core dumps, which no other
// test of the crate depends on; the process-level proof is in the end-to-end tests.
#[cfg(all(test, target_os = "linux"))]
mod tests {
    #[test]
    fn the_process_leaves_no_core_dump() {
        super::forbid_core_dumps();
        let mut limit = libc::rlimit {
            rlim_cur: 1,
            rlim_max: 1,
        };
        // SAFETY: getrlimit writes the struct it is given; prctl(PR_GET_DUMPABLE) takes no argument.
        let (got, dumpable) = unsafe {
            (
                libc::getrlimit(libc::RLIMIT_CORE, &mut limit),
                libc::prctl(libc::PR_GET_DUMPABLE),
            )
        };
        assert_eq!(got, 0);
        assert_eq!((limit.rlim_cur, limit.rlim_max), (0, 0));
        assert_eq!(dumpable, 0, "not dumpable");
    }
}
