//! Shared by the benchmarks that measure the host alone: the emulator in a separate `klairr-host
//! emulator` process, so its work does not count as the host's.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A `klairr-host emulator` process on a free loopback port; killed when dropped.
pub struct EmulatorProcess {
    child: Child,
    pub base: String,
}

impl EmulatorProcess {
    /// An emulator with `customers` and `subscriptions` (10 of everything else).
    pub fn start(customers: usize, subscriptions: usize) -> EmulatorProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_klairr-host"))
            .args(["--format", "json", "emulator", "--port", "0"])
            .args(["--customers", &customers.to_string()])
            .args(["--subscriptions", &subscriptions.to_string()])
            .args(["--invoices", "10", "--charges", "10", "--payouts", "10"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the emulator process");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the emulator prints its base URL");
        let info: serde_json::Value = serde_json::from_str(&line).expect("emulator JSON");
        let base = info["base_url"].as_str().expect("base_url").to_owned();
        EmulatorProcess { child, base }
    }
}

impl Drop for EmulatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
