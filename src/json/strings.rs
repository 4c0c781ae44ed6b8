//! Strings: scanned eight bytes at a time, escapes decoded, UTF-8 checked only where it can fail.

use super::{Error, Reader};
use crate::prelude::*;
use alloc::borrow::Cow;

impl<'a> Reader<'a> {
    /// The string whose opening quote is at the cursor, unescaped. Refused: control characters, unknown
    /// escapes, lone surrogates, invalid UTF-8.
    pub fn string(&mut self) -> Result<Cow<'a, str>, Error> {
        let (bytes, _) = self.unescaped()?;
        let text = match bytes {
            Cow::Borrowed(b) => core::str::from_utf8(b).map(Cow::Borrowed).ok(),
            Cow::Owned(buf) => String::from_utf8(buf).map(Cow::Owned).ok(),
        };
        text.ok_or_else(|| self.syntax("invalid unicode code point"))
    }

    /// An object's key as bytes, for comparing with field names: refused exactly as [`Reader::string`]
    /// refuses it, but a key of ASCII bytes (every key Stripe sends) is not run through the UTF-8
    /// check, which for the dozens of short keys of each object cost more than scanning them.
    pub(super) fn key_bytes(&mut self) -> Result<Cow<'a, [u8]>, Error> {
        let (bytes, ascii) = self.unescaped()?;
        if !ascii && core::str::from_utf8(&bytes).is_err() {
            return Err(self.syntax("invalid unicode code point"));
        }
        Ok(bytes)
    }

    /// The bytes of the string whose opening quote is at the cursor, escapes decoded, the cursor left
    /// past its closing quote; and whether they are all ASCII without escapes (so UTF-8). Not yet
    /// checked to be UTF-8 otherwise.
    fn unescaped(&mut self) -> Result<(Cow<'a, [u8]>, bool), Error> {
        self.at += 1;
        let mut run = self.at;
        let mut owned: Option<Vec<u8>> = None;
        let mut ascii = true;
        loop {
            ascii &= self.plain_bytes();
            match self.byte() {
                None => return Err(self.syntax("EOF while parsing a string")),
                Some(b'"') => break,
                Some(b'\\') => {
                    let buf = owned.get_or_insert_with(Vec::new);
                    buf.extend_from_slice(&self.text[run..self.at]);
                    self.at += 1;
                    self.escape(buf)?;
                    run = self.at;
                }
                Some(0..=0x1f) => return Err(self.control()),
                Some(_) => self.at += 1,
            }
        }
        let tail = &self.text[run..self.at];
        self.at += 1;
        Ok(match owned {
            None => (Cow::Borrowed(tail), ascii),
            Some(mut buf) => {
                buf.extend_from_slice(tail);
                (Cow::Owned(buf), false)
            }
        })
    }

    /// Moves past the bytes of a string that need no attention (all but `"`, `\` and control
    /// characters), the loop strings spend their time in: eight bytes at a time in one 64-bit word
    /// (the component's `usize` is 32 bits, so the word is spelled out), the last few one by one.
    /// Returns whether every byte it passed is ASCII.
    #[inline(always)]
    fn plain_bytes(&mut self) -> bool {
        const ONES: u64 = 0x0101_0101_0101_0101;
        const HIGH: u64 = 0x8080_8080_8080_8080;
        let rest = self.text.get(self.at..).unwrap_or_default();
        let mut passed = 0;
        let mut high = 0u64;
        while let Some(word) = rest
            .get(passed..passed + 8)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
        {
            let w = u64::from_le_bytes(word);
            // The high bit of each byte that is `"` or `\` (the "has a zero byte" test on `w` xor the
            // byte) or below 0x20 (the "has a byte less than n" test). A borrow can mark a byte after
            // a true one, never before it, so the lowest mark is exact.
            let quote = w ^ (ONES * u64::from(b'"'));
            let backslash = w ^ (ONES * u64::from(b'\\'));
            let marks = (quote.wrapping_sub(ONES) & !quote
                | backslash.wrapping_sub(ONES) & !backslash
                | w.wrapping_sub(ONES * 0x20) & !w)
                & HIGH;
            if marks != 0 {
                let first = (marks.trailing_zeros() / 8) as usize;
                // Only the bytes before the first mark were passed (`first` < 8).
                high |= w & HIGH & ((1u64 << (8 * first)) - 1);
                self.at += passed + first;
                return high == 0;
            }
            high |= w & HIGH;
            passed += 8;
        }
        let tail = rest.get(passed..).unwrap_or_default();
        let more = tail
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
            .unwrap_or(tail.len());
        let ascii = high == 0 && tail[..more].is_ascii();
        self.at += passed + more;
        ascii
    }

    #[cold]
    #[inline(never)]
    fn control(&mut self) -> Error {
        self.at += 1;
        self.syntax("control character (\\u0000-\\u001F) found while parsing a string")
    }

    /// The escape after a `\` (consumed), appended to `out` as UTF-8.
    fn escape(&mut self, out: &mut Vec<u8>) -> Result<(), Error> {
        let c = self.escape_char()?;
        let decoded = match c {
            b'"' | b'\\' | b'/' => c,
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            _ => {
                // `u`: escape_char read its four hex digits.
                let n = self.hex4()?;
                let code = match n {
                    0xDC00..=0xDFFF => {
                        return Err(self.syntax("lone leading surrogate in hex escape"))
                    }
                    0xD800..=0xDBFF => {
                        for want in [b'\\', b'u'] {
                            match self.byte() {
                                Some(b) if b == want => self.at += 1,
                                Some(_) => {
                                    self.at += 1;
                                    return Err(self.syntax("unexpected end of hex escape"));
                                }
                                None => return Err(self.syntax("EOF while parsing a string")),
                            }
                        }
                        let low = self.hex4()?;
                        if !(0xDC00..=0xDFFF).contains(&low) {
                            return Err(self.syntax("lone leading surrogate in hex escape"));
                        }
                        0x1_0000 + ((u32::from(n) - 0xD800) << 10 | (u32::from(low) - 0xDC00))
                    }
                    n => u32::from(n),
                };
                // Surrogates are excluded above, so this is a char.
                let c = char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER);
                out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                return Ok(());
            }
        };
        out.push(decoded);
        Ok(())
    }

    /// The character after a `\` (consumed), checked to start a valid escape.
    fn escape_char(&mut self) -> Result<u8, Error> {
        match self.byte() {
            None => Err(self.syntax("EOF while parsing a string")),
            Some(c @ (b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' | b'u')) => {
                self.at += 1;
                Ok(c)
            }
            Some(_) => {
                self.at += 1;
                Err(self.syntax("invalid escape"))
            }
        }
    }

    /// Four hex digits of a `\u` escape.
    fn hex4(&mut self) -> Result<u16, Error> {
        let mut n = 0u16;
        for _ in 0..4 {
            let Some(b) = self.byte() else {
                return Err(self.syntax("EOF while parsing a string"));
            };
            self.at += 1;
            let digit = match b {
                b'0'..=b'9' => b - b'0',
                b'a'..=b'f' => b - b'a' + 10,
                b'A'..=b'F' => b - b'A' + 10,
                _ => return Err(self.syntax("invalid escape")),
            };
            n = n << 4 | u16::from(digit);
        }
        Ok(n)
    }

    /// Skips the string whose opening quote is at the cursor, checking only what serde_json checks of
    /// a string it does not build: control characters and the escapes' syntax.
    pub(super) fn skip_string(&mut self) -> Result<(), Error> {
        self.at += 1;
        loop {
            self.plain_bytes();
            match self.byte() {
                None => return Err(self.syntax("EOF while parsing a string")),
                Some(b'"') => {
                    self.at += 1;
                    return Ok(());
                }
                Some(b'\\') => {
                    self.at += 1;
                    if self.escape_char()? == b'u' {
                        self.hex4()?;
                    }
                }
                Some(0..=0x1f) => return Err(self.control()),
                Some(_) => self.at += 1,
            }
        }
    }
}
