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
    (@absent $ty:ty, $key:expr, $reader:expr, $end:expr) => {
        match <$ty as $crate::json::Decode>::absent() {
            Some(value) => value,
            None => return Err($reader.error($end, $crate::json::Kind::Missing($key))),
        }
    };
    (@absent $ty:ty, $key:expr, $reader:expr, $end:expr, $default:expr) => { $default };
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
                $(let mut $field: Option<$ty> = None;)*
                #[allow(unused_variables)]
                let end = reader.object(&mut |reader, key| {
                    Ok(match key {
                        $(json_object!(@key $field $($key)?) => {
                            if $field.is_some() {
                                $crate::json::Field::Repeated(json_object!(@key $field $($key)?))
                            } else {
                                $field = Some(<$ty as $crate::json::Decode>::decode(reader)?);
                                $crate::json::Field::Read
                            }
                        })*
                        _ => $crate::json::Field::Unknown,
                    })
                })?;
                Ok($name {
                    $($field: match $field {
                        Some(value) => value,
                        None => json_object!(
                            @absent $ty, json_object!(@key $field $($key)?), reader, end $(, $default)?
                        ),
                    },)*
                })
            }
        }
    };
}
pub(crate) use json_object;
