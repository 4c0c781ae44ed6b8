//! A connector as the rest of Klairr uses it: the sandbox plus the result cache and the shape memory.
//!
//! `open` gives a [`Session`]; each `query` first asks the connector for the query's canonical form, serves
//! a live cache entry when there is one, and otherwise runs the query, caches the (checked) result for its
//! TTL, and records its shape (never its rows) in memory.

use crate::cache::{Fingerprint, Lookup, ResultCache};
use crate::memory::{MemoryFile, ShapeRecord};
use crate::sandbox::{wit, Connection, ConnectionConfig, Sandbox, SandboxError};
use std::sync::Mutex;
use std::time::Duration;

/// The result cache's bounds: entries, and bytes of row data (a 100,000-row result is ~20 MB).
const CACHE_ENTRIES: usize = 1024;
const CACHE_BYTES: usize = 256 << 20;

/// One connector, loaded once, with the process's cache and memory.
pub struct Service {
    sandbox: Sandbox,
    cache: Mutex<ResultCache<wit::QueryResult>>,
    memory: Option<MemoryFile>,
    /// Every shape recorded in this process, for display (`demo`) and tests.
    remembered: Mutex<Vec<ShapeRecord>>,
}

/// A query result and whether it came from the cache.
#[derive(Clone, Debug)]
pub struct Answer {
    pub result: wit::QueryResult,
    pub cached: bool,
}

impl Service {
    pub fn new(sandbox: Sandbox, memory: Option<MemoryFile>) -> Service {
        Service {
            sandbox,
            cache: Mutex::new(ResultCache::new(CACHE_ENTRIES, CACHE_BYTES)),
            memory,
            remembered: Mutex::default(),
        }
    }

    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// Open a connection. The credential stays in the host; the cache knows the connection by its
    /// fingerprint only.
    pub fn open(&self, config: &ConnectionConfig) -> Result<Session<'_>, SandboxError> {
        let connection = self.sandbox.open(config)?;
        let fingerprint = connection.fingerprint();
        Ok(Session {
            service: self,
            connection,
            fingerprint,
        })
    }

    /// Shapes recorded so far in this process.
    pub fn remembered(&self) -> Vec<ShapeRecord> {
        self.remembered
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }
}

/// An open connection with caching.
pub struct Session<'s> {
    service: &'s Service,
    connection: Connection,
    fingerprint: Fingerprint,
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
        // The connector parses the query twice (here for the cache key, then to run it): microseconds,
        // and a cache hit costs no request and no paging.
        let canonical = self.connection.canonical_query(dsl)?;
        if let Ok(mut cache) = self.service.cache.lock() {
            if let (Lookup::Hit, Some(result)) = cache.get(&self.fingerprint, &canonical) {
                return Ok(Answer {
                    result,
                    cached: true,
                });
            }
        }
        let result = self.connection.query(dsl)?;
        if let Ok(mut cache) = self.service.cache.lock() {
            let ttl = Duration::from_secs(u64::from(result.cache_ttl_seconds));
            cache.put(
                &self.fingerprint,
                &canonical,
                result.clone(),
                ttl,
                weight(&result),
            );
        }
        let record = ShapeRecord::from_shape(&self.service.sandbox.manifest().name, &result.shape);
        if let Some(memory) = &self.service.memory {
            // Memory is best-effort: a full disk must not fail the user's query, but it must be visible.
            if let Err(e) = memory.append(&record) {
                eprintln!("klairr-host: could not record the result's shape in memory: {e}");
            }
        }
        if let Ok(mut remembered) = self.service.remembered.lock() {
            remembered.push(record);
        }
        Ok(Answer {
            result,
            cached: false,
        })
    }

    /// Requests the host's policy denied on this connection, with the reason.
    pub fn denied_requests(&self) -> Vec<String> {
        self.connection.denied_requests()
    }

    /// What the component printed (capped, redacted).
    pub fn guest_output(&self) -> String {
        self.connection.guest_output()
    }
}

/// Roughly what a result holds in memory: its text plus a fixed cost per cell.
fn weight(result: &wit::QueryResult) -> usize {
    let cells: usize = result
        .rows
        .iter()
        .map(|row| {
            row.iter()
                .map(|c| match c {
                    wit::Cell::Text(t) => 32 + t.len(),
                    _ => 32,
                })
                .sum::<usize>()
        })
        .sum();
    cells + 1024
}
