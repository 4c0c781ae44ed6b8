//! Start-up: the whole-process wall time of `klairr-host --format json describe` (the built binary, so
//! process start, the engine, the component, a fresh instance and the `describe` call are all in it) with
//! a warm compile cache and with `--compile-cache off`, runs interleaved so machine load hits both alike;
//! `klairr-host --version` (process start and argument parsing only) as the floor. Then where the time
//! goes, in-process: the engine, the cache hit, the rest of `Sandbox::load`, `describe`.
//!
//! `cargo bench -p klairr-host --bench startup` (add `-- --runs N`; default 21). Under `cargo test` it
//! runs each case once as a smoke test.

use klairr_host::registry;
use klairr_host::sandbox::compile_cache::Outcome;
use klairr_host::sandbox::{CompileCache, Sandbox, SandboxOptions};
use sha2::{Digest, Sha256};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use wasmtime::{Config, Engine};

const BIN: &str = env!("CARGO_BIN_EXE_klairr-host");

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let benching = args.iter().any(|a| a == "--bench");
    let runs: usize = args
        .iter()
        .position(|a| a == "--runs")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(if benching { 21 } else { 1 });

    let dir = std::env::temp_dir().join(format!("klairr-startup-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let cache = dir.join("components");
    let cache_arg = cache.to_str().expect("a UTF-8 temp dir").to_owned();
    let warm = [
        "--compile-cache",
        cache_arg.as_str(),
        "--format",
        "json",
        "describe",
    ];
    let off = ["--compile-cache", "off", "--format", "json", "describe"];

    println!("load average before: {}", load_average());
    // Fills the cache; its output is what every other run must print.
    let (_, reference) = run(&warm);
    assert!(
        reference.starts_with("{\"connector\":\"stripe\""),
        "describe's JSON: {reference}"
    );
    assert_eq!(entries(&cache), 1, "one compiled component in the cache");

    let (mut with_cache, mut without, mut floor) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let (t, out) = run(&warm);
        assert_eq!(out, reference, "a warm start prints what a cold one does");
        with_cache.push(t);
        let (t, out) = run(&off);
        assert_eq!(out, reference, "without the cache too");
        without.push(t);
        floor.push(run(&["--version"]).0);
    }
    println!("load average after: {}", load_average());
    println!();
    println!("| `klairr-host …` | runs | median | min | max |");
    println!("|---|---:|---:|---:|---:|");
    for (label, t) in [
        (
            "--format json describe, warm compile cache",
            &mut with_cache,
        ),
        ("--format json describe, --compile-cache off", &mut without),
        ("--version (process start only)", &mut floor),
    ] {
        t.sort();
        println!(
            "| {label} | {runs} | {} | {} | {} |",
            ms(t[t.len() / 2]),
            ms(t[0]),
            ms(t[t.len() - 1])
        );
    }

    println!();
    println!("in-process:");
    breakdown(&cache, runs);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The parts of a warm start, each timed on its own: the built-in connector (manifest parsed), an engine
/// like the host's, SHA-256 over the component and the cache entry (the checks' hashing alone), the cache
/// hit (hashing, reading, checking, deserializing), the whole `Sandbox::load` (engine, cache hit, import
/// and export checks, linker, pre-instantiation, runtime, epoch thread), and `describe` (a fresh instance
/// and the call). The first iteration is shown apart: it pays the process's one-time costs, as a CLI call
/// does.
fn breakdown(cache: &Path, runs: usize) {
    let entry = std::fs::read_dir(cache)
        .expect("the cache directory")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "cwasm"))
        .expect("the cache entry");
    let options = SandboxOptions {
        compile_cache: CompileCache::Dir(cache.to_path_buf()),
        ..SandboxOptions::default()
    };
    let mut parts: [(&str, Vec<Duration>); 6] = [
        ("Connector::stripe() (manifest parsed)", Vec::new()),
        ("Engine::new", Vec::new()),
        ("SHA-256 of the component and of the entry", Vec::new()),
        (
            "compile cache hit (key, read, checks, deserialize)",
            Vec::new(),
        ),
        ("Sandbox::load (all of it, cache hit included)", Vec::new()),
        ("describe (fresh instance + call)", Vec::new()),
    ];
    for _ in 0..runs.max(2) {
        let start = Instant::now();
        let stripe = registry::Connector::stripe();
        parts[0].1.push(start.elapsed());

        let start = Instant::now();
        let engine = host_engine();
        parts[1].1.push(start.elapsed());

        let stored = std::fs::read(&entry).expect("read the entry");
        let start = Instant::now();
        black_box(Sha256::digest(registry::STRIPE_COMPONENT));
        black_box(Sha256::digest(&stored));
        parts[2].1.push(start.elapsed());

        let start = Instant::now();
        let loaded = CompileCache::Dir(cache.to_path_buf())
            .load(&engine, registry::STRIPE_COMPONENT)
            .expect("cache");
        parts[3].1.push(start.elapsed());
        assert_eq!(loaded.outcome, Outcome::Hit);

        let start = Instant::now();
        let sandbox = Sandbox::load(registry::STRIPE_COMPONENT, stripe.manifest, options.clone())
            .expect("load");
        parts[4].1.push(start.elapsed());

        let start = Instant::now();
        sandbox.describe().expect("describe");
        parts[5].1.push(start.elapsed());
    }
    println!(
        "component {:.0} KiB, cache entry {:.0} KiB",
        registry::STRIPE_COMPONENT.len() as f64 / 1024.0,
        stored_len(&entry) as f64 / 1024.0
    );
    println!(
        "| part | first in the process | median of the next {} |",
        runs.max(2) - 1
    );
    println!("|---|---:|---:|");
    for (label, t) in &mut parts {
        let first = t.remove(0);
        t.sort();
        println!("| {label} | {} | {} |", ms(first), ms(t[t.len() / 2]));
    }
}

fn stored_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// The engine configuration `Sandbox::load` uses, so the cache entry it wrote is the one found.
fn host_engine() -> Engine {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    Engine::new(&config).expect("engine")
}

/// One `klairr-host` process: its wall time and stdout; it must succeed.
fn run(args: &[&str]) -> (Duration, String) {
    let start = Instant::now();
    let out = Command::new(BIN)
        .args(args)
        .env_remove("KLAIRR_CACHE_DIR")
        .output()
        .expect("run klairr-host");
    let elapsed = start.elapsed();
    assert!(
        out.status.success(),
        "klairr-host {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    (
        elapsed,
        String::from_utf8(out.stdout).expect("UTF-8 output"),
    )
}

fn entries(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|l| {
            l.flatten()
                .map(|e| PathBuf::from(e.file_name()))
                .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
                .count()
        })
        .unwrap_or(0)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}
