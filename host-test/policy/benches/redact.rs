//! Redaction on the hot path: every text cell of every result is searched for runs of the credential
//! before the host shows it. `cargo bench -p klairr-policy --bench redact`; the README reports the figures.
//!
//! - `redact_page_of_customers`: the seven text cells of each of 100 customers (ids, emails, names,
//!   descriptions, short codes; 12,780 bytes), none holding a run, as a page of results brings them;
//! - `build_for_a_key`: indexing a 107-character restricted key, once per connection.

use criterion::{criterion_group, criterion_main, Criterion};
use klairr_policy::redact::SecretRuns;
use std::hint::black_box;

/// A made-up restricted key of the real length (107 characters). Not a real key.
const KEY: &str = concat!(
    "rk_live_",
    "ox9yimTcfipZGnzPbDFDyFKm51zfFoWbSrHAE56yUhQqg0eyN1",
    "ygQdvpSfF5PH5nLZjMeI8cFSmj83LDUL4CsJw24BikWMgISuS"
);

fn page_of_customers() -> Vec<String> {
    (0..100)
        .flat_map(|i| {
            [
                format!("cus_{i:014}"),
                format!("customer{i}@example.com"),
                format!("Customer Number {i} GmbH"),
                "A long description of this customer for the finance team".to_owned(),
                "usd".to_owned(),
                "none".to_owned(),
                "DE".to_owned(),
            ]
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let runs = SecretRuns::new(KEY);
    let cells = page_of_customers();
    assert!(cells.iter().all(|cell| !runs.contains(cell)));
    c.bench_function("redact_page_of_customers", |b| {
        b.iter(|| {
            for cell in &cells {
                black_box(runs.redact(black_box(cell)));
            }
        })
    });
    c.bench_function("build_for_a_key", |b| {
        b.iter(|| black_box(SecretRuns::new(black_box(KEY))))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = bench
}
criterion_main!(benches);
