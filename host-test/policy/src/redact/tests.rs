use super::*;
use proptest::prelude::*;
use terminal::{classify, Shown};

/// A made-up restricted key: `rk_live_` and 99 alphanumerics, 107 characters. Not a real key.
const KEY: &str = concat!(
    "rk_live_",
    "ox9yimTcfipZGnzPbDFDyFKm51zfFoWbSrHAE56yUhQqg0eyN1",
    "ygQdvpSfF5PH5nLZjMeI8cFSmj83LDUL4CsJw24BikWMgISuS"
);

fn brute_force_contains_run(text: &str, secret: &str) -> bool {
    let s = secret.as_bytes();
    let t = text.as_bytes();
    if s.len() < MIN_RUN {
        return !s.is_empty() && t.windows(s.len()).any(|w| w == s);
    }
    s.windows(MIN_RUN)
        .any(|run| t.windows(MIN_RUN).any(|w| w == run))
}

/// `redact` spelled out the slow way: mark every byte any occurrence of any run covers (widened to
/// whole characters), then replace each maximal marked stretch.
fn brute_force_redact(text: &str, secret: &str) -> String {
    let (s, t) = (secret.as_bytes(), text.as_bytes());
    let runs: Vec<&[u8]> = if s.len() < MIN_RUN {
        vec![s]
    } else {
        s.windows(MIN_RUN).collect()
    };
    let mut covered = vec![false; t.len()];
    for run in runs.iter().filter(|r| !r.is_empty()) {
        for at in 0..=t.len().saturating_sub(run.len()) {
            if t.len() >= run.len() && &t[at..at + run.len()] == *run {
                let start = floor_char_boundary(text, at);
                let end = ceil_char_boundary(text, at + run.len());
                covered[start..end].iter_mut().for_each(|c| *c = true);
            }
        }
    }
    let mut out = String::new();
    for (i, c) in text.char_indices() {
        if !covered[i] {
            out.push(c);
        } else if i == 0 || !covered[i - 1] {
            out.push_str(REDACTED);
        }
    }
    out
}

#[test]
fn key_shape() {
    assert_eq!(KEY.len(), 107);
    assert!(KEY[8..].bytes().all(|b| b.is_ascii_alphanumeric()));
}

#[test]
fn whole_key_is_redacted() {
    let runs = SecretRuns::new(KEY);
    assert!(runs.contains(KEY));
    assert_eq!(runs.redact(KEY), REDACTED);
}

#[test]
fn every_twelve_char_run_is_found_at_any_offset() {
    let runs = SecretRuns::new(KEY);
    for start in 0..=KEY.len() - MIN_RUN {
        let run = &KEY[start..start + MIN_RUN];
        for prefix in ["", "-", "a-b ", "é"] {
            let text = format!("{prefix}{run}!");
            assert!(runs.contains(&text), "run at {start} after {prefix:?}");
            assert_eq!(runs.redact(&text), format!("{prefix}{REDACTED}!"));
        }
    }
}

#[test]
fn key_inside_text() {
    let runs = SecretRuns::new(KEY);
    let text = format!("upstream said: invalid key {KEY} (check your settings)");
    assert_eq!(
        runs.redact(&text),
        format!("upstream said: invalid key {REDACTED} (check your settings)")
    );
}

#[test]
fn two_fragments_in_one_text() {
    let runs = SecretRuns::new(KEY);
    let text = format!("a={} b={}.", &KEY[3..20], &KEY[60..90]);
    assert_eq!(runs.redact(&text), format!("a={REDACTED} b={REDACTED}."));
}

#[test]
fn overlapping_and_adjacent_runs_merge() {
    let runs = SecretRuns::new(KEY);
    // Two fragments back to back: adjacent occurrences make one stretch.
    let text = format!("[{}{}]", &KEY[0..12], &KEY[50..62]);
    assert_eq!(runs.redact(&text), format!("[{REDACTED}]"));
    // The same fragment twice, overlapping with itself through the key.
    let text = format!("<{}{}>", &KEY[10..40], &KEY[30..50]);
    assert_eq!(runs.redact(&text), format!("<{REDACTED}>"));
}

#[test]
fn a_secret_whose_pieces_repeat_is_matched_at_every_alignment() {
    // Every piece is "ab" × 3, standing at every offset that is a multiple of six.
    let secret = "ab".repeat(30);
    for runs in [SecretRuns::new(&secret), SecretRuns::portable(&secret)] {
        for text in [
            "xxbababababababyy",
            "ababababababa",
            "-abababababab-",
            "babababababa",
        ] {
            assert_eq!(
                runs.contains(text),
                brute_force_contains_run(text, &secret),
                "{text}"
            );
            assert_eq!(
                runs.redact(text),
                brute_force_redact(text, &secret),
                "{text}"
            );
        }
    }
}

#[test]
fn eleven_chars_are_not_a_run() {
    let runs = SecretRuns::new(KEY);
    for start in 0..=KEY.len() - 11 {
        let text = format!("-{}!", &KEY[start..start + 11]);
        assert!(!runs.contains(&text));
        assert!(matches!(runs.redact(&text), Cow::Borrowed(_)));
    }
    // Runs of 11 separated by one foreign byte stay too.
    let text = format!("{}-{}", &KEY[0..11], &KEY[11..22]);
    assert!(!runs.contains(&text));
}

#[test]
fn percent_encoded_key_is_not_matched_here() {
    // Encoding every byte breaks every run; request_rules decodes before it checks.
    let runs = SecretRuns::new(KEY);
    let encoded: String = KEY.bytes().map(|b| format!("%{b:02X}")).collect();
    assert!(!runs.contains(&encoded));
    assert!(matches!(runs.redact(&encoded), Cow::Borrowed(_)));
}

#[test]
fn short_secret_is_matched_whole() {
    let runs = SecretRuns::new("short_key");
    assert!(runs.contains("the short_key here"));
    assert!(!runs.contains("the short_ke here"));
    assert_eq!(runs.redact("ashort_keyshort_key!"), format!("a{REDACTED}!"));
    let empty = SecretRuns::new("");
    assert!(!empty.contains("anything"));
    assert!(matches!(empty.redact("anything"), Cow::Borrowed(_)));
}

#[test]
fn non_ascii_secret_never_splits_a_char() {
    // The secret's run ends inside `é` (2 bytes) as it occurs in this text; the stretch widens.
    let secret = "ééééééé"; // 14 bytes
    let runs = SecretRuns::new(secret);
    let text = "aéééééééb";
    assert_eq!(runs.redact(text), format!("a{REDACTED}b"));
    // A secret window that starts and ends inside characters of the text: `ά` ends in byte 0xAC like
    // `€`, and `₂` starts with 0xE2 0x82 like `€`; the match covers only parts of both.
    let secret = "€€€€€"; // 15 bytes
    let runs = SecretRuns::new(secret);
    let text = "xά€€€₂y";
    assert!(runs.contains(text));
    assert_eq!(runs.redact(text), format!("x{REDACTED}y"));
}

#[test]
fn debug_does_not_show_the_secret() {
    let shown = format!("{:?}", SecretRuns::new(KEY));
    assert!(!brute_force_contains_run(&shown, KEY), "{shown}");
    assert!(shown.contains("pieces: 17"), "{shown}");
}

#[test]
fn a_key_is_searched_with_simd_where_the_cpu_has_it() {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("ssse3") {
        let runs = SecretRuns::new(KEY);
        assert!(
            matches!(&runs.matcher, Matcher::Pieces(p) if matches!(p.finder, Finder::Packed(_)))
        );
    }
    let runs = SecretRuns::portable(KEY);
    assert!(matches!(&runs.matcher, Matcher::Pieces(p) if matches!(p.finder, Finder::Portable(_))));
}

#[test]
fn strip_control_removes_escape_sequences() {
    assert_eq!(strip_control("\x1b[31mred\x1b[0m"), "red");
    assert_eq!(strip_control("a\x1b]0;title\x07b"), "ab");
    assert_eq!(
        strip_control("a\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\b"),
        "alinkb"
    );
    assert_eq!(strip_control("a\u{9b}2Jb"), "ab");
    assert_eq!(strip_control("a\x1b(Bb"), "ab");
    assert_eq!(strip_control("a\x1bcb"), "ab");
    // Malformed or unterminated: the introducer goes, the rest is plain text.
    assert_eq!(strip_control("a\x1b]0;no end"), "a]0;no end");
    assert_eq!(strip_control("a\x1b"), "a");
}

#[test]
fn strip_control_table() {
    let cases: &[(&str, &str)] = &[
        ("plain text", "plain text"),
        ("tab\there", "tab here"),
        ("two\nlines\r\n", "two lines  "),
        ("bell\x07 nul\0 del\x7f bs\x08", "bell nul del bs"),
        ("c1\u{85}\u{9c}", "c1"),
        ("admin\u{202e}txt.exe", "admintxt.exe"),
        ("\u{2066}iso\u{2069}\u{202a}", "iso"),
        ("12\u{200f}34\u{200e}5\u{61c}6", "123456"),
        ("Ünïcødé 日本語 🙂 عربي", "Ünïcødé 日本語 🙂 عربي"),
        ("line\u{2028}sep", "line sep"),
    ];
    for (input, want) in cases {
        assert_eq!(strip_control(input), *want, "{input:?}");
    }
    assert!(matches!(strip_control("Ünïcødé 🙂"), Cow::Borrowed(_)));
}

#[test]
fn cap_cuts_on_char_boundaries() {
    assert!(matches!(cap("short", 10), Cow::Borrowed("short")));
    assert!(matches!(cap("exactly", 7), Cow::Borrowed(_)));
    assert_eq!(cap("abcdef", 4), "abcd… [2 more bytes]");
    // "é" is 2 bytes: a cut at 3 would split the second é.
    assert_eq!(cap("éééé", 3), "é… [6 more bytes]");
    assert_eq!(cap("🙂🙂", 5), "🙂… [4 more bytes]");
    assert_eq!(cap("🙂", 0), "… [4 more bytes]");
    // Capped twice (a component's message, then that message with context around it): the count is
    // still what was cut from the original.
    let message = "x".repeat(10_000);
    let once = cap(&message, 1024).into_owned();
    assert_eq!(once, format!("{}… [8976 more bytes]", "x".repeat(1024)));
    let with_context = format!("GET /v1/customers: Stripe said: {once}");
    let twice = cap(&with_context, 1024);
    let kept = 1024 - "GET /v1/customers: Stripe said: ".len();
    assert_eq!(
        twice,
        format!(
            "GET /v1/customers: Stripe said: {}… [{} more bytes]",
            "x".repeat(kept),
            10_000 - kept
        )
    );
    // Something that only looks like a marker, within the cap, is left alone.
    assert_eq!(cap("ok… [12 more bytes]", 100), "ok… [12 more bytes]");
    let long = "日本".repeat(1000);
    let capped = cap(&long, MESSAGE_CAP);
    assert!(capped.len() <= MESSAGE_CAP + "… [6000 more bytes]".len());
    assert!(capped.starts_with("日本日"));
}

#[test]
fn identifier_shape() {
    for ok in [
        "a",
        "customers",
        "mrr_2024",
        &format!("a{}", "b".repeat(63)),
    ] {
        assert!(is_identifier(ok), "{ok}");
    }
    for bad in [
        "",
        "A",
        "1abc",
        "_x",
        "has-dash",
        "has space",
        "é",
        &format!("a{}", "b".repeat(64)),
    ] {
        assert!(!is_identifier(bad), "{bad}");
    }
}

/// Characters a reader does not see: dropped by a terminal or by the host's table output, or drawn as
/// nothing at all.
const UNSEEN: [&str; 16] = [
    "\x07",
    "\x00",
    "\x7f",
    "\u{85}",
    "\x1b[0m",
    "\x1b]0;t\x07",
    "\u{200b}",
    "\u{ad}",
    "\u{feff}",
    "\u{202e}",
    // A lone ESC before the key's next character, a braille blank, an annotation anchor, a hieroglyph
    // joiner, a no-break space, a private-use character: not letters of any key.
    "\x1b",
    "\u{2800}",
    "\u{fff9}",
    "\u{13430}",
    "\u{a0}",
    "\u{e000}",
];

/// Two-character escape sequences (save cursor, keypad mode, reverse index) between a key's characters:
/// a terminal, and the host's own output, drop them whole. Kept apart from [`UNSEEN`]: after a lone ESC
/// a terminal drops the key's next character too, so a text cutting a key with both is one that no
/// reader sees whole (a terminal loses a character, a program that drops controls keeps the `7`).
const DROPPED_WHOLE: [&str; 3] = ["\x1b7", "\x1b=", "\x1bM"];

/// `text` as a reader sees it, unseen characters taken out the slow way: each of [`UNSEEN`] removed.
fn seen_slowly(text: &str) -> String {
    UNSEEN
        .iter()
        .fold(text.to_string(), |t, u| t.replace(u, ""))
}

/// [`KEY`] with `separator` after every `every` characters.
fn cut_every(every: usize, separator: &str) -> String {
    KEY.as_bytes()
        .chunks(every)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect::<Vec<_>>()
        .join(separator)
}

/// A quote that escapes what it cannot print (`{:?}`, a log line's `\u{200b}`) writes a key cut by
/// unseen characters as plain ASCII; read unescaped, it is the key.
#[test]
fn a_key_cut_by_unseen_characters_is_the_key_also_escaped() {
    let runs = SecretRuns::new(KEY);
    for unseen in ["\u{200b}", "\x07", "\t", "\u{a0}", "\u{e000}", "\x1b7"] {
        let cut: String = KEY.chars().map(|c| format!("{c}{unseen}")).collect();
        let quoted = format!("table {cut:?} is not an identifier");
        assert!(runs.contains(&quoted), "{quoted}");
        let out = runs.redact(&quoted);
        assert!(out.contains(REDACTED), "{out}");
        let escaped = format!("{unseen:?}");
        let read = out.replace(escaped.trim_matches('"'), "");
        assert!(!brute_force_contains_run(&read, KEY), "{unseen:?}: {out}");
    }
    // A backslash alone, or an escape of nothing hidden, changes nothing.
    assert_eq!(runs.redact(r"C:\tmp\u{41}"), r"C:\tmp\u{41}");
    // JSON's, JavaScript's, C's and Python's escapes too: `\u200b`, a tag character as a surrogate
    // pair, `\x1b7` (QA: a key cut by a literal `\u200b` every 5 characters went through).
    for escape in [
        r"\u200b",
        r"\u200B",
        r"\udb40\udc20",
        r"\x07",
        r"\x1b7",
        // QA round 2: octal, the shells' letters, one hex digit, eight.
        r"\033",
        r"\0337",
        r"\e",
        r"\a",
        r"\x7",
        r"\U0000200b",
        // Rust's `Debug` of a NUL, the key's next character a digit after it (`"5\01"`; review).
        r"\0",
    ] {
        for every in [1, 5] {
            let cut = cut_every(every, escape);
            let text = format!("x {cut} (HTTP 400)");
            assert!(runs.contains(&text), "{escape} every {every}");
            let out = runs.redact(&text);
            assert!(
                !brute_force_contains_run(&out.replace(escape, ""), KEY),
                "{escape} every {every}: {out}"
            );
        }
    }
    assert_eq!(
        runs.redact(r"\u12 \uzzzz \x4 \ud800 \udc00"),
        r"\u12 \uzzzz \x4 \ud800 \udc00"
    );
    // A key written wholly in escapes is hidden wholly: no escape's head is left before the mark
    // (review: `\x7[redacted]`).
    for escaped in [
        KEY.bytes()
            .map(|b| format!("\\x{b:02x}"))
            .collect::<String>(),
        KEY.bytes()
            .map(|b| format!("\\u{b:04x}"))
            .collect::<String>(),
    ] {
        let text = format!("name {escaped} end");
        assert_eq!(
            runs.redact(&text),
            format!("name {REDACTED} end"),
            "{escaped}"
        );
    }
    // `\x1b` and a one-digit `\x7` in one text, the `\x7` before hex-digit characters of the key
    // (QA round 3: 47 characters of the key were shown).
    for mixed in [r"\x1b\x7", r"\x07\x7", r"\x1b[0m\x7"] {
        for every in [1, 5, 10] {
            let cut = cut_every(every, mixed);
            let text = format!("D {cut} end");
            let out = runs.redact(&text);
            assert!(
                !brute_force_contains_run(&out.replace(mixed, ""), KEY),
                "{mixed} every {every}: {out}"
            );
        }
    }
    // Windows paths and regexes are left as they are.
    for text in [
        r"C:\Users\build\new\table\u200b.txt",
        r"^\d+\x41\s*$",
        r"\\server\share",
    ] {
        assert_eq!(runs.redact(text), text);
    }
}

#[test]
fn a_key_cut_by_characters_no_one_sees_is_still_the_key() {
    let runs = SecretRuns::new(KEY);
    for unseen in UNSEEN.into_iter().chain(DROPPED_WHOLE) {
        for every in [1, 5, 6, 7, 11] {
            let cut = cut_every(every, unseen);
            let text = format!("name: {cut} (HTTP 400)");
            assert!(runs.contains(&text), "{unseen:?} every {every}");
            let out = runs.redact(&text);
            assert_eq!(
                out,
                format!("name: {REDACTED} (HTTP 400)"),
                "{unseen:?} every {every}"
            );
            // What the table output makes of it: still no key.
            assert!(!brute_force_contains_run(&strip_control(&out), KEY));
        }
    }
}

/// A terminal draws over what a backspace or a cursor-left sequence moved back across: `Z`, a backspace,
/// then the key's next character shows that character where `Z` was, and the line reads as the key
/// (red team: a key so cut came back whole in `--format json`, which a reader's terminal, or `col -b`,
/// shows as the key). Escaped as a quote writes it too.
#[test]
fn a_key_cut_by_characters_a_terminal_draws_over_is_still_the_key() {
    let runs = SecretRuns::new(KEY);
    for overwritten in [
        "Z\u{8}",
        "Z\x1b[D",
        "Z\x1b[1D",
        "ZZ\x1b[2D",
        "Z\u{9b}D",
        r"Z\b",
        r"Z\u0008",
        r"Z\x1b[D",
    ] {
        for every in [1, 5] {
            let cut = cut_every(every, overwritten);
            let text = format!("name: {cut} (HTTP 400)");
            assert!(runs.contains(&text), "{overwritten:?} every {every}");
            let out = runs.redact(&text);
            assert!(
                out.contains(REDACTED),
                "{overwritten:?} every {every}: {out:?}"
            );
        }
    }
    // A backspace that nothing follows, or one over text that is not the key, hides nothing.
    assert_eq!(runs.redact("abc\u{8}"), "abc\u{8}");
    assert_eq!(
        runs.redact("progress 10%\x1b[3D20%"),
        "progress 10%\x1b[3D20%"
    );
}

#[test]
fn a_visible_separator_is_not_unseen() {
    let runs = SecretRuns::new(KEY);
    // Eleven characters, then a space: two pieces a reader sees apart, each shorter than a run.
    let text = format!("{} {}", &KEY[..11], &KEY[11..22]);
    assert!(!runs.contains(&text));
    assert_eq!(runs.redact(&text), text);
}

#[test]
fn what_the_caller_wrote_is_exempt_in_the_seen_text_too() {
    let runs = SecretRuns::new(KEY);
    let written = format!("{}\x07{}", &KEY[20..30], &KEY[30..40]);
    let _wrote = runs.caller_wrote(&[&written]);
    assert_eq!(runs.redact(&written), written);
    assert!(!runs.contains(&written));
    // One more byte of the key than the caller wrote is the key.
    let more = format!("{}\x07{}", &KEY[20..30], &KEY[30..41]);
    assert!(runs.contains(&more));
}

proptest! {
    #[test]
    fn no_run_survives_redaction_however_unseen_characters_cut_it(
        before in "[ -~é日🙂]{0,20}",
        after in "[ -~é日🙂]{0,20}",
        start in 0usize..KEY.len() - MIN_RUN - 8,
        cuts in proptest::collection::vec((0usize..KEY.len(), 0usize..UNSEEN.len()), 0..12),
    ) {
        let slice = &KEY[start..start + MIN_RUN + 8];
        let mut cut_at: Vec<(usize, &str)> =
            cuts.iter().map(|&(at, u)| (at % slice.len(), UNSEEN[u])).collect();
        cut_at.sort_unstable();
        let mut text = before.clone();
        let mut copied = 0;
        for (at, unseen) in cut_at {
            // A lone ESC before `P`, `X`, `^`, `_`, `[` or `]` opens a control string or sequence: a
            // terminal hides what follows up to its end (a later BEL), so that text shows no key to
            // anyone, and is no case for this property.
            if unseen == "\x1b" && slice[at..].starts_with(['P', 'X', '^', '_', '[', ']']) {
                continue;
            }
            text.push_str(&slice[copied..at]);
            text.push_str(unseen);
            copied = at;
        }
        text.push_str(&slice[copied..]);
        text.push_str(&after);
        for runs in [SecretRuns::new(KEY), SecretRuns::portable(KEY)] {
            prop_assert!(runs.contains(&text));
            let out = runs.redact(&text);
            prop_assert!(!brute_force_contains_run(&strip_control(&out), KEY), "{out:?}");
            prop_assert!(!brute_force_contains_run(&seen_slowly(&out), KEY), "{out:?}");
            prop_assert!(out.contains(REDACTED));
        }
    }

    #[test]
    fn printable_ascii_is_told_eight_bytes_at_a_time(
        bytes in proptest::collection::vec(prop_oneof![30 => 0x20u8..0x7f, 1 => any::<u8>(), 1 => Just(b'\\')], 0..40)
    ) {
        prop_assert_eq!(
            terminal::is_printable_ascii(&bytes),
            bytes.iter().all(|b| (0x20..0x7f).contains(b))
        );
        prop_assert_eq!(
            terminal::plain(&bytes, true),
            bytes.iter().all(|b| (0x20..0x7f).contains(b) && *b != b'\\')
        );
    }

    #[test]
    fn no_run_survives_redaction(
        before in "[ -~é日🙂]{0,40}",
        after in "[ -~é日🙂]{0,40}",
        start in 0usize..KEY.len() - MIN_RUN,
        len in MIN_RUN..=KEY.len(),
    ) {
        let end = (start + len).min(KEY.len());
        let start = start.min(end - MIN_RUN);
        let text = format!("{before}{}{after}", &KEY[start..end]);
        let runs = SecretRuns::new(KEY);
        prop_assert!(runs.contains(&text));
        let out = runs.redact(&text);
        prop_assert!(!brute_force_contains_run(&out, KEY), "{out}");
        prop_assert!(out.contains(REDACTED));
    }

    #[test]
    fn text_without_runs_is_borrowed(text in "[ -~é日🙂]{0,200}") {
        let runs = SecretRuns::new(KEY);
        prop_assume!(!brute_force_contains_run(&text, KEY));
        prop_assert!(!runs.contains(&text));
        prop_assert!(matches!(runs.redact(&text), Cow::Borrowed(t) if t == text));
    }

    #[test]
    fn contains_agrees_with_brute_force(text in "[a-zA-Z0-9_]{0,60}", secret in "[a-zA-Z0-9_é]{0,20}") {
        for runs in [SecretRuns::new(&secret), SecretRuns::portable(&secret)] {
            prop_assert_eq!(runs.contains(&text), brute_force_contains_run(&text, &secret));
            let out = runs.redact(&text);
            prop_assert!(!brute_force_contains_run(&out, &secret) || secret.len() < MIN_RUN && REDACTED.contains(secret.as_str()));
        }
    }

    #[test]
    fn redact_agrees_with_brute_force(
        parts in proptest::collection::vec((any::<bool>(), "[a-z0-9_]{0,8}", 0usize..107, 0usize..30), 0..5),
        secret_len in 0usize..40,
    ) {
        // Keys both long (every 12-byte window counts) and short (only the whole of it).
        let secret = if secret_len == 0 { KEY } else { &KEY[..secret_len] };
        let mut text = String::new();
        for (from_key, noise, at, len) in parts {
            if from_key {
                let at = at.min(secret.len());
                text.push_str(&secret[at..(at + len).min(secret.len())]);
            } else {
                text.push_str(&noise);
            }
        }
        for runs in [SecretRuns::new(secret), SecretRuns::portable(secret)] {
            prop_assert_eq!(runs.redact(&text).into_owned(), brute_force_redact(&text, secret));
            prop_assert_eq!(runs.contains(&text), brute_force_contains_run(&text, secret));
        }
    }

    #[test]
    fn strip_control_output_is_clean(text in "(?s:.){0,30}|[\\x00-\\x7f\u{80}-\u{9f}\u{202a}-\u{202e}\u{2066}-\u{2069}\u{200e}\u{200f}\u{61c}a-z]{0,60}") {
        let out = strip_control(&text);
        prop_assert!(out.chars().all(|c| matches!(classify(c), Shown::Keep)), "{out:?}");
    }

    #[test]
    fn cap_is_a_prefix_on_a_boundary(text in "(?s:.){0,50}", max in 0usize..80) {
        let out = cap(&text, max);
        if text.len() <= max {
            prop_assert_eq!(out.as_ref(), text.as_str());
        } else {
            // The longest whole-char prefix within `max` bytes, counted independently.
            let kept = text
                .char_indices()
                .map(|(i, c)| i + c.len_utf8())
                .take_while(|&end| end <= max)
                .last()
                .unwrap_or(0);
            prop_assert_eq!(
                out.as_ref(),
                format!("{}… [{} more bytes]", &text[..kept], text.len() - kept)
            );
        }
    }
}

/// The oracle this closes: a query writer guesses the key twelve characters at a time (say, as an
/// unknown table name the component quotes back) and watches whether the answer comes back redacted.
#[test]
fn what_the_caller_wrote_is_treated_alike_whether_or_not_it_matches_the_key() {
    let runs = SecretRuns::new(KEY);
    let right = &KEY[20..32];
    let wrong = "QQQQQQQQQQQQ";
    for guess in [right, wrong] {
        let query = format!(r#"{{"list":"{guess}"}}"#);
        let echo = format!("unknown table '{guess}'");
        let url = format!("/v1/customers?customer=cus_{guess}");
        let _wrote = runs.caller_wrote(&[&query]);
        assert_eq!(
            runs.redact(&echo),
            echo,
            "the caller's own text comes back as written"
        );
        assert!(!runs.contains(&url), "nor is it refused in a URL");
    }
    // Once the call is over, the same text is the credential again.
    assert_eq!(runs.redact(right), REDACTED);
}

#[test]
fn a_stretch_holding_one_byte_the_caller_did_not_write_is_still_the_key() {
    let runs = SecretRuns::new(KEY);
    let written = &KEY[20..40];
    let _wrote = runs.caller_wrote(&[written]);
    // Exactly what was written (or any part of it of a run's length): the caller's.
    assert_eq!(runs.redact(written), written);
    assert_eq!(runs.redact(&KEY[25..37]), &KEY[25..37]);
    // One more byte of the key than was written: a leak, redacted whole.
    assert_eq!(runs.redact(&KEY[20..41]), REDACTED);
    assert_eq!(runs.redact(&KEY[19..40]), REDACTED);
    // Elsewhere in the key: never written, always redacted.
    assert_eq!(
        runs.redact(&format!("x {} y", &KEY[60..80])),
        format!("x {REDACTED} y")
    );
    assert!(runs.contains(&KEY[60..72]));
}

#[test]
fn text_matching_no_run_exempts_nothing() {
    let runs = SecretRuns::new(KEY);
    let _wrote = runs.caller_wrote(&["nothing of the key here", ""]);
    assert_eq!(runs.redact(KEY), REDACTED);
}

/// Review: text of many control-string introducers and no terminator (a component's cell, an
/// upstream's message) was walked to its end once per introducer — quadratic, minutes for a megabyte,
/// in the host after the call's deadline. Each of these is now one pass: a quarter of a million
/// introducers are read in well under the seconds the quadratic walk took for a tenth of them.
#[test]
fn text_of_unterminated_escapes_is_read_in_one_pass() {
    let runs = SecretRuns::new(KEY);
    let cut = format!("{}\u{200b}{}", &KEY[..50], &KEY[50..]);
    for unit in ["\u{9d}", "\u{1b}]", "\u{1b}P", "\u{90}", "\\u{", "\u{9f}x"] {
        let text = format!("{}{cut}", unit.repeat(256 << 10));
        let started = std::time::Instant::now();
        let redacted = runs.redact(&text);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "{unit:?}: {:?}",
            started.elapsed()
        );
        // Still read: the key cut by a zero-width space after them is found.
        assert!(redacted.ends_with(REDACTED), "{unit:?}");
    }
}
