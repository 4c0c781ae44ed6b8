//! The resource limits of one connection's store, and the limiter that enforces them.
//!
//! Memory is bounded for the store as a whole: a component with several linear memories gets
//! [`SandboxLimits::memory_bytes`] across all of them together, not per memory. Table elements,
//! instances, tables, memories, component handles, resource-table entries and hostcall fuel are bounded
//! too, so no guest can make the host allocate without limit. A failed growth traps (with a message that
//! names the limit) instead of handing the guest a `-1` it could ignore.

use std::time::Duration;

/// Resource limits of one connection's store.
#[derive(Clone, Debug)]
pub struct SandboxLimits {
    /// All linear memories of one store together. 256 MiB holds a 100,000-row result with room to spare.
    pub memory_bytes: usize,
    /// Elements of any one table.
    pub table_elements: usize,
    /// Core instances, tables and memories one store may create.
    pub instances: usize,
    pub tables: usize,
    pub memories: usize,
    /// Wall-clock bound of one call into the guest (open, verify, query…), waits inside the host included.
    pub call_timeout: Duration,
    /// Bytes of guest stdout/stderr kept (each); the rest is dropped.
    pub guest_output_bytes: usize,
    /// Resource handles (wasi resources, HTTP futures, streams) a guest may hold at once. Each may keep
    /// host memory outside the store's memory limit (an unsent request: its headers, path and buffered
    /// body, ~36 KiB at their caps), so this bounds that too: 2,000 is ~72 MiB, ten times what the
    /// connectors hold at their busiest (32 open responses, 8 in flight).
    pub max_resources: usize,
    /// Component-model handles live at once in the store.
    pub component_handles: usize,
    /// Bytes a guest may hand the host in one call (strings, lists; a result it returns included). 64 MiB
    /// carries a 100,000-row result.
    pub hostcall_fuel: usize,
}

impl Default for SandboxLimits {
    fn default() -> Self {
        SandboxLimits {
            memory_bytes: 256 << 20,
            table_elements: 100_000,
            instances: 32,
            tables: 32,
            memories: 8,
            call_timeout: Duration::from_secs(600),
            guest_output_bytes: 64 << 10,
            max_resources: 2_000,
            component_handles: 10_000,
            hostcall_fuel: 64 << 20,
        }
    }
}

/// Tracks the store's memory across all its linear memories and refuses growth past the limits.
pub(crate) struct StoreLimiter {
    memory_limit: usize,
    memory_used: usize,
    table_elements: usize,
    instances: usize,
    tables: usize,
    memories: usize,
}

impl StoreLimiter {
    pub(crate) fn new(limits: &SandboxLimits) -> StoreLimiter {
        StoreLimiter {
            memory_limit: limits.memory_bytes,
            memory_used: 0,
            table_elements: limits.table_elements,
            instances: limits.instances,
            tables: limits.tables,
            memories: limits.memories,
        }
    }
}

impl wasmtime::ResourceLimiter for StoreLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let after = self
            .memory_used
            .saturating_sub(current)
            .saturating_add(desired);
        if after > self.memory_limit {
            return Err(wasmtime::format_err!(
                "memory limit: the connector asked for {} MiB of linear memory in all, more than the sandbox's {} MiB",
                after >> 20,
                self.memory_limit >> 20
            ));
        }
        self.memory_used = after;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.table_elements {
            return Err(wasmtime::format_err!(
                "table limit: the connector asked for a table of {desired} elements, more than the sandbox's {}",
                self.table_elements
            ));
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        self.instances
    }

    fn tables(&self) -> usize {
        self.tables
    }

    fn memories(&self) -> usize {
        self.memories
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::ResourceLimiter;

    #[test]
    fn memory_is_limited_across_all_memories_together() {
        let mut limiter = StoreLimiter::new(&SandboxLimits {
            memory_bytes: 100,
            ..SandboxLimits::default()
        });
        assert!(limiter.memory_growing(0, 40, None).is_ok());
        assert!(limiter.memory_growing(0, 40, None).is_ok());
        // A third memory of 40 would make 120 in all: refused although it alone is under 100.
        assert!(limiter.memory_growing(0, 40, None).is_err());
        // Growing the first from 40 to 60 makes exactly 100.
        assert!(limiter.memory_growing(40, 60, None).is_ok());
        assert!(limiter.memory_growing(60, 61, None).is_err());
    }

    #[test]
    fn tables_are_bounded() {
        let mut limiter = StoreLimiter::new(&SandboxLimits::default());
        assert!(limiter.table_growing(0, 1000, None).is_ok());
        let err = limiter
            .table_growing(1000, 1_000_000_000, None)
            .expect_err("a billion elements is refused");
        assert!(err.to_string().contains("table limit"), "{err}");
    }
}
