//! Helpers shared by the string-backed newtypes of this crate.

/// Implements `Display`, `AsRef<str>`, `Serialize` and `Deserialize` for a validated newtype
/// whose `FromStr` enforces its rules, so the serde form is the canonical string and
/// deserializing can never produce an invalid value.
macro_rules! string_newtype {
    ($type:ty) => {
        impl ::std::fmt::Display for $type {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::convert::AsRef<str> for $type {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }

        impl ::std::convert::TryFrom<&str> for $type {
            type Error = <$type as ::std::str::FromStr>::Err;

            fn try_from(value: &str) -> ::std::result::Result<Self, Self::Error> {
                value.parse()
            }
        }

        $crate::macros::display_serde!($type);
    };
}

/// Implements `Serialize` through `Display` and `Deserialize` through `FromStr`.
macro_rules! display_serde {
    ($type:ty) => {
        impl ::serde::Serialize for $type {
            fn serialize<S: ::serde::Serializer>(
                &self,
                serializer: S,
            ) -> ::std::result::Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $type {
            fn deserialize<D: ::serde::Deserializer<'de>>(
                deserializer: D,
            ) -> ::std::result::Result<Self, D::Error> {
                let text =
                    <::std::string::String as ::serde::Deserialize>::deserialize(deserializer)?;
                text.parse().map_err(::serde::de::Error::custom)
            }
        }
    };
}

pub(crate) use display_serde;
pub(crate) use string_newtype;
