//! Reading a file the operator names (a manifest, a component) with its checks made on what is read,
//! not on a look at the path beforehand: opened once, without blocking (a FIFO opens at once and is
//! then refused as not a regular file, never waited on), judged on the open file, and read no further
//! than its bound plus one byte. A file swapped or grown between a look and the read (a deploy's
//! rename, a copy racing a reload) cannot pass a size the look saw, nor a FIFO hang the reader.

use std::io::Read;
use std::path::Path;

/// Why a file was not read.
#[derive(Debug)]
pub enum BoundedReadError {
    /// It could not be opened or read.
    Io(std::io::Error),
    /// It is a directory, a FIFO, a device or a socket.
    NotAFile,
    /// It holds more than the bound: at least this many bytes.
    TooLarge { at_least: u64 },
}

/// The bytes of the regular file at `path` (symlinks followed), at most `max` of them.
pub fn read_regular_file(path: &Path, max: u64) -> Result<Vec<u8>, BoundedReadError> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    let file = options.open(path).map_err(BoundedReadError::Io)?;
    let meta = file.metadata().map_err(BoundedReadError::Io)?;
    if !meta.is_file() {
        return Err(BoundedReadError::NotAFile);
    }
    if meta.len() > max {
        return Err(BoundedReadError::TooLarge {
            at_least: meta.len(),
        });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(BoundedReadError::Io)?;
    let read = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if read > max {
        return Err(BoundedReadError::TooLarge { at_least: read });
    }
    Ok(bytes)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn temp(name: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("klairr-bounded-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a directory");
        dir
    }

    #[test]
    fn a_regular_file_within_its_bound_is_read_and_nothing_else_is() {
        let dir = temp("kinds");
        let file = dir.join("f");
        std::fs::write(&file, b"12345").expect("write");
        assert_eq!(read_regular_file(&file, 5).expect("read"), b"12345");
        assert!(matches!(
            read_regular_file(&file, 4),
            Err(BoundedReadError::TooLarge { at_least: 5 })
        ));
        assert!(matches!(
            read_regular_file(&dir, 100),
            Err(BoundedReadError::NotAFile)
        ));
        // A FIFO with no writer: refused at once, not waited on.
        let fifo = dir.join("fifo");
        let name =
            std::ffi::CString::new(fifo.to_str().expect("utf-8").as_bytes()).expect("a C path");
        // SAFETY: mkfifo reads the NUL-terminated path it is given.
        assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
        assert!(matches!(
            read_regular_file(&fifo, 100),
            Err(BoundedReadError::NotAFile)
        ));
        assert!(matches!(
            read_regular_file(&dir.join("missing"), 100),
            Err(BoundedReadError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The bound holds for the bytes read, whatever a look at the path said: the path is swapped
    /// between a small file and one past the bound while it is read again and again.
    #[test]
    fn the_bound_holds_for_the_bytes_read_while_the_path_is_swapped() {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        let dir = temp("swap");
        let path = dir.join("target");
        let (small, big) = (dir.join("small"), dir.join("big"));
        std::fs::write(&small, [1u8; 10]).expect("small");
        std::fs::write(&big, vec![2u8; 5000]).expect("big");
        std::fs::copy(&small, &path).expect("copy");
        let stop = Arc::new(AtomicBool::new(false));
        let swapper = {
            let (stop, path, small, big) = (stop.clone(), path.clone(), small.clone(), big.clone());
            std::thread::spawn(move || {
                let (s2, b2) = (small.with_extension("s2"), big.with_extension("b2"));
                while !stop.load(Ordering::Relaxed) {
                    let _ = std::fs::hard_link(&big, &b2);
                    let _ = std::fs::rename(&b2, &path);
                    let _ = std::fs::hard_link(&small, &s2);
                    let _ = std::fs::rename(&s2, &path);
                }
            })
        };
        let started = std::time::Instant::now();
        while started.elapsed() < std::time::Duration::from_secs(2) {
            if let Ok(bytes) = read_regular_file(&path, 100) {
                assert_eq!(bytes, [1u8; 10], "only the small file is ever read");
            }
        }
        stop.store(true, Ordering::Relaxed);
        swapper.join().expect("the swapper");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
