//! `json_object!`: typed structs read from JSON objects (Stripe's list pages, error bodies and the setup
//! probes' answers) by [`crate::json`]'s reader.

/// Declares a struct read from a JSON object and its [`crate::json::Decode`] impl, which reads what
/// `#[derive(Deserialize)]` with serde_json would: unknown keys are skipped, a key given twice is a
/// [`Kind::Duplicate`](crate::json::Kind::Duplicate) error, a missing `Option` field is `None` and any
/// other missing field a [`Kind::Missing`](crate::json::Kind::Missing) error unless a default is given
/// (`has_more: bool = false`), and anything but an object is a wrong type ("an object").
/// `kind as "type": Option<String>` renames.
///
/// In tests the struct also derives serde's `Deserialize` (renames and defaults included), the
/// reference the reader is proved equal to (`json/tests.rs`).
macro_rules! json_object {
    (@key $field:ident) => { stringify!($field) };
    (@key $field:ident $key:literal) => { $key };
    (@required $ty:ty) => { <$ty as $crate::json::Decode>::REQUIRED };
    (@required $ty:ty, $default:expr) => { false };
    (@or $default:expr) => { $default };
    (@or) => { Default::default() };
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
        #[cfg_attr(test, derive(serde::Deserialize))]
        $vis struct $name $(<$param>)? {
            $(
                $(#[$field_meta])*
                $(#[cfg_attr(test, serde(rename = $key))])?
                $(#[cfg_attr(test, serde(default))] #[cfg_attr(any(), doc = stringify!($default))])?
                $field: $ty,
            )*
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
                let end = reader.object(&mut |reader, key| {
                    Ok(match key {
                        $(json_object!(@key $field $($key)?) => {
                            if read.$field.is_some() {
                                $crate::json::Field::Repeated(json_object!(@key $field $($key)?))
                            } else {
                                read.$field = Some(<$ty as $crate::json::Decode>::decode(reader)?);
                                $crate::json::Field::Read
                            }
                        })*
                        _ => $crate::json::Field::Unknown,
                    })
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
