//! A connector as the rest of Klairr uses it: the sandbox plus the result cache and the shape memory.
//!
//! [`Answers`] is the one way a query is answered: ask the connector for the query's canonical form,
//! serve a live cache entry when there is one, and otherwise run the query, cache the (checked) result
//! for its TTL, and record its shape (never its rows) in memory. The CLI makes one [`Service`] per call;
//! `serve` shares one `Answers` between every connector and connection of the process.
//!
//! A cache entry is keyed by the connection's fingerprint (connector, mode, credential under a
//! per-process secret) and `cache_key`'s parts: the component's and the manifest's SHA-256 (a swapped
//! version never serves its predecessor's results), the connection's max-rows, max-scan and cache TTL,
//! and the canonical query.

use crate::cache::{Fingerprint, Lookup, ResultCache};
use crate::memory::{MemoryFile, ShapeRecord};
use crate::sandbox::{wit, Connection, ConnectionConfig, OpenFailure, Sandbox, SandboxError};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The result cache's default bounds: entries, and bytes of row data (a 100,000-row result is ~20 MB).
pub const CACHE_ENTRIES: usize = 1024;
pub const CACHE_BYTES: usize = 256 << 20;

/// How many of the latest shapes [`Answers::remembered`] keeps in memory (the memory file keeps all).
pub const REMEMBERED_SHAPES: usize = 256;

/// The result cache and the shape memory, shareable across connectors and connections.
pub struct Answers {
    /// Results are shared, not copied: a hit hands out the entry itself, and the answer that fills an
    /// entry keeps no copy of its own (a 30,000-row result is ~200,000 strings).
    cache: Mutex<ResultCache<Arc<wit::QueryResult>>>,
    memory: Option<MemoryFile>,
    /// The last [`REMEMBERED_SHAPES`] shapes recorded in this process, for display (`demo`): bounded,
    /// since `serve` records one for every query it runs, for as long as it runs.
    remembered: Mutex<VecDeque<ShapeRecord>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// A query result and how it was served.
#[derive(Clone, Debug)]
pub struct Answer {
    pub result: Arc<wit::QueryResult>,
    pub served: Served,
}

/// How an answer was served: run now, or taken from the result cache part-way through its TTL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Served {
    Fresh,
    /// From the result cache, with `ttl_left` whole seconds of the entry's TTL left.
    Cached {
        ttl_left: u32,
    },
}

impl Served {
    pub fn cached(self) -> bool {
        matches!(self, Served::Cached { .. })
    }

    /// How long whoever receives `result` served this way may keep it: its TTL when fresh, what the
    /// cache has left of it when not — so that rows never outlive the TTL from when they were read,
    /// however many caches they pass through (an answer an hour old must not be kept another hour).
    pub fn cache_ttl_seconds(self, result: &wit::QueryResult) -> u32 {
        match self {
            Served::Fresh => result.cache_ttl_seconds,
            Served::Cached { ttl_left } => ttl_left.min(result.cache_ttl_seconds),
        }
    }
}

impl Answers {
    /// A cache of at most `max_entries` results and `max_bytes` of row data; shapes appended to `memory`.
    pub fn new(memory: Option<MemoryFile>, max_entries: usize, max_bytes: usize) -> Answers {
        Answers {
            cache: Mutex::new(ResultCache::new(max_entries, max_bytes)),
            memory,
            remembered: Mutex::default(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// Answer `dsl` on `connection`, a connection of `sandbox`.
    pub fn query(
        &self,
        sandbox: &Sandbox,
        connection: &mut Connection,
        dsl: &str,
    ) -> Result<Answer, SandboxError> {
        // The connector parses the query twice (here for the cache key, then to run it): microseconds,
        // and a cache hit costs no request and no paging.
        let canonical = connection.canonical_query(dsl)?;
        let key = cache_key(sandbox, connection, &canonical);
        let fingerprint: Fingerprint = connection.fingerprint();
        if let Ok(mut cache) = self.cache.lock() {
            if let (Lookup::Hit, Some((result, left))) = cache.lookup(&fingerprint, &key) {
                self.hits.fetch_add(1, Ordering::Relaxed);
                // Whole seconds, rounded down: never a moment longer than the entry has.
                let ttl_left = u32::try_from(left.as_secs()).unwrap_or(u32::MAX);
                return Ok(Answer {
                    result,
                    served: Served::Cached { ttl_left },
                });
            }
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        // The rows are read from here on: their TTL counts from now, not from when the call returns
        // (review: a call of minutes left rows in the cache, and with whoever kept the answer, for
        // the TTL plus the call's length; a connection at a 5 s TTL was served rows 10 s old).
        let read_from = self.cache.lock().ok().map(|mut cache| cache.now());
        let (mut result, weight) = connection.query_weighed(dsl)?;
        let ttl = Duration::from_secs(u64::from(result.cache_ttl_seconds));
        if let Some(read_from) = read_from {
            if let Ok(mut cache) = self.cache.lock() {
                // The answer says what is left of its TTL, in whole seconds, as a cached one does.
                let took = cache.now().saturating_duration_since(read_from).as_secs();
                result.cache_ttl_seconds = result
                    .cache_ttl_seconds
                    .saturating_sub(u32::try_from(took).unwrap_or(u32::MAX));
                let result = Arc::new(result);
                cache.put_since(
                    &fingerprint,
                    &key,
                    Arc::clone(&result),
                    ttl,
                    weight,
                    read_from,
                );
                drop(cache);
                return Ok(self.fresh(sandbox, result));
            }
        }
        Ok(self.fresh(sandbox, Arc::new(result)))
    }

    /// A result just fetched from the source: its shape recorded, the answer [`Served::Fresh`].
    fn fresh(&self, sandbox: &Sandbox, result: Arc<wit::QueryResult>) -> Answer {
        let record = ShapeRecord::from_shape(&sandbox.manifest().name, &result.shape);
        if let Some(memory) = &self.memory {
            // Memory is best-effort: a full disk must not fail the user's query, but it must be visible.
            if let Err(e) = memory.append(&record) {
                crate::log_line(format_args!(
                    "klairr-host: could not record the result's shape in memory: {e}"
                ));
            }
        }
        if let Ok(mut remembered) = self.remembered.lock() {
            remember(&mut remembered, record);
        }
        Answer {
            result,
            served: Served::Fresh,
        }
    }

    /// The latest shapes recorded in this process (at most [`REMEMBERED_SHAPES`]), oldest first.
    pub fn remembered(&self) -> Vec<ShapeRecord> {
        self.remembered
            .lock()
            .map(|r| r.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// (cache hits, cache misses) so far.
    pub fn hits_and_misses(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    /// Bytes of results the cache holds now (expired ones dropped first).
    pub fn cached_bytes(&self) -> usize {
        self.cache
            .lock()
            .map(|mut c| {
                c.drop_expired();
                c.bytes()
            })
            .unwrap_or(0)
    }

    /// Drop the results past their TTL (`serve` does every second, whether or not anyone asks).
    pub fn drop_expired(&self) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.drop_expired();
        }
    }
}

/// The cache key besides the fingerprint: component and manifest hashes, max-rows, max-scan, cache TTL,
/// canonical query. The manifest is part of it so that rows a reloaded manifest no longer lets the
/// component fetch are not served from before the reload; max-rows and max-scan, because they bound
/// what a result holds and the host sets them (a component's canonical form need not say them); the
/// TTL, so that a connection that lowered its TTL never gets an answer older than that from a
/// connection that did not (nor reports the other's TTL).
fn cache_key(sandbox: &Sandbox, connection: &Connection, canonical: &str) -> String {
    format!(
        "{}\n{}\n{}\n{}\n{}\n{canonical}",
        crate::cache::hex(&sandbox.component_sha256()),
        crate::cache::hex(&sandbox.manifest_sha256()),
        connection.row_target(),
        connection.scan_rows(),
        connection.cache_ttl()
    )
}

/// One connector, loaded once, with its own cache and memory (one CLI call).
pub struct Service {
    sandbox: Sandbox,
    answers: Arc<Answers>,
}

impl Service {
    pub fn new(sandbox: Sandbox, memory: Option<MemoryFile>) -> Service {
        Service {
            sandbox,
            answers: Arc::new(Answers::new(memory, CACHE_ENTRIES, CACHE_BYTES)),
        }
    }

    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// Open a connection. The credential stays in the host; the cache knows the connection by its
    /// fingerprint only.
    pub fn open(&self, config: &ConnectionConfig) -> Result<Session<'_>, SandboxError> {
        Ok(self.open_reporting(config)?)
    }

    /// [`Service::open`], and when it fails, the requests its component tried that the policy refused
    /// ([`OpenFailure`]), for the log.
    pub fn open_reporting(&self, config: &ConnectionConfig) -> Result<Session<'_>, OpenFailure> {
        let connection = self
            .sandbox
            .open_reporting(config, &tokio_util::sync::CancellationToken::new())?;
        Ok(Session {
            service: self,
            connection,
        })
    }

    /// The latest shapes recorded in this process (see [`Answers::remembered`]).
    pub fn remembered(&self) -> Vec<ShapeRecord> {
        self.answers.remembered()
    }
}

/// An open connection with caching.
pub struct Session<'s> {
    service: &'s Service,
    connection: Connection,
}

impl Session<'_> {
    pub fn verify(&mut self) -> Result<wit::VerifyReport, SandboxError> {
        self.connection.verify()
    }

    /// Let `sink` watch this session's calls (see [`crate::sandbox::Connection::watch`]).
    pub fn watch(&mut self, sink: Option<crate::sandbox::ProgressSink>) {
        self.connection.watch(sink);
    }

    pub fn query(&mut self, dsl: &str) -> Result<Answer, SandboxError> {
        self.service
            .answers
            .query(&self.service.sandbox, &mut self.connection, dsl)
    }

    /// Requests the host's policy denied on this connection, with the reason.
    pub fn denied_requests(&self) -> &[String] {
        self.connection.denied_requests()
    }

    /// The log lines of the requests refused since the connection opened (`Connection::denial_log`):
    /// a CLI session answers one command.
    pub fn denial_log(&self, connector: &str) -> Vec<String> {
        self.connection
            .denial_log(connector, crate::sandbox::DenialMark::default())
    }

    /// What the component printed (capped, redacted).
    pub fn guest_output(&self) -> String {
        self.connection.guest_output()
    }
}

/// Keep `record` as the latest of at most [`REMEMBERED_SHAPES`], the oldest let go.
fn remember(remembered: &mut VecDeque<ShapeRecord>, record: ShapeRecord) {
    if remembered.len() >= REMEMBERED_SHAPES {
        remembered.pop_front();
    }
    remembered.push_back(record);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A long-running `serve` records a shape for every query it runs: the ones kept in memory are
    /// the latest, never more than the bound.
    #[test]
    fn the_shapes_kept_in_memory_are_the_latest_few() {
        let shape = |n: u64| wit::Shape {
            table: "customers".into(),
            columns: Vec::new(),
            row_count: n,
            filter_keys: Vec::new(),
            aggregate: None,
        };
        let mut remembered = VecDeque::new();
        for n in 0..(REMEMBERED_SHAPES as u64 + 10) {
            remember(
                &mut remembered,
                ShapeRecord::from_shape("stripe", &shape(n)),
            );
        }
        assert_eq!(remembered.len(), REMEMBERED_SHAPES);
        assert_eq!(remembered.front().map(|r| r.row_count), Some(10));
        assert_eq!(
            remembered.back().map(|r| r.row_count),
            Some(REMEMBERED_SHAPES as u64 + 9)
        );
    }
}
