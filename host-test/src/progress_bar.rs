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
