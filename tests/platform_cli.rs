//! The command line of the platform: `connectors`, `--connector`, `--connectors DIR`, `--redirect`,
//! and credentials read from the variable each manifest names.

use klairr_e2e::{emulator, keys, run_cli, run_cli_with_env, temp_dir};
use klairr_host::policy::manifest::STRIPE_TOML;
use std::path::PathBuf;

/// A directory with Stripe's manifest renamed to `name`, its credential read from `env`.
fn alt_dir(label: &str, name: &str, env: &str) -> PathBuf {
    let dir = temp_dir(label);
    let manifest = STRIPE_TOML
        .replace("name = \"stripe\"", &format!("name = \"{name}\""))
        .replace("env = \"STRIPE_API_KEY\"", &format!("env = \"{env}\""));
    std::fs::write(dir.join(format!("{name}.toml")), manifest).expect("write");
    dir
}

/// A directory with Stripe's manifest as `stripe-short`: its credential read from `SHORT_STRIPE_KEY`, its
/// results cached 900 s at most.
fn short_ttl_dir(label: &str) -> PathBuf {
    let dir = alt_dir(label, "stripe-short", "SHORT_STRIPE_KEY");
    let path = dir.join("stripe-short.toml");
    let manifest = std::fs::read_to_string(&path).expect("read");
    let manifest = manifest.replace(
        "cache_ttl_ceiling_seconds = 3600",
        "cache_ttl_ceiling_seconds = 900",
    );
    assert!(manifest.contains("cache_ttl_ceiling_seconds = 900"));
    std::fs::write(path, manifest).expect("write");
    dir
}

#[test]
fn connectors_lists_each_connector_with_its_manifest_facts_and_tables() {
    let dir = alt_dir("cli-list", "stripe-alt", "ALT_STRIPE_KEY");
    let dir_arg = dir.display().to_string();
    let run = run_cli(
        &["--connectors", &dir_arg, "--format", "json", "connectors"],
        None,
    );
    assert_eq!(run.code, 0, "{run:?}");
    let listed = run.json();
    let connectors = listed["connectors"].as_array().expect("a list");
    let names: Vec<&str> = connectors
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, ["stripe", "stripe-alt"]);
    let alt = &connectors[1];
    assert_eq!(alt["contract"], "klairr:connector@0.2.0");
    assert_eq!(alt["origins"][0], "https://api.stripe.com:443");
    assert_eq!(alt["credential_env"], "ALT_STRIPE_KEY");
    assert_eq!(alt["tables"].as_array().map(Vec::len), Some(5));
    assert!(alt["manifest"]
        .as_str()
        .unwrap_or("")
        .ends_with("stripe-alt.toml"));

    let table = run_cli(&["--connectors", &dir_arg, "connectors"], None);
    assert_eq!(table.code, 0, "{table:?}");
    assert!(
        table.stdout.contains("stripe-alt") && table.stdout.contains("$ALT_STRIPE_KEY"),
        "{}",
        table.stdout
    );
}

#[test]
fn the_credential_comes_from_the_variable_the_manifest_names() {
    let emu = emulator();
    let dir = alt_dir("cli-env", "stripe-alt", "ALT_STRIPE_KEY");
    let dir_arg = dir.display().to_string();
    let redirect = format!("https://api.stripe.com={}", emu.base_url());
    let args = [
        "--connectors",
        &dir_arg,
        "--connector",
        "stripe-alt",
        "--redirect",
        &redirect,
        "--format",
        "json",
        "setup",
    ];
    let ok = run_cli_with_env(&args, &[("ALT_STRIPE_KEY", keys::TEST_READ_ONLY)], "");
    assert_eq!(ok.code, 0, "{ok:?}");
    assert_eq!(ok.json()["ok"], true);
    // STRIPE_API_KEY is not this connector's variable.
    let wrong = run_cli_with_env(&args, &[("STRIPE_API_KEY", keys::TEST_READ_ONLY)], "");
    assert_eq!(wrong.code, 2, "{wrong:?}");
    let message = wrong.json()["error"]["message"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert!(message.contains("ALT_STRIPE_KEY is not set"), "{message}");
    // Set but empty (or blank) is said as such.
    let empty = run_cli_with_env(&args, &[("ALT_STRIPE_KEY", " ")], "");
    assert_eq!(empty.code, 2, "{empty:?}");
    assert!(
        empty
            .stdout
            .contains("ALT_STRIPE_KEY is empty: export your credential"),
        "{}",
        empty.stdout
    );
    // A --stripe-base that is not a loopback base names the flag.
    let run = run_cli_with_env(
        &[
            "--stripe-base",
            "http://127.0.0.1:99999",
            "--format",
            "json",
            "setup",
        ],
        &[("STRIPE_API_KEY", keys::TEST_READ_ONLY)],
        "",
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stdout.contains("\"message\":\"--stripe-base: "),
        "{}",
        run.stdout
    );
}

#[test]
fn command_line_mistakes_are_usage_errors_naming_what_exists() {
    let run = run_cli(
        &["--connector", "ledgr", "--format", "json", "describe"],
        None,
    );
    assert_eq!(run.code, 2, "{run:?}");
    let v = run.json();
    assert_eq!(v["error"]["kind"], "usage");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("stripe"),
        "{v}"
    );

    let run = run_cli(
        &[
            "--redirect",
            "https://api.strip.com=http://127.0.0.1:9",
            "--format",
            "json",
            "describe",
        ],
        None,
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.json()["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("https://api.stripe.com:443"),
        "{run:?}"
    );

    let run = run_cli(
        &[
            "--redirect",
            "https://api.stripe.com=http://10.1.1.1:80",
            "describe",
        ],
        None,
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("not a loopback"), "{run:?}");

    let run = run_cli_with_env(&["serve", "--listen", "127.0.0.1:0"], &[], "");
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("KLAIRR_HOST_TOKEN is not set"),
        "{run:?}"
    );
    let run = run_cli_with_env(
        &["serve", "--listen", "0.0.0.0:0"],
        &[("KLAIRR_HOST_TOKEN", "0123456789abcdef0")],
        "",
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("loopback only"), "{run:?}");
    // A host name is not resolved: the message says what to write (QA: "invalid socket address syntax").
    let run = run_cli_with_env(
        &["--format", "json", "serve", "--listen", "localhost:8080"],
        &[("KLAIRR_HOST_TOKEN", "0123456789abcdef0")],
        "",
    );
    assert_eq!(
        (run.code, run.json()["error"]["kind"].as_str()),
        (2, Some("usage")),
        "{run:?}"
    );
    let message = run.json()["error"]["message"].to_string();
    assert!(
        message.contains("e.g. 127.0.0.1:8080") && message.contains("not resolved"),
        "{message}"
    );
    let run = run_cli_with_env(
        &["--format", "json", "serve", "--listen", "127.0.0.1:99999"],
        &[("KLAIRR_HOST_TOKEN", "0123456789abcdef0")],
        "",
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.json()["error"]["message"]
            .to_string()
            .contains("port 99999 is out of range"),
        "{run:?}"
    );
    // A port another process holds is not the command line's mistake: `network`, exit 1, as the
    // emulator says it (QA: serve said `usage`, exit 2).
    let held = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = held.local_addr().expect("addr").port().to_string();
    let listen = format!("127.0.0.1:{port}");
    let run = run_cli_with_env(
        &["--format", "json", "serve", "--listen", &listen],
        &[("KLAIRR_HOST_TOKEN", "0123456789abcdef0")],
        "",
    );
    assert_eq!(
        (run.code, run.json()["error"]["kind"].as_str()),
        (1, Some("network")),
        "{run:?}"
    );
    let run = run_cli(&["--format", "json", "emulator", "--port", &port], None);
    assert_eq!(
        (run.code, run.json()["error"]["kind"].as_str()),
        (1, Some("network")),
        "{run:?}"
    );
}

#[test]
fn a_connectors_directory_that_cannot_be_used_is_refused_naming_the_files() {
    let dir = alt_dir("cli-dup", "stripe-alt", "ALT_STRIPE_KEY");
    std::fs::copy(dir.join("stripe-alt.toml"), dir.join("again.toml")).expect("copy");
    let dir_arg = dir.display().to_string();
    let run = run_cli(
        &["--connectors", &dir_arg, "--format", "json", "describe"],
        None,
    );
    assert_eq!(run.code, 1, "{run:?}");
    let v = run.json();
    assert_eq!(v["error"]["kind"], "connector-config");
    let message = v["error"]["message"].as_str().unwrap_or("");
    assert!(
        message.contains("again.toml") && message.contains("stripe-alt.toml"),
        "{message}"
    );
}

/// A `--connectors` path that is no directory (missing, a file) is the command line's mistake: `usage`,
/// exit 2, naming it (QA: it was `connector-config`, exit 1, as a broken manifest is).
#[test]
fn a_connectors_path_that_is_no_directory_is_a_usage_error() {
    let dir = alt_dir("cli-not-a-dir", "stripe-alt", "ALT_STRIPE_KEY");
    let file = dir.join("stripe-alt.toml").display().to_string();
    let missing = dir.join("missing").display().to_string();
    for path in [&file, &missing] {
        let run = run_cli(
            &["--connectors", path, "--format", "json", "connectors"],
            None,
        );
        assert_eq!(run.code, 2, "{run:?}");
        let v = run.json();
        assert_eq!(v["error"]["kind"], "usage", "{v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("cannot list the connectors directory")),
            "{v}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A manifest that reads another connector's credential variable (here the built-in Stripe one's) is
/// refused, naming both manifests: no manifest dropped into a directory can take the Stripe key to the
/// origins it lists.
#[test]
fn a_manifest_reading_another_connectors_credential_is_refused() {
    let dir = alt_dir("cli-shared-env", "stripe-alt", "STRIPE_API_KEY");
    let dir_arg = dir.display().to_string();
    let run = run_cli(
        &["--connectors", &dir_arg, "--format", "json", "connectors"],
        Some(keys::TEST_READ_ONLY),
    );
    assert_eq!(run.code, 1, "{run:?}");
    let v = run.json();
    assert_eq!(v["error"]["kind"], "connector-config");
    let message = v["error"]["message"].as_str().unwrap_or("");
    assert!(
        message.contains("$STRIPE_API_KEY")
            && message.contains("stripe-alt.toml")
            && message.contains("change `credential.env`"),
        "{message}"
    );
}

/// `--cache-ttl` above the connector's ceiling is refused, as `serve` refuses it in a connection's body,
/// before any request; at the ceiling it is taken.
#[test]
fn a_cache_ttl_above_the_connectors_ceiling_is_refused() {
    let emu = emulator();
    let dir = short_ttl_dir("cli-ttl");
    let dir_arg = dir.display().to_string();
    let redirect = format!("https://api.stripe.com={}", emu.base_url());
    let query = |ttl: &str| {
        run_cli_with_env(
            &[
                "--connectors",
                &dir_arg,
                "--connector",
                "stripe-short",
                "--redirect",
                &redirect,
                "--cache-ttl",
                ttl,
                "--format",
                "json",
                "query",
                r#"{"list":"payouts","limit":1}"#,
            ],
            &[("SHORT_STRIPE_KEY", keys::TEST_READ_ONLY)],
            "",
        )
    };
    let run = query("901");
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(run.json()["error"]["kind"], "usage");
    assert!(
        run.stdout
            .contains("--cache-ttl 901 is above connector stripe-short's ceiling of 900 s"),
        "{}",
        run.stdout
    );
    assert!(emu.requests().is_empty(), "refused before any request");
    let run = query("900");
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["cache_ttl_seconds"], 900);
}

/// A manifest whose component is not one (here an empty core module) refuses the directory with a
/// message naming the connector, the file and its manifest.
#[test]
fn a_component_that_will_not_load_is_named_with_its_connector_and_file() {
    let dir = alt_dir("cli-core-module", "stripe-alt", "ALT_STRIPE_KEY");
    let manifest = std::fs::read_to_string(dir.join("stripe-alt.toml")).expect("read");
    let manifest = manifest.replace(
        "component = \"builtin:stripe\"",
        "component = \"core.wasm\"",
    );
    std::fs::write(dir.join("stripe-alt.toml"), manifest).expect("write");
    std::fs::write(dir.join("core.wasm"), b"\0asm\x01\0\0\0").expect("write");
    let dir_arg = dir.display().to_string();
    let run = run_cli(
        &["--connectors", &dir_arg, "--format", "json", "connectors"],
        None,
    );
    assert_eq!(run.code, 1, "{run:?}");
    let message = run.json()["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        message.starts_with("connector stripe-alt, component ")
            && message.contains("core.wasm")
            && message.contains("stripe-alt.toml"),
        "{message}"
    );
}

/// `--component` must be a component file: a FIFO (which would block the read forever) or a directory
/// is refused at once as the command line's mistake.
#[test]
fn a_component_path_that_is_not_a_file_is_refused_at_once() {
    let dir = temp_dir("cli-fifo");
    let fifo = dir.join("component.wasm");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    for path in [fifo.as_path(), dir.as_path()] {
        let path = path.display().to_string();
        let run = run_cli(
            &["--component", &path, "--format", "json", "describe"],
            None,
        );
        assert_eq!(run.code, 2, "{run:?}");
        let v = run.json();
        assert_eq!(v["error"]["kind"], "usage", "{run:?}");
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("not a file")),
            "{run:?}"
        );
    }
}

/// `describe` says what the host will do, not what a component claims: the manifest's connector name,
/// and a cache TTL no longer than the manifest's ceiling (here the hostile component, which calls itself
/// `hostile` and asks for an hour, under a manifest whose ceiling is 900 s).
#[test]
fn describe_tells_the_manifests_name_and_ceiling_not_the_components_claims() {
    let dir = short_ttl_dir("cli-claims");
    let dir_arg = dir.display().to_string();
    let run = run_cli(
        &[
            "--connectors",
            &dir_arg,
            "--connector",
            "stripe-short",
            "--component",
            env!("KLAIRR_HOSTILE_COMPONENT"),
            "--format",
            "json",
            "describe",
        ],
        None,
    );
    assert_eq!(run.code, 0, "{run:?}");
    let v = run.json();
    assert_eq!(v["connector"], "stripe-short", "{v}");
    assert!(
        v["default_cache_ttl_seconds"]
            .as_u64()
            .is_some_and(|ttl| ttl <= 900),
        "{v}"
    );
}

/// A key pasted into the manifest that fails is not quoted back: the failing manifest's own key prefixes
/// are known even though it does not validate (review: a ledger key written as `credential.env`, or
/// as a number's value, was shown in full; Stripe's keys, whose prefixes are built in, were hidden).
#[test]
fn a_key_in_a_manifest_that_fails_is_not_quoted_back() {
    let source =
        std::fs::read_to_string(klairr_e2e::ledger_manifest_source()).expect("ledger.toml");
    let key = "lk_test_abcdefghijklmnopqrstuvwx12";
    for (line, pasted) in [
        ("env = \"LEDGER_API_KEY\"", format!("env = \"{key}\"")),
        ("max_in_flight = 2", format!("max_in_flight = \"{key}\"")),
    ] {
        assert!(source.contains(line), "ledger.toml has {line}");
        let dir = temp_dir("cli-key-in-manifest");
        std::fs::write(dir.join("ledger.toml"), source.replace(line, &pasted)).expect("write");
        let run = run_cli(
            &["--connectors", dir.to_str().expect("utf-8"), "connectors"],
            None,
        );
        assert_eq!(run.code, 1, "{run:?}");
        assert!(run.stderr.contains("connector-config"), "{}", run.stderr);
        assert!(!run.stderr.contains("abcdefghij"), "{}", run.stderr);
        assert!(
            run.stderr.contains("[looks like a key: not shown]"),
            "{}",
            run.stderr
        );
    }
}
