//! Progress of a long query on a terminal: a spinner on stderr with the requests made, the rows found
//! and the time so far, as the connector reports them (`klairr:connector/progress`). Only for people:
//! never in a machine format, never when stderr is not a terminal, and cleared before the result is
//! printed, so what a script reads is the same with or without it.

use crate::sandbox::{Progress, ProgressSink};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// The spinner on screen, if any: a line logged while it is drawn ([`write_beside`]) is written with
/// it hidden, so that it is not glued to the spinner's last frame.
static SHOWN: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Run `write` (a line on stderr) with the spinner, if one is drawn, taken off the screen meanwhile
/// and drawn again after; without one, just run it. The CLI's warnings go through this (`log_line`).
pub(crate) fn write_beside(write: impl FnOnce()) {
    let shown = SHOWN.lock().unwrap_or_else(PoisonError::into_inner).clone();
    match shown {
        Some(bar) => bar.suspend(write),
        None => write(),
    }
}

/// A spinner while a call runs; cleared when dropped.
pub struct Spinner {
    bar: ProgressBar,
}

impl Spinner {
    /// A spinner on stderr, or `None` when nobody would see it (`show` false: stderr is not a terminal,
    /// or the output is for a program).
    pub fn on_stderr(show: bool) -> Option<Spinner> {
        if !show {
            return None;
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        // The template is a constant; were it ever refused, the spinner's default style is fine too.
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
            bar.set_style(style);
        }
        bar.set_message("starting");
        // The first report can take a page's round trip: tick meanwhile so the spinner moves.
        bar.enable_steady_tick(Duration::from_millis(120));
        interrupted::erase_the_line();
        *SHOWN.lock().unwrap_or_else(PoisonError::into_inner) = Some(bar.clone());
        Some(Spinner { bar })
    }

    /// What the connector reports goes to the spinner. Numbers only: nothing a component sends can
    /// write text to the terminal.
    pub fn sink(&self) -> ProgressSink {
        let bar = self.bar.clone();
        Arc::new(move |p: Progress| bar.set_message(message(p)))
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        SHOWN.lock().unwrap_or_else(PoisonError::into_inner).take();
        self.bar.finish_and_clear();
        interrupted::leave_the_line();
    }
}

/// Ctrl-C, or a `kill`, while the spinner is drawn: its line is erased before the process goes, as it
/// is before a result (QA: an interrupted query left `⠲ 7 requests, 500 rows so far` on the screen).
/// The process still ends by the signal, as it would without the spinner. Only a signal at its
/// default disposition is taken over: one the process was started ignoring (`nohup`), or one some
/// other code handles, is never touched.
mod interrupted {
    #[cfg(unix)]
    use std::sync::{Mutex, PoisonError};

    #[cfg(unix)]
    const SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

    /// Spinners alive, and the dispositions the first one replaced (to put back when the last goes).
    #[cfg(unix)]
    static TAKEN: Mutex<(usize, Vec<(libc::c_int, libc::sigaction)>)> = Mutex::new((0, Vec::new()));

    #[cfg(unix)]
    extern "C" fn erase_then_end(signal: libc::c_int) {
        const ERASE: &[u8] = b"\r\x1b[2K";
        // SAFETY: write, signal and raise are async-signal-safe; the bytes are a constant.
        unsafe {
            libc::write(libc::STDERR_FILENO, ERASE.as_ptr().cast(), ERASE.len());
            libc::signal(signal, libc::SIG_DFL);
            libc::raise(signal);
        }
    }

    /// From now on a signal that would end the process erases the spinner's line first.
    pub(super) fn erase_the_line() {
        #[cfg(unix)]
        {
            let mut taken = TAKEN.lock().unwrap_or_else(PoisonError::into_inner);
            taken.0 += 1;
            if taken.0 > 1 {
                return;
            }
            for signal in SIGNALS {
                // The current disposition is read first and replaced only when it is the default,
                // so an ignored signal is never, even briefly, fatal.
                let Some(before) = crate::signal_action::current(signal)
                    .filter(|a| a.sa_sigaction == libc::SIG_DFL)
                else {
                    continue;
                };
                // SAFETY: sigaction reads the struct given; the handler only calls
                // async-signal-safe functions.
                unsafe {
                    let mut ours: libc::sigaction = std::mem::zeroed();
                    ours.sa_sigaction =
                        erase_then_end as extern "C" fn(libc::c_int) as libc::sighandler_t;
                    libc::sigemptyset(&mut ours.sa_mask);
                    if libc::sigaction(signal, &ours, std::ptr::null_mut()) == 0 {
                        taken.1.push((signal, before));
                    }
                }
            }
        }
    }

    /// A spinner is gone: once none is left, signals end the process as before.
    pub(super) fn leave_the_line() {
        #[cfg(unix)]
        {
            let mut taken = TAKEN.lock().unwrap_or_else(PoisonError::into_inner);
            taken.0 = taken.0.saturating_sub(1);
            if taken.0 > 0 {
                return;
            }
            for (signal, before) in taken.1.drain(..) {
                // SAFETY: puts back the disposition read before this module replaced it.
                unsafe {
                    libc::sigaction(signal, &before, std::ptr::null_mut());
                }
            }
        }
    }
}

fn message(p: Progress) -> String {
    format!(
        "{} request{}, {} row{} so far",
        p.requests,
        if p.requests == 1 { "" } else { "s" },
        p.rows,
        if p.rows == 1 { "" } else { "s" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_counts_requests_and_rows() {
        assert_eq!(
            message(Progress {
                requests: 1,
                rows: 100
            }),
            "1 request, 100 rows so far"
        );
        assert_eq!(
            message(Progress {
                requests: 42,
                rows: 1
            }),
            "42 requests, 1 row so far"
        );
    }

    #[test]
    fn nothing_is_drawn_for_a_program() {
        assert!(Spinner::on_stderr(false).is_none());
    }

    /// A signal at its default is taken while a spinner shows and given back when the last goes; one
    /// the process ignores (`nohup`) is never touched (review: it was briefly fatal, and reinstalled
    /// with `signal`).
    #[cfg(unix)]
    #[test]
    fn only_a_default_disposition_is_taken_and_it_is_given_back() {
        let disposition = |signal| {
            crate::signal_action::current(signal)
                .expect("readable")
                .sa_sigaction
        };
        // SAFETY: this test's process ignores SIGHUP for the test's length, then takes the default back.
        unsafe { libc::signal(libc::SIGHUP, libc::SIG_IGN) };
        let int_before = disposition(libc::SIGINT);
        interrupted::erase_the_line();
        interrupted::erase_the_line();
        assert_eq!(disposition(libc::SIGHUP), libc::SIG_IGN);
        if int_before == libc::SIG_DFL {
            assert_ne!(disposition(libc::SIGINT), libc::SIG_DFL);
        }
        interrupted::leave_the_line();
        if int_before == libc::SIG_DFL {
            assert_ne!(
                disposition(libc::SIGINT),
                libc::SIG_DFL,
                "one spinner is left"
            );
        }
        interrupted::leave_the_line();
        assert_eq!(disposition(libc::SIGINT), int_before);
        assert_eq!(disposition(libc::SIGHUP), libc::SIG_IGN);
        // SAFETY: as above.
        unsafe { libc::signal(libc::SIGHUP, libc::SIG_DFL) };
    }
}
