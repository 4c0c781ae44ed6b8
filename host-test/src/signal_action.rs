//! What a signal does now, read without changing it: the spinner takes over only a signal at its
//! default (`progress_bar`), and `serve` leaves ignored a SIGINT it was started ignoring.

/// The current action for `signal` (its handler, `SIG_DFL` or `SIG_IGN`, and its flags), or `None`
/// if it cannot be read.
#[cfg(unix)]
pub(crate) fn current(signal: libc::c_int) -> Option<libc::sigaction> {
    // SAFETY: sigaction with no new action only writes the current one into the zeroed struct.
    unsafe {
        let mut now: libc::sigaction = std::mem::zeroed();
        (libc::sigaction(signal, std::ptr::null(), &mut now) == 0).then_some(now)
    }
}

/// Whether `signal` is ignored now.
#[cfg(unix)]
pub(crate) fn is_ignored(signal: libc::c_int) -> bool {
    current(signal).is_some_and(|a| a.sa_sigaction == libc::SIG_IGN)
}
