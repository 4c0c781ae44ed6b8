//! The mode a key addresses and a connection runs in. Each connector checks its own key format (its
//! prefixes, lengths and the words that say how to make a good key); the mode is the contract's.

use core::fmt;

/// Test or live data. Mirrors `klairr:connector/types.mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    Test,
    Live,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Test => "test",
            Mode::Live => "live",
        }
    }

    /// The other mode: a key of this one offered for a connection of the other is a mismatch.
    pub fn other(self) -> Mode {
        match self {
            Mode::Test => Mode::Live,
            Mode::Live => Mode::Test,
        }
    }

    /// Whether an object's `livemode` flag agrees with this mode.
    pub fn matches_livemode(self, livemode: bool) -> bool {
        livemode == (self == Mode::Live)
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_name_themselves_and_their_livemode() {
        for (mode, name, other, livemode) in [
            (Mode::Test, "test", Mode::Live, false),
            (Mode::Live, "live", Mode::Test, true),
        ] {
            assert_eq!((mode.as_str(), mode.to_string()), (name, name.to_owned()));
            assert_eq!(mode.other(), other);
            assert!(mode.matches_livemode(livemode));
            assert!(!mode.matches_livemode(!livemode));
        }
    }
}
