//! Numbers: scanned as serde_json scans them, evaluated only when they are integers.

use super::{Error, Reader};

/// A number's text and, when it is an integer (see the module docs), its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Number<'a> {
    /// ASCII: a sign, digits, `.`, `e`/`E`, `+`.
    pub text: &'a [u8],
    pub integer: Option<i128>,
}

impl<'a> Reader<'a> {
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
    pub(super) fn scan_number(&mut self) -> Result<(bool, Option<u64>), Error> {
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
}
