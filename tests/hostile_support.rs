//! Helpers shared by the security tests (`hostile_guest.rs`, `hostile_upstreams.rs`): made-up keys, CLI
//! runs of the hostile component, a `--format json` failure's kind and message, the call-deadline check,
//! and the scan for terminal controls.

use crate::hostile_upstream::{hostile_component, Upstream};
use crate::{run_cli, CliRun};
use std::time::{Duration, Instant};

/// `prefix` + 100 letters and digits from a xorshift sequence started at `state` (not 0): a made-up key
/// of real length.
pub fn xorshift_key(prefix: &str, mut state: u64) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let body: String = (0..100)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from(ALPHABET[(state % ALPHABET.len() as u64) as usize])
        })
        .collect();
    format!("{prefix}{body}")
}

/// `klairr-host --component <hostile> --stripe-base <upstream> ARGS` with STRIPE_API_KEY = `key`.
pub fn hostile(upstream: &Upstream, args: &[&str], key: &str) -> CliRun {
    let base = upstream.base_url();
    let mut all = vec!["--component", hostile_component(), "--stripe-base", &base];
    all.extend_from_slice(args);
    run_cli(&all, Some(key))
}

/// (kind, message) of a `--format json` failure.
pub fn json_error(run: &CliRun) -> (String, String) {
    let v = run.json();
    let field = |name: &str| {
        v["error"][name]
            .as_str()
            .unwrap_or_else(|| panic!("no error.{name} in {v}"))
            .to_owned()
    };
    (field("kind"), field("message"))
}

/// `run` given `--call-timeout <timeout> --format json query <query>` must fail at the call deadline:
/// exit 1, a `deadline` error saying so, within a few seconds of it.
pub fn assert_ends_at_the_deadline(timeout: u64, query: &str, run: impl FnOnce(&[&str]) -> CliRun) {
    let started = Instant::now();
    let run = run(&[
        "--call-timeout",
        &timeout.to_string(),
        "--format",
        "json",
        "query",
        query,
    ]);
    let elapsed = started.elapsed();
    eprintln!("--call-timeout {timeout}: the CLI returned after {elapsed:?}");
    assert_eq!(run.code, 1, "{run:?}");
    let (kind, message) = json_error(&run);
    assert_eq!(kind, "deadline", "{message}");
    assert!(message.contains("deadline"), "{message}");
    assert!(
        elapsed < Duration::from_secs(timeout + 5),
        "stopped only after {elapsed:?}"
    );
}

/// The terminal escape sequences the tests inject (through a guest or an upstream): CSI (red), OSC (set
/// the window title, ended by BEL), and an 8-bit C1 CSI.
pub const ESCAPES: &str = "\u{1b}[31mred\u{1b}]0;pwned\u{7} c1\u{9b}2J";

/// Whether the text holds a character a terminal would act on: ESC, BEL or a C1 control.
pub fn has_terminal_control(text: &str) -> bool {
    text.chars()
        .any(|c| c == '\u{1b}' || c == '\u{7}' || ('\u{80}'..='\u{9f}').contains(&c))
}

/// Neither stdout nor stderr of `run` holds a terminal control.
pub fn assert_no_terminal_control(run: &CliRun) {
    for (name, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        assert!(
            !has_terminal_control(text),
            "a terminal control on {name}: {text:?}"
        );
    }
}
