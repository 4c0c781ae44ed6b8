//! The DSL reader as it was with serde_json (`Node`, a `DeserializeSeed`), kept in tests as the
//! reference `read_json` is proved equal to (`json.rs`'s tests).

use super::super::{invalid, quote, EXAMPLE, TOP_LEVEL_KEYS};
use super::{MAX_DEPTH, MAX_KEYS_PER_OBJECT};
use crate::error::ConnectorError;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// Just enough of a JSON value for the DSL.
#[derive(Debug)]
pub(super) enum Json {
    Null,
    Bool(bool),
    /// Any JSON integer (serde_json gives u64 or i64; both fit).
    Int(i128),
    /// A number with a fraction or exponent (`10.0`, `1e3`), or too large for 64 bits.
    Float(f64),
    Str(String),
    /// Elements in document order (`group_by` is the DSL's one array).
    Array(Vec<Json>),
    /// Entries in document order, keys unique.
    Object(Vec<(String, Json)>),
}

pub(super) fn read_json(text: &str) -> Result<Json, ConnectorError> {
    // A slice reader, as for Stripe's bodies: one copy of serde_json's parser in the component, not two.
    let mut de = serde_json::Deserializer::from_slice(text.as_bytes());
    let parsed = Node { depth: 1 }
        .deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v));
    parsed.map_err(|e| {
        if e.is_data() {
            // Our own refusals (depth, duplicates); serde_json appends the position.
            invalid(e.to_string())
        } else {
            invalid(format!(
                "the query is not valid JSON ({e}); a query looks like {EXAMPLE}"
            ))
        }
    })
}

/// Reads one value at nesting `depth` (the top-level value is at depth 1).
struct Node {
    depth: usize,
}

impl Node {
    fn enter<E: de::Error>(&self) -> Result<Node, E> {
        if self.depth > MAX_DEPTH {
            return Err(E::custom(super::too_deep()));
        }
        Ok(Node {
            depth: self.depth + 1,
        })
    }
}

impl<'de> DeserializeSeed<'de> for Node {
    type Value = Json;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Json, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_none<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Int(i128::from(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Int(i128::from(v)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Json, E> {
        Ok(Json::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(Json::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Json, E> {
        Ok(Json::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let child = self.enter()?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Node { depth: child.depth })? {
            if items.len() == MAX_KEYS_PER_OBJECT {
                return Err(de::Error::custom(format!(
                    "an array in the query has more than {MAX_KEYS_PER_OBJECT} elements; the DSL's one array, \
                     group_by, has at most a handful"
                )));
            }
            items.push(item);
        }
        Ok(Json::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let child = self.enter()?;
        let mut entries: Vec<(String, Json)> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            if entries.len() == MAX_KEYS_PER_OBJECT {
                return Err(de::Error::custom(format!(
                    "an object in the query has more than {MAX_KEYS_PER_OBJECT} keys; the DSL's objects have a \
                     handful (top level: {TOP_LEVEL_KEYS})"
                )));
            }
            if entries.iter().any(|(k, _)| *k == key) {
                return Err(de::Error::custom(format!(
                    "duplicate key {} in the query: give each key once",
                    quote(&key)
                )));
            }
            let value = map.next_value_seed(Node { depth: child.depth })?;
            entries.push((key, value));
        }
        Ok(Json::Object(entries))
    }
}
