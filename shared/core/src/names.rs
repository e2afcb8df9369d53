//! Enums whose variants have stable string names (in JSON, logs, metrics labels and command lines).
//! [`named_enum!`](crate::named_enum) writes each name once and derives from it `as_str`, `Display`,
//! `FromStr` (an unknown name is an error listing the known ones), `Serialize` and `Deserialize`.
//!
//! ```
//! polarity_core::named_enum! {
//!     /// A colour.
//!     pub enum Colour {
//!         /// Red.
//!         Red = "red",
//!         /// Dark blue.
//!         DarkBlue = "dark_blue",
//!     }
//! }
//! assert_eq!(Colour::DarkBlue.as_str(), "dark_blue");
//! assert_eq!("red".parse::<Colour>().unwrap(), Colour::Red);
//! assert_eq!(serde_json::to_string(&Colour::Red).unwrap(), "\"red\"");
//! let e = "green".parse::<Colour>().unwrap_err();
//! assert_eq!(e.to_string(), "unknown Colour \"green\" (expected one of: red, dark_blue)");
//! ```

#[doc(hidden)]
pub use serde as __serde;

/// A string that names no variant of a [`named_enum!`](crate::named_enum).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {value:?} (expected one of: {})", expected.join(", "))]
pub struct UnknownName {
    /// The enum.
    pub kind: &'static str,
    /// What was given.
    pub value: String,
    /// The names it knows.
    pub expected: &'static [&'static str],
}

/// Defines an enum whose variants each carry one stable name (see the [module docs](crate::names)).
#[macro_export]
macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// Every name, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            /// The stable name.
            pub fn as_str(&self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::names::UnknownName;
            fn from_str(s: &str) -> ::std::result::Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err($crate::names::UnknownName {
                        kind: stringify!($name),
                        value: s.to_string(),
                        expected: $name::NAMES,
                    }),
                }
            }
        }

        impl $crate::names::__serde::Serialize for $name {
            fn serialize<S: $crate::names::__serde::Serializer>(&self, s: S) -> ::std::result::Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> $crate::names::__serde::Deserialize<'de> for $name {
            fn deserialize<D: $crate::names::__serde::Deserializer<'de>>(d: D) -> ::std::result::Result<Self, D::Error> {
                let s = <::std::borrow::Cow<'de, str> as $crate::names::__serde::Deserialize>::deserialize(d)?;
                s.parse().map_err(<D::Error as $crate::names::__serde::de::Error>::custom)
            }
        }
    };
}
