//! A connector as the rest of Klairr uses it: the sandbox plus the result cache and the shape memory.
//!
//! `open` gives a [`Session`]; each `query` first asks the connector for the query's canonical form, serves
//! a live cache entry when there is one, and otherwise runs the query, caches the result for the TTL the
//! connector set, and records its shape (never its rows) in memory.

use crate::cache::{Fingerprint, Fingerprinter, Lookup, ResultCache};
use crate::memory::{MemoryFile, ShapeRecord};
use crate::sandbox::{wit, Connection, Sandbox, SandboxError};
use std::sync::Mutex;
use std::time::Duration;

/// One connector, loaded once, with the process's cache and memory.
pub struct Service {
    name: String,
    sandbox: Sandbox,
    cache: Mutex<ResultCache<wit::QueryResult>>,
    fingerprinter: Fingerprinter,
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
    pub fn new(name: &str, sandbox: Sandbox, memory: Option<MemoryFile>) -> Service {
        Service {
            name: name.to_owned(),
            sandbox,
            cache: Mutex::new(ResultCache::new(1024)),
            fingerprinter: Fingerprinter::random(),
            memory,
            remembered: Mutex::default(),
        }
    }

    /// Open a connection; the credential is fingerprinted here and then only lives in the guest.
    /// Surrounding whitespace is never part of a credential (the Stripe connector trims it), so the
    /// fingerprint ignores it too: one key, however it was pasted, is one cache identity.
    pub fn open(&self, config: &wit::Config) -> Result<Session<'_>, SandboxError> {
        let mode = match config.mode {
            wit::Mode::Live => "live",
            wit::Mode::Test => "test",
        };
        let fingerprint = self
            .fingerprinter
            .fingerprint(&self.name, mode, config.api_key.trim());
        let connection = self.sandbox.open(config)?;
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
            cache.put(&self.fingerprint, &canonical, result.clone(), ttl);
        }
        let record = ShapeRecord::from_shape(&self.service.name, &result.shape);
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

    pub fn connection(&self) -> &Connection {
        &self.connection
    }
}
