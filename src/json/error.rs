//! Why the reader stopped: what and where, never quoting the text.

use crate::prelude::*;
use core::fmt;

/// Why reading stopped ([`Details`]). Boxed, as serde_json's: every `Result` the reader returns
/// stays two words, which keeps the successful path fast.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error(pub(super) Box<Details>);

impl core::ops::Deref for Error {
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
    pub(super) line: usize,
    pub(super) column: usize,
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
