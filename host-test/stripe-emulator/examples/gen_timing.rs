use klairr_stripe_emulator::{Emulator, EmulatorConfig};
use std::time::Instant;
fn main() {
    let n = 10_000;
    let cfg = EmulatorConfig { customers: n, subscriptions: n, invoices: n, charges: n, payouts: n, ..EmulatorConfig::default() };
    for _ in 0..3 {
        let t = Instant::now();
        let e = Emulator::start(cfg.clone()).unwrap();
        eprintln!("start with 5x{n}: {:?}", t.elapsed());
        for r in klairr_stripe_emulator::Resource::ALL { let ids = e.ids(r); let total: usize = ids.iter().take(1000).map(|i| e.object(r, i).unwrap().to_string().len()).sum(); eprintln!("{} avg {}", r.name(), total / 1000); }
        drop(e);
    }
}
#[allow(dead_code)]
fn sizes() {}
