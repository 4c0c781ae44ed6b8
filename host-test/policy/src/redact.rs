//! Keeping the credential and terminal tricks out of what the host prints.
//!
//! - [`SecretRuns`]: any [`MIN_RUN`]-byte run of the credential is treated as the credential. A component
//!   (or an upstream error body echoing a request) can leak a fragment as easily as the whole key, so the
//!   host refuses requests carrying such a run (see `request_rules::check`) and rewrites it out of every
//!   message it shows ([`SecretRuns::redact`]).
//! - [`strip_control`]: text a component produced goes to a terminal; escape sequences, C1 controls and
//!   bidi overrides could recolour, retitle or visually reorder what the user reads.
//! - [`cap`]: a component's message is capped at [`MESSAGE_CAP`] bytes before it is shown.
//! - [`is_identifier`]: the only shape of name the host lets a component keep in memory.

use aho_corasick::{packed, AhoCorasick};
use std::borrow::Cow;
use std::fmt;

/// The shortest run of the secret that counts as the secret. Twelve characters of a Stripe key's random
/// part are far too specific to occur by chance, and short enough that a component cannot slip a key out
/// piecewise in useful chunks.
pub const MIN_RUN: usize = 12;

/// The most bytes of one component message the host shows (see [`cap`]).
pub const MESSAGE_CAP: usize = 1024;

/// What replaces each stretch of text covered by runs of the secret.
pub const REDACTED: &str = "[redacted]";

/// The pieces searched for: the secret's `GRAM`-byte pieces at offsets 0, `GRAM`, 2·`GRAM`, … Any run
/// of [`MIN_RUN`] = 2·`GRAM` bytes of the secret holds one of them whole, so a text holding a run holds a
/// piece, and every place a piece occurs is checked by comparing the text with the secret around it.
const GRAM: usize = MIN_RUN / 2;

/// Every [`MIN_RUN`]-byte run of one secret, found in any text. Every text cell of every result goes
/// through it, so it is on the hot path. Searching for the ~100 runs of a Stripe key themselves costs
/// ~2 ns a byte even with Aho-Corasick (~40 µs for a page of 100 customers); searching for its ~18
/// pieces (see `GRAM`) lets the SIMD searcher for a few short patterns (Teddy, `aho_corasick::packed`)
/// do it at ~0.3 ns a byte, and pieces occur in real text so rarely that the comparisons cost nothing.
///
/// `Debug` shows only how many pieces it searches for, never the secret.
pub struct SecretRuns {
    matcher: Matcher,
}

enum Matcher {
    /// The empty secret: matches nothing (an empty credential is refused long before it is used).
    Nothing,
    Pieces(Pieces),
    /// The pieces could not be indexed (only past the crate's size limits, far beyond any credential the
    /// manifests let through): fail closed, every text counts as containing the secret.
    Everything,
}

/// The secret, its pieces and a searcher for them.
struct Pieces {
    secret: Box<[u8]>,
    /// How long a stretch shared with the secret must be to count: [`MIN_RUN`], or all of a shorter
    /// secret (whose one piece is then the whole of it).
    need: usize,
    /// How long each piece is: `GRAM`, or all of a shorter secret.
    gram: usize,
    /// For each piece (by pattern id), the offsets in the secret where it stands.
    offsets: Vec<Vec<usize>>,
    finder: Finder,
}

enum Finder {
    /// SIMD (x86-64 with SSSE3 or AVX2, aarch64): at most 64 pieces, so secrets up to ~390 bytes.
    Packed(packed::Searcher),
    /// Anywhere else: an Aho-Corasick automaton over the pieces.
    Portable(AhoCorasick),
}

impl Finder {
    /// The first occurrence of any piece starting at or after `from`: (piece, start). The pieces all
    /// have one length, so the leftmost match is the only one starting there.
    fn next(&self, text: &[u8], from: usize) -> Option<(usize, usize)> {
        let span = aho_corasick::Span::from(from..text.len());
        match self {
            Finder::Packed(s) => s.find_in(text, span),
            Finder::Portable(a) => a.find(aho_corasick::Input::new(text).span(span)),
        }
        .map(|m| (m.pattern().as_usize(), m.start()))
    }
}

impl fmt::Debug for SecretRuns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pieces = match &self.matcher {
            Matcher::Nothing | Matcher::Everything => 0,
            Matcher::Pieces(p) => p.offsets.len(),
        };
        f.debug_struct("SecretRuns")
            .field("pieces", &pieces)
            .finish_non_exhaustive()
    }
}

impl SecretRuns {
    /// Every [`MIN_RUN`]-byte window of `secret`. A secret shorter than `MIN_RUN` bytes is matched whole;
    /// an empty secret matches nothing.
    pub fn new(secret: &str) -> SecretRuns {
        SecretRuns::build(secret, true)
    }

    /// With the portable finder only, so that tests on SIMD machines cover it too.
    #[cfg(test)]
    fn portable(secret: &str) -> SecretRuns {
        SecretRuns::build(secret, false)
    }

    fn build(secret: &str, simd: bool) -> SecretRuns {
        let bytes = secret.as_bytes();
        if bytes.is_empty() {
            return SecretRuns {
                matcher: Matcher::Nothing,
            };
        }
        let (need, gram) = if bytes.len() < MIN_RUN {
            (bytes.len(), bytes.len())
        } else {
            (MIN_RUN, GRAM)
        };
        let mut pieces: Vec<&[u8]> = Vec::new();
        let mut offsets: Vec<Vec<usize>> = Vec::new();
        for at in (0..=bytes.len() - gram).step_by(gram) {
            let piece = &bytes[at..at + gram];
            match pieces.iter().position(|p| *p == piece) {
                Some(i) => offsets[i].push(at),
                None => {
                    pieces.push(piece);
                    offsets.push(vec![at]);
                }
            }
        }
        let packed = simd
            .then(|| packed::Config::new().builder().extend(&pieces).build())
            .flatten();
        let finder = match packed {
            Some(searcher) => Some(Finder::Packed(searcher)),
            None => AhoCorasick::new(&pieces).ok().map(Finder::Portable),
        };
        let matcher = match finder {
            Some(finder) => Matcher::Pieces(Pieces {
                secret: bytes.into(),
                need,
                gram,
                offsets,
                finder,
            }),
            None => Matcher::Everything,
        };
        SecretRuns { matcher }
    }

    /// Whether any [`MIN_RUN`]-byte run of the secret (the whole secret, if it is shorter) occurs in `text`.
    pub fn contains(&self, text: &str) -> bool {
        match &self.matcher {
            Matcher::Nothing => false,
            Matcher::Pieces(p) => p.stretches(text.as_bytes()).next().is_some(),
            Matcher::Everything => true,
        }
    }

    /// Replace every maximal stretch of `text` covered by occurrences of runs of the secret with
    /// [`REDACTED`]: overlapping and adjacent occurrences merge into one stretch, so the output says
    /// nothing about how long the leaked part was. Text without such runs comes back borrowed.
    ///
    /// Matching is on bytes; a stretch that would cut a multi-byte character (only possible with a
    /// non-ASCII secret) is widened to whole characters. Percent-encoded or otherwise transformed text is
    /// not decoded here: callers that accept encoded input decode it first (see `request_rules::check`).
    pub fn redact<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let found: Vec<(usize, usize)> = match &self.matcher {
            Matcher::Nothing => return Cow::Borrowed(text),
            Matcher::Pieces(p) => p.stretches(text.as_bytes()).collect(),
            Matcher::Everything => vec![(0, text.len())],
        };
        if found.is_empty() {
            return Cow::Borrowed(text);
        }
        // Stretches come in order of the piece they were found by, which need not be their start's:
        // sort, widen to whole characters and merge what overlaps or touches.
        let mut found = found;
        found.sort_unstable();
        let mut stretches: Vec<(usize, usize)> = Vec::new();
        for (start, end) in found {
            let start = floor_char_boundary(text, start);
            let end = ceil_char_boundary(text, end);
            match stretches.last_mut() {
                Some(last) if start <= last.1 => last.1 = last.1.max(end),
                _ => stretches.push((start, end)),
            }
        }
        let mut out = String::with_capacity(text.len());
        let mut copied = 0;
        for (start, end) in stretches {
            out.push_str(&text[copied..start]);
            out.push_str(REDACTED);
            copied = end;
        }
        out.push_str(&text[copied..]);
        Cow::Owned(out)
    }
}

impl Pieces {
    /// Every stretch of `text` that agrees with the secret over at least `need` bytes around an
    /// occurrence of a piece, as byte ranges (possibly overlapping, possibly repeated). Their union is
    /// exactly the bytes covered by occurrences of runs: a run at text offset `t`, secret offset `s`,
    /// holds the piece at the next multiple of `GRAM` from `s`, found at the same alignment, whose
    /// stretch then covers the run; and every `need` bytes of a stretch are a run.
    fn stretches<'a>(&'a self, text: &'a [u8]) -> impl Iterator<Item = (usize, usize)> + 'a {
        let mut from = 0;
        let mut pending: Vec<(usize, usize)> = Vec::new();
        std::iter::from_fn(move || loop {
            if let Some(found) = pending.pop() {
                return Some(found);
            }
            if text.len() < self.need {
                return None;
            }
            let (piece, at) = self.finder.next(text, from)?;
            from = at + 1;
            let len = self.gram;
            for &s in &self.offsets[piece] {
                // How far text and secret agree before and after the piece.
                let before = text[..at]
                    .iter()
                    .rev()
                    .zip(self.secret[..s].iter().rev())
                    .take_while(|(a, b)| a == b)
                    .count();
                let after = text[at + len..]
                    .iter()
                    .zip(&self.secret[s + len..])
                    .take_while(|(a, b)| a == b)
                    .count();
                if before + len + after >= self.need {
                    pending.push((at - before, at + len + after));
                }
            }
        })
    }
}

/// The largest char boundary `<= at` (`str::floor_char_boundary`, spelled out for older toolchains).
fn floor_char_boundary(text: &str, mut at: usize) -> usize {
    if at >= text.len() {
        return text.len();
    }
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// The smallest char boundary `>= at`.
fn ceil_char_boundary(text: &str, mut at: usize) -> usize {
    if at >= text.len() {
        return text.len();
    }
    while !text.is_char_boundary(at) {
        at += 1;
    }
    at
}

/// What happens to one character on its way to a terminal.
enum Shown {
    Keep,
    Space,
    Drop,
}

fn classify(c: char) -> Shown {
    match c {
        // Line structure is the host's to decide: a component's message is shown on one line.
        '\t' | '\n' | '\r' | '\u{2028}' | '\u{2029}' => Shown::Space,
        // C0 controls (ESC, BEL, backspace, …), DEL and the C1 controls (CSI U+009B, NEL, …).
        '\u{0}'..='\u{1f}' | '\u{7f}' | '\u{80}'..='\u{9f}' => Shown::Drop,
        // Bidi embeddings/overrides and isolates: they visually reorder what follows (Trojan Source).
        '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => Shown::Drop,
        _ => Shown::Keep,
    }
}

/// The length in bytes of the escape sequence starting at `rest` (which starts with ESC or C1 CSI/OSC/
/// DCS/APC/PM/SOS), per ECMA-48, or `None` when it is malformed or unterminated: then only the introducer is
/// dropped and the rest shows as harmless plain text.
fn escape_len(rest: &str) -> Option<usize> {
    let mut chars = rest.char_indices();
    let (_, first) = chars.next()?;
    // Normalise the 7-bit form `ESC x` to the C1 meaning of `x`.
    let (kind, body_start) = if first == '\u{1b}' {
        let (i, second) = chars.next()?;
        match second {
            '[' => ('[', i + 1),
            ']' | 'P' | 'X' | '^' | '_' => (']', i + 1),
            // nF: intermediates 0x20–0x2F then one final byte 0x30–0x7E (e.g. ESC ( B).
            ' '..='/' => {
                for (j, c) in rest[i..].char_indices() {
                    match c {
                        ' '..='/' => continue,
                        '0'..='~' => return Some(i + j + 1),
                        _ => return None,
                    }
                }
                return None;
            }
            // Fp/Fe/Fs: one final byte (ESC 7, ESC M, ESC c, …).
            '0'..='~' => return Some(i + 1),
            _ => return None,
        }
    } else if first == '\u{9b}' {
        ('[', first.len_utf8())
    } else {
        (']', first.len_utf8())
    };
    let body = &rest[body_start..];
    if kind == '[' {
        // CSI: parameter bytes 0x30–0x3F, intermediates 0x20–0x2F, one final byte 0x40–0x7E.
        for (j, c) in body.char_indices() {
            match c {
                '0'..='?' | ' '..='/' => continue,
                '@'..='~' => return Some(body_start + j + 1),
                _ => return None,
            }
        }
        None
    } else {
        // Control strings (OSC, DCS, SOS, PM, APC): up to BEL, ST (ESC \) or C1 ST.
        let mut prev_esc = false;
        for (j, c) in body.char_indices() {
            match c {
                '\u{7}' | '\u{9c}' => return Some(body_start + j + c.len_utf8()),
                '\\' if prev_esc => return Some(body_start + j + 1),
                _ => prev_esc = c == '\u{1b}',
            }
        }
        None
    }
}

/// Make `text` safe for a terminal: whole escape sequences (CSI such as `ESC [31m`, OSC such as
/// `ESC ]0;title BEL`, …) removed, other C0 controls, DEL, C1 controls and the bidi controls U+202A–U+202E
/// and U+2066–U+2069 dropped; tab, CR, LF and U+2028/U+2029 become a space. Everything else, including
/// non-Latin text and emoji, is kept. Text that needs no change comes back borrowed.
pub fn strip_control(text: &str) -> Cow<'_, str> {
    let needs_work = text.chars().any(|c| !matches!(classify(c), Shown::Keep));
    if !needs_work {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    while let Some(c) = text[at..].chars().next() {
        let introduces = matches!(
            c,
            '\u{1b}' | '\u{90}' | '\u{98}' | '\u{9b}' | '\u{9d}'..='\u{9f}'
        );
        if introduces {
            if let Some(len) = escape_len(&text[at..]) {
                at += len;
                continue;
            }
        }
        match classify(c) {
            Shown::Keep => out.push(c),
            Shown::Space => out.push(' '),
            Shown::Drop => {}
        }
        at += c.len_utf8();
    }
    Cow::Owned(out)
}

/// At most `max_bytes` bytes of `text`, cut on a char boundary, followed by `… [N more bytes]` saying how
/// much was cut. Text within the cap comes back borrowed. The marker is added on top of `max_bytes`.
pub fn cap(text: &str, max_bytes: usize) -> Cow<'_, str> {
    if text.len() <= max_bytes {
        return Cow::Borrowed(text);
    }
    let cut = floor_char_boundary(text, max_bytes);
    Cow::Owned(format!(
        "{}… [{} more bytes]",
        &text[..cut],
        text.len() - cut
    ))
}

/// Whether `s` has the shape `[a-z][a-z0-9_]{0,63}`: the only names the host lets a component keep.
pub fn is_identifier(s: &str) -> bool {
    let bytes = s.as_bytes();
    matches!(bytes.first(), Some(b'a'..=b'z'))
        && bytes.len() <= 64
        && bytes[1..]
            .iter()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
        assert!(
            matches!(&runs.matcher, Matcher::Pieces(p) if matches!(p.finder, Finder::Portable(_)))
        );
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

    proptest! {
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
            parts in proptest::collection::vec((any::<bool>(), "[a-z0-9_é]{0,8}", 0usize..107, 0usize..30), 0..5),
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
        fn strip_control_output_is_clean(text in "(?s:.){0,30}|[\\x00-\\x7f\u{80}-\u{9f}\u{202a}-\u{202e}\u{2066}-\u{2069}a-z]{0,60}") {
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
}
