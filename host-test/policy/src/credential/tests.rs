use super::*;
use crate::manifest::{Manifest, RefusedPrefix};

#[test]
fn a_credentials_form_keeps_its_prefix_length_and_where_letters_and_digits_are_only() {
    for (credential, want) in [
        ("rk_test_51KlairrAb9", "rk_test_xxxxxxxxxxx"),
        ("rk_live_", "rk_live_"),
        ("sk_live_Zz09", "sk_live_xxxx"),
        ("whsec_abc", "whsec_xxx"),
        ("lkw_live_k3y", "lkw_live_xxx"),
        ("pk_test_a_b", "pk_test_x_x"),
        // A third word is the key's own, and so is anything past eight letters.
        ("rk_test_abc_def", "rk_test_xxx_xxx"),
        ("abcdefghi_jk", "xxxxxxxxx_xx"),
        ("RK_TEST_ab", "xx_xxxx_xx"),
        // What no key has stays, so a check refuses it for the same reason.
        (" 'rk_test_ab cd'\n", " 'xx_xxxx_xx xx'\n"),
        ("rk_test_é9", "rk_test_éx"),
        ("", ""),
    ] {
        assert_eq!(form(credential), want, "{credential:?}");
        assert_eq!(form(credential).len(), credential.len(), "{credential:?}");
    }
    // No run of a real-length key survives it.
    let key = long_key(Mode::Live);
    assert!(!SecretRuns::new(&key).contains(&form(&key)));
}

/// A connector's own prefixes are kept as written, whatever their spelling (the manifest publishes
/// them), so its component can tell the mode; nothing past them is.
#[test]
fn a_credentials_form_keeps_the_connectors_own_prefixes() {
    let mut spec = spec();
    spec.test_prefix = "weatherapi_test_".into();
    spec.live_prefix = "WK1_live_".into();
    for (credential, want) in [
        ("weatherapi_test_ab9Z", "weatherapi_test_xxxx"),
        ("WK1_live_ab_9", "WK1_live_xx_x"),
        // The generic rule still reads other connectors' prefixes.
        ("rk_test_ab9", "rk_test_xxx"),
        ("weatherapi_tes", "xxxxxxxxxx_xxx"),
    ] {
        assert_eq!(spec.form(credential), want, "{credential:?}");
    }
    // The refused prefixes are kept too (Stripe's `sk_`, within the generic rule anyway).
    assert_eq!(
        Manifest::stripe().credential.form("sk_live_ab"),
        "sk_live_xx"
    );
}

/// A made-up key of real length (Stripe's are ~107 characters).
fn long_key(mode: Mode) -> String {
    let body: String = (0..100)
        .map(|i| {
            char::from(
                b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"[i * 7 % 62],
            )
        })
        .collect();
    format!("rk_{mode}_{body}")
}

fn spec() -> CredentialSpec {
    Manifest::stripe().credential
}

fn shown(r: &Refusal) -> [String; 2] {
    [r.to_string(), format!("{r:?}")]
}

#[test]
fn only_the_start_of_a_published_prefix_is_bare() {
    let spec = spec();
    for bare in ["r", "rk_", "rk_test_", " rk_live_\n", "sk_", "whsec"] {
        assert!(spec.is_bare_prefix(bare), "{bare:?}");
    }
    for not_bare in [
        "",
        "  ",
        "rk_test_a",
        "rk_test_51Kla",
        "xk_",
        "rk_test__",
        "sk_te",
    ] {
        assert!(!spec.is_bare_prefix(not_bare), "{not_bare:?}");
    }
}

#[test]
fn mode_and_kind_names() {
    assert_eq!(Mode::Test.to_string(), "test");
    assert_eq!(Mode::Live.as_str(), "live");
    assert_eq!(Mode::Live.other(), Mode::Test);
    for kind in [
        RefusalKind::SecretKeyRejected,
        RefusalKind::InvalidKey,
        RefusalKind::ModeMismatch,
    ] {
        assert_eq!(RefusalKind::parse(kind.as_str()), Some(kind));
        assert_eq!(kind.to_string(), kind.as_str());
    }
    assert_eq!(RefusalKind::parse("Invalid-Key"), None);
}

#[test]
fn accepts_keys_of_the_configured_mode() {
    let spec = spec();
    for mode in [Mode::Test, Mode::Live] {
        let key = long_key(mode);
        let cred = spec.accept(&format!(" \t{key}\r\n"), mode).expect("valid");
        assert_eq!(cred.expose(), key);
        assert_eq!(cred.mode(), mode);
        assert_eq!(cred.hint(), format!("rk_{mode}_…{}", &key[key.len() - 4..]));
        assert_eq!(spec.refused(&key), None);
        assert_eq!(
            spec.header(&cred),
            ("authorization".to_owned(), format!("Bearer {key}"))
        );
    }
    // Exactly min_length (24 = "rk_test_" + 16) is enough.
    let shortest = "rk_test_0123456789abcdef";
    assert_eq!(shortest.len(), spec.min_length);
    let cred = spec.accept(shortest, Mode::Test).expect("min length");
    assert_eq!(cred.hint(), "rk_test_…cdef");
}

#[test]
fn hint_never_shows_most_of_a_short_key() {
    assert_eq!(hint("rk_live_abcdefgh", "rk_live_"), "rk_live_…gh");
    assert_eq!(hint("rk_live_abc", "rk_live_"), "rk_live_…");
    assert_eq!(hint("rk_live_", "rk_live_"), "rk_live_…");
    assert_eq!(hint("tok_0123456789abcdefXYZW", "tok_"), "tok_…XYZW");
}

#[test]
fn debug_and_display_show_only_the_hint() {
    let key = long_key(Mode::Live);
    let cred = spec().accept(&key, Mode::Live).expect("valid");
    for text in [
        format!("{cred:?}"),
        cred.to_string(),
        format!("{:?}", Some(&cred)),
    ] {
        assert!(!text.contains(&key[8..20]), "{text}");
        assert!(text.contains(cred.hint()), "{text}");
    }
}

#[test]
fn every_refusal_branch() {
    let spec = spec();
    let key = long_key(Mode::Test);
    let body = &key[8..];
    // (raw, mode, kind, a phrase of the message)
    let cases: Vec<(String, Mode, RefusalKind, &str)> = vec![
        (
            String::new(),
            Mode::Test,
            RefusalKind::InvalidKey,
            "set STRIPE_API_KEY",
        ),
        (
            " \n\t".into(),
            Mode::Live,
            RefusalKind::InvalidKey,
            "rk_test_… (test mode) or rk_live_…",
        ),
        (
            format!("sk_test_{body}"),
            Mode::Test,
            RefusalKind::SecretKeyRejected,
            "Create restricted key",
        ),
        (
            format!("sk_live_{body}"),
            Mode::Live,
            RefusalKind::SecretKeyRejected,
            "secret keys (sk_…) are refused",
        ),
        (
            format!("sk_org_live_{body}"),
            Mode::Live,
            RefusalKind::SecretKeyRejected,
            "Read on Customers",
        ),
        (
            format!("pk_live_{body}"),
            Mode::Live,
            RefusalKind::InvalidKey,
            "publishable key",
        ),
        (
            format!("whsec_{body}"),
            Mode::Test,
            RefusalKind::InvalidKey,
            "webhook signing secret",
        ),
        (
            format!("rk_test_{}-x", &body[..30]),
            Mode::Test,
            RefusalKind::InvalidKey,
            "only letters, digits and '_'",
        ),
        (
            format!("\"{key}\""),
            Mode::Test,
            RefusalKind::InvalidKey,
            "without quotes",
        ),
        (
            format!("rk_test_{} {}", &body[..20], &body[20..]),
            Mode::Test,
            RefusalKind::InvalidKey,
            "spaces",
        ),
        (
            format!("rk_test_{}é", &body[..20]),
            Mode::Test,
            RefusalKind::InvalidKey,
            "copied whole",
        ),
        (
            key.clone(),
            Mode::Live,
            RefusalKind::ModeMismatch,
            "test-mode key (rk_test_…) but the connection is configured for live mode",
        ),
        (
            long_key(Mode::Live),
            Mode::Test,
            RefusalKind::ModeMismatch,
            "use a rk_test_… key or set the mode to live",
        ),
        (
            format!("rk_prod_{body}"),
            Mode::Test,
            RefusalKind::InvalidKey,
            "starts with rk_test_… (test mode) or rk_live_… (live mode)",
        ),
        (
            format!("RK_TEST_{body}"),
            Mode::Test,
            RefusalKind::InvalidKey,
            "does not look like",
        ),
        (
            "rk_test_0123456789abcde".into(),
            Mode::Test,
            RefusalKind::InvalidKey,
            "23 characters long, but valid keys have at least 24",
        ),
        (
            "rk_live_".into(),
            Mode::Live,
            RefusalKind::InvalidKey,
            "truncated",
        ),
    ];
    for (raw, mode, kind, phrase) in &cases {
        let refusal = spec.accept(raw, *mode).expect_err(raw);
        assert_eq!(refusal.kind, *kind, "{raw:?} in {mode}: {refusal}");
        for text in shown(&refusal) {
            assert!(text.contains(phrase), "{raw:?}: {text}");
            assert!(!text.contains(&body[..12]), "{text}");
            if raw.trim().len() > 8 {
                assert!(!text.contains(raw.trim()), "{text}");
            }
        }
    }
}

#[test]
fn a_refusal_names_where_the_credential_was_given() {
    let spec = spec();
    let long = "a".repeat(MAX_CREDENTIAL_LENGTH + 1);
    for (raw, in_env, in_field) in [
        (
            "",
            "set STRIPE_API_KEY to a key",
            "send in credential a key",
        ),
        (
            long.as_str(),
            "the credential in STRIPE_API_KEY is",
            "the credential given is",
        ),
        (
            "rk_test_abc-def_0123456789ab",
            "the credential in STRIPE_API_KEY contains",
            "the credential given contains",
        ),
    ] {
        let env = spec.accept(raw, Mode::Test).expect_err("refused").message;
        assert!(env.contains(in_env), "{env}");
        let field = spec
            .accept_given(raw, Mode::Test, Given::InField("credential"))
            .expect_err("refused")
            .message;
        assert!(
            field.contains(in_field) && !field.contains("STRIPE_API_KEY"),
            "{field}"
        );
    }
}

#[test]
fn step_one_refuses_prefixes_and_blank_only() {
    let spec = spec();
    let key = long_key(Mode::Test);
    let refused = spec
        .refused(&format!("  sk_live_{}", &key[8..]))
        .expect("refused");
    assert_eq!(refused.kind, RefusalKind::SecretKeyRejected);
    assert_eq!(
        refused.message,
        "secret keys (sk_…) are refused: Klairr only ever reads, so it accepts restricted keys only. \
         In the Stripe Dashboard go to Developers → API keys → Create restricted key, grant Read on \
         Customers, Subscriptions, Invoices, Charges and Payouts, leave everything else at None, and \
         use the rk_live_… (or rk_test_…) value."
    );
    assert_eq!(
        spec.refused("").map(|r| r.kind),
        Some(RefusalKind::InvalidKey)
    );
    // Step 1 judges prefixes only: malformed, short and mismatched keys wait for step 3.
    for raw in ["rk_test_x", "hello world", "rk_live_abc", "pk"] {
        assert_eq!(spec.refused(raw), None, "{raw}");
    }
    // And a length no key has, before a component is handed its form; the value is not echoed.
    let at_most = format!("rk_test_{}", "a".repeat(MAX_CREDENTIAL_LENGTH - 8));
    assert_eq!(spec.refused(&at_most), None);
    let over = format!("{at_most}a");
    let r = spec.refused(&over).expect("refused");
    assert_eq!(r.kind, RefusalKind::InvalidKey);
    assert!(
        r.message.contains("is 4097 bytes long, more than the 4096"),
        "{}",
        r.message
    );
    assert!(!r.message.contains("aaaa"), "{}", r.message);
}

#[test]
fn longest_refused_prefix_wins_and_empty_scheme_sends_the_key_alone() {
    let mut spec = spec();
    spec.refused.push(RefusedPrefix {
        prefix: "sk_org_".into(),
        kind: RefusalKind::InvalidKey,
        message: "organisation keys cannot be used here".into(),
    });
    let r = spec.refused("sk_org_live_1234").expect("refused");
    assert_eq!(r.message, "organisation keys cannot be used here");
    assert_eq!(
        spec.refused("sk_live_1234").map(|r| r.kind),
        Some(RefusalKind::SecretKeyRejected)
    );

    spec.scheme = String::new();
    spec.header = "x-api-key".into();
    let key = long_key(Mode::Test);
    let cred = spec.accept(&key, Mode::Test).expect("valid");
    assert_eq!(spec.header(&cred), ("x-api-key".to_owned(), key));
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn mode() -> impl Strategy<Value = Mode> {
        prop_oneof![Just(Mode::Test), Just(Mode::Live)]
    }

    proptest! {
        #[test]
        fn refusals_never_echo_the_input(
            prefix in prop::sample::select(vec!["rk_test_", "rk_live_", "sk_live_", "pk_test_", "whsec_", "rk_", ""]),
            body in "[0-9A-Za-z_ \"'é-]{0,120}",
            mode in mode(),
        ) {
            let spec = spec();
            let raw = format!("{prefix}{body}");
            if let Err(r) = spec.accept(&raw, mode) {
                for text in shown(&r) {
                    let body = body.trim();
                    prop_assert!(body.len() < 12 || !text.contains(body), "{text}");
                }
            }
        }

        #[test]
        fn accepted_credentials_have_the_mode_prefix(body in "[0-9A-Za-z]{16,120}", mode in mode()) {
            let spec = spec();
            let raw = format!("rk_{mode}_{body}");
            let cred = spec.accept(&raw, mode).map_err(|e| TestCaseError::fail(e.message))?;
            prop_assert_eq!(cred.expose(), raw.as_str());
            prop_assert!(cred.hint().starts_with(spec.prefix(mode)));
            prop_assert!(cred.hint().ends_with(&body[body.len() - 4..]));
            let err = spec.accept(&raw, mode.other()).map(|_| ()).unwrap_err();
            prop_assert_eq!(err.kind, RefusalKind::ModeMismatch);
        }
    }
}

/// A Stripe key starts with its account's id: `rk_live_5` and the 16 characters after `acct_` (keys of
/// acct_1PgafTB7WZ01zgkW are `rk_live_51PgafTB7WZ01zgkW…`; Stripe's published pk_/sk_ pairs share that
/// start). Every id of the account's charges, payment intents, balance transactions, invoices,
/// subscriptions and payouts holds the account's last 10 characters too (`ch_3` + 5 of its own time +
/// `B7WZ01zgkW` + 8 random): where the 2 characters beside them also match the key's — about one id in
/// 1,300, and every id made in the same time unit as the account — that id holds a 12-character run of the
/// key and the host printed `ch_3Pgb[redacted]0XYmPNZs`. Those characters are the account's public
/// name, not its secret: ids must come back whole, and the key's secret part is still masked.
#[test]
fn ids_of_the_keys_own_account_are_not_the_key() {
    let key = "rk_live_51PgafTB7WZ01zgkWq8sN2vT5xLmP0aZcY3uE6iR9oW4bK7dH1fJ0gS2Ab3Cd4Ef5Gh6Ij7Kl8Mn9Op0Qr1St2Uv3Wx4Yz5AbCdEfGh";
    let cred = spec().accept(key, Mode::Live).expect("valid");
    for id in [
        // Two time characters like the account's ("fT"): 12 characters in common.
        "ch_3PgbfTB7WZ01zgkW0XYmPNZs",
        // One before and one after ("T", then the key's "q").
        "pi_3Pgb9TB7WZ01zgkWq4XYmPNZ",
        // Two after ("q8").
        "txn_3Pgb9xB7WZ01zgkWq8XYmPNZ",
        // Made in the account's own time unit: all 16.
        "price_1PgafTB7WZ01zgkW6dKueIc5",
        "acct_1PgafTB7WZ01zgkW",
    ] {
        assert_eq!(cred.runs().redact(id), id, "{id}");
    }
    // The secret part is masked as before: any 12 characters of it, the whole key, the account's id
    // followed by 12 characters of it.
    for leak in [&key[30..42], key, &key[10..37], &key[key.len() - 12..]] {
        let shown = cred.runs().redact(leak);
        assert!(shown.contains(crate::redact::REDACTED), "{leak} → {shown}");
    }
}

/// Only a body that names its account has a public start: an older key's body (`rk_live_4eC39…`, random
/// from its first character) and a short key that merely starts with `51` are secret whole, so any 12
/// characters of their first 25 are still masked.
#[test]
fn a_key_that_names_no_account_is_masked_whole() {
    let older = "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";
    // "51", then the 15 characters of a name, then 31: one short of a secret of its own.
    let short = "rk_live_51PgafTB7WZ01zgkWq8sN2vT5xLmP0aZcY3uE6iR9oW4bK7d";
    assert_eq!(
        short.len() - "rk_live_".len() - 17,
        crate::credential::MIN_SECRET_AFTER_NAME - 1
    );
    for key in [older, short] {
        let cred = spec().accept(key, Mode::Live).expect("valid");
        for start in [0, 8, 13] {
            let run = &key[start..start + 12];
            let shown = cred.runs().redact(run);
            assert!(shown.contains(crate::redact::REDACTED), "{run} → {shown}");
        }
    }
    // One character more, and the name is the account's.
    let long_enough = format!("{short}x");
    let cred = spec().accept(&long_enough, Mode::Live).expect("valid");
    assert_eq!(
        cred.runs().redact("acct_1PgafTB7WZ01zgkW"),
        "acct_1PgafTB7WZ01zgkW"
    );
}

/// Stripe counts its rate limits per account and mode, whichever of the account's keys is used: the
/// host keys its budget by the account a key names (its mode's prefix and the name), the same for two
/// keys of one account, another for the other mode or another account, and none for a key that names
/// no account (keyed by the whole key, as before).
#[test]
fn a_key_names_its_account_for_the_budget() {
    let one = "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";
    let other_key = "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";
    let test_key = "rk_test_51PgafTB7WZ01zgkWq8sN2vT5xLmP0aZcY3uE6iR9oW4bK7dH1fJ0gS2Ab3Cd4Ef5Gh6Ij7Kl8Mn9Op0Qr1St2Uv3Wx4";
    let other_account = "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";
    let account = |key: &str, mode| {
        spec()
            .accept(key, mode)
            .expect("valid")
            .account()
            .map(str::to_owned)
    };
    assert_eq!(
        account(one, Mode::Live).as_deref(),
        Some("rk_live_51PgafTB7WZ01zgkW")
    );
    assert_eq!(account(other_key, Mode::Live), account(one, Mode::Live));
    assert_eq!(
        account(test_key, Mode::Test).as_deref(),
        Some("rk_test_51PgafTB7WZ01zgkW")
    );
    assert_eq!(
        account(other_account, Mode::Live).as_deref(),
        Some("rk_live_51QgafTB7WZ01zgkW")
    );
    // Secret whole: an older key, and one too short to have a secret after the name.
    let older = "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";
    let short = "rk_live_51PgafTB7WZ01zgkWq8sN2vT5xLmP0aZcY3uE6iR9oW4bK7d";
    assert_eq!(account(older, Mode::Live), None);
    assert_eq!(account(short, Mode::Live), None);
}
