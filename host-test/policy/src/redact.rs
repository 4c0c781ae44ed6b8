//! Keeping the credential and terminal tricks out of what the host prints.
//!
//! - [`SecretRuns`]: any [`MIN_RUN`]-byte run of the credential is treated as the credential. A component
//!   (or an upstream error body echoing a request) can leak a fragment as easily as the whole key, so the
//!   host refuses requests carrying such a run (see `request_rules::check`) and rewrites it out of every
//!   message it shows ([`SecretRuns::redact`]). Except what the caller wrote itself
//!   ([`SecretRuns::caller_wrote`]): treating the caller's own text differently when it happens to match
//!   the key would answer "does this guess match?" — an oracle that gives the key away a character at a
//!   time to whoever writes queries. Runs are looked for in the text as a reader sees it too
//!   (`terminal::Seen`): a key cut into pieces by control characters, escape sequences or zero-width
//!   characters reads whole once they are dropped — by a terminal, or by the host's own table output.
//! - [`strip_control`]: text a component produced goes to a terminal; escape sequences, C1 controls and
//!   bidi overrides could recolour, retitle or visually reorder what the user reads.
//! - [`cap`]: a component's message is capped at [`MESSAGE_CAP`] bytes before it is shown.
//! - [`is_identifier`]: the only shape of name the host lets a component keep in memory.

use aho_corasick::{packed, AhoCorasick};
use std::borrow::Cow;
use std::fmt;
use std::sync::RwLock;

mod terminal;
use terminal::Seen;
pub use terminal::{is_default_ignorable, strip_control};

/// The shortest run of the secret that counts as the secret. Twelve characters of a Stripe key's random
/// part are far too specific to occur by chance, and short enough that a component cannot slip a key out
/// piecewise in useful chunks.
pub const MIN_RUN: usize = 12;

/// The most bytes of one component message the host shows (see [`cap`]).
pub const MESSAGE_CAP: usize = 1024;

/// The bytes a whole error message may hold past [`MESSAGE_CAP`]: the host's own words (the request,
/// the request id) around a component's or upstream's message, which was capped at `MESSAGE_CAP` already.
/// Capping the whole at `MESSAGE_CAP` again would cut that message's marker and count the wrong bytes.
pub const CONTEXT_ROOM: usize = 256;

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
    /// For the call in progress, which bytes of the secret the caller's own text holds (empty: none):
    /// stretches made of those bytes only are the caller's, not a leak. See [`SecretRuns::caller_wrote`].
    caller_knows: RwLock<Box<[bool]>>,
}

/// While alive, [`SecretRuns`] leaves alone what the caller wrote (see [`SecretRuns::caller_wrote`]);
/// dropping it forgets that.
#[must_use = "the caller's text is exempt only while this lives"]
pub struct CallerWrote<'a> {
    runs: &'a SecretRuns,
}

impl Drop for CallerWrote<'_> {
    fn drop(&mut self) {
        *self
            .runs
            .caller_knows
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Box::default();
    }
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

    /// The runs of a value given as a credential and not (yet) accepted, if it is long enough to be one.
    /// A value shorter than [`MIN_RUN`] (`e`, a bare `rk_test_`) is refused by every connector's rules
    /// before it is sent anywhere; masked whole, it would only garble every message (each `e` in it).
    pub fn of_given(value: &str) -> Option<SecretRuns> {
        let value = value.trim();
        (value.len() >= MIN_RUN).then(|| SecretRuns::new(value))
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
                caller_knows: RwLock::default(),
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
        SecretRuns {
            matcher,
            caller_knows: RwLock::default(),
        }
    }

    /// For one call, exempt what the caller wrote in `texts` (a query, and the strings it decodes to):
    /// every byte of the secret that a run in them covers is the caller's to see, so a stretch of output
    /// (or of a request's URL) made only of such bytes is neither redacted nor refused. Whatever the
    /// caller writes is then treated the same whether or not it matches the key: no answer depends on
    /// a guess being right. A stretch holding even one byte the caller did not write is still the
    /// credential. Until the returned guard is dropped.
    pub fn caller_wrote(&self, texts: &[&str]) -> CallerWrote<'_> {
        if let Matcher::Pieces(p) = &self.matcher {
            let mut knows = vec![false; p.secret.len()];
            for text in texts {
                let mut learn = |view: &[u8]| {
                    for (start, end, at) in p.stretches(view) {
                        knows[at..at + (end - start)].fill(true);
                    }
                };
                learn(text.as_bytes());
                Seen::each_view(text, |seen| learn(seen.text.as_bytes()));
            }
            *self.caller_knows.write().unwrap_or_else(|e| e.into_inner()) = knows.into();
        }
        CallerWrote { runs: self }
    }

    /// The stretches of `text` that are the secret's and not the caller's (see [`Self::caller_wrote`]).
    /// Every text cell of a result comes through here: the caller's bytes are looked up only when the
    /// text holds a stretch at all, which real text almost never does.
    fn leaks(&self, p: &Pieces, text: &[u8]) -> Vec<(usize, usize)> {
        let mut found = p.stretches(text).peekable();
        if found.peek().is_none() {
            return Vec::new();
        }
        let knows = self.caller_knows.read().unwrap_or_else(|e| e.into_inner());
        found
            .filter(|&(start, end, at)| {
                knows.is_empty() || !knows[at..at + (end - start)].iter().all(|k| *k)
            })
            .map(|(start, end, _)| (start, end))
            .collect()
    }

    /// [`Self::leaks`] in `text` and in the text a reader sees of it ([`Seen`]: control characters,
    /// escape sequences and invisible characters taken out), as byte ranges of `text`. A secret cut
    /// into pieces by a BEL or a zero-width space is the secret to whoever reads it.
    fn found(&self, p: &Pieces, text: &str) -> Vec<(usize, usize)> {
        let mut found = self.leaks(p, text.as_bytes());
        Seen::each_view(text, |seen| {
            let hidden = self.leaks(p, seen.text.as_bytes());
            found.extend(
                hidden
                    .into_iter()
                    .map(|(start, end)| seen.original(start, end)),
            );
        });
        found
    }

    /// Whether any [`MIN_RUN`]-byte run of the secret (the whole secret, if it is shorter) occurs in `text`.
    pub fn contains(&self, text: &str) -> bool {
        match &self.matcher {
            Matcher::Nothing => false,
            Matcher::Pieces(p) => !self.found(p, text).is_empty(),
            Matcher::Everything => true,
        }
    }

    /// Replace every maximal stretch of `text` covered by occurrences of runs of the secret with
    /// [`REDACTED`]: overlapping and adjacent occurrences merge into one stretch, so the output says
    /// nothing about how long the leaked part was. Text without such runs comes back borrowed.
    ///
    /// Matching is on bytes; a stretch that would cut a multi-byte character (only possible with a
    /// non-ASCII secret) is widened to whole characters. Runs interrupted only by characters a reader
    /// does not see (controls, escape sequences, zero-width characters) count, the interruptions
    /// redacted with them. Percent-encoded or otherwise transformed text is not decoded here: callers that accept encoded input decode it first (see `request_rules::check`).
    pub fn redact<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let mut found: Vec<(usize, usize)> = match &self.matcher {
            Matcher::Nothing => return Cow::Borrowed(text),
            Matcher::Pieces(p) => self.found(p, text),
            Matcher::Everything => vec![(0, text.len())],
        };
        if found.is_empty() {
            return Cow::Borrowed(text);
        }
        // Stretches come in order of the piece they were found by, which need not be their start's:
        // sort, widen to whole characters and merge what overlaps or touches.
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
    /// occurrence of a piece, as byte ranges (possibly overlapping, possibly repeated) with the offset
    /// in the secret where each starts. Their union is
    /// exactly the bytes covered by occurrences of runs: a run at text offset `t`, secret offset `s`,
    /// holds the piece at the next multiple of `GRAM` from `s`, found at the same alignment, whose
    /// stretch then covers the run; and every `need` bytes of a stretch are a run.
    fn stretches<'a>(&'a self, text: &'a [u8]) -> impl Iterator<Item = (usize, usize, usize)> + 'a {
        let mut from = 0;
        let mut pending: Vec<(usize, usize, usize)> = Vec::new();
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
                    pending.push((at - before, at + len + after, s - before));
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

/// `text` and every other reading of it redaction searches for a key (as a terminal shows it, its
/// printable ASCII alone, its escapes decoded: `Seen::each_view`), each handed to `read`: whatever
/// judges a text as redaction would (the host's refusal of a pasted key) reads it the same ways.
pub fn each_reading(text: &str, mut read: impl FnMut(&str)) {
    read(text);
    terminal::Seen::each_view(text, |seen| read(&seen.text));
}

/// At most `max_bytes` bytes of `text`, cut on a char boundary, followed by `… [N more bytes]` saying how
/// much was cut. Text within the cap comes back borrowed. The marker is added on top of `max_bytes`.
///
/// Capping text that already ends in a marker (a component's message capped by the sandbox, then capped
/// again with the CLI's context around it) cuts the text before that marker and adds its count to the
/// new one: N stays what was cut from the original.
pub fn cap(text: &str, max_bytes: usize) -> Cow<'_, str> {
    if text.len() <= max_bytes {
        return Cow::Borrowed(text);
    }
    let (body, already_cut) = split_marker(text);
    let cut = floor_char_boundary(body, max_bytes.min(body.len()));
    let more = (body.len() - cut).saturating_add(already_cut);
    Cow::Owned(format!("{}… [{more} more bytes]", &body[..cut]))
}

/// `text` without a trailing `… [N more bytes]`, and N (0 when there is none).
fn split_marker(text: &str) -> (&str, usize) {
    let marked = text.strip_suffix(" more bytes]").and_then(|rest| {
        let (body, count) = rest.rsplit_once("… [")?;
        let n = count
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| count.parse::<usize>().ok())??;
        Some((body, n))
    });
    marked.unwrap_or((text, 0))
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
mod tests;
