//! Expandable references (`customer`, `payment_intent`, …): the id whether Stripe sent it or the object.

use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use std::fmt;

/// An expandable reference: Stripe sends the id (`"cus_123"`) or, when expanded, the object
/// (`{"id": "cus_123", …}`). Either way this is the id.
pub(super) struct Expandable(pub(super) String);

impl<'de> Deserialize<'de> for Expandable {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Expandable;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an id string or an expanded object with an id")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Expandable, E> {
                Ok(Expandable(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Expandable, E> {
                Ok(Expandable(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Expandable, A::Error> {
                let mut id = None;
                while let Some(key) = map.next_key::<Key>()? {
                    match key {
                        Key::Id => id = Some(map.next_value::<String>()?),
                        Key::Other => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                id.map(Expandable)
                    .ok_or_else(|| de::Error::missing_field("id"))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// A key of an expanded object: `id` or anything else, recognised without allocating.
enum Key {
    Id,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
                Ok(if v == "id" { Key::Id } else { Key::Other })
            }
        }
        deserializer.deserialize_identifier(V)
    }
}
