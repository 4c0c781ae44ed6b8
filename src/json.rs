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

use std::borrow::Cow;
use std::fmt;

/// Why reading stopped ([`Details`]). Boxed, as serde_json's: every `Result` the reader returns
/// stays two words, which keeps the successful path fast.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error(Box<Details>);

impl std::ops::Deref for Error {
    type Target = Details;
    fn deref(&self) -> &Details {
        &self.0
    }
}

/// What stopped the reader (never quoting the text) and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Details {
    /// Byte offset in the text: the start of a value of the wrong type, the start of a repeated key,
    /// just past the `}` of an object without a required field, or where the text stopped being JSON.
    pub at: usize,
    pub kind: Kind,
    /// 1-based line and column (in bytes) of `at`, for messages.
    line: usize,
    column: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The text is not JSON: what was wrong ("expected `:`").
    Syntax(&'static str),
    /// A value of another type than the one `expected` ("an integer"); `got` names its type
    /// ("string"), never its text.
    Type {
        expected: &'static str,
        got: &'static str,
    },
    /// An object without a field its struct requires.
    Missing(&'static str),
    /// An object that gives a field of its struct twice.
    Duplicate(&'static str),
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Kind::Syntax(message) => f.write_str(message),
            Kind::Type { expected, got } => write!(f, "invalid type: {got}, expected {expected}"),
            Kind::Missing(field) => write!(f, "missing field `{field}`"),
            Kind::Duplicate(field) => write!(f, "duplicate field `{field}`"),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at line {} column {}",
            self.kind, self.line, self.column
        )
    }
}

/// A number's text and, when it is an integer (see the module docs), its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Number<'a> {
    /// ASCII: a sign, digits, `.`, `e`/`E`, `+`.
    pub text: &'a [u8],
    pub integer: Option<i128>,
}

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
                Number {
                    integer: Some(_), ..
                } => "integer",
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
        let at = self.offset();
        if self.byte() != Some(b'"') {
            return Err(self.syntax("key must be a string"));
        }
        Ok((self.string()?, at))
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
            let at = self.offset();
            if self.byte() != Some(b'"') {
                return Err(self.syntax("key must be a string"));
            }
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

    /// The string whose opening quote is at the cursor, unescaped. Refused: control characters, unknown
    /// escapes, lone surrogates, invalid UTF-8.
    pub fn string(&mut self) -> Result<Cow<'a, str>, Error> {
        let (bytes, _) = self.unescaped()?;
        let text = match bytes {
            Cow::Borrowed(b) => std::str::from_utf8(b).map(Cow::Borrowed).ok(),
            Cow::Owned(buf) => String::from_utf8(buf).map(Cow::Owned).ok(),
        };
        text.ok_or_else(|| self.syntax("invalid unicode code point"))
    }

    /// An object's key as bytes, for comparing with field names: refused exactly as [`Reader::string`]
    /// refuses it, but a key of ASCII bytes (every key Stripe sends) is not run through the UTF-8
    /// check, which for the dozens of short keys of each object cost more than scanning them.
    fn key_bytes(&mut self) -> Result<Cow<'a, [u8]>, Error> {
        let (bytes, ascii) = self.unescaped()?;
        if !ascii && std::str::from_utf8(&bytes).is_err() {
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
    fn skip_string(&mut self) -> Result<(), Error> {
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

    /// The number whose first byte (`-` or a digit) is at the cursor.
    pub fn number(&mut self) -> Result<Number<'a>, Error> {
        let start = self.at;
        let (negative, magnitude) = self.scan_number()?;
        let integer = match magnitude {
            Some(v) if !negative => Some(i128::from(v)),
            // -0 is a float for serde_json, and so are integers below i64::MIN.
            Some(v) if v != 0 && v <= 1 << 63 => Some(-i128::from(v)),
            _ => None,
        };
        Ok(Number {
            text: &self.text[start..self.at],
            integer,
        })
    }

    /// Reads the number at the cursor: whether it is negative, and its magnitude when it is an integer
    /// (no fraction, no exponent) below 2^64. The loop every number goes through, kept in 64 bits.
    #[inline(always)]
    fn scan_number(&mut self) -> Result<(bool, Option<u64>), Error> {
        let negative = self.byte() == Some(b'-');
        if negative {
            self.at += 1;
        }
        let mut value: Option<u64> = Some(0);
        match self.byte() {
            Some(b'0') => {
                self.at += 1;
                if let Some(b'0'..=b'9') = self.byte() {
                    return Err(self.syntax("invalid number"));
                }
            }
            Some(b'1'..=b'9') => {
                // Overflow found by comparing with u64::MAX's own digits, not by `checked_mul`: in
                // the component (32-bit wasm) that is a 128-bit multiplication per digit.
                const MAX_TENTH: u64 = u64::MAX / 10;
                const MAX_LAST: u64 = u64::MAX % 10;
                while let Some(d @ b'0'..=b'9') = self.byte() {
                    self.at += 1;
                    let d = u64::from(d - b'0');
                    value = value.filter(|&v| v < MAX_TENTH || v == MAX_TENTH && d <= MAX_LAST);
                    value = value.map(|v| v * 10 + d);
                }
            }
            Some(_) => return Err(self.syntax("invalid number")),
            None => return Err(self.syntax("EOF while parsing a value")),
        }
        if self.byte() == Some(b'.') {
            self.at += 1;
            value = None;
            self.digits()?;
        }
        if let Some(b'e' | b'E') = self.byte() {
            self.at += 1;
            value = None;
            if let Some(b'+' | b'-') = self.byte() {
                self.at += 1;
            }
            self.digits()?;
        }
        Ok((negative, value))
    }

    /// One or more digits (of a fraction or an exponent).
    fn digits(&mut self) -> Result<(), Error> {
        match self.byte() {
            Some(b'0'..=b'9') => {}
            Some(_) => return Err(self.syntax("invalid number")),
            None => return Err(self.syntax("EOF while parsing a value")),
        }
        while let Some(b'0'..=b'9') = self.byte() {
            self.at += 1;
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
        if self.peek() != Some(b'"') {
            return Err(self.syntax("key must be a string"));
        }
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

/// A type read from JSON by [`from_slice`]: the decoders of [`crate::json_object`]'s structs and of
/// the few field types they use.
///
/// `Default` is the value of an absent field that is not required: `None` for an `Option`.
pub trait Decode: Sized + Default {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, Error>;

    /// Whether a field of this type must be present in its object (every type but `Option`).
    const REQUIRED: bool = true;
}

/// Reads `text` as one `T` (serde_json's `from_slice`).
pub fn from_slice<T: Decode>(text: &[u8]) -> Result<T, Error> {
    let mut reader = Reader::new(text);
    let value = T::decode(&mut reader)?;
    reader.finish()?;
    Ok(value)
}

impl Decode for i64 {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, Error> {
        if let b'-' | b'0'..=b'9' = reader.peek_value()? {
            let at = reader.at;
            match reader.scan_number()? {
                (false, Some(v)) if v <= i64::MAX.unsigned_abs() => return Ok(v as i64),
                // -0 is not an integer (as in serde_json); -2^63 is i64::MIN.
                (true, Some(v)) if v != 0 && v <= i64::MIN.unsigned_abs() => {
                    return Ok((v as i64).wrapping_neg())
                }
                _ => reader.at = at,
            }
        }
        Err(reader.wrong_type("an integer"))
    }
}

impl Decode for bool {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, Error> {
        match reader.peek_value()? {
            b't' => reader.literal(b"true").map(|()| true),
            b'f' => reader.literal(b"false").map(|()| false),
            _ => Err(reader.wrong_type("a boolean")),
        }
    }
}

impl Decode for String {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, Error> {
        match reader.peek_value()? {
            b'"' => reader.string().map(Cow::into_owned),
            _ => Err(reader.wrong_type("a string")),
        }
    }
}

impl<T: Decode> Decode for Option<T> {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, Error> {
        if reader.peek() == Some(b'n') {
            reader.literal(b"null").map(|()| None)
        } else {
            T::decode(reader).map(Some)
        }
    }
    const REQUIRED: bool = false;
}

impl<T: Decode> Decode for Vec<T> {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, Error> {
        let mut items = Vec::new();
        reader.array(&mut |reader| {
            items.push(T::decode(reader)?);
            Ok(())
        })?;
        Ok(items)
    }
}

#[cfg(test)]
pub(crate) mod tests;
