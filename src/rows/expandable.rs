//! Expandable references (`customer`, `payment_intent`, …): the id whether Stripe sent it or the object.

use crate::json::{Decode, Error, Field, Kind, Reader};
use crate::prelude::*;

/// An expandable reference: Stripe sends the id (`"cus_123"`) or, when expanded, the object
/// (`{"id": "cus_123", …}`). Either way this is the id.
#[derive(Default)]
pub(super) struct Expandable(pub(super) String);

impl Decode for Expandable {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, Error> {
        match reader.peek_value()? {
            b'"' => return String::decode(reader).map(Expandable),
            b'{' => {}
            _ => return Err(reader.wrong_type("an id string or an expanded object with an id")),
        }
        // Like serde's derive for a map: a repeated `id` is not refused, the last one wins.
        let mut id = None;
        let end = reader.object(&mut |reader, key| {
            Ok(if key == b"id" {
                id = Some(reader.member::<String>()?);
                Field::Read
            } else {
                Field::Unknown
            })
        })?;
        match id {
            Some(id) => Ok(Expandable(id)),
            None => Err(reader.error(end, Kind::Missing("id"))),
        }
    }
}

/// serde's reading of an expandable reference, the reference the reader is tested against.
#[cfg(test)]
impl<'de> serde::Deserialize<'de> for Expandable {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::{self, IgnoredAny, MapAccess, Visitor};
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Expandable;
            fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str("an id string or an expanded object with an id")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Expandable, E> {
                Ok(Expandable(v.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Expandable, A::Error> {
                let mut id = None;
                while let Some(key) = map.next_key::<String>()? {
                    if key == "id" {
                        id = Some(map.next_value::<String>()?);
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                id.map(Expandable)
                    .ok_or_else(|| de::Error::missing_field("id"))
            }
        }
        deserializer.deserialize_any(V)
    }
}
