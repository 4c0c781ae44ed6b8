//! The component's edge: the exports of `klairr:connector@0.2.0`, through the SDK's bindings, conversions
//! and wasi transport ([`klairr_connector_sdk::component`]).
//!
//! `check-credential` is [`crate::key::ApiKey::parse`], the connection methods are [`Connection`]'s. The
//! transport is the SDK's wasi:http to [`STRIPE`]: the fixed request headers (`stripe-version` pinned to
//! [`stripe::API_VERSION`], `accept`, `user-agent`, and `content-length: 0` on the write probes, which have
//! no body), never `authorization` (the host attaches the key itself and refuses that header from a
//! guest), the four response headers the core uses, and the body capped at [`transport::MAX_BODY_BYTES`].

use crate::aggregate;
use crate::connection::{self, Connection, QueryResult};
use crate::error::ConnectorError;
use crate::key::{ApiKey, Mode};
use crate::prelude::*;
use crate::schema::TableSpec;
use crate::stripe;
use crate::transport;
use crate::verify::VerifyReport;
use klairr_connector_sdk::component::{self as sdk, Api, Connector, Wasi};

use core::alloc::{GlobalAlloc, Layout};
use klairr_connector_sdk::component::types as wit;

/// `https://api.stripe.com`, as the transport talks to it.
static STRIPE: Api = Api {
    authority: stripe::API_HOST,
    headers: &[
        ("stripe-version", stripe::API_VERSION),
        ("accept", "application/json"),
        ("user-agent", "klairr-stripe-connector/0.2"),
    ],
    request_id_header: "request-id",
    should_retry_header: Some("stripe-should-retry"),
    max_body_bytes: transport::MAX_BODY_BYTES,
};

klairr_connector_sdk::export!(Connection);

// wasi-libc, which `std` would link, named for the memory builtins LLVM calls (`memcmp`, `memcpy`,
// `memset`). Nothing of it that would import an interface (stdio, environment, files) is pulled in, and
// its `malloc` no longer either: see [`Allocator`].
#[link(name = "c")]
extern "C" {}

/// The component is built without `std` (see the crate docs), so it names its allocator itself: Talc, in
/// its WebAssembly configuration (growing the memory as it needs, single-threaded). It replaced
/// wasi-libc's `malloc` (dlmalloc, which `std` uses on WASI): ~7.7 KB less component and pages as fast
/// (README, "Component size"). Each method is a call that is never inlined: LTO would otherwise copy the
/// allocator into every `drop` (~30 KB more).
struct Allocator;

static TALC: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

// SAFETY: each method is Talc's own `GlobalAlloc` method with the same arguments, so it keeps the
// contract as Talc does.
unsafe impl GlobalAlloc for Allocator {
    #[inline(never)]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: see the impl.
        unsafe { TALC.alloc(layout) }
    }

    #[inline(never)]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: see the impl.
        unsafe { TALC.dealloc(ptr, layout) }
    }

    #[inline(never)]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: see the impl.
        unsafe { TALC.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Allocator = Allocator;

/// The canonical ABI's `cabi_realloc`: how the host allocates in the component's memory (the strings and
/// lists it passes in), through the global allocator above, so that the component frees them with the
/// same allocator. wasi-libc has one too, but nothing pulls it in without `std`; this one is
/// wit-bindgen's (`wit_bindgen::rt::cabi_realloc`, compiled there only for WASI preview 1).
///
/// # Safety
/// Called by the host only, with arguments as the canonical ABI specifies: `old` allocated by this
/// function with `old_len` and `align` (or `old_len` 0), `align` a power of two, `new_len` not 0 when
/// `old_len` is not.
#[no_mangle]
pub unsafe extern "C" fn cabi_realloc(
    old: *mut u8,
    old_len: usize,
    align: usize,
    new_len: usize,
) -> *mut u8 {
    use alloc::alloc::{alloc, realloc};
    if new_len == 0 {
        // A zero-sized value: any well-aligned pointer, never dereferenced.
        return align as *mut u8;
    }
    // SAFETY: the canonical ABI's contract above makes the layout valid and `old` this allocator's.
    let ptr = unsafe {
        if old_len == 0 {
            alloc(Layout::from_size_align_unchecked(new_len, align))
        } else {
            realloc(
                old,
                Layout::from_size_align_unchecked(old_len, align),
                new_len,
            )
        }
    };
    if ptr.is_null() {
        // Out of memory (the host's limit): trap, as `std` would abort.
        core::arch::wasm32::unreachable();
    }
    ptr
}

/// A panic (a bug: the connector is written not to panic on any input) traps, and the host reports the
/// call as a `sandbox` error. Without `std` there is no stderr to print its message to.
#[panic_handler]
fn on_panic(_: &core::panic::PanicInfo<'_>) -> ! {
    core::arch::wasm32::unreachable()
}

impl Connector for Connection {
    const API: &'static Api = &STRIPE;

    fn describe() -> wit::ConnectorInfo {
        sdk::connector_info(connection::describe(), table_spec)
    }

    fn check_credential(credential: &str, mode: Mode) -> Result<(), ConnectorError> {
        ApiKey::parse(credential, mode).map(|_| ())
    }

    fn verify(&self, io: &mut Wasi) -> Result<wit::VerifyReport, ConnectorError> {
        Connection::verify(self, &mut io.http, &mut io.clock).map(verify_report)
    }

    fn query(&self, io: &mut Wasi, query: &str) -> Result<wit::QueryResult, ConnectorError> {
        Connection::query(self, &mut io.http, &mut io.clock, query).map(query_result)
    }
}

// ---- core → WIT: what only Stripe's results carry -------------------------------------------------

fn names(list: Vec<&'static str>) -> Vec<String> {
    list.into_iter().map(String::from).collect()
}

fn table_spec(t: &TableSpec) -> wit::TableSpec {
    let aggregates = aggregate::table_aggregates(t.table);
    let aggregate = wit::AggregateSpec {
        group_by: names(aggregates.group_by),
        bucket_by: names(aggregates.bucket_by),
        measures: aggregates
            .measures
            .into_iter()
            .map(|(func, columns)| wit::MeasureSpec {
                name: func.name().into(),
                columns: names(columns),
                doc: func.doc().into(),
            })
            .collect(),
    };
    sdk::table_spec(t, Some(aggregate))
}

fn query_result(r: QueryResult) -> wit::QueryResult {
    let columns: Vec<wit::Column> = r.columns.into_iter().map(sdk::column).collect();
    wit::QueryResult {
        table: r.table.name().into(),
        shape: wit::Shape {
            table: r.shape.table.name().into(),
            columns: columns.clone(),
            row_count: r.shape.row_count,
            filter_keys: r.shape.filter_keys,
            aggregate: r.shape.aggregate.map(|a| wit::AggregateShape {
                group_by: a.group_by,
                measures: a
                    .measures
                    .into_iter()
                    .map(|(name, kind)| wit::MeasureShape {
                        name,
                        kind: kind.into(),
                    })
                    .collect(),
            }),
        },
        columns,
        rows: sdk::rows(r.rows),
        truncated: r.truncated,
        cache_ttl_seconds: r.cache_ttl_seconds,
        requests: r.requests,
        scan_note: r.scan_note,
        aggregate: r.aggregate.map(|a| wit::AggregateStats {
            rows_scanned: a.rows_scanned,
            partial: a.partial,
            groups: a.groups,
        }),
    }
}

fn verify_report(r: VerifyReport) -> wit::VerifyReport {
    wit::VerifyReport {
        mode: sdk::mode(r.mode),
        readable: r.readable.iter().map(|t| t.name().to_owned()).collect(),
        write_probes_refused: r.write_probes_refused,
        requests: r.requests,
    }
}
