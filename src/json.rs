//! The component's one JSON reader: a pull reader over a byte slice, for Stripe's bodies
//! ([`crate::json_object`], [`crate::rows`]) and the DSL's query text (`dsl/json.rs`).
//!
//! Why not serde and serde_json: every KB of the component ships in every load, and serde's generic
//! machinery (visitors, monomorphised deserializers, its error formatting with float printing) was
//! about half of the component's code. This reader is what the connector needs and no more: it reads
//! values in document order, decodes strings (all escapes, surrogate pairs) and integers, skips what it
//! is not asked for, and says where and why it stopped ([`Error`]) without quoting any of the text.
//!
//! It accepts and refuses exactly what `serde_json::from_slice` does for the same targets, and decodes
//! the same values: proved by property and table tests against serde_json, a dev-dependency
//! (`json/tests.rs`: the primitives; `rows/tests.rs`: the Stripe structs against the serde impls the
//! component had before; `dsl/json.rs`: the DSL's tree against its former serde reader). Details:
//! - a skipped value ([`Reader::skip`]) is checked for grammar, control characters in strings and escape
//!   syntax only, like serde_json's `IgnoredAny`: its strings may hold invalid UTF-8 or lone surrogates,
//!   and its nesting is unlimited (skipped iteratively, never recursively);
//! - a decoded string ([`Reader::string`]) must also be valid UTF-8 and pair its surrogates;
//! - an integer is a JSON number without fraction or exponent that fits an `i64` (negative) or a
//!   `u64`; `-0` is not one (serde_json reads it as a float).
//!
//! Numbers that are not integers are never evaluated: a caller gets their text ([`Number::text`]). So
//! the one difference from serde_json: it refuses a number beyond `f64` (`1e999`) as out of range
//! where it evaluates numbers (the DSL's tree, an integer field); the reader gives the DSL the text,
//! which the DSL refuses as not an integer, and an integer field refuses it as a wrong type.
//!
//! Here: the [`Reader`], its containers and skipping. `strings.rs`: scanning, escapes and UTF-8;
//! `numbers.rs`: numbers; `error.rs`: [`Error`]; `decode.rs`: [`Decode`] for the field types.

use crate::prelude::*;
mod decode;
mod error;
mod numbers;
mod strings;

pub use decode::{from_slice, Decode};
pub use error::{Details, Error, Kind};
pub use numbers::Number;

use alloc::borrow::Cow;

/// [`Reader::object`]'s callback: given each key (as bytes), reads its value or says why not.
pub type OnKey<'r, 'a> = dyn FnMut(&mut Reader<'a>, &[u8]) -> Result<Field, Error> + 'r;

/// What [`Reader::object`]'s callback did with a key.
pub enum Field {
    /// A field of the struct: its value has been read.
    Read,
    /// Not a field of the struct: the reader skips the value.
    Unknown,
    /// A field already read (named): an error.
    Repeated(&'static str),
}

/// Reads one JSON text from its start. Methods that read a value expect the cursor before it
/// (whitespace is skipped); on `Err` the reader is not to be used further.
pub struct Reader<'a> {
    text: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    pub fn new(text: &'a [u8]) -> Self {
        Reader { text, at: 0 }
    }

    /// An error of `kind` at byte `at`.
    #[cold]
    #[inline(never)]
    pub fn error(&self, at: usize, kind: Kind) -> Error {
        let before = self.text.get(..at).unwrap_or(self.text);
        let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        Error(Box::new(Details {
            at,
            kind,
            line,
            column: at - line_start + 1,
        }))
    }

    #[cold]
    #[inline(never)]
    fn syntax(&self, message: &'static str) -> Error {
        self.error(self.at, Kind::Syntax(message))
    }

    // The two helpers every byte goes through: always inlined, also when the component is built for
    // size (a call per byte made `opt-level = "z"` pages 2–3x slower).
    #[inline(always)]
    fn byte(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    /// The next byte after whitespace (not consumed), `None` at the end of the text.
    #[inline(always)]
    pub fn peek(&mut self) -> Option<u8> {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.byte() {
            self.at += 1;
        }
        self.byte()
    }

    /// The first byte of the next value (not consumed); the end of the text is an error.
    pub fn peek_value(&mut self) -> Result<u8, Error> {
        self.peek()
            .ok_or_else(|| self.syntax("EOF while parsing a value"))
    }

    /// Where the next value starts (whitespace skipped).
    pub fn offset(&mut self) -> usize {
        self.peek();
        self.at
    }

    /// The end of the text: only whitespace may follow the value read.
    pub fn finish(&mut self) -> Result<(), Error> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(self.syntax("trailing characters")),
        }
    }

    /// The error for the value at the cursor when `expected` was wanted: its type, or why it is not JSON.
    #[cold]
    #[inline(never)]
    pub fn wrong_type(&mut self, expected: &'static str) -> Error {
        let at = self.offset();
        // Read as serde_json reads it before it names the type: a broken literal, string or number is
        // not JSON.
        let got = match self.byte() {
            Some(b'n') => self.literal(b"null").map(|()| "null"),
            Some(b't') => self.literal(b"true").map(|()| "boolean"),
            Some(b'f') => self.literal(b"false").map(|()| "boolean"),
            Some(b'"') => self.string().map(|_| "string"),
            Some(b'[') => Ok("array"),
            Some(b'{') => Ok("object"),
            Some(b'-' | b'0'..=b'9') => self.number().map(|n| match n {
                // Only what fits an `i64` is an integer to the decoders: 2^64 - 1 is beyond them too.
                Number {
                    integer: Some(v), ..
                } if i64::try_from(v).is_ok() => "integer",
                Number { text, .. }
                    if text != b"-0" && !text.iter().any(|b| matches!(b, b'.' | b'e' | b'E')) =>
                {
                    "integer beyond 64 bits"
                }
                _ => "number",
            }),
            _ => Err(self.syntax("expected value")),
        };
        match got {
            Ok(got) => self.error(at, Kind::Type { expected, got }),
            Err(e) => e,
        }
    }

    /// Reads `null`, `true` or `false` (`word`), whose first byte is at the cursor.
    pub fn literal(&mut self, word: &'static [u8]) -> Result<(), Error> {
        if self.text.get(self.at..self.at + word.len()) == Some(word) {
            self.at += word.len();
            return Ok(());
        }
        // Not the word: where it stops being it, for the error.
        for &want in word {
            match self.byte() {
                Some(b) if b == want => self.at += 1,
                Some(_) => return Err(self.syntax("expected ident")),
                None => return Err(self.syntax("EOF while parsing a value")),
            }
        }
        Ok(())
    }

    /// In the array or object opened by `open` (`[` or `{`), just after the opening bracket (`first`) or
    /// after a member: `true` when a member follows (its `,` consumed), `false` at the end (the closing
    /// bracket consumed).
    #[inline(always)]
    pub fn more(&mut self, open: u8, first: bool) -> Result<bool, Error> {
        // `]` is `[` + 2 in ASCII, and `}` is `{` + 2.
        let close = open + 2;
        let in_object = open == b'{';
        match self.peek() {
            Some(b) if b == close => {
                self.at += 1;
                Ok(false)
            }
            Some(b',') if !first => {
                self.at += 1;
                match self.peek() {
                    Some(b) if b == close => Err(self.syntax("trailing comma")),
                    _ => Ok(true),
                }
            }
            Some(_) if first => Ok(true),
            Some(_) if in_object => Err(self.syntax("expected `,` or `}`")),
            Some(_) => Err(self.syntax("expected `,` or `]`")),
            None if in_object => Err(self.syntax("EOF while parsing an object")),
            None => Err(self.syntax("EOF while parsing a list")),
        }
    }

    /// Consumes the `{` at the cursor, or says that the value there is not `expected`.
    pub fn begin(&mut self, open: u8, expected: &'static str) -> Result<(), Error> {
        if self.peek_value()? == open {
            self.at += 1;
            Ok(())
        } else {
            Err(self.wrong_type(expected))
        }
    }

    /// An object's key (decoded), with its offset. The `:` after it is read with the value
    /// ([`Reader::member`]) or by [`Reader::colon`]: serde_json refuses a repeated key before it looks
    /// for the colon, and so does the reader.
    pub fn key(&mut self) -> Result<(Cow<'a, str>, usize), Error> {
        let at = self.key_start()?;
        Ok((self.string()?, at))
    }

    /// The offset of the key at the cursor (whitespace skipped), checked to open with a quote.
    fn key_start(&mut self) -> Result<usize, Error> {
        let at = self.offset();
        if self.byte() != Some(b'"') {
            return Err(self.syntax("key must be a string"));
        }
        Ok(at)
    }

    /// The `:` and the value after a key.
    pub fn member<T: Decode>(&mut self) -> Result<T, Error> {
        self.colon()?;
        T::decode(self)
    }

    /// For [`Reader::object`]'s callback: the value of the struct's field `name` into `slot`, unless
    /// the field was read already. One call per field in each struct's `match` on the keys.
    #[inline(never)]
    pub fn field<T: Decode>(
        &mut self,
        slot: &mut Option<T>,
        name: &'static str,
    ) -> Result<Field, Error> {
        if slot.is_some() {
            return Ok(Field::Repeated(name));
        }
        *slot = Some(self.member()?);
        Ok(Field::Read)
    }

    /// The `:` after a key.
    #[inline(always)]
    pub fn colon(&mut self) -> Result<(), Error> {
        match self.peek() {
            Some(b':') => {
                self.at += 1;
                Ok(())
            }
            Some(_) => Err(self.syntax("expected `:`")),
            None => Err(self.syntax("EOF while parsing an object")),
        }
    }

    /// Reads the object at the cursor member by member: `field` reads the value of each key it knows
    /// ([`Reader::member`]) and says so; unknown keys' values are skipped, and a repeated field is an error at its key.
    /// Anything but an object is a wrong type ("an object"). Returns the offset just past the `}`.
    ///
    /// One loop for every struct of [`crate::json_object`] (a `dyn` callback, not a generic): each
    /// struct adds only its `match` on the keys to the component.
    #[inline(never)]
    pub fn object(&mut self, field: &mut OnKey<'_, 'a>) -> Result<usize, Error> {
        self.begin(b'{', "an object")?;
        let mut first = true;
        while self.more(b'{', first)? {
            first = false;
            let at = self.key_start()?;
            let key = self.key_bytes()?;
            match field(self, &key)? {
                Field::Read => {}
                Field::Unknown => {
                    self.colon()?;
                    self.skip()?;
                }
                Field::Repeated(name) => return Err(self.error(at, Kind::Duplicate(name))),
            }
        }
        Ok(self.at)
    }

    /// Reads the array at the cursor, each element with `element`; anything but an array is a wrong
    /// type ("an array"). One loop for every `Vec<T>`, as [`Reader::object`] is for every struct.
    #[inline(never)]
    pub fn array(
        &mut self,
        element: &mut dyn FnMut(&mut Reader<'a>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        self.begin(b'[', "an array")?;
        let mut first = true;
        while self.more(b'[', first)? {
            first = false;
            element(self)?;
        }
        Ok(())
    }

    /// Skips one value of any type and nesting, checked as serde_json checks a value it ignores.
    pub fn skip(&mut self) -> Result<(), Error> {
        let mut open = Brackets::default();
        loop {
            match self.peek_value()? {
                c @ (b'[' | b'{') => {
                    self.at += 1;
                    if self.more(c, true)? {
                        open.push(c == b'{');
                        if c == b'{' {
                            self.skip_key()?;
                        }
                        continue;
                    }
                }
                b'"' => self.skip_string()?,
                b'-' | b'0'..=b'9' => {
                    self.scan_number()?;
                }
                b'n' => self.literal(b"null")?,
                b't' => self.literal(b"true")?,
                b'f' => self.literal(b"false")?,
                _ => return Err(self.syntax("expected value")),
            }
            // A value ended: close what ends after it, up to a container with another member.
            loop {
                let Some(object) = open.last() else {
                    return Ok(());
                };
                let c = if object { b'{' } else { b'[' };
                if self.more(c, false)? {
                    if object {
                        self.skip_key()?;
                    }
                    break;
                }
                open.pop();
            }
        }
    }

    fn skip_key(&mut self) -> Result<(), Error> {
        self.key_start()?;
        self.skip_string()?;
        self.colon()
    }
}

/// The containers a skipped value is inside (`true`: an object), innermost last: the first 64 in a
/// word, deeper ones on the heap, so that skipping allocates nothing for the nesting of real pages and
/// any depth costs memory in proportion to the text, never the call stack.
#[derive(Default)]
struct Brackets {
    bits: u64,
    depth: usize,
    deeper: Vec<bool>,
}

impl Brackets {
    fn push(&mut self, object: bool) {
        if self.depth < 64 {
            self.bits = self.bits << 1 | u64::from(object);
        } else {
            self.deeper.push(object);
        }
        self.depth += 1;
    }

    fn last(&self) -> Option<bool> {
        match self.depth {
            0 => None,
            1..=64 => Some(self.bits & 1 == 1),
            _ => self.deeper.last().copied(),
        }
    }

    fn pop(&mut self) {
        if self.depth > 64 {
            self.deeper.pop();
        } else {
            self.bits >>= 1;
        }
        self.depth = self.depth.saturating_sub(1);
    }
}

/// Checks that `text` is one JSON value (serde_json's `from_slice::<IgnoredAny>`).
pub fn validate(text: &[u8]) -> Result<(), Error> {
    let mut reader = Reader::new(text);
    reader.skip()?;
    reader.finish()
}

#[cfg(test)]
pub(crate) mod tests;
