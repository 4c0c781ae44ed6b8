//! Progress of a long query on a terminal: a spinner on stderr with the requests made, the rows found
//! and the time so far, as the connector reports them (`klairr:connector/progress`). Only for people:
//! never in a machine format, never when stderr is not a terminal, and cleared before the result is
//! printed, so what a script reads is the same with or without it.

use crate::sandbox::{Progress, ProgressSink};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::Arc;
use std::time::Duration;

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
        self.bar.finish_and_clear();
        interrupted::leave_the_line();
    }
}

/// Ctrl-C, or a `kill`, while the spinner is drawn: its line is erased before the process goes, as it
/// is before a result (QA: an interrupted query left `⠲ 7 requests, 500 rows so far` on the screen).
/// The process still ends by the signal, as it would without the spinner.
mod interrupted {
    #[cfg(unix)]
    const SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

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

    /// From now on a signal that would end the process erases the spinner's line first. A signal
    /// the process was started ignoring (`nohup`) stays ignored.
    pub(super) fn erase_the_line() {
        #[cfg(unix)]
        for signal in SIGNALS {
            // SAFETY: the handler only calls async-signal-safe functions; the disposition is read
            // back and kept when it was not the default.
            unsafe {
                let handler = erase_then_end as extern "C" fn(libc::c_int) as libc::sighandler_t;
                let before = libc::signal(signal, handler);
                if before != libc::SIG_DFL {
                    libc::signal(signal, before);
                }
            }
        }
    }

    /// The spinner is gone: signals end the process as before.
    pub(super) fn leave_the_line() {
        #[cfg(unix)]
        for signal in SIGNALS {
            let handler = erase_then_end as extern "C" fn(libc::c_int) as libc::sighandler_t;
            // SAFETY: only this module's handler is replaced, by the default it replaced.
            unsafe {
                let before = libc::signal(signal, libc::SIG_DFL);
                if before != handler {
                    libc::signal(signal, before);
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
}
