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

/// How often a record opens the file again when the name it opened is gone meanwhile.
const REOPENS: usize = 16;

/// Appends shape records as JSON lines to a file (`--memory-file PATH`).
///
/// The file is the user's own: created with mode 0600 whatever the umask, and an existing one must be a
/// regular file of this user, with one name, closed to other users; a symlink in its place is never
/// followed. Otherwise another user who can write the directory could point the records at a file of
/// theirs to read, or at one of the user's own files to grow. Each record is written whole or not at all,
/// under a lock, on a line of its own.
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

    /// The file at `path`, once it is known that records can be appended to it: a command or a
    /// long-running `serve` refuses to start rather than lose every shape. A missing file is created to
    /// prove it can be, then removed: the first record creates it again, so a command refused later (or
    /// one that records nothing) leaves no empty file behind.
    ///
    /// Another command may append to the file between its creation and its removal: it is removed
    /// under the records' lock and only while empty, and a record that opened it before is written
    /// to the file the name holds once it has the lock (see [`MemoryFile::append`]), so none is lost.
    pub fn writable(path: impl AsRef<Path>) -> std::io::Result<MemoryFile> {
        let file = MemoryFile::new(path);
        let (opened, created) = file.open_new()?;
        if created {
            opened.lock()?;
            if opened.metadata()?.len() == 0 && still_named(&file.path, &opened)? {
                std::fs::remove_file(&file.path)?;
            }
        }
        Ok(file)
    }

    pub fn append(&self, record: &ShapeRecord) -> std::io::Result<()> {
        let (file, created) = self.open_new()?;
        let appended = self.append_to(file, record);
        if appended.is_err() && created {
            // The record that created the file could not be written (a full disk): no empty file is
            // left behind, as none is when nothing is recorded (QA). Removed only while it is still
            // this path's and empty: another command's record may have come meanwhile.
            if let Ok((file, _)) = self.open_new() {
                if file.lock().is_ok()
                    && file.metadata().is_ok_and(|m| m.len() == 0)
                    && still_named(&self.path, &file).unwrap_or(false)
                {
                    let _ = std::fs::remove_file(&self.path);
                }
            }
        }
        appended
    }

    /// Append `record` to `file`, opened at this path, or to the file the path holds once the lock is
    /// taken if `file` lost its name meanwhile (removed by [`MemoryFile::writable`] of another command).
    fn append_to(&self, mut file: std::fs::File, record: &ShapeRecord) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(record).map_err(std::io::Error::other)?;
        line.push(b'\n');
        // One writer at a time (another command, or `serve`'s other connections), so that the length
        // read below is where this record starts.
        file.lock()?;
        // Checked under the lock: the name can only go while its holder waits for it. Each command's
        // check removes at most the one file it created, so a few more looks are enough unless files
        // are removed and created at this path over and over (review: with four commands starting at
        // once, three looks lost records).
        for _ in 0..REOPENS {
            if still_named(&self.path, &file)? {
                break;
            }
            file = self.open()?;
            file.lock()?;
        }
        if !still_named(&self.path, &file)? {
            return Err(std::io::Error::other(
                "the file was removed again and again while this record waited to be written",
            ));
        }
        let before = file.metadata()?.len();
        // A file whose last line was left unended (by another program) gets this record on a new line.
        if before > 0 && !ends_with_newline(&file, before)? {
            line.insert(0, b'\n');
        }
        let written = file.write_all(&line);
        if written.is_err() {
            // A full disk may take part of the line: take it back, so that the file stays whole lines.
            let _ = file.set_len(before);
        }
        written
    }

    fn open(&self) -> std::io::Result<std::fs::File> {
        self.open_new().map(|(file, _)| file)
    }

    /// The file opened for appending, and whether this call created it.
    #[cfg(unix)]
    fn open_new(&self) -> std::io::Result<(std::fs::File, bool)> {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        // Not blocking: opening a FIFO for writing would wait for a reader forever (and the open is
        // what checks the file before a command runs). Never through a symlink.
        let flags = (rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32;
        let opened = |create: bool| {
            let mut options = OpenOptions::new();
            options
                .read(true)
                .append(true)
                .create_new(create)
                .mode(0o600)
                .custom_flags(flags);
            options.open(&self.path)
        };
        // Shapes hold no rows, but which tables and filters a team asks about is its own business.
        // A file found there may be gone by the time it is opened (another command's check removes
        // the file it created, a rotation renames it away): then it is made again, not a lost record.
        let mut attempts = 0;
        let (file, created) = loop {
            attempts += 1;
            match opened(true) {
                Ok(file) => {
                    // The umask may have taken bits off 0600 (0400 would refuse the next record).
                    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
                    break (file, true);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => match opened(false) {
                    Ok(file) => break (file, false),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound && attempts < REOPENS => {
                        continue
                    }
                    Err(e) => return Err(refusal(&self.path, e)),
                },
                Err(e) => return Err(refusal(&self.path, e)),
            }
        };
        check_own_file(&self.path, &file.metadata()?)?;
        Ok((file, created))
    }

    #[cfg(not(unix))]
    fn open_new(&self) -> std::io::Result<(std::fs::File, bool)> {
        let created = !self.path.exists();
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&self.path)?;
        if !file.metadata()?.is_file() {
            return Err(std::io::Error::other("it is not a regular file"));
        }
        Ok((file, created))
    }
}

/// Whether `file` is (still) the file at `path`: not removed or replaced since it was opened.
#[cfg(unix)]
fn still_named(path: &Path, file: &std::fs::File) -> std::io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let open = file.metadata()?;
    Ok(open.nlink() > 0
        && std::fs::symlink_metadata(path)
            .is_ok_and(|named| named.dev() == open.dev() && named.ino() == open.ino()))
}

#[cfg(not(unix))]
fn still_named(path: &Path, _file: &std::fs::File) -> std::io::Result<bool> {
    Ok(path.exists())
}

fn ends_with_newline(file: &std::fs::File, len: u64) -> std::io::Result<bool> {
    let mut last = [0u8];
    #[cfg(unix)]
    std::os::unix::fs::FileExt::read_exact_at(file, &mut last, len - 1)?;
    #[cfg(windows)]
    std::os::windows::fs::FileExt::seek_read(file, &mut last, len - 1)?;
    Ok(last[0] == b'\n')
}

/// An open that failed, said the way the user can act on it.
#[cfg(unix)]
fn refusal(path: &Path, e: std::io::Error) -> std::io::Error {
    let errno = e.raw_os_error().map(rustix::io::Errno::from_raw_os_error);
    if errno == Some(rustix::io::Errno::LOOP) {
        // O_NOFOLLOW's answer when the last component is a symlink.
        return std::io::Error::other(
            "it is a symbolic link, which is not followed: give the path of the file itself",
        );
    }
    // O_NONBLOCK's answer for a FIFO without a reader (a socket gives it too).
    if errno == Some(rustix::io::Errno::NXIO)
        || std::fs::symlink_metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir())
    {
        return std::io::Error::other("it is not a regular file");
    }
    e
}

/// What an existing memory file must be: a regular file of this user, one name, closed to others.
#[cfg(unix)]
fn check_own_file(path: &Path, meta: &std::fs::Metadata) -> std::io::Result<()> {
    use crate::own_file::{check, ClosedTo, NotOwn};
    check(meta, ClosedTo::ReadsAndWrites).map_err(|why| {
        let advice = match &why {
            NotOwn::NotRegular => String::new(),
            NotOwn::Owner { .. } => ": give a file of your own".to_owned(),
            NotOwn::Links(_) => ": give a file with one name".to_owned(),
            NotOwn::Mode { .. } => format!(": run `chmod 600 {}`", path.display()),
        };
        std::io::Error::other(format!("{why}{advice}"))
    })
}

#[cfg(all(test, unix))]
mod file_tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_memory_file_the_host_creates_is_its_users_only() {
        let dir = fresh_dir("mode");
        let path = dir.join("memory.jsonl");
        MemoryFile::new(&path).append(&record()).expect("written");
        let mode = std::fs::metadata(&path)
            .expect("there")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn record() -> ShapeRecord {
        ShapeRecord {
            connector: "stripe".into(),
            table: "charges".into(),
            columns: Vec::new(),
            row_count: 1,
            filter_keys: Vec::new(),
            aggregate: None,
            recorded_at: 0,
        }
    }

    fn fresh_dir(label: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("klairr-memory-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a temp dir");
        dir
    }

    /// Another user who can write the directory (a shared /tmp) must not be able to point the records at
    /// a file of theirs, or make them grow a file of the user's elsewhere.
    #[test]
    fn a_symlink_hard_link_or_file_open_to_others_is_refused_and_left_alone() {
        let dir = fresh_dir("links");
        let victim = dir.join("victim.txt");
        std::fs::write(&victim, "the user's own\n").expect("victim");
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).expect("chmod");

        let link = dir.join("memory.jsonl");
        std::os::unix::fs::symlink(&victim, &link).expect("symlink");
        let err = MemoryFile::writable(&link).expect_err("a symlink is not followed");
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert!(MemoryFile::new(&link).append(&record()).is_err());
        assert_eq!(
            std::fs::read_to_string(&victim).expect("victim"),
            "the user's own\n"
        );

        // Dangling: the host would have created the file the link names.
        let dangling = dir.join("dangling.jsonl");
        let target = dir.join("created-through-the-link");
        std::os::unix::fs::symlink(&target, &dangling).expect("symlink");
        assert!(MemoryFile::writable(&dangling).is_err());
        assert!(!target.exists(), "nothing created through the link");

        let hard = dir.join("hard.jsonl");
        std::fs::hard_link(&victim, &hard).expect("hard link");
        let err = MemoryFile::writable(&hard).expect_err("a second name is refused");
        assert!(err.to_string().contains("hard links"), "{err}");
        assert_eq!(
            std::fs::read_to_string(&victim).expect("victim"),
            "the user's own\n"
        );

        let open = dir.join("open.jsonl");
        std::fs::write(&open, "").expect("file");
        for mode in [0o644, 0o660, 0o602] {
            std::fs::set_permissions(&open, std::fs::Permissions::from_mode(mode)).expect("chmod");
            let err = MemoryFile::writable(&open).expect_err("open to others");
            assert!(
                err.to_string().contains(&format!("mode {mode:04o}"))
                    && err.to_string().contains("chmod 600"),
                "{err}"
            );
        }
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        MemoryFile::new(&open)
            .append(&record())
            .expect("fixed as told");

        // Root can make a file another user's: the host refuses to write into it.
        if rustix::process::geteuid().is_root() {
            let theirs = dir.join("theirs.jsonl");
            std::fs::write(&theirs, "").expect("file");
            std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o600))
                .expect("chmod");
            std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).expect("chown");
            let err = MemoryFile::writable(&theirs).expect_err("another user's file");
            assert!(
                err.to_string().contains("belongs to user id 65534"),
                "{err}"
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Checking a missing file leaves nothing behind (a command refused after the check, or one that
    /// records nothing, leaves no empty file); the first record creates it, 0600.
    #[test]
    fn a_missing_file_is_checked_without_being_left_behind() {
        let dir = fresh_dir("probe");
        let path = dir.join("memory.jsonl");
        let memory = MemoryFile::writable(&path).expect("writable");
        assert!(!path.exists(), "the check left the file");
        memory.append(&record()).expect("appended");
        let meta = std::fs::metadata(&path).expect("created by the record");
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        // An existing file is checked and kept, records and all.
        MemoryFile::writable(&path).expect("still writable");
        assert_eq!(
            std::fs::read_to_string(&path)
                .expect("read")
                .lines()
                .count(),
            1
        );
        // A directory that does not exist: refused, as before.
        assert!(MemoryFile::writable(dir.join("no/such/dir.jsonl")).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Another command's check created the file and removes it while this record waits for the lock
    /// with the file open: the record goes to the file the name holds afterwards, not to the removed
    /// one (QA lost a record so, with the removal slowed down).
    #[test]
    fn a_record_whose_file_is_removed_while_it_waits_is_not_lost() {
        let dir = fresh_dir("removed");
        let path = dir.join("memory.jsonl");
        let memory = MemoryFile::new(&path);
        let opened = memory.open().expect("opened (created)");
        std::fs::remove_file(&path).expect("the other command's check removes it");
        memory.append_to(opened, &record()).expect("appended");
        let text = std::fs::read_to_string(&path).expect("the name holds a file again");
        assert_eq!(text.lines().count(), 1, "{text}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Rotation is a rename (logrotate's default, no `copytruncate`): every record opens the file by
    /// its name, so the next one starts a new file of the user's own, under `serve` too, and a record
    /// that opened the old file before the rename follows the name rather than the old file.
    #[test]
    fn a_memory_file_renamed_away_is_rotated_at_the_next_record() {
        let dir = fresh_dir("rotated");
        let path = dir.join("memory.jsonl");
        let rotated = dir.join("memory.jsonl.1");
        let memory = MemoryFile::writable(&path).expect("writable");
        memory.append(&record()).expect("first record");
        let waiting = memory.open().expect("a record opens the file");
        std::fs::rename(&path, &rotated).expect("rotated");
        memory
            .append_to(waiting, &record())
            .expect("the waiting record");
        memory.append(&record()).expect("the next record");
        let old = std::fs::read_to_string(&rotated).expect("the rotated file");
        assert_eq!(
            old.lines().count(),
            1,
            "the rotated file is left as it was: {old}"
        );
        let new = std::fs::read_to_string(&path).expect("a new file under the name");
        assert_eq!(new.lines().count(), 2, "{new}");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_record_starts_on_a_line_of_its_own() {
        let dir = fresh_dir("newline");
        let path = dir.join("memory.jsonl");
        std::fs::write(&path, "{\"left\":\"unended\"}").expect("file");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let memory = MemoryFile::new(&path);
        memory.append(&record()).expect("appended");
        memory.append(&record()).expect("appended");
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.ends_with('\n'), "{text:?}");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text:?}");
        for line in lines {
            serde_json::from_str::<serde_json::Value>(line).expect("each line is JSON");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_fifo_or_a_device_is_refused_at_once() {
        let dir = fresh_dir("fifo");
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
        let refused = refused.expect_err("refused");
        assert!(
            refused.to_string().contains("not a regular file"),
            "{refused}"
        );
        for device in ["/dev/full", "/dev/null"] {
            let err = MemoryFile::writable(device).expect_err(device);
            assert!(
                err.to_string().contains("not a regular file"),
                "{device}: {err}"
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Commands starting (each one's check creates the file, then removes it) while others record a
    /// shape (the open finds the file there, then opens it by name): every record must reach the file,
    /// as the check promises ("none is lost"), where no file was yet (the first use, or a rotation).
    #[test]
    fn a_record_racing_another_commands_check_is_not_lost() {
        const THREADS: usize = 8;
        const ROUNDS: usize = 1500;
        let dir = fresh_dir("race");
        let path = dir.join("memory.jsonl");
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(THREADS));
        let threads: Vec<_> = (0..THREADS)
            .map(|i| {
                let (path, barrier, rotated) = (path.clone(), barrier.clone(), dir.join("rotated"));
                std::thread::spawn(move || {
                    let mut lost = Vec::new();
                    for round in 0..ROUNDS {
                        // Rotated away (or never made): every round starts with no file.
                        if i == 0 {
                            let _ = std::fs::rename(&path, &rotated);
                        }
                        barrier.wait();
                        if i % 2 == 0 {
                            let _ = MemoryFile::writable(&path);
                        } else if let Err(e) = MemoryFile::new(&path).append(&record()) {
                            lost.push(format!("round {round}: {e}"));
                        }
                        barrier.wait();
                    }
                    lost
                })
            })
            .collect();
        let lost: Vec<String> = threads
            .into_iter()
            .flat_map(|t| t.join().expect("joined"))
            .collect();
        assert!(
            lost.is_empty(),
            "{} records lost: {:?}",
            lost.len(),
            &lost[..lost.len().min(3)]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
