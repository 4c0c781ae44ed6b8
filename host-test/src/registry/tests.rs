use super::*;
use klairr_policy::manifest::STRIPE_TOML;
use klairr_policy::origin::Origin;

/// A fresh directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "klairr-registry-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).expect("write");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Stripe's manifest under another name, reading its own credential variable, with its component at
/// `component`.
fn manifest(name: &str, component: &str) -> String {
    STRIPE_TOML
        .replace("name = \"stripe\"", &format!("name = \"{name}\""))
        .replace(
            "env = \"STRIPE_API_KEY\"",
            &format!(
                "env = \"{}_KEY\"",
                name.to_ascii_uppercase().replace('-', "_")
            ),
        )
        .replace(
            "component = \"builtin:stripe\"",
            &format!("component = \"{component}\""),
        )
}

#[test]
fn stripe_reaches_exactly_api_stripe_com() {
    let stripe = Connector::stripe();
    assert_eq!(
        stripe.manifest.network.policy().allowed(),
        &[Origin::parse("https://api.stripe.com:443").expect("valid")]
    );
    assert_eq!(stripe.manifest.credential.env, "STRIPE_API_KEY");
    let bytes = stripe.component().expect("built in");
    assert!(
        bytes.starts_with(b"\0asm"),
        "the embedded component is a wasm binary"
    );
    assert_eq!(Registry::builtin().names(), vec!["stripe"]);
}

#[test]
fn a_directory_adds_its_manifests_with_components_relative_to_them() {
    let dir = TempDir::new("adds");
    std::fs::create_dir_all(dir.0.join("build")).expect("dir");
    std::fs::write(dir.0.join("build/other.wasm"), b"\0asm fake").expect("write");
    dir.write("other.toml", &manifest("other", "build/other.wasm"));
    dir.write("strict.toml", &manifest("stripe-strict", "builtin:stripe"));
    dir.write("README.md", "not a manifest");
    let registry = Registry::with_dir(&dir.0).expect("valid");
    assert_eq!(registry.names(), vec!["other", "stripe", "stripe-strict"]);
    let other = registry.get("other").expect("there");
    assert_eq!(other.component().expect("read").as_ref(), b"\0asm fake");
    // Read when asked: a rebuilt file is what a reload gets.
    std::fs::write(dir.0.join("build/other.wasm"), b"\0asm newer").expect("write");
    assert_eq!(other.component().expect("read").as_ref(), b"\0asm newer");
}

#[test]
fn two_manifests_with_one_name_are_refused_naming_both_files() {
    let dir = TempDir::new("dup");
    let a = dir.write("a.toml", &manifest("ledger", "builtin:stripe"));
    let b = dir.write("b.toml", &manifest("ledger", "builtin:stripe"));
    let err = Registry::with_dir(&dir.0).expect_err("duplicate");
    let text = err.to_string();
    assert!(matches!(err, RegistryError::Duplicate { .. }), "{text}");
    assert!(text.contains(&a.display().to_string()), "{text}");
    assert!(text.contains(&b.display().to_string()), "{text}");

    // The built-in name too.
    let dir = TempDir::new("dup-builtin");
    let path = dir.write("stripe.toml", &manifest("stripe", "builtin:stripe"));
    let text = Registry::with_dir(&dir.0).expect_err("dup").to_string();
    assert!(text.contains("built-in"), "{text}");
    assert!(text.contains(&path.display().to_string()), "{text}");
}

/// Text a setup shows every caller — where permissions are changed, why a key is refused — is refused
/// at load when it holds what looks like a key of any connector of the set, by form alone, and the
/// refusal does not quote it (QA: a key in `credential.manage` was shown to each caller in full).
#[test]
fn a_key_in_text_a_setup_shows_is_refused_at_load() {
    let key = "rk_test_51KlairrEmulatorReadOnlyAllFive0000OX9YIMtCFIPzgNZpBdfdYfkM";
    let run = "Zq8Wv2Lm4Np6Rt1Xy3Bc5Df7Gh9Jk0Mn2Pq4Rs6Tv8Wx";
    let manage = "manage = \"In the Stripe Dashboard go to Developers → API keys and edit this restricted key (or create a new one)\"";
    let refused = "message = \"this is a publishable key (pk_…)";
    for (field, from, to) in [
        (
            "credential.manage",
            manage,
            format!("manage = \"ask ops for {key}\""),
        ),
        (
            "credential.manage",
            manage,
            format!("manage = \"see https://example.com/{run}\""),
        ),
        (
            "credential.refused[1].message",
            refused,
            format!("message = \"use old_{key} (pk_…)"),
        ),
    ] {
        let dir = TempDir::new("key-in-text");
        let text = manifest("other", "builtin:stripe").replacen(from, &to, 1);
        assert_ne!(text, manifest("other", "builtin:stripe"), "{field}");
        let path = dir.write("other.toml", &text);
        let err = Registry::with_dir(&dir.0).expect_err("a key in shown text");
        let message = err.to_string();
        assert!(
            matches!(err, RegistryError::KeyInShownText { .. }),
            "{message}"
        );
        assert!(message.contains(&format!("`{field}`")), "{message}");
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(
            !message.contains(&key[8..20]) && !message.contains(run),
            "{message}"
        );
    }
    // The manifests as they ship name key prefixes (`rk_live_…`), which are no key.
    Registry::with_dir(&TempDir::new("shipped-text").0).expect("the built-in manifest");
    let dir = TempDir::new("prefixes-in-text");
    dir.write("other.toml", &manifest("other", "builtin:stripe"));
    Registry::with_dir(&dir.0).expect("prefixes alone");
}

#[test]
fn a_broken_directory_is_refused_saying_what_to_change() {
    let missing = TempDir::new("missing-component");
    missing.write("x.toml", &manifest("x", "nowhere/x.wasm"));
    let text = Registry::with_dir(&missing.0)
        .expect_err("missing")
        .to_string();
    assert!(
        text.contains("nowhere/x.wasm") && text.contains("build the component"),
        "{text}"
    );

    let unknown = TempDir::new("unknown-builtin");
    unknown.write("x.toml", &manifest("x", "builtin:ledger"));
    let text = Registry::with_dir(&unknown.0)
        .expect_err("builtin")
        .to_string();
    assert!(text.contains("builtin:stripe"), "{text}");

    let invalid = TempDir::new("invalid");
    invalid.write("x.toml", "name = \"x\"\n");
    let text = Registry::with_dir(&invalid.0)
        .expect_err("invalid")
        .to_string();
    assert!(text.contains("x.toml"), "{text}");

    let text = Registry::with_dir(&invalid.0.join("absent"))
        .expect_err("no dir")
        .to_string();
    assert!(text.contains("directory"), "{text}");

    // A *.toml that is a directory or a FIFO is refused, not skipped (and the FIFO never waited on).
    for (tag, make) in [
        (
            "toml-dir",
            (|p: &Path| std::fs::create_dir(p)) as fn(&Path) -> std::io::Result<()>,
        ),
        ("toml-fifo", |p: &Path| {
            rustix::fs::mkfifoat(rustix::fs::CWD, p, rustix::fs::Mode::from_raw_mode(0o600))
                .map_err(std::io::Error::from)
        }),
    ] {
        let odd = TempDir::new(tag);
        let path = odd.0.join("odd.toml");
        make(&path).expect("made");
        let text = Registry::with_dir(&odd.0).expect_err(tag).to_string();
        assert!(
            text.contains("odd.toml") && text.contains("not a regular file"),
            "{text}"
        );
    }
}

#[test]
fn an_unknown_name_lists_the_known_ones() {
    let text = Registry::builtin()
        .get("ledger")
        .expect_err("unknown")
        .to_string();
    assert!(
        text.contains("\"ledger\"") && text.contains("stripe"),
        "{text}"
    );
}

#[test]
fn a_redirect_must_move_an_origin_some_connector_reaches() {
    let registry = Registry::builtin();
    let stripe = Redirect::parse("https://api.stripe.com=http://127.0.0.1:9").expect("valid");
    registry
        .check_redirects(&[stripe])
        .expect("stripe's origin");
    let typo = Redirect::parse("https://api.strip.com=http://127.0.0.1:9").expect("valid");
    let text = registry
        .check_redirects(&[typo])
        .expect_err("unused")
        .to_string();
    assert!(text.contains("https://api.stripe.com:443"), "{text}");
}

#[test]
fn a_reread_keeps_the_name() {
    let dir = TempDir::new("reread");
    let path = dir.write("x.toml", &manifest("x", "builtin:stripe"));
    let registry = Registry::with_dir(&dir.0).expect("valid");
    let x = registry.get("x").expect("there").clone();
    std::fs::write(&path, manifest("y", "builtin:stripe")).expect("write");
    let text = x.reread().expect_err("renamed").to_string();
    assert!(text.contains("restart the host"), "{text}");
    std::fs::write(
        &path,
        manifest("x", "builtin:stripe").replace("per_endpoint = 24", "per_endpoint = 10"),
    )
    .expect("write");
    assert_eq!(
        x.reread().expect("same name").manifest.budget.per_endpoint,
        10
    );
}

/// A reload reads the very file read at start, even under a directory whose name is not UTF-8 (the
/// manifest's `source`, for messages, shows it lossily: a reload read a look-alike directory's).
#[cfg(unix)]
#[test]
fn a_reread_reads_the_file_read_at_start() {
    use std::os::unix::ffi::OsStrExt;
    let root = TempDir::new("non-utf8");
    let real = root.0.join(std::ffi::OsStr::from_bytes(b"conn\xff"));
    let lookalike = root.0.join("conn\u{FFFD}");
    for (dir, budget) in [
        (&real, "per_endpoint = 10"),
        (&lookalike, "per_endpoint = 3"),
    ] {
        std::fs::create_dir(dir).expect("dir");
        std::fs::write(
            dir.join("x.toml"),
            manifest("x", "builtin:stripe").replace("per_endpoint = 24", budget),
        )
        .expect("write");
    }
    let registry = Registry::with_dir(&real).expect("valid");
    let x = registry.get("x").expect("there");
    let again = x.reread().expect("the same file, unchanged");
    assert_eq!(
        again.manifest.budget.per_endpoint, 10,
        "reload read {}",
        again.manifest.source
    );
}

/// `*.toml` as a shell reads it: hidden files (an editor's lock, a backup) are no manifests.
#[cfg(unix)]
#[test]
fn hidden_files_are_not_manifests() {
    let dir = TempDir::new("hidden");
    dir.write("x.toml", &manifest("x", "builtin:stripe"));
    // Emacs's lock while a buffer has unsaved edits: a dangling symlink.
    std::os::unix::fs::symlink("op@box.4242:1700000000", dir.0.join(".#x.toml")).expect("lock");
    dir.write(".x.toml.bak.toml", &manifest("x", "builtin:stripe"));
    let registry = Registry::with_dir(&dir.0).expect("the hidden files are not read");
    assert!(registry.get("x").is_ok());
}

/// The component ships in every load: growth beyond the budget is a decision, not an accident. The
/// budget is the README's size ("Component size") plus a little room; lower it as the component shrinks.
#[test]
fn the_shipped_stripe_component_stays_within_its_size_budget() {
    const BUDGET_BYTES: usize = 295 * 1024;
    if env!("KLAIRR_STRIPE_COMPONENT_PROFILE") != "guest" {
        return; // a debugging build (KLAIRR_GUEST_PROFILE) is not what ships
    }
    assert!(
        STRIPE_COMPONENT.len() <= BUDGET_BYTES,
        "the Stripe component is {} bytes, over its budget of {BUDGET_BYTES}: see the README's \
         \"Component size\" for what it is made of",
        STRIPE_COMPONENT.len()
    );
}

/// Built without `std`, the Stripe component imports only what the contract and its own work need: HTTP
/// and its streams, the monotonic clock (deadlines, retry waits), random numbers (retry jitter) and the
/// contract's own interfaces. No `wasi:cli` at all (stdio, environment, exit, terminals), which `std`
/// would import; a dependency that brings `std` back fails this test (and the guest build).
#[test]
fn the_shipped_stripe_component_imports_only_what_it_uses() {
    let engine = wasmtime::Engine::default();
    let component = wasmtime::component::Component::new(&engine, STRIPE_COMPONENT)
        .expect("the built-in component compiles");
    let mut imports: Vec<String> = component
        .component_type()
        .imports(&engine)
        .map(|(name, _)| name.to_owned())
        .collect();
    imports.sort();
    assert_eq!(
        imports,
        [
            "klairr:connector/progress@0.2.0",
            "klairr:connector/types@0.2.0",
            "wasi:clocks/monotonic-clock@0.2.12",
            "wasi:http/outgoing-handler@0.2.12",
            "wasi:http/types@0.2.12",
            "wasi:io/error@0.2.12",
            "wasi:io/poll@0.2.12",
            "wasi:io/streams@0.2.12",
            "wasi:random/random@0.2.12",
        ]
    );
}
