use super::dir::{prepare_dir, TEMP_PREFIX};
use super::entry::{entry_key, entry_name, header, is_entry_name, read_entry, HEADER_LEN};
use super::*;
use std::fs::{self, File};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use wasmtime::component::Linker;
use wasmtime::{Config, Store};

/// A component that answers 42 (so "it works" means instantiated and called), varied by `salt`.
/// In the text format, which the cache (like `Component::new`) accepts and keys on as given.
fn component(salt: u32) -> Vec<u8> {
    format!(
        r#"(component
             (core module $m
               (func (export "answer") (result i32) i32.const 42)
               (func (export "salt") (result i32) i32.const {salt}))
             (core instance $i (instantiate $m))
             (func (export "answer") (result u32) (canon lift (core func $i "answer"))))"#
    )
    .into_bytes()
}

/// The host's engine configuration (`Sandbox::load`).
fn engine() -> Engine {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    Engine::new(&config).expect("engine")
}

fn answer(engine: &Engine, component: &Component) -> u32 {
    let mut store = Store::new(engine, ());
    store.set_epoch_deadline(u64::MAX / 2);
    let instance = Linker::<()>::new(engine)
        .instantiate(&mut store, component)
        .expect("instantiate");
    let f = instance
        .get_typed_func::<(), (u32,)>(&mut store, "answer")
        .expect("answer export");
    f.call(&mut store, ()).expect("call").0
}

/// A fresh directory under the system's temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "klairr-compile-cache-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&path);
        TempDir(path)
    }

    /// The cache directory inside (not yet created).
    fn cache(&self) -> PathBuf {
        self.0.join("cache")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(is_entry_name)
        })
        .collect();
    found.sort();
    found
}

fn load(cache: &CompileCache, engine: &Engine, bytes: &[u8]) -> (Component, Outcome) {
    let loaded = cache.load(engine, bytes).expect("load");
    (loaded.component, loaded.outcome)
}

#[test]
fn compile_cache_hit_after_miss() {
    let tmp = TempDir::new("hit");
    let cache = CompileCache::Dir(tmp.cache());
    let engine = engine();
    let bytes = component(1);

    let (first, outcome) = load(&cache, &engine, &bytes);
    assert_eq!(outcome, Outcome::Miss { stored: true });
    assert_eq!(answer(&engine, &first), 42);
    let meta = fs::metadata(tmp.cache()).expect("created");
    assert_eq!(meta.mode() & 0o777, 0o700, "created with mode 0700");
    let stored = entries(&tmp.cache());
    assert_eq!(stored.len(), 1);
    assert_eq!(
        fs::metadata(&stored[0]).expect("entry").mode() & 0o777,
        0o600
    );

    // Age the entry: a hit must bump its modification time (the eviction order).
    let old = SystemTime::UNIX_EPOCH + Duration::from_secs(86_400);
    File::options()
        .write(true)
        .open(&stored[0])
        .and_then(|f| f.set_modified(old))
        .expect("age the entry");
    let (second, outcome) = load(&cache, &engine, &bytes);
    assert_eq!(outcome, Outcome::Hit);
    assert_eq!(answer(&engine, &second), 42);
    assert_eq!(entries(&tmp.cache()), stored, "no new entry");
    let touched = fs::metadata(&stored[0])
        .and_then(|m| m.modified())
        .expect("mtime");
    assert!(touched > old, "a hit bumps the entry's modification time");

    // The same engine configuration in another `Engine` (another process) finds it too.
    assert_eq!(load(&cache, &self::engine(), &bytes).1, Outcome::Hit);
    // Another component does not.
    assert_eq!(
        load(&cache, &engine, &component(2)).1,
        Outcome::Miss { stored: true }
    );
}

#[test]
fn compile_cache_corrupt_or_truncated_entries_are_recompiled() {
    let tmp = TempDir::new("corrupt");
    let cache = CompileCache::Dir(tmp.cache());
    let engine = engine();
    let bytes = component(3);
    load(&cache, &engine, &bytes);
    let entry = entries(&tmp.cache()).remove(0);
    let good = fs::read(&entry).expect("read");

    let damaged: Vec<(&str, Vec<u8>, &str)> = vec![
        ("garbage", b"not a cache entry at all, but long enough to hold a header................................".to_vec(), "not a cache entry"),
        ("empty", Vec::new(), "truncated"),
        ("header only", good[..HEADER_LEN].to_vec(), "truncated"),
        ("cut", good[..good.len() - 100].to_vec(), "truncated"),
        ("padded", [good.as_slice(), b"xx"].concat(), "truncated or padded"),
    ];
    for (what, bytes_on_disk, why) in damaged {
        fs::write(&entry, &bytes_on_disk).expect("damage");
        let (component, outcome) = load(&cache, &engine, &bytes);
        match outcome {
            Outcome::Rejected { reason, stored } => {
                assert!(reason.contains(why), "{what}: {reason}");
                assert!(stored, "{what}");
            }
            other => panic!("{what}: {other:?}"),
        }
        assert_eq!(answer(&engine, &component), 42, "{what}");
        assert_eq!(fs::read(&entry).expect("read"), good, "{what}: rewritten");
        assert_eq!(load(&cache, &engine, &bytes).1, Outcome::Hit, "{what}");
    }
}

#[test]
fn compile_cache_bit_flip_under_an_unchanged_header_is_detected() {
    let tmp = TempDir::new("flip");
    let cache = CompileCache::Dir(tmp.cache());
    let engine = engine();
    let bytes = component(4);
    load(&cache, &engine, &bytes);
    let entry = entries(&tmp.cache()).remove(0);
    let good = fs::read(&entry).expect("read");

    // Flip one bit in the compiled code, in the middle and at the last byte; the header (with its
    // hash of the original code) is left as it was.
    for at in [HEADER_LEN + (good.len() - HEADER_LEN) / 2, good.len() - 1] {
        let mut flipped = good.clone();
        flipped[at] ^= 0x10;
        fs::write(&entry, &flipped).expect("flip");
        assert_eq!(
            read_entry(
                &DirCache::open(&tmp.cache(), KEEP_ENTRIES).expect("dir"),
                entry.file_name().and_then(|n| n.to_str()).expect("name"),
                &entry_key(&engine, &bytes),
                u64::MAX
            )
                .err()
                .as_deref(),
            Some(
                "its compiled code does not match the SHA-256 in its header (corrupt, or another entry's)"
            )
        );
        let (compiled, outcome) = load(&cache, &engine, &bytes);
        assert!(
            matches!(&outcome, Outcome::Rejected { reason, .. } if reason.contains("SHA-256")),
            "{outcome:?}"
        );
        assert_eq!(answer(&engine, &compiled), 42);
        assert_eq!(fs::read(&entry).expect("read"), good);
    }

    // A payload the hash vouches for but wasmtime refuses (what a stale entry looks like) is
    // recompiled too.
    let junk = vec![0x7f; 4096];
    let key = entry_key(&engine, &bytes);
    fs::write(&entry, [header(&key, &junk), junk].concat()).expect("stale");
    let (compiled, outcome) = load(&cache, &engine, &bytes);
    assert!(
        matches!(&outcome, Outcome::Rejected { reason, stored: true } if reason.contains("wasmtime refused")),
        "{outcome:?}"
    );
    assert_eq!(answer(&engine, &compiled), 42);

    // An entry renamed onto another key is refused by its header.
    let other = component(5);
    load(&cache, &engine, &other);
    let other_entry = tmp.cache().join(entry_name(&entry_key(&engine, &other)));
    fs::copy(&entry, &other_entry).expect("copy");
    assert!(matches!(
        load(&cache, &engine, &other).1,
        Outcome::Rejected { reason, .. } if reason.contains("another component")
    ));
    // And with the key in its header rewritten to the name's: the checksum covers the key.
    let other_key = entry_key(&engine, &other);
    let mut forged = fs::read(&entry).expect("read");
    forged[8..40].copy_from_slice(&other_key);
    fs::write(&other_entry, &forged).expect("forge");
    let (compiled, outcome) = load(&cache, &engine, &other);
    assert!(
        matches!(&outcome, Outcome::Rejected { reason, stored: true } if reason.contains("another entry's")),
        "{outcome:?}"
    );
    assert_eq!(answer(&engine, &compiled), 42, "recompiled");
}

#[test]
fn a_hard_linked_entry_is_refused() {
    let tmp = TempDir::new("hardlink");
    let cache = CompileCache::Dir(tmp.cache());
    let engine = engine();
    let bytes = component(6);
    load(&cache, &engine, &bytes);
    let entry = entries(&tmp.cache()).remove(0);
    let elsewhere = tmp.cache().with_file_name("elsewhere.cwasm");
    fs::hard_link(&entry, &elsewhere).expect("link");
    let outcome = load(&cache, &engine, &bytes).1;
    assert!(
        matches!(&outcome, Outcome::Rejected { reason, .. } if reason.contains("hard links")),
        "{outcome:?}"
    );
    let _ = fs::remove_file(&elsewhere);
}

#[test]
fn eviction_leaves_a_temporary_file_another_process_is_writing() {
    let tmp = TempDir::new("temp-race");
    let dir = tmp.cache();
    let engine = engine();
    let cache = DirCache::open(&dir, 3).expect("dir");
    // Written a moment after the evicting process read its clock, and one left an hour ago.
    let writing = dir.join(format!("{TEMP_PREFIX}1-2-3"));
    let left = dir.join(format!("{TEMP_PREFIX}4-5-6"));
    for (path, at) in [
        (&writing, SystemTime::now() + Duration::from_secs(2)),
        (&left, SystemTime::now() - Duration::from_secs(7200)),
    ] {
        File::create(path)
            .and_then(|f| f.set_modified(at))
            .expect("temp file");
    }
    cache.load(&engine, &component(7)).expect("load");
    assert!(writing.exists(), "a file being written stays");
    assert!(!left.exists(), "a stale one goes");
}

#[test]
fn compile_cache_wrong_permissions_are_refused() {
    let tmp = TempDir::new("perms");
    let dir = tmp.cache();
    fs::create_dir_all(&dir).expect("mkdir");
    let engine = engine();
    let bytes = component(6);
    for mode in [0o755, 0o750, 0o701, 0o777] {
        fs::set_permissions(&dir, fs::Permissions::from_mode(mode)).expect("chmod");
        let err = CompileCache::Dir(dir.clone())
            .load(&engine, &bytes)
            .err()
            .expect("an explicit directory open to others is refused");
        let text = err.to_string();
        assert!(matches!(err, CompileCacheError::UnsafeDir { .. }), "{text}");
        assert!(
            text.contains(&format!("chmod 700 {}", dir.display())),
            "{text}"
        );
        assert!(text.contains(&format!("{mode:04o}")), "{text}");
        assert!(
            SandboxError::from(err).to_string().contains("chmod 700"),
            "the sandbox error keeps the fix"
        );

        // The default location is skipped instead: compiled in memory, nothing written.
        let (component, outcome) = load(&CompileCache::DefaultDir(dir.clone()), &engine, &bytes);
        assert!(
            matches!(&outcome, Outcome::Unusable { reason } if reason.contains("chmod 700")),
            "{outcome:?}"
        );
        assert_eq!(answer(&engine, &component), 42);
        assert!(entries(&dir).is_empty());
    }

    // A directory with other uses (here, a file of the user's own in it: `/`, `/tmp` or a home
    // directory typed by mistake) is not offered `chmod 700`, which would break them.
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).expect("chmod");
    fs::write(dir.join("notes.txt"), b"mine").expect("write");
    let text = CompileCache::Dir(dir.clone())
        .load(&engine, &bytes)
        .err()
        .expect("refused")
        .to_string();
    assert!(
        !text.contains("chmod")
            && text.contains("not the cache's to change: choose another directory")
            && text.matches("directory").count() == 3,
        "{text}"
    );
    fs::remove_file(dir.join("notes.txt")).expect("rm");

    // Closed to others but to its owner too: no entry could be read or written there.
    for mode in [0o600, 0o500, 0o300] {
        fs::set_permissions(&dir, fs::Permissions::from_mode(mode)).expect("chmod");
        let err = CompileCache::Dir(dir.clone())
            .load(&engine, &bytes)
            .err()
            .expect("an explicit directory its owner cannot use is refused");
        let text = err.to_string();
        assert!(
            text.contains("you cannot read, write and enter it")
                && text.contains(&format!("{mode:04o}"))
                && text.contains("chmod 700"),
            "{text}"
        );
    }

    // A file where the directory should be.
    let file = tmp.0.join("file");
    fs::write(&file, b"x").expect("write");
    assert!(matches!(
        CompileCache::Dir(file).load(&engine, &bytes).err(),
        Some(CompileCacheError::NotADirectory { .. })
    ));

    // Fixed as told: it works.
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).expect("chmod");
    assert_eq!(
        load(&CompileCache::Dir(dir.clone()), &engine, &bytes).1,
        Outcome::Miss { stored: true }
    );

    // An entry others may write, or a symlink, is not trusted (and is replaced).
    let entry = entries(&dir).remove(0);
    fs::set_permissions(&entry, fs::Permissions::from_mode(0o666)).expect("chmod");
    assert!(matches!(
        load(&CompileCache::Dir(dir.clone()), &engine, &bytes).1,
        Outcome::Rejected { reason, .. } if reason.contains("writable by other users")
    ));
    let elsewhere = tmp.0.join("elsewhere");
    fs::rename(&entry, &elsewhere).expect("move");
    std::os::unix::fs::symlink(&elsewhere, &entry).expect("symlink");
    assert!(matches!(
        load(&CompileCache::Dir(dir.clone()), &engine, &bytes).1,
        Outcome::Rejected { .. }
    ));
    assert!(fs::symlink_metadata(&entry).expect("entry").is_file());
}

#[test]
fn compile_cache_another_engine_config_is_another_key() {
    let tmp = TempDir::new("config");
    let cache = CompileCache::Dir(tmp.cache());
    let bytes = component(7);
    let host = engine();
    let mut config = Config::new();
    config.wasm_component_model(true);
    // Without epoch interruption the compiled code has no epoch checks: it must not be reused.
    config.epoch_interruption(false);
    let other = Engine::new(&config).expect("engine");

    assert_ne!(entry_key(&host, &bytes), entry_key(&other, &bytes));
    assert_eq!(entry_key(&host, &bytes), entry_key(&engine(), &bytes));
    assert_eq!(
        load(&cache, &host, &bytes).1,
        Outcome::Miss { stored: true }
    );
    let (component, outcome) = load(&cache, &other, &bytes);
    assert_eq!(outcome, Outcome::Miss { stored: true });
    assert_eq!(answer(&other, &component), 42);
    assert_eq!(entries(&tmp.cache()).len(), 2);
    assert_eq!(load(&cache, &host, &bytes).1, Outcome::Hit);
    assert_eq!(load(&cache, &other, &bytes).1, Outcome::Hit);
}

#[test]
fn compile_cache_eviction_keeps_the_newest() {
    let tmp = TempDir::new("evict");
    let dir = tmp.cache();
    let engine = engine();
    let keep = 3;
    let cache = DirCache::open(&dir, keep).expect("dir");

    // A stale temporary file (a writer that died) and a fresh one (a writer at work).
    let stale = dir.join(format!("{TEMP_PREFIX}4242-17-0"));
    let fresh = dir.join(format!("{TEMP_PREFIX}4242-18-1"));
    // Files the cache never wrote, however old, are never deleted: the directory may be the user's.
    let upper = "AB".repeat(32);
    let foreign = [
        dir.join("notes.txt"),
        dir.join(format!("{TEMP_PREFIX}my-own-file")),
        dir.join(format!("{upper}.cwasm")),
    ];
    for (path, age) in [(&stale, 7200), (&fresh, 10)]
        .into_iter()
        .chain(foreign.iter().map(|p| (p, 1_000_000)))
    {
        File::create(path)
            .and_then(|f| f.set_modified(SystemTime::now() - Duration::from_secs(age)))
            .expect("file");
    }

    // Entries with distinct, increasing modification times (component 10 is the oldest).
    let mut names = Vec::new();
    for (i, salt) in (10..16).enumerate() {
        let bytes = component(salt);
        let outcome = cache.load(&engine, &bytes).expect("load").outcome;
        assert_eq!(outcome, Outcome::Miss { stored: true });
        let name = dir.join(entry_name(&entry_key(&engine, &bytes)));
        File::options()
            .write(true)
            .open(&name)
            .and_then(|f| {
                f.set_modified(SystemTime::now() - Duration::from_secs(1000 - i as u64 * 10))
            })
            .expect("set mtime");
        names.push(name);
    }
    // The last write evicted down to `keep`; the newest survive.
    let mut newest: Vec<PathBuf> = names[names.len() - keep..].to_vec();
    newest.sort();
    assert_eq!(entries(&dir), newest);
    assert!(!stale.exists(), "a stale temporary file is deleted");
    assert!(
        fresh.exists(),
        "a temporary file being written is left alone"
    );
    for path in &foreign {
        assert!(path.exists(), "{} was not the cache's", path.display());
    }

    // A hit makes the oldest survivor the newest: the next write evicts another one.
    let survivor = component(13);
    assert_eq!(
        cache.load(&engine, &survivor).expect("load").outcome,
        Outcome::Hit
    );
    cache.load(&engine, &component(20)).expect("load");
    let left = entries(&dir);
    assert_eq!(left.len(), keep);
    assert!(left.contains(&dir.join(entry_name(&entry_key(&engine, &survivor)))));
    assert!(!left.contains(&names[4]), "the oldest after the hit went");

    assert_eq!(KEEP_ENTRIES, 64);
}

#[test]
fn entries_dated_in_the_future_do_not_crowd_out_the_ones_in_use() {
    let tmp = TempDir::new("future");
    let dir = tmp.cache();
    let engine = engine();
    let cache = DirCache::open(&dir, 3).expect("dir");
    // Three valid entries dated 2099 (a clock set back, a directory copied from elsewhere).
    for salt in 30..33 {
        let bytes = component(salt);
        cache.load(&engine, &bytes).expect("load");
        File::options()
            .write(true)
            .open(dir.join(entry_name(&entry_key(&engine, &bytes))))
            .and_then(|f| {
                f.set_modified(SystemTime::now() + Duration::from_secs(70 * 365 * 86_400))
            })
            .expect("set mtime");
    }
    // Components in use now are stored and hit, one after the other.
    for salt in 40..43 {
        let bytes = component(salt);
        assert_eq!(
            cache.load(&engine, &bytes).expect("load").outcome,
            Outcome::Miss { stored: true }
        );
        assert_eq!(
            cache.load(&engine, &bytes).expect("load").outcome,
            Outcome::Hit,
            "component {salt} was kept"
        );
    }
    assert_eq!(entries(&dir).len(), 3);
}

#[test]
fn a_fifo_or_a_huge_file_under_an_entrys_name_is_refused_without_waiting_or_reading_it() {
    let tmp = TempDir::new("fifo");
    let dir = tmp.cache();
    let engine = engine();
    prepare_dir(&dir).expect("dir");
    let bytes = component(50);
    let path = dir.join(entry_name(&entry_key(&engine, &bytes)));
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &path,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .expect("mkfifo");
    // Without a writer, opening the FIFO for reading would block for ever.
    let outcome = CompileCache::Dir(dir.clone())
        .load(&engine, &bytes)
        .expect("load")
        .outcome;
    assert!(
        matches!(&outcome, Outcome::Rejected { reason, stored: true } if reason.contains("not a regular file")),
        "{outcome:?}"
    );

    // An 8 MiB sparse file of zeros (within the size an entry may have): refused on its header.
    let other = component(51);
    let path = dir.join(entry_name(&entry_key(&engine, &other)));
    File::create(&path)
        .and_then(|f| f.set_len(8 << 20))
        .expect("sparse file");
    let outcome = CompileCache::Dir(dir.clone())
        .load(&engine, &other)
        .expect("load")
        .outcome;
    assert!(
        matches!(&outcome, Outcome::Rejected { reason, .. } if reason.contains("not a cache entry of this format")),
        "{outcome:?}"
    );

    // The right header for this component, declaring 200 MB of compiled code, and that much (sparse):
    // refused on its size, before anything is read or hashed.
    let third = component(52);
    let key = entry_key(&engine, &third);
    let path = dir.join(entry_name(&key));
    let declared: u64 = 200 << 20;
    let mut head = header(&key, b"");
    head[40..48].copy_from_slice(&declared.to_le_bytes());
    fs::write(&path, &head).expect("header");
    File::options()
        .append(true)
        .open(&path)
        .and_then(|f| f.set_len(HEADER_LEN as u64 + declared))
        .expect("sparse file");
    let outcome = CompileCache::Dir(dir.clone())
        .load(&engine, &third)
        .expect("load")
        .outcome;
    assert!(
        matches!(&outcome, Outcome::Rejected { reason, stored: true } if reason.contains("too large to be an entry")),
        "{outcome:?}"
    );
}

#[test]
fn compile_cache_settings_and_default_location() {
    for off in ["off", "OFF", "Off", " off", "off "] {
        assert_eq!(
            CompileCache::parse_setting(off),
            Ok(CompileCache::Off),
            "{off}"
        );
    }
    assert_eq!(
        CompileCache::parse_setting("./off"),
        Ok(CompileCache::Dir(PathBuf::from("./off")))
    );
    assert!(CompileCache::parse_setting("").is_err());
    // A path is whatever bytes the system allows, UTF-8 or not (clap refused such a KLAIRR_CACHE_DIR
    // without naming it).
    let latin1 = std::os::unix::ffi::OsStringExt::from_vec(b"/tmp/caf\xe9".to_vec());
    assert_eq!(
        CompileCache::parse_os_setting(OsString::clone(&latin1)),
        Ok(CompileCache::Dir(PathBuf::from(latin1)))
    );
    let os = |s: &str| Some(OsString::from(s));
    assert_eq!(
        default_dir(os("/x/cache"), os("/home/u")),
        Some(PathBuf::from("/x/cache/klairr/components"))
    );
    assert_eq!(
        default_dir(os("relative"), os("/home/u")),
        Some(PathBuf::from("/home/u/.cache/klairr/components"))
    );
    assert_eq!(
        default_dir(None, os("/home/u")),
        Some(PathBuf::from("/home/u/.cache/klairr/components"))
    );
    assert_eq!(default_dir(None, os("")), None);
    assert_eq!(default_dir(None, os("relhome")), None, "a relative HOME");
    assert_eq!(default_dir(None, None), None);
    assert_eq!(shell_quote(Path::new("/a/b-c.d")), "/a/b-c.d");
    assert_eq!(shell_quote(Path::new("/a b/it's")), r"'/a b/it'\''s'");
}

#[test]
fn compile_cache_off_and_invalid_components() {
    let engine = engine();
    let (component, outcome) = load(&CompileCache::Off, &engine, &component(8));
    assert_eq!(outcome, Outcome::Off);
    assert_eq!(answer(&engine, &component), 42);

    let tmp = TempDir::new("invalid");
    let err = CompileCache::Dir(tmp.cache())
        .load(&engine, b"\0asm not really")
        .err()
        .expect("invalid bytes are an error");
    assert!(matches!(err, CompileCacheError::Compile(_)), "{err}");
    assert!(entries(&tmp.cache()).is_empty(), "nothing stored");
}

#[test]
fn a_text_file_given_as_a_component_is_not_quoted_back() {
    let engine = engine();
    let secret = "STRIPE_API_KEY=rk_live_51NotReallyAKeyButLongEnough";
    let err = CompileCache::Off
        .load(&engine, format!("{secret}\nmore\n").as_bytes())
        .err()
        .expect("text that is not a component is an error");
    let message = err.to_string();
    assert!(!message.contains("rk_live_"), "{message}");
    assert!(!message.contains('\n'), "one line: {message}");
    assert!(
        message.ends_with("nor component text: expected `(` (line 1, column 1)"),
        "{message}"
    );
}

// ---- the directory checked is the directory used ----

/// A component that answers 7: the code someone else would like the victim to run.
fn other_answer_component() -> Vec<u8> {
    br#"(component
         (core module $m (func (export "answer") (result i32) i32.const 7))
         (core instance $i (instantiate $m))
         (func (export "answer") (result u32) (canon lift (core func $i "answer"))))"#
        .to_vec()
}

/// An entry under `victim`'s key holding another component's compiled code: its header's checksum is
/// computable by anyone (it is not a signature), so only where it lies keeps it out.
fn forged_entry(engine: &Engine, victim: &[u8]) -> Vec<u8> {
    let payload = Component::new(engine, other_answer_component())
        .expect("compile")
        .serialize()
        .expect("serialize");
    [header(&entry_key(engine, victim), &payload), payload].concat()
}

/// A directory the cache refuses: open to everyone (mode 0777) and, when the tests run as root,
/// another user's.
fn foreign_dir(tmp: &TempDir) -> PathBuf {
    let foreign = tmp.0.join("foreign");
    fs::create_dir_all(&foreign).expect("mkdir");
    fs::set_permissions(&foreign, fs::Permissions::from_mode(0o777)).expect("chmod");
    if rustix::process::geteuid().is_root() {
        std::os::unix::fs::chown(&foreign, Some(65534), Some(65534)).expect("chown");
    }
    assert!(
        prepare_dir(&foreign).is_err(),
        "the foreign directory is refused"
    );
    foreign
}

/// A user's 0700 cache directory reached through a symlink (`link`), and a refused directory holding
/// an entry forged under the victim component's key: what the two tests below repoint between.
struct Planted {
    tmp: TempDir,
    safe: PathBuf,
    foreign: PathBuf,
    link: PathBuf,
    engine: Engine,
    victim: Vec<u8>,
    name: String,
    forged: Vec<u8>,
}

fn planted(label: &str, salt: u32) -> Planted {
    let tmp = TempDir::new(label);
    let safe = tmp.0.join("safe");
    prepare_dir(&safe).expect("safe dir");
    let foreign = foreign_dir(&tmp);
    let engine = engine();
    let victim = component(salt);
    let name = entry_name(&entry_key(&engine, &victim));
    let forged = forged_entry(&engine, &victim);
    fs::write(foreign.join(&name), &forged).expect("plant");
    let link = tmp.0.join("cache");
    std::os::unix::fs::symlink(&safe, &link).expect("symlink");
    Planted {
        tmp,
        safe,
        foreign,
        link,
        engine,
        victim,
        name,
        forged,
    }
}

/// The cache path is a symlink someone else can repoint. Once the directory it led to is checked, every
/// step (reading the entry, writing the new one, evicting) stays in that directory, wherever the path
/// leads afterwards.
#[test]
fn the_directory_checked_is_the_directory_read_and_written() {
    let Planted {
        safe,
        foreign,
        link,
        engine,
        victim,
        name,
        tmp: _tmp,
        ..
    } = planted("repointed", 40);
    let cache = DirCache::open(&link, KEEP_ENTRIES).expect("the link leads to the safe directory");
    // Repointed between the check and the use.
    fs::remove_file(&link).expect("rm link");
    std::os::unix::fs::symlink(&foreign, &link).expect("repoint");

    let loaded = cache.load(&engine, &victim).expect("load");
    assert_eq!(loaded.outcome, Outcome::Miss { stored: true });
    assert_eq!(answer(&engine, &loaded.component), 42);
    assert!(
        safe.join(&name).is_file(),
        "stored in the directory checked"
    );
    let in_foreign: Vec<_> = fs::read_dir(&foreign)
        .expect("list")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        in_foreign,
        [std::ffi::OsString::from(&name)],
        "nothing written there"
    );
    // And the hit comes from the safe directory too.
    let again = cache.load(&engine, &victim).expect("load");
    assert_eq!(again.outcome, Outcome::Hit);
    assert_eq!(answer(&engine, &again.component), 42);
}

/// The same through the public API, raced: a thread repoints the cache path between the user's 0700
/// directory and a refused one while `CompileCache::load` runs in a loop. Each load is either refused
/// (its check saw the refused directory) or served from the safe one: never the planted code.
#[test]
fn a_cache_path_repointed_during_loads_never_serves_the_refused_directory() {
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;
    let Planted {
        tmp,
        safe,
        foreign,
        link,
        engine,
        victim,
        name,
        forged,
    } = planted("repointed-race", 41);
    let cache = CompileCache::Dir(link.clone());
    assert_eq!(
        load(&cache, &engine, &victim).1,
        Outcome::Miss { stored: true }
    );

    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let (stop, link, safe, foreign) =
            (stop.clone(), link.clone(), safe.clone(), foreign.clone());
        let next = tmp.0.join("cache.next");
        std::thread::spawn(move || {
            let mut flip = false;
            while !stop.load(Ordering::Relaxed) {
                let _ = fs::remove_file(&next);
                std::os::unix::fs::symlink(if flip { &foreign } else { &safe }, &next)
                    .expect("symlink");
                fs::rename(&next, &link).expect("repoint");
                flip = !flip;
            }
        })
    };
    let (mut refused, mut safe_hits, mut foreign_hits) = (0, 0, 0);
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(3) {
        match cache.load(&engine, &victim) {
            Err(_) => refused += 1,
            Ok(Loaded {
                component,
                outcome: Outcome::Hit,
            }) => match answer(&engine, &component) {
                42 => safe_hits += 1,
                _ => foreign_hits += 1,
            },
            Ok(Loaded { outcome, .. }) => panic!("the safe entry is there: {outcome:?}"),
        }
    }
    stop.store(true, Ordering::Relaxed);
    swapper.join().expect("swapper");
    assert_eq!(
        foreign_hits, 0,
        "{foreign_hits} loads ran the refused directory's code ({safe_hits} safe, {refused} refused)"
    );
    assert!(
        safe_hits > 0 && refused > 0,
        "both sides raced: {safe_hits} safe, {refused} refused"
    );
    assert_eq!(
        fs::read(foreign.join(&name)).expect("planted"),
        forged,
        "left as planted"
    );
}

/// A cache path that is (or runs through) a symlink leading nowhere cannot be made with `mkdir -p`
/// ("File exists"): the error names the link instead of offering that command (a4: the default
/// `~/.cache` linked to an unmounted disk was told to `mkdir -p` a path it could not create).
#[test]
fn a_dangling_symlink_on_the_cache_path_is_named_not_offered_a_mkdir() {
    let tmp = TempDir::new("dangling");
    fs::create_dir_all(&tmp.0).expect("mkdir");
    let link = tmp.0.join("link");
    std::os::unix::fs::symlink(tmp.0.join("gone"), &link).expect("symlink");
    let engine = engine();
    let bytes = component(17);
    for dir in [link.clone(), link.join("klairr").join("components")] {
        let text = CompileCache::Dir(dir.clone())
            .load(&engine, &bytes)
            .err()
            .expect("a cache path through a dangling link cannot be used")
            .to_string();
        assert!(!text.contains("mkdir -p"), "{}: {text}", dir.display());
        assert!(
            text.contains(&format!(
                "{} is a symbolic link to something that does not exist",
                link.display()
            )),
            "{}: {text}",
            dir.display()
        );
        // The default location says the same, as a warning, and compiles in memory.
        let (component, outcome) = load(&CompileCache::DefaultDir(dir.clone()), &engine, &bytes);
        assert!(
            matches!(&outcome, Outcome::Unusable { reason } if reason.contains("dangling link")),
            "{outcome:?}"
        );
        assert_eq!(answer(&engine, &component), 42);
    }
    assert!(fs::symlink_metadata(&link)
        .expect("the link is left")
        .file_type()
        .is_symlink());
    // A path that simply does not exist yet is still created (and a missing one under a plain
    // directory is still offered `mkdir -p` only when it cannot be created: not here).
    assert_eq!(
        load(&CompileCache::Dir(tmp.0.join("fresh")), &engine, &bytes).1,
        Outcome::Miss { stored: true }
    );
}
