//! Long-term memory of query results: shapes only.
//!
//! What a conversation may remember about a Stripe result is its shape — table, column names and types,
//! how many rows, which filter keys were used, and for an aggregate its group columns and measures
//! (names and kinds; the row count is then the number of groups) — never a row value (ids, emails,
//! names, amounts, group values, measure values). The record type below has no field that could hold
//! one, so the guarantee is structural, and a test feeds it real results and greps the file for their
//! values.

use crate::sandbox::wit;
use serde::Serialize;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

/// One remembered shape. Deliberately built from `wit::Shape`'s column metadata and counts only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ShapeRecord {
    pub connector: String,
    pub table: String,
    pub columns: Vec<ShapeColumn>,
    pub row_count: u64,
    pub filter_keys: Vec<String>,
    /// An aggregate's group columns and measures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aggregate: Option<ShapeAggregate>,
    /// Unix seconds when recorded.
    pub recorded_at: u64,
}

/// The aggregate part of a shape: column names and measure kinds only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ShapeAggregate {
    pub group_by: Vec<String>,
    pub measures: Vec<ShapeMeasure>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ShapeMeasure {
    pub name: String,
    /// One of the contract's measure kinds ([`crate::returned::MEASURE_KINDS`]).
    pub kind: &'static str,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ShapeColumn {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
}

impl ShapeRecord {
    pub fn from_shape(connector: &str, shape: &wit::Shape) -> ShapeRecord {
        ShapeRecord {
            connector: connector.to_owned(),
            table: shape.table.clone(),
            columns: shape
                .columns
                .iter()
                .map(|c| ShapeColumn {
                    name: c.name.clone(),
                    kind: column_type_name(c.kind),
                })
                .collect(),
            row_count: shape.row_count,
            filter_keys: shape.filter_keys.clone(),
            aggregate: shape.aggregate.as_ref().map(|a| ShapeAggregate {
                group_by: a.group_by.clone(),
                measures: a
                    .measures
                    .iter()
                    .filter_map(|m| {
                        let kind = crate::returned::MEASURE_KINDS
                            .into_iter()
                            .find(|k| *k == m.kind)?;
                        Some(ShapeMeasure {
                            name: m.name.clone(),
                            kind,
                        })
                    })
                    .collect(),
            }),
            recorded_at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        }
    }
}

pub fn column_type_name(kind: wit::ColumnType) -> &'static str {
    match kind {
        wit::ColumnType::Id => "id",
        wit::ColumnType::Text => "text",
        wit::ColumnType::Integer => "integer",
        wit::ColumnType::Boolean => "boolean",
        wit::ColumnType::Timestamp => "timestamp",
        wit::ColumnType::Amount => "amount",
        wit::ColumnType::Currency => "currency",
    }
}

/// Appends shape records as JSON lines to a file (`--memory-file PATH`).
#[derive(Clone, Debug)]
pub struct MemoryFile {
    path: PathBuf,
}

impl MemoryFile {
    pub fn new(path: impl AsRef<Path>) -> MemoryFile {
        MemoryFile {
            path: path.as_ref().to_owned(),
        }
    }

    /// The file at `path`, once it is known that records can be appended to it (it is created if
    /// missing): a command or a long-running `serve` refuses to start rather than lose every shape.
    pub fn writable(path: impl AsRef<Path>) -> std::io::Result<MemoryFile> {
        let file = MemoryFile::new(path);
        file.open()?;
        Ok(file)
    }

    pub fn append(&self, record: &ShapeRecord) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(record).map_err(std::io::Error::other)?;
        line.push(b'\n');
        self.open()?.write_all(&line)
    }

    fn open(&self) -> std::io::Result<std::fs::File> {
        let mut options = OpenOptions::new();
        options.create(true).append(true);
        // Shapes hold no rows, but which tables and filters a team asks about is its own business: a
        // file the host creates is readable by its user only (an existing file keeps its mode).
        // Not blocking: opening a FIFO for writing would wait for a reader forever (and the open is
        // what checks the file before a command runs).
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options
                .mode(0o600)
                .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32);
        }
        let file = options.open(&self.path)?;
        // A FIFO, a terminal or a device (`/dev/full`) takes no file of records.
        if !file.metadata()?.is_file() {
            return Err(std::io::Error::other("it is not a regular file"));
        }
        Ok(file)
    }
}

#[cfg(all(test, unix))]
mod file_tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_memory_file_the_host_creates_is_its_users_only() {
        let dir = std::env::temp_dir().join(format!("klairr-memory-mode-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a temp dir");
        let path = dir.join("memory.jsonl");
        let record = ShapeRecord {
            connector: "stripe".into(),
            table: "charges".into(),
            columns: Vec::new(),
            row_count: 1,
            filter_keys: Vec::new(),
            aggregate: None,
            recorded_at: 0,
        };
        MemoryFile::new(&path).append(&record).expect("written");
        let mode = std::fs::metadata(&path)
            .expect("there")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_fifo_or_a_device_is_refused_at_once() {
        let dir = std::env::temp_dir().join(format!("klairr-memory-fifo-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a temp dir");
        let fifo = dir.join("memory.fifo");
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
        )
        .expect("mkfifo");
        // No reader: the open used to wait for one forever.
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = done.send(MemoryFile::writable(&fifo).map(|_| ()));
        });
        let refused = finished
            .recv_timeout(std::time::Duration::from_secs(5))
            .expect("answered at once, not blocked");
        assert!(refused.is_err());
        for device in ["/dev/full", "/dev/null"] {
            let err = MemoryFile::writable(device).expect_err(device);
            assert!(
                err.to_string().contains("not a regular file"),
                "{device}: {err}"
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
