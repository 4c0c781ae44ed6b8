//! What a terminal makes of text a component or an upstream produced: the control characters and
//! escape sequences [`strip_control`] takes out before the host prints it, and the text a reader sees
//! ([`Seen`]), where redaction looks for the credential as well as in the raw text.

use std::borrow::Cow;

/// What happens to one character on its way to a terminal.
pub(super) enum Shown {
    Keep,
    Space,
    Drop,
}

pub(super) fn classify(c: char) -> Shown {
    match c {
        // Line structure is the host's to decide: a component's message is shown on one line.
        '\t' | '\n' | '\r' | '\u{2028}' | '\u{2029}' => Shown::Space,
        // C0 controls (ESC, BEL, backspace, …), DEL and the C1 controls (CSI U+009B, NEL, …).
        '\u{0}'..='\u{1f}' | '\u{7f}' | '\u{80}'..='\u{9f}' => Shown::Drop,
        // Bidi embeddings/overrides and isolates: they visually reorder what follows (Trojan Source);
        // and the marks (LRM, RLM, ALM), which reorder the neutral characters around them.
        '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{61c}' => {
            Shown::Drop
        }
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

/// How many columns a cursor-left sequence (`ESC [ n D`, `CSI n D`; `n` 1 when left out) moves back, at
/// most a line's worth; `None` for any other sequence.
fn cursor_left(sequence: &str) -> Option<usize> {
    let params = sequence
        .strip_prefix("\u{1b}[")
        .or_else(|| sequence.strip_prefix('\u{9b}'))?
        .strip_suffix('D')?;
    if params.is_empty() {
        return Some(1);
    }
    if !params.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(params.parse::<usize>().unwrap_or(4096).clamp(1, 4096))
}

/// Whether `c` may begin an escape sequence or a control string (ESC, or a C1 introducer).
fn introduces_sequence(c: char) -> bool {
    matches!(
        c,
        '\u{1b}' | '\u{90}' | '\u{98}' | '\u{9b}' | '\u{9d}'..='\u{9f}'
    )
}

/// The length of the escape sequence or control string `rest` starts with (`rest` begins with an
/// introducer), `None` where it is not one. A control string without a terminator is looked for once
/// a pass (`unterminated`): after one is found unterminated, every later one is too, and a text of
/// many is read in one pass, not quadratically.
fn sequence_len(rest: &str, unterminated: &mut bool) -> Option<usize> {
    let string = is_control_string(rest);
    let len = if string && *unterminated {
        None
    } else {
        escape_len(rest)
    };
    *unterminated |= string && len.is_none();
    len
}

/// Whether `rest` starts a control string (OSC, DCS, SOS, PM, APC), which runs to a terminator.
fn is_control_string(rest: &str) -> bool {
    let mut chars = rest.chars();
    match chars.next() {
        Some('\u{90}' | '\u{98}' | '\u{9d}'..='\u{9f}') => true,
        Some('\u{1b}') => matches!(chars.next(), Some(']' | 'P' | 'X' | '^' | '_')),
        _ => false,
    }
}

/// Make `text` safe for a terminal: whole escape sequences (CSI such as `ESC [31m`, OSC such as
/// `ESC ]0;title BEL`, …) removed, other C0 controls, DEL, C1 controls and the bidi controls U+202A–U+202E,
/// U+2066–U+2069 and the marks U+200E, U+200F and U+061C dropped; tab, CR, LF and U+2028/U+2029 become a space. Everything else, including
/// non-Latin text and emoji, is kept. Text that needs no change comes back borrowed.
pub fn strip_control(text: &str) -> Cow<'_, str> {
    let needs_work = text.chars().any(|c| !matches!(classify(c), Shown::Keep));
    if !needs_work {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    walk(text, false, |_, c, shown| match shown {
        Shown::Keep => out.push(c),
        Shown::Space => out.push(' '),
        Shown::Drop => {}
    });
    Cow::Owned(out)
}

/// Every character of `text` outside escape sequences, with its byte offset and what a terminal
/// rendering does with it (an escape sequence is skipped whole; a malformed one loses its introducer).
/// With `lone_finals`, a two-character sequence (`ESC c`) drops only its ESC: redaction's view keeps the
/// character a terminal would take, so a lone ESC before a key's next character hides nothing.
fn walk(text: &str, lone_finals: bool, mut each: impl FnMut(usize, char, Shown)) {
    let mut at = 0;
    // Once a control string finds no terminator, none after it can either: they are not looked for
    // again (review: text of many introducers and no terminator took quadratic time, minutes for a
    // megabyte, in the host after the call's deadline).
    let mut unterminated = false;
    while let Some(c) = text[at..].chars().next() {
        if introduces_sequence(c) {
            match sequence_len(&text[at..], &mut unterminated) {
                Some(2) if lone_finals && c == '\u{1b}' => {}
                Some(len) => {
                    at += len;
                    continue;
                }
                None => {}
            }
        }
        each(at, c, classify(c));
        at += c.len_utf8();
    }
}

/// The character an escape at the start of `rest` (a backslash) stands for, and the escape's length.
fn escape_at(rest: &str, x: XDigits) -> Option<(char, usize)> {
    let bytes = rest.as_bytes();
    match bytes.get(1)? {
        b't' => Some(('\t', 2)),
        b'n' => Some(('\n', 2)),
        b'r' => Some(('\r', 2)),
        // The shells' and C's other letters for controls: `\e` ESC, `\a` BEL, `\b`, `\f`, `\v`.
        b'e' => Some(('\u{1b}', 2)),
        b'a' => Some(('\u{7}', 2)),
        b'b' => Some(('\u{8}', 2)),
        b'f' => Some(('\u{c}', 2)),
        b'v' => Some(('\u{b}', 2)),
        // C's octal, one to three digits: `\0`, `\033` (ESC as most often written); and, read as
        // [`XDigits::One`], one digit only: Rust's `Debug` writes a NUL `\0` and the digit after it
        // as a digit (`"5\01"` is 5, NUL, 1: review read a key cut by NULs past C's reading).
        b'0'..=b'7' => {
            let digits = bytes[1..]
                .iter()
                .take(if x == XDigits::One { 1 } else { 3 })
                .take_while(|b| (b'0'..=b'7').contains(*b))
                .count();
            let code = u32::from_str_radix(rest.get(1..1 + digits)?, 8).ok()?;
            Some((char::from_u32(code)?, 1 + digits))
        }
        // Python's and C's `\U0000200b`: eight hex digits.
        b'U' => Some((char::from_u32(hex(rest.get(2..10)?)?)?, 10)),
        b'u' if bytes.get(2) == Some(&b'{') => {
            // At most six hex digits: the brace is looked for that far only (a search to the end for
            // each unclosed `\u{` would be quadratic in a text of them).
            let close = bytes.get(3..)?.iter().take(7).position(|&b| b == b'}')? + 3;
            let code = u32::from_str_radix(rest.get(3..close)?, 16).ok()?;
            Some((char::from_u32(code)?, close + 1))
        }
        // JSON's and JavaScript's `\u200b`, a supplementary character as its surrogate pair
        // (`\udb40\udc20`, a tag character), and C's and Python's `\x1b` (QA: a key cut by `\u200b`
        // written out as text went through).
        b'u' => {
            let high = hex(rest.get(2..6)?)?;
            if let Some(c) = char::from_u32(high) {
                return Some((c, 6));
            }
            let low = rest
                .get(6..8)
                .filter(|u| *u == "\\u")
                .and(rest.get(8..12))?;
            let low = hex(low)?;
            let code =
                0x10000 + ((high.checked_sub(0xd800)? & 0x3ff) << 10) + low.checked_sub(0xdc00)?;
            ((0xd800..0xdc00).contains(&high) && (0xdc00..0xe000).contains(&low))
                .then(|| char::from_u32(code))?
                .map(|c| (c, 12))
        }
        // `\x1b`, and C's one-digit `\x7`, which a hex digit may follow: `\x7a` is BEL then `a`
        // to whoever cut a key with `\x7`. Read in the three ways of [`XDigits`].
        b'x' => {
            let mut digits = bytes[2..]
                .iter()
                .take(if x == XDigits::One { 1 } else { 2 })
                .take_while(|b| b.is_ascii_hexdigit())
                .count();
            let mut code = hex(rest.get(2..2 + digits)?)?;
            if x == XDigits::ControlFirst && digits == 2 && (0x20..0x80).contains(&code) {
                digits = 1;
                code = hex(rest.get(2..3)?)?;
            }
            Some((char::from_u32(code)?, 2 + digits))
        }
        _ => None,
    }
}

/// How many hex digits a `\x` escape takes: C reads two where there are two, but one written to cut a
/// key (`\x7` before the key's next character, which may be a hex digit) reads as one, and both may
/// be in one text (`\x1b\x7a…`: QA). Each reading is a view of its own. [`XDigits::One`] also reads an
/// octal escape as one digit, as Rust's `Debug` writes a NUL before a digit.
#[derive(Clone, Copy, PartialEq, Eq)]
enum XDigits {
    /// Two where there are two, as C and Python read them.
    Two,
    /// Two only where they make a C0 control or a non-ASCII character, one where two would make a
    /// printable one or DEL (`\x7f` is BEL then `f` here): what a separator is, in a mix of `\x1b`
    /// and `\x7`.
    ControlFirst,
    /// One always.
    One,
}

/// Exactly these hex digits (no sign, no prefix), as a number.
fn hex(digits: &str) -> Option<u32> {
    digits
        .bytes()
        .all(|b| b.is_ascii_hexdigit())
        .then(|| u32::from_str_radix(digits, 16).ok())?
}

/// Whether `c` is a Unicode default-ignorable code point (zero-width spaces and joiners, the soft
/// hyphen, variation selectors, tags, fillers, …): drawn as nothing, in a terminal and in a chat alike.
pub fn is_default_ignorable(c: char) -> bool {
    matches!(c,
        '\u{ad}' | '\u{34f}' | '\u{61c}' | '\u{115f}' | '\u{1160}' | '\u{17b4}' | '\u{17b5}'
        | '\u{180b}'..='\u{180f}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}'
        | '\u{2060}'..='\u{206f}' | '\u{3164}' | '\u{fe00}'..='\u{fe0f}' | '\u{feff}'
        | '\u{ffa0}' | '\u{fff0}'..='\u{fff8}' | '\u{1bca0}'..='\u{1bca3}'
        | '\u{1d173}'..='\u{1d17a}' | '\u{e0000}'..='\u{e0fff}')
}

/// Whether every byte is printable ASCII (0x20–0x7E): no control, no DEL, no multi-byte character.
pub(super) fn is_printable_ascii(bytes: &[u8]) -> bool {
    plain(bytes, false)
}

/// Whether every byte is printable ASCII and, with `no_backslash`, none is `\`: text with nothing
/// hidden in it and no escape that could write something hidden. Every text cell of a result is asked,
/// so eight bytes at a time: a byte below 0x20 borrows into its top bit when 0x20 is taken from it, one
/// of 0x7F or more carries into (or has) its top bit when 1 is added (a byte with its top bit set
/// already counts), and a backslash is the byte that XOR 0x5C makes zero (zero borrows when 1 is taken).
pub(super) fn plain(bytes: &[u8], no_backslash: bool) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const TOPS: u64 = 0x8080_8080_8080_8080;
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        let w = u64::from_le_bytes(w);
        let below = w.wrapping_sub(ONES * 0x20) & !w;
        let above = w.wrapping_add(ONES) | w;
        let mut odd = below | above;
        if no_backslash {
            let x = w ^ (ONES * b'\\' as u64);
            odd |= x.wrapping_sub(ONES) & !x;
        }
        if odd & TOPS != 0 {
            return false;
        }
    }
    words
        .remainder()
        .iter()
        .all(|&b| (0x20..0x7f).contains(&b) && !(no_backslash && b == b'\\'))
}

/// The text a reader sees of a string: what is left once escape sequences, the characters
/// [`strip_control`] drops and the default-ignorable ones are taken out. A secret cut into pieces by
/// such characters reads whole once a terminal (or the host's own table and CSV output) has dropped
/// them, so redaction looks for it here too, and maps what it finds back to the original bytes.
pub(super) struct Seen {
    pub text: String,
    /// For each byte of `text`, the first and last byte of the original it stands for: itself, or
    /// the whole escape it was decoded from. In 32 bits (8 bytes a byte, not 16): what a component
    /// hands the host in one call is far smaller than 4 GiB.
    origin: Vec<(u32, u32)>,
}

/// A byte offset of a text redaction reads (far below 4 GiB; see [`Seen::origin`]).
fn offset(at: usize) -> u32 {
    u32::try_from(at).unwrap_or(u32::MAX)
}

impl Seen {
    /// The views of `text` redaction searches besides the text itself: as a terminal shows it (escape
    /// sequences gone whole), and its printable ASCII alone — a key is ASCII letters, digits and `_`, so
    /// any other character between its pieces (a lone ESC, a braille blank, a no-break space, a private
    /// use character) only hides it from a matcher, not from a reader. And, for text that quotes such
    /// characters escaped (`\u{200b}`, `\t`, as a log line or a `Debug` quote writes them), the same
    /// views of it unescaped. None for plain printable ASCII without a backslash. Each view is handed
    /// to `visit` as it is made and dropped after, so that a large text costs a few views at a time,
    /// not all of them at once (review: some twenty views of a 16 MiB text held ~6 GiB).
    pub fn each_view(text: &str, mut visit: impl FnMut(&Seen)) {
        if plain(text.as_bytes(), true) {
            return;
        }
        if !is_printable_ascii(text.as_bytes()) {
            let raw = Seen {
                text: text.to_owned(),
                origin: (0..text.len()).map(|i| (offset(i), offset(i))).collect(),
            };
            raw.visit_views(&mut visit);
        }
        let octal = text
            .as_bytes()
            .windows(2)
            .any(|w| w[0] == b'\\' && (b'0'..=b'7').contains(&w[1]));
        for x in [XDigits::Two, XDigits::ControlFirst, XDigits::One] {
            // The other readings differ only where a `\x` (or, for one digit, an octal escape) is.
            if x == XDigits::ControlFirst && !text.contains("\\x")
                || x == XDigits::One && !text.contains("\\x") && !octal
            {
                continue;
            }
            if let Some(unescaped) = Self::unescaped(text, x) {
                visit(&unescaped.ascii());
                unescaped.visit_views(&mut visit);
            }
        }
    }

    /// This view's printable ASCII and what terminals show of it (each mapped to the original).
    fn visit_views(&self, visit: &mut impl FnMut(&Seen)) {
        visit(&self.ascii());
        // A terminal takes `ESC c` (and `ESC 7`, `ESC =`, …) as one sequence: dropped whole, as the host's
        // own output drops it, it hides an `ESC 7` put between a key's characters; kept as the `c` a
        // lone ESC stands before, it hides nothing of a key whose next character is `c`. Both are read.
        let Some(terminal) = self.as_terminal(true) else {
            return; // nothing a terminal hides
        };
        // Both taken out: an escape sequence and a braille blank side by side.
        visit(&terminal.ascii());
        visit(&terminal);
        drop(terminal);
        // The two readings differ only where an ESC is.
        if self.text.contains('\u{1b}') {
            if let Some(terminal) = self.as_terminal(false) {
                visit(&terminal.ascii());
                visit(&terminal);
            }
        }
        // What a terminal draws over: `Z`, a backspace, then the key's next character shows that
        // character where `Z` was (red team: a key cut by `Z\u{8}` was shown whole by a terminal).
        if let Some(overwritten) = self.as_overwritten() {
            visit(&overwritten.ascii());
            visit(&overwritten);
        }
    }

    /// This view as a terminal leaves it when what follows a backspace, or a cursor-left `CSI n D`,
    /// is drawn over what it moved back across: the characters moved back over are taken out (what
    /// comes next takes their place), escape sequences and unseen characters too. `None` when the view
    /// moves the cursor back nowhere.
    fn as_overwritten(&self) -> Option<Seen> {
        let text = &self.text;
        if !text.contains(['\u{8}', '\u{1b}', '\u{9b}']) {
            return None;
        }
        let mut seen = Seen {
            text: String::with_capacity(text.len()),
            origin: Vec::with_capacity(text.len()),
        };
        let mut moved = false;
        let back = |seen: &mut Seen, n: usize| {
            for _ in 0..n {
                let Some(c) = seen.text.pop() else { break };
                seen.origin
                    .truncate(seen.origin.len().saturating_sub(c.len_utf8()));
            }
        };
        let mut at = 0;
        // As in `walk`: a control string without a terminator is the last looked for (one pass).
        let mut unterminated = false;
        while let Some(c) = text[at..].chars().next() {
            if introduces_sequence(c) {
                if let Some(len) = sequence_len(&text[at..], &mut unterminated) {
                    if let Some(n) = cursor_left(&text[at..at + len]) {
                        back(&mut seen, n);
                        moved = true;
                    }
                    at += len;
                    continue;
                }
            }
            if c == '\u{8}' {
                back(&mut seen, 1);
                moved = true;
            } else if !matches!(classify(c), Shown::Drop) && !is_default_ignorable(c) {
                seen.text.push(c);
                seen.origin
                    .extend((0..c.len_utf8()).map(|i| self.origin[at + i]));
            }
            at += c.len_utf8();
        }
        moved.then_some(seen)
    }

    /// This view's printable ASCII alone, mapped to the same original bytes.
    fn ascii(&self) -> Seen {
        let mut ascii = Seen {
            text: String::with_capacity(self.text.len()),
            origin: Vec::with_capacity(self.text.len()),
        };
        for (at, c) in self.text.char_indices() {
            if (' '..='~').contains(&c) {
                ascii.text.push(c);
                ascii.origin.push(self.origin[at]);
            }
        }
        ascii
    }

    /// This view as a terminal shows it (see [`walk`] for `lone_finals`); `None` when that is the view
    /// itself.
    fn as_terminal(&self, lone_finals: bool) -> Option<Seen> {
        let unseen = |c: char| matches!(classify(c), Shown::Drop) || is_default_ignorable(c);
        if !self.text.chars().any(unseen) {
            return None;
        }
        let mut seen = Seen {
            text: String::with_capacity(self.text.len()),
            origin: Vec::with_capacity(self.text.len()),
        };
        walk(&self.text, lone_finals, |at, c, shown| {
            if matches!(shown, Shown::Drop) || is_default_ignorable(c) {
                return;
            }
            seen.text.push(c);
            seen.origin
                .extend((0..c.len_utf8()).map(|i| self.origin[at + i]));
        });
        Some(seen)
    }

    /// `text` with the escapes a quote writes decoded (Rust's `\u{…}`, JSON's `\uXXXX` and its
    /// surrogate pairs, C's and the shells' `\t`, `\e`, `\033`, `\x1b`, `\U0000200b`; see
    /// [`escape_at`]; `\x` read as `x` says), each character mapped to its
    /// whole escape; `None` when
    /// `text` holds none.
    fn unescaped(text: &str, x: XDigits) -> Option<Seen> {
        if !text.contains('\\') {
            return None;
        }
        let mut seen = Seen {
            text: String::with_capacity(text.len()),
            origin: Vec::with_capacity(text.len()),
        };
        let mut decoded = false;
        let mut at = 0;
        while let Some(c) = text[at..].chars().next() {
            let escape = if c == '\\' {
                escape_at(&text[at..], x)
            } else {
                None
            };
            decoded |= escape.is_some();
            let (c, len) = escape.unwrap_or((c, c.len_utf8()));
            // Every byte of the decoded character stands for the whole escape, so that a stretch
            // found maps to whole escapes at both ends (review: a one-byte character mapped to the
            // escape's last byte, and a stretch starting there left the escape's head shown).
            seen.text.push(c);
            seen.origin
                .extend((0..c.len_utf8()).map(|_| (offset(at), offset(at + len - 1))));
            at += len;
        }
        decoded.then_some(seen)
    }

    /// The bytes of the original that `start..end` of the seen text spans, the unseen characters
    /// between included.
    pub fn original(&self, start: usize, end: usize) -> (usize, usize) {
        match (
            self.origin.get(start),
            end.checked_sub(1).and_then(|e| self.origin.get(e)),
        ) {
            (Some(&(from, _)), Some(&(_, last))) if end > start => {
                (from as usize, last as usize + 1)
            }
            _ => (0, 0),
        }
    }
}
