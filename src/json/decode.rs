//! Typed values read from JSON: the [`Decode`] trait, [`from_slice`], and the decoders of the few field
//! types Stripe's structs use.

use super::{Error, Reader};
use crate::prelude::*;
use alloc::borrow::Cow;

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
