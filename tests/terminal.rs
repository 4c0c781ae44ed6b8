//! `klairr-host` on a real terminal: the progress spinner of a long query (README, "CLI"). The binary
//! runs as a process (`klairr-host-under-test`, whose `main` is `klairr-host`'s) with its stderr — and, where
//! the order of what is drawn matters, its stdout — on a pseudo terminal, and the tests read what a person
//! would have seen:
//!
//! - a query in table format shows `N requests, M rows so far` while it runs and clears it before the
//!   result is printed;
//! - machine formats, and a stderr that is not a terminal, get no progress at all;
//! - a hostile component cannot put the credential on the terminal through the progress import: the
//!   offline credential check's reports go nowhere, and a query's are only ever numbers.
//!
//! Linux only: the pseudo terminal is read until the kernel says its last writer is gone (EIO).
#![cfg(target_os = "linux")]

use klairr_e2e::hostile_support::xorshift_key;
use klairr_e2e::hostile_upstream::{hostile_component, Behaviour, Upstream};
use klairr_e2e::keys;
use klairr_host::emulator::{Emulator, EmulatorConfig, Resource};
use serde_json::json;
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::fd::FromRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::process::{Command, Stdio};
use std::thread::JoinHandle;
use std::time::Duration;

const CUSTOMERS: usize = 2000;

/// A pseudo terminal of 120 columns: the master end (what the terminal shows) and the path of the slave
/// end (what the process writes to).
struct Pty {
    master: File,
    slave: String,
}

impl Pty {
    fn open() -> Pty {
        // SAFETY: plain POSIX calls on a descriptor this function owns; every result is checked, and the
        // name is copied out of the buffer ptsname_r filled (NUL-terminated on success).
        unsafe {
            let fd = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
            assert!(fd >= 0, "posix_openpt: {}", std::io::Error::last_os_error());
            let master = File::from_raw_fd(fd);
            assert_eq!(libc::grantpt(fd), 0, "grantpt");
            assert_eq!(libc::unlockpt(fd), 0, "unlockpt");
            let mut name = [0 as libc::c_char; 128];
            assert_eq!(libc::ptsname_r(fd, name.as_mut_ptr(), name.len()), 0);
            let slave = std::ffi::CStr::from_ptr(name.as_ptr())
                .to_str()
                .expect("a UTF-8 pty name")
                .to_owned();
            let size = libc::winsize {
                ws_row: 40,
                ws_col: 120,
                ws_xpixel: 0,
                ws_ypixel: 0,
            };
            assert_eq!(libc::ioctl(fd, libc::TIOCSWINSZ, &size), 0, "TIOCSWINSZ");
            Pty { master, slave }
        }
    }

    /// A new handle on the slave end, for one of the child's standard streams.
    fn slave(&self) -> Stdio {
        OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open(&self.slave)
            .expect("open the pty's slave end")
            .into()
    }

    /// Everything the terminal receives until the last slave handle closes (Linux then answers EIO).
    fn read_all(mut self) -> JoinHandle<String> {
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                match self.master.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => seen.extend_from_slice(&buf[..n]),
                }
            }
            String::from_utf8_lossy(&seen).into_owned()
        })
    }
}

/// How a run's stdout is connected.
#[derive(Clone, Copy, PartialEq)]
enum Stdout {
    /// On the same terminal as stderr: what is drawn and printed, in order.
    Terminal,
    Piped,
}

struct Run {
    code: i32,
    /// What the terminal showed.
    terminal: String,
    /// stdout, when piped.
    stdout: String,
}

/// `klairr-host ARGS` with STRIPE_API_KEY = `key`, as a person's shell would start it (a `TERM`, no input).
fn host(args: &[&str], key: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_klairr-host-under-test"));
    command
        .args(args)
        .env("STRIPE_API_KEY", key)
        .env("TERM", "xterm-256color")
        .stdin(Stdio::null());
    command
}

/// [`host`] with stderr on a pseudo terminal, stdout as asked.
fn on_terminal(args: &[&str], key: &str, stdout: Stdout) -> Run {
    let pty = Pty::open();
    let mut command = host(args, key);
    command.stderr(pty.slave());
    command.stdout(match stdout {
        Stdout::Terminal => pty.slave(),
        Stdout::Piped => Stdio::piped(),
    });
    let mut child = command.spawn().expect("klairr-host starts");
    // The command held the only other slave handles; they are closed once it is dropped.
    drop(command);
    let terminal = pty.read_all();
    let mut out = String::new();
    if let Some(mut piped) = child.stdout.take() {
        piped.read_to_string(&mut out).expect("read stdout");
    }
    let status = child.wait().expect("klairr-host ends");
    Run {
        code: status.code().unwrap_or(-1),
        terminal: terminal.join().expect("the terminal reader"),
        stdout: out,
    }
}

/// An emulator whose every answer takes 150 ms, as Stripe's take a few hundred: a query of
/// [`CUSTOMERS`] customers runs long enough for the spinner to draw several times.
fn slow_emulator() -> Emulator {
    Emulator::start(EmulatorConfig {
        customers: CUSTOMERS,
        latency: Duration::from_millis(150),
        ..EmulatorConfig::default()
    })
    .expect("the emulator starts")
}

/// `command` running with stdout and stderr on a pseudo terminal, what it shows read as it comes: for
/// tests that act while it runs (a signal, a file changed under it).
struct Live {
    child: std::process::Child,
    shown: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    reader: JoinHandle<()>,
}

impl Live {
    fn start(mut command: Command) -> Live {
        let pty = Pty::open();
        command.stderr(pty.slave()).stdout(pty.slave());
        let child = command.spawn().expect("klairr-host starts");
        // The command held the only other slave handles; they are closed once it is dropped.
        drop(command);
        let shown = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let reader = {
            let shown = shown.clone();
            let mut master = pty.master;
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = master.read(&mut buf) {
                    shown
                        .lock()
                        .expect("not poisoned")
                        .extend_from_slice(&buf[..n]);
                }
            })
        };
        Live {
            child,
            shown,
            reader,
        }
    }

    /// Wait (a minute at most) until the terminal has shown a progress frame.
    fn wait_for_a_frame(&self) {
        let drawn = || {
            String::from_utf8_lossy(&self.shown.lock().expect("not poisoned")).contains("so far")
        };
        let waited = std::time::Instant::now();
        while !drawn() {
            assert!(
                waited.elapsed() < Duration::from_secs(60),
                "no progress was drawn"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Wait for the process to end: how it ended, and all the terminal showed.
    fn finish(mut self) -> (std::process::ExitStatus, String) {
        let status = self.child.wait().expect("klairr-host ends");
        self.reader.join().expect("the terminal reader");
        let terminal =
            String::from_utf8_lossy(&self.shown.lock().expect("not poisoned")).into_owned();
        (status, terminal)
    }
}

/// A query of `dsl` in `format`; the table shows ids only, so that none is wrapped.
fn query_args<'a>(base: &'a str, format: &'a str, dsl: &'a str) -> Vec<&'a str> {
    vec![
        "--columns",
        "id",
        "--stripe-base",
        base,
        "--compile-cache",
        "off",
        "--max-rows",
        "5000",
        "--format",
        format,
        "query",
        dsl,
    ]
}

/// The numbers of every `N requests, M rows so far` the terminal showed, in order.
fn progress_reports(terminal: &str) -> Vec<(u64, u64)> {
    let mut reports = Vec::new();
    for (at, _) in terminal.match_indices(" rows so far") {
        let before = &terminal[..at];
        let words: Vec<&str> = before.rsplit([' ', ',']).take(4).collect();
        // "…N requests, M" read backwards: M, "", "requests", N.
        if let [rows, "", "requests" | "request", requests] = words[..] {
            if let (Ok(r), Ok(n)) = (requests.parse(), rows.parse()) {
                reports.push((r, n));
            }
        }
    }
    reports
}

#[test]
fn a_long_query_shows_its_progress_and_clears_it_before_the_result() {
    let emu = slow_emulator();
    let base = emu.base_url();
    let dsl = format!(r#"{{"list":"customers","limit":{CUSTOMERS}}}"#);
    let run = on_terminal(
        &query_args(&base, "table", &dsl),
        keys::TEST_READ_ONLY,
        Stdout::Terminal,
    );
    assert_eq!(run.code, 0, "{}", run.terminal);

    let reports = progress_reports(&run.terminal);
    assert!(
        reports.len() >= 2,
        "the spinner showed the connector's reports as the query went: {:?}",
        run.terminal
    );
    // What it showed is what the pager reported: requests and rows that only grow, never past the result.
    assert!(reports
        .windows(2)
        .all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1));
    let (requests, rows) = reports[reports.len() - 1];
    assert!(requests >= 2 && rows <= CUSTOMERS as u64, "{reports:?}");

    // The result comes after the spinner's last frame, and that frame was cleared first.
    let newest = &emu.ids(Resource::Customers)[0];
    let result_at = run.terminal.find(newest.as_str()).expect("the result");
    let last_frame = run.terminal.rfind("so far").expect("a frame");
    assert!(last_frame < result_at, "{:?}", run.terminal);
    assert!(
        run.terminal[last_frame..result_at].contains("\u{1b}[2K"),
        "the spinner's line was erased before the result: {:?}",
        &run.terminal[last_frame..result_at]
    );
    assert!(!run.terminal[result_at..].contains("so far"));
}

#[test]
fn machine_formats_and_a_piped_stderr_get_no_progress() {
    let emu = slow_emulator();
    let base = emu.base_url();
    let dsl = format!(r#"{{"list":"customers","limit":{CUSTOMERS}}}"#);
    for format in ["json", "ndjson", "csv"] {
        let run = on_terminal(
            &query_args(&base, format, &dsl),
            keys::TEST_READ_ONLY,
            Stdout::Piped,
        );
        assert_eq!(run.code, 0, "{format}: {}", run.terminal);
        // Notes for people are lines of text (CSV's about amounts without a currency); nothing drawn.
        assert!(
            run.terminal
                .lines()
                .all(|line| line.starts_with("klairr-host: note: ") && !line.contains('\u{1b}')),
            "{format}: nothing but notes on the terminal: {:?}",
            run.terminal
        );
        assert!(
            run.stdout
                .contains(emu.ids(Resource::Customers)[0].as_str()),
            "{format}: the result is on stdout"
        );
    }

    // Table format with stderr piped (a script capturing it): no spinner either.
    let out = host(&query_args(&base, "table", &dsl), keys::TEST_READ_ONLY)
        .output()
        .expect("klairr-host runs");
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stderr), "", "a piped stderr");
}

#[test]
fn the_credential_never_reaches_the_terminal_as_progress() {
    let upstream = Upstream::start(Behaviour::Ok).expect("upstream");
    let base = upstream.base_url();
    let key = xorshift_key("rk_test_", 0x5EED_F7E5_7000);
    // The hostile credential check reports the key's bytes as progress (klairr-hostile-guest's
    // `key_as_progress`: bytes 8..12 and 12..20, big-endian); then its query floods the import and ends
    // on numbers of its own, while the spinner is up.
    let bytes = key.as_bytes();
    let leaked_requests = u32::from_be_bytes(bytes[8..12].try_into().expect("4 bytes"));
    let leaked_rows = u64::from_be_bytes(bytes[12..20].try_into().expect("8 bytes"));
    let script = json!([
        {"progress": {"requests": 1, "rows": 1, "times": 200_000}},
        {"progress": {"requests": 777, "rows": 4242}},
        {"sleep_ns": 700_000_000u64},
    ])
    .to_string();
    let run = on_terminal(
        &[
            "--component",
            hostile_component(),
            "--stripe-base",
            &base,
            "--compile-cache",
            "off",
            "query",
            &script,
        ],
        &key,
        Stdout::Terminal,
    );
    assert_eq!(run.code, 0, "{}", run.terminal);
    // The harness sees what a query reports…
    assert!(
        run.terminal.contains("777 requests, 4242 rows so far"),
        "{:?}",
        run.terminal
    );
    // …and never what the credential check reported.
    for leaked in [leaked_requests.to_string(), leaked_rows.to_string()] {
        assert!(
            !run.terminal.contains(&leaked),
            "the key's bytes as a number ({leaked}) reached the terminal"
        );
    }
    klairr_e2e::assert_no_key(&key, &run.terminal, "the terminal");
}

/// Ctrl-C in the middle of a long query: the spinner's line is erased before the process goes (QA: it
/// was left on the screen), and the process still ends by the signal, as a shell expects.
#[test]
fn an_interrupted_query_erases_its_progress_line() {
    let emu = Emulator::start(EmulatorConfig {
        customers: 10_000,
        latency: Duration::from_millis(600),
        ..EmulatorConfig::default()
    })
    .expect("the emulator starts");
    let base = emu.base_url();
    // 50 pages (max-rows 5000) at 600 ms each, 8 at a time: several seconds after the first frame.
    let dsl = r#"{"list":"customers","limit":5000}"#;
    let live = Live::start(host(&query_args(&base, "table", dsl), keys::TEST_READ_ONLY));
    live.wait_for_a_frame();
    let pid = libc::pid_t::try_from(live.child.id()).expect("a pid");
    // SAFETY: a signal to the child this test started and has not yet waited for.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let (status, terminal) = live.finish();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        status.signal(),
        Some(libc::SIGINT),
        "{status:?}: {terminal:?}"
    );
    let last_frame = terminal.rfind("so far").expect("a frame was drawn");
    assert!(
        terminal[last_frame..].ends_with("\r\u{1b}[2K"),
        "the last frame was erased: {:?}",
        &terminal[last_frame..]
    );
}

/// A warning written while the spinner is drawn (here: the result's shape cannot be appended to the
/// memory file, a symlink having taken its name while the query ran) is written on a line of its own,
/// the spinner taken off the screen first (a review found the warning glued to the spinner's last
/// frame), and the spinner is still cleared before the result.
#[test]
fn a_warning_during_a_long_query_is_not_glued_to_the_spinner() {
    let emu = Emulator::start(EmulatorConfig {
        customers: 5000,
        latency: Duration::from_millis(600),
        ..EmulatorConfig::default()
    })
    .expect("the emulator starts");
    let base = emu.base_url();
    let dir = std::env::temp_dir().join(format!("klairr-terminal-memory-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a directory");
    let memory = dir.join("memory.jsonl");
    // 50 pages (max-rows 5000) at 600 ms each, 8 at a time: several seconds after the first frame.
    let dsl = r#"{"list":"customers","limit":5000}"#;
    let mut args = vec!["--memory-file", memory.to_str().expect("a UTF-8 path")];
    args.extend(query_args(&base, "table", dsl));
    let live = Live::start(host(&args, keys::TEST_READ_ONLY));
    live.wait_for_a_frame();
    // The memory file's name now leads elsewhere: the record is refused, with a warning.
    std::os::unix::fs::symlink(dir.join("elsewhere"), &memory).expect("a symlink");
    let (status, terminal) = live.finish();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(status.success(), "{status:?}: {terminal:?}");
    let warning = terminal
        .find("klairr-host: could not record the result's shape in memory")
        .unwrap_or_else(|| panic!("the warning was shown: {terminal:?}"));
    let frame_before = terminal[..warning]
        .rfind("so far")
        .expect("the spinner was drawn before the warning");
    assert!(
        terminal[frame_before..warning].contains("\u{1b}[2K"),
        "the spinner's line was erased before the warning: {:?}",
        &terminal[frame_before..(warning + 60).min(terminal.len())]
    );
    let newest = &emu.ids(Resource::Customers)[0];
    let result_at = terminal.find(newest.as_str()).expect("the result");
    assert!(!terminal[result_at..].contains("so far"), "{terminal:?}");
}
