//! `json_object!`: typed structs read from JSON objects (Stripe's list pages, error bodies and the setup
//! probes' answers) by [`crate::json`]'s reader.

/// Declares a struct read from a JSON object and its [`crate::json::Decode`] impl, which reads what
/// `#[derive(Deserialize)]` with serde_json would: unknown keys are skipped, a key given twice is a
/// [`Kind::Duplicate`](crate::json::Kind::Duplicate) error, a missing `Option` field is `None` and any
/// other missing field a [`Kind::Missing`](crate::json::Kind::Missing) error unless a default is given
/// (`has_more: bool = false`), and anything but an object is a wrong type ("an object").
/// `kind as "type": Option<String>` renames.
///
/// In tests the struct also has the serde `Deserialize` impl this macro wrote before (what the
/// component ran with serde_json), the reference the reader is proved equal to (`rows/tests.rs`).
macro_rules! json_object {
    (@key $field:ident) => { stringify!($field) };
    (@key $field:ident $key:literal) => { $key };
    (@required $ty:ty) => { <$ty as $crate::json::Decode>::REQUIRED };
    (@required $ty:ty, $default:expr) => { false };
    (@or $default:expr) => { $default };
    (@or) => { Default::default() };
    (@serde_absent $ty:ty, $key:expr, $error:ty) => { $crate::json_object::absent::<$ty, $error>($key)? };
    (@serde_absent $ty:ty, $key:expr, $error:ty, $default:expr) => { $default };
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident $(<$param:ident>)? {
            $(
                $(#[$field_meta:meta])*
                $field:ident $(as $key:literal)? : $ty:ty $(= $default:expr)?
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Default)]
        $vis struct $name $(<$param>)? {
            $($(#[$field_meta])* $field: $ty,)*
        }

        // The serde impl this macro wrote before the reader existed: the reference the reader is
        // tested against (`rows/tests.rs`), in tests only.
        #[cfg(test)]
        impl<'de $(, $param: serde::Deserialize<'de>)?> serde::Deserialize<'de> for $name $(<$param>)? {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                #[allow(non_camel_case_types)]
                enum Field {
                    $($field,)*
                    __other,
                }
                impl<'de> serde::Deserialize<'de> for Field {
                    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                        struct V;
                        impl serde::de::Visitor<'_> for V {
                            type Value = Field;
                            fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                                f.write_str("field identifier")
                            }
                            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Field, E> {
                                Ok(match v {
                                    $(json_object!(@key $field $($key)?) => Field::$field,)*
                                    _ => Field::__other,
                                })
                            }
                        }
                        deserializer.deserialize_identifier(V)
                    }
                }
                struct V $(<$param>)? (core::marker::PhantomData<($($param,)?)>);
                impl<'de $(, $param: serde::Deserialize<'de>)?> serde::de::Visitor<'de> for V $(<$param>)? {
                    type Value = $name $(<$param>)?;
                    fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                        f.write_str(concat!("struct ", stringify!($name)))
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(
                        self,
                        mut map: A,
                    ) -> Result<Self::Value, A::Error> {
                        $(let mut $field: Option<$ty> = None;)*
                        while let Some(key) = map.next_key::<Field>()? {
                            match key {
                                $(Field::$field => {
                                    if $field.is_some() {
                                        return Err(<A::Error as serde::de::Error>::duplicate_field(
                                            json_object!(@key $field $($key)?),
                                        ));
                                    }
                                    $field = Some(map.next_value()?);
                                })*
                                Field::__other => {
                                    map.next_value::<serde::de::IgnoredAny>()?;
                                }
                            }
                        }
                        Ok($name {
                            $($field: match $field {
                                Some(value) => value,
                                None => json_object!(
                                    @serde_absent $ty, json_object!(@key $field $($key)?), A::Error $(, $default)?
                                ),
                            },)*
                        })
                    }
                }
                deserializer.deserialize_map(V(core::marker::PhantomData))
            }
        }

        impl $(<$param: $crate::json::Decode>)? $crate::json::Decode for $name $(<$param>)? {
            fn decode(reader: &mut $crate::json::Reader<'_>) -> Result<Self, $crate::json::Error> {
                // The fields read so far, in one value: an early return drops it with one call, not
                // one per field (which, per return, made the code grow with the square of the fields).
                #[allow(non_camel_case_types)]
                #[derive(Default)]
                struct Read $(<$param>)? {
                    $($field: Option<$ty>,)*
                }
                let mut read = Read::default();
                // Keys come as bytes (see `Reader::object`); field names are ASCII.
                let end = reader.object(&mut |reader, key| match key {
                    $(key if key == json_object!(@key $field $($key)?).as_bytes() => {
                        reader.field(&mut read.$field, json_object!(@key $field $($key)?))
                    })*
                    _ => Ok($crate::json::Field::Unknown),
                })?;
                // The first required field (in declaration order) that is absent, as serde's derive.
                let mut missing = None;
                $(
                    if missing.is_none()
                        && read.$field.is_none()
                        && json_object!(@required $ty $(, $default)?)
                    {
                        missing = Some(json_object!(@key $field $($key)?));
                    }
                )*
                if let Some(field) = missing {
                    return Err(reader.error(end, $crate::json::Kind::Missing(field)));
                }
                // Every field without a value is optional (`None`) or has its default.
                Ok($name {
                    $($field: match read.$field {
                        Some(value) => value,
                        None => json_object!(@or $($default)?),
                    },)*
                })
            }
        }
    };
}
pub(crate) use json_object;

#[cfg(test)]
use serde::{de, de::Visitor, Deserialize, Deserializer};

#[cfg(test)]
/// The value of a field that is absent from its object: `None` for an `Option`, else serde's
/// "missing field" error (what `#[derive(Deserialize)]` does).
pub(crate) fn absent<'de, T: Deserialize<'de>, E: de::Error>(key: &'static str) -> Result<T, E> {
    struct Absent<E>(&'static str, core::marker::PhantomData<E>);
    impl<'de, E: de::Error> Deserializer<'de> for Absent<E> {
        type Error = E;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, E> {
            Err(E::missing_field(self.0))
        }
        fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
            visitor.visit_none()
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf unit
            unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier ignored_any
        }
    }
    T::deserialize(Absent(key, core::marker::PhantomData))
}
