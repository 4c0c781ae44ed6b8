//! The result cache's byte bound (`serve --cache-bytes`, the CLI's cache) holds in memory, not only in
//! text: what `returned::weight` charges a result is at least what the allocator gives it, measured
//! here by the allocator itself (glibc's `malloc_usable_size` of every block, plus its header). Before,
//! a result of one-byte cells was charged 25 bytes a cell and took 56 (its 24-byte cell and a 32-byte
//! block for the text), so a cache bounded at 1 GiB could hold 2 GiB.
//!
//! Its own test binary: the counting allocator is the whole process's.
#![cfg(all(target_os = "linux", target_env = "gnu"))]

use klairr_host::returned::weight;
use klairr_host::sandbox::wit;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;

/// The system allocator, counting on each thread the bytes of the blocks it holds.
struct Counting;

thread_local! {
    /// Bytes of the blocks allocated and not yet freed on this thread (a const initialiser and no
    /// destructor: usable while the thread ends, and allocation-free).
    static HELD: Cell<isize> = const { Cell::new(0) };
}

/// What a block takes from the allocator: its usable size and glibc's 8-byte chunk header.
fn taken(block: *mut u8) -> isize {
    // SAFETY: `block` was returned by the system allocator and not freed yet.
    let usable = unsafe { libc::malloc_usable_size(block.cast()) };
    usable as isize + 8
}

fn count(delta: isize) {
    let _ = HELD.try_with(|held| held.set(held.get() + delta));
}

// SAFETY: every call is the system allocator's; the wrapper only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is `System.alloc`'s.
        let block = unsafe { System.alloc(layout) };
        if !block.is_null() {
            count(taken(block));
        }
        block
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        count(-taken(block));
        // SAFETY: the caller's contract is `System.dealloc`'s.
        unsafe { System.dealloc(block, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The bytes the allocator gives `build`'s value, as the cache holds it (behind an `Arc`), and the value.
fn measured(build: impl FnOnce() -> wit::QueryResult) -> (usize, Arc<wit::QueryResult>) {
    let before = HELD.with(Cell::get);
    let value = Arc::new(build());
    let after = HELD.with(Cell::get);
    (usize::try_from(after - before).unwrap_or(0), value)
}

fn column(name: &str, doc: &str) -> wit::Column {
    wit::Column {
        name: name.to_owned(),
        kind: wit::ColumnType::Text,
        nullable: true,
        doc: doc.to_owned(),
    }
}

/// A result as the host lifts it from a component: every list and string allocated at its length.
fn result(
    columns: Vec<wit::Column>,
    rows: usize,
    cell: impl Fn(usize) -> wit::Cell,
) -> wit::QueryResult {
    let width = columns.len();
    let mut all = Vec::with_capacity(rows);
    for _ in 0..rows {
        let mut row = Vec::with_capacity(width);
        for c in 0..width {
            row.push(cell(c));
        }
        all.push(row);
    }
    let shape_columns = columns.iter().map(|c| column(&c.name, "")).collect();
    wit::QueryResult {
        table: "customers".to_owned(),
        columns,
        rows: all,
        truncated: false,
        cache_ttl_seconds: 3600,
        shape: wit::Shape {
            table: "customers".to_owned(),
            columns: shape_columns,
            row_count: rows as u64,
            filter_keys: Vec::new(),
            aggregate: None,
        },
        requests: 1,
        scan_note: None,
        aggregate: None,
    }
}

fn columns(width: usize, doc: &str) -> Vec<wit::Column> {
    (0..width).map(|i| column(&format!("c{i}"), doc)).collect()
}

/// Every shape of result a component can return weighs at least what it takes, and not so much more
/// that the cache holds far less than its bound.
#[test]
fn a_cached_result_is_charged_at_least_the_memory_it_takes() {
    type Case = (&'static str, Box<dyn Fn() -> wit::QueryResult>);
    let cases: Vec<Case> = vec![
        (
            "one-byte text cells",
            Box::new(|| result(columns(8, ""), 20_000, |_| wit::Cell::Text("x".into()))),
        ),
        (
            "25-byte text cells (a block rounded up to 48)",
            Box::new(|| {
                result(columns(4, ""), 5_000, |_| {
                    wit::Cell::Text("cus_0123456789abcdefghijk".into())
                })
            }),
        ),
        (
            "integers",
            Box::new(|| result(columns(8, ""), 20_000, |c| wit::Cell::Integer(c as i64))),
        ),
        (
            "nulls and booleans",
            Box::new(|| {
                result(columns(6, ""), 20_000, |c| {
                    if c % 2 == 0 {
                        wit::Cell::Null
                    } else {
                        wit::Cell::Boolean(true)
                    }
                })
            }),
        ),
        (
            "rows of one cell",
            Box::new(|| result(columns(1, ""), 100_000, |_| wit::Cell::Integer(7))),
        ),
        (
            "long text",
            Box::new(|| result(columns(2, ""), 100, |_| wit::Cell::Text("t".repeat(4096)))),
        ),
        (
            "many columns with docs, no rows",
            Box::new(|| result(columns(512, &"d".repeat(4096)), 0, |_| wit::Cell::Null)),
        ),
        (
            "an empty result",
            Box::new(|| result(Vec::new(), 0, |_| wit::Cell::Null)),
        ),
    ];
    let mut wrong = Vec::new();
    for (what, build) in &cases {
        let (taken, value) = measured(build);
        let charged = weight(&value);
        if charged < taken {
            wrong.push(format!("{what}: charged {charged} bytes, takes {taken}"));
        } else if charged > taken + taken / 2 + 4096 {
            wrong.push(format!(
                "{what}: charged {charged} bytes for {taken}: the cache would hold far less than its bound"
            ));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}
