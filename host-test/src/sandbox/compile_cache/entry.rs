//! The on-disk entry format: its key and name, its header, the checks before a payload is trusted, and
//! the write-then-rename that stores one.

use super::dir::{check_entry_file, TEMP_PREFIX};
use super::DirCache;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::hash::{Hash, Hasher};
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;
use wasmtime::Engine;

/// The first bytes of an entry; the number is the entry format's version (01 hashed the payload alone).
const MAGIC: &[u8; 8] = b"KLRRCC02";
/// Magic, key, payload length, and the SHA-256 of all three with the payload ([`entry_digest`]): an
/// entry's compiled code is tied to the component and engine it was filed under, so an entry copied
/// under another's name with its key rewritten fails the check like a corrupt one.
pub(super) const HEADER_LEN: usize = MAGIC.len() + 32 + 8 + 32;
/// Entries are `<64 hex digits>.cwasm`.
const ENTRY_EXT: &str = "cwasm";
/// The largest entry kept for a component of `component_len` bytes. Cranelift's code and its tables
/// come to ~3.5x the component (0.9 MB for the 272 KiB Stripe component); a file far bigger is not an
/// entry, and is refused before it is read and hashed (a 200 MB file under an entry's name took 10 s).
pub(super) fn max_entry_bytes(component_len: usize) -> u64 {
    (16 << 20) + 16 * component_len as u64
}

impl DirCache<'_> {
    /// Write the entry to a temporary file in the directory and rename it into place: readers see the
    /// old entry, the new one, or none, never a part. Not synced: an entry lost or torn by a crash fails
    /// its hash check and is recompiled.
    pub(super) fn store(
        &self,
        name: &str,
        key: &[u8; 32],
        payload: &[u8],
        max_len: u64,
    ) -> io::Result<()> {
        if (HEADER_LEN + payload.len()) as u64 > max_len {
            // It would be refused when read: better not written.
            return Err(io::Error::other(format!(
                "the compiled component ({} bytes) is larger than the cache keeps for it ({max_len} bytes)",
                payload.len()
            )));
        }
        static SEQUENCE: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let temp = format!(
            "{TEMP_PREFIX}{}-{nanos}-{}",
            std::process::id(),
            SEQUENCE.fetch_add(1, Ordering::Relaxed)
        );
        let written = self.create_private(&temp).and_then(|mut file| {
            file.write_all(&header(key, payload))?;
            file.write_all(payload)?;
            drop(file);
            self.rename(&temp, name)
        });
        if written.is_err() {
            let _ = self.remove(&temp);
        }
        written
    }
}

/// The entry's key: SHA-256 over the format, the component's SHA-256 and the engine's compatibility hash.
pub(super) fn entry_key(engine: &Engine, component: &[u8]) -> [u8; 32] {
    let mut compat = Sha256Hasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut compat);
    let mut key = Sha256::new();
    key.update(MAGIC);
    key.update(Sha256::digest(component));
    key.update(compat.0.finalize());
    key.finalize().into()
}

/// Feeds what a [`Hash`] implementation writes into SHA-256 (the compatibility hash is only offered as a
/// `Hash`; its `write_*` calls are deterministic for one build of the host on one machine).
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        let digest = self.0.clone().finalize();
        let mut first = [0; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_le_bytes(first)
    }
}

pub(super) fn entry_name(key: &[u8; 32]) -> String {
    format!("{}.{ENTRY_EXT}", crate::cache::hex(key))
}

pub(super) fn is_entry_name(name: &str) -> bool {
    name.strip_suffix(ENTRY_EXT)
        .and_then(|stem| stem.strip_suffix('.'))
        .is_some_and(|hex| {
            hex.len() == 64
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}

pub(super) fn header(key: &[u8; 32], payload: &[u8]) -> Vec<u8> {
    let mut header = Vec::with_capacity(HEADER_LEN);
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(key);
    header.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    header.extend_from_slice(&entry_digest(key, payload));
    header
}

/// SHA-256 over the format, the entry's key, the payload's length and the payload. A checksum, not a
/// signature: it finds corruption, truncation and entries filed under the wrong key; whoever can write
/// the user's own 0700 directory could compute it too (and could as well change the binary).
fn entry_digest(key: &[u8; 32], payload: &[u8]) -> [u8; 32] {
    let mut digest = Sha256::new();
    digest.update(MAGIC);
    digest.update(key);
    digest.update((payload.len() as u64).to_le_bytes());
    digest.update(payload);
    digest.finalize().into()
}

/// The entry's payload if it is present and whole; `Ok(None)` if there is none; `Err(why)` if it is there
/// but not to be trusted. The open file comes back too (to bump its modification time on a hit).
pub(super) fn read_entry(
    cache: &DirCache<'_>,
    name: &str,
    key: &[u8; 32],
    max_len: u64,
) -> Result<Option<(File, Vec<u8>)>, String> {
    let mut file = match cache.open_entry(name) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("it could not be opened ({e})")),
    };
    let meta = file
        .metadata()
        .map_err(|e| format!("it could not be inspected ({e})"))?;
    check_entry_file(&meta)?;
    let len = meta.len();
    if len < HEADER_LEN as u64 {
        return Err(format!("it is truncated ({len} bytes)"));
    }
    if len > max_len {
        return Err(format!("it is too large to be an entry ({len} bytes)"));
    }
    // The header first: a file that is not this entry is refused after reading 80 bytes, not all of it.
    let mut head = [0u8; HEADER_LEN];
    file.read_exact(&mut head)
        .map_err(|e| format!("it could not be read ({e})"))?;
    let (magic, rest) = head.split_at(MAGIC.len());
    let (stored_key, rest) = rest.split_at(32);
    let (stored_len, stored_hash) = rest.split_at(8);
    if magic != MAGIC {
        return Err("it is not a cache entry of this format".to_owned());
    }
    if stored_key != key {
        return Err("it holds another component or engine configuration".to_owned());
    }
    let mut len_bytes = [0; 8];
    len_bytes.copy_from_slice(stored_len);
    let declared = u64::from_le_bytes(len_bytes);
    let present = len - HEADER_LEN as u64;
    if declared != present {
        return Err(format!(
            "it is truncated or padded ({present} bytes of compiled code, the header says {declared})"
        ));
    }
    let mut payload = Vec::with_capacity(present as usize);
    file.read_to_end(&mut payload)
        .map_err(|e| format!("it could not be read ({e})"))?;
    if payload.len() as u64 != declared {
        return Err(format!(
            "it changed while it was read ({} bytes of compiled code, the header says {declared})",
            payload.len()
        ));
    }
    if entry_digest(key, &payload).as_slice() != stored_hash {
        return Err(
            "its compiled code does not match the SHA-256 in its header (corrupt, or another entry's)"
                .to_owned(),
        );
    }
    Ok(Some((file, payload)))
}
